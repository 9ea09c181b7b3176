//! Soft reset: selectors (SPEC §5), handing the work to each selected
//! peer's outbox, and collecting the write acknowledgements until the
//! request's deadline.

use std::net::IpAddr;
use std::time::SystemTime;

use tokio::sync::oneshot;
use tokio::time::{Instant, timeout_at};
use tracing::{info, warn};

use super::{Engine, Internal, Peer, PeerKey};
use crate::bgp::outbox::{Outbox, Queued};
use crate::bgp::{
    Direction, PeerSelector, RefreshError, RefreshOutcome, SkipReason, SoftResetRecord,
    SoftResetResult,
};

type Reply = oneshot::Sender<Result<RefreshOutcome, RefreshError>>;
type Written = oneshot::Receiver<Result<(), String>>;

impl Engine {
    fn record(&mut self, idx: usize, direction: Direction, result: SoftResetResult) {
        self.peers[idx].last_soft_reset = Some(SoftResetRecord {
            time: SystemTime::now(),
            direction,
            result,
        });
    }

    /// Resolves the selector (SPEC §5) into the peers to refresh. Addresses
    /// are compared as given: an IPv4-mapped IPv6 selector names an IPv6
    /// peer, never the IPv4 peer it maps.
    pub(super) fn select(&self, selector: &PeerSelector) -> Result<Vec<usize>, RefreshError> {
        let by_addr = |a: IpAddr| -> Result<Vec<usize>, RefreshError> {
            let idx = self
                .peers
                .iter()
                .position(|p| p.addr() == a)
                .ok_or(RefreshError::PeerNotFound(a))?;
            if !self.peers[idx].cfg.vpn_target {
                return Err(RefreshError::FamilyNotEnabled(a));
            }
            Ok(vec![idx])
        };
        let enabled = |f: &dyn Fn(&Peer) -> bool| -> Vec<usize> {
            (0..self.peers.len())
                .filter(|i| self.peers[*i].cfg.vpn_target && f(&self.peers[*i]))
                .collect()
        };
        match selector {
            PeerSelector::Ipv4(a) => by_addr(IpAddr::V4(*a)),
            PeerSelector::Ipv6(a) => by_addr(IpAddr::V6(*a)),
            PeerSelector::Group(g) => {
                if !self.group_names.iter().any(|n| n == g) {
                    return Err(RefreshError::GroupNotFound(g.clone()));
                }
                Ok(enabled(&|p| p.cfg.group.as_deref() == Some(g.as_str())))
            }
            PeerSelector::All => Ok(enabled(&|_| true)),
            PeerSelector::External => Ok(enabled(&|p| !p.internal)),
            PeerSelector::Internal => Ok(enabled(&|p| p.internal)),
        }
    }

    /// Why a selected peer cannot be refreshed now, if it cannot.
    fn skip_reason(&self, idx: usize, direction: Direction) -> Option<(SkipReason, RefreshError)> {
        let p = &self.peers[idx];
        let addr = p.addr();
        match &p.est {
            None => Some((
                SkipReason::NotEstablished,
                RefreshError::PeerNotEstablished(addr),
            )),
            Some(e) if !e.accepted.negotiated.rtc => Some((
                SkipReason::FamilyNotNegotiated,
                RefreshError::FamilyNotEnabled(addr),
            )),
            Some(e) if direction == Direction::Import && !e.accepted.negotiated.route_refresh => {
                Some((
                    SkipReason::RouteRefreshNotNegotiated,
                    RefreshError::RouteRefreshNotNegotiated(addr),
                ))
            }
            Some(_) => None,
        }
    }

    pub(super) fn refresh(
        &mut self,
        selector: PeerSelector,
        direction: Direction,
        deadline: Instant,
        reply: Reply,
    ) {
        let strict = selector.is_single_peer();
        let selected = match self.select(&selector) {
            Ok(s) => s,
            Err(e) => {
                warn!(?selector, reason = %e, direction = direction.as_str(), "soft reset failed");
                if let RefreshError::FamilyNotEnabled(a) = &e
                    && let Some(idx) = self.peers.iter().position(|p| p.addr() == *a)
                {
                    self.record(idx, direction, SoftResetResult::Failed(e.to_string()));
                }
                let _ = reply.send(Err(e));
                return;
            }
        };
        let mut outcome = RefreshOutcome::default();
        let mut pending: Vec<(PeerKey, IpAddr, Written)> = Vec::new();
        for idx in selected {
            let addr = self.peers[idx].addr();
            if let Some((reason, err)) = self.skip_reason(idx, direction) {
                if strict {
                    warn!(peer = %addr, reason = %err, direction = direction.as_str(), "soft reset failed");
                    self.record(idx, direction, SoftResetResult::Failed(err.to_string()));
                    let _ = reply.send(Err(err));
                    return;
                }
                warn!(peer = %addr, reason = %reason, direction = direction.as_str(), "soft reset skipped");
                self.record(idx, direction, SoftResetResult::Skipped(reason));
                outcome.skipped.push((addr, reason));
                continue;
            }
            let p = &self.peers[idx];
            let (Some(est), Some(c)) = (&p.est, p.est_conn()) else {
                continue;
            };
            let (tx, rx) = oneshot::channel();
            let queued = hand_over(&c.outbox, direction, est.plan.clone(), tx);
            info!(peer = %addr, direction = direction.as_str(), coalesced = queued == Queued::Coalesced, "soft reset started");
            pending.push((p.key, addr, rx));
        }
        if pending.is_empty() {
            // Nothing to wait for (no peer selected, or all skipped, their
            // records already kept above): answer now, without a task.
            let _ = reply.send(Ok(outcome));
            return;
        }
        // The actor does not wait: a helper task collects the socket-write
        // acknowledgements and answers the caller.
        tokio::spawn(collect(
            pending,
            strict,
            direction,
            deadline,
            outcome,
            reply,
            self.int_tx.clone(),
        ));
    }
}

/// Puts the work into the connection's outbox. A request that finds the
/// same work already waiting joins it (one write, every caller answered).
fn hand_over(
    outbox: &Outbox,
    direction: Direction,
    plan: std::sync::Arc<crate::bgp::outbox::ExportPlan>,
    ack: oneshot::Sender<Result<(), String>>,
) -> Queued {
    match direction {
        Direction::Import => outbox.route_refresh(Some(ack)),
        Direction::Export => outbox.export(plan, Some(ack)),
    }
}

/// Waits for each peer's write acknowledgement (or the deadline) and
/// answers the caller; the per-peer records go back to the engine.
#[allow(clippy::too_many_arguments)]
async fn collect(
    pending: Vec<(PeerKey, IpAddr, Written)>,
    strict: bool,
    direction: Direction,
    deadline: Instant,
    mut outcome: RefreshOutcome,
    reply: Reply,
    int_tx: tokio::sync::mpsc::Sender<Internal>,
) {
    let mut records = Vec::new();
    let mut failure = None;
    for (key, addr, rx) in pending {
        let result = match timeout_at(deadline, rx).await {
            Ok(Ok(Ok(()))) => {
                outcome.refreshed.push(addr);
                SoftResetResult::Done
            }
            Ok(Ok(Err(_)) | Err(_)) => {
                // The session went down before the work was written.
                if strict {
                    failure.get_or_insert(RefreshError::PeerNotEstablished(addr));
                    SoftResetResult::Failed(RefreshError::PeerNotEstablished(addr).to_string())
                } else {
                    outcome.skipped.push((addr, SkipReason::NotEstablished));
                    SoftResetResult::Skipped(SkipReason::NotEstablished)
                }
            }
            Err(_) => {
                failure = Some(RefreshError::Timeout);
                SoftResetResult::Failed(RefreshError::Timeout.to_string())
            }
        };
        records.push((
            key,
            SoftResetRecord {
                time: SystemTime::now(),
                direction,
                result,
            },
        ));
    }
    // Records first, so that a snapshot taken after the reply shows them.
    let _ = int_tx.send(Internal::RefreshFinished { records }).await;
    let _ = reply.send(match failure {
        Some(e) => Err(e),
        None => Ok(outcome),
    });
}
