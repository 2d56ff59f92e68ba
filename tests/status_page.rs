//! The status page (`GET /status.html`) in a real browser: Debian's
//! headless chromium loads it from a daemon on the EC2 simulator whose two
//! routers' health endpoints are local listeners, before and after a
//! failover, and keeps a screenshot in target/test-artefacts/. chromium is
//! a test dependency (`make test` installs it); without it these tests
//! fail and say what to install. Every request chromium would send
//! elsewhere than loopback goes to a dead proxy on 127.0.0.1:9.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::ec2sim::scenario;
use common::*;

/// chromium's path, or a failure that says how to get it.
fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("chromium"))
            .find(|c| c.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "chromium is missing: these tests need Debian's chromium package \
             (as root: apt-get install chromium, or `make test-deps`)"
        )
    })
}

/// Loads `url` in headless chromium: the DOM it built, and a screenshot
/// when `shot` is given. Stops chromium (its whole process group) if it
/// has not finished in 90 s.
fn browse(name: &str, url: &str, shot: Option<&Path>) -> String {
    use std::os::unix::process::CommandExt;
    let profile = temp_dir(&format!("chromium-{name}"));
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--disable-breakpad",
        "--disable-domain-reliability",
        "--no-pings",
        // Loopback goes direct; anything else to a port nobody serves.
        "--proxy-server=http://127.0.0.1:9",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    if let Some(p) = shot {
        c.arg(format!("--screenshot={}", p.display()))
            .arg("--window-size=1280,1600");
    } else {
        c.arg("--dump-dom");
    }
    let out_file = profile.join("dom.html");
    c.arg(url)
        .current_dir(&profile)
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = c.spawn().expect("start chromium");
    let until = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > until {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!("chromium did not finish loading {url} in 90 s");
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium {url}: {status}");
    std::fs::read_to_string(out_file).unwrap()
}

/// The page's text as a reader sees it: no style sheet, tags become
/// spaces, entities their characters, runs of white space one space.
fn text_of(dom: &str) -> String {
    let dom = match (dom.find("<style>"), dom.find("</style>")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &dom[..a], &dom[b..]),
        _ => dom.to_string(),
    };
    let mut out = String::new();
    let mut in_tag = false;
    for ch in dom.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

const CIDRS: [&str; 2] = ["10.70.0.0/16", "10.71.0.0/16"];

/// A router's health endpoint on its own loopback address. It accepts
/// (and closes) every check's connection, so that its backlog never fills
/// however long the test runs; dropping it closes the port.
struct Endpoint {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Endpoint {
    fn open(ip: &str) -> Endpoint {
        let l = TcpListener::bind((ip, 0)).unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                if l.accept().is_err() {
                    thread::sleep(Duration::from_millis(5));
                }
            }
        });
        Endpoint {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn the_page_shows_tables_routers_and_a_failover_in_a_browser() {
    let sim = scenario();
    let (a, b) = (Endpoint::open("127.0.0.12"), Endpoint::open("127.0.0.13"));
    let (a_check, b_check) = (a.addr.clone(), b.addr.clone());
    let dir = temp_dir("status-page");
    let hosts = format!(
        r#"[{{"ip": "{A_IP}", "check": "{a_check}"}}, {{"ip": "{B_IP}", "check": "{b_check}"}}]"#
    );
    let spec = dir.join("spec.json");
    std::fs::write(
        &spec,
        format!(r#"{{"{}": {hosts}, "{}": {hosts}}}"#, CIDRS[0], CIDRS[1]),
    )
    .unwrap();
    let d = Daemon::configfile(
        &sim.url(),
        &spec,
        &dir.join("state"),
        &[
            "--route-recheck-interval",
            "0",
            "--health",
            "tcp",
            "--check-interval",
            "0.05",
            "--check-timeout",
            "0.5",
            "--fall",
            "3",
            "--rise",
            "2",
        ],
    );
    for c in CIDRS {
        converge(&sim, c, Some(A_ENI));
    }
    wait_for_status(&d, |st| {
        st["reconcile"]["last_pass"]["result"].is_string()
            && st["reconcile"]["hosts"]
                .as_array()
                .is_some_and(|h| h.iter().all(|h| h["state"] == "healthy"))
    });

    let before = text_of(&browse("before", &d.url("/status.html"), None));
    assert_contains!(before, format!("vpc-router: {VPC} in us-east-1"));
    // Problems come first: the simulator's router B has its
    // source/destination check on.
    assert_contains!(
        before,
        format!("Problems source/destination check is enabled on {B_ENI}")
    );
    // CIDRs, tables, routes, in sync, differ, failed.
    assert_contains!(before, "2 3 6 6 0 0");
    assert_contains!(before, format!("{A_IP} {a_check} healthy"));
    assert_contains!(before, format!("{B_IP} {b_check} healthy"));
    for c in CIDRS {
        for t in TABLES {
            assert_contains!(before, format!("{c} {t} create {A_ENI}"));
        }
    }

    // Router A dies: its routes move to B, and the page says so.
    drop(a);
    for c in CIDRS {
        converge(&sim, c, Some(B_ENI));
    }
    wait_for_log(&d, &format!("failover {}", CIDRS[1]));
    wait_for_status(&d, |st| {
        st["reconcile"]["hosts"]
            .as_array()
            .is_some_and(|h| h.iter().any(|h| h["state"] == "failed"))
    });
    let after = text_of(&browse("after", &d.url("/status.html"), None));
    assert_contains!(after, format!("router {A_IP} failed since 20"));
    assert_contains!(after, format!("{A_IP} {a_check} failed 20"));
    assert_contains!(after, format!("{B_IP} {b_check} healthy"));
    for c in CIDRS {
        for t in TABLES {
            assert_contains!(after, format!("{c} {t} replace {B_ENI}"));
        }
    }
    // The newest change is listed first, with its time.
    let recent = after.split("Recent changes").nth(1).unwrap();
    let first = recent.split(" replace ").next().unwrap();
    assert!(first.contains(" 20") && first.contains('T'), "{recent}");

    // Details on request: every CIDR, then one CIDR in every table.
    let page = text_of(&browse(
        "page",
        &d.url("/status.html?page=1&per_page=1"),
        None,
    ));
    assert_contains!(page, "CIDRs: page 1 of 2 (2 in all)");
    assert_contains!(page, format!("{} 3 3 0 0 {B_ENI}", CIDRS[0]));
    assert_contains!(page, "next");
    assert_not_contains!(page, CIDRS[1]);
    let one = text_of(&browse(
        "cidr",
        &d.url(&format!("/status.html?cidr={}", CIDRS[1])),
        None,
    ));
    assert_contains!(one, format!("{} in 3 route table(s)", CIDRS[1]));
    for t in TABLES {
        assert_contains!(one, format!("{t} {B_ENI}"));
        assert_contains!(one, format!("{B_ENI} ({B_IP}) in sync replace"));
    }

    let artefacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artefacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let shot = artefacts.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    browse("shot", &d.url("/status.html"), Some(&shot));
    let png = std::fs::read(&shot).expect("chromium wrote no screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        png.len()
    );
}

#[test]
fn with_a_token_the_page_is_refused_to_a_browser_without_it() {
    let sim = scenario();
    let dir = temp_dir("status-page-token");
    let token = "page-token-0123456789abcdef";
    let file = dir.join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let d = Daemon::start(&sim.url(), &["--auth-token-file", file.to_str().unwrap()]);
    let refused = text_of(&browse("token", &d.url("/status.html"), None));
    assert_contains!(refused, "this API needs a token");
    assert_not_contains!(refused, "Problems");

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |auth: Option<&str>| {
        let mut r = agent.get(d.url("/status.html"));
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        let mut resp = r.call().unwrap();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        (
            resp.status().as_u16(),
            ct,
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    assert_eq!(get(None).0, 401);
    assert_eq!(get(Some("Bearer not-the-token-at-all")).0, 401);
    let (status, ct, body) = get(Some(&format!("Bearer {token}")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct.as_deref(), Some("text/html; charset=utf-8"));
    let text = text_of(&body);
    assert_contains!(text, format!("vpc-router: {VPC} in us-east-1"));
    // Without -m there are no routes to show, and the page says why.
    assert_contains!(text, "Desired-state routing is off");
}

/// GET `path` from `d`: status and body.
fn get(d: &Daemon, path: &str) -> (u16, String) {
    let (status, v) = call(d, "GET", path, None);
    (status, v.as_str().map(String::from).unwrap_or_default())
}

#[test]
fn hundreds_of_tables_keep_the_page_short_and_the_detail_paged() {
    const TABLES_N: usize = 300;
    const CIDRS_N: usize = 120;
    let sim = common::ec2sim::Ec2Sim::start();
    sim.add_eni(A_ENI, &[A_IP], Some("i-0aaaaaaaaaaaaaaa1"), VPC, false);
    for t in 0..TABLES_N {
        let id = format!("rtb-{t:08x}");
        sim.add_table(&id, VPC, t == 0);
        for r in 0..CIDRS_N {
            sim.add_route_to_eni(&id, &numbered_cidr(r), A_ENI);
        }
    }
    let dir = temp_dir("status-page-scale");
    let spec: serde_json::Map<String, serde_json::Value> = (0..CIDRS_N)
        .map(|r| (numbered_cidr(r), serde_json::json!([A_IP])))
        .collect();
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, serde_json::Value::Object(spec).to_string()).unwrap();
    let d = Daemon::configfile(&sim.url(), &spec_path, &dir.join("state"), &[]);
    wait_for_status(&d, |st| st["reconcile"]["last_pass"]["result"] == "in_sync");

    let (status, page) = get(&d, "/status.html");
    assert_eq!(status, 200);
    let text = text_of(&page);
    assert_contains!(text, "Problems None.");
    // CIDRs, tables, routes, in sync, differ, failed.
    assert_contains!(text, "120 300 36000 36000 0 0");
    // The summary does not list the 36,000 routes.
    assert!(page.len() < 8 * 1024, "{} bytes", page.len());

    let (status, page) = get(&d, "/status.html?page=2&per_page=50");
    assert_eq!(status, 200);
    let text = text_of(&page);
    assert_contains!(text, "CIDRs: page 2 of 3 (120 in all)");
    // One row per CIDR, whatever the number of tables.
    assert_eq!(page.matches("<tr>").count(), 1 + 50);
    assert_contains!(text, format!("{} 300 300 0 0 {A_ENI}", numbered_cidr(50)));
    assert_not_contains!(text, numbered_cidr(49));
    assert_contains!(page, "?page=1&amp;per_page=50\">previous");
    assert_contains!(page, "?page=3&amp;per_page=50\">next");

    let (status, page) = get(&d, &format!("/status.html?cidr={}", numbered_cidr(7)));
    assert_eq!(status, 200);
    assert_eq!(page.matches("<tr>").count(), 1 + TABLES_N);
    let (status, page) = get(&d, "/status.html?cidr=10.99.0.0/16");
    assert_eq!(status, 404);
    assert_contains!(page, "10.99.0.0/16 is neither in the spec nor managed");
    let (status, _) = get(&d, "/status.html?per_page=501");
    assert_eq!(status, 400);
}
