//! IAM Identity Center (SSO): the access token `aws sso login` leaves in
//! `~/.aws/sso/cache/<SHA-1 hex>.json` (of the `sso_session` name, or of the
//! start URL for the legacy `sso_start_url` keys) is exchanged at the
//! portal (`GetRoleCredentials`) for the role's credentials. The token is
//! not refreshed here (that is the CLI's OIDC `CreateToken` flow): an
//! expired or missing one is an error that says to log in again.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::assume_role::{Attempt, Context};
use super::{agent, unreachable, Fetch};
use crate::aws::endpoint::{self, Variant};
use crate::aws::profile::{self, Profile};
use crate::aws::{Credentials, CredentialsError, Secret};
use crate::query::form_body;
use crate::retry::{
    self, on_urgent_thread, parse_retry_after, Decision, Failed, Retrier, RetryPolicy,
};
use crate::timefmt::{parse_rfc3339, rfc3339};
use crate::types::Region;

pub(super) struct Sso {
    profile: String,
    /// `sso-session NAME` or `start URL URL`, for messages.
    session: String,
    cache_file: PathBuf,
    account_id: String,
    role_name: String,
    endpoint: String,
    shown: String,
    agent: ureq::Agent,
    retrier: Retrier,
}

impl Sso {
    /// From the profile's `sso_session` (and its `[sso-session NAME]`
    /// section) or its legacy `sso_start_url` / `sso_region`, with
    /// `sso_account_id` and `sso_role_name`; a missing or conflicting key
    /// is an error that names it.
    pub(super) fn configured(p: &Profile, cx: &Context) -> Result<Sso, CredentialsError> {
        let invalid = |detail: String| CredentialsError::Invalid {
            source: format!("profile {} (IAM Identity Center)", p.name),
            detail,
        };
        let (start_url, sso_region, key, session) = match p.get("sso_session") {
            Some(name) => {
                let (path, section) =
                    profile::sso_session(cx.env, name).map_err(|e| invalid(e.to_string()))?;
                let shown =
                    path.map_or_else(|| "the config file".into(), |p| p.display().to_string());
                let section = section.ok_or_else(|| {
                    invalid(format!(
                        "sso_session = {name}, but {shown} has no [sso-session {name}] section"
                    ))
                })?;
                let get = |k: &str| -> Result<String, CredentialsError> {
                    section
                        .get(k)
                        .filter(|v| !v.is_empty())
                        .cloned()
                        .ok_or_else(|| {
                            invalid(format!("[sso-session {name}] in {shown} has no {k}"))
                        })
                };
                let (url, region) = (get("sso_start_url")?, get("sso_region")?);
                for (k, v) in [("sso_start_url", &url), ("sso_region", &region)] {
                    if let Some(own) = p.get(k).filter(|own| own != v) {
                        return Err(invalid(format!(
                            "its {k} '{own}' differs from the '{v}' of [sso-session {name}]; \
                             remove it from the profile"
                        )));
                    }
                }
                (url, region, name.to_string(), format!("sso-session {name}"))
            }
            None => {
                let get = |k: &str| {
                    p.get(k).map(str::to_string).ok_or_else(|| {
                        invalid(format!(
                            "it has sso_start_url but no {k}; set sso_start_url and sso_region \
                             (or sso_session)"
                        ))
                    })
                };
                let (url, region) = (get("sso_start_url")?, get("sso_region")?);
                (url.clone(), region, url.clone(), format!("start URL {url}"))
            }
        };
        let need = |k: &str| {
            p.get(k).map(str::to_string).ok_or_else(|| {
                invalid(format!(
                    "it has no {k}; IAM Identity Center needs sso_account_id and sso_role_name"
                ))
            })
        };
        let (account_id, role_name) = (need("sso_account_id")?, need("sso_role_name")?);
        let home = cx.env.home().ok_or_else(|| {
            invalid(
                "HOME is not set, so the AWS CLI's token cache (~/.aws/sso/cache) cannot be found"
                    .into(),
            )
        })?;
        let cache_file = home
            .join(".aws/sso/cache")
            .join(format!("{}.json", hex(&sha1(key.as_bytes()))));
        let region: Region = sso_region
            .parse()
            .map_err(|e: crate::types::ParseError| invalid(format!("sso_region: {e}")))?;
        let endpoint = portal_endpoint(cx, p, &region).map_err(invalid)?;
        crate::debug!(
            "IAM Identity Center {session}: start URL {start_url}, token cache {}",
            cache_file.display()
        );
        Ok(Sso {
            profile: p.name.clone(),
            session,
            cache_file,
            account_id,
            role_name,
            shown: crate::aws::redact_url(&endpoint),
            agent: agent(
                crate::aws::proxy_for(cx.env, &endpoint),
                crate::aws::ca_bundle(cx.env, Some(p)).map_err(invalid)?,
            ),
            endpoint,
            retrier: cx.retrier.clone(),
        })
    }

    fn source(&self) -> String {
        format!("profile {} (IAM Identity Center)", self.profile)
    }

    fn failed(&self, detail: String) -> CredentialsError {
        CredentialsError::Provider {
            source: self.source(),
            detail,
        }
    }

    fn login(&self) -> String {
        format!("run `aws sso login --profile {}`", self.profile)
    }

    /// The access token from the cache, if it is there and not expired.
    fn token(&self, now: SystemTime) -> Result<Secret, CredentialsError> {
        let file = self.cache_file.display();
        let text = match std::fs::read_to_string(&self.cache_file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.failed(format!(
                    "no token for {} in {file} (not logged in); {}",
                    self.session,
                    self.login()
                )))
            }
            Err(e) => return Err(self.failed(format!("cannot read {file}: {e}"))),
        };
        let cached: Value = serde_json::from_str(&text).map_err(|e| {
            self.failed(format!(
                "{file} is not a token the AWS CLI wrote ({e}); {}",
                self.login()
            ))
        })?;
        let text = |k: &str| {
            cached
                .get(k)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
        };
        let token = text("accessToken");
        let expires = text("expiresAt").and_then(parse_expiry);
        let (Some(token), Some(expires)) = (token, expires) else {
            return Err(self.failed(format!(
                "{file} has no accessToken or no valid expiresAt; {}",
                self.login()
            )));
        };
        if expires <= now {
            return Err(self.failed(format!(
                "the token for {} expired at {}; {}",
                self.session,
                rfc3339(expires),
                self.login()
            )));
        }
        Ok(Secret::new(token))
    }

    /// One GetRoleCredentials request: the answer's body, or how it failed.
    fn attempt(&self, url: &str, token: &Secret) -> Result<String, Failed<CredentialsError>> {
        let source = self.source();
        let at = format!("the IAM Identity Center portal at {}", self.shown);
        let network = |e: ureq::Error| Failed {
            error: unreachable(&source, &at, e),
            decision: Decision::Retry { throttled: false },
            retry_after: None,
            why: "network error".into(),
        };
        let mut resp = self
            .agent
            .get(url)
            .header("x-amz-sso_bearer_token", token.expose())
            .call()
            .map_err(network)?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("x-amz-retry-after")
            .as_deref()
            .and_then(parse_retry_after);
        // REST-JSON errors name their type in this header ("Type:namespace").
        let code_header = header("x-amzn-errortype");
        let text = resp.body_mut().read_to_string().map_err(network)?;
        if status == 200 {
            return Ok(text);
        }
        // A REST-JSON error body: {"message": "..."}, sometimes "__type".
        let body: Value = serde_json::from_str(&text).unwrap_or_default();
        let field = |k: &str| body.get(k).and_then(Value::as_str);
        let code = code_header
            .as_deref()
            .map(|h| h.split(':').next().unwrap_or(h))
            .or_else(|| field("__type").map(|t| t.rsplit('#').next().unwrap_or(t)))
            .map(str::to_string);
        let message = field("message")
            .or_else(|| field("Message"))
            .unwrap_or_default();
        let decision = retry::classify(status, code.as_deref());
        let why = code.clone().unwrap_or_else(|| format!("HTTP {status}"));
        let mut detail = format!(
            "GetRoleCredentials for role {} in account {} failed: {}{} (HTTP {status})",
            self.role_name,
            self.account_id,
            code.as_deref().unwrap_or("error"),
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            }
        );
        if status == 401 || code.as_deref() == Some("UnauthorizedException") {
            detail.push_str(&format!("; the token was refused: {}", self.login()));
        }
        Err(Failed {
            error: CredentialsError::Provider { source, detail },
            decision,
            retry_after,
            why,
        })
    }

    fn get(&self, now: SystemTime, policy: &RetryPolicy) -> Result<Credentials, CredentialsError> {
        // Read at every fetch: `aws sso login` rewrites the file.
        let token = self.token(now)?;
        let url = format!(
            "{}/federation/credentials?{}",
            self.endpoint,
            form_body(&[
                ("role_name", &self.role_name),
                ("account_id", &self.account_id)
            ])
        );
        let attempt: Attempt = &mut |_| self.attempt(&url, &token);
        let (text, _) = self
            .retrier
            .run("IAM Identity Center GetRoleCredentials", policy, attempt);
        let bad = |what: String| self.failed(format!("GetRoleCredentials answer: {what}"));
        let doc: Value = serde_json::from_str(&text?).map_err(|e| bad(format!("not JSON: {e}")))?;
        let c = &doc["roleCredentials"];
        let field = |k: &str| {
            c.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| bad(format!("no roleCredentials.{k}")))
        };
        // Milliseconds since the epoch.
        let expiration = c["expiration"]
            .as_u64()
            .ok_or_else(|| bad("no roleCredentials.expiration".into()))?;
        Ok(Credentials {
            access_key_id: field("accessKeyId")?,
            secret_access_key: Secret::new(field("secretAccessKey")?),
            session_token: Some(Secret::new(field("sessionToken")?)),
            expires: Some(UNIX_EPOCH + Duration::from_millis(expiration)),
            source: format!(
                "{} (role {} in account {})",
                self.source(),
                self.role_name,
                self.account_id
            ),
        })
    }
}

impl Fetch for Sso {
    fn fetch(&self, now: SystemTime) -> Result<Credentials, CredentialsError> {
        let policy = if on_urgent_thread() {
            self.retrier.policy.urgent()
        } else {
            self.retrier.policy
        };
        self.get(now, &policy)
    }

    fn refresh(&self, now: SystemTime) -> Result<Credentials, CredentialsError> {
        let once = RetryPolicy {
            max_attempts: 1,
            ..self.retrier.policy
        };
        self.get(now, &once)
    }
}

/// The portal: the configured endpoint ([`crate::aws::endpoint_override`]:
/// `AWS_ENDPOINT_URL_SSO`, `AWS_ENDPOINT_URL`, the profile's, unless
/// configured endpoints are ignored), else
/// `https://portal.sso.REGION.SUFFIX` of the `sso_region`'s partition.
fn portal_endpoint(cx: &Context, p: &Profile, region: &Region) -> Result<String, String> {
    let given = crate::aws::endpoint_override("sso", None, cx.env, Some(p))?;
    let given = given.as_ref().map(|(from, u)| (from.as_str(), u.clone()));
    let variant = Variant::configured(cx.env, Some(p))?;
    endpoint::resolve("portal.sso", given, region, &variant).map_err(|e| e.to_string())
}

/// `expiresAt` as the CLI writes it: RFC 3339 (`...Z`), or with a `UTC`
/// suffix as older versions wrote it (`2026-11-25T12:00:00UTC`).
fn parse_expiry(s: &str) -> Option<SystemTime> {
    match s.strip_suffix("UTC") {
        Some(t) => parse_rfc3339(&format!("{t}Z")),
        None => parse_rfc3339(s),
    }
}

/// SHA-1 (FIPS 180-4), for the cache file's name only: the AWS CLI names
/// the file by it, so no collision resistance is asked of it here. A
/// crate for 30 lines would add a dependency to audit.
pub(super) fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&(data.len() as u64).wrapping_mul(8).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (wi, word) in w.iter_mut().zip(block.chunks_exact(4)) {
            *wi = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (o, x) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_the_standard_vectors() {
        for (input, want) in [
            ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
            ),
            (
                // 64 bytes: the padding takes a block of its own.
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "ce4303f6b22257d9c9cf314ef1dee4707c6e1c13",
            ),
        ] {
            assert_eq!(hex(&sha1(input.as_bytes())), want, "{input:?}");
        }
        let million = vec![b'a'; 1_000_000];
        assert_eq!(
            hex(&sha1(&million)),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn expiry_in_either_form_the_cli_wrote() {
        let z = parse_rfc3339("2026-11-25T12:00:00Z");
        assert!(z.is_some());
        assert_eq!(parse_expiry("2026-11-25T12:00:00Z"), z);
        assert_eq!(parse_expiry("2026-11-25T12:00:00UTC"), z);
        assert_eq!(parse_expiry("soon"), None);
    }
}
