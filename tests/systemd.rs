//! Running under systemd: the notify protocol, with a Unix datagram socket
//! of the test's own standing in for systemd (a path socket and an abstract
//! `@` one), against the real binary and the EC2 simulator; and the unit
//! file in `dist/`, linted by `systemd-analyze verify` where that command
//! exists (an optional lint: it is skipped, saying so, where it does not);
//! logs under journald (`$JOURNAL_STREAM`) and `--log-format json`.

mod common;

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::ec2sim::scenario;
use common::*;

/// The next datagram, or a panic naming what was awaited.
fn next(sock: &UnixDatagram, what: &str) -> String {
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut buf = [0u8; 256];
    let len = sock
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no notification while waiting for {what}: {e}"));
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// The next datagram that is not a watchdog ping.
fn next_state(sock: &UnixDatagram, what: &str) -> String {
    loop {
        let m = next(sock, what);
        if m != "WATCHDOG=1" {
            return m;
        }
    }
}

#[test]
fn ready_after_the_first_pass_reloading_watchdog_and_stopping() {
    let sim = scenario();
    let dir = temp_dir("systemd-notify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let file = dir.join("spec.json");
    std::fs::write(&file, r#"{"10.60.0.0/16": ["10.33.20.142"]}"#).unwrap();
    let mut c = command("systemd-notify-home");
    c.env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000");
    let d = Daemon::start_with(
        c,
        &sim.url(),
        &[
            "-m",
            "configfile",
            "-f",
            file.to_str().unwrap(),
            "--state-dir",
            dir.join("state").to_str().unwrap(),
            "--route-recheck-interval",
            "0",
        ],
    );
    assert_eq!(next(&sock, "READY=1"), "READY=1");
    // Ready means the first pass is done: the route is in every table.
    let creates = sim
        .calls()
        .iter()
        .filter(|c| c.action == "CreateRoute")
        .count();
    assert_eq!(creates, TABLES.len(), "{:?}", sim.actions());

    // WATCHDOG=1 every 200 ms (half of WATCHDOG_USEC).
    let start = Instant::now();
    for _ in 0..3 {
        assert_eq!(next(&sock, "WATCHDOG=1"), "WATCHDOG=1");
    }
    assert!(start.elapsed() < Duration::from_secs(3));

    d.signal("HUP");
    assert_eq!(next_state(&sock, "RELOADING=1"), "RELOADING=1");
    assert_eq!(next_state(&sock, "READY=1 after a reload"), "READY=1");

    d.signal("TERM");
    assert_eq!(next_state(&sock, "STOPPING=1"), "STOPPING=1");
    let (code, log) = d.wait(Duration::from_secs(15));
    assert_eq!(code, 0, "{log}");
}

#[test]
fn an_abstract_socket_hears_ready_at_once_without_a_spec() {
    let sim = scenario();
    let name = format!("vpc-router-test-notify-{}", std::process::id());
    let sock =
        UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    let mut c = command("systemd-abstract-home");
    c.env("NOTIFY_SOCKET", format!("@{name}"));
    let d = Daemon::start_with(c, &sim.url(), &[]);
    assert_eq!(next(&sock, "READY=1"), "READY=1");
    d.signal("INT");
    assert_eq!(next(&sock, "STOPPING=1"), "STOPPING=1");
    let (code, log) = d.wait(Duration::from_secs(15));
    assert_eq!(code, 0, "{log}");
}

#[test]
fn ready_at_once_when_there_is_no_spec_yet() {
    let sim = scenario();
    let dir = temp_dir("systemd-nospec");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let mut c = command("systemd-nospec-home");
    c.env("NOTIFY_SOCKET", &sock_path);
    let state = dir.join("state");
    let d = Daemon::start_with(
        c,
        &sim.url(),
        &["-m", "http", "--state-dir", state.to_str().unwrap()],
    );
    assert_eq!(next(&sock, "READY=1"), "READY=1");
    d.signal("TERM");
    assert_eq!(next(&sock, "STOPPING=1"), "STOPPING=1");
    let (code, log) = d.wait(Duration::from_secs(15));
    assert_eq!(code, 0, "{log}");
}

#[test]
fn the_unit_has_the_hardening_and_passes_systemd_analyze_where_present() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = root.join("dist/vpc-router.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    for line in [
        "Type=notify",
        "Restart=on-failure",
        "WatchdogSec=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_NET_RAW CAP_NET_BIND_SERVICE",
        "StateDirectory=vpc-router",
        "EnvironmentFile=-/etc/default/vpc-router",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "{line} missing from {}",
            unit.display()
        );
    }
    assert!(root.join("dist/vpc-router.env").exists());
    // Optional lint: systemd-analyze is not on every machine (not in the
    // CI container); where it is, the unit must verify cleanly.
    let found = Command::new("sh")
        .args(["-c", "command -v systemd-analyze"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: systemd-analyze verify (systemd-analyze is not installed)");
        return;
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The binary's install path need not exist on the test machine.
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains("/usr/local/bin/vpc-router"))
        .collect();
    assert!(
        out.status.success() || complaints.is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

/// A one-shot whose EC2 endpoint refuses connections: it logs an error.
fn failing_show(c: Command) -> std::process::Output {
    let mut c = c;
    c.args([
        "-r",
        "us-east-1",
        "-v",
        VPC,
        "--endpoint-url",
        "http://127.0.0.1:9",
        "--connect-timeout",
        "1",
        "-c",
        "show",
        "-C",
        "10.60.0.0/16",
    ]);
    c.output().unwrap()
}

#[test]
fn under_journald_lines_carry_their_syslog_priority() {
    use std::os::unix::fs::MetadataExt;
    let dir = temp_dir("systemd-journal");
    let path = dir.join("stream");
    let stream = std::fs::File::create(&path).unwrap();
    let m = stream.metadata().unwrap();
    let mut c = command("systemd-journal-home");
    c.env("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino()))
        .stderr(stream);
    let out = failing_show(c);
    assert_ne!(out.status.code(), Some(0));
    let log = std::fs::read_to_string(&path).unwrap();
    assert!(!log.is_empty());
    for line in log.lines() {
        assert!(
            line.starts_with("<3>vpc-router: error: ")
                || line.starts_with("<4>")
                || line.starts_with("<6>"),
            "{log}"
        );
    }
    assert!(log.contains("<3>vpc-router: error: "), "{log}");

    // Another stream (a child's stderr redirected elsewhere): no prefix.
    let mut c = command("systemd-journal-home");
    c.env("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino()));
    let out = failing_show(c);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.lines().all(|l| l.starts_with("vpc-router: ")) && log.contains("vpc-router: error: "),
        "{log}"
    );
}

#[test]
fn log_format_json_is_one_object_per_line() {
    let mut c = command("systemd-json-home");
    c.args(["--log-format", "json"]);
    let out = failing_show(c);
    let log = String::from_utf8_lossy(&out.stderr);
    let mut errors = 0;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 3, "{line}");
        assert!(obj["time"].as_str().unwrap().starts_with("20"), "{line}");
        assert!(obj["message"].is_string());
        errors += usize::from(obj["level"] == "error");
    }
    assert!(errors >= 1, "{log}");

    let bad = failing_show({
        let mut c = command("systemd-json-home");
        c.args(["--log-format", "jsno"]);
        c
    });
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--log-format") && err.contains("json"),
        "{err}"
    );
}
