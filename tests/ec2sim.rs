//! The EC2 simulator (`tests/common/ec2sim.rs`) against our real client and
//! the real binary: it must answer what they send the way the recorded EC2
//! documents in `fixtures/` do, and keep its state like EC2 would.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::ec2sim::{self, Ec2Sim};
use common::{fixture, A_ENI, A_IP, B_ENI, B_IP, SECRET, VPC};
use vpc_router::aws::{Clock, Credentials, CredentialsError, CredentialsProvider, Secret};
use vpc_router::ec2::client::{ClientSettings, HttpEc2};
use vpc_router::ec2::{xml, Destination, Ec2, Ec2Error, RouteOrigin, RouteState, RouteTarget};
use vpc_router::retry::RetryPolicy;
use vpc_router::types::{Cidr, EniId, RouteTableId, VpcId};

const MAIN: &str = "rtb-0a1b2c3d";
const PRIVATE: &str = "rtb-1a2b3c4d";
const THIRD: &str = "rtb-2a2b3c4d";
const A_INSTANCE: &str = "i-0aaaaaaaaaaaaaaa1";
const B_INSTANCE: &str = "i-0bbbbbbbbbbbbbbb2";

/// Long-term keys, as from the environment.
struct Keys;

impl CredentialsProvider for Keys {
    fn credentials(&self, _now: std::time::SystemTime) -> Result<Credentials, CredentialsError> {
        Ok(Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new(SECRET),
            session_token: None,
            expires: None,
            source: "test".into(),
        })
    }
}

/// Our client against the simulator: three quick attempts, no real sleep.
fn client(sim: &Ec2Sim) -> HttpEc2 {
    client_at(&sim.url())
}

fn client_at(url: &str) -> HttpEc2 {
    common::capture_library_log();
    let settings = ClientSettings {
        endpoint: url.to_string(),
        region: "us-east-1".parse().unwrap(),
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(120),
        retry: RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(1),
            throttle_base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
        proxy: None,
        tls: None,
    };
    HttpEc2::new(settings, Arc::new(Keys), Clock::system()).with_sleeper(Arc::new(|_| {}))
}

fn vpc() -> VpcId {
    VPC.parse().unwrap()
}

fn rtb(s: &str) -> RouteTableId {
    s.parse().unwrap()
}

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn eni(s: &str) -> EniId {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The code, status and `maybe_applied` of an EC2 error answer.
fn api(r: Result<impl std::fmt::Debug, Ec2Error>) -> (String, u16, bool) {
    match r {
        Err(Ec2Error::Api {
            code,
            status,
            request_id,
            maybe_applied,
            ..
        }) => {
            assert!(request_id.is_some(), "{code} without a request ID");
            (code, status, maybe_applied)
        }
        other => panic!("expected an EC2 error answer, got {other:?}"),
    }
}

fn api_code(r: Result<impl std::fmt::Debug, Ec2Error>) -> (String, u16) {
    let (code, status, _) = api(r);
    (code, status)
}

#[test]
fn the_scenario_reads_exactly_like_the_fixtures() {
    let sim = ec2sim::scenario();
    let ec2 = client(&sim);
    let tables = ec2.describe_route_tables(&vpc(), &[]).unwrap();
    let expected = xml::route_tables(&fixture("describe-route-tables.xml"))
        .unwrap()
        .items;
    assert_eq!(tables, expected);

    for (addr, file) in [
        (A_IP, "describe-network-interfaces-a.xml"),
        (B_IP, "describe-network-interfaces-b.xml"),
    ] {
        let got = ec2
            .describe_network_interfaces(&vpc(), &[ip(addr)])
            .unwrap();
        let expected = xml::network_interfaces(&fixture(file)).unwrap().items;
        assert_eq!(got, expected, "{addr}");
    }

    // What the client sent, as the simulator recorded it.
    let calls = sim.calls();
    assert_eq!(
        sim.actions(),
        [
            "DescribeRouteTables",
            "DescribeNetworkInterfaces",
            "DescribeNetworkInterfaces"
        ]
    );
    assert_eq!(calls[0].param("Filter.1.Name"), Some("vpc-id"));
    assert_eq!(calls[0].param("Filter.1.Value.1"), Some(VPC));
    assert_eq!(calls[0].param("MaxResults"), Some("100"));
    assert_eq!(calls[0].param("Action"), None, "Action is not a param");
    assert_eq!(calls[0].param("Version"), None);
    assert_eq!(
        calls[1].param("Filter.2.Name"),
        Some("addresses.private-ip-address")
    );
    assert_eq!(calls[1].param("Filter.2.Value.1"), Some(A_IP));
    assert!(calls.iter().all(|c| c.status == 200));

    sim.clear_calls();
    assert!(sim.calls().is_empty());
    ec2.describe_route_tables(&vpc(), &[]).unwrap();
    assert_eq!(sim.actions(), ["DescribeRouteTables"]);
}

#[test]
fn documents_have_ec2s_shape() {
    let sim = ec2sim::scenario();
    let ec2 = client(&sim);
    let body = ec2.call("DescribeRouteTables", &[]).unwrap();
    assert!(body.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeRouteTablesResponse \
         xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>"
    ));
    assert!(body.ends_with("</routeTableSet></DescribeRouteTablesResponse>"));
    let page = xml::route_tables(&body).unwrap();
    let first = page.request_id.unwrap();
    let again = xml::route_tables(&ec2.call("DescribeRouteTables", &[]).unwrap()).unwrap();
    assert_ne!(again.request_id.unwrap(), first, "request IDs are unique");

    // No match: an empty set, as EC2 writes it.
    let body = ec2
        .call(
            "DescribeRouteTables",
            &[
                ("Filter.1.Name", "vpc-id"),
                ("Filter.1.Value.1", "vpc-0000dead"),
            ],
        )
        .unwrap();
    assert_contains!(body, "<routeTableSet/>");
    let body = ec2
        .call(
            "DescribeNetworkInterfaces",
            &[
                ("Filter.1.Name", "vpc-id"),
                ("Filter.1.Value.1", "vpc-0000dead"),
            ],
        )
        .unwrap();
    assert_contains!(body, "<networkInterfaceSet/>");

    let created = ec2
        .call(
            "CreateRoute",
            &[
                ("RouteTableId", THIRD),
                ("DestinationCidrBlock", "10.99.0.0/16"),
                ("NetworkInterfaceId", A_ENI),
            ],
        )
        .unwrap();
    assert!(created.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateRouteResponse \
         xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>"
    ));
    assert!(created.ends_with("<return>true</return></CreateRouteResponse>"));
    assert_eq!(xml::return_value(&created), Ok(true));
}

#[test]
fn route_tables_are_paginated() {
    let sim = Ec2Sim::start();
    for i in 0..250 {
        let id = format!("rtb-{i:08x}");
        sim.add_table(&id, VPC, i == 0);
        sim.add_gateway_route(&id, "10.33.0.0/16", "local");
    }
    for i in 0..7 {
        sim.add_table(&format!("rtb-f{i:07x}"), "vpc-0000beef", false);
    }
    let ec2 = client(&sim);
    let tables = ec2.describe_route_tables(&vpc(), &[]).unwrap();
    assert_eq!(tables.len(), 250);
    let ids: Vec<String> = tables.iter().map(|t| t.id.to_string()).collect();
    let expected: Vec<String> = (0..250).map(|i| format!("rtb-{i:08x}")).collect();
    assert_eq!(ids, expected, "every table once, in order");
    assert!(tables[0].main && tables[1..].iter().all(|t| !t.main));
    assert!(tables.iter().all(|t| t.routes.len() == 1));

    let calls = sim.calls();
    assert_eq!(calls.len(), 3, "pages of 100: {calls:?}");
    assert_eq!(calls[0].param("NextToken"), None);
    let tokens: Vec<&str> = calls[1..]
        .iter()
        .map(|c| c.param("NextToken").expect("a later page's token"))
        .collect();
    let distinct: std::collections::BTreeSet<&&str> = tokens.iter().collect();
    assert_eq!(distinct.len(), 2, "{tokens:?}");

    // MaxResults is honoured exactly, and the last page has no token.
    let mut token: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let mut p = vec![
            ("Filter.1.Name", "vpc-id"),
            ("Filter.1.Value.1", VPC),
            ("MaxResults", "60"),
        ];
        if let Some(t) = &token {
            p.push(("NextToken", t));
        }
        let page = xml::route_tables(&ec2.call("DescribeRouteTables", &p).unwrap()).unwrap();
        sizes.push(page.items.len());
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(sizes, [60, 60, 60, 60, 10]);

    // Bad paging parameters, as EC2 refuses them.
    let (code, status) = api_code(ec2.call("DescribeRouteTables", &[("MaxResults", "1000")]));
    assert_eq!((code.as_str(), status), ("InvalidParameterValue", 400));
    let (code, _) = api_code(ec2.call("DescribeRouteTables", &[("NextToken", "bogus")]));
    assert_eq!(code, "InvalidPaginationToken");
    let (code, _) = api_code(ec2.call(
        "DescribeRouteTables",
        &[
            ("Filter.1.Name", "no-such-filter"),
            ("Filter.1.Value.1", "x"),
        ],
    ));
    assert_eq!(code, "InvalidParameterValue");
}

#[test]
fn route_tables_by_id() {
    let sim = ec2sim::scenario();
    let ec2 = client(&sim);
    // The client asks by filter: unknown IDs simply do not match.
    let got = ec2
        .describe_route_tables(&vpc(), &[rtb(THIRD), rtb("rtb-0000dead"), rtb(MAIN)])
        .unwrap();
    let ids: Vec<&str> = got.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [MAIN, THIRD]);
    assert_eq!(
        sim.calls()[0].param("Filter.2.Name"),
        Some("route-table-id")
    );

    // By RouteTableId.N, an unknown ID is EC2's error.
    let ok = ec2
        .call("DescribeRouteTables", &[("RouteTableId.1", PRIVATE)])
        .unwrap();
    assert_eq!(xml::route_tables(&ok).unwrap().items.len(), 1);
    let r = ec2.call(
        "DescribeRouteTables",
        &[("RouteTableId.1", MAIN), ("RouteTableId.2", "rtb-0000dead")],
    );
    let Err(Ec2Error::Api {
        code,
        status,
        message,
        ..
    }) = r
    else {
        panic!("expected InvalidRouteTableID.NotFound, got {r:?}")
    };
    assert_eq!(code, "InvalidRouteTableID.NotFound");
    assert_eq!(status, 400);
    assert_eq!(message, "The routeTable ID 'rtb-0000dead' does not exist");
    assert_eq!(sim.calls().last().unwrap().status, 400);

    // Other filters.
    let main = ec2
        .call(
            "DescribeRouteTables",
            &[
                ("Filter.1.Name", "association.main"),
                ("Filter.1.Value.1", "true"),
            ],
        )
        .unwrap();
    let main = xml::route_tables(&main).unwrap().items;
    assert_eq!(main.len(), 1);
    assert_eq!(main[0].id.as_str(), MAIN);
    let tagged = ec2
        .call(
            "DescribeRouteTables",
            &[("Filter.1.Name", "tag:Name"), ("Filter.1.Value.1", "priv*")],
        )
        .unwrap();
    let tagged = xml::route_tables(&tagged).unwrap().items;
    assert_eq!(tagged.len(), 1);
    assert_eq!(tagged[0].id.as_str(), PRIVATE);
}

#[test]
fn long_id_and_address_lists_are_split_into_chunks_ec2_accepts() {
    let sim = Ec2Sim::start();
    let ids: Vec<RouteTableId> = (0..450).map(|t| rtb(&format!("rtb-{t:08x}"))).collect();
    for (n, id) in ids.iter().enumerate() {
        sim.add_table(id.as_str(), VPC, n == 0);
    }
    let ips: Vec<IpAddr> = (0..450)
        .map(|n| ip(&format!("10.33.{}.{}", n / 200, n % 200 + 1)))
        .collect();
    for (n, a) in ips.iter().enumerate() {
        let eni = format!("eni-{n:017x}");
        let instance = format!("i-{n:017x}");
        sim.add_eni(&eni, &[&a.to_string()], Some(&instance), VPC, false);
    }
    let ec2 = client(&sim);
    // Over 200 values in one filter is EC2's FilterLimitExceeded.
    let all: Vec<(String, String)> =
        std::iter::once(("Filter.1.Name".into(), "route-table-id".into()))
            .chain(
                ids.iter()
                    .enumerate()
                    .map(|(n, id)| (format!("Filter.1.Value.{}", n + 1), id.to_string())),
            )
            .collect();
    let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        api_code(ec2.call("DescribeRouteTables", &all)),
        ("FilterLimitExceeded".to_string(), 400)
    );
    sim.clear_calls();
    let got = ec2.describe_route_tables(&vpc(), &ids).unwrap();
    assert_eq!(got.len(), ids.len());
    // 200 + 200 + 50 IDs, at most 100 tables a page: 2 + 2 + 1 calls.
    assert_eq!(sim.actions(), ["DescribeRouteTables"; 5]);
    sim.clear_calls();
    let got = ec2.describe_network_interfaces(&vpc(), &ips).unwrap();
    assert_eq!(got.len(), ips.len());
    assert_eq!(sim.actions(), ["DescribeNetworkInterfaces"; 3]);
}

#[test]
fn interfaces_are_found_by_any_of_their_addresses() {
    let sim = ec2sim::scenario();
    sim.add_eni(
        "eni-0ddddddddddddddd4",
        &["10.33.40.7", "2600:1f18:abcd:ef00::7"],
        None,
        VPC,
        true,
    );
    // Same address, another VPC: never found in ours.
    sim.add_eni(
        "eni-0eeeeeeeeeeeeeee5",
        &["10.33.20.142"],
        Some("i-0eeeeeeeeeeeeeee5"),
        "vpc-0000beef",
        true,
    );
    let ec2 = client(&sim);

    let by_secondary = ec2
        .describe_network_interfaces(&vpc(), &[ip("10.33.20.143")])
        .unwrap();
    assert_eq!(by_secondary.len(), 1);
    assert_eq!(by_secondary[0].id, eni(A_ENI));
    assert_eq!(
        by_secondary[0].instance.as_ref().unwrap().as_str(),
        A_INSTANCE
    );
    assert_eq!(by_secondary[0].source_dest_check, Some(false));
    assert_eq!(
        by_secondary[0].addresses,
        [ip("10.33.20.142"), ip("10.33.20.143")]
    );

    let both = ec2
        .describe_network_interfaces(&vpc(), &[ip(A_IP), ip(B_IP), ip("10.33.99.99")])
        .unwrap();
    let ids: Vec<&str> = both.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, [A_ENI, B_ENI]);

    assert!(ec2
        .describe_network_interfaces(&vpc(), &[ip("10.33.99.99")])
        .unwrap()
        .is_empty());

    // IPv6 goes through its own filter; the unattached interface is
    // "available" and has no instance.
    let v6 = ec2
        .describe_network_interfaces(&vpc(), &[ip("2600:1f18:abcd:ef00:0::7")])
        .unwrap();
    assert_eq!(v6.len(), 1);
    assert_eq!(v6[0].id.as_str(), "eni-0ddddddddddddddd4");
    assert_eq!(v6[0].instance, None);
    assert_eq!(v6[0].status, "available");
    assert_eq!(
        v6[0].addresses,
        [ip("10.33.40.7"), ip("2600:1f18:abcd:ef00::7")]
    );
    assert_eq!(
        sim.calls().last().unwrap().param("Filter.2.Name"),
        Some("ipv6-addresses.ipv6-address")
    );

    // Paginated too, and by ID.
    let page = ec2
        .call("DescribeNetworkInterfaces", &[("MaxResults", "5")])
        .unwrap();
    let page = xml::network_interfaces(&page).unwrap();
    assert_eq!(page.items.len(), 4);
    assert_eq!(page.next_token, None);
    let (code, _) = api_code(ec2.call(
        "DescribeNetworkInterfaces",
        &[("NetworkInterfaceId.1", "eni-0000000000000dead")],
    ));
    assert_eq!(code, "InvalidNetworkInterfaceID.NotFound");
}

#[test]
fn interface_pages() {
    let sim = Ec2Sim::start();
    for i in 0..12 {
        let addr = format!("10.33.1.{i}");
        sim.add_eni(&format!("eni-{i:017x}"), &[&addr], None, VPC, true);
    }
    let ec2 = client(&sim);
    let mut token: Option<String> = None;
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let mut p = vec![("MaxResults", "5")];
        if let Some(t) = &token {
            p.push(("NextToken", t));
        }
        let page =
            xml::network_interfaces(&ec2.call("DescribeNetworkInterfaces", &p).unwrap()).unwrap();
        seen += page.items.len();
        pages += 1;
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!((seen, pages), (12, 3));
}

#[test]
fn create_replace_and_delete_change_the_state() {
    let sim = ec2sim::scenario();
    let ec2 = client(&sim);
    let dest = cidr("10.99.0.0/16");

    ec2.create_route(&rtb(THIRD), &dest, &eni(A_ENI), false)
        .unwrap();
    assert_eq!(
        sim.route_target(THIRD, "10.99.0.0/16").as_deref(),
        Some(A_ENI)
    );
    let call = sim.calls().pop().unwrap();
    assert_eq!(call.action, "CreateRoute");
    assert_eq!(call.param("RouteTableId"), Some(THIRD));
    assert_eq!(call.param("DestinationCidrBlock"), Some("10.99.0.0/16"));
    assert_eq!(call.param("NetworkInterfaceId"), Some(A_ENI));
    assert_eq!(call.status, 200);

    let t = ec2.describe_route_tables(&vpc(), &[rtb(THIRD)]).unwrap();
    let r = t[0].route_for(&dest).unwrap();
    assert_eq!(
        r.target,
        RouteTarget::Interface {
            eni: Some(eni(A_ENI)),
            instance: Some(A_INSTANCE.parse().unwrap()),
        }
    );
    assert_eq!(r.state, RouteState::Active);
    assert_eq!(r.origin, RouteOrigin::CreateRoute);

    ec2.replace_route(&rtb(THIRD), &dest, &eni(B_ENI), false)
        .unwrap();
    let t = ec2.describe_route_tables(&vpc(), &[rtb(THIRD)]).unwrap();
    assert_eq!(
        t[0].route_for(&dest).unwrap().target,
        RouteTarget::Interface {
            eni: Some(eni(B_ENI)),
            instance: Some(B_INSTANCE.parse().unwrap()),
        }
    );

    // A blackhole is replaced by a live route.
    ec2.replace_route(&rtb(PRIVATE), &cidr("10.66.0.0/16"), &eni(A_ENI), false)
        .unwrap();
    let t = ec2.describe_route_tables(&vpc(), &[rtb(PRIVATE)]).unwrap();
    assert_eq!(
        t[0].route_for(&cidr("10.66.0.0/16")).unwrap().state,
        RouteState::Active
    );

    ec2.delete_route(&rtb(THIRD), &dest, false).unwrap();
    assert_eq!(sim.route_target(THIRD, "10.99.0.0/16"), None);
    assert_eq!(
        sim.routes(THIRD),
        [
            ("10.33.0.0/16".to_string(), "local".to_string()),
            ("10.77.0.0/16".into(), "tgw-0123456789abcdef0".into())
        ]
    );

    // IPv6 destinations use their own parameter.
    let v6 = cidr("2001:db8:99::/48");
    ec2.create_route(&rtb(MAIN), &v6, &eni(B_ENI), false)
        .unwrap();
    assert_eq!(
        sim.calls().pop().unwrap().param("DestinationIpv6CidrBlock"),
        Some("2001:db8:99::/48")
    );
    assert_eq!(
        sim.route_target(MAIN, "2001:db8:99::/48").as_deref(),
        Some(B_ENI)
    );
    ec2.delete_route(&rtb(MAIN), &v6, false).unwrap();
    assert_eq!(sim.route_target(MAIN, "2001:db8:99::/48"), None);
}

#[test]
fn a_detached_router_leaves_blackholes() {
    let sim = ec2sim::scenario();
    let ec2 = client(&sim);
    sim.detach_eni(A_ENI);
    let t = ec2.describe_route_tables(&vpc(), &[rtb(MAIN)]).unwrap();
    let r = t[0].route_for(&cidr("10.55.0.0/16")).unwrap();
    assert_eq!(r.state, RouteState::Blackhole);
    // EC2 keeps naming the instance the route was made for.
    assert_eq!(
        r.target,
        RouteTarget::Interface {
            eni: Some(eni(A_ENI)),
            instance: Some(A_INSTANCE.parse().unwrap()),
        }
    );
    // Removing the interface has the same effect.
    sim.remove_eni(B_ENI);
    let t = ec2.describe_route_tables(&vpc(), &[rtb(PRIVATE)]).unwrap();
    assert_eq!(
        t[0].route_for(&cidr("10.55.0.0/16")).unwrap().state,
        RouteState::Blackhole
    );
    let found = ec2
        .describe_network_interfaces(&vpc(), &[ip(A_IP)])
        .unwrap();
    assert_eq!(found[0].instance, None);
    assert_eq!(found[0].status, "available");
}

#[test]
fn source_dest_check_is_turned_off_on_one_interface() {
    let sim = ec2sim::scenario();
    let ec2 = client(&sim);
    assert!(sim.source_dest_check(B_ENI));
    let r = ec2.disable_source_dest_check(&eni(B_ENI), true);
    assert_eq!(api_code(r), ("DryRunOperation".into(), 412));
    assert!(sim.source_dest_check(B_ENI));
    ec2.disable_source_dest_check(&eni(B_ENI), false).unwrap();
    assert!(!sim.source_dest_check(B_ENI));
    let found = ec2
        .describe_network_interfaces(&vpc(), &[ip(B_IP)])
        .unwrap();
    assert_eq!(found[0].source_dest_check, Some(false));
    let r = ec2.disable_source_dest_check(&eni("eni-0ddddddddddddddd4"), false);
    assert_eq!(
        api_code(r),
        ("InvalidNetworkInterfaceID.NotFound".into(), 400)
    );
}

#[test]
fn dry_run_answers_dry_run_operation_and_changes_nothing() {
    let sim = ec2sim::scenario();
    let ec2 = client(&sim);
    let before: Vec<_> = [MAIN, PRIVATE, THIRD].map(|t| sim.routes(t)).into();

    let r = ec2.create_route(&rtb(THIRD), &cidr("10.55.0.0/16"), &eni(A_ENI), true);
    assert_eq!(api_code(r), ("DryRunOperation".into(), 412));
    let r = ec2.replace_route(&rtb(PRIVATE), &cidr("10.55.0.0/16"), &eni(A_ENI), true);
    assert_eq!(api_code(r), ("DryRunOperation".into(), 412));
    let r = ec2.delete_route(&rtb(MAIN), &cidr("10.55.0.0/16"), true);
    assert_eq!(api_code(r), ("DryRunOperation".into(), 412));

    let after: Vec<_> = [MAIN, PRIVATE, THIRD].map(|t| sim.routes(t)).into();
    assert_eq!(before, after);
    let calls = sim.calls();
    assert_eq!(calls.len(), 3, "DryRunOperation is not retried");
    assert!(calls
        .iter()
        .all(|c| c.param("DryRun") == Some("true") && c.status == 412));
}

#[test]
fn errors_are_ec2s() {
    let sim = ec2sim::scenario();
    let ec2 = client(&sim);
    let existing = cidr("10.55.0.0/16");
    let absent = cidr("10.98.0.0/16");

    assert_eq!(
        api_code(ec2.create_route(&rtb(MAIN), &existing, &eni(B_ENI), false)),
        ("RouteAlreadyExists".into(), 400)
    );
    assert_eq!(
        sim.route_target(MAIN, "10.55.0.0/16").as_deref(),
        Some(A_ENI)
    );
    assert_eq!(
        api_code(ec2.replace_route(&rtb(MAIN), &absent, &eni(B_ENI), false)),
        ("InvalidRoute.NotFound".into(), 400)
    );
    assert_eq!(
        api_code(ec2.delete_route(&rtb(MAIN), &absent, false)),
        ("InvalidRoute.NotFound".into(), 400)
    );
    assert_eq!(
        api_code(ec2.create_route(&rtb("rtb-0000dead"), &absent, &eni(A_ENI), false)),
        ("InvalidRouteTableID.NotFound".into(), 400)
    );
    assert_eq!(
        api_code(ec2.delete_route(&rtb("rtb-0000dead"), &absent, false)),
        ("InvalidRouteTableID.NotFound".into(), 400)
    );
    assert_eq!(
        api_code(ec2.create_route(&rtb(MAIN), &absent, &eni("eni-0000000000000dead"), false)),
        ("InvalidNetworkInterfaceID.NotFound".into(), 400)
    );
    assert_eq!(sim.route_target(MAIN, "10.98.0.0/16"), None);
    // The local route is not ours to delete, even for EC2.
    assert_eq!(
        api_code(ec2.delete_route(&rtb(MAIN), &cidr("10.33.0.0/16"), false)),
        ("InvalidParameterValue".into(), 400)
    );
    assert_eq!(
        sim.route_target(MAIN, "10.33.0.0/16").as_deref(),
        Some("local")
    );
    // An interface of another VPC.
    sim.add_eni(
        "eni-0eeeeeeeeeeeeeee5",
        &["10.1.1.1"],
        Some("i-0eeeeeeeeeeeeeee5"),
        "vpc-0000beef",
        false,
    );
    assert_eq!(
        api_code(ec2.create_route(&rtb(MAIN), &absent, &eni("eni-0eeeeeeeeeeeeeee5"), false)),
        ("InvalidParameterValue".into(), 400)
    );

    assert_eq!(
        api_code(ec2.call("RunInstances", &[("ImageId", "ami-12345678")])),
        ("InvalidAction".into(), 400)
    );
    assert_eq!(
        api_code(ec2.call("CreateRoute", &[("RouteTableId", MAIN)])),
        ("MissingParameter".into(), 400)
    );
    assert!(sim
        .calls()
        .iter()
        .all(|c| c.status == 400 && !c.action.is_empty()));

    // The messages are EC2's.
    let Err(e) = ec2.create_route(&rtb(MAIN), &existing, &eni(A_ENI), false) else {
        panic!()
    };
    assert_contains!(
        e.to_string(),
        "RouteAlreadyExists: The route identified by 10.55.0.0/16 already exists.",
    );
    let Err(e) = ec2.delete_route(&rtb(THIRD), &existing, false) else {
        panic!()
    };
    assert_contains!(
        e.to_string(),
        "There is no route defined for '10.55.0.0/16' in the route table.",
    );
}

#[test]
fn injected_failures() {
    let sim = ec2sim::scenario();
    let ec2 = client(&sim);
    let dest = cidr("10.99.0.0/16");

    // Throttled twice, then through: the client retries.
    sim.fail_next(
        "CreateRoute",
        503,
        "RequestLimitExceeded",
        "Request limit exceeded.",
    );
    sim.fail_next(
        "CreateRoute",
        503,
        "RequestLimitExceeded",
        "Request limit exceeded.",
    );
    ec2.create_route(&rtb(THIRD), &dest, &eni(A_ENI), false)
        .unwrap();
    let statuses: Vec<u16> = sim.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(
        sim.route_target(THIRD, "10.99.0.0/16").as_deref(),
        Some(A_ENI)
    );

    // Not retried, and nothing changed.
    sim.clear_calls();
    sim.fail_next(
        "ReplaceRoute",
        403,
        "UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    );
    let r = ec2.replace_route(&rtb(THIRD), &dest, &eni(B_ENI), false);
    assert_eq!(api_code(r), ("UnauthorizedOperation".into(), 403));
    assert_eq!(sim.calls().len(), 1);
    assert_eq!(
        sim.route_target(THIRD, "10.99.0.0/16").as_deref(),
        Some(A_ENI)
    );
    // One-shot: the next call goes through.
    ec2.replace_route(&rtb(THIRD), &dest, &eni(B_ENI), false)
        .unwrap();

    // A lost answer: the change is made, the client sees a 500, retries, and
    // meets its own route, knowing that it may have made it.
    sim.clear_calls();
    let other = cidr("10.98.0.0/16");
    sim.fail_next_applied(
        "CreateRoute",
        500,
        "InternalError",
        "An internal error has occurred",
    );
    let r = ec2.create_route(&rtb(THIRD), &other, &eni(A_ENI), false);
    assert_eq!(api(r), ("RouteAlreadyExists".into(), 400, true));
    assert_eq!(
        sim.route_target(THIRD, "10.98.0.0/16").as_deref(),
        Some(A_ENI)
    );
    let statuses: Vec<u16> = sim.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [500, 400]);

    // Injections are per action.
    sim.fail_next("DeleteRoute", 400, "InvalidRoute.NotFound", "gone");
    ec2.describe_route_tables(&vpc(), &[]).unwrap();
    let r = ec2.delete_route(&rtb(THIRD), &other, false);
    assert_eq!(api_code(r).0, "InvalidRoute.NotFound");
    assert_eq!(
        sim.route_target(THIRD, "10.98.0.0/16").as_deref(),
        Some(A_ENI)
    );
}

#[test]
fn concurrent_clients_with_a_delay() {
    let sim = ec2sim::scenario();
    sim.set_delay(Duration::from_millis(150));
    let started = Instant::now();
    thread::scope(|s| {
        for i in 0..4 {
            let sim = &sim;
            s.spawn(move || {
                let ec2 = client(sim);
                let dest = cidr(&format!("10.9{i}.0.0/16"));
                ec2.create_route(&rtb(THIRD), &dest, &eni(A_ENI), false)
                    .unwrap();
                assert_eq!(ec2.describe_route_tables(&vpc(), &[]).unwrap().len(), 3);
            });
        }
    });
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    // Served in parallel, not one after the other (8 x 150 ms).
    assert!(took < Duration::from_millis(1000), "{took:?}");
    assert_eq!(sim.routes(THIRD).len(), 6);
    sim.set_delay(Duration::ZERO);

    // Two clients create the same route at once: one wins, the other meets
    // RouteAlreadyExists.
    let results: Vec<Result<(), Ec2Error>> = thread::scope(|s| {
        let handles: Vec<_> = [A_ENI, B_ENI]
            .map(|target| {
                let sim = &sim;
                s.spawn(move || {
                    client(sim).create_route(
                        &rtb(THIRD),
                        &cidr("10.88.0.0/16"),
                        &eni(target),
                        false,
                    )
                })
            })
            .into();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
}

#[test]
fn one_client_keeps_its_connection() {
    let sim = ec2sim::scenario();
    let ec2 = client(&sim);
    let started = Instant::now();
    let n = 500;
    for _ in 0..n {
        ec2.describe_network_interfaces(&vpc(), &[ip(A_IP)])
            .unwrap();
    }
    let took = started.elapsed();
    eprintln!(
        "{n} DescribeNetworkInterfaces in {took:?} ({:.0}/s)",
        f64::from(n) / took.as_secs_f64()
    );
    assert!(sim.connections() <= 2, "{} connections", sim.connections());
    assert_eq!(sim.calls().len(), n as usize);
}

#[test]
fn a_large_vpc() {
    let (tables, routes) = (200, 500);
    let sim = Ec2Sim::start();
    sim.add_eni(A_ENI, &[A_IP], Some(A_INSTANCE), VPC, false);
    let started = Instant::now();
    for t in 0..tables {
        let id = format!("rtb-{t:08x}");
        sim.add_table(&id, VPC, t == 0);
        sim.add_gateway_route(&id, "10.33.0.0/16", "local");
        for r in 0..routes {
            let dest = format!("10.{}.{}.0/24", 100 + r / 256, r % 256);
            sim.add_route_to_eni(&id, &dest, A_ENI);
        }
    }
    let built = started.elapsed();
    let ec2 = client(&sim);
    let started = Instant::now();
    let got = ec2.describe_route_tables(&vpc(), &[]).unwrap();
    let took = started.elapsed();
    eprintln!("{tables} tables x {routes} routes: built in {built:?}, described in {took:?}");
    assert_eq!(got.len(), tables);
    assert!(got.iter().all(|t| t.routes.len() == routes + 1));
    // 100 tables a page.
    assert_eq!(sim.calls().len(), 2);
    let last = &got[tables - 1].routes[routes];
    assert_eq!(last.destination, Destination::Cidr(cidr("10.101.243.0/24")));
    assert_eq!(last.target.eni(), Some(&eni(A_ENI)));
}

#[test]
fn dropping_the_simulator_stops_the_server() {
    let sim = ec2sim::scenario();
    let ec2 = client(&sim);
    ec2.describe_route_tables(&vpc(), &[]).unwrap();
    let addr = sim.url().trim_start_matches("http://").to_string();
    drop(sim);
    assert!(TcpStream::connect(&addr).is_err(), "still listening");
    // The kept-alive connection was closed too.
    let r = ec2.describe_route_tables(&vpc(), &[]);
    assert!(matches!(r, Err(Ec2Error::Transport { .. })), "{r:?}");
}

#[test]
fn the_binary_adds_and_deletes_routes_in_every_table() {
    let sim = ec2sim::scenario();
    let run = common::run(
        &sim.url(),
        &["-c", "add", "--CIDR", "10.55.0.0/16", "--ip", A_IP],
    );
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    for t in [MAIN, PRIVATE, THIRD] {
        assert_eq!(
            sim.route_target(t, "10.55.0.0/16").as_deref(),
            Some(A_ENI),
            "{t}"
        );
    }
    let mut mutations: Vec<(String, String)> = sim
        .calls()
        .into_iter()
        .filter(|c| c.action.ends_with("Route"))
        .map(|c| {
            (
                c.action.clone(),
                c.param("RouteTableId").unwrap().to_string(),
            )
        })
        .collect();
    // The tables' calls go side by side, in any order.
    mutations.sort();
    assert_eq!(
        mutations,
        [
            ("CreateRoute".to_string(), THIRD.to_string()),
            ("ReplaceRoute".into(), PRIVATE.into()),
        ]
    );

    // Again: nothing to do.
    sim.clear_calls();
    let run = common::run(
        &sim.url(),
        &["-c", "add", "--CIDR", "10.55.0.0/16", "--ip", A_IP],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(sim.actions().iter().all(|a| a.starts_with("Describe")));

    // A dry run changes nothing.
    let run = common::run(
        &sim.url(),
        &["-c", "del", "--CIDR", "10.55.0.0/16", "--dry-run"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        sim.route_target(THIRD, "10.55.0.0/16").as_deref(),
        Some(A_ENI)
    );

    let run = common::run(&sim.url(), &["-c", "del", "--CIDR", "10.55.0.0/16"]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    for t in [MAIN, PRIVATE, THIRD] {
        assert_eq!(sim.route_target(t, "10.55.0.0/16"), None, "{t}");
    }
    // show now finds it nowhere.
    let run = common::run(&sim.url(), &["-c", "show", "--CIDR", "10.55.0.0/16"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

/// A loopback server that answers each connection with the next of
/// `answers` (raw bytes after the headers it writes: status 200, the
/// claimed Content-Length, `Connection: close`), then closes it; it
/// returns how many requests it read.
fn raw_server(answers: Vec<(usize, Vec<u8>)>) -> (String, thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = thread::spawn(move || {
        let mut n = 0;
        for (claimed, body) in answers {
            let (mut conn, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut request = vec![0; length];
            reader.read_exact(&mut request).unwrap();
            n += 1;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/xml;charset=UTF-8\r\ncontent-length: {claimed}\r\nconnection: close\r\n\r\n"
            );
            conn.write_all(head.as_bytes()).unwrap();
            let _ = conn.write_all(&body);
        }
        n
    });
    (url, served)
}

#[test]
fn a_page_is_read_as_it_arrives_a_cut_one_again_and_a_malformed_one_named() {
    let page = fixture("describe-route-tables.xml").into_bytes();
    let cut = page[..page.len() / 2].to_vec();
    let bad = b"<DescribeRouteTablesResponse><routeTableSet><item></routeTableSet>".to_vec();
    let (url, served) = raw_server(vec![
        // The connection closes halfway through the page: read again.
        (page.len(), cut),
        (page.len(), page.clone()),
        // Not well-formed: said, where, and not asked again.
        (bad.len(), bad),
    ]);
    let ec2 = client_at(&url);
    let tables = ec2.describe_route_tables(&vpc(), &[]).unwrap();
    let ids: Vec<&str> = tables.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [MAIN, PRIVATE, THIRD]);
    assert_eq!(
        tables,
        xml::route_tables(&fixture("describe-route-tables.xml"))
            .unwrap()
            .items
    );
    let err = ec2.describe_route_tables(&vpc(), &[]).unwrap_err();
    let Ec2Error::Response { status, detail, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*status, 200);
    assert!(detail.starts_with("malformed XML at byte "), "{detail}");
    assert!(detail.contains("routeTableSet"), "{detail}");
    assert_eq!(served.join().unwrap(), 3, "each answer asked for once");
}
