//! The credential chain against mock STS, container and metadata endpoints
//! on 127.0.0.1, with the time passed in.

use super::*;
use httpmock::prelude::*;
use std::path::PathBuf;

/// 2026-11-25T12:34:56Z.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_610_096)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn temp(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vpc-router-creds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

/// An environment with nothing configured and metadata off, plus `pairs`.
fn env(pairs: &[(&str, &str)]) -> Env {
    let mut all = vec![
        ("HOME", "/nonexistent-vpc-router-home"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    all.extend_from_slice(pairs);
    Env::from_pairs(all)
}

/// The chain as `lib::resolve` builds it.
fn chain(
    env: &Env,
    profile: Option<&str>,
) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
    default_chain(
        env,
        profile,
        Some(&"us-east-1".parse().unwrap()),
        Imds::from_env(env).map(Arc::new),
        &Retrier::new(RetryPolicy::default(), &crate::clock::Clock::system()),
    )
}

fn get(env: &Env) -> Result<Credentials, CredentialsError> {
    chain(env, None)?.credentials(t0())
}

#[test]
fn environment_keys_come_first() {
    let c = get(&env(&[
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ("AWS_SESSION_TOKEN", "env-token"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent"),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/x"),
    ]))
    .unwrap();
    assert_eq!(
        (c.access_key_id.as_str(), c.source.as_str()),
        ("AKIDENV", "environment")
    );
    assert_eq!(c.session_token.unwrap().expose(), "env-token");
}

#[test]
fn half_set_keys_are_an_error_not_a_fall_through() {
    let err = chain(&env(&[("AWS_ACCESS_KEY_ID", "AKIDENV")]), None)
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "credentials from environment failed: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both, or neither"
    );
}

#[test]
fn profile_keys_and_profile_kinds_that_cannot_work() {
    let creds = temp("credentials", "[prod]\naws_access_key_id = AKIDPROD\naws_secret_access_key = prod-secret\n[sso]\nsso_session = corp\n[chain]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = prod\n[sourceless]\nrole_arn = arn:aws:iam::1:role/x\n");
    let e = env(&[
        ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
        ("AWS_PROFILE", "prod"),
    ]);
    let c = get(&e).unwrap();
    assert_eq!(
        (c.access_key_id.as_str(), c.source.as_str()),
        ("AKIDPROD", "profile prod")
    );
    let e = env(&[
        ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
        ("AWS_CONFIG_FILE", "/nonexistent-vpc-router-config"),
    ]);
    // Issue 13: these were refused as unsupported; now they are followed,
    // and what cannot work says what is missing.
    let err = chain(&e, Some("sso")).err().unwrap();
    assert!(matches!(err, CredentialsError::Invalid { .. }), "{err:?}");
    assert!(
        err.to_string().contains(
            "sso_session = corp, but /nonexistent-vpc-router-config has no [sso-session corp] section"
        ),
        "{err}"
    );
    assert!(chain(&e, Some("chain")).is_ok());
    let err = chain(&e, Some("sourceless")).err().unwrap().to_string();
    assert!(
        err.contains("role_arn needs source_profile (a profile whose credentials assume the role) or credential_source"),
        "{err}"
    );
    let err = chain(&e, Some("absent")).err().unwrap().to_string();
    assert!(err.contains("profile 'absent' is in neither"), "{err}");
}

#[test]
fn nothing_configured_says_what_was_tried() {
    let err = get(&env(&[])).unwrap_err();
    assert_eq!(
        err,
        CredentialsError::NotFound(
            "environment variables, shared config files, web identity, container credentials, \
             instance profile (IMDSv2) (disabled)"
                .into()
        )
    );
}

#[test]
fn web_identity_asks_sts_with_the_token_file() {
    let sts = MockServer::start();
    let call = sts.mock(|when, then| {
        when.method(POST)
            .path("/")
            .x_www_form_urlencoded_tuple("Action", "AssumeRoleWithWebIdentity")
            .x_www_form_urlencoded_tuple("Version", "2011-06-15")
            .x_www_form_urlencoded_tuple("RoleArn", "arn:aws:iam::123456789012:role/vpc-router")
            .x_www_form_urlencoded_tuple("RoleSessionName", "router-1")
            .x_www_form_urlencoded_tuple("WebIdentityToken", "eyJ.token.sig");
        then.status(200)
            .body(fixture("sts-assume-role-with-web-identity.xml"));
    });
    let token = temp("token", "eyJ.token.sig\n");
    let e = env(&[
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/vpc-router"),
        ("AWS_ROLE_SESSION_NAME", "router-1"),
        ("AWS_ENDPOINT_URL_STS", &sts.base_url()),
    ]);
    let chain = chain(&e, None).unwrap();
    let c = chain.credentials(t0()).unwrap();
    assert_eq!(c.access_key_id, "ASIASTSEXAMPLE");
    assert_eq!(c.secret_access_key.expose(), "sts-secret-example");
    assert_eq!(
        c.session_token.as_ref().unwrap().expose(),
        "sts-session-token-example"
    );
    assert_eq!(c.expires, Some(t0() + Duration::from_secs(3600)));
    assert_eq!(
        c.source,
        "web identity (arn:aws:iam::123456789012:role/vpc-router)"
    );
    // Cached while fresh: no second STS call.
    chain.credentials(t0() + Duration::from_secs(600)).unwrap();
    call.assert_hits(1);
    // Refreshed when less than five minutes remain.
    chain
        .credentials(t0() + Duration::from_secs(3600 - 200))
        .unwrap();
    call.assert_hits(2);
}

#[test]
fn an_sts_error_carries_code_message_and_request_id() {
    let sts = MockServer::start();
    sts.mock(|when, then| {
        when.method(POST).path("/");
        then.status(400)
            .body(fixture("sts-error-invalid-identity-token.xml"));
    });
    let token = temp("token-err", "bad-token");
    let e = env(&[
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/vpc-router"),
        ("AWS_ENDPOINT_URL", &sts.base_url()),
    ]);
    let err = get(&e).unwrap_err().to_string();
    assert!(
        err.contains(
            "STS AssumeRoleWithWebIdentity failed: InvalidIdentityToken: No OpenIDConnect provider"
        ),
        "{err}"
    );
    assert!(
        err.contains("request ID c6104cbe-af31-11e0-8154-cbc7ccf896c7"),
        "{err}"
    );
    assert!(
        !err.contains("bad-token"),
        "the token must not be in messages: {err}"
    );
}

#[test]
fn web_identity_from_the_profile() {
    let token = temp("token-profile", "tok");
    let config = temp(
        "config",
        &format!(
            "[profile irsa]\nrole_arn = arn:aws:iam::1:role/r\nweb_identity_token_file = {}\n",
            token.display()
        ),
    );
    let e = env(&[
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9"),
    ]);
    // Configured from the profile: the error comes from reaching STS.
    let err = chain(&e, Some("irsa"))
        .unwrap()
        .credentials(t0())
        .unwrap_err();
    assert!(
        matches!(err, CredentialsError::Transport { ref source, .. } if source == "web identity (arn:aws:iam::1:role/r)"),
        "{err:?}"
    );
}

#[test]
fn container_credentials_with_a_token_or_a_token_file() {
    let agent = MockServer::start();
    let with_token = agent.mock(|when, then| {
        when.method(GET)
            .path("/v2/credentials")
            .header("authorization", "Bearer-ish token");
        then.status(200).body(fixture("container-credentials.json"));
    });
    let url = format!("{}/v2/credentials", agent.base_url());
    let c = get(&env(&[
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer-ish token"),
    ]))
    .unwrap();
    assert_eq!(c.access_key_id, "ASIACONTAINEREXAMPLE");
    assert_eq!(c.session_token.unwrap().expose(), "container-token-example");
    assert_eq!(c.source, "container credentials");
    let file = temp("pod-identity-token", "Bearer-ish token\n");
    get(&env(&[
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            file.to_str().unwrap(),
        ),
    ]))
    .unwrap();
    with_token.assert_hits(2);
}

#[test]
fn container_uris() {
    let e = env(&[(
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "/v2/credentials/abc",
    )]);
    let c = Container::configured(&e).unwrap().unwrap();
    assert_eq!(c.url, "http://169.254.170.2/v2/credentials/abc");
    for ok in [
        "https://creds.example/x",
        "http://127.0.0.1:8080/c",
        "http://localhost/c",
        "http://[::1]:80/c",
        "http://169.254.170.23/v1/credentials",
        "http://[fd00:ec2::23]/c",
    ] {
        assert!(check_full_uri(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://10.0.0.5/creds",
        "http://example.com/c",
        "ftp://127.0.0.1/c",
    ] {
        let err = check_full_uri(bad).unwrap_err().to_string();
        assert!(err.contains("must be https://"), "{bad}: {err}");
    }
}

#[test]
fn instance_profile_through_imds() {
    let imds = MockServer::start();
    imds.mock(|when, then| {
        when.method(PUT).path("/latest/api/token");
        then.status(200).body("T");
    });
    imds.mock(|when, then| {
        when.method(GET)
            .path("/latest/meta-data/iam/security-credentials/")
            .header("x-aws-ec2-metadata-token", "T");
        then.status(200).body("router-role");
    });
    let doc = imds.mock(|when, then| {
        when.method(GET)
            .path("/latest/meta-data/iam/security-credentials/router-role");
        then.status(200)
            .body(fixture("imds-security-credentials.json"));
    });
    let e = Env::from_pairs([
        ("HOME", "/nonexistent-vpc-router-home"),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            imds.base_url().as_str(),
        ),
    ]);
    let c = get(&e).unwrap();
    assert_eq!(c.source, "instance profile router-role");
    doc.assert_hits(1);
}

/// A source that fails after its first answer.
struct Flaky {
    calls: Mutex<u32>,
}

impl Fetch for Flaky {
    fn fetch(&self, now: SystemTime) -> Result<Credentials, CredentialsError> {
        let mut n = self.calls.lock().unwrap();
        *n += 1;
        if *n > 1 {
            return Err(CredentialsError::Transport {
                source: "flaky".into(),
                detail: "down".into(),
            });
        }
        Ok(Credentials {
            access_key_id: "ASIAFLAKY".into(),
            secret_access_key: Secret::new("s"),
            session_token: None,
            expires: Some(now + Duration::from_secs(600)),
            source: "flaky".into(),
        })
    }
}

#[test]
fn a_failed_refresh_keeps_still_valid_credentials_until_they_expire() {
    let cached = Cached::new(Flaky {
        calls: Mutex::new(0),
    });
    assert_eq!(cached.credentials(t0()).unwrap().access_key_id, "ASIAFLAKY");
    // Inside the refresh window: the refresh fails, the old ones still work.
    let near = t0() + Duration::from_secs(400);
    assert_eq!(cached.credentials(near).unwrap().access_key_id, "ASIAFLAKY");
    // Expired: the failure is the answer.
    let late = t0() + Duration::from_secs(601);
    assert!(matches!(
        cached.credentials(late),
        Err(CredentialsError::Transport { .. })
    ));
}

#[test]
fn an_explicit_profile_beats_environment_keys_but_aws_profile_does_not() {
    let creds = temp(
        "credentials-precedence",
        "[prod]\naws_access_key_id = AKIDPROD\naws_secret_access_key = prod-secret\n",
    );
    let e = env(&[
        ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ("AWS_PROFILE", "prod"),
    ]);
    assert_eq!(get(&e).unwrap().access_key_id, "AKIDENV");
    let c = chain(&e, Some("prod")).unwrap().credentials(t0()).unwrap();
    assert_eq!(c.access_key_id, "AKIDPROD");
}

// Issue 14: a control character in a key failed every signed request as a
// network error (exit 4, after retries); it is a usage error at start.
#[test]
fn a_control_character_in_a_key_is_refused_at_once_without_showing_it() {
    for (var, value) in [
        ("AWS_ACCESS_KEY_ID", "AKID\u{1b}[31mENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret\r"),
        ("AWS_SESSION_TOKEN", "tok\nen"),
    ] {
        let mut pairs = vec![
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ];
        pairs.retain(|(k, _)| *k != var);
        pairs.push((var, value));
        let err = chain(&env(&pairs), None).err().unwrap();
        let CredentialsError::Invalid { source, detail } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(source, "environment");
        assert!(
            detail.starts_with(&format!("{var} contains a control character (at character")),
            "{detail}"
        );
        assert!(!err.to_string().contains("env-secret"), "{err}");
    }
    let creds = temp(
        "credentials-cr",
        "[default]\naws_access_key_id = AKID\u{7}X\naws_secret_access_key = s\n",
    );
    let e = env(&[("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap())]);
    let err = chain(&e, None).err().unwrap();
    assert!(
        matches!(&err, CredentialsError::Invalid { source, detail }
            if source == "profile default" && detail.starts_with("aws_access_key_id contains a control character (at character 5)")),
        "{err:?}"
    );
}

// Issue 14: a malformed shared file was skipped and the error said "no
// credentials found".
#[test]
fn a_malformed_shared_file_names_the_file_and_line() {
    let creds = temp(
        "credentials-bad",
        "[default]\naws_access_key_id = AKID\naws_secret_access_key wJalr\n",
    );
    let e = env(&[("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap())]);
    let err = chain(&e, None).err().unwrap();
    assert!(matches!(err, CredentialsError::Invalid { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "credentials from shared config files cannot be used: {}, line 3: is neither",
            creds.display()
        )),
        "{msg}"
    );
    assert!(!msg.contains("wJalr"), "{msg}");
}

// Issue 14: an STS endpoint that is not a URL is refused at start, and one
// with a password in it is shown redacted.
#[test]
fn the_sts_endpoint_is_checked_and_redacted() {
    let token = temp("token-sts", "header.payload.sig");
    let base = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/x"),
    ];
    let mut pairs = base.to_vec();
    pairs.push(("AWS_ENDPOINT_URL_STS", "ftp://u:pw@127.0.0.1"));
    let err = chain(&env(&pairs), None).err().unwrap().to_string();
    assert_eq!(
        err,
        "credentials from web identity (arn:aws:iam::1:role/x) cannot be used: \
         AWS_ENDPOINT_URL_STS: 'ftp://***@127.0.0.1' is not an http:// or https:// URL \
         (e.g. http://127.0.0.1:5000)"
    );
    let mut pairs = base.to_vec();
    pairs.push(("AWS_ENDPOINT_URL_STS", "http://u:secretpw@127.0.0.1:9"));
    let err = get(&env(&pairs)).unwrap_err().to_string();
    assert!(err.contains("STS at http://***@127.0.0.1:9"), "{err}");
    assert!(!err.contains("secretpw"), "{err}");
}

mod sources;
