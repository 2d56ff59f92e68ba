//! The credential chain, in the order the AWS tools use: environment,
//! shared files (keys, roles assumed through `source_profile` or
//! `credential_source`, IAM Identity Center, `credential_process`: see the
//! submodules), web identity (STS AssumeRoleWithWebIdentity), container
//! credentials, instance profile (IMDSv2). The chain is chosen from
//! configuration up front; network calls happen lazily, and temporary
//! credentials are cached and refreshed before they expire.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::aws::imds::Imds;
use crate::aws::profile::{self, Profile, ProfileError};
use crate::aws::{Credentials, CredentialsError, CredentialsProvider, Env, Secret};
use crate::http::AgentSettings;
use crate::query::{self, form_body, XmlError};
use crate::retry::{self, on_urgent_thread, Decision, Failed, Retrier, RetryPolicy};
use crate::timefmt::parse_rfc3339;
use crate::types::Region;

mod assume_role;
mod process;
mod sso;

/// Temporary credentials are refreshed when less than this remains.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);
const CONTAINER_HOST: &str = "http://169.254.170.2";

/// Builds the chain for this environment. Errors only for configuration
/// that cannot work (half-set keys, a named profile that does not exist);
/// no network access happens here. `imds` is the metadata client the caller
/// already has (or `None` when metadata is disabled), so that one session
/// token serves region, VPC and credentials. STS calls retry with
/// `retrier`, the one the EC2 client shares its quota with.
pub fn default_chain(
    env: &Env,
    profile_flag: Option<&str>,
    region: Option<&Region>,
    imds: Option<Arc<Imds>>,
    retrier: &Retrier,
) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
    let mut tried = vec!["environment variables"];
    // An explicit --profile beats keys in the environment, as in the AWS
    // CLI: a router started with --profile must not act with whatever
    // account the shell happens to hold. AWS_PROFILE does not do this.
    let keys_from_env = profile_flag.is_none();
    if !keys_from_env {
        tried[0] = "environment variables (skipped: --profile given)";
    }
    if let Some(c) = static_keys(
        "environment",
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
        env.get("AWS_SESSION_TOKEN"),
        ENV_KEYS,
    )?
    .filter(|_| keys_from_env)
    {
        return Ok(Arc::new(Static(c)));
    }
    let profile = profile::load(env, profile_flag).map_err(|e| {
        let source = "shared config files".to_string();
        match e {
            ProfileError::Malformed { .. } => CredentialsError::Invalid {
                source,
                detail: format!("{e}; fix that line (or remove it)"),
            },
            e => CredentialsError::Provider {
                source,
                detail: e.to_string(),
            },
        }
    })?;
    tried.push("shared config files");
    if let Some(p) = &profile {
        // Keys, a role (source_profile, credential_source), IAM Identity
        // Center or credential_process; web identity comes below.
        let cx = assume_role::Context {
            env,
            region,
            imds: imds.clone(),
            retrier,
        };
        if let Some(provider) = assume_role::from_profile(p, &cx)? {
            return Ok(provider);
        }
    }
    tried.push("web identity");
    if let Some(w) = WebIdentity::configured(env, profile.as_ref(), region, retrier)? {
        return Ok(Arc::new(Cached::new(w)));
    }
    tried.push("container credentials");
    if let Some(c) = Container::configured(env)? {
        return Ok(Arc::new(Cached::new(c)));
    }
    tried.push("instance profile (IMDSv2)");
    if let Some(imds) = imds {
        return Ok(Arc::new(Cached::new(InstanceProfile { imds })));
    }
    Ok(Arc::new(Nothing(tried.join(", ") + " (disabled)")))
}

/// The names of the key ID, the secret and the session token, where they
/// come from.
const ENV_KEYS: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];
const PROFILE_KEYS: [&str; 3] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
];

/// Long-term or session keys given directly. One of the pair without the
/// other is an error rather than a silent fall-through to another source;
/// so is a control character in any of them (a pasted CR, an escape), which
/// could only fail every signed request, as a network error, after retries.
fn static_keys(
    source: &str,
    key: Option<&str>,
    secret: Option<&str>,
    token: Option<&str>,
    names: [&str; 3],
) -> Result<Option<Credentials>, CredentialsError> {
    for (value, name) in [key, secret, token].into_iter().zip(names) {
        let Some(at) = value.and_then(|v| v.chars().position(char::is_control)) else {
            continue;
        };
        // The value is not shown: it may be a secret.
        return Err(CredentialsError::Invalid {
            source: source.to_string(),
            detail: format!(
                "{name} contains a control character (at character {}); set it again \
                 without it (a line copied from a Windows file carries a CR)",
                at + 1
            ),
        });
    }
    let names = (names[0], names[1]);
    match (key, secret) {
        (Some(k), Some(s)) => Ok(Some(Credentials {
            access_key_id: k.to_string(),
            secret_access_key: Secret::new(s),
            session_token: token.map(Secret::new),
            expires: None,
            source: source.to_string(),
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(half_set(source, names.0, names.1)),
        (None, Some(_)) => Err(half_set(source, names.1, names.0)),
    }
}

fn half_set(source: &str, set: &str, missing: &str) -> CredentialsError {
    CredentialsError::Provider {
        source: source.to_string(),
        detail: format!("{set} is set but {missing} is not; set both, or neither"),
    }
}

struct Static(Credentials);

impl CredentialsProvider for Static {
    fn credentials(&self, _now: SystemTime) -> Result<Credentials, CredentialsError> {
        Ok(self.0.clone())
    }
}

/// No source is configured: every call says what was tried.
struct Nothing(String);

impl CredentialsProvider for Nothing {
    fn credentials(&self, _now: SystemTime) -> Result<Credentials, CredentialsError> {
        Err(CredentialsError::NotFound(self.0.clone()))
    }
}

/// A source of temporary credentials.
trait Fetch: Send + Sync {
    fn fetch(&self, now: SystemTime) -> Result<Credentials, CredentialsError>;

    /// Fetches while the cached credentials still work: every call waits
    /// on it, so a source that retries tries only once here (the next call
    /// tries again).
    fn refresh(&self, now: SystemTime) -> Result<Credentials, CredentialsError> {
        self.fetch(now)
    }
}

/// Caches what a [`Fetch`] returns until shortly before it expires. If a
/// refresh fails while the cached credentials are still valid, they are
/// used: a passing STS or metadata hiccup must not stop a router.
struct Cached<F> {
    inner: F,
    cache: Mutex<Option<Credentials>>,
}

impl<F: Fetch> Cached<F> {
    fn new(inner: F) -> Cached<F> {
        Cached {
            inner,
            cache: Mutex::new(None),
        }
    }
}

impl<F: Fetch> CredentialsProvider for Cached<F> {
    fn credentials(&self, now: SystemTime) -> Result<Credentials, CredentialsError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = |c: &Credentials, margin: Duration| {
            c.expires
                .is_none_or(|exp| exp.duration_since(now).is_ok_and(|left| left > margin))
        };
        if let Some(c) = cache.as_ref().filter(|c| fresh(c, REFRESH_BEFORE)) {
            return Ok(c.clone());
        }
        let usable = cache.as_ref().is_some_and(|c| fresh(c, Duration::ZERO));
        let fetched = if usable {
            self.inner.refresh(now)
        } else {
            self.inner.fetch(now)
        };
        match fetched {
            Ok(c) => {
                *cache = Some(c.clone());
                Ok(c)
            }
            Err(e) => match cache.as_ref().filter(|c| fresh(c, Duration::ZERO)) {
                Some(c) => {
                    crate::warn!("refreshing credentials failed, using the cached ones until they expire: {e}");
                    Ok(c.clone())
                }
                None => Err(e),
            },
        }
    }
}

/// A credentials endpoint (`what`) did not answer.
fn unreachable(source: &str, what: &str, e: ureq::Error) -> CredentialsError {
    CredentialsError::Transport {
        source: source.to_string(),
        detail: format!("{what}: {e}"),
    }
}

/// An agent for a credentials endpoint, with the proxy the environment
/// names for it (never one for the container agent, which is local) and
/// the CA bundle (`AWS_CA_BUNDLE`, for STS).
fn agent(proxy: Option<String>, tls: Option<crate::http::Tls>) -> ureq::Agent {
    AgentSettings::new(Duration::from_secs(3), Duration::from_secs(10))
        .tls(tls)
        .proxy(proxy.and_then(|p| match ureq::Proxy::new(&p) {
            Ok(proxy) => Some(proxy),
            Err(e) => {
                crate::warn!(
                    "not using the proxy '{}' for a credentials endpoint: {e}",
                    crate::aws::redact_url(&p)
                );
                None
            }
        }))
        .build()
}

/// STS `AssumeRoleWithWebIdentity` with a token from a file (EKS IRSA).
struct WebIdentity {
    token_file: String,
    role_arn: String,
    session_name: Option<String>,
    endpoint: String,
    /// The endpoint for messages: user-info redacted.
    shown: String,
    agent: ureq::Agent,
    retrier: Retrier,
}

/// STS error codes retried besides the standard ones: the identity
/// provider could not be reached (the SDKs retry it for STS).
const STS_TRANSIENT_CODES: &[&str] = &["IDPCommunicationError"];

/// Whether an STS error answer is worth another attempt.
fn classify_sts(status: u16, code: Option<&str>) -> Decision {
    match code {
        Some(c) if STS_TRANSIENT_CODES.contains(&c) => Decision::Retry { throttled: false },
        _ => retry::classify(status, code),
    }
}

impl WebIdentity {
    /// `None` when web identity is not configured; an error when it is,
    /// with an STS endpoint that is not a URL.
    fn configured(
        env: &Env,
        profile: Option<&Profile>,
        region: Option<&Region>,
        retrier: &Retrier,
    ) -> Result<Option<WebIdentity>, CredentialsError> {
        let (token_file, role_arn, session_name) = match (
            env.get("AWS_WEB_IDENTITY_TOKEN_FILE"),
            env.get("AWS_ROLE_ARN"),
        ) {
            (Some(f), Some(r)) => (
                f.to_string(),
                r.to_string(),
                env.get("AWS_ROLE_SESSION_NAME").map(str::to_string),
            ),
            _ => {
                let from_profile = profile.and_then(|p| {
                    Some((
                        p.get("web_identity_token_file")?.to_string(),
                        p.get("role_arn")?.to_string(),
                        p.get("role_session_name").map(str::to_string),
                    ))
                });
                match from_profile {
                    Some(found) => found,
                    None => return Ok(None),
                }
            }
        };
        let invalid = |detail: String| CredentialsError::Invalid {
            source: format!("web identity ({role_arn})"),
            detail,
        };
        // AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the profile's, unless
        // configured endpoints are ignored; checked at start.
        let endpoint = assume_role::sts_endpoint(env, profile, region).map_err(invalid)?;
        let tls = crate::aws::ca_bundle(env, profile).map_err(invalid)?;
        let proxy = crate::aws::proxy_for(env, &endpoint);
        Ok(Some(WebIdentity {
            token_file,
            role_arn,
            session_name,
            shown: crate::aws::redact_url(&endpoint),
            endpoint,
            agent: agent(proxy, tls),
            retrier: retrier.clone(),
        }))
    }

    /// One AssumeRoleWithWebIdentity request: the answer's body, or how it
    /// failed as the retry loop needs to know it.
    fn attempt(&self, source: &str, body: &str) -> Result<String, Failed<CredentialsError>> {
        let url = format!("{}/", self.endpoint);
        let request = self.agent.post(&url);
        assume_role::sts_post(
            request,
            body,
            source,
            &self.shown,
            "AssumeRoleWithWebIdentity",
            "",
        )
    }

    /// AssumeRoleWithWebIdentity, retried as `policy` says (on the quota
    /// the EC2 calls share).
    fn assume_role(
        &self,
        now: SystemTime,
        policy: &RetryPolicy,
    ) -> Result<Credentials, CredentialsError> {
        let source = format!("web identity ({})", self.role_arn);
        let provider_err = |detail: String| CredentialsError::Provider {
            source: source.clone(),
            detail,
        };
        // The token file is re-read every time: the kubelet rotates it.
        let token = std::fs::read_to_string(&self.token_file).map_err(|e| {
            provider_err(format!(
                "cannot read the token file {}: {e}",
                self.token_file
            ))
        })?;
        let session = self.session_name.clone().unwrap_or_else(|| {
            format!(
                "vpc-router-{}",
                now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
            )
        });
        let body = form_body(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", &self.role_arn),
            ("RoleSessionName", &session),
            ("WebIdentityToken", token.trim()),
        ]);
        let attempt: assume_role::Attempt = &mut |_| self.attempt(&source, &body);
        let (text, _) = self
            .retrier
            .run("STS AssumeRoleWithWebIdentity", policy, attempt);
        let text = text?;
        sts_credentials(&text, "AssumeRoleWithWebIdentity", source.clone()).map_err(provider_err)
    }
}

impl Fetch for WebIdentity {
    fn fetch(&self, now: SystemTime) -> Result<Credentials, CredentialsError> {
        // Briefly on a failover's thread (credentials can expire in the
        // middle of one).
        let policy = if on_urgent_thread() {
            self.retrier.policy.urgent()
        } else {
            self.retrier.policy
        };
        self.assume_role(now, &policy)
    }

    fn refresh(&self, now: SystemTime) -> Result<Credentials, CredentialsError> {
        let once = RetryPolicy {
            max_attempts: 1,
            ..self.retrier.policy
        };
        self.assume_role(now, &once)
    }
}

/// Temporary credentials from an STS `AssumeRoleWithWebIdentityResponse`:
/// access key ID, secret access key, session token and expiration, as sent.
/// The temporary credentials in the answer to the STS `action`
/// (`AssumeRole`, `AssumeRoleWithWebIdentity`): `<{action}Response>
/// <{action}Result><Credentials>`, for `source`. STS speaks the Query
/// protocol like EC2, so its answer is read with the same element tree; its
/// errors come in the `<ErrorResponse>` envelope that [`query::error_body`]
/// reads. The error says what is wrong with the answer.
fn sts_credentials(xml: &str, action: &str, source: String) -> Result<Credentials, String> {
    let bad = |e: XmlError| format!("STS answer: {e}");
    let root = query::document(xml, &format!("{action}Response")).map_err(bad)?;
    let creds = root
        .child(&format!("{action}Result"))
        .and_then(|r| r.child("Credentials"))
        .ok_or_else(|| bad(XmlError(format!("no {action}Result/Credentials element"))))?;
    let field = |name: &str| {
        creds
            .text(name)
            .map(str::to_string)
            .ok_or_else(|| bad(XmlError(format!("Credentials without {name}"))))
    };
    let expiration = field("Expiration")?;
    let expires = parse_rfc3339(&expiration)
        .ok_or_else(|| format!("STS answer: bad Expiration '{expiration}'"))?;
    Ok(Credentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: Secret::new(field("SecretAccessKey")?),
        session_token: Some(Secret::new(field("SessionToken")?)),
        expires: Some(expires),
        source,
    })
}

/// ECS task roles and EKS Pod Identity: a local HTTP endpoint.
struct Container {
    url: String,
    auth: Option<ContainerAuth>,
    agent: ureq::Agent,
}

enum ContainerAuth {
    Token(Secret),
    /// Read at each fetch, as it may be rotated.
    File(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerCredentials {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    expiration: Option<String>,
}

impl Container {
    fn configured(env: &Env) -> Result<Option<Container>, CredentialsError> {
        let url = if let Some(rel) = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            format!("{CONTAINER_HOST}{rel}")
        } else if let Some(full) = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            check_full_uri(full)?;
            full.to_string()
        } else {
            return Ok(None);
        };
        let auth = env
            .get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            .map(|f| ContainerAuth::File(f.to_string()))
            .or_else(|| {
                env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
                    .map(|t| ContainerAuth::Token(Secret::new(t)))
            });
        Ok(Some(Container {
            url,
            auth,
            agent: agent(None, None),
        }))
    }
}

/// A full URI must be HTTPS, or HTTP to this host or the ECS/EKS agents,
/// so that credentials are never fetched in clear text from elsewhere.
fn check_full_uri(url: &str) -> Result<(), CredentialsError> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let host = url
        .strip_prefix("http://")
        .map(|rest| rest.split('/').next().unwrap_or(""))
        .map(|authority| match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.split(':').next().unwrap_or(""),
        });
    let allowed = host.is_some_and(|h| {
        h == "localhost"
            || h == "169.254.170.2"
            || h == "169.254.170.23"
            || h == "fd00:ec2::23"
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if allowed {
        Ok(())
    } else {
        Err(CredentialsError::Provider {
            source: "container credentials".into(),
            detail: format!(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI '{url}' must be https://, or http:// to a \
                 loopback address or the ECS/EKS agent (169.254.170.2, 169.254.170.23, fd00:ec2::23)"
            ),
        })
    }
}

impl Fetch for Container {
    fn fetch(&self, _now: SystemTime) -> Result<Credentials, CredentialsError> {
        let source = "container credentials".to_string();
        let provider_err = |detail: String| CredentialsError::Provider {
            source: source.clone(),
            detail,
        };
        let mut req = self.agent.get(&self.url);
        match &self.auth {
            Some(ContainerAuth::Token(t)) => req = req.header("authorization", t.expose()),
            Some(ContainerAuth::File(f)) => {
                let t = std::fs::read_to_string(f).map_err(|e| {
                    provider_err(format!("cannot read the authorization token file {f}: {e}"))
                })?;
                req = req.header("authorization", t.trim());
            }
            None => {}
        }
        let mut resp = req.call().map_err(|e| unreachable(&source, &self.url, e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| unreachable(&source, &self.url, e))?;
        if status != 200 {
            return Err(provider_err(format!("{} answered HTTP {status}", self.url)));
        }
        let c: ContainerCredentials = serde_json::from_str(&text)
            .map_err(|e| provider_err(format!("not the expected JSON: {e}")))?;
        let expires = match &c.expiration {
            Some(e) => Some(
                parse_rfc3339(e).ok_or_else(|| provider_err(format!("bad Expiration '{e}'")))?,
            ),
            None => None,
        };
        Ok(Credentials {
            access_key_id: c.access_key_id,
            secret_access_key: Secret::new(c.secret_access_key),
            session_token: c.token.map(Secret::new),
            expires,
            source,
        })
    }
}

/// The EC2 instance profile, through IMDSv2.
struct InstanceProfile {
    imds: Arc<Imds>,
}

impl Fetch for InstanceProfile {
    fn fetch(&self, _now: SystemTime) -> Result<Credentials, CredentialsError> {
        match self.imds.role_credentials() {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(CredentialsError::NotFound(
                "environment variables, shared config files, web identity, container credentials, \
                 and the instance profile (the instance has none)"
                    .into(),
            )),
            Err(e) => Err(CredentialsError::NotFound(format!(
                "environment variables, shared config files, web identity, container credentials, \
                 and the instance profile: {e}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
