//! The daemon's HTTP API at its edge, without a socket: `parse` turns a
//! method, a request target and a body into a closed [`ApiAction`] or a
//! [`RequestError`] that names the field at fault; `route_status` and
//! `error_status` map results to HTTP statuses. The API is the original
//! vpc-router's: `POST|GET|DELETE /route` with `dst_cidr` and `router_ip`.

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use crate::ec2::Ec2Error;
use crate::route::{final_step, Op, Outcome, Report, RouteError, Step, Verdict};
use crate::spec::json::JsonError;
use crate::types::{parse_ip, Cidr, RouteTableId};

/// Request bodies larger than this are refused with 413: a route request
/// is a few hundred bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiAction {
    /// `POST`, `GET` or `DELETE /route`.
    Route(RouteCall),
    /// `GET /`: version, region, VPC, uptime, counters.
    Status,
    /// `GET /healthz`: liveness.
    Health,
    /// `GET /metrics`: Prometheus text.
    Metrics,
    /// `GET /status`: the status document with the reconciler's part.
    ReconcileStatus,
    /// `GET /status/routes?cidr=..` or `?page=N&per_page=M`: the
    /// reconciler's per-table routes, for one CIDR or a page of CIDRs.
    StatusRoutes(RoutesQuery),
    /// `GET /route_spec`.
    GetSpec,
    /// `POST /route_spec` with the new spec (validated by the caller).
    SetSpec(Vec<u8>),
    /// `GET /bgp`: the BGP peers and what they taught.
    Bgp,
    /// `GET /status.html`: the status page; with a query (as
    /// `/status/routes`'s), one CIDR's tables or a page of CIDRs.
    StatusPage(Option<RoutesQuery>),
    /// `GET /openapi.json`: the API's description.
    OpenApi,
}

/// Which per-table routes `GET /status/routes` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutesQuery {
    /// Every table for one CIDR.
    Cidr(Cidr),
    /// Page `page` (from 1) of the CIDRs in order, `per_page` CIDRs each.
    Page { page: usize, per_page: usize },
}

/// The largest `per_page` of `GET /status/routes`.
pub const MAX_PER_PAGE: usize = 500;
/// `per_page` when not given.
pub const DEFAULT_PER_PAGE: usize = 50;

/// A route command from the API, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCall {
    pub op: Op,
    pub cidr: Cidr,
    pub router_ip: Option<IpAddr>,
    pub dry_run: bool,
    pub force: bool,
    pub route_tables: Vec<RouteTableId>,
}

/// Why a request was refused before anything was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// 404: no such path.
    NotFound(String),
    /// 405: the path exists, the method does not; `allow` lists those that do.
    MethodNotAllowed { allow: &'static str },
    /// 400: bad input; `field` names the parameter at fault.
    BadRequest {
        field: Option<String>,
        message: String,
    },
    /// 413: the body is larger than [`MAX_BODY`].
    TooLarge,
}

impl RequestError {
    pub fn status(&self) -> u16 {
        match self {
            RequestError::NotFound(_) => 404,
            RequestError::MethodNotAllowed { .. } => 405,
            RequestError::BadRequest { .. } => 400,
            RequestError::TooLarge => 413,
        }
    }

    /// The JSON body: `{"error": {"status", "message", "field"?}}`.
    pub fn body(&self) -> Value {
        let message = match self {
            RequestError::NotFound(path) => {
                let paths: Vec<&str> = ROUTES.iter().map(|r| r.0).collect();
                format!("no such path: {path}; the API has {}", paths.join(", "))
            }
            RequestError::MethodNotAllowed { allow } => {
                format!("method not allowed here; use {allow}")
            }
            RequestError::BadRequest { message, .. } => message.clone(),
            RequestError::TooLarge => format!("the request body is larger than {MAX_BODY} bytes"),
        };
        let mut e = json!({"status": self.status(), "message": message});
        if let RequestError::BadRequest { field: Some(f), .. } = self {
            e["field"] = json!(f);
        }
        json!({ "error": e })
    }
}

fn bad(field: &str, message: impl Into<String>) -> RequestError {
    RequestError::BadRequest {
        field: Some(field.to_string()),
        message: message.into(),
    }
}

/// Every path the API serves, with the methods it takes (HEAD goes
/// wherever GET does): what [`parse`] routes, what a 405's `Allow` names,
/// and what `/openapi.json` documents (tests/api_description.rs checks
/// that document against this table both ways).
pub const ROUTES: &[(&str, &str)] = &[
    ("/", "GET"),
    ("/healthz", "GET"),
    ("/metrics", "GET"),
    ("/status", "GET"),
    ("/status/routes", "GET"),
    ("/status.html", "GET"),
    ("/bgp", "GET"),
    ("/openapi.json", "GET"),
    ("/route_spec", "GET, POST, PUT"),
    ("/route", "GET, POST, DELETE"),
];

/// Parses one request. `target` is the request target (path and query);
/// `body` is the whole body, already bounded by the caller.
pub fn parse(method: &str, target: &str, body: &[u8]) -> Result<ApiAction, RequestError> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // "/route/" is the 1.x tool's spelling.
    let known = if path == "/route/" { "/route" } else { path };
    let Some(&(known, allow)) = ROUTES.iter().find(|r| r.0 == known) else {
        return Err(RequestError::NotFound(path.to_string()));
    };
    let method = if method == "HEAD" { "GET" } else { method };
    if !allow.split(", ").any(|m| m == method) {
        return Err(RequestError::MethodNotAllowed { allow });
    }
    Ok(match (known, method) {
        ("/", _) => ApiAction::Status,
        ("/healthz", _) => ApiAction::Health,
        ("/metrics", _) => ApiAction::Metrics,
        ("/status", _) => ApiAction::ReconcileStatus,
        ("/status/routes", _) => ApiAction::StatusRoutes(routes_query(query)?),
        ("/status.html", _) if query.is_empty() => ApiAction::StatusPage(None),
        ("/status.html", _) => ApiAction::StatusPage(Some(routes_query(query)?)),
        ("/bgp", _) => ApiAction::Bgp,
        ("/openapi.json", _) => ApiAction::OpenApi,
        ("/route_spec", "GET") => ApiAction::GetSpec,
        ("/route_spec", _) if body.len() > MAX_BODY => return Err(RequestError::TooLarge),
        ("/route_spec", _) => ApiAction::SetSpec(body.to_vec()),
        ("/route", "POST") => ApiAction::Route(route_from_body(body)?),
        ("/route", "GET") => ApiAction::Route(route_from_query(Op::Show, query)?),
        ("/route", _) => ApiAction::Route(route_from_query(Op::Del, query)?),
        // A path in ROUTES without an arm: the API description test fails.
        _ => return Err(RequestError::NotFound(path.to_string())),
    })
}

fn cidr(s: &str) -> Result<Cidr, RequestError> {
    s.parse()
        .map_err(|e: crate::types::ParseError| bad("dst_cidr", e.0))
}

fn route_table(s: &str) -> Result<RouteTableId, RequestError> {
    s.parse()
        .map_err(|e: crate::types::ParseError| bad("route_table", e.0))
}

fn flag(field: &str, s: &str) -> Result<bool, RequestError> {
    match s {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad(
            field,
            format!("'{s}' is not a boolean; use true or false"),
        )),
    }
}

/// `GET|DELETE /route?dst_cidr=...[&dry_run=true][&force=true][&route_table=rtb-...]`.
fn route_from_query(op: Op, query: &str) -> Result<RouteCall, RequestError> {
    let mut cidr_v = None;
    let mut call = RouteCall {
        op,
        cidr: "0.0.0.0/0".parse().expect("a valid CIDR"),
        router_ip: None,
        dry_run: false,
        force: false,
        route_tables: Vec::new(),
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k).map_err(|e| bad(k, e))?;
        let v = decode(v).map_err(|e| bad(&k, e))?;
        match k.as_str() {
            "dst_cidr" if cidr_v.is_some() => {
                return Err(bad("dst_cidr", "given twice; give it once"))
            }
            "dst_cidr" => cidr_v = Some(cidr(&v)?),
            "route_table" => call.route_tables.push(route_table(&v)?),
            "dry_run" if op == Op::Del => call.dry_run = flag("dry_run", &v)?,
            "force" if op == Op::Del => call.force = flag("force", &v)?,
            "router_ip" => {
                return Err(bad("router_ip", "only POST (add) takes a router_ip"));
            }
            other => {
                let known = if op == Op::Del {
                    "dst_cidr, route_table, dry_run, force"
                } else {
                    "dst_cidr, route_table"
                };
                return Err(bad(
                    other,
                    format!("unknown parameter '{other}'; known: {known}"),
                ));
            }
        }
    }
    call.cidr =
        cidr_v.ok_or_else(|| bad("dst_cidr", "missing; e.g. /route?dst_cidr=10.55.0.0/16"))?;
    Ok(call)
}

fn count(field: &str, v: &str, max: usize) -> Result<usize, RequestError> {
    match v.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(bad(field, format!("'{v}' is not a number from 1 to {max}"))),
    }
}

/// `/status/routes`'s query: `cidr=CIDR`, or `page=N` (from 1) and
/// `per_page=M` (1 to [`MAX_PER_PAGE`]), not both.
fn routes_query(query: &str) -> Result<RoutesQuery, RequestError> {
    let (mut c, mut page, mut per_page) = (None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k).map_err(|e| bad(k, e))?;
        let v = decode(v).map_err(|e| bad(&k, e))?;
        let slot_given = match k.as_str() {
            "cidr" => c
                .replace(
                    v.parse::<Cidr>()
                        .map_err(|e: crate::types::ParseError| bad("cidr", e.0))?,
                )
                .is_some(),
            "page" => page.replace(count("page", &v, usize::MAX)?).is_some(),
            "per_page" => per_page
                .replace(count("per_page", &v, MAX_PER_PAGE)?)
                .is_some(),
            other => {
                return Err(bad(
                    other,
                    format!("unknown parameter '{other}'; known: cidr, page, per_page"),
                ))
            }
        };
        if slot_given {
            return Err(bad(&k, "given twice; give it once"));
        }
    }
    match (c, page, per_page) {
        (Some(c), None, None) => Ok(RoutesQuery::Cidr(c)),
        (Some(_), _, _) => Err(bad("cidr", "give either cidr or page/per_page, not both")),
        (None, page, per_page) => Ok(RoutesQuery::Page {
            page: page.unwrap_or(1),
            per_page: per_page.unwrap_or(DEFAULT_PER_PAGE),
        }),
    }
}

/// `POST /route` with `{"dst_cidr": "...", "router_ip": "...", "dry_run"?,
/// "force"?, "route_table"?: "rtb-..." | ["rtb-...", ...]}`.
fn route_from_body(body: &[u8]) -> Result<RouteCall, RequestError> {
    if body.len() > MAX_BODY {
        return Err(RequestError::TooLarge);
    }
    let value: Value = crate::spec::json::parse(body).map_err(|e| match e {
        JsonError::Syntax(e) => RequestError::BadRequest {
            field: None,
            message: format!(
                "the body is not JSON ({e}); send e.g. \
                 {{\"dst_cidr\": \"10.55.0.0/16\", \"router_ip\": \"10.33.20.142\"}}"
            ),
        },
        e => bad(e.top_key().unwrap_or_default(), e.to_string()),
    })?;
    let Value::Object(map) = value else {
        return Err(RequestError::BadRequest {
            field: None,
            message: "the body must be a JSON object with dst_cidr and router_ip".into(),
        });
    };
    let text = |map: &Map<String, Value>, k: &str| -> Result<Option<String>, RequestError> {
        match map.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(k, format!("must be a string, not {other}"))),
        }
    };
    let boolean = |map: &Map<String, Value>, k: &str| -> Result<bool, RequestError> {
        match map.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(bad(k, format!("must be true or false, not {other}"))),
        }
    };
    for k in map.keys() {
        if !["dst_cidr", "router_ip", "dry_run", "force", "route_table"].contains(&k.as_str()) {
            return Err(bad(
                k,
                format!(
                    "unknown field '{k}'; known: dst_cidr, router_ip, dry_run, force, route_table"
                ),
            ));
        }
    }
    let cidr_s =
        text(&map, "dst_cidr")?.ok_or_else(|| bad("dst_cidr", "missing; e.g. \"10.55.0.0/16\""))?;
    let ip_s = text(&map, "router_ip")?
        .ok_or_else(|| bad("router_ip", "missing; e.g. \"10.33.20.142\""))?;
    let route_tables = match map.get("route_table") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![route_table(s)?],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => route_table(s),
                other => Err(bad(
                    "route_table",
                    format!("must be route table IDs, not {other}"),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(bad(
                "route_table",
                format!("must be an ID or a list of IDs, not {other}"),
            ))
        }
    };
    Ok(RouteCall {
        op: Op::Add,
        cidr: cidr(&cidr_s)?,
        router_ip: Some(parse_ip(&ip_s).map_err(|e| bad("router_ip", e.0))?),
        dry_run: boolean(&map, "dry_run")?,
        force: boolean(&map, "force")?,
        route_tables,
    })
}

/// Percent-decodes a query component (`+` is a space, as in forms).
fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .ok_or("a '%' not followed by two hex digits")?;
                out.push(
                    u8::from_str_radix(hex, 16)
                        .map_err(|_| "a '%' not followed by two hex digits")?,
                );
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "not valid UTF-8 after percent-decoding".to_string())
}

/// The HTTP status of a finished route command, mirroring the CLI's exit
/// codes: 200 (201 when a route was created), 404 when the route is missing
/// from a table (show, del), 409 when a route vpc-router does not own is in
/// the way (exit 5 in the CLI), 502 for an EC2 error, 504 when EC2 timed
/// out, 503 when credentials could not be had.
pub fn route_status(r: &Report) -> u16 {
    match r.verdict() {
        Verdict::Ok => {
            let created = r
                .tables
                .iter()
                .any(|t| *final_step(t) == Step::Create && *t.outcome.settled() == Outcome::Done);
            if created {
                201
            } else {
                200
            }
        }
        Verdict::NotFound => 404,
        Verdict::Refused => 409,
        Verdict::Failed { .. } => r
            .tables
            .iter()
            .find_map(|t| match t.outcome.settled() {
                Outcome::Failed(e) => Some(ec2_status(e)),
                Outcome::AppliedDespiteDryRun => Some(502),
                _ => None,
            })
            .unwrap_or(502),
    }
}

/// The status for a failed EC2 call: 504 on a timeout, 503 without
/// credentials or when the fence refused it, 502 otherwise.
pub fn ec2_status(e: &Ec2Error) -> u16 {
    match e {
        Ec2Error::Transport {
            timed_out: true, ..
        } => 504,
        // No credentials to sign with, or this daemon may not change
        // routes now (the fence): it cannot serve this for now.
        Ec2Error::Credentials(_) | Ec2Error::Fenced { .. } => 503,
        _ => 502,
    }
}

/// The status and JSON body of a route command that failed before it
/// reached any table.
pub fn error_status(e: &RouteError) -> (u16, Value) {
    let (status, field) = match e {
        RouteError::UnknownRouterIp { .. } => (400, Some("router_ip")),
        RouteError::UnknownRouteTables { .. } => (400, Some("route_table")),
        RouteError::NoRouteTables { .. } => (502, None),
        // The API takes no tag; kept exhaustive.
        RouteError::NoTaggedTables { .. } => (400, None),
        RouteError::Ec2(e) => (ec2_status(e), None),
    };
    let mut err = json!({"status": status, "message": e.to_string()});
    if let Some(f) = field {
        err["field"] = json!(f);
    }
    if let RouteError::Ec2(e) = e {
        err["ec2"] = crate::route::report::error_json(e);
    }
    (status, json!({ "error": err }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::CredentialsError;
    use crate::ec2::fake::{eni, table, FakeEc2, Fault};
    use crate::route::execute;

    fn call(method: &str, target: &str, body: &str) -> Result<ApiAction, RequestError> {
        parse(method, target, body.as_bytes())
    }

    fn route(method: &str, target: &str, body: &str) -> RouteCall {
        match call(method, target, body) {
            Ok(ApiAction::Route(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_original_api_parses() {
        let c = route(
            "POST",
            "/route",
            r#"{"dst_cidr" : "10.55.0.0/16", "router_ip" : "10.33.20.142"}"#,
        );
        assert_eq!(
            (c.op, c.cidr.to_string(), c.router_ip.unwrap().to_string()),
            (Op::Add, "10.55.0.0/16".into(), "10.33.20.142".into())
        );
        let c = route("GET", "/route?dst_cidr=10.55.0.0/16", "");
        assert_eq!(
            (c.op, c.cidr.to_string()),
            (Op::Show, "10.55.0.0/16".into())
        );
        let c = route(
            "DELETE",
            "/route?dst_cidr=10.55.0.0%2F16&dry_run=true&route_table=rtb-0a1b2c3d",
            "",
        );
        assert_eq!((c.op, c.dry_run, c.route_tables.len()), (Op::Del, true, 1));
        let c = route(
            "POST",
            "/route",
            r#"{"dst_cidr": "2001:db8::/56", "router_ip": "10.33.20.142", "dry_run": true, "force": true, "route_table": ["rtb-0a1b2c3d", "rtb-1a2b3c4d"]}"#,
        );
        assert!(c.dry_run && c.force);
        assert_eq!(c.route_tables.len(), 2);
        // Issue 14: an IPv4-mapped router_ip is its IPv4 address.
        let c = route(
            "POST",
            "/route",
            r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "::ffff:10.33.20.142"}"#,
        );
        assert_eq!(c.router_ip.unwrap().to_string(), "10.33.20.142");
        assert_eq!(call("GET", "/", ""), Ok(ApiAction::Status));
        assert_eq!(call("GET", "/healthz", ""), Ok(ApiAction::Health));
        assert_eq!(call("GET", "/metrics", ""), Ok(ApiAction::Metrics));
        assert_eq!(call("GET", "/status", ""), Ok(ApiAction::ReconcileStatus));
        assert_eq!(
            call("GET", "/status/routes?cidr=10.55.0.0/16", ""),
            Ok(ApiAction::StatusRoutes(RoutesQuery::Cidr(
                "10.55.0.0/16".parse().unwrap()
            )))
        );
        assert_eq!(
            call("GET", "/status/routes?page=3&per_page=500", ""),
            Ok(ApiAction::StatusRoutes(RoutesQuery::Page {
                page: 3,
                per_page: 500
            }))
        );
        assert_eq!(
            call("GET", "/status/routes", ""),
            Ok(ApiAction::StatusRoutes(RoutesQuery::Page {
                page: 1,
                per_page: DEFAULT_PER_PAGE
            }))
        );
        for (target, field) in [
            ("/status/routes?per_page=501", "per_page"),
            ("/status/routes?page=0", "page"),
            ("/status/routes?cidr=10.55.0.0/16&page=2", "cidr"),
            ("/status/routes?cidr=nope", "cidr"),
            ("/status/routes?page=1&page=2", "page"),
            ("/status/routes?x=1", "x"),
        ] {
            let e = call("GET", target, "").unwrap_err();
            assert_eq!(e.body()["error"]["field"], field, "{target}");
        }
        assert_eq!(call("GET", "/route_spec", ""), Ok(ApiAction::GetSpec));
        assert_eq!(
            call("POST", "/route_spec", "{}"),
            Ok(ApiAction::SetSpec(b"{}".to_vec()))
        );
        assert_eq!(
            call("DELETE", "/route_spec", ""),
            Err(RequestError::MethodNotAllowed {
                allow: "GET, POST, PUT"
            })
        );
    }

    #[test]
    fn bad_requests_name_the_field() {
        let cases: [(&str, &str, &str, Option<&str>, &str); 17] = [
            ("POST", "/route", "{not json", None, "the body is not JSON"),
            // Issue 14: the last of two equal keys used to win.
            (
                "POST",
                "/route",
                r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20.142", "dst_cidr": "0.0.0.0/0"}"#,
                Some("dst_cidr"),
                "the key \"dst_cidr\" is given twice",
            ),
            (
                "POST",
                "/route",
                r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20.142", "force": false, "force": true}"#,
                Some("force"),
                "give each key once",
            ),
            (
                "POST",
                "/route",
                "[1,2]",
                None,
                "the body must be a JSON object",
            ),
            (
                "POST",
                "/route",
                r#"{"router_ip": "10.33.20.142"}"#,
                Some("dst_cidr"),
                "missing",
            ),
            (
                "POST",
                "/route",
                r#"{"dst_cidr": "10.55.0.0/16"}"#,
                Some("router_ip"),
                "missing",
            ),
            (
                "POST",
                "/route",
                r#"{"dst_cidr": "10.55.1.0/16", "router_ip": "10.33.20.142"}"#,
                Some("dst_cidr"),
                "10.55.1.0/16 has host bits set; did you mean 10.55.0.0/16?",
            ),
            (
                "POST",
                "/route",
                r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20"}"#,
                Some("router_ip"),
                "'10.33.20' is not an IP address",
            ),
            (
                "POST",
                "/route",
                r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20.142", "ttl": 5}"#,
                Some("ttl"),
                "unknown field 'ttl'",
            ),
            (
                "POST",
                "/route",
                r#"{"dst_cidr": 5, "router_ip": "10.33.20.142"}"#,
                Some("dst_cidr"),
                "must be a string",
            ),
            (
                "POST",
                "/route",
                r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20.142", "dry_run": "yes"}"#,
                Some("dry_run"),
                "must be true or false",
            ),
            (
                "POST",
                "/route",
                r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20.142", "route_table": "rtb-x"}"#,
                Some("route_table"),
                "'rtb-x' is not a route table ID",
            ),
            (
                "GET",
                "/route",
                "",
                Some("dst_cidr"),
                "missing; e.g. /route?dst_cidr=10.55.0.0/16",
            ),
            (
                "GET",
                "/route?dst_cidr=10.55.0.0/16&router_ip=1.2.3.4",
                "",
                Some("router_ip"),
                "only POST (add) takes a router_ip",
            ),
            (
                "GET",
                "/route?dst_cidr=10.55.0.0/16&dry_run=true",
                "",
                Some("dry_run"),
                "unknown parameter 'dry_run'; known: dst_cidr, route_table",
            ),
            (
                "DELETE",
                "/route?dst_cidr=10.55.0.0/16&dry_run=maybe",
                "",
                Some("dry_run"),
                "'maybe' is not a boolean",
            ),
            (
                "GET",
                "/route?dst_cidr=10.55.0.0%2",
                "",
                Some("dst_cidr"),
                "a '%' not followed by two hex digits",
            ),
        ];
        for (method, target, body, field, want) in cases {
            let err = call(method, target, body).unwrap_err();
            assert_eq!(err.status(), 400, "{method} {target} {body}");
            let v = err.body();
            assert_eq!(
                v["error"]["field"].as_str(),
                field,
                "{method} {target} {body}: {v}"
            );
            let msg = v["error"]["message"].as_str().unwrap();
            assert!(msg.contains(want), "{method} {target} {body}: {msg}");
        }
    }

    #[test]
    fn paths_methods_and_sizes() {
        assert_eq!(call("GET", "/routes", "").unwrap_err().status(), 404);
        let e = call("PUT", "/route", "").unwrap_err();
        assert_eq!(
            e,
            RequestError::MethodNotAllowed {
                allow: "GET, POST, DELETE"
            }
        );
        assert_eq!(e.status(), 405);
        assert_eq!(call("POST", "/healthz", "").unwrap_err().status(), 405);
        let big = format!(
            r#"{{"dst_cidr": "10.55.0.0/16", "router_ip": "10.33.20.142", "x": "{}"}}"#,
            "a".repeat(MAX_BODY)
        );
        assert_eq!(call("POST", "/route", &big).unwrap_err().status(), 413);
    }

    fn report(op: Op, cidr: &str, ip: Option<&str>, fault: Option<(&str, Fault)>) -> Report {
        let ec2 = FakeEc2::new(
            "vpc-350d6a51",
            vec![
                table("rtb-0a1b2c3d", true, "10.33.0.0/16 local active table\n0.0.0.0/0 igw-1a2b3c4d\n10.55.0.0/16 eni-0aaaaaaaaaaaaaaa1"),
                table("rtb-1a2b3c4d", false, "10.33.0.0/16 local active table"),
            ],
            vec![eni("eni-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa1", &["10.33.20.142"], false)],
        );
        if let Some((p, f)) = fault {
            ec2.fail(p, f);
        }
        let req = crate::route::test_request(op, cidr, ip);
        execute(&ec2, &req).unwrap()
    }

    #[test]
    fn statuses_mirror_the_exit_codes() {
        let a = Some("10.33.20.142");
        assert_eq!(
            route_status(&report(Op::Add, "10.55.0.0/16", a, None)),
            201,
            "created in one table"
        );
        assert_eq!(
            route_status(&report(Op::Show, "10.33.0.0/16", None, None)),
            200
        );
        assert_eq!(
            route_status(&report(Op::Show, "10.55.0.0/16", None, None)),
            404
        );
        assert_eq!(route_status(&report(Op::Del, "0.0.0.0/0", None, None)), 409);
        assert_eq!(
            route_status(&report(
                Op::Add,
                "10.55.0.0/16",
                a,
                Some(("CreateRoute", Fault::Api("UnauthorizedOperation")))
            )),
            502
        );
        assert_eq!(
            route_status(&report(
                Op::Add,
                "10.55.0.0/16",
                a,
                Some(("CreateRoute", Fault::Transport))
            )),
            502
        );
        let (status, body) = error_status(&RouteError::UnknownRouterIp {
            ip: "10.9.9.9".parse().unwrap(),
            vpc: "vpc-350d6a51".parse().unwrap(),
        });
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some("router_ip"))
        );
        let timeout = Ec2Error::Transport {
            action: "DescribeRouteTables",
            endpoint: "x".into(),
            detail: "t".into(),
            timed_out: true,
            attempts: 5,
        };
        assert_eq!(error_status(&RouteError::Ec2(timeout)).0, 504);
        let creds = Ec2Error::Credentials(CredentialsError::NotFound("everything".into()));
        assert_eq!(error_status(&RouteError::Ec2(creds)).0, 503);
        let api = Ec2Error::Api {
            action: "DescribeRouteTables",
            status: 403,
            code: "UnauthorizedOperation".into(),
            message: "no".into(),
            request_id: Some("r-1".into()),
            maybe_applied: false,
        };
        let (status, body) = error_status(&RouteError::Ec2(api));
        assert_eq!(
            (status, body["error"]["ec2"]["request_id"].as_str()),
            (502, Some("r-1"))
        );
    }
}
