//! The write half of one connection. It runs beside the reader (never
//! inside it), so a peer that stops reading stalls only this writer: our
//! reading, the hold timer and every other peer keep going.
//!
//! It takes jobs from the connection's [`Outbox`], writes one at a time,
//! keeps the KeepaliveTimer (RFC 4271 §8.2.2: restarted each time a
//! KEEPALIVE or UPDATE is sent) and the SendHoldTimer (RFC 9687: no write
//! progress for SendHoldTime closes the session with NOTIFICATION 8).

use std::io::IoSlice;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::codec::{self, Notify};
use super::outbox::{Ack, Job, Outbox};

/// RFC 9687 §4: NOTIFICATION error code 8, Send Hold Timer Expired.
pub(crate) const SEND_HOLD_TIMER_EXPIRED: u8 = 8;
/// RFC 9687 §4: the suggested SendHoldTime is the greater of 8 minutes
/// and twice the negotiated HoldTime.
const SEND_HOLD_MIN: Duration = Duration::from_secs(480);

/// The SendHoldTime for a negotiated hold time, or the configured one.
pub(crate) fn send_hold_time(configured: Option<Duration>, hold: Duration) -> Duration {
    configured.unwrap_or_else(|| SEND_HOLD_MIN.max(hold * 2))
}

/// How the session ends.
#[derive(Debug)]
pub(crate) enum Ending {
    /// Close without a NOTIFICATION (peer closed, I/O error).
    Closed(String),
    /// The peer sent this NOTIFICATION: close.
    Received(Notify),
    /// Send this NOTIFICATION, then close.
    Notify(Notify),
}

/// At most this many buffers per vectored write (a reconfiguration delta
/// may have hundreds of frames; the rest go in the next write).
const MAX_IOV: usize = 64;

/// The job being written: its frames (each one or more whole messages; the
/// shared UPDATE block of an export is one frame, written without a copy),
/// how far we are (`frames[idx][pos..]` is next), and what it counts.
struct Current {
    frames: Vec<Bytes>,
    idx: usize,
    pos: usize,
    updates: u64,
    route_refresh: u64,
    end_of_rib: bool,
    restarts_keepalive: bool,
    acks: Vec<Ack>,
}

pub(crate) struct Writer {
    wr: OwnedWriteHalf,
    current: Option<Current>,
    keepalive_deadline: Option<Instant>,
    /// Last time bytes went out while something was waiting to be written.
    last_progress: Instant,
}

impl Writer {
    pub(crate) fn new(wr: OwnedWriteHalf) -> Self {
        Self {
            wr,
            current: None,
            keepalive_deadline: None,
            last_progress: Instant::now(),
        }
    }

    fn start(&mut self, job: Job, outbox: &Outbox) {
        let built = match job.build() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode BGP messages");
                for a in job.into_acks() {
                    let _ = a.send(Err(e.to_string()));
                }
                return;
            }
        };
        let restarts_keepalive =
            built.updates > 0 || matches!(&job, Job::Control(b) if b.get(18) == Some(&4));
        self.last_progress = Instant::now();
        let frames: Vec<Bytes> = built.frames.into_iter().filter(|f| !f.is_empty()).collect();
        self.current = Some(Current {
            frames,
            idx: 0,
            pos: 0,
            updates: built.updates,
            route_refresh: built.route_refresh,
            end_of_rib: built.end_of_rib,
            restarts_keepalive,
            acks: job.into_acks(),
        });
        if self.current.as_ref().is_some_and(|c| c.frames.is_empty()) {
            // Nothing to write (e.g. an empty Adj-RIB-Out without RFC 7313
            // brackets): done at once.
            self.finished(outbox);
        }
    }

    fn finished(&mut self, outbox: &Outbox) {
        let Some(c) = self.current.take() else {
            return;
        };
        let k = &outbox.counters;
        k.updates_sent.fetch_add(c.updates, Ordering::Relaxed);
        k.route_refresh_sent
            .fetch_add(c.route_refresh, Ordering::Relaxed);
        if c.end_of_rib {
            k.end_of_rib_sent.store(true, Ordering::Relaxed);
        }
        if c.restarts_keepalive
            && let Some(ka) = outbox.timers().keepalive
        {
            // RFC 4271 §8.2.2: restart the KeepaliveTimer after a KEEPALIVE or UPDATE.
            self.keepalive_deadline = Some(Instant::now() + ka);
        }
        for a in c.acks {
            let _ = a.send(Ok(()));
        }
    }

    /// Runs until the connection must end. Cancel-safe at every await: the
    /// partly written job stays in `self` for [`Writer::close`].
    pub(crate) async fn run(&mut self, outbox: &Outbox) -> Ending {
        loop {
            if let Some(n) = outbox.take_stop() {
                return Ending::Notify(n);
            }
            let timers = outbox.timers();
            match (timers.keepalive, self.keepalive_deadline) {
                (Some(ka), None) => self.keepalive_deadline = Some(Instant::now() + ka),
                (None, Some(_)) => self.keepalive_deadline = None,
                _ => {}
            }
            if self.current.is_none()
                && let Some(job) = outbox.next_job()
            {
                self.start(job, outbox);
                continue;
            }
            let Some(cur) = &self.current else {
                // Idle: wait for work or the KeepaliveTimer.
                let ka = self.keepalive_deadline;
                tokio::select! {
                    () = outbox.changed() => {}
                    () = sleep_until(ka.unwrap_or_else(Instant::now)), if ka.is_some() => {
                        self.start(Job::Control(codec::encode_keepalive()), outbox);
                    }
                }
                continue;
            };
            let send_hold = timers.send_hold.map(|d| self.last_progress + d);
            let bufs = cur.io_slices();
            tokio::select! {
                // A stop or new work: re-check at the top (the job in
                // progress is kept).
                () = outbox.changed() => {}
                r = self.wr.write_vectored(&bufs) => match r {
                    Ok(0) => return Ending::Closed("connection closed while writing".into()),
                    Ok(n) => {
                        self.last_progress = Instant::now();
                        let done = match &mut self.current {
                            Some(c) => c.advance(n),
                            None => false,
                        };
                        if done {
                            self.finished(outbox);
                        }
                    }
                    Err(e) => return Ending::Closed(format!("write error: {e}")),
                },
                () = sleep_until(send_hold.unwrap_or_else(Instant::now)), if send_hold.is_some() => {
                    // RFC 9687 §4: SendHoldTimer_Expires.
                    return Ending::Notify(Notify::new(SEND_HOLD_TIMER_EXPIRED, 0));
                }
            }
        }
    }

    /// Fails the acknowledgements of the job in progress (the session ends).
    pub(crate) fn abandon(&mut self, why: &str) {
        if let Some(c) = self.current.take() {
            for a in c.acks {
                let _ = a.send(Err(why.to_string()));
            }
        }
    }

    /// Finishes the message partly on the wire (so the peer's framing
    /// holds), writes the NOTIFICATION and half-closes, all by `deadline`.
    /// RFC 4271 §6: the connection is closed right after the NOTIFICATION.
    pub(crate) async fn close(&mut self, n: Option<&Notify>, deadline: Instant) {
        let _ = timeout_at(deadline, async {
            if let Some(c) = &self.current
                && let Some(frame) = c.frames.get(c.idx)
            {
                let rest = frame_remainder(frame, c.pos);
                if !rest.is_empty() {
                    self.wr.write_all(rest).await?;
                }
            }
            if let Some(n) = n
                && let Ok(bytes) = codec::encode_notification(n)
            {
                self.wr.write_all(&bytes).await?;
            }
            self.wr.flush().await
        })
        .await;
        self.abandon("session closed");
        // A FIN (not an RST from unread input) lets the peer read what we sent.
        let _ = timeout_at(deadline, self.wr.shutdown()).await;
    }
}

impl Current {
    /// What is left to write, as buffers for one vectored write.
    fn io_slices(&self) -> Vec<IoSlice<'_>> {
        let mut v = Vec::with_capacity((self.frames.len() - self.idx).min(MAX_IOV));
        for (i, f) in self.frames.iter().enumerate().skip(self.idx).take(MAX_IOV) {
            let from = if i == self.idx { self.pos } else { 0 };
            v.push(IoSlice::new(&f[from..]));
        }
        v
    }

    /// Accounts for `n` bytes written; true when the whole job is out.
    fn advance(&mut self, mut n: usize) -> bool {
        while let Some(f) = self.frames.get(self.idx) {
            let left = f.len() - self.pos;
            if n < left {
                self.pos += n;
                return false;
            }
            n -= left;
            self.idx += 1;
            self.pos = 0;
        }
        true
    }
}

/// The bytes from `pos` to the end of the BGP message that `pos` falls in
/// (empty when `pos` is on a message boundary).
fn frame_remainder(bytes: &[u8], pos: usize) -> &[u8] {
    let mut start = 0usize;
    while start < bytes.len() {
        let len = bytes
            .get(start + 16..start + 18)
            .map_or(bytes.len() - start, |l| {
                usize::from(u16::from_be_bytes([l[0], l[1]]))
            })
            .max(codec::HEADER_LEN);
        let end = (start + len).min(bytes.len());
        if pos < end {
            return if pos == start { &[] } else { &bytes[pos..end] };
        }
        start = end;
    }
    &[]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn vectored_progress_crosses_frames_and_ends_exactly() {
        let ka = codec::encode_keepalive();
        let mut c = Current {
            frames: vec![ka.clone(), Bytes::from(vec![0u8; 100]), ka],
            idx: 0,
            pos: 0,
            updates: 0,
            route_refresh: 0,
            end_of_rib: false,
            restarts_keepalive: false,
            acks: Vec::new(),
        };
        assert_eq!(c.io_slices().len(), 3);
        assert!(!c.advance(10));
        assert_eq!(c.io_slices()[0].len(), 9);
        assert!(!c.advance(9 + 50));
        assert_eq!((c.idx, c.pos), (1, 50));
        assert_eq!(c.io_slices().len(), 2);
        assert!(!c.advance(50));
        assert_eq!((c.idx, c.pos), (2, 0));
        assert!(c.advance(19));
    }

    #[test]
    fn remainder_completes_only_the_message_in_progress() {
        let ka = codec::encode_keepalive();
        let mut two = ka.to_vec();
        two.extend_from_slice(&ka);
        assert!(frame_remainder(&two, 0).is_empty());
        assert_eq!(frame_remainder(&two, 5).len(), 14);
        assert!(frame_remainder(&two, 19).is_empty());
        assert_eq!(frame_remainder(&two, 20).len(), 18);
        assert!(frame_remainder(&two, 38).is_empty());
    }

    #[test]
    fn send_hold_time_follows_rfc_9687_unless_configured() {
        assert_eq!(
            send_hold_time(None, Duration::from_secs(90)),
            Duration::from_secs(480)
        );
        assert_eq!(
            send_hold_time(None, Duration::from_secs(600)),
            Duration::from_secs(1200)
        );
        assert_eq!(
            send_hold_time(Some(Duration::from_secs(5)), Duration::from_secs(90)),
            Duration::from_secs(5)
        );
    }
}
