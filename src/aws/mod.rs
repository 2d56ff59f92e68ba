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

/// The EC2 endpoint given by `--endpoint-url`, else `AWS_ENDPOINT_URL_EC2`,
/// else `AWS_ENDPOINT_URL`, checked and without a trailing slash, with
/// where it came from; `None` when none is set (the region's endpoint is
/// used, [`endpoint::resolve`]). The error names where the URL came from
/// and shows it with its user-info redacted.
pub fn endpoint_override(
    flag: Option<&str>,
    env: &Env,
) -> Result<Option<(&'static str, String)>, String> {
    let given = match flag {
        Some(url) => Some(("--endpoint-url", url)),
        None => ["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"]
            .into_iter()
            .find_map(|var| env.get(var).map(|url| (var, url))),
    };
    match given {
        None => Ok(None),
        Some((from, url)) => {
            check_url(url).map_err(|e| format!("{from}: {e}"))?;
            Ok(Some((from, url.trim_end_matches('/').to_string())))
        }
    }
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
            let given = endpoint_override(flag, env).unwrap();
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
            let e = endpoint_override(None, &env).unwrap_err();
            assert!(e.starts_with(want), "{url:?}: {e}");
        }
        let bad = Env::from_pairs([("AWS_ENDPOINT_URL_EC2", "ftp://x")]);
        // The flag wins, so the variable is not looked at.
        assert_eq!(
            endpoint_override(Some("http://127.0.0.1:3/"), &bad).unwrap(),
            Some(("--endpoint-url", "http://127.0.0.1:3".into()))
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
            assert!(endpoint_override(None, &env)
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
