//! The machine-readable side of the daemon: `/openapi.json` against the
//! routing table the parser uses (`api::ROUTES`), both ways, and on a
//! running daemon; and the `process_*` families on `/metrics`.

mod common;

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use common::ec2sim::scenario;
use common::*;
use serde_json::Value;
use vpc_router::api::{self, RequestError, ROUTES};
use vpc_router::daemon::service::OPENAPI;

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// (path, METHOD) for every operation the document describes.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for m in ops.as_object().unwrap().keys() {
            let m = m.to_uppercase();
            if METHODS.contains(&m.as_str()) {
                out.insert((path.clone(), m));
            }
        }
    }
    out
}

/// (path, METHOD) for every route in the parser's table.
fn routed() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .flat_map(|(p, allow)| allow.split(", ").map(|m| (p.to_string(), m.to_string())))
        .collect()
}

#[test]
fn every_routed_path_and_method_is_documented_and_nothing_else() {
    let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let (documented, routed) = (documented(&doc), routed());
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routed, not documented: {undocumented:?}"
    );
    assert!(unrouted.is_empty(), "documented, not routed: {unrouted:?}");
    // Every $ref points at something in the document.
    let text = OPENAPI.replace(' ', "");
    for r in text.split("\"$ref\":\"#/").skip(1) {
        let pointer = format!("/{}", r.split('"').next().unwrap());
        assert!(doc.pointer(&pointer).is_some(), "dangling $ref {pointer}");
    }
}

#[test]
fn the_parser_routes_exactly_the_table() {
    for (path, allow) in ROUTES {
        for m in METHODS {
            let listed = allow
                .split(", ")
                .any(|a| a == m || (m == "HEAD" && a == "GET"));
            match api::parse(m, path, b"") {
                Err(RequestError::NotFound(p)) => panic!("{m} {path}: no such path {p}"),
                Err(RequestError::MethodNotAllowed { allow: a }) => {
                    assert!(!listed, "{m} {path} is in the table but refused");
                    assert_eq!(&a, allow, "{m} {path}");
                }
                _ => assert!(listed, "{m} {path} is routed but not in the table"),
            }
        }
    }
    assert!(matches!(
        api::parse("GET", "/nope", b""),
        Err(RequestError::NotFound(_))
    ));
}

#[test]
fn a_daemon_serves_its_description_and_every_operation_in_it() {
    let sim = scenario();
    let d = Daemon::start(&sim.url(), &[]);
    let (status, doc) = call(&d, "GET", "/openapi.json", None);
    assert_eq!(status, 200);
    assert_eq!(doc, serde_json::from_str::<Value>(OPENAPI).unwrap());
    for (path, method) in documented(&doc) {
        let (status, answer) = call(&d, &method, &path, None);
        let message = answer["error"]["message"].as_str().unwrap_or("");
        assert!(
            status != 405 && !message.starts_with("no such path"),
            "{method} {path}: {status} {answer}"
        );
    }
    let (status, answer) = call(&d, "GET", "/nope", None);
    assert_eq!(status, 404);
    for (path, _) in ROUTES {
        assert_contains!(answer["error"]["message"].as_str().unwrap(), path);
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn metrics_carry_the_process_families_with_plausible_values() {
    let sim = scenario();
    let before = now();
    let d = Daemon::start(&sim.url(), &[]);
    let (status, text) = call(&d, "GET", "/metrics", None);
    assert_eq!(status, 200);
    let text = text.as_str().unwrap().to_string();
    let value = |name: &str, kind: &str| -> f64 {
        assert_contains!(text, format!("# TYPE {name} {kind}\n"));
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no sample of {name}"));
        line[name.len() + 1..]
            .parse()
            .unwrap_or_else(|e| panic!("{line}: {e}"))
    };
    let cpu = value("process_cpu_seconds_total", "counter");
    let rss = value("process_resident_memory_bytes", "gauge");
    let vsz = value("process_virtual_memory_bytes", "gauge");
    let fds = value("process_open_fds", "gauge");
    let max_fds = value("process_max_fds", "gauge");
    let start = value("process_start_time_seconds", "gauge");
    assert!((0.0..60.0).contains(&cpu), "cpu {cpu}");
    assert!((1e6..1e9).contains(&rss), "rss {rss}");
    assert!(vsz >= rss, "virtual {vsz} < resident {rss}");
    // At least stdin, stderr, the listener and the status lane's sockets.
    assert!(fds >= 4.0 && fds <= max_fds, "fds {fds} of {max_fds}");
    // Boot time is in whole seconds, the start in clock ticks.
    assert!(
        start >= before - 1.5 && start <= now() + 0.5,
        "start {start}, test began at {before}"
    );
    // The CPU counter does not go back.
    let (_, again) = call(&d, "GET", "/metrics", None);
    let again: f64 = again
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(again >= cpu, "{again} < {cpu}");
}
