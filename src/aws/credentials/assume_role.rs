//! What a profile names, followed as the AWS SDKs follow it: `role_arn`
//! with `source_profile` (recursively; a loop is an error) or
//! `credential_source`, ending in a base (keys, IAM Identity Center,
//! `credential_process`, web identity, or a named source); each role is
//! assumed with a SigV4-signed STS `AssumeRole` (Query API, POST,
//! 2011-06-15) made with the credentials below it, and cached until shortly
//! before it expires. `mfa_serial` is refused: a daemon cannot prompt.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::process::{self, Process};
use super::sso::Sso;
use super::{
    agent, classify_sts, static_keys, sts_credentials, unreachable, Cached, Container, Fetch,
    InstanceProfile, Static, WebIdentity, ENV_KEYS, PROFILE_KEYS,
};
use crate::aws::endpoint::{self, Variant};
use crate::aws::imds::Imds;
use crate::aws::profile::{self, Profile};
use crate::aws::sign::sign;
use crate::aws::{Credentials, CredentialsError, CredentialsProvider, Env};
use crate::query::{self, form_body};
use crate::retry::{on_urgent_thread, parse_retry_after, Decision, Failed, Retrier, RetryPolicy};
use crate::types::Region;

/// What building a provider needs from the chain.
pub(super) struct Context<'a> {
    pub env: &'a Env,
    pub region: Option<&'a Region>,
    pub imds: Option<Arc<Imds>>,
    pub retrier: &'a Retrier,
}

type Provider = Arc<dyn CredentialsProvider>;

/// One attempt of a credentials call, as the retry loop takes it: through
/// `dyn`, so that the loop is compiled once for every such call.
pub(super) type Attempt<'a> = &'a mut dyn FnMut(u32) -> Result<String, Failed<CredentialsError>>;

/// The provider the profile names; `None` when it names none that this
/// module handles (only a region, say, or web identity, which the chain
/// reads from the environment first), so that the chain goes on.
pub(super) fn from_profile(
    top: &Profile,
    cx: &Context,
) -> Result<Option<Provider>, CredentialsError> {
    let mut roles: Vec<Role> = Vec::new();
    let mut visited = vec![top.name.clone()];
    let mut p = top.clone();
    let base: Provider = loop {
        // In a source profile, keys win over its own role_arn, as in the
        // SDKs (a profile can hold the keys that assume its own role).
        if !roles.is_empty() {
            if let Some(c) = profile_keys(&p)? {
                break Arc::new(Static(c));
            }
        }
        let Some((role, next)) = role_of(&p, cx)? else {
            match base(&p, cx, roles.last())? {
                Some(b) => break b,
                None => return Ok(None),
            }
        };
        roles.push(role);
        match next {
            Next::Source(name) => break named_source(&name, &p, cx)?,
            Next::Profile(name) if name == p.name => match base(&p, cx, roles.last())? {
                Some(b) => break b,
                None => unreachable!("a source profile's base is never None"),
            },
            Next::Profile(name) => {
                visited.push(name.clone());
                if visited[..visited.len() - 1].contains(&name) {
                    return Err(CredentialsError::Invalid {
                        source: format!("profile {}", top.name),
                        detail: format!(
                            "source_profile goes round in a loop ({}); end the chain in a \
                             profile with keys, credential_process, sso_session or \
                             credential_source",
                            visited.join(" -> ")
                        ),
                    });
                }
                p = load(cx.env, &name, &p.name)?;
            }
        }
    };
    // The CA bundle of the profile in force (or AWS_CA_BUNDLE) covers
    // every hop, as the SDKs read it once for the client.
    let tls =
        crate::aws::ca_bundle(cx.env, Some(top)).map_err(|detail| CredentialsError::Invalid {
            source: format!("profile {}", top.name),
            detail,
        })?;
    let mut provider = base;
    for role in roles.into_iter().rev() {
        provider = cached(Box::new(AssumeRole {
            source: provider,
            agent: agent(crate::aws::proxy_for(cx.env, &role.endpoint), tls.clone()),
            retrier: cx.retrier.clone(),
            role,
        }));
    }
    Ok(Some(provider))
}

/// A source cached until shortly before its credentials expire. Through
/// `dyn`, so that the cache is compiled once for the sources here.
fn cached(source: Box<dyn Fetch>) -> Provider {
    Arc::new(Cached::new(source))
}

impl Fetch for Box<dyn Fetch> {
    fn fetch(&self, now: SystemTime) -> Result<Credentials, CredentialsError> {
        (**self).fetch(now)
    }

    fn refresh(&self, now: SystemTime) -> Result<Credentials, CredentialsError> {
        (**self).refresh(now)
    }
}

/// The profile a `source_profile` names.
fn load(env: &Env, name: &str, of: &str) -> Result<Profile, CredentialsError> {
    let invalid = |detail: String| CredentialsError::Invalid {
        source: format!("profile {of}"),
        detail: format!("its source_profile: {detail}"),
    };
    match profile::load(env, Some(name)) {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(invalid(format!("profile '{name}' is not configured"))),
        Err(e) => Err(invalid(e.to_string())),
    }
}

fn profile_keys(p: &Profile) -> Result<Option<Credentials>, CredentialsError> {
    static_keys(
        &format!("profile {}", p.name),
        p.get("aws_access_key_id"),
        p.get("aws_secret_access_key"),
        p.get("aws_session_token"),
        PROFILE_KEYS,
    )
}

/// Where the credentials that assume a role come from.
enum Next {
    Profile(String),
    Source(String),
}

/// One role to assume, as a profile describes it.
struct Role {
    profile: String,
    role_arn: String,
    session_name: Option<String>,
    external_id: Option<String>,
    duration_seconds: Option<u32>,
    /// The STS endpoint, its host (signed) and the region signed for.
    endpoint: String,
    shown: String,
    host: String,
    signing_region: String,
}

/// The role the profile assumes, and from what; `None` without `role_arn`,
/// or for web identity (`role_arn` with `web_identity_token_file` alone).
fn role_of(p: &Profile, cx: &Context) -> Result<Option<(Role, Next)>, CredentialsError> {
    let Some(role_arn) = p.get("role_arn") else {
        return Ok(None);
    };
    let invalid = |detail: String| CredentialsError::Invalid {
        source: format!("profile {}", p.name),
        detail,
    };
    let next = match (p.get("source_profile"), p.get("credential_source")) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "it sets both source_profile and credential_source; keep the one that holds \
                 the credentials that assume the role"
                    .into(),
            ))
        }
        (Some(s), None) => Next::Profile(s.to_string()),
        (None, Some(c)) => Next::Source(c.to_string()),
        (None, None) if p.get("web_identity_token_file").is_some() => return Ok(None),
        (None, None) => {
            return Err(invalid(
                "role_arn needs source_profile (a profile whose credentials assume the role) \
                 or credential_source (Environment, Ec2InstanceMetadata or EcsContainer)"
                    .into(),
            ))
        }
    };
    if p.get("mfa_serial").is_some() {
        return Err(invalid(
            "it sets mfa_serial, so assuming the role needs an MFA code typed in, which \
             vpc-router cannot ask for (it runs unattended); give the router a role whose trust \
             policy does not require MFA, or assume the role yourself and export the \
             credentials"
                .into(),
        ));
    }
    let duration_seconds = match p.get("duration_seconds") {
        None => None,
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if (900..=43_200).contains(&n) => Some(n),
            _ => {
                return Err(invalid(format!(
                    "duration_seconds is '{v}'; give a number of seconds from 900 (15 minutes) \
                     to 43200 (12 hours), within the role's maximum session duration"
                )))
            }
        },
    };
    let endpoint = sts_endpoint(cx.env, Some(p), cx.region).map_err(invalid)?;
    let role = Role {
        profile: p.name.clone(),
        role_arn: role_arn.to_string(),
        session_name: p.get("role_session_name").map(str::to_string),
        external_id: p.get("external_id").map(str::to_string),
        duration_seconds,
        shown: crate::aws::redact_url(&endpoint),
        host: host_of(&endpoint),
        signing_region: cx.region.map_or("us-east-1", Region::as_str).to_string(),
        endpoint,
    };
    Ok(Some((role, next)))
}

/// STS's endpoint: the configured one ([`crate::aws::endpoint_override`]:
/// `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, the profile's, unless
/// configured endpoints are ignored), else the region's (in the FIPS /
/// dual-stack variant asked for), else the global endpoint when there is
/// no region.
pub(super) fn sts_endpoint(
    env: &Env,
    p: Option<&Profile>,
    region: Option<&Region>,
) -> Result<String, String> {
    let given = crate::aws::endpoint_override("sts", None, env, p)?;
    let variant = Variant::configured(env, p)?;
    match region {
        Some(r) => {
            let given = given.as_ref().map(|(from, u)| (from.as_str(), u.clone()));
            endpoint::resolve("sts", given, r, &variant).map_err(|e| e.to_string())
        }
        None => Ok(given.map_or_else(|| "https://sts.amazonaws.com".into(), |(_, u)| u)),
    }
}

/// The `host[:port]` of an endpoint URL as the Host header carries it (and
/// SigV4 signs it): no user-info, no default port.
fn host_of(endpoint: &str) -> String {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("", endpoint));
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default = if scheme == "https" { ":443" } else { ":80" };
    authority
        .strip_suffix(default)
        .unwrap_or(authority)
        .to_string()
}

/// What a profile holds when it assumes no role: keys, IAM Identity Center,
/// `credential_process`, or (in a source profile) web identity. `None` for
/// the profile in force (`of` is `None`) that holds none of these; an error
/// for a source profile that holds none.
fn base(
    p: &Profile,
    cx: &Context,
    of: Option<&Role>,
) -> Result<Option<Provider>, CredentialsError> {
    if let Some(c) = profile_keys(p)? {
        return Ok(Some(Arc::new(Static(c))));
    }
    if p.get("sso_session").is_some() || p.get("sso_start_url").is_some() {
        return Ok(Some(cached(Box::new(Sso::configured(p, cx)?))));
    }
    if let Some(command) = p.get("credential_process") {
        let process = Process::new(&p.name, command, process::TIMEOUT)?;
        return Ok(Some(cached(Box::new(process))));
    }
    let Some(role) = of else {
        return Ok(None);
    };
    if p.get("web_identity_token_file").is_some() && p.get("role_arn").is_some() {
        // The profile's web identity; AWS_WEB_IDENTITY_TOKEN_FILE and
        // AWS_ROLE_ARN would win, as they do for the profile in force.
        if let Some(w) = WebIdentity::configured(cx.env, Some(p), cx.region, cx.retrier)? {
            return Ok(Some(Arc::new(Cached::new(w))));
        }
    }
    Err(CredentialsError::Invalid {
        source: format!("profile {}", role.profile),
        detail: format!(
            "its source_profile '{}' holds no credentials; give that profile \
             aws_access_key_id and aws_secret_access_key, credential_process, sso_session, or \
             a role_arn with its own source",
            p.name
        ),
    })
}

/// `credential_source`: where the credentials that assume the role come
/// from when no profile holds them.
fn named_source(name: &str, p: &Profile, cx: &Context) -> Result<Provider, CredentialsError> {
    let invalid = |detail: String| CredentialsError::Invalid {
        source: format!("profile {}", p.name),
        detail: format!("credential_source = {name}, {detail}"),
    };
    match name {
        "Environment" => {
            let keys = static_keys(
                "environment",
                cx.env.get("AWS_ACCESS_KEY_ID"),
                cx.env.get("AWS_SECRET_ACCESS_KEY"),
                cx.env.get("AWS_SESSION_TOKEN"),
                ENV_KEYS,
            )?;
            match keys {
                Some(c) => Ok(Arc::new(Static(c))),
                None => Err(invalid(
                    "but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set".into(),
                )),
            }
        }
        "Ec2InstanceMetadata" => match &cx.imds {
            Some(imds) => Ok(Arc::new(Cached::new(InstanceProfile {
                imds: imds.clone(),
            }))),
            None => Err(invalid(
                "but instance metadata is disabled (AWS_EC2_METADATA_DISABLED)".into(),
            )),
        },
        "EcsContainer" => match Container::configured(cx.env)? {
            Some(c) => Ok(Arc::new(Cached::new(c))),
            None => Err(invalid(
                "but neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor \
                 AWS_CONTAINER_CREDENTIALS_FULL_URI is set"
                    .into(),
            )),
        },
        _ => Err(CredentialsError::Invalid {
            source: format!("profile {}", p.name),
            detail: format!(
                "credential_source is '{name}'; it must be Environment, Ec2InstanceMetadata or \
                 EcsContainer"
            ),
        }),
    }
}

/// A role assumed with the credentials of `source`.
struct AssumeRole {
    role: Role,
    source: Provider,
    agent: ureq::Agent,
    retrier: Retrier,
}

const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

impl AssumeRole {
    fn label(&self) -> String {
        format!(
            "role {} (profile {})",
            self.role.role_arn, self.role.profile
        )
    }

    /// One signed AssumeRole request: the answer's body, or how it failed.
    fn attempt(
        &self,
        body: &str,
        creds: &Credentials,
        now: SystemTime,
    ) -> Result<String, Failed<CredentialsError>> {
        let source = self.label();
        let url = format!("{}/", self.role.endpoint);
        let fail = |error: CredentialsError, decision: Decision, why: &str| Failed {
            error,
            decision,
            retry_after: None,
            why: why.to_string(),
        };
        let headers = [
            ("host", self.role.host.as_str()),
            ("content-type", CONTENT_TYPE),
        ];
        let signed = sign(
            "POST",
            &url,
            &headers,
            body.as_bytes(),
            creds,
            &self.role.signing_region,
            "sts",
            now,
        )
        .map_err(|e| {
            let error = CredentialsError::Provider {
                source: source.clone(),
                detail: e.to_string(),
            };
            fail(error, Decision::Fail, "signing")
        })?;
        let mut req = self.agent.post(&url);
        for (k, v) in &signed {
            req = req.header(k.as_str(), v.as_str());
        }
        let hint = format!(
            "; the credentials that assume the role ({}) have expired",
            creds.source
        );
        sts_post(req, body, &source, &self.role.shown, "AssumeRole", &hint)
    }

    fn assume(
        &self,
        now: SystemTime,
        policy: &RetryPolicy,
    ) -> Result<Credentials, CredentialsError> {
        let source = self.label();
        let creds = self
            .source
            .credentials(now)
            .map_err(|e| CredentialsError::Provider {
                source: source.clone(),
                detail: format!("the credentials to assume it with: {e}"),
            })?;
        let session = self.role.session_name.clone().unwrap_or_else(|| {
            format!(
                "vpc-router-{}",
                now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
            )
        });
        let duration = self.role.duration_seconds.map(|d| d.to_string());
        let mut params = vec![
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", self.role.role_arn.as_str()),
            ("RoleSessionName", session.as_str()),
        ];
        if let Some(d) = &duration {
            params.push(("DurationSeconds", d));
        }
        if let Some(id) = &self.role.external_id {
            params.push(("ExternalId", id));
        }
        let body = form_body(&params);
        let attempt: Attempt = &mut |_| self.attempt(&body, &creds, now);
        let (text, _) = self.retrier.run("STS AssumeRole", policy, attempt);
        let provider_err = |detail: String| CredentialsError::Provider {
            source: source.clone(),
            detail,
        };
        let c = sts_credentials(&text?, "AssumeRole", source.clone()).map_err(provider_err)?;
        if let Some(expires) = c.expires {
            crate::debug!(
                "assumed {source} with {}, until {}",
                creds.source,
                crate::timefmt::rfc3339(expires)
            );
        }
        Ok(c)
    }
}

impl Fetch for AssumeRole {
    fn fetch(&self, now: SystemTime) -> Result<Credentials, CredentialsError> {
        let policy = if on_urgent_thread() {
            self.retrier.policy.urgent()
        } else {
            self.retrier.policy
        };
        self.assume(now, &policy)
    }

    fn refresh(&self, now: SystemTime) -> Result<Credentials, CredentialsError> {
        let once = RetryPolicy {
            max_attempts: 1,
            ..self.retrier.policy
        };
        self.assume(now, &once)
    }
}

/// One STS Query API call (`action`) through `request` (signed or not):
/// the answer's body, or how it failed as the retry loop needs to know it;
/// an `ExpiredToken` error gets `expired_hint` appended. AssumeRole and
/// AssumeRoleWithWebIdentity share it.
pub(super) fn sts_post(
    request: ureq::RequestBuilder<ureq::typestate::WithBody>,
    body: &str,
    source: &str,
    shown: &str,
    action: &str,
    expired_hint: &str,
) -> Result<String, Failed<CredentialsError>> {
    let at = format!("STS at {shown}");
    let network = |e: ureq::Error| Failed {
        error: unreachable(source, &at, e),
        decision: Decision::Retry { throttled: false },
        retry_after: None,
        why: "network error".into(),
    };
    let mut resp = request
        .header("content-type", CONTENT_TYPE)
        .send(body.as_bytes())
        .map_err(network)?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("x-amz-retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let text = resp.body_mut().read_to_string().map_err(network)?;
    if status == 200 {
        return Ok(text);
    }
    let error = query::error_body(&text);
    let decision = classify_sts(status, error.as_ref().map(|e| e.code.as_str()));
    let why = error
        .as_ref()
        .map_or_else(|| format!("HTTP {status}"), |e| e.code.clone());
    let detail = match error {
        Some(e) => format!(
            "STS {action} failed: {}: {} (HTTP {status}{}){}",
            e.code,
            e.message,
            e.request_id
                .map(|id| format!(", request ID {id}"))
                .unwrap_or_default(),
            if e.code == "ExpiredToken" {
                expired_hint
            } else {
                ""
            }
        ),
        None => format!("STS {action} answered HTTP {status}"),
    };
    Err(Failed {
        error: CredentialsError::Provider {
            source: source.to_string(),
            detail,
        },
        decision,
        retry_after,
        why,
    })
}
