//! The JSON of `GET /status`'s reconcile part, built from the engine's
//! typed [`Status`]: the engine keeps plain data and knows no JSON.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::control::{ControlStatus, Role};
use crate::reconcile::engine::Status;
use crate::spec::Spec;
use crate::timefmt;

/// `reconcile` in `GET /status`.
pub fn engine_json(s: &Status) -> Value {
    let mut routes: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for ((cidr, table), r) in &s.routes {
        routes.entry(cidr.to_string()).or_default().insert(
            table.to_string(),
            json!({
                "current": r.current,
                "desired": r.desired,
                "last_action": r.last_action,
                "outcome": r.outcome,
                "at": r.at.map(timefmt::rfc3339),
            }),
        );
    }
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
