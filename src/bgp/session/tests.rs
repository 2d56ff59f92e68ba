//! The state machine as data: a script of what the peer sends and when,
//! and a compact text of what the session answered (messages sent, events,
//! deadline, close).

use std::fmt::Write as _;

use super::*;
use crate::bgp::wire::{announce, end_of_rib, keepalive, withdraw};

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

fn config() -> Config {
    Config {
        local_as: 65000,
        router_id: Ipv4Addr::new(192, 0, 2, 99),
        hold_time: 90,
        peer_as: Some(65001),
        max_prefixes: 100,
    }
}

/// The peer's OPEN: BIRD's defaults (AS 65001, hold 240, 192.0.2.1,
/// IPv4 and IPv6, 4-octet AS).
fn peer_open() -> Open {
    Open::ours(65001, 240, Ipv4Addr::new(192, 0, 2, 1))
}

fn pfx(s: &str) -> Prefix {
    let (a, l) = s.split_once('/').unwrap();
    Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
}

fn pfxs(s: &str) -> Vec<Prefix> {
    s.split_whitespace().map(pfx).collect()
}

fn path(next_hop: &str) -> Path {
    Path {
        origin: 0,
        as_path: vec![65001],
        as_path_len: 1,
        next_hop: next_hop.parse().unwrap(),
        med: None,
        local_pref: None,
    }
}

/// The messages in `bytes`, which must be whole and well-formed.
fn messages(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (t, len) = wire::frame(rest)
            .expect("a valid header")
            .expect("a whole message");
        out.push((t, rest[wire::HEADER_LEN..len].to_vec()));
        rest = &rest[len..];
    }
    out
}

/// An output as lines, times relative to `t0`.
fn show(out: &Output, t0: Instant) -> String {
    let mut s = String::new();
    for (t, body) in messages(&out.send) {
        match t {
            kind::OPEN => {
                let o = Open::decode(&body).unwrap();
                writeln!(
                    s,
                    "send OPEN as {} hold {} id {}",
                    o.asn(),
                    o.hold_time,
                    o.bgp_id
                )
                .unwrap();
            }
            kind::KEEPALIVE => s.push_str("send KEEPALIVE\n"),
            kind::NOTIFICATION => {
                let n = Notification::decode(&body);
                writeln!(s, "send NOTIFICATION {} ({n})", tohex(&body)).unwrap();
            }
            t => writeln!(s, "send type {t}").unwrap(),
        }
    }
    for e in &out.events {
        match e {
            Event::Update {
                announced,
                withdrawn,
                treat_as_withdraw,
            } => {
                let a: Vec<String> = announced
                    .iter()
                    .map(|(p, path)| format!("{p} via {}", path.next_hop))
                    .collect();
                let w: Vec<String> = withdrawn.iter().map(Prefix::to_string).collect();
                write!(s, "Update +[{}] -[{}]", a.join(" "), w.join(" ")).unwrap();
                if let Some(why) = treat_as_withdraw {
                    write!(s, " withdraw: {why}").unwrap();
                }
                s.push('\n');
            }
            e => writeln!(s, "{e:?}").unwrap(),
        }
    }
    if let Some(d) = out.deadline {
        writeln!(s, "deadline +{}s", (d - t0).as_secs_f64()).unwrap();
    }
    if out.close {
        s.push_str("close\n");
    }
    s.trim_end().to_string()
}

fn at(t0: Instant, secs: u64) -> Instant {
    t0 + Duration::from_secs(secs)
}

/// A session past OPEN and KEEPALIVE from `open`, at `t0`.
fn established(config: Config, open: &Open) -> (Session, Instant) {
    let t0 = Instant::now();
    let (mut s, _) = Session::new(config, t0);
    s.input(&open.encode(), t0);
    let out = s.input(&keepalive(), t0);
    assert_eq!(s.state(), State::Established, "{}", show(&out, t0));
    (s, t0)
}

#[test]
fn handshake_with_the_keepalive_that_wakes_bird() {
    let t0 = Instant::now();
    let (mut s, out) = Session::new(config(), t0);
    assert_eq!(
        show(&out, t0),
        "send OPEN as 65000 hold 90 id 192.0.2.99\ndeadline +240s"
    );
    assert_eq!(s.state(), State::OpenSent);
    let out = s.input(&peer_open().encode(), at(t0, 1));
    assert_eq!(show(&out, t0), "send KEEPALIVE\ndeadline +31s");
    assert_eq!(s.state(), State::OpenConfirm);
    // Established; our next KEEPALIVE a second after the last, to wake
    // BIRD up (see Session::established), then every 30 s.
    let out = s.input(&keepalive(), at(t0, 1));
    assert_eq!(
        show(&out, t0),
        "Established { peer_as: 65001, peer_id: 192.0.2.1, hold_time: 90, four_octet: true, \
         families: [Ipv4Unicast, Ipv6Unicast] }\n\
         deadline +2s"
    );
    assert_eq!(s.state(), State::Established);
    assert_eq!(
        show(&s.tick(at(t0, 2)), t0),
        "send KEEPALIVE\ndeadline +32s"
    );
}

#[test]
fn hold_time_negotiation() {
    // (ours, the peer's) -> what the Established event says and the
    // deadlines: keepalive at a third, the wake-up one a second after the
    // first, none at 0.
    for (ours, theirs, want_hold, deadline_confirm, deadline_up) in [
        (90, 240, 90, Some(30), Some(1)),
        (90, 30, 30, Some(10), Some(1)),
        (90, 3, 3, Some(1), Some(1)),
        (1, 240, 3, Some(1), Some(1)),
        // No hold time: no keepalives, no hold timer once established, but
        // the large one until the peer's KEEPALIVE.
        (90, 0, 0, Some(240), None),
        (0, 90, 0, Some(240), None),
    ] {
        let t0 = Instant::now();
        let (mut s, _) = Session::new(
            Config {
                hold_time: ours,
                ..config()
            },
            t0,
        );
        let open = Open {
            hold_time: theirs,
            ..peer_open()
        };
        let out = s.input(&open.encode(), t0);
        assert_eq!(
            out.deadline.map(|d| (d - t0).as_secs()),
            deadline_confirm,
            "{ours} {theirs}"
        );
        let out = s.input(&keepalive(), t0);
        assert_eq!(
            out.deadline.map(|d| (d - t0).as_secs()),
            deadline_up,
            "{ours} {theirs}"
        );
        assert!(
            matches!(out.events[..], [Event::Established { hold_time, .. }] if hold_time == want_hold),
            "{:?}",
            out.events
        );
    }
}

#[test]
fn keepalive_schedule_and_hold_timer_expiry() {
    let (mut s, t0) = established(config(), &peer_open());
    assert_eq!(
        show(&s.tick(at(t0, 1)), t0),
        "send KEEPALIVE\ndeadline +31s"
    );
    assert_eq!(show(&s.tick(at(t0, 30)), t0), "deadline +31s");
    assert_eq!(
        show(&s.tick(at(t0, 31)), t0),
        "send KEEPALIVE\ndeadline +61s"
    );
    // A late tick: the next one a third of the hold time after it.
    assert_eq!(
        show(&s.tick(at(t0, 62)), t0),
        "send KEEPALIVE\ndeadline +90s"
    );
    // Anything from the peer restarts the hold timer.
    assert_eq!(
        show(&s.input(&keepalive(), at(t0, 70)), t0),
        "deadline +92s"
    );
    assert_eq!(
        show(&s.tick(at(t0, 92)), t0),
        "send KEEPALIVE\ndeadline +122s"
    );
    assert_eq!(
        show(&s.tick(at(t0, 122)), t0),
        "send KEEPALIVE\ndeadline +152s"
    );
    assert_eq!(
        show(&s.tick(at(t0, 152)), t0),
        "send KEEPALIVE\ndeadline +160s"
    );
    assert_eq!(
        show(&s.tick(at(t0, 160)), t0),
        "send NOTIFICATION 0400 (Hold Timer Expired)\n\
         Down { reason: \"nothing from the peer within the hold time\", sent: Some(\"Hold Timer Expired\"), received: None }\n\
         close"
    );
    assert_eq!(s.state(), State::Closed);
    // Closed stays closed, quietly.
    assert_eq!(show(&s.tick(at(t0, 500)), t0), "close");
    assert_eq!(show(&s.input(&keepalive(), at(t0, 500)), t0), "close");
    assert_eq!(show(&s.closed("reset"), t0), "close");
    assert_eq!(show(&s.shutdown("bye"), t0), "close");
}

#[test]
fn no_open_within_the_large_hold_time() {
    let t0 = Instant::now();
    let (mut s, _) = Session::new(config(), t0);
    assert_eq!(show(&s.tick(at(t0, 239)), t0), "deadline +240s");
    let out = s.tick(at(t0, 240));
    assert_eq!(
        show(&out, t0),
        "send NOTIFICATION 0400 (Hold Timer Expired)\n\
         Down { reason: \"no OPEN from the peer within the hold time\", sent: Some(\"Hold Timer Expired\"), received: None }\n\
         close"
    );
}

/// What the session sends for `bytes` after the peer got to `state`:
/// the NOTIFICATION's hex, checking Down and close follow.
fn refusal(config: Config, state: State, bytes: &[u8]) -> String {
    let t0 = Instant::now();
    let (mut s, _) = Session::new(config, t0);
    if state != State::OpenSent {
        s.input(&peer_open().encode(), t0);
    }
    if state == State::Established {
        s.input(&keepalive(), t0);
    }
    assert_eq!(s.state(), state);
    let out = s.input(bytes, t0);
    assert!(out.close && out.deadline.is_none(), "{}", show(&out, t0));
    assert!(matches!(
        out.events.last(),
        Some(Event::Down { sent: Some(_), .. })
    ));
    assert_eq!(s.state(), State::Closed);
    let sent = messages(&out.send);
    assert!(
        matches!(&sent[..], [(kind::NOTIFICATION, _)]),
        "{}",
        show(&out, t0)
    );
    tohex(&sent[0].1)
}

/// Header and OPEN errors: (what, config, the state reached, bytes from
/// the peer, the NOTIFICATION).
fn error_cases() -> Vec<(&'static str, Config, State, Vec<u8>, &'static str)> {
    use State::*;
    let open = |f: &dyn Fn(&mut Open)| {
        let mut o = peer_open();
        f(&mut o);
        o.encode()
    };
    let header = |h: &str| unhex(&format!("ffffffffffffffffffffffffffffffff{h}"));
    vec![
        (
            "bad marker",
            config(),
            OpenSent,
            unhex("00ffffffffffffffffffffffffffffff001304"),
            "0101",
        ),
        (
            "length under 19",
            config(),
            Established,
            header("001204"),
            "01020012",
        ),
        (
            "length over 4096",
            config(),
            Established,
            header("100102"),
            "01021001",
        ),
        (
            "KEEPALIVE with a body",
            config(),
            Established,
            header("001404 00"),
            "01020014",
        ),
        (
            "unknown type",
            config(),
            Established,
            header("001309"),
            "010309",
        ),
        (
            "version 3",
            config(),
            OpenSent,
            {
                let mut o = peer_open().encode();
                o[19] = 3;
                o
            },
            "02010004",
        ),
        (
            "another AS",
            config(),
            OpenSent,
            open(&|o| *o = Open::ours(65002, 240, o.bgp_id)),
            "0202",
        ),
        (
            "AS 0",
            Config {
                peer_as: None,
                ..config()
            },
            OpenSent,
            open(&|o| *o = Open::ours(0, 240, o.bgp_id)),
            "0202",
        ),
        (
            "hold time 2",
            config(),
            OpenSent,
            open(&|o| o.hold_time = 2),
            "0206",
        ),
        (
            "BGP identifier 0",
            config(),
            OpenSent,
            open(&|o| o.bgp_id = Ipv4Addr::UNSPECIFIED),
            "0203",
        ),
        (
            "iBGP with our identifier",
            Config {
                peer_as: None,
                local_as: 65001,
                ..config()
            },
            OpenSent,
            open(&|o| o.bgp_id = Ipv4Addr::new(192, 0, 2, 99)),
            "0203",
        ),
        (
            "an authentication parameter",
            config(),
            OpenSent,
            unhex("ffffffffffffffffffffffffffffffff 001f 01 04fde900f0c0000201 02 0100"),
            "0204",
        ),
    ]
}

/// The state machine's and UPDATE's errors, as in `error_cases`.
fn later_error_cases() -> Vec<(&'static str, Config, State, Vec<u8>, &'static str)> {
    use State::*;
    let bad_update = wire::update(&[], &[], &[33, 1, 2, 3, 4, 5]);
    vec![
        (
            "KEEPALIVE in OpenSent",
            config(),
            OpenSent,
            keepalive(),
            "0501",
        ),
        (
            "UPDATE in OpenSent",
            config(),
            OpenSent,
            end_of_rib(Family::Ipv4Unicast),
            "0501",
        ),
        (
            "UPDATE in OpenConfirm",
            config(),
            OpenConfirm,
            end_of_rib(Family::Ipv4Unicast),
            "0502",
        ),
        (
            "OPEN in OpenConfirm",
            config(),
            OpenConfirm,
            peer_open().encode(),
            "0502",
        ),
        (
            "OPEN in Established",
            config(),
            Established,
            peer_open().encode(),
            "0503",
        ),
        (
            "a bad prefix length",
            config(),
            Established,
            bad_update,
            "030a",
        ),
        (
            "a repeated MP_UNREACH_NLRI",
            config(),
            Established,
            wire::update(&[], &unhex("800f03000201800f03000201"), &[]),
            "0301",
        ),
    ]
}

#[test]
fn each_error_and_its_notification() {
    let cases = [error_cases(), later_error_cases()].concat();
    for (name, config, state, bytes, want) in cases {
        assert_eq!(refusal(config, state, &bytes), want, "{name}");
    }
    // The peer's AS may be anything when none is configured, and an
    // identifier like ours is fine from another AS (RFC 6286).
    let any = Config {
        peer_as: None,
        ..config()
    };
    let (s, _) = established(
        any,
        &Open::ours(4_200_000_001, 90, Ipv4Addr::new(192, 0, 2, 99)),
    );
    assert_eq!(s.state(), State::Established);
}

#[test]
fn a_notification_from_the_peer() {
    let (mut s, t0) = established(config(), &peer_open());
    let n = Notification::shutdown(2, "maintenance \x07now");
    assert_eq!(
        show(&s.input(&n.encode(), t0), t0),
        "Down { reason: \"the peer sent a NOTIFICATION\", sent: None, \
         received: Some(\"Cease/Administrative Shutdown: maintenance \\\\u{7}now\") }\n\
         close"
    );
    // In OpenSent too, and never answered, even when short.
    let t0 = Instant::now();
    let (mut s, _) = Session::new(config(), t0);
    let out = s.input(&unhex("ffffffffffffffffffffffffffffffff 0014 03 06"), t0);
    assert_eq!(
        show(&out, t0),
        "Down { reason: \"the peer sent a NOTIFICATION\", sent: None, received: Some(\"Cease\") }\nclose"
    );
}

#[test]
fn we_shut_down_or_the_socket_closes() {
    let (mut s, t0) = established(config(), &peer_open());
    s.input(
        &announce(&pfxs("10.60.0.0/16"), &path("10.33.20.142"), true),
        t0,
    );
    assert_eq!(s.prefixes(), 1);
    assert_eq!(
        show(&s.shutdown("vpc-router stops"), t0),
        "send NOTIFICATION 0602107670632d726f757465722073746f7073 (Cease/Administrative Shutdown: vpc-router stops)\n\
         Down { reason: \"shut down\", sent: Some(\"Cease/Administrative Shutdown: vpc-router stops\"), received: None }\n\
         close"
    );
    assert_eq!(s.prefixes(), 0);
    let (mut s, t0) = established(config(), &peer_open());
    assert_eq!(
        show(&s.closed("Connection reset by peer\n"), t0),
        "Down { reason: \"connection closed: Connection reset by peer\\\\n\", sent: None, received: None }\nclose"
    );
}

#[test]
fn updates_withdrawals_end_of_rib_and_the_count() {
    let (mut s, t0) = established(config(), &peer_open());
    let v4 = pfxs("10.60.0.0/16 10.61.0.0/16");
    let v6 = pfxs("2001:db8:60::/48");
    let mut bytes = announce(&v4, &path("10.33.20.142"), true);
    bytes.extend(end_of_rib(Family::Ipv4Unicast));
    bytes.extend(announce(&v6, &path("2001:db8:ffff::1"), true));
    bytes.extend(end_of_rib(Family::Ipv6Unicast));
    assert_eq!(
        show(&s.input(&bytes, t0), t0),
        "Update +[10.60.0.0/16 via 10.33.20.142 10.61.0.0/16 via 10.33.20.142] -[]\n\
         EndOfRib(Ipv4Unicast)\n\
         Update +[2001:db8:60::/48 via 2001:db8:ffff::1] -[]\n\
         EndOfRib(Ipv6Unicast)\n\
         deadline +1s"
    );
    assert_eq!(s.prefixes(), 3);
    // A new path for a prefix held replaces the old one: still 3.
    s.input(&announce(&v4[..1], &path("10.33.30.22"), true), t0);
    assert_eq!(s.prefixes(), 3);
    let out = s.input(
        &withdraw(&pfxs("10.61.0.0/16 2001:db8:60::/48 10.99.0.0/16")),
        t0,
    );
    assert_eq!(
        show(&out, t0),
        "Update +[] -[10.61.0.0/16 10.99.0.0/16 2001:db8:60::/48]\ndeadline +1s"
    );
    assert_eq!(s.prefixes(), 1);
    // Treat-as-withdraw: the prefix goes, the session stays.
    let mut bad = announce(&v4[..1], &path("10.33.20.142"), true);
    let origin = bad.windows(3).position(|w| w == [0x40, 1, 1]).unwrap();
    bad[origin + 3] = 7;
    assert_eq!(
        show(&s.input(&bad, t0), t0),
        "Update +[] -[10.60.0.0/16] withdraw: malformed ORIGIN (value 7)\ndeadline +1s"
    );
    assert_eq!((s.prefixes(), s.state()), (0, State::Established));
}

#[test]
fn prefix_limit() {
    let (mut s, t0) = established(
        Config {
            max_prefixes: 3,
            ..config()
        },
        &peer_open(),
    );
    let nh = path("10.33.20.142");
    s.input(
        &announce(&pfxs("10.1.0.0/16 10.2.0.0/16 10.3.0.0/16"), &nh, true),
        t0,
    );
    assert_eq!(s.prefixes(), 3);
    // Again, and one withdrawn with one more: still 3.
    s.input(&announce(&pfxs("10.1.0.0/16 10.2.0.0/16"), &nh, true), t0);
    s.input(&withdraw(&pfxs("10.3.0.0/16")), t0);
    s.input(&announce(&pfxs("10.4.0.0/16"), &nh, true), t0);
    assert_eq!((s.prefixes(), s.state()), (3, State::Established));
    let out = s.input(
        &announce(&pfxs("2001:db8::/32"), &path("2001:db8::1"), true),
        t0,
    );
    assert_eq!(
        show(&out, t0),
        "send NOTIFICATION 060100020100000003 (Cease/Maximum Number of Prefixes Reached (AFI 2, SAFI 1, limit 3))\n\
         Down { reason: \"the peer sent more than 3 prefixes\", \
         sent: Some(\"Cease/Maximum Number of Prefixes Reached (AFI 2, SAFI 1, limit 3)\"), received: None }\n\
         close"
    );
    assert_eq!(s.prefixes(), 0);
}

#[test]
fn a_2_octet_peer() {
    let old = Open {
        capabilities: vec![],
        ..peer_open()
    };
    let (mut s, t0) = established(
        Config {
            peer_as: None,
            ..config()
        },
        &old,
    );
    let p = Path {
        as_path: vec![65001, 4_200_000_001],
        as_path_len: 2,
        ..path("10.33.20.142")
    };
    let out = s.input(&announce(&pfxs("10.60.0.0/16"), &p, false), t0);
    match &out.events[..] {
        [Event::Update { announced, .. }] => assert_eq!(announced[0].1, p),
        e => panic!("{e:?}"),
    }
}

#[test]
fn input_in_any_split() {
    let script: Vec<u8> = [
        peer_open().encode(),
        keepalive(),
        announce(&pfxs("10.60.0.0/16"), &path("10.33.20.142"), true),
        end_of_rib(Family::Ipv4Unicast),
        announce(&pfxs("2001:db8:60::/48"), &path("2001:db8:ffff::1"), true),
        Notification::shutdown(2, "bye").encode(),
    ]
    .concat();
    let run = |chunk: usize| {
        let t0 = Instant::now();
        let (mut s, mut out) = Session::new(config(), t0);
        for piece in script.chunks(chunk) {
            let o = s.input(piece, t0);
            out.send.extend(o.send);
            out.events.extend(o.events);
            out.close = o.close;
            out.deadline = o.deadline;
        }
        show(&out, t0)
    };
    let whole = run(script.len());
    assert!(
        whole.ends_with("received: Some(\"Cease/Administrative Shutdown: bye\") }\nclose"),
        "{whole}"
    );
    for chunk in [1, 2, 3, 7, 19, 20, 64] {
        assert_eq!(run(chunk), whole, "in pieces of {chunk}");
    }
}

/// What BIRD sent, in order, from fixtures/bgp/DIR (see its capture.sh).
fn fixture(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/bgp")
        .join(dir);
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hex"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "{}", dir.display());
    files
        .iter()
        .map(|f| {
            let name = f.file_stem().unwrap().to_string_lossy().to_string();
            (name, unhex(&std::fs::read_to_string(f).unwrap()))
        })
        .collect()
}

#[test]
fn birds_session_replayed() {
    for (dir, four_octet) in [("as4", true), ("as2", false)] {
        let t0 = Instant::now();
        let (mut s, _) = Session::new(config(), t0);
        let mut lines = Vec::new();
        let mut paths = Vec::new();
        for (name, bytes) in fixture(dir) {
            let out = s.input(&bytes, t0);
            for e in &out.events {
                if let Event::Update { announced, .. } = e {
                    paths.extend(announced.iter().cloned());
                }
            }
            let shown = show(
                &Output {
                    deadline: None,
                    ..out
                },
                t0,
            );
            lines.push(format!("{name}: {}", shown.replace('\n', " | ")));
        }
        let want = format!(
            "01-open: send KEEPALIVE\n\
             02-keepalive: Established {{ peer_as: 65001, peer_id: 192.0.2.1, hold_time: 90, four_octet: {four_octet}, \
             families: [Ipv4Unicast, Ipv6Unicast] }}\n\
             03-update-v4: Update +[10.70.1.0/24 via 10.33.30.22] -[]\n\
             04-update-v4: Update +[10.60.0.0/16 via 10.33.20.142] -[]\n\
             05-update-v4: Update +[10.61.0.0/16 via 10.33.20.142] -[]\n\
             06-eor-v4: EndOfRib(Ipv4Unicast)\n\
             07-update-v6: Update +[2001:db8:70::/48 via 2001:db8:ffff::2] -[]\n\
             08-update-v6: Update +[2001:db8:60::/48 via 2001:db8:ffff::1] -[]\n\
             09-eor-v6: EndOfRib(Ipv6Unicast)\n\
             10-withdraw-v6: Update +[] -[2001:db8:70::/48 2001:db8:60::/48]\n\
             11-withdraw-v4: Update +[] -[10.70.1.0/24 10.60.0.0/16 10.61.0.0/16]\n\
             12-notification: Down {{ reason: \"the peer sent a NOTIFICATION\", sent: None, \
             received: Some(\"Cease/Administrative Shutdown: maintenance\") }} | close"
        );
        assert_eq!(lines.join("\n"), want, "{dir}");
        // The paths in full: on the 2-octet session AS 4200000001 came as
        // AS_TRANS with an AS4_PATH, and is the same here.
        let find = |p: &str| paths.iter().find(|(q, _)| *q == pfx(p)).unwrap().1.clone();
        assert_eq!(
            find("10.61.0.0/16"),
            Path {
                as_path: vec![65001, 4_200_000_001],
                as_path_len: 2,
                med: Some(50),
                ..path("10.33.20.142")
            },
            "{dir}"
        );
        assert_eq!(find("2001:db8:70::/48").med, Some(20), "{dir}");
        assert_eq!(find("10.70.1.0/24"), path("10.33.30.22"), "{dir}");
    }
}

/// xorshift64*: a fixed seed, so a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A captured (or built) message, mangled one to three times: a bit
/// flipped, cut short, its length field changed, a byte inside set
/// (attribute and prefix lengths), spliced with another, a part repeated.
fn mutate(rng: &mut Rng, base: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut m = base.to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = m.len().max(1);
        match rng.below(7) {
            0 => {
                if !m.is_empty() {
                    let i = rng.below(m.len());
                    m[i] ^= 1 << rng.below(8);
                }
            }
            1 => m.truncate(rng.below(len)),
            2 if m.len() >= 18 => {
                let v = match rng.below(3) {
                    0 => rng.below(0x10000),
                    1 => (m.len() + rng.below(8)).saturating_sub(4),
                    _ => rng.below(4200),
                };
                m[16..18].copy_from_slice(&(v as u16).to_be_bytes());
            }
            3 if m.len() > 19 => {
                let i = 19 + rng.below(m.len() - 19);
                m[i] = [0, 1, 2, 3, 4, 16, 32, 33, 128, 129, 255][rng.below(11)];
            }
            4 => {
                let other = &others[rng.below(others.len())];
                let cut = rng.below(len);
                let from = rng.below(other.len().max(1));
                m.truncate(cut);
                m.extend_from_slice(other.get(from..).unwrap_or_default());
            }
            5 if !m.is_empty() => {
                let a = rng.below(m.len());
                let b = a + rng.below(m.len() - a);
                let part = m[a..=b.min(m.len() - 1)].to_vec();
                m.splice(a..a, part);
            }
            _ => m.extend((0..rng.below(8)).map(|_| rng.next() as u8)),
        }
    }
    m
}

/// What every answer must be, whatever came in.
fn well_formed(s: &Session, out: &Output, was_closed: bool) {
    let sent = messages(&out.send);
    let downs = out
        .events
        .iter()
        .filter(|e| matches!(e, Event::Down { .. }))
        .count();
    if was_closed {
        assert!(sent.is_empty() && out.events.is_empty() && out.close);
        return;
    }
    assert!(downs <= 1, "{:?}", out.events);
    if downs == 1 {
        assert!(
            matches!(out.events.last(), Some(Event::Down { .. })),
            "Down comes last"
        );
        assert!(out.close && out.deadline.is_none() && s.state() == State::Closed);
        assert_eq!(s.prefixes(), 0);
    } else {
        assert!(!out.close && out.deadline.is_some() && s.state() != State::Closed);
    }
    for (i, (t, body)) in sent.iter().enumerate() {
        match *t {
            kind::KEEPALIVE => {}
            kind::NOTIFICATION => {
                // Only ever last, and only with the Down that says it.
                assert_eq!(i, sent.len() - 1);
                let text = Notification::decode(body).to_string();
                assert!(
                    matches!(out.events.last(), Some(Event::Down { sent: Some(t), .. }) if *t == text),
                    "{:?}",
                    out.events
                );
            }
            t => panic!("sent a message of type {t}"),
        }
    }
    assert!(s.prefixes() <= 3);
}

#[test]
fn mangled_bird_messages_never_break_the_session() {
    let as4 = fixture("as4");
    let as2 = fixture("as2");
    let mut corpus: Vec<Vec<u8>> = as4.iter().chain(&as2).map(|(_, b)| b.clone()).collect();
    corpus.push(announce(
        &pfxs("10.1.0.0/16 10.2.0.0/16"),
        &path("10.0.0.1"),
        true,
    ));
    corpus.push(withdraw(&pfxs("10.1.0.0/16 2001:db8::/32")));
    corpus.push(Notification::shutdown(4, "reset").encode());
    let mut rng = Rng(0x5eed_b9b0_2026_0001);
    let (mut ended, mut alive) = (0, 0);
    for round in 0..4000 {
        let fx = if round % 2 == 0 { &as4 } else { &as2 };
        let t0 = Instant::now();
        let cfg = Config {
            max_prefixes: 3,
            ..config()
        };
        let (mut s, _) = Session::new(cfg, t0);
        let mut now = t0;
        // A quarter of the rounds mangle the OPEN; the rest reach
        // Established, take a few good UPDATEs, then mangled messages.
        let mut input: Vec<u8> = Vec::new();
        if round % 4 == 0 {
            input.extend(mutate(&mut rng, &fx[0].1, &corpus));
        } else {
            input.extend(&fx[0].1);
            input.extend(&fx[1].1);
            for (_, m) in fx.iter().skip(2).take(rng.below(9)) {
                input.extend(m);
            }
            for _ in 0..1 + rng.below(3) {
                let base = &corpus[rng.below(corpus.len())];
                input.extend(mutate(&mut rng, base, &corpus));
            }
        }
        let mut rest = &input[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(300));
            let was_closed = s.state() == State::Closed;
            let out = s.input(&rest[..n], now);
            well_formed(&s, &out, was_closed);
            rest = &rest[n..];
            if rng.below(10) == 0 {
                now += Duration::from_secs(rng.below(40) as u64);
                let was_closed = s.state() == State::Closed;
                let out = s.tick(now);
                well_formed(&s, &out, was_closed);
            }
        }
        // Either it goes on, or it ended with Down and close; and a hold
        // time later it has ended whatever happened.
        if s.state() == State::Closed {
            ended += 1;
        } else {
            alive += 1;
            let out = s.tick(now + OPEN_HOLD);
            well_formed(&s, &out, false);
            assert_eq!(s.state(), State::Closed);
        }
    }
    // The mutations reach both outcomes, or the test proves little.
    assert!(ended > 500 && alive > 500, "ended {ended}, alive {alive}");
}
