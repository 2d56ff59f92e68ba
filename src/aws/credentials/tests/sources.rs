//! Issue 13: the profile's credential sources (credential_process, roles
//! through source_profile / credential_source, IAM Identity Center) against
//! scripts in a temp dir and mock STS and portal endpoints on 127.0.0.1,
//! with the time passed in, so refresh is checked without waiting.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vpc-router-sources-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An executable script in `d`.
fn script(d: &Path, name: &str, body: &str) -> PathBuf {
    let p = d.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// An environment whose shared config file is `config` (no credentials
/// file), home `d`, plus `pairs`.
fn with_config(d: &Path, config: &str, pairs: &[(&str, &str)]) -> Env {
    let path = d.join("config");
    std::fs::write(&path, config).unwrap();
    let home = d.to_str().unwrap().to_string();
    let config = path.to_str().unwrap().to_string();
    let mut all = vec![
        ("HOME", home.as_str()),
        ("AWS_CONFIG_FILE", config.as_str()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent-vpc-router-credentials",
        ),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("PATH", "/usr/bin:/bin"),
    ];
    all.extend_from_slice(pairs);
    Env::from_pairs(all)
}

fn at(minutes: u64) -> SystemTime {
    t0() + Duration::from_secs(minutes * 60)
}

fn runs(counter: &Path) -> usize {
    std::fs::read_to_string(counter).map_or(0, |s| s.lines().count())
}

#[test]
fn credential_process_is_run_cached_and_run_again_before_expiration() {
    let d = dir("process");
    let counter = d.join("runs");
    let helper = script(
        &d,
        "creds helper",
        &format!(
            "echo run >> '{}'\n[ \"$1\" = \"--user\" ] && [ \"$2\" = \"a b\" ] || exit 9\n\
             echo '{{\"Version\": 1, \"AccessKeyId\": \"ASIAPROCESS\", \"SecretAccessKey\": \
             \"process-secret\", \"SessionToken\": \"process-token\", \"Expiration\": \
             \"2026-11-25T12:44:56Z\"}}'\n",
            counter.display()
        ),
    );
    let e = with_config(
        &d,
        &format!(
            "[profile ci]\ncredential_process = \"{}\" --user \"a b\"\n",
            helper.display()
        ),
        &[],
    );
    let chain = chain(&e, Some("ci")).unwrap();
    let c = chain.credentials(t0()).unwrap();
    assert_eq!(c.access_key_id, "ASIAPROCESS");
    assert_eq!(c.secret_access_key.expose(), "process-secret");
    assert_eq!(c.session_token.as_ref().unwrap().expose(), "process-token");
    assert_eq!(c.expires, Some(at(10)));
    assert_eq!(c.source, "profile ci (credential_process)");
    assert_eq!(runs(&counter), 1);
    // Ten minutes of validity: cached at +4 min, run again at +6 (less
    // than five minutes left).
    chain.credentials(at(4)).unwrap();
    assert_eq!(runs(&counter), 1);
    chain.credentials(at(6)).unwrap();
    assert_eq!(runs(&counter), 2);
}

#[test]
fn credential_process_failures_say_what_went_wrong() {
    let d = dir("process-errors");
    let cases = [
        (
            "echo 'token expired: run vault login' >&2\nexit 3\n",
            "'PROGRAM' exited with status 3: token expired: run vault login",
        ),
        (
            "exit 1\n",
            "'PROGRAM' exited with status 1 and printed nothing on stderr",
        ),
        (
            "echo '<html>'\n",
            "its output is not the JSON document credential_process must print",
        ),
        (
            "echo '{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\"}'\n",
            "\"Version\": 2; vpc-router, like the AWS SDKs, understands only Version 1",
        ),
    ];
    for (i, (body, want)) in cases.into_iter().enumerate() {
        let helper = script(&d, &format!("helper{i}"), body);
        let e = with_config(
            &d,
            &format!(
                "[default]\ncredential_process = {} --secret-arg hunter2\n",
                helper.display()
            ),
            &[],
        );
        let err = get(&e).unwrap_err();
        let msg = err.to_string();
        let want = want.replace("PROGRAM", &helper.display().to_string());
        assert!(matches!(err, CredentialsError::Provider { .. }), "{err:?}");
        assert!(
            msg.starts_with("credentials from profile default (credential_process) failed: "),
            "{msg}"
        );
        assert!(msg.contains(&want), "{body}: {msg}");
        // Arguments are never shown: they may hold a secret.
        assert!(!msg.contains("hunter2"), "{msg}");
    }
    let e = with_config(
        &d,
        "[default]\ncredential_process = /nonexistent/creds\n",
        &[],
    );
    let msg = get(&e).unwrap_err().to_string();
    assert!(msg.contains("cannot run '/nonexistent/creds': "), "{msg}");
    let e = with_config(&d, "[default]\ncredential_process = \"/opt/creds\n", &[]);
    let err = chain(&e, None).err().unwrap();
    assert!(matches!(err, CredentialsError::Invalid { .. }), "{err:?}");
    assert!(
        err.to_string().contains("has a \" that is never closed"),
        "{err}"
    );
}

/// Whether `pid` has exited (gone, or a zombie waiting for its parent).
fn gone(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

#[test]
fn a_hung_credential_process_is_stopped_with_what_it_started() {
    let d = dir("process-hang");
    let pidfile = d.join("pid");
    // A child that holds the pipes open, as a shell script's would.
    let helper = script(
        &d,
        "hang",
        &format!("sleep 300 &\necho $! > '{}'\nwait\n", pidfile.display()),
    );
    let p = process::Process::new(
        "slow",
        &helper.display().to_string(),
        Duration::from_secs(1),
    )
    .unwrap();
    let err = p.fetch(t0()).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "'{}' did not finish within 1 s and was stopped",
            helper.display()
        )),
        "{err}"
    );
    let sleeper = std::fs::read_to_string(&pidfile).unwrap();
    let sleeper = sleeper.trim();
    assert!(!sleeper.is_empty());
    // The kill is synchronous, but the kernel may take a moment to show it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !gone(sleeper) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        gone(sleeper),
        "the helper's child {sleeper} was left running"
    );
}

const ROLE: &str = "arn:aws:iam::123456789012:role/vpc-router";
const JUMP: &str = "arn:aws:iam::111122223333:role/jump";

/// The request's Authorization header.
fn authorization(r: &HttpMockRequest) -> String {
    r.headers
        .iter()
        .flatten()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn header(r: &HttpMockRequest, name: &str) -> Option<String> {
    r.headers
        .iter()
        .flatten()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

#[test]
fn a_role_is_assumed_with_the_source_profile_keys_and_refreshed_before_expiry() {
    let sts = MockServer::start();
    let assume = sts.mock(|when, then| {
        when.method(POST)
            .path("/")
            .x_www_form_urlencoded_tuple("Action", "AssumeRole")
            .x_www_form_urlencoded_tuple("Version", "2011-06-15")
            .x_www_form_urlencoded_tuple("RoleArn", ROLE)
            .x_www_form_urlencoded_tuple("RoleSessionName", "router-1")
            .x_www_form_urlencoded_tuple("ExternalId", "ext-42")
            .x_www_form_urlencoded_tuple("DurationSeconds", "3600")
            .matches(|r| {
                authorization(r).starts_with(
                    "AWS4-HMAC-SHA256 Credential=AKIDBASE/20261125/us-east-1/sts/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date, Signature=",
                ) && header(r, "x-amz-security-token").is_none()
            });
        then.status(200).body(fixture("sts-assume-role.xml"));
    });
    let d = dir("assume");
    let e = with_config(
        &d,
        &format!(
            "[profile router]\nrole_arn = {ROLE}\nsource_profile = base\nexternal_id = ext-42\n\
             role_session_name = router-1\nduration_seconds = 3600\n\
             [profile base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n"
        ),
        &[("AWS_ENDPOINT_URL_STS", &sts.base_url())],
    );
    let chain = chain(&e, Some("router")).unwrap();
    let c = chain.credentials(t0()).unwrap();
    assert_eq!(c.access_key_id, "ASIAASSUMEDEXAMPLE");
    assert_eq!(c.secret_access_key.expose(), "assumed-secret-example");
    assert_eq!(
        c.session_token.as_ref().unwrap().expose(),
        "assumed-session-token-example"
    );
    assert_eq!(c.expires, Some(at(60)));
    assert_eq!(c.source, format!("role {ROLE} (profile router)"));
    chain.credentials(at(54)).unwrap();
    assume.assert_hits(1);
    chain.credentials(at(56)).unwrap();
    assume.assert_hits(2);
}

#[test]
fn roles_chain_through_source_profiles_each_signed_by_the_one_below() {
    let sts = MockServer::start();
    let hop = sts.mock(|when, then| {
        when.method(POST)
            .x_www_form_urlencoded_tuple("Action", "AssumeRole")
            .x_www_form_urlencoded_tuple("RoleArn", JUMP)
            .matches(|r| authorization(r).contains("Credential=AKIDBASE/"));
        then.status(200)
            .body(fixture("sts-assume-role-intermediate.xml"));
    });
    let last = sts.mock(|when, then| {
        when.method(POST)
            .x_www_form_urlencoded_tuple("Action", "AssumeRole")
            .x_www_form_urlencoded_tuple("RoleArn", ROLE)
            .header("x-amz-security-token", "jump-session-token-example")
            .matches(|r| authorization(r).contains("Credential=ASIAJUMPEXAMPLE/"));
        then.status(200).body(fixture("sts-assume-role.xml"));
    });
    let d = dir("chain");
    let e = with_config(
        &d,
        &format!(
            "[profile router]\nrole_arn = {ROLE}\nsource_profile = jump\n\
             [profile jump]\nrole_arn = {JUMP}\nsource_profile = base\n\
             [profile base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n"
        ),
        &[("AWS_ENDPOINT_URL", &sts.base_url())],
    );
    let c = chain(&e, Some("router"))
        .unwrap()
        .credentials(t0())
        .unwrap();
    assert_eq!(c.access_key_id, "ASIAASSUMEDEXAMPLE");
    hop.assert_hits(1);
    last.assert_hits(1);
}

#[test]
fn a_profile_may_hold_the_keys_that_assume_its_own_role() {
    let sts = MockServer::start();
    let assume = sts.mock(|when, then| {
        when.method(POST)
            .x_www_form_urlencoded_tuple("RoleArn", ROLE)
            .matches(|r| authorization(r).contains("Credential=AKIDSELF/"));
        then.status(200).body(fixture("sts-assume-role.xml"));
    });
    let d = dir("self");
    let e = with_config(
        &d,
        &format!(
            "[default]\nrole_arn = {ROLE}\nsource_profile = default\n\
             aws_access_key_id = AKIDSELF\naws_secret_access_key = self-secret\n"
        ),
        &[("AWS_ENDPOINT_URL_STS", &sts.base_url())],
    );
    // The role wins over the keys beside it, which assume it.
    let c = get(&e).unwrap();
    assert_eq!(c.access_key_id, "ASIAASSUMEDEXAMPLE");
    assume.assert_hits(1);
}

#[test]
fn credential_source_environment_signs_with_the_environment_keys() {
    let sts = MockServer::start();
    let assume = sts.mock(|when, then| {
        when.method(POST)
            .x_www_form_urlencoded_tuple("RoleArn", ROLE)
            .header("x-amz-security-token", "env-token")
            .matches(|r| authorization(r).contains("Credential=AKIDENV/"));
        then.status(200).body(fixture("sts-assume-role.xml"));
    });
    let d = dir("credential-source");
    let e = with_config(
        &d,
        &format!("[profile ci]\nrole_arn = {ROLE}\ncredential_source = Environment\n"),
        &[
            ("AWS_ENDPOINT_URL_STS", &sts.base_url()),
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_SESSION_TOKEN", "env-token"),
        ],
    );
    // --profile skips the environment keys as a source of their own, but
    // the profile names them as the role's source.
    let c = chain(&e, Some("ci")).unwrap().credentials(t0()).unwrap();
    assert_eq!(c.access_key_id, "ASIAASSUMEDEXAMPLE");
    assume.assert_hits(1);
}

#[test]
fn role_configurations_that_cannot_work_are_refused_at_start() {
    let d = dir("role-invalid");
    let config = format!(
        "[profile a]\nrole_arn = {ROLE}\nsource_profile = b\n\
         [profile b]\nrole_arn = {JUMP}\nsource_profile = c\n\
         [profile c]\nrole_arn = {JUMP}\nsource_profile = a\n\
         [profile mfa]\nrole_arn = {ROLE}\nsource_profile = keys\nmfa_serial = arn:aws:iam::1:mfa/ops\n\
         [profile keys]\naws_access_key_id = AKID\naws_secret_access_key = s\n\
         [profile both]\nrole_arn = {ROLE}\nsource_profile = keys\ncredential_source = Environment\n\
         [profile long]\nrole_arn = {ROLE}\nsource_profile = keys\nduration_seconds = 1h\n\
         [profile imds]\nrole_arn = {ROLE}\ncredential_source = Ec2InstanceMetadata\n\
         [profile env]\nrole_arn = {ROLE}\ncredential_source = Environment\n\
         [profile odd]\nrole_arn = {ROLE}\ncredential_source = Lambda\n\
         [profile empty-source]\nrole_arn = {ROLE}\nsource_profile = region-only\n\
         [profile region-only]\nregion = eu-west-1\n\
         [profile missing]\nrole_arn = {ROLE}\nsource_profile = nowhere\n"
    );
    let e = with_config(&d, &config, &[]);
    for (profile, want) in [
        ("a", "source_profile goes round in a loop (a -> b -> c -> a)"),
        ("mfa", "it sets mfa_serial, so assuming the role needs an MFA code typed in, which vpc-router cannot ask for"),
        ("both", "it sets both source_profile and credential_source"),
        ("long", "duration_seconds is '1h'; give a number of seconds from 900"),
        ("imds", "credential_source = Ec2InstanceMetadata, but instance metadata is disabled"),
        ("env", "credential_source = Environment, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"),
        ("odd", "credential_source is 'Lambda'; it must be Environment, Ec2InstanceMetadata or EcsContainer"),
        ("empty-source", "its source_profile 'region-only' holds no credentials"),
        ("missing", "its source_profile: profile 'nowhere' is in neither"),
    ] {
        let err = chain(&e, Some(profile)).err().unwrap();
        assert!(matches!(err, CredentialsError::Invalid { .. }), "{profile}: {err:?}");
        assert!(err.to_string().contains(want), "{profile}: {err}");
    }
}

#[test]
fn sts_refusals_name_the_code_and_are_not_retried() {
    let sts = MockServer::start();
    let denied = sts.mock(|when, then| {
        when.method(POST)
            .x_www_form_urlencoded_tuple("RoleArn", ROLE);
        then.status(403)
            .body(fixture("sts-error-access-denied.xml"));
    });
    let expired = sts.mock(|when, then| {
        when.method(POST)
            .x_www_form_urlencoded_tuple("RoleArn", JUMP);
        then.status(400)
            .body(fixture("sts-error-expired-token.xml"));
    });
    let d = dir("sts-errors");
    let e = with_config(
        &d,
        &format!(
            "[profile denied]\nrole_arn = {ROLE}\nsource_profile = keys\n\
             [profile stale]\nrole_arn = {JUMP}\nsource_profile = keys\n\
             [profile keys]\naws_access_key_id = AKID\naws_secret_access_key = s\naws_session_token = old\n"
        ),
        &[("AWS_ENDPOINT_URL_STS", &sts.base_url())],
    );
    let err = chain(&e, Some("denied"))
        .unwrap()
        .credentials(t0())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "credentials from role {ROLE} (profile denied) failed: STS AssumeRole failed: \
             AccessDenied: User: arn:aws:iam::123456789012:user/ops is not authorized to perform: \
             sts:AssumeRole on resource: {ROLE} (HTTP 403, request ID \
             4c8a3e36-0a1b-4a55-9d6e-2f1e5c0c5a11)"
        )
    );
    denied.assert_hits(1);
    let err = chain(&e, Some("stale"))
        .unwrap()
        .credentials(t0())
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "ExpiredToken: The security token included in the request is expired (HTTP 400, \
             request ID 9b1e7c2d-5f3a-4e8b-a6d0-7c4f2e1b3a99); the credentials that assume the \
             role (profile keys) have expired"
        ),
        "{err}"
    );
    expired.assert_hits(1);
}

/// A token cache file as `aws sso login` leaves it, named after `key`.
fn login(home: &Path, key: &str, expires_at: &str) {
    let cache = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let doc = fixture("sso-cache-token.json").replace("2026-11-25T20:34:56Z", expires_at);
    std::fs::write(
        cache.join(format!("{}.json", sso::hex(&sso::sha1(key.as_bytes())))),
        doc,
    )
    .unwrap();
}

const START: &str = "https://d-9067642ac7.awsapps.com/start";

fn portal(server: &MockServer) -> httpmock::Mock<'_> {
    server.mock(|when, then| {
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
    })
}

#[test]
fn sso_session_credentials_come_from_the_cached_token_and_are_refreshed() {
    let server = MockServer::start();
    let call = portal(&server);
    let d = dir("sso");
    let e = with_config(
        &d,
        &format!(
            "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n\
             sso_role_name = RouterAdmin\nregion = eu-west-1\n\
             [sso-session corp]\nsso_start_url = {START}\nsso_region = us-east-1\n\
             sso_registration_scopes = sso:account:access\n"
        ),
        &[("AWS_ENDPOINT_URL_SSO", &server.base_url())],
    );
    login(&d, "corp", "2026-11-25T20:34:56Z");
    let chain = chain(&e, Some("dev")).unwrap();
    let c = chain.credentials(t0()).unwrap();
    assert_eq!(c.access_key_id, "ASIASSOEXAMPLE");
    assert_eq!(c.secret_access_key.expose(), "sso-secret-example");
    assert_eq!(
        c.session_token.as_ref().unwrap().expose(),
        "sso-session-token-example"
    );
    assert_eq!(c.expires, Some(at(60)));
    assert_eq!(
        c.source,
        "profile dev (IAM Identity Center) (role RouterAdmin in account 123456789012)"
    );
    chain.credentials(at(54)).unwrap();
    call.assert_hits(1);
    chain.credentials(at(56)).unwrap();
    call.assert_hits(2);
}

#[test]
fn legacy_sso_keys_find_the_token_by_the_start_url() {
    let server = MockServer::start();
    let call = portal(&server);
    let d = dir("sso-legacy");
    let e = with_config(
        &d,
        &format!(
            "[default]\nsso_start_url = {START}\nsso_region = us-east-1\n\
             sso_account_id = 123456789012\nsso_role_name = RouterAdmin\n"
        ),
        &[("AWS_ENDPOINT_URL_SSO", &server.base_url())],
    );
    login(&d, START, "2026-11-25T20:34:56UTC");
    assert_eq!(get(&e).unwrap().access_key_id, "ASIASSOEXAMPLE");
    call.assert_hits(1);
}

#[test]
fn sso_without_a_valid_token_says_to_log_in() {
    let server = MockServer::start();
    let refused = server.mock(|when, then| {
        when.method(GET).path("/federation/credentials");
        then.status(401)
            .header(
                "x-amzn-ErrorType",
                "UnauthorizedException:http://internal.amazon.com/coral/com.amazonaws.switchboard.portal/",
            )
            .body(fixture("sso-error-unauthorized.json"));
    });
    let d = dir("sso-expired");
    let e = with_config(
        &d,
        &format!(
            "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = RouterAdmin\n\
             [sso-session corp]\nsso_start_url = {START}\nsso_region = us-east-1\n"
        ),
        &[("AWS_ENDPOINT_URL_SSO", &server.base_url())],
    );
    let cache = d.join(format!(
        ".aws/sso/cache/{}.json",
        sso::hex(&sso::sha1(b"corp"))
    ));
    let chain = chain(&e, Some("dev")).unwrap();
    let err = chain.credentials(t0()).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "credentials from profile dev (IAM Identity Center) failed: no token for sso-session \
             corp in {} (not logged in); run `aws sso login --profile dev`",
            cache.display()
        )
    );
    login(&d, "corp", "2026-11-25T12:00:00Z");
    let err = chain.credentials(t0()).unwrap_err().to_string();
    assert!(
        err.ends_with(
            "the token for sso-session corp expired at 2026-11-25T12:00:00.000Z; run `aws sso \
             login --profile dev`"
        ),
        "{err}"
    );
    refused.assert_hits(0);
    // A token the portal no longer accepts (revoked, or signed out).
    login(&d, "corp", "2026-11-25T20:34:56Z");
    let err = chain.credentials(t0()).unwrap_err().to_string();
    assert!(
        err.ends_with(
            "GetRoleCredentials for role RouterAdmin in account 123456789012 failed: \
             UnauthorizedException: Session token not found or invalid (HTTP 401); the token \
             was refused: run `aws sso login --profile dev`"
        ),
        "{err}"
    );
    refused.assert_hits(1);
}

#[test]
fn sso_configurations_that_cannot_work_name_the_missing_key() {
    let d = dir("sso-invalid");
    let config = format!(
        "[profile nosection]\nsso_session = absent\nsso_account_id = 1\nsso_role_name = R\n\
         [profile nourl]\nsso_session = bare\nsso_account_id = 1\nsso_role_name = R\n\
         [profile norole]\nsso_session = corp\nsso_account_id = 1\n\
         [profile clash]\nsso_session = corp\nsso_start_url = https://other.awsapps.com/start\n\
         sso_account_id = 1\nsso_role_name = R\n\
         [profile legacy]\nsso_start_url = {START}\nsso_account_id = 1\nsso_role_name = R\n\
         [sso-session bare]\nsso_region = us-east-1\n\
         [sso-session corp]\nsso_start_url = {START}\nsso_region = us-east-1\n"
    );
    let e = with_config(&d, &config, &[]);
    let path = d.join("config");
    for (profile, want) in [
        ("nosection", format!("sso_session = absent, but {} has no [sso-session absent] section", path.display())),
        ("nourl", format!("[sso-session bare] in {} has no sso_start_url", path.display())),
        ("norole", "it has no sso_role_name".to_string()),
        ("clash", format!("its sso_start_url 'https://other.awsapps.com/start' differs from the '{START}' of [sso-session corp]")),
        ("legacy", "it has sso_start_url but no sso_region".to_string()),
    ] {
        let err = chain(&e, Some(profile)).err().unwrap();
        assert!(matches!(err, CredentialsError::Invalid { .. }), "{profile}: {err:?}");
        assert!(err.to_string().contains(&want), "{profile}: {err}");
    }
}

#[test]
fn a_role_not_assigned_in_identity_center_is_named_without_a_login_hint() {
    let server = MockServer::start();
    let forbidden = server.mock(|when, then| {
        when.method(GET).path("/federation/credentials");
        then.status(403)
            .header("x-amzn-ErrorType", "ForbiddenException:http://internal.amazon.com/coral/com.amazonaws.switchboard.portal/")
            .body(fixture("sso-error-forbidden.json"));
    });
    let d = dir("sso-forbidden");
    let e = with_config(
        &d,
        &format!(
            "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = RouterAdmin\n\
             [sso-session corp]\nsso_start_url = {START}\nsso_region = us-east-1\n"
        ),
        &[("AWS_ENDPOINT_URL_SSO", &server.base_url())],
    );
    login(&d, "corp", "2026-11-25T20:34:56Z");
    let err = chain(&e, Some("dev"))
        .unwrap()
        .credentials(t0())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(
            "GetRoleCredentials for role RouterAdmin in account 123456789012 failed: \
             ForbiddenException: No access (HTTP 403)"
        ),
        "{err}"
    );
    // Not retried: the same request would be refused the same way.
    forbidden.assert_hits(1);
}

/// The profile's configured endpoints (`[services NAME]`, then its own
/// `endpoint_url`) reach STS's `AssumeRole` and the Identity Center portal
/// too, as they reach EC2 (the SDKs' order, `aws::endpoint_override`).
#[test]
fn assume_role_and_the_portal_take_the_profile_s_configured_endpoints() {
    let sts = MockServer::start();
    let assume = sts.mock(|when, then| {
        when.method(POST)
            .path("/")
            .x_www_form_urlencoded_tuple("Action", "AssumeRole");
        then.status(200).body(fixture("sts-assume-role.xml"));
    });
    let d = dir("assume-services");
    let e = with_config(
        &d,
        &format!(
            "[profile router]\nrole_arn = {ROLE}\nsource_profile = base\nservices = local\n\
             [profile base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n\
             [services local]\nsts =\n  endpoint_url = {}\n",
            sts.base_url()
        ),
        // Should the endpoint be missed, the call goes to a dead local
        // proxy, never to AWS.
        &[("HTTPS_PROXY", "http://127.0.0.1:9")],
    );
    let c = chain(&e, Some("router"))
        .unwrap()
        .credentials(t0())
        .unwrap();
    assert_eq!(c.access_key_id, "ASIAASSUMEDEXAMPLE");
    assume.assert_hits(1);

    let server = MockServer::start();
    let call = portal(&server);
    let d = dir("sso-endpoint-url");
    let e = with_config(
        &d,
        &format!(
            "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n\
             sso_role_name = RouterAdmin\nregion = eu-west-1\nendpoint_url = {}\n\
             [sso-session corp]\nsso_start_url = {START}\nsso_region = us-east-1\n",
            server.base_url()
        ),
        &[("HTTPS_PROXY", "http://127.0.0.1:9")],
    );
    login(&d, "corp", "2026-11-25T20:34:56Z");
    let c = chain(&e, Some("dev")).unwrap().credentials(t0()).unwrap();
    assert_eq!(c.access_key_id, "ASIASSOEXAMPLE");
    call.assert_hits(1);
}
