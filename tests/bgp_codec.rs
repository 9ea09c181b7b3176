//! Golden bytes for every message the speaker builds, written out by hand
//! from the RFC layouts, and decoded back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};

use ncagent::bgp::Negotiated;
use ncagent::bgp::codec::{self, OpenParams, UpdateContext};
use rustbgpd_wire::{Message, RouteRefreshSubtype, RtcNlri};

/// RFC 4360 §3.1: 2-octet-AS Route Target 65000:100 (type 00, sub-type 02).
const RT_65000_100: u64 = 0x0002_fde8_0000_0064;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const MARKER: &str = "ffffffffffffffffffffffffffffffff";

fn ebgp() -> UpdateContext {
    UpdateContext {
        local_as: 65000,
        internal: false,
        four_octet_as: true,
        next_hop: "127.0.0.1".parse().unwrap(),
    }
}

#[test]
fn open_carries_the_five_capabilities() {
    let b = codec::encode_open(&OpenParams {
        local_as: 65000,
        hold_time: 90,
        router_id: "1.1.1.1".parse().unwrap(),
        rtc: true,
        route_refresh: true,
        enhanced_route_refresh: true,
        extended_next_hop: false,
        graceful_restart: true,
    })
    .unwrap();
    // RFC 4271 §4.2 OPEN; RFC 5492 capabilities parameter (type 2) holding
    // RFC 4760 MP 1/132, RFC 2918 RR (2), RFC 7313 ERR (70), RFC 4724 §3
    // Graceful Restart (64: length 2, R and N bits clear, Restart Time 120
    // = 0x078, no <AFI, SAFI>), RFC 6793 AS4 (65).
    let want = hex(&format!(
        "{MARKER} 0033 01  04 fde8 005a 01010101 16
         02 14  01 04 0001 00 84  02 00  46 00  40 02 0078  41 04 0000fde8"
    ));
    assert_eq!(b.as_ref(), want.as_slice());
    let Ok(Message::Open(o)) = codec::decode(b) else {
        panic!()
    };
    assert_eq!(o.four_byte_as(), 65000);
    assert!(
        o.capabilities
            .contains(&rustbgpd_wire::Capability::GracefulRestart {
                restart_state: false,
                notification: false,
                restart_time: 120,
                families: vec![],
            })
    );

    // graceful_restart_helper = false: the same OPEN without capability 64.
    let b = codec::encode_open(&OpenParams {
        local_as: 65000,
        hold_time: 90,
        router_id: "1.1.1.1".parse().unwrap(),
        rtc: true,
        route_refresh: true,
        enhanced_route_refresh: true,
        extended_next_hop: false,
        graceful_restart: false,
    })
    .unwrap();
    let want = hex(&format!(
        "{MARKER} 002f 01  04 fde8 005a 01010101 12
         02 10  01 04 0001 00 84  02 00  46 00  41 04 0000fde8"
    ));
    assert_eq!(b.as_ref(), want.as_slice());
}

#[test]
fn open_with_a_4_octet_as_sends_as_trans() {
    let b = codec::encode_open(&OpenParams {
        local_as: 4_200_000_000,
        hold_time: 0,
        router_id: "1.1.1.1".parse().unwrap(),
        rtc: true,
        route_refresh: false,
        enhanced_route_refresh: false,
        extended_next_hop: false,
        graceful_restart: false,
    })
    .unwrap();
    // RFC 6793 §9: My AS = AS_TRANS (23456 = 0x5ba0); real AS in the capability.
    let want = hex(&format!(
        "{MARKER} 002b 01  04 5ba0 0000 01010101 0e
         02 0c  01 04 0001 00 84  41 04 fa56ea00"
    ));
    assert_eq!(b.as_ref(), want.as_slice());
}

#[test]
fn update_announces_full_partial_and_default_rtc_routes() {
    let routes = [
        RtcNlri::new(65000, RT_65000_100, 96).unwrap(),
        RtcNlri::new(65000, RT_65000_100, 48).unwrap(),
        RtcNlri::DEFAULT,
    ];
    let frames = codec::encode_rtc_updates(&ebgp(), &routes, &[]).unwrap();
    assert_eq!(frames.len(), 1);
    // RFC 4271 §4.3 UPDATE: no withdrawn routes, attributes ORIGIN IGP,
    // AS_PATH (AS_SEQUENCE 65000, 4-octet), MP_REACH_NLRI (RFC 4760 §3):
    // AFI 1, SAFI 132, next hop 127.0.0.1, reserved, then RFC 4684 §4 NLRI:
    // /96 = len 0x60 + origin AS + RT; /48 = len 0x30 + 6 octets; default = 00.
    let want = hex(&format!(
        "{MARKER} 0045 02  0000  002e
         40 01 01 00
         40 02 06 02 01 0000fde8
         80 0e 1e 0001 84 04 7f000001 00
           60 0000fde8 0002fde800000064
           30 0000fde8 0002
           00"
    ));
    assert_eq!(frames[0].as_ref(), want.as_slice());

    let Ok(Message::Update(u)) = codec::decode(frames[0].clone()) else {
        panic!()
    };
    let mut peer = ebgp();
    peer.local_as = 65001;
    let parsed = codec::parse_rtc_update(&peer, &u).unwrap();
    assert_eq!(parsed.announced, routes.to_vec());
    assert!(parsed.withdrawn.is_empty() && parsed.treated_as_withdraw.is_none());
}

#[test]
fn ibgp_update_has_empty_as_path_and_local_pref() {
    let ctx = UpdateContext {
        internal: true,
        ..ebgp()
    };
    let frames =
        codec::encode_rtc_updates(&ctx, &[RtcNlri::new(65000, RT_65000_100, 96).unwrap()], &[])
            .unwrap();
    // RFC 4271 §5.1.2: empty AS_PATH towards internal peers; §5.1.5 LOCAL_PREF.
    let want = hex(&format!(
        "{MARKER} 003e 02  0000  0027
         40 01 01 00
         40 02 00
         40 05 04 00000064
         80 0e 16 0001 84 04 7f000001 00  60 0000fde8 0002fde800000064"
    ));
    assert_eq!(frames[0].as_ref(), want.as_slice());
}

#[test]
fn update_withdraws_with_mp_unreach() {
    let frames = codec::encode_rtc_updates(&ebgp(), &[], &[RtcNlri::DEFAULT]).unwrap();
    // RFC 4760 §4 MP_UNREACH_NLRI: AFI 1, SAFI 132, default RT (one 00 octet).
    let want = hex(&format!("{MARKER} 001e 02  0000 0007  80 0f 04 0001 84 00"));
    assert_eq!(frames[0].as_ref(), want.as_slice());

    let full = RtcNlri::new(65000, RT_65000_100, 96).unwrap();
    let frames = codec::encode_rtc_updates(&ebgp(), &[], &[full]).unwrap();
    let want = hex(&format!(
        "{MARKER} 002a 02  0000 0013  80 0f 10 0001 84  60 0000fde8 0002fde800000064"
    ));
    assert_eq!(frames[0].as_ref(), want.as_slice());
    let Ok(Message::Update(u)) = codec::decode(frames[0].clone()) else {
        panic!()
    };
    assert_eq!(
        codec::parse_rtc_update(&ebgp(), &u).unwrap().withdrawn,
        vec![full]
    );
}

#[test]
fn route_refresh_subtypes_are_23_octets() {
    // RFC 2918 §3 / RFC 7313 §3: AFI 0001, subtype (0 normal, 1 BoRR, 2 EoRR), SAFI 84.
    for (st, byte) in [
        (RouteRefreshSubtype::Normal, "00"),
        (RouteRefreshSubtype::BoRR, "01"),
        (RouteRefreshSubtype::EoRR, "02"),
    ] {
        let b = codec::encode_route_refresh(st).unwrap();
        assert_eq!(
            b.as_ref(),
            hex(&format!("{MARKER} 0017 05 0001 {byte} 84")).as_slice()
        );
        // The subtype is read on a session with enhanced route refresh.
        let Ok(Message::RouteRefresh(rr)) = codec::decode_with(b, &with_err()) else {
            panic!()
        };
        assert_eq!(rr.subtype(), st);
    }
}

#[test]
fn keepalive_and_notification() {
    assert_eq!(
        codec::encode_keepalive().as_ref(),
        hex(&format!("{MARKER} 0013 04")).as_slice()
    );
    // RFC 4486 §4: Cease (6), Administrative Shutdown (2).
    let n = codec::encode_notification(&codec::Notify::new(6, 2)).unwrap();
    assert_eq!(
        n.as_ref(),
        hex(&format!("{MARKER} 0015 03 06 02")).as_slice()
    );
}

#[test]
fn large_adj_rib_out_is_split_under_4096_octets() {
    let routes: Vec<RtcNlri> = (0..1000u64)
        .map(|i| RtcNlri::new(65000, 0x0002_fde8_0000_0000 | i, 96).unwrap())
        .collect();
    let frames = codec::encode_rtc_updates(&ebgp(), &routes, &[]).unwrap();
    assert!(frames.len() > 1);
    assert!(frames.iter().all(|f| f.len() <= 4096));
    let mut back = Vec::new();
    for f in frames {
        let Ok(Message::Update(u)) = codec::decode(f) else {
            panic!()
        };
        let mut peer = ebgp();
        peer.local_as = 1;
        back.extend(codec::parse_rtc_update(&peer, &u).unwrap().announced);
    }
    assert_eq!(back, routes);
}

fn with_err() -> Negotiated {
    Negotiated {
        route_refresh: true,
        enhanced_route_refresh: true,
        rtc: true,
        ..Negotiated::default()
    }
}

fn plain_rr(m: Result<Message, codec::Notify>) -> (u16, u8, RouteRefreshSubtype) {
    let Ok(Message::RouteRefresh(rr)) = m else {
        panic!("not a ROUTE-REFRESH: {m:?}")
    };
    assert!(rr.orf.is_none(), "{rr:?}");
    (rr.afi_raw, rr.safi_raw, rr.subtype())
}

#[test]
fn route_refresh_length_rule_needs_enhanced_route_refresh() {
    let long_normal = hex(&format!("{MARKER} 0018 05 0001 00 84 00"));
    let long_borr = hex(&format!("{MARKER} 0018 05 0001 01 84 00"));
    let long_eorr = hex(&format!("{MARKER} 001a 05 0001 02 84 000000"));
    let borr = hex(&format!("{MARKER} 0017 05 0001 01 84"));
    let rr = |b: &[u8]| bytes::Bytes::copy_from_slice(b);
    let normal = (1, 132, RouteRefreshSubtype::Normal);

    // Without enhanced route refresh (RFC 2918 §3): the third octet is
    // Reserved and ignored, octets after the fourth (no ORF negotiated,
    // RFC 5291) are ignored: every one of these is a plain request.
    for m in [&long_normal, &long_borr, &long_eorr, &borr] {
        assert_eq!(plain_rr(codec::decode(rr(m))), normal);
        assert_eq!(
            plain_rr(codec::decode_with(rr(m), &Negotiated::default())),
            normal
        );
    }

    // With it (RFC 7313 §5): BoRR/EoRR longer than 4 octets is
    // ROUTE-REFRESH Message Error / Invalid Message Length, the data being
    // the complete message; subtype 0 is not covered by that rule.
    for m in [&long_borr, &long_eorr] {
        let e = codec::decode_with(rr(m), &with_err()).unwrap_err();
        assert_eq!((e.code, e.subcode), (7, 1));
        assert_eq!(e.data.as_ref(), m.as_slice());
    }
    assert_eq!(
        plain_rr(codec::decode_with(rr(&long_normal), &with_err())),
        normal
    );
    assert_eq!(
        plain_rr(codec::decode_with(rr(&borr), &with_err())),
        (1, 132, RouteRefreshSubtype::BoRR)
    );
}

/// RFC 6793 §4.2.2: towards a peer that did not advertise the 4-octet AS
/// capability, a 4-octet local AS goes in AS_PATH as AS_TRANS (23456) with
/// the real path in AS4_PATH (optional transitive, type 17, 4-octet ASNs).
#[test]
fn four_octet_local_as_to_a_two_octet_peer_uses_as_trans_and_as4_path() {
    let ctx = UpdateContext {
        local_as: 4_200_000_000,
        four_octet_as: false,
        ..ebgp()
    };
    let route = RtcNlri::new(4_200_000_000, RT_65000_100, 96).unwrap();
    let frames = codec::encode_rtc_updates(&ctx, &[route], &[]).unwrap();
    let want = hex(&format!(
        "{MARKER} 0044 02  0000  002d
         40 01 01 00
         40 02 04 02 01 5ba0
         c0 11 06 02 01 fa56ea00
         80 0e 16 0001 84 04 7f000001 00  60 fa56ea00 0002fde800000064"
    ));
    assert_eq!(frames[0].as_ref(), want.as_slice());

    // The 2-octet peer (AS 65001) reads it back: RFC 6793 §4.2.3 rebuilds
    // the path from AS_PATH + AS4_PATH.
    let Ok(Message::Update(u)) = codec::decode(frames[0].clone()) else {
        panic!()
    };
    let peer = UpdateContext {
        local_as: 65001,
        four_octet_as: false,
        ..ebgp()
    };
    assert_eq!(
        codec::parse_rtc_update(&peer, &u).unwrap().announced,
        vec![route]
    );
    // iBGP: the AS_PATH is empty, so there is nothing for AS4_PATH to carry.
    let ibgp = UpdateContext {
        internal: true,
        ..ctx
    };
    let frames = codec::encode_rtc_updates(&ibgp, &[route], &[]).unwrap();
    assert!(!frames[0].windows(2).any(|w| w == [0xc0, 0x11]));
}

/// RFC 6793 §4.2.3 on receipt from a 2-octet peer: our 4-octet AS is in
/// AS4_PATH only (AS_PATH shows AS_TRANS), and the AS-loop check (RFC 4271
/// §9.1.2) must see it in the rebuilt path.
#[test]
fn as_loop_through_as4_path_from_a_two_octet_peer_is_treated_as_withdraw() {
    let us = UpdateContext {
        local_as: 4_200_000_000,
        four_octet_as: false,
        ..ebgp()
    };
    let route = RtcNlri::new(65001, RT_65000_100, 96).unwrap();
    // AS_PATH (2-octet) [65001, 23456], AS4_PATH [4200000000]: rebuilt as
    // [65001, 4200000000].
    let with_as4 = hex(&format!(
        "{MARKER} 0046 02  0000  002f
         40 01 01 00
         40 02 06 02 02 fde9 5ba0
         c0 11 06 02 01 fa56ea00
         80 0e 16 0001 84 04 0a000002 00  60 0000fde9 0002fde800000064"
    ));
    let Ok(Message::Update(u)) = codec::decode(bytes::Bytes::from(with_as4)) else {
        panic!()
    };
    let r = codec::parse_rtc_update(&us, &u).unwrap();
    assert!(r.announced.is_empty(), "{r:?}");
    assert_eq!(r.withdrawn, vec![route]);
    assert_eq!(
        r.treated_as_withdraw.as_deref(),
        Some("AS_PATH contains the local AS")
    );

    // Without AS4_PATH the same AS_PATH holds no loop we could see.
    let without = hex(&format!(
        "{MARKER} 003d 02  0000  0026
         40 01 01 00
         40 02 06 02 02 fde9 5ba0
         80 0e 16 0001 84 04 0a000002 00  60 0000fde9 0002fde800000064"
    ));
    let Ok(Message::Update(u)) = codec::decode(bytes::Bytes::from(without)) else {
        panic!()
    };
    assert_eq!(
        codec::parse_rtc_update(&us, &u).unwrap().announced,
        vec![route]
    );
}

/// RFC 8950 §3 on an IPv6 session: capability 5, length 6, one tuple
/// <NLRI AFI 1, NLRI SAFI 132 (2 octets), next-hop AFI 2>, after the
/// multiprotocol capability it qualifies.
#[test]
fn open_on_an_ipv6_session_offers_extended_next_hop_for_rtc() {
    let b = codec::encode_open(&OpenParams {
        local_as: 65000,
        hold_time: 90,
        router_id: "1.1.1.1".parse().unwrap(),
        rtc: true,
        route_refresh: true,
        enhanced_route_refresh: true,
        extended_next_hop: true,
        graceful_restart: false,
    })
    .unwrap();
    let want = hex(&format!(
        "{MARKER} 0037 01  04 fde8 005a 01010101 1a
         02 18  01 04 0001 00 84  05 06 0001 0084 0002  02 00  46 00  41 04 0000fde8"
    ));
    assert_eq!(b.as_ref(), want.as_slice());
    // Without the family there is nothing to qualify: no capability 5.
    let b = codec::encode_open(&OpenParams {
        local_as: 65000,
        hold_time: 90,
        router_id: "1.1.1.1".parse().unwrap(),
        rtc: false,
        route_refresh: false,
        enhanced_route_refresh: false,
        extended_next_hop: true,
        graceful_restart: false,
    })
    .unwrap();
    let want = hex(&format!(
        "{MARKER} 0025 01  04 fde8 005a 01010101 08  02 06  41 04 0000fde8"
    ));
    assert_eq!(b.as_ref(), want.as_slice());
}

fn mp_reach_next_hop(ctx: &UpdateContext) -> Vec<u8> {
    let route = RtcNlri::new(65000, RT_65000_100, 96).unwrap();
    let f = codec::encode_rtc_updates(ctx, &[route], &[]).unwrap();
    // ORIGIN (4) and AS_PATH (9) come first; then MP_REACH_NLRI: flags,
    // type, length, AFI, SAFI, next-hop length, next hop.
    let mp = &f[0][19 + 4 + 4 + 9..];
    assert_eq!(mp[..6], [0x80, 0x0e, mp[2], 0, 1, 132]);
    let len = usize::from(mp[6]);
    mp[7..7 + len].to_vec()
}

/// RFC 4684 §4 allows a 4- or a 16-octet next hop for RTC; RFC 8950 §3 is
/// how a peer says it takes an IPv6 next hop for an AFI 1 family. We send
/// the 16-octet session address only when both sides advertised
/// <1, 132, 2>, and else our router id (docs/bgp.md "IPv6 sessions").
#[test]
fn next_hop_on_ipv6_sessions_follows_extended_next_hop() {
    let router_id = Ipv4Addr::new(10, 255, 0, 1);
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    let enh = Negotiated {
        rtc: true,
        four_octet_as: true,
        extended_next_hop: true,
        ..Negotiated::default()
    };
    let plain = Negotiated {
        extended_next_hop: false,
        ..enh
    };
    let ctx = |n: &Negotiated, local: IpAddr| {
        UpdateContext::for_session(65000, false, n, local, router_id)
    };

    let c = ctx(&enh, v6);
    assert_eq!(c.next_hop, v6);
    assert!(c.four_octet_as && !c.internal);
    assert_eq!(
        mp_reach_next_hop(&c),
        hex("2001 0db8 0000 0000 0000 0000 0000 0001")
    );

    let c = ctx(&plain, v6);
    assert_eq!(c.next_hop, IpAddr::V4(router_id));
    assert_eq!(mp_reach_next_hop(&c), hex("0aff0001"));

    // IPv4 sessions (an IPv4-mapped local address too) keep the session address.
    for local in ["127.0.0.1", "::ffff:127.0.0.1"] {
        let c = ctx(&enh, local.parse().unwrap());
        assert_eq!(c.next_hop, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(mp_reach_next_hop(&c), hex("7f000001"));
    }
}

/// RFC 4684 §4: a 16-octet RTC next hop is IPv6, whether or not Extended
/// Next Hop was negotiated (GoBGP 3.10 sends one either way); the routes
/// are accepted.
#[test]
fn rtc_routes_with_an_ipv6_next_hop_are_accepted() {
    let route = RtcNlri::new(65001, RT_65000_100, 96).unwrap();
    let mut peer = ebgp();
    peer.local_as = 65001;
    peer.next_hop = "::1".parse().unwrap();
    let f = codec::encode_rtc_updates(&peer, &[route], &[]).unwrap();
    let Ok(Message::Update(u)) = codec::decode(f[0].clone()) else {
        panic!()
    };
    let r = codec::parse_rtc_update(&ebgp(), &u).unwrap();
    assert_eq!(r.announced, vec![route]);
}

/// The encoders fail with the codec's own error type (no `String`): here a
/// NOTIFICATION whose data would take it past 4096 octets (RFC 4271 §4.1).
#[test]
fn encode_errors_are_typed() {
    let too_long = codec::Notify::with_data(6, 2, vec![0u8; 4096]);
    let e = codec::encode_notification(&too_long).unwrap_err();
    let codec::CodecError::Encode { message, source } = &e;
    assert_eq!(*message, "NOTIFICATION");
    assert!(
        matches!(source, rustbgpd_wire::EncodeError::MessageTooLong { .. }),
        "{source:?}"
    );
    assert!(
        e.to_string().starts_with("cannot encode BGP NOTIFICATION"),
        "{e}"
    );
}
