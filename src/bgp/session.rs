//! One task per TCP connection: runs the RFC 4271 FSM from OpenSent to
//! Established over the socket, keeps the hold and keepalive timers, and
//! reports to the engine, which owns every piece of routing state.

use std::net::IpAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rustbgpd_wire::{Message, RouteRefreshSubtype};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, info, warn};

use super::Negotiated;
use super::codec::{self, Notify, RtcUpdate, UpdateContext, code};
use super::fsm::{self, Accepted, Expect, SessionState};

pub(crate) type ConnId = u64;

/// Bound on how long we wait for the peer to close after our NOTIFICATION.
const CLOSE_LINGER: Duration = Duration::from_millis(500);
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
    Down {
        conn: ConnId,
        reason: String,
    },
}

/// Commands from the engine.
#[derive(Debug)]
pub(crate) enum SessionCmd {
    /// Write these messages; answer once they are written to the socket.
    Send {
        frames: Vec<Bytes>,
        done: Option<oneshot::Sender<Result<(), String>>>,
    },
    /// Send this NOTIFICATION and close.
    Stop(Notify),
}

pub(crate) struct Session {
    pub conn: ConnId,
    pub peer: IpAddr,
    pub expect: Expect,
    pub events: mpsc::UnboundedSender<SessionEvent>,
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

async fn write_frames(wr: &mut OwnedWriteHalf, frames: &[Bytes]) -> std::io::Result<()> {
    let mut all = BytesMut::with_capacity(frames.iter().map(Bytes::len).sum());
    for f in frames {
        all.extend_from_slice(f);
    }
    wr.write_all(&all).await?;
    wr.flush().await
}

impl Session {
    /// Runs the session to its end and reports `Down` with the reason.
    pub(crate) async fn run(
        self,
        stream: TcpStream,
        mut cmds: mpsc::UnboundedReceiver<SessionCmd>,
    ) {
        let reason = match self.drive(stream, &mut cmds).await {
            Ok(()) => "closed".to_string(),
            Err(r) => r,
        };
        info!(peer = %self.peer, conn = self.conn, %reason, "BGP session down");
        let _ = self.events.send(SessionEvent::Down {
            conn: self.conn,
            reason,
        });
    }

    fn report(&self, ev: SessionEvent) -> Result<(), String> {
        self.events
            .send(ev)
            .map_err(|_| "engine stopped".to_string())
    }

    async fn notify_and_close(
        &self,
        mut reader: FrameReader,
        mut wr: OwnedWriteHalf,
        n: &Notify,
    ) -> String {
        if n.code == code::CEASE {
            info!(peer = %self.peer, conn = self.conn, notification = %n, "sending NOTIFICATION");
        } else {
            warn!(peer = %self.peer, conn = self.conn, notification = %n, "sending NOTIFICATION");
        }
        if let Ok(bytes) = codec::encode_notification(n) {
            let _ = timeout(CLOSE_LINGER, write_frames(&mut wr, &[bytes])).await;
        }
        // RFC 4271 §6: the connection is closed right after the NOTIFICATION.
        // A FIN (not an RST from unread input) lets the peer read it first.
        let _ = wr.shutdown().await;
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
        reader.buf.clear();
        format!("sent NOTIFICATION {n}")
    }

    async fn drive(
        &self,
        stream: TcpStream,
        cmds: &mut mpsc::UnboundedReceiver<SessionCmd>,
    ) -> Result<(), String> {
        let local_addr = stream.local_addr().map_err(|e| e.to_string())?.ip();
        let _ = stream.set_nodelay(true);
        let (rd, mut wr) = stream.into_split();
        let mut reader = FrameReader {
            rd,
            buf: BytesMut::with_capacity(4096),
            negotiated: Negotiated::default(),
        };
        let open = codec::encode_open(&self.expect.offered).map_err(|e| e.to_string())?;
        write_frames(&mut wr, &[open])
            .await
            .map_err(|e| e.to_string())?;
        let mut state = SessionState::OpenSent;
        self.report(SessionEvent::State {
            conn: self.conn,
            state,
        })?;
        let mut hold = Some(fsm::OPEN_HOLD_TIME);
        let mut hold_deadline = Instant::now() + fsm::OPEN_HOLD_TIME;
        let mut keepalive: Option<Duration> = None;
        let mut keepalive_deadline = Instant::now();
        let mut accepted: Option<Accepted> = None;
        let mut ctx = UpdateContext {
            local_as: self.expect.offered.local_as,
            internal: self.expect.internal,
            four_octet_as: false,
            next_hop: local_addr,
        };

        loop {
            tokio::select! {
                msg = reader.next() => {
                    let msg = match msg {
                        Ok(m) => m,
                        Err(ReadError::Closed) => return Err("connection closed by peer".into()),
                        Err(ReadError::Io(e)) => return Err(format!("read error: {e}")),
                        Err(ReadError::Bad(n)) => return Err(self.notify_and_close(reader, wr, &n).await),
                    };
                    if let Some(n) = fsm::unexpected(state, msg.message_type()) {
                        return Err(self.notify_and_close(reader, wr, &n).await);
                    }
                    match msg {
                        Message::Notification(n) => {
                            return Err(format!(
                                "received NOTIFICATION {}",
                                Notify::with_data(n.code.as_u8(), n.subcode, n.data)
                            ));
                        }
                        Message::Open(open) => {
                            let acc = match fsm::check_open(&open, &self.expect) {
                                Ok(a) => a,
                                Err(n) => return Err(self.notify_and_close(reader, wr, &n).await),
                            };
                            let (tx, rx) = oneshot::channel();
                            self.report(SessionEvent::OpenReceived { conn: self.conn, accepted: acc, reply: tx })?;
                            if !rx.await.unwrap_or(false) {
                                // RFC 4271 §6.8 / RFC 4486: Cease, Connection Collision Resolution.
                                let n = Notify::new(code::CEASE, 7);
                                return Err(self.notify_and_close(reader, wr, &n).await);
                            }
                            write_frames(&mut wr, &[codec::encode_keepalive()])
                                .await
                                .map_err(|e| e.to_string())?;
                            ctx.four_octet_as = acc.negotiated.four_octet_as;
                            reader.negotiated = acc.negotiated;
                            hold = (!acc.hold_time.is_zero()).then_some(acc.hold_time);
                            hold_deadline = Instant::now() + acc.hold_time;
                            keepalive = acc.keepalive();
                            if let Some(k) = keepalive {
                                keepalive_deadline = Instant::now() + k;
                            }
                            accepted = Some(acc);
                            state = SessionState::OpenConfirm;
                            self.report(SessionEvent::State { conn: self.conn, state })?;
                        }
                        Message::Keepalive => {
                            if let Some(h) = hold {
                                hold_deadline = Instant::now() + h;
                            }
                            if state == SessionState::OpenConfirm {
                                let acc = accepted.ok_or("OpenConfirm without OPEN")?;
                                state = SessionState::Established;
                                self.report(SessionEvent::Established { conn: self.conn, accepted: acc, local_addr })?;
                            }
                        }
                        Message::Update(u) => {
                            if let Some(h) = hold {
                                hold_deadline = Instant::now() + h;
                            }
                            let update = match codec::parse_rtc_update(&ctx, &u) {
                                Ok(up) => up,
                                Err(n) => return Err(self.notify_and_close(reader, wr, &n).await),
                            };
                            if let Some(why) = &update.treated_as_withdraw {
                                warn!(peer = %self.peer, reason = %why, "UPDATE treated as withdraw (RFC 7606)");
                            }
                            let rtc = accepted.is_some_and(|a| a.negotiated.rtc);
                            if !rtc && (!update.announced.is_empty() || !update.withdrawn.is_empty()) {
                                // RFC 4760 §7 spirit: a family that was not negotiated is ignored.
                                debug!(peer = %self.peer, "RTC routes on a session without the RTC family ignored");
                            }
                            self.report(SessionEvent::Update { conn: self.conn, update: if rtc { update } else { RtcUpdate::default() } })?;
                        }
                        Message::RouteRefresh(rr) => {
                            let offered_rr = self.expect.offered.route_refresh;
                            // RFC 2918 §4: a ROUTE-REFRESH for an AFI/SAFI we did not
                            // advertise is ignored; RFC 7313 §5: so is an unknown subtype.
                            if !offered_rr || rr.afi_raw != codec::AFI_IPV4 || rr.safi_raw != codec::SAFI_RTC || !self.expect.offered.rtc {
                                debug!(peer = %self.peer, afi = rr.afi_raw, safi = rr.safi_raw, "ROUTE-REFRESH ignored");
                                continue;
                            }
                            match rr.subtype() {
                                s @ (RouteRefreshSubtype::Normal | RouteRefreshSubtype::BoRR | RouteRefreshSubtype::EoRR) => {
                                    self.report(SessionEvent::RouteRefresh { conn: self.conn, subtype: s })?;
                                }
                                other => debug!(peer = %self.peer, subtype = other.as_u8(), "ROUTE-REFRESH with unknown subtype ignored"),
                            }
                        }
                        _ => {}
                    }
                }
                _ = sleep_until(hold_deadline), if hold.is_some() => {
                    // RFC 4271 §6.5: Hold Timer Expired.
                    let n = Notify::new(code::HOLD_TIMER_EXPIRED, 0);
                    return Err(self.notify_and_close(reader, wr, &n).await);
                }
                _ = sleep_until(keepalive_deadline), if keepalive.is_some() => {
                    write_frames(&mut wr, &[codec::encode_keepalive()]).await.map_err(|e| e.to_string())?;
                    if let Some(k) = keepalive {
                        keepalive_deadline = Instant::now() + k;
                    }
                }
                cmd = cmds.recv() => match cmd {
                    Some(SessionCmd::Send { frames, done }) => {
                        let r = write_frames(&mut wr, &frames).await.map_err(|e| e.to_string());
                        if let Some(done) = done {
                            let _ = done.send(r.clone());
                        }
                        r?;
                    }
                    Some(SessionCmd::Stop(n)) => {
                        return Err(self.notify_and_close(reader, wr, &n).await);
                    }
                    None => {
                        // RFC 4486 §4: Cease, Administrative Shutdown.
                        let n = Notify::new(code::CEASE, 2);
                        return Err(self.notify_and_close(reader, wr, &n).await);
                    }
                },
            }
        }
    }
}
