//! The service against the in-memory EC2: statuses, auth, the status
//! document, and the per-CIDR rule under concurrent requests.

use std::net::IpAddr;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::ec2::fake::{eni, table, FakeEc2, Fault};
use crate::ec2::{Ec2Error, NetworkInterface, RouteTable};

const VPC: &str = "vpc-350d6a51";
const A_ENI: &str = "eni-0aaaaaaaaaaaaaaa1";
const B_ENI: &str = "eni-0bbbbbbbbbbbbbbb2";
const TABLES: [&str; 3] = ["rtb-0a1b2c3d", "rtb-1a2b3c4d", "rtb-2a2b3c4d"];

fn fake() -> FakeEc2 {
    FakeEc2::new(
        VPC,
        TABLES
            .iter()
            .enumerate()
            .map(|(i, id)| table(id, i == 0, "10.33.0.0/16 local active table"))
            .collect(),
        vec![
            eni(A_ENI, "i-0aaaaaaaaaaaaaaa1", &["10.33.20.142"], false),
            eni(B_ENI, "i-0bbbbbbbbbbbbbbb2", &["10.33.30.22"], false),
        ],
    )
}

fn service(ec2: Arc<dyn Ec2 + Send + Sync>, token: Option<&str>) -> Service {
    Service {
        ec2,
        region: "us-east-1".parse().unwrap(),
        vpc: VPC.parse().unwrap(),
        endpoint: "http://127.0.0.1:1".into(),
        default_tables: Vec::new(),
        token: token.map(|t| Token::new(t.as_bytes()).unwrap()),
        allow_api_force: false,
        workers: 4,
        metrics: Arc::new(Metrics::new(
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )),
        clock: Clock::fixed(UNIX_EPOCH + Duration::from_secs(1_700_000_100)),
        locks: CidrLocks::default(),
        control: Arc::default(),
        fence: Arc::new(crate::ec2::fence::Fence::open(Clock::system())),
        etcd: None,
        bgp: None,
        spec_mode: None,
    }
}

fn call(svc: &Service, method: &str, target: &str, body: &str) -> (u16, Value) {
    call_auth(svc, method, target, body, None)
}

fn call_auth(
    svc: &Service,
    method: &str,
    target: &str,
    body: &str,
    auth: Option<&str>,
) -> (u16, Value) {
    let a = svc.handle(&Incoming {
        method,
        target,
        authorization: auth,
        body: body.as_bytes(),
    });
    let v = if a.content_type == "application/json" {
        serde_json::from_str(&a.body).unwrap()
    } else {
        Value::String(a.body)
    };
    (a.status, v)
}

fn results(v: &Value) -> Vec<&str> {
    v["route_tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["result"].as_str().unwrap())
        .collect()
}

const ADD_A: &str = r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20.142"}"#;

#[test]
fn the_route_api_mirrors_the_cli() {
    let ec2 = Arc::new(Mutex::new(fake()));
    let svc = service(ec2.clone(), None);
    let (s, v) = call(&svc, "POST", "/route", ADD_A);
    assert_eq!(s, 201, "{v:#}");
    assert_eq!(results(&v), ["created"; 3]);
    assert_eq!(v["router"]["network_interface"], A_ENI);
    let (s, v) = call(&svc, "POST", "/route", ADD_A);
    assert_eq!((s, results(&v)), (200, vec!["unchanged"; 3]));
    let (s, v) = call(&svc, "GET", "/route?dst_cidr=10.55.0.0/16", "");
    assert_eq!((s, results(&v)), (200, vec!["found"; 3]));
    let (s, v) = call(
        &svc,
        "DELETE",
        "/route?dst_cidr=10.55.0.0/16&dry_run=true",
        "",
    );
    assert_eq!((s, results(&v)), (200, vec!["would_delete"; 3]));
    let (s, v) = call(&svc, "DELETE", "/route?dst_cidr=10.55.0.0/16", "");
    assert_eq!((s, results(&v)), (200, vec!["deleted"; 3]));
    let (s, v) = call(&svc, "GET", "/route?dst_cidr=10.55.0.0/16", "");
    assert_eq!((s, results(&v)), (404, vec!["missing"; 3]));
    let (s, _) = call(&svc, "DELETE", "/route?dst_cidr=10.55.0.0/16", "");
    assert_eq!(s, 404);
    // Only the named table.
    let (s, v) = call(
        &svc,
        "POST",
        "/route",
        r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20.142", "route_table": "rtb-1a2b3c4d"}"#,
    );
    assert_eq!((s, results(&v)), (201, vec!["created"]));
    let m = svc.metrics.summary();
    assert_eq!(m["route_changes"]["create"], 4);
    assert_eq!(m["route_changes"]["delete"], 3);
}

#[test]
fn errors_have_their_status_and_name_the_field() {
    let ec2 = Arc::new(Mutex::new(fake()));
    let svc = service(ec2.clone(), None);
    let cases = [
        ("POST", "/route", "{", 400, None),
        (
            "POST",
            "/route",
            r#"{"dst_cidr": "10.55.1.0/16", "router_ip": "10.33.20.142"}"#,
            400,
            Some("dst_cidr"),
        ),
        (
            "POST",
            "/route",
            r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.9.9.9"}"#,
            400,
            Some("router_ip"),
        ),
        (
            "POST",
            "/route",
            r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20.142", "route_table": "rtb-0fffffff"}"#,
            400,
            Some("route_table"),
        ),
        ("GET", "/route", "", 400, Some("dst_cidr")),
        ("PUT", "/route", "", 405, None),
        ("GET", "/nope", "", 404, None),
    ];
    for (method, target, body, status, field) in cases {
        let (s, v) = call(&svc, method, target, body);
        assert_eq!(s, status, "{method} {target} {body}: {v:#}");
        assert_eq!(v["error"]["status"], status);
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        if let Some(f) = field {
            assert_eq!(v["error"]["field"], f, "{v:#}");
        }
    }
    let a = svc.handle(&Incoming {
        method: "PATCH",
        target: "/route",
        authorization: None,
        body: b"",
    });
    assert_eq!(a.headers, vec![("Allow", "GET, POST, DELETE".to_string())]);
    // Nothing was changed by any of them.
    assert!(ec2.lock().unwrap().mutations().is_empty());
}

#[test]
fn ec2_errors_become_502_504_and_appear_in_the_status() {
    let ec2 = Arc::new(Mutex::new(fake()));
    let svc = service(ec2.clone(), None);
    ec2.lock().unwrap().fail(
        "CreateRoute rtb-1a2b3c4d",
        Fault::Api("UnauthorizedOperation"),
    );
    let (s, v) = call(&svc, "POST", "/route", ADD_A);
    assert_eq!(s, 502, "{v:#}");
    assert_eq!(results(&v), ["created", "failed", "created"]);
    assert_eq!(
        v["route_tables"][1]["error"]["code"],
        "UnauthorizedOperation"
    );
    let (_, st) = call(&svc, "GET", "/", "");
    assert_eq!(st["last_ec2_error"]["code"], "UnauthorizedOperation");
    assert_eq!(st["last_ec2_error"]["at"], "2023-11-14T22:15:00.000Z");

    ec2.lock()
        .unwrap()
        .fail("DescribeRouteTables", Fault::Transport);
    let (s, v) = call(&svc, "GET", "/route?dst_cidr=10.55.0.0/16", "");
    assert_eq!(s, 502, "{v:#}");
    assert_eq!(v["error"]["ec2"]["kind"], "network");
}

#[test]
fn a_token_guards_everything_but_healthz() {
    let ec2 = Arc::new(Mutex::new(fake()));
    let svc = service(ec2, Some("0123456789abcdef0123"));
    for auth in [
        None,
        Some("Bearer wrong-token-0000000000"),
        Some("Basic abc"),
    ] {
        let a = svc.handle(&Incoming {
            method: "GET",
            target: "/route?dst_cidr=10.55.0.0/16",
            authorization: auth,
            body: b"",
        });
        assert_eq!(a.status, 401, "{auth:?}");
        assert!(a.headers.iter().any(|(n, _)| *n == "WWW-Authenticate"));
        // The answer never echoes what was sent.
        assert!(!a.body.contains("wrong-token"));
    }
    let (s, _) = call_auth(&svc, "GET", "/", "", Some("Bearer 0123456789abcdef0123"));
    assert_eq!(s, 200);
    let (s, _) = call(&svc, "GET", "/healthz", "");
    assert_eq!(s, 200);
    let (s, _) = call(&svc, "GET", "/metrics", "");
    assert_eq!(s, 401);
}

#[test]
fn status_and_metrics_documents() {
    let ec2 = Arc::new(Mutex::new(fake()));
    let svc = service(ec2, None);
    let (s, v) = call(&svc, "GET", "/", "");
    assert_eq!(s, 200);
    assert_eq!(
        (v["region"].as_str(), v["vpc"].as_str(), v["auth"].as_bool()),
        (Some("us-east-1"), Some(VPC), Some(false))
    );
    assert_eq!(v["version"], crate::VERSION);
    assert_eq!(v["route_tables"], "all");
    assert_eq!(v["last_ec2_error"], Value::Null);
    assert!(v["counters"]["requests"].is_u64());
    let (s, v) = call(&svc, "GET", "/metrics", "");
    assert_eq!(s, 200);
    assert!(v
        .as_str()
        .unwrap()
        .contains("# TYPE vpc_router_http_requests_total counter"));
}

/// Each call lets other threads run before it goes on, so that without
/// the per-CIDR lock the steps of concurrent requests do interleave.
struct Contended(Mutex<FakeEc2>);

fn contend() {
    for _ in 0..20 {
        std::thread::yield_now();
    }
}

impl Ec2 for Contended {
    fn describe_route_tables(
        &self,
        vpc: &VpcId,
        ids: &[RouteTableId],
    ) -> Result<Vec<RouteTable>, Ec2Error> {
        contend();
        self.0.describe_route_tables(vpc, ids)
    }
    fn describe_network_interfaces(
        &self,
        vpc: &VpcId,
        ips: &[IpAddr],
    ) -> Result<Vec<NetworkInterface>, Ec2Error> {
        contend();
        self.0.describe_network_interfaces(vpc, ips)
    }
    fn create_route(
        &self,
        t: &RouteTableId,
        d: &Cidr,
        e: &crate::types::EniId,
        dry: bool,
    ) -> Result<(), Ec2Error> {
        contend();
        self.0.create_route(t, d, e, dry)
    }
    fn replace_route(
        &self,
        t: &RouteTableId,
        d: &Cidr,
        e: &crate::types::EniId,
        dry: bool,
    ) -> Result<(), Ec2Error> {
        contend();
        self.0.replace_route(t, d, e, dry)
    }
    fn delete_route(&self, t: &RouteTableId, d: &Cidr, dry: bool) -> Result<(), Ec2Error> {
        contend();
        self.0.delete_route(t, d, dry)
    }
    fn disable_source_dest_check(
        &self,
        e: &crate::types::EniId,
        dry: bool,
    ) -> Result<(), Ec2Error> {
        contend();
        self.0.disable_source_dest_check(e, dry)
    }
}

#[test]
fn concurrent_requests_for_one_cidr_never_interleave() {
    let ec2 = Arc::new(Contended(Mutex::new(fake())));
    let svc = Arc::new(service(ec2.clone(), None));
    let start = Arc::new(Barrier::new(50));
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let (svc, start) = (svc.clone(), start.clone());
            std::thread::spawn(move || {
                let ip = if i % 2 == 0 {
                    "10.33.20.142"
                } else {
                    "10.33.30.22"
                };
                let body = format!(r#"{{"dst_cidr": "10.55.0.0/16", "router_ip": "{ip}"}}"#);
                start.wait();
                let (s, v) = call(&svc, "POST", "/route", &body);
                assert!(s == 200 || s == 201, "{v:#}");
                // Another request for another CIDR is not held up by them.
                call(&svc, "GET", "/route?dst_cidr=10.66.0.0/16", "").0
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 404);
    }
    let fake = ec2.0.lock().unwrap();
    // Every table points at the same router: that of the last change.
    let mutations = fake.mutations();
    let last_eni = mutations
        .last()
        .unwrap()
        .split(' ')
        .nth(3)
        .unwrap()
        .to_string();
    for t in TABLES {
        let r = fake.route(t, "10.55.0.0/16").expect("a route");
        assert_eq!(r.target.eni().unwrap().as_str(), last_eni, "{t}");
    }
    // And the changes came in whole requests: each request changed all
    // three tables in a row, so the runs of one router are multiples of 3.
    let enis: Vec<&str> = mutations
        .iter()
        .map(|m| m.split(' ').nth(3).unwrap())
        .collect();
    let mut run = 1;
    for w in enis.windows(2) {
        if w[0] == w[1] {
            run += 1;
        } else {
            assert_eq!(run % 3, 0, "interleaved changes: {mutations:#?}");
            run = 1;
        }
    }
    assert_eq!(run % 3, 0, "interleaved changes: {mutations:#?}");
}

// See: issue 14, item 2 (a route request waited minutes behind another
// request's lock, holding a worker the whole time).
#[test]
fn issue14_a_request_that_cannot_get_its_cidr_in_time_is_answered_503_with_retry_after() {
    let mut svc = service(Arc::new(Mutex::new(fake())), None);
    svc.locks = CidrLocks::waiting(Duration::from_millis(20));
    let held = svc.locks.lock("10.55.0.0/16".parse().unwrap()).unwrap();
    let a = svc.handle(&Incoming {
        method: "POST",
        target: "/route",
        authorization: None,
        body: br#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20.142"}"#,
    });
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(
        a.headers.contains(&("Retry-After", "2".into())),
        "{:?}",
        a.headers
    );
    assert!(
        a.body.contains("nothing was changed, try again shortly"),
        "{}",
        a.body
    );
    // A show takes no lock; another CIDR is not held up.
    let (s, _) = call(&svc, "GET", "/route?dst_cidr=10.55.0.0/16", "");
    assert_eq!(s, 404);
    let (s, _) = call(
        &svc,
        "POST",
        "/route",
        r#"{"dst_cidr": "10.66.0.0/16", "router_ip": "10.33.20.142"}"#,
    );
    assert_eq!(s, 201);
    drop(held);
    let (s, _) = call(
        &svc,
        "POST",
        "/route",
        r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20.142"}"#,
    );
    assert_eq!(s, 201);
}
