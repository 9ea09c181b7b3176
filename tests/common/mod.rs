//! Shared test support: an in-process agent on an ephemeral loopback port and
//! a blocking NETCONF client over a real SSH socket (libssh2 via `ssh2`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ncagent::config::Config;
use ncagent::netconf::framing::{Framing, FramingLimits, NetconfCodec};
use tokio_util::codec::{Decoder, Encoder};

pub const BASE_NS: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";
pub const ADMIN: (&str, &str) = ("admin", "admin-secret-1");
pub const MONITOR: (&str, &str) = ("monitor", "monitor-secret-1");
pub const OPERATOR: (&str, &str) = ("operator", "operator-secret-1");

pub struct TestAgent {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub running: Option<ncagent::agent::Running>,
}

/// Hashing is slow; hash each test password once per process.
fn hashes() -> &'static [String; 3] {
    static H: std::sync::OnceLock<[String; 3]> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        [ADMIN.1, MONITOR.1, OPERATOR.1].map(|p| ncagent::auth::hash_password(p).unwrap())
    })
}

/// A config for tests: loopback, port 0, three users (levels 3, 1, 2) and a
/// key user; `extra` is appended verbatim (e.g. `[limits]`, `[bgp]`).
pub fn test_config(dir: &std::path::Path, extra: &str) -> String {
    let [a, m, o] = hashes();
    let key_pub = key_pair(dir).1;
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
host_key = "{dir}/host_key"

[[users]]
name = "{an}"
password_hash = "{a}"
level = 3

[[users]]
name = "{mn}"
password_hash = "{m}"
level = 1

[[users]]
name = "{on}"
password_hash = "{o}"
level = 2

[[users]]
name = "keyuser"
authorized_keys = ["{key_pub}"]
level = 3
{extra}
"#,
        dir = dir.display(),
        an = ADMIN.0,
        mn = MONITOR.0,
        on = OPERATOR.0,
    )
}

/// An ed25519 client key pair in `dir` (private key path, public key line).
pub fn key_pair(dir: &std::path::Path) -> (PathBuf, String) {
    use russh::keys::{Algorithm, PrivateKey, ssh_key::LineEnding};
    let path = dir.join("client_key");
    if !path.exists() {
        let k = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap();
        std::fs::write(&path, k.to_openssh(LineEnding::LF).unwrap().as_bytes()).unwrap();
        std::fs::write(
            dir.join("client_key.pub"),
            k.public_key().to_openssh().unwrap(),
        )
        .unwrap();
    }
    let public = std::fs::read_to_string(dir.join("client_key.pub")).unwrap();
    (path, public.trim().to_owned())
}

impl TestAgent {
    pub async fn start(extra: &str) -> TestAgent {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let text = test_config(dir.path(), extra);
        let config = Config::from_toml(&text).unwrap();
        let running = ncagent::agent::start(config).await.unwrap();
        TestAgent {
            addr: running.local_addr,
            dir,
            running: Some(running),
        }
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// A blocking NETCONF client over ssh2.
pub struct Client {
    pub session: ssh2::Session,
    pub channel: ssh2::Channel,
    codec: NetconfCodec,
    buf: BytesMut,
    pub server_hello: String,
    next_id: u64,
}

pub fn ssh_session(addr: SocketAddr) -> ssh2::Session {
    ssh_session_over(TcpStream::connect(addr).unwrap())
}

/// A TCP connection to `addr` from the local address `source` (e.g.
/// 127.0.0.2), so that tests can act as several client machines.
pub fn connect_from(source: std::net::IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let stream = rt.block_on(async {
        let socket = match source {
            std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(source, 0))?;
        socket.connect(addr).await
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

pub fn ssh_session_over(tcp: TcpStream) -> ssh2::Session {
    // Without it, libssh2 and Nagle add 40 ms stalls to the handshake.
    tcp.set_nodelay(true).unwrap();
    let mut s = ssh2::Session::new().unwrap();
    s.set_tcp_stream(tcp);
    s.set_timeout(20_000);
    s.handshake().unwrap();
    s
}

impl Client {
    /// Logs in with a password, opens the netconf subsystem and reads the server hello.
    pub fn connect(addr: SocketAddr, user: &str, password: &str) -> Client {
        let s = ssh_session(addr);
        s.userauth_password(user, password).unwrap();
        Self::open(s)
    }

    pub fn open(session: ssh2::Session) -> Client {
        let mut channel = session.channel_session().unwrap();
        channel.subsystem("netconf").unwrap();
        let mut c = Client {
            session,
            channel,
            codec: NetconfCodec::new(FramingLimits::default()),
            buf: BytesMut::new(),
            server_hello: String::new(),
            next_id: 0,
        };
        c.codec.set_framing(Framing::EndOfMessage);
        c.server_hello = c.recv().expect("server hello");
        c
    }

    /// Sends our hello (base:1.1 when `chunked`) and switches framing to match.
    pub fn hello(&mut self, chunked: bool) {
        let caps = if chunked {
            "<capability>urn:ietf:params:netconf:base:1.0</capability><capability>urn:ietf:params:netconf:base:1.1</capability>"
        } else {
            "<capability>urn:ietf:params:netconf:base:1.0</capability>"
        };
        let hello =
            format!("<hello xmlns=\"{BASE_NS}\"><capabilities>{caps}</capabilities></hello>");
        self.send_framed(hello.as_bytes());
        if chunked {
            self.codec.set_framing(Framing::Chunked);
        }
    }

    pub fn connect_hello(addr: SocketAddr, user: (&str, &str)) -> Client {
        let mut c = Client::connect(addr, user.0, user.1);
        c.hello(true);
        c
    }

    /// Frames and writes one message.
    pub fn send_framed(&mut self, msg: &[u8]) {
        let mut out = BytesMut::new();
        self.codec.encode(msg, &mut out).unwrap();
        self.send_raw(&out);
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        // No flush(): libssh2's channel flush discards *received* data.
        self.channel.write_all(bytes).unwrap();
    }

    /// Reads one whole message; None when the channel closed.
    pub fn recv(&mut self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(m) = self
                .codec
                .decode(&mut self.buf)
                .expect("framing from server")
            {
                return Some(String::from_utf8(m.to_vec()).unwrap());
            }
            assert!(Instant::now() < deadline, "no reply within 20 s");
            let mut chunk = [0u8; 65536];
            match self.channel.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => {
                    eprintln!("read error: {e:?}");
                    return None;
                }
            }
        }
    }

    /// Logs in from the local address `source` (see [`connect_from`]).
    pub fn connect_from(source: std::net::IpAddr, addr: SocketAddr, user: (&str, &str)) -> Client {
        let s = ssh_session_over(connect_from(source, addr).unwrap());
        s.userauth_password(user.0, user.1).unwrap();
        let mut c = Self::open(s);
        c.hello(true);
        c
    }

    /// Pipelines `n` RPCs (`body(i)`, message-id `p{i}`) while reading the
    /// replies as they come, as an NMS with a reader and a writer does:
    /// libssh2 in non-blocking mode, one thread, writing whenever the SSH
    /// window allows and reading whatever arrived. Calls `check(i, reply)`
    /// for each reply in arrival order; bounded by `limit`. Panics on any
    /// failure (see [`Client::try_pipeline`]).
    pub fn pipeline(
        &mut self,
        n: usize,
        body: impl Fn(usize) -> String,
        mut check: impl FnMut(usize, &str),
        limit: Duration,
    ) {
        let r = self.try_pipeline(
            n,
            body,
            |i, r| {
                check(i, r);
                Ok(())
            },
            limit,
        );
        if let Err((got, e)) = r {
            panic!("{got} of {n} answered: {e}");
        }
    }

    /// [`Client::pipeline`] that reports instead of panicking: on failure,
    /// how many replies arrived before it and why. `on_sent(i)` is called
    /// when the bytes of RPC `i` have been handed to SSH (for latency).
    pub fn try_pipeline(
        &mut self,
        n: usize,
        body: impl Fn(usize) -> String,
        check: impl FnMut(usize, &str) -> Result<(), String>,
        limit: Duration,
    ) -> Result<(), (usize, String)> {
        self.try_pipeline_timed(n, body, check, |_| {}, limit)
    }

    pub fn try_pipeline_timed(
        &mut self,
        n: usize,
        body: impl Fn(usize) -> String,
        mut check: impl FnMut(usize, &str) -> Result<(), String>,
        mut on_sent: impl FnMut(usize),
        limit: Duration,
    ) -> Result<(), (usize, String)> {
        let deadline = Instant::now() + limit;
        let mut out = BytesMut::new();
        // Ends of the RPCs in `out` not yet handed to SSH: (index, end offset).
        let mut ends: std::collections::VecDeque<(usize, usize)> = Default::default();
        let (mut sent, mut got) = (0, 0);
        let mut chunk = vec![0u8; 65536];
        let mut idle = 0u32;
        self.session.set_blocking(false);
        let result = loop {
            if got >= n {
                break Ok(());
            }
            if Instant::now() >= deadline {
                break Err((got, format!("over the time bound: {sent} sent")));
            }
            let mut progress = false;
            while out.len() < 64 * 1024 && sent < n {
                let msg = format!(
                    "<rpc xmlns=\"{BASE_NS}\" message-id=\"p{sent}\">{}</rpc>",
                    body(sent)
                );
                self.codec.encode(msg.as_bytes(), &mut out).unwrap();
                ends.push_back((sent, out.len()));
                sent += 1;
            }
            if !out.is_empty() {
                match self.channel.write(&out) {
                    Ok(k) => {
                        let _ = out.split_to(k);
                        for e in ends.iter_mut() {
                            e.1 -= k.min(e.1);
                        }
                        while ends.front().is_some_and(|e| e.1 == 0) {
                            if let Some((i, _)) = ends.pop_front() {
                                on_sent(i);
                            }
                        }
                        progress |= k > 0;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => break Err((got, format!("write failed, {sent} sent: {e}"))),
                }
            }
            match self.channel.read(&mut chunk) {
                Ok(0) => break Err((got, format!("channel closed, {sent} sent"))),
                Ok(k) => {
                    self.buf.extend_from_slice(&chunk[..k]);
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => break Err((got, format!("read failed, {sent} sent: {e}"))),
            }
            let mut failed = None;
            loop {
                match self.codec.decode(&mut self.buf) {
                    Ok(Some(m)) => {
                        let text = String::from_utf8_lossy(&m);
                        if let Err(e) = check(got, &text) {
                            failed = Some(e);
                            break;
                        }
                        got += 1;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(format!("framing from server: {e}"));
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                break Err((got, e));
            }
            // Back off while nothing moves (up to 6.4 ms), so that many
            // pipelining clients do not starve the server of CPU.
            if progress {
                idle = 0;
            } else {
                std::thread::sleep(Duration::from_micros(100 << idle));
                idle = (idle + 1).min(6);
            }
        };
        self.session.set_blocking(true);
        result
    }

    /// Sends `<rpc message-id=N>BODY</rpc>` and returns the reply.
    pub fn rpc(&mut self, body: &str) -> String {
        self.next_id += 1;
        let msg = format!(
            "<rpc xmlns=\"{BASE_NS}\" message-id=\"{}\">{body}</rpc>",
            self.next_id
        );
        self.send_framed(msg.as_bytes());
        self.recv().expect("reply")
    }

    /// True once the server closed the channel (EOF), waiting up to 10 s.
    pub fn closed(&mut self) -> bool {
        self.session.set_timeout(10_000);
        let mut b = [0u8; 4096];
        loop {
            match self.channel.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
                Err(_) => return true,
            }
        }
    }
}

/// Value of `<tag>` in an XML string (first occurrence), for assertions.
pub fn text_of<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}
