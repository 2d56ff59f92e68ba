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
    let header = raw(
        &d.addr,
        b"GET / HTTP/1.1\r\nX-\x1b[2JEvil\r: 1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(header.starts_with("HTTP/1.1 400"), "{header}");
    wait_for_log(&d, "X-\\u{1b}[2JEvil\\r");
    let log = d.log();
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
