//! `GET /status.html`: the status as one server-rendered page, for people
//! (the 1.x tool had one). Problems and counts first, then routers, recent
//! changes, etcd and BGP; the per-route detail is paged by CIDR
//! (`?page=N&per_page=M`) or one CIDR's tables (`?cidr=CIDR`), from the
//! engine's bounded views. No script, no external asset; every value from
//! outside (targets, names, error messages) goes through [`Html::text`].

use std::collections::BTreeMap;
use std::fmt::{Display, Write};
use std::time::SystemTime;

use super::control::{ControlStatus, Role};
use super::etcd::EtcdView;
use super::service::{Answer, Service};
use crate::api::RoutesQuery;
use crate::health::State;
use crate::reconcile::engine::view::RouteState;
use crate::reconcile::engine::{RouteView, Status};
use crate::timefmt::rfc3339;
use crate::types::{Cidr, RouteTableId};

/// How many recent route changes the page lists.
const RECENT: usize = 20;

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}\
table{border-collapse:collapse;margin:.4em 0 1em}th,td{border:1px solid #ccc;\
padding:2px 8px;text-align:left;vertical-align:top}th{background:#eee}\
.bad{color:#b00;font-weight:bold}.ok{color:#070}.dim{color:#666}";

/// The page being written: markup from this module's literals, text
/// always escaped.
struct Html(String);

impl Html {
    /// Markup: only this module's literals, never data.
    fn raw(&mut self, s: &str) -> &mut Html {
        self.0.push_str(s);
        self
    }

    /// Text, escaped for element content and quoted attributes. Generic
    /// only in this wrapper: the work is [`Html::esc`]'s, compiled once.
    fn text(&mut self, v: impl Display) -> &mut Html {
        self.esc(&v)
    }

    fn esc(&mut self, v: &dyn Display) -> &mut Html {
        let _ = write!(Escaped(&mut self.0), "{v}");
        self
    }

    fn h2(&mut self, title: &str) {
        self.raw("<h2>").text(title).raw("</h2>\n");
    }

    /// A header row, then each row's cells are written with [`Html::td`].
    fn table(&mut self, head: &[&str]) {
        self.raw("<table><tr>");
        for h in head {
            self.raw("<th>").text(h).raw("</th>");
        }
        self.raw("</tr>\n");
    }

    fn td(&mut self, v: impl Display) -> &mut Html {
        self.raw("<td>").esc(&v).raw("</td>")
    }

    /// A cell in a class (`ok`, `bad`, `dim`).
    fn td_class(&mut self, class: &str, v: impl Display) -> &mut Html {
        let _ = write!(self.0, "<td class=\"{class}\">");
        self.esc(&v).raw("</td>")
    }

    /// A link to one CIDR's tables.
    fn cidr_link(&mut self, c: &Cidr) -> &mut Html {
        self.raw("<a href=\"/status.html?cidr=")
            .text(c)
            .raw("\">")
            .text(c)
            .raw("</a>")
    }

    fn opt_time(&mut self, t: Option<SystemTime>) -> &mut Html {
        self.td(t.map_or_else(|| "-".into(), rfc3339))
    }
}

/// Writes through into the page, escaping.
struct Escaped<'a>(&'a mut String);

impl std::fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for c in s.chars() {
            match c {
                '&' => self.0.push_str("&amp;"),
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&#39;"),
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

fn or_dash(v: Option<&str>) -> &str {
    v.unwrap_or("-")
}

/// The page, or a detail view of it.
pub fn render(svc: &Service, q: Option<&RoutesQuery>) -> Answer {
    let mut h = Html(String::with_capacity(16 * 1024));
    h.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vpc-router ")
        .text(&svc.vpc)
        .raw("</title><style>")
        .raw(CSS)
        .raw("</style></head><body>\n<h1>vpc-router: ")
        .text(&svc.vpc)
        .raw(" in ")
        .text(&svc.region)
        .raw("</h1>\n");
    let status = match (q, &svc.spec_mode) {
        (None, _) => {
            summary(&mut h, svc);
            200
        }
        (Some(_), None) => {
            h.raw("<p class=\"bad\">No reconciler: start the daemon with -m to see routes.</p>");
            404
        }
        (Some(RoutesQuery::Cidr(c)), Some(m)) => match m.engine.routes_of(c) {
            Some(t) => {
                cidr_view(&mut h, c, &t);
                200
            }
            None => {
                h.raw("<p class=\"bad\">")
                    .text(c)
                    .raw(" is neither in the spec nor managed.</p>");
                404
            }
        },
        (Some(RoutesQuery::Page { page, per_page }), Some(m)) => {
            page_view(&mut h, &m.engine.routes_page(*page, *per_page));
            200
        }
    };
    h.raw("</body></html>\n");
    Answer {
        status,
        content_type: "text/html; charset=utf-8",
        body: h.0,
        headers: vec![(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'".into(),
        )],
    }
}

fn summary(h: &mut Html, svc: &Service) {
    let control = svc
        .control
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let etcd = svc.etcd.as_ref().map(|e| e.view());
    let engine = svc.spec_mode.as_ref().map(|m| m.engine.status());
    h.raw("<p class=\"dim\">version ")
        .text(crate::VERSION)
        .raw(" · role ")
        .text(control.role.as_str())
        .raw(" · up since ")
        .text(rfc3339(svc.metrics.started_at()))
        .raw(" · EC2 ")
        .text(&svc.endpoint)
        .raw(" · <a href=\"/status\">JSON</a> · <a href=\"/metrics\">metrics</a></p>\n");

    // Problems first: what someone opening the page is looking for.
    let problems = problems(svc, &control, etcd.as_ref(), engine.as_ref());
    h.h2("Problems");
    if problems.0.is_empty() {
        h.raw("<p class=\"ok\">None.</p>\n");
    } else {
        h.raw("<ul class=\"bad\">").raw(&problems.0).raw("</ul>\n");
    }

    let Some(s) = engine else {
        h.raw("<p>Desired-state routing is off (no -m): no routes or routers to show.</p>\n");
        return etcd_bgp(h, svc, etcd.as_ref());
    };
    h.h2("Routes");
    let r = &s.routes;
    h.table(&[
        "CIDRs",
        "route tables",
        "routes",
        "in sync",
        "differ",
        "failed",
        "last pass",
    ]);
    h.raw("<tr>");
    for n in [r.cidrs, r.tables, r.routes, r.in_sync] {
        h.td(n);
    }
    for n in [r.differs, r.failed] {
        h.td_class(if n > 0 { "bad" } else { "ok" }, n);
    }
    h.td(s.last_pass.as_ref().map_or_else(
        || "none yet".into(),
        |p| format!("{} at {}, {} change(s)", p.result, rfc3339(p.at), p.changes),
    ));
    h.raw("</tr></table>\n<p><a href=\"/status.html?page=1\">Every CIDR and where it points</a> (paged; each CIDR links to its tables).</p>\n");

    h.h2("Routers");
    h.table(&[
        "router",
        "check",
        "health",
        "last transition",
        "last check",
        "checks (failed)",
    ]);
    for x in &s.hosts {
        h.raw("<tr>").td(x.ip).td(&x.probe);
        h.td_class(
            if x.state == State::Healthy {
                "ok"
            } else {
                "bad"
            },
            x.state,
        )
        .opt_time(x.last_change)
        .td(match &x.last_result {
            None => "-".into(),
            Some(Ok(rtt)) => format!("ok, {:.1} ms", rtt.as_secs_f64() * 1000.0),
            Some(Err(e)) => e.clone(),
        })
        .td(format!("{} ({})", x.checks, x.failures))
        .raw("</tr>\n");
    }
    h.raw("</table>\n");

    h.h2("Recent changes");
    let recent = svc
        .spec_mode
        .as_ref()
        .map(|m| m.engine.recent_changes(RECENT))
        .unwrap_or_default();
    h.table(&[
        "at",
        "CIDR",
        "route table",
        "change",
        "points to",
        "outcome",
    ]);
    for (at, cidr, table, v) in &recent {
        h.raw("<tr>").td(rfc3339(*at)).raw("<td>").cidr_link(cidr);
        h.raw("</td>")
            .td(table)
            .td(or_dash(v.last_action()))
            .td(or_dash(v.current.as_deref()))
            .td(or_dash(v.outcome()))
            .raw("</tr>\n");
    }
    h.raw("</table>\n");
    etcd_bgp(h, svc, etcd.as_ref());
}

/// The problems list's items: empty when all is well.
fn problems(
    svc: &Service,
    control: &ControlStatus,
    etcd: Option<&EtcdView>,
    engine: Option<&Status>,
) -> Html {
    let mut problems = Html(String::new());
    if let Role::Follower { reason } = &control.role {
        problems.raw("<li>follower: ").text(reason).raw("</li>");
    }
    for c in &control.conflicts {
        problems
            .raw("<li>")
            .text(c.cidr)
            .raw(": the spec from ")
            .text(c.winner)
            .raw(" overrides ")
            .text(c.loser)
            .raw("</li>");
    }
    if let Some((why, since)) = etcd.as_ref().and_then(|e| e.unreachable.as_ref()) {
        problems
            .raw("<li>etcd unreachable since ")
            .text(rfc3339(*since))
            .raw(": ")
            .text(why)
            .raw("</li>");
    }
    if let Some(e) = svc.metrics.last_ec2_error() {
        let msg = e.detail.get("message").and_then(|m| m.as_str());
        problems
            .raw("<li>last EC2 error at ")
            .text(rfc3339(e.at))
            .raw(": ")
            .text(msg.map_or_else(|| e.detail.to_string(), String::from))
            .raw("</li>");
    }
    if let Some(s) = &engine {
        for host in s.hosts.iter().filter(|x| x.state == State::Failed) {
            problems
                .raw("<li>router ")
                .text(host.ip)
                .raw(" failed")
                .text(
                    host.last_change
                        .map_or_else(String::new, |t| format!(" since {}", rfc3339(t))),
                )
                .raw("</li>");
        }
        for a in &s.routes.attention {
            problems
                .raw("<li>")
                .cidr_link(&a.cidr)
                .text(format!(
                    ": {} of {} table(s) differ, {} failed, {} distinct target(s)",
                    a.differs, a.tables, a.failed, a.targets
                ))
                .raw("</li>");
        }
        if s.routes.truncated > 0 {
            problems
                .raw("<li>")
                .text(format!("and {} more CIDR(s)", s.routes.truncated))
                .raw("</li>");
        }
        for i in &s.issues {
            problems.raw("<li>").text(i).raw("</li>");
        }
        if let Some(e) = s.last_pass.as_ref().and_then(|p| p.error.as_ref()) {
            problems.raw("<li>last pass: ").text(e).raw("</li>");
        }
    }
    problems
}

fn etcd_bgp(h: &mut Html, svc: &Service, etcd: Option<&EtcdView>) {
    if let Some(e) = etcd {
        h.h2("etcd");
        h.table(&[
            "this daemon",
            "role",
            "leader",
            "endpoint",
            "may change routes until",
        ]);
        h.raw("<tr>").td(&e.name);
        h.td_class("ok", if e.leading { "leader" } else { "follower" })
            .td(or_dash(e.leader.as_deref()))
            .td(&e.endpoint)
            .opt_time(e.may_change_until)
            .raw("</tr></table>\n");
    }
    if let Some(b) = &svc.bgp {
        h.h2("BGP peers");
        h.table(&[
            "peer",
            "state",
            "since",
            "AS",
            "accepted",
            "refused",
            "last error",
        ]);
        for p in b.peers() {
            let up = p.state == "Established";
            h.raw("<tr>")
                .td(p.ip.map_or_else(|| "-".into(), |i| i.to_string()))
                .td_class(if up { "ok" } else { "bad" }, &p.state)
                .opt_time(p.since)
                .td(p.peer_as.map_or_else(|| "-".into(), |a| a.to_string()))
                .td(p.paths.len())
                .td(p.refused.len())
                .td(or_dash(p.last_error.as_deref()))
                .raw("</tr>\n");
        }
        h.raw("</table>\n");
    }
}

/// A page of CIDRs, one row each (its tables summed up), so that the page
/// stays short whatever the number of tables.
fn page_view(h: &mut Html, p: &crate::reconcile::engine::RoutesPage) {
    let pages = p.cidrs.div_ceil(p.per_page.max(1)).max(1);
    h.raw("<p><a href=\"/status.html\">Summary</a></p>");
    h.h2(&format!(
        "CIDRs: page {} of {pages} ({} in all)",
        p.page, p.cidrs
    ));
    h.table(&[
        "CIDR",
        "tables",
        "in sync",
        "differ",
        "failed",
        "points to",
        "last change",
    ]);
    for (cidr, tables) in &p.routes {
        let mut counts = [0usize; 3];
        let mut targets: Vec<(&str, usize)> = Vec::new();
        for r in tables.values() {
            counts[match r.state() {
                RouteState::InSync => 0,
                RouteState::Differs => 1,
                RouteState::Failed => 2,
            }] += 1;
            let t = or_dash(r.current.as_deref());
            match targets.iter_mut().find(|(x, _)| *x == t) {
                Some((_, n)) => *n += 1,
                None => targets.push((t, 1)),
            }
        }
        let last = tables.values().filter_map(RouteView::at).max();
        h.raw("<tr><td>")
            .cidr_link(cidr)
            .raw("</td>")
            .td(tables.len())
            .td(counts[0]);
        for n in &counts[1..] {
            h.td_class(if *n > 0 { "bad" } else { "ok" }, n);
        }
        let shown: Vec<String> = targets
            .iter()
            .take(3)
            .map(|(t, n)| format!("{t} ×{n}"))
            .collect();
        let more = targets.len().saturating_sub(3);
        h.td(if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        })
        .opt_time(last)
        .raw("</tr>\n");
    }
    h.raw("</table>\n<p>");
    let link = |h: &mut Html, n: usize, label: &str| {
        h.raw("<a href=\"/status.html?page=")
            .text(n)
            .raw("&amp;per_page=")
            .text(p.per_page)
            .raw("\">")
            .text(label)
            .raw("</a> ");
    };
    if p.page > 1 {
        link(h, p.page - 1, "previous");
    }
    if p.page < pages {
        link(h, p.page + 1, "next");
    }
    h.raw("</p>\n");
}

/// One CIDR in every table: where it points and where it should.
fn cidr_view(h: &mut Html, c: &Cidr, by_table: &BTreeMap<RouteTableId, RouteView>) {
    h.raw("<p><a href=\"/status.html\">Summary</a> · <a href=\"/status.html?page=1\">all CIDRs</a></p>");
    h.h2(&format!("{c} in {} route table(s)", by_table.len()));
    h.table(&[
        "route table",
        "points to",
        "desired",
        "state",
        "last change",
        "at",
        "outcome",
    ]);
    for (t, r) in by_table {
        let (class, state) = match r.state() {
            RouteState::InSync => ("ok", "in sync"),
            RouteState::Differs => ("bad", "differs"),
            RouteState::Failed => ("bad", "failed"),
        };
        h.raw("<tr>")
            .td(t)
            .td(or_dash(r.current.as_deref()))
            .td(or_dash(r.desired.as_deref()))
            .td_class(class, state)
            .td(or_dash(r.last_action()))
            .opt_time(r.at())
            .td(or_dash(r.outcome()))
            .raw("</tr>\n");
    }
    h.raw("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::Html;

    #[test]
    fn text_is_escaped_and_markup_is_not() {
        let mut h = Html(String::new());
        h.raw("<td>")
            .text("<script>alert('x')</script> & \"q\"")
            .raw("</td>");
        assert_eq!(
            h.0,
            "<td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;</td>"
        );
    }
}
