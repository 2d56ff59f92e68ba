//! What the workers do with a request that passed the gate: authenticate
//! it, parse it (`api`), run the route command with the CIDR's lock held,
//! log and count it, and answer. [`Service::handle`] knows no sockets, so
//! it is tested with the in-memory EC2; [`work`] is the loop that feeds it
//! from tiny_http.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::auth::Token;
use super::control::ControlStatus;
use super::etcd::Shared as EtcdShared;
use super::feed::{EditError, HttpFeed, BUSY_WAIT};
use super::metrics::Metrics;
use crate::api::{self, ApiAction, RequestError, RouteCall};
use crate::aws::Clock;
use crate::ec2::fence::Fence;
use crate::ec2::{Ec2, RouteTarget};
use crate::reconcile::engine::{CidrResult, Engine};
use crate::reconcile::plan::{Action, Issue};
use crate::route::{
    self, final_step, Op, Outcome, ReplaceReason, Report, RouteError, RouteRequest, Step,
};
use crate::spec;
use crate::types::{Cidr, Region, RouteTableId, VpcId};
use crate::{debug, error, info, timefmt, warn};

/// The header through which the gate tells a worker who the client is.
/// Only the gate can reach the workers' socket, and it never forwards a
/// client's own copy of this header.
pub const PEER_HEADER: &str = "X-Vpc-Router-Peer";
/// The peer of the gate's probe on a new connection to tiny_http (see
/// `gate::Backend::connect`): answered 200 at once, neither logged nor
/// counted. The gate never passes a client's own peer header.
pub const PROBE_PEER: &str = "gate-probe";

/// The API's description (OpenAPI 3), served at `/openapi.json`; a test
/// checks it against [`api::ROUTES`].
pub const OPENAPI: &str = include_str!("openapi.json");

/// An answer, before it becomes HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    pub fn json(status: u16, v: &Value) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body: format!("{v:#}\n"),
            headers: Vec::new(),
        }
    }

    fn refused(e: &RequestError) -> Answer {
        let mut a = Answer::json(e.status(), &e.body());
        if let RequestError::MethodNotAllowed { allow } = e {
            a.headers.push(("Allow", allow.to_string()));
        }
        a
    }
}

/// Serializes changing commands per CIDR: while one add or del works on a
/// CIDR (observe, decide, mutate), another for the same CIDR waits, for a
/// bounded time. Requests for different CIDRs do not wait for each other.
pub struct CidrLocks {
    busy: Mutex<HashSet<Cidr>>,
    freed: Condvar,
    /// How long a request waits for its CIDR before it is answered 503.
    wait: Duration,
}

impl Default for CidrLocks {
    fn default() -> CidrLocks {
        CidrLocks::waiting(BUSY_WAIT)
    }
}

pub struct CidrGuard<'a> {
    locks: &'a CidrLocks,
    cidr: Cidr,
}

impl CidrLocks {
    pub fn waiting(wait: Duration) -> CidrLocks {
        CidrLocks {
            busy: Mutex::default(),
            freed: Condvar::new(),
            wait,
        }
    }

    /// The CIDR's lock, or `None` if another request held it for longer
    /// than the wait.
    pub fn lock(&self, cidr: Cidr) -> Option<CidrGuard<'_>> {
        let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let (mut busy, _) = self
            .freed
            .wait_timeout_while(busy, self.wait, |b| b.contains(&cidr))
            .unwrap_or_else(|p| p.into_inner());
        if busy.contains(&cidr) {
            return None;
        }
        busy.insert(cidr);
        Some(CidrGuard { locks: self, cidr })
    }
}

/// The answer when a request waited its bounded time for a CIDR or a pass
/// and did not get it: try again shortly.
fn busy(what: &str) -> Answer {
    let mut a = error_answer(
        503,
        None,
        format!(
            "{what} has been busy for {} s; nothing was changed, try again shortly",
            BUSY_WAIT.as_secs()
        ),
    );
    a.headers.push(("Retry-After", RETRY_AFTER.to_string()));
    a
}

/// Seconds a client is asked to wait before it retries a busy request.
const RETRY_AFTER: u64 = 2;

impl Drop for CidrGuard<'_> {
    fn drop(&mut self) {
        let mut busy = self.locks.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.remove(&self.cidr);
        self.locks.freed.notify_all();
    }
}

/// Desired-state routing in the daemon (`-m`): the engine, read for
/// status, and the feed that the API edits (http mode) or, instead, where
/// the spec comes from (configfile and etcd modes).
pub struct SpecMode {
    pub engine: Arc<Engine>,
    pub http: Option<Arc<HttpFeed>>,
    /// "/etc/vr/spec.json (-m configfile); edit that file instead", or the
    /// etcd key's: what the editing endpoints answer 409 with.
    pub elsewhere: Option<String>,
}

/// Everything a worker needs, shared by all workers.
pub struct Service {
    pub ec2: Arc<dyn Ec2 + Send + Sync>,
    pub region: Region,
    pub vpc: VpcId,
    pub endpoint: String,
    /// Tables a request works on when it names none (`--route-table`).
    pub default_tables: Vec<RouteTableId>,
    pub token: Option<Token>,
    /// `--allow-api-force`: whether a request may carry `force`.
    pub allow_api_force: bool,
    pub workers: usize,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    pub locks: CidrLocks,
    /// The control loop's role, sources and conflicts.
    pub control: Arc<Mutex<ControlStatus>>,
    /// Whether this daemon may change routes now (a follower may not).
    pub fence: Arc<Fence>,
    /// Leader election and the spec in etcd, when configured.
    pub etcd: Option<Arc<EtcdShared>>,
    /// The BGP listener, when configured.
    pub bgp: Option<Arc<super::bgp::Bgp>>,
    pub spec_mode: Option<SpecMode>,
}

fn error_answer(status: u16, field: Option<&str>, message: impl Into<String>) -> Answer {
    let mut e = json!({"status": status, "message": message.into()});
    if let Some(f) = field {
        e["field"] = json!(f);
    }
    Answer::json(status, &json!({ "error": e }))
}

/// One request as a worker sees it.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

impl Service {
    /// Answers one request. Never panics on client input; every refusal
    /// is a 4xx with a JSON error.
    pub fn handle(&self, req: &Incoming<'_>) -> Answer {
        let path = req.target.split('?').next().unwrap_or("");
        // Liveness stays open, so that a load balancer or a supervisor can
        // probe without the token.
        if path != "/healthz" {
            if let Some(token) = &self.token {
                if let Err(d) = token.check(req.authorization) {
                    let mut a = Answer::json(
                        401,
                        &json!({"error": {"status": 401, "message": d.message()}}),
                    );
                    a.headers
                        .push(("WWW-Authenticate", "Bearer realm=\"vpc-router\"".into()));
                    return a;
                }
            }
        }
        match api::parse(req.method, req.target, req.body) {
            Err(e) => Answer::refused(&e),
            Ok(ApiAction::Health) => Answer::json(200, &json!({"status": "ok"})),
            Ok(ApiAction::Status) => Answer::json(200, &self.status()),
            Ok(ApiAction::Metrics) => {
                let mut out = super::metrics::Exposition::new();
                self.metrics.render(&mut out);
                super::metrics::render_control(&self.control(), &mut out);
                if let Some(e) = &self.etcd {
                    super::metrics::render_etcd(&e.view(), &mut out);
                }
                if let Some(b) = &self.bgp {
                    super::metrics::render_bgp(b, &mut out);
                }
                if let Some(m) = &self.spec_mode {
                    super::metrics::render_engine(&m.engine.gauges(), &mut out);
                }
                super::metrics::render_process(&mut out);
                Answer {
                    status: 200,
                    content_type: "text/plain; version=0.0.4; charset=utf-8",
                    body: out.into_string(),
                    headers: Vec::new(),
                }
            }
            Ok(ApiAction::ReconcileStatus) => {
                let mut v = self.status();
                v["reconcile"] = self.spec_mode.as_ref().map_or(Value::Null, |m| {
                    super::status::engine_json(&m.engine.status())
                });
                Answer::json(200, &v)
            }
            Ok(ApiAction::StatusRoutes(q)) => self.status_routes(&q),
            Ok(ApiAction::StatusPage(q)) => super::page::render(self, q.as_ref()),
            Ok(ApiAction::OpenApi) => Answer {
                status: 200,
                content_type: "application/json",
                body: OPENAPI.to_string(),
                headers: Vec::new(),
            },
            Ok(ApiAction::Bgp) => match &self.bgp {
                None => error_answer(
                    404,
                    None,
                    "the BGP listener is off; start the daemon with --bgp-listen",
                ),
                Some(b) => Answer::json(200, &super::status::bgp_json(b)),
            },
            Ok(ApiAction::GetSpec) => match &self.spec_mode {
                None => spec_off(),
                Some(m) => match m
                    .http
                    .as_ref()
                    .map_or_else(|| Ok(m.engine.spec()), |h| h.spec())
                {
                    Err(e) => error_answer(503, None, format!("the spec cannot be read now: {e}")),
                    Ok(None) => error_answer(
                        404,
                        None,
                        "no spec has been set yet; POST one to /route_spec",
                    ),
                    Ok(Some(spec)) => Answer::json(200, &spec.to_json()),
                },
            },
            Ok(ApiAction::SetSpec(body)) => self.set_spec(&body),
            Ok(ApiAction::Route(call)) if call.op != Op::Show && self.spec_mode.is_some() => {
                self.spec_route(call)
            }
            Ok(ApiAction::Route(call)) => self.route(call),
        }
    }

    /// The refusal of a change by a daemon that may not make one now (a
    /// follower: it names the leader), before anything is looked at.
    fn not_leading(&self) -> Option<Answer> {
        let why = self.fence.check().err()?;
        let mut a = error_answer(
            503,
            None,
            format!("{why}; this daemon changes no route now, send changes to the leader"),
        );
        if let Some(leader) = self.etcd.as_ref().and_then(|e| {
            e.view
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .leader
                .clone()
        }) {
            a.headers.push(("X-Vpc-Router-Leader", leader));
        }
        a.headers.push(("Retry-After", RETRY_AFTER.to_string()));
        Some(a)
    }

    /// The http feed, or the answer that there is none.
    fn http_feed(&self) -> Result<&HttpFeed, Answer> {
        match &self.spec_mode {
            None => Err(spec_off()),
            Some(SpecMode { http: Some(h), .. }) => Ok(h),
            Some(SpecMode { elsewhere, .. }) => Err(from_elsewhere(elsewhere.as_deref())),
        }
    }

    fn set_spec(&self, body: &[u8]) -> Answer {
        let feed = match self.http_feed() {
            Ok(f) => f,
            Err(a) => return a,
        };
        let spec = match spec::parse(body) {
            Ok(s) => s,
            Err(e) => return error_answer(400, e.key.as_deref(), e.to_string()),
        };
        let n = spec.len();
        let doc = spec.to_json();
        match feed.replace(spec) {
            Ok(()) => {
                info!("route spec replaced over HTTP: {n} CIDR(s)");
                Answer::json(200, &json!({"status": "accepted", "cidrs": n, "spec": doc}))
            }
            Err(e) => {
                error!("{e}");
                error_answer(
                    503,
                    None,
                    format!("the spec could not be saved, so it was not put in force: {e}"),
                )
            }
        }
    }

    /// POST/DELETE /route with `-m http`: edit the CIDR's spec entry, then
    /// reconcile that CIDR and answer with what happened in each table.
    fn spec_route(&self, call: RouteCall) -> Answer {
        let feed = match self.http_feed() {
            Ok(f) => f,
            Err(a) => return a,
        };
        if let Some(a) = self.not_leading() {
            return a;
        }
        for (field, given) in [
            ("dry_run", call.dry_run),
            ("force", call.force),
            ("route_table", !call.route_tables.is_empty()),
        ] {
            if given {
                return error_answer(
                    400,
                    Some(field),
                    format!("{field} does not apply with -m http: the spec decides; use `vpc-router plan` to preview"),
                );
            }
        }
        let cidr = call.cidr;
        let Some(_held) = self.locks.lock(cidr) else {
            return busy(&format!("{cidr} (another request)"));
        };
        match feed.edit(cidr, call.router_ip) {
            Ok(r) => spec_route_answer(call.op, cidr, &r),
            Err(EditError::NotInSpec) => error_answer(
                404,
                Some("dst_cidr"),
                format!("{cidr} is not in the route spec"),
            ),
            Err(EditError::Save(e)) => {
                error!("{e}");
                error_answer(
                    503,
                    None,
                    format!("the spec could not be saved; nothing was changed: {e}"),
                )
            }
            Err(EditError::Busy) => busy("the reconciler (a pass under way)"),
            Err(EditError::Stopping) => error_answer(
                503,
                None,
                "the daemon is stopping; the edit is saved and the next start reconciles it",
            ),
            Err(EditError::UnknownRouter) => error_answer(
                400,
                Some("router_ip"),
                format!(
                    "no network interface in {} holds {}; the spec was not changed",
                    self.vpc,
                    call.router_ip.map_or_else(String::new, |ip| ip.to_string())
                ),
            ),
            Err(EditError::Reconcile(e)) => {
                let (status, mut body) = api::error_status(&e);
                body["error"]["message"] = json!(format!(
                    "{e}; the spec was updated and the next pass retries"
                ));
                Answer::json(status, &body)
            }
        }
    }

    /// `GET /status/routes`: one CIDR's tables, or a page of CIDRs.
    fn status_routes(&self, q: &api::RoutesQuery) -> Answer {
        let Some(m) = &self.spec_mode else {
            return error_answer(
                404,
                None,
                "no reconciler: start the daemon with -m to have routes in /status",
            );
        };
        match q {
            api::RoutesQuery::Cidr(c) => match m.engine.routes_of(c) {
                Some(t) => Answer::json(200, &super::status::cidr_routes_json(c, &t)),
                None => error_answer(
                    404,
                    Some("cidr"),
                    format!("{c} is neither in the spec nor managed"),
                ),
            },
            api::RoutesQuery::Page { page, per_page } => Answer::json(
                200,
                &super::status::routes_page_json(&m.engine.routes_page(*page, *per_page)),
            ),
        }
    }

    fn status(&self) -> Value {
        let last = self.metrics.last_ec2_error().map(|e| {
            let mut d = e.detail;
            d["at"] = json!(timefmt::rfc3339(e.at));
            d
        });
        json!({
            "version": crate::VERSION,
            "region": self.region.to_string(),
            "vpc": self.vpc.to_string(),
            "ec2_endpoint": self.endpoint,
            "started_at": timefmt::rfc3339(self.metrics.started_at()),
            "uptime_seconds": self.metrics.uptime().as_secs(),
            "workers": self.workers,
            "auth": self.token.is_some(),
            "route_tables": if self.default_tables.is_empty() {
                json!("all")
            } else {
                json!(self.default_tables.iter().map(ToString::to_string).collect::<Vec<_>>())
            },
            "counters": self.metrics.summary(),
            "last_ec2_error": last,
            "control": super::status::control_json(&self.control()),
            "etcd": self.etcd.as_ref().map(|e| super::status::etcd_json(&e.view())),
            "bgp": self.bgp.as_ref().map(|b| super::status::bgp_peers_json(b)),
        })
    }

    fn control(&self) -> ControlStatus {
        self.control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn route(&self, call: RouteCall) -> Answer {
        if call.op != Op::Show && !call.dry_run {
            if let Some(a) = self.not_leading() {
                return a;
            }
        }
        // force replaces or deletes a gateway's route: the operator, not
        // any process that reaches the port, decides whether the API may.
        if call.force && !self.allow_api_force {
            return error_answer(
                403,
                Some("force"),
                "force is off for API requests: this daemon was started without \
                 --allow-api-force; send the request without force, or restart the daemon \
                 with --allow-api-force to let clients replace or delete gateway and \
                 propagated routes",
            );
        }
        let tables = if call.route_tables.is_empty() {
            self.default_tables.clone()
        } else {
            call.route_tables
        };
        let req = RouteRequest {
            op: call.op,
            vpc: self.vpc.clone(),
            cidr: call.cidr,
            router_ip: call.router_ip,
            tables,
            force: call.force,
            dry_run: call.dry_run,
        };
        // show only reads, so it takes no lock: shows run in parallel, and
        // a show never waits behind a slow add.
        let result = {
            let held = (req.op != Op::Show).then(|| self.locks.lock(req.cidr));
            if let Some(None) = held {
                return busy(&format!("{} (another request)", req.cidr));
            }
            route::execute(&*self.ec2, &req)
        };
        match result {
            Ok(report) => {
                self.record(&report);
                Answer::json(api::route_status(&report), &route::report::json(&report))
            }
            Err(e) => {
                if let RouteError::Ec2(x) = &e {
                    error!("{} {}: {e}", req.op.as_str(), req.cidr);
                    self.metrics
                        .ec2_error(self.clock.now(), route::report::error_json(x));
                } else {
                    info!("{} {}: {e}", req.op.as_str(), req.cidr);
                }
                let (status, body) = api::error_status(&e);
                Answer::json(status, &body)
            }
        }
    }

    /// Logs and counts what a command changed: one line per route change
    /// (table, CIDR, old target -> new target), one per failure with EC2's
    /// request ID.
    fn record(&self, r: &Report) {
        let cidr = r.request.cidr;
        let new_target = r.router.as_ref().map(|x| {
            RouteTarget::Interface {
                eni: Some(x.eni.clone()),
                instance: x.instance.clone(),
            }
            .to_string()
        });
        for w in &r.warnings {
            warn!("{w}");
        }
        for t in &r.tables {
            let old = t
                .before
                .as_ref()
                .map_or("(none)".to_string(), |b| b.target.to_string());
            let new = new_target.as_deref().unwrap_or("(none)");
            match (final_step(t), t.outcome.settled()) {
                (Step::Create, Outcome::Done) => {
                    self.metrics.route_change("create");
                    info!("route {cidr} in {}: (none) -> {new} (created)", t.table);
                }
                (Step::Replace(why), Outcome::Done) => {
                    self.metrics.route_change("replace");
                    let why = match why {
                        ReplaceReason::OtherTarget => "it pointed elsewhere",
                        ReplaceReason::Blackhole => "it was a blackhole",
                        ReplaceReason::Forced => "forced",
                    };
                    info!(
                        "route {cidr} in {}: {old} -> {new} (replaced: {why})",
                        t.table
                    );
                }
                (Step::Delete, Outcome::Done) => {
                    self.metrics.route_change("delete");
                    info!("route {cidr} in {}: {old} -> (none) (deleted)", t.table);
                }
                (_, Outcome::AppliedDespiteDryRun) => {
                    warn!(
                        "route {cidr} in {}: the endpoint ignored DryRun and made the change",
                        t.table
                    );
                }
                (_, Outcome::Failed(e)) => {
                    error!("route {cidr} in {}: {e}", t.table);
                    self.metrics
                        .ec2_error(self.clock.now(), route::report::error_json(e));
                }
                _ => {}
            }
        }
    }
}

fn spec_off() -> Answer {
    error_answer(
        404,
        None,
        "desired-state routing is off; start the daemon with -m http, -m configfile or -m etcd",
    )
}

fn from_elsewhere(what: Option<&str>) -> Answer {
    error_answer(
        409,
        None,
        format!(
            "the spec comes from {}",
            what.unwrap_or("elsewhere than this API")
        ),
    )
}

/// The answer to a spec-mode POST/DELETE /route: per table, what the
/// reconcile of that CIDR did.
fn spec_route_answer(op: Op, cidr: Cidr, r: &CidrResult) -> Answer {
    let target = r.plan.targets.get(&cidr).cloned().flatten();
    let mut first_error: Option<u16> = None;
    let mut created = false;
    let tables: Vec<Value> = r
        .tables
        .iter()
        .map(|t| {
            let applied = r.applied.iter().find(|a| &a.change.table == t);
            let refused = r
                .plan
                .issues
                .iter()
                .any(|i| matches!(i, Issue::NotOurs { table, .. } if table == t));
            let mut v = json!({"route_table": t.to_string()});
            v["result"] = json!(match applied {
                Some(a) => match &a.result {
                    Ok(()) => {
                        created |= a.change.action == Action::Create;
                        match a.change.action {
                            Action::Create => "created",
                            Action::Replace => "replaced",
                            Action::Delete => "deleted",
                        }
                    }
                    Err(e) => {
                        v["error"] = route::report::error_json(e);
                        first_error.get_or_insert(api::ec2_status(e));
                        "failed"
                    }
                },
                None if refused => "refused",
                None if op == Op::Del => "absent",
                None => "unchanged",
            });
            v
        })
        .collect();
    let refused = r
        .plan
        .issues
        .iter()
        .any(|i| matches!(i, Issue::NotOurs { .. }));
    let status = first_error.unwrap_or(if refused {
        409
    } else if created {
        201
    } else {
        200
    });
    Answer::json(
        status,
        &json!({
            "command": op.as_str(),
            "cidr": cidr.to_string(),
            "router": target.map(|t| json!({"ip": t.ip.to_string(), "network_interface": t.eni.to_string()})),
            "route_tables": tables,
            "issues": r.plan.issues.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "status": match status { 200 | 201 => "ok", 409 => "refused", _ => "failed" },
        }),
    )
}

/// A worker: takes requests from tiny_http until `stopping` is set and the
/// server is unblocked, and answers each.
pub fn work(server: &tiny_http::Server, svc: &Service, stopping: &AtomicBool) {
    loop {
        let mut rq = match server.recv() {
            Ok(rq) => rq,
            Err(e) => {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                warn!("API server: {e}");
                continue;
            }
        };
        let started = Instant::now();
        let _running = svc.metrics.in_flight();
        let method = rq.method().as_str().to_string();
        let target = rq.url().to_string();
        let header = |name: &'static str| {
            rq.headers()
                .iter()
                .find(|h| h.field.equiv(name))
                .map(|h| h.value.as_str().to_string())
        };
        let peer = header(PEER_HEADER).unwrap_or_else(|| "-".into());
        if peer == PROBE_PEER {
            let _ = rq.respond(tiny_http::Response::from_data(Vec::new()));
            continue;
        }
        let authorization = header("Authorization");
        // The gate has already bounded the body to api::MAX_BODY and
        // framed it with an exact Content-Length; the take() only makes
        // this loop's memory bound independent of that.
        let mut body = Vec::new();
        let read = std::io::Read::read_to_end(
            &mut std::io::Read::take(rq.as_reader(), api::MAX_BODY as u64 + 1),
            &mut body,
        );
        let answer = match read {
            Ok(_) => svc.handle(&Incoming {
                method: &method,
                target: &target,
                authorization: authorization.as_deref(),
                body: &body,
            }),
            Err(e) => Answer::json(
                400,
                &json!({"error": {"status": 400, "message": format!("reading the body: {e}")}}),
            ),
        };
        let took = started.elapsed();
        svc.metrics.request(&method, &target, answer.status, took);
        // Health probes and scrapes would drown the log; they go to debug.
        let line = format!(
            "{method} {target} {} {:.1}ms {peer}",
            answer.status,
            took.as_secs_f64() * 1000.0
        );
        if matches!(target.as_str(), "/healthz" | "/metrics") {
            debug!("{line}");
        } else {
            info!("{line}");
        }
        let mut response = tiny_http::Response::from_data(answer.body.into_bytes())
            .with_status_code(answer.status)
            // Always a Content-Length, never chunked: the gate relays the
            // answer as it is.
            .with_chunked_threshold(usize::MAX);
        let mut headers = vec![("Content-Type", answer.content_type.to_string())];
        headers.extend(answer.headers);
        for (name, value) in headers {
            if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(h);
            }
        }
        if let Err(e) = rq.respond(response) {
            debug!("answering {method} {target}: {e}");
        }
    }
}

/// For logs: the client as the gate saw it.
pub fn peer_text(addr: Option<std::net::SocketAddr>) -> String {
    match addr {
        Some(a) => match a.ip() {
            IpAddr::V4(_) => a.to_string(),
            IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                Some(v4) => format!("{v4}:{}", a.port()),
                None => a.to_string(),
            },
        },
        None => "-".to_string(),
    }
}

#[cfg(test)]
mod tests;
