//! End-to-end tests of the one-shot CLI: the real binary against a mock EC2
//! (httpmock on 127.0.0.1) that replays recorded EC2 responses from
//! `fixtures/`. Each test checks the output, the exit code, and exactly which
//! EC2 calls were made with which parameters.

mod common;

use common::*;
use httpmock::prelude::*;
use httpmock::{Mock, MockServer};
use serde_json::Value;

/// Whether the request body has no NextToken (the first page).
fn first_page(req: &httpmock::prelude::HttpMockRequest) -> bool {
    !String::from_utf8_lossy(req.body.as_deref().unwrap_or_default()).contains("NextToken")
}

/// The scenario VPC: three tables, served in two pages, and both routers'
/// interfaces.
struct Vpc {
    server: MockServer,
}

impl Vpc {
    fn new() -> Vpc {
        let server = MockServer::start();
        server.mock(|when, then| {
            when.method(POST)
                .path("/")
                .x_www_form_urlencoded_tuple("Action", "DescribeRouteTables")
                .x_www_form_urlencoded_tuple("Version", "2016-11-15")
                .x_www_form_urlencoded_tuple("Filter.1.Name", "vpc-id")
                .x_www_form_urlencoded_tuple("Filter.1.Value.1", VPC)
                .x_www_form_urlencoded_tuple("MaxResults", "100")
                .matches(first_page);
            then.status(200)
                .body(fixture("describe-route-tables-page1.xml"));
        });
        server.mock(|when, then| {
            when.method(POST)
                .path("/")
                .x_www_form_urlencoded_tuple("Action", "DescribeRouteTables")
                .x_www_form_urlencoded_tuple("NextToken", "AAEAAeCf3page2token");
            then.status(200)
                .body(fixture("describe-route-tables-page2.xml"));
        });
        mock_interfaces(&server);
        Vpc { server }
    }

    fn url(&self) -> String {
        self.server.base_url()
    }

    /// Answers `action` in `table` for `cidr` with a fixture and status.
    fn expect(
        &self,
        action: &str,
        table: &str,
        cidr_param: (&str, &str),
        eni: Option<&str>,
        status: u16,
        file: &str,
    ) -> Mock<'_> {
        self.server.mock(|when, then| {
            let mut w = when
                .method(POST)
                .path("/")
                .x_www_form_urlencoded_tuple("Action", action)
                .x_www_form_urlencoded_tuple("RouteTableId", table)
                .x_www_form_urlencoded_tuple(cidr_param.0, cidr_param.1);
            if let Some(eni) = eni {
                w = w.x_www_form_urlencoded_tuple("NetworkInterfaceId", eni);
            }
            let _ = w;
            then.status(status).body(fixture(file));
        })
    }

    /// Any mutating call not expected by the test: answered with an error,
    /// and counted, so that a test can assert there was none.
    fn unexpected(&self) -> Vec<Mock<'_>> {
        ["CreateRoute", "ReplaceRoute", "DeleteRoute"]
            .iter()
            .map(|a| {
                self.server.mock(|when, then| {
                    when.method(POST)
                        .path("/")
                        .x_www_form_urlencoded_tuple("Action", *a);
                    then.status(400).body(fixture("error-auth-failure.xml"));
                })
            })
            .collect()
    }
}

fn v4(cidr: &str) -> (&'static str, &str) {
    ("DestinationCidrBlock", cidr)
}

fn assert_none(mocks: &[Mock<'_>]) {
    for m in mocks {
        assert_eq!(m.hits(), 0, "an unexpected mutating call was made");
    }
}

#[test]
fn add_replaces_creates_and_leaves_the_right_route_alone() {
    let vpc = Vpc::new();
    let replace = vpc.expect(
        "ReplaceRoute",
        "rtb-1a2b3c4d",
        v4("10.55.0.0/16"),
        Some(A_ENI),
        200,
        "replace-route.xml",
    );
    let create = vpc.expect(
        "CreateRoute",
        "rtb-2a2b3c4d",
        v4("10.55.0.0/16"),
        Some(A_ENI),
        200,
        "create-route.xml",
    );
    let other = vpc.unexpected();
    let r = run(
        &vpc.url(),
        &["-c", "add", "--CIDR", "10.55.0.0/16", "--ip", A_IP],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    replace.assert_hits(1);
    create.assert_hits(1);
    assert_none(&other);
    assert_eq!(
        r.stdout,
        format!(
            "add 10.55.0.0/16 via {A_IP} ({A_ENI}, i-0aaaaaaaaaaaaaaa1) in {VPC}\n\
             \x20 rtb-0a1b2c3d (main)  unchanged: {A_ENI} (i-0aaaaaaaaaaaaaaa1), active\n\
             \x20 rtb-1a2b3c4d         replaced: was {B_ENI} (i-0bbbbbbbbbbbbbbb2), active\n\
             \x20 rtb-2a2b3c4d         created\n"
        )
    );
}

#[test]
fn requests_are_signed_sigv4_for_ec2_in_the_region() {
    let vpc = Vpc::new();
    let signed = vpc.server.mock(|when, then| {
        when.method(POST)
            .path("/")
            .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
            .header_exists("x-amz-date")
            .x_www_form_urlencoded_tuple("Action", "ReplaceRoute")
            .matches(|req| {
                let auth = req
                    .headers
                    .as_ref()
                    .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/";
                let scope_ok = auth.starts_with(prefix)
                    && auth[prefix.len()..].get(8..).is_some_and(|rest| {
                        rest.starts_with("/us-east-1/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=")
                    });
                let sig = auth.rsplit("Signature=").next().unwrap_or("");
                scope_ok && sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit())
            });
        then.status(200).body(fixture("replace-route.xml"));
    });
    let create = vpc.expect(
        "CreateRoute",
        "rtb-2a2b3c4d",
        v4("10.55.0.0/16"),
        Some(A_ENI),
        200,
        "create-route.xml",
    );
    let r = run(
        &vpc.url(),
        &["-c", "add", "--CIDR", "10.55.0.0/16", "--ip", A_IP],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    signed.assert_hits(1);
    create.assert_hits(1);
}

#[test]
fn a_second_add_when_everything_is_right_makes_no_mutating_call() {
    let vpc = Vpc::new();
    let other = vpc.unexpected();
    let r = run(
        &vpc.url(),
        &[
            "-c",
            "add",
            "--CIDR",
            "10.55.0.0/16",
            "--ip",
            A_IP,
            "--route-table",
            "rtb-0a1b2c3d",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_none(&other);
    assert_contains!(r.stdout, "rtb-0a1b2c3d (main)  unchanged");
    assert_not_contains!(r.stdout, "rtb-1a2b3c4d", "only the named table is reported");
}

#[test]
fn add_repairs_a_blackhole_and_adds_ipv6_routes() {
    let vpc = Vpc::new();
    let repair = vpc.expect(
        "ReplaceRoute",
        "rtb-1a2b3c4d",
        v4("10.66.0.0/16"),
        Some(A_ENI),
        200,
        "replace-route.xml",
    );
    let create0 = vpc.expect(
        "CreateRoute",
        "rtb-0a1b2c3d",
        v4("10.66.0.0/16"),
        Some(A_ENI),
        200,
        "create-route.xml",
    );
    let create2 = vpc.expect(
        "CreateRoute",
        "rtb-2a2b3c4d",
        v4("10.66.0.0/16"),
        Some(A_ENI),
        200,
        "create-route.xml",
    );
    let r = run(
        &vpc.url(),
        &["-c", "add", "--CIDR", "10.66.0.0/16", "--ip", A_IP],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_contains!(r.stdout, "rtb-1a2b3c4d         replaced: was eni-0ccccccccccccccc3 (i-0ccccccccccccccc3), blackhole\n");
    for m in [&repair, &create0, &create2] {
        m.assert_hits(1);
    }

    let v6 = ("DestinationIpv6CidrBlock", "2001:db8:1234::/48");
    let c1 = vpc.expect(
        "CreateRoute",
        "rtb-1a2b3c4d",
        v6,
        Some(A_ENI),
        200,
        "create-route.xml",
    );
    let c2 = vpc.expect(
        "CreateRoute",
        "rtb-2a2b3c4d",
        v6,
        Some(A_ENI),
        200,
        "create-route.xml",
    );
    let r = run(
        &vpc.url(),
        &["-c", "add", "--CIDR", "2001:db8:1234::/48", "--ip", A_IP],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    c1.assert_hits(1);
    c2.assert_hits(1);
    assert_contains!(r.stdout, "rtb-0a1b2c3d (main)  unchanged");
}

#[test]
fn show_reports_each_table_and_exits_1_when_missing_anywhere() {
    let vpc = Vpc::new();
    let other = vpc.unexpected();
    let r = run(&vpc.url(), &["-c", "show", "--CIDR", "10.55.0.0/16"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "show 10.55.0.0/16 in {VPC}\n\
             \x20 rtb-0a1b2c3d (main)  found: {A_ENI} (i-0aaaaaaaaaaaaaaa1), active\n\
             \x20 rtb-1a2b3c4d         found: {B_ENI} (i-0bbbbbbbbbbbbbbb2), active\n\
             \x20 rtb-2a2b3c4d         missing\n"
        )
    );
    assert_none(&other);
    // Present everywhere (the local route is in every table): exit 0.
    let r = run(&vpc.url(), &["-c", "show", "--CIDR", "10.33.0.0/16"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_contains!(r.stdout, "found: local, active");
}

#[test]
fn show_json_has_the_same_facts() {
    let vpc = Vpc::new();
    let r = run(
        &vpc.url(),
        &["-c", "show", "--CIDR", "10.55.0.0/16", "--output", "json"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_eq!(v["command"], "show");
    assert_eq!(v["status"], "not_found");
    let t = v["route_tables"].as_array().unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t[0]["route_table"], "rtb-0a1b2c3d");
    assert_eq!(t[0]["main"], true);
    assert_eq!(t[0]["result"], "found");
    assert_eq!(t[0]["route"]["network_interface"], A_ENI);
    assert_eq!(t[0]["route"]["instance"], "i-0aaaaaaaaaaaaaaa1");
    assert_eq!(t[0]["route"]["state"], "active");
    assert_eq!(t[2]["result"], "missing");
    assert_eq!(t[2]["route"], Value::Null);
}

#[test]
fn del_deletes_where_present_and_exits_1_for_the_table_without_it() {
    let vpc = Vpc::new();
    let d0 = vpc.expect(
        "DeleteRoute",
        "rtb-0a1b2c3d",
        v4("10.55.0.0/16"),
        None,
        200,
        "delete-route.xml",
    );
    let d1 = vpc.expect(
        "DeleteRoute",
        "rtb-1a2b3c4d",
        v4("10.55.0.0/16"),
        None,
        200,
        "delete-route.xml",
    );
    let other = vpc.unexpected();
    let r = run(&vpc.url(), &["-c", "del", "--CIDR", "10.55.0.0/16"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    d0.assert_hits(1);
    d1.assert_hits(1);
    assert_none(&other);
    assert_contains!(r.stdout, "rtb-0a1b2c3d (main)  deleted\n");
    assert_contains!(r.stdout, "rtb-2a2b3c4d         missing\n");
}

#[test]
fn gateway_and_propagated_routes_are_refused_unless_forced() {
    let vpc = Vpc::new();
    let other = vpc.unexpected();
    let r = run(&vpc.url(), &["-c", "del", "--CIDR", "172.16.0.0/12"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_contains!(
        r.stdout,
        "refused: the route is propagated by a virtual private gateway; use --force"
    );
    let r = run(
        &vpc.url(),
        &["-c", "del", "--CIDR", "10.33.0.0/16", "--force"],
    );
    assert_eq!(r.code, 5, "the local route is never deleted: {}", r.stdout);
    assert_contains!(r.stdout, "local route, which vpc-router never changes");
    assert_none(&other);
    drop(other);

    let vpc = Vpc::new();
    let forced = vpc.expect(
        "ReplaceRoute",
        "rtb-0a1b2c3d",
        v4("0.0.0.0/0"),
        Some(A_ENI),
        200,
        "replace-route.xml",
    );
    let r = run(
        &vpc.url(),
        &[
            "-c",
            "add",
            "--CIDR",
            "0.0.0.0/0",
            "--ip",
            A_IP,
            "--route-table",
            "rtb-0a1b2c3d",
            "--force",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    forced.assert_hits(1);
    assert_contains!(r.stdout, "replaced: was igw-1a2b3c4d, active, forced");
}

#[test]
fn an_ip_that_no_interface_in_the_vpc_holds_is_exit_2() {
    let vpc = Vpc::new();
    let other = vpc.unexpected();
    let r = run(
        &vpc.url(),
        &["-c", "add", "--CIDR", "10.55.0.0/16", "--ip", "10.99.1.1"],
    );
    assert_eq!(r.code, 2);
    assert_contains!(
        r.stderr,
        "no network interface in vpc-350d6a51 holds the IP 10.99.1.1"
    );
    assert_none(&other);
    assert_eq!(r.stdout, "");
}

#[test]
fn an_unknown_route_table_is_exit_2() {
    let vpc = Vpc::new();
    let r = run(
        &vpc.url(),
        &[
            "-c",
            "show",
            "--CIDR",
            "10.55.0.0/16",
            "--route-table",
            "rtb-9f9f9f9f",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "route table(s) rtb-9f9f9f9f not found in vpc-350d6a51"
    );
}

#[test]
fn dry_run_asks_ec2_and_changes_nothing() {
    let vpc = Vpc::new();
    let dry = vpc.server.mock(|when, then| {
        when.method(POST)
            .path("/")
            .x_www_form_urlencoded_tuple("DryRun", "true");
        then.status(412).body(fixture("error-dry-run.xml"));
    });
    let other = vpc.unexpected();
    let r = run(
        &vpc.url(),
        &[
            "-c",
            "add",
            "--CIDR",
            "10.55.0.0/16",
            "--ip",
            A_IP,
            "--dry-run",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    dry.assert_hits(2);
    assert_none(&other);
    assert_contains!(r.stdout, "(dry run: nothing is changed)");
    assert_contains!(r.stdout, "rtb-1a2b3c4d         would replace: was");
    assert_contains!(
        r.stdout,
        "rtb-2a2b3c4d         would create (EC2 says the call would succeed)"
    );
}

#[test]
fn dry_run_reports_a_missing_permission_with_exit_3() {
    let vpc = Vpc::new();
    vpc.server.mock(|when, then| {
        when.method(POST)
            .path("/")
            .x_www_form_urlencoded_tuple("DryRun", "true");
        then.status(403).body(fixture("error-unauthorized.xml"));
    });
    let r = run(
        &vpc.url(),
        &[
            "-c",
            "del",
            "--CIDR",
            "10.55.0.0/16",
            "--dry-run",
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["route_tables"][0]["result"], "failed");
    assert_eq!(
        v["route_tables"][0]["error"]["code"],
        "UnauthorizedOperation"
    );
    assert!(v["route_tables"][0]["error"]["request_id"].is_string());
    assert_contains!(r.stderr, "UnauthorizedOperation");
    assert_contains!(r.stderr, "IAM permission");
}

#[test]
fn throttling_is_retried_up_to_aws_max_attempts() {
    let server = MockServer::start();
    let throttled = server.mock(|when, then| {
        when.method(POST).path("/");
        then.status(503)
            .body(fixture("error-request-limit-exceeded.xml"));
    });
    let r = run(
        &server.base_url(),
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    throttled.assert_hits(3);
    assert_contains!(r.stderr, "RequestLimitExceeded");
    assert_contains!(r.stderr, "request ID");
}

#[test]
fn client_errors_are_not_retried() {
    let server = MockServer::start();
    let denied = server.mock(|when, then| {
        when.method(POST).path("/");
        then.status(401).body(fixture("error-auth-failure.xml"));
    });
    let r = run(
        &server.base_url(),
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    denied.assert_hits(1);
    assert_contains!(r.stderr, "AuthFailure");
}

#[test]
fn a_throttled_call_that_then_succeeds_succeeds() {
    let s = Scripted::start(vec![
        (503, fixture("error-request-limit-exceeded.xml")),
        (500, fixture("error-internal.xml")),
        (200, fixture("describe-route-tables.xml")),
    ]);
    let r = run(&s.url, &["-c", "show", "--CIDR", "10.55.0.0/16"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(s.actions(), ["DescribeRouteTables"; 3]);
    assert_contains!(r.stdout, "rtb-1a2b3c4d         found");
    // Each attempt is signed anew.
    let seen = s.seen();
    assert!(seen.iter().all(|q| q.headers.contains_key("authorization")));
}

#[test]
fn a_create_retried_after_a_server_error_is_checked_not_repeated() {
    // The first CreateRoute fails with a 500 after (as it turns out) taking
    // effect; the retry meets RouteAlreadyExists; vpc-router looks at the
    // table and finds its own route.
    let s = Scripted::per_action(vec![
        (
            "DescribeNetworkInterfaces",
            200,
            fixture("describe-network-interfaces-a.xml"),
        ),
        (
            "DescribeRouteTables",
            200,
            fixture("describe-route-tables.xml"),
        ),
        ("CreateRoute", 500, fixture("error-internal.xml")),
        (
            "CreateRoute",
            400,
            fixture("error-route-already-exists.xml"),
        ),
        (
            "DescribeRouteTables",
            200,
            fixture("describe-route-tables-rtb2-with-route-a.xml"),
        ),
    ]);
    let r = run(
        &s.url,
        &[
            "-c",
            "add",
            "--CIDR",
            "10.55.0.0/16",
            "--ip",
            A_IP,
            "--route-table",
            "rtb-2a2b3c4d",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // The two describes go side by side, in either order.
    let mut actions = s.actions();
    actions[..2].sort();
    assert_eq!(
        actions,
        [
            "DescribeNetworkInterfaces",
            "DescribeRouteTables",
            "CreateRoute",
            "CreateRoute",
            "DescribeRouteTables"
        ]
    );
    assert_contains!(r.stdout, "rtb-2a2b3c4d  created");
}

#[test]
fn an_unreachable_endpoint_is_exit_4() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = run(
        &format!("http://127.0.0.1:{port}"),
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        format!("DescribeRouteTables to http://127.0.0.1:{port} could not be sent")
    );
}

#[test]
fn a_non_ec2_answer_is_reported_as_such() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/");
        then.status(404).body("<html>not here</html>");
    });
    let r = run(
        &server.base_url(),
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "answered HTTP 404 with a body that is not an EC2 response: <html>not here</html>"
    );
}

#[test]
fn bad_input_is_exit_2_with_the_argument_named() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["-c", "add", "--CIDR", "10.55.1.0/16", "--ip", A_IP],
            "10.55.1.0/16 has host bits set; did you mean 10.55.0.0/16?",
        ),
        (
            &["-c", "show", "--CIDR", "10.55.0.0/16", "--ip", A_IP],
            "-i/--ip: only add takes a router IP",
        ),
        (
            &["-c", "frob", "--CIDR", "10.55.0.0/16"],
            "-c/--cmd: unknown command 'frob'",
        ),
        (&["-c", "add", "--CIDR", "10.55.0.0/16"], "-i/--ip: missing"),
    ];
    for (args, want) in cases {
        let r = run("http://127.0.0.1:9", args);
        assert_eq!(r.code, 2, "{args:?}");
        assert_contains!(r.stderr, want, "{args:?}");
    }
    let mut c = command("badvpc");
    let r: Run = c
        .args(["-v", "vpc-nothex!", "-c", "show", "--CIDR", "10.0.0.0/8"])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 2);
    assert_contains!(r.stderr, "-v/--vpc: 'vpc-nothex!' is not a VPC ID");
}

#[test]
fn help_and_version() {
    let r: Run = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0);
    assert_contains!(r.stdout, "EXIT CODES");
    let r: Run = std::process::Command::new(BIN)
        .arg("-V")
        .output()
        .unwrap()
        .into();
    // The version and the commit it was built from (the Makefile's build
    // targets set VPC_ROUTER_COMMIT; a plain cargo build does not).
    let expected = match option_env!("VPC_ROUTER_COMMIT") {
        Some(c) if !c.is_empty() => format!("commit {c}"),
        _ => "unknown commit".to_string(),
    };
    assert_eq!(
        r.stdout,
        format!("vpc-router {} ({expected})\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_endpoint_comes_from_the_environment_when_no_flag_is_given() {
    let vpc = Vpc::new();
    let mut c = command("envurl");
    c.env("AWS_ENDPOINT_URL_EC2", vpc.url())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    let r: Run = c
        .args([
            "-r",
            "us-east-1",
            "-v",
            VPC,
            "-c",
            "show",
            "--CIDR",
            "10.55.0.0/16",
        ])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_contains!(r.stdout, "rtb-0a1b2c3d (main)  found");
}

#[test]
fn verbose_logs_calls_but_never_secrets() {
    let vpc = Vpc::new();
    let mut c = command("verbose");
    c.env("AWS_SESSION_TOKEN", TOKEN);
    let r = run_with(
        c,
        &vpc.url(),
        &["-c", "show", "--CIDR", "10.55.0.0/16", "--verbose"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_contains!(r.stderr, "EC2 DescribeRouteTables: ok");
    assert_contains!(r.stderr, "region us-east-1");
    for secret in [SECRET, TOKEN] {
        assert!(!r.stderr.contains(secret) && !r.stdout.contains(secret));
    }
}

#[test]
fn the_logfile_receives_the_log() {
    let vpc = Vpc::new();
    let dir = temp_dir("logfile");
    let log = dir.join("vpc-router.log");
    let r = run(
        &vpc.url(),
        &[
            "-c",
            "add",
            "--CIDR",
            "10.55.0.0/16",
            "--ip",
            "10.99.1.1",
            "-l",
            log.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr, "");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_contains!(
        text,
        "no network interface in vpc-350d6a51 holds the IP 10.99.1.1"
    );
}

/// The binary with only these arguments (help needs no AWS).
fn bare(args: &[&str]) -> Run {
    std::process::Command::new(BIN)
        .args(args)
        .output()
        .unwrap()
        .into()
}

#[test]
fn each_command_has_its_own_help() {
    let plan = bare(&["plan", "--help"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.starts_with("vpc-router plan: "),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("-f, --file SPEC"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("--CIDR"), "{}", plan.stdout);
    assert!(plan.stdout.contains("EXAMPLES"), "{}", plan.stdout);
    assert_eq!(bare(&["help", "plan"]).stdout, plan.stdout);

    let add = bare(&["help", "add"]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    assert!(add.stdout.starts_with("vpc-router add: "), "{}", add.stdout);
    assert!(add.stdout.contains("-i, --ip IP"), "{}", add.stdout);
    assert!(!add.stdout.contains("--prune"), "{}", add.stdout);
    assert_eq!(bare(&["-c", "add", "--help"]).stdout, add.stdout);

    let daemon = bare(&["help", "daemon"]);
    assert!(daemon.stdout.contains("--health KIND"), "{}", daemon.stdout);
    assert_eq!(bare(&["-d", "--help"]).stdout, daemon.stdout);
    assert_eq!(
        bare(&["apply", "-h"]).stdout,
        bare(&["help", "apply"]).stdout
    );

    // Alone, --help and help are the full help.
    let full = bare(&["--help"]);
    assert!(full.stdout.contains("EXIT CODES"), "{}", full.stdout);
    assert_eq!(bare(&["help"]).stdout, full.stdout);
    assert_eq!(bare(&["-h"]).stdout, full.stdout);

    let unknown = bare(&["help", "bogus"]);
    assert_eq!(unknown.code, 2);
    assert_eq!(unknown.stdout, "");
    assert!(
        unknown.stderr.contains(
            "help: unknown topic 'bogus'; the topics are add, show, del, plan, apply, daemon"
        ),
        "{}",
        unknown.stderr
    );
}

#[test]
fn a_mistyped_flag_or_command_is_exit_2_with_a_suggestion() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--regoin",
                "us-east-1",
                "-c",
                "show",
                "--CIDR",
                "10.55.0.0/16",
            ],
            "invalid option '--regoin'; did you mean --region?",
        ),
        (
            &["-c", "ad", "--CIDR", "10.55.0.0/16", "--ip", A_IP],
            "-c/--cmd: unknown command 'ad'; did you mean add? expected add, show or del",
        ),
        (
            &["plna", "-f", "spec.json"],
            "unexpected argument \"plna\"; did you mean plan?",
        ),
        (
            &["help", "aply"],
            "unknown topic 'aply'; did you mean apply?",
        ),
    ];
    for (args, want) in cases {
        let r = run("http://127.0.0.1:9", args);
        assert_eq!(r.code, 2, "{args:?}");
        assert_eq!(r.stdout, "", "{args:?}");
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn o_is_short_for_output() {
    let vpc = Vpc::new();
    let long = run(
        &vpc.url(),
        &["-c", "show", "--CIDR", "10.55.0.0/16", "--output", "json"],
    );
    let short = run(
        &vpc.url(),
        &["-c", "show", "--CIDR", "10.55.0.0/16", "-o", "json"],
    );
    assert_eq!(short.code, 1, "{}", short.stderr);
    assert_eq!(short.stdout, long.stdout);
    let v: Value = serde_json::from_str(&short.stdout).expect("one JSON document");
    assert_eq!(v["command"], "show");
}
