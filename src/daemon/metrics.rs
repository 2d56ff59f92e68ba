//! The daemon's counters, shared by the gate, the workers and the EC2
//! client's call observer, and rendered in the Prometheus text exposition
//! format (version 0.0.4) for `GET /metrics`. Labels come from closed sets
//! (route names, methods, statuses, EC2 actions and codes), so a client
//! cannot grow them without bound.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::control::{ControlStatus, Role};
use crate::ec2::client::{CallObserver, CallRecord};
use crate::health;
use crate::reconcile::engine::{Gauges, FAILOVER_BUCKETS, SDC_KIND};

/// Upper bounds of the request latency histogram, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// The last EC2 error the daemon met, for `GET /`.
#[derive(Debug, Clone)]
pub struct LastError {
    pub at: SystemTime,
    pub detail: Value,
}

#[derive(Debug, Default)]
struct Counters {
    http: BTreeMap<(&'static str, String, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
    ec2_calls: BTreeMap<(&'static str, String), u64>,
    route_changes: BTreeMap<&'static str, u64>,
    gate_refused: BTreeMap<&'static str, u64>,
    last_ec2_error: Option<LastError>,
}

/// Everything counted since start.
pub struct Metrics {
    started: Instant,
    started_at: SystemTime,
    counters: Mutex<Counters>,
    ec2_retries: AtomicU64,
    ec2_throttled: AtomicU64,
    in_flight: AtomicU64,
}

/// The label for a request path: one of the API's routes, or "other" so
/// that scanning clients do not create a series per path they try.
pub fn route_label(target: &str) -> &'static str {
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/route" | "/route/" => "/route",
        "/" => "/",
        "/healthz" => "/healthz",
        "/metrics" => "/metrics",
        _ => "other",
    }
}

fn method_label(method: &str) -> String {
    match method {
        "GET" | "POST" | "DELETE" | "HEAD" | "PUT" | "PATCH" | "OPTIONS" => method.to_string(),
        _ => "other".to_string(),
    }
}

impl Metrics {
    pub fn new(now: SystemTime) -> Metrics {
        Metrics {
            started: Instant::now(),
            started_at: now,
            counters: Mutex::new(Counters::default()),
            ec2_retries: AtomicU64::new(0),
            ec2_throttled: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
        }
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        // A panic elsewhere must not take the metrics down with it.
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    /// One answered request.
    pub fn request(&self, method: &str, target: &str, status: u16, took: Duration) {
        let route = route_label(target);
        let mut c = self.counters();
        *c.http
            .entry((route, method_label(method), status))
            .or_default() += 1;
        c.latency
            .entry(route)
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// A request the gate refused before it reached a worker.
    pub fn refused(&self, reason: &'static str) {
        *self.counters().gate_refused.entry(reason).or_default() += 1;
    }

    /// A route change made in one table: "create", "replace" or "delete".
    pub fn route_change(&self, kind: &'static str) {
        *self.counters().route_changes.entry(kind).or_default() += 1;
    }

    pub fn ec2_error(&self, at: SystemTime, detail: Value) {
        self.counters().last_ec2_error = Some(LastError { at, detail });
    }

    pub fn last_ec2_error(&self) -> Option<LastError> {
        self.counters().last_ec2_error.clone()
    }

    /// Marks a request as running until the guard drops.
    pub fn in_flight(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    pub fn running(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The hook for the EC2 client: counts every call.
    pub fn observer(self: &Arc<Self>) -> CallObserver {
        let m = self.clone();
        Arc::new(move |r: &CallRecord| {
            m.ec2_retries
                .fetch_add(u64::from(r.attempts.saturating_sub(1)), Ordering::Relaxed);
            m.ec2_throttled
                .fetch_add(u64::from(r.throttled), Ordering::Relaxed);
            // EC2's error codes are a closed set; cap the length anyway, in
            // case an endpoint sends something odd.
            let outcome: String = r.outcome.chars().take(64).collect();
            *m.counters()
                .ec2_calls
                .entry((r.action, outcome))
                .or_default() += 1;
        })
    }

    /// Totals for the status document.
    pub fn summary(&self) -> Value {
        let c = self.counters();
        let requests: u64 = c.http.values().sum();
        let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
        for ((_, _, status), n) in &c.http {
            *by_status.entry(status.to_string()).or_default() += n;
        }
        let ec2_calls: u64 = c.ec2_calls.values().sum();
        let ec2_errors: u64 = c
            .ec2_calls
            .iter()
            .filter(|((_, o), _)| o != "ok")
            .map(|(_, n)| n)
            .sum();
        json!({
            "requests": requests,
            "requests_by_status": by_status,
            "requests_in_flight": self.running(),
            "refused_by_gate": c.gate_refused.values().sum::<u64>(),
            "route_changes": c.route_changes,
            "ec2_calls": ec2_calls,
            "ec2_errors": ec2_errors,
            "ec2_retries": self.ec2_retries.load(Ordering::Relaxed),
            "ec2_throttled": self.ec2_throttled.load(Ordering::Relaxed),
        })
    }

    /// The daemon's own families, in the Prometheus text exposition.
    pub fn render(&self, out: &mut Exposition) {
        let c = self.counters();
        out.family(
            "vpc_router_http_requests_total",
            "counter",
            "HTTP requests answered, by route, method and status.",
        );
        for ((route, method, status), n) in &c.http {
            let status = status.to_string();
            out.sample(
                "vpc_router_http_requests_total",
                &[("route", route), ("method", method), ("status", &status)],
                n,
            );
        }
        out.family(
            "vpc_router_http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival at a worker to its answer.",
        );
        for (route, h) in &c.latency {
            out.histogram(
                "vpc_router_http_request_duration_seconds",
                ("route", route),
                &BUCKETS,
                &h.counts,
                h.count,
                h.sum,
            );
        }
        out.family(
            "vpc_router_http_requests_in_flight",
            "gauge",
            "Requests being served now.",
        );
        out.sample("vpc_router_http_requests_in_flight", &[], self.running());
        out.family(
            "vpc_router_gate_refused_total",
            "counter",
            "Requests refused before they reached a worker, by reason.",
        );
        for (reason, n) in &c.gate_refused {
            out.sample("vpc_router_gate_refused_total", &[("reason", reason)], n);
        }
        out.family(
            "vpc_router_ec2_calls_total",
            "counter",
            "EC2 API calls (after retries), by action and outcome (ok, EC2's error code, or transport).",
        );
        for ((action, outcome), n) in &c.ec2_calls {
            out.sample(
                "vpc_router_ec2_calls_total",
                &[("action", action), ("outcome", outcome)],
                n,
            );
        }
        out.family(
            "vpc_router_ec2_retries_total",
            "counter",
            "EC2 attempts beyond the first of each call.",
        );
        let retries = self.ec2_retries.load(Ordering::Relaxed);
        out.sample("vpc_router_ec2_retries_total", &[], retries);
        out.family(
            "vpc_router_ec2_throttled_total",
            "counter",
            "EC2 attempts answered with a throttling error.",
        );
        let throttled = self.ec2_throttled.load(Ordering::Relaxed);
        out.sample("vpc_router_ec2_throttled_total", &[], throttled);
        out.family(
            "vpc_router_route_changes_total",
            "counter",
            "Routes changed in a route table, by kind.",
        );
        for kind in ["create", "replace", "delete"] {
            let n = c.route_changes.get(kind).copied().unwrap_or(0);
            out.sample("vpc_router_route_changes_total", &[("kind", kind)], n);
        }
        let started = self
            .started_at
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        out.family(
            "vpc_router_start_time_seconds",
            "gauge",
            "When the daemon started, in seconds since the epoch.",
        );
        out.sample(
            "vpc_router_start_time_seconds",
            &[],
            format_args!("{started:.3}"),
        );
        out.family("vpc_router_build_info", "gauge", "The running version.");
        out.sample("vpc_router_build_info", &[("version", crate::VERSION)], 1);
    }
}

/// The process as /proc/self shows it: CPU seconds, memory, descriptors
/// and start time, under Prometheus' standard `process_*` names. What
/// cannot be read is left out, never made up.
pub fn render_process(out: &mut Exposition) {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    // SAFETY: sysconf only reads a configuration value.
    let (tck, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let btime = read("/proc/stat")
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok());
    let p = proc_stat(&read("/proc/self/stat"));
    let mut gauge = |name: &str, kind: &str, help: &str, v: Option<f64>| {
        if let Some(v) = v {
            out.family(name, kind, help);
            out.sample(name, &[], v);
        }
    };
    let secs = |ticks: u64| (tck > 0).then(|| ticks as f64 / tck as f64);
    gauge(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        p.and_then(|p| secs(p.0 + p.1)),
    );
    gauge(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        p.map(|p| p.3 as f64),
    );
    gauge(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        p.filter(|_| page > 0).map(|p| (p.4 * page as u64) as f64),
    );
    gauge(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        p.zip(btime)
            .and_then(|(p, b)| secs(p.2).map(|s| b as f64 + s)),
    );
    gauge(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as f64),
    );
    gauge(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        read("/proc/self/limits").lines().find_map(|l| {
            l.strip_prefix("Max open files")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        }),
    );
}

/// From /proc/self/stat: utime and stime (ticks), start time (ticks after
/// boot), virtual size (bytes) and resident set (pages). The command name
/// may hold spaces and parentheses, so fields count from its last ')'.
fn proc_stat(stat: &str) -> Option<(u64, u64, u64, u64, u64)> {
    let f: Vec<u64> = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14, 15, 22, 23 and 24 of proc(5); f[0] is field 4.
    Some((
        *f.get(10)?,
        *f.get(11)?,
        *f.get(18)?,
        *f.get(19)?,
        *f.get(20)?,
    ))
}

/// The control loop's families: role and the sources' conflicts.
pub fn render_control(c: &ControlStatus, out: &mut Exposition) {
    out.family(
        "vpc_router_may_change_routes",
        "gauge",
        "Whether this daemon may change routes now (1: standalone or leader; 0: follower).",
    );
    let may = u8::from(!matches!(c.role, Role::Follower { .. }));
    out.sample(
        "vpc_router_may_change_routes",
        &[("role", c.role.as_str())],
        may,
    );
    out.family(
        "vpc_router_spec_conflicts",
        "gauge",
        "CIDRs that two sources of desired state name with different routers, now.",
    );
    out.sample("vpc_router_spec_conflicts", &[], c.conflicts.len());
    out.family(
        "vpc_router_spec_conflicts_total",
        "counter",
        "Conflicts between sources of desired state, counted when each appears.",
    );
    out.sample("vpc_router_spec_conflicts_total", &[], c.conflicts_total);
}

/// etcd's families: leadership, the lease and whether etcd answers.
pub fn render_etcd(v: &super::etcd::EtcdView, out: &mut Exposition) {
    out.family(
        "vpc_router_etcd_leader",
        "gauge",
        "Whether this daemon leads (1) or follows (0) in etcd's leader election.",
    );
    out.sample("vpc_router_etcd_leader", &[], u8::from(v.leading));
    out.family(
        "vpc_router_etcd_reachable",
        "gauge",
        "Whether etcd answered the last call (1) or not (0).",
    );
    let reachable = u8::from(v.unreachable.is_none());
    out.sample(
        "vpc_router_etcd_reachable",
        &[("endpoint", &v.endpoint)],
        reachable,
    );
    out.family(
        "vpc_router_etcd_lease_ttl_seconds",
        "gauge",
        "The TTL etcd granted this daemon's lease at its last renewal.",
    );
    out.sample(
        "vpc_router_etcd_lease_ttl_seconds",
        &[],
        v.lease.map_or(0, |(_, ttl)| ttl),
    );
}

/// The BGP listener's families: each peer's session and prefixes.
pub fn render_bgp(b: &super::bgp::Bgp, out: &mut Exposition) {
    let peers = b.peers();
    out.family(
        "vpc_router_bgp_session_up",
        "gauge",
        "Whether the BGP session with a peer is Established (1) or not (0).",
    );
    for p in &peers {
        let ip = p.ip.map(|i| i.to_string()).unwrap_or_default();
        out.sample(
            "vpc_router_bgp_session_up",
            &[("peer", &ip)],
            u8::from(p.state == "Established"),
        );
    }
    out.family(
        "vpc_router_bgp_prefixes",
        "gauge",
        "Prefixes a peer holds now: accepted by the policy, or refused.",
    );
    for p in &peers {
        let ip = p.ip.map(|i| i.to_string()).unwrap_or_default();
        out.sample(
            "vpc_router_bgp_prefixes",
            &[("peer", &ip), ("kind", "accepted")],
            p.paths.len(),
        );
        out.sample(
            "vpc_router_bgp_prefixes",
            &[("peer", &ip), ("kind", "refused")],
            p.refused.len(),
        );
    }
    out.family(
        "vpc_router_bgp_prefixes_received_total",
        "counter",
        "Prefixes a peer announced since its session came up.",
    );
    for p in &peers {
        let ip = p.ip.map(|i| i.to_string()).unwrap_or_default();
        out.sample(
            "vpc_router_bgp_prefixes_received_total",
            &[("peer", &ip)],
            p.received,
        );
    }
    out.family(
        "vpc_router_bgp_refused_connections_total",
        "counter",
        "Connections to the BGP port from addresses that are no --bgp-peer.",
    );
    out.sample(
        "vpc_router_bgp_refused_connections_total",
        &[],
        b.refused.load(std::sync::atomic::Ordering::Relaxed),
    );
}

/// The reconciler's families (`-m`), from the engine's counts.
pub fn render_engine(g: &Gauges, out: &mut Exposition) {
    let c = &g.counters;
    out.family(
        "vpc_router_reconcile_passes_total",
        "counter",
        "Reconcile passes, by result.",
    );
    for r in ["in_sync", "changed", "held", "failed", "error"] {
        let n = c.passes.get(r).copied().unwrap_or(0);
        out.sample("vpc_router_reconcile_passes_total", &[("result", r)], n);
    }
    let total: u64 = c.passes.values().sum();
    out.family(
        "vpc_router_reconcile_pass_duration_seconds",
        "summary",
        "Time spent in reconcile passes.",
    );
    out.sample(
        "vpc_router_reconcile_pass_duration_seconds_sum",
        &[],
        c.pass_seconds_sum,
    );
    out.sample(
        "vpc_router_reconcile_pass_duration_seconds_count",
        &[],
        total,
    );
    out.family(
        "vpc_router_reconcile_changes_total",
        "counter",
        "Route changes made by the reconciler, by kind.",
    );
    for k in ["create", "replace", "delete", SDC_KIND] {
        let n = c.changes.get(k).copied().unwrap_or(0);
        out.sample("vpc_router_reconcile_changes_total", &[("kind", k)], n);
    }
    out.family(
        "vpc_router_reconcile_failures_total",
        "counter",
        "Failed reconciler calls, by EC2 error code.",
    );
    for (code, n) in &c.failures {
        let code: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        out.sample("vpc_router_reconcile_failures_total", &[("code", &code)], n);
    }
    out.family(
        "vpc_router_routes_managed",
        "gauge",
        "CIDRs vpc-router manages.",
    );
    out.sample("vpc_router_routes_managed", &[], g.managed);
    out.family(
        "vpc_router_host_up",
        "gauge",
        "Whether a router's health check passes (1) or has failed (0); hosts not yet known are left out.",
    );
    for h in &g.hosts {
        let up = match h.state {
            health::State::Healthy => 1,
            health::State::Failed => 0,
            health::State::Unknown => continue,
        };
        let ip = h.ip.to_string();
        out.sample("vpc_router_host_up", &[("ip", &ip)], up);
    }
    out.family(
        "vpc_router_failovers_total",
        "counter",
        "Failovers, by CIDR.",
    );
    for (cidr, n) in &c.failovers {
        let cidr = cidr.to_string();
        out.sample("vpc_router_failovers_total", &[("cidr", &cidr)], n);
    }
    out.family(
        "vpc_router_failover_duration_seconds",
        "histogram",
        "From a router's failed check to the last answer of its failover's calls.",
    );
    // The engine keeps counts per bucket; the exposition wants them
    // cumulative.
    let mut cumulative = [0u64; FAILOVER_BUCKETS.len()];
    let mut sum = 0;
    for (i, n) in c.failover_buckets[..FAILOVER_BUCKETS.len()]
        .iter()
        .enumerate()
    {
        sum += n;
        cumulative[i] = sum;
    }
    let count = sum + c.failover_buckets[FAILOVER_BUCKETS.len()];
    out.histogram(
        "vpc_router_failover_duration_seconds",
        ("", ""),
        &FAILOVER_BUCKETS,
        &cumulative,
        count,
        c.failover_seconds_sum,
    );
    out.family(
        "vpc_router_cidrs_without_healthy_router",
        "gauge",
        "Spec CIDRs whose hosts have all failed their health checks.",
    );
    out.sample(
        "vpc_router_cidrs_without_healthy_router",
        &[],
        g.no_healthy_router,
    );
    out.family(
        "vpc_router_source_dest_check_enabled",
        "gauge",
        "Router interfaces with source/destination check on (they drop forwarded packets).",
    );
    out.sample(
        "vpc_router_source_dest_check_enabled",
        &[],
        g.source_dest_check_enabled,
    );
}

/// The Prometheus text exposition format (version 0.0.4): every line of
/// `/metrics` is written through this, so the format (HELP and TYPE
/// lines, label escaping, histogram series) is in one place.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition {
            out: String::with_capacity(8192),
        }
    }

    /// A family's HELP and TYPE lines; its samples follow.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample, label values escaped.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A histogram's series: cumulative `counts` per bucket of `bounds`,
    /// then +Inf (the `count`), sum and count. `label` (name, value) is
    /// put on every series; an empty name puts none.
    pub fn histogram(
        &mut self,
        name: &str,
        label: (&str, &str),
        bounds: &[f64],
        counts: &[u64],
        count: u64,
        sum: f64,
    ) {
        let bucket = format!("{name}_bucket");
        let with = |le: &str| -> Vec<(&str, String)> {
            let mut l = Vec::new();
            if !label.0.is_empty() {
                l.push((label.0, label.1.to_string()));
            }
            l.push(("le", le.to_string()));
            l
        };
        for (le, n) in bounds.iter().zip(counts) {
            let l = with(&le.to_string());
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
            self.sample(&bucket, &l, n);
        }
        let l = with("+Inf");
        let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.sample(&bucket, &l, count);
        let own: &[(&str, &str)] = if label.0.is_empty() { &[] } else { &[label] };
        self.sample(&format!("{name}_sum"), own, sum);
        self.sample(&format!("{name}_count"), own, count);
    }

    pub fn into_string(self) -> String {
        self.out
    }
}

/// Escapes a label value as the exposition format requires.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counts a request as in flight while it lives.
pub struct InFlight(Arc<Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn proc_stat_counts_fields_from_the_last_parenthesis() {
        let line = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 0 0 20 0 12 0 7777 123456789 321 18446744073709551615";
        assert_eq!(
            super::proc_stat(line),
            Some((250, 50, 7777, 123_456_789, 321))
        );
        assert_eq!(super::proc_stat("4242 (trunc"), None);
    }

    use super::*;

    #[test]
    fn renders_every_family_with_its_type() {
        let m = Arc::new(Metrics::new(
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        ));
        m.request("POST", "/route", 201, Duration::from_millis(30));
        m.request(
            "GET",
            "/route?dst_cidr=10.0.0.0/8",
            404,
            Duration::from_millis(2),
        );
        m.request("GET", "/wp-admin.php", 404, Duration::from_millis(1));
        m.request("BREW", "/", 405, Duration::from_millis(1));
        m.refused("body_too_large");
        m.route_change("create");
        (m.observer())(&CallRecord {
            action: "DescribeRouteTables",
            outcome: "ok".into(),
            attempts: 3,
            throttled: 2,
        });
        (m.observer())(&CallRecord {
            action: "CreateRoute",
            outcome: "Bad\"Code".into(),
            attempts: 1,
            throttled: 0,
        });
        let mut text = Exposition::new();
        m.render(&mut text);
        let text = text.into_string();
        for want in [
            "# TYPE vpc_router_http_requests_total counter",
            "vpc_router_http_requests_total{route=\"/route\",method=\"POST\",status=\"201\"} 1",
            "vpc_router_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"} 1",
            "vpc_router_http_requests_total{route=\"/\",method=\"other\",status=\"405\"} 1",
            "# TYPE vpc_router_http_request_duration_seconds histogram",
            "vpc_router_http_request_duration_seconds_bucket{route=\"/route\",le=\"0.025\"} 1",
            "vpc_router_http_request_duration_seconds_bucket{route=\"/route\",le=\"0.05\"} 2",
            "vpc_router_http_request_duration_seconds_bucket{route=\"/route\",le=\"+Inf\"} 2",
            "vpc_router_http_request_duration_seconds_count{route=\"/route\"} 2",
            "vpc_router_gate_refused_total{reason=\"body_too_large\"} 1",
            "vpc_router_ec2_calls_total{action=\"DescribeRouteTables\",outcome=\"ok\"} 1",
            "vpc_router_ec2_calls_total{action=\"CreateRoute\",outcome=\"Bad\\\"Code\"} 1",
            "vpc_router_ec2_retries_total 2",
            "vpc_router_ec2_throttled_total 2",
            "vpc_router_route_changes_total{kind=\"create\"} 1",
            "vpc_router_route_changes_total{kind=\"delete\"} 0",
            "vpc_router_start_time_seconds 1700000000.000",
            "vpc_router_http_requests_in_flight 0",
        ] {
            assert!(text.contains(want), "missing {want}\n{text}");
        }
        let s = m.summary();
        assert_eq!(s["requests"], 4);
        assert_eq!(s["requests_by_status"]["404"], 2);
        assert_eq!(
            (s["ec2_calls"].as_u64(), s["ec2_errors"].as_u64()),
            (Some(2), Some(1))
        );
    }

    #[test]
    fn in_flight_counts_down_on_drop() {
        let m = Arc::new(Metrics::new(UNIX_EPOCH));
        let a = m.in_flight();
        let b = m.in_flight();
        assert_eq!(m.running(), 2);
        drop(a);
        drop(b);
        assert_eq!(m.running(), 0);
    }
}
