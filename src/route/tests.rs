//! The route executor against the in-memory fake EC2: which calls are made,
//! what the tables look like afterwards, and what is reported.

use super::*;
use crate::ec2::fake::{eni, table, FakeEc2, Fault};
use crate::ec2::RouteTarget;

const VPC: &str = "vpc-350d6a51";
const A_IP: &str = "10.33.20.142";
const A_ENI: &str = "eni-0aaaaaaaaaaaaaaa1";
const B_ENI: &str = "eni-0bbbbbbbbbbbbbbb2";

/// Three tables: one where the route is right, one where it points at
/// router B, one without it; plus gateway and propagated routes.
fn vpc() -> FakeEc2 {
    FakeEc2::new(
        VPC,
        vec![
            table(
                "rtb-0a1b2c3d",
                true,
                "10.33.0.0/16 local active table
                 0.0.0.0/0 igw-1a2b3c4d
                 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1+i-0aaaaaaaaaaaaaaa1",
            ),
            table(
                "rtb-1a2b3c4d",
                false,
                "10.33.0.0/16 local active table
                 0.0.0.0/0 nat-0123456789abcdef0
                 10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2+i-0bbbbbbbbbbbbbbb2
                 10.66.0.0/16 eni-0ccccccccccccccc3 blackhole
                 172.16.0.0/12 vgw-0a1b2c3d active propagated",
            ),
            table("rtb-2a2b3c4d", false, "10.33.0.0/16 local active table"),
        ],
        vec![
            eni(A_ENI, "i-0aaaaaaaaaaaaaaa1", &[A_IP, "10.33.20.143"], false),
            eni(B_ENI, "i-0bbbbbbbbbbbbbbb2", &["10.33.30.22"], true),
        ],
    )
}

fn req(op: Op, cidr: &str, ip: Option<&str>) -> RouteRequest {
    test_request(op, cidr, ip)
}

/// `table: step outcome` per table, for compact assertions.
fn summary(r: &Report) -> Vec<String> {
    r.tables
        .iter()
        .map(|t| format!("{}: {:?} {:?}", t.table, t.step, t.outcome))
        .collect()
}

fn target_eni(ec2: &FakeEc2, table: &str, cidr: &str) -> Option<String> {
    ec2.route(table, cidr)
        .and_then(|r| r.target.eni().map(|e| e.to_string()))
}

#[test]
fn add_creates_replaces_and_leaves_alone() {
    let ec2 = vpc();
    let r = execute(&ec2, &req(Op::Add, "10.55.0.0/16", Some(A_IP))).unwrap();
    assert_eq!(
        summary(&r),
        [
            "rtb-0a1b2c3d: Unchanged NoCall",
            "rtb-1a2b3c4d: Replace(OtherTarget) Done",
            "rtb-2a2b3c4d: Create Done",
        ]
    );
    assert_eq!(
        ec2.mutations(),
        [
            "ReplaceRoute rtb-1a2b3c4d 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1",
            "CreateRoute rtb-2a2b3c4d 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1",
        ]
    );
    assert_eq!(r.verdict(), Verdict::Ok);
    assert_eq!(r.router.as_ref().unwrap().eni.as_str(), A_ENI);
    for t in ["rtb-0a1b2c3d", "rtb-1a2b3c4d", "rtb-2a2b3c4d"] {
        assert_eq!(
            target_eni(&ec2, t, "10.55.0.0/16").as_deref(),
            Some(A_ENI),
            "{t}"
        );
    }
    // The router's interface was looked up by its IP, in this VPC.
    assert_eq!(
        ec2.calls()[0],
        "DescribeNetworkInterfaces vpc-350d6a51 10.33.20.142"
    );
}

#[test]
fn a_second_identical_add_makes_no_mutating_call() {
    let ec2 = vpc();
    execute(&ec2, &req(Op::Add, "10.55.0.0/16", Some(A_IP))).unwrap();
    let before = ec2.mutations().len();
    let r = execute(&ec2, &req(Op::Add, "10.55.0.0/16", Some(A_IP))).unwrap();
    assert_eq!(ec2.mutations().len(), before);
    assert!(r.tables.iter().all(|t| t.step == Step::Unchanged));
}

#[test]
fn add_by_a_secondary_address_finds_the_same_interface() {
    let ec2 = vpc();
    let r = execute(&ec2, &req(Op::Add, "10.55.0.0/16", Some("10.33.20.143"))).unwrap();
    assert_eq!(r.tables[0].step, Step::Unchanged);
}

#[test]
fn add_repairs_a_blackhole() {
    let ec2 = vpc();
    let r = execute(&ec2, &req(Op::Add, "10.66.0.0/16", Some(A_IP))).unwrap();
    assert_eq!(r.tables[1].step, Step::Replace(ReplaceReason::Blackhole));
    assert_eq!(
        target_eni(&ec2, "rtb-1a2b3c4d", "10.66.0.0/16").as_deref(),
        Some(A_ENI)
    );
}

#[test]
fn routes_that_are_not_ours_are_refused_and_reported() {
    let ec2 = vpc();
    let r = execute(&ec2, &req(Op::Add, "0.0.0.0/0", Some(A_IP))).unwrap();
    assert_eq!(
        summary(&r),
        [
            "rtb-0a1b2c3d: Refused(Gateway(\"igw-1a2b3c4d\")) NoCall",
            "rtb-1a2b3c4d: Refused(Gateway(\"nat-0123456789abcdef0\")) NoCall",
            "rtb-2a2b3c4d: Create Done",
        ]
    );
    assert_eq!(r.verdict(), Verdict::Refused);
    let r = execute(&ec2, &req(Op::Del, "172.16.0.0/12", None)).unwrap();
    assert_eq!(r.tables[1].step, Step::Refused(Protection::Propagated));
    assert_eq!(ec2.mutations().len(), 1, "only the create in rtb-2a2b3c4d");
}

#[test]
fn force_replaces_a_gateway_route() {
    let ec2 = vpc();
    let mut q = req(Op::Add, "0.0.0.0/0", Some(A_IP));
    q.force = true;
    let r = execute(&ec2, &q).unwrap();
    assert_eq!(r.tables[0].step, Step::Replace(ReplaceReason::Forced));
    assert_eq!(
        target_eni(&ec2, "rtb-0a1b2c3d", "0.0.0.0/0").as_deref(),
        Some(A_ENI)
    );
}

#[test]
fn del_deletes_where_present_and_reports_where_missing() {
    let ec2 = vpc();
    let r = execute(&ec2, &req(Op::Del, "10.55.0.0/16", None)).unwrap();
    assert_eq!(
        summary(&r),
        [
            "rtb-0a1b2c3d: Delete Done",
            "rtb-1a2b3c4d: Delete Done",
            "rtb-2a2b3c4d: Missing NoCall",
        ]
    );
    assert_eq!(r.verdict(), Verdict::NotFound);
    assert!(ec2.route("rtb-0a1b2c3d", "10.55.0.0/16").is_none());
    assert!(ec2.route("rtb-1a2b3c4d", "10.55.0.0/16").is_none());
    // Nothing else was touched.
    assert!(ec2.route("rtb-0a1b2c3d", "0.0.0.0/0").is_some());
}

#[test]
fn show_makes_no_mutating_call() {
    let ec2 = vpc();
    let r = execute(&ec2, &req(Op::Show, "10.55.0.0/16", None)).unwrap();
    assert_eq!(r.verdict(), Verdict::NotFound);
    assert!(ec2.mutations().is_empty());
    assert!(!ec2
        .calls()
        .iter()
        .any(|c| c.starts_with("DescribeNetworkInterfaces")));
    let found = &r.tables[1];
    assert_eq!(found.step, Step::Found);
    assert_eq!(
        found
            .before
            .as_ref()
            .unwrap()
            .target
            .eni()
            .unwrap()
            .as_str(),
        B_ENI
    );
    let r = execute(&ec2, &req(Op::Show, "10.33.0.0/16", None)).unwrap();
    assert_eq!(r.verdict(), Verdict::Ok);
    assert_eq!(
        r.tables[0].before.as_ref().unwrap().target,
        RouteTarget::Local
    );
}

#[test]
fn an_ip_outside_the_vpc_is_an_error_before_any_change() {
    let ec2 = vpc();
    let err = execute(&ec2, &req(Op::Add, "10.55.0.0/16", Some("10.99.0.1"))).unwrap_err();
    assert!(matches!(err, RouteError::UnknownRouterIp { .. }), "{err:?}");
    assert!(err
        .to_string()
        .contains("no network interface in vpc-350d6a51 holds the IP 10.99.0.1"));
    assert!(ec2.mutations().is_empty());
}

#[test]
fn route_tables_can_be_restricted_and_must_exist() {
    let ec2 = vpc();
    let mut q = req(Op::Add, "10.55.0.0/16", Some(A_IP));
    q.tables = vec!["rtb-2a2b3c4d".parse().unwrap()];
    let r = execute(&ec2, &q).unwrap();
    assert_eq!(summary(&r), ["rtb-2a2b3c4d: Create Done"]);
    q.tables.push("rtb-9f9f9f9f".parse().unwrap());
    let err = execute(&ec2, &q).unwrap_err();
    assert_eq!(
        err.to_string(),
        "route table(s) rtb-9f9f9f9f not found in vpc-350d6a51; --route-table must name \
         tables of this VPC"
    );
    assert_eq!(ec2.mutations().len(), 1);
}

#[test]
fn a_vpc_without_tables_is_an_error() {
    let ec2 = vpc();
    let mut q = req(Op::Show, "10.55.0.0/16", None);
    q.vpc = "vpc-0f0f0f0f".parse().unwrap();
    assert_eq!(
        execute(&ec2, &q).unwrap_err(),
        RouteError::NoRouteTables { vpc: q.vpc.clone() }
    );
}

#[test]
fn dry_run_sends_dry_calls_and_changes_nothing() {
    let ec2 = vpc();
    let mut q = req(Op::Add, "10.55.0.0/16", Some(A_IP));
    q.dry_run = true;
    let r = execute(&ec2, &q).unwrap();
    assert_eq!(
        summary(&r),
        [
            "rtb-0a1b2c3d: Unchanged NoCall",
            "rtb-1a2b3c4d: Replace(OtherTarget) DryRunOk",
            "rtb-2a2b3c4d: Create DryRunOk",
        ]
    );
    assert_eq!(
        ec2.mutations(),
        [
            "ReplaceRoute rtb-1a2b3c4d 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 dry",
            "CreateRoute rtb-2a2b3c4d 10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1 dry",
        ]
    );
    assert_eq!(
        target_eni(&ec2, "rtb-1a2b3c4d", "10.55.0.0/16").as_deref(),
        Some(B_ENI)
    );
    assert!(ec2.route("rtb-2a2b3c4d", "10.55.0.0/16").is_none());
    assert_eq!(r.verdict(), Verdict::Ok);
}

#[test]
fn dry_run_reports_missing_permissions() {
    let ec2 = vpc();
    ec2.fail("CreateRoute", Fault::Api("UnauthorizedOperation"));
    let mut q = req(Op::Add, "10.55.0.0/16", Some(A_IP));
    q.dry_run = true;
    let r = execute(&ec2, &q).unwrap();
    assert_eq!(r.tables[1].outcome, Outcome::DryRunOk);
    assert!(
        matches!(&r.tables[2].outcome, Outcome::Failed(e) if e.code() == Some("UnauthorizedOperation"))
    );
    assert_eq!(r.verdict(), Verdict::Failed { transport: false });
}

#[test]
fn one_failing_table_does_not_stop_the_others() {
    let ec2 = vpc();
    ec2.fail(
        "ReplaceRoute rtb-1a2b3c4d",
        Fault::Api("UnauthorizedOperation"),
    );
    let r = execute(&ec2, &req(Op::Add, "10.55.0.0/16", Some(A_IP))).unwrap();
    assert!(matches!(r.tables[1].outcome, Outcome::Failed(_)));
    assert_eq!(r.tables[2].outcome, Outcome::Done);
    assert_eq!(r.verdict(), Verdict::Failed { transport: false });
    // The failed table is as it was.
    assert_eq!(
        target_eni(&ec2, "rtb-1a2b3c4d", "10.55.0.0/16").as_deref(),
        Some(B_ENI)
    );
}

#[test]
fn transport_failures_are_told_apart() {
    let ec2 = vpc();
    ec2.fail("CreateRoute", Fault::Transport);
    let r = execute(&ec2, &req(Op::Add, "10.55.0.0/16", Some(A_IP))).unwrap();
    assert_eq!(r.verdict(), Verdict::Failed { transport: true });
    let ec2 = vpc();
    ec2.fail("DescribeRouteTables", Fault::Transport);
    let err = execute(&ec2, &req(Op::Show, "10.55.0.0/16", None)).unwrap_err();
    assert!(matches!(err, RouteError::Ec2(ref e) if e.is_transport()));
}

#[test]
fn a_retried_create_whose_first_attempt_landed_is_confirmed_not_repeated() {
    let ec2 = vpc();
    // The create lands, but the answer is lost and the retry is refused.
    ec2.fail(
        "CreateRoute rtb-2a2b3c4d",
        Fault::LostAnswer("RouteAlreadyExists"),
    );
    let r = execute(&ec2, &req(Op::Add, "10.55.0.0/16", Some(A_IP))).unwrap();
    assert_eq!(r.tables[2].outcome, Outcome::Done);
    assert_eq!(r.verdict(), Verdict::Ok);
    // The table was looked at again, and no further call was made.
    let calls = ec2.calls();
    assert_eq!(
        calls[calls.len() - 1],
        "DescribeRouteTables vpc-350d6a51 rtb-2a2b3c4d"
    );
}

#[test]
fn a_route_created_by_someone_else_meanwhile_is_replaced() {
    let ec2 = vpc();
    *ec2.interleave.borrow_mut() = Some(Box::new(|tables: &mut Vec<RouteTable>| {
        tables[2] = table(
            "rtb-2a2b3c4d",
            false,
            "10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2+i-0bbbbbbbbbbbbbbb2",
        );
    }));
    let mut q = req(Op::Add, "10.55.0.0/16", Some(A_IP));
    q.tables = vec!["rtb-2a2b3c4d".parse().unwrap()];
    let r = execute(&ec2, &q).unwrap();
    assert_eq!(
        r.tables[0].outcome,
        Outcome::Redone(
            Step::Replace(ReplaceReason::OtherTarget),
            Box::new(Outcome::Done)
        )
    );
    assert_eq!(
        final_step(&r.tables[0]),
        &Step::Replace(ReplaceReason::OtherTarget)
    );
    assert_eq!(
        target_eni(&ec2, "rtb-2a2b3c4d", "10.55.0.0/16").as_deref(),
        Some(A_ENI)
    );
}

#[test]
fn a_route_deleted_meanwhile_is_created_again_on_replace() {
    let ec2 = vpc();
    *ec2.interleave.borrow_mut() = Some(Box::new(|tables: &mut Vec<RouteTable>| {
        tables[1]
            .routes
            .retain(|r| r.target.eni().map(|e| e.as_str()) != Some(B_ENI));
    }));
    let r = execute(&ec2, &req(Op::Add, "10.55.0.0/16", Some(A_IP))).unwrap();
    assert_eq!(
        r.tables[1].outcome,
        Outcome::Redone(Step::Create, Box::new(Outcome::Done))
    );
    assert_eq!(
        target_eni(&ec2, "rtb-1a2b3c4d", "10.55.0.0/16").as_deref(),
        Some(A_ENI)
    );
}

#[test]
fn a_retried_delete_whose_first_attempt_landed_counts_as_deleted() {
    let ec2 = vpc();
    ec2.fail(
        "DeleteRoute rtb-0a1b2c3d",
        Fault::LostAnswer("InvalidRoute.NotFound"),
    );
    let r = execute(&ec2, &req(Op::Del, "10.55.0.0/16", None)).unwrap();
    assert_eq!(r.tables[0].outcome, Outcome::Done);
    assert!(ec2.route("rtb-0a1b2c3d", "10.55.0.0/16").is_none());
}

#[test]
fn a_route_deleted_by_someone_else_is_reported_missing_not_deleted() {
    let ec2 = vpc();
    *ec2.interleave.borrow_mut() = Some(Box::new(|tables: &mut Vec<RouteTable>| {
        tables[0].routes.retain(|r| r.target.eni().is_none());
    }));
    let mut q = req(Op::Del, "10.55.0.0/16", None);
    q.tables = vec!["rtb-0a1b2c3d".parse().unwrap()];
    let r = execute(&ec2, &q).unwrap();
    assert_eq!(
        r.tables[0].outcome,
        Outcome::Redone(Step::Missing, Box::new(Outcome::NoCall))
    );
    assert_eq!(r.verdict(), Verdict::NotFound);
}

#[test]
fn source_dest_check_on_the_router_is_warned_about() {
    let ec2 = vpc();
    let r = execute(&ec2, &req(Op::Add, "10.55.0.0/16", Some("10.33.30.22"))).unwrap();
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].contains("source/destination check is enabled on eni-0bbbbbbbbbbbbbbb2"));
    let r = execute(&ec2, &req(Op::Add, "10.55.0.0/16", Some(A_IP))).unwrap();
    assert!(r.warnings.is_empty());
}

#[test]
fn ipv6_routes_work_like_ipv4() {
    let ec2 = vpc();
    let r = execute(&ec2, &req(Op::Add, "2001:db8:1234::/48", Some(A_IP))).unwrap();
    assert!(r
        .tables
        .iter()
        .all(|t| t.step == Step::Create && t.outcome == Outcome::Done));
    assert_eq!(
        ec2.mutations()[0],
        "CreateRoute rtb-0a1b2c3d 2001:db8:1234::/48 eni-0aaaaaaaaaaaaaaa1"
    );
}

#[test]
fn an_endpoint_that_ignores_dry_run_is_reported_not_hidden() {
    let ec2 = vpc();
    ec2.fail("CreateRoute", Fault::IgnoreDryRun);
    let mut q = req(Op::Add, "10.55.0.0/16", Some(A_IP));
    q.dry_run = true;
    let r = execute(&ec2, &q).unwrap();
    assert_eq!(r.tables[2].outcome, Outcome::AppliedDespiteDryRun);
    assert_eq!(r.tables[1].outcome, Outcome::DryRunOk);
    assert_eq!(r.verdict(), Verdict::Failed { transport: false });
    assert_eq!(
        super::report::result_word(&r.tables[2]),
        "changed_despite_dry_run"
    );
    // The change was made: the report says so because it is true.
    assert!(ec2.route("rtb-2a2b3c4d", "10.55.0.0/16").is_some());
}

// ---------------------------------------------------------------------------
// execute_parallel

/// The fake behind a lock, so that `execute_parallel`'s threads can share
/// it. Each call can first be held at a gate until a whole wave of calls has
/// arrived (`waves`: the sizes, in order), which only calls in flight at the
/// same time can complete; the gate records the most calls in flight at once.
struct Held {
    fake: std::sync::Mutex<FakeEc2>,
    gate: std::sync::Mutex<Gate>,
    cv: std::sync::Condvar,
}

#[derive(Default)]
struct Gate {
    waves: std::collections::VecDeque<usize>,
    arrived: usize,
    wave: usize,
    in_flight: usize,
    max_in_flight: usize,
    /// Waves that never filled up: their calls were let through after
    /// `GIVE_UP` so that a sequential run fails the test instead of hanging.
    broken: usize,
}

/// Only reached when the calls do not come side by side (a failure).
const GIVE_UP: std::time::Duration = std::time::Duration::from_secs(5);

impl Held {
    fn new(fake: FakeEc2, waves: &[usize]) -> Held {
        let gate = Gate {
            waves: waves.iter().copied().collect(),
            ..Gate::default()
        };
        Held {
            fake: std::sync::Mutex::new(fake),
            gate: std::sync::Mutex::new(gate),
            cv: std::sync::Condvar::new(),
        }
    }

    fn call<R>(&self, f: impl FnOnce(&FakeEc2) -> R) -> R {
        {
            let mut g = self.gate.lock().unwrap();
            g.in_flight += 1;
            g.max_in_flight = g.max_in_flight.max(g.in_flight);
            if let Some(&size) = g.waves.front() {
                g.arrived += 1;
                let mine = g.wave;
                if g.arrived == size {
                    g.waves.pop_front();
                    g.arrived = 0;
                    g.wave += 1;
                    self.cv.notify_all();
                }
                while g.wave == mine {
                    let (back, wait) = self.cv.wait_timeout(g, GIVE_UP).unwrap();
                    g = back;
                    if wait.timed_out() && g.wave == mine {
                        g.broken += 1;
                        g.waves.pop_front();
                        g.arrived = 0;
                        g.wave += 1;
                        self.cv.notify_all();
                    }
                }
            }
        }
        let r = f(&self.fake.lock().unwrap());
        self.gate.lock().unwrap().in_flight -= 1;
        r
    }
}

impl Ec2 for Held {
    fn describe_route_tables(
        &self,
        vpc: &VpcId,
        ids: &[RouteTableId],
    ) -> Result<Vec<RouteTable>, Ec2Error> {
        self.call(|e| e.describe_route_tables(vpc, ids))
    }
    fn describe_network_interfaces(
        &self,
        vpc: &VpcId,
        ips: &[IpAddr],
    ) -> Result<Vec<NetworkInterface>, Ec2Error> {
        self.call(|e| e.describe_network_interfaces(vpc, ips))
    }
    fn create_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.call(|e| e.create_route(table, dest, eni, dry_run))
    }
    fn replace_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.call(|e| e.replace_route(table, dest, eni, dry_run))
    }
    fn delete_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.call(|e| e.delete_route(table, dest, dry_run))
    }
    fn disable_source_dest_check(&self, eni: &EniId, dry_run: bool) -> Result<(), Ec2Error> {
        self.call(|e| e.disable_source_dest_check(eni, dry_run))
    }
}

/// `add` in 4 tables: the two describes together, then the 4 calls
/// together; nothing waits for real time (the waves fill up at once).
#[test]
fn add_in_parallel_describes_together_then_calls_every_table_together() {
    let held = Held::new(FakeEc2::two_routers(4), &[2, 4]);
    let r = execute_parallel(
        &held,
        &req(Op::Add, "10.55.0.0/16", Some(A_IP)),
        None,
        PARALLEL,
    )
    .unwrap();
    let g = held.gate.lock().unwrap();
    assert_eq!((g.broken, g.max_in_flight, g.waves.len()), (0, 4, 0));
    assert_eq!(
        summary(&r),
        [
            "rtb-00000000: Create Done",
            "rtb-00000001: Create Done",
            "rtb-00000002: Create Done",
            "rtb-00000003: Create Done",
        ]
    );
    let fake = held.fake.lock().unwrap();
    assert_eq!(fake.calls().len(), 6);
    assert_eq!(fake.mutations().len(), 4);
}

#[test]
fn del_in_parallel_calls_every_table_together_and_width_bounds_it() {
    let fake = FakeEc2::two_routers(6);
    for t in 0..6 {
        fake.create_route(
            &format!("rtb-{t:08x}").parse().unwrap(),
            &"10.55.0.0/16".parse().unwrap(),
            &A_ENI.parse().unwrap(),
            false,
        )
        .unwrap();
    }
    // One describe, then the 6 deletes three at a time: two waves of 3.
    let held = Held::new(fake, &[1, 3, 3]);
    let r = execute_parallel(&held, &req(Op::Del, "10.55.0.0/16", None), None, 3).unwrap();
    let g = held.gate.lock().unwrap();
    assert_eq!((g.broken, g.max_in_flight, g.waves.len()), (0, 3, 0));
    assert!(r.tables.iter().all(|t| t.outcome == Outcome::Done), "{r:?}");
    assert_eq!(r.verdict(), Verdict::Ok);
}

/// The same command through `execute` and `execute_parallel` on equal
/// fakes: the same report (in table order), the same calls (in any order;
/// when the router's describe fails, the tables' describe made beside it is
/// the only extra), the same tables afterwards.
fn parity(setup: impl Fn(&FakeEc2), q: RouteRequest) {
    let one = vpc();
    setup(&one);
    let two = vpc();
    setup(&two);
    let held = Held::new(two, &[]);
    let seq = execute(&one, &q);
    let par = execute_parallel(&held, &q, None, PARALLEL);
    assert_eq!(seq, par, "{q:?}");
    let two = held.fake.into_inner().unwrap();
    let sorted = |f: &FakeEc2| {
        let mut c = f.calls();
        c.sort();
        if seq.is_err() {
            c.retain(|c| !c.starts_with("DescribeRouteTables"));
        }
        c
    };
    assert_eq!(sorted(&one), sorted(&two), "{q:?}");
    assert_eq!(*one.tables.borrow(), *two.tables.borrow(), "{q:?}");
}

#[test]
fn execute_parallel_reports_exactly_what_execute_does() {
    let none = |_: &FakeEc2| {};
    for (op, cidr, ip) in [
        (Op::Add, "10.55.0.0/16", Some(A_IP)),
        (Op::Add, "10.66.0.0/16", Some(A_IP)),
        (Op::Add, "0.0.0.0/0", Some(A_IP)),
        (Op::Add, "2001:db8:1234::/48", Some(A_IP)),
        (Op::Add, "10.55.0.0/16", Some("10.33.30.22")),
        (Op::Add, "10.55.0.0/16", Some("10.99.0.1")),
        (Op::Del, "10.55.0.0/16", None),
        (Op::Del, "172.16.0.0/12", None),
        (Op::Show, "10.55.0.0/16", None),
    ] {
        parity(none, req(op, cidr, ip));
        let mut dry = req(op, cidr, ip);
        dry.dry_run = true;
        parity(none, dry);
    }
    let add = || req(Op::Add, "10.55.0.0/16", Some(A_IP));
    parity(
        |f| {
            f.fail(
                "ReplaceRoute rtb-1a2b3c4d",
                Fault::Api("UnauthorizedOperation"),
            )
        },
        add(),
    );
    parity(|f| f.fail("CreateRoute", Fault::Transport), add());
    parity(
        |f| {
            f.fail(
                "CreateRoute rtb-2a2b3c4d",
                Fault::LostAnswer("RouteAlreadyExists"),
            )
        },
        add(),
    );
    parity(|f| f.fail("DescribeRouteTables", Fault::Transport), add());
    // Both describes fail: the router's error, as `execute` reports it.
    parity(
        |f| {
            f.fail("DescribeRouteTables", Fault::Transport);
            f.fail(
                "DescribeNetworkInterfaces",
                Fault::Api("UnauthorizedOperation"),
            );
        },
        add(),
    );
    let mut only = add();
    only.tables = vec![
        "rtb-2a2b3c4d".parse().unwrap(),
        "rtb-99999999".parse().unwrap(),
    ];
    parity(none, only);
}
