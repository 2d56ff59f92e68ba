//! Issue 14, "hostile input": what a client, a file or the environment
//! hands vpc-router is refused with a message that says what is wrong, or
//! is made harmless (escaped, redacted, normalised) before it is shown or
//! used. The real binary, against the EC2 simulator on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// Sends raw bytes and returns what came back until the server closed
/// (or `wait` passed).
fn raw(addr: &str, bytes: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `text` holds a control character other than the newlines that
/// end its lines.
fn has_controls(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n')
}

// Issue 14: a target or header with ANSI escapes or a bare CR reached the
// log as it was, so a client could colour, rewrite or forge log lines.
#[test]
fn client_bytes_reach_the_log_escaped() {
    let sim = ec2sim::scenario();
    let dir = temp_dir("hostile-log");
    let logfile = dir.join("daemon.log");
    let d = Daemon::start_logging_to(&sim.url(), &[], &logfile);
    let target = raw(
        &d.addr,
        b"GET /route?dst_cidr=\x1b[31mred\r\x1b[Kforged HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(target.starts_with("HTTP/1.1 400"), "{target}");
    // A second refusal of the same kind is only counted (the gate logs the
    // first of each reason in full): another daemon gets the header.
    let logfile2 = dir.join("daemon2.log");
    let d2 = Daemon::start_logging_to(&sim.url(), &[], &logfile2);
    let header = raw(
        &d2.addr,
        b"GET / HTTP/1.1\r\nX-\x1b[2JEvil\r: 1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(header.starts_with("HTTP/1.1 400"), "{header}");
    wait_for_log(&d2, "X-\\u{1b}[2JEvil\\r");
    let log = d.log() + &d2.log();
    assert!(
        !has_controls(&log),
        "a control character in the log:\n{log:?}"
    );
    assert_contains!(
        log,
        "'/route?dst_cidr=\\u{1b}[31mred\\r\\u{1b}[Kforged' is not a request target"
    );
}

// Issue 14: the same for what a file supplies: a spec key with an escape
// in it is named in the error, escaped.
#[test]
fn file_bytes_reach_the_log_escaped() {
    let dir = temp_dir("hostile-spec");
    let spec = dir.join("spec.json");
    std::fs::write(
        &spec,
        "{\"10.55.0.0/16\\u001b[31m\\r\": [\"10.33.20.142\"]}",
    )
    .unwrap();
    let r = run(
        "http://127.0.0.1:9",
        &["plan", "-f", spec.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!has_controls(&r.stderr), "{:?}", r.stderr);
    assert_contains!(r.stderr, "key \"10.55.0.0/16\\u{1b}[31m\\r\"");
}

/// `url` with a user name and password in it.
fn with_password(url: &str) -> String {
    url.replacen("http://", "http://router:secretpw@", 1)
}

// Issue 14: a password in the endpoint URL was printed in errors, in
// --output json and in the daemon's `GET /`.
#[test]
fn a_password_in_the_endpoint_is_never_shown() {
    // Nothing listens on port 9: the one-shot fails with a network error.
    let dead = with_password("http://127.0.0.1:9");
    let mut c = command("hostile-endpoint");
    c.env("AWS_MAX_ATTEMPTS", "1");
    let r = run_with(
        c,
        &dead,
        &[
            "--verbose",
            "-c",
            "show",
            "--CIDR",
            "10.55.0.0/16",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_not_contains!(r.stdout, "secretpw");
    assert_not_contains!(r.stderr, "secretpw");
    assert_contains!(r.stdout, "to http://***@127.0.0.1:9 could not be sent");
    assert_contains!(r.stderr, "EC2 endpoint http://***@127.0.0.1:9");

    // The same URL through the environment, and a malformed one.
    let mut c = command("hostile-endpoint-env");
    c.env("AWS_ENDPOINT_URL_EC2", "ftp://router:secretpw@127.0.0.1:9")
        .args([
            "-r",
            "us-east-1",
            "-v",
            VPC,
            "-c",
            "show",
            "--CIDR",
            "10.55.0.0/16",
        ]);
    let r: Run = c.output().unwrap().into();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "AWS_ENDPOINT_URL_EC2: 'ftp://***@127.0.0.1:9' is not an http:// or https:// URL"
    );
    assert_not_contains!(r.stderr, "secretpw");
    let r = run(
        "ftp://router:secretpw@127.0.0.1:9",
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "--endpoint-url: 'ftp://***@127.0.0.1:9' is not an http"
    );
    assert_not_contains!(r.stderr, "secretpw");

    // The daemon works through it and shows it redacted.
    let sim = ec2sim::scenario();
    let d = Daemon::start(&with_password(&sim.url()), &["--verbose"]);
    let (status, v) = call(&d, "GET", "/", None);
    assert_eq!(status, 200, "{v:#}");
    assert_eq!(
        v["ec2_endpoint"].as_str(),
        Some(sim.url().replacen("http://", "http://***@", 1).as_str())
    );
    let (status, v) = call(&d, "GET", "/route?dst_cidr=10.33.0.0/16", None);
    assert_eq!(status, 200, "{v:#}");
    assert_not_contains!(d.log(), "secretpw");
}

// Issue 14: a bad environment was retried five times and reported as a
// network error (exit 4); it is refused at start (exit 2) and nothing is
// sent.
#[test]
fn the_environment_is_checked_before_anything_is_sent() {
    let sim = ec2sim::scenario();
    let show = ["-c", "show", "--CIDR", "10.55.0.0/16"];
    let mut c = command("hostile-key");
    c.env("AWS_ACCESS_KEY_ID", "AKID\x1b[31mEXAMPLE");
    let r = run_with(c, &sim.url(), &show);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "credentials from environment cannot be used: AWS_ACCESS_KEY_ID contains a control \
         character (at character 5)"
    );
    assert!(!has_controls(&r.stderr), "{:?}", r.stderr);

    // A shared credentials file with a line that is not a setting.
    let home = temp_dir("hostile-profile");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    let file = home.join(".aws/credentials");
    std::fs::write(
        &file,
        "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key: wJalr\n",
    )
    .unwrap();
    let mut c = command("hostile-profile-run");
    c.env("HOME", &home)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let r = run_with(c, &sim.url(), &show);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        format!(
            "credentials from shared config files cannot be used: {}, line 3: is neither a \
             [section] header nor a setting (key = value)",
            file.display()
        )
    );
    assert_not_contains!(r.stderr, "no AWS credentials found");
    assert_not_contains!(r.stderr, "wJalr");
    assert!(sim.calls().is_empty(), "{:?}", sim.calls());
}

// Issue 14: `--ip ::ffff:10.33.20.142` was sent to EC2 as it was, and no
// interface holds that.
#[test]
fn a_mapped_ipv4_router_ip_is_the_ipv4_address() {
    let sim = ec2sim::scenario();
    let r = run(
        &sim.url(),
        &[
            "-c",
            "add",
            "--CIDR",
            "10.99.0.0/16",
            "--ip",
            "::ffff:10.33.20.142",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let asked: Vec<String> = sim
        .calls()
        .iter()
        .filter(|c| c.action == "DescribeNetworkInterfaces")
        .filter_map(|c| c.param("Filter.2.Value.1").map(str::to_string))
        .collect();
    assert_eq!(asked, ["10.33.20.142"]);
    for t in TABLES {
        assert_eq!(sim.route_target(t, "10.99.0.0/16").as_deref(), Some(A_ENI));
    }
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["router"]["ip"], "10.33.20.142");
}

/// Runs `c`, killing it if it has not finished after `limit`: `None` then.
fn run_within(mut c: std::process::Command, limit: Duration) -> Option<Run> {
    use std::process::Stdio;
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child.wait_with_output().unwrap().into())
}

// Issue 14: a spec file was read whole (a 300 MB file took 310 MB, and
// `-f /dev/zero` grew past 2 GB); a FIFO without a writer hung.
#[test]
fn spec_files_are_bounded_and_must_be_regular_files() {
    let dir = temp_dir("hostile-spec-files");
    let big = dir.join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(5 * 1024 * 1024)
        .unwrap();
    let fifo = dir.join("spec.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let cases = [
        (
            big.clone(),
            format!(
                "-f/--file: {} is 5242880 bytes, more than a route spec may be (4194304 bytes, \
                 4 MiB)",
                big.display()
            ),
        ),
        (
            fifo.clone(),
            format!(
                "-f/--file: {} is a FIFO (named pipe); give the route spec as a regular JSON file",
                fifo.display()
            ),
        ),
        (
            "/dev/zero".into(),
            "-f/--file: /dev/zero is a character device; give the route spec".into(),
        ),
        (
            dir.clone(),
            format!(
                "-f/--file: {} is a directory; give the route spec",
                dir.display()
            ),
        ),
    ];
    for (path, want) in cases {
        let mut c = command("hostile-spec-files-run");
        c.args([
            "-r",
            "us-east-1",
            "-v",
            VPC,
            "--endpoint-url",
            "http://127.0.0.1:9",
        ])
        .args(["plan", "-f", path.to_str().unwrap()]);
        let r = run_within(c, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("plan -f {} did not finish", path.display()));
        assert_eq!(r.code, 2, "{}: {}", path.display(), r.stderr);
        assert_contains!(r.stderr, want);
    }
}

// Issue 14: any local process could send force=true to a daemon with no
// token and replace an internet gateway's default route.
#[test]
fn force_over_the_api_is_the_operators_choice() {
    let sim = ec2sim::scenario();
    let body = r#"{"dst_cidr": "0.0.0.0/0", "router_ip": "10.33.20.142", "force": true}"#;
    let d = Daemon::start(&sim.url(), &[]);
    let (status, v) = call(&d, "POST", "/route", Some(body));
    assert_eq!(status, 403, "{v:#}");
    assert_eq!(v["error"]["field"], "force");
    assert_contains!(
        v["error"]["message"].as_str().unwrap(),
        "restart the daemon with --allow-api-force"
    );
    let (status, v) = call(&d, "DELETE", "/route?dst_cidr=0.0.0.0/0&force=true", None);
    assert_eq!(status, 403, "{v:#}");
    assert_eq!(
        sim.route_target("rtb-0a1b2c3d", "0.0.0.0/0").as_deref(),
        Some("igw-1a2b3c4d")
    );
    assert!(
        !sim.actions().iter().any(|a| a.ends_with("Route")),
        "{:?}",
        sim.actions()
    );
    // Without force, the safety rule answers as before.
    let (status, _) = call(
        &d,
        "POST",
        "/route",
        Some(r#"{"dst_cidr": "0.0.0.0/0", "router_ip": "10.33.20.142"}"#),
    );
    assert_eq!(status, 409);
    drop(d);

    let d = Daemon::start(&sim.url(), &["--allow-api-force"]);
    let (status, v) = call(&d, "POST", "/route", Some(body));
    assert!(status == 200 || status == 201, "{status}: {v:#}");
    assert_eq!(
        sim.route_target("rtb-0a1b2c3d", "0.0.0.0/0").as_deref(),
        Some(A_ENI)
    );
}
