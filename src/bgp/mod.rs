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
mod rib;
mod session;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::SystemTime;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use config::{BgpConfig, GroupConfig, MAX_GROUP_NAME_LEN, PeerConfig};
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
    pub rtc_routes_in: Vec<RtcRoute>,
    pub rtc_routes_out: Vec<RtcRoute>,
    pub established_since: Option<SystemTime>,
    pub last_soft_reset: Option<SoftResetRecord>,
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
        reply: oneshot::Sender<Result<RefreshOutcome, RefreshError>>,
    },
    Snapshot {
        reply: oneshot::Sender<Snapshot>,
    },
    ForgetRouteTarget {
        route_target: RouteTarget,
        reply: oneshot::Sender<bool>,
    },
}

/// Handle to a running engine: `Send + Sync`, cheap to clone.
#[derive(Clone, Debug)]
pub struct BgpHandle {
    tx: mpsc::Sender<Request>,
    listen_addr: Option<SocketAddr>,
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
    /// once the work is written to each selected peer's socket.
    pub async fn refresh(
        &self,
        selector: PeerSelector,
        direction: Direction,
    ) -> Result<RefreshOutcome, RefreshError> {
        self.ask(|reply| Request::Refresh {
            selector,
            direction,
            reply,
        })
        .await?
    }

    pub async fn snapshot(&self) -> Result<Snapshot, RefreshError> {
        self.ask(|reply| Request::Snapshot { reply }).await
    }

    /// The address the listener is bound to (resolves a configured port 0).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen_addr
    }

    /// Test hook: stop originating `route_target` WITHOUT sending a withdraw,
    /// so that a peer's enhanced route refresh has a stale route to remove.
    /// Returns whether the target was originated.
    #[doc(hidden)]
    pub async fn test_forget_route_target(&self, route_target: &str) -> Result<bool, RefreshError> {
        let Ok(route_target) = route_target.parse::<RouteTarget>() else {
            return Ok(false);
        };
        self.ask(|reply| Request::ForgetRouteTarget {
            route_target,
            reply,
        })
        .await
    }
}

/// The seam for another BGP backend (SPEC §5): the RPC handler can code
/// against this trait instead of the embedded engine's handle.
pub trait BgpBackend: Send + Sync {
    fn refresh(
        &self,
        selector: PeerSelector,
        direction: Direction,
    ) -> impl Future<Output = Result<RefreshOutcome, RefreshError>> + Send;
    fn snapshot(&self) -> impl Future<Output = Result<Snapshot, RefreshError>> + Send;
}

impl BgpBackend for BgpHandle {
    fn refresh(
        &self,
        selector: PeerSelector,
        direction: Direction,
    ) -> impl Future<Output = Result<RefreshOutcome, RefreshError>> + Send {
        BgpHandle::refresh(self, selector, direction)
    }
    fn snapshot(&self) -> impl Future<Output = Result<Snapshot, RefreshError>> + Send {
        BgpHandle::snapshot(self)
    }
}
