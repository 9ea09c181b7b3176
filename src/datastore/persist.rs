//! The startup datastore on disk: one XML file in the state directory,
//! replaced atomically. A crash at any moment leaves the old or the new
//! content, never a torn file:
//!
//! 1. write the new content to `startup.xml.tmp` in the same directory
//!    (a rename is atomic only within one file system);
//! 2. fsync it, so its data is on disk before its name is;
//! 3. rename it over `startup.xml` (POSIX `rename(2)` is atomic);
//! 4. fsync the directory, so the rename itself is durable.
//!
//! A temporary file left by a crash before step 3 is never read: `load`
//! removes it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const FILE_NAME: &str = "startup.xml";
const TEMP_NAME: &str = "startup.xml.tmp";

/// The steps of an atomic write, in order; a test hook may fail any of them
/// to play a crash at that point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    CreateTemp,
    WriteFirstHalf,
    WriteSecondHalf,
    SyncTemp,
    Rename,
    SyncDir,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::CreateTemp,
        Step::WriteFirstHalf,
        Step::WriteSecondHalf,
        Step::SyncTemp,
        Step::Rename,
        Step::SyncDir,
    ];
}

/// Where startup lives.
#[derive(Debug, Clone)]
pub struct StartupStore {
    dir: PathBuf,
}

impl StartupStore {
    /// The store in a state directory (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> StartupStore {
        StartupStore { dir: dir.into() }
    }

    /// The file holding startup.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn temp_path(&self) -> PathBuf {
        self.dir.join(TEMP_NAME)
    }

    /// The stored content, or `None` when nothing was ever stored. A
    /// temporary file left by an interrupted save is removed, never read.
    pub fn load(&self) -> io::Result<Option<String>> {
        match fs::remove_file(self.temp_path()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match fs::read_to_string(self.path()) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the stored content atomically.
    pub fn save(&self, content: &str) -> io::Result<()> {
        self.save_with(content, &mut |_| Ok(()))
    }

    /// [`Self::save`] calling `before` ahead of every [`Step`]; an error
    /// from it stops the save right there, as a crash would (nothing is
    /// cleaned up).
    pub fn save_with(
        &self,
        content: &str,
        before: &mut dyn FnMut(Step) -> io::Result<()>,
    ) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let temp = self.temp_path();
        before(Step::CreateTemp)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        let bytes = content.as_bytes();
        let (first, second) = bytes.split_at(bytes.len() / 2);
        before(Step::WriteFirstHalf)?;
        file.write_all(first)?;
        before(Step::WriteSecondHalf)?;
        file.write_all(second)?;
        before(Step::SyncTemp)?;
        file.sync_all()?;
        drop(file);
        before(Step::Rename)?;
        fs::rename(&temp, self.path())?;
        before(Step::SyncDir)?;
        sync_dir(&self.dir)
    }
}

/// fsync of a directory: makes a rename in it durable (POSIX leaves the
/// directory entry in the cache until then).
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn nothing_stored_loads_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = StartupStore::new(dir.path().join("state"));
        assert_eq!(store.load().unwrap(), None);
    }

    #[test]
    fn save_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = StartupStore::new(dir.path());
        store.save("<a/>").unwrap();
        assert_eq!(store.load().unwrap().as_deref(), Some("<a/>"));
        store.save("").unwrap();
        assert_eq!(store.load().unwrap().as_deref(), Some(""));
    }

    /// A crash before every step leaves the old or the new content, and a
    /// later load neither fails nor reads the half-written temporary file.
    #[test]
    fn interrupted_at_every_step_leaves_old_or_new() {
        let old = "<old>".repeat(100);
        let new = "<new>".repeat(300);
        for crash_at in Step::ALL {
            let dir = tempfile::tempdir().unwrap();
            let store = StartupStore::new(dir.path());
            store.save(&old).unwrap();
            let err = store
                .save_with(&new, &mut |step| {
                    if step == crash_at {
                        Err(io::Error::other("crash"))
                    } else {
                        Ok(())
                    }
                })
                .unwrap_err();
            assert_eq!(err.to_string(), "crash");
            let got = store.load().unwrap().expect("a file");
            let expected = if matches!(crash_at, Step::SyncDir) {
                &new
            } else {
                &old
            };
            assert_eq!(&got, expected, "crash before {crash_at:?}");
            assert!(!store.temp_path().exists(), "temp left after {crash_at:?}");
            // And the next save still works.
            store.save(&new).unwrap();
            assert_eq!(store.load().unwrap().as_deref(), Some(new.as_str()));
        }
    }

    #[test]
    fn interrupted_first_save_leaves_nothing() {
        for crash_at in Step::ALL {
            let dir = tempfile::tempdir().unwrap();
            let store = StartupStore::new(dir.path());
            let _ = store.save_with("<x/>", &mut |step| {
                if step == crash_at {
                    Err(io::Error::other("crash"))
                } else {
                    Ok(())
                }
            });
            let got = store.load().unwrap();
            match crash_at {
                Step::SyncDir => assert_eq!(got.as_deref(), Some("<x/>")),
                _ => assert_eq!(got, None, "crash before {crash_at:?}"),
            }
        }
    }
}
