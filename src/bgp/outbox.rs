//! What the engine wants written to one connection, kept in a fixed set of
//! coalescing slots rather than a queue: a peer that stops reading can hold
//! at most one message batch being written plus one of each kind waiting,
//! whatever the number of requests (issue: a non-reading peer must cost
//! bounded memory).
//!
//! The engine fills the slots without ever waiting (the actor never blocks
//! on a peer); the connection's writer (`writer.rs`) takes the next job when
//! the previous one is on the wire. Requests that land on an occupied slot
//! are merged into it and all acknowledged when that one write completes.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::{Bytes, BytesMut};
use rustbgpd_wire::{RouteRefreshSubtype, RtcNlri};
use tokio::sync::{Notify as Wake, oneshot};

use super::codec::{self, Notify, UpdateContext};

/// Acknowledges that a job was written to the socket (or why not).
pub(crate) type Ack = oneshot::Sender<Result<(), String>>;

/// Session-level messages (OPEN, the KEEPALIVE answering OPEN) queued at
/// once. The FSM produces at most two before Established; more is a bug,
/// refused rather than buffered.
const CONTROL_MAX: usize = 4;

/// Cumulative per-peer counters, written by the connection's writer as
/// messages reach the socket, read by the snapshot.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub updates_sent: AtomicU64,
    pub route_refresh_sent: AtomicU64,
    /// Export/ROUTE-REFRESH requests merged into one already waiting.
    pub coalesced: AtomicU64,
    /// RFC 4724 §2 End-of-RIB for RT membership written on this session.
    pub end_of_rib_sent: AtomicBool,
}

impl Counters {
    pub(crate) fn get(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }
}

/// Everything needed to build the Adj-RIB-Out UPDATEs for one session.
///
/// The UPDATEs are encoded once, on first use, and kept with the plan:
/// every later export soft reset or ROUTE-REFRESH answer of the session
/// writes the same bytes again. The engine gives sessions whose encoding
/// parameters are all equal (the whole [`UpdateContext`]: local AS,
/// iBGP/eBGP, 4-octet AS, next hop; the route set; RFC 7313 brackets) one
/// shared plan (`Engine::plan_for`), so 100 such peers cost one encoding,
/// not 100. Peers that differ in any of them never share bytes.
#[derive(Debug)]
pub(crate) struct ExportPlan {
    pub ctx: UpdateContext,
    pub routes: Vec<RtcNlri>,
    /// RFC 7313 negotiated: bracket a re-advertisement with BoRR/EoRR.
    pub enhanced: bool,
    /// The UPDATEs of `routes` under `ctx`, concatenated; built once.
    encoded: OnceLock<Result<Encoded, codec::CodecError>>,
}

/// The Adj-RIB-Out as UPDATE messages, back to back.
#[derive(Debug)]
struct Encoded {
    bytes: Bytes,
    updates: u64,
}

/// The frames of one job and what they count for. A frame may hold several
/// whole BGP messages (the shared UPDATE block), never part of one.
pub(crate) struct Built {
    pub frames: Vec<Bytes>,
    pub updates: u64,
    pub route_refresh: u64,
    pub end_of_rib: bool,
}

impl ExportPlan {
    pub(crate) fn new(ctx: UpdateContext, routes: Vec<RtcNlri>, enhanced: bool) -> Self {
        Self {
            ctx,
            routes,
            enhanced,
            encoded: OnceLock::new(),
        }
    }

    /// Whether a session with these parameters may use this plan's bytes.
    /// The cheap comparisons go first: most sessions that differ do so in
    /// context or in the number of routes.
    fn fits(&self, ctx: &UpdateContext, routes: &[RtcNlri], enhanced: bool) -> bool {
        self.ctx == *ctx
            && self.enhanced == enhanced
            && self.routes.len() == routes.len()
            && self.routes == routes
    }

    /// One of `existing` that fits these parameters exactly, or a new plan.
    /// `existing` repeats a shared plan once per session using it: each
    /// distinct plan is compared once (a reconfiguration of 100 sessions
    /// compares each new route set with two plans, not 100).
    pub(crate) fn shared<'a>(
        existing: impl Iterator<Item = &'a Arc<ExportPlan>>,
        ctx: UpdateContext,
        routes: Vec<RtcNlri>,
        enhanced: bool,
    ) -> Arc<ExportPlan> {
        let mut seen: Vec<*const ExportPlan> = Vec::new();
        for p in existing {
            let ptr = Arc::as_ptr(p);
            if seen.contains(&ptr) {
                continue;
            }
            if p.fits(&ctx, &routes, enhanced) {
                return p.clone();
            }
            seen.push(ptr);
        }
        Arc::new(ExportPlan::new(ctx, routes, enhanced))
    }

    /// The UPDATE block (encoded on the first call; a concurrent first
    /// caller waits for that one encoding rather than repeating it).
    fn updates(&self) -> Result<(Bytes, u64), codec::CodecError> {
        let e = self.encoded.get_or_init(|| {
            let frames = codec::encode_rtc_updates(&self.ctx, &self.routes, &[])?;
            let mut all = BytesMut::with_capacity(frames.iter().map(Bytes::len).sum());
            for f in &frames {
                all.extend_from_slice(f);
            }
            Ok(Encoded {
                bytes: all.freeze(),
                updates: frames.len() as u64,
            })
        });
        match e {
            Ok(e) => Ok((e.bytes.clone(), e.updates)),
            Err(err) => Err(err.clone()),
        }
    }

    /// The initial advertisement: the Adj-RIB-Out then the End-of-RIB
    /// marker (RFC 4684 §6, RFC 4724 §2), sent whether or not graceful
    /// restart was negotiated.
    fn initial(&self) -> Result<Built, codec::CodecError> {
        let (block, n) = self.updates()?;
        let mut frames = Vec::with_capacity(2);
        if !block.is_empty() {
            frames.push(block);
        }
        frames.push(codec::encode_rtc_end_of_rib());
        Ok(Built {
            frames,
            updates: n + 1,
            route_refresh: 0,
            end_of_rib: true,
        })
    }

    /// A re-advertisement (export soft reset, or the answer to a received
    /// ROUTE-REFRESH): bracketed by BoRR/EoRR under RFC 7313 §4.
    fn again(&self) -> Result<Built, codec::CodecError> {
        let (block, n) = self.updates()?;
        let mut frames = Vec::with_capacity(3);
        if self.enhanced {
            frames.push(codec::encode_route_refresh(RouteRefreshSubtype::BoRR)?);
        }
        if !block.is_empty() {
            frames.push(block);
        }
        if self.enhanced {
            frames.push(codec::encode_route_refresh(RouteRefreshSubtype::EoRR)?);
        }
        Ok(Built {
            frames,
            updates: n,
            route_refresh: if self.enhanced { 2 } else { 0 },
            end_of_rib: false,
        })
    }
}

/// The writer's timers (RFC 4271 §10 KeepaliveTime, RFC 9687 SendHoldTime).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Timers {
    pub keepalive: Option<std::time::Duration>,
    pub send_hold: Option<std::time::Duration>,
}

/// One unit of writing, taken by the writer.
pub(crate) enum Job {
    Control(Bytes),
    Initial(Arc<ExportPlan>),
    RouteRefresh(Vec<Ack>),
    Export(Arc<ExportPlan>, Vec<Ack>),
    /// Adj-RIB-Out changes from a reconfiguration: MP_REACH for the
    /// routes added, MP_UNREACH for those removed (RFC 4760 §3, §4).
    Delta(Delta),
}

/// Pending Adj-RIB-Out changes of one session, merged: a route announced
/// then withdrawn before the write is only withdrawn (and the reverse), so
/// the slot holds at most one entry per configured route.
#[derive(Debug)]
pub(crate) struct Delta {
    pub ctx: UpdateContext,
    pub announce: BTreeSet<RtcNlri>,
    pub withdraw: BTreeSet<RtcNlri>,
}

impl Job {
    /// Builds the bytes. An export or initial advertisement takes the
    /// plan's shared UPDATE block (a reference, not a copy); the other
    /// frames exist only while this job is written.
    pub(crate) fn build(&self) -> Result<Built, codec::CodecError> {
        match self {
            Job::Control(b) => Ok(Built {
                frames: vec![b.clone()],
                updates: 0,
                route_refresh: 0,
                end_of_rib: false,
            }),
            Job::Initial(plan) => plan.initial(),
            // RFC 2918 §3: ROUTE-REFRESH for AFI 1 / SAFI 132.
            Job::RouteRefresh(_) => Ok(Built {
                frames: vec![codec::encode_route_refresh(RouteRefreshSubtype::Normal)?],
                updates: 0,
                route_refresh: 1,
                end_of_rib: false,
            }),
            Job::Export(plan, _) => plan.again(),
            Job::Delta(d) => {
                let announce: Vec<RtcNlri> = d.announce.iter().copied().collect();
                let withdraw: Vec<RtcNlri> = d.withdraw.iter().copied().collect();
                let frames = codec::encode_rtc_updates(&d.ctx, &announce, &withdraw)?;
                Ok(Built {
                    updates: frames.len() as u64,
                    frames,
                    route_refresh: 0,
                    end_of_rib: false,
                })
            }
        }
    }

    pub(crate) fn into_acks(self) -> Vec<Ack> {
        match self {
            Job::RouteRefresh(acks) | Job::Export(_, acks) => acks,
            Job::Control(_) | Job::Initial(_) | Job::Delta(_) => Vec::new(),
        }
    }
}

#[derive(Default)]
struct Slots {
    /// Keepalive interval and SendHoldTime, set once the OPENs are exchanged.
    timers: Timers,
    control: VecDeque<Bytes>,
    initial: Option<Arc<ExportPlan>>,
    route_refresh: Option<Vec<Ack>>,
    export: Option<(Arc<ExportPlan>, Vec<Ack>)>,
    delta: Option<Delta>,
    stop: Option<Notify>,
    closed: bool,
}

/// The slots of one connection, shared by the engine (producer) and the
/// connection's writer (consumer). The lock is never held across an await.
pub(crate) struct Outbox {
    slots: Mutex<Slots>,
    wake: Wake,
    pub counters: Arc<Counters>,
}

/// Whether a request started a new job or joined one already waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    New,
    Coalesced,
    /// The connection is closing: the request was not taken.
    Closed,
}

fn push_ack(acks: &mut Vec<Ack>, ack: Option<Ack>) {
    // Callers that gave up (deadline passed) no longer need an answer.
    acks.retain(|a| !a.is_closed());
    if let Some(a) = ack {
        acks.push(a);
    }
}

impl Outbox {
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        Self {
            slots: Mutex::new(Slots::default()),
            wake: Wake::new(),
            counters,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding the lock cannot leave the slots inconsistent
        // (each update is one assignment): keep going with the data.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Session-level message (OPEN, KEEPALIVE answering OPEN).
    pub(crate) fn control(&self, frame: Bytes) -> Result<(), String> {
        let mut s = self.lock();
        if s.control.len() >= CONTROL_MAX {
            return Err("control queue full".into());
        }
        s.control.push_back(frame);
        drop(s);
        self.wake.notify_one();
        Ok(())
    }

    /// The initial Adj-RIB-Out and End-of-RIB (once per session).
    pub(crate) fn initial(&self, plan: Arc<ExportPlan>) {
        self.lock().initial = Some(plan);
        self.wake.notify_one();
    }

    /// A ROUTE-REFRESH (import soft reset): coalesces with one not yet
    /// written, since the peer answers either with its whole Adj-RIB-Out.
    pub(crate) fn route_refresh(&self, ack: Option<Ack>) -> Queued {
        let mut s = self.lock();
        if s.closed {
            return Queued::Closed;
        }
        let q = match &mut s.route_refresh {
            Some(acks) => {
                push_ack(acks, ack);
                Queued::Coalesced
            }
            slot @ None => {
                *slot = Some(ack.into_iter().collect());
                Queued::New
            }
        };
        drop(s);
        self.note(q);
        q
    }

    /// A re-advertisement of the Adj-RIB-Out: one waiting at most; a new
    /// request joins it (with the newest plan) instead of queueing a copy.
    pub(crate) fn export(&self, plan: Arc<ExportPlan>, ack: Option<Ack>) -> Queued {
        let mut s = self.lock();
        if s.closed {
            return Queued::Closed;
        }
        let q = match &mut s.export {
            Some((p, acks)) => {
                *p = plan;
                push_ack(acks, ack);
                Queued::Coalesced
            }
            slot @ None => {
                *slot = Some((plan, ack.into_iter().collect()));
                Queued::New
            }
        };
        drop(s);
        self.note(q);
        q
    }

    /// Adj-RIB-Out changes (reconfiguration), merged into those waiting.
    /// Written after any waiting re-advertisement, so that an export
    /// queued with the former Adj-RIB-Out cannot undo a withdrawal.
    pub(crate) fn delta(
        &self,
        ctx: UpdateContext,
        announce: &[RtcNlri],
        withdraw: &[RtcNlri],
    ) -> Queued {
        let mut s = self.lock();
        if s.closed {
            return Queued::Closed;
        }
        let q = if s.delta.is_some() {
            Queued::Coalesced
        } else {
            Queued::New
        };
        let d = s.delta.get_or_insert_with(|| Delta {
            ctx,
            announce: BTreeSet::new(),
            withdraw: BTreeSet::new(),
        });
        for n in announce {
            d.withdraw.remove(n);
            d.announce.insert(*n);
        }
        for n in withdraw {
            d.announce.remove(n);
            d.withdraw.insert(*n);
        }
        drop(s);
        if q == Queued::New {
            self.wake.notify_one();
        }
        q
    }

    fn note(&self, q: Queued) {
        match q {
            Queued::New => self.wake.notify_one(),
            Queued::Coalesced => {
                self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
            }
            Queued::Closed => {}
        }
    }

    /// Asks the connection to send this NOTIFICATION and close.
    pub(crate) fn stop(&self, n: Notify) {
        let mut s = self.lock();
        if s.stop.is_none() {
            s.stop = Some(n);
        }
        drop(s);
        self.wake.notify_one();
    }

    pub(crate) fn set_timers(&self, t: Timers) {
        self.lock().timers = t;
        self.wake.notify_one();
    }

    pub(crate) fn timers(&self) -> Timers {
        self.lock().timers
    }

    pub(crate) fn take_stop(&self) -> Option<Notify> {
        self.lock().stop.take()
    }

    /// Whether a re-advertisement is waiting behind the one being written.
    pub(crate) fn export_waiting(&self) -> bool {
        self.lock().export.is_some()
    }

    /// The next job in priority order: session messages, the initial
    /// advertisement, ROUTE-REFRESH, re-advertisement, Adj-RIB-Out changes.
    pub(crate) fn next_job(&self) -> Option<Job> {
        let mut s = self.lock();
        if let Some(b) = s.control.pop_front() {
            return Some(Job::Control(b));
        }
        if let Some(p) = s.initial.take() {
            return Some(Job::Initial(p));
        }
        if let Some(acks) = s.route_refresh.take() {
            return Some(Job::RouteRefresh(acks));
        }
        if let Some((p, acks)) = s.export.take() {
            return Some(Job::Export(p, acks));
        }
        s.delta.take().map(Job::Delta)
    }

    /// Wakes when a slot was filled or a stop requested (a wake-up given
    /// while nobody waits is kept for the next wait).
    pub(crate) async fn changed(&self) {
        self.wake.notified().await;
    }

    /// The connection is ending: refuse new work and fail what waits.
    pub(crate) fn close(&self, why: &str) {
        let mut s = self.lock();
        s.closed = true;
        let mut acks = s.route_refresh.take().unwrap_or_default();
        if let Some((_, a)) = s.export.take() {
            acks.extend(a);
        }
        s.initial = None;
        s.delta = None;
        s.control.clear();
        drop(s);
        for a in acks {
            let _ = a.send(Err(why.to_string()));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plan() -> Arc<ExportPlan> {
        Arc::new(ExportPlan::new(
            UpdateContext {
                local_as: 65000,
                internal: false,
                four_octet_as: true,
                next_hop: "127.0.0.1".parse().unwrap(),
            },
            vec![RtcNlri::new(65000, 0x0002_fde8_0000_0064, 96).unwrap()],
            true,
        ))
    }

    fn ctx(next_hop: &str, four_octet_as: bool, internal: bool) -> UpdateContext {
        UpdateContext {
            local_as: 4_200_000_000,
            internal,
            four_octet_as,
            next_hop: next_hop.parse().unwrap(),
        }
    }

    fn routes(n: u32) -> Vec<RtcNlri> {
        (1..=n)
            .map(|i| RtcNlri::new(65000, 0x0002_fde8_0000_0000 | u64::from(i), 96).unwrap())
            .collect()
    }

    fn concat(frames: &[Bytes]) -> Vec<u8> {
        frames.iter().flat_map(|f| f.iter().copied()).collect()
    }

    #[test]
    fn shared_bytes_equal_the_per_session_encoding() {
        // 600 routes: three UPDATEs (250 a message), one shared block.
        let c = ctx("127.0.0.1", true, false);
        let plan = ExportPlan::new(c, routes(600), true);
        let mut golden = codec::encode_route_refresh(RouteRefreshSubtype::BoRR)
            .unwrap()
            .to_vec();
        let updates = codec::encode_rtc_updates(&c, &routes(600), &[]).unwrap();
        assert_eq!(updates.len(), 3);
        golden.extend(concat(&updates));
        golden.extend_from_slice(&codec::encode_route_refresh(RouteRefreshSubtype::EoRR).unwrap());
        let again = plan.again().unwrap();
        assert_eq!(concat(&again.frames), golden);
        assert_eq!(again.updates, 3);
        // A second export writes the very same buffer (no re-encoding).
        let twice = plan.again().unwrap();
        assert_eq!(twice.frames[1].as_ptr(), again.frames[1].as_ptr());
        // The initial advertisement reuses it, then End-of-RIB.
        let initial = plan.initial().unwrap();
        assert_eq!(initial.frames[0].as_ptr(), again.frames[1].as_ptr());
        let mut golden = concat(&updates);
        golden.extend_from_slice(&codec::encode_rtc_end_of_rib());
        assert_eq!(concat(&initial.frames), golden);
        assert_eq!(initial.updates, 4);
    }

    #[test]
    fn sessions_share_a_plan_only_when_every_parameter_is_equal() {
        let base = Arc::new(ExportPlan::new(
            ctx("127.0.0.1", true, false),
            routes(3),
            true,
        ));
        let existing = [base.clone()];
        let same = ExportPlan::shared(existing.iter(), base.ctx, routes(3), true);
        assert!(Arc::ptr_eq(&same, &base));
        for (c, r, enhanced, why) in [
            (ctx("127.0.0.9", true, false), routes(3), true, "next hop"),
            (ctx("::1", true, false), routes(3), true, "IPv6 next hop"),
            (
                ctx("127.0.0.1", false, false),
                routes(3),
                true,
                "2-octet peer",
            ),
            (ctx("127.0.0.1", true, true), routes(3), true, "iBGP"),
            (ctx("127.0.0.1", true, false), routes(4), true, "routes"),
            (ctx("127.0.0.1", true, false), routes(3), false, "RFC 7313"),
        ] {
            let other = ExportPlan::shared(existing.iter(), c, r, enhanced);
            assert!(!Arc::ptr_eq(&other, &base), "{why}");
            // And its bytes are its own encoding, not the base's.
            let own = concat(&other.again().unwrap().frames);
            assert_ne!(own, concat(&base.again().unwrap().frames), "{why}");
        }
        // A 2-octet peer gets AS_TRANS (RFC 6793 §4.2.2), never the
        // 4-octet peer's AS_PATH bytes.
        let two = ExportPlan::shared(
            existing.iter(),
            ctx("127.0.0.1", false, false),
            routes(3),
            true,
        );
        let bytes = concat(&two.again().unwrap().frames);
        assert!(bytes.windows(2).any(|w| w == 23456u16.to_be_bytes()));
    }

    #[test]
    fn exports_coalesce_into_one_waiting_job_acknowledged_together() {
        let o = Outbox::new(Arc::default());
        let mut rxs = Vec::new();
        for i in 0..1000 {
            let (tx, rx) = oneshot::channel();
            rxs.push(rx);
            let q = o.export(plan(), Some(tx));
            assert_eq!(
                q,
                if i == 0 {
                    Queued::New
                } else {
                    Queued::Coalesced
                }
            );
        }
        assert_eq!(Counters::get(&o.counters.coalesced), 999);
        let job = o.next_job().unwrap();
        assert!(o.next_job().is_none(), "one job for 1000 requests");
        let built = job.build().unwrap();
        // BoRR, one UPDATE, EoRR (RFC 7313 §4).
        assert_eq!(built.frames.len(), 3);
        for a in job.into_acks() {
            a.send(Ok(())).unwrap();
        }
        for mut rx in rxs {
            assert_eq!(rx.try_recv().unwrap(), Ok(()));
        }
    }

    #[test]
    fn callers_that_gave_up_are_pruned() {
        let o = Outbox::new(Arc::default());
        for _ in 0..100 {
            let (tx, rx) = oneshot::channel();
            drop(rx);
            o.export(plan(), Some(tx));
        }
        assert!(o.next_job().unwrap().into_acks().len() <= 1);
    }

    #[test]
    fn initial_advertisement_ends_with_end_of_rib() {
        let o = Outbox::new(Arc::default());
        o.initial(plan());
        let b = o.next_job().unwrap().build().unwrap();
        assert!(b.end_of_rib);
        assert_eq!(
            b.frames.last().unwrap().as_ref(),
            codec::encode_rtc_end_of_rib().as_ref()
        );
    }

    #[test]
    fn control_frames_are_bounded() {
        let o = Outbox::new(Arc::default());
        for _ in 0..CONTROL_MAX {
            o.control(codec::encode_keepalive()).unwrap();
        }
        assert!(o.control(codec::encode_keepalive()).is_err());
    }

    #[test]
    fn route_refreshes_coalesce_and_jobs_come_in_priority_order() {
        let o = Outbox::new(Arc::default());
        o.export(plan(), None);
        assert_eq!(o.route_refresh(None), Queued::New);
        assert_eq!(o.route_refresh(None), Queued::Coalesced);
        o.initial(plan());
        o.control(codec::encode_keepalive()).unwrap();
        assert!(matches!(o.next_job(), Some(Job::Control(_))));
        assert!(matches!(o.next_job(), Some(Job::Initial(_))));
        assert!(matches!(o.next_job(), Some(Job::RouteRefresh(_))));
        assert!(matches!(o.next_job(), Some(Job::Export(..))));
        assert!(o.next_job().is_none());
    }

    #[test]
    fn deltas_merge_and_come_after_a_waiting_export() {
        let o = Outbox::new(Arc::default());
        let a = RtcNlri::new(65000, 0x0002_fde8_0000_0001, 96).unwrap();
        let b = RtcNlri::new(65000, 0x0002_fde8_0000_0002, 96).unwrap();
        let ctx = plan().ctx;
        assert_eq!(o.delta(ctx, &[a, b], &[]), Queued::New);
        assert_eq!(o.delta(ctx, &[], &[b]), Queued::Coalesced);
        o.export(plan(), None);
        assert!(matches!(o.next_job(), Some(Job::Export(..))));
        let Some(Job::Delta(d)) = o.next_job() else {
            panic!("delta expected")
        };
        assert_eq!(d.announce.iter().copied().collect::<Vec<_>>(), vec![a]);
        assert_eq!(d.withdraw.iter().copied().collect::<Vec<_>>(), vec![b]);
        // One MP_UNREACH UPDATE, then one MP_REACH UPDATE.
        assert_eq!(Job::Delta(d).build().unwrap().frames.len(), 2);
        assert!(o.next_job().is_none());
    }

    #[test]
    fn close_fails_waiting_requests_and_refuses_new_ones() {
        let o = Outbox::new(Arc::default());
        let (tx, mut rx) = oneshot::channel();
        o.route_refresh(Some(tx));
        o.close("session down");
        assert!(rx.try_recv().unwrap().is_err());
        assert_eq!(o.export(plan(), None), Queued::Closed);
    }
}
