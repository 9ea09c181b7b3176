//! The only user of russh: SSH transport for NETCONF (RFC 6242 §3).
//!
//! Offers password and public-key authentication only (never `none` or
//! keyboard-interactive), throttles failed logins per address, accepts one
//! subsystem, `netconf`, and hands the channel's byte stream to
//! [`crate::netconf::run_session`].

mod hostkey;
mod keys;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PublicKey;
use russh::server::{Auth, Config, Handler, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

pub use hostkey::load_or_create_host_key;
pub use keys::{KeyError, authorized_key};

use crate::auth::{Throttle, Users};
use crate::netconf::{ServerState, SessionUser, run_session};

/// SSH connections (authenticated or not) allowed beyond `max_sessions`,
/// so that a flood of half-open logins cannot starve real sessions.
const CONNECTION_HEADROOM: usize = 16;

pub struct SshServer {
    config: Arc<Config>,
    users: Arc<Users>,
    throttle: Arc<Throttle>,
    netconf: Arc<ServerState>,
}

impl SshServer {
    pub fn new(
        host_key: russh::keys::PrivateKey,
        users: Arc<Users>,
        throttle: Arc<Throttle>,
        netconf: Arc<ServerState>,
    ) -> SshServer {
        let limits = &netconf.limits;
        let config = Config {
            methods: MethodSet::from(&[MethodKind::Password, MethodKind::PublicKey][..]),
            keys: vec![host_key],
            auth_rejection_time: Duration::from_millis(300),
            // No delay for the first "none" probe that every client sends.
            auth_rejection_time_initial: Some(Duration::ZERO),
            max_auth_attempts: 6,
            // Bounds unauthenticated connections; an authenticated session's
            // idleness is bounded by the NETCONF idle timeout.
            inactivity_timeout: Some(
                limits
                    .idle_timeout
                    .unwrap_or(Duration::from_secs(24 * 3600))
                    .max(limits.hello_timeout)
                    + Duration::from_secs(5),
            ),
            nodelay: true,
            ..Default::default()
        };
        SshServer {
            config: Arc::new(config),
            users,
            throttle,
            netconf,
        }
    }

    /// Accepts connections until `shutdown` is cancelled.
    pub async fn serve(&self, listener: TcpListener, shutdown: CancellationToken) {
        let max_connections = self.netconf.limits.max_sessions + CONNECTION_HEADROOM;
        let live = Arc::new(tokio::sync::Semaphore::new(max_connections));
        loop {
            let (socket, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // E.g. EMFILE: wait instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = live.clone().try_acquire_owned() else {
                warn!(%peer, limit = max_connections, "too many SSH connections; closed");
                drop(socket);
                continue;
            };
            let _ = socket.set_nodelay(true);
            let handler = ConnectionHandler {
                peer,
                users: self.users.clone(),
                throttle: self.throttle.clone(),
                netconf: self.netconf.clone(),
                user: None,
                channels: HashMap::new(),
            };
            let config = self.config.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(
                async move {
                    let _permit = permit;
                    let session = match russh::server::run_stream(config, socket, handler).await {
                        Ok(s) => s,
                        Err(e) => {
                            debug!(error = %e, "SSH handshake failed");
                            return;
                        }
                    };
                    let handle = session.handle();
                    tokio::select! {
                        _ = shutdown.cancelled() => {
                            // Give the NETCONF session a moment to close its channel.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            let _ = handle
                                .disconnect(russh::Disconnect::ByApplication, "agent shutting down".into(), "en".into())
                                .await;
                        }
                        r = session => {
                            if let Err(e) = r {
                                debug!(error = %e, "SSH connection ended with an error");
                            }
                        }
                    }
                }
                .instrument(info_span!("ssh", %peer)),
            );
        }
    }
}

struct ConnectionHandler {
    peer: SocketAddr,
    users: Arc<Users>,
    throttle: Arc<Throttle>,
    netconf: Arc<ServerState>,
    user: Option<SessionUser>,
    channels: HashMap<ChannelId, Channel<Msg>>,
}

impl ConnectionHandler {
    fn reject() -> Auth {
        Auth::Reject {
            proceed_with_methods: None,
            partial_success: false,
        }
    }
}

impl Handler for ConnectionHandler {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Self::reject())
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        _user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(Self::reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let ip = self.peer.ip();
        if self.throttle.is_locked(ip) {
            warn!(user, peer = %self.peer, "login refused: too many failures from this address");
            return Ok(Self::reject());
        }
        let users = self.users.clone();
        let (name, pw) = (user.to_owned(), password.to_owned());
        // argon2 is deliberately slow: keep it off the async workers.
        let found = tokio::task::spawn_blocking(move || {
            users.check_password(&name, &pw).map(|u| SessionUser {
                name: u.name.clone(),
                level: u.level,
            })
        })
        .await
        .ok()
        .flatten();
        self.finish_auth(user, found, "password")
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let ok = !self.throttle.is_locked(self.peer.ip())
            && keys::wire_encoding(offer.public_key)
                .is_some_and(|k| self.users.check_key(user, &k).is_some());
        Ok(if ok { Auth::Accept } else { Self::reject() })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let key: &PublicKey = key.public_key;
        let found = keys::wire_encoding(key)
            .and_then(|k| self.users.check_key(user, &k))
            .map(|u| SessionUser {
                name: u.name.clone(),
                level: u.level,
            });
        self.finish_auth(user, found, "publickey")
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.user.is_some() && self.channels.len() < 4 {
            self.channels.insert(channel.id(), channel);
            reply.accept().await;
        }
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // RFC 6242 §3: NETCONF runs as the SSH subsystem "netconf"; nothing else is offered.
        let (Some(user), true) = (self.user.clone(), name == "netconf") else {
            warn!(subsystem = name, "subsystem refused");
            session.channel_failure(channel)?;
            return Ok(());
        };
        let Some(guard) = self.netconf.add_session(&user.name, Some(self.peer)) else {
            warn!(user = %user.name, limit = self.netconf.limits.max_sessions, "max sessions reached; netconf subsystem refused");
            session.channel_failure(channel)?;
            return Ok(());
        };
        let Some(chan) = self.channels.remove(&channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        session.channel_success(channel)?;
        info!(session_id = guard.id, user = %user.name, peer = %self.peer, "netconf session started");
        let state = self.netconf.clone();
        let handle = session.handle();
        tokio::spawn(async move {
            let mut stream = chan.into_stream();
            run_session(&mut stream, state, guard, user).await;
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
            drop(stream);
            // One NETCONF session per SSH connection: close the connection
            // with it, after a grace period, since a disconnect overtakes
            // channel data still queued (the last reply).
            tokio::time::sleep(Duration::from_millis(500)).await;
            let _ = handle
                .disconnect(
                    russh::Disconnect::ByApplication,
                    "netconf session closed".into(),
                    "en".into(),
                )
                .await;
        });
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }
}

impl ConnectionHandler {
    fn finish_auth(
        &mut self,
        user: &str,
        found: Option<SessionUser>,
        method: &str,
    ) -> Result<Auth, russh::Error> {
        let ip = self.peer.ip();
        match found {
            Some(u) => {
                self.throttle.success(ip);
                info!(user, method, peer = %self.peer, level = u.level as u8, "login");
                self.user = Some(u);
                Ok(Auth::Accept)
            }
            None => {
                self.throttle.failure(ip);
                warn!(user, method, peer = %self.peer, "login failed");
                Ok(Self::reject())
            }
        }
    }
}
