//! vpc-router's BGP listener against real BIRD 2 routers (Debian's bird2,
//! run by the harness on 127.0.0.x with their own config and sockets; no
//! kernel protocol) and the EC2 simulator: announce, withdraw, next-hop
//! change, best path between two peers with failover and return, IPv6
//! over MP-BGP, a prefix outside --bgp-allow, a peer not configured, the
//! prefix limit, TCP MD5 (right and wrong password), a peer that freezes
//! until the hold timer expires, and garbage on the BGP port.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::bird::{Bird, BirdConfig, Route};
use common::ec2sim::{scenario, Ec2Sim};
use common::etcd::{reserve_port, Port};
use common::*;

const V6_ENI: &str = "eni-0ddddddddddddddd4";
const V6_IP: &str = "2600:1f18:abcd:ef00::10";

/// A daemon of `-m bgp` on its own port, taking peers 127.0.0.2 and .3
/// (plus `extra`), allowing 10.60.0.0/14 and 2001:db8:60::/48.
fn daemon(sim: &Ec2Sim, name: &str, extra: &[&str]) -> (Daemon, SocketAddr, Port) {
    let port = reserve_port();
    let listen: SocketAddr = format!("127.0.0.1:{}", port.port).parse().unwrap();
    let state = temp_dir(&format!("bgp-{name}")).join("state");
    let listen_s = listen.to_string();
    let mut args = vec![
        "-m",
        "bgp",
        "--state-dir",
        state.to_str().unwrap(),
        "--route-recheck-interval",
        "0",
        "--bgp-listen",
        &listen_s,
        "--bgp-asn",
        "65000",
        "--bgp-hold-time",
        "3",
        "--bgp-allow",
        "10.60.0.0/14",
        "--bgp-allow",
        "2001:db8:60::/48",
    ];
    args.extend_from_slice(extra);
    let has_peers = extra.contains(&"--bgp-peer");
    if !has_peers {
        args.extend_from_slice(&[
            "--bgp-peer",
            "127.0.0.2,as=65001",
            "--bgp-peer",
            "127.0.0.3,as=65001",
        ]);
    }
    let d = Daemon::start(&sim.url(), &args);
    (d, listen, port)
}

fn router(name: &str, listen: SocketAddr, source: &str) -> Bird {
    let config = BirdConfig::new(listen, source.parse::<Ipv4Addr>().unwrap());
    let b = Bird::start(name, config);
    b.wait_state("Established");
    b
}

fn bgp(d: &Daemon) -> serde_json::Value {
    call(d, "GET", "/bgp", None).1
}

#[test]
fn announce_change_and_withdraw_reach_every_table() {
    let sim = scenario();
    let (d, listen, _port) = daemon(&sim, "announce", &[]);
    let a = router("bgp-announce", listen, "127.0.0.2");
    a.announce("10.60.0.0/16", Route::via(A_IP));
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    wait_for_log(&d, "bgp: 10.60.0.0/16: best path now via 10.33.20.142");
    a.announce("10.60.0.0/16", Route::via(B_IP));
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
    a.withdraw("10.60.0.0/16");
    converge(&sim, "10.60.0.0/16", None);
    // Routes it does not own stay.
    assert_eq!(
        sim.route_target("rtb-1a2b3c4d", "10.55.0.0/16").as_deref(),
        Some(B_ENI)
    );
    let v = bgp(&d);
    assert_eq!(v["peers"][0]["state"], "Established", "{v:#}");
}

#[test]
fn the_best_path_wins_fails_over_when_its_peer_dies_and_wins_again_when_back() {
    let sim = scenario();
    let (d, listen, _port) = daemon(&sim, "best", &[]);
    let a = router("bgp-best-a", listen, "127.0.0.2");
    let b = router("bgp-best-b", listen, "127.0.0.3");
    // LOCAL_PREF from an external peer is ignored (RFC 4271 5.1.5): the
    // backup makes its path longer instead.
    a.announce("10.60.0.0/16", Route::via(A_IP));
    b.announce(
        "10.60.0.0/16",
        Route {
            prepend: 2,
            ..Route::via(B_IP)
        },
    );
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    // A's path may be in force before B's UPDATE has arrived (on a loaded
    // machine): wait until both are known.
    wait_until("both paths known", Duration::from_secs(10), || {
        bgp(&d)["prefixes"]["10.60.0.0/16"]["paths"]
            .as_array()
            .is_some_and(|p| p.len() == 2)
    });
    let v = bgp(&d);
    let p = &v["prefixes"]["10.60.0.0/16"];
    assert_eq!(p["won_by"], "shorter AS_PATH", "{v:#}");
    assert_eq!(p["paths"][0]["next_hop"], A_IP);
    // The preferred router dies: its TCP connection closes, and the
    // routes move to the backup's next hop.
    a.kill9();
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
    wait_for_log(&d, "bgp: session with 127.0.0.2 is down");
    // It comes back: the best path wins at once (no hold-down).
    let a2 = router("bgp-best-a2", listen, "127.0.0.2");
    a2.announce("10.60.0.0/16", Route::via(A_IP));
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
}

#[test]
fn ipv6_prefixes_arrive_over_mp_bgp() {
    let sim = scenario();
    sim.add_eni(V6_ENI, &[V6_IP], Some("i-0ddddddddddddddd4"), VPC, false);
    let (_d, listen, _port) = daemon(&sim, "v6", &[]);
    let a = router("bgp-v6", listen, "127.0.0.2");
    a.announce("2001:db8:60::/48", Route::via(V6_IP));
    converge(&sim, "2001:db8:60::/48", Some(V6_ENI));
    a.withdraw("2001:db8:60::/48");
    converge(&sim, "2001:db8:60::/48", None);
}

#[test]
fn prefixes_outside_the_allow_list_and_unknown_peers_are_refused() {
    let sim = scenario();
    let (d, listen, _port) = daemon(&sim, "refuse", &[]);
    let a = router("bgp-refuse", listen, "127.0.0.2");
    a.announce("10.99.0.0/16", Route::via(A_IP));
    a.announce("10.60.0.0/16", Route::via(A_IP));
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    assert_eq!(sim.route_target(TABLES[0], "10.99.0.0/16"), None);
    let v = bgp(&d);
    assert_eq!(v["refused"][0]["prefix"], "10.99.0.0/16", "{v:#}");
    assert_contains!(
        v["refused"][0]["why"].to_string(),
        "outside every --bgp-allow"
    );
    // A router that is no --bgp-peer never gets a session.
    let stranger = Bird::start(
        "bgp-stranger",
        BirdConfig::new(listen, "127.0.0.4".parse().unwrap()),
    );
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, st) = call(&d, "GET", "/", None);
        if st["bgp"]["refused_connections"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(Instant::now() < until, "{st:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_ne!(stranger.state(), "Established");
}

#[test]
fn a_peer_over_the_prefix_limit_is_cut_off_with_rfc_4486s_notification() {
    let sim = scenario();
    let (d, listen, _port) = daemon(
        &sim,
        "limit",
        &[
            "--bgp-max-prefixes",
            "2",
            "--bgp-peer",
            "127.0.0.2,as=65001",
        ],
    );
    let a = router("bgp-limit", listen, "127.0.0.2");
    a.announce("10.60.0.0/16", Route::via(A_IP));
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    a.announce("10.61.0.0/16", Route::via(A_IP));
    a.announce("10.62.0.0/16", Route::via(A_IP));
    wait_for_log(&d, "Maximum Number of Prefixes Reached");
    // The session is gone, and with it the peer's paths.
    converge(&sim, "10.60.0.0/16", None);
}

#[test]
fn tcp_md5_lets_in_the_right_password_only() {
    let sim = scenario();
    let dir = temp_dir("bgp-md5-keys");
    let key = dir.join("a.key");
    std::fs::write(&key, "s3cret-md5\n").unwrap();
    let peer_a = format!("127.0.0.2,as=65001,password-file={}", key.display());
    let peer_b = format!("127.0.0.3,as=65001,password-file={}", key.display());
    let (d, listen, _port) = daemon(&sim, "md5", &["--bgp-peer", &peer_a, "--bgp-peer", &peer_b]);
    let mut good = BirdConfig::new(listen, "127.0.0.2".parse().unwrap());
    good.password = Some("s3cret-md5".into());
    let a = Bird::start("bgp-md5-good", good);
    a.wait_state("Established");
    a.announce("10.60.0.0/16", Route::via(A_IP));
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    let mut bad = BirdConfig::new(listen, "127.0.0.3".parse().unwrap());
    bad.password = Some("wrong".into());
    let b = Bird::start("bgp-md5-bad", bad);
    // Give it the time of several attempts: it never gets a session.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        assert_ne!(b.state(), "Established");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_not_contains!(d.log(), "s3cret-md5");
}

#[test]
fn a_frozen_peer_is_dropped_when_its_hold_timer_expires() {
    let sim = scenario();
    let (d, listen, _port) = daemon(&sim, "frozen", &[]);
    let a = router("bgp-frozen-a", listen, "127.0.0.2");
    let b = router("bgp-frozen-b", listen, "127.0.0.3");
    a.announce("10.60.0.0/16", Route::via(A_IP));
    b.announce(
        "10.60.0.0/16",
        Route {
            prepend: 1,
            ..Route::via(B_IP)
        },
    );
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    a.pause();
    // No TCP close: the hold timer (3 s) ends the session.
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
    wait_for_log(&d, "Hold Timer Expired");
    a.resume();
}

#[test]
fn garbage_on_the_bgp_port_gets_a_notification_or_a_closed_connection() {
    let sim = scenario();
    let (d, listen, _port) = daemon(&sim, "garbage", &[]);
    // From an address that is no peer: closed at once.
    let mut s = std::net::TcpStream::connect(listen).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n");
    let mut buf = [0u8; 64];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0);
    // From a configured peer's address: a NOTIFICATION (type 3), then close.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.connect(&listen.into()).unwrap();
    let mut s: std::net::TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(&[0u8; 40]);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let types: Vec<u8> = messages(&got).iter().map(|m| m[18]).collect();
    assert!(types.contains(&3), "a NOTIFICATION among {types:?}");
    // The daemon is fine.
    assert_eq!(call(&d, "GET", "/healthz", None).0, 200);
}

/// BGP messages in `bytes` (each: 16-byte marker, length, type).
fn messages(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 19 {
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        if len < 19 || len > rest.len() {
            break;
        }
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}
