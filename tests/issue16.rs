//! Issue 16, end to end: where real EC2 (and the AWS SDKs) differ from what
//! the other tests' fixtures showed. The real binary against mock EC2, STS
//! and IMDS endpoints and a CONNECT proxy, all on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use httpmock::prelude::*;
use httpmock::{Mock, MockServer};
use vpc_router::aws::{Clock, Credentials, CredentialsError, CredentialsProvider, Secret};
use vpc_router::ec2::client::{ClientSettings, HttpEc2};
use vpc_router::ec2::{Ec2, Ec2Error, RouteTable};
use vpc_router::retry::{Jitter, Retrier, RetryPolicy};

/// EC2 with one table holding VPC Route Server routes (and a gateway that
/// names its interface, and an ODB network), plus both routers.
fn route_server_vpc() -> MockServer {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST)
            .path("/")
            .x_www_form_urlencoded_tuple("Action", "DescribeRouteTables");
        then.status(200)
            .body(fixture("describe-route-tables-route-server.xml"));
    });
    mock_interfaces(&server);
    server
}

/// Every mutating call, counted (and refused, should one be made).
fn mutations(server: &MockServer) -> Vec<Mock<'_>> {
    ["CreateRoute", "ReplaceRoute", "DeleteRoute"]
        .iter()
        .map(|a| {
            server.mock(|when, then| {
                when.method(POST)
                    .path("/")
                    .x_www_form_urlencoded_tuple("Action", *a);
                then.status(400).body(fixture("error-auth-failure.xml"));
            })
        })
        .collect()
}

fn assert_no_mutation(mocks: &[Mock<'_>]) {
    for m in mocks {
        assert_eq!(m.hits(), 0, "a mutating call was made");
    }
}

// Item 1: `del --dry-run` said "would delete" and `add` "would replace" a
// route VPC Route Server installed; `plan --prune` planned its deletion.
#[test]
fn route_server_routes_are_refused_by_every_command() {
    let ec2 = route_server_vpc();
    let none = mutations(&ec2);
    for cidr in ["10.88.0.0/16", "10.89.0.0/16"] {
        let r = run(&ec2.base_url(), &["-c", "del", "--CIDR", cidr, "--dry-run"]);
        assert_eq!(r.code, 5, "{cidr}: {}{}", r.stdout, r.stderr);
        assert_contains!(
            r.stdout,
            "refused: the route was installed by VPC Route Server (origin Advertisement)"
        );
        let r = run(
            &ec2.base_url(),
            &["-c", "add", "--CIDR", cidr, "--ip", A_IP, "--dry-run"],
        );
        assert_eq!(r.code, 5, "{cidr}: {}{}", r.stdout, r.stderr);
    }
    // A gateway that names its interface is the gateway's route.
    let r = run(&ec2.base_url(), &["-c", "del", "--CIDR", "10.90.0.0/16"]);
    assert_eq!(r.code, 5, "{}", r.stdout);
    assert_contains!(r.stdout, "the route targets nat-0123456789abcdef0");
    let r = run(&ec2.base_url(), &["-c", "del", "--CIDR", "10.91.0.0/16"]);
    assert_eq!(r.code, 5, "{}", r.stdout);
    assert_contains!(r.stdout, "the route targets arn:aws:odb:");
    // Shown as what it is: filtered, not active.
    let r = run(
        &ec2.base_url(),
        &["-c", "show", "--CIDR", "10.89.0.0/16", "-o", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let route = &v["route_tables"][0]["route"];
    assert_eq!(route["state"], "filtered");
    assert_eq!(route["origin"], "Advertisement");

    let spec = temp_dir("issue16-prune").join("spec.json");
    std::fs::write(&spec, format!(r#"{{"10.55.0.0/16": ["{A_IP}"]}}"#)).unwrap();
    let r = run(
        &ec2.base_url(),
        &["plan", "--prune", "-f", spec.to_str().unwrap()],
    );
    assert_eq!(
        r.code, 0,
        "in sync, nothing to prune: {}{}",
        r.stdout, r.stderr
    );
    assert_not_contains!(r.stdout, "10.88.0.0/16");
    assert_no_mutation(&none);
}

/// Long-term keys, as from the environment.
struct Keys;

impl CredentialsProvider for Keys {
    fn credentials(&self, _now: SystemTime) -> Result<Credentials, CredentialsError> {
        Ok(Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new(SECRET),
            session_token: None,
            expires: None,
            source: "test".into(),
        })
    }
}

/// 2026-11-25T12:34:56Z.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_610_096)
}

/// Our client against `url` on a manual clock (its sleeps move the clock,
/// nothing waits), the jitter fixed at one half.
fn client_on(url: &str, clock: &Clock) -> HttpEc2 {
    capture_library_log();
    let settings = ClientSettings {
        endpoint: url.to_string(),
        region: "us-east-1".parse().unwrap(),
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(30),
        retry: RetryPolicy::default(),
        proxy: None,
        tls: None,
    };
    let retrier = Retrier::new(RetryPolicy::default(), clock).with_jitter(Jitter::constant(0.5));
    HttpEc2::new(settings, Arc::new(Keys), clock.clone()).with_retrier(retrier)
}

/// An EC2 that throttles every call, with `x-amz-retry-after` if given.
fn throttling(retry_after: Option<&'static str>) -> http::Server {
    http::Server::start(move |_| {
        let r = http::Response::new(503, fixture("error-request-limit-exceeded.xml"));
        match retry_after {
            Some(v) => r.header("x-amz-retry-after", v),
            None => r,
        }
    })
}

fn describe(ec2: &HttpEc2) -> Result<Vec<RouteTable>, Ec2Error> {
    ec2.describe_route_tables(&VPC.parse().unwrap(), &[])
}

// Item 2: against RequestLimitExceeded vpc-router made its 5 attempts in
// 0.61 s, boto3 in 8.1 s. Now the SDKs' backoff: 1 s base for throttling,
// doubling, full jitter (here always one half: 0.5 + 1 + 2 + 4 s).
#[test]
fn a_throttling_endpoint_is_backed_off_from_one_second() {
    let server = throttling(None);
    let (clock, hand) = Clock::manual(t0());
    let ec2 = client_on(&server.url(), &clock);
    let e = describe(&ec2).unwrap_err();
    assert_eq!(e.code(), Some("RequestLimitExceeded"));
    assert_eq!(server.requests().len(), 5);
    assert_eq!(hand.elapsed(), Duration::from_millis(7500));
    // Each attempt is signed at its own time: the waits are between them.
    let dates: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.header("x-amz-date").unwrap().to_string())
        .collect();
    assert_eq!(
        dates,
        [
            "20261125T123456Z",
            "20261125T123456Z",
            "20261125T123457Z",
            "20261125T123459Z",
            "20261125T123503Z"
        ]
    );
}

#[test]
fn x_amz_retry_after_is_honoured_within_five_seconds() {
    let server = throttling(Some("3000"));
    let (clock, hand) = Clock::manual(t0());
    let e = describe(&client_on(&server.url(), &clock)).unwrap_err();
    assert_eq!(e.code(), Some("RequestLimitExceeded"));
    // 3 s each time: longer than the first backoffs (0.5, 1, 2 s), and
    // the 4 s one is longer still.
    assert_eq!(
        hand.elapsed(),
        Duration::from_millis(3000 + 3000 + 3000 + 4000)
    );
}

// A failover must not sleep 20 s on a throttled table: its calls (made on
// the failover pool's threads) wait at most 1 s, x-amz-retry-after or not,
// and make at most 3 attempts; the pass after the failover retries.
#[test]
fn a_failovers_call_gives_up_within_two_seconds() {
    let server = throttling(Some("15000"));
    let (clock, hand) = Clock::manual(t0());
    let ec2 = client_on(&server.url(), &clock);
    let e = std::thread::Builder::new()
        .name(format!("{}0", vpc_router::retry::URGENT_THREAD_PREFIX))
        .spawn(move || describe(&ec2).unwrap_err())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(e.code(), Some("RequestLimitExceeded"));
    assert_eq!(server.requests().len(), 3);
    // Half of min(1 s, 1 s) and half of min(2 s, 1 s).
    assert_eq!(hand.elapsed(), Duration::from_millis(500 + 500));
}

#[test]
fn the_retry_quota_is_shared_and_stops_retries_when_spent() {
    let server = http::Server::start(|_| http::Response::new(500, fixture("error-internal.xml")));
    let (clock, _hand) = Clock::manual(t0());
    let retrier = Retrier::new(RetryPolicy::default(), &clock);
    let ec2 = client_on(&server.url(), &clock).with_retrier(retrier.clone());
    // 500 tokens, 14 per retry of a server error: 35 retries in all.
    for _ in 0..9 {
        describe(&ec2).unwrap_err();
    }
    assert_eq!(
        server.requests().len(),
        9 * 5 - 1,
        "the 36th retry was not made"
    );
    assert_eq!(retrier.quota().available(), 500 - 35 * 14);
}

// Item 4: one IDPCommunicationError from STS failed the first credential
// fetch (exit 3). Now STS is retried like EC2, and that code is retryable.
#[test]
fn sts_answering_idp_communication_error_once_is_retried() {
    let sts = Scripted::start(vec![
        (400, fixture("sts-error-idp-communication.xml")),
        (200, fixture("sts-assume-role-with-web-identity.xml")),
    ]);
    let ec2 = MockServer::start();
    let signed = ec2.mock(|when, then| {
        when.method(POST)
            .path("/")
            .x_www_form_urlencoded_tuple("Action", "DescribeRouteTables")
            .header("x-amz-security-token", "sts-session-token-example");
        then.status(200).body(fixture("describe-route-tables.xml"));
    });
    let token = temp_dir("issue16-irsa").join("token");
    std::fs::write(&token, "eyJ.k8s.token").unwrap();
    let mut c = std::process::Command::new(BIN);
    c.env_clear()
        .env("HOME", temp_dir("issue16-irsa-home"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/vpc-router")
        .env("AWS_ENDPOINT_URL_STS", &sts.url);
    let r = run_with(
        c,
        &ec2.base_url(),
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(sts.actions(), ["AssumeRoleWithWebIdentity"; 2]);
    assert_contains!(
        r.stderr,
        "STS AssumeRoleWithWebIdentity attempt 1 of 5 failed (IDPCommunicationError); retrying in"
    );
    signed.assert_hits(1);

    // A token STS refuses is not retried.
    let sts = Scripted::start(vec![
        (400, fixture("sts-error-invalid-identity-token.xml")),
        (200, fixture("sts-assume-role-with-web-identity.xml")),
    ]);
    let mut c = std::process::Command::new(BIN);
    c.env_clear()
        .env("HOME", temp_dir("issue16-irsa-home"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/vpc-router")
        .env("AWS_ENDPOINT_URL_STS", &sts.url);
    let r = run_with(
        c,
        &ec2.base_url(),
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(sts.actions().len(), 1);
    assert_contains!(r.stderr, "InvalidIdentityToken");
}

/// An EC2 whose clock is an hour ahead of the test's manual one: the first
/// request is refused with `answer` (and that Date), the rest answered.
fn skewed(answer: (u16, &'static str)) -> http::Server {
    let n = std::sync::atomic::AtomicUsize::new(0);
    http::Server::start(move |_| {
        let server_now = vpc_router::timefmt::http_date(t0() + Duration::from_secs(3600));
        let first = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        let r = if first {
            http::Response::new(answer.0, fixture(answer.1))
        } else {
            http::Response::new(200, fixture("describe-route-tables.xml"))
        };
        r.header("date", &server_now)
    })
}

fn signed_dates(server: &http::Server) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| r.header("x-amz-date").unwrap().to_string())
        .collect()
}

// Item 5: a router whose clock drifted failed every call with only a hint.
// Now the offset comes from the answer's Date; the call is sent again at
// once with EC2's time, and later calls keep it.
#[test]
fn a_skewed_clock_is_corrected_from_the_date_header() {
    for refusal in [
        (400, "error-request-expired.xml"),
        (401, "error-auth-failure.xml"),
    ] {
        let server = skewed(refusal);
        let (clock, hand) = Clock::manual(t0());
        let ec2 = client_on(&server.url(), &clock);
        assert_eq!(describe(&ec2).unwrap().len(), 3, "{refusal:?}");
        describe(&ec2).unwrap();
        assert_eq!(
            signed_dates(&server),
            ["20261125T123456Z", "20261125T133456Z", "20261125T133456Z"],
            "{refusal:?}"
        );
        assert_eq!(hand.elapsed(), Duration::ZERO, "no backoff: {refusal:?}");
    }
}

#[test]
fn a_refusal_the_clock_does_not_explain_is_not_sent_again() {
    // The Date agrees with our clock: AuthFailure means the keys.
    let server = http::Server::start(|_| {
        http::Response::new(401, fixture("error-auth-failure.xml"))
            .header("date", &vpc_router::timefmt::http_date(t0()))
    });
    let (clock, _) = Clock::manual(t0());
    let e = describe(&client_on(&server.url(), &clock)).unwrap_err();
    assert_eq!(e.code(), Some("AuthFailure"));
    assert_eq!(server.requests().len(), 1);
    // Skewed, but the refusal is not about time.
    let server = http::Server::start(|_| {
        http::Response::new(403, fixture("error-unauthorized.xml")).header(
            "date",
            &vpc_router::timefmt::http_date(t0() + Duration::from_secs(3600)),
        )
    });
    let (clock, _) = Clock::manual(t0());
    describe(&client_on(&server.url(), &clock)).unwrap_err();
    assert_eq!(server.requests().len(), 1);
    // A clock that stays wrong (EC2 keeps refusing) is corrected once per
    // call, not in a loop.
    let server = http::Server::start(|_| {
        http::Response::new(400, fixture("error-request-expired.xml")).header(
            "date",
            &vpc_router::timefmt::http_date(t0() + Duration::from_secs(3600)),
        )
    });
    let (clock, _) = Clock::manual(t0());
    let e = describe(&client_on(&server.url(), &clock)).unwrap_err();
    assert_eq!(e.code(), Some("RequestExpired"));
    assert_eq!(server.requests().len(), 2);
}

/// An HTTP proxy on 127.0.0.1 that writes down each request line (for an
/// https URL, `CONNECT host:443 HTTP/1.1`) and refuses it: nothing leaves
/// the loopback interface.
struct Proxy {
    url: String,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

fn proxy() -> Proxy {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = lines.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            seen.lock().unwrap().push(line.trim_end().to_string());
            // The rest of the head, then a refusal.
            let mut rest = String::new();
            while reader.read_line(&mut rest).is_ok_and(|n| n > 2) {
                rest.clear();
            }
            let _ = conn.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        }
    });
    Proxy { url, lines }
}

/// The binary with keys, one attempt per call, through `proxy`, with
/// `env` on top; `show` in `region`, with no endpoint URL.
fn through(proxy: &Proxy, region: &str, env: &[(&str, &str)]) -> Run {
    let mut c = command("issue16-proxy");
    c.env("AWS_MAX_ATTEMPTS", "1")
        .env("HTTPS_PROXY", &proxy.url);
    for (k, v) in env {
        c.env(k, v);
    }
    c.args([
        "-r",
        region,
        "-v",
        VPC,
        "-c",
        "show",
        "--CIDR",
        "10.55.0.0/16",
    ]);
    c.output().expect("run vpc-router").into()
}

fn last_line(proxy: &Proxy) -> String {
    proxy
        .lines
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap_or_default()
}

// Item 3: ISO and European sovereign regions got a *.amazonaws.com host that
// does not exist, and the FIPS and dual-stack settings were ignored. The
// host vpc-router asks the proxy for, per partition and variant.
#[test]
fn every_partition_and_variant_goes_to_its_host() {
    let p = proxy();
    let cases = [
        (
            "us-east-1",
            "amazonaws.com",
            "api.aws",
            "ec2-fips.us-east-1.amazonaws.com",
        ),
        (
            "cn-north-1",
            "amazonaws.com.cn",
            "api.amazonwebservices.com.cn",
            "ec2-fips.cn-north-1.amazonaws.com.cn",
        ),
        (
            "us-gov-west-1",
            "amazonaws.com",
            "api.aws",
            "ec2.us-gov-west-1.amazonaws.com",
        ),
        (
            "us-iso-east-1",
            "c2s.ic.gov",
            "api.aws.ic.gov",
            "ec2-fips.us-iso-east-1.c2s.ic.gov",
        ),
        (
            "us-isob-east-1",
            "sc2s.sgov.gov",
            "api.aws.scloud",
            "ec2-fips.us-isob-east-1.sc2s.sgov.gov",
        ),
        (
            "eu-isoe-west-1",
            "cloud.adc-e.uk",
            "api.cloud-aws.adc-e.uk",
            "ec2-fips.eu-isoe-west-1.cloud.adc-e.uk",
        ),
        (
            "us-isof-south-1",
            "csp.hci.ic.gov",
            "api.aws.hci.ic.gov",
            "ec2-fips.us-isof-south-1.csp.hci.ic.gov",
        ),
        (
            "eusc-de-east-1",
            "amazonaws.eu",
            "api.amazonwebservices.eu",
            "ec2-fips.eusc-de-east-1.amazonaws.eu",
        ),
    ];
    const FIPS: (&str, &str) = ("AWS_USE_FIPS_ENDPOINT", "true");
    const DUAL: (&str, &str) = ("AWS_USE_DUALSTACK_ENDPOINT", "true");
    for (region, dns, dual, fips) in cases {
        for (env, host) in [
            (&[][..], format!("ec2.{region}.{dns}")),
            (&[FIPS][..], fips.to_string()),
            (&[DUAL][..], format!("ec2.{region}.{dual}")),
            (&[FIPS, DUAL][..], format!("ec2-fips.{region}.{dual}")),
        ] {
            let r = through(&p, region, env);
            assert_eq!(r.code, 4, "{region} {env:?}: {}", r.stderr);
            assert_eq!(
                last_line(&p),
                format!("CONNECT {host}:443 HTTP/1.1"),
                "{env:?}"
            );
        }
    }
    // The profile's settings, when the environment says nothing.
    let config = temp_dir("issue16-profile").join("config");
    std::fs::write(&config, "[default]\nuse_dualstack_endpoint = true\n").unwrap();
    let r = through(
        &p,
        "eusc-de-east-1",
        &[("AWS_CONFIG_FILE", config.to_str().unwrap())],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(
        last_line(&p),
        "CONNECT ec2.eusc-de-east-1.api.amazonwebservices.eu:443 HTTP/1.1"
    );
}

#[test]
fn sts_goes_to_its_partitions_host_too() {
    let p = proxy();
    let token = temp_dir("issue16-sts-proxy").join("token");
    std::fs::write(&token, "eyJ.k8s.token").unwrap();
    for (region, fips, host) in [
        ("us-isob-east-1", false, "sts.us-isob-east-1.sc2s.sgov.gov"),
        (
            "eusc-de-east-1",
            true,
            "sts-fips.eusc-de-east-1.amazonaws.eu",
        ),
        ("us-gov-east-1", true, "sts.us-gov-east-1.amazonaws.com"),
        (
            "cn-northwest-1",
            false,
            "sts.cn-northwest-1.amazonaws.com.cn",
        ),
    ] {
        let mut c = std::process::Command::new(BIN);
        c.env_clear()
            .env("HOME", temp_dir("issue16-sts-home"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("HTTPS_PROXY", &p.url)
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
            .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/vpc-router")
            .env("AWS_USE_FIPS_ENDPOINT", if fips { "true" } else { "false" });
        c.args([
            "-r",
            region,
            "-v",
            VPC,
            "-c",
            "show",
            "--CIDR",
            "10.55.0.0/16",
        ]);
        let r: Run = c.output().unwrap().into();
        assert_eq!(r.code, 4, "{region}: {}", r.stderr);
        assert_contains!(r.stderr, "web identity");
        assert_eq!(last_line(&p), format!("CONNECT {host}:443 HTTP/1.1"));
    }
}

#[test]
fn what_has_no_known_host_is_refused_naming_endpoint_url() {
    let p = proxy();
    let r = through(&p, "xx-east-1", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "the region xx-east-1 is in no AWS partition vpc-router knows"
    );
    assert_contains!(r.stderr, "give it with --endpoint-url");
    let r = run_with(
        {
            let mut c = command("issue16-fips-url");
            c.env("AWS_USE_FIPS_ENDPOINT", "true");
            c
        },
        "http://127.0.0.1:9",
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "--endpoint-url and AWS_USE_FIPS_ENDPOINT=true cannot go together"
    );
    let r = through(&p, "us-east-1", &[("AWS_USE_DUALSTACK_ENDPOINT", "1")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "AWS_USE_DUALSTACK_ENDPOINT is '1'; it must be true or false"
    );
    assert!(p.lines.lock().unwrap().is_empty(), "nothing was sent");
}

// Item 6: an endpoint URL with a query string was signed differently from
// botocore; it is refused at start, naming where it came from.
#[test]
fn an_endpoint_url_with_a_query_string_is_refused() {
    let r = run(
        "http://127.0.0.1:9/?Action=DeleteRoute",
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(r.stderr, "--endpoint-url");
    assert_contains!(r.stderr, "has a query string or a fragment");
}

// Item 6: a router IP from a prefix delegated to an interface matched no
// interface, with a message that did not say why. It is refused, saying so.
#[test]
fn a_router_ip_from_a_delegated_prefix_is_refused_clearly() {
    let ec2 = MockServer::start();
    ec2.mock(|when, then| {
        when.method(POST)
            .path("/")
            .x_www_form_urlencoded_tuple("Action", "DescribeNetworkInterfaces");
        // EC2's address filter does not look into prefixes: nothing.
        then.status(200)
            .body(fixture("describe-network-interfaces-empty.xml"));
    });
    let none = mutations(&ec2);
    let r = run(
        &ec2.base_url(),
        &["-c", "add", "--CIDR", "10.55.0.0/16", "--ip", "10.33.40.20"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "no network interface in vpc-350d6a51 holds the IP 10.33.40.20"
    );
    assert_contains!(
        r.stderr,
        "An address from a prefix delegated to the interface (ipv4PrefixSet, ipv6PrefixSet) \
         is not supported: give the interface's primary IP instead"
    );
    assert_no_mutation(&none);
}
