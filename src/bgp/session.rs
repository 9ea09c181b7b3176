//! One task per TCP connection: runs the RFC 4271 FSM from OpenSent to
//! Established over the socket, keeps the hold and keepalive timers, and
//! reports to the engine, which owns every piece of routing state.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rustbgpd_wire::{Message, RouteRefreshSubtype};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, info, warn};

use super::codec::{self, Notify, RtcUpdate, UpdateContext, code};
use super::fsm::{self, Accepted, Expect, SessionState};
use super::outbox::{Outbox, Timers};
use super::writer::{Ending, Writer, send_hold_time};
use super::{DownCause, Negotiated};

pub(crate) type ConnId = u64;

/// Bound on how long we wait for the peer to close after our NOTIFICATION.
const CLOSE_LINGER: Duration = Duration::from_millis(500);
/// Bound on finishing the message in progress and writing the NOTIFICATION
/// (a peer that does not read never gets it; the engine has already
/// dropped the session by then).
const NOTIFY_GRACE: Duration = Duration::from_secs(2);
/// Why a session ends when the engine no longer takes its events.
const ENGINE_STOPPED: &str = "engine stopped";
/// Bound on what we read (and discard) while lingering.
const CLOSE_DRAIN_MAX: usize = 64 * 1024;

/// Events a session reports to the engine.
#[derive(Debug)]
pub(crate) enum SessionEvent {
    State {
        conn: ConnId,
        state: SessionState,
    },
    /// The peer's OPEN passed the checks; the engine resolves collisions
    /// (RFC 4271 §6.8) and answers whether this connection may go on.
    OpenReceived {
        conn: ConnId,
        accepted: Accepted,
        reply: oneshot::Sender<bool>,
    },
    Established {
        conn: ConnId,
        accepted: Accepted,
        local_addr: IpAddr,
    },
    Update {
        conn: ConnId,
        update: RtcUpdate,
    },
    RouteRefresh {
        conn: ConnId,
        subtype: RouteRefreshSubtype,
    },
    /// RFC 4724 §2 End-of-RIB for AFI 1 / SAFI 132 (RFC 4684 §6).
    EndOfRib {
        conn: ConnId,
    },
    Down {
        conn: ConnId,
        reason: String,
        /// A NOTIFICATION was sent or received. Without one, the session
        /// ended by TCP termination: RFC 4724 §4.2 may keep the peer's
        /// routes (RFC 8538 is not negotiated, so a NOTIFICATION never does).
        notification: bool,
        /// The NOTIFICATION (sent or received) or the reason, for the
        /// peer-state events.
        cause: DownCause,
    },
}

pub(crate) struct Session {
    pub conn: ConnId,
    pub peer: IpAddr,
    pub expect: Expect,
    pub events: mpsc::Sender<SessionEvent>,
    pub outbox: Arc<Outbox>,
    /// Configured SendHoldTime (RFC 9687); `None`: the RFC's suggestion.
    pub send_hold: Option<Duration>,
}

enum ReadError {
    Closed,
    Io(std::io::Error),
    Bad(Notify),
}

struct FrameReader {
    rd: OwnedReadHalf,
    buf: BytesMut,
    /// What the decoder must know once OPENs are exchanged (RFC 7313 §5).
    negotiated: Negotiated,
}

impl FrameReader {
    /// Cancel-safe: bytes read so far stay in `buf` (`read_buf` is cancel-safe).
    async fn next(&mut self) -> Result<Message, ReadError> {
        loop {
            if let Some(len) = codec::frame_length(&self.buf).map_err(ReadError::Bad)?
                && self.buf.len() >= len
            {
                let frame = self.buf.split_to(len).freeze();
                return codec::decode_with(frame, &self.negotiated).map_err(ReadError::Bad);
            }
            let n = self
                .rd
                .read_buf(&mut self.buf)
                .await
                .map_err(ReadError::Io)?;
            if n == 0 {
                return Err(ReadError::Closed);
            }
        }
    }
}

/// What a failed step of the reader turns into.
type Step<T> = Result<T, Ending>;

impl Session {
    /// Runs the connection to its end: the reader and the writer run side by
    /// side, so neither a slow peer nor a full socket blocks the other. The
    /// engine hears `Down` as soon as the session is over; a NOTIFICATION
    /// then gets a bounded grace to reach the peer.
    pub(crate) async fn run(self, stream: TcpStream) {
        let local_addr = stream.local_addr().map(|a| a.ip());
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let mut reader = FrameReader {
            rd,
            buf: BytesMut::with_capacity(4096),
            negotiated: Negotiated::default(),
        };
        let mut writer = Writer::new(wr);
        let ending = match (local_addr, codec::encode_open(&self.expect.offered)) {
            (Err(e), _) => Ending::Closed(e.to_string()),
            (_, Err(e)) => Ending::Closed(e.to_string()),
            (Ok(local_addr), Ok(open)) => {
                // A fresh outbox has room: this cannot fail.
                let _ = self.outbox.control(open);
                self.outbox.set_timers(Timers {
                    keepalive: None,
                    send_hold: Some(send_hold_time(self.send_hold, fsm::OPEN_HOLD_TIME)),
                });
                tokio::select! {
                    e = self.read_loop(&mut reader, local_addr) => e,
                    e = writer.run(&self.outbox) => e,
                }
            }
        };
        let ending = match ending {
            // The engine is gone (shutting down): RFC 4486 §4 Cease,
            // Administrative Shutdown, as if it had asked.
            Ending::Closed(r) if r == ENGINE_STOPPED => Ending::Notify(
                self.outbox
                    .take_stop()
                    .unwrap_or(Notify::new(code::CEASE, 2)),
            ),
            e => e,
        };
        let received = matches!(ending, Ending::Received(_));
        let cause = match &ending {
            Ending::Closed(r) => DownCause::Closed(r.clone()),
            Ending::Received(n) => DownCause::NotificationReceived {
                code: n.code,
                subcode: n.subcode,
            },
            Ending::Notify(n) => DownCause::NotificationSent {
                code: n.code,
                subcode: n.subcode,
            },
        };
        let (reason, notify) = match ending {
            Ending::Closed(r) => (r, None),
            Ending::Received(n) => (format!("received NOTIFICATION {n}"), None),
            Ending::Notify(n) => {
                if n.code == code::CEASE {
                    info!(peer = %self.peer, conn = self.conn, notification = %n, "sending NOTIFICATION");
                } else {
                    warn!(peer = %self.peer, conn = self.conn, notification = %n, "sending NOTIFICATION");
                }
                (format!("sent NOTIFICATION {n}"), Some(n))
            }
        };
        let notification = notify.is_some() || received;
        info!(peer = %self.peer, conn = self.conn, %reason, "BGP session down");
        self.outbox.close(&reason);
        let _ = self
            .events
            .send(SessionEvent::Down {
                conn: self.conn,
                reason: reason.clone(),
                notification,
                cause,
            })
            .await;
        match notify {
            None => writer.abandon(&reason),
            Some(n) => {
                writer.close(Some(&n), Instant::now() + NOTIFY_GRACE).await;
                // Read (and discard) what the peer still sends until it
                // closes too, so that our close is a FIN, not an RST.
                let drain = async {
                    let mut total = 0usize;
                    let mut scratch = [0u8; 4096];
                    while total < CLOSE_DRAIN_MAX {
                        match reader.rd.read(&mut scratch).await {
                            Ok(0) | Err(_) => break,
                            Ok(k) => total += k,
                        }
                    }
                };
                let _ = timeout(CLOSE_LINGER, drain).await;
            }
        }
    }

    async fn report(&self, ev: SessionEvent) -> Step<()> {
        // Bounded channel: when the engine is behind, we stop reading and
        // TCP pushes back on the peer.
        self.events
            .send(ev)
            .await
            .map_err(|_| Ending::Closed(ENGINE_STOPPED.into()))
    }

    async fn read_loop(&self, reader: &mut FrameReader, local_addr: IpAddr) -> Ending {
        match self.read_steps(reader, local_addr).await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    async fn read_steps(
        &self,
        reader: &mut FrameReader,
        local_addr: IpAddr,
    ) -> Step<std::convert::Infallible> {
        let mut state = SessionState::OpenSent;
        self.report(SessionEvent::State {
            conn: self.conn,
            state,
        })
        .await?;
        let mut hold = Some(fsm::OPEN_HOLD_TIME);
        let mut hold_deadline = Instant::now() + fsm::OPEN_HOLD_TIME;
        let mut accepted: Option<Accepted> = None;
        let mut ctx = UpdateContext {
            local_as: self.expect.offered.local_as,
            internal: self.expect.internal,
            four_octet_as: false,
            next_hop: local_addr,
        };

        loop {
            let msg = tokio::select! {
                msg = reader.next() => msg,
                () = sleep_until(hold_deadline), if hold.is_some() => {
                    // RFC 4271 §6.5: Hold Timer Expired. It runs in the reader,
                    // so a peer that stops reading cannot stop it.
                    return Err(Ending::Notify(Notify::new(code::HOLD_TIMER_EXPIRED, 0)));
                }
            };
            let msg = match msg {
                Ok(m) => m,
                Err(ReadError::Closed) => {
                    return Err(Ending::Closed("connection closed by peer".into()));
                }
                Err(ReadError::Io(e)) => return Err(Ending::Closed(format!("read error: {e}"))),
                Err(ReadError::Bad(n)) => return Err(Ending::Notify(n)),
            };
            if let Some(n) = fsm::unexpected(state, msg.message_type()) {
                return Err(Ending::Notify(n));
            }
            // RFC 4271 §8.2.2: KEEPALIVE and UPDATE restart the hold timer.
            if matches!(msg, Message::Keepalive | Message::Update(_))
                && let Some(h) = hold
            {
                hold_deadline = Instant::now() + h;
            }
            match msg {
                Message::Notification(n) => {
                    return Err(Ending::Received(Notify::with_data(
                        n.code.as_u8(),
                        n.subcode,
                        n.data,
                    )));
                }
                Message::Open(open) => {
                    let acc = fsm::check_open(&open, &self.expect).map_err(Ending::Notify)?;
                    let (tx, rx) = oneshot::channel();
                    self.report(SessionEvent::OpenReceived {
                        conn: self.conn,
                        accepted: acc,
                        reply: tx,
                    })
                    .await?;
                    if !rx.await.unwrap_or(false) {
                        // RFC 4271 §6.8 / RFC 4486: Cease, Connection Collision Resolution.
                        return Err(Ending::Notify(Notify::new(code::CEASE, 7)));
                    }
                    self.outbox
                        .control(codec::encode_keepalive())
                        .map_err(Ending::Closed)?;
                    ctx.four_octet_as = acc.negotiated.four_octet_as;
                    reader.negotiated = acc.negotiated;
                    hold = (!acc.hold_time.is_zero()).then_some(acc.hold_time);
                    hold_deadline = Instant::now() + acc.hold_time;
                    self.outbox.set_timers(Timers {
                        keepalive: acc.keepalive(),
                        send_hold: Some(send_hold_time(self.send_hold, acc.hold_time)),
                    });
                    accepted = Some(acc);
                    state = SessionState::OpenConfirm;
                    self.report(SessionEvent::State {
                        conn: self.conn,
                        state,
                    })
                    .await?;
                }
                Message::Keepalive if state == SessionState::OpenConfirm => {
                    let acc = accepted
                        .ok_or_else(|| Ending::Closed("OpenConfirm without OPEN".into()))?;
                    state = SessionState::Established;
                    self.report(SessionEvent::Established {
                        conn: self.conn,
                        accepted: acc,
                        local_addr,
                    })
                    .await?;
                }
                Message::Update(u) => {
                    let rtc = accepted.is_some_and(|a| a.negotiated.rtc);
                    // RFC 4724 §2 / RFC 4684 §6: the peer's initial RT
                    // membership exchange is complete. Not a withdraw.
                    if codec::is_rtc_end_of_rib(&u) {
                        if rtc {
                            self.report(SessionEvent::EndOfRib { conn: self.conn })
                                .await?;
                        }
                        continue;
                    }
                    let update = codec::parse_rtc_update(&ctx, &u).map_err(Ending::Notify)?;
                    if let Some(why) = &update.treated_as_withdraw {
                        warn!(peer = %self.peer, reason = %why, "UPDATE treated as withdraw (RFC 7606)");
                    }
                    if !rtc && (!update.announced.is_empty() || !update.withdrawn.is_empty()) {
                        // RFC 4760 §7 spirit: a family that was not negotiated is ignored.
                        debug!(peer = %self.peer, "RTC routes on a session without the RTC family ignored");
                    }
                    self.report(SessionEvent::Update {
                        conn: self.conn,
                        update: if rtc { update } else { RtcUpdate::default() },
                    })
                    .await?;
                }
                Message::RouteRefresh(rr) => {
                    let offered_rr = self.expect.offered.route_refresh;
                    // RFC 2918 §4: a ROUTE-REFRESH for an AFI/SAFI we did not
                    // advertise is ignored; RFC 7313 §5: so is an unknown subtype.
                    if !offered_rr
                        || rr.afi_raw != codec::AFI_IPV4
                        || rr.safi_raw != codec::SAFI_RTC
                        || !self.expect.offered.rtc
                    {
                        debug!(peer = %self.peer, afi = rr.afi_raw, safi = rr.safi_raw, "ROUTE-REFRESH ignored");
                        continue;
                    }
                    match rr.subtype() {
                        s @ (RouteRefreshSubtype::Normal
                        | RouteRefreshSubtype::BoRR
                        | RouteRefreshSubtype::EoRR) => {
                            self.report(SessionEvent::RouteRefresh {
                                conn: self.conn,
                                subtype: s,
                            })
                            .await?;
                        }
                        other => {
                            debug!(peer = %self.peer, subtype = other.as_u8(), "ROUTE-REFRESH with unknown subtype ignored");
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
