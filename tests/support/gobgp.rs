//! GoBGP test harness: runs `gobgpd` on a loopback address with ports chosen
//! free at run time, talks to it with the `gobgp` CLI over its gRPC API, and
//! kills it on drop. Missing binaries FAIL the test (never a silent skip).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const GOBGPD: &str = "gobgpd";
pub const GOBGP: &str = "gobgp";

/// One `[[neighbors]]` entry of the GoBGP configuration.
#[derive(Debug, Clone)]
pub struct Neighbor {
    pub address: IpAddr,
    pub peer_as: u32,
    /// GoBGP only waits for our connection.
    pub passive: bool,
    /// Port GoBGP connects to when active.
    pub remote_port: u16,
    /// `None`: GoBGP is a graceful-restart helper only (capability 64 with
    /// no <AFI, SAFI>, as we send it): GoBGP 3.10 sends its RTC End-of-RIB
    /// only when graceful restart is negotiated. `Some(t)`: GoBGP also
    /// lists rtc in its capability (`mp-graceful-restart`) with Restart
    /// Time `t`, so RFC 4724 §4.2 applies to its routes on our side.
    pub rtc_restart_time: Option<u16>,
}

pub struct GoBgp {
    child: Child,
    gobgp: PathBuf,
    pub address: IpAddr,
    pub asn: u32,
    pub bgp_port: u16,
    /// Where the gRPC API listens: the BGP address, or 127.0.0.1 for an
    /// IPv6 instance (the API does not need to follow the BGP transport).
    pub api_host: IpAddr,
    pub api_port: u16,
    dir: tempfile::TempDir,
}

fn find_binary(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
        let p = PathBuf::from(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    if let Ok(path) = std::env::var("PATH") {
        for dir in path.split(':') {
            let p = PathBuf::from(dir).join(name);
            if p.exists() {
                return p;
            }
        }
    }
    panic!(
        "`{name}` is not installed: the GoBGP interop tests need GoBGP 3.x \
         (Debian: `apt-get install gobgpd`, which provides gobgpd and gobgp). \
         These tests never skip."
    );
}

/// A port free on `ip` right now (bound, read, released).
pub fn free_port(ip: IpAddr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl GoBgp {
    /// Starts gobgpd and waits until its API answers (bounded).
    pub fn start(address: &str, asn: u32, neighbors: &[Neighbor]) -> GoBgp {
        Self::start_with_router_id(address, address, asn, neighbors)
    }

    /// As [`GoBgp::start`] with an explicit BGP identifier: needed when
    /// `address` is IPv6 (e.g. `::1`). An IPv6 instance listens for BGP on
    /// `[address]` only, and its API is on 127.0.0.1.
    pub fn start_with_router_id(
        address: &str,
        router_id: &str,
        asn: u32,
        neighbors: &[Neighbor],
    ) -> GoBgp {
        let gobgpd = find_binary(GOBGPD);
        let gobgp = find_binary(GOBGP);
        let address: IpAddr = address.parse().unwrap();
        let api_host: IpAddr = if address.is_ipv6() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            address
        };
        let bgp_port = free_port(address);
        let api_port = free_port(api_host);
        let dir = tempfile::tempdir().unwrap();
        let mut conf = format!(
            "[global.config]\n  as = {asn}\n  router-id = \"{router_id}\"\n  port = {bgp_port}\n  \
             local-address-list = [\"{address}\"]\n"
        );
        for n in neighbors {
            write!(
                conf,
                "\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {}\n  \
                 [neighbors.transport.config]\n    passive-mode = {}\n    local-address = \"{address}\"\n    \
                 remote-port = {}\n  [neighbors.timers.config]\n    connect-retry = 1\n    hold-time = 30\n    \
                 keepalive-interval = 10\n    idle-hold-time-after-reset = 1\n  \
                 [neighbors.graceful-restart.config]\n    enabled = true\n{}  \
                 [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"rtc\"\n",
                n.address,
                n.peer_as,
                n.passive,
                n.remote_port,
                n.rtc_restart_time
                    .map(|t| format!("    restart-time = {t}\n"))
                    .unwrap_or_default()
            )
            .unwrap();
            if n.rtc_restart_time.is_some() {
                conf.push_str(
                    "    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n",
                );
            }
        }
        let conf_path = dir.path().join("gobgpd.toml");
        std::fs::write(&conf_path, conf).unwrap();
        let log = std::fs::File::create(dir.path().join("gobgpd.log")).unwrap();
        let child = Command::new(gobgpd)
            .arg("-f")
            .arg(&conf_path)
            .args(["-t", "toml", "--pprof-disable", "--api-hosts"])
            .arg(SocketAddr::new(api_host, api_port).to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start gobgpd");
        let g = GoBgp {
            child,
            gobgp,
            address,
            asn,
            bgp_port,
            api_host,
            api_port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while g.try_cli(&["global"]).is_err() {
            assert!(
                Instant::now() < deadline,
                "gobgpd API did not come up:\n{}",
                g.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        g
    }

    /// Kills gobgpd at once (SIGKILL): its sessions end by TCP termination,
    /// without a NOTIFICATION, as when a peer's BGP process restarts.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gobgpd.log")).unwrap_or_default()
    }

    pub fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.gobgp)
            .args([
                "-u",
                &self.api_host.to_string(),
                "-p",
                &self.api_port.to_string(),
            ])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|e| panic!("gobgp {args:?} failed: {e}\n{}", self.log()))
    }

    /// `gobgp -j neighbor ADDR` as raw JSON text.
    pub fn neighbor_json(&self, peer: IpAddr) -> String {
        self.cli(&["-j", "neighbor", &peer.to_string()])
    }

    /// `state.messages.<dir>.<key>` of a neighbour (protobuf JSON omits zeros).
    pub fn message_count(&self, peer: IpAddr, direction: &str, key: &str) -> u64 {
        let j = self.neighbor_json(peer);
        let messages = json_object(&j, "messages").unwrap_or_default();
        json_object(messages, direction)
            .and_then(|o| json_u64(o, key))
            .unwrap_or(0)
    }

    /// `session_state` 6 is Established.
    pub fn established(&self, peer: IpAddr) -> bool {
        json_u64(&self.neighbor_json(peer), "session_state") == Some(6)
    }

    /// `timers.state.uptime.seconds`: when the session came up (0 if down).
    pub fn uptime_since(&self, peer: IpAddr) -> u64 {
        let j = self.neighbor_json(peer);
        json_object(&j, "uptime")
            .and_then(|o| json_u64(o, "seconds"))
            .unwrap_or(0)
    }

    /// The capabilities of the session with `peer` as GoBGP's JSON array
    /// text: `"remote_cap"` (what the peer advertised) or `"local_cap"`
    /// (what GoBGP advertised), e.g. containing `ExtendedNexthopCapability`.
    pub fn capabilities(&self, peer: IpAddr, which: &str) -> String {
        json_array(&self.neighbor_json(peer), which)
            .unwrap_or_default()
            .to_string()
    }

    /// The `gobgp -j global rib -a rtc` entries of one RTC prefix
    /// (`"ORIGIN-AS:RT"`, e.g. `"65000:65000:100"`) as JSON array text.
    pub fn rtc_paths(&self, prefix: &str) -> String {
        json_array(&self.rtc_rib(), prefix)
            .unwrap_or_default()
            .to_string()
    }

    /// Originates an RTC route for `rt` via a VRF importing/exporting it.
    pub fn add_vrf(&self, name: &str, rd: &str, rt: &str) {
        self.cli(&["vrf", "add", name, "rd", rd, "rt", "both", rt]);
    }

    /// `gobgp -j global rib -a rtc`.
    pub fn rtc_rib(&self) -> String {
        self.cli(&["-j", "global", "rib", "-a", "rtc"])
    }

    pub fn wait_until(&self, what: &str, mut f: impl FnMut(&GoBgp) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for GoBgp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `{...}` value of the first `"key":{` in `json` (braces balanced;
/// GoBGP's JSON has no braces inside strings where we look).
pub fn json_object<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":{{");
    let start = json.find(&pat)? + pat.len() - 1;
    let mut depth = 0usize;
    for (i, c) in json[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&json[start..=start + i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The `[...]` value of the first `"key":[` in `json` (brackets balanced).
pub fn json_array<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":[");
    let start = json.find(&pat)? + pat.len() - 1;
    let mut depth = 0usize;
    for (i, c) in json[start..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&json[start..=start + i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The unsigned number after the first `"key":` in `json`.
pub fn json_u64(json: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\":");
    let rest = &json[json.find(&pat)? + pat.len()..];
    let rest = rest.trim_start_matches('"');
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
