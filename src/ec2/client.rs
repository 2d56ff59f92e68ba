//! The EC2 Query API client: implements [`Ec2`] over HTTP with one
//! keep-alive agent. Each attempt is signed right before it is sent (fresh
//! time, fresh credentials); throttling, 5xx and transport failures are
//! retried as the SDKs' standard mode does ([`crate::retry`], the quota
//! shared with STS); everything else is returned typed.

use std::collections::HashSet;
use std::io::Read;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::sign::sign;
use super::xml::{self, Page};
use super::{Ec2, Ec2Error, NetworkInterface, RouteTable};
use crate::aws::{Clock, CredentialsError, CredentialsProvider};
use crate::http::{AgentSettings, USER_AGENT};
use crate::query::{self, form_body};
use crate::retry::{classify, on_urgent_thread, parse_retry_after, Decision, Failed, Retrier};
use crate::timefmt::parse_http_date;
use crate::types::{Cidr, EniId, Region, RouteTableId, VpcId};
use crate::{debug, warn};

pub use crate::retry::{RetryPolicy, Sleeper};

/// The Query API version vpc-router speaks.
pub const API_VERSION: &str = "2016-11-15";
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// A DescribeRouteTables answer for a VPC with hundreds of tables of
/// hundreds of routes runs to megabytes; anything past this is not EC2.
const MAX_BODY: u64 = 256 * 1024 * 1024;
/// The most room made for a body before it is read, whatever its
/// `Content-Length` claims (a larger one grows as it comes).
const MAX_PRESIZE: u64 = 32 * 1024 * 1024;
/// Filter values per request; EC2 refuses much longer lists.
const FILTER_CHUNK: usize = 200;
/// A guard against an endpoint that keeps answering with a next page.
const MAX_PAGES: usize = 10_000;
/// Codes with which AWS refuses a request for its time, or may: EC2 answers
/// a badly skewed clock with a bare `AuthFailure`. The answer's `Date` tells
/// whether the clock is to blame (the Java, Go and JavaScript SDKs' list).
const SKEW_CODES: &[&str] = &[
    "RequestExpired",
    "RequestTimeTooSkewed",
    "RequestInTheFuture",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AuthFailure",
];
/// A difference from the server's `Date` smaller than this does not explain
/// such an error: AWS accepts requests signed up to 5 minutes off.
const SKEW_THRESHOLD: Duration = Duration::from_secs(4 * 60);

/// How to reach EC2.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// e.g. `https://ec2.us-east-1.amazonaws.com`, no trailing slash.
    pub endpoint: String,
    pub region: Region,
    pub connect_timeout: Duration,
    /// For a whole attempt, from connect to the last byte of the answer.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// An HTTP(S) proxy, resolved from the environment by the caller.
    pub proxy: Option<ureq::Proxy>,
    /// The CA bundle to trust instead of the built-in roots
    /// (`AWS_CA_BUNDLE`, a profile's `ca_bundle`).
    pub tls: Option<crate::http::Tls>,
}

/// One finished EC2 call, for counters (the daemon's metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub action: &'static str,
    /// "ok", or EC2's error code, or "transport".
    pub outcome: String,
    pub attempts: u32,
    pub throttled: u32,
}

/// Receives a [`CallRecord`] after every call.
pub type CallObserver = Arc<dyn Fn(&CallRecord) + Send + Sync>;

/// The HTTP implementation of [`Ec2`]. Shareable across threads.
pub struct HttpEc2 {
    agent: ureq::Agent,
    settings: ClientSettings,
    url: String,
    /// The endpoint as messages and the status show it: user-info redacted.
    shown: String,
    host: String,
    creds: Arc<dyn CredentialsProvider>,
    clock: Clock,
    retrier: Retrier,
    observer: Option<CallObserver>,
    /// EC2's time minus this machine's, in milliseconds, as last measured
    /// from an answer that blamed the clock; requests are signed with the
    /// clock moved by it. Zero until then.
    skew_ms: AtomicI64,
}

impl HttpEc2 {
    pub fn new(
        settings: ClientSettings,
        creds: Arc<dyn CredentialsProvider>,
        clock: Clock,
    ) -> HttpEc2 {
        let agent = AgentSettings::new(settings.connect_timeout, settings.timeout)
            .proxy(settings.proxy.clone())
            .tls(settings.tls.clone())
            .user_agent(USER_AGENT)
            // A failover makes its calls side by side (up to 50 at once,
            // the mutating budget's burst); keep those connections for the
            // next one, so that it needs no new TCP and TLS handshake.
            // (ec2 sits below reconcile, so the figure is repeated here.)
            .max_idle(50)
            .build();
        let url = format!("{}/", settings.endpoint);
        let shown = crate::aws::redact_url(&settings.endpoint);
        let host = host_of(&settings.endpoint);
        let retrier = Retrier::new(settings.retry, &clock);
        HttpEc2 {
            agent,
            settings,
            url,
            shown,
            host,
            creds,
            clock,
            retrier,
            observer: None,
            skew_ms: AtomicI64::new(0),
        }
    }

    /// Replaces the sleep between attempts (tests; by default the clock's).
    pub fn with_sleeper(mut self, sleep: Sleeper) -> HttpEc2 {
        self.retrier = self.retrier.with_sleeper(sleep);
        self
    }

    /// Retries with `retrier` (its policy, and its quota shared with the
    /// process's other AWS calls) instead of one of its own.
    pub fn with_retrier(mut self, retrier: Retrier) -> HttpEc2 {
        self.retrier = retrier;
        self
    }

    pub fn with_observer(mut self, observer: CallObserver) -> HttpEc2 {
        self.observer = Some(observer);
        self
    }

    /// The endpoint as it may be shown (a password in it redacted).
    pub fn endpoint(&self) -> &str {
        &self.shown
    }

    /// Sends one action with retries and returns the body of the successful
    /// answer. On a failover's thread, with the urgent policy: short waits,
    /// few attempts, so that one throttled table cannot hold a failover up.
    // A failed attempt is an `Ec2Error` and how to retry it; it is made
    // once per attempt, so its size costs nothing worth a box.
    #[allow(clippy::result_large_err)]
    pub fn call(&self, action: &'static str, params: &[(&str, &str)]) -> Result<String, Ec2Error> {
        let mut text = String::new();
        self.call_reading(action, params, &mut |body| {
            text = read_body(body).map_err(transport_failure)?;
            Ok(())
        })?;
        Ok(text)
    }

    /// Sends one action with retries, and hands the body of each 2xx
    /// answer to `read` as it arrives (a Describe* page is parsed from the
    /// connection, never held whole). `read` failing with a transport
    /// failure (the connection broke) is retried like any other.
    #[allow(clippy::result_large_err)] // see `call`
    fn call_reading(
        &self,
        action: &'static str,
        params: &[(&str, &str)],
        read: &mut dyn FnMut(&mut ureq::Body) -> Result<(), Failure>,
    ) -> Result<(), Ec2Error> {
        let mut all: Vec<(&str, &str)> = vec![("Action", action), ("Version", API_VERSION)];
        all.extend_from_slice(params);
        let body = form_body(&all);
        let mut throttled = 0;
        let mut state = CallState::default();
        let policy = if on_urgent_thread() {
            self.retrier.policy.urgent()
        } else {
            self.retrier.policy
        };
        let what = format!("EC2 {action}");
        let (result, attempts) = self.retrier.run(&what, &policy, |attempt| {
            let failed = self.attempt_once(action, &body, attempt, &mut state, read);
            // Every throttled answer counts, the last one too.
            if let Err(Failed {
                decision: Decision::Retry { throttled: true },
                ..
            }) = &failed
            {
                throttled += 1;
            }
            failed
        });
        if let Some(observe) = &self.observer {
            let outcome = match &result {
                Ok(_) => "ok".to_string(),
                Err(Ec2Error::Api { code, .. }) => code.clone(),
                Err(Ec2Error::Transport { .. }) => "transport".to_string(),
                Err(Ec2Error::Response { .. }) => "bad_response".to_string(),
                Err(Ec2Error::Credentials(_)) => "credentials".to_string(),
                Err(Ec2Error::Fenced { .. }) => "fenced".to_string(),
            };
            observe(&CallRecord {
                action,
                outcome,
                attempts,
                throttled,
            });
        }
        result
    }

    /// One attempt of a call, its failure as the retry loop needs it. An
    /// answer that blames this machine's clock is sent again at once, once
    /// per call, signed with EC2's time.
    #[allow(clippy::result_large_err)]
    fn attempt_once(
        &self,
        action: &'static str,
        body: &str,
        attempt: u32,
        state: &mut CallState,
        read: &mut dyn FnMut(&mut ureq::Body) -> Result<(), Failure>,
    ) -> Result<(), Failed<Ec2Error>> {
        let started = Instant::now();
        let maybe_applied = &mut state.maybe_applied;
        let mut outcome = self.attempt(action, body, read);
        if let Err(Failure::Answer {
            error,
            date,
            signed_at,
            ..
        }) = &outcome
        {
            if !state.skew_corrected && self.correct_skew(error, *date, *signed_at) {
                state.skew_corrected = true;
                outcome = self.attempt(action, body, read);
            }
        }
        match outcome {
            Ok(()) => {
                debug!(
                    "EC2 {action}: ok after {} ms (attempt {attempt})",
                    started.elapsed().as_millis()
                );
                Ok(())
            }
            Err(Failure::Answer {
                status,
                mut error,
                retry_after,
                ..
            }) => {
                let decision = classify(status, error.code());
                if let Ec2Error::Api {
                    maybe_applied: m, ..
                } = &mut error
                {
                    *m = *maybe_applied;
                }
                debug!(
                    "EC2 {action}: HTTP {status} after {} ms (attempt {attempt}): {error}",
                    started.elapsed().as_millis()
                );
                // A throttled call was refused before it ran; a server
                // error may have happened after the change was made.
                if status >= 500 && !matches!(decision, Decision::Retry { throttled: true }) {
                    *maybe_applied = true;
                }
                let why = error.code().unwrap_or("server error").to_string();
                Err(Failed {
                    error,
                    decision,
                    retry_after,
                    why,
                })
            }
            Err(Failure::Transport {
                detail,
                timed_out,
                reached,
            }) => {
                let detail = self.scrub(detail);
                debug!(
                    "EC2 {action}: {detail} after {} ms (attempt {attempt})",
                    started.elapsed().as_millis()
                );
                *maybe_applied |= reached;
                Err(Failed {
                    error: Ec2Error::Transport {
                        action,
                        endpoint: self.shown.clone(),
                        detail,
                        timed_out,
                        attempts: attempt,
                    },
                    decision: Decision::Retry { throttled: false },
                    retry_after: None,
                    why: "network error".into(),
                })
            }
            Err(Failure::Fatal(error)) => Err(Failed {
                error,
                decision: Decision::Fail,
                retry_after: None,
                why: "not retried".into(),
            }),
        }
    }

    /// A transport error's text with the endpoint's user-info, should
    /// the HTTP library quote the URL, redacted.
    fn scrub(&self, detail: String) -> String {
        if self.shown == self.settings.endpoint {
            return detail;
        }
        let rest = self
            .settings
            .endpoint
            .split_once("://")
            .map_or("", |(_, r)| r);
        let userinfo = rest.split('/').next().unwrap_or("").rsplit_once('@');
        match userinfo {
            Some((info, _)) if !info.is_empty() => detail.replace(&format!("{info}@"), "***@"),
            _ => detail,
        }
    }

    /// The time to sign with: the clock, corrected by the skew measured.
    fn signing_time(&self) -> SystemTime {
        let skew = self.skew_ms.load(Ordering::Relaxed);
        let by = Duration::from_millis(skew.unsigned_abs());
        let now = self.clock.now();
        if skew >= 0 {
            now + by
        } else {
            now.checked_sub(by).unwrap_or(now)
        }
    }

    /// When `error` blames the time of a request signed at `signed_at` and
    /// the answer's `date` is far enough from it to explain that, keeps
    /// EC2's time as the one to sign with (for this call's next attempt and
    /// every later call), says so, and returns true.
    fn correct_skew(
        &self,
        error: &Ec2Error,
        date: Option<SystemTime>,
        signed_at: SystemTime,
    ) -> bool {
        let (Some(code), Some(server)) = (error.code(), date) else {
            return false;
        };
        let off_by = match server.duration_since(signed_at) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        if !SKEW_CODES.contains(&code) || off_by < SKEW_THRESHOLD {
            return false;
        }
        let now = self.clock.now();
        let skew: i64 = match server.duration_since(now) {
            Ok(ahead) => i64::try_from(ahead.as_millis()).unwrap_or(i64::MAX),
            Err(behind) => -i64::try_from(behind.duration().as_millis()).unwrap_or(i64::MAX),
        };
        self.skew_ms.store(skew, Ordering::Relaxed);
        let secs = skew.unsigned_abs() / 1000;
        let way = if skew > 0 { "behind" } else { "ahead of" };
        warn!(
            "this machine's clock is {secs} s {way} EC2's (the Date of its {code} answer to \
             {} at {}); signing with EC2's time from now on: set the clock right (NTP)",
            error_action(error),
            crate::timefmt::rfc3339(server)
        );
        true
    }

    /// One signed attempt.
    #[allow(clippy::result_large_err)] // see `call`
    fn attempt(
        &self,
        action: &'static str,
        body: &str,
        read: &mut dyn FnMut(&mut ureq::Body) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let now: SystemTime = self.signing_time();
        let creds = self
            .creds
            .credentials(now)
            .map_err(|e| Failure::Fatal(Ec2Error::Credentials(e)))?;
        let headers = [("host", self.host.as_str()), ("content-type", CONTENT_TYPE)];
        let signed = sign(
            "POST",
            &self.url,
            &headers,
            body.as_bytes(),
            &creds,
            self.settings.region.as_str(),
            "ec2",
            now,
        )
        .map_err(|e| {
            Failure::Fatal(Ec2Error::Credentials(CredentialsError::Provider {
                source: creds.source.clone(),
                detail: format!("the request could not be signed: {}", e.0),
            }))
        })?;
        let mut req = self
            .agent
            .post(&self.url)
            .header("content-type", CONTENT_TYPE);
        for (k, v) in &signed {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut resp = req.send(body.as_bytes()).map_err(transport_failure)?;
        let status = resp.status().as_u16();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok());
        let retry_after = header("x-amz-retry-after").and_then(parse_retry_after);
        let date = header("date").and_then(parse_http_date);
        if (200..300).contains(&status) {
            return read(resp.body_mut());
        }
        let text = read_body(resp.body_mut()).map_err(transport_failure)?;
        let error = match query::error_body(&text) {
            Some(e) => Ec2Error::Api {
                action,
                status,
                code: e.code,
                message: e.message,
                request_id: e.request_id,
                maybe_applied: false,
            },
            None => Ec2Error::Response {
                action,
                status,
                detail: snippet(&text),
            },
        };
        Err(Failure::Answer {
            status,
            error,
            retry_after,
            date,
            signed_at: now,
        })
    }

    /// Calls a Describe action page by page, until EC2 stops sending a
    /// `nextToken`.
    fn paginate<T>(
        &self,
        action: &'static str,
        params: &[(String, String)],
        parse: fn(&mut dyn Read) -> Result<Page<T>, xml::ReadError>,
    ) -> Result<Vec<T>, Ec2Error> {
        let mut items = Vec::new();
        self.pages(action, params, &mut |body| {
            let page = parse(body)?;
            if items.is_empty() {
                items = page.items;
            } else {
                items.extend(page.items);
            }
            Ok(page.next_token)
        })?;
        Ok(items)
    }

    /// The pages of a Describe action, each handed to `read` as it
    /// arrives (its body, 14 MB for 100 tables of 500 routes, is never
    /// held whole), which keeps its items and gives the page's `nextToken`.
    /// A page cut short is asked for again whole; only a page read whole
    /// reaches the caller's items.
    fn pages(
        &self,
        action: &'static str,
        params: &[(String, String)],
        read: &mut ReadPage<'_>,
    ) -> Result<(), Ec2Error> {
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut p: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if let Some(t) = &token {
                p.push(("NextToken", t));
            }
            let mut next = None;
            #[allow(clippy::result_large_err)] // see `call`
            self.call_reading(action, &p, &mut |body| {
                match read(&mut body.with_config().limit(MAX_BODY).reader()) {
                    Ok(token) => {
                        next = Some(token);
                        Ok(())
                    }
                    // The connection broke or the body outgrew MAX_BODY:
                    // as when a body is read whole.
                    Err(xml::ReadError::Io(e)) => {
                        // The reader's own error when it is the only holder
                        // (it is: the parse has stopped), so that ureq's
                        // timeouts are still told apart.
                        let e = Arc::try_unwrap(e)
                            .unwrap_or_else(|e| std::io::Error::new(e.kind(), e.to_string()));
                        Err(transport_failure(ureq::Error::from(e)))
                    }
                    Err(xml::ReadError::Xml(e)) => Err(Failure::Fatal(Ec2Error::Response {
                        action,
                        status: 200,
                        detail: e.to_string(),
                    })),
                }
            })?;
            // `next` is set whenever the call succeeds.
            match next.flatten() {
                Some(next) if Some(&next) == token.as_ref() => {
                    return Err(Ec2Error::Response {
                        action,
                        status: 200,
                        detail: format!("the same nextToken '{next}' came back twice"),
                    })
                }
                Some(next) => token = Some(next),
                None => return Ok(()),
            }
        }
        Err(Ec2Error::Response {
            action,
            status: 200,
            detail: format!("more than {MAX_PAGES} pages"),
        })
    }

    fn mutate(
        &self,
        action: &'static str,
        params: &[(&str, &str)],
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let mut p = params.to_vec();
        if dry_run {
            p.push(("DryRun", "true"));
        }
        let body = self.call(action, &p)?;
        match xml::return_value(&body) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Ec2Error::Response {
                action,
                status: 200,
                detail: "EC2 answered <return>false</return>".into(),
            }),
            Err(e) => Err(Ec2Error::Response {
                action,
                status: 200,
                detail: e.to_string(),
            }),
        }
    }
}

impl HttpEc2 {
    /// CreateRoute or ReplaceRoute: `dest` in `table` to the interface `eni`.
    fn to_interface(
        &self,
        action: &'static str,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let d = dest.to_string();
        let p = [
            ("RouteTableId", table.as_str()),
            (destination_param(dest), d.as_str()),
            ("NetworkInterfaceId", eni.as_str()),
        ];
        self.mutate(action, &p, dry_run)
    }
}

/// Builds `Filter.N.Name` / `Filter.N.Value.M` parameters.
fn filters(list: &[(&str, Vec<String>)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, (name, values)) in list.iter().enumerate() {
        out.push((format!("Filter.{}.Name", i + 1), name.to_string()));
        for (j, v) in values.iter().enumerate() {
            out.push((format!("Filter.{}.Value.{}", i + 1, j + 1), v.clone()));
        }
    }
    out
}

fn destination_param(cidr: &Cidr) -> &'static str {
    if cidr.is_ipv6() {
        "DestinationIpv6CidrBlock"
    } else {
        "DestinationCidrBlock"
    }
}

impl Ec2 for HttpEc2 {
    fn describe_route_tables(
        &self,
        vpc: &VpcId,
        ids: &[RouteTableId],
    ) -> Result<Vec<RouteTable>, Ec2Error> {
        // No IDs: one paginated listing of the VPC. Many IDs: one listing
        // per chunk, as EC2 refuses long filter lists.
        let all = [];
        let chunks: Vec<&[RouteTableId]> = if ids.is_empty() {
            vec![&all]
        } else {
            ids.chunks(FILTER_CHUNK).collect()
        };
        let mut out: Vec<RouteTable> = Vec::new();
        let mut seen: HashSet<RouteTableId> = HashSet::new();
        for chunk in chunks {
            let mut f = vec![("vpc-id", vec![vpc.to_string()])];
            if !chunk.is_empty() {
                f.push((
                    "route-table-id",
                    chunk.iter().map(ToString::to_string).collect(),
                ));
            }
            let mut params = filters(&f);
            // EC2's largest page: a page is parsed as it arrives, so its
            // size costs no memory, and fewer pages are fewer round trips
            // (3 for 200 tables).
            params.push(("MaxResults".into(), "100".into()));
            // A table twice (pages that overlap) is kept once, in a set:
            // a scan of `out` per table would be quadratic.
            for t in self.paginate("DescribeRouteTables", &params, xml::route_tables_from)? {
                if seen.insert(t.id.clone()) {
                    out.push(t);
                }
            }
        }
        Ok(out)
    }

    fn describe_network_interfaces(
        &self,
        vpc: &VpcId,
        ips: &[IpAddr],
    ) -> Result<Vec<NetworkInterface>, Ec2Error> {
        // IPv4 and IPv6 addresses are matched by different filters, and
        // filters are ANDed, so each family gets its own requests.
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = ips.iter().partition(|ip| ip.is_ipv4());
        let mut out: Vec<NetworkInterface> = Vec::new();
        for (filter, family) in [
            ("addresses.private-ip-address", v4),
            ("ipv6-addresses.ipv6-address", v6),
        ] {
            for chunk in family.chunks(FILTER_CHUNK) {
                let mut params = filters(&[
                    ("vpc-id", vec![vpc.to_string()]),
                    (filter, chunk.iter().map(ToString::to_string).collect()),
                ]);
                params.push(("MaxResults".into(), "1000".into()));
                for eni in self.paginate(
                    "DescribeNetworkInterfaces",
                    &params,
                    xml::network_interfaces_from,
                )? {
                    if !out.iter().any(|e| e.id == eni.id) {
                        out.push(eni);
                    }
                }
            }
        }
        Ok(out)
    }

    fn create_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.to_interface("CreateRoute", table, dest, eni, dry_run)
    }

    fn replace_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.to_interface("ReplaceRoute", table, dest, eni, dry_run)
    }

    fn delete_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let d = dest.to_string();
        let p = [
            ("RouteTableId", table.as_str()),
            (destination_param(dest), d.as_str()),
        ];
        self.mutate("DeleteRoute", &p, dry_run)
    }

    fn disable_source_dest_check(&self, eni: &EniId, dry_run: bool) -> Result<(), Ec2Error> {
        let p = [
            ("NetworkInterfaceId", eni.as_str()),
            ("SourceDestCheck.Value", "false"),
        ];
        self.mutate("ModifyNetworkInterfaceAttribute", &p, dry_run)
    }
}

/// Reads one Describe* page as it arrives, keeps its items, and gives its
/// `nextToken`.
type ReadPage<'a> = dyn FnMut(&mut dyn Read) -> Result<Option<String>, xml::ReadError> + 'a;

/// What one call learns across its attempts.
#[derive(Default)]
struct CallState {
    /// An attempt failed in a way that may have reached EC2.
    maybe_applied: bool,
    /// The clock was corrected once already.
    skew_corrected: bool,
}

/// The action an error names, for a message.
fn error_action(e: &Ec2Error) -> &'static str {
    match e {
        Ec2Error::Api { action, .. }
        | Ec2Error::Transport { action, .. }
        | Ec2Error::Response { action, .. }
        | Ec2Error::Fenced { action, .. } => action,
        Ec2Error::Credentials(_) => "a call",
    }
}

/// How one attempt failed.
enum Failure {
    /// EC2 (or something in its place) answered with a non-2xx status.
    Answer {
        status: u16,
        error: Ec2Error,
        /// `x-amz-retry-after`, when the answer had one.
        retry_after: Option<Duration>,
        /// The answer's `Date`: the server's time.
        date: Option<SystemTime>,
        /// The time the request was signed with.
        signed_at: SystemTime,
    },
    /// No answer. `reached`: the request may have been delivered.
    Transport {
        detail: String,
        timed_out: bool,
        reached: bool,
    },
    /// Retrying cannot help (no credentials).
    Fatal(Ec2Error),
}

/// The body as text, at most `MAX_BODY` bytes: a mutation's answer or an
/// error (Describe* pages are read as they arrive, see `pages`). With a
/// `Content-Length` it is read into one buffer of that size rather than
/// grown by doubling, each copy left behind in the process.
fn read_body(body: &mut ureq::Body) -> Result<String, ureq::Error> {
    use std::io::Read;
    let size = body.content_length().unwrap_or(0).min(MAX_PRESIZE);
    let mut raw = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    body.with_config()
        .limit(MAX_BODY)
        .reader()
        .read_to_end(&mut raw)?;
    String::from_utf8(raw).map_err(|_| {
        ureq::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the body is not valid UTF-8",
        ))
    })
}

fn transport_failure(e: ureq::Error) -> Failure {
    use ureq::Timeout;
    let (timed_out, reached) = match &e {
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => (true, false),
        ureq::Error::Timeout(_) => (true, true),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => (false, false),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (false, false),
        _ => (false, true),
    };
    Failure::Transport {
        detail: e.to_string(),
        timed_out,
        reached,
    }
}

/// The `host[:port]` of an endpoint URL, as the Host header carries it.
fn host_of(endpoint: &str) -> String {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    // User-info is never part of the Host header: a password given in the
    // URL must not travel (and be signed) as the host.
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // Default ports are not sent in the Host header, so they are not signed.
    authority
        .strip_suffix(":443")
        .filter(|_| endpoint.starts_with("https://"))
        .or_else(|| {
            authority
                .strip_suffix(":80")
                .filter(|_| endpoint.starts_with("http://"))
        })
        .unwrap_or(authority)
        .to_string()
}

/// The start of an unexpected body, on one line, for an error message.
fn snippet(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return "(empty body)".into();
    }
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_matches_what_ureq_sends() {
        assert_eq!(
            host_of("https://ec2.us-east-1.amazonaws.com"),
            "ec2.us-east-1.amazonaws.com"
        );
        assert_eq!(host_of("http://127.0.0.1:4566"), "127.0.0.1:4566");
        assert_eq!(host_of("https://ec2.example:443"), "ec2.example");
        assert_eq!(host_of("http://localhost:80/base"), "localhost");
        assert_eq!(host_of("https://h:80"), "h:80");
        assert_eq!(host_of("http://user:pass@127.0.0.1:80/"), "127.0.0.1");
    }

    #[test]
    fn filters_are_numbered_from_one() {
        let f = filters(&[
            ("vpc-id", vec!["vpc-1".into()]),
            ("addresses.private-ip-address", vec!["a".into(), "b".into()]),
        ]);
        let f: Vec<String> = f.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            f,
            [
                "Filter.1.Name=vpc-id",
                "Filter.1.Value.1=vpc-1",
                "Filter.2.Name=addresses.private-ip-address",
                "Filter.2.Value.1=a",
                "Filter.2.Value.2=b"
            ]
        );
    }

    #[test]
    fn snippets_are_short_and_on_one_line() {
        assert_eq!(
            snippet("<html>\n  <b>Bad Gateway</b>\n</html>"),
            "<html> <b>Bad Gateway</b> </html>"
        );
        assert_eq!(snippet(""), "(empty body)");
        assert_eq!(snippet(&"x".repeat(500)).len(), 203);
    }
}
