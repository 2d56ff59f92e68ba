//! A stateful EC2 simulator for integration tests and benchmarks.
//!
//! [`Ec2Sim::start`] listens on `127.0.0.1` (a free port), through the tests'
//! HTTP server (`common::http`: one thread per connection, keep-alive,
//! `Content-Length` and chunked request bodies). It implements, against its
//! own state, the EC2 Query API (version 2016-11-15) actions vpc-router
//! sends: `DescribeRouteTables`, `DescribeNetworkInterfaces`, `CreateRoute`,
//! `ReplaceRoute`, `DeleteRoute` and `ModifyNetworkInterfaceAttribute`
//! (`SourceDestCheck` only). Parameters come from a form-urlencoded
//! `POST /` body (or the query string of a `GET`); SigV4 headers are ignored.
//!
//! Answers have the shape of the recorded EC2 documents in `fixtures/`: the
//! `http://ec2.amazonaws.com/doc/2016-11-15/` namespace, a `requestId` first,
//! sets as `<xxxSet><item>…</item></xxxSet>`; errors in EC2's
//! `<Response><Errors><Error>…</Error></Errors><RequestID/></Response>`
//! envelope, with EC2's codes and wording and status 400 (412 for
//! `DryRunOperation`).
//!
//! The state is route tables (ID, VPC, main flag, subnet associations, tags,
//! routes) and network interfaces (ID, private IPs, instance, VPC,
//! source/destination check). A route's `state` is not stored: like EC2, it
//! is `active` while its network interface exists and is attached to an
//! instance and `blackhole` otherwise, so [`Ec2Sim::detach_eni`] turns every
//! route to a router into a blackhole at once.
//!
//! Every request is recorded ([`Ec2Sim::calls`]); errors can be injected
//! ([`Ec2Sim::fail_next`], [`Ec2Sim::fail_next_applied`]) and answers slowed
//! down ([`Ec2Sim::set_delay`]) or held in waves that only calls made side
//! by side can fill ([`Ec2Sim::hold_waves`], [`Ec2Sim::max_in_flight`]).
//! [`scenario`] builds the VPC the fixtures
//! describe (see `fixtures/README.md`).
//!
//! Where EC2's behaviour is not modelled, the simulator is stricter or
//! simpler, never looser than needed by the client: `DryRun=true` is
//! answered after the parameters are checked but before any resource is
//! looked up; a route of any origin at a destination makes `CreateRoute`
//! fail with `RouteAlreadyExists`; propagated routes can be replaced and
//! deleted like any other; destinations must be canonical CIDR blocks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use super::http::{self, Request, Response, Server};

/// The XML namespace of every success document.
pub const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
/// The account that owns every simulated resource.
pub const OWNER_ID: &str = "123456789012";

/// The prefix of every `nextToken` the simulator hands out.
const TOKEN_PREFIX: &str = "ec2sim.";

/// The running simulator. Its state is shared with the server threads; the
/// server stops (listener closed, open connections shut down) when it is
/// dropped.
pub struct Ec2Sim {
    shared: Arc<Shared>,
    server: Server,
}

/// One request as the simulator received it.
#[derive(Debug, Clone)]
pub struct SimCall {
    /// The `Action` parameter (empty if there was none).
    pub action: String,
    /// Every other parameter, decoded, in the order sent; `Action` and
    /// `Version` are left out.
    pub params: Vec<(String, String)>,
    /// The HTTP status of the answer; 0 while the answer is being made.
    pub status: u16,
}

impl SimCall {
    /// The value of the first parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The fixtures' VPC (`fixtures/README.md`), with the same IDs, routes,
/// tags, associations and interfaces as `describe-route-tables.xml` and
/// `describe-network-interfaces-{a,b}.xml`:
///
/// - `vpc-350d6a51`; router A `eni-0aaaaaaaaaaaaaaa1` (`i-0aaaaaaaaaaaaaaa1`,
///   10.33.20.142 and 10.33.20.143, source/dest check off); router B
///   `eni-0bbbbbbbbbbbbbbb2` (`i-0bbbbbbbbbbbbbbb2`, 10.33.30.22, check on).
/// - `rtb-0a1b2c3d` (main, `Name=main`): local 10.33.0.0/16 and
///   2600:1f18:abcd:ef00::/56, 0.0.0.0/0 → igw-1a2b3c4d, ::/0 → eigw-…,
///   pl-63a5400a → vpce-…, 10.55.0.0/16 and 2001:db8:1234::/48 → router A.
/// - `rtb-1a2b3c4d` (`subnet-0a1b2c3d`, `Name=private-a`): local,
///   0.0.0.0/0 → nat-…, 10.55.0.0/16 → router B, 10.66.0.0/16 →
///   `i-0ccccccccccccccc3`/`eni-0ccccccccccccccc3` (blackhole: that interface
///   does not exist), 192.168.0.0/16 → pcx-…, 172.16.0.0/12 propagated by
///   vgw-0a1b2c3d4e5f67890.
/// - `rtb-2a2b3c4d` (`subnet-1a2b3c4d`): local, 10.77.0.0/16 → tgw-….
pub fn scenario() -> Ec2Sim {
    const VPC: &str = "vpc-350d6a51";
    const A: &str = "eni-0aaaaaaaaaaaaaaa1";
    let sim = Ec2Sim::start();
    sim.add_eni(
        A,
        &["10.33.20.142", "10.33.20.143"],
        Some("i-0aaaaaaaaaaaaaaa1"),
        VPC,
        false,
    );
    sim.add_eni(
        "eni-0bbbbbbbbbbbbbbb2",
        &["10.33.30.22"],
        Some("i-0bbbbbbbbbbbbbbb2"),
        VPC,
        true,
    );

    let t = "rtb-0a1b2c3d";
    sim.add_table(t, VPC, true);
    sim.set_tag(t, "Name", "main");
    sim.add_gateway_route(t, "10.33.0.0/16", "local");
    sim.add_gateway_route(t, "2600:1f18:abcd:ef00::/56", "local");
    sim.add_gateway_route(t, "0.0.0.0/0", "igw-1a2b3c4d");
    sim.add_gateway_route(t, "::/0", "eigw-0a1b2c3d4e5f67890");
    sim.add_gateway_route(t, "pl-63a5400a", "vpce-0123456789abcdef0");
    sim.add_route_to_eni(t, "10.55.0.0/16", A);
    sim.add_route_to_eni(t, "2001:db8:1234::/48", A);

    let t = "rtb-1a2b3c4d";
    sim.add_table(t, VPC, false);
    sim.associate_subnet(t, "subnet-0a1b2c3d");
    sim.set_tag(t, "Name", "private-a");
    sim.add_gateway_route(t, "10.33.0.0/16", "local");
    sim.add_gateway_route(t, "0.0.0.0/0", "nat-0123456789abcdef0");
    sim.add_route_to_eni(t, "10.55.0.0/16", "eni-0bbbbbbbbbbbbbbb2");
    sim.add_route_to_instance(
        t,
        "10.66.0.0/16",
        "i-0ccccccccccccccc3",
        Some("eni-0ccccccccccccccc3"),
    );
    sim.add_gateway_route(t, "192.168.0.0/16", "pcx-0a1b2c3d4e5f67890");
    sim.add_propagated_route(t, "172.16.0.0/12", "vgw-0a1b2c3d4e5f67890");

    let t = "rtb-2a2b3c4d";
    sim.add_table(t, VPC, false);
    sim.associate_subnet(t, "subnet-1a2b3c4d");
    sim.add_gateway_route(t, "10.33.0.0/16", "local");
    sim.add_gateway_route(t, "10.77.0.0/16", "tgw-0123456789abcdef0");
    sim
}

impl Ec2Sim {
    /// Starts a simulator with no tables and no interfaces, listening on a
    /// free port of 127.0.0.1.
    pub fn start() -> Ec2Sim {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wave_filled: Condvar::new(),
        });
        let s = shared.clone();
        // The simulator keeps its own record of calls.
        let server = Server::start_with(move |addr| {
            let port = addr.port();
            move |req: &Request| {
                let (status, body) = handle(&s, req, port);
                let content_type = if body.starts_with("<?xml") {
                    "text/xml;charset=UTF-8"
                } else {
                    "text/plain;charset=UTF-8"
                };
                Response::new(status, body)
                    .header("Content-Type", content_type)
                    .header("Server", "ec2sim")
            }
        })
        .recording(false);
        Ec2Sim { shared, server }
    }

    /// The endpoint, `http://127.0.0.1:PORT`, without a trailing slash (as
    /// `--endpoint-url` and `ClientSettings::endpoint` take it).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Adds the route table `id` of `vpc`, with no routes: add the local
    /// route with [`Ec2Sim::add_gateway_route`]`(id, cidr, "local")`. A
    /// `main` table gets the VPC's main association. Adding an existing ID
    /// changes its VPC and main flag and keeps its routes.
    pub fn add_table(&self, id: &str, vpc: &str, main: bool) {
        let mut st = self.state();
        let n = st.tables.len();
        let t = st.tables.entry(id.to_string()).or_insert_with(|| Table {
            vpc: String::new(),
            main: false,
            main_assoc: assoc_id(n, 0),
            subnets: Vec::new(),
            propagating: Vec::new(),
            tags: Vec::new(),
            routes: Vec::new(),
        });
        t.vpc = vpc.to_string();
        t.main = main;
    }

    /// Adds (or retargets) the route `cidr` in `table` to the network
    /// interface `eni`, with origin `CreateRoute`, as `CreateRoute` would:
    /// the route remembers the instance the interface is attached to now
    /// (if it exists yet), and reports the interface's current instance
    /// whenever it has one.
    pub fn add_route_to_eni(&self, table: &str, cidr: &str, eni: &str) {
        let instance = self.state().enis.get(eni).and_then(|e| e.instance.clone());
        self.put_route(
            table,
            cidr,
            Target::Interface {
                eni: Some(eni.to_string()),
                instance,
            },
            Origin::CreateRoute,
        );
    }

    /// Adds (or retargets) a route to an instance, as EC2 keeps one whose
    /// interface is gone: `instance` is reported as is, and the route is a
    /// blackhole unless `eni` is given, exists and is attached.
    pub fn add_route_to_instance(
        &self,
        table: &str,
        cidr: &str,
        instance: &str,
        eni: Option<&str>,
    ) {
        self.put_route(
            table,
            cidr,
            Target::Interface {
                eni: eni.map(str::to_string),
                instance: Some(instance.to_string()),
            },
            Origin::CreateRoute,
        );
    }

    /// Adds (or retargets) the route `cidr` in `table` to a gateway:
    /// `local` (origin `CreateRouteTable`), or an `igw-`, `nat-`, `tgw-`,
    /// `pcx-`, `vgw-`, `vpce-`, `eigw-`, … ID (origin `CreateRoute`); the ID's
    /// prefix picks the XML element EC2 reports it in. A `cidr` starting with
    /// `pl-` is a prefix-list destination.
    pub fn add_gateway_route(&self, table: &str, cidr: &str, gateway: &str) {
        let origin = if gateway == "local" {
            Origin::CreateRouteTable
        } else {
            Origin::CreateRoute
        };
        self.put_route(table, cidr, Target::Gateway(gateway.to_string()), origin);
    }

    /// Adds a route propagated by the virtual private gateway `vgw` (origin
    /// `EnableVgwRoutePropagation`) and lists `vgw` as propagating.
    pub fn add_propagated_route(&self, table: &str, cidr: &str, vgw: &str) {
        self.put_route(
            table,
            cidr,
            Target::Gateway(vgw.to_string()),
            Origin::EnableVgwRoutePropagation,
        );
        let mut st = self.state();
        let t = st.table_mut(table);
        if !t.propagating.iter().any(|g| g == vgw) {
            t.propagating.push(vgw.to_string());
        }
    }

    /// Removes the route at `cidr` from `table`; whether there was one.
    pub fn remove_route(&self, table: &str, cidr: &str) -> bool {
        let dest = Dest::parse(cidr).unwrap_or_else(|e| panic!("ec2sim: {e}"));
        let mut st = self.state();
        let t = st.table_mut(table);
        let before = t.routes.len();
        t.routes.retain(|r| r.dest != dest);
        t.routes.len() != before
    }

    /// Associates `table` with `subnet` (reported in `associationSet`).
    pub fn associate_subnet(&self, table: &str, subnet: &str) {
        let mut st = self.state();
        let n = st.assoc_seq;
        st.assoc_seq += 1;
        let t = st.table_mut(table);
        t.subnets.push((subnet.to_string(), assoc_id(n, 1)));
    }

    /// Sets the tag `key` of `table` to `value`.
    pub fn set_tag(&self, table: &str, key: &str, value: &str) {
        let mut st = self.state();
        let t = st.table_mut(table);
        match t.tags.iter_mut().find(|(k, _)| k == key) {
            Some(tag) => tag.1 = value.to_string(),
            None => t.tags.push((key.to_string(), value.to_string())),
        }
    }

    /// Adds (or replaces) the network interface `eni` in `vpc`. `ips` are its
    /// private addresses, IPv4 (the first is the primary) and IPv6 mixed;
    /// `instance` is the instance it is attached to.
    pub fn add_eni(
        &self,
        eni: &str,
        ips: &[&str],
        instance: Option<&str>,
        vpc: &str,
        source_dest_check: bool,
    ) {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for ip in ips {
            match ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) => v4.push(a.to_string()),
                Ok(IpAddr::V6(a)) => v6.push(a.to_string()),
                Err(_) => panic!("ec2sim: '{ip}' is not an IP address"),
            }
        }
        let mut st = self.state();
        let n = st.enis.len();
        st.enis.insert(
            eni.to_string(),
            Eni {
                vpc: vpc.to_string(),
                v4,
                v6,
                instance: instance.map(str::to_string),
                source_dest_check,
                attach_seq: n,
            },
        );
    }

    /// Detaches `eni` from its instance: its routes become blackholes.
    pub fn detach_eni(&self, eni: &str) {
        let mut st = self.state();
        match st.enis.get_mut(eni) {
            Some(e) => e.instance = None,
            None => panic!("ec2sim: no network interface {eni}"),
        }
    }

    /// The interface's source/destination check flag.
    pub fn source_dest_check(&self, eni: &str) -> bool {
        match self.state().enis.get(eni) {
            Some(e) => e.source_dest_check,
            None => panic!("ec2sim: no network interface {eni}"),
        }
    }

    /// Deletes `eni`: its routes become blackholes that still name it.
    pub fn remove_eni(&self, eni: &str) {
        self.state().enis.remove(eni);
    }

    /// The target of the route at `cidr` in `table`: its network interface
    /// ID (or instance ID, for an instance route without one), or its
    /// gateway ID (`local` for the local route). `None` without such a route.
    pub fn route_target(&self, table: &str, cidr: &str) -> Option<String> {
        let dest = Dest::parse(cidr).unwrap_or_else(|e| panic!("ec2sim: {e}"));
        let st = self.state();
        let r = st
            .tables
            .get(table)?
            .routes
            .iter()
            .find(|r| r.dest == dest)?;
        Some(r.target.id().to_string())
    }

    /// The routes of `table` as (destination, [`Ec2Sim::route_target`]),
    /// in table order; empty for an unknown table.
    pub fn routes(&self, table: &str) -> Vec<(String, String)> {
        let st = self.state();
        st.tables.get(table).map_or_else(Vec::new, |t| {
            t.routes
                .iter()
                .map(|r| (r.dest.text().to_string(), r.target.id().to_string()))
                .collect()
        })
    }

    /// Every request received since the start (or the last
    /// [`Ec2Sim::clear_calls`]), in arrival order.
    pub fn calls(&self) -> Vec<SimCall> {
        self.state().calls.clone()
    }

    /// The actions of [`Ec2Sim::calls`], in arrival order.
    pub fn actions(&self) -> Vec<String> {
        self.state()
            .calls
            .iter()
            .map(|c| c.action.clone())
            .collect()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        let mut st = self.state();
        st.calls_base += st.calls.len();
        st.calls.clear();
    }

    /// How many TCP connections have been accepted: with keep-alive, a
    /// client making many calls should need few.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// Sleeps `d` before handling every request from now on (to widen race
    /// windows). The request is recorded when it arrives; the state is read
    /// and changed after the sleep. `Duration::ZERO` turns it off.
    /// Holds the next requests in waves of these sizes: a request is
    /// answered only once every request of its wave has arrived, so a wave
    /// of N fills only if the client makes N calls at once. A wave that does
    /// not fill within 5 s is let through and counted ([`Ec2Sim::broken_waves`]),
    /// so a client calling one at a time fails the test instead of hanging it.
    pub fn hold_waves(&self, sizes: &[usize]) {
        let mut st = self.state();
        st.waves = sizes.iter().copied().collect();
        st.wave_arrived = 0;
    }

    /// Waves of [`Ec2Sim::hold_waves`] that did not fill.
    pub fn broken_waves(&self) -> usize {
        self.state().broken_waves
    }

    /// The most requests this simulator has had in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state().max_in_flight
    }

    pub fn set_delay(&self, d: Duration) {
        self.state().delay = d;
    }

    /// Makes the next call of `action` fail with `status` and the EC2 error
    /// `code`/`message`, without looking at or changing the state. Calls
    /// queue up: two calls make the next two requests fail.
    pub fn fail_next(&self, action: &str, status: u16, code: &str, message: &str) {
        self.inject(action, status, code, message, false);
    }

    /// Like [`Ec2Sim::fail_next`], but the call is carried out first and
    /// only its answer is replaced by the error: a lost answer, as after a
    /// 5xx from EC2 that had already made the change.
    pub fn fail_next_applied(&self, action: &str, status: u16, code: &str, message: &str) {
        self.inject(action, status, code, message, true);
    }

    fn inject(&self, action: &str, status: u16, code: &str, message: &str, apply: bool) {
        self.state()
            .injected
            .entry(action.to_string())
            .or_default()
            .push_back(Injected {
                status,
                code: code.to_string(),
                message: message.to_string(),
                apply,
            });
    }

    fn put_route(&self, table: &str, cidr: &str, target: Target, origin: Origin) {
        let dest = Dest::parse(cidr).unwrap_or_else(|e| panic!("ec2sim: {e}"));
        let mut st = self.state();
        let t = st.table_mut(table);
        let route = Route {
            dest,
            target,
            origin,
        };
        match t.routes.iter_mut().find(|r| r.dest == route.dest) {
            Some(r) => *r = route,
            None => t.routes.push(route),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }
}

// ---------------------------------------------------------------------------
// State

struct Shared {
    state: Mutex<State>,
    wave_filled: Condvar,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// Locks `m`, ignoring poisoning: a panicking test must not take the
/// simulator down with it for the other threads.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct State {
    tables: BTreeMap<String, Table>,
    enis: BTreeMap<String, Eni>,
    calls: Vec<SimCall>,
    /// Sequence number of `calls[0]` (calls cleared before it).
    calls_base: usize,
    /// Requests received so far, for request IDs.
    requests: u64,
    assoc_seq: usize,
    delay: Duration,
    injected: HashMap<String, VecDeque<Injected>>,
    in_flight: usize,
    max_in_flight: usize,
    /// `hold_waves`: the sizes of the waves to come, the requests of the
    /// current one so far, its number, and the waves that did not fill.
    waves: VecDeque<usize>,
    wave_arrived: usize,
    wave: usize,
    broken_waves: usize,
}

impl State {
    fn table_mut(&mut self, id: &str) -> &mut Table {
        self.tables
            .get_mut(id)
            .unwrap_or_else(|| panic!("ec2sim: no route table {id}; add_table it first"))
    }
}

struct Injected {
    status: u16,
    code: String,
    message: String,
    apply: bool,
}

struct Table {
    vpc: String,
    main: bool,
    main_assoc: String,
    /// (subnet ID, association ID)
    subnets: Vec<(String, String)>,
    propagating: Vec<String>,
    tags: Vec<(String, String)>,
    routes: Vec<Route>,
}

struct Eni {
    vpc: String,
    /// Canonical text; the first is the primary address.
    v4: Vec<String>,
    v6: Vec<String>,
    instance: Option<String>,
    source_dest_check: bool,
    /// For made-up attachment IDs and MAC addresses.
    attach_seq: usize,
}

struct Route {
    dest: Dest,
    target: Target,
    origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Dest {
    V4(String),
    V6(String),
    PrefixList(String),
}

impl Dest {
    /// A canonical CIDR block (`10.55.0.0/16`, `2001:db8::/48`) or a prefix
    /// list ID (`pl-…`).
    fn parse(s: &str) -> Result<Dest, String> {
        if s.starts_with("pl-") {
            return Ok(Dest::PrefixList(s.to_string()));
        }
        let bad = || format!("'{s}' is not a valid CIDR block");
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
            return Err(bad());
        }
        let len: u32 = len.parse().map_err(|_| bad())?;
        match addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = if len == 0 {
                    0
                } else {
                    u32::MAX.checked_shl(32 - len).ok_or_else(bad)?
                };
                if len > 32 || bits & !mask != 0 {
                    return Err(bad());
                }
                Ok(Dest::V4(format!("{a}/{len}")))
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX.checked_shl(128 - len).ok_or_else(bad)?
                };
                if len > 128 || bits & !mask != 0 {
                    return Err(bad());
                }
                Ok(Dest::V6(format!("{a}/{len}")))
            }
        }
    }

    fn text(&self) -> &str {
        match self {
            Dest::V4(s) | Dest::V6(s) | Dest::PrefixList(s) => s,
        }
    }
}

enum Target {
    Interface {
        eni: Option<String>,
        /// The instance recorded when the route was made; what is reported
        /// is the interface's current instance, if it has one.
        instance: Option<String>,
    },
    /// `local` or a gateway-like ID.
    Gateway(String),
}

impl Target {
    fn id(&self) -> &str {
        match self {
            Target::Interface { eni: Some(e), .. } => e,
            Target::Interface {
                instance: Some(i), ..
            } => i,
            Target::Interface { .. } => "",
            Target::Gateway(g) => g,
        }
    }
}

#[derive(Clone, Copy)]
enum Origin {
    CreateRouteTable,
    CreateRoute,
    EnableVgwRoutePropagation,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::CreateRouteTable => "CreateRouteTable",
            Origin::CreateRoute => "CreateRoute",
            Origin::EnableVgwRoutePropagation => "EnableVgwRoutePropagation",
        }
    }
}

/// A route's target as it is reported: (ENI, instance, active).
fn effective<'a>(
    target: &'a Target,
    enis: &'a BTreeMap<String, Eni>,
) -> (Option<&'a str>, Option<&'a str>, bool) {
    match target {
        Target::Gateway(_) => (None, None, true),
        Target::Interface { eni, instance } => {
            let attached = eni
                .as_deref()
                .and_then(|e| enis.get(e))
                .and_then(|e| e.instance.as_deref());
            match attached {
                Some(i) => (eni.as_deref(), Some(i), true),
                None => (eni.as_deref(), instance.as_deref(), false),
            }
        }
    }
}

/// The route element that carries a gateway-like ID, by its prefix.
fn gateway_field(id: &str) -> &'static str {
    const FIELDS: [(&str, &str); 7] = [
        ("nat-", "natGatewayId"),
        ("tgw-", "transitGatewayId"),
        ("pcx-", "vpcPeeringConnectionId"),
        ("eigw-", "egressOnlyInternetGatewayId"),
        ("cagw-", "carrierGatewayId"),
        ("lgw-", "localGatewayId"),
        ("arn:", "coreNetworkArn"),
    ];
    FIELDS
        .iter()
        .find(|(prefix, _)| id.starts_with(prefix))
        .map_or("gatewayId", |(_, field)| field)
}

/// The target parameters of CreateRoute/ReplaceRoute other than
/// `NetworkInterfaceId` and `InstanceId`.
const GATEWAY_PARAMS: [&str; 9] = [
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "VpcPeeringConnectionId",
    "EgressOnlyInternetGatewayId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "CoreNetworkArn",
    "VpcEndpointId",
];

fn assoc_id(n: usize, kind: usize) -> String {
    format!("rtbassoc-{kind:x}{n:016x}")
}

// ---------------------------------------------------------------------------
// The Query API

/// An EC2 error answer.
struct ApiError {
    status: u16,
    code: &'static str,
    message: String,
}

fn api_error(code: &'static str, message: String) -> ApiError {
    ApiError {
        status: 400,
        code,
        message,
    }
}

fn invalid_value(message: String) -> ApiError {
    api_error("InvalidParameterValue", message)
}

fn missing(param: &str) -> ApiError {
    api_error(
        "MissingParameter",
        format!("The request must contain the parameter {param}"),
    )
}

fn table_not_found(id: &str) -> ApiError {
    api_error(
        "InvalidRouteTableID.NotFound",
        format!("The routeTable ID '{id}' does not exist"),
    )
}

fn eni_not_found(id: &str) -> ApiError {
    api_error(
        "InvalidNetworkInterfaceID.NotFound",
        format!("The networkInterface ID '{id}' does not exist"),
    )
}

type Answer = Result<String, ApiError>;

/// The request's parameters, minus `Action` and `Version`.
struct Params<'a>(&'a [(String, String)]);

/// One `Filter.N`: its name and values.
struct Filter {
    name: String,
    values: Vec<String>,
}

impl Filter {
    /// Whether any value (EC2 wildcards `*` and `?` allowed) matches `text`.
    fn any(&self, text: &str) -> bool {
        self.values.iter().any(|v| glob(v, text))
    }

    /// Whether any value is the IP address `ip` (compared as addresses, so
    /// that IPv6 spellings do not matter) or matches it as a pattern.
    fn any_ip(&self, ip: &str) -> bool {
        let parsed: Option<IpAddr> = ip.parse().ok();
        self.values.iter().any(|v| match v.parse::<IpAddr>() {
            Ok(a) => Some(a) == parsed,
            Err(_) => glob(v, ip),
        })
    }
}

impl<'a> Params<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `NAME.1`, `NAME.2`, … in index order.
    fn list(&self, name: &str) -> Vec<&'a str> {
        let mut items: Vec<(usize, &str)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix(name)?.strip_prefix('.')?.parse().ok()?;
                Some((n, v.as_str()))
            })
            .collect();
        items.sort_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v).collect()
    }

    fn dry_run(&self) -> bool {
        self.get("DryRun")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `Filter.N.Name` / `Filter.N.Value.M`, checked against `known`
    /// (`tag:KEY` is always known).
    fn filters(&self, known: &[&str]) -> Result<Vec<Filter>, ApiError> {
        // Per filter number: its name, and its values with their numbers.
        type Numbered<'v> = (Option<&'v str>, Vec<(usize, &'v str)>);
        let mut by_index: BTreeMap<usize, Numbered<'_>> = BTreeMap::new();
        for (k, v) in self.0 {
            let Some(rest) = k.strip_prefix("Filter.") else {
                continue;
            };
            let bad = || invalid_value(format!("The parameter {k} is not recognized"));
            let (n, field) = rest.split_once('.').ok_or_else(bad)?;
            let n: usize = n.parse().map_err(|_| bad())?;
            let entry = by_index.entry(n).or_default();
            if field == "Name" {
                entry.0 = Some(v);
            } else if let Some(m) = field.strip_prefix("Value.") {
                entry.1.push((m.parse().map_err(|_| bad())?, v));
            } else {
                return Err(bad());
            }
        }
        let mut out = Vec::new();
        for (n, (name, mut values)) in by_index {
            let name = name.ok_or_else(|| missing(&format!("Filter.{n}.Name")))?;
            if !known.contains(&name) && !name.starts_with("tag:") {
                return Err(invalid_value(format!("The filter '{name}' is invalid")));
            }
            // EC2 refuses a filter with more than 200 values; the client
            // must split long lists.
            if values.len() > 200 {
                return Err(api_error(
                    "FilterLimitExceeded",
                    "The filter values limit of 200 has been exceeded".to_string(),
                ));
            }
            values.sort_by_key(|(m, _)| *m);
            out.push(Filter {
                name: name.to_string(),
                values: values.into_iter().map(|(_, v)| v.to_string()).collect(),
            });
        }
        Ok(out)
    }

    /// `MaxResults`, which EC2 bounds per action.
    fn max_results(&self, min: usize, max: usize) -> Result<Option<usize>, ApiError> {
        let Some(v) = self.get("MaxResults") else {
            return Ok(None);
        };
        match v.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(invalid_value(format!(
                "Value ( {v} ) for parameter maxResults is invalid. \
                 Expecting a value between {min} and {max}."
            ))),
        }
    }

    /// The key after which the page starts, from `NextToken`.
    fn after(&self) -> Result<Option<&'a str>, ApiError> {
        match self.get("NextToken") {
            None => Ok(None),
            Some(t) => t.strip_prefix(TOKEN_PREFIX).map(Some).ok_or(ApiError {
                status: 400,
                code: "InvalidPaginationToken",
                message: format!("Invalid pagination token '{t}'"),
            }),
        }
    }

    /// The destination of a route mutation.
    fn destination(&self) -> Result<Dest, ApiError> {
        let given: Vec<(&str, &str)> = [
            "DestinationCidrBlock",
            "DestinationIpv6CidrBlock",
            "DestinationPrefixListId",
        ]
        .into_iter()
        .filter_map(|p| Some((p, self.get(p)?)))
        .collect();
        let (param, value) = match given.as_slice() {
            [one] => *one,
            [] => {
                return Err(missing(
                    "destinationCidrBlock, destinationIpv6CidrBlock or destinationPrefixListId",
                ))
            }
            _ => {
                return Err(api_error(
                    "InvalidParameterCombination",
                    "Only one of destinationCidrBlock, destinationIpv6CidrBlock and \
                     destinationPrefixListId may be specified"
                        .into(),
                ))
            }
        };
        let dest = Dest::parse(value).ok();
        match (param, dest) {
            ("DestinationCidrBlock", Some(d @ Dest::V4(_)))
            | ("DestinationIpv6CidrBlock", Some(d @ Dest::V6(_)))
            | ("DestinationPrefixListId", Some(d @ Dest::PrefixList(_))) => Ok(d),
            _ => Err(invalid_value(format!(
                "Value ({value}) for parameter {} is invalid. This is not a valid CIDR block.",
                lower_first(param)
            ))),
        }
    }

    /// The single target parameter of CreateRoute/ReplaceRoute.
    fn target(&self) -> Result<(&'static str, &'a str), ApiError> {
        let given: Vec<(&'static str, &str)> = ["NetworkInterfaceId", "InstanceId"]
            .into_iter()
            .chain(GATEWAY_PARAMS)
            .filter_map(|p| Some((p, self.get(p)?)))
            .collect();
        match given.as_slice() {
            [one] => Ok(*one),
            [] => Err(missing(
                "gatewayId, instanceId, networkInterfaceId or another route target",
            )),
            _ => Err(api_error(
                "InvalidParameterCombination",
                "The request must contain exactly one route target".into(),
            )),
        }
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_ascii_lowercase().to_string() + c.as_str()
    })
}

/// EC2's filter wildcards: `*` any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return pattern == text;
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

const TABLE_FILTERS: [&str; 11] = [
    "vpc-id",
    "route-table-id",
    "association.main",
    "association.subnet-id",
    "route.destination-cidr-block",
    "route.destination-ipv6-cidr-block",
    "route.destination-prefix-list-id",
    "route.network-interface-id",
    "route.instance-id",
    "route.gateway-id",
    "tag-key",
];

const ENI_FILTERS: [&str; 9] = [
    "vpc-id",
    "network-interface-id",
    "addresses.private-ip-address",
    "private-ip-address",
    "ipv6-addresses.ipv6-address",
    "attachment.instance-id",
    "status",
    "source-dest-check",
    "owner-id",
];

impl State {
    /// Answers one request: (HTTP status, body).
    fn answer(&mut self, action: &str, params: &[(String, String)], rid: &str) -> (u16, String) {
        let injected = self.injected.get_mut(action).and_then(VecDeque::pop_front);
        if let Some(inj) = injected {
            if inj.apply {
                let _ = self.act(action, Params(params), rid);
            }
            return (inj.status, error_xml(&inj.code, &inj.message, rid));
        }
        match self.act(action, Params(params), rid) {
            Ok(body) => (200, body),
            Err(e) => (e.status, error_xml(e.code, &e.message, rid)),
        }
    }

    fn act(&mut self, action: &str, p: Params<'_>, rid: &str) -> Answer {
        match action {
            "DescribeRouteTables" => self.describe_route_tables(&p, rid),
            "DescribeNetworkInterfaces" => self.describe_network_interfaces(&p, rid),
            "CreateRoute" | "ReplaceRoute" | "DeleteRoute" => self.mutate(action, &p, rid),
            "ModifyNetworkInterfaceAttribute" => self.modify_eni(&p, rid),
            "" => Err(api_error(
                "MissingAction",
                "The request must contain the parameter Action".into(),
            )),
            _ => Err(api_error(
                "InvalidAction",
                format!("The action {action} is not valid for this web service."),
            )),
        }
    }

    fn describe_route_tables(&self, p: &Params<'_>, rid: &str) -> Answer {
        let ids = p.list("RouteTableId");
        let missing: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !self.tables.contains_key(*id))
            .collect();
        match missing.as_slice() {
            [] => {}
            [one] => return Err(table_not_found(one)),
            many => {
                return Err(api_error(
                    "InvalidRouteTableID.NotFound",
                    format!("The routeTable IDs '{}' do not exist", many.join(", ")),
                ))
            }
        }
        let filters = p.filters(&TABLE_FILTERS)?;
        let max = p.max_results(5, 100)?;
        let after = p.after()?;
        let range = match after {
            Some(a) => self
                .tables
                .range::<str, _>((Bound::Excluded(a), Bound::Unbounded)),
            None => self.tables.range::<str, _>(..),
        };
        let mut x = open_doc("DescribeRouteTablesResponse", rid);
        let mut count = 0;
        let mut last = "";
        let mut next = None;
        for (id, t) in range {
            if (!ids.is_empty() && !ids.contains(&id.as_str()))
                || !filters.iter().all(|f| self.table_matches(id, t, f))
            {
                continue;
            }
            if max == Some(count) {
                next = Some(last);
                break;
            }
            if count == 0 {
                x.push_str("<routeTableSet>");
            }
            self.write_table(&mut x, id, t);
            count += 1;
            last = id;
        }
        x.push_str(if count == 0 {
            "<routeTableSet/>"
        } else {
            "</routeTableSet>"
        });
        close_doc(&mut x, "DescribeRouteTablesResponse", next);
        Ok(x)
    }

    fn table_matches(&self, id: &str, t: &Table, f: &Filter) -> bool {
        let routes = || t.routes.iter();
        let dest = |kind: fn(&Dest) -> Option<&str>| {
            routes().any(|r| kind(&r.dest).is_some_and(|d| f.any(d)))
        };
        match f.name.as_str() {
            "vpc-id" => f.any(&t.vpc),
            "route-table-id" => f.any(id),
            "association.main" => f.any(if t.main { "true" } else { "false" }),
            "association.subnet-id" => t.subnets.iter().any(|(s, _)| f.any(s)),
            "route.destination-cidr-block" => dest(|d| match d {
                Dest::V4(s) => Some(s),
                _ => None,
            }),
            "route.destination-ipv6-cidr-block" => dest(|d| match d {
                Dest::V6(s) => Some(s),
                _ => None,
            }),
            "route.destination-prefix-list-id" => dest(|d| match d {
                Dest::PrefixList(s) => Some(s),
                _ => None,
            }),
            "route.network-interface-id" => {
                routes().any(|r| effective(&r.target, &self.enis).0.is_some_and(|e| f.any(e)))
            }
            "route.instance-id" => {
                routes().any(|r| effective(&r.target, &self.enis).1.is_some_and(|i| f.any(i)))
            }
            "route.gateway-id" => routes().any(|r| match &r.target {
                Target::Gateway(g) => gateway_field(g) == "gatewayId" && f.any(g),
                Target::Interface { .. } => false,
            }),
            "tag-key" => t.tags.iter().any(|(k, _)| f.any(k)),
            name => {
                let key = name.strip_prefix("tag:").unwrap_or_default();
                t.tags.iter().any(|(k, v)| k == key && f.any(v))
            }
        }
    }

    fn write_table(&self, x: &mut String, id: &str, t: &Table) {
        x.push_str("<item><routeTableId>");
        esc(x, id);
        x.push_str("</routeTableId><vpcId>");
        esc(x, &t.vpc);
        let _ = write!(x, "</vpcId><ownerId>{OWNER_ID}</ownerId>");
        if t.routes.is_empty() {
            x.push_str("<routeSet/>");
        } else {
            x.push_str("<routeSet>");
            for r in &t.routes {
                self.write_route(x, r);
            }
            x.push_str("</routeSet>");
        }
        if !t.main && t.subnets.is_empty() {
            x.push_str("<associationSet/>");
        } else {
            x.push_str("<associationSet>");
            let assoc = |x: &mut String, assoc: &str, subnet: Option<&str>, main: bool| {
                x.push_str("<item><routeTableAssociationId>");
                esc(x, assoc);
                x.push_str("</routeTableAssociationId><routeTableId>");
                esc(x, id);
                x.push_str("</routeTableId>");
                if let Some(s) = subnet {
                    x.push_str("<subnetId>");
                    esc(x, s);
                    x.push_str("</subnetId>");
                }
                let _ = write!(
                    x,
                    "<main>{main}</main><associationState><state>associated</state>\
                     </associationState></item>"
                );
            };
            if t.main {
                assoc(x, &t.main_assoc, None, true);
            }
            for (subnet, id) in &t.subnets {
                assoc(x, id, Some(subnet), false);
            }
            x.push_str("</associationSet>");
        }
        if t.propagating.is_empty() {
            x.push_str("<propagatingVgwSet/>");
        } else {
            x.push_str("<propagatingVgwSet>");
            for g in &t.propagating {
                x.push_str("<item><gatewayId>");
                esc(x, g);
                x.push_str("</gatewayId></item>");
            }
            x.push_str("</propagatingVgwSet>");
        }
        write_tags(x, &t.tags);
        x.push_str("</item>");
    }

    fn write_route(&self, x: &mut String, r: &Route) {
        let (field, dest) = match &r.dest {
            Dest::V4(d) => ("destinationCidrBlock", d),
            Dest::V6(d) => ("destinationIpv6CidrBlock", d),
            Dest::PrefixList(d) => ("destinationPrefixListId", d),
        };
        let _ = write!(x, "<item><{field}>");
        esc(x, dest);
        let _ = write!(x, "</{field}>");
        let (_, _, active) = effective(&r.target, &self.enis);
        match &r.target {
            Target::Gateway(g) => {
                let field = gateway_field(g);
                let _ = write!(x, "<{field}>");
                esc(x, g);
                let _ = write!(x, "</{field}>");
            }
            target @ Target::Interface { .. } => {
                let (eni, instance, _) = effective(target, &self.enis);
                if let Some(i) = instance {
                    x.push_str("<instanceId>");
                    esc(x, i);
                    let _ = write!(
                        x,
                        "</instanceId><instanceOwnerId>{OWNER_ID}</instanceOwnerId>"
                    );
                }
                if let Some(e) = eni {
                    x.push_str("<networkInterfaceId>");
                    esc(x, e);
                    x.push_str("</networkInterfaceId>");
                }
            }
        }
        let state = if active { "active" } else { "blackhole" };
        let _ = write!(
            x,
            "<state>{state}</state><origin>{}</origin></item>",
            r.origin.as_str()
        );
    }

    fn describe_network_interfaces(&self, p: &Params<'_>, rid: &str) -> Answer {
        let ids = p.list("NetworkInterfaceId");
        if let Some(id) = ids.iter().find(|id| !self.enis.contains_key(**id)) {
            return Err(eni_not_found(id));
        }
        let filters = p.filters(&ENI_FILTERS)?;
        let max = p.max_results(5, 1000)?;
        if max.is_some() && !ids.is_empty() {
            return Err(api_error(
                "InvalidParameterCombination",
                "The parameter NetworkInterfaceIds cannot be used with the parameter \
                 MaxResults"
                    .into(),
            ));
        }
        let after = p.after()?;
        let range = match after {
            Some(a) => self
                .enis
                .range::<str, _>((Bound::Excluded(a), Bound::Unbounded)),
            None => self.enis.range::<str, _>(..),
        };
        let mut x = open_doc("DescribeNetworkInterfacesResponse", rid);
        let mut count = 0;
        let mut last = "";
        let mut next = None;
        for (id, e) in range {
            if (!ids.is_empty() && !ids.contains(&id.as_str()))
                || !filters.iter().all(|f| eni_matches(id, e, f))
            {
                continue;
            }
            if max == Some(count) {
                next = Some(last);
                break;
            }
            if count == 0 {
                x.push_str("<networkInterfaceSet>");
            }
            write_eni(&mut x, id, e);
            count += 1;
            last = id;
        }
        x.push_str(if count == 0 {
            "<networkInterfaceSet/>"
        } else {
            "</networkInterfaceSet>"
        });
        close_doc(&mut x, "DescribeNetworkInterfacesResponse", next);
        Ok(x)
    }

    fn mutate(&mut self, action: &str, p: &Params<'_>, rid: &str) -> Answer {
        let table_id = p
            .get("RouteTableId")
            .ok_or_else(|| missing("routeTableId"))?;
        let dest = p.destination()?;
        let target = match action {
            "DeleteRoute" => None,
            _ => Some(p.target()?),
        };
        if p.dry_run() {
            return Err(ApiError {
                status: 412,
                code: "DryRunOperation",
                message: "Request would have succeeded, but DryRun flag is set.".into(),
            });
        }
        let table = self
            .tables
            .get_mut(table_id)
            .ok_or_else(|| table_not_found(table_id))?;
        let target = match target {
            None => None,
            Some((param, value)) => Some(resolve_target(&self.enis, &table.vpc, param, value)?),
        };
        let dest_text = dest.text().to_string();
        let existing = table.routes.iter().position(|r| r.dest == dest);
        let not_found = || {
            api_error(
                "InvalidRoute.NotFound",
                format!(
                    "There is no route defined for '{dest_text}' in the route table. \
                     Use a valid route table ID and destination CIDR block."
                ),
            )
        };
        let is_local = |i: usize| matches!(table.routes[i].origin, Origin::CreateRouteTable);
        match (action, existing, target) {
            ("CreateRoute", Some(_), _) => {
                return Err(api_error(
                    "RouteAlreadyExists",
                    format!("The route identified by {dest_text} already exists."),
                ))
            }
            ("CreateRoute", None, Some(target)) => table.routes.push(Route {
                dest,
                target,
                origin: Origin::CreateRoute,
            }),
            ("ReplaceRoute", Some(i), Some(target)) => {
                if is_local(i) && !matches!(&target, Target::Gateway(g) if g == "local") {
                    return Err(invalid_value(format!(
                        "cannot replace local route {dest_text} in route table {table_id}"
                    )));
                }
                let r = &mut table.routes[i];
                r.target = target;
                if !matches!(r.origin, Origin::CreateRouteTable) {
                    r.origin = Origin::CreateRoute;
                }
            }
            ("DeleteRoute", Some(i), None) => {
                if is_local(i) {
                    return Err(invalid_value(format!(
                        "cannot remove local route {dest_text} in route table {table_id}"
                    )));
                }
                table.routes.remove(i);
            }
            _ => return Err(not_found()),
        }
        let name = format!("{action}Response");
        let mut x = open_doc(&name, rid);
        x.push_str("<return>true</return>");
        close_doc(&mut x, &name, None);
        Ok(x)
    }
}

impl State {
    /// ModifyNetworkInterfaceAttribute, for the one attribute vpc-router
    /// sets: `SourceDestCheck.Value`. EC2 takes one attribute per call.
    fn modify_eni(&mut self, p: &Params<'_>, rid: &str) -> Answer {
        let id = p
            .get("NetworkInterfaceId")
            .ok_or_else(|| missing("networkInterfaceId"))?;
        let value = match p.get("SourceDestCheck.Value") {
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(invalid_value(format!(
                    "Invalid value '{v}' for boolean parameter SourceDestCheck.Value"
                )))
            }
            None => {
                return Err(missing("sourceDestCheck"));
            }
        };
        if p.dry_run() {
            return Err(ApiError {
                status: 412,
                code: "DryRunOperation",
                message: "Request would have succeeded, but DryRun flag is set.".into(),
            });
        }
        let eni = self.enis.get_mut(id).ok_or_else(|| eni_not_found(id))?;
        eni.source_dest_check = value;
        let name = "ModifyNetworkInterfaceAttributeResponse";
        let mut x = open_doc(name, rid);
        x.push_str("<return>true</return>");
        close_doc(&mut x, name, None);
        Ok(x)
    }
}

/// The target of a CreateRoute/ReplaceRoute in a table of `vpc`, checked as
/// EC2 checks it: the interface or instance must exist in the same VPC.
fn resolve_target(
    enis: &BTreeMap<String, Eni>,
    vpc: &str,
    param: &str,
    value: &str,
) -> Result<Target, ApiError> {
    let different = |what: &str| {
        invalid_value(format!(
            "Route table and {what} {value} belong to different networks"
        ))
    };
    match param {
        "NetworkInterfaceId" => {
            let eni = enis.get(value).ok_or_else(|| eni_not_found(value))?;
            if eni.vpc != vpc {
                return Err(different("network interface"));
            }
            Ok(Target::Interface {
                eni: Some(value.to_string()),
                instance: eni.instance.clone(),
            })
        }
        "InstanceId" => {
            let attached: Vec<(&String, &Eni)> = enis
                .iter()
                .filter(|(_, e)| e.instance.as_deref() == Some(value))
                .collect();
            match attached.as_slice() {
                [] => Err(api_error(
                    "InvalidInstanceID.NotFound",
                    format!("The instance ID '{value}' does not exist"),
                )),
                [(id, e)] if e.vpc == vpc => Ok(Target::Interface {
                    eni: Some(id.to_string()),
                    instance: Some(value.to_string()),
                }),
                [_] => Err(different("instance")),
                _ => Err(api_error(
                    "InvalidInstanceID",
                    format!(
                        "There are multiple interfaces attached to instance '{value}'. \
                         Please specify an interface ID for the operation instead."
                    ),
                )),
            }
        }
        _ => Ok(Target::Gateway(value.to_string())),
    }
}

fn eni_matches(id: &str, e: &Eni, f: &Filter) -> bool {
    match f.name.as_str() {
        "vpc-id" => f.any(&e.vpc),
        "network-interface-id" => f.any(id),
        "addresses.private-ip-address" | "private-ip-address" => e.v4.iter().any(|ip| f.any_ip(ip)),
        "ipv6-addresses.ipv6-address" => e.v6.iter().any(|ip| f.any_ip(ip)),
        "attachment.instance-id" => e.instance.as_deref().is_some_and(|i| f.any(i)),
        "status" => f.any(eni_status(e)),
        "source-dest-check" => f.any(if e.source_dest_check { "true" } else { "false" }),
        "owner-id" => f.any(OWNER_ID),
        // tag:KEY: interfaces have no tags here.
        _ => false,
    }
}

fn eni_status(e: &Eni) -> &'static str {
    if e.instance.is_some() {
        "in-use"
    } else {
        "available"
    }
}

fn write_eni(x: &mut String, id: &str, e: &Eni) {
    let n = e.attach_seq;
    x.push_str("<item><networkInterfaceId>");
    esc(x, id);
    x.push_str("</networkInterfaceId><vpcId>");
    esc(x, &e.vpc);
    let _ = write!(
        x,
        "</vpcId><availabilityZone>us-east-1a</availabilityZone><description/>\
         <ownerId>{OWNER_ID}</ownerId><requesterManaged>false</requesterManaged>\
         <status>{}</status><macAddress>0e:5e:{:02x}:{:02x}:{:02x}:{:02x}</macAddress>",
        eni_status(e),
        (n >> 24) & 0xff,
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    );
    if let Some(primary) = e.v4.first() {
        x.push_str("<privateIpAddress>");
        esc(x, primary);
        x.push_str("</privateIpAddress><privateDnsName>");
        dns_name(x, primary);
        x.push_str("</privateDnsName>");
    }
    let _ = write!(
        x,
        "<sourceDestCheck>{}</sourceDestCheck><groupSet/>",
        e.source_dest_check
    );
    if let Some(instance) = &e.instance {
        let _ = write!(
            x,
            "<attachment><attachmentId>eni-attach-{n:017x}</attachmentId><instanceId>"
        );
        esc(x, instance);
        let _ = write!(
            x,
            "</instanceId><instanceOwnerId>{OWNER_ID}</instanceOwnerId>\
             <deviceIndex>0</deviceIndex><networkCardIndex>0</networkCardIndex>\
             <status>attached</status><attachTime>2024-05-14T09:12:44.000Z</attachTime>\
             <deleteOnTermination>true</deleteOnTermination></attachment>"
        );
    }
    x.push_str("<tagSet/>");
    if e.v4.is_empty() {
        x.push_str("<privateIpAddressesSet/>");
    } else {
        x.push_str("<privateIpAddressesSet>");
        for (i, ip) in e.v4.iter().enumerate() {
            x.push_str("<item><privateIpAddress>");
            esc(x, ip);
            x.push_str("</privateIpAddress><privateDnsName>");
            dns_name(x, ip);
            let _ = write!(x, "</privateDnsName><primary>{}</primary></item>", i == 0);
        }
        x.push_str("</privateIpAddressesSet>");
    }
    if e.v6.is_empty() {
        x.push_str("<ipv6AddressesSet/>");
    } else {
        x.push_str("<ipv6AddressesSet>");
        for ip in &e.v6 {
            x.push_str("<item><ipv6Address>");
            esc(x, ip);
            x.push_str("</ipv6Address><isPrimaryIpv6>false</isPrimaryIpv6></item>");
        }
        x.push_str("</ipv6AddressesSet>");
    }
    x.push_str("<interfaceType>interface</interfaceType></item>");
}

/// `ip-10-33-20-142.ec2.internal`
fn dns_name(x: &mut String, ip: &str) {
    x.push_str("ip-");
    esc(x, &ip.replace('.', "-"));
    x.push_str(".ec2.internal");
}

fn write_tags(x: &mut String, tags: &[(String, String)]) {
    if tags.is_empty() {
        x.push_str("<tagSet/>");
        return;
    }
    x.push_str("<tagSet>");
    for (k, v) in tags {
        x.push_str("<item><key>");
        esc(x, k);
        x.push_str("</key><value>");
        esc(x, v);
        x.push_str("</value></item>");
    }
    x.push_str("</tagSet>");
}

fn open_doc(root: &str, rid: &str) -> String {
    let mut x = String::with_capacity(4096);
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"{NAMESPACE}\">\
         <requestId>{rid}</requestId>"
    );
    x
}

fn close_doc(x: &mut String, root: &str, next_token: Option<&str>) {
    if let Some(t) = next_token {
        let _ = write!(x, "<nextToken>{TOKEN_PREFIX}");
        esc(x, t);
        x.push_str("</nextToken>");
    }
    let _ = write!(x, "</{root}>");
}

/// EC2's error envelope, on one line, without a namespace.
fn error_xml(code: &str, message: &str, rid: &str) -> String {
    let mut x =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>");
    esc(&mut x, code);
    x.push_str("</Code><Message>");
    esc(&mut x, message);
    let _ = write!(
        x,
        "</Message></Error></Errors><RequestID>{rid}</RequestID></Response>"
    );
    x
}

/// Appends `s` as XML text.
fn esc(x: &mut String, s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
        x.push_str(&rest[..i]);
        x.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&apos;",
        });
        rest = &rest[i + 1..];
    }
    x.push_str(rest);
}

/// A request ID in EC2's UUID form, unique per request of this simulator.
fn request_id(port: u16, n: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        0xec25_0000u32 | u32::from(port >> 4),
        port,
        (n >> 48) & 0xfff,
        (n >> 36) & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

// ---------------------------------------------------------------------------
// Requests

/// Waits until the current wave of `hold_waves` (if any) has filled.
fn hold(shared: &Shared, mut st: MutexGuard<'_, State>) {
    let Some(&size) = st.waves.front() else {
        return;
    };
    st.wave_arrived += 1;
    let mine = st.wave;
    let next_wave = |st: &mut State| {
        st.waves.pop_front();
        st.wave_arrived = 0;
        st.wave += 1;
        shared.wave_filled.notify_all();
    };
    if st.wave_arrived == size {
        next_wave(&mut st);
    }
    while st.wave == mine {
        let (back, wait) = shared
            .wave_filled
            .wait_timeout(st, Duration::from_secs(5))
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        st = back;
        if wait.timed_out() && st.wave == mine {
            st.broken_waves += 1;
            next_wave(&mut st);
        }
    }
}

/// Records the request, waits the configured delay, then answers it.
fn handle(shared: &Shared, req: &Request, port: u16) -> (u16, String) {
    let mut params = http::decode_form(req.query());
    if req.method == "POST" {
        params.extend(http::decode_form(&req.text()));
    }
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    params.retain(|(k, _)| k != "Action" && k != "Version");

    let (seq, delay) = {
        let mut st = shared.state();
        let seq = st.calls_base + st.calls.len();
        st.calls.push(SimCall {
            action: action.clone(),
            params: params.clone(),
            status: 0,
        });
        st.in_flight += 1;
        st.max_in_flight = st.max_in_flight.max(st.in_flight);
        let delay = st.delay;
        hold(shared, st);
        (seq, delay)
    };
    if !delay.is_zero() {
        thread::sleep(delay);
    }
    let mut st = shared.state();
    st.in_flight -= 1;
    st.requests += 1;
    let rid = request_id(port, st.requests);
    let (status, body) = st.answer(&action, &params, &rid);
    if let Some(i) = seq.checked_sub(st.calls_base) {
        if let Some(call) = st.calls.get_mut(i) {
            call.status = status;
        }
    }
    (status, body)
}
