//! End-to-end: the real binary finds its region, VPC and credentials the way
//! the AWS tools do, from mock IMDS, STS and container endpoints on
//! 127.0.0.1, and signs EC2 calls with what it found.

mod common;

use common::*;
use httpmock::prelude::*;
use httpmock::MockServer;
use std::process::Command;

/// An environment with no credentials, no profile and metadata off.
fn bare(home: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("HOME", temp_dir(home))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "2");
    c
}

#[test]
fn on_an_instance_region_vpc_and_credentials_come_from_metadata() {
    let imds = MockServer::start();
    let token = imds.mock(|when, then| {
        when.method(PUT)
            .path("/latest/api/token")
            .header("x-aws-ec2-metadata-token-ttl-seconds", "21600");
        then.status(200).body("IMDSTOKEN");
    });
    for (path, body) in [
        (
            "/latest/meta-data/placement/region",
            "us-east-1".to_string(),
        ),
        ("/latest/meta-data/mac", "0e:49:61:0f:c3:11".to_string()),
        (
            "/latest/meta-data/network/interfaces/macs/0e:49:61:0f:c3:11/vpc-id",
            VPC.to_string(),
        ),
        (
            "/latest/meta-data/iam/security-credentials/",
            "router-role".to_string(),
        ),
        (
            "/latest/meta-data/iam/security-credentials/router-role",
            fixture("imds-security-credentials.json"),
        ),
    ] {
        imds.mock(|when, then| {
            when.method(GET)
                .path(path)
                .header("x-aws-ec2-metadata-token", "IMDSTOKEN");
            then.status(200).body(body);
        });
    }
    let ec2 = MockServer::start();
    let signed = expect_signed(&ec2, "imds-token-example", |r| {
        mock_header(r, "authorization").contains("Credential=ASIAIMDSEXAMPLE/")
    });
    let mut c = bare("imds");
    c.env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.base_url())
        .env("AWS_ENDPOINT_URL_EC2", ec2.base_url());
    // No -r, no -v: what a router instance runs.
    let r: Run = c
        .args(["-c", "show", "--CIDR", "10.55.0.0/16", "--verbose"])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with(&format!("show 10.55.0.0/16 in {VPC}\n")),
        "{}",
        r.stdout
    );
    assert_contains!(r.stderr, "region us-east-1 (from instance metadata)");
    assert_contains!(r.stderr, "VPC vpc-350d6a51 (from instance metadata)");
    assert!(!r.stderr.contains("imds-secret-example") && !r.stderr.contains("imds-token-example"));
    signed.assert_hits(1);
    token.assert_hits(1);
}

#[test]
fn web_identity_credentials_from_sts_sign_the_ec2_calls() {
    let sts = MockServer::start();
    let assume = sts.mock(|when, then| {
        when.method(POST)
            .x_www_form_urlencoded_tuple("Action", "AssumeRoleWithWebIdentity")
            .x_www_form_urlencoded_tuple("RoleArn", "arn:aws:iam::123456789012:role/vpc-router")
            .x_www_form_urlencoded_tuple("WebIdentityToken", "eyJ.k8s.token");
        then.status(200)
            .body(fixture("sts-assume-role-with-web-identity.xml"));
    });
    let ec2 = MockServer::start();
    let signed = expect_signed(&ec2, "sts-session-token-example", |r| {
        mock_header(r, "authorization").contains("Credential=ASIASTSEXAMPLE/")
    });
    let dir = temp_dir("irsa-token");
    let token = dir.join("token");
    std::fs::write(&token, "eyJ.k8s.token").unwrap();
    let mut c = bare("irsa");
    c.env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/vpc-router")
        .env("AWS_ENDPOINT_URL_STS", sts.base_url());
    let r = run_with(
        c,
        &ec2.base_url(),
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    signed.assert_hits(1);
    assume.assert_hits(1);
}

#[test]
fn container_credentials_sign_the_ec2_calls() {
    let agent = MockServer::start();
    let creds = agent.mock(|when, then| {
        when.method(GET)
            .path("/creds")
            .header("authorization", "pod-identity-token");
        then.status(200).body(fixture("container-credentials.json"));
    });
    let ec2 = MockServer::start();
    let signed = expect_signed(&ec2, "container-token-example", |r| {
        mock_header(r, "authorization").contains("Credential=ASIACONTAINEREXAMPLE/")
    });
    let mut c = bare("container");
    c.env(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("{}/creds", agent.base_url()),
    )
    .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "pod-identity-token");
    let r = run_with(
        c,
        &ec2.base_url(),
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    signed.assert_hits(1);
    creds.assert_hits(1);
}

#[test]
fn profile_credentials_and_region_from_the_shared_files() {
    let ec2 = MockServer::start();
    let signed = expect_signed(&ec2, "profile-token", |r| {
        mock_header(r, "authorization").contains("Credential=AKIDPROFILE/")
    });
    let dir = temp_dir("profile-files");
    std::fs::write(dir.join("credentials"), "[router]\naws_access_key_id=AKIDPROFILE\naws_secret_access_key=profile-secret\naws_session_token=profile-token\n").unwrap();
    std::fs::write(dir.join("config"), "[profile router]\nregion = eu-west-1\n").unwrap();
    let mut c = bare("profile");
    c.env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_ENDPOINT_URL_EC2", ec2.base_url());
    let r: Run = c
        .args([
            "--profile",
            "router",
            "-v",
            VPC,
            "-c",
            "show",
            "--CIDR",
            "10.55.0.0/16",
            "--verbose",
        ])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_contains!(r.stderr, "region eu-west-1 (from profile router)");
    signed.assert_hits(1);
}

#[test]
fn no_credentials_is_exit_3_and_says_what_was_tried() {
    let r = run_with(
        bare("nocreds"),
        "http://127.0.0.1:9",
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_contains!(r.stderr, "no AWS credentials found (tried environment variables, shared config files, web identity, container credentials, instance profile (IMDSv2) (disabled))");
}

#[test]
fn no_region_off_ec2_is_exit_2_with_what_to_pass() {
    let mut c = bare("noregion");
    c.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    let r: Run = c
        .args(["-v", VPC, "-c", "show", "--CIDR", "10.55.0.0/16"])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(r.stderr, "no region: pass -r/--region, set AWS_REGION");
}

#[test]
fn a_credentials_endpoint_that_cannot_be_reached_is_exit_4() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = bare("container-down");
    c.env(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("http://127.0.0.1:{port}/creds"),
    );
    let r = run_with(
        c,
        "http://127.0.0.1:9",
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "credentials from container credentials could not be fetched"
    );
}
