//! Coming from vpc-router 1.x (the Python tool): each of its command-line
//! spellings parses to the same `Config` as ours and is noted on stderr
//! with ours; its spec files and `POST /route_spec` bodies are taken as
//! they are; `-m configfile` without `-d`, `-m fixedconf` and 1.x's
//! health-check flags run a real daemon against the EC2 simulator.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::ec2sim::scenario;
use common::*;
use vpc_router::cli::{self, Command, Config, SpecSource};

fn parse(line: &str) -> (Result<Config, String>, Vec<String>) {
    let (c, notices) = cli::parse_noting(line.split_whitespace());
    (c.map_err(|e| e.to_string()), notices)
}

const PREFIX: &str = "-r us-east-1 -v vpc-350d6a51";

/// Each 1.x command line, the same in our spelling, and the notices the
/// 1.x one gets (in order).
#[test]
fn every_1x_spelling_means_what_ours_does_and_is_noted() {
    let d = "-d -m http --state-dir /s";
    let cases: &[(&str, &str, &[&str])] = &[
        // 1.x had no -d: -m ran the daemon.
        (
            "-m configfile -f spec.conf --state-dir /s",
            "-d -m configfile -f spec.conf --state-dir /s",
            &["-m without -d is the 1.x spelling; use -d -m configfile"],
        ),
        (
            "-m http --state-dir /s -a 127.0.0.1 -p 8080",
            "-d -m http --state-dir /s -a 127.0.0.1 -p 8080",
            &["-m without -d is the 1.x spelling; use -d -m http"],
        ),
        (
            "--route_recheck_interval 10",
            "--route-recheck-interval 10",
            &["--route_recheck_interval is the 1.x spelling; use --route-recheck-interval"],
        ),
        (
            "--route_recheck_interval 0",
            "--route-recheck-interval 0",
            &["--route_recheck_interval is the 1.x spelling; use --route-recheck-interval"],
        ),
        // 1.x took IPs as well as CIDRs; an IP is its host route.
        (
            "--prune --ignore_routes 10.1.1.1,10.2.0.0/16,fd00::1",
            "--prune --ignore-routes 10.1.1.1/32,10.2.0.0/16,fd00::1/128",
            &["--ignore_routes is the 1.x spelling; use --ignore-routes (with --prune, which 1.x always did)"],
        ),
        (
            "-H tcp",
            "--health tcp",
            &["-H is the 1.x spelling; use --health"],
        ),
        (
            "--health icmpecho",
            "--health icmp",
            &["--health icmpecho is the 1.x spelling; use --health icmp"],
        ),
        (
            "-H icmpecho",
            "--health icmp",
            &[
                "-H is the 1.x spelling; use --health",
                "--health icmpecho is the 1.x spelling; use --health icmp",
            ],
        ),
        (
            "--health always",
            "--health none",
            &["--health always is the 1.x spelling; use --health none"],
        ),
        (
            "--health tcp --tcp_check_port 2201",
            "--health tcp --tcp-check-port 2201",
            &["--tcp_check_port is the 1.x spelling; use --tcp-check-port"],
        ),
        // Seconds in 1.x, seconds here: the value is taken as it is.
        (
            "--health tcp --tcp_check_interval 5",
            "--health tcp --check-interval 5",
            &["--tcp_check_interval is the 1.x spelling; use --check-interval (with --health tcp)"],
        ),
        (
            "--health icmpecho --icmp_check_interval 2.5",
            "--health icmp --check-interval 2.5",
            &[
                "--icmp_check_interval is the 1.x spelling; use --check-interval (with --health icmp)",
                "--health icmpecho is the 1.x spelling; use --health icmp",
            ],
        ),
        // icmpecho was 1.x's default monitor.
        (
            "--icmp_check_interval 3",
            "--health icmp --check-interval 3",
            &["--icmp_check_interval is the 1.x spelling; use --check-interval (with --health icmp)"],
        ),
        (
            "--health multi --multi_plugins icmpecho:tcp --icmp_check_interval 2 \
             --tcp_check_interval 2 --tcp_check_port 80",
            "--health multi --multi-plugins icmp:tcp --check-interval 2 --tcp-check-port 80",
            &[
                "--multi_plugins is the 1.x spelling; use --multi-plugins",
                "--icmp_check_interval is the 1.x spelling; use --check-interval (with --health icmp)",
                "--tcp_check_interval is the 1.x spelling; use --check-interval (with --health tcp)",
                "--tcp_check_port is the 1.x spelling; use --tcp-check-port",
                "--multi-plugins icmpecho is the 1.x spelling; use icmp",
            ],
        ),
        // Spelt the same in 1.x: no notice.
        ("-l - --verbose", "-l - --verbose", &[]),
        ("-f s.json", "-f s.json", &[]),
    ];
    for (old, ours, want) in cases {
        // Daemon options go on a -d -m http line unless they start one.
        let (old, ours) = if old.starts_with("-m ") {
            (format!("{PREFIX} {old}"), format!("{PREFIX} {ours}"))
        } else if old.starts_with("-f") {
            (
                format!("{PREFIX} -d -m configfile --state-dir /s {old}"),
                format!("{PREFIX} -d -m configfile --state-dir /s {ours}"),
            )
        } else {
            (
                format!("{PREFIX} {d} {old}"),
                format!("{PREFIX} {d} {ours}"),
            )
        };
        let (got, notices) = parse(&old);
        let (expected, none) = parse(&ours);
        assert_eq!(none, Vec::<String>::new(), "{ours}: our spelling is noted");
        let expected = expected.unwrap_or_else(|e| panic!("{ours}: {e}"));
        assert_eq!(got, Ok(expected), "{old}");
        assert_eq!(&notices, want, "{old}");
    }
    // 1.x's one-shot commands (its first README) are ours unchanged.
    for line in [
        "-c add --CIDR 10.55.0.0/16 --ip 10.33.20.142",
        "-c show --CIDR 10.55.0.0/16",
        "-c del --CIDR 10.55.0.0/16",
        "-d -p 33289 -a localhost",
    ] {
        let (got, notices) = parse(&format!("{PREFIX} {line}"));
        assert!(
            got.is_ok() && notices.is_empty(),
            "{line}: {got:?} {notices:?}"
        );
    }
}

/// `-m fixedconf`: the one route given on the command line is a spec, the
/// same as a configfile holding it.
#[test]
fn fixedconf_is_a_spec_of_one_route() {
    let line = format!(
        "{PREFIX} -m fixedconf --fixed_cidr 10.55.0.0/16 --fixed_hosts 10.33.20.142:10.33.30.22 \
         --state-dir /s"
    );
    let (got, notices) = parse(&line);
    assert_eq!(
        notices,
        [
            r#"-m fixedconf is the 1.x spelling; use -d -m configfile -f SPEC, SPEC holding {"10.55.0.0/16":["10.33.20.142","10.33.30.22"]}"#
        ]
    );
    let spec =
        vpc_router::spec::parse(br#"{"10.55.0.0/16": ["10.33.20.142", "10.33.30.22"]}"#).unwrap();
    let mut expected = parse(&format!("{PREFIX} -d -m configfile -f s --state-dir /s"))
        .0
        .unwrap();
    let Command::Daemon(d) = &mut expected.command else {
        panic!()
    };
    d.spec.as_mut().unwrap().source = SpecSource::Fixed(spec);
    assert_eq!(got, Ok(expected));
    // With commas, IPv6 routers too.
    let (got, _) = parse(&format!(
        "{PREFIX} -d -m fixedconf --fixed_cidr 2001:db8::/56 --fixed_hosts fd00::1,fd00::2 \
         --state-dir /s"
    ));
    let Command::Daemon(d) = got.unwrap().command else {
        panic!()
    };
    let SpecSource::Fixed(spec) = d.spec.unwrap().source else {
        panic!()
    };
    assert_eq!(spec.ips().len(), 2);
}

#[test]
fn what_1x_did_not_mean_is_refused_saying_what_to_use() {
    let d = "-d -m http --state-dir /s";
    let cases = [
        (
            format!("{d} --health tcp --icmp_check_interval 2"),
            "--icmp_check_interval: 1.x's interval of its icmpecho monitor, but --health is tcp; \
             give --check-interval for the tcp checks",
        ),
        (
            format!("{d} --health multi --multi_plugins icmpecho --tcp_check_interval 2"),
            "--tcp_check_interval: 1.x's interval of its tcp monitor, but --health is multi",
        ),
        (
            format!("{d} --health multi --multi_plugins icmpecho:tcp --icmp_check_interval 2 --tcp_check_interval 5"),
            "--tcp_check_interval: '5' differs from the '2' given before: both are --check-interval in vpc-router, one value; give it once",
        ),
        // 1.x's tcp options needed -H tcp there too.
        (
            format!("{d} --tcp_check_port 22"),
            "--tcp-check-port: needs health checks; give --health tcp, icmp or multi as well",
        ),
        // 1.x always deleted routes outside the spec; here --prune does.
        (
            format!("{d} --ignore_routes 10.1.1.1"),
            "--ignore-routes: only protects ranges from --prune; give --prune too",
        ),
        (
            "-m fixedconf --fixed_cidr 10.55.0.0/16 --state-dir /s".to_string(),
            "--fixed_hosts: missing; -m fixedconf needs the routers, e.g. --fixed_hosts 10.33.20.142:10.33.30.22",
        ),
        (
            "-m fixedconf --fixed_cidr 10.55.0.0/16 --fixed_hosts 10.1.1.1:10.1.1.1 --state-dir /s".to_string(),
            "--fixed_hosts: router 10.1.1.1 is listed twice",
        ),
        (
            "-m fixedconf --fixed_cidr 10.55.1.0/16 --fixed_hosts 10.1.1.1 --state-dir /s".to_string(),
            "--fixed_cidr: 10.55.1.0/16 has host bits set; did you mean 10.55.0.0/16?",
        ),
        (
            format!("{d} --fixed_cidr 10.55.0.0/16"),
            "--fixed_cidr: only goes with -d -m fixedconf",
        ),
        (
            "-m fixedconf --fixed_cidr 10.55.0.0/16 --fixed_hosts 10.1.1.1 -f s.json --state-dir /s".to_string(),
            "-f/--file: does not go with -m fixedconf, where the route is --fixed_cidr and --fixed_hosts",
        ),
        // 1.x's external plugins are not here.
        (
            "-m romana --state-dir /s".to_string(),
            "-m/--mode: unknown mode 'romana'; expected configfile, http, etcd or bgp",
        ),
    ];
    for (line, want) in cases {
        let (got, notices) = parse(&format!("{PREFIX} {line}"));
        let e = got.unwrap_err();
        assert!(e.starts_with(want), "{line}\n got: {e}\nwant: {want}");
        // The notices come even when the line fails (once it is read):
        // they say what to write.
        let noted = !line.contains(" --tcp_check_interval 5")
            && !line.contains("romana")
            && !line.starts_with(&format!("{d} --fixed_cidr"));
        assert_eq!(!notices.is_empty(), noted, "{line}: {notices:?}");
    }
    // A mistyped 1.x spelling suggests ours.
    let (got, _) = parse("-d -m http --state-dir /s --tcp_check_prot 22");
    assert!(got.unwrap_err().contains("did you mean --tcp-check-port?"),);
}

/// The binary prints each notice on stderr, one line each, before what
/// follows (here the error: 1.x kept no state dir).
#[test]
fn the_binary_prints_the_notices_on_stderr() {
    let r = run(
        "http://127.0.0.1:9",
        &["-m", "http", "-H", "tcp", "--tcp_check_port", "22"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "vpc-router: -H is the 1.x spelling; use --health",
            "vpc-router: --tcp_check_port is the 1.x spelling; use --tcp-check-port",
            "vpc-router: -m without -d is the 1.x spelling; use -d -m http",
            "vpc-router: --state-dir: missing; -m http needs a directory to remember which \
             routes vpc-router manages (and, with http, the spec), e.g. --state-dir \
             /var/lib/vpc-router",
        ],
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
}

/// A daemon started as 1.x started it (no -d), with its stderr.
struct Started {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Started {
    fn new(endpoint: &str, args: &[&str]) -> Started {
        let mut c = command("migration");
        c.args([
            "-r",
            "us-east-1",
            "-v",
            VPC,
            "--endpoint-url",
            endpoint,
            "-p",
            "0",
        ])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let text = log.lock().unwrap().clone();
            if let Some(rest) = text.split("listening on http://").nth(1) {
                let addr = rest.split(' ').next().unwrap().to_string();
                return Started { child, addr, log };
            }
            if Instant::now() > until || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                panic!("the daemon did not start: {text}");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent
            .get(format!("http://{}{path}", self.addr))
            .call()
            .unwrap();
        let text = r.body_mut().read_to_string().unwrap();
        (r.status().as_u16(), serde_json::from_str(&text).unwrap())
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 1.x's `vpcrouter -m configfile -f route_spec.conf`, with a spec file as
/// its README wrote them (and the state dir it did not need): the routes
/// are made, and the file's edits followed.
#[test]
fn a_1x_configfile_daemon_runs_as_it_did() {
    let sim = scenario();
    let dir = temp_dir("migration-configfile");
    let file = dir.join("route_spec.conf");
    let spec_1x = "{\n    \"10.60.16.0/24\" : [ \"10.33.20.142\" ],\n    \
                   \"10.66.17.0/24\" : [ \"10.33.30.22\", \"10.33.20.143\" ]\n}\n\n\n";
    std::fs::write(&file, spec_1x).unwrap();
    let state = dir.join("state");
    let d = Started::new(
        &sim.url(),
        &[
            "-m",
            "configfile",
            "-f",
            file.to_str().unwrap(),
            "--route_recheck_interval",
            "0",
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    converge(&sim, "10.60.16.0/24", Some(A_ENI));
    converge(&sim, "10.66.17.0/24", Some(B_ENI));
    let log = d.log.lock().unwrap().clone();
    let notices = [
        "vpc-router: --route_recheck_interval is the 1.x spelling; use --route-recheck-interval\n",
        "vpc-router: -m without -d is the 1.x spelling; use -d -m configfile\n",
    ]
    .concat();
    assert!(log.starts_with(&notices), "{log}");
    let (s, spec) = d.get("/route_spec");
    assert_eq!(s, 200);
    assert_eq!(
        spec,
        serde_json::json!({
            "10.60.16.0/24": ["10.33.20.142"],
            "10.66.17.0/24": ["10.33.30.22", "10.33.20.143"]
        })
    );
    let (s, st) = d.get("/status");
    assert_eq!(
        (s, &st["control"]["sources"]["file"]),
        (200, &serde_json::json!(2))
    );
    // An edit in 1.x's format is followed too.
    std::fs::write(&file, "{ \"10.60.16.0/24\" : [ \"10.33.30.22\" ] }\n").unwrap();
    converge(&sim, "10.60.16.0/24", Some(B_ENI));
    converge(&sim, "10.66.17.0/24", None);
}

/// 1.x's `-m http`: the spec POSTed to /route_spec, as its README did.
#[test]
fn a_1x_route_spec_post_is_taken() {
    let sim = scenario();
    let state = temp_dir("migration-http").join("state");
    let d = Daemon::start(
        &sim.url(),
        &["-m", "http", "--state-dir", state.to_str().unwrap()],
    );
    let body = r#"{"10.60.0.0/16" : [ "10.33.20.142" ], "10.66.17.0/24" : [ "10.33.20.93", "10.33.30.22" ]}"#;
    let (s, v) = call(&d, "POST", "/route_spec", Some(body));
    assert_eq!(s, 200, "{v:#}");
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    // 10.33.20.93 is held by no interface: the next router carries it.
    converge(&sim, "10.66.17.0/24", Some(B_ENI));
    let (s, spec) = call(&d, "GET", "/route_spec", None);
    assert_eq!((s, spec), (200, serde_json::from_str(body).unwrap()));
    // One route where a spec belongs is named as such.
    let (s, v) = call(
        &d,
        "POST",
        "/route_spec",
        Some(r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20.142"}"#),
    );
    assert_eq!(s, 400, "{v:#}");
    assert_contains!(
        v["error"]["message"].as_str().unwrap(),
        "this is one route (dst_cidr, router_ip: the body of POST /route), not a route spec"
    );
}

/// `-m fixedconf` in the daemon: the route is made, and the API says
/// where the spec comes from.
#[test]
fn a_fixedconf_daemon_keeps_its_one_route() {
    let sim = scenario();
    let state = temp_dir("migration-fixed").join("state");
    let d = Daemon::start(
        &sim.url(),
        &[
            "-m",
            "fixedconf",
            "--fixed_cidr",
            "10.60.0.0/16",
            "--fixed_hosts",
            &format!("{B_IP}:{A_IP}"),
            "--state-dir",
            state.to_str().unwrap(),
            "--route_recheck_interval",
            "0",
        ],
    );
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
    assert_contains!(d.log(), "-m fixedconf is the 1.x spelling");
    assert_contains!(d.log(), "spec from the command line (-m fixedconf)");
    let (s, spec) = call(&d, "GET", "/route_spec", None);
    assert_eq!(s, 200);
    assert_eq!(spec, serde_json::json!({"10.60.0.0/16": [B_IP, A_IP]}));
    let st = wait_for_status(&d, |st| st["control"]["sources"]["fixed"] == 1);
    assert_eq!(
        st["reconcile"]["managed"],
        serde_json::json!(["10.60.0.0/16"])
    );
    let (s, v) = call(
        &d,
        "POST",
        "/route",
        Some(r#"{"dst_cidr": "10.61.0.0/16", "router_ip": "10.33.20.142"}"#),
    );
    assert_eq!(s, 409, "{v:#}");
    assert_contains!(
        v["error"]["message"].as_str().unwrap(),
        "the spec comes from the command line (-m fixedconf)"
    );
    assert_eq!(call(&d, "POST", "/route_spec", Some("{}")).0, 409);
    converge(&sim, "10.60.0.0/16", Some(B_ENI));
}

/// 1.x's failover, spelt as 1.x spelt it: `-m fixedconf` with two
/// routers, `-H tcp --tcp_check_port P --tcp_check_interval S`. The
/// routers are loopback addresses with listeners on P; closing one is
/// the router dying, and the route moves to the other.
#[test]
fn a_fixedconf_daemon_fails_over_with_1x_health_flags() {
    let sim = scenario();
    let (a_eni, b_eni) = ("eni-0ddddddddddddddd4", "eni-0eeeeeeeeeeeeeee5");
    sim.add_eni(
        a_eni,
        &["127.0.0.2"],
        Some("i-0ddddddddddddddd4"),
        VPC,
        false,
    );
    sim.add_eni(
        b_eni,
        &["127.0.0.3"],
        Some("i-0eeeeeeeeeeeeeee5"),
        VPC,
        false,
    );
    // One port free on both addresses.
    let (a, b, port) = (0..50)
        .find_map(|_| {
            let a = TcpListener::bind(("127.0.0.2", 0)).ok()?;
            let port = a.local_addr().ok()?.port();
            let b = TcpListener::bind(("127.0.0.3", port)).ok()?;
            Some((a, b, port))
        })
        .expect("a port free on 127.0.0.2 and 127.0.0.3");
    let port = port.to_string();
    let state = temp_dir("migration-failover").join("state");
    let d = Daemon::start(
        &sim.url(),
        &[
            "-m",
            "fixedconf",
            "--fixed_cidr",
            "10.60.0.0/16",
            "--fixed_hosts",
            "127.0.0.2:127.0.0.3",
            "-H",
            "tcp",
            "--tcp_check_port",
            &port,
            "--tcp_check_interval",
            "0.1",
            "--state-dir",
            state.to_str().unwrap(),
            "--route_recheck_interval",
            "0",
        ],
    );
    converge(&sim, "10.60.0.0/16", Some(a_eni));
    wait_for_status(&d, |st| st["reconcile"]["last_pass"]["result"].is_string());
    drop(a);
    converge(&sim, "10.60.0.0/16", Some(b_eni));
    wait_for_log(&d, "router 127.0.0.2: healthy -> failed");
    drop(b);
}
