//! The only user of russh: SSH transport for NETCONF (RFC 6242 §3).
//!
//! Offers password and public-key authentication only (never `none` or
//! keyboard-interactive), throttles failed logins per address, accepts one
//! subsystem, `netconf`, and hands the channel's byte stream to
//! [`crate::netconf::run_session`].
//!
//! Unauthenticated connections are bounded as sshd bounds them
//! ([`admission`]); a session's input is bounded through the channel window
//! (RFC 4254 §5.2, see [`ConnectionHandler::adjust_window`]).

pub mod admission;
mod hostkey;
mod keys;
mod timeline;

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

pub use hostkey::{HostKey, HostKeyError, load_or_create_host_key};
pub use keys::{KeyError, authorized_key};

use crate::auth::{Throttle, Users};
use crate::netconf::state::InputGauge;
use crate::netconf::{ServerState, SessionUser, run_session};
use admission::{Admission, AdmissionLimits, GraceStream, Startup};

/// Authenticated SSH connections allowed beyond `max_sessions` (a client
/// may log in before it opens its subsystem).
pub const CONNECTION_HEADROOM: usize = 16;

/// The SSH receive window we offer per channel (russh's default, 2 MiB).
const WINDOW: u32 = 2 * 1024 * 1024;
/// The window offered while a session's input backlog is over its cap.
/// Not 0 or 1: russh sends a WINDOW_ADJUST (and asks us again) only when the
/// client's window falls below half the target, so 2 keeps it asking.
const GATED_WINDOW: u32 = 2;
/// What may still arrive once the window is shrunk: what is left of the
/// window, plus one adjust made just before, plus a margin for the trickle of
/// the gated window (docs/decisions.md, "Flow control").
const WINDOW_SLACK: usize = 2 * WINDOW as usize + 1024 * 1024;

pub struct SshServer {
    config: Arc<Config>,
    users: Arc<Users>,
    throttle: Arc<Throttle>,
    netconf: Arc<ServerState>,
    admission: Arc<Admission>,
}

impl SshServer {
    pub fn new(
        host_key: HostKey,
        users: Arc<Users>,
        throttle: Arc<Throttle>,
        netconf: Arc<ServerState>,
        admission: AdmissionLimits,
    ) -> SshServer {
        let limits = &netconf.limits;
        let config = Config {
            methods: MethodSet::from(&[MethodKind::Password, MethodKind::PublicKey][..]),
            keys: vec![host_key.0],
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
            window_size: WINDOW,
            ..Default::default()
        };
        SshServer {
            config: Arc::new(config),
            users,
            throttle,
            netconf,
            admission: Admission::new(admission),
        }
    }

    /// Accepts connections until `shutdown` is cancelled.
    pub async fn serve(&self, listener: TcpListener, shutdown: CancellationToken) {
        let grace = self.admission.limits().login_grace;
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
            let roll = (rand::random::<u32>() % 100) as u8;
            let startup = match self.admission.admit(peer.ip(), roll) {
                Ok(s) => s,
                Err(reason) => {
                    // Closed at once, as sshd does; logged at most every 10 s.
                    debug!(%peer, ?reason, "connection refused");
                    if let Some(refused) = self.admission.refusal_warning_due() {
                        let (total, from_peer) = self.admission.unauthenticated(peer.ip());
                        warn!(%peer, ?reason, refused, unauthenticated = total, from_peer, "unauthenticated connections over their limits; refusing");
                    }
                    drop(socket);
                    continue;
                }
            };
            let accepted = std::time::Instant::now();
            let _ = socket.set_nodelay(true);
            let socket = GraceStream::new(socket, grace, startup.flag());
            let handler = ConnectionHandler {
                peer,
                users: self.users.clone(),
                throttle: self.throttle.clone(),
                netconf: self.netconf.clone(),
                user: None,
                startup,
                authenticated: None,
                channels: HashMap::new(),
                inputs: HashMap::new(),
                gated: false,
                timeline: timeline::Timeline::new(accepted),
            };
            let config = self.config.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(
                async move {
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
    /// The connection's place among unauthenticated connections (freed at
    /// login), then its place among authenticated ones.
    startup: Startup,
    authenticated: Option<tokio::sync::OwnedSemaphorePermit>,
    channels: HashMap<ChannelId, Channel<Msg>>,
    /// Unprocessed input of each NETCONF session on this connection, and
    /// the token that tells the session its channel is gone.
    inputs: HashMap<ChannelId, (Arc<InputGauge>, CancellationToken)>,
    /// Whether the window is currently shrunk (for the log).
    gated: bool,
    /// When each set-up step happened (debug log at subsystem start).
    timeline: timeline::Timeline,
}

impl Drop for ConnectionHandler {
    /// The connection is gone (russh drops its handler when its loop ends):
    /// every session on it stops.
    fn drop(&mut self) {
        for (_, closed) in self.inputs.values() {
            closed.cancel();
        }
    }
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

    /// RFC 4254 §5.2: the receive window is how we bound a session's input.
    /// russh tops the client's window up to the target as data arrives,
    /// without waiting for the session to consume it, and then asks here for
    /// the next target. While a session has more unprocessed input than its
    /// cap, the target shrinks to a trickle, so the client stops sending
    /// while russh's loop never blocks (it must keep reading the client's
    /// own WINDOW_ADJUSTs for our replies); once the backlog drains, the next
    /// data restores the full window.
    fn adjust_window(&mut self, _channel: ChannelId, _current: u32) -> u32 {
        // The target is per connection in russh: gate on any of its sessions.
        let gate = self.inputs.values().any(|(g, _)| g.over_cap());
        if gate != self.gated {
            self.gated = gate;
            debug!(
                gated = gate,
                "input backlog crossed its cap; channel window adjusted"
            );
        }
        if gate { GATED_WINDOW } else { WINDOW }
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // RFC 4254 §5.3: nothing more can be sent on a closed channel, so
        // the session stops instead of answering what it still holds.
        if let Some((_, closed)) = self.inputs.remove(&channel) {
            closed.cancel();
        }
        self.channels.remove(&channel);
        Ok(())
    }

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        self.timeline.auth_request();
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
        let started = self.timeline.password_request();
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
        self.timeline.hashed(started);
        self.finish_auth(user, found, "password")
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        self.timeline.auth_request();
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
            self.timeline.channel_open();
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
        // The channel is always read (russh's loop must never wait on us);
        // input is bounded by the window instead.
        guard.input.bounded_by_transport(WINDOW_SLACK);
        self.inputs.insert(
            channel,
            (guard.input.clone(), guard.transport_closed.clone()),
        );
        self.timeline.subsystem(guard.id);
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
                let Some(permit) = self.startup.authenticate() else {
                    warn!(user, method, peer = %self.peer, "login refused: too many authenticated connections");
                    return Ok(Self::reject());
                };
                self.authenticated = Some(permit);
                self.timeline.authenticated();
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
