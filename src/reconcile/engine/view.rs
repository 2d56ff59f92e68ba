//! What the engine keeps of each route (a CIDR in one table) and the
//! bounded views `/status` takes of it: a summary whose size does not grow
//! with the tables or CIDRs, one CIDR's tables, a page of CIDRs. Each is
//! computed under the engine's lock from the map itself, never a copy of
//! the whole map.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use crate::types::{Cidr, RouteTableId};

/// At most this many entries in each list of the `/status` summary (CIDRs
/// needing attention, tables per such CIDR, issues); the rest are counted
/// as truncated.
pub const SUMMARY_CAP: usize = 100;
/// At most this many tables named per CIDR in the summary.
pub const TABLES_CAP: usize = 10;

/// What the engine knows of one route (a CIDR in one table). There is one
/// per spec CIDR and table (100,000 at 200 tables x 500 CIDRs), so it is
/// small: the targets are shared strings (one per CIDR and target, not
/// one per table), and the last change, which most routes never had, is
/// boxed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteView {
    /// Where it points now, as last seen or changed.
    pub current: Option<Arc<str>>,
    /// Where the spec wants it.
    pub desired: Option<Arc<str>>,
    pub last: Option<Box<LastChange>>,
}

/// The last change vpc-router made to a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastChange {
    pub action: &'static str,
    /// "done", or "failed: why".
    pub outcome: String,
    pub at: SystemTime,
}

/// A route's state in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteState {
    /// Points where the spec wants it (or is absent, as wanted).
    InSync,
    /// Points elsewhere (not yet changed, or refused).
    Differs,
    /// Its last change failed.
    Failed,
}

/// The first word of a target ("eni-... (10.0.0.1)" → "eni-..."): the
/// observed form names the instance, the desired one the router's IP.
fn target_id(s: Option<&str>) -> Option<&str> {
    s.map(|s| s.split(' ').next().unwrap_or(""))
}

impl RouteView {
    pub fn last_action(&self) -> Option<&'static str> {
        self.last.as_ref().map(|l| l.action)
    }

    pub fn outcome(&self) -> Option<&str> {
        self.last.as_ref().map(|l| l.outcome.as_str())
    }

    pub fn at(&self) -> Option<SystemTime> {
        self.last.as_ref().map(|l| l.at)
    }

    pub fn state(&self) -> RouteState {
        if self.outcome().is_some_and(|o| o.starts_with("failed")) {
            RouteState::Failed
        } else if target_id(self.current.as_deref()) == target_id(self.desired.as_deref()) {
            RouteState::InSync
        } else {
            RouteState::Differs
        }
    }
}

/// Every CIDR's routes, by table.
pub type Routes = BTreeMap<Cidr, BTreeMap<RouteTableId, RouteView>>;

/// One CIDR that needs a look: some table differs or failed, or its tables
/// point at different targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrAttention {
    pub cidr: Cidr,
    pub tables: usize,
    pub differs: usize,
    pub failed: usize,
    /// How many distinct current targets its tables have.
    pub targets: usize,
    /// The first [`TABLES_CAP`] tables that differ or failed.
    pub tables_at_fault: Vec<RouteTableId>,
}

/// The routes in `/status`: counts, and the CIDRs needing a look (capped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteSummary {
    pub cidrs: usize,
    pub tables: usize,
    pub routes: usize,
    pub in_sync: usize,
    pub differs: usize,
    pub failed: usize,
    /// The first [`SUMMARY_CAP`] CIDRs needing a look, in order.
    pub attention: Vec<CidrAttention>,
    /// How many more need one.
    pub truncated: usize,
}

/// One pass over the map: O(routes), allocating only what is kept.
pub fn summary(routes: &Routes) -> RouteSummary {
    let mut out = RouteSummary {
        cidrs: routes.len(),
        ..RouteSummary::default()
    };
    let mut tables: BTreeSet<&RouteTableId> = BTreeSet::new();
    for (cidr, by_table) in routes {
        let (mut differs, mut failed) = (0, 0);
        let mut targets: Vec<Option<&str>> = Vec::new();
        for (t, r) in by_table {
            tables.insert(t);
            match r.state() {
                RouteState::InSync => out.in_sync += 1,
                RouteState::Differs => differs += 1,
                RouteState::Failed => failed += 1,
            }
            let id = target_id(r.current.as_deref());
            if targets.len() < 2 && !targets.contains(&id) {
                targets.push(id);
            }
        }
        out.routes += by_table.len();
        out.differs += differs;
        out.failed += failed;
        if differs + failed == 0 && targets.len() < 2 {
            continue;
        }
        if out.attention.len() == SUMMARY_CAP {
            out.truncated += 1;
            continue;
        }
        let distinct: BTreeSet<Option<&str>> = by_table
            .values()
            .map(|r| target_id(r.current.as_deref()))
            .collect();
        out.attention.push(CidrAttention {
            cidr: *cidr,
            tables: by_table.len(),
            differs,
            failed,
            targets: distinct.len(),
            tables_at_fault: by_table
                .iter()
                .filter(|(_, r)| r.state() != RouteState::InSync)
                .take(TABLES_CAP)
                .map(|(t, _)| t.clone())
                .collect(),
        });
    }
    out.tables = tables.len();
    out
}

/// A page of `GET /status/routes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutesPage {
    /// CIDRs in all.
    pub cidrs: usize,
    pub page: usize,
    pub per_page: usize,
    pub routes: Routes,
}

/// Page `page` (from 1) of `per_page` CIDRs: O(page × per_page) to skip,
/// copies only the page.
pub fn page(routes: &Routes, page: usize, per_page: usize) -> RoutesPage {
    let skip = page.saturating_sub(1).saturating_mul(per_page);
    RoutesPage {
        cidrs: routes.len(),
        page,
        per_page,
        routes: routes
            .iter()
            .skip(skip)
            .take(per_page)
            .map(|(c, t)| (*c, t.clone()))
            .collect(),
    }
}

/// One route change for the status page's "recent changes".
pub type Change = (SystemTime, Cidr, RouteTableId, RouteView);

/// The `n` most recent changes (routes with a last action), newest first:
/// one pass, O(routes × n), keeping only `n`.
pub fn recent(routes: &Routes, n: usize) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::with_capacity(n + 1);
    for (cidr, by_table) in routes {
        for (t, r) in by_table {
            let Some(at) = r.at() else {
                continue;
            };
            if out.len() == n && out.last().is_none_or(|l| l.0 >= at) {
                continue;
            }
            let i = out.partition_point(|c| c.0 >= at);
            out.insert(i, (at, *cidr, t.clone(), r.clone()));
            out.truncate(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn recent_keeps_the_newest_changes_newest_first() {
        let mut routes = Routes::new();
        for i in 0..10u64 {
            let cidr: Cidr = format!("10.{i}.0.0/16").parse().unwrap();
            let view = |at: Option<u64>, action: Option<&'static str>| RouteView {
                last: action.zip(at).map(|(action, at)| {
                    Box::new(LastChange {
                        action,
                        outcome: "done".into(),
                        at: UNIX_EPOCH + Duration::from_secs(at),
                    })
                }),
                ..RouteView::default()
            };
            let t = routes.entry(cidr).or_default();
            // Seconds out of order; a route never changed does not count.
            t.insert(
                "rtb-0a1b2c3d".parse().unwrap(),
                view(Some((i * 7) % 10), Some("create")),
            );
            t.insert("rtb-1a2b3c4d".parse().unwrap(), view(None, None));
        }
        let got: Vec<u64> = recent(&routes, 3)
            .iter()
            .map(|c| c.0.duration_since(UNIX_EPOCH).unwrap().as_secs())
            .collect();
        assert_eq!(got, [9, 8, 7]);
        assert_eq!(recent(&routes, 50).len(), 10);
        assert!(recent(&routes, 0).is_empty());
    }
}
