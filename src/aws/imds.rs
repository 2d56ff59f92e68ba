//! Instance metadata (IMDSv2): the instance's region, VPC and instance
//! profile credentials; and the resolution of region and VPC, in which
//! metadata is the last resort. Timeouts are short so that a run off EC2
//! fails in about a second with a message saying what to pass instead.
//! When the session token is refused (403, 404, 405), metadata is read
//! without one (IMDSv1), as the SDKs do, unless
//! `AWS_EC2_METADATA_V1_DISABLED=true`.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::aws::{profile, Credentials, Env, Secret};
use crate::http::AgentSettings;
use crate::timefmt::parse_rfc3339;
use crate::types::{Region, VpcId};

const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
/// The token lives six hours; it is renewed well before that.
const TOKEN_TTL: &str = "21600";
const TOKEN_REUSE: Duration = Duration::from_secs(5 * 3600);

/// Why metadata could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImdsError {
    pub message: String,
    /// Metadata did not answer at all (refused, timed out), as opposed to
    /// answering with an error or something unusable.
    pub unreachable: bool,
}

impl ImdsError {
    fn new(message: String) -> ImdsError {
        ImdsError {
            message,
            unreachable: false,
        }
    }
}

impl fmt::Display for ImdsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ImdsError {}

/// How metadata is read: with a session token (IMDSv2), or without one
/// (IMDSv1) because the token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Session {
    Token(String),
    V1,
}

/// Token answers after which the SDKs read metadata without a token: the
/// PUT is not allowed there (an older metadata service, or a proxy in the
/// way that does not forward it).
const V1_FALLBACK_STATUSES: [u16; 3] = [403, 404, 405];

/// An IMDSv2 client with its session token.
pub struct Imds {
    endpoint: String,
    agent: ureq::Agent,
    token: Mutex<Option<(Session, Instant)>>,
    /// `AWS_EC2_METADATA_V1_DISABLED=true`: no reading without a token.
    v1_disabled: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleCredentials {
    code: Option<String>,
    access_key_id: String,
    secret_access_key: String,
    token: String,
    expiration: String,
}

impl Imds {
    /// `None` when `AWS_EC2_METADATA_DISABLED=true`.
    pub fn from_env(env: &Env) -> Option<Imds> {
        if env
            .get("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return None;
        }
        let endpoint = env
            .get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or(DEFAULT_ENDPOINT)
            .trim_end_matches('/')
            .to_string();
        // Metadata is link-local: a proxy from the environment would only
        // get in the way, so the agent has none.
        let agent = AgentSettings::new(Duration::from_secs(1), Duration::from_secs(2)).build();
        let v1_disabled = env
            .get("AWS_EC2_METADATA_V1_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Some(Imds {
            endpoint,
            agent,
            token: Mutex::new(None),
            v1_disabled,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn unreachable(&self, detail: impl fmt::Display) -> ImdsError {
        ImdsError {
            message: format!(
                "instance metadata (IMDSv2) at {} did not answer ({detail}); not running on EC2?",
                self.endpoint
            ),
            unreachable: true,
        }
    }

    /// The status and body of a sent request; any failure to get them is
    /// "metadata did not answer".
    fn answer(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, String), ImdsError> {
        let mut resp = sent.map_err(|e| self.unreachable(e))?;
        let body = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        Ok((resp.status().as_u16(), body))
    }

    fn session(&self) -> Result<Session, ImdsError> {
        let mut cached = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, at)) = cached.as_ref() {
            if at.elapsed() < TOKEN_REUSE {
                return Ok(t.clone());
            }
        }
        let (status, body) = self.answer(
            self.agent
                .put(format!("{}/latest/api/token", self.endpoint))
                .header("x-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL)
                .send_empty(),
        )?;
        let session = match status {
            200 if !body.trim().is_empty() => Session::Token(body.trim().to_string()),
            s if V1_FALLBACK_STATUSES.contains(&s) && !self.v1_disabled => {
                crate::debug!(
                    "instance metadata at {} refused a session token (HTTP {s}); reading it \
                     without one (IMDSv1)",
                    self.endpoint
                );
                Session::V1
            }
            s if V1_FALLBACK_STATUSES.contains(&s) => {
                return Err(ImdsError::new(format!(
                    "instance metadata at {} refused a session token (HTTP {s}), and reading \
                     it without one (IMDSv1) is turned off (AWS_EC2_METADATA_V1_DISABLED); \
                     enable IMDSv2 on the instance (and a hop limit of 2 in a container)",
                    self.endpoint
                )))
            }
            _ => {
                return Err(ImdsError::new(format!(
                    "instance metadata at {} refused a session token (HTTP {status}); \
                     is IMDSv2 enabled and the hop limit high enough?",
                    self.endpoint
                )))
            }
        };
        *cached = Some((session.clone(), Instant::now()));
        Ok(session)
    }

    /// GETs a metadata path; `Ok(None)` on 404.
    pub fn get(&self, path: &str) -> Result<Option<String>, ImdsError> {
        let mut req = self.agent.get(format!("{}{path}", self.endpoint));
        if let Session::Token(token) = self.session()? {
            req = req.header("x-aws-ec2-metadata-token", &token);
        }
        let (status, body) = self.answer(req.call())?;
        match status {
            200 => Ok(Some(body.trim().to_string())),
            404 => Ok(None),
            _ => Err(ImdsError::new(format!(
                "instance metadata {path} answered HTTP {status}"
            ))),
        }
    }

    fn require(&self, path: &str) -> Result<String, ImdsError> {
        self.get(path)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ImdsError::new(format!("instance metadata has no {path}")))
    }

    /// The instance's region.
    pub fn region(&self) -> Result<Region, ImdsError> {
        let r = self.require("/latest/meta-data/placement/region")?;
        r.parse().map_err(|e: crate::types::ParseError| {
            ImdsError::new(format!("instance metadata region: {e}"))
        })
    }

    /// The VPC of the instance's primary network interface.
    pub fn vpc_id(&self) -> Result<VpcId, ImdsError> {
        let mac = self.require("/latest/meta-data/mac")?;
        let v = self.require(&format!(
            "/latest/meta-data/network/interfaces/macs/{mac}/vpc-id"
        ))?;
        v.parse().map_err(|e: crate::types::ParseError| {
            ImdsError::new(format!("instance metadata VPC: {e}"))
        })
    }

    /// The instance's primary private IPv4 address (`local-ipv4`): the
    /// router's own address for `--ip self`.
    pub fn local_ipv4(&self) -> Result<std::net::IpAddr, ImdsError> {
        let ip = self.require("/latest/meta-data/local-ipv4")?;
        ip.parse::<std::net::Ipv4Addr>()
            .map(std::net::IpAddr::V4)
            .map_err(|_| {
                let shown: String = ip.chars().take(40).collect();
                ImdsError::new(format!(
                    "instance metadata local-ipv4 is '{}', not an IPv4 address",
                    shown.escape_debug()
                ))
            })
    }

    /// The instance profile's credentials; `Ok(None)` when the instance has
    /// no instance profile.
    pub fn role_credentials(&self) -> Result<Option<Credentials>, ImdsError> {
        let base = "/latest/meta-data/iam/security-credentials/";
        let Some(roles) = self.get(base)? else {
            return Ok(None);
        };
        let Some(role) = roles.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return Ok(None);
        };
        let doc = self.get(&format!("{base}{role}"))?.ok_or_else(|| {
            ImdsError::new(format!("instance profile role '{role}' has no credentials"))
        })?;
        let c: RoleCredentials = serde_json::from_str(&doc).map_err(|e| {
            ImdsError::new(format!(
                "instance profile credentials are not the expected JSON: {e}"
            ))
        })?;
        if let Some(code) = c.code.as_deref().filter(|c| *c != "Success") {
            return Err(ImdsError::new(format!(
                "instance profile credentials: {code}"
            )));
        }
        let expires = parse_rfc3339(&c.expiration).ok_or_else(|| {
            ImdsError::new(format!(
                "instance profile credentials: bad Expiration '{}'",
                c.expiration
            ))
        })?;
        Ok(Some(Credentials {
            access_key_id: c.access_key_id,
            secret_access_key: Secret::new(c.secret_access_key),
            session_token: Some(Secret::new(c.token)),
            expires: Some(expires),
            source: format!("instance profile {role}"),
        }))
    }
}

/// The region: the flag, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
/// `region`, then instance metadata. Returns where it came from.
pub fn resolve_region(
    flag: Option<&Region>,
    env: &Env,
    profile_flag: Option<&str>,
    imds: Option<&Imds>,
) -> Result<(Region, String), String> {
    if let Some(r) = flag {
        return Ok((r.clone(), "--region".into()));
    }
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(v) = env.get(var) {
            let r = v
                .parse()
                .map_err(|e: crate::types::ParseError| format!("{var}: {e}"))?;
            return Ok((r, var.into()));
        }
    }
    if let Some(p) = profile::load(env, profile_flag).map_err(|e| e.to_string())? {
        if let Some(v) = p.get("region") {
            let r = v.parse().map_err(|e: crate::types::ParseError| {
                format!("region of profile {}: {e}", p.name)
            })?;
            return Ok((r, format!("profile {}", p.name)));
        }
    }
    let why = match imds {
        None => "instance metadata is disabled (AWS_EC2_METADATA_DISABLED)".to_string(),
        Some(m) => match m.region() {
            Ok(r) => return Ok((r, "instance metadata".into())),
            Err(e) => e.to_string(),
        },
    };
    Err(format!(
        "no region: pass -r/--region, set AWS_REGION, or set a region in the profile; {why}"
    ))
}

/// The VPC: the flag, then instance metadata.
pub fn resolve_vpc(flag: Option<&VpcId>, imds: Option<&Imds>) -> Result<(VpcId, String), String> {
    if let Some(v) = flag {
        return Ok((v.clone(), "--vpc".into()));
    }
    let why = match imds {
        None => "instance metadata is disabled (AWS_EC2_METADATA_DISABLED)".to_string(),
        Some(m) => match m.vpc_id() {
            Ok(v) => return Ok((v, "instance metadata".into())),
            Err(e) => e.to_string(),
        },
    };
    Err(format!("no VPC: pass -v/--vpc; {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use httpmock::prelude::*;

    fn imds_at(url: &str) -> Imds {
        Imds::from_env(&Env::from_pairs([(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            url,
        )]))
        .unwrap()
    }

    /// A mock IMDS that hands out token "T" and checks it on every GET.
    fn server() -> MockServer {
        let s = MockServer::start();
        s.mock(|when, then| {
            when.method(PUT)
                .path("/latest/api/token")
                .header("x-aws-ec2-metadata-token-ttl-seconds", "21600");
            then.status(200).body("T");
        });
        s
    }

    fn serve(s: &MockServer, path: &str, body: &str) {
        s.mock(|when, then| {
            when.method(GET)
                .path(path)
                .header("x-aws-ec2-metadata-token", "T");
            then.status(200).body(body);
        });
    }

    #[test]
    fn region_and_vpc_come_from_metadata_with_one_token() {
        let s = server();
        serve(&s, "/latest/meta-data/placement/region", "eu-central-1");
        serve(&s, "/latest/meta-data/mac", "0e:49:61:0f:c3:11");
        serve(
            &s,
            "/latest/meta-data/network/interfaces/macs/0e:49:61:0f:c3:11/vpc-id",
            "vpc-350d6a51\n",
        );
        let m = imds_at(&s.base_url());
        assert_eq!(m.region().unwrap().as_str(), "eu-central-1");
        assert_eq!(m.vpc_id().unwrap().as_str(), "vpc-350d6a51");
    }

    #[test]
    fn the_token_is_fetched_once_and_sent_on_every_get() {
        let s = MockServer::start();
        let token = s.mock(|when, then| {
            when.method(PUT).path("/latest/api/token");
            then.status(200).body("T");
        });
        let get = s.mock(|when, then| {
            when.method(GET)
                .path("/latest/meta-data/placement/region")
                .header("x-aws-ec2-metadata-token", "T");
            then.status(200).body("us-west-2");
        });
        let m = imds_at(&s.base_url());
        m.region().unwrap();
        m.region().unwrap();
        token.assert_hits(1);
        get.assert_hits(2);
    }

    // Issue 16: a refused token (an IMDS or a proxy without PUT) made
    // metadata unreadable; the SDKs read it without a token (IMDSv1).
    #[test]
    fn a_refused_token_falls_back_to_imdsv1_unless_disabled() {
        for refused in [403, 404, 405] {
            let s = MockServer::start();
            let token = s.mock(|when, then| {
                when.method(PUT).path("/latest/api/token");
                then.status(refused);
            });
            let v1 = s.mock(|when, then| {
                when.method(GET)
                    .path("/latest/meta-data/placement/region")
                    .matches(|r| {
                        !r.headers
                            .iter()
                            .flatten()
                            .any(|(k, _)| k.eq_ignore_ascii_case("x-aws-ec2-metadata-token"))
                    });
                then.status(200).body("us-isob-east-1");
            });
            let m = imds_at(&s.base_url());
            assert_eq!(m.region().unwrap().as_str(), "us-isob-east-1");
            m.region().unwrap();
            token.assert_hits(1);
            v1.assert_hits(2);

            let off = Imds::from_env(&Env::from_pairs([
                ("AWS_EC2_METADATA_SERVICE_ENDPOINT", s.base_url().as_str()),
                ("AWS_EC2_METADATA_V1_DISABLED", "true"),
            ]))
            .unwrap();
            let err = off.region().unwrap_err().to_string();
            assert!(
                err.contains(&format!("refused a session token (HTTP {refused})"))
                    && err.contains("AWS_EC2_METADATA_V1_DISABLED"),
                "{err}"
            );
            v1.assert_hits(2);
        }
        // Any other refusal is not a reason to go without a token.
        let s = MockServer::start();
        s.mock(|when, then| {
            when.method(PUT).path("/latest/api/token");
            then.status(400);
        });
        let err = imds_at(&s.base_url()).region().unwrap_err().to_string();
        assert!(err.contains("(HTTP 400)"), "{err}");
    }

    #[test]
    fn role_credentials() {
        let s = server();
        serve(
            &s,
            "/latest/meta-data/iam/security-credentials/",
            "router-role\n",
        );
        serve(
            &s,
            "/latest/meta-data/iam/security-credentials/router-role",
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/fixtures/imds-security-credentials.json"
            ))
            .unwrap(),
        );
        let c = imds_at(&s.base_url()).role_credentials().unwrap().unwrap();
        assert_eq!(c.access_key_id, "ASIAIMDSEXAMPLE");
        assert_eq!(c.secret_access_key.expose(), "imds-secret-example");
        assert_eq!(
            c.session_token.as_ref().unwrap().expose(),
            "imds-token-example"
        );
        assert_eq!(c.expires, parse_rfc3339("2026-11-25T18:00:00Z"));
        assert_eq!(c.source, "instance profile router-role");
    }

    #[test]
    fn no_instance_profile_is_none() {
        let s = server();
        s.mock(|when, then| {
            when.method(GET)
                .path("/latest/meta-data/iam/security-credentials/");
            then.status(404);
        });
        assert_eq!(imds_at(&s.base_url()).role_credentials().unwrap(), None);
    }

    #[test]
    fn an_unreachable_endpoint_fails_fast_with_advice() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let m = imds_at(&format!("http://127.0.0.1:{port}"));
        let started = Instant::now();
        let err = m.region().unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "instance metadata (IMDSv2) at http://127.0.0.1:{port} did not answer"
            )),
            "{err}"
        );
        assert!(err.contains("not running on EC2?"), "{err}");
        // Not a timing assertion on the code under test's speed, only a
        // guard that it did not hang: the bound is generous.
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn disabled_metadata_is_none_and_resolution_says_what_to_pass() {
        let env = Env::from_pairs([
            ("AWS_EC2_METADATA_DISABLED", "TRUE"),
            ("HOME", "/nonexistent-vpc-router"),
        ]);
        assert!(Imds::from_env(&env).is_none());
        let err = resolve_region(None, &env, None, None).unwrap_err();
        assert_eq!(
            err,
            "no region: pass -r/--region, set AWS_REGION, or set a region in the profile; \
             instance metadata is disabled (AWS_EC2_METADATA_DISABLED)"
        );
        assert_eq!(
            resolve_vpc(None, None).unwrap_err(),
            "no VPC: pass -v/--vpc; instance metadata is disabled (AWS_EC2_METADATA_DISABLED)"
        );
    }

    #[test]
    fn region_resolution_order() {
        let flag: Region = "ap-south-1".parse().unwrap();
        let env = Env::from_pairs([
            ("AWS_REGION", "us-west-1"),
            ("AWS_DEFAULT_REGION", "us-west-2"),
            ("HOME", "/nonexistent-vpc-router"),
        ]);
        assert_eq!(
            resolve_region(Some(&flag), &env, None, None).unwrap().0,
            flag
        );
        assert_eq!(
            resolve_region(None, &env, None, None).unwrap(),
            ("us-west-1".parse().unwrap(), "AWS_REGION".into())
        );
        let env = Env::from_pairs([
            ("AWS_DEFAULT_REGION", "us-west-2"),
            ("HOME", "/nonexistent-vpc-router"),
        ]);
        assert_eq!(
            resolve_region(None, &env, None, None).unwrap().1,
            "AWS_DEFAULT_REGION"
        );
        let env = Env::from_pairs([("AWS_REGION", "nowhere")]);
        assert!(resolve_region(None, &env, None, None)
            .unwrap_err()
            .starts_with("AWS_REGION: 'nowhere' is not an AWS region"));
        // Then metadata.
        let s = server();
        serve(&s, "/latest/meta-data/placement/region", "sa-east-1");
        let env = Env::from_pairs([("HOME", "/nonexistent-vpc-router")]);
        let got = resolve_region(None, &env, None, Some(&imds_at(&s.base_url()))).unwrap();
        assert_eq!(
            got,
            ("sa-east-1".parse().unwrap(), "instance metadata".into())
        );
    }
}
