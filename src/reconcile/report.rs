//! `plan` and `apply` output: a diff, one line per change (with its result
//! after `apply`), the issues, and a summary; or the same facts as JSON.

use serde_json::{json, Value};

use super::pass::{change_json, change_line, fix_json, fix_line, Applied, Fixed};
use super::plan::{Action, Plan};
use crate::ec2::Ec2Error;
use crate::route::report::error_json;
use crate::types::VpcId;

/// What was looked at, for the heading.
pub struct Scope<'a> {
    pub vpc: &'a VpcId,
    pub tables: usize,
    pub cidrs: usize,
}

/// What `apply` did: the source/dest check fixes, then the route changes.
pub struct Done<'a> {
    pub fixed: &'a [Fixed],
    pub applied: &'a [Applied],
}

impl Done<'_> {
    /// Every failure, fixes first.
    pub fn errors(&self) -> impl Iterator<Item = &Ec2Error> {
        self.fixed
            .iter()
            .filter_map(|f| f.result.as_ref().err())
            .chain(self.applied.iter().filter_map(|a| a.result.as_ref().err()))
    }
}

fn counts(plan: &Plan) -> String {
    let n = |a: Action| plan.changes.iter().filter(|c| c.action == a).count();
    let mut s = format!(
        "{} create, {} replace, {} delete",
        n(Action::Create),
        n(Action::Replace),
        n(Action::Delete)
    );
    if !plan.fixes.is_empty() {
        s.push_str(&format!(
            ", {} source/destination check fix(es)",
            plan.fixes.len()
        ));
    }
    s
}

fn result_suffix(r: &Result<(), Ec2Error>) -> String {
    match r {
        Ok(()) => "  ok\n".to_string(),
        Err(e) => format!("  FAILED: {e}\n"),
    }
}

pub fn text(scope: &Scope<'_>, plan: &Plan, done: Option<&Done<'_>>) -> String {
    let mut out = format!(
        "{}: {} route table(s), {} CIDR(s) in the spec\n",
        scope.vpc, scope.tables, scope.cidrs
    );
    match done {
        None => {
            for f in &plan.fixes {
                out.push_str(&fix_line(f));
                out.push('\n');
            }
            for c in &plan.changes {
                out.push_str(&change_line(c));
                out.push('\n');
            }
        }
        Some(done) => {
            for f in done.fixed {
                out.push_str(&fix_line(&f.fix));
                out.push_str(&result_suffix(&f.result));
            }
            for a in done.applied {
                out.push_str(&change_line(&a.change));
                out.push_str(&result_suffix(&a.result));
            }
        }
    }
    for i in &plan.issues {
        out.push_str(&format!("warning: {i}\n"));
    }
    let total = plan.changes.len() + plan.fixes.len();
    let summary = match done {
        _ if total == 0 => "in sync: nothing to change".to_string(),
        None => format!(
            "{total} change(s) to make ({}); nothing was changed",
            counts(plan)
        ),
        Some(done) => {
            let failed = done.errors().count();
            if failed == 0 {
                format!("{total} change(s) made ({}); in sync", counts(plan))
            } else {
                format!(
                    "{failed} of {total} change(s) failed; the next apply (or pass) retries them"
                )
            }
        }
    };
    out.push_str(&summary);
    out.push('\n');
    out
}

fn with_result(mut v: Value, r: &Result<(), Ec2Error>) -> Value {
    match r {
        Ok(()) => v["result"] = json!("done"),
        Err(e) => {
            v["result"] = json!("failed");
            v["error"] = error_json(e);
        }
    }
    v
}

pub fn json(scope: &Scope<'_>, plan: &Plan, done: Option<&Done<'_>>) -> Value {
    let (changes, fixes): (Vec<Value>, Vec<Value>) = match done {
        None => (
            plan.changes.iter().map(change_json).collect(),
            plan.fixes.iter().map(fix_json).collect(),
        ),
        Some(done) => (
            done.applied
                .iter()
                .map(|a| with_result(change_json(&a.change), &a.result))
                .collect(),
            done.fixed
                .iter()
                .map(|f| with_result(fix_json(&f.fix), &f.result))
                .collect(),
        ),
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
    let failed = done.is_some_and(|d| d.errors().next().is_some());
    let in_sync = plan.changes.is_empty() && plan.fixes.is_empty();
    json!({
        "vpc": scope.vpc.to_string(),
        "route_tables": scope.tables,
        "cidrs": scope.cidrs,
        "targets": targets,
        "fixes": fixes,
        "changes": changes,
        "issues": plan.issues.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "status": if failed { "failed" } else if in_sync { "in_sync" }
                  else if done.is_some() { "applied" } else { "changes_pending" },
    })
}
