//! The listener's policy and best-path order, as data.

use super::*;
use crate::config::BgpPeer;

fn path(
    next_hop: &str,
    local_pref: Option<u32>,
    as_path_len: usize,
    origin: u8,
    med: Option<u32>,
) -> Path {
    Path {
        origin,
        as_path: (0..as_path_len as u32).map(|i| 65001 + i).collect(),
        as_path_len,
        next_hop: next_hop.parse().unwrap(),
        med,
        local_pref,
    }
}

fn bgp(allow: &[&str], vpc: &'static [&'static str]) -> Bgp {
    let args = BgpArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        asn: 65000,
        router_id: "192.0.2.1".parse().unwrap(),
        hold_time: 90,
        peers: ["127.0.0.2", "127.0.0.3"]
            .iter()
            .map(|p| BgpPeer {
                ip: p.parse().unwrap(),
                asn: None,
                password_file: None,
            })
            .collect(),
        allow: allow
            .iter()
            .map(|a| {
                let (c, m) = a
                    .split_once(",maxlen=")
                    .map_or((*a, None), |(c, m)| (c, Some(m)));
                BgpAllow {
                    cidr: c.parse().unwrap(),
                    max_len: m.map(|m| m.parse().unwrap()),
                }
            })
            .collect(),
        max_prefixes: 100,
    };
    Bgp::new(
        args,
        Box::new(move || Some(vpc.iter().map(|c| c.parse().unwrap()).collect())),
        Clock::system(),
    )
}

fn check(b: &Bgp, prefix: &str) -> Result<(), &'static str> {
    b.policy(&prefix.parse().unwrap())
}

#[test]
fn the_policy_accepts_only_allowed_prefixes_and_never_the_default_or_the_vpc_unless_named() {
    let b = bgp(
        &["10.60.0.0/14,maxlen=24", "2001:db8::/32"],
        &["10.33.0.0/16"],
    );
    assert_eq!(check(&b, "10.60.0.0/16"), Ok(()));
    assert_eq!(check(&b, "10.63.255.0/24"), Ok(()));
    assert!(check(&b, "10.61.0.0/25").unwrap_err().contains("maxlen"));
    assert!(check(&b, "10.70.0.0/16")
        .unwrap_err()
        .contains("outside every --bgp-allow"));
    assert_eq!(check(&b, "2001:db8:1::/48"), Ok(()));
    // A wide allow does not let in the default route nor the VPC.
    let wide = bgp(&["0.0.0.0/1", "10.0.0.0/8"], &["10.33.0.0/16"]);
    assert!(check(&wide, "0.0.0.0/0").unwrap_err().contains("outside"));
    assert!(check(&wide, "10.33.4.0/24")
        .unwrap_err()
        .contains("VPC's own CIDRs"));
    assert!(check(&wide, "10.33.0.0/16")
        .unwrap_err()
        .contains("VPC's own CIDRs"));
    // Unless named.
    let named = bgp(&["0.0.0.0/0", "10.33.4.0/24"], &["10.33.0.0/16"]);
    assert_eq!(check(&named, "0.0.0.0/0"), Ok(()));
    assert_eq!(check(&named, "10.33.4.0/24"), Ok(()));
    assert!(check(&named, "10.33.5.0/24").is_err());
}

#[test]
fn best_path_order_is_local_pref_as_path_origin_med_router_id_address() {
    let id = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    let peer = |s: &str| s.parse::<IpAddr>().unwrap();
    let cases: [(Path, Path, &str); 5] = [
        (
            path("10.33.20.142", Some(200), 3, 2, Some(50)),
            path("10.33.30.22", None, 1, 0, None),
            "higher LOCAL_PREF",
        ),
        (
            path("10.33.20.142", None, 1, 2, Some(50)),
            path("10.33.30.22", None, 2, 0, None),
            "shorter AS_PATH",
        ),
        (
            path("10.33.20.142", None, 1, 0, Some(50)),
            path("10.33.30.22", None, 1, 1, None),
            "lower ORIGIN",
        ),
        (
            path("10.33.20.142", None, 1, 0, Some(5)),
            path("10.33.30.22", None, 1, 0, Some(10)),
            "lower MED",
        ),
        (
            path("10.33.20.142", None, 1, 0, None),
            path("10.33.30.22", None, 1, 0, None),
            "lower peer router ID",
        ),
    ];
    for (better, worse, why) in cases {
        let a = Candidate {
            peer: peer("127.0.0.3"),
            router_id: id("192.0.2.1"),
            path: &better,
        };
        let b = Candidate {
            peer: peer("127.0.0.2"),
            router_id: id("192.0.2.2"),
            path: &worse,
        };
        assert_eq!(best_first(&a, &b), Order::Less, "{why}");
        assert_eq!(best_first(&b, &a), Order::Greater, "{why}");
        assert_eq!(
            why_better(&better, id("192.0.2.1"), &worse, id("192.0.2.2")),
            why
        );
    }
}

#[test]
fn the_spec_lists_next_hops_best_first_and_a_session_going_down_withdraws_its_paths() {
    let b = bgp(&["10.60.0.0/14"], &[]);
    let (p2, p3): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
    let up = |ip: &str| Event::Established {
        peer_as: 65001,
        peer_id: ip.parse().unwrap(),
        hold_time: 9,
        four_octet: true,
        families: Vec::new(),
    };
    b.learn(p2, vec![up("192.0.2.2")]);
    b.learn(p3, vec![up("192.0.2.3")]);
    let prefix = Prefix {
        addr: "10.60.0.0".parse().unwrap(),
        len: 16,
    };
    let announce = |nh: &str, lp: u32| Event::Update {
        announced: vec![(prefix, path(nh, Some(lp), 1, 0, None))],
        withdrawn: Vec::new(),
        treat_as_withdraw: None,
    };
    assert!(b.learn(p2, vec![announce("10.33.20.142", 100)]));
    assert!(b.learn(p3, vec![announce("10.33.30.22", 200)]));
    // Outside the allow: refused, nothing changes.
    let outside = Event::Update {
        announced: vec![(
            Prefix {
                addr: "10.99.0.0".parse().unwrap(),
                len: 16,
            },
            path("10.33.20.142", None, 1, 0, None),
        )],
        withdrawn: Vec::new(),
        treat_as_withdraw: None,
    };
    assert!(!b.learn(p2, vec![outside]));
    let spec = b.spec(&b.rib());
    let c: Cidr = "10.60.0.0/16".parse().unwrap();
    assert!(spec.is_strict(&c));
    let hosts: Vec<String> = spec
        .hosts(&c)
        .unwrap()
        .iter()
        .map(|h| h.ip.to_string())
        .collect();
    assert_eq!(hosts, ["10.33.30.22", "10.33.20.142"]);
    assert_eq!(spec.len(), 1);
    // The preferred peer's session ends: its path goes at once.
    assert!(b.learn(
        p3,
        vec![Event::Down {
            reason: "hold timer expired".into(),
            sent: Some("Hold Timer Expired".into()),
            received: None,
        }]
    ));
    let spec = b.spec(&b.rib());
    let hosts: Vec<String> = spec
        .hosts(&c)
        .unwrap()
        .iter()
        .map(|h| h.ip.to_string())
        .collect();
    assert_eq!(hosts, ["10.33.20.142"]);
    let views = b.peers();
    let v3 = views.iter().find(|v| v.ip == Some(p3)).unwrap();
    assert_eq!(v3.state, "Idle");
    assert!(v3
        .last_error
        .as_ref()
        .unwrap()
        .contains("hold timer expired"));
    let v2 = views.iter().find(|v| v.ip == Some(p2)).unwrap();
    assert_eq!(v2.refused.len(), 1);
}
