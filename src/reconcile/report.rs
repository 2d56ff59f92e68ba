//! `plan` and `apply` output: a diff, one line per change (with its result
//! after `apply`), the issues, and a summary; or the same facts as JSON.

use serde_json::{json, Value};

use super::pass::{change_json, change_line, Applied};
use super::plan::{Action, Plan};
use crate::route::report::error_json;
use crate::types::VpcId;

/// What was looked at, for the heading.
pub struct Scope<'a> {
    pub vpc: &'a VpcId,
    pub tables: usize,
    pub cidrs: usize,
}

fn counts(plan: &Plan) -> String {
    let n = |a: Action| plan.changes.iter().filter(|c| c.action == a).count();
    format!(
        "{} create, {} replace, {} delete",
        n(Action::Create),
        n(Action::Replace),
        n(Action::Delete)
    )
}

pub fn text(scope: &Scope<'_>, plan: &Plan, applied: Option<&[Applied]>) -> String {
    let mut out = format!(
        "{}: {} route table(s), {} CIDR(s) in the spec\n",
        scope.vpc, scope.tables, scope.cidrs
    );
    match applied {
        None => {
            for c in &plan.changes {
                out.push_str(&change_line(c));
                out.push('\n');
            }
        }
        Some(applied) => {
            for a in applied {
                out.push_str(&change_line(&a.change));
                match &a.result {
                    Ok(()) => out.push_str("  ok\n"),
                    Err(e) => out.push_str(&format!("  FAILED: {e}\n")),
                }
            }
        }
    }
    for i in &plan.issues {
        out.push_str(&format!("warning: {i}\n"));
    }
    let summary = match applied {
        _ if plan.changes.is_empty() => "in sync: nothing to change".to_string(),
        None => format!(
            "{} change(s) to make ({}); nothing was changed",
            plan.changes.len(),
            counts(plan)
        ),
        Some(applied) => {
            let failed = applied.iter().filter(|a| a.result.is_err()).count();
            if failed == 0 {
                format!(
                    "{} change(s) made ({}); in sync",
                    applied.len(),
                    counts(plan)
                )
            } else {
                format!(
                    "{} of {} change(s) failed; the next apply (or pass) retries them",
                    failed,
                    applied.len()
                )
            }
        }
    };
    out.push_str(&summary);
    out.push('\n');
    out
}

pub fn json(scope: &Scope<'_>, plan: &Plan, applied: Option<&[Applied]>) -> Value {
    let changes: Vec<Value> = match applied {
        None => plan.changes.iter().map(change_json).collect(),
        Some(applied) => applied
            .iter()
            .map(|a| {
                let mut v = change_json(&a.change);
                match &a.result {
                    Ok(()) => v["result"] = json!("done"),
                    Err(e) => {
                        v["result"] = json!("failed");
                        v["error"] = error_json(e);
                    }
                }
                v
            })
            .collect(),
    };
    let targets: serde_json::Map<String, Value> = plan
        .targets
        .iter()
        .map(|(cidr, t)| {
            (
                cidr.to_string(),
                t.as_ref().map_or(
                    Value::Null,
                    |t| json!({"ip": t.ip.to_string(), "network_interface": t.eni.to_string()}),
                ),
            )
        })
        .collect();
    let failed = applied.is_some_and(|a| a.iter().any(|a| a.result.is_err()));
    json!({
        "vpc": scope.vpc.to_string(),
        "route_tables": scope.tables,
        "cidrs": scope.cidrs,
        "targets": targets,
        "changes": changes,
        "issues": plan.issues.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "status": if failed { "failed" } else if plan.changes.is_empty() { "in_sync" }
                  else if applied.is_some() { "applied" } else { "changes_pending" },
    })
}
