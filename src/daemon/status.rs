//! The JSON of `GET /status`'s reconcile part, built from the engine's
//! typed [`Status`]: the engine keeps plain data and knows no JSON.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::control::{ControlStatus, Role};
use crate::reconcile::engine::{RouteSummary, RouteView, RoutesPage, Status};
use crate::spec::Spec;
use crate::timefmt;
use crate::types::{Cidr, RouteTableId};

fn route_json(r: &RouteView) -> Value {
    json!({
        "current": r.current.as_deref(),
        "desired": r.desired.as_deref(),
        "last_action": r.last_action(),
        "outcome": r.outcome(),
        "at": r.at().map(timefmt::rfc3339),
    })
}

/// One CIDR's routes: `{table: {current, desired, last_action, outcome, at}}`.
pub fn tables_json(by_table: &BTreeMap<RouteTableId, RouteView>) -> Value {
    Value::Object(
        by_table
            .iter()
            .map(|(t, r)| (t.to_string(), route_json(r)))
            .collect(),
    )
}

/// `GET /status/routes?cidr=CIDR`.
pub fn cidr_routes_json(cidr: &Cidr, by_table: &BTreeMap<RouteTableId, RouteView>) -> Value {
    json!({"cidr": cidr.to_string(), "routes": tables_json(by_table)})
}

/// `GET /status/routes?page=N&per_page=M`: `routes` is `{cidr: {table: ..}}`
/// for the page's CIDRs.
pub fn routes_page_json(p: &RoutesPage) -> Value {
    let routes: serde_json::Map<String, Value> = p
        .routes
        .iter()
        .map(|(c, t)| (c.to_string(), tables_json(t)))
        .collect();
    json!({
        "cidrs": p.cidrs,
        "page": p.page,
        "per_page": p.per_page,
        "pages": p.cidrs.div_ceil(p.per_page.max(1)),
        "routes": routes,
    })
}

/// `reconcile.routes` in `GET /status`: counts and the CIDRs needing a look.
fn summary_json(r: &RouteSummary) -> Value {
    let attention: Vec<Value> = r
        .attention
        .iter()
        .map(|a| {
            json!({
                "cidr": a.cidr.to_string(),
                "tables": a.tables,
                "differs": a.differs,
                "failed": a.failed,
                "targets": a.targets,
                "tables_at_fault": a.tables_at_fault.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "cidrs": r.cidrs,
        "tables": r.tables,
        "routes": r.routes,
        "states": {"in_sync": r.in_sync, "differs": r.differs, "failed": r.failed},
        "attention": attention,
        "truncated": r.truncated,
        "detail": "/status/routes?cidr=CIDR or /status/routes?page=N&per_page=M",
    })
}

/// `reconcile` in `GET /status`: bounded whatever the number of tables and
/// CIDRs (the per-table routes are `GET /status/routes`).
pub fn engine_json(s: &Status) -> Value {
    let routes = summary_json(&s.routes);
    let hosts: Vec<Value> = s
        .hosts
        .iter()
        .map(|h| {
            json!({
                "ip": h.ip.to_string(),
                "check": h.probe,
                "state": h.state.to_string(),
                "last_result": match &h.last_result {
                    None => Value::Null,
                    Some(Ok(_)) => json!("ok"),
                    Some(Err(e)) => json!(e),
                },
                "rtt_ms": h.last_rtt.map(|d| d.as_secs_f64() * 1000.0),
                "last_transition": h.last_change.map(timefmt::rfc3339),
                "checks": h.checks,
                "failed_checks": h.failures,
            })
        })
        .collect();
    let strings = |set: &std::collections::BTreeSet<crate::types::Cidr>| -> Vec<String> {
        set.iter().map(ToString::to_string).collect()
    };
    json!({
        "spec": s.spec.as_ref().map(Spec::to_json),
        "hosts": hosts,
        "no_healthy_router": strings(&s.no_healthy_router),
        "managed": strings(&s.managed),
        "routes": routes,
        "issues": s.issues,
        "issues_truncated": s.issues_truncated,
        "last_pass": s.last_pass.as_ref().map(|p| json!({
            "at": timefmt::rfc3339(p.at),
            "duration_seconds": p.took.as_secs_f64(),
            "result": p.result,
            "changes": p.changes,
            "failed": p.failed,
            "error": p.error,
        })),
    })
}

/// `control` in `GET /`: this daemon's role, the sources of its desired
/// state, and where they disagree.
pub fn control_json(c: &ControlStatus) -> Value {
    json!({
        "role": c.role.as_str(),
        "role_reason": match &c.role {
            Role::Follower { reason } => Some(reason),
            _ => None,
        },
        "sources": c.sources,
        "spec_conflicts": c.conflicts.iter().map(|x| json!({
            "cidr": x.cidr.to_string(),
            "winner": x.winner,
            "loser": x.loser,
        })).collect::<Vec<_>>(),
    })
}

/// `etcd` in `GET /`: this daemon's name, who leads, the lease, until when
/// this leader may change routes, the endpoint in use and whether it
/// answers.
pub fn etcd_json(v: &super::etcd::EtcdView) -> Value {
    json!({
        "name": v.name,
        "leader": v.leader,
        "leading": v.leading,
        "lease": v.lease.map(|(id, ttl)| json!({"id": format!("{id:x}"), "ttl_seconds": ttl})),
        "may_change_routes_until": v.may_change_until.map(timefmt::rfc3339),
        "endpoint": v.endpoint,
        "reachable": v.unreachable.is_none(),
        "unreachable": v.unreachable.as_ref().map(|(why, since)| json!({
            "error": why,
            "since": timefmt::rfc3339(*since),
        })),
        "spec_revision": v.spec_revision,
    })
}

/// `bgp` in `GET /`: each peer's session and counts.
pub fn bgp_peers_json(b: &super::bgp::Bgp) -> Value {
    let peers: Vec<Value> = b
        .peers()
        .iter()
        .map(|p| {
            json!({
                "peer": p.ip.map(|i| i.to_string()),
                "state": p.state,
                "since": p.since.map(timefmt::rfc3339),
                "last_error": p.last_error,
                "peer_as": p.peer_as,
                "router_id": p.router_id.map(|i| i.to_string()),
                "prefixes_received": p.received,
                "prefixes_accepted": p.paths.len(),
                "prefixes_refused": p.refused.len(),
            })
        })
        .collect();
    json!({
        "listen": b.args.listen.to_string(),
        "peers": peers,
        "refused_connections": b.refused.load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// `GET /bgp`: the peers, then each prefix with its candidate paths (best
/// first), which won and why, and the prefixes refused with why.
pub fn bgp_json(b: &super::bgp::Bgp) -> Value {
    let peers = b.peers();
    let mut prefixes: BTreeMap<String, Vec<(&super::bgp::PeerView, &crate::bgp::session::Path)>> =
        BTreeMap::new();
    let mut refused = Vec::new();
    for p in &peers {
        for (c, path) in &p.paths {
            prefixes.entry(c.to_string()).or_default().push((p, path));
        }
        for (c, why) in &p.refused {
            refused.push(
                json!({"prefix": c.to_string(), "peer": p.ip.map(|i| i.to_string()), "why": why}),
            );
        }
    }
    let id = |p: &super::bgp::PeerView| p.router_id.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
    let mut out = serde_json::Map::new();
    for (prefix, mut cands) in prefixes {
        cands.sort_by(|a, b| super::bgp::compare(a.1, id(a.0), a.0.ip, b.1, id(b.0), b.0.ip));
        let why = match (cands.first(), cands.get(1)) {
            (Some(a), Some(b)) => super::bgp::why_better(a.1, id(a.0), b.1, id(b.0)),
            _ => "the only path",
        };
        let paths: Vec<Value> = cands
            .iter()
            .enumerate()
            .map(|(i, (p, path))| {
                let origin = ["IGP", "EGP", "INCOMPLETE"]
                    .get(usize::from(path.origin))
                    .copied()
                    .unwrap_or("?");
                json!({
                    "best": i == 0,
                    "peer": p.ip.map(|i| i.to_string()),
                    "next_hop": path.next_hop.to_string(),
                    "local_pref": path.local_pref,
                    "as_path": path.as_path,
                    "origin": origin,
                    "med": path.med,
                })
            })
            .collect();
        out.insert(prefix, json!({"paths": paths, "won_by": why}));
    }
    json!({
        "peers": bgp_peers_json(b)["peers"],
        "prefixes": out,
        "refused": refused,
    })
}
