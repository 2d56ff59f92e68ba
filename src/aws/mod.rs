//! Everything vpc-router learns from its AWS surroundings rather than from
//! its arguments: credentials (environment, shared files, web identity,
//! container, instance profile), the region and VPC (from IMDSv2), and the
//! EC2 and STS endpoints (`endpoint`: every partition and variant). Environment variables arrive as an [`Env`] snapshot taken in
//! `main`; nothing here reads the process environment itself.

pub mod credentials;
pub mod endpoint;
pub mod imds;
pub mod profile;
pub mod sign;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

/// A snapshot of the environment variables, so that resolution is a pure
/// function of its inputs and tests can build one from a list.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment. Called once, in `main`.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The variable's value; an empty value counts as unset, as in the AWS SDKs.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The user's home directory, for `~/.aws/...`.
    pub fn home(&self) -> Option<PathBuf> {
        self.get("HOME").map(PathBuf::from)
    }
}

pub use crate::clock::Clock;

/// A secret string. Its `Debug` and `Display` never show the value, so a
/// secret cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The value itself, for the one place that needs it: signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// AWS credentials, with where they came from (for `--verbose`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    /// When temporary credentials stop working; `None` for long-term keys.
    pub expires: Option<SystemTime>,
    /// Which provider gave them, e.g. "environment" or "profile default".
    pub source: String,
}

/// Why no credentials could be had. The message names every source tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsError {
    /// No provider in the chain had credentials.
    NotFound(String),
    /// A provider was configured but failed (bad file, STS refused, ...).
    Provider { source: String, detail: String },
    /// A provider's endpoint could not be reached.
    Transport { source: String, detail: String },
    /// The configuration cannot work as given (a control character in a
    /// key, a malformed shared file, an endpoint that is not a URL): a
    /// usage error, found at start, never retried.
    Invalid { source: String, detail: String },
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsError::NotFound(tried) => write!(
                f,
                "no AWS credentials found (tried {tried}); set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, configure ~/.aws/credentials or --profile, \
                 or run on an instance with an IAM role"
            ),
            CredentialsError::Provider { source, detail } => {
                write!(f, "credentials from {source} failed: {detail}")
            }
            CredentialsError::Transport { source, detail } => {
                write!(
                    f,
                    "credentials from {source} could not be fetched: {detail}"
                )
            }
            CredentialsError::Invalid { source, detail } => {
                write!(f, "credentials from {source} cannot be used: {detail}")
            }
        }
    }
}

impl std::error::Error for CredentialsError {}

/// Something that can hand out credentials valid at `now`. Implementations
/// cache and refresh temporary credentials before they expire.
pub trait CredentialsProvider: Send + Sync {
    fn credentials(&self, now: SystemTime) -> Result<Credentials, CredentialsError>;
}

/// The endpoint URL configured for `service` (`ec2`, `sts`), in the SDKs'
/// order: the flag (`--endpoint-url`, EC2 only); then, unless
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` (or the profile's
/// `ignore_configured_endpoint_urls`) is true, `AWS_ENDPOINT_URL_<SERVICE>`,
/// `AWS_ENDPOINT_URL`, the `endpoint_url` of the service in the profile's
/// `[services NAME]` section, the profile's `endpoint_url`. Checked and
/// without a trailing slash, with where it came from; `None` when none is
/// set (the region's endpoint is used, [`endpoint::resolve`]). The error
/// names where the URL came from and shows it with its user-info redacted.
pub fn endpoint_override(
    service: &str,
    flag: Option<&str>,
    env: &Env,
    profile: Option<&profile::Profile>,
) -> Result<Option<(String, String)>, String> {
    let given = match flag {
        Some(url) => Some(("--endpoint-url".to_string(), url.to_string())),
        None if configured_endpoints_ignored(env, profile)? => None,
        None => configured_endpoint(service, env, profile)?,
    };
    match given {
        None => Ok(None),
        Some((from, url)) => {
            check_url(&url).map_err(|e| format!("{from}: {e}"))?;
            Ok(Some((from, url.trim_end_matches('/').to_string())))
        }
    }
}

/// The environment's and the profile's endpoint URL for `service`, in the
/// SDKs' order, unchecked.
fn configured_endpoint(
    service: &str,
    env: &Env,
    profile: Option<&profile::Profile>,
) -> Result<Option<(String, String)>, String> {
    let var = format!("AWS_ENDPOINT_URL_{}", service.to_ascii_uppercase());
    for var in [var.as_str(), "AWS_ENDPOINT_URL"] {
        if let Some(url) = env.get(var) {
            return Ok(Some((var.to_string(), url.to_string())));
        }
    }
    let Some(p) = profile else {
        return Ok(None);
    };
    if let Some(url) = p.service_setting(service, "endpoint_url")? {
        let from = format!(
            "endpoint_url of {service} in [services {}] (profile {})",
            p.get("services").unwrap_or_default(),
            p.name
        );
        return Ok(Some((from, url.to_string())));
    }
    Ok(p.get("endpoint_url").map(|url| {
        (
            format!("endpoint_url of profile {}", p.name),
            url.to_string(),
        )
    }))
}

/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`, else the profile's
/// `ignore_configured_endpoint_urls`: `true` or `false` in any case,
/// anything else an error naming the setting.
pub fn configured_endpoints_ignored(
    env: &Env,
    profile: Option<&profile::Profile>,
) -> Result<bool, String> {
    let (from, value) = match (
        env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"),
        profile.and_then(|p| p.get("ignore_configured_endpoint_urls")),
    ) {
        (Some(v), _) => ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", v),
        (None, Some(v)) => ("ignore_configured_endpoint_urls", v),
        (None, None) => return Ok(false),
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{from} is '{value}'; it must be true or false")),
    }
}

/// The CA bundle every TLS connection to AWS (EC2, STS) trusts:
/// `AWS_CA_BUNDLE`, else the profile's `ca_bundle`, a file of PEM
/// certificates. As in the AWS CLI (botocore) and the Go SDK, the bundle
/// replaces the built-in roots rather than adding to them: a corporate
/// bundle must hold every CA the endpoints need. `None` when neither is
/// set; an error naming the setting and the file when it cannot be read or
/// holds no certificate, so a bad bundle stops the run at start.
pub fn ca_bundle(
    env: &Env,
    profile: Option<&profile::Profile>,
) -> Result<Option<crate::http::Tls>, String> {
    let (from, path) = match (
        env.get("AWS_CA_BUNDLE"),
        profile.and_then(|p| p.get("ca_bundle")),
    ) {
        (Some(path), _) => ("AWS_CA_BUNDLE".to_string(), path),
        (None, Some(path)) => (
            format!("ca_bundle of profile {}", profile.map_or("", |p| &p.name)),
            path,
        ),
        (None, None) => return Ok(None),
    };
    let pem = std::fs::read(path).map_err(|e| format!("{from}: cannot read {path}: {e}"))?;
    crate::http::Tls::from_pem(Some(&pem), None)
        .map(Some)
        .map_err(|e| format!("{from}: {path}: {e}; give a file of PEM CA certificates"))
}

/// The retry policy for AWS calls: the default, with `AWS_MAX_ATTEMPTS`
/// (else the profile's `max_attempts`) attempts, in `AWS_RETRY_MODE` (else
/// the profile's `retry_mode`): `standard`, or `legacy`, retried the same
/// way; `adaptive` is refused ([`crate::retry::parse_retry_mode`]).
pub fn retry_policy(
    env: &Env,
    profile: Option<&profile::Profile>,
) -> Result<crate::retry::RetryPolicy, String> {
    use crate::retry::{parse_max_attempts, parse_retry_mode, RetryMode, RetryPolicy};
    let setting = |var: &str, key: &str| match env.get(var) {
        Some(v) => Some((var.to_string(), v)),
        None => profile.and_then(|p| Some((format!("{key} of profile {}", p.name), p.get(key)?))),
    };
    let mut policy = RetryPolicy::default();
    if let Some((from, v)) = setting("AWS_RETRY_MODE", "retry_mode") {
        if parse_retry_mode(&from, v)? == RetryMode::Legacy {
            crate::debug!("{from} is legacy: retrying as in the standard mode");
        }
    }
    if let Some((from, v)) = setting("AWS_MAX_ATTEMPTS", "max_attempts") {
        policy.max_attempts = parse_max_attempts(&from, v)?;
    }
    Ok(policy)
}

/// Settings of the SDKs' shared config that would change how the AWS CLI
/// behaves but that vpc-router does not read, and what it does instead.
const NOT_READ: [(&str, &str); 8] = [
    (
        "ec2_metadata_service_endpoint",
        "set AWS_EC2_METADATA_SERVICE_ENDPOINT",
    ),
    (
        "ec2_metadata_service_endpoint_mode",
        "set AWS_EC2_METADATA_SERVICE_ENDPOINT",
    ),
    (
        "ec2_metadata_v1_disabled",
        "set AWS_EC2_METADATA_V1_DISABLED",
    ),
    (
        "metadata_service_timeout",
        "metadata is read with 1 s / 2 s timeouts",
    ),
    (
        "metadata_service_num_attempts",
        "metadata is read once per value",
    ),
    (
        "defaults_mode",
        "vpc-router has its own timeouts (--timeout, --connect-timeout)",
    ),
    (
        "sts_regional_endpoints",
        "STS is always called at the region's endpoint",
    ),
    ("api_versions", "EC2 is called with API version 2016-11-15"),
];

/// A warning for every setting of `profile` that the AWS tools would act
/// on but vpc-router does not read, naming it and saying what applies.
pub fn unread_settings(profile: &profile::Profile) -> Vec<String> {
    NOT_READ
        .iter()
        .filter(|(key, _)| {
            profile
                .keys()
                .any(|k| k == *key || k.strip_prefix(*key).is_some_and(|r| r.starts_with('.')))
        })
        .map(|(key, instead)| {
            format!(
                "profile {}: {key} is not read by vpc-router ({instead})",
                profile.name
            )
        })
        .collect()
}

/// An endpoint URL vpc-router can use: `http://` or `https://`, a host,
/// and no whitespace or control characters. The message shows the URL
/// redacted and says what would be right.
pub fn check_url(url: &str) -> Result<(), String> {
    let shown = redact_url(url);
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "'{shown}' contains a space or a control character; give a URL such as \
             http://127.0.0.1:5000"
        ));
    }
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.split_once("://").is_some_and(|(_, rest)| {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            !host.is_empty()
        });
    if !ok {
        return Err(format!(
            "'{shown}' is not an http:// or https:// URL (e.g. http://127.0.0.1:5000)"
        ));
    }
    // The SDKs sign a query string as part of the request; vpc-router posts
    // its form to the endpoint's path and signs that alone, so a query
    // would make every signature wrong (and a fragment is never sent).
    if url.contains(['?', '#']) {
        return Err(format!(
            "'{shown}' has a query string or a fragment ('?' or '#'), which an endpoint URL \
             cannot have; give the scheme, host, port and path only (e.g. \
             https://vpce-0123.ec2.us-east-1.vpce.amazonaws.com)"
        ));
    }
    Ok(())
}

/// `url` as it may be shown: a user name and password in it
/// (`http://user:pass@host`) become `***`. Every message, report and
/// status shows endpoints through this; requests use the URL as given.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// The proxy for `url` from the environment snapshot, as curl and the AWS
/// tools read it: `HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http ones
/// (either case), unless `NO_PROXY` names the host (`*`, the host, or a
/// domain suffix) or the host is a loopback address, which is never proxied.
/// ureq would read the process environment itself; reading the snapshot
/// keeps resolution in one place and testable.
pub fn proxy_for(env: &Env, url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    }
    .to_ascii_lowercase();
    if host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    {
        return None;
    }
    let no_proxy = env
        .get("NO_PROXY")
        .or_else(|| env.get("no_proxy"))
        .unwrap_or("");
    for entry in no_proxy.split(',').map(|e| e.trim().to_ascii_lowercase()) {
        let domain = entry.trim_start_matches('.');
        if entry == "*"
            || (!domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}"))))
        {
            return None;
        }
    }
    let vars: &[&str] = if scheme.eq_ignore_ascii_case("https") {
        &["HTTPS_PROXY", "https_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy"]
    };
    vars.iter().find_map(|v| env.get(v)).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Region;

    #[test]
    fn endpoint_resolution_follows_the_sdk_order() {
        let r: Region = "us-east-1".parse().unwrap();
        let cn: Region = "cn-north-1".parse().unwrap();
        let none = Env::default();
        let ep = |flag: Option<&str>, env: &Env, region: &Region| {
            let given = endpoint_override("ec2", flag, env, None).unwrap();
            let given = given.as_ref().map(|(f, u)| (f.as_str(), u.clone()));
            endpoint::resolve("ec2", given, region, &endpoint::Variant::default()).unwrap()
        };
        assert_eq!(ep(None, &none, &r), "https://ec2.us-east-1.amazonaws.com");
        assert_eq!(
            ep(None, &none, &cn),
            "https://ec2.cn-north-1.amazonaws.com.cn"
        );
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1/"),
            ("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:2"),
        ]);
        assert_eq!(ep(None, &env, &r), "http://127.0.0.1:2");
        assert_eq!(
            ep(Some("http://127.0.0.1:3"), &env, &r),
            "http://127.0.0.1:3"
        );
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1/"),
            ("AWS_ENDPOINT_URL_EC2", ""),
        ]);
        assert_eq!(ep(None, &env, &r), "http://127.0.0.1:1");
    }

    /// A HOME with `config` as its ~/.aws/config, and the profile `name`
    /// loaded from it.
    fn config_profile(test: &str, config: &str, name: Option<&str>) -> profile::Profile {
        let dir =
            std::env::temp_dir().join(format!("vpc-router-aws-{}-{test}", std::process::id()));
        std::fs::create_dir_all(dir.join(".aws")).unwrap();
        std::fs::write(dir.join(".aws/config"), config).unwrap();
        let env = Env::from_pairs([("HOME", dir.to_str().unwrap())]);
        profile::load(&env, name).unwrap().unwrap()
    }

    const ENDPOINTS: &str = "
[default]
endpoint_url = http://127.0.0.1:10/
services = local
[profile global]
endpoint_url = http://127.0.0.1:11
[profile ignoring]
endpoint_url = http://127.0.0.1:12
ignore_configured_endpoint_urls = TRUE
[profile dangling]
services = nowhere
[profile bad-ignore]
ignore_configured_endpoint_urls = sometimes
[services local]
ec2 =
  endpoint_url = http://127.0.0.1:13
s3 =
  endpoint_url = http://127.0.0.1:14
";

    // The SDKs' order (the SDK reference guide, service-specific
    // endpoints): the flag; unless ignored, AWS_ENDPOINT_URL_EC2,
    // AWS_ENDPOINT_URL, the services section, the profile's endpoint_url.
    #[test]
    fn profile_endpoints_follow_the_sdk_order() {
        let default = config_profile("ep-default", ENDPOINTS, None);
        let global = config_profile("ep-global", ENDPOINTS, Some("global"));
        let ignoring = config_profile("ep-ignoring", ENDPOINTS, Some("ignoring"));
        let none = Env::default();
        let ep = |service, flag, env: &Env, p: &profile::Profile| {
            endpoint_override(service, flag, env, Some(p)).unwrap()
        };
        let pair = |from: &str, url: &str| Some((from.to_string(), url.to_string()));
        assert_eq!(
            ep("ec2", None, &none, &default),
            pair(
                "endpoint_url of ec2 in [services local] (profile default)",
                "http://127.0.0.1:13"
            )
        );
        // STS is not in the section: the profile's own endpoint_url.
        assert_eq!(
            ep("sts", None, &none, &default),
            pair("endpoint_url of profile default", "http://127.0.0.1:10")
        );
        assert_eq!(
            ep("ec2", None, &none, &global),
            pair("endpoint_url of profile global", "http://127.0.0.1:11")
        );
        let env = Env::from_pairs([("AWS_ENDPOINT_URL", "http://127.0.0.1:20")]);
        assert_eq!(
            ep("ec2", None, &env, &default),
            pair("AWS_ENDPOINT_URL", "http://127.0.0.1:20")
        );
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:20"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:21"),
        ]);
        assert_eq!(
            ep("sts", None, &env, &default),
            pair("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:21")
        );
        // Ignored: the profile's and the environment's; never the flag.
        assert_eq!(ep("ec2", None, &env, &ignoring), None);
        assert_eq!(
            ep("ec2", Some("http://127.0.0.1:30"), &env, &ignoring),
            pair("--endpoint-url", "http://127.0.0.1:30")
        );
        let ignore = Env::from_pairs([
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:20"),
        ]);
        assert_eq!(ep("ec2", None, &ignore, &default), None);
        // The variable beats the profile's setting, either way.
        let heed = Env::from_pairs([("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false")]);
        assert_eq!(
            ep("ec2", None, &heed, &ignoring),
            pair("endpoint_url of profile ignoring", "http://127.0.0.1:12")
        );
    }

    #[test]
    fn bad_endpoint_settings_are_errors_that_name_them() {
        let dangling = config_profile("ep-dangling", ENDPOINTS, Some("dangling"));
        let e = endpoint_override("ec2", None, &Env::default(), Some(&dangling)).unwrap_err();
        assert_eq!(
            e,
            "profile dangling has services = nowhere, but there is no [services nowhere] \
             section in the config file; add it or remove the setting"
        );
        let bad = config_profile("ep-bad-ignore", ENDPOINTS, Some("bad-ignore"));
        let e = endpoint_override("ec2", None, &Env::default(), Some(&bad)).unwrap_err();
        assert_eq!(
            e,
            "ignore_configured_endpoint_urls is 'sometimes'; it must be true or false"
        );
        let p = config_profile(
            "ep-bad-url",
            "[profile x]\nendpoint_url = ftp://u:pw@127.0.0.1\n",
            Some("x"),
        );
        let e = endpoint_override("ec2", None, &Env::default(), Some(&p)).unwrap_err();
        assert_eq!(
            e,
            "endpoint_url of profile x: 'ftp://***@127.0.0.1' is not an http:// or https:// \
             URL (e.g. http://127.0.0.1:5000)"
        );
    }

    #[test]
    fn retries_come_from_the_environment_then_the_profile() {
        let p = config_profile(
            "retry",
            "[default]\nmax_attempts = 7\nretry_mode = legacy\n[profile adaptive]\nretry_mode = adaptive\n[profile zero]\nmax_attempts = 0\n",
            None,
        );
        assert_eq!(
            retry_policy(&Env::default(), Some(&p))
                .unwrap()
                .max_attempts,
            7
        );
        assert_eq!(retry_policy(&Env::default(), None).unwrap().max_attempts, 5);
        let env = Env::from_pairs([("AWS_MAX_ATTEMPTS", "2"), ("AWS_RETRY_MODE", "standard")]);
        assert_eq!(retry_policy(&env, Some(&p)).unwrap().max_attempts, 2);
        let adaptive = config_profile(
            "retry-adaptive",
            "[profile adaptive]\nretry_mode = adaptive\n",
            Some("adaptive"),
        );
        let e = retry_policy(&Env::default(), Some(&adaptive)).unwrap_err();
        assert!(
            e.starts_with(
                "retry_mode of profile adaptive is adaptive, which vpc-router does not support"
            ),
            "{e}"
        );
        // The environment's standard overrides the profile's adaptive.
        let env = Env::from_pairs([("AWS_RETRY_MODE", "standard")]);
        assert!(retry_policy(&env, Some(&adaptive)).is_ok());
        let zero = config_profile(
            "retry-zero",
            "[profile zero]\nmax_attempts = 0\n",
            Some("zero"),
        );
        let e = retry_policy(&Env::default(), Some(&zero)).unwrap_err();
        assert!(
            e.starts_with("max_attempts of profile zero is 0; it must be"),
            "{e}"
        );
        let env = Env::from_pairs([("AWS_RETRY_MODE", "turbo")]);
        assert!(retry_policy(&env, None)
            .unwrap_err()
            .starts_with("AWS_RETRY_MODE is 'turbo'"));
    }

    #[test]
    fn a_bad_ca_bundle_is_an_error_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("vpc-router-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let env = Env::from_pairs([("AWS_CA_BUNDLE", missing.to_str().unwrap())]);
        let e = ca_bundle(&env, None).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "AWS_CA_BUNDLE: cannot read {}: ",
                missing.display()
            )),
            "{e}"
        );
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let p = config_profile(
            "ca",
            &format!("[default]\nca_bundle = {}\n", empty.display()),
            None,
        );
        let e = ca_bundle(&Env::default(), Some(&p)).unwrap_err();
        assert_eq!(
            e,
            format!(
                "ca_bundle of profile default: {}: the CA file holds no PEM certificate; give \
                 a file of PEM CA certificates",
                empty.display()
            )
        );
        assert!(ca_bundle(&Env::default(), None).unwrap().is_none());
    }

    #[test]
    fn settings_vpc_router_does_not_read_are_named() {
        let p = config_profile(
            "unread",
            "[default]\nregion = us-east-1\nec2_metadata_service_endpoint_mode = IPv6\napi_versions =\n  ec2 = 2015-03-01\n",
            None,
        );
        let mut w = unread_settings(&p);
        w.sort();
        assert_eq!(
            w,
            [
                "profile default: api_versions is not read by vpc-router (EC2 is called with \
                 API version 2016-11-15)",
                "profile default: ec2_metadata_service_endpoint_mode is not read by vpc-router \
                 (set AWS_EC2_METADATA_SERVICE_ENDPOINT)",
            ]
        );
    }

    // Issue 14: a bad URL in the environment was retried as a network
    // error; now it is refused at start, naming the variable.
    #[test]
    fn an_endpoint_from_the_environment_is_checked_like_the_flag() {
        let cases = [
            (
                "AWS_ENDPOINT_URL_EC2",
                "ftp://user:pw@127.0.0.1/",
                "AWS_ENDPOINT_URL_EC2: 'ftp://***@127.0.0.1/' is not an http:// or https:// URL",
            ),
            (
                "AWS_ENDPOINT_URL",
                "http://",
                "AWS_ENDPOINT_URL: 'http://' is not an http:// or https:// URL",
            ),
            (
                "AWS_ENDPOINT_URL",
                "http://u:p@/x",
                "AWS_ENDPOINT_URL: 'http://***@/x' is not an http",
            ),
            (
                "AWS_ENDPOINT_URL_EC2",
                "http://127.0.0.1:5000\r",
                "AWS_ENDPOINT_URL_EC2: 'http://127.0.0.1:5000\r' contains a space or a control",
            ),
        ];
        for (var, url, want) in cases {
            let env = Env::from_pairs([(var, url)]);
            let e = endpoint_override("ec2", None, &env, None).unwrap_err();
            assert!(e.starts_with(want), "{url:?}: {e}");
        }
        let bad = Env::from_pairs([("AWS_ENDPOINT_URL_EC2", "ftp://x")]);
        // The flag wins, so the variable is not looked at.
        assert_eq!(
            endpoint_override("ec2", Some("http://127.0.0.1:3/"), &bad, None).unwrap(),
            Some(("--endpoint-url".into(), "http://127.0.0.1:3".into()))
        );
    }

    // Issue 16: a query string was signed differently from botocore (which
    // signs it); now an endpoint URL with one is refused.
    #[test]
    fn an_endpoint_with_a_query_string_is_refused() {
        for url in [
            "http://127.0.0.1:5000/?x=1",
            "https://ec2.example/?",
            "http://127.0.0.1:5000#frag",
            "http://u:p@127.0.0.1/path?Action=DeleteRoute",
        ] {
            let e = check_url(url).unwrap_err();
            assert!(e.contains("has a query string or a fragment"), "{url}: {e}");
            assert!(!e.contains(":p@"), "redacted: {e}");
            let env = Env::from_pairs([("AWS_ENDPOINT_URL_EC2", url)]);
            assert!(endpoint_override("ec2", None, &env, None)
                .unwrap_err()
                .starts_with("AWS_ENDPOINT_URL_EC2: '"));
        }
        assert_eq!(check_url("http://127.0.0.1:5000/base/path"), Ok(()));
    }

    // Issue 14: a password in the endpoint URL was printed in errors, in
    // --output json and in the daemon's status.
    #[test]
    fn user_info_is_redacted_from_shown_urls() {
        for (url, shown) in [
            (
                "http://user:pass@127.0.0.1:5000",
                "http://***@127.0.0.1:5000",
            ),
            ("https://a@b@host/p@th?q=@", "https://***@host/p@th?q=@"),
            ("https://host/p@th", "https://host/p@th"),
            ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn proxies_come_from_the_snapshot_with_no_proxy_and_loopback_exempt() {
        let env = Env::from_pairs([
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("http_proxy", "http://plain.corp:8080"),
            ("NO_PROXY", "internal.example, .vpce.amazonaws.com"),
        ]);
        let p = |url: &str| proxy_for(&env, url);
        assert_eq!(
            p("https://ec2.us-east-1.amazonaws.com").as_deref(),
            Some("http://proxy.corp:3128")
        );
        assert_eq!(
            p("http://emulator.example:4566").as_deref(),
            Some("http://plain.corp:8080")
        );
        assert_eq!(p("https://internal.example"), None);
        assert_eq!(p("https://ec2.internal.example:443"), None);
        assert_eq!(p("https://vpce-1.ec2.us-east-1.vpce.amazonaws.com"), None);
        assert_eq!(p("http://127.0.0.1:5000"), None);
        assert_eq!(p("http://[::1]:5000/"), None);
        assert_eq!(p("http://localhost:5000"), None);
        assert_eq!(
            proxy_for(&Env::default(), "https://ec2.us-east-1.amazonaws.com"),
            None
        );
        let all = Env::from_pairs([("HTTPS_PROXY", "http://p:1"), ("no_proxy", "*")]);
        assert_eq!(proxy_for(&all, "https://ec2.us-east-1.amazonaws.com"), None);
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI"),
            session_token: Some(Secret::new("tok")),
            expires: None,
            source: "environment".into(),
        };
        let s = format!("{c:?}");
        assert!(!s.contains("wJalrXUtnFEMI") && !s.contains("tok\""), "{s}");
    }
}
