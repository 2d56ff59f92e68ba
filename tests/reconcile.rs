//! `plan` and `apply` end to end: the real binary against the stateful EC2
//! simulator on 127.0.0.1, from empty, from drift, after a hand deletion,
//! after a spec edit, with an injected failure.

mod common;

use common::ec2sim::{scenario, Ec2Sim};
use common::*;
use serde_json::Value;

const TABLES: [&str; 3] = ["rtb-0a1b2c3d", "rtb-1a2b3c4d", "rtb-2a2b3c4d"];

fn spec_file(name: &str, doc: &str) -> String {
    let path = temp_dir(name).join("spec.json");
    std::fs::write(&path, doc).unwrap();
    path.to_str().unwrap().to_string()
}

fn mutations(sim: &Ec2Sim) -> Vec<String> {
    sim.calls()
        .iter()
        .filter(|c| !c.action.starts_with("Describe"))
        .map(|c| {
            format!(
                "{} {} {}",
                c.action,
                c.param("RouteTableId").unwrap_or("-"),
                c.param("DestinationCidrBlock").unwrap_or("-")
            )
        })
        .collect()
}

#[test]
fn plan_shows_the_diff_and_changes_nothing() {
    let sim = scenario();
    let spec = spec_file(
        "plan",
        r#"{"10.55.0.0/16": ["10.33.20.142", "10.33.30.22"], "10.60.0.0/16": ["10.33.30.22"]}"#,
    );
    let r = run(&sim.url(), &["plan", "-f", &spec]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    // 10.55.0.0/16: A is in use in the main table and first in the spec,
    // so B's table is replaced and the third gets a route; 10.60.0.0/16 is
    // new everywhere.
    for want in [
        "~ rtb-1a2b3c4d  10.55.0.0/16       replace  eni-0bbbbbbbbbbbbbbb2",
        "+ rtb-2a2b3c4d  10.55.0.0/16       create   (none) -> eni-0aaaaaaaaaaaaaaa1 (10.33.20.142)",
        "+ rtb-0a1b2c3d  10.60.0.0/16       create",
        "5 change(s) to make (4 create, 1 replace, 0 delete); nothing was changed",
    ] {
        assert_contains!(r.stdout, want);
    }
    assert!(mutations(&sim).is_empty(), "{:?}", mutations(&sim));
    // Global flags after the subcommand work as well as before it.
    let r = run_with(
        command("plan-json"),
        &sim.url(),
        &["plan", "--output", "json", "-f", &spec],
    );
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["status"], "changes_pending");
    assert_eq!(v["changes"].as_array().unwrap().len(), 5);
    assert_eq!(v["targets"]["10.60.0.0/16"]["network_interface"], B_ENI);
}

#[test]
fn apply_converges_and_then_makes_no_mutating_call() {
    let sim = scenario();
    let spec = spec_file("apply", r#"{"10.55.0.0/16": ["10.33.30.22"]}"#);
    let r = run(&sim.url(), &["apply", "-f", &spec]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for t in TABLES {
        // B: the only host; A's routes are replaced.
        assert_eq!(
            sim.route_target(t, "10.55.0.0/16").as_deref(),
            Some(B_ENI),
            "{t}"
        );
    }
    assert_contains!(r.stdout, "in sync");
    sim.clear_calls();
    let r = run(&sim.url(), &["apply", "-f", &spec]);
    assert_eq!(r.code, 0);
    assert_contains!(r.stdout, "in sync: nothing to change");
    assert!(mutations(&sim).is_empty());
    assert_eq!(
        sim.actions(),
        ["DescribeRouteTables", "DescribeNetworkInterfaces"]
    );

    // Drift: a hand deletion and a hand change are repaired.
    sim.remove_route("rtb-2a2b3c4d", "10.55.0.0/16");
    sim.add_route_to_eni("rtb-0a1b2c3d", "10.55.0.0/16", A_ENI);
    sim.clear_calls();
    let r = run(&sim.url(), &["apply", "-f", &spec]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // A is not in this spec, so "in use" does not make it eligible: the
    // changed table goes back to B and the deleted route is re-created.
    assert_eq!(
        mutations(&sim),
        [
            "ReplaceRoute rtb-0a1b2c3d 10.55.0.0/16",
            "CreateRoute rtb-2a2b3c4d 10.55.0.0/16"
        ]
    );
    for t in TABLES {
        assert_eq!(
            sim.route_target(t, "10.55.0.0/16").as_deref(),
            Some(B_ENI),
            "{t}"
        );
    }
}

#[test]
fn a_failed_change_is_reported_the_rest_applied_and_exit_3() {
    let sim = scenario();
    sim.fail_next(
        "CreateRoute",
        400,
        "RouteLimitExceeded",
        "The maximum number of routes has been reached.",
    );
    let spec = spec_file("apply-fail", r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    let r = run(&sim.url(), &["apply", "-f", &spec]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert_contains!(
        r.stdout,
        "FAILED: EC2 CreateRoute failed: RouteLimitExceeded"
    );
    assert_contains!(r.stdout, "1 of 3 change(s) failed");
    let with_route = TABLES
        .iter()
        .filter(|t| sim.route_target(t, "10.60.0.0/16").is_some())
        .count();
    assert_eq!(with_route, 2);
    // The next apply finishes the job.
    let r = run(&sim.url(), &["apply", "-f", &spec]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(TABLES
        .iter()
        .all(|t| sim.route_target(t, "10.60.0.0/16").is_some()));
}

#[test]
fn bad_specs_are_refused_with_the_key() {
    let sim = scenario();
    for (doc, want) in [
        (
            r#"{"10.55.0.1/16": ["10.33.20.142"]}"#,
            "key \"10.55.0.1/16\": 10.55.0.1/16 has host bits set",
        ),
        (r#"{"10.55.0.0/16": []}"#, "the list of routers is empty"),
        ("[]", "must be a JSON object"),
    ] {
        let spec = spec_file("bad-spec", doc);
        let r = run(&sim.url(), &["apply", "-f", &spec]);
        assert_eq!(r.code, 2, "{doc}: {}", r.stderr);
        assert_contains!(r.stderr, want, "{doc}");
    }
    let r = run(&sim.url(), &["apply", "-f", "/nonexistent/spec.json"]);
    assert_eq!(r.code, 2);
    assert_contains!(r.stderr, "-f/--file: cannot read /nonexistent/spec.json");
    let r = run(&sim.url(), &["apply"]);
    assert_eq!(r.code, 2);
    assert_contains!(r.stderr, "-f/--file: missing; apply needs the route spec");
    assert!(mutations(&sim).is_empty());
}

#[test]
fn with_a_state_dir_a_cidr_removed_from_the_spec_is_deleted() {
    let sim = scenario();
    let state = temp_dir("apply-state").join("state");
    let state = state.to_str().unwrap();
    let both = spec_file(
        "apply-both",
        r#"{"10.60.0.0/16": ["10.33.20.142"], "10.61.0.0/16": ["10.33.20.142"]}"#,
    );
    let one = spec_file("apply-one", r#"{"10.60.0.0/16": ["10.33.20.142"]}"#);
    assert_eq!(
        run(&sim.url(), &["apply", "-f", &both, "--state-dir", state]).code,
        0
    );
    let owned = std::fs::read_to_string(format!("{state}/owned.json")).unwrap();
    assert_contains!(owned, "10.61.0.0/16");

    // Without the state dir, nothing is known to be ours: nothing deleted.
    let r = run(&sim.url(), &["plan", "-f", &one]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // With it, the removed CIDR's routes go, and only those.
    let r = run(&sim.url(), &["plan", "-f", &one, "--state-dir", state]);
    assert_eq!(r.code, 1);
    assert_contains!(
        r.stdout,
        "3 change(s) to make (0 create, 0 replace, 3 delete)"
    );
    sim.clear_calls();
    let r = run(&sim.url(), &["apply", "-f", &one, "--state-dir", state]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        mutations(&sim),
        [
            "DeleteRoute rtb-0a1b2c3d 10.61.0.0/16",
            "DeleteRoute rtb-1a2b3c4d 10.61.0.0/16",
            "DeleteRoute rtb-2a2b3c4d 10.61.0.0/16"
        ]
    );
    let owned = std::fs::read_to_string(format!("{state}/owned.json")).unwrap();
    assert_not_contains!(owned, "10.61.0.0/16");
    // Routes never in a spec (the scenario's own) are untouched.
    assert_eq!(
        sim.route_target("rtb-1a2b3c4d", "10.55.0.0/16").as_deref(),
        Some(B_ENI)
    );
}

#[test]
fn an_interface_with_no_instance_is_not_eligible_and_routes_settle() {
    let sim = scenario();
    let spec = spec_file(
        "apply-detached",
        r#"{"10.60.0.0/16": ["10.33.20.142", "10.33.30.22"]}"#,
    );
    assert_eq!(run(&sim.url(), &["apply", "-f", &spec]).code, 0);
    // Router A loses its instance: EC2 keeps its routes in blackhole, and
    // pointing them at A again would change nothing. B takes over.
    sim.detach_eni(A_ENI);
    let r = run(&sim.url(), &["apply", "-f", &spec]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for t in TABLES {
        assert_eq!(sim.route_target(t, "10.60.0.0/16").as_deref(), Some(B_ENI));
    }
    // With no attached router at all, the routes stay and every further
    // pass is quiet: no ReplaceRoute at a blackhole forever.
    let one = spec_file(
        "apply-detached-one",
        r#"{"10.61.0.0/16": ["10.33.20.142"]}"#,
    );
    sim.clear_calls();
    let r = run(&sim.url(), &["apply", "-f", &one]);
    assert_contains!(r.stdout, "10.61.0.0/16: no eligible router");
    assert!(mutations(&sim).is_empty(), "{:?}", mutations(&sim));
}

#[test]
fn add_to_an_interface_with_no_instance_warns_and_settles() {
    let sim = scenario();
    sim.detach_eni(A_ENI);
    let args = ["-c", "add", "--CIDR", "10.62.0.0/16", "--ip", A_IP];
    let r = run(&sim.url(), &args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_contains!(r.stderr, "is not attached to an instance");
    // The routes exist (in blackhole); a second add changes nothing.
    sim.clear_calls();
    let r = run(&sim.url(), &args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(mutations(&sim).is_empty(), "{:?}", mutations(&sim));
}

#[test]
fn source_dest_check_is_reported_and_fixed_with_the_flag() {
    let sim = scenario();
    // Router B's interface has the check on (as in the fixtures).
    let spec = spec_file("apply-sdc", r#"{"10.60.0.0/16": ["10.33.30.22"]}"#);
    let r = run(&sim.url(), &["apply", "-f", &spec]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_contains!(
        r.stdout,
        "warning: source/destination check is enabled on eni-0bbbbbbbbbbbbbbb2 (10.33.30.22)"
    );
    assert!(sim.source_dest_check(B_ENI));

    // plan shows the fix as a pending change (exit 1) and makes no call.
    let r = run(
        &sim.url(),
        &["plan", "-f", &spec, "--fix-source-dest-check"],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_contains!(
        r.stdout,
        "! eni-0bbbbbbbbbbbbbbb2 (10.33.30.22)  disable source/destination check"
    );
    assert!(sim.source_dest_check(B_ENI));

    sim.clear_calls();
    let r = run(
        &sim.url(),
        &["apply", "-f", &spec, "--fix-source-dest-check"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_contains!(r.stdout, "check  ok");
    assert!(!sim.source_dest_check(B_ENI));
    let call = sim
        .calls()
        .into_iter()
        .find(|c| c.action == "ModifyNetworkInterfaceAttribute")
        .unwrap();
    assert_eq!(call.param("NetworkInterfaceId"), Some(B_ENI));
    assert_eq!(call.param("SourceDestCheck.Value"), Some("false"));
    let r = run(
        &sim.url(),
        &["plan", "-f", &spec, "--fix-source-dest-check"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_not_contains!(r.stdout, "warning");

    // A refused fix is a failed change: exit 3, with EC2's reason.
    sim.add_eni(
        "eni-0ddddddddddddddd4",
        &["10.33.40.9"],
        Some("i-0ddddddddddddddd4"),
        VPC,
        true,
    );
    sim.fail_next(
        "ModifyNetworkInterfaceAttribute",
        400,
        "UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    );
    let spec = spec_file("apply-sdc-2", r#"{"10.61.0.0/16": ["10.33.40.9"]}"#);
    let r = run(
        &sim.url(),
        &["apply", "-f", &spec, "--fix-source-dest-check"],
    );
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert_contains!(
        r.stdout,
        "FAILED: EC2 ModifyNetworkInterfaceAttribute failed: UnauthorizedOperation"
    );
}
