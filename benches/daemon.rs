//! `make bench`: daemon figures against a mock EC2 on 127.0.0.1. Prints
//! the idle daemon's RSS and threads, then requests/s and p50/p99 latency
//! of `GET /route` at 1 and 16 concurrent keep-alive clients (each request
//! makes one DescribeRouteTables call to the mock), and RSS after the load.
//! Figures are printed, never asserted.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::http::{Response, Server};
use common::{fixture, BIN, VPC};

/// A minimal keep-alive EC2 mock: answers DescribeRouteTables and
/// DescribeNetworkInterfaces with the fixtures, fast enough not to be what
/// is measured. It keeps no record of the many requests.
fn mock_ec2() -> Server {
    let tables = fixture("describe-route-tables.xml");
    let enis = fixture("describe-network-interfaces-a.xml");
    Server::start(move |req| {
        let answer = if req.text().contains("Action=DescribeNetworkInterfaces") {
            &enis
        } else {
            &tables
        };
        Response::new(200, answer.as_str()).header("Content-Type", "text/xml;charset=UTF-8")
    })
    .recording(false)
}

/// The binary measured: the build's own, or `BENCH_BIN` (`make bench`
/// runs this bench again with the static binary of `make static`).
fn bin() -> String {
    std::env::var("BENCH_BIN").unwrap_or_else(|_| BIN.to_string())
}

fn start_daemon(endpoint: &str) -> (Child, String) {
    let mut child = Command::new(bin())
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["-r", "us-east-1", "-v", VPC, "--endpoint-url", endpoint])
        .args(["-d", "-p", "0", "--workers", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(rest.split(' ').next().unwrap().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("daemon start");
    (child, addr)
}

fn proc_status(pid: u32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_string())
        .unwrap_or_default()
}

/// `clients` threads, each with its own keep-alive connection, sending
/// `GET /route` for `dur`. Returns the sorted latencies.
fn load(addr: &str, clients: usize, dur: Duration) -> Vec<Duration> {
    let url = format!("http://{addr}/route?dst_cidr=10.33.0.0/16");
    let until = Instant::now() + dur;
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let url = url.clone();
            thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut lat = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let mut resp = agent.get(&url).call().expect("GET /route");
                    let _ = resp.body_mut().read_to_vec();
                    assert_eq!(resp.status().as_u16(), 200);
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort();
    all
}

fn main() {
    let ec2 = mock_ec2();
    let (mut child, addr) = start_daemon(&ec2.url());
    let pid = child.id();
    thread::sleep(Duration::from_millis(500));
    if let Ok(other) = std::env::var("BENCH_BIN") {
        println!("daemon bench with {other}");
    }
    println!(
        "daemon idle: RSS {}, {} threads (4 workers, 4 relays, the gate's I/O thread, a status lane of 2 + 2)",
        proc_status(pid, "VmRSS:"),
        proc_status(pid, "Threads:")
    );
    // Warm up the connection pools on both sides.
    load(&addr, 4, Duration::from_millis(300));
    let dur = Duration::from_secs(3);
    for clients in [1, 16] {
        let lat = load(&addr, clients, dur);
        let p = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
        println!(
            "GET /route, {clients:>2} client(s): {:>7.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests, each one DescribeRouteTables to the mock)",
            lat.len() as f64 / dur.as_secs_f64(),
            p(0.5),
            p(0.99),
            lat.len()
        );
    }
    println!(
        "daemon after load: RSS {}, peak {}, {} threads",
        proc_status(pid, "VmRSS:"),
        proc_status(pid, "VmHWM:"),
        proc_status(pid, "Threads:")
    );
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
}
