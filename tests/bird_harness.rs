//! Tests of the BIRD harness itself (`tests/common/bird.rs`), against real
//! BIRD 2 processes on loopback and the harness's own minimal listener:
//! what the BGP tests rely on it for (the session comes up, routes arrive
//! with the attributes set, withdrawals, an administrative shutdown, a
//! killed or frozen peer, TCP MD5) works as it says. The UPDATEs are
//! decoded here, just enough to check them.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::bird::listener::{
    is_end_of_rib, Message, Received, Session, TestListener, KEEPALIVE, NOTIFICATION, UPDATE,
};
use common::bird::{Bird, BirdConfig, Origin, Route};
use common::{A_IP, B_IP};

/// The listener's side of the session.
const LISTENER_AS: u32 = 65000;
const LISTENER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Bound on BIRD's connection: its first attempt comes about a second after
/// the start, later ones within `error wait time` (2 s).
const CONNECT: Duration = Duration::from_secs(20);
/// Bound on a message BIRD sends at once.
const PROMPT: Duration = Duration::from_secs(5);

/// A listener on 127.0.0.1 and a config for a BIRD connecting to it from
/// 127.0.0.`n`.
fn setup(n: u8) -> (TestListener, BirdConfig) {
    let listener = TestListener::bind(Ipv4Addr::LOCALHOST);
    let config = BirdConfig::new(listener.addr(), Ipv4Addr::new(127, 0, 0, n));
    (listener, config)
}

/// Accepts BIRD's connection (checking it comes from its source address)
/// and answers its OPEN; returns the session and BIRD's OPEN.
fn accept(bird: &Bird, listener: &TestListener, hold: u16) -> (Session, Message) {
    let mut session = listener
        .accept(CONNECT)
        .unwrap_or_else(|| panic!("BIRD did not connect:\n{}", bird.log()));
    assert_eq!(session.peer.ip(), IpAddr::V4(bird.source()));
    let open = session.handshake(LISTENER_AS, hold, LISTENER_ID);
    (session, open)
}

/// An established session whose routes flow at once: after BIRD's first
/// KEEPALIVE, our End-of-RIB (see the note in `common/bird.rs`).
fn establish(bird: &Bird, listener: &TestListener) -> Session {
    let (mut session, _) = accept(bird, listener, 9);
    session.expect(KEEPALIVE, PROMPT);
    session.send_end_of_rib();
    bird.wait_state("Established");
    session
}

/// What an UPDATE says, decoded as far as these tests look.
#[derive(Debug, Default, PartialEq, Eq)]
struct Update {
    /// Withdrawn routes and MP_UNREACH_NLRI prefixes.
    withdrawn: Vec<String>,
    /// NLRI and MP_REACH_NLRI prefixes.
    announced: Vec<String>,
    /// NEXT_HOP, or MP_REACH_NLRI's (global) next hop.
    next_hop: Option<IpAddr>,
    origin: Option<u8>,
    /// AS_PATH's AS numbers (4 octets each: both sides have the capability).
    as_path: Vec<u32>,
    med: Option<u32>,
    local_pref: Option<u32>,
}

fn u16_at(b: &[u8], i: usize) -> usize {
    usize::from(u16::from_be_bytes([b[i], b[i + 1]]))
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes(b[i..i + 4].try_into().unwrap())
}

/// Prefixes in NLRI encoding (length in bits, then as many bytes as it
/// takes) of an address family whose addresses are `width` bytes.
fn prefixes(mut b: &[u8], width: usize) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((&bits, rest)) = b.split_first() {
        let n = usize::from(bits).div_ceil(8);
        let mut addr = [0u8; 16];
        addr[..n].copy_from_slice(&rest[..n]);
        let ip: IpAddr = if width == 4 {
            Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).into()
        } else {
            Ipv6Addr::from(addr).into()
        };
        out.push(format!("{ip}/{bits}"));
        b = &rest[n..];
    }
    out
}

fn width(afi: usize) -> usize {
    match afi {
        1 => 4,
        2 => 16,
        _ => panic!("AFI {afi}"),
    }
}

/// One path attribute (type `code`, value `v`) into `u`.
fn attribute(u: &mut Update, code: u8, v: &[u8]) {
    match code {
        1 => u.origin = Some(v[0]),
        2 => {
            let mut s = v;
            while !s.is_empty() {
                let count = usize::from(s[1]);
                u.as_path.extend((0..count).map(|i| u32_at(s, 2 + 4 * i)));
                s = &s[2 + 4 * count..];
            }
        }
        3 => u.next_hop = Some(Ipv4Addr::new(v[0], v[1], v[2], v[3]).into()),
        4 => u.med = Some(u32_at(v, 0)),
        5 => u.local_pref = Some(u32_at(v, 0)),
        14 => {
            let (w, nh_len) = (width(u16_at(v, 0)), usize::from(v[3]));
            let nh = &v[4..4 + nh_len];
            u.next_hop = Some(if w == 4 {
                Ipv4Addr::new(nh[0], nh[1], nh[2], nh[3]).into()
            } else {
                Ipv6Addr::from(<[u8; 16]>::try_from(&nh[..16]).unwrap()).into()
            });
            // Then one reserved byte, then the NLRI.
            u.announced.extend(prefixes(&v[5 + nh_len..], w));
        }
        15 => u.withdrawn.extend(prefixes(&v[3..], width(u16_at(v, 0)))),
        _ => {}
    }
}

fn decode(body: &[u8]) -> Update {
    let mut u = Update::default();
    let withdrawn_len = u16_at(body, 0);
    u.withdrawn = prefixes(&body[2..2 + withdrawn_len], 4);
    let at = 2 + withdrawn_len;
    let attrs_len = u16_at(body, at);
    let mut attrs = &body[at + 2..at + 2 + attrs_len];
    while !attrs.is_empty() {
        let (flags, code) = (attrs[0], attrs[1]);
        // Extended length (flag 0x10): two bytes.
        let (len, start) = if flags & 0x10 != 0 {
            (u16_at(attrs, 2), 4)
        } else {
            (usize::from(attrs[2]), 3)
        };
        attribute(&mut u, code, &attrs[start..start + len]);
        attrs = &attrs[start + len..];
    }
    u.announced.extend(prefixes(&body[at + 2 + attrs_len..], 4));
    u
}

/// The next UPDATE that is not an End-of-RIB, decoded.
fn next_update(session: &mut Session, bird: &Bird) -> Update {
    let until = Instant::now() + PROMPT;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let msg = match session.recv(left) {
            Received::Message(m) => m,
            other => panic!("no UPDATE: {other:?}\n{}", bird.log()),
        };
        if msg.kind == UPDATE && !is_end_of_rib(&msg) {
            return decode(&msg.body);
        }
        assert!(
            msg.kind == KEEPALIVE || is_end_of_rib(&msg),
            "{msg:?}\n{}",
            bird.log()
        );
    }
}

#[test]
fn bird_reaches_established_with_the_listener() {
    let (listener, config) = setup(11);
    let bird = Bird::start("established", config);
    let (_session, open) = accept(&bird, &listener, 9);
    assert_eq!(open.body[0], 4, "BGP version");
    assert_eq!(u16::from_be_bytes([open.body[1], open.body[2]]), 65001);
    assert_eq!(u16::from_be_bytes([open.body[3], open.body[4]]), 9);
    assert_eq!(open.body[5..9], [127, 0, 0, 11], "router id");
    // The 4-octet AS capability (65, length 4) carries the local AS.
    let caps = &open.body[10..];
    assert!(
        caps.windows(6).any(|w| w == [65, 4, 0, 0, 0xfd, 0xe9]),
        "{caps:02x?}"
    );
    bird.wait_state("Established");
    assert_eq!(bird.state(), "Established");
}

#[test]
fn announced_route_arrives_with_its_attributes_and_withdraws() {
    let (listener, mut config) = setup(12);
    let route = Route {
        local_pref: Some(200),
        med: Some(7),
        prepend: 2,
        origin: Some(Origin::Egp),
        ..Route::via(A_IP)
    };
    config.routes.push(("10.1.0.0/16".into(), route));
    let bird = Bird::start("attrs", config);
    let mut session = establish(&bird, &listener);
    let u = next_update(&mut session, &bird);
    assert_eq!(u.announced, ["10.1.0.0/16"]);
    assert_eq!(u.next_hop, Some(A_IP.parse().unwrap()));
    assert_eq!(u.local_pref, Some(200));
    assert_eq!(u.med, Some(7));
    assert_eq!(u.as_path, [65001, 65001, 65001], "its AS and 2 prepended");
    assert_eq!(u.origin, Some(1), "EGP");

    // A route added while the session is up; nothing optional set.
    bird.announce("10.2.0.0/24", Route::via(B_IP));
    let u = next_update(&mut session, &bird);
    assert_eq!(u.announced, ["10.2.0.0/24"]);
    assert_eq!(u.next_hop, Some(B_IP.parse().unwrap()));
    assert_eq!((u.local_pref, u.med), (None, None));
    assert_eq!(u.as_path, [65001]);
    assert_eq!(u.origin, Some(0), "IGP");

    // A changed attribute is announced again.
    let lower = Route {
        med: Some(50),
        ..Route::via(B_IP)
    };
    bird.announce("10.2.0.0/24", lower);
    let u = next_update(&mut session, &bird);
    assert_eq!((u.announced, u.med), (vec!["10.2.0.0/24".into()], Some(50)));

    bird.withdraw("10.1.0.0/16");
    let u = next_update(&mut session, &bird);
    assert_eq!(u.withdrawn, ["10.1.0.0/16"]);
    assert!(u.announced.is_empty(), "{u:?}");
}

#[test]
fn ibgp_keeps_the_next_hop_and_adds_the_default_local_pref() {
    let (listener, mut config) = setup(20);
    config.local_as = LISTENER_AS;
    config.neighbor_as = LISTENER_AS;
    let route = Route {
        med: Some(3),
        prepend: 1,
        ..Route::via(A_IP)
    };
    config.routes.push(("10.5.0.0/16".into(), route));
    let bird = Bird::start("ibgp", config);
    let mut session = establish(&bird, &listener);
    let u = next_update(&mut session, &bird);
    assert_eq!(u.announced, ["10.5.0.0/16"]);
    assert_eq!(u.next_hop, Some(A_IP.parse().unwrap()));
    // Over iBGP BIRD does not add its own AS, and sends LOCAL_PREF 100
    // when the route has none.
    assert_eq!(u.as_path, [LISTENER_AS]);
    assert_eq!((u.local_pref, u.med), (Some(100), Some(3)));
}

#[test]
fn ipv6_routes_arrive_over_mp_reach_and_leave_over_mp_unreach() {
    let (listener, config) = setup(13);
    let bird = Bird::start("ipv6", config);
    let mut session = establish(&bird, &listener);
    bird.announce("2001:db8:1::/48", Route::via("2001:db8::42"));
    let u = next_update(&mut session, &bird);
    assert_eq!(u.announced, ["2001:db8:1::/48"]);
    assert_eq!(u.next_hop, Some("2001:db8::42".parse().unwrap()));
    bird.withdraw("2001:db8:1::/48");
    let u = next_update(&mut session, &bird);
    assert_eq!(u.withdrawn, ["2001:db8:1::/48"]);
}

#[test]
fn disable_sends_cease_administrative_shutdown_and_enable_reconnects() {
    let (listener, config) = setup(14);
    let bird = Bird::start("disable", config);
    let mut session = establish(&bird, &listener);
    bird.disable("maintenance window");
    let n = session.expect(NOTIFICATION, PROMPT);
    assert_eq!(n.body[..2], [6, 2], "Cease / Administrative Shutdown");
    // RFC 8203: the message, after its length.
    assert_eq!(n.body[2..], *b"\x12maintenance window");
    assert!(matches!(session.recv(PROMPT), Received::Closed(_)));

    // A reload (here: an announcement) keeps it down.
    bird.announce("10.3.0.0/16", Route::via(A_IP));
    assert_eq!(bird.state(), "Down");
    assert!(listener.accept(Duration::from_secs(2)).is_none());

    bird.enable();
    let mut session = establish(&bird, &listener);
    assert_eq!(next_update(&mut session, &bird).announced, ["10.3.0.0/16"]);
}

#[test]
fn kill9_closes_the_connection() {
    let (listener, config) = setup(15);
    let bird = Bird::start("kill9", config);
    let mut session = establish(&bird, &listener);
    bird.kill9();
    loop {
        match session.recv(PROMPT) {
            Received::Closed(_) => break,
            Received::Message(m) if m.kind == KEEPALIVE || is_end_of_rib(&m) => {}
            other => panic!("expected the connection to close, got {other:?}"),
        }
    }
}

#[test]
fn pause_stops_keepalives_until_resume() {
    let (listener, mut config) = setup(16);
    // BIRD sends a KEEPALIVE every 2 s (or a bit less: it jitters).
    config.hold_time = 6;
    let bird = Bird::start("pause", config);
    let mut session = establish(&bird, &listener);
    // Its periodic KEEPALIVEs (End-of-RIBs skipped).
    session.expect(KEEPALIVE, Duration::from_secs(3));
    session.expect(KEEPALIVE, Duration::from_secs(3));
    bird.pause();
    // Longer than its keepalive interval, shorter than the hold time.
    match session.recv(Duration::from_millis(3500)) {
        Received::TimedOut => {}
        other => panic!("a paused BIRD sent {other:?}"),
    }
    bird.resume();
    session.expect(KEEPALIVE, Duration::from_secs(3));
    assert_eq!(bird.state(), "Established");
}

#[test]
fn tcp_md5_password_must_match_the_listeners_key() {
    let (listener, mut config) = setup(17);
    config.password = Some("s3cret-for-tests".into());
    let bird = Bird::start("md5", config);
    let source = bird.source();
    // The kernel drops BIRD's signed SYNs while the listener has no key
    // for it, or another key: no connection, never Established.
    assert!(listener.accept(Duration::from_secs(3)).is_none());
    listener.set_md5_key(source, "another-key");
    assert!(listener.accept(Duration::from_secs(3)).is_none());
    assert_ne!(bird.state(), "Established");
    listener.set_md5_key(source, "s3cret-for-tests");
    let _session = establish(&bird, &listener);
}

/// The fixture for the two tests of when the first UPDATE leaves: hold
/// time 240 s, so that no keepalive timer fires within the test.
fn first_update_session(n: u8) -> (Bird, Session, TestListener) {
    let (listener, mut config) = setup(n);
    config.hold_time = 240;
    config.routes.push(("10.4.0.0/16".into(), Route::via(A_IP)));
    let bird = Bird::start(&format!("first{n}"), config);
    let (mut session, _) = accept(&bird, &listener, 240);
    session.expect(KEEPALIVE, PROMPT);
    (bird, session, listener)
}

#[test]
fn first_update_follows_our_end_of_rib_at_once() {
    let (bird, mut session, _listener) = first_update_session(18);
    let sent = Instant::now();
    session.send_end_of_rib();
    assert_eq!(next_update(&mut session, &bird).announced, ["10.4.0.0/16"]);
    let took = sent.elapsed();
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn first_update_does_not_wait_for_our_end_of_rib() {
    let (bird, mut session, _listener) = first_update_session(19);
    let since = Instant::now();
    let m = session.expect(UPDATE, PROMPT);
    let took = since.elapsed();
    assert_eq!(decode(&m.body).announced, ["10.4.0.0/16"]);
    // BIRD 2.0.12 sends it when its event loop wakes up: here its 3 s poll
    // timeout, as nothing else happens (the note in common/bird.rs).
    if bird.birdc(&["show", "status"]).starts_with("BIRD 2.0.12\n") {
        assert!(took > Duration::from_secs(2), "{took:?}");
    }
}
