//! Issue 16, end to end: where real EC2 (and the AWS SDKs) differ from what
//! the other tests' fixtures showed. The real binary against mock EC2, STS
//! and IMDS endpoints and a CONNECT proxy, all on 127.0.0.1.

mod common;

use common::*;
use httpmock::prelude::*;
use httpmock::{Mock, MockServer};

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
    assert_eq!(r.code, 0, "in sync, nothing to prune: {}{}", r.stdout, r.stderr);
    assert_not_contains!(r.stdout, "10.88.0.0/16");
    assert_no_mutation(&none);
}
