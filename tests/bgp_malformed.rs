//! Malformed BGP input: a raw-TCP client sends bytes to the engine's
//! listener and checks the NOTIFICATION code/subcode it gets back, that the
//! connection is closed, and that the engine and a bystander peer carry on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ncagent::bgp::{BgpConfig, BgpHandle, Engine, PeerConfig, SessionState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

const ENGINE_AS: u32 = 65000;
const PEER_AS: u16 = 65001;
const BYSTANDER: &str = "127.0.0.21";
const CLIENT: &str = "127.0.0.22";
const IO_TIMEOUT: Duration = Duration::from_secs(8);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// marker, length, type, body (RFC 4271 §4.1).
fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    m.push(ty);
    m.extend_from_slice(body);
    m
}

/// Capabilities optional parameter (RFC 5492): MP 1/132, RR, ERR, 4-octet AS.
fn caps(asn: u32) -> Vec<u8> {
    let mut c = vec![1, 4, 0, 1, 0, 132, 2, 0, 70, 0, 65, 4];
    c.extend_from_slice(&asn.to_be_bytes());
    let mut p = vec![2, u8::try_from(c.len()).unwrap()];
    p.extend(c);
    p
}

fn open_with(version: u8, asn: u16, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&asn.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(u8::try_from(params.len()).unwrap());
    b.extend_from_slice(params);
    msg(1, &b)
}

fn good_open(hold: u16) -> Vec<u8> {
    open_with(4, PEER_AS, hold, [2, 2, 2, 2], &caps(u32::from(PEER_AS)))
}

/// UPDATE whose only NLRI is MP_REACH_NLRI for AFI 1 / SAFI 132 (RFC 4684 §4).
fn rtc_update(nlri: &[u8]) -> Vec<u8> {
    let mut mp = vec![0, 1, 132, 4, 127, 0, 0, 22, 0];
    mp.extend_from_slice(nlri);
    let mut attrs = vec![0x40, 1, 1, 0]; // ORIGIN IGP
    attrs.extend_from_slice(&[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9]); // AS_PATH 65001
    attrs.extend_from_slice(&[0x80, 14, u8::try_from(mp.len()).unwrap()]);
    attrs.extend(mp);
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    body.extend(attrs);
    msg(2, &body)
}

struct Lab {
    engine: BgpHandle,
    port: u16,
    bystander: TcpStream,
    stop: CancellationToken,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn connect_from(src: &str, port: u16) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(ip(src), 0)).unwrap();
    sock.connect(SocketAddr::new(ip("127.0.0.1"), port))
        .await
        .unwrap()
}

/// Reads one message: (type, body).
async fn read_msg(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 19];
    tokio::time::timeout(IO_TIMEOUT, s.read_exact(&mut h))
        .await
        .ok()?
        .ok()?;
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let mut body = vec![0u8; len.checked_sub(19)?];
    tokio::time::timeout(IO_TIMEOUT, s.read_exact(&mut body))
        .await
        .ok()?
        .ok()?;
    Some((h[18], body))
}

/// Skips OPEN/UPDATE/KEEPALIVE until a NOTIFICATION; then the engine must close.
async fn expect_notification(s: &mut TcpStream) -> (u8, u8) {
    loop {
        let (ty, body) = read_msg(s)
            .await
            .expect("connection ended without a NOTIFICATION");
        if ty == 3 {
            let mut rest = Vec::new();
            let closed = tokio::time::timeout(IO_TIMEOUT, s.read_to_end(&mut rest)).await;
            assert!(
                closed.is_ok(),
                "engine did not close the connection after its NOTIFICATION"
            );
            return (body[0], body[1]);
        }
    }
}

/// OPEN, KEEPALIVE both ways: the client is Established.
async fn establish(s: &mut TcpStream, hold: u16) {
    s.write_all(&good_open(hold)).await.unwrap();
    let (ty, _) = read_msg(s).await.unwrap();
    assert_eq!(ty, 1, "engine's OPEN");
    let (ty, _) = read_msg(s).await.unwrap();
    assert_eq!(ty, 4, "engine's KEEPALIVE");
    s.write_all(&msg(4, &[])).await.unwrap();
}

async fn wait_state(h: &BgpHandle, peer: &str, want: impl Fn(SessionState) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = h.snapshot().await.unwrap().peer(ip(peer)).unwrap().state;
        if want(st) {
            return;
        }
        assert!(Instant::now() < deadline, "peer {peer} stuck in {st}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn lab() -> Lab {
    let stop = CancellationToken::new();
    let mut c = BgpConfig::new(ENGINE_AS, Ipv4Addr::new(1, 1, 1, 1));
    c.listen = Some("127.0.0.1:0".parse().unwrap());
    c.route_targets = vec!["65000:100".into()];
    for a in [BYSTANDER, CLIENT] {
        let mut p = PeerConfig::new(ip(a), u32::from(PEER_AS));
        p.passive = true;
        c.peers.push(p);
    }
    let (engine, _) = Engine::start(c, stop.clone()).await.unwrap();
    let port = engine.listen_addr().unwrap().port();
    // Hold time 0: no keepalives needed to keep the bystander up.
    let mut bystander = connect_from(BYSTANDER, port).await;
    establish(&mut bystander, 0).await;
    wait_state(&engine, BYSTANDER, |s| s == SessionState::Established).await;
    Lab {
        engine,
        port,
        bystander,
        stop,
    }
}

impl Lab {
    /// After the case: the bad session is down, the engine answers, the
    /// bystander is still Established and its socket still open.
    async fn check_unaffected(self) {
        wait_state(&self.engine, CLIENT, |s| {
            s != SessionState::Established && s != SessionState::OpenConfirm
        })
        .await;
        let snap = self.engine.snapshot().await.unwrap();
        assert_eq!(
            snap.peer(ip(BYSTANDER)).unwrap().state,
            SessionState::Established
        );
        let mut buf = [0u8; 1];
        let r =
            tokio::time::timeout(Duration::from_millis(50), self.bystander.peek(&mut buf)).await;
        assert!(!matches!(r, Ok(Ok(0))), "bystander connection closed");
    }
}

/// Sends `bytes` as the very first message (before any OPEN).
async fn first_message(bytes: Vec<u8>, want: (u8, u8)) {
    let lab = lab().await;
    let mut s = connect_from(CLIENT, lab.port).await;
    s.write_all(&bytes).await.unwrap();
    assert_eq!(expect_notification(&mut s).await, want);
    lab.check_unaffected().await;
}

/// Establishes the session first, then sends `bytes`.
async fn established_then(bytes: Vec<u8>, want: (u8, u8)) {
    let lab = lab().await;
    let mut s = connect_from(CLIENT, lab.port).await;
    establish(&mut s, 0).await;
    wait_state(&lab.engine, CLIENT, |st| st == SessionState::Established).await;
    s.write_all(&bytes).await.unwrap();
    assert_eq!(expect_notification(&mut s).await, want);
    lab.check_unaffected().await;
}

// RFC 4271 §6.1: marker not all ones -> Connection Not Synchronized.
#[tokio::test]
async fn bad_marker_is_connection_not_synchronized() {
    let mut m = good_open(90);
    m[3] = 0;
    first_message(m, (1, 1)).await;
}

// RFC 4271 §6.1: Length < 19 -> Bad Message Length.
#[tokio::test]
async fn length_below_header_is_bad_message_length() {
    let mut m = msg(4, &[]);
    m[17] = 18;
    first_message(m, (1, 2)).await;
}

// RFC 4271 §6.1: Length > 4096 -> Bad Message Length.
#[tokio::test]
async fn length_above_4096_is_bad_message_length() {
    let mut m = msg(2, &[0, 0, 0, 0]);
    m[16..18].copy_from_slice(&4097u16.to_be_bytes());
    first_message(m, (1, 2)).await;
}

// RFC 4271 §6.1: KEEPALIVE must be exactly 19 octets.
#[tokio::test]
async fn long_keepalive_is_bad_message_length() {
    established_then(msg(4, &[0]), (1, 2)).await;
}

// RFC 4271 §6.1: NOTIFICATION shorter than 21 octets.
#[tokio::test]
async fn short_notification_is_bad_message_length() {
    first_message(msg(3, &[6]), (1, 2)).await;
}

// RFC 4271 §6.1: unknown type -> Bad Message Type.
#[tokio::test]
async fn unknown_type_is_bad_message_type() {
    first_message(msg(9, &[]), (1, 3)).await;
}

// RFC 4271 §6.2: version other than 4 -> Unsupported Version Number.
#[tokio::test]
async fn open_version_3_is_unsupported_version() {
    first_message(
        open_with(3, PEER_AS, 90, [2, 2, 2, 2], &caps(65001)),
        (2, 1),
    )
    .await;
}

// RFC 4271 §6.2: AS other than configured -> Bad Peer AS.
#[tokio::test]
async fn open_wrong_as_is_bad_peer_as() {
    first_message(open_with(4, 65099, 90, [2, 2, 2, 2], &caps(65099)), (2, 2)).await;
}

// RFC 6286 §2.2: identifier 0 -> Bad BGP Identifier.
#[tokio::test]
async fn open_zero_identifier_is_bad_bgp_identifier() {
    first_message(
        open_with(4, PEER_AS, 90, [0, 0, 0, 0], &caps(65001)),
        (2, 3),
    )
    .await;
}

// RFC 4271 §6.2: Hold Time 1 or 2 -> Unacceptable Hold Time.
#[tokio::test]
async fn open_hold_time_1_is_unacceptable_hold_time() {
    first_message(good_open(1), (2, 6)).await;
}

// RFC 4271 §6.2 / RFC 5492 §3: optional parameter type other than 2.
#[tokio::test]
async fn open_unknown_optional_parameter_is_unsupported() {
    first_message(open_with(4, PEER_AS, 90, [2, 2, 2, 2], &[1, 1, 0]), (2, 4)).await;
}

// RFC 4271 §6.2: a recognized but malformed optional parameter -> subcode 0.
// Here the 4-octet-AS capability claims 4 octets but the parameter ends after 2.
#[tokio::test]
async fn open_truncated_capability_is_unspecific_open_error() {
    first_message(
        open_with(4, PEER_AS, 90, [2, 2, 2, 2], &[2, 4, 65, 4, 0, 0]),
        (2, 0),
    )
    .await;
}

// RFC 4271 §8.2.2 / RFC 6608: UPDATE in OpenSent -> FSM error, subcode 1.
#[tokio::test]
async fn update_before_open_is_fsm_error_in_opensent() {
    first_message(rtc_update(&[]), (5, 1)).await;
}

// RFC 6608: OPEN in Established -> FSM error, subcode 3.
#[tokio::test]
async fn open_in_established_is_fsm_error() {
    established_then(good_open(90), (5, 3)).await;
}

// RFC 4684 §4: RTC prefix length must be 0 or 32..=96. RFC 7606 §7.11: a
// malformed MP_REACH_NLRI resets the session, with RFC 4760 §7's
// "UPDATE Message Error / Optional Attribute Error".
#[tokio::test]
async fn rtc_prefix_length_20_is_optional_attribute_error() {
    established_then(rtc_update(&[20, 0, 0, 0xfd]), (3, 9)).await;
}

// RFC 4271 §6.3: withdrawn routes length beyond the message -> Malformed Attribute List.
#[tokio::test]
async fn withdrawn_length_overflow_is_malformed_attribute_list() {
    established_then(msg(2, &[0, 50, 0, 0]), (3, 1)).await;
}

// RFC 7606 §3 (g): two MP_REACH_NLRI attributes -> Malformed Attribute List.
#[tokio::test]
async fn duplicate_mp_reach_is_malformed_attribute_list() {
    let mp = [0x80, 14, 9, 0, 1, 132, 4, 127, 0, 0, 22, 0];
    let mut attrs = vec![0x40, 1, 1, 0];
    attrs.extend_from_slice(&mp);
    attrs.extend_from_slice(&mp);
    let mut body = vec![0, 0, 0, u8::try_from(attrs.len()).unwrap()];
    body.extend(attrs);
    established_then(msg(2, &body), (3, 1)).await;
}

// RFC 7313 §5: BoRR whose body is not 4 octets -> ROUTE-REFRESH error, Invalid Message Length.
#[tokio::test]
async fn long_borr_is_invalid_route_refresh_length() {
    established_then(msg(5, &[0, 1, 1, 132, 0]), (7, 1)).await;
}

// RFC 7313 §5 names only subtypes 1 and 2: a long BoRR on a session without
// enhanced route refresh is no error. Without it the third octet is RFC 2918
// §3's Reserved field, "ignored by the receiver": the message is a plain
// ROUTE-REFRESH, and anything after the 4 octets could only be ORF entries
// (RFC 5291), never negotiated here, so it is ignored. The engine answers
// by re-advertising its Adj-RIB-Out and the session stays up.
#[tokio::test]
async fn long_route_refresh_without_err_is_answered() {
    route_refresh_is_answered(false, msg(5, &[0, 1, 0, 132, 0])).await;
}

#[tokio::test]
async fn borr_without_err_is_a_plain_route_refresh() {
    route_refresh_is_answered(false, msg(5, &[0, 1, 1, 132])).await;
    route_refresh_is_answered(false, msg(5, &[0, 1, 1, 132, 0, 0])).await;
}

// RFC 7313 §5: the length rule is for BoRR and EoRR; a long subtype-0
// request on a session with enhanced route refresh is answered like a
// 4-octet one (its trailing octets could only be ORF entries).
#[tokio::test]
async fn long_plain_route_refresh_with_err_is_answered() {
    route_refresh_is_answered(true, msg(5, &[0, 1, 0, 132, 0])).await;
}

// RFC 7313 §5: the same for EoRR as for BoRR.
#[tokio::test]
async fn long_eorr_is_invalid_route_refresh_length() {
    established_then(msg(5, &[0, 1, 2, 132, 0, 0, 0]), (7, 1)).await;
}

/// Establishes a session (with or without enhanced route refresh in the
/// client's OPEN), sends `rr` and checks that the engine answers it with
/// its Adj-RIB-Out (an UPDATE), counts it, sends no NOTIFICATION and stays
/// Established.
async fn route_refresh_is_answered(err: bool, rr: Vec<u8>) {
    let lab = lab().await;
    let mut s = connect_from(CLIENT, lab.port).await;
    let params = if err {
        caps(u32::from(PEER_AS))
    } else {
        // MP 1/132, route refresh, 4-octet AS: no enhanced route refresh (70).
        let mut c = vec![1, 4, 0, 1, 0, 132, 2, 0, 65, 4];
        c.extend_from_slice(&u32::from(PEER_AS).to_be_bytes());
        let mut p = vec![2, u8::try_from(c.len()).unwrap()];
        p.extend(c);
        p
    };
    s.write_all(&open_with(4, PEER_AS, 0, [2, 2, 2, 2], &params))
        .await
        .unwrap();
    s.write_all(&msg(4, &[])).await.unwrap();
    // The engine's OPEN, KEEPALIVE, initial UPDATE (65000:100) and the
    // End-of-RIB marker that follows it (RFC 4684 §6).
    next_update(&mut s).await;
    next_update(&mut s).await;
    let p = lab.engine.snapshot().await.unwrap();
    let p = p.peer(ip(CLIENT)).unwrap();
    assert_eq!(p.state, SessionState::Established);
    assert_eq!(p.negotiated.enhanced_route_refresh, err);
    assert_eq!(p.route_refresh_received, 0);

    s.write_all(&rr).await.unwrap();
    next_update(&mut s).await;
    let p = lab.engine.snapshot().await.unwrap();
    let p = p.peer(ip(CLIENT)).unwrap();
    assert_eq!(p.state, SessionState::Established);
    assert_eq!(p.route_refresh_received, 1);
}

/// Reads until an UPDATE; a NOTIFICATION or the end of the connection fails.
async fn next_update(s: &mut TcpStream) {
    loop {
        let (ty, body) = read_msg(s)
            .await
            .expect("connection ended (or stalled) before an UPDATE");
        assert_ne!(ty, 3, "NOTIFICATION {body:?}");
        if ty == 2 {
            return;
        }
    }
}

// RFC 4271 §6.5: nothing received within the hold time -> Hold Timer Expired.
#[tokio::test]
async fn silence_is_hold_timer_expired() {
    let lab = lab().await;
    let mut s = connect_from(CLIENT, lab.port).await;
    establish(&mut s, 3).await;
    let t = Instant::now();
    assert_eq!(expect_notification(&mut s).await, (4, 0));
    assert!(
        t.elapsed() >= Duration::from_secs(2),
        "hold timer fired early"
    );
    lab.check_unaffected().await;
}

// RFC 4486 §4: a connection from an unconfigured address -> Cease, Connection Rejected.
#[tokio::test]
async fn unconfigured_source_is_rejected_with_cease() {
    let lab = lab().await;
    let mut s = connect_from("127.0.0.23", lab.port).await;
    assert_eq!(expect_notification(&mut s).await, (6, 5));
    lab.check_unaffected().await;
}

// RFC 4486 §4: shutdown sends Cease, Administrative Shutdown; the task ends.
#[tokio::test]
async fn shutdown_sends_administrative_shutdown() {
    let mut lab = lab().await;
    lab.stop.cancel();
    assert_eq!(expect_notification(&mut lab.bystander).await, (6, 2));
    let deadline = Instant::now() + Duration::from_secs(5);
    while lab.engine.snapshot().await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "engine still answering after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
