//! Starts the whole agent from one configuration: users, the NETCONF server
//! behind SSH, the application; stops it on a cancellation token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::auth::{self, HashError, Level, Throttle, User, Users};
use crate::bgp::{BgpError, BgpHandle, Engine};
use crate::config::{Config, ConfigError, UserConfig};
use crate::netconf::ServerState;
use crate::netconf::framing::FramingLimits;
use crate::netconf::notify::Notifier;
use crate::netconf::state::{FlowLimits, SessionLimits};
use crate::northbound::config::{self as config_store, OpenError};
use crate::northbound::{Agent, MissingHandler, events};
use crate::schema::{DeviceProfile, Schema, SchemaError};
use crate::ssh::admission::{AdmissionLimits, MaxStartups};
use crate::ssh::{
    CONNECTION_HEADROOM, HostKeyError, SshServer, authorized_key, load_or_create_host_key,
};

/// Environment variable that sets the first admin's password when the
/// configuration lists no users.
pub const ADMIN_PASSWORD_ENV: &str = "NCAGENT_ADMIN_PASSWORD";

/// Why the agent did not start. Each variant keeps its cause as the error
/// source, so the binary prints the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The SSH host key could not be loaded or created.
    #[error(transparent)]
    HostKey(#[from] HostKeyError),
    #[error("cannot write the generated admin password to {}", path.display())]
    AdminPassword {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot hash the first admin's password")]
    AdminHash(#[source] HashError),
    /// The device model or the YANG schema.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Handler(#[from] MissingHandler),
    #[error(transparent)]
    Bgp(#[from] BgpError),
    /// The configuration datastores: a startup datastore that cannot be
    /// loaded (named, with libyang's error), or a `[bgp]` table the YANG
    /// model refuses.
    #[error(transparent)]
    Datastore(#[from] OpenError),
    #[error("the BGP configuration of the running datastore: {0}")]
    Running(#[source] crate::datastore::DatastoreError),
}

/// A running agent.
pub struct Running {
    pub local_addr: SocketAddr,
    pub state: Arc<ServerState>,
    pub bgp: BgpHandle,
    task: tokio::task::JoinHandle<()>,
    bgp_task: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
}

impl Running {
    /// Stops accepting, closes every session, and waits (bounded) for them.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        for _ in 0..50 {
            if self.state.session_count() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The engine sends CEASE to every peer before its task ends.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.bgp_task).await;
    }
}

/// The users of the configuration; errors name the bad key.
fn users_from_config(users: &[UserConfig]) -> Result<Users, ConfigError> {
    let mut out = Users::default();
    for (i, u) in users.iter().enumerate() {
        let mut keys = Vec::with_capacity(u.authorized_keys.len());
        for (k, line) in u.authorized_keys.iter().enumerate() {
            let key = authorized_key(line).map_err(|e| {
                ConfigError::invalid(format!("users[{i}].authorized_keys[{k}]"), e.to_string())
            })?;
            keys.push(key);
        }
        out.insert(User::new(
            u.name.clone(),
            u.level,
            u.password_hash.clone(),
            keys,
        ));
    }
    Ok(out)
}

/// The users of the configuration, or the first admin from the environment.
fn users_of(config: &Config, state_dir: &std::path::Path) -> Result<Users, StartError> {
    let mut users = users_from_config(&config.users)?;
    if users.is_empty() {
        let password = match std::env::var(ADMIN_PASSWORD_ENV) {
            Ok(p) if !p.is_empty() => p,
            _ => {
                // No fixed well-known password: make one and tell only the operator.
                let password = random_password();
                let path = state_dir.join("admin-password");
                write_secret(&path, &password).map_err(|source| StartError::AdminPassword {
                    path: path.clone(),
                    source,
                })?;
                warn!(
                    path = %path.display(),
                    "no users configured and {ADMIN_PASSWORD_ENV} unset: user \"admin\" has a generated password, stored in this file"
                );
                password
            }
        };
        let hash = auth::hash_password(&password).map_err(StartError::AdminHash)?;
        users.add("admin", Level::Management, hash);
        info!("user \"admin\" (level 3) enabled from the embedded default");
    }
    Ok(users)
}

fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    rand::fill(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn write_secret(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{text}")
}

/// Starts the agent; returns once it is listening.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let shutdown = CancellationToken::new();
    let state_dir: PathBuf = config
        .server
        .host_key
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let users = Arc::new(users_of(&config, &state_dir)?);
    let host_key = load_or_create_host_key(&config.server.host_key)?;

    let profile = DeviceProfile::lookup(
        &config.device.model,
        config.device.forwarding_mode.as_deref(),
    )?;
    let schema = Schema::load(profile)?;
    // RFC 6241 §8.7: startup (from the state directory, or seeded from the
    // [bgp] table when none is stored) becomes running; the engine runs
    // running's configuration.
    let mut opened = config_store::open(
        crate::schema::datastore_context()?,
        &state_dir,
        config.bgp.as_ref(),
    )?;
    let bgp_config = opened.engine_config().map_err(StartError::Running)?;
    let (bgp, bgp_task) = Engine::start(bgp_config, shutdown.clone()).await?;
    let l = &config.limits;
    let rpc_timeout = Duration::from_secs(l.rpc_timeout_secs);
    let store = opened.into_store(bgp.clone(), rpc_timeout);
    store.nacm().set_recovery_users(
        config
            .users
            .iter()
            .filter(|u| u.recovery)
            .map(|u| u.name.clone()),
    );
    let notifier = Notifier::new(l.notify_limits());
    let app = Arc::new(
        Agent::new(schema, bgp.clone(), rpc_timeout, store)?.with_notifier(notifier.clone()),
    );
    events::forward_peer_events(&bgp, notifier.clone(), shutdown.clone());
    info!(device = %profile.describe(), "device model");
    let limits = SessionLimits {
        framing: FramingLimits {
            max_message: l.max_message_size,
            max_chunk: l.max_chunk_size,
        },
        max_sessions: l.max_sessions,
        hello_timeout: l.hello_timeout(),
        idle_timeout: l.idle_timeout(),
    };
    let flow = FlowLimits {
        input_backlog: l.max_input_backlog,
        reply_queue: l.max_reply_queue,
        write_stall: l.write_stall(),
    };
    let (start, rate, full) = l.parse_max_startups()?;
    let admission = AdmissionLimits {
        max_startups: MaxStartups { start, rate, full },
        per_source: l.max_unauthenticated_per_source,
        login_grace: l.login_grace(),
        max_authenticated: l.max_sessions + CONNECTION_HEADROOM,
    };
    let state = ServerState::with_notifier(app, limits, flow, notifier, shutdown.clone());
    let throttle = Arc::new(Throttle::new(
        l.max_auth_failures,
        Duration::from_secs(l.auth_lockout_secs),
    ));
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.server.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.server.listen,
        source,
    })?;
    let server = SshServer::new(host_key, users, throttle, state.clone(), admission);
    let token = shutdown.clone();
    let task = tokio::spawn(async move { server.serve(listener, token).await });
    info!(%local_addr, "NETCONF over SSH listening");
    Ok(Running {
        local_addr,
        state,
        bgp,
        task,
        bgp_task,
        shutdown,
    })
}

/// Checks everything `start` would check, without binding or starting anything.
pub fn check(config: &Config) -> Result<(), StartError> {
    config.validate()?;
    users_from_config(&config.users)?;
    let profile = DeviceProfile::lookup(
        &config.device.model,
        config.device.forwarding_mode.as_deref(),
    )?;
    Schema::load(profile)?;
    Ok(())
}
