//! Who may start an SSH connection, and for how long before logging in:
//! the defences of OpenSSH's sshd against unauthenticated-connection floods,
//! with the same meanings (`LoginGraceTime`, `MaxStartups start:rate:full`,
//! `PerSourceMaxStartups`), so that a flood from one address can neither
//! exhaust the server nor lock out an administrator logging in from another.
//! Authenticated connections are counted apart and never compete with
//! unauthenticated ones for room.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// sshd's `MaxStartups start:rate:full`: from `start` unauthenticated
/// connections on, a new one is refused with probability `rate`%, rising
/// linearly to 100% at `full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxStartups {
    pub start: usize,
    pub rate: u8,
    pub full: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct AdmissionLimits {
    pub max_startups: MaxStartups,
    /// Unauthenticated connections from one address at once.
    pub per_source: usize,
    /// Time from TCP accept to a successful login.
    pub login_grace: Duration,
    /// Authenticated connections at once.
    pub max_authenticated: usize,
}

/// Why a new connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    PerSource,
    Full,
    RandomEarlyDrop,
}

#[derive(Default)]
struct Table {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// The unauthenticated-connection table.
pub struct Admission {
    limits: AdmissionLimits,
    table: Mutex<Table>,
    authenticated: Arc<tokio::sync::Semaphore>,
    refused: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is a few integer updates: nothing to repair.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Admission {
    pub fn new(limits: AdmissionLimits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            table: Mutex::new(Table::default()),
            authenticated: Arc::new(tokio::sync::Semaphore::new(limits.max_authenticated)),
            refused: AtomicU64::new(0),
            last_warning: Mutex::new(None),
        })
    }

    pub fn limits(&self) -> &AdmissionLimits {
        &self.limits
    }

    /// Admits a new unauthenticated connection from `ip`, or says why not.
    /// `roll` is a uniformly random number in 0..100 (the drop decision).
    pub fn admit(self: &Arc<Self>, ip: IpAddr, roll: u8) -> Result<Startup, Refusal> {
        let MaxStartups { start, rate, full } = self.limits.max_startups;
        let mut t = lock(&self.table);
        let from_ip = t.per_source.get(&ip).copied().unwrap_or(0);
        let refusal = if from_ip >= self.limits.per_source {
            Some(Refusal::PerSource)
        } else if t.total >= full {
            Some(Refusal::Full)
        } else if t.total >= start {
            // sshd's formula: rate% at `start`, linearly up to 100% at `full`.
            let p = u64::from(rate)
                + (100 - u64::from(rate)) * (t.total - start) as u64 / (full - start).max(1) as u64;
            (u64::from(roll) < p).then_some(Refusal::RandomEarlyDrop)
        } else {
            None
        };
        if let Some(r) = refusal {
            drop(t);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(r);
        }
        t.total += 1;
        *t.per_source.entry(ip).or_insert(0) += 1;
        Ok(Startup {
            admission: self.clone(),
            ip,
            authenticated: Arc::new(AtomicBool::new(false)),
            released: false,
        })
    }

    /// Refusals so far, and whether a warning is due (at most one per 10 s,
    /// so that a flood does not also flood the log).
    pub fn refusal_warning_due(&self) -> Option<u64> {
        let mut last = lock(&self.last_warning);
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
        if due {
            *last = Some(Instant::now());
            Some(self.refused.load(Ordering::Relaxed))
        } else {
            None
        }
    }

    /// Unauthenticated connections now (in total, from `ip`).
    pub fn unauthenticated(&self, ip: IpAddr) -> (usize, usize) {
        let t = lock(&self.table);
        (t.total, t.per_source.get(&ip).copied().unwrap_or(0))
    }

    fn release(&self, ip: IpAddr) {
        let mut t = lock(&self.table);
        t.total = t.total.saturating_sub(1);
        if let Some(n) = t.per_source.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                t.per_source.remove(&ip);
            }
        }
    }
}

/// One unauthenticated connection's place in the table; freed when the
/// connection logs in or ends.
pub struct Startup {
    admission: Arc<Admission>,
    ip: IpAddr,
    authenticated: Arc<AtomicBool>,
    released: bool,
}

impl Startup {
    /// The flag the connection's [`GraceStream`] watches.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.authenticated.clone()
    }

    /// Login succeeded: the connection leaves the unauthenticated table and
    /// takes a place among the authenticated ones, if there is room.
    pub fn authenticate(&mut self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permit = self
            .admission
            .authenticated
            .clone()
            .try_acquire_owned()
            .ok()?;
        if !self.released {
            self.released = true;
            self.admission.release(self.ip);
        }
        self.authenticated.store(true, Ordering::Release);
        Some(permit)
    }
}

impl Drop for Startup {
    fn drop(&mut self) {
        if !self.released {
            self.admission.release(self.ip);
        }
    }
}

/// A stream that can acknowledge what was just read at once.
///
/// Why: the OpenSSH client runs a non-interactive session (`ssh -s netconf`,
/// no tty) with Nagle's algorithm on. In the key exchange it writes its
/// KEXINIT, reads ours (usually sent before its own arrived), then writes
/// its ECDH init (RFC 4253 §7, RFC 8731 §3): two small packets with
/// nothing from us in between to carry an ACK. Nagle holds the second until
/// the first is acknowledged, and Linux delays that ACK by 40 ms. That
/// stall was over a quarter of a lightly loaded login (docs/performance.md,
/// "Session set-up: the stalls").
pub trait AckNow {
    /// Acknowledges the received data now; failure only costs time.
    fn ack_now(&self);
}

impl AckNow for tokio::net::TcpStream {
    fn ack_now(&self) {
        // Linux re-enters delayed ACKs by itself, so this is asked after
        // every read of the set-up; one setsockopt per read, no state kept.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = self.set_quickack(true);
    }
}

impl AckNow for tokio::io::DuplexStream {
    fn ack_now(&self) {}
}

/// The TCP stream of a connection that must log in within the grace time
/// (sshd's `LoginGraceTime`): once it has passed without a login, reads
/// fail, which ends the SSH connection whatever state its handshake is in.
/// Until the login, every read is acknowledged at once ([`AckNow`]).
pub struct GraceStream<S> {
    inner: S,
    deadline: Pin<Box<Sleep>>,
    authenticated: Arc<AtomicBool>,
}

impl<S> GraceStream<S> {
    pub fn new(inner: S, grace: Duration, authenticated: Arc<AtomicBool>) -> Self {
        GraceStream {
            inner,
            deadline: Box::pin(tokio::time::sleep(grace)),
            authenticated,
        }
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        !self.authenticated.load(Ordering::Acquire) && self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn grace_expired() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "login grace time expired")
}

impl<S: AsyncRead + AckNow + Unpin> AsyncRead for GraceStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.expired(cx) {
            return Poll::Ready(Err(grace_expired()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(())))
            && buf.filled().len() > before
            && !self.authenticated.load(Ordering::Acquire)
        {
            self.inner.ack_now();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GraceStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn admission(start: usize, rate: u8, full: usize, per_source: usize) -> Arc<Admission> {
        Admission::new(AdmissionLimits {
            max_startups: MaxStartups { start, rate, full },
            per_source,
            login_grace: Duration::from_secs(1),
            max_authenticated: 2,
        })
    }

    #[test]
    fn per_source_cap_leaves_room_for_other_addresses() {
        let a = admission(10, 30, 100, 3);
        let flood: IpAddr = "127.0.0.3".parse().unwrap();
        let admin: IpAddr = "127.0.0.2".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| a.admit(flood, 99).unwrap()).collect();
        assert_eq!(a.admit(flood, 99).err(), Some(Refusal::PerSource));
        assert!(a.admit(admin, 0).is_ok());
        drop(held);
        assert_eq!(a.unauthenticated(flood), (0, 0));
    }

    #[test]
    fn max_startups_random_early_drop_then_full() {
        let a = admission(2, 50, 4, 100);
        let ip: IpAddr = "127.0.0.5".parse().unwrap();
        let mut held = vec![a.admit(ip, 0).unwrap(), a.admit(ip, 0).unwrap()];
        // At `start`: refused with probability rate% (rolls below 50).
        assert_eq!(a.admit(ip, 49).err(), Some(Refusal::RandomEarlyDrop));
        held.push(a.admit(ip, 50).unwrap());
        // Half-way to `full`: 75%.
        assert_eq!(a.admit(ip, 74).err(), Some(Refusal::RandomEarlyDrop));
        held.push(a.admit(ip, 75).unwrap());
        // At `full`: always refused.
        assert_eq!(a.admit(ip, 99).err(), Some(Refusal::Full));
        assert_eq!(a.unauthenticated(ip).0, 4);
    }

    #[test]
    fn login_moves_a_connection_out_of_the_table() {
        let a = admission(10, 30, 100, 1);
        let ip: IpAddr = "127.0.0.4".parse().unwrap();
        let mut s = a.admit(ip, 0).unwrap();
        assert!(a.admit(ip, 0).is_err());
        let flag = s.flag();
        let p1 = s.authenticate();
        assert!(p1.is_some() && flag.load(Ordering::Acquire));
        assert_eq!(a.unauthenticated(ip), (0, 0));
        let mut s2 = a.admit(ip, 0).unwrap();
        let _p2 = s2.authenticate().unwrap();
        // Authenticated connections have their own cap (2 here).
        let mut s3 = a.admit(ip, 0).unwrap();
        assert!(s3.authenticate().is_none());
        drop(p1);
        assert!(s3.authenticate().is_some());
    }

    /// A stream that counts the immediate acknowledgements asked of it.
    struct Counting {
        inner: tokio::io::DuplexStream,
        acks: Arc<AtomicU64>,
    }

    impl AsyncRead for Counting {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AckNow for Counting {
        fn ack_now(&self) {
            self.acks.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn grace_stream_acks_each_read_until_the_login() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(64);
        let acks = Arc::new(AtomicU64::new(0));
        let flag = Arc::new(AtomicBool::new(false));
        let inner = Counting {
            inner: server,
            acks: acks.clone(),
        };
        let mut s = GraceStream::new(inner, Duration::from_secs(60), flag.clone());
        let mut b = [0u8; 8];
        for round in 1..=2u64 {
            client.write_all(b"kexinit").await.unwrap();
            assert_eq!(s.read(&mut b).await.unwrap(), 7);
            assert_eq!(acks.load(Ordering::Relaxed), round);
        }
        // Logged in: delayed ACKs again (the replies carry them).
        flag.store(true, Ordering::Release);
        client.write_all(b"rpc").await.unwrap();
        assert_eq!(s.read(&mut b).await.unwrap(), 3);
        assert_eq!(acks.load(Ordering::Relaxed), 2);
        // End of stream is not data: nothing to acknowledge.
        flag.store(false, Ordering::Release);
        drop(client);
        assert_eq!(s.read(&mut b).await.unwrap(), 0);
        assert_eq!(acks.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn grace_stream_fails_reads_after_the_grace_time() {
        use tokio::io::AsyncReadExt;
        let (_client, server) = tokio::io::duplex(64);
        let flag = Arc::new(AtomicBool::new(false));
        let mut s = GraceStream::new(server, Duration::from_millis(20), flag);
        let mut b = [0u8; 8];
        let e = s.read(&mut b).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
