//! `make bench`: one-shot CLI figures against a mock EC2 on 127.0.0.1.
//! Prints wall time (median and p90 of several runs) and the sampled peak
//! RSS of the process, for a small VPC and a large one (200 route tables of
//! 50 routes, in pages of 100), and `add` in 4 tables on the EC2 simulator
//! answering each call after 50 ms (its calls side by side: about 3 round
//! trips, not 6). Figures are printed, never asserted.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use httpmock::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_vpc-router");
const VPC: &str = "vpc-350d6a51";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A DescribeRouteTables page of `n` tables with `routes` instance routes each.
fn big_page(first: usize, n: usize, routes: usize, next: Option<&str>) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeRouteTablesResponse \
         xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>bench</requestId><routeTableSet>",
    );
    for t in first..first + n {
        let _ = write!(
            x,
            "<item><routeTableId>rtb-{t:08x}</routeTableId><vpcId>{VPC}</vpcId><routeSet>"
        );
        x.push_str("<item><destinationCidrBlock>10.33.0.0/16</destinationCidrBlock><gatewayId>local</gatewayId><state>active</state><origin>CreateRouteTable</origin></item>");
        for r in 0..routes {
            let _ = write!(
                x,
                "<item><destinationCidrBlock>10.{}.{}.0/24</destinationCidrBlock><instanceId>i-0aaaaaaaaaaaaaaa1</instanceId>\
                 <instanceOwnerId>123456789012</instanceOwnerId><networkInterfaceId>eni-0aaaaaaaaaaaaaaa1</networkInterfaceId>\
                 <state>active</state><origin>CreateRoute</origin></item>",
                100 + r / 256,
                r % 256
            );
        }
        x.push_str("</routeSet><associationSet/><tagSet/></item>");
    }
    x.push_str("</routeTableSet>");
    if let Some(token) = next {
        let _ = write!(x, "<nextToken>{token}</nextToken>");
    }
    x.push_str("</DescribeRouteTablesResponse>");
    x
}

/// Runs the binary `n` times; returns sorted wall times and the largest
/// sampled RSS (KiB).
fn measure(endpoint: &str, args: &[&str], n: usize, want_code: i32) -> (Vec<Duration>, u64) {
    measure_with(endpoint, args, n, want_code, &|| {})
}

/// [`measure`], calling `reset` after every run.
fn measure_with(
    endpoint: &str,
    args: &[&str],
    n: usize,
    want_code: i32,
    reset: &dyn Fn(),
) -> (Vec<Duration>, u64) {
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..n {
        let start = Instant::now();
        let mut child = Command::new(BIN)
            .env_clear()
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["-r", "us-east-1", "-v", VPC, "--endpoint-url", endpoint])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let status_path = format!("/proc/{}/status", child.id());
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            // VmHWM is the high-water mark so far; the last sample before
            // exit is close to the peak.
            if let Ok(s) = std::fs::read_to_string(&status_path) {
                if let Some(kb) = s
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                {
                    peak = peak.max(kb.parse().unwrap_or(0));
                }
            }
            std::thread::sleep(Duration::from_micros(500));
        };
        times.push(start.elapsed());
        assert_eq!(status.code(), Some(want_code), "{args:?}");
        reset();
    }
    times.sort();
    (times, peak)
}

fn report(name: &str, (times, peak): (Vec<Duration>, u64)) {
    let p = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    println!(
        "{name:<52} median {:>7.1} ms   p90 {:>7.1} ms   peak RSS ~{peak} KiB",
        p(0.5),
        p(0.9)
    );
}

/// `add` of a new CIDR in 4 tables with every EC2 call answered after
/// `delay`: 2 describes and 4 CreateRoutes. The route is removed again
/// between runs, so that every run makes all 6 calls.
fn add_in_four_tables(delay: Duration, n: usize) -> (Vec<Duration>, u64) {
    let sim = common::ec2sim::scenario();
    sim.add_table("rtb-3a2b3c4d", VPC, false);
    sim.add_gateway_route("rtb-3a2b3c4d", "10.33.0.0/16", "local");
    sim.set_delay(delay);
    let tables = [
        "rtb-0a1b2c3d",
        "rtb-1a2b3c4d",
        "rtb-2a2b3c4d",
        "rtb-3a2b3c4d",
    ];
    measure_with(
        &sim.url(),
        &[
            "-c",
            "add",
            "--CIDR",
            "10.88.0.0/16",
            "--ip",
            "10.33.20.142",
        ],
        n,
        0,
        &|| {
            for t in tables {
                assert!(sim.remove_route(t, "10.88.0.0/16"));
            }
        },
    )
}

fn main() {
    let size = std::fs::metadata(BIN).map(|m| m.len()).unwrap_or(0);
    println!(
        "binary: {BIN} ({} KiB; `make static` builds and sizes the static one)",
        size / 1024
    );

    let small = MockServer::start();
    small.mock(|when, then| {
        when.method(POST)
            .x_www_form_urlencoded_tuple("Action", "DescribeRouteTables");
        then.status(200).body(fixture("describe-route-tables.xml"));
    });
    small.mock(|when, then| {
        when.method(POST)
            .x_www_form_urlencoded_tuple("Action", "DescribeNetworkInterfaces");
        then.status(200)
            .body(fixture("describe-network-interfaces-a.xml"));
    });
    let url = small.base_url();
    report(
        "show, 3 tables",
        measure(&url, &["-c", "show", "--CIDR", "10.55.0.0/16"], 30, 1),
    );
    report(
        "add (already right, no mutating call), 1 table",
        measure(
            &url,
            &[
                "-c",
                "add",
                "--CIDR",
                "10.55.0.0/16",
                "--ip",
                "10.33.20.142",
                "--route-table",
                "rtb-0a1b2c3d",
            ],
            30,
            0,
        ),
    );

    report(
        "add, 4 tables, 50 ms per EC2 call (6 calls)",
        add_in_four_tables(Duration::from_millis(50), 20),
    );

    let big = MockServer::start();
    for page in 0..2 {
        let next = (page == 0).then_some("page2");
        let body = big_page(page * 100, 100, 50, next);
        big.mock(|when, then| {
            let w = when
                .method(POST)
                .x_www_form_urlencoded_tuple("Action", "DescribeRouteTables");
            if page == 0 {
                w.matches(|r| {
                    !String::from_utf8_lossy(r.body.as_deref().unwrap_or_default())
                        .contains("NextToken")
                });
            } else {
                w.x_www_form_urlencoded_tuple("NextToken", "page2");
            }
            then.status(200).body(body);
        });
    }
    report(
        "show, 200 tables x 51 routes (2 pages, ~2 MB of XML)",
        measure(
            &big.base_url(),
            &["-c", "show", "--CIDR", "10.100.7.0/24"],
            10,
            0,
        ),
    );
}
