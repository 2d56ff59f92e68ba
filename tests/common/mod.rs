//! Shared test harness: run the real binary with a clean environment, and
//! mock EC2 endpoints on 127.0.0.1 that replay the fixtures in `fixtures/`
//! (httpmock), follow a script (`Scripted`) or simulate EC2 (`ec2sim`); the
//! last two answer through `http`, the one hand-rolled HTTP server.
#![allow(dead_code)]

pub mod bird;
pub mod ec2sim;
pub mod etcd;
pub mod http;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Asserts that the text `haystack` contains `needle` (both `AsRef<str>`),
/// with an optional message in `format!` form. On failure it prints the
/// message, the needle and the whole haystack, as it is (not escaped).
#[macro_export]
macro_rules! assert_contains {
    ($haystack:expr, $needle:expr $(,)?) => {
        $crate::common::check_contains(
            true,
            stringify!($haystack),
            ::core::convert::AsRef::<str>::as_ref(&$haystack),
            ::core::convert::AsRef::<str>::as_ref(&$needle),
            None,
        )
    };
    ($haystack:expr, $needle:expr, $($message:tt)+) => {
        $crate::common::check_contains(
            true,
            stringify!($haystack),
            ::core::convert::AsRef::<str>::as_ref(&$haystack),
            ::core::convert::AsRef::<str>::as_ref(&$needle),
            Some(format!($($message)+)),
        )
    };
}

/// Asserts that the text `haystack` does not contain `needle`; prints like
/// [`assert_contains!`].
#[macro_export]
macro_rules! assert_not_contains {
    ($haystack:expr, $needle:expr $(,)?) => {
        $crate::common::check_contains(
            false,
            stringify!($haystack),
            ::core::convert::AsRef::<str>::as_ref(&$haystack),
            ::core::convert::AsRef::<str>::as_ref(&$needle),
            None,
        )
    };
    ($haystack:expr, $needle:expr, $($message:tt)+) => {
        $crate::common::check_contains(
            false,
            stringify!($haystack),
            ::core::convert::AsRef::<str>::as_ref(&$haystack),
            ::core::convert::AsRef::<str>::as_ref(&$needle),
            Some(format!($($message)+)),
        )
    };
}

/// The check behind [`assert_contains!`] and [`assert_not_contains!`].
#[track_caller]
pub fn check_contains(
    wanted: bool,
    name: &str,
    haystack: &str,
    needle: &str,
    message: Option<String>,
) {
    if haystack.contains(needle) == wanted {
        return;
    }
    let what = if wanted {
        "does not contain"
    } else {
        "contains"
    };
    let message = message.map(|m| format!(": {m}")).unwrap_or_default();
    panic!(
        "assertion failed: `{name}` {what} the needle{message}\n\
         needle: {needle:?}\n\
         haystack ({} bytes):\n{haystack}\n--- end of haystack",
        haystack.len()
    );
}

pub const BIN: &str = env!("CARGO_BIN_EXE_vpc-router");
pub const VPC: &str = "vpc-350d6a51";
pub const A_IP: &str = "10.33.20.142";
pub const A_ENI: &str = "eni-0aaaaaaaaaaaaaaa1";
pub const B_IP: &str = "10.33.30.22";
pub const B_ENI: &str = "eni-0bbbbbbbbbbbbbbb2";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const TOKEN: &str = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN";

pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Both routers' interfaces, found by IP as the client asks for them (any
/// other IP: none), on an httpmock server.
pub fn mock_interfaces(server: &httpmock::MockServer) {
    use httpmock::prelude::POST;
    for (ip, file) in [
        (A_IP, "describe-network-interfaces-a.xml"),
        (B_IP, "describe-network-interfaces-b.xml"),
    ] {
        server.mock(|when, then| {
            when.method(POST)
                .path("/")
                .x_www_form_urlencoded_tuple("Action", "DescribeNetworkInterfaces")
                .x_www_form_urlencoded_tuple("Filter.1.Name", "vpc-id")
                .x_www_form_urlencoded_tuple("Filter.1.Value.1", VPC)
                .x_www_form_urlencoded_tuple("Filter.2.Name", "addresses.private-ip-address")
                .x_www_form_urlencoded_tuple("Filter.2.Value.1", ip);
            then.status(200).body(fixture(file));
        });
    }
    server.mock(|when, then| {
        when.method(POST)
            .path("/")
            .x_www_form_urlencoded_tuple("Action", "DescribeNetworkInterfaces");
        then.status(200)
            .body(fixture("describe-network-interfaces-empty.xml"));
    });
}

/// For tests that call the library in-process rather than run the binary:
/// its log lines (retries, warnings) go to the test harness's capture,
/// printed only for a failing test, instead of straight to the terminal.
/// The first call in a test binary sets the logger up; later ones do
/// nothing.
pub fn capture_library_log() {
    use vpc_router::log;
    log::init(log::Level::Info, log::Sink::Captured, log::Style::Plain);
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vpc-router-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// The binary with an environment that holds only what a test gives it:
/// static credentials, IMDS off (so nothing ever goes to 169.254.169.254),
/// a HOME without ~/.aws, and few quick retries.
pub fn command(home: &str) -> Command {
    command_for(BIN, home)
}

/// [`command`], for another build of the binary (a bench's `SCALE_BIN`).
pub fn command_for(bin: &str, home: &str) -> Command {
    let mut c = Command::new(bin);
    c.env_clear()
        .env("HOME", temp_dir(home))
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "3");
    c
}

/// Runs the binary against `endpoint` with the region given, plus `args`.
pub fn run(endpoint: &str, args: &[&str]) -> Run {
    run_with(command("run"), endpoint, args)
}

pub fn run_with(mut c: Command, endpoint: &str, args: &[&str]) -> Run {
    c.args(["-r", "us-east-1", "-v", VPC, "--endpoint-url", endpoint]);
    c.args(args);
    c.output().expect("run vpc-router").into()
}

/// One request as the scripted server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Seen {
    /// The decoded form parameters of the body.
    pub fn params(&self) -> HashMap<String, String> {
        http::decode_form(&self.body).into_iter().collect()
    }

    pub fn action(&self) -> String {
        self.params().get("Action").cloned().unwrap_or_default()
    }
}

/// The value of header `name` in a request httpmock received, "" when it
/// has none.
pub fn mock_header(req: &httpmock::prelude::HttpMockRequest, name: &str) -> String {
    req.headers
        .iter()
        .flatten()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Expects DescribeRouteTables signed with the session token `token` and
/// the access key that `signed_by` checks for (a non-capturing closure, as
/// httpmock takes a plain function).
pub fn expect_signed<'a>(
    ec2: &'a httpmock::MockServer,
    token: &str,
    signed_by: fn(&httpmock::prelude::HttpMockRequest) -> bool,
) -> httpmock::Mock<'a> {
    ec2.mock(|when, then| {
        when.method(httpmock::prelude::POST)
            .path("/")
            .x_www_form_urlencoded_tuple("Action", "DescribeRouteTables")
            .header("x-amz-security-token", token)
            .matches(signed_by);
        then.status(200).body(fixture("describe-route-tables.xml"));
    })
}

/// A loopback HTTP server that answers requests with scripted responses,
/// in order, and records what it received. For sequences httpmock cannot
/// express (fail twice, then succeed).
pub struct Scripted {
    pub url: String,
    server: http::Server,
}

impl Scripted {
    /// `answers`: (status, body) per request; requests past the end get 599.
    pub fn start(answers: Vec<(u16, String)>) -> Scripted {
        let answers = Mutex::new(answers.into_iter());
        let server = http::Server::start(move |_| {
            let next = answers.lock().unwrap().next();
            let (status, body) = next.unwrap_or((599, "script exhausted".into()));
            http::Response::new(status, body).header("content-type", "text/xml;charset=UTF-8")
        });
        Scripted {
            url: server.url(),
            server,
        }
    }

    /// `answers`: (Action, status, body); a request takes the first answer
    /// not yet given for its `Action`, so calls the client makes side by
    /// side (a one-shot `add` describes the router and the tables at once)
    /// get their own answers whatever order they arrive in. Requests with
    /// no answer left get 599.
    pub fn per_action(answers: Vec<(&'static str, u16, String)>) -> Scripted {
        let answers = Mutex::new(answers);
        let server = http::Server::start(move |req| {
            let params = http::decode_form(&req.text());
            let action = params
                .iter()
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.as_str());
            let mut left = answers.lock().unwrap();
            let next = left.iter().position(|(a, _, _)| Some(*a) == action);
            let (status, body) = next.map_or((599, "script exhausted".into()), |i| {
                let (_, status, body) = left.remove(i);
                (status, body)
            });
            http::Response::new(status, body).header("content-type", "text/xml;charset=UTF-8")
        });
        Scripted {
            url: server.url(),
            server,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.server
            .requests()
            .iter()
            .map(|r| Seen {
                method: r.method.clone(),
                path: r.target.clone(),
                headers: r.headers.iter().cloned().collect(),
                body: r.text(),
            })
            .collect()
    }

    pub fn actions(&self) -> Vec<String> {
        self.seen().iter().map(Seen::action).collect()
    }
}

/// A running daemon. Killed on drop if a test did not stop it.
pub struct Daemon {
    pub child: Child,
    pub addr: String,
    log: Arc<Mutex<String>>,
    /// `-l FILE`: the log is read from there.
    logfile: Option<PathBuf>,
}

impl Daemon {
    pub fn start(endpoint: &str, extra: &[&str]) -> Daemon {
        Daemon::start_with(command("daemon"), endpoint, extra)
    }

    pub fn start_with(mut c: Command, endpoint: &str, extra: &[&str]) -> Daemon {
        c.args([
            "-r",
            "us-east-1",
            "-v",
            VPC,
            "--endpoint-url",
            endpoint,
            "-d",
            "-p",
            "0",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = c.spawn().expect("start the daemon");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(rest.split(' ').next().unwrap().to_string());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("the daemon did not start: {}", log.lock().unwrap())
            });
        Daemon {
            child,
            addr,
            log,
            logfile: None,
        }
    }

    /// Like [`Daemon::start`], logging with `-l logfile`: the address and
    /// [`Daemon::log`] come from that file (whatever path it has now).
    pub fn start_logging_to(endpoint: &str, extra: &[&str], logfile: &std::path::Path) -> Daemon {
        let mut c = command("daemon");
        c.args([
            "-r",
            "us-east-1",
            "-v",
            VPC,
            "--endpoint-url",
            endpoint,
            "-d",
            "-p",
            "0",
            "-l",
            logfile.to_str().unwrap(),
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = c.spawn().expect("start the daemon");
        let mut d = Daemon {
            child,
            addr: String::new(),
            log: Arc::default(),
            logfile: Some(logfile.to_path_buf()),
        };
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let log = d.log();
            if let Some(rest) = log.split("listening on http://").nth(1) {
                d.addr = rest.split(' ').next().unwrap().to_string();
                return d;
            }
            assert!(Instant::now() < until, "the daemon did not start: {log}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `-d -m configfile -f SPEC --state-dir STATE`, plus `extra`.
    pub fn configfile(
        endpoint: &str,
        spec: &std::path::Path,
        state: &std::path::Path,
        extra: &[&str],
    ) -> Daemon {
        Daemon::configfile_with(command("daemon"), endpoint, spec, state, extra)
    }

    /// [`Daemon::configfile`] with the binary and environment of `c`.
    pub fn configfile_with(
        c: Command,
        endpoint: &str,
        spec: &std::path::Path,
        state: &std::path::Path,
        extra: &[&str],
    ) -> Daemon {
        let mut args = vec![
            "-m",
            "configfile",
            "-f",
            spec.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Daemon::start_with(c, endpoint, &args)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        match &self.logfile {
            Some(f) => std::fs::read_to_string(f).unwrap_or_default(),
            None => self.log.lock().unwrap().clone(),
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Waits for the process to exit; its code and everything it logged.
    pub fn wait(mut self, limit: Duration) -> (i32, String) {
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader thread take the last lines.
                thread::sleep(Duration::from_millis(50));
                return (status.code().unwrap_or(-1), self.log());
            }
            assert!(
                Instant::now() < until,
                "the daemon did not exit: {}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The route tables of `ec2sim::scenario()`.
pub const TABLES: [&str; 3] = ["rtb-0a1b2c3d", "rtb-1a2b3c4d", "rtb-2a2b3c4d"];

/// Calls the daemon's API; the JSON answer (or the text, if not JSON).
pub fn call(d: &Daemon, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(d.url(path));
    let mut resp = match body {
        Some(b) => agent.run(req.body(b.to_string()).unwrap()),
        None => agent.run(req.body(()).unwrap()),
    }
    .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

/// Waits (up to 10 s) until every table routes `cidr` to `eni` (None:
/// no route). Convergence is asynchronous; this only bounds the wait.
pub fn converge(sim: &ec2sim::Ec2Sim, cidr: &str, eni: Option<&str>) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if TABLES
            .iter()
            .all(|t| sim.route_target(t, cidr).as_deref() == eni)
        {
            return;
        }
        assert!(
            Instant::now() < until,
            "{cidr} did not converge to {eni:?}: {:?}",
            TABLES
                .iter()
                .map(|t| sim.route_target(t, cidr))
                .collect::<Vec<_>>()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `GET /status` (up to 10 s) until `done` holds for it, and
/// returns that status document.
pub fn wait_for_status(d: &Daemon, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, st) = call(d, "GET", "/status", None);
        assert_eq!(s, 200, "{st:#}");
        if done(&st) {
            return st;
        }
        assert!(Instant::now() < until, "{st:#}");
        thread::sleep(Duration::from_millis(50));
    }
}

pub fn wait_for_log(d: &Daemon, needle: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    while !d.log().contains(needle) {
        assert!(
            Instant::now() < until,
            "no {needle:?} in the log:\n{}",
            d.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `done` every half millisecond until it holds; panics after
/// `limit` naming `what`. For benches, which time what they wait for.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        thread::sleep(Duration::from_micros(500));
    }
}

/// Prints the median and max of `ms` (a bench's figures).
pub fn summary(what: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{what}: median {:.0} ms, max {:.0} ms over {} runs",
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ms.len()
    );
}

/// The `r`th /24 of 10.100.0.0/14, for benches that need many CIDRs.
pub fn numbered_cidr(r: usize) -> String {
    format!("10.{}.{}.0/24", 100 + r / 256, r % 256)
}

/// CPU time (user + system) and peak RSS (KiB) of the waited-for
/// children: what a bench reports of the binary it ran.
pub fn children_usage() -> (Duration, u64) {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(u.ru_utime) + tv(u.ru_stime), u.ru_maxrss as u64)
}
