//! Turns a [`Report`] into what people and scripts read: one line per
//! route table as text, or one JSON document with the same facts. The JSON
//! shape is part of the interface (CLI `--output json` and the daemon).

use serde_json::{json, Value};

use super::{final_step, Outcome, Protection, ReplaceReason, Report, Step, TableReport, Verdict};
use crate::ec2::{Ec2Error, Route, RouteTarget};

/// One word for what happened in a table; the `result` field of the JSON.
pub fn result_word(t: &TableReport) -> &'static str {
    let step = final_step(t);
    match (step, t.outcome.settled()) {
        (_, Outcome::Failed(_)) => "failed",
        (_, Outcome::AppliedDespiteDryRun) => "changed_despite_dry_run",
        (Step::Create, Outcome::DryRunOk) => "would_create",
        (Step::Replace(_), Outcome::DryRunOk) => "would_replace",
        (Step::Delete, Outcome::DryRunOk) => "would_delete",
        (Step::Create, _) => "created",
        (Step::Replace(_), _) => "replaced",
        (Step::Delete, _) => "deleted",
        (Step::Unchanged, _) => "unchanged",
        (Step::Found, _) => "found",
        (Step::Missing, _) => "missing",
        (Step::Refused(_), _) => "refused",
    }
}

pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "ok",
        Verdict::NotFound => "not_found",
        Verdict::Refused => "refused",
        Verdict::Failed { .. } => "failed",
    }
}

/// The human-readable report: a heading, then one line per table.
pub fn text(r: &Report) -> String {
    let q = &r.request;
    let mut out = String::new();
    // The heading must not promise "nothing changed" when an endpoint
    // ignored DryRun and made a change anyway.
    let ignored = r
        .tables
        .iter()
        .any(|t| t.outcome == Outcome::AppliedDespiteDryRun);
    let dry = match (q.dry_run, ignored) {
        (false, _) => "",
        (true, false) => " (dry run: nothing is changed)",
        (true, true) => " (dry run, but the endpoint ignored it and made changes: see below)",
    };
    match &r.router {
        Some(router) => {
            let instance = router
                .instance
                .as_ref()
                .map_or(String::from("no instance attached"), |i| i.to_string());
            out.push_str(&format!(
                "{} {} via {} ({}, {}) in {}{dry}\n",
                q.op.as_str(),
                q.cidr,
                router.ip,
                router.eni,
                instance,
                q.vpc
            ));
        }
        None => out.push_str(&format!("{} {} in {}{dry}\n", q.op.as_str(), q.cidr, q.vpc)),
    }
    let width = r.tables.iter().map(|t| label(t).len()).max().unwrap_or(0);
    for t in &r.tables {
        out.push_str(&format!("  {:width$}  {}\n", label(t), describe(t)));
    }
    out
}

fn label(t: &TableReport) -> String {
    if t.main {
        format!("{} (main)", t.table)
    } else {
        t.table.to_string()
    }
}

fn route_text(r: &Route) -> String {
    format!("{}, {}", r.target, r.state)
}

fn describe(t: &TableReport) -> String {
    let before = t.before.as_ref().map(route_text).unwrap_or_default();
    let word = result_word(t).replace('_', " ");
    let detail = match (final_step(t), t.outcome.settled()) {
        (_, Outcome::Failed(e)) => e.to_string(),
        (_, Outcome::AppliedDespiteDryRun) => {
            "the endpoint ignored DryRun=true and made the change; real EC2 never does this"
                .to_string()
        }
        (Step::Refused(p), _) => p.to_string(),
        (Step::Replace(reason), _) => {
            // A blackhole shows in the state already.
            let why = match reason {
                ReplaceReason::OtherTarget | ReplaceReason::Blackhole => "",
                ReplaceReason::Forced => ", forced",
            };
            format!("was {before}{why}")
        }
        (Step::Unchanged | Step::Found, _) => before,
        (Step::Create | Step::Delete | Step::Missing, _) => String::new(),
    };
    let mut line = if detail.is_empty() {
        word
    } else {
        format!("{word}: {detail}")
    };
    if matches!(t.outcome, Outcome::Redone(..)) {
        line.push_str(" (the route changed while vpc-router worked; it looked again)");
    }
    if t.outcome == Outcome::DryRunOk {
        line.push_str(" (EC2 says the call would succeed)");
    }
    line
}

/// The JSON report.
pub fn json(r: &Report) -> Value {
    let q = &r.request;
    json!({
        "command": q.op.as_str(),
        "vpc": q.vpc.to_string(),
        "cidr": q.cidr.to_string(),
        "dry_run": q.dry_run,
        "force": q.force,
        "router": r.router.as_ref().map(|x| json!({
            "ip": x.ip.to_string(),
            "network_interface": x.eni.to_string(),
            "instance": x.instance.as_ref().map(ToString::to_string),
            "source_dest_check": x.source_dest_check,
        })),
        "route_tables": r.tables.iter().map(table_json).collect::<Vec<_>>(),
        "warnings": r.warnings,
        "status": verdict_word(r.verdict()),
    })
}

fn table_json(t: &TableReport) -> Value {
    let mut v = json!({
        "route_table": t.table.to_string(),
        "main": t.main,
        "result": result_word(t),
        "route": t.before.as_ref().map(route_json),
    });
    if let Step::Refused(p) = final_step(t) {
        v["reason"] = json!(p.to_string());
        v["protection"] = json!(match p {
            Protection::Local => "local",
            Protection::Gateway(_) => "gateway",
            Protection::Propagated => "propagated",
            Protection::RouteServer => "route_server",
            Protection::Origin(_) => "origin",
            Protection::UnknownTarget => "unknown_target",
        });
    }
    if let Outcome::Failed(e) = t.outcome.settled() {
        v["error"] = error_json(e);
    }
    if matches!(t.outcome, Outcome::Redone(..)) {
        v["retried_after_conflict"] = json!(true);
    }
    v
}

/// A route as observed: target and state.
pub fn route_json(r: &Route) -> Value {
    let (kind, eni, instance, gateway) = match &r.target {
        RouteTarget::Local => ("local", None, None, Some("local".to_string())),
        RouteTarget::Interface { eni, instance } => (
            "network_interface",
            eni.as_ref().map(ToString::to_string),
            instance.as_ref().map(ToString::to_string),
            None,
        ),
        RouteTarget::Gateway(id) => ("gateway", None, None, Some(id.to_string())),
        RouteTarget::Unknown => ("unknown", None, None, None),
    };
    json!({
        "target": r.target.to_string(),
        "target_type": kind,
        "network_interface": eni,
        "instance": instance,
        "gateway": gateway,
        "state": r.state.to_string(),
        "origin": r.origin.to_string(),
    })
}

/// An EC2 error with EC2's own code, message and request ID.
pub fn error_json(e: &Ec2Error) -> Value {
    match e {
        Ec2Error::Api {
            action,
            status,
            code,
            message,
            request_id,
            ..
        } => json!({
            "kind": "aws",
            "action": action,
            "http_status": status,
            "code": code,
            "message": message,
            "request_id": request_id,
            "text": e.to_string(),
        }),
        Ec2Error::Transport {
            action, timed_out, ..
        } => json!({
            "kind": if *timed_out { "timeout" } else { "network" },
            "action": action,
            "text": e.to_string(),
        }),
        Ec2Error::Response { action, status, .. } => json!({
            "kind": "bad_response",
            "action": action,
            "http_status": status,
            "text": e.to_string(),
        }),
        Ec2Error::Credentials(_) => json!({"kind": "credentials", "text": e.to_string()}),
        Ec2Error::Fenced { action, reason } => json!({
            "kind": "fenced",
            "action": action,
            "reason": reason,
            "text": e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::fake::{eni, table, FakeEc2, Fault};
    use crate::route::{execute, Op};

    fn run(
        op: Op,
        cidr: &str,
        ip: Option<&str>,
        dry_run: bool,
        fault: Option<(&str, Fault)>,
    ) -> Report {
        let ec2 = FakeEc2::new(
            "vpc-350d6a51",
            vec![
                table(
                    "rtb-0a1b2c3d",
                    true,
                    "10.33.0.0/16 local active table\n0.0.0.0/0 igw-1a2b3c4d",
                ),
                table(
                    "rtb-1a2b3c4d",
                    false,
                    "10.55.0.0/16 eni-0bbbbbbbbbbbbbbb2+i-0bbbbbbbbbbbbbbb2 blackhole",
                ),
            ],
            vec![eni(
                "eni-0aaaaaaaaaaaaaaa1",
                "i-0aaaaaaaaaaaaaaa1",
                &["10.33.20.142"],
                false,
            )],
        );
        if let Some((p, f)) = fault {
            ec2.fail(p, f);
        }
        let mut req = crate::route::test_request(op, cidr, ip);
        req.dry_run = dry_run;
        execute(&ec2, &req).unwrap()
    }

    #[test]
    fn text_has_a_line_per_table() {
        let r = run(Op::Add, "10.55.0.0/16", Some("10.33.20.142"), false, None);
        assert_eq!(
            text(&r),
            "add 10.55.0.0/16 via 10.33.20.142 (eni-0aaaaaaaaaaaaaaa1, i-0aaaaaaaaaaaaaaa1) in vpc-350d6a51\n\
             \x20 rtb-0a1b2c3d (main)  created\n\
             \x20 rtb-1a2b3c4d         replaced: was eni-0bbbbbbbbbbbbbbb2 (i-0bbbbbbbbbbbbbbb2), blackhole\n"
        );
        let r = run(Op::Add, "10.55.0.0/16", Some("10.33.20.142"), true, None);
        assert!(text(&r).starts_with("add 10.55.0.0/16 via 10.33.20.142 (eni-0aaaaaaaaaaaaaaa1, i-0aaaaaaaaaaaaaaa1) in vpc-350d6a51 (dry run: nothing is changed)\n"));
        assert!(text(&r)
            .contains("rtb-0a1b2c3d (main)  would create (EC2 says the call would succeed)\n"));
        let r = run(Op::Show, "0.0.0.0/0", None, false, None);
        assert_eq!(
            text(&r),
            "show 0.0.0.0/0 in vpc-350d6a51\n  rtb-0a1b2c3d (main)  found: igw-1a2b3c4d, active\n  rtb-1a2b3c4d         missing\n"
        );
        let r = run(Op::Del, "0.0.0.0/0", None, false, None);
        assert!(text(&r).contains("refused: the route targets igw-1a2b3c4d, not an instance; use --force to change it anyway"));
    }

    #[test]
    fn json_has_the_same_facts() {
        let r = run(
            Op::Del,
            "10.55.0.0/16",
            None,
            false,
            Some(("DeleteRoute", Fault::Api("UnauthorizedOperation"))),
        );
        let v = json(&r);
        assert_eq!(v["command"], "del");
        assert_eq!(v["status"], "failed");
        assert_eq!(v["router"], Value::Null);
        let t = &v["route_tables"];
        assert_eq!(t[0]["result"], "missing");
        assert_eq!(t[0]["main"], true);
        assert_eq!(t[1]["result"], "failed");
        assert_eq!(t[1]["route"]["network_interface"], "eni-0bbbbbbbbbbbbbbb2");
        assert_eq!(t[1]["route"]["state"], "blackhole");
        assert_eq!(t[1]["error"]["code"], "UnauthorizedOperation");
        assert_eq!(t[1]["error"]["request_id"], "fake-request");
        let r = run(Op::Add, "0.0.0.0/0", Some("10.33.20.142"), false, None);
        let v = json(&r);
        assert_eq!(v["status"], "refused");
        assert_eq!(v["router"]["network_interface"], "eni-0aaaaaaaaaaaaaaa1");
        assert_eq!(v["route_tables"][0]["protection"], "gateway");
        assert_eq!(v["route_tables"][0]["route"]["gateway"], "igw-1a2b3c4d");
        assert_eq!(v["route_tables"][1]["result"], "created");
    }
}
