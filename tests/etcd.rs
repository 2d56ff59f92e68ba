//! vpc-router with a real etcd (Debian's etcd-server, started by the
//! harness on loopback ports with its data in a temp dir) and the EC2
//! simulator: the spec from etcd, its edits and broken edits, watch
//! resumption after etcd restarts and compaction, leader election between
//! daemons (kill -9, SIGTERM, etcd frozen with SIGSTOP), ownership handed
//! over through etcd, TLS with a client certificate and authentication,
//! migration of a state dir's ownership, and several endpoints.

mod common;

use std::time::Duration;

use common::ec2sim::{scenario, Ec2Sim};
use common::etcd::{Cluster, Etcd};
use common::*;
use serde_json::Value;

const SPEC: &str = "/vpc-router/spec";

/// A daemon of `-m etcd` (plus `extra`), named `name`, leading on a 2 s
/// lease, with a full pass every second.
fn daemon(sim: &Ec2Sim, endpoints: &str, name: &str, extra: &[&str]) -> Daemon {
    let mut args = vec![
        "-m",
        "etcd",
        "--etcd-endpoints",
        endpoints,
        "--etcd-name",
        name,
        "--etcd-lease-ttl",
        "2",
        "--route-recheck-interval",
        "1",
    ];
    args.extend_from_slice(extra);
    Daemon::start(&sim.url(), &args)
}

fn role(st: &Value) -> &str {
    st["control"]["role"].as_str().unwrap_or("")
}

fn wait_role(d: &Daemon, want: &str) -> Value {
    wait_for_status(d, |st| role(st) == want)
}

/// The EC2 mutating calls this daemon made, from its own metrics.
fn mutations_made(d: &Daemon) -> u64 {
    let (_, m) = call(d, "GET", "/metrics", None);
    m.as_str()
        .unwrap()
        .lines()
        .filter(|l| {
            l.starts_with("vpc_router_ec2_calls_total{")
                && ["CreateRoute", "ReplaceRoute", "DeleteRoute"]
                    .iter()
                    .any(|a| l.contains(&format!("action=\"{a}\"")))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn the_spec_comes_from_etcd_follows_its_edits_and_ignores_broken_ones() {
    let sim = scenario();
    let etcd = Etcd::start("etcd-spec");
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    let d = daemon(&sim, &etcd.url(), "solo", &[]);
    wait_role(&d, "leader");
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.30.22"]}"#);
    converge(&sim, "10.60.0.0/16", Some(B_ENI));

    // A broken edit: logged, the spec in force stays.
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.30"]}"#);
    wait_for_log(&d, "the spec in force stays until the key is fixed");
    let (s, spec) = call(&d, "GET", "/route_spec", None);
    assert_eq!(s, 200);
    assert_eq!(spec, serde_json::json!({"10.60.0.0/16": ["10.33.30.22"]}));
    // The editing endpoints point at etcd.
    let (s, v) = call(
        &d,
        "POST",
        "/route",
        Some(r#"{"dst_cidr": "10.62.0.0/16", "router_ip": "10.33.20.142"}"#),
    );
    assert_eq!(s, 409, "{v:#}");
    assert_contains!(v.to_string(), "the etcd key /vpc-router/spec");
    // A deleted key deletes no route.
    etcd.delete(SPEC);
    wait_for_log(&d, "the spec was deleted; the spec in force stays");
    assert_eq!(
        sim.route_target(TABLES[0], "10.60.0.0/16").as_deref(),
        Some(B_ENI)
    );
    // An empty spec does: the routes vpc-router owns go, no other.
    etcd.put(SPEC, "{}");
    converge(&sim, "10.60.0.0/16", None);
    assert_eq!(
        sim.route_target("rtb-1a2b3c4d", "10.55.0.0/16").as_deref(),
        Some(B_ENI)
    );
    let owned = etcd
        .get("/vpc-router/owned")
        .expect("ownership is kept in etcd");
    assert_contains!(owned, "\"managed\": []");
}

#[test]
fn the_watch_resumes_after_etcd_restarts_and_after_a_compaction() {
    let sim = scenario();
    let etcd = Etcd::start("etcd-resume");
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    let d = daemon(&sim, &etcd.url(), "solo", &[]);
    converge(&sim, "10.60.0.0/16", Some(A_ENI));

    // etcd dies: routes stay, the daemon says why and stays up.
    etcd.kill9();
    wait_for_log(&d, "routes stay as they are until etcd answers again");
    let st = wait_role(&d, "follower");
    assert_eq!(st["etcd"]["reachable"], false, "{st:#}");
    assert_eq!(
        sim.route_target(TABLES[0], "10.60.0.0/16").as_deref(),
        Some(A_ENI)
    );
    etcd.restart();
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.30.22"]}"#);
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
    wait_for_log(&d, "etcd reachable again");

    // The daemon frozen while etcd restarts and compacts the revisions it
    // would resume from: it reads the spec anew.
    d.signal("STOP");
    etcd.kill9();
    etcd.restart();
    etcd.put(SPEC, r#"{"10.61.0.0/16": ["10.33.20.142"]}"#);
    let rev = etcd.put(SPEC, r#"{"10.62.0.0/16": ["10.33.20.142"]}"#);
    etcd.compact(rev);
    d.signal("CONT");
    converge(&sim, "10.62.0.0/16", Some(A_ENI));
    converge(&sim, "10.60.0.0/16", None);
    assert_contains!(d.log(), "was compacted");
    assert_eq!(sim.route_target(TABLES[0], "10.61.0.0/16"), None);
}

#[test]
fn one_leader_changes_routes_and_another_takes_over_when_it_dies_or_stops() {
    let sim = scenario();
    let etcd = Etcd::start("etcd-elect");
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    let a = daemon(&sim, &etcd.url(), "daemon-a", &[]);
    wait_role(&a, "leader");
    let b = daemon(&sim, &etcd.url(), "daemon-b", &[]);
    let st = wait_for_status(&b, |st| st["etcd"]["leader"] == "daemon-a");
    assert_eq!(role(&st), "follower", "{st:#}");
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    // The follower keeps warm (it passes) but sends no mutating call.
    wait_for_status(&b, |st| st["reconcile"]["last_pass"]["result"].is_string());
    assert!(mutations_made(&a) >= 3);
    assert_eq!(mutations_made(&b), 0, "{}", b.log());

    // kill -9: the other daemon leads once the lease expires, and acts.
    a.signal("KILL");
    let st = wait_role(&b, "leader");
    assert_eq!(st["etcd"]["name"], "daemon-b", "{st:#}");
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.30.22"]}"#);
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
    assert!(mutations_made(&b) >= 3);

    // SIGTERM: the leader gives up its lease, and a third daemon takes
    // over at once.
    let c = daemon(&sim, &etcd.url(), "daemon-c", &[]);
    wait_for_status(&c, |st| st["etcd"]["leader"] == "daemon-b");
    b.signal("TERM");
    let (code, log) = b.wait(Duration::from_secs(15));
    assert_eq!(code, 0, "{log}");
    assert_contains!(log, "gave up the lead (lease revoked)");
    wait_role(&c, "leader");
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
}

#[test]
fn a_new_leader_deletes_what_its_predecessor_created_and_nothing_else() {
    let sim = scenario();
    let etcd = Etcd::start("etcd-handover");
    etcd.put(
        SPEC,
        r#"{"10.60.0.0/16": ["10.33.20.142"], "10.61.0.0/16": ["10.33.20.142"]}"#,
    );
    let a = daemon(&sim, &etcd.url(), "daemon-a", &[]);
    wait_role(&a, "leader");
    converge(&sim, "10.61.0.0/16", Some(A_ENI));
    let b = daemon(&sim, &etcd.url(), "daemon-b", &[]);
    wait_for_status(&b, |st| st["etcd"]["leader"] == "daemon-a");
    a.signal("KILL");
    wait_role(&b, "leader");
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    converge(&sim, "10.61.0.0/16", None);
    assert_eq!(
        sim.route_target(TABLES[0], "10.60.0.0/16").as_deref(),
        Some(A_ENI)
    );
    // Routes it never owned stay: another router's, a blackhole, a gateway.
    assert_eq!(
        sim.route_target("rtb-1a2b3c4d", "10.55.0.0/16").as_deref(),
        Some(B_ENI)
    );
    assert_eq!(
        sim.route_target(TABLES[0], "10.55.0.0/16").as_deref(),
        Some(A_ENI)
    );
    assert!(sim.route_target(TABLES[0], "0.0.0.0/0").is_some());
}

#[test]
fn with_etcd_frozen_no_daemon_changes_routes_and_one_leads_again_after() {
    let sim = scenario();
    let etcd = Etcd::start("etcd-frozen");
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    let a = daemon(&sim, &etcd.url(), "daemon-a", &[]);
    wait_role(&a, "leader");
    let b = daemon(&sim, &etcd.url(), "daemon-b", &[]);
    wait_for_status(&b, |st| st["etcd"]["leader"] == "daemon-a");
    converge(&sim, "10.60.0.0/16", Some(A_ENI));

    // etcd stops answering (keepalives hang): the leader stops by its own
    // deadline, before the lease can have expired at etcd.
    etcd.pause();
    let st = wait_role(&a, "follower");
    assert_contains!(
        st["control"]["role_reason"].to_string(),
        "etcd cannot be reached to renew the lease"
    );
    // A route goes by hand: a pass sees it, and holds the change.
    sim.remove_route(TABLES[0], "10.60.0.0/16");
    let before = (mutations_made(&a), mutations_made(&b));
    for d in [&a, &b] {
        wait_for_status(d, |st| st["reconcile"]["last_pass"]["result"] == "held");
    }
    assert_eq!((mutations_made(&a), mutations_made(&b)), before);
    assert_eq!(sim.route_target(TABLES[0], "10.60.0.0/16"), None);
    // Every daemon stays up and says why.
    for d in [&a, &b] {
        assert!(call(d, "GET", "/healthz", None).0 == 200);
    }

    // etcd is back: one daemon leads and puts the route back.
    etcd.resume();
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    let leaders = [&a, &b]
        .iter()
        .filter(|d| role(&call(d, "GET", "/status", None).1) == "leader")
        .count();
    assert_eq!(leaders, 1);
}

#[test]
fn a_follower_refuses_api_changes_and_names_the_leader() {
    let sim = scenario();
    let etcd = Etcd::start("etcd-api");
    let args = |name: &'static str| {
        vec![
            "--etcd-endpoints".to_string(),
            etcd.url(),
            "--etcd-name".into(),
            name.into(),
            "--etcd-lease-ttl".into(),
            "2".into(),
        ]
    };
    let a_args = args("daemon-a");
    let a = Daemon::start(
        &sim.url(),
        &a_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    wait_role(&a, "leader");
    let b_args = args("daemon-b");
    let b = Daemon::start(
        &sim.url(),
        &b_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    wait_for_status(&b, |st| st["etcd"]["leader"] == "daemon-a");
    let body = r#"{"dst_cidr": "10.60.0.0/16", "router_ip": "10.33.20.142"}"#;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent.post(b.url("/route")).send(body).unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(
        resp.headers()
            .get("X-Vpc-Router-Leader")
            .map(|v| v.to_str().unwrap()),
        Some("daemon-a")
    );
    let text = resp.into_body().read_to_string().unwrap();
    assert_contains!(
        text,
        "this daemon is not the leader: the leader is daemon-a"
    );
    assert_eq!(sim.route_target(TABLES[0], "10.60.0.0/16"), None);
    // Reads work on a follower; the leader takes the change.
    assert_eq!(call(&b, "GET", "/route?dst_cidr=10.60.0.0/16", None).0, 404);
    assert_eq!(call(&a, "POST", "/route", Some(body)).0, 201);
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
}

#[test]
fn tls_with_a_client_certificate_and_a_password_from_a_file() {
    let sim = scenario();
    let etcd = Etcd::start_tls("etcd-tls");
    etcd.enable_auth("vpc-router", "s3cret-pass");
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    let dir = temp_dir("etcd-tls-client");
    let password = dir.join("password");
    std::fs::write(&password, "s3cret-pass\n").unwrap();
    let (ca, cert, key) = (etcd.ca(), etcd.client_cert(), etcd.client_key());
    let extra = [
        "--etcd-cacert",
        ca.to_str().unwrap(),
        "--etcd-cert",
        cert.to_str().unwrap(),
        "--etcd-key",
        key.to_str().unwrap(),
        "--etcd-user",
        "vpc-router",
        "--etcd-password-file",
        password.to_str().unwrap(),
    ];
    let d = daemon(&sim, &etcd.url(), "tls", &extra);
    wait_role(&d, "leader");
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    assert_not_contains!(d.log(), "s3cret-pass");

    // A wrong password: the daemon stays up, never leads, and says why.
    std::fs::write(&password, "wrong").unwrap();
    let bad = daemon(&sim, &etcd.url(), "bad", &extra);
    wait_for_log(&bad, "authentication failed");
    let (_, st) = call(&bad, "GET", "/status", None);
    assert_eq!(role(&st), "follower", "{st:#}");
    assert_not_contains!(bad.log(), "wrong");
}

#[test]
fn a_state_dirs_ownership_is_taken_over_once() {
    let sim = scenario();
    let etcd = Etcd::start("etcd-migrate");
    // An earlier vpc-router managed 10.61.0.0/16 with a state dir.
    for t in TABLES {
        sim.add_route_to_eni(t, "10.61.0.0/16", A_ENI);
    }
    let state = temp_dir("etcd-migrate-state").join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("owned.json"),
        r#"{"version": 1, "managed": ["10.61.0.0/16"]}"#,
    )
    .unwrap();
    etcd.put(SPEC, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    let d = daemon(
        &sim,
        &etcd.url(),
        "migrating",
        &["--state-dir", state.to_str().unwrap()],
    );
    converge(&sim, "10.61.0.0/16", None);
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    assert_contains!(d.log(), "taking over the 1 CIDR(s) of");
    let owned = etcd.get("/vpc-router/owned").unwrap();
    assert_contains!(owned, "10.60.0.0/16");
    assert_not_contains!(owned, "10.61.0.0/16");
}

#[test]
fn several_endpoints_the_next_one_is_used_when_one_dies() {
    let sim = scenario();
    let cluster = Cluster::start("etcd-cluster", 3);
    let urls = cluster.urls();
    cluster
        .member(1)
        .put(SPEC, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    let d = daemon(&sim, &urls.join(","), "clustered", &[]);
    let st = wait_role(&d, "leader");
    let first = st["etcd"]["endpoint"].as_str().unwrap().to_string();
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    let i = urls
        .iter()
        .position(|u| *u == first)
        .expect("an endpoint of ours");
    cluster.member(i).kill9();
    let other = (i + 1) % 3;
    cluster
        .member(other)
        .put(SPEC, r#"{"10.60.0.0/16": ["10.33.30.22"]}"#);
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
    let st = wait_for_status(&d, |st| st["etcd"]["endpoint"] != first.as_str());
    assert_eq!(role(&st), "leader", "{st:#}");
}

#[test]
fn with_etcd_the_http_spec_is_shared_so_a_failover_never_reverts_an_edit() {
    let sim = scenario();
    let etcd = Etcd::start("etcd-http");
    let state = temp_dir("etcd-http-state");
    let args = |name: &str, dir: &str| {
        vec![
            "-m".to_string(),
            "http".into(),
            "--state-dir".into(),
            state.join(dir).to_str().unwrap().to_string(),
            "--etcd-endpoints".into(),
            etcd.url(),
            "--etcd-name".into(),
            name.into(),
            "--etcd-lease-ttl".into(),
            "2".into(),
        ]
    };
    let start = |a: Vec<String>| {
        Daemon::start(
            &sim.url(),
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    let a = start(args("daemon-a", "a"));
    wait_role(&a, "leader");
    let b = start(args("daemon-b", "b"));
    wait_for_status(&b, |st| st["etcd"]["leader"] == "daemon-a");
    let (s, v) = call(
        &a,
        "POST",
        "/route",
        Some(r#"{"dst_cidr": "10.60.0.0/16", "router_ip": "10.33.30.22"}"#),
    );
    assert_eq!(s, 201, "{v:#}");
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
    // The follower has the edit, and refuses its own.
    let (_, spec) = call(&b, "GET", "/route_spec", None);
    assert_eq!(spec, serde_json::json!({"10.60.0.0/16": ["10.33.30.22"]}));
    let (s, _) = call(
        &b,
        "POST",
        "/route",
        Some(r#"{"dst_cidr": "10.61.0.0/16", "router_ip": "10.33.30.22"}"#),
    );
    assert_eq!(s, 503);
    // The leader dies; the new one keeps the edit and takes the next.
    a.signal("KILL");
    wait_role(&b, "leader");
    let (s, v) = call(
        &b,
        "POST",
        "/route",
        Some(r#"{"dst_cidr": "10.61.0.0/16", "router_ip": "10.33.20.142"}"#),
    );
    assert_eq!(s, 201, "{v:#}\n{}", b.log());
    converge(&sim, "10.61.0.0/16", Some(A_ENI));
    assert_eq!(
        sim.route_target(TABLES[0], "10.60.0.0/16").as_deref(),
        Some(B_ENI)
    );
    let shared = etcd.get(SPEC).unwrap();
    assert_contains!(shared, "10.60.0.0/16");
    assert_contains!(shared, "10.61.0.0/16");
}
