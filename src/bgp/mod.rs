//! The embedded BGP-4 speaker (SPEC §5): real TCP sessions, the Route Target
//! Constraint family (AFI 1 / SAFI 132, RFC 4684) and soft reset — inbound by
//! ROUTE-REFRESH (RFC 2918), outbound by re-advertising the Adj-RIB-Out, with
//! enhanced route refresh (RFC 7313) where negotiated.
//!
//! It knows nothing of NETCONF or YANG. One actor task (`engine.rs`) owns
//! all BGP state; [`BgpHandle`] sends it requests carrying a oneshot
//! responder. See `docs/bgp.md`.

pub mod codec;
mod config;
mod engine;
mod fsm;
mod outbox;
mod rib;
mod session;
mod writer;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

pub use config::{BgpConfig, DEFAULT_MAX_PREFIXES, GroupConfig, MAX_GROUP_NAME_LEN, PeerConfig};
pub use fsm::SessionState;
pub use rib::RouteTarget;

/// Which peers a soft reset applies to (the YANG `peer-selector` choice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerSelector {
    All,
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Group(String),
    /// Peers whose remote AS differs from the local AS.
    External,
    /// Peers whose remote AS is the local AS.
    Internal,
}

impl PeerSelector {
    /// One named peer: strict (errors fail the call) rather than lenient.
    pub fn is_single_peer(&self) -> bool {
        matches!(self, Self::Ipv4(_) | Self::Ipv6(_))
    }
}

/// Inbound (`Import`, ROUTE-REFRESH) or outbound (`Export`, re-advertise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Import,
    Export,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Export => "export",
        }
    }
}

/// Why a soft reset failed (SPEC §6).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RefreshError {
    #[error("BGP peer {0} is not configured")]
    PeerNotFound(IpAddr),
    #[error("BGP peer group \"{0}\" is not configured")]
    GroupNotFound(String),
    #[error("BGP peer {0} is not in the Established state")]
    PeerNotEstablished(IpAddr),
    #[error("BGP peer {0} did not negotiate the route-refresh capability")]
    RouteRefreshNotNegotiated(IpAddr),
    #[error("the VPN-Target address family is not enabled for BGP peer {0}")]
    FamilyNotEnabled(IpAddr),
    #[error("the BGP engine did not finish the soft reset in time")]
    Timeout,
    #[error("the BGP engine is not running")]
    EngineStopped,
}

impl RefreshError {
    /// The error-app-tag suggested by SPEC §6.
    pub fn app_tag(&self) -> &'static str {
        match self {
            Self::PeerNotFound(_) => "peer-not-found",
            Self::GroupNotFound(_) => "group-not-found",
            Self::PeerNotEstablished(_) => "peer-not-established",
            Self::RouteRefreshNotNegotiated(_) => "route-refresh-not-negotiated",
            Self::FamilyNotEnabled(_) => "family-not-enabled",
            Self::Timeout => "timeout",
            Self::EngineStopped => "engine-stopped",
        }
    }
}

/// Why a peer selected by a multi-peer selector was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    NotEstablished,
    RouteRefreshNotNegotiated,
    /// The family is enabled here but the peer did not advertise it
    /// (RFC 4760 multiprotocol capability for AFI 1 / SAFI 132).
    FamilyNotNegotiated,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotEstablished => "session not established",
            Self::RouteRefreshNotNegotiated => "route-refresh capability not negotiated",
            Self::FamilyNotNegotiated => "VPN-Target family not negotiated with the peer",
        })
    }
}

/// What a soft reset did: peers written to, and peers skipped with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefreshOutcome {
    pub refreshed: Vec<IpAddr>,
    pub skipped: Vec<(IpAddr, SkipReason)>,
}

/// Errors starting the engine.
#[derive(Debug, thiserror::Error)]
pub enum BgpError {
    #[error("bad BGP configuration: {key} = {value:?}: {reason}")]
    Config {
        key: String,
        value: String,
        reason: String,
    },
    #[error("cannot listen for BGP on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Why [`BgpHandle::reconfigure`] refused a configuration. A refused
/// configuration changed nothing: the engine runs on as before.
#[derive(Debug, thiserror::Error)]
pub enum ReconfigureError {
    /// `BgpConfig::validate` refused it (the error names the key).
    #[error(transparent)]
    Invalid(BgpError),
    /// The new listen address could not be bound; the old listener stays.
    #[error("cannot listen for BGP on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The engine did not take the request before the deadline (it was
    /// not applied).
    #[error("the BGP engine did not take the new configuration in time")]
    Timeout,
    #[error("the BGP engine is not running")]
    EngineStopped,
}

/// What a reconfiguration did, for logs. Route counts are UPDATE contents
/// queued to Established sessions (summed over peers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReconfigureReport {
    pub peers_added: Vec<IpAddr>,
    /// Removed from the configuration: Cease 6/3 to a live session.
    pub peers_removed: Vec<IpAddr>,
    /// Session closed with Cease 6/6 to take the new settings.
    pub peers_reset: Vec<IpAddr>,
    /// `shutdown` set: Cease 6/2 to a live session, no more attempts.
    pub peers_shut_down: Vec<IpAddr>,
    /// `shutdown` cleared: the peer connects (or listens) again.
    pub peers_started: Vec<IpAddr>,
    /// Group changed, session kept.
    pub peers_moved: Vec<IpAddr>,
    /// Lowered `max_prefixes` below its Adj-RIB-In: Cease 6/1.
    pub peers_over_limit: Vec<IpAddr>,
    pub routes_announced: usize,
    pub routes_withdrawn: usize,
    /// The listener now listens here (`Some(None)`: no listener any more).
    pub listener: Option<Option<SocketAddr>>,
}

impl ReconfigureReport {
    /// Nothing to do: the new configuration was the running one.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Capabilities both sides advertised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Negotiated {
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    pub rtc: bool,
    pub four_octet_as: bool,
    /// RFC 8950 §3 Extended Next Hop Encoding for AFI 1 / SAFI 132 with an
    /// IPv6 next hop (offered on IPv6 sessions only).
    pub extended_next_hop: bool,
    /// RFC 4724 §3 Graceful Restart capability: both sides advertised it
    /// (ours never lists an <AFI, SAFI>: we are a Receiving Speaker only).
    pub graceful_restart: bool,
}

/// An RTC route (RFC 4684 §4): origin AS + route target prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RtcRoute {
    pub origin_as: u32,
    /// "65000:100"; `None` for the default RT (prefix length 0).
    pub route_target: Option<String>,
    pub prefix_len: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoftResetResult {
    Done,
    Skipped(SkipReason),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftResetRecord {
    pub time: SystemTime,
    pub direction: Direction,
    pub result: SoftResetResult,
}

/// Why a session left Established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownCause {
    /// We sent this NOTIFICATION (code, subcode), e.g. 4/0 hold timer
    /// expired or 6/x Cease (RFC 4271 §4.5, RFC 4486).
    NotificationSent { code: u8, subcode: u8 },
    /// The peer sent this NOTIFICATION.
    NotificationReceived { code: u8, subcode: u8 },
    /// The connection ended without a NOTIFICATION (closed by the peer,
    /// I/O error); the text says what happened.
    Closed(String),
}

/// A peer reached Established, or left it: published by the engine on a
/// bounded broadcast ([`BgpHandle::peer_events`]); a receiver that lags
/// loses the oldest events, the engine never waits for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEvent {
    pub address: IpAddr,
    pub remote_as: u32,
    pub previous: SessionState,
    pub state: SessionState,
    /// Set on a backward transition (leaving Established).
    pub cause: Option<DownCause>,
    pub time: SystemTime,
}

/// Peer events kept for receivers that have not read them yet.
pub(crate) const PEER_EVENT_QUEUE: usize = 256;

/// Operational state of one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSnapshot {
    pub address: IpAddr,
    pub remote_as: u32,
    pub group: Option<String>,
    pub internal: bool,
    pub family_enabled: bool,
    pub state: SessionState,
    pub negotiated: Negotiated,
    pub route_refresh_sent: u64,
    pub route_refresh_received: u64,
    pub updates_sent: u64,
    pub updates_received: u64,
    /// How many RTC routes the Adj-RIB-In holds (the routes themselves:
    /// [`BgpHandle::routes`]). A count, so that a snapshot costs
    /// O(peers) whatever the RIB sizes (docs/performance.md, "Soak").
    pub adj_rib_in: usize,
    /// How many RTC routes the current session was sent (0 when not
    /// Established).
    pub adj_rib_out: usize,
    /// How many of the Adj-RIB-In's routes are marked stale: kept across the
    /// peer's graceful restart (RFC 4724 §4.2) or between BoRR and EoRR
    /// (RFC 7313 §4).
    pub rtc_routes_stale: usize,
    pub established_since: Option<SystemTime>,
    /// RFC 4684 §6 / RFC 4724 §2: our End-of-RIB for RT membership is on
    /// the wire for the current session.
    pub end_of_rib_sent: bool,
    /// When the peer's End-of-RIB for RT membership arrived in the current
    /// session (`None`: not yet, or not Established).
    pub end_of_rib_received: Option<SystemTime>,
    /// Most RTC routes accepted from the peer (RFC 4486 §4 Cease/1 beyond).
    pub max_prefixes: u32,
    /// A re-advertisement is waiting behind the one being written. At most
    /// one waits per peer: further requests join it.
    pub export_pending: bool,
    /// Soft-reset requests (and received ROUTE-REFRESHes) that joined one
    /// already waiting instead of queueing another copy; cumulative.
    pub soft_resets_coalesced: u64,
    pub last_soft_reset: Option<SoftResetRecord>,
}

/// The RTC routes of one peer, sorted ([`BgpHandle::routes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRoutes {
    pub adj_rib_in: Vec<RtcRoute>,
    /// What the current session was sent (empty when not Established).
    pub adj_rib_out: Vec<RtcRoute>,
}

/// Operational state of the speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub local_as: u32,
    pub router_id: Ipv4Addr,
    pub peers: Vec<PeerSnapshot>,
}

impl Snapshot {
    pub fn peer(&self, address: IpAddr) -> Option<&PeerSnapshot> {
        self.peers.iter().find(|p| p.address == address)
    }
}

pub(crate) enum Request {
    Refresh {
        selector: PeerSelector,
        direction: Direction,
        /// SPEC §6 "engine did not finish in time": past this instant the
        /// call answers `Timeout`.
        deadline: tokio::time::Instant,
        reply: oneshot::Sender<Result<RefreshOutcome, RefreshError>>,
    },
    Snapshot {
        reply: oneshot::Sender<Snapshot>,
    },
    Routes {
        peer: IpAddr,
        reply: oneshot::Sender<Option<PeerRoutes>>,
    },
    Reconfigure {
        config: Box<BgpConfig>,
        /// Past this instant the engine refuses the request unapplied.
        deadline: tokio::time::Instant,
        reply: oneshot::Sender<Result<ReconfigureReport, ReconfigureError>>,
    },
}

/// How long [`BgpHandle::refresh`] waits when the caller gives no bound
/// (the default of `limits.rpc_timeout_secs`).
pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// Grace beyond a refresh deadline for the engine's own answer to arrive.
const REPLY_SLACK: Duration = Duration::from_millis(200);

/// Handle to a running engine: `Send + Sync`, cheap to clone.
#[derive(Clone, Debug)]
pub struct BgpHandle {
    tx: mpsc::Sender<Request>,
    /// Follows the listener across reconfigurations.
    listen_addr: watch::Receiver<Option<SocketAddr>>,
    /// Peer state changes (Established / left Established).
    events: broadcast::Sender<PeerEvent>,
}

/// The embedded speaker.
pub struct Engine;

impl Engine {
    /// Validates the configuration, binds the listener (if configured),
    /// starts the sessions and returns at once. The task ends after
    /// `shutdown` is cancelled and every session was sent CEASE.
    pub async fn start(
        config: BgpConfig,
        shutdown: CancellationToken,
    ) -> Result<(BgpHandle, tokio::task::JoinHandle<()>), BgpError> {
        engine::start(config, shutdown).await
    }
}

impl BgpHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, RefreshError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| RefreshError::EngineStopped)?;
        rx.await.map_err(|_| RefreshError::EngineStopped)
    }

    /// Soft reset of the selected peers in the VPN-Target family. Returns
    /// once the work is written to each selected peer's socket, or
    /// `Timeout` after [`DEFAULT_REFRESH_TIMEOUT`].
    pub async fn refresh(
        &self,
        selector: PeerSelector,
        direction: Direction,
    ) -> Result<RefreshOutcome, RefreshError> {
        self.refresh_within(selector, direction, DEFAULT_REFRESH_TIMEOUT)
            .await
    }

    /// [`BgpHandle::refresh`] that answers `Timeout` once `limit` has
    /// passed (the caller's RPC timeout, SPEC §6).
    pub async fn refresh_within(
        &self,
        selector: PeerSelector,
        direction: Direction,
        limit: Duration,
    ) -> Result<RefreshOutcome, RefreshError> {
        let deadline = tokio::time::Instant::now() + limit;
        let asked = self.ask(|reply| Request::Refresh {
            selector,
            direction,
            deadline,
            reply,
        });
        // The engine answers by the deadline; the bound here also covers a
        // full request queue.
        match tokio::time::timeout_at(deadline + REPLY_SLACK, asked).await {
            Ok(r) => r?,
            Err(_) => Err(RefreshError::Timeout),
        }
    }

    /// The speaker's state, every peer with its counters and RIB sizes
    /// (not its routes): O(peers), whatever the RIBs hold.
    pub async fn snapshot(&self) -> Result<Snapshot, RefreshError> {
        self.ask(|reply| Request::Snapshot { reply }).await
    }

    /// One peer's RTC routes (`None`: no such peer). O(routes): for
    /// inspection and tests, not for the state the NETCONF side renders.
    pub async fn routes(&self, peer: IpAddr) -> Result<Option<PeerRoutes>, RefreshError> {
        self.ask(|reply| Request::Routes { peer, reply }).await
    }

    /// Applies a whole new configuration to the running engine, live
    /// (docs/bgp.md, "Live reconfiguration"): the engine compares it with
    /// the one it runs and changes only what differs. It is validated
    /// first; a refused configuration (`Err`) changed nothing. `Timeout`
    /// when the engine could not take the request by `deadline` (then it
    /// is not applied); once taken it is applied at once, and the report
    /// says what was done. Route changes are queued to the sessions when
    /// this returns, not necessarily written.
    pub async fn reconfigure(
        &self,
        new: BgpConfig,
        deadline: tokio::time::Instant,
    ) -> Result<ReconfigureReport, ReconfigureError> {
        let (tx, rx) = oneshot::channel();
        let req = Request::Reconfigure {
            config: Box::new(new),
            deadline,
            reply: tx,
        };
        match tokio::time::timeout_at(deadline, self.tx.send(req)).await {
            Err(_) => return Err(ReconfigureError::Timeout),
            Ok(Err(_)) => return Err(ReconfigureError::EngineStopped),
            Ok(Ok(())) => {}
        }
        // Not bounded here: the engine answers as soon as it takes the
        // request (refusing it if the deadline has passed), so a caller
        // never gives up on a change that was in fact applied.
        rx.await.map_err(|_| ReconfigureError::EngineStopped)?
    }

    /// Peer state changes from now on: a peer reaching Established and
    /// every session leaving it, with the cause. Bounded
    /// ([`PEER_EVENT_QUEUE`]): a receiver that falls behind gets `Lagged`.
    pub fn peer_events(&self) -> broadcast::Receiver<PeerEvent> {
        self.events.subscribe()
    }

    /// The address the listener is bound to (resolves a configured port 0);
    /// follows a listener moved by [`BgpHandle::reconfigure`].
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        *self.listen_addr.borrow()
    }
}

/// The seam for another BGP backend (SPEC §5): the RPC handler can code
/// against this trait instead of the embedded engine's handle.
pub trait BgpBackend: Send + Sync {
    /// A soft reset that answers `Timeout` once `limit` has passed.
    fn refresh(
        &self,
        selector: PeerSelector,
        direction: Direction,
        limit: Duration,
    ) -> impl Future<Output = Result<RefreshOutcome, RefreshError>> + Send;
    fn snapshot(&self) -> impl Future<Output = Result<Snapshot, RefreshError>> + Send;
    /// Applies a whole new configuration live; refused means unchanged
    /// (see [`BgpHandle::reconfigure`]).
    fn reconfigure(
        &self,
        new: BgpConfig,
        deadline: tokio::time::Instant,
    ) -> impl Future<Output = Result<ReconfigureReport, ReconfigureError>> + Send;
}

impl BgpBackend for BgpHandle {
    fn refresh(
        &self,
        selector: PeerSelector,
        direction: Direction,
        limit: Duration,
    ) -> impl Future<Output = Result<RefreshOutcome, RefreshError>> + Send {
        BgpHandle::refresh_within(self, selector, direction, limit)
    }
    fn snapshot(&self) -> impl Future<Output = Result<Snapshot, RefreshError>> + Send {
        BgpHandle::snapshot(self)
    }
    fn reconfigure(
        &self,
        new: BgpConfig,
        deadline: tokio::time::Instant,
    ) -> impl Future<Output = Result<ReconfigureReport, ReconfigureError>> + Send {
        BgpHandle::reconfigure(self, new, deadline)
    }
}
