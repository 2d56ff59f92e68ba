//! The engine against the in-memory EC2 and an in-memory store: passes,
//! spec edits, ownership across a restart, the one-CIDR pass, pacing.

use super::*;
use crate::ec2::fake::{eni, FakeEc2, Fault};
use crate::reconcile::engine::fake::FakeHealth;
use crate::spec;
use serde_json::json;

#[derive(Default)]
struct Stored {
    owned: BTreeSet<Cidr>,
}

#[derive(Default, Clone)]
struct Mem(Arc<Mutex<Stored>>);

impl Persist for Mem {
    fn load_owned(&self) -> Result<BTreeSet<Cidr>, String> {
        Ok(self.0.lock().unwrap().owned.clone())
    }
    fn save_owned(&self, owned: &BTreeSet<Cidr>) -> Result<(), String> {
        self.0.lock().unwrap().owned = owned.clone();
        Ok(())
    }
}

/// A clock whose sleep moves it forward, so pacing never waits for real.
fn fake_clock() -> (Clock, crate::clock::Hand) {
    Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

fn vpc(tables: usize) -> Arc<Mutex<FakeEc2>> {
    Arc::new(Mutex::new(FakeEc2::two_routers(tables)))
}

fn engine(ec2: Arc<Mutex<FakeEc2>>, store: Mem, clock: Clock) -> Engine {
    Engine::new(
        ec2,
        "vpc-350d6a51".parse().unwrap(),
        TableScope::default(),
        Options::default(),
        Box::new(store),
        clock,
    )
    .unwrap()
}

fn spec(doc: &str) -> Spec {
    spec::parse(doc.as_bytes()).unwrap()
}

/// The engine's status as `/status` shows it.
fn status(e: &Engine) -> serde_json::Value {
    crate::daemon::status::engine_json(&e.status())
}

/// One CIDR's routes by table as `GET /status/routes?cidr=CIDR` shows
/// them; null when the engine does not show that CIDR.
fn routes(e: &Engine, cidr: &str) -> serde_json::Value {
    let c: Cidr = cidr.parse().unwrap();
    e.routes_of(&c).map_or(serde_json::Value::Null, |t| {
        crate::daemon::status::cidr_routes_json(&c, &t)["routes"].clone()
    })
}

/// Every CIDR's routes by table, as `GET /status/routes` pages them.
fn all_routes(e: &Engine) -> serde_json::Value {
    crate::daemon::status::routes_page_json(&e.routes_page(1, crate::api::MAX_PER_PAGE))["routes"]
        .clone()
}

fn metrics(e: &Engine) -> String {
    let mut m = crate::daemon::metrics::Exposition::new();
    crate::daemon::metrics::render_engine(&e.gauges(), &mut m);
    m.into_string()
}

fn mutations(ec2: &Mutex<FakeEc2>) -> Vec<String> {
    ec2.lock().unwrap().mutations()
}

#[test]
fn passes_converge_track_ownership_and_survive_a_restart() {
    let ec2 = vpc(2);
    let store = Mem::default();
    let e = engine(ec2.clone(), store.clone(), fake_clock().0);
    assert!(!e.pass(), "no spec yet: no pass");
    e.set_spec(spec(
        r#"{"10.55.0.0/16": ["10.33.20.142"], "10.66.0.0/16": ["10.33.30.22"]}"#,
    ));
    assert!(e.pass());
    assert_eq!(mutations(&ec2).len(), 4);
    let st = status(&e);
    assert_eq!(st["last_pass"]["result"], "changed");
    assert_eq!(st["managed"], json!(["10.55.0.0/16", "10.66.0.0/16"]));
    let r = &routes(&e, "10.55.0.0/16")["rtb-00000000"];
    assert_eq!(&all_routes(&e)["10.55.0.0/16"]["rtb-00000000"], r);
    assert_eq!(r["current"], r["desired"]);
    assert_eq!(r["last_action"], "create");
    assert_eq!(r["outcome"], "done");

    // In sync: a pass makes no mutating call.
    ec2.lock().unwrap().calls.borrow_mut().clear();
    assert!(e.pass());
    assert!(mutations(&ec2).is_empty());
    assert_eq!(status(&e)["last_pass"]["result"], "in_sync");

    // A restart: what is owned comes back from the store, so removing a
    // CIDR from the spec deletes its routes. (The http feed keeps its own
    // spec: daemon::feed's tests.)
    drop(e);
    let e = engine(ec2.clone(), store.clone(), fake_clock().0);
    assert_eq!(e.spec(), None);
    e.set_spec(spec(r#"{"10.55.0.0/16": ["10.33.20.142"]}"#));
    assert!(e.pass());
    assert_eq!(
        mutations(&ec2),
        [
            "DeleteRoute rtb-00000000 10.66.0.0/16",
            "DeleteRoute rtb-00000001 10.66.0.0/16"
        ]
    );
    assert_eq!(
        store
            .load_owned()
            .unwrap()
            .into_iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
        ["10.55.0.0/16"]
    );
    assert!(routes(&e, "10.66.0.0/16").is_null());
    assert!(all_routes(&e).get("10.66.0.0/16").is_none());
    assert_eq!(status(&e)["routes"]["cidrs"], 1);
    let m = metrics(&e);
    assert!(
        m.contains("vpc_router_reconcile_changes_total{kind=\"delete\"} 2"),
        "{m}"
    );
    assert!(m.contains("vpc_router_routes_managed 1"), "{m}");
}

#[test]
fn failures_are_counted_and_retried() {
    let ec2 = vpc(2);
    ec2.lock()
        .unwrap()
        .fail("CreateRoute rtb-00000001", Fault::Api("RouteLimitExceeded"));
    let e = engine(ec2.clone(), Mem::default(), fake_clock().0);
    e.set_spec(spec(r#"{"10.55.0.0/16": ["10.33.20.142"]}"#));
    e.pass();
    let st = status(&e);
    assert_eq!(st["last_pass"]["result"], "failed");
    assert_eq!(st["last_pass"]["failed"], 1);
    assert_eq!(st["routes"]["states"]["failed"], 1, "{st:#}");
    assert_eq!(
        st["routes"]["attention"][0]["tables_at_fault"],
        json!(["rtb-00000001"])
    );
    let r = routes(&e, "10.55.0.0/16");
    let outcome = r["rtb-00000001"]["outcome"].as_str().unwrap();
    assert!(
        outcome.starts_with("failed: EC2 CreateRoute failed: RouteLimitExceeded"),
        "{outcome}"
    );
    e.pass();
    assert_eq!(status(&e)["last_pass"]["result"], "changed");
    let m = metrics(&e);
    assert!(
        m.contains("vpc_router_reconcile_failures_total{code=\"RouteLimitExceeded\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("vpc_router_reconcile_passes_total{result=\"failed\"} 1"),
        "{m}"
    );

    // Observing fails: the pass is an error, nothing changes.
    ec2.lock()
        .unwrap()
        .fail("DescribeRouteTables", Fault::Transport);
    assert!(!e.pass());
    assert_eq!(status(&e)["last_pass"]["result"], "error");
}

#[test]
fn a_one_cidr_pass_touches_only_that_cidr() {
    let ec2 = vpc(2);
    let e = engine(ec2.clone(), Mem::default(), fake_clock().0);
    e.set_spec(spec(
        r#"{"10.55.0.0/16": ["10.33.20.142"], "10.66.0.0/16": ["10.33.30.22"]}"#,
    ));
    let r = e.pass_cidr("10.66.0.0/16".parse().unwrap()).unwrap();
    assert_eq!((r.tables.len(), r.applied.len()), (2, 2));
    assert!(mutations(&ec2).iter().all(|m| m.contains("10.66.0.0/16")));
    assert_eq!(status(&e)["managed"], json!(["10.66.0.0/16"]));
}

#[test]
fn a_large_pass_paces_itself_with_the_budget() {
    // 60 tables: 60 creates, ten past the mutating bucket's 50.
    let ec2 = vpc(60);
    let (clock, slept) = fake_clock();
    let e = engine(ec2.clone(), Mem::default(), clock);
    e.set_spec(spec(r#"{"10.55.0.0/16": ["10.33.20.142"]}"#));
    e.pass();
    assert_eq!(mutations(&ec2).len(), 60);
    // Ten more tokens at 5 per second: two seconds of waiting.
    let waited = slept.elapsed();
    assert!(
        waited >= Duration::from_millis(1990) && waited <= Duration::from_millis(2010),
        "{waited:?}"
    );
}

#[test]
fn source_dest_check_is_reported_or_fixed_before_the_routes() {
    let metric = |e: &Engine| {
        metrics(e)
            .lines()
            .find(|l| l.starts_with("vpc_router_source_dest_check_enabled "))
            .unwrap()
            .to_string()
    };
    let checked = || {
        let ec2 = vpc(1);
        ec2.lock().unwrap().enis.borrow_mut()[1].source_dest_check = Some(true);
        ec2
    };
    let doc = r#"{"10.55.0.0/16": ["10.33.30.22"]}"#;

    // Without the flag: status, metric and the route, but no fix.
    let ec2 = checked();
    let e = engine(ec2.clone(), Mem::default(), fake_clock().0);
    e.set_spec(spec(doc));
    e.pass();
    let issues = status(&e)["issues"].to_string();
    assert!(
        issues.contains("source/destination check is enabled on eni-0bbbbbbbbbbbbbbb2"),
        "{issues}"
    );
    assert_eq!(metric(&e), "vpc_router_source_dest_check_enabled 1");
    assert_eq!(
        mutations(&ec2),
        ["CreateRoute rtb-00000000 10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2"]
    );

    // With it: the check goes off first, then the route; a failure is
    // retried on the next pass and counted.
    let ec2 = checked();
    ec2.lock().unwrap().fail(
        "ModifyNetworkInterfaceAttribute",
        Fault::Api("UnauthorizedOperation"),
    );
    let e = Engine::new(
        ec2.clone(),
        "vpc-350d6a51".parse().unwrap(),
        TableScope::default(),
        Options {
            fix_source_dest_check: true,
            ..Options::default()
        },
        Box::new(Mem::default()),
        fake_clock().0,
    )
    .unwrap();
    e.set_spec(spec(doc));
    e.pass();
    assert_eq!(status(&e)["last_pass"]["result"], "failed");
    assert_eq!(metric(&e), "vpc_router_source_dest_check_enabled 1");
    e.pass();
    assert_eq!(
        mutations(&ec2),
        [
            "ModifyNetworkInterfaceAttribute eni-0bbbbbbbbbbbbbbb2 SourceDestCheck=false",
            "CreateRoute rtb-00000000 10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2",
            "ModifyNetworkInterfaceAttribute eni-0bbbbbbbbbbbbbbb2 SourceDestCheck=false",
        ]
    );
    assert_eq!(
        ec2.lock().unwrap().enis.borrow()[1].source_dest_check,
        Some(false)
    );
    assert_eq!(metric(&e), "vpc_router_source_dest_check_enabled 0");
    let m = metrics(&e);
    assert!(m.contains("vpc_router_reconcile_changes_total{kind=\"disable_source_dest_check\"} 1"));
    assert!(m.contains("vpc_router_reconcile_failures_total{code=\"UnauthorizedOperation\"} 1"));
    // In sync now: no more calls.
    e.pass();
    assert_eq!(mutations(&ec2).len(), 3);
    assert_eq!(status(&e)["issues"].as_array().unwrap().len(), 0);
}

const A_IP: &str = "10.33.20.142";
const B_IP: &str = "10.33.30.22";

fn with_c(ec2: &Mutex<FakeEc2>) {
    ec2.lock().unwrap().enis.borrow_mut().push(eni(
        "eni-0ccccccccccccccc3",
        "i-0ccccccccccccccc3",
        &["10.33.40.7"],
        false,
    ));
}

fn transition(e: &Engine, ip: &str, from: health::State, to: health::State, at: Instant) {
    e.on_transition(health::Transition {
        ip: ip.parse().unwrap(),
        from,
        to,
        detected: at,
        reason: "test".into(),
    });
}

fn targets(ec2: &Mutex<FakeEc2>, cidr: &str, tables: usize) -> Vec<String> {
    (0..tables)
        .map(|t| {
            ec2.lock()
                .unwrap()
                .route(&format!("rtb-{t:08x}"), cidr)
                .and_then(|r| r.target.eni().map(ToString::to_string))
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn a_failed_router_is_failed_over_at_once_in_every_table() {
    use health::State::{Failed, Healthy};
    let ec2 = vpc(4);
    with_c(&ec2);
    let h = Arc::new(FakeHealth::default());
    for ip in [A_IP, B_IP, "10.33.40.7"] {
        h.set(ip, Healthy);
    }
    let (clock, _) = fake_clock();
    let e = engine(ec2.clone(), Mem::default(), clock)
        .with_health(h.clone(), None, 4)
        .unwrap();
    e.set_spec(spec(
        r#"{"10.55.0.0/16": ["10.33.20.142", "10.33.30.22"],
                "10.56.0.0/16": ["10.33.20.142", "10.33.40.7", "10.33.30.22"],
                "10.57.0.0/16": ["10.33.30.22"]}"#,
    ));
    assert!(e.pass());
    assert_eq!(
        targets(&ec2, "10.55.0.0/16", 4),
        ["eni-0aaaaaaaaaaaaaaa1"; 4]
    );

    // A fails: its two CIDRs move, each to its first healthy host, in all
    // four tables, with no describe first; 10.57.0.0/16 is not touched.
    ec2.lock().unwrap().calls.borrow_mut().clear();
    h.set(A_IP, Failed);
    transition(&e, A_IP, Healthy, Failed, Instant::now());
    let calls = ec2.lock().unwrap().calls();
    assert_eq!(calls.len(), 8, "{calls:#?}");
    assert!(
        calls.iter().all(|c| c.starts_with("ReplaceRoute")),
        "{calls:#?}"
    );
    assert_eq!(
        targets(&ec2, "10.55.0.0/16", 4),
        ["eni-0bbbbbbbbbbbbbbb2"; 4]
    );
    assert_eq!(
        targets(&ec2, "10.56.0.0/16", 4),
        ["eni-0ccccccccccccccc3"; 4]
    );
    let m = metrics(&e);
    assert!(
        m.contains("vpc_router_failovers_total{cidr=\"10.55.0.0/16\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("vpc_router_failover_duration_seconds_count 1"),
        "{m}"
    );

    // The failover's view is current: C failing next moves 10.56.0.0/16
    // to B, still without a describe.
    ec2.lock().unwrap().calls.borrow_mut().clear();
    h.set("10.33.40.7", Failed);
    transition(&e, "10.33.40.7", Healthy, Failed, Instant::now());
    assert_eq!(
        targets(&ec2, "10.56.0.0/16", 4),
        ["eni-0bbbbbbbbbbbbbbb2"; 4]
    );
    assert!(ec2
        .lock()
        .unwrap()
        .calls()
        .iter()
        .all(|c| c.starts_with("ReplaceRoute")));

    // A recovers: no failback by default, and a pass agrees.
    h.set(A_IP, Healthy);
    transition(&e, A_IP, Failed, Healthy, Instant::now());
    ec2.lock().unwrap().calls.borrow_mut().clear();
    assert!(e.pass());
    assert!(mutations(&ec2).is_empty(), "{:?}", mutations(&ec2));
}

#[test]
fn with_no_healthy_router_the_routes_stay() {
    use health::State::{Failed, Healthy};
    let ec2 = vpc(2);
    let h = Arc::new(FakeHealth::default());
    h.set(A_IP, Healthy);
    h.set(B_IP, Failed);
    let e = engine(ec2.clone(), Mem::default(), fake_clock().0)
        .with_health(h.clone(), None, 2)
        .unwrap();
    e.set_spec(spec(r#"{"10.55.0.0/16": ["10.33.20.142", "10.33.30.22"]}"#));
    assert!(e.pass());
    h.set(A_IP, Failed);
    ec2.lock().unwrap().calls.borrow_mut().clear();
    transition(&e, A_IP, Healthy, Failed, Instant::now());
    assert!(mutations(&ec2).is_empty());
    assert_eq!(
        targets(&ec2, "10.55.0.0/16", 2),
        ["eni-0aaaaaaaaaaaaaaa1"; 2]
    );
    assert_eq!(status(&e)["no_healthy_router"], json!(["10.55.0.0/16"]));
    // A pass agrees, and says so.
    assert!(e.pass());
    assert!(mutations(&ec2).is_empty());
    let issues = status(&e)["issues"].to_string();
    assert!(issues.contains("no healthy router"), "{issues}");
    let m = metrics(&e);
    assert!(
        m.contains("vpc_router_cidrs_without_healthy_router 1"),
        "{m}"
    );
}

#[test]
fn failback_waits_for_the_hold_down() {
    use health::State::{Failed, Healthy};
    let ec2 = vpc(2);
    let h = Arc::new(FakeHealth::default());
    h.set(A_IP, Failed);
    h.set(B_IP, Healthy);
    let (clock, slept) = fake_clock();
    let e = engine(ec2.clone(), Mem::default(), clock)
        .with_health(h.clone(), Some(Duration::from_secs(60)), 2)
        .unwrap();
    e.set_spec(spec(r#"{"10.55.0.0/16": ["10.33.20.142", "10.33.30.22"]}"#));
    assert!(e.pass());
    assert_eq!(
        targets(&ec2, "10.55.0.0/16", 2),
        ["eni-0bbbbbbbbbbbbbbb2"; 2]
    );
    // A recovers (at the fake clock's now); within the hold-down B keeps
    // the routes.
    h.set(A_IP, Healthy);
    let now = e.clock.mono();
    transition(&e, A_IP, Failed, Healthy, now);
    assert!(e.pass());
    assert_eq!(
        targets(&ec2, "10.55.0.0/16", 2),
        ["eni-0bbbbbbbbbbbbbbb2"; 2]
    );
    assert!(
        e.lock().pass_at.is_some(),
        "a pass is due when the hold-down ends"
    );
    // After it, A takes them back.
    slept.advance(Duration::from_secs(61));
    assert!(e.pass());
    assert_eq!(
        targets(&ec2, "10.55.0.0/16", 2),
        ["eni-0aaaaaaaaaaaaaaa1"; 2]
    );
}

/// An EC2 that checks, at every mutating call, that the CIDR it creates
/// or points is already recorded as owned: the write-ahead invariant.
struct Checked {
    ec2: Arc<Mutex<FakeEc2>>,
    store: Mem,
    /// Calls made while their CIDR was not recorded.
    unrecorded: Mutex<Vec<String>>,
}

impl Checked {
    fn check(&self, dest: &Cidr) {
        if !self.store.0.lock().unwrap().owned.contains(dest) {
            self.unrecorded.lock().unwrap().push(dest.to_string());
        }
    }
}

impl crate::ec2::Ec2 for Checked {
    fn describe_route_tables(
        &self,
        vpc: &VpcId,
        ids: &[RouteTableId],
    ) -> Result<Vec<crate::ec2::RouteTable>, crate::ec2::Ec2Error> {
        self.ec2.describe_route_tables(vpc, ids)
    }
    fn describe_network_interfaces(
        &self,
        vpc: &VpcId,
        ips: &[IpAddr],
    ) -> Result<Vec<crate::ec2::NetworkInterface>, crate::ec2::Ec2Error> {
        self.ec2.describe_network_interfaces(vpc, ips)
    }
    fn create_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &crate::types::EniId,
        dry_run: bool,
    ) -> Result<(), crate::ec2::Ec2Error> {
        self.check(dest);
        self.ec2.create_route(table, dest, eni, dry_run)
    }
    fn replace_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &crate::types::EniId,
        dry_run: bool,
    ) -> Result<(), crate::ec2::Ec2Error> {
        self.check(dest);
        self.ec2.replace_route(table, dest, eni, dry_run)
    }
    fn delete_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        dry_run: bool,
    ) -> Result<(), crate::ec2::Ec2Error> {
        // A delete is made while the CIDR is still recorded; it is
        // released only once confirmed.
        self.check(dest);
        self.ec2.delete_route(table, dest, dry_run)
    }
    fn disable_source_dest_check(
        &self,
        eni: &crate::types::EniId,
        dry_run: bool,
    ) -> Result<(), crate::ec2::Ec2Error> {
        self.ec2.disable_source_dest_check(eni, dry_run)
    }
}

// See: issue 14, item 1 (routes created during an interrupted pass were
// forgotten: owned.json was written only when a whole pass ended).
#[test]
fn issue14_ownership_is_recorded_before_every_route_call_and_released_after() {
    let fake = vpc(3);
    let store = Mem::default();
    let checked = Arc::new(Checked {
        ec2: fake.clone(),
        store: store.clone(),
        unrecorded: Mutex::default(),
    });
    let e = Engine::new(
        checked.clone(),
        "vpc-350d6a51".parse().unwrap(),
        TableScope::default(),
        Options::default(),
        Box::new(store.clone()),
        fake_clock().0,
    )
    .unwrap();
    e.set_spec(spec(
        r#"{"10.55.0.0/16": ["10.33.20.142"], "10.66.0.0/16": ["10.33.30.22"]}"#,
    ));
    assert!(e.pass());
    // One-CIDR passes (http mode's edits) and spec shrinking too.
    e.set_spec(spec(
        r#"{"10.55.0.0/16": ["10.33.30.22"], "10.77.0.0/16": ["10.33.20.142"]}"#,
    ));
    let _ = e.pass_cidr("10.77.0.0/16".parse().unwrap()).unwrap();
    assert!(e.pass());
    assert_eq!(
        mutations(&fake).len(),
        6 + 3 + 3 + 3,
        "{:?}",
        mutations(&fake)
    );
    assert!(
        checked.unrecorded.lock().unwrap().is_empty(),
        "{:?}",
        checked.unrecorded
    );
    // 10.66.0.0/16 left the spec and its deletes are confirmed: released.
    let owned: Vec<String> = store
        .load_owned()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(owned, ["10.55.0.0/16", "10.77.0.0/16"]);
}

/// A store that cannot write.
struct ReadOnly;

impl Persist for ReadOnly {
    fn load_owned(&self) -> Result<BTreeSet<Cidr>, String> {
        Ok(["10.66.0.0/16".parse().unwrap()].into())
    }
    fn save_owned(&self, _: &BTreeSet<Cidr>) -> Result<(), String> {
        Err("state dir: read-only file system".into())
    }
}

#[test]
fn issue14_without_a_record_of_ownership_no_route_is_created_and_none_forgotten() {
    let fake = vpc(2);
    // 10.66.0.0/16 is owned (from an earlier run) and has routes.
    fake.lock()
        .unwrap()
        .create_route(
            &"rtb-00000000".parse().unwrap(),
            &"10.66.0.0/16".parse().unwrap(),
            &"eni-0bbbbbbbbbbbbbbb2".parse().unwrap(),
            false,
        )
        .unwrap();
    let e = Engine::new(
        fake.clone(),
        "vpc-350d6a51".parse().unwrap(),
        TableScope::default(),
        Options::default(),
        Box::new(ReadOnly),
        fake_clock().0,
    )
    .unwrap();
    e.set_spec(spec(r#"{"10.55.0.0/16": ["10.33.20.142"]}"#));
    e.pass();
    assert_eq!(
        mutations(&fake),
        ["CreateRoute rtb-00000000 10.66.0.0/16 eni-0bbbbbbbbbbbbbbb2"]
    );
    // Nothing released that was not confirmed deleted.
    assert!(e
        .status()
        .managed
        .contains(&"10.66.0.0/16".parse().unwrap()));
    let m = metrics(&e);
    assert!(
        m.contains("vpc_router_reconcile_failures_total{code=\"state\"} 1"),
        "{m}"
    );
}

#[test]
fn status_stays_bounded_whatever_the_tables_and_cidrs() {
    let (tables, cidrs) = (100, 150);
    let ec2 = vpc(tables);
    // One table refuses every CIDR: every CIDR needs a look.
    for _ in 0..cidrs {
        ec2.lock()
            .unwrap()
            .fail("CreateRoute rtb-00000001", Fault::Api("RouteLimitExceeded"));
    }
    let e = engine(ec2, Mem::default(), fake_clock().0);
    let doc: Vec<String> = (0..cidrs)
        .map(|i| {
            format!(
                "\"10.{}.{}.0/24\": [\"10.33.20.142\"]",
                100 + i / 200,
                i % 200
            )
        })
        .collect();
    e.set_spec(spec(&format!("{{{}}}", doc.join(", "))));
    e.pass();
    let st = status(&e);
    let r = &st["routes"];
    assert_eq!(r["cidrs"], cidrs);
    assert_eq!(r["tables"], tables);
    assert_eq!(r["routes"], tables * cidrs);
    assert_eq!(r["states"]["failed"], cidrs);
    assert_eq!(r["states"]["in_sync"], (tables - 1) * cidrs);
    assert_eq!(r["attention"].as_array().unwrap().len(), view::SUMMARY_CAP);
    assert_eq!(r["truncated"], cidrs - view::SUMMARY_CAP);
    // 19 KB here, where every (CIDR, table) pair took 2.8 MB.
    let size = st.to_string().len();
    assert!(size < 64 * 1024, "{size} bytes");
    // The detail is all there, on request.
    assert_eq!(
        routes(&e, "10.100.7.0/24").as_object().unwrap().len(),
        tables
    );
    let page = crate::daemon::status::routes_page_json(&e.routes_page(2, 100));
    assert_eq!(page["pages"], 2);
    assert_eq!(page["routes"].as_object().unwrap().len(), cidrs - 100);
    assert!(e.routes_page(3, 100).routes.is_empty());
}
