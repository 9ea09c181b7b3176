//! The configuration datastores (RFC 6241 §5.1, §8.3 `:candidate`, §8.7
//! `:startup`): the only owner of configuration trees.
//!
//! Each datastore is a libyang data tree of the `ncagent-bgp` module
//! (`yang/`), holding only the nodes an operator set (RFC 6243
//! `explicit`): defaults are added on a copy when a tree is validated or
//! read. Operations take the NETCONF session id for locks but know nothing
//! of framing, NETCONF XML envelopes or BGP engines: they answer plain
//! results or [`DatastoreError`]s that the NETCONF layer maps to
//! `<rpc-error>`s. `startup` is persisted atomically ([`StartupStore`]).
//!
//! Confirmed commit (RFC 6241 §8.4) is built on [`Datastores::commit`],
//! which hands back the previous running tree as a [`Snapshot`], and
//! [`Datastores::restore_running`], which puts a snapshot back.

// Refusals are returned by value: the cold path.
#![allow(clippy::result_large_err)]

pub mod bgp;
pub mod diff;
mod edit;
mod error;
mod ffi;
mod ly;
pub mod persist;

use std::collections::BTreeSet;

use yang5::context::Context;
use yang5::data::DataTree;

pub use edit::Operation;
pub use error::{DatastoreError, EditFailure, ErrorTag};
pub use ly::{XmlPath, path_steps};
pub use persist::StartupStore;

/// A NETCONF session id (RFC 6241 §8.1); 0 is no session.
pub type SessionId = u32;

/// The configuration datastores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Datastore {
    Running,
    Candidate,
    Startup,
}

impl Datastore {
    /// The name as in RFC 6241 (`<running/>`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Candidate => "candidate",
            Self::Startup => "startup",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Running => 0,
            Self::Candidate => 1,
            Self::Startup => 2,
        }
    }
}

/// RFC 6241 §7.2 `<default-operation>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultOperation {
    #[default]
    Merge,
    Replace,
    None,
}

/// RFC 6241 §7.2 `<test-option>` (`:validate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TestOption {
    #[default]
    TestThenSet,
    Set,
    TestOnly,
}

/// RFC 6241 §7.2 `<error-option>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorOption {
    #[default]
    StopOnError,
    ContinueOnError,
    RollbackOnError,
}

/// The parameters of an edit-config besides target and config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EditOptions {
    pub default_operation: DefaultOperation,
    pub test_option: TestOption,
    pub error_option: ErrorOption,
}

/// What copy-config copies from (RFC 6241 §7.3 `<source>`).
#[derive(Debug, Clone, Copy)]
pub enum CopySource<'x> {
    Datastore(Datastore),
    /// The content of a `<config>` element.
    Config(&'x str),
}

/// A whole datastore content kept aside, e.g. running before a commit, to
/// be put back by [`Datastores::restore_running`] (confirmed commit, or an
/// engine refusing the change).
#[derive(Debug)]
pub struct Snapshot<'c> {
    tree: DataTree<'c>,
}

impl<'c> Snapshot<'c> {
    /// The kept tree, e.g. to diff against the new running.
    pub fn tree(&self) -> &DataTree<'c> {
        &self.tree
    }
}

/// How startup came to be when the datastores were opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupOrigin {
    /// Read from the state directory.
    Loaded,
    /// None was stored: built from the seed and stored.
    Seeded,
    /// None was stored and no seed given: empty, not persisted.
    Empty,
}

/// running, candidate and startup, with their locks.
pub struct Datastores<'c> {
    ctx: &'c Context,
    trees: [DataTree<'c>; 3],
    locks: [Option<SessionId>; 3],
    /// When each lock was taken (RFC 6022 §2.1.2 `locked-time`).
    locked_at: [Option<std::time::SystemTime>; 3],
    /// Sessions that changed candidate since the last commit or
    /// discard-changes (RFC 6241 §7.5).
    candidate_changed_by: BTreeSet<SessionId>,
    store: Option<StartupStore>,
}

impl<'c> Datastores<'c> {
    /// Empty datastores in `ctx` (from [`crate::schema::datastore_context`]),
    /// nothing persisted.
    pub fn new(ctx: &'c Context) -> Datastores<'c> {
        Datastores {
            ctx,
            trees: [DataTree::new(ctx), DataTree::new(ctx), DataTree::new(ctx)],
            locks: [None; 3],
            locked_at: [None; 3],
            candidate_changed_by: BTreeSet::new(),
            store: None,
        }
    }

    /// Opens the datastores on a state directory: startup is read from the
    /// store; when none is stored, `seed` (e.g. built from the TOML `[bgp]`
    /// table by [`bgp::seed_tree`]) becomes startup and is stored. running
    /// and candidate start as copies of startup (RFC 6241 §8.7).
    pub fn open(
        ctx: &'c Context,
        store: StartupStore,
        seed: Option<DataTree<'c>>,
    ) -> Result<(Datastores<'c>, StartupOrigin), DatastoreError> {
        let stored = store.load().map_err(|e| {
            DatastoreError::internal(format!(
                "reading the startup datastore {}: {e}",
                store.path().display()
            ))
        })?;
        let (startup, origin) = match (stored, seed) {
            (Some(xml), _) => {
                let tree = ly::parse_config(ctx, &xml)?;
                ly::validate(&tree)?;
                (tree, StartupOrigin::Loaded)
            }
            (None, Some(seed)) => {
                ly::validate(&seed)?;
                store.save(&ly::print(&seed)?).map_err(|e| {
                    DatastoreError::internal(format!("storing the startup datastore: {e}"))
                })?;
                (seed, StartupOrigin::Seeded)
            }
            (None, None) => (DataTree::new(ctx), StartupOrigin::Empty),
        };
        let mut ds = Datastores::new(ctx);
        ds.trees[Datastore::Running.index()] = ly::duplicate(&startup)?;
        ds.trees[Datastore::Candidate.index()] = ly::duplicate(&startup)?;
        ds.trees[Datastore::Startup.index()] = startup;
        ds.store = Some(store);
        Ok((ds, origin))
    }

    /// The libyang context of the trees.
    pub fn context(&self) -> &'c Context {
        self.ctx
    }

    /// An error's path in XML form, for NETCONF's `error-path`.
    pub fn xml_error_path(&self, error: &DatastoreError) -> Option<XmlPath> {
        ly::xml_path(self.ctx, error.path.as_deref()?)
    }

    /// A datastore's tree (explicit nodes only), e.g. for filters.
    pub fn tree(&self, ds: Datastore) -> &DataTree<'c> {
        &self.trees[ds.index()]
    }

    /// A datastore as XML, explicit nodes only; "" when empty.
    pub fn get_config(&self, ds: Datastore) -> Result<String, DatastoreError> {
        ly::print(self.tree(ds))
    }

    /// The session holding a datastore's lock.
    pub fn lock_holder(&self, ds: Datastore) -> Option<SessionId> {
        self.locks[ds.index()]
    }

    /// The session holding a datastore's lock and when it took it.
    pub fn lock_info(&self, ds: Datastore) -> Option<(SessionId, std::time::SystemTime)> {
        Some((self.locks[ds.index()]?, self.locked_at[ds.index()]?))
    }

    /// Whether candidate has changes not yet committed or discarded.
    pub fn candidate_changed(&self) -> bool {
        !self.candidate_changed_by.is_empty()
    }

    /// Refuses when another session holds the lock (RFC 6241 §7.5: a
    /// locked datastore is changed only by the lock holder).
    fn check_writable(&self, session: SessionId, ds: Datastore) -> Result<(), DatastoreError> {
        match self.locks[ds.index()] {
            Some(holder) if holder != session => Err(DatastoreError::locked(ds, holder)),
            _ => Ok(()),
        }
    }

    /// RFC 6241 §7.5 `<lock>`.
    pub fn lock(&mut self, session: SessionId, ds: Datastore) -> Result<(), DatastoreError> {
        if let Some(holder) = self.locks[ds.index()] {
            return Err(DatastoreError::new(
                ErrorTag::LockDenied,
                format!("the {} datastore is already locked", ds.name()),
            )
            .held_by(holder));
        }
        // RFC 6241 §7.5: no lock on candidate while it holds changes that
        // are not committed; changes of the requesting session itself do
        // not stand in its way. session-id 0: no session holds a lock.
        if ds == Datastore::Candidate && self.candidate_changed_by.iter().any(|s| *s != session) {
            return Err(DatastoreError::new(
                ErrorTag::LockDenied,
                "the candidate datastore has changes that are not committed",
            )
            .held_by(0));
        }
        self.locks[ds.index()] = Some(session);
        self.locked_at[ds.index()] = Some(std::time::SystemTime::now());
        Ok(())
    }

    /// RFC 6241 §7.6 `<unlock>`. Releasing candidate discards its
    /// uncommitted changes, as Junos does: the lock protected one session's
    /// work, and the next holder starts from running.
    pub fn unlock(&mut self, session: SessionId, ds: Datastore) -> Result<(), DatastoreError> {
        match self.locks[ds.index()] {
            Some(holder) if holder == session => {
                self.locks[ds.index()] = None;
                self.locked_at[ds.index()] = None;
                if ds == Datastore::Candidate {
                    self.reset_candidate()?;
                }
                Ok(())
            }
            // As before datastores existed (docs/errors.md): unlocking a
            // lock of another session is operation-failed naming the holder.
            Some(holder) => Err(DatastoreError::new(
                ErrorTag::OperationFailed,
                format!(
                    "the {} datastore is locked by session {holder}, not this one",
                    ds.name()
                ),
            )
            .held_by(holder)),
            None => Err(DatastoreError::new(
                ErrorTag::OperationFailed,
                format!("the {} datastore is not locked", ds.name()),
            )),
        }
    }

    /// A session ended (close-session, kill-session, transport lost): its
    /// locks are released (RFC 6241 §7.5), which discards candidate's
    /// changes if it held candidate's lock (see [`Self::unlock`]).
    pub fn release_session(&mut self, session: SessionId) -> Result<(), DatastoreError> {
        for ds in [Datastore::Running, Datastore::Candidate, Datastore::Startup] {
            if self.locks[ds.index()] == Some(session) {
                self.unlock(session, ds)?;
            }
        }
        Ok(())
    }

    fn reset_candidate(&mut self) -> Result<(), DatastoreError> {
        self.trees[Datastore::Candidate.index()] = ly::duplicate(self.tree(Datastore::Running))?;
        self.candidate_changed_by.clear();
        Ok(())
    }

    /// RFC 6241 §7.2 `<edit-config>` on running or candidate with `config`,
    /// the content of the `<config>` element (`nc:operation` attributes in
    /// the base namespace). On any failure the target is untouched, except
    /// with `continue-on-error`, where the edits without error are applied
    /// (RFC 6241 §7.2) and [`EditFailure::target_changed`] says so.
    ///
    /// running must always validate; candidate is validated unless
    /// `test-option` is `set` (RFC 6241 §8.6), and is then validated at
    /// commit.
    pub fn edit_config(
        &mut self,
        session: SessionId,
        target: Datastore,
        config: &str,
        options: EditOptions,
    ) -> Result<(), EditFailure> {
        if target == Datastore::Startup {
            return Err(DatastoreError::new(
                ErrorTag::OperationNotSupported,
                "edit-config targets running or candidate (RFC 6241 §7.2); use copy-config for startup",
            )
            .into());
        }
        self.check_writable(session, target)?;
        let edit = ly::parse_edit(self.ctx, config)?;
        let mut work = ly::duplicate(self.tree(target))?;
        let default_op = match options.default_operation {
            DefaultOperation::Merge => Operation::Merge,
            DefaultOperation::Replace => Operation::Replace,
            DefaultOperation::None => Operation::None,
        };
        let continue_on_error = options.error_option == ErrorOption::ContinueOnError;
        let mut errors = Vec::new();
        edit::apply(
            &mut work,
            &edit,
            default_op,
            !continue_on_error,
            &mut errors,
        );
        // stop-on-error and rollback-on-error: the first error ends the edit
        // and the target keeps its content (all edits are made on a copy).
        if !errors.is_empty() && !continue_on_error {
            return Err(EditFailure {
                errors,
                target_changed: false,
            });
        }
        let must_validate = target == Datastore::Running || options.test_option != TestOption::Set;
        if must_validate {
            ly::validate(&work)?;
        }
        if options.test_option == TestOption::TestOnly {
            return if errors.is_empty() {
                Ok(())
            } else {
                Err(EditFailure {
                    errors,
                    target_changed: false,
                })
            };
        }
        self.trees[target.index()] = work;
        if target == Datastore::Candidate {
            self.candidate_changed_by.insert(session);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EditFailure {
                errors,
                target_changed: true,
            })
        }
    }

    /// The tree a copy-config source names, parsed and checked.
    fn source_tree(&self, source: CopySource<'_>) -> Result<DataTree<'c>, DatastoreError> {
        match source {
            CopySource::Datastore(ds) => ly::duplicate(self.tree(ds)),
            CopySource::Config(xml) => {
                let tree = ly::parse_config(self.ctx, xml)?;
                if let Some(path) = edit::has_operation_attribute(&tree) {
                    let mut e = DatastoreError::new(
                        ErrorTag::BadAttribute,
                        "copy-config takes plain configuration, without operation attributes",
                    )
                    .at(path);
                    e.bad_attribute = Some("operation".to_owned());
                    return Err(e);
                }
                Ok(tree)
            }
        }
    }

    /// RFC 6241 §7.3 `<copy-config>`: replaces the whole target. running
    /// and startup only take valid configuration; startup is stored before
    /// it changes in memory, so a failed write changes nothing.
    pub fn copy_config(
        &mut self,
        session: SessionId,
        target: Datastore,
        source: CopySource<'_>,
    ) -> Result<(), DatastoreError> {
        if let CopySource::Datastore(src) = source
            && src == target
        {
            // RFC 6241 §7.3: same source and target is invalid-value.
            return Err(DatastoreError::new(
                ErrorTag::InvalidValue,
                "source and target are the same datastore",
            ));
        }
        self.check_writable(session, target)?;
        let tree = self.source_tree(source)?;
        if target != Datastore::Candidate {
            ly::validate(&tree)?;
        }
        self.replace(session, target, tree)
    }

    /// Puts `tree` in place of `target`, storing startup first.
    fn replace(
        &mut self,
        session: SessionId,
        target: Datastore,
        tree: DataTree<'c>,
    ) -> Result<(), DatastoreError> {
        if target == Datastore::Startup
            && let Some(store) = &self.store
        {
            store.save(&ly::print(&tree)?).map_err(|e| {
                DatastoreError::internal(format!("storing the startup datastore: {e}"))
            })?;
        }
        self.trees[target.index()] = tree;
        if target == Datastore::Candidate {
            self.candidate_changed_by.insert(session);
        }
        Ok(())
    }

    /// RFC 6241 §7.4 `<delete-config>`: startup or candidate (running
    /// cannot be deleted). An empty startup is stored as an empty file, so
    /// that a later start does not seed it again from the TOML file.
    pub fn delete_config(
        &mut self,
        session: SessionId,
        target: Datastore,
    ) -> Result<(), DatastoreError> {
        if target == Datastore::Running {
            return Err(DatastoreError::new(
                ErrorTag::OperationNotSupported,
                "the running datastore cannot be deleted (RFC 6241 §7.4)",
            ));
        }
        self.check_writable(session, target)?;
        self.replace(session, target, DataTree::new(self.ctx))
    }

    /// RFC 6241 §8.6 `<validate>` of a datastore.
    pub fn validate(&self, ds: Datastore) -> Result<(), DatastoreError> {
        ly::validate(self.tree(ds))
    }

    /// RFC 6241 §8.6 `<validate>` of a `<config>` content.
    pub fn validate_config(&self, config: &str) -> Result<(), DatastoreError> {
        let tree = self.source_tree(CopySource::Config(config))?;
        ly::validate(&tree)
    }

    /// RFC 6241 §8.3.4.1 `<commit>`: candidate becomes running. Answers the
    /// previous running, so that the caller can diff it against the new one,
    /// and put it back with [`Self::restore_running`] if applying fails or a
    /// confirmed commit is not confirmed (RFC 6241 §8.4).
    pub fn commit(&mut self, session: SessionId) -> Result<Snapshot<'c>, DatastoreError> {
        // Changing running needs its lock, if any; a candidate locked by
        // another session holds that session's work in progress.
        self.check_writable(session, Datastore::Running)?;
        self.check_writable(session, Datastore::Candidate)?;
        let candidate = self.tree(Datastore::Candidate);
        ly::validate(candidate)?;
        let new = ly::duplicate(candidate)?;
        let previous = std::mem::replace(&mut self.trees[Datastore::Running.index()], new);
        self.candidate_changed_by.clear();
        Ok(Snapshot { tree: previous })
    }

    /// Puts a snapshot back as running (and candidate, whose changes were
    /// the committed ones). For the commit machinery, not a NETCONF
    /// operation of its own.
    pub fn restore_running(&mut self, snapshot: Snapshot<'c>) -> Result<(), DatastoreError> {
        self.trees[Datastore::Running.index()] = snapshot.tree;
        self.reset_candidate()
    }

    /// Puts a snapshot back as running and leaves candidate alone: undoes
    /// an edit or copy of running, or a commit, that the engine refused.
    /// After a refused commit candidate still holds the refused changes
    /// (RFC 6241 §8.3.4.1: a failed commit changes nothing), marked as
    /// changed by `session`.
    pub fn put_back_running(&mut self, snapshot: Snapshot<'c>, session: Option<SessionId>) {
        self.trees[Datastore::Running.index()] = snapshot.tree;
        if let Some(s) = session {
            self.candidate_changed_by.insert(s);
        }
    }

    /// After running changed (an edit or copy of running): candidate
    /// without uncommitted changes follows it, so that a later commit does
    /// not undo the change (RFC 6241 §8.3: candidate starts as a copy of
    /// running; as sysrepo, a candidate nobody changed stays that copy).
    pub fn candidate_follows_running(&mut self) -> Result<(), DatastoreError> {
        if self.candidate_changed_by.is_empty() {
            self.reset_candidate()?;
        }
        Ok(())
    }

    /// A copy of running kept aside (e.g. before applying an edit of running
    /// to the engine).
    pub fn snapshot(&self, ds: Datastore) -> Result<Snapshot<'c>, DatastoreError> {
        Ok(Snapshot {
            tree: ly::duplicate(self.tree(ds))?,
        })
    }

    /// RFC 6241 §8.3.4.2 `<discard-changes>`: candidate becomes running again.
    pub fn discard_changes(&mut self, session: SessionId) -> Result<(), DatastoreError> {
        self.check_writable(session, Datastore::Candidate)?;
        self.reset_candidate()
    }
}

#[cfg(test)]
mod tests;
