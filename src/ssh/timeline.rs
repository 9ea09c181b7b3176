//! The server-side stages of one connection's set-up, for the profile of
//! docs/performance.md ("Session set-up, stage by stage"): logged once, at
//! debug level (target `ncagent::ssh::setup`), when the NETCONF subsystem
//! starts. A few `Instant`s per connection; nothing is logged at the
//! default level.

use std::time::{Duration, Instant};

use tracing::debug;

/// Times since the TCP accept of each step the handler sees. The SSH
/// version exchange, key exchange and `ssh-userauth` service request happen
/// inside russh before the first authentication request.
pub(super) struct Timeline {
    accepted: Instant,
    first_auth: Option<Duration>,
    password_in: Option<Duration>,
    hash: Option<Duration>,
    authenticated: Option<Duration>,
    channel_open: Option<Duration>,
}

fn ms(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

impl Timeline {
    pub(super) fn new(accepted: Instant) -> Timeline {
        Timeline {
            accepted,
            first_auth: None,
            password_in: None,
            hash: None,
            authenticated: None,
            channel_open: None,
        }
    }

    fn now(&self) -> Duration {
        self.accepted.elapsed()
    }

    /// Any authentication request (the client's "none" probe comes first).
    pub(super) fn auth_request(&mut self) {
        self.first_auth.get_or_insert(self.now());
    }

    /// A password request arrived; returns when, to time the hash from.
    pub(super) fn password_request(&mut self) -> Instant {
        self.auth_request();
        self.password_in = Some(self.now());
        Instant::now()
    }

    /// The password hash verification that began at `started` finished.
    pub(super) fn hashed(&mut self, started: Instant) {
        self.hash = Some(started.elapsed());
    }

    pub(super) fn authenticated(&mut self) {
        self.authenticated.get_or_insert(self.now());
    }

    pub(super) fn channel_open(&mut self) {
        self.channel_open.get_or_insert(self.now());
    }

    /// The subsystem is accepted; the session writes its hello next.
    pub(super) fn subsystem(&self, session_id: u32) {
        debug!(
            target: "ncagent::ssh::setup",
            session_id,
            handshake_ms = ms(self.first_auth),
            password_in_ms = ms(self.password_in),
            hash_ms = ms(self.hash),
            authenticated_ms = ms(self.authenticated),
            channel_open_ms = ms(self.channel_open),
            subsystem_ms = ms(Some(self.now())),
            "set-up stages (ms since TCP accept)"
        );
    }
}
