//! Issue 13: the credential sources people use on laptops and in CI, end to
//! end: the real binary with a profile that names a `credential_process`
//! (a script written here), a role to assume through STS, or an IAM
//! Identity Center session, against mock STS, portal and EC2 endpoints on
//! 127.0.0.1 replaying `fixtures/`. Refresh and each refusal's wording are
//! checked with the time passed in by the unit tests in
//! `src/aws/credentials/tests/sources.rs`.

mod common;

use common::*;
use httpmock::prelude::*;
use httpmock::MockServer;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const ROLE: &str = "arn:aws:iam::123456789012:role/vpc-router";

/// The binary with only `config` as its shared config file, no keys in the
/// environment, metadata off, home `dir`.
fn with_config(dir: &Path, config: &str) -> Command {
    std::fs::write(dir.join("config"), config).unwrap();
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("HOME", dir)
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "2");
    c
}

fn show(c: Command, ec2: &str, profile: &str) -> Run {
    run_with(
        c,
        ec2,
        &["--profile", profile, "-c", "show", "--CIDR", "10.55.0.0/16"],
    )
}

fn script(dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("creds helper");
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn credential_process_output_signs_the_ec2_calls() {
    let dir = temp_dir("cs-process");
    let helper = script(
        &dir,
        "[ \"$AWS_CONFIG_FILE\" ] || exit 7\n\
         echo '{\"Version\": 1, \"AccessKeyId\": \"ASIAPROCESS\", \"SecretAccessKey\": \
         \"process-secret\", \"SessionToken\": \"process-token\", \"Expiration\": \
         \"2099-01-01T00:00:00Z\"}'\n",
    );
    let ec2 = MockServer::start();
    let signed = expect_signed(&ec2, "process-token", |r| {
        mock_header(r, "authorization").contains("Credential=ASIAPROCESS/")
    });
    let c = with_config(
        &dir,
        &format!(
            "[profile ci]\ncredential_process = \"{}\" --flag\n",
            helper.display()
        ),
    );
    let r = show(c, &ec2.base_url(), "ci");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("process-secret"), "{}", r.stderr);
    signed.assert_hits(1);
}

#[test]
fn a_failing_credential_process_is_exit_3_with_its_stderr() {
    let dir = temp_dir("cs-process-fails");
    let helper = script(&dir, "echo 'vault: not logged in' >&2\nexit 2\n");
    let c = with_config(
        &dir,
        &format!(
            "[profile ci]\ncredential_process = \"{}\"\n",
            helper.display()
        ),
    );
    let r = show(c, "http://127.0.0.1:9", "ci");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        &format!(
            "credentials from profile ci (credential_process) failed: '{}' exited with status \
             2: vault: not logged in",
            helper.display()
        )
    );
}

#[test]
fn an_assumed_role_signs_the_ec2_calls() {
    let sts = MockServer::start();
    let assume = sts.mock(|when, then| {
        when.method(POST)
            .path("/")
            .x_www_form_urlencoded_tuple("Action", "AssumeRole")
            .x_www_form_urlencoded_tuple("RoleArn", ROLE)
            .x_www_form_urlencoded_tuple("ExternalId", "ext-42")
            .x_www_form_urlencoded_tuple("RoleSessionName", "router-1")
            .matches(|r| {
                mock_header(r, "authorization").contains("Credential=AKIDBASE/")
                    && mock_header(r, "authorization").contains("/us-east-1/sts/aws4_request")
            });
        then.status(200).body(fixture("sts-assume-role.xml"));
    });
    let ec2 = MockServer::start();
    let signed = expect_signed(&ec2, "assumed-session-token-example", |r| {
        mock_header(r, "authorization").contains("Credential=ASIAASSUMEDEXAMPLE/")
    });
    let dir = temp_dir("cs-assume");
    let mut c = with_config(
        &dir,
        &format!(
            "[profile router]\nrole_arn = {ROLE}\nsource_profile = base\nexternal_id = ext-42\n\
             role_session_name = router-1\n\
             [profile base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n"
        ),
    );
    c.env("AWS_ENDPOINT_URL_STS", sts.base_url());
    let r = show(c, &ec2.base_url(), "router");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assume.assert_hits(1);
    signed.assert_hits(1);
}

#[test]
fn sts_refusing_the_role_is_exit_3_with_its_code() {
    let sts = MockServer::start();
    let denied = sts.mock(|when, then| {
        when.method(POST)
            .x_www_form_urlencoded_tuple("Action", "AssumeRole");
        then.status(403)
            .body(fixture("sts-error-access-denied.xml"));
    });
    let dir = temp_dir("cs-denied");
    let mut c = with_config(
        &dir,
        &format!(
            "[profile router]\nrole_arn = {ROLE}\nsource_profile = base\n\
             [profile base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n"
        ),
    );
    c.env("AWS_ENDPOINT_URL_STS", sts.base_url());
    let r = show(c, "http://127.0.0.1:9", "router");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        &format!("credentials from role {ROLE} (profile router) failed: STS AssumeRole failed: AccessDenied: User: arn:aws:iam::123456789012:user/ops is not authorized to perform: sts:AssumeRole")
    );
    denied.assert_hits(1);
}

#[test]
fn role_settings_that_cannot_work_unattended_are_exit_2() {
    let dir = temp_dir("cs-mfa");
    let config = format!(
        "[profile mfa]\nrole_arn = {ROLE}\nsource_profile = base\nmfa_serial = arn:aws:iam::123456789012:mfa/ops\n\
         [profile loop]\nrole_arn = {ROLE}\nsource_profile = loop2\n\
         [profile loop2]\nrole_arn = {ROLE}\nsource_profile = loop\n\
         [profile base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n"
    );
    for (profile, want) in [
        ("mfa", "credentials from profile mfa cannot be used: it sets mfa_serial, so assuming the role needs an MFA code typed in, which vpc-router cannot ask for (it runs unattended)"),
        ("loop", "credentials from profile loop cannot be used: source_profile goes round in a loop (loop -> loop2 -> loop)"),
    ] {
        let r = show(with_config(&dir, &config), "http://127.0.0.1:9", profile);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_contains!(r.stderr, want);
    }
}

/// The token `aws sso login` leaves for `key` (the session name, or the
/// start URL for the legacy keys): `~/.aws/sso/cache/<sha1 hex>.json`.
fn login(home: &Path, sha1_hex: &str, expires_at: &str) {
    let cache = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let doc = fixture("sso-cache-token.json").replace("2026-11-25T20:34:56Z", expires_at);
    std::fs::write(cache.join(format!("{sha1_hex}.json")), doc).unwrap();
}

/// `printf corp | sha1sum`: the cache file of `[sso-session corp]`.
const CORP_SHA1: &str = "ee0bfd2552fbd840c02cc48b6e823320543c450f";

const SSO_CONFIG: &str = "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n\
                          sso_role_name = RouterAdmin\n\
                          [sso-session corp]\nsso_start_url = https://d-9067642ac7.awsapps.com/start\n\
                          sso_region = us-east-1\n";

#[test]
fn an_identity_center_session_signs_the_ec2_calls() {
    let portal = MockServer::start();
    let call = portal.mock(|when, then| {
        when.method(GET)
            .path("/federation/credentials")
            .query_param("role_name", "RouterAdmin")
            .query_param("account_id", "123456789012")
            .header(
                "x-amz-sso_bearer_token",
                "aoaAAAAAGcache-access-token-example",
            );
        then.status(200)
            .body(fixture("sso-get-role-credentials.json"));
    });
    let ec2 = MockServer::start();
    let signed = expect_signed(&ec2, "sso-session-token-example", |r| {
        mock_header(r, "authorization").contains("Credential=ASIASSOEXAMPLE/")
    });
    let dir = temp_dir("cs-sso");
    login(&dir, CORP_SHA1, "2099-01-01T00:00:00Z");
    let mut c = with_config(&dir, SSO_CONFIG);
    c.env("AWS_ENDPOINT_URL_SSO", portal.base_url());
    let r = show(c, &ec2.base_url(), "dev");
    assert_eq!(r.code, 1, "{}", r.stderr);
    call.assert_hits(1);
    signed.assert_hits(1);
}

#[test]
fn an_expired_identity_center_token_is_exit_3_saying_to_log_in() {
    let portal = MockServer::start();
    let call = portal.mock(|when, then| {
        when.method(GET).path("/federation/credentials");
        then.status(200)
            .body(fixture("sso-get-role-credentials.json"));
    });
    let dir = temp_dir("cs-sso-expired");
    login(&dir, CORP_SHA1, "2020-01-01T00:00:00Z");
    let mut c = with_config(&dir, SSO_CONFIG);
    c.env("AWS_ENDPOINT_URL_SSO", portal.base_url());
    let r = show(c, "http://127.0.0.1:9", "dev");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "credentials from profile dev (IAM Identity Center) failed: the token for sso-session corp expired at 2020-01-01T00:00:00.000Z; run `aws sso login --profile dev`"
    );
    call.assert_hits(0);
}
