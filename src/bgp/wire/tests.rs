//! The codec as data: bytes in (hex), a compact text of what was decoded
//! out, or the NOTIFICATION it answers with.

use super::*;

/// Bytes from hex, spaces and newlines ignored.
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn tohex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn pfx(s: &str) -> Prefix {
    let (a, l) = s.split_once('/').unwrap();
    Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
}

fn pfxs(s: &str) -> Vec<Prefix> {
    s.split_whitespace().map(pfx).collect()
}

/// A NOTIFICATION as "code/subcode data".
fn note(n: &Notification) -> String {
    format!("{}/{} {}", n.code, n.subcode, tohex(&n.data))
        .trim()
        .to_string()
}

/// An UPDATE's decoding as lines: "+ prefix path", "- prefix", "eor
/// family", "withdraw: reason", or "reset code/subcode data".
fn show(r: Result<Update, Notification>) -> String {
    let u = match r {
        Ok(u) => u,
        Err(n) => return format!("reset {}", note(&n)),
    };
    let mut lines = Vec::new();
    if let Some(f) = u.end_of_rib {
        lines.push(format!("eor {f}"));
    }
    for (p, path) in &u.announced {
        let asns: Vec<String> = path.as_path.iter().map(u32::to_string).collect();
        let mut l = format!(
            "+ {p} via {} origin {} path {} len {}",
            path.next_hop,
            path.origin,
            asns.join(","),
            path.as_path_len
        );
        if let Some(m) = path.med {
            l.push_str(&format!(" med {m}"));
        }
        if let Some(lp) = path.local_pref {
            l.push_str(&format!(" lp {lp}"));
        }
        lines.push(l);
    }
    for p in &u.withdrawn {
        lines.push(format!("- {p}"));
    }
    if let Some(why) = &u.treat_as_withdraw {
        lines.push(format!("withdraw: {why}"));
    }
    lines.join("\n")
}

const EBGP4: UpdateContext = UpdateContext {
    four_octet: true,
    ebgp: true,
};
const EBGP2: UpdateContext = UpdateContext {
    four_octet: false,
    ebgp: true,
};
const IBGP4: UpdateContext = UpdateContext {
    four_octet: true,
    ebgp: false,
};

/// Decodes a whole UPDATE message (header included, as built).
fn check(msg: &[u8], ctx: UpdateContext, want: &str) {
    let got = show(decode_update(&msg[HEADER_LEN..], ctx));
    assert_eq!(got, want.trim(), "\nmessage {}", tohex(msg));
}

// Attribute builders, with the flags RFC 4271 gives them.
fn origin(v: u8) -> Vec<u8> {
    attribute(flag::TRANSITIVE, attr::ORIGIN, &[v])
}
fn segment(kind: u8, asns: &[u32], width: usize) -> Vec<u8> {
    let mut v = vec![kind, asns.len() as u8];
    for a in asns {
        v.extend_from_slice(&a.to_be_bytes()[4 - width..]);
    }
    v
}
fn as_path4(asns: &[u32]) -> Vec<u8> {
    attribute(
        flag::TRANSITIVE,
        attr::AS_PATH,
        &segment(AS_SEQUENCE, asns, 4),
    )
}
fn next_hop(ip: &str) -> Vec<u8> {
    let ip: Ipv4Addr = ip.parse().unwrap();
    attribute(flag::TRANSITIVE, attr::NEXT_HOP, &ip.octets())
}
fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}
fn nlri(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode_prefixes(&pfxs(s), &mut out);
    out
}
/// ORIGIN IGP, AS_PATH 65001, NEXT_HOP 10.33.20.142: a well-formed base.
fn base() -> Vec<u8> {
    cat(&[origin(0), as_path4(&[65001]), next_hop("10.33.20.142")])
}
fn mp_reach_v6(nh: &[u8], prefixes: &str) -> Vec<u8> {
    let mut v = vec![0, 2, 1, nh.len() as u8];
    v.extend_from_slice(nh);
    v.push(0);
    v.extend(nlri(prefixes));
    attribute(flag::OPTIONAL, attr::MP_REACH, &v)
}
fn v6(s: &str) -> Vec<u8> {
    s.parse::<Ipv6Addr>().unwrap().octets().to_vec()
}

#[test]
fn frame_checks_the_header_as_soon_as_it_is_in() {
    let ka = keepalive();
    assert_eq!(frame(&ka), Ok(Some((kind::KEEPALIVE, 19))));
    assert_eq!(frame(&ka[..18]), Ok(None));
    let open = Open::ours(65000, 90, Ipv4Addr::new(192, 0, 2, 99)).encode();
    assert_eq!(
        frame(&open[..19]),
        Ok(None),
        "the header alone: wait for the rest"
    );
    for (header, want) in [
        ("fe ffffffffffffffffffffffffffffff 0013 04", "1/1"),
        ("ffffffffffffffffffffffffffffffff 0012 04", "1/2 0012"),
        ("ffffffffffffffffffffffffffffffff 1001 02", "1/2 1001"),
        ("ffffffffffffffffffffffffffffffff 0014 04", "1/2 0014"),
        ("ffffffffffffffffffffffffffffffff 001c 01", "1/2 001c"),
        ("ffffffffffffffffffffffffffffffff 0016 02", "1/2 0016"),
        ("ffffffffffffffffffffffffffffffff 0016 05", "1/2 0016"),
        ("ffffffffffffffffffffffffffffffff 0013 06", "1/3 06"),
        ("ffffffffffffffffffffffffffffffff 0013 00", "1/3 00"),
    ] {
        let got = frame(&unhex(header)).map_err(|n| note(&n));
        assert_eq!(got, Err(want.to_string()), "{header}");
    }
    // A short NOTIFICATION is taken, never answered with one.
    let short = unhex("ffffffffffffffffffffffffffffffff 0013 03");
    assert_eq!(frame(&short), Ok(Some((kind::NOTIFICATION, 19))));
    assert_eq!(Notification::decode(&[]), Notification::new(0, 0, vec![]));
}

#[test]
fn our_open_round_trips_and_says_as_trans_for_a_4_octet_as() {
    let id = Ipv4Addr::new(192, 0, 2, 7);
    for (local_as, my_as) in [(65000, 65000), (4_200_000_001, 23456)] {
        let open = Open::ours(local_as, 90, id);
        assert_eq!(open.my_as, my_as);
        let bytes = open.encode();
        assert_eq!(frame(&bytes), Ok(Some((kind::OPEN, bytes.len()))));
        let back = Open::decode(&bytes[HEADER_LEN..]).unwrap();
        assert_eq!(back, open);
        assert_eq!(back.asn(), local_as);
        assert_eq!(back.families(), Family::ALL.to_vec());
    }
    assert_eq!(
        tohex(&Open::ours(65000, 90, id).encode()),
        // Length 49; version 4, AS 65000, hold 90, id 192.0.2.7; one
        // parameter (20 octets) of three capabilities: MP IPv4 and IPv6
        // unicast, 4-octet AS 65000.
        "ffffffffffffffffffffffffffffffff00310104fde8005ac000020714021201040001000101040002000141\
         040000fde8"
    );
}

#[test]
fn an_open_with_many_capabilities_uses_extended_parameters() {
    let mut open = Open::ours(65000, 90, Ipv4Addr::new(192, 0, 2, 7));
    for code in [70, 71, 73] {
        open.capabilities.push(Capability::Other {
            code,
            value: vec![code; 200],
        });
    }
    let bytes = open.encode();
    assert_eq!(bytes[HEADER_LEN + 9..HEADER_LEN + 11], [255, 255]);
    assert_eq!(Open::decode(&bytes[HEADER_LEN..]), Ok(open));
}

#[test]
fn birds_open_decodes() {
    // BIRD 2.0.12's OPEN: AS 65001, hold 240, id 192.0.2.1; capabilities
    // multiprotocol IPv4 and IPv6 unicast, route refresh (2), enhanced
    // route refresh (70), graceful restart (64), 4-octet AS, long-lived
    // graceful restart (71).
    let bird = unhex(
        "ffffffffffffffffffffffffffffffff003b0104fde900f0c00002011e021c01040001000101040002000102\
         004002007841040000fde946004700",
    );
    let open = Open::decode(&bird[HEADER_LEN..]).unwrap();
    assert_eq!(
        (open.my_as, open.hold_time, open.asn()),
        (65001, 240, 65001)
    );
    assert_eq!(open.bgp_id, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(open.families(), Family::ALL.to_vec());
    let others: Vec<u8> = open
        .capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::Other { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(others, [2, 64, 70, 71]);
}

#[test]
fn open_errors() {
    // (body after the header, NOTIFICATION)
    let head = "04 fde8 005a c0000263";
    for (body, want) in [
        ("03 fde8 005a c0000263 00", "2/1 0004"),
        ("05 fde8 005a c0000263 00", "2/1 0004"),
        // A parameter that is not capabilities (1 was authentication).
        (&format!("{head} 04 01 02 0000") as &str, "2/4"),
        // Optional parameters length past the message.
        (&format!("{head} 09 02 02 0000"), "1/2 0021"),
        // A parameter past the parameters.
        (&format!("{head} 04 02 05 0000"), "2/0"),
        // A capability past its parameter.
        (&format!("{head} 04 02 02 4104"), "2/0"),
        // Multiprotocol and 4-octet AS of the wrong length.
        (&format!("{head} 07 02 05 0103000101"), "2/0"),
        (&format!("{head} 05 02 03 410100"), "2/0"),
    ] {
        let got = Open::decode(&unhex(body)).map_err(|n| note(&n));
        assert_eq!(got, Err(want.to_string()), "{body}");
    }
    // No capabilities at all: IPv4 unicast only, a 2-octet AS.
    let plain = Open::decode(&unhex(&format!("{head} 00"))).unwrap();
    assert_eq!(
        (plain.families(), plain.asn()),
        (vec![Family::Ipv4Unicast], 65000)
    );
    // RFC 9072's extended optional parameters; unknown capabilities kept.
    let ext = Open::decode(&unhex(&format!("{head} ff ff 0009 02 0006 4104 0000fde8"))).unwrap();
    assert_eq!(ext.four_octet_as(), Some(65000));
    let other = Open::decode(&unhex(&format!("{head} 06 02 04 0200 4600"))).unwrap();
    assert_eq!(other.capabilities.len(), 2);
}

#[test]
fn notification_text() {
    for (n, want) in [
        (
            Notification::shutdown(2, "maintenance"),
            "Cease/Administrative Shutdown: maintenance",
        ),
        (Notification::shutdown(4, ""), "Cease/Administrative Reset"),
        (
            Notification::shutdown(2, "line\nbreak \x1b[31m"),
            "Cease/Administrative Shutdown: line\\nbreak \\u{1b}[31m",
        ),
        (
            Notification::new(6, 2, vec![9, b'a']),
            "Cease/Administrative Shutdown (malformed shutdown communication: 09 61)",
        ),
        (
            Notification::new(6, 2, vec![2, 0xff, 0xfe]),
            "Cease/Administrative Shutdown (malformed shutdown communication: 02 ff fe)",
        ),
        (Notification::new(4, 0, vec![]), "Hold Timer Expired"),
        (
            Notification::new(2, 2, vec![]),
            "OPEN Message Error/Bad Peer AS",
        ),
        (
            Notification::new(1, 2, vec![0, 0x12]),
            "Message Header Error/Bad Message Length (data 00 12)",
        ),
        (
            Notification::new(6, 1, unhex("0001 01 00000064")),
            "Cease/Maximum Number of Prefixes Reached (AFI 1, SAFI 1, limit 100)",
        ),
        (
            Notification::new(5, 3, vec![]),
            "Finite State Machine Error/Receive Unexpected Message in Established State",
        ),
        (
            Notification::new(9, 3, vec![1]),
            "code 9/subcode 3 (data 01)",
        ),
        (
            Notification::new(3, 42, vec![]),
            "UPDATE Message Error/subcode 42",
        ),
    ] {
        assert_eq!(n.to_string(), want);
    }
    // At most 128 octets of message, cut at a character boundary.
    let long = Notification::shutdown(2, &"é".repeat(100));
    assert_eq!((long.data[0], long.data.len()), (128, 129));
    let n = Notification::new(3, 1, vec![]);
    assert_eq!(Notification::decode(&n.encode()[HEADER_LEN..]), n);
    assert_eq!(
        tohex(&n.encode()),
        "ffffffffffffffffffffffffffffffff0015030301"
    );
}

#[test]
fn updates_as_bird_sends_them() {
    // Captured from BIRD 2.0.12 (see fixtures/bgp): IPv4 with NEXT_HOP,
    // IPv6 in MP_REACH_NLRI, both End-of-RIB markers, withdrawals.
    for (hex, want) in [
        (
            "ffffffffffffffffffffffffffffffff002f02000000144001010040020602010000fde94003040a211e16180a4601",
            "+ 10.70.1.0/24 via 10.33.30.22 origin 0 path 65001 len 1",
        ),
        ("ffffffffffffffffffffffffffffffff00170200000000", "eor IPv4 unicast"),
        (
            "ffffffffffffffffffffffffffffffff0044020000002d900e001c0002011020010db8ffff0000000000000000\
             0002003020010db800704001010040020602010000fde9",
            "+ 2001:db8:70::/48 via 2001:db8:ffff::2 origin 0 path 65001 len 1",
        ),
        ("ffffffffffffffffffffffffffffffff001d0200000006800f03000201", "eor IPv6 unicast"),
        (
            "ffffffffffffffffffffffffffffffff002102000a180a4601100a3c100a3d0000",
            "- 10.70.1.0/24\n- 10.60.0.0/16\n- 10.61.0.0/16",
        ),
        (
            "ffffffffffffffffffffffffffffffff002c0200000015900f00110002013020010db800703020010db80060",
            "- 2001:db8:70::/48\n- 2001:db8:60::/48",
        ),
    ] {
        check(&unhex(hex), EBGP4, want);
    }
}

#[test]
fn announce_withdraw_and_end_of_rib_round_trip() {
    let path = Path {
        origin: 2,
        as_path: vec![65001, 4_200_000_001, 65010],
        as_path_len: 3,
        next_hop: "10.33.20.142".parse().unwrap(),
        med: Some(50),
        local_pref: Some(200),
    };
    let v4 = pfxs("10.60.0.0/16 10.61.0.0/16 0.0.0.0/0 192.0.2.1/32");
    let got = decode_update(&announce(&v4, &path, true)[HEADER_LEN..], IBGP4).unwrap();
    assert_eq!(
        got.announced,
        v4.iter().map(|p| (*p, path.clone())).collect::<Vec<_>>()
    );
    // On a 2-octet session the 4-octet AS travels in AS4_PATH and comes back.
    let two = decode_update(
        &announce(&v4, &path, false)[HEADER_LEN..],
        IBGP4.with(false),
    )
    .unwrap();
    assert_eq!(two.announced, got.announced);
    let path6 = Path {
        next_hop: "2001:db8:ffff::1".parse().unwrap(),
        local_pref: None,
        ..path.clone()
    };
    let v6 = pfxs("2001:db8:60::/48 ::/0 2001:db8::1/128");
    let got = decode_update(&announce(&v6, &path6, true)[HEADER_LEN..], EBGP4).unwrap();
    assert_eq!(
        got.announced,
        v6.iter().map(|p| (*p, path6.clone())).collect::<Vec<_>>()
    );
    let both = [v4.clone(), v6.clone()].concat();
    let got = decode_update(&withdraw(&both)[HEADER_LEN..], EBGP4).unwrap();
    assert_eq!((got.withdrawn, got.announced), (both, vec![]));
    for f in Family::ALL {
        let got = decode_update(&end_of_rib(f)[HEADER_LEN..], EBGP4).unwrap();
        assert_eq!(got.end_of_rib, Some(f));
    }
    // An AS path longer than a segment holds goes in several.
    let long = Path {
        as_path: (1..=600).collect(),
        as_path_len: 600,
        ..path.clone()
    };
    let got = decode_update(&announce(&v4[..1], &long, true)[HEADER_LEN..], IBGP4).unwrap();
    assert_eq!(got.announced[0].1, long);
}

impl UpdateContext {
    fn with(self, four_octet: bool) -> UpdateContext {
        UpdateContext { four_octet, ..self }
    }
}

#[test]
fn prefixes_clear_host_bits_and_check_lengths() {
    assert_eq!(pfx("10.1.2.3/8").to_string(), "10.0.0.0/8");
    assert_eq!(pfx("2001:db8::1/32").to_string(), "2001:db8::/32");
    assert_eq!(Prefix::new("10.0.0.0".parse().unwrap(), 33), None);
    let mut out = Vec::new();
    // Host bits set in the octets are cleared too.
    assert_eq!(
        decode_prefixes(&[12, 10, 0xff], Family::Ipv4Unicast, &mut out),
        Ok(())
    );
    assert_eq!(out, pfxs("10.240.0.0/12"));
    for bad in [&[33u8, 1, 2, 3, 4, 5][..], &[24, 10, 0], &[129]] {
        let fam = if bad == [129] {
            Family::Ipv6Unicast
        } else {
            Family::Ipv4Unicast
        };
        assert_eq!(decode_prefixes(bad, fam, &mut out), Err(()), "{bad:?}");
    }
}

#[test]
fn session_resets_where_rfc_7606_keeps_them() {
    let empty = update(&[], &[], &[]);
    let header = &empty[..HEADER_LEN];
    let short_nh = mp_reach_v6(&[1; 4], "2001:db8::/32");
    let bad_nlri = attribute(
        0x80,
        14,
        &unhex("0002 01 10 20010db8000000000000000000000001 00 81"),
    );
    let reach = mp_reach_v6(&v6("2001:db8::1"), "");
    let cases: Vec<(Vec<u8>, String)> = vec![
        // Withdrawn routes, or path attributes, past the message.
        ([header, &[0, 9, 0, 0]].concat(), "reset 3/1".into()),
        ([header, &[0, 0, 0, 9]].concat(), "reset 3/1".into()),
        // A prefix longer than 32 bits, or past the end, in either field.
        (update(&[33, 1, 2, 3, 4, 5], &[], &[]), "reset 3/10".into()),
        (update(&[16, 10], &[], &[]), "reset 3/10".into()),
        (update(&[], &base(), &[24, 10, 0]), "reset 3/10".into()),
        // An unrecognized well-known attribute.
        (
            update(
                &[],
                &cat(&[base(), attribute(0x40, 99, &[1])]),
                &nlri("10.0.0.0/8"),
            ),
            "reset 3/2 40630101".into(),
        ),
        // MP_REACH_NLRI: a next hop of another length, NLRI that does not
        // parse, a length past the attributes, twice.
        (
            update(
                &[],
                &cat(&[origin(0), as_path4(&[1]), short_nh.clone()]),
                &[],
            ),
            format!("reset 3/9 {}", tohex(&short_nh)),
        ),
        (
            update(
                &[],
                &cat(&[origin(0), as_path4(&[1]), bad_nlri.clone()]),
                &[],
            ),
            format!("reset 3/9 {}", tohex(&bad_nlri)),
        ),
        (
            update(&[], &unhex("800e0500020110"), &[]),
            "reset 3/9 800e0500020110".into(),
        ),
        (
            update(&[], &cat(&[reach.clone(), reach]), &[]),
            "reset 3/1".into(),
        ),
        // MP_UNREACH_NLRI: twice, a bad prefix, too short, past the end.
        (
            update(&[], &unhex("800f 03 000201 800f 03 000201"), &[]),
            "reset 3/1".into(),
        ),
        (
            update(&[], &unhex("800f 04 000201 81"), &[]),
            "reset 3/9 800f0400020181".into(),
        ),
        (
            update(&[], &unhex("800f 02 0002"), &[]),
            "reset 3/9 800f020002".into(),
        ),
        (
            update(
                &[],
                &cat(&[next_hop("10.0.0.1"), unhex("800f 0a 0002")]),
                &[],
            ),
            "reset 3/9 800f0a0002".into(),
        ),
    ];
    for (msg, want) in cases {
        check(&msg, EBGP4, &want);
    }
}

#[test]
fn treat_as_withdraw_where_rfc_7606_says() {
    let n = nlri("10.60.0.0/16 10.61.0.0/16");
    let gone = "- 10.60.0.0/16\n- 10.61.0.0/16";
    let bad = |attrs: Vec<u8>, why: &str| (attrs, format!("{gone}\nwithdraw: {why}"));
    for (attrs, want) in [
        bad(
            cat(&[origin(3), as_path4(&[1]), next_hop("10.0.0.1")]),
            "malformed ORIGIN (value 3)",
        ),
        bad(
            cat(&[
                attribute(0x40, 1, &[0, 0]),
                as_path4(&[1]),
                next_hop("10.0.0.1"),
            ]),
            "malformed ORIGIN (length 2)",
        ),
        bad(
            cat(&[
                attribute(0xc0, 1, &[0]),
                as_path4(&[1]),
                next_hop("10.0.0.1"),
            ]),
            "ORIGIN has the wrong flags 0xc0",
        ),
        bad(cat(&[origin(0), next_hop("10.0.0.1")]), "missing AS_PATH"),
        bad(cat(&[as_path4(&[1])]), "missing ORIGIN, NEXT_HOP"),
        bad(vec![], "missing ORIGIN, AS_PATH, NEXT_HOP"),
        bad(
            cat(&[origin(0), as_path4(&[1]), next_hop("0.0.0.0")]),
            "NEXT_HOP 0.0.0.0 is not a unicast address",
        ),
        bad(
            cat(&[origin(0), as_path4(&[1]), next_hop("224.0.0.5")]),
            "NEXT_HOP 224.0.0.5 is not a unicast address",
        ),
        bad(
            cat(&[origin(0), as_path4(&[1]), attribute(0x40, 3, &[10, 0, 0])]),
            "malformed NEXT_HOP (length 3)",
        ),
        bad(
            cat(&[base(), attribute(0x80, 4, &[0, 0, 1])]),
            "malformed MULTI_EXIT_DISC (length 3)",
        ),
        bad(
            cat(&[base(), attribute(0x40, 4, &[0, 0, 0, 1])]),
            "MULTI_EXIT_DISC has the wrong flags 0x40",
        ),
        bad(
            cat(&[base(), attribute(0x40, 5, &[0, 0, 1])]),
            "malformed LOCAL_PREF (length 3)",
        ),
        bad(
            cat(&[base(), attribute(0xc0, 8, &[0, 0, 1])]),
            "malformed COMMUNITIES (length 3)",
        ),
        bad(
            cat(&[base(), attribute(0xc0, 16, &[0; 7])]),
            "malformed EXTENDED_COMMUNITIES (length 7)",
        ),
        bad(
            cat(&[base(), attribute(0xc0, 32, &[0; 13])]),
            "malformed LARGE_COMMUNITY (length 13)",
        ),
        bad(
            cat(&[base(), attribute(0x80, 9, &[0; 3])]),
            "malformed ORIGINATOR_ID (length 3)",
        ),
        bad(
            cat(&[base(), attribute(0x80, 10, &[0; 5])]),
            "malformed CLUSTER_LIST (length 5)",
        ),
        // AS_PATH: a segment type, an empty segment, an overrun, an
        // underrun, AS 0 (RFC 7607).
        bad(
            cat(&[
                origin(0),
                attribute(0x40, 2, &segment(5, &[1], 4)),
                next_hop("10.0.0.1"),
            ]),
            "malformed AS_PATH (an unknown segment type)",
        ),
        bad(
            cat(&[origin(0), attribute(0x40, 2, &[2, 0]), next_hop("10.0.0.1")]),
            "malformed AS_PATH (an empty segment)",
        ),
        bad(
            cat(&[
                origin(0),
                attribute(0x40, 2, &[2, 2, 0, 0, 0, 1]),
                next_hop("10.0.0.1"),
            ]),
            "malformed AS_PATH (a segment overruns the attribute)",
        ),
        bad(
            cat(&[
                origin(0),
                attribute(0x40, 2, &[2, 1, 0, 0, 0, 1, 2]),
                next_hop("10.0.0.1"),
            ]),
            "malformed AS_PATH (a truncated segment)",
        ),
        bad(
            cat(&[origin(0), as_path4(&[65001, 0]), next_hop("10.0.0.1")]),
            "malformed AS_PATH (AS 0)",
        ),
        // RFC 7606 §4: an attribute past the attributes, or a stub too
        // short to be one.
        bad(
            cat(&[base(), unhex("c0 08 08 0000")]),
            "COMMUNITIES overruns the path attributes",
        ),
        bad(
            cat(&[base(), unhex("d0 08 00")]),
            "COMMUNITIES overruns the path attributes",
        ),
        bad(
            cat(&[base(), unhex("c0")]),
            "path attributes end in a truncated attribute",
        ),
    ] {
        check(&update(&[], &attrs, &n), EBGP4, &want);
    }
}

#[test]
fn treat_as_withdraw_and_mp_reach() {
    // A prefix both withdrawn and announced is announced (RFC 4271 §3.1),
    // unless the attributes are malformed.
    check(
        &update(
            &nlri("10.60.0.0/16"),
            &cat(&[origin(9), as_path4(&[1]), next_hop("10.0.0.1")]),
            &nlri("10.60.0.0/16"),
        ),
        EBGP4,
        "- 10.60.0.0/16\n- 10.60.0.0/16\nwithdraw: malformed ORIGIN (value 9)",
    );
    check(
        &update(
            &nlri("10.60.0.0/16 10.1.0.0/16"),
            &base(),
            &nlri("10.60.0.0/16"),
        ),
        EBGP4,
        "+ 10.60.0.0/16 via 10.33.20.142 origin 0 path 65001 len 1\n- 10.1.0.0/16",
    );
    // IPv6 in MP_REACH_NLRI: an unusable next hop; no ORIGIN; NEXT_HOP not
    // needed.
    let reach = mp_reach_v6(&v6("ff02::1"), "2001:db8:60::/48");
    check(
        &update(&[], &cat(&[origin(0), as_path4(&[1]), reach]), &[]),
        EBGP4,
        "- 2001:db8:60::/48\nwithdraw: next hop ff02::1 is not a unicast address",
    );
    let reach = mp_reach_v6(&v6("2001:db8::1"), "2001:db8:60::/48");
    check(
        &update(&[], &cat(&[as_path4(&[1]), reach.clone()]), &[]),
        EBGP4,
        "- 2001:db8:60::/48\nwithdraw: missing ORIGIN",
    );
    check(
        &update(&[], &cat(&[origin(1), as_path4(&[1]), reach]), &[]),
        EBGP4,
        "+ 2001:db8:60::/48 via 2001:db8::1 origin 1 path 1 len 1",
    );
    // Wrong flags on MP_REACH_NLRI: its NLRI still parses, so withdrawn.
    let mut reach = mp_reach_v6(&v6("2001:db8::1"), "2001:db8:60::/48");
    reach[0] = 0xc0;
    check(
        &update(&[], &cat(&[origin(0), as_path4(&[1]), reach]), &[]),
        EBGP4,
        "- 2001:db8:60::/48\nwithdraw: MP_REACH_NLRI has the wrong flags 0xc0",
    );
}

#[test]
fn attribute_discard_and_skipping() {
    let n = nlri("10.60.0.0/16");
    let ok = "+ 10.60.0.0/16 via 10.33.20.142 origin 0 path 65001 len 1";
    for attrs in [
        // A second ORIGIN (another value) is discarded.
        cat(&[base(), origin(2)]),
        // ATOMIC_AGGREGATE and AGGREGATOR of a wrong length, AGGREGATOR
        // with AS 0.
        cat(&[base(), attribute(0x40, 6, &[1])]),
        cat(&[base(), attribute(0xc0, 7, &[0; 3])]),
        cat(&[base(), attribute(0xc0, 7, &unhex("00000000 0a000001"))]),
        // Unknown optional attributes, transitive or not, partial, with
        // an extended length.
        cat(&[base(), attribute(0xc0, 99, &[1, 2, 3])]),
        cat(&[base(), attribute(0x80, 200, &[])]),
        cat(&[base(), attribute(0xe0, 99, &[0; 300])]),
        cat(&[base(), unhex("d0 63 0002 abcd")]),
        // AS4_PATH on a 4-octet session is not used.
        cat(&[base(), attribute(0xc0, 17, &segment(2, &[7, 8, 9], 4))]),
        // LOCAL_PREF from an external peer is not ours to use.
        cat(&[base(), attribute(0x40, 5, &[0, 0, 0, 200])]),
        // Valid COMMUNITIES, extended length flag on a known attribute.
        cat(&[
            base(),
            attribute(0xc0, 8, &[0, 0, 0, 1]),
            unhex("90 09 0004 0a000001"),
        ]),
    ] {
        check(&update(&[], &attrs, &n), EBGP4, ok);
    }
    check(
        &update(
            &[],
            &cat(&[
                base(),
                attribute(0x40, 5, &[0, 0, 0, 200]),
                attribute(0x80, 4, &[0, 0, 0, 7]),
            ]),
            &n,
        ),
        IBGP4,
        "+ 10.60.0.0/16 via 10.33.20.142 origin 0 path 65001 len 1 med 7 lp 200",
    );
    // Attribute errors in an UPDATE that announces nothing cost nothing.
    check(
        &update(
            &nlri("10.1.0.0/16"),
            &[origin(7), as_path4(&[1])].concat(),
            &[],
        ),
        EBGP4,
        "- 10.1.0.0/16",
    );
    // An MP_REACH_NLRI of a family we do not take is ignored.
    let vpn = attribute(0x80, 14, &unhex("0001 80 0c 000000000000000001020304 00"));
    check(&update(&[], &cat(&[base(), vpn]), &n), EBGP4, ok);
}

#[test]
fn as_paths_sets_and_as4_path_merge() {
    let n = nlri("10.60.0.0/16");
    let two = |segs: &[Vec<u8>]| attribute(0x40, 2, &segs.concat());
    let as4 = |segs: &[Vec<u8>]| attribute(0xc0, 17, &segs.concat());
    let head = "+ 10.60.0.0/16 via 10.0.0.1 origin 0 path";
    for (ctx, path_attrs, want) in [
        // A set counts 1, confederation segments nothing.
        (
            EBGP4,
            attribute(
                0x40,
                2,
                &[
                    segment(2, &[1, 2], 4),
                    segment(1, &[3, 4, 5], 4),
                    segment(3, &[9], 4),
                ]
                .concat(),
            ),
            "1,2,3,4,5 len 3",
        ),
        // 2-octet session, no AS4_PATH.
        (
            EBGP2,
            two(&[segment(2, &[65001, 65002], 2)]),
            "65001,65002 len 2",
        ),
        // AS4_PATH fills in the AS_TRANS.
        (
            EBGP2,
            cat(&[
                two(&[segment(2, &[65001, 23456, 23456], 2)]),
                as4(&[segment(2, &[4_200_000_001, 4_200_000_002], 4)]),
            ]),
            "65001,4200000001,4200000002 len 3",
        ),
        // AS4_PATH counting more than AS_PATH is ignored.
        (
            EBGP2,
            cat(&[
                two(&[segment(2, &[23456], 2)]),
                as4(&[segment(2, &[7, 8], 4)]),
            ]),
            "23456 len 1",
        ),
        // Equal counts: AS4_PATH is the path.
        (
            EBGP2,
            cat(&[
                two(&[segment(2, &[65001, 23456], 2)]),
                as4(&[segment(2, &[65001, 4_200_000_001], 4)]),
            ]),
            "65001,4200000001 len 2",
        ),
        // A set in AS_PATH's leading part is taken whole.
        (
            EBGP2,
            cat(&[
                two(&[segment(1, &[10, 11], 2), segment(2, &[23456], 2)]),
                as4(&[segment(2, &[4_200_000_001], 4)]),
            ]),
            "10,11,4200000001 len 2",
        ),
        // A malformed AS4_PATH is discarded (RFC 6793 §6), so is AS 0 in it.
        (
            EBGP2,
            cat(&[
                two(&[segment(2, &[65001, 23456], 2)]),
                attribute(0xc0, 17, &[2, 3, 0, 0]),
            ]),
            "65001,23456 len 2",
        ),
        (
            EBGP2,
            cat(&[
                two(&[segment(2, &[65001, 23456], 2)]),
                as4(&[segment(2, &[0], 4)]),
            ]),
            "65001,23456 len 2",
        ),
        // Confederation segments in AS4_PATH are dropped.
        (
            EBGP2,
            cat(&[
                two(&[segment(2, &[65001, 23456], 2)]),
                as4(&[segment(3, &[5], 4), segment(2, &[4_200_000_001], 4)]),
            ]),
            "65001,4200000001 len 2",
        ),
        // AGGREGATOR from a 2-octet AS other than AS_TRANS: AS4_PATH is stale.
        (
            EBGP2,
            cat(&[
                two(&[segment(2, &[65001, 23456], 2)]),
                as4(&[segment(2, &[4_200_000_001], 4)]),
                attribute(0xc0, 7, &unhex("fde9 0a000001")),
            ]),
            "65001,23456 len 2",
        ),
        (
            EBGP2,
            cat(&[
                two(&[segment(2, &[65001, 23456], 2)]),
                as4(&[segment(2, &[4_200_000_001], 4)]),
                attribute(0xc0, 7, &unhex("5ba0 0a000001")),
            ]),
            "65001,4200000001 len 2",
        ),
        // An empty AS_PATH (iBGP-originated) is valid.
        (EBGP4, attribute(0x40, 2, &[]), " len 0"),
    ] {
        let attrs = cat(&[origin(0), path_attrs, next_hop("10.0.0.1")]);
        let want = format!("{head} {want}");
        check(&update(&[], &attrs, &n), ctx, &want);
    }
}

#[test]
fn mp_next_hops_and_ipv4_in_mp_reach() {
    // 32 octets: global and link-local; the global one is used.
    let nh = [v6("2001:db8::1"), v6("fe80::1")].concat();
    let attrs = cat(&[
        origin(0),
        as_path4(&[1]),
        mp_reach_v6(&nh, "2001:db8:60::/48"),
    ]);
    check(
        &update(&[], &attrs, &[]),
        EBGP4,
        "+ 2001:db8:60::/48 via 2001:db8::1 origin 0 path 1 len 1",
    );
    let v4 = attribute(0x80, 14, &unhex("0001 01 04 0a000001 00 100a3c"));
    check(
        &update(&[], &cat(&[origin(0), as_path4(&[1]), v4]), &[]),
        EBGP4,
        "+ 10.60.0.0/16 via 10.0.0.1 origin 0 path 1 len 1",
    );
    // Both at once: each prefix with its own next hop.
    let attrs = cat(&[base(), mp_reach_v6(&v6("2001:db8::1"), "2001:db8:60::/48")]);
    check(
        &update(&[], &attrs, &nlri("10.60.0.0/16")),
        EBGP4,
        "+ 10.60.0.0/16 via 10.33.20.142 origin 0 path 65001 len 1\n+ 2001:db8:60::/48 via 2001:db8::1 origin 0 path 65001 len 1",
    );
}

#[test]
fn decoding_arbitrary_bytes_never_panics() {
    // Every prefix of every length of a few shapes, as a cheap sweep; the
    // session's randomized test and the fuzz targets go further.
    let samples = [
        announce(
            &pfxs("10.0.0.0/8 2001:db8::/32"),
            &Path {
                origin: 0,
                as_path: vec![1, 70000],
                as_path_len: 2,
                next_hop: "10.0.0.1".parse().unwrap(),
                med: Some(1),
                local_pref: Some(2),
            },
            false,
        ),
        withdraw(&pfxs("10.0.0.0/8 2001:db8::/32")),
        Open::ours(65000, 90, Ipv4Addr::new(1, 2, 3, 4)).encode(),
    ];
    for s in &samples {
        for end in 0..s.len() {
            let body = &s[HEADER_LEN.min(end)..end];
            for ctx in [EBGP2, EBGP4] {
                let _ = decode_update(body, ctx);
            }
            let _ = Open::decode(body);
            let _ = Notification::decode(body).to_string();
            let _ = frame(&s[..end]);
        }
    }
}
