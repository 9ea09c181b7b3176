//! Our use of the `rustbgpd-wire` codec: building the few messages this
//! speaker sends and turning received bytes into messages or into the
//! NOTIFICATION that answers them. Pure: no I/O (STYLE §3).

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use rustbgpd_wire::{
    AsPath, AsPathSegment, Capability, DecodeError, EncodeError, ErrorDisposition,
    ExtendedNextHopFamily, Message, MpReachNlri, MpUnreachNlri, NotificationCode,
    NotificationMessage, OpenMessage, Origin, PathAttribute, RouteRefreshMessage,
    RouteRefreshSubtype, RtcNlri, UpdateMessage,
};

use super::Negotiated;
use super::config::canonical_ip;

/// AFI 1 (IPv4), the only AFI RTC is defined for (RFC 4684 §4).
pub const AFI_IPV4: u16 = 1;
/// AFI 2 (IPv6): the next-hop AFI of our Extended Next Hop tuple (RFC 8950 §3).
pub const AFI_IPV6: u16 = 2;
/// RFC 8950 §3: capability code of Extended Next Hop Encoding.
pub const CAPABILITY_EXTENDED_NEXT_HOP: u8 = 5;
/// RFC 4724 §3: capability code of Graceful Restart.
pub const CAPABILITY_GRACEFUL_RESTART: u8 = 64;
/// The Restart Time we put in our Graceful Restart capability. We list no
/// <AFI, SAFI>, so RFC 4724 §3 makes the value "irrelevant"; 120 s is the
/// usual default of other implementations, so it reads as nothing unusual.
pub const GRACEFUL_RESTART_TIME: u16 = 120;
/// SAFI 132, Route Target Constraint (RFC 4684 §4).
pub const SAFI_RTC: u8 = 132;
/// RFC 6793 §9: AS_TRANS, sent in OPEN's My AS when the local AS needs 4 octets.
pub const AS_TRANS: u16 = 23456;
/// RFC 4271 §4.1: header length and the default maximum message size.
pub const HEADER_LEN: usize = 19;
pub const MAX_MESSAGE_LEN: usize = 4096;
/// RTC routes per UPDATE: 13 octets each at most, well inside 4096 octets.
const ROUTES_PER_UPDATE: usize = 250;

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313 §5).
pub mod code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN: u8 = 2;
    pub const UPDATE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH: u8 = 7;
}

/// A NOTIFICATION to send (or received): code, subcode, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    pub code: u8,
    pub subcode: u8,
    pub data: Bytes,
}

impl Notify {
    pub fn new(code: u8, subcode: u8) -> Self {
        Self {
            code,
            subcode,
            data: Bytes::new(),
        }
    }
    pub fn with_data(code: u8, subcode: u8, data: impl Into<Bytes>) -> Self {
        Self {
            code,
            subcode,
            data: data.into(),
        }
    }
    fn from_decode(e: &DecodeError) -> Self {
        let (c, s, d) = e.to_notification();
        Self::with_data(c.as_u8(), s, d)
    }
}

impl std::fmt::Display for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = rustbgpd_wire::notification::description(
            NotificationCode::from_u8(self.code),
            self.subcode,
        );
        write!(f, "{}/{} ({text})", self.code, self.subcode)
    }
}

/// Why a message could not be built (STYLE §4: the codec's own error type;
/// the engine maps it where it records or logs a failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The wire codec refused to encode the message, e.g. a value out of
    /// range for its field or a message over 4096 octets (RFC 4271 §4.1).
    #[error("cannot encode BGP {message}: {source}")]
    Encode {
        message: &'static str,
        #[source]
        source: EncodeError,
    },
}

/// What goes into our OPEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenParams {
    pub local_as: u32,
    pub hold_time: u16,
    pub router_id: std::net::Ipv4Addr,
    pub rtc: bool,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    /// Advertise Extended Next Hop Encoding for AFI 1 / SAFI 132 with
    /// next-hop AFI 2 (RFC 8950 §3): set on IPv6 sessions, see
    /// [`UpdateContext::for_session`].
    pub extended_next_hop: bool,
    /// Advertise Graceful Restart (RFC 4724 §3) as a Receiving Speaker
    /// only: see [`encode_open`].
    pub graceful_restart: bool,
}

fn encode(message: &'static str, msg: &Message) -> Result<Bytes, CodecError> {
    rustbgpd_wire::encode_message(msg)
        .map(bytes::BytesMut::freeze)
        .map_err(|source| CodecError::Encode { message, source })
}

/// OPEN with the capabilities of SPEC §5 (RFC 5492 capabilities parameter).
pub fn encode_open(p: &OpenParams) -> Result<Bytes, CodecError> {
    let mut capabilities = Vec::new();
    if p.rtc {
        // RFC 4760 §8 multiprotocol capability for AFI 1 / SAFI 132.
        capabilities.push(Capability::MultiProtocol {
            afi: rustbgpd_wire::Afi::Ipv4,
            safi: rustbgpd_wire::Safi::RtConstrain,
        });
        if p.extended_next_hop {
            // RFC 8950 §3: <NLRI AFI 1, NLRI SAFI 132, next-hop AFI 2>: we
            // accept, and send once the peer advertises the same, an IPv6
            // next hop for RTC routes.
            capabilities.push(Capability::ExtendedNextHop(vec![ExtendedNextHopFamily {
                nlri_afi: rustbgpd_wire::Afi::Ipv4,
                nlri_safi: rustbgpd_wire::Safi::RtConstrain,
                next_hop_afi: rustbgpd_wire::Afi::Ipv6,
            }]));
        }
    }
    if p.route_refresh {
        capabilities.push(Capability::RouteRefresh);
    }
    if p.enhanced_route_refresh {
        capabilities.push(Capability::EnhancedRouteRefresh);
    }
    if p.graceful_restart {
        // RFC 4724 §3: no <AFI, SAFI>: "not capable of preserving its
        // forwarding state during BGP restart, but supports procedures for
        // the Receiving Speaker" (§4.2); the Restart Time is then irrelevant.
        // R bit clear: §4.2, it "MUST NOT be set unless the Receiving
        // Speaker has restarted" and we never act as a Restarting Speaker.
        // N bit clear: RFC 8538 (graceful restart after a NOTIFICATION) is
        // not implemented. Bytes: 40 02 0078.
        capabilities.push(Capability::GracefulRestart {
            restart_state: false,
            notification: false,
            restart_time: GRACEFUL_RESTART_TIME,
            families: vec![],
        });
    }
    // RFC 6793 §3: always advertise 4-octet AS support.
    capabilities.push(Capability::FourOctetAs { asn: p.local_as });
    let my_as = u16::try_from(p.local_as).unwrap_or(AS_TRANS);
    encode(
        "OPEN",
        &Message::Open(OpenMessage {
            version: 4,
            my_as,
            hold_time: p.hold_time,
            bgp_identifier: p.router_id,
            capabilities,
        }),
    )
}

/// KEEPALIVE: the bare 19-octet header (RFC 4271 §4.4).
pub fn encode_keepalive() -> Bytes {
    let mut b = vec![0xff; 16];
    b.extend_from_slice(&[0x00, 0x13, 0x04]);
    Bytes::from(b)
}

/// ROUTE-REFRESH for AFI 1 / SAFI 132 with the RFC 7313 §3 subtype.
pub fn encode_route_refresh(subtype: RouteRefreshSubtype) -> Result<Bytes, CodecError> {
    encode(
        "ROUTE-REFRESH",
        &Message::RouteRefresh(RouteRefreshMessage::new_with_subtype(
            rustbgpd_wire::Afi::Ipv4,
            rustbgpd_wire::Safi::RtConstrain,
            subtype,
        )),
    )
}

pub fn encode_notification(n: &Notify) -> Result<Bytes, CodecError> {
    encode(
        "NOTIFICATION",
        &Message::Notification(NotificationMessage::new(
            NotificationCode::from_u8(n.code),
            n.subcode,
            n.data.clone(),
        )),
    )
}

/// Per-session facts the UPDATE builder and parser need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateContext {
    pub local_as: u32,
    pub internal: bool,
    pub four_octet_as: bool,
    /// The MP_REACH next hop (RFC 4684 §4), see [`UpdateContext::for_session`].
    pub next_hop: IpAddr,
}

impl UpdateContext {
    /// The context of an Established session, from what was negotiated and
    /// the local address of its TCP connection.
    ///
    /// Next hop: RFC 4684 §4 reads a 4-octet next hop as IPv4 and a
    /// 16-octet one as IPv6, but a peer may check an AFI 1 next hop the
    /// way RFC 4760 §3 has the AFI decide, and RFC 8950 §3 is how a speaker
    /// says it accepts an IPv6 next hop for an IPv4 AFI. So on an IPv6
    /// session the 16-octet session address is sent only when the peer
    /// advertised <1, 132, 2> too; otherwise the next hop is our router id,
    /// an IPv4 address of ours that any AFI 1 decoder accepts (the RTC next
    /// hop only names the advertising speaker: nothing is forwarded to it).
    pub fn for_session(
        local_as: u32,
        internal: bool,
        negotiated: &Negotiated,
        local_addr: IpAddr,
        router_id: Ipv4Addr,
    ) -> Self {
        let next_hop = match canonical_ip(local_addr) {
            v4 @ IpAddr::V4(_) => v4,
            v6 if negotiated.extended_next_hop => v6,
            IpAddr::V6(_) => IpAddr::V4(router_id),
        };
        Self {
            local_as,
            internal,
            four_octet_as: negotiated.four_octet_as,
            next_hop,
        }
    }
}

/// UPDATEs announcing `announce` (MP_REACH_NLRI) and withdrawing `withdraw`
/// (MP_UNREACH_NLRI), split so that each fits in 4096 octets.
pub fn encode_rtc_updates(
    ctx: &UpdateContext,
    announce: &[RtcNlri],
    withdraw: &[RtcNlri],
) -> Result<Vec<Bytes>, CodecError> {
    let mut out = Vec::new();
    for chunk in withdraw.chunks(ROUTES_PER_UPDATE) {
        let attrs = [PathAttribute::MpUnreachNlri(Box::new(MpUnreachNlri {
            afi: rustbgpd_wire::Afi::Ipv4,
            safi: rustbgpd_wire::Safi::RtConstrain,
            withdrawn: vec![],
            flowspec_withdrawn: vec![],
            evpn_withdrawn: vec![],
            bgpls_withdrawn: vec![],
            vpn_withdrawn: vec![],
            labeled_withdrawn: vec![],
            rtc_withdrawn: chunk.to_vec(),
        }))];
        out.push(build_update(&attrs, ctx.four_octet_as)?);
    }
    for chunk in announce.chunks(ROUTES_PER_UPDATE) {
        // RFC 4271 §5.1.2: eBGP prepends our AS; iBGP sends an empty AS_PATH
        // and LOCAL_PREF (§5.1.5). Towards a peer without the 4-octet AS
        // capability the codec writes a 4-octet local AS as AS_TRANS in
        // AS_PATH and adds AS4_PATH with the real path (RFC 6793 §4.2.2;
        // pinned by tests/bgp_codec.rs and tests/bgp_as4.rs).
        let as_path = if ctx.internal {
            AsPath { segments: vec![] }
        } else {
            AsPath {
                segments: vec![AsPathSegment::AsSequence(vec![ctx.local_as])],
            }
        };
        let mut attrs = vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(as_path),
        ];
        if ctx.internal {
            attrs.push(PathAttribute::LocalPref(100));
        }
        attrs.push(PathAttribute::MpReachNlri(Box::new(MpReachNlri {
            afi: rustbgpd_wire::Afi::Ipv4,
            safi: rustbgpd_wire::Safi::RtConstrain,
            next_hop: ctx.next_hop,
            link_local_next_hop: None,
            announced: vec![],
            flowspec_announced: vec![],
            evpn_announced: vec![],
            bgpls_announced: vec![],
            vpn_announced: vec![],
            labeled_announced: vec![],
            rtc_announced: chunk.to_vec(),
        })));
        out.push(build_update(&attrs, ctx.four_octet_as)?);
    }
    Ok(out)
}

fn build_update(attrs: &[PathAttribute], four_octet_as: bool) -> Result<Bytes, CodecError> {
    let update = UpdateMessage::try_build(
        &[],
        &[],
        attrs,
        four_octet_as,
        false,
        rustbgpd_wire::Ipv4UnicastMode::Body,
    )
    .map_err(|source| CodecError::Encode {
        message: "UPDATE",
        source,
    })?;
    encode("UPDATE", &Message::Update(update))
}

/// RFC 4271 §6.1 header checks, done before buffering the body. `Ok(None)`:
/// fewer than 19 octets so far; `Ok(Some(len))`: the whole message is `len`.
pub fn frame_length(buf: &[u8]) -> Result<Option<usize>, Notify> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    // RFC 4271 §6.1: a marker that is not all ones is "Connection Not Synchronized".
    if buf[..16].iter().any(|b| *b != 0xff) {
        return Err(Notify::new(code::MESSAGE_HEADER, 1));
    }
    let len = u16::from_be_bytes([buf[16], buf[17]]);
    let ty = buf[18];
    // RFC 4271 §6.1: per-type minimum lengths; the data is the bad Length field.
    let ok = match ty {
        1 => (29..=4096).contains(&len),
        2 => (23..=4096).contains(&len),
        3 => (21..=4096).contains(&len),
        4 => len == 19,
        // RFC 2918 §3: AFI(2) + reserved/subtype(1) + SAFI(1).
        5 => (23..=4096).contains(&len),
        _ => {
            if (19..=4096).contains(&len) {
                // RFC 4271 §6.1: Bad Message Type, data is the type octet.
                return Err(Notify::with_data(code::MESSAGE_HEADER, 3, vec![ty]));
            }
            false
        }
    };
    if !ok {
        return Err(Notify::with_data(
            code::MESSAGE_HEADER,
            2,
            len.to_be_bytes().to_vec(),
        ));
    }
    Ok(Some(usize::from(len)))
}

/// Decodes one whole message (as delimited by [`frame_length`]) before any
/// capability is negotiated (OpenSent, OpenConfirm): [`decode_with`] and
/// nothing negotiated.
pub fn decode(frame: Bytes) -> Result<Message, Notify> {
    decode_with(frame, &Negotiated::default())
}

/// Decodes one whole message on a session that negotiated `negotiated`.
pub fn decode_with(frame: Bytes, negotiated: &Negotiated) -> Result<Message, Notify> {
    const RR_LEN: usize = HEADER_LEN + 4;
    // `frame_length` guarantees at least the 4-octet body of RFC 2918 §3.
    if frame.len() >= RR_LEN && frame[18] == 5 {
        let subtype = frame[HEADER_LEN + 2];
        if negotiated.enhanced_route_refresh {
            // RFC 7313 §5: a BoRR or EoRR whose body is not 4 octets is
            // "ROUTE-REFRESH Message Error / Invalid Message Length", the
            // data being the complete message.
            if matches!(subtype, 1 | 2) && frame.len() != RR_LEN {
                return Err(Notify::with_data(code::ROUTE_REFRESH, 1, frame));
            }
        }
        // Anything else past the 4 octets could only be ORF entries
        // (RFC 5291), which we never negotiate: the request is honoured as
        // RFC 2918 §3 defines it, and the rest ignored rather than handed to
        // the ORF decoder. Without enhanced route refresh the third octet is
        // RFC 2918's Reserved field, "ignored by the receiver" (RFC 2918 §3):
        // every ROUTE-REFRESH is then a plain request (subtype 0).
        let subtype = if negotiated.enhanced_route_refresh {
            subtype
        } else {
            0
        };
        if frame.len() != RR_LEN || subtype != frame[HEADER_LEN + 2] {
            let mut plain = frame[..RR_LEN].to_vec();
            plain[16..18].copy_from_slice(&(RR_LEN as u16).to_be_bytes());
            plain[HEADER_LEN + 2] = subtype;
            return decode_message(Bytes::from(plain));
        }
    }
    decode_message(frame)
}

fn decode_message(frame: Bytes) -> Result<Message, Notify> {
    let mut buf = frame;
    // Our own 4096 cap: RFC 8654 extended messages are not negotiated.
    rustbgpd_wire::decode_message(&mut buf, 4096).map_err(|e| Notify::from_decode(&e))
}

/// The RTC part of a received UPDATE.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RtcUpdate {
    pub announced: Vec<RtcNlri>,
    pub withdrawn: Vec<RtcNlri>,
    /// RFC 7606 treat-as-withdraw was applied to the announced routes.
    pub treated_as_withdraw: Option<String>,
    /// Routes of other families (not negotiated) that were ignored.
    pub ignored_other_family: bool,
}

/// Extracts the RTC routes of an UPDATE, applying RFC 7606 where it applies.
/// An `Err` is the NOTIFICATION that resets the session.
pub fn parse_rtc_update(ctx: &UpdateContext, u: &UpdateMessage) -> Result<RtcUpdate, Notify> {
    let parsed = u
        .parse_revised(ctx.four_octet_as, ctx.internal, false, &[])
        .map_err(|e| Notify::from_decode(&e))?;
    let mut out = RtcUpdate {
        ignored_other_family: !parsed.update.announced.is_empty()
            || !parsed.update.withdrawn.is_empty(),
        ..RtcUpdate::default()
    };
    // RFC 7606 §3 (h): the strongest disposition wins.
    for m in &parsed.malformed {
        match m.disposition {
            ErrorDisposition::SessionReset => return Err(Notify::from_decode(&m.error)),
            ErrorDisposition::TreatAsWithdraw => {
                out.treated_as_withdraw = Some(format!("attribute {}: {}", m.type_code, m.error));
            }
            ErrorDisposition::AttributeDiscard => {}
        }
    }
    // With `four_octet_as = false` `parse_revised` has already rebuilt
    // AS_PATH from AS_PATH + AS4_PATH (RFC 6793 §4.2.3): the loop check
    // below sees a 4-octet local AS hidden behind AS_TRANS.
    let mut has_origin = false;
    let mut as_path = None;
    for a in &parsed.update.attributes {
        match a {
            PathAttribute::Origin(_) => has_origin = true,
            PathAttribute::AsPath(p) => as_path = Some(p),
            PathAttribute::MpReachNlri(mp) => {
                if mp.afi == rustbgpd_wire::Afi::Ipv4 && mp.safi == rustbgpd_wire::Safi::RtConstrain
                {
                    out.announced.extend(mp.rtc_announced.iter().copied());
                } else {
                    out.ignored_other_family = true;
                }
            }
            PathAttribute::MpUnreachNlri(mp) => {
                if mp.afi == rustbgpd_wire::Afi::Ipv4 && mp.safi == rustbgpd_wire::Safi::RtConstrain
                {
                    out.withdrawn.extend(mp.rtc_withdrawn.iter().copied());
                } else {
                    out.ignored_other_family = true;
                }
            }
            _ => {}
        }
    }
    if !out.announced.is_empty() && out.treated_as_withdraw.is_none() {
        // RFC 7606 §3 (d): a missing well-known mandatory attribute is treat-as-withdraw.
        if !has_origin || as_path.is_none() {
            out.treated_as_withdraw = Some(format!(
                "missing well-known attribute {}",
                if has_origin { "AS_PATH" } else { "ORIGIN" }
            ));
        } else if let Some(p) = as_path {
            // RFC 4271 §9.1.2: a route whose AS_PATH holds our AS is a loop.
            if !ctx.internal && p.contains_asn(ctx.local_as) {
                out.treated_as_withdraw = Some("AS_PATH contains the local AS".into());
            }
        }
    }
    if out.treated_as_withdraw.is_some() {
        let announced = std::mem::take(&mut out.announced);
        out.withdrawn.extend(announced);
    }
    Ok(out)
}

/// RFC 4724 §2: the End-of-RIB marker for a family other than IPv4
/// unicast is an UPDATE whose only content is an MP_UNREACH_NLRI with that
/// AFI/SAFI and no withdrawn routes; here AFI 1 / SAFI 132 (RFC 4684 §6).
pub fn encode_rtc_end_of_rib() -> Bytes {
    let mut b = vec![0xff; 16];
    // Length 29: header 19 + withdrawn length 2 + attributes length 2 + 6.
    b.extend_from_slice(&[0x00, 0x1d, 0x02, 0x00, 0x00, 0x00, 0x06]);
    // MP_UNREACH_NLRI: optional (0x80), type 15, length 3, AFI 1, SAFI 132.
    b.extend_from_slice(&[0x80, 0x0f, 0x03, 0x00, 0x01, SAFI_RTC]);
    Bytes::from(b)
}

/// Whether a received UPDATE is the RT-membership End-of-RIB marker
/// (RFC 4724 §2): no withdrawn routes, no NLRI, and exactly one attribute,
/// an MP_UNREACH_NLRI for AFI 1 / SAFI 132 with nothing withdrawn. The
/// attribute may use the extended-length flag (RFC 4271 §4.3).
pub fn is_rtc_end_of_rib(u: &UpdateMessage) -> bool {
    if !u.withdrawn_routes.is_empty() || !u.nlri.is_empty() {
        return false;
    }
    let a = u.path_attributes.as_ref();
    let (flags, ty) = match a {
        [flags, ty, ..] => (*flags, *ty),
        _ => return false,
    };
    let body = if flags & 0x10 != 0 {
        match a {
            [_, _, 0, 3, body @ ..] => body,
            _ => return false,
        }
    } else {
        match a {
            [_, _, 3, body @ ..] => body,
            _ => return false,
        }
    };
    ty == 15 && flags & 0x80 != 0 && body == [0x00, 0x01, SAFI_RTC]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frame_length_checks_rfc4271_header_rules() {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&[0, 19, 4]);
        assert_eq!(frame_length(&m), Ok(Some(19)));
        assert_eq!(frame_length(&m[..18]), Ok(None));
        m[18] = 9;
        assert_eq!(frame_length(&m).unwrap_err().subcode, 3);
        m[18] = 1;
        assert_eq!(frame_length(&m).unwrap_err().subcode, 2);
        m[0] = 0;
        assert_eq!(frame_length(&m).unwrap_err(), Notify::new(1, 1));
    }

    /// RFC 4271 §9.1.2 (route selection ignores a route whose AS_PATH holds
    /// our AS) with RFC 7606 treat-as-withdraw: the routes become withdrawals.
    #[test]
    fn as_path_loop_is_treated_as_withdraw() {
        let ctx = UpdateContext {
            local_as: 65000,
            internal: false,
            four_octet_as: true,
            next_hop: "10.0.0.1".parse().unwrap(),
        };
        let n = RtcNlri::new(65001, 0x0002_fde9_0000_0064, 96).unwrap();
        let peer = UpdateContext {
            local_as: 65001,
            ..ctx
        };
        let frames = encode_rtc_updates(&peer, &[n], &[]).unwrap();
        let Ok(Message::Update(u)) = decode(frames[0].clone()) else {
            panic!("not an update")
        };
        let r = parse_rtc_update(&ctx, &u).unwrap();
        assert_eq!(r.announced, vec![n]);
        // Our own AS in the path: loop, treated as withdraw.
        let looped = parse_rtc_update(
            &UpdateContext {
                local_as: 65001,
                ..ctx
            },
            &u,
        )
        .unwrap();
        assert!(looped.announced.is_empty());
        assert_eq!(looped.withdrawn, vec![n]);
        assert_eq!(
            looped.treated_as_withdraw.as_deref(),
            Some("AS_PATH contains the local AS")
        );
    }

    const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
    /// AS_PATH: one AS_SEQUENCE holding 65001, 4-octet encoding.
    const AS_PATH_65001: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];

    fn route() -> RtcNlri {
        RtcNlri::new(65001, 0x0002_fde9_0000_0064, 96).unwrap()
    }

    /// MP_REACH_NLRI (RFC 4760 §3) for AFI 1 / SAFI 132, next hop 10.0.0.2,
    /// holding [`route`] (RFC 4684 §4: length 96, origin AS, route target).
    fn mp_reach_rtc() -> Vec<u8> {
        let mut v = vec![0x80, 14, 22, 0, 1, 132, 4, 10, 0, 0, 2, 0, 96];
        v.extend_from_slice(&65001u32.to_be_bytes());
        v.extend_from_slice(&0x0002_fde9_0000_0064u64.to_be_bytes());
        v
    }

    /// An UPDATE (RFC 4271 §4.3) with no withdrawn routes, these path
    /// attributes and no IPv4 NLRI, decoded.
    fn update_with(attrs: &[u8]) -> UpdateMessage {
        let mut body = vec![0, 0];
        body.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
        body.extend_from_slice(attrs);
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
        m.push(2);
        m.extend(body);
        let Ok(Message::Update(u)) = decode(Bytes::from(m)) else {
            panic!("not an update")
        };
        u
    }

    fn ebgp_65000() -> UpdateContext {
        UpdateContext {
            local_as: 65000,
            internal: false,
            four_octet_as: true,
            next_hop: "10.0.0.1".parse().unwrap(),
        }
    }

    #[test]
    fn well_formed_rtc_update_is_announced() {
        let attrs = [&ORIGIN_IGP[..], &AS_PATH_65001, &mp_reach_rtc()].concat();
        let r = parse_rtc_update(&ebgp_65000(), &update_with(&attrs)).unwrap();
        assert_eq!(r.announced, vec![route()]);
        assert!(r.withdrawn.is_empty() && r.treated_as_withdraw.is_none());
    }

    /// RFC 7606 §3 (d): reachable RTC NLRI without the well-known mandatory
    /// ORIGIN is treat-as-withdraw; the session stays up (no `Err`).
    #[test]
    fn treat_as_withdraw_when_origin_missing() {
        let attrs = [&AS_PATH_65001[..], &mp_reach_rtc()].concat();
        let r = parse_rtc_update(&ebgp_65000(), &update_with(&attrs)).unwrap();
        assert!(r.announced.is_empty(), "{r:?}");
        assert_eq!(r.withdrawn, vec![route()]);
        let why = r.treated_as_withdraw.unwrap();
        assert_eq!(why, "missing well-known attribute ORIGIN");
    }

    /// RFC 7606 §3 (d), the same for a missing AS_PATH.
    #[test]
    fn treat_as_withdraw_when_as_path_missing() {
        let attrs = [&ORIGIN_IGP[..], &mp_reach_rtc()].concat();
        let r = parse_rtc_update(&ebgp_65000(), &update_with(&attrs)).unwrap();
        assert!(r.announced.is_empty(), "{r:?}");
        assert_eq!(r.withdrawn, vec![route()]);
        let why = r.treated_as_withdraw.unwrap();
        assert_eq!(why, "missing well-known attribute AS_PATH");
    }

    /// RFC 7606 §3 (d) only concerns UPDATEs that announce something: an
    /// MP_UNREACH alone needs neither ORIGIN nor AS_PATH (RFC 4760 §4).
    #[test]
    fn withdrawal_alone_needs_no_mandatory_attributes() {
        let mut attrs = vec![0x80, 15, 16, 0, 1, 132, 96];
        attrs.extend_from_slice(&65001u32.to_be_bytes());
        attrs.extend_from_slice(&0x0002_fde9_0000_0064u64.to_be_bytes());
        let r = parse_rtc_update(&ebgp_65000(), &update_with(&attrs)).unwrap();
        assert_eq!(r.withdrawn, vec![route()]);
        assert!(r.announced.is_empty() && r.treated_as_withdraw.is_none());
    }
}
