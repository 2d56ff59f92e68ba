//! The daemon with desired-state routing (`-d -m configfile|http`), end to
//! end against the stateful EC2 simulator: convergence, file edits (good
//! and broken), the spec API, one-entry edits, persistence across a
//! restart.

mod common;

use common::ec2sim::scenario;
use common::*;

#[test]
fn configfile_mode_follows_the_file_and_ignores_broken_edits() {
    let sim = scenario();
    let dir = temp_dir("spec-configfile");
    let file = dir.join("spec.json");
    let state = dir.join("state");
    std::fs::write(
        &file,
        r#"{"10.60.0.0/16": ["10.33.20.142", "10.33.30.22"]}"#,
    )
    .unwrap();
    let d = Daemon::configfile(
        &sim.url(),
        &file,
        &state,
        &["--route-recheck-interval", "0"],
    );
    converge(&sim, "10.60.0.0/16", Some(A_ENI));

    // /status sums the routes up; the detail is per CIDR or by page.
    let st = wait_for_status(&d, |st| st["reconcile"]["routes"]["states"]["in_sync"] != 0);
    assert_eq!(st["reconcile"]["routes"]["cidrs"], 1, "{st:#}");
    assert_eq!(st["reconcile"]["routes"]["truncated"], 0, "{st:#}");
    let (s, one) = call(&d, "GET", "/status/routes?cidr=10.60.0.0/16", None);
    assert_eq!(s, 200, "{one:#}");
    let tables = one["routes"].as_object().unwrap();
    assert!(!tables.is_empty(), "{one:#}");
    for r in tables.values() {
        assert_contains!(r["desired"].as_str().unwrap(), A_ENI);
    }
    let (s, page) = call(&d, "GET", "/status/routes?page=1&per_page=10", None);
    assert_eq!(s, 200, "{page:#}");
    assert_eq!(page["routes"]["10.60.0.0/16"], one["routes"], "{page:#}");
    assert_eq!(
        call(&d, "GET", "/status/routes?cidr=10.99.0.0/16", None).0,
        404
    );
    assert_eq!(call(&d, "GET", "/status/routes?per_page=501", None).0, 400);

    // An edit: B only.
    std::fs::write(&file, r#"{"10.60.0.0/16": ["10.33.30.22"]}"#).unwrap();
    converge(&sim, "10.60.0.0/16", Some(B_ENI));

    // A broken edit is logged and ignored.
    std::fs::write(
        &file,
        r#"{"10.60.0.0/16": ["10.33.30.22"], "10.61.0.1/16": []}"#,
    )
    .unwrap();
    wait_for_log(&d, "key \"10.61.0.1/16\"");
    assert_contains!(d.log(), "the spec in force stays");
    let (s, spec) = call(&d, "GET", "/route_spec", None);
    assert_eq!(s, 200);
    assert_eq!(spec, serde_json::json!({"10.60.0.0/16": ["10.33.30.22"]}));

    // The editing endpoints point at the file.
    let (s, v) = call(
        &d,
        "POST",
        "/route",
        Some(r#"{"dst_cidr": "10.62.0.0/16", "router_ip": "10.33.20.142"}"#),
    );
    assert_eq!(s, 409, "{v:#}");
    assert_contains!(v["error"]["message"].as_str().unwrap(), "edit that file");
    assert_eq!(call(&d, "POST", "/route_spec", Some("{}")).0, 409);

    // Removing the CIDR deletes its routes (it is owned).
    std::fs::write(&file, "{}").unwrap();
    converge(&sim, "10.60.0.0/16", None);
    // Routes it never managed stay.
    assert_eq!(
        sim.route_target("rtb-1a2b3c4d", "10.55.0.0/16").as_deref(),
        Some(B_ENI)
    );

    // The engine records a pass just after its last call returns.
    let st = wait_for_status(&d, |st| st["reconcile"]["managed"] == serde_json::json!([]));
    assert_eq!(st["reconcile"]["last_pass"]["result"], "changed", "{st:#}");
    let (_, m) = call(&d, "GET", "/metrics", None);
    let m = m.as_str().unwrap();
    assert_contains!(m, "vpc_router_reconcile_changes_total{kind=\"delete\"} 3");
    assert_contains!(m, "vpc_router_routes_managed 0");
}

#[test]
fn http_mode_takes_the_spec_over_the_api_and_keeps_it() {
    let sim = scenario();
    let state = temp_dir("spec-http").join("state");
    let args = [
        "-m",
        "http",
        "--state-dir",
        state.to_str().unwrap(),
        "--route-recheck-interval",
        "0",
    ];
    let d = Daemon::start(&sim.url(), &args);
    let (s, _) = call(&d, "GET", "/route_spec", None);
    assert_eq!(s, 404);
    let (s, v) = call(
        &d,
        "POST",
        "/route_spec",
        Some(r#"{"10.60.0.0/16": ["10.33.20.142", "10.1.1"]}"#),
    );
    assert_eq!(s, 400, "{v:#}");
    assert_eq!(v["error"]["field"], "10.60.0.0/16");
    let (s, v) = call(
        &d,
        "POST",
        "/route_spec",
        Some(r#"{"10.60.0.0/16": ["10.33.30.22"]}"#),
    );
    assert_eq!(s, 200, "{v:#}");
    converge(&sim, "10.60.0.0/16", Some(B_ENI));

    // One entry at a time: the answer is the reconcile of that CIDR.
    let (s, v) = call(
        &d,
        "POST",
        "/route",
        Some(r#"{"dst_cidr": "10.70.0.0/16", "router_ip": "10.33.20.142"}"#),
    );
    assert_eq!(s, 201, "{v:#}");
    let results: Vec<&str> = v["route_tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["created"; 3]);
    converge(&sim, "10.70.0.0/16", Some(A_ENI));
    // An IP no interface holds: 400, and the spec is as it was.
    let (s, v) = call(
        &d,
        "POST",
        "/route",
        Some(r#"{"dst_cidr": "10.71.0.0/16", "router_ip": "10.33.99.99"}"#),
    );
    assert_eq!(s, 400, "{v:#}");
    assert_eq!(v["error"]["field"], "router_ip");
    let (_, spec) = call(&d, "GET", "/route_spec", None);
    assert_eq!(
        spec,
        serde_json::json!({"10.60.0.0/16": ["10.33.30.22"], "10.70.0.0/16": ["10.33.20.142"]})
    );
    let (s, v) = call(&d, "DELETE", "/route?dst_cidr=10.70.0.0/16", None);
    assert_eq!(s, 200, "{v:#}");
    assert_eq!(v["route_tables"][0]["result"], "deleted");
    converge(&sim, "10.70.0.0/16", None);
    assert_eq!(
        call(&d, "DELETE", "/route?dst_cidr=10.70.0.0/16", None).0,
        404
    );
    drop(d);

    // A restart loses nothing: the spec and what is owned come back.
    let d = Daemon::start(&sim.url(), &args);
    let (s, spec) = call(&d, "GET", "/route_spec", None);
    assert_eq!(s, 200);
    assert_eq!(spec, serde_json::json!({"10.60.0.0/16": ["10.33.30.22"]}));
    let (_, st) = call(&d, "GET", "/status", None);
    assert_eq!(
        st["reconcile"]["managed"],
        serde_json::json!(["10.60.0.0/16"])
    );
}

#[test]
fn a_second_daemon_cannot_share_the_state_dir() {
    let sim = scenario();
    let state = temp_dir("spec-lock").join("state");
    let args = ["-m", "http", "--state-dir", state.to_str().unwrap()];
    let _first = Daemon::start(&sim.url(), &args);
    let r = run(
        &sim.url(),
        &[
            "-d",
            "-p",
            "0",
            "-m",
            "http",
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(r.stderr, "in use by another vpc-router");
}

#[test]
fn throttling_is_retried_and_a_later_pass_converges() {
    let sim = scenario();
    // Five RequestLimitExceeded answers in a row, with 3 attempts a call:
    // the first CreateRoute gives up, the second succeeds on its third
    // attempt; the next periodic pass creates the route that is missing.
    for _ in 0..5 {
        sim.fail_next(
            "CreateRoute",
            503,
            "RequestLimitExceeded",
            "Request limit exceeded.",
        );
    }
    let dir = temp_dir("spec-throttled");
    let file = dir.join("spec.json");
    std::fs::write(&file, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#).unwrap();
    let d = Daemon::configfile(
        &sim.url(),
        &file,
        &dir.join("state"),
        &["--route-recheck-interval", "1"],
    );
    wait_for_log(&d, "RequestLimitExceeded");
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    let creates = sim
        .calls()
        .iter()
        .filter(|c| c.action == "CreateRoute")
        .count();
    assert_eq!(creates, 5 + 3, "{:?}", sim.actions());
    let (_, metrics) = call(&d, "GET", "/metrics", None);
    let metrics = metrics.as_str().unwrap().to_string();
    assert_contains!(
        metrics,
        "vpc_router_reconcile_failures_total{code=\"RequestLimitExceeded\"} 1"
    );
    assert_contains!(
        metrics,
        "vpc_router_reconcile_passes_total{result=\"failed\"} 1"
    );
    assert_contains!(metrics, "vpc_router_ec2_throttled_total 5");
}

/// Sets a file's modification time back, so that the daemon's watcher
/// (which compares modification time and length) does not see an edit of
/// the same length: only a SIGHUP makes the daemon read it.
fn write_unseen(path: &std::path::Path, text: &str) {
    let before = std::fs::metadata(path).unwrap();
    assert_eq!(before.len(), text.len() as u64, "same length: {text}");
    std::fs::write(path, text).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
}

#[test]
fn sighup_rereads_the_spec_and_reopens_the_log_file() {
    let sim = scenario();
    let dir = temp_dir("spec-sighup");
    let (file, log, rotated) = (
        dir.join("spec.json"),
        dir.join("vpc-router.log"),
        dir.join("vpc-router.log.1"),
    );
    std::fs::write(&file, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#).unwrap();
    let state = dir.join("state");
    let args = [
        "-m",
        "configfile",
        "-f",
        file.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--route-recheck-interval",
        "0",
    ];
    let mut d = Daemon::start_logging_to(&sim.url(), &args, &log);
    converge(&sim, "10.60.0.0/16", Some(A_ENI));

    // logrotate moves the file away, the spec changes unseen by the
    // watcher, and SIGHUP asks for both to be looked at again.
    std::fs::rename(&log, &rotated).unwrap();
    write_unseen(&file, r#"{"10.60.0.0/16": [ "10.33.30.22"]}"#);
    d.signal("HUP");
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
    wait_for_log(&d, "re-read on SIGHUP");
    assert_contains!(d.log(), "SIGHUP: log file reopened");
    assert_contains!(
        std::fs::read_to_string(&rotated).unwrap(),
        "listening on http://"
    );
    assert!(d.child.try_wait().unwrap().is_none(), "still serving");
    assert_eq!(call(&d, "GET", "/healthz", None).0, 200);

    // A broken edit on SIGHUP: logged, and the spec in force stays.
    write_unseen(&file, r#"{"10.60.0.0/16": [ "10.33.30.2x"]}"#);
    d.signal("HUP");
    wait_for_log(&d, "the spec in force stays");
    let (s, spec) = call(&d, "GET", "/route_spec", None);
    assert_eq!(s, 200);
    assert_eq!(spec, serde_json::json!({"10.60.0.0/16": ["10.33.30.22"]}));
    assert_eq!(
        sim.route_target(TABLES[0], "10.60.0.0/16").as_deref(),
        Some(B_ENI)
    );

    d.signal("TERM");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let code = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s.code();
        }
        assert!(std::time::Instant::now() < until, "{}", d.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(code, Some(0), "{}", d.log());
}

#[test]
fn sighup_leaves_a_plain_daemon_serving() {
    let sim = scenario();
    let d = Daemon::start(&sim.url(), &[]);
    d.signal("HUP");
    wait_for_log(&d, "SIGHUP");
    assert_eq!(call(&d, "GET", "/healthz", None).0, 200);
    d.signal("TERM");
    let (code, log) = d.wait(std::time::Duration::from_secs(15));
    assert_eq!(code, 0, "{log}");
    assert_not_contains!(log, "re-reading the spec");
}

// See: issue 14, item 4 (on SIGTERM during a stuck pass the daemon said
// "stopped with 0 request(s) still running").
#[test]
fn issue14_a_stop_that_cannot_finish_says_what_was_still_running() {
    let sim = scenario();
    let dir = temp_dir("spec-stuck-stop");
    let file = dir.join("spec.json");
    std::fs::write(&file, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#).unwrap();
    let d = Daemon::configfile(
        &sim.url(),
        &file,
        &dir.join("state"),
        &["--route-recheck-interval", "0", "--timeout", "60"],
    );
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    wait_for_status(&d, |st| st["reconcile"]["last_pass"]["result"].is_string());
    // EC2 stops answering; the next pass hangs in its first call.
    let before = sim.calls().len();
    sim.set_delay(std::time::Duration::from_secs(30));
    std::fs::write(&file, r#"{"10.61.0.0/16": ["10.33.20.142"]}"#).unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sim.calls().len() == before {
        assert!(std::time::Instant::now() < until, "the pass never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    d.signal("TERM");
    let (code, log) = d.wait(std::time::Duration::from_secs(30));
    assert_eq!(code, 1, "{log}");
    assert_contains!(
        log,
        "stopped with work still running after 10 seconds: the reconcile thread (a full pass over 1 CIDR(s), "
    );
}
