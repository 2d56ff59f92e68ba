//! What the engine keeps of each route (a CIDR in one table) and the
//! bounded views `/status` takes of it: a summary whose size does not grow
//! with the tables or CIDRs, one CIDR's tables, a page of CIDRs. Each is
//! computed under the engine's lock from the map itself, never a copy of
//! the whole map.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use crate::types::{Cidr, RouteTableId};

/// At most this many entries in each list of the `/status` summary (CIDRs
/// needing attention, tables per such CIDR, issues); the rest are counted
/// as truncated.
pub const SUMMARY_CAP: usize = 100;
/// At most this many tables named per CIDR in the summary.
pub const TABLES_CAP: usize = 10;

/// What the engine knows of one route (a CIDR in one table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteView {
    /// Where it points now, as last seen or changed.
    pub current: Option<String>,
    /// Where the spec wants it.
    pub desired: Option<String>,
    pub last_action: Option<&'static str>,
    /// "done", or "failed: why".
    pub outcome: Option<String>,
    pub at: Option<SystemTime>,
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
fn target_id(s: Option<&String>) -> Option<&str> {
    s.map(|s| s.split(' ').next().unwrap_or(""))
}

impl RouteView {
    pub fn state(&self) -> RouteState {
        if self
            .outcome
            .as_deref()
            .is_some_and(|o| o.starts_with("failed"))
        {
            RouteState::Failed
        } else if target_id(self.current.as_ref()) == target_id(self.desired.as_ref()) {
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
            let id = target_id(r.current.as_ref());
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
            .map(|r| target_id(r.current.as_ref()))
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
