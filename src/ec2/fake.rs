//! An in-memory EC2 for tests: holds route tables and interfaces, applies
//! mutating calls to them as EC2 would, records every call, and fails the
//! calls it is told to fail.

use std::cell::RefCell;
use std::net::IpAddr;

use super::{
    Destination, Ec2, Ec2Error, NetworkInterface, Route, RouteOrigin, RouteState, RouteTable,
    RouteTarget,
};
use crate::types::{Cidr, EniId, RouteTableId, VpcId};

/// How an injected failure behaves.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Fail with this EC2 error code; the call has no effect.
    Api(&'static str),
    /// Apply the call, then answer with this error code as a retried call
    /// would (the first attempt's answer was lost): `maybe_applied` is set.
    LostAnswer(&'static str),
    /// Fail as if the network were down.
    Transport,
    /// Ignore `DryRun` and apply the call, as some emulators do.
    IgnoreDryRun,
}

/// A change made "by someone else" between our look and our call.
pub type Interleave = Box<dyn FnOnce(&mut Vec<RouteTable>) + Send>;

#[derive(Default)]
pub struct FakeEc2 {
    pub vpc: Option<VpcId>,
    pub tables: RefCell<Vec<RouteTable>>,
    pub enis: RefCell<Vec<NetworkInterface>>,
    /// Every call, as `Action rtb-... cidr [eni] [dry]`.
    pub calls: RefCell<Vec<String>>,
    /// Faults keyed by a prefix of the call line; each is used once.
    pub faults: RefCell<Vec<(String, Fault)>>,
    /// A change to the tables made "by someone else" just before the next
    /// mutating call, to test races.
    pub interleave: RefCell<Option<Interleave>>,
}

impl FakeEc2 {
    pub fn new(vpc: &str, tables: Vec<RouteTable>, enis: Vec<NetworkInterface>) -> FakeEc2 {
        FakeEc2 {
            vpc: Some(vpc.parse().unwrap()),
            tables: RefCell::new(tables),
            enis: RefCell::new(enis),
            ..Default::default()
        }
    }

    /// `tables` tables (the first one main, each with only its local
    /// route) in vpc-350d6a51, and two routers: A (10.33.20.142) and B
    /// (10.33.30.22).
    pub fn two_routers(tables: usize) -> FakeEc2 {
        FakeEc2::new(
            "vpc-350d6a51",
            (0..tables)
                .map(|i| {
                    table(
                        &format!("rtb-{i:08x}"),
                        i == 0,
                        "10.33.0.0/16 local active table",
                    )
                })
                .collect(),
            vec![
                eni(
                    "eni-0aaaaaaaaaaaaaaa1",
                    "i-0aaaaaaaaaaaaaaa1",
                    &["10.33.20.142"],
                    false,
                ),
                eni(
                    "eni-0bbbbbbbbbbbbbbb2",
                    "i-0bbbbbbbbbbbbbbb2",
                    &["10.33.30.22"],
                    false,
                ),
            ],
        )
    }

    pub fn fail(&self, call_prefix: &str, fault: Fault) {
        self.faults
            .borrow_mut()
            .push((call_prefix.to_string(), fault));
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    /// The mutating calls only.
    pub fn mutations(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| !c.starts_with("Describe"))
            .collect()
    }

    pub fn route(&self, table: &str, cidr: &str) -> Option<Route> {
        let cidr: Cidr = cidr.parse().unwrap();
        self.tables
            .borrow()
            .iter()
            .find(|t| t.id.as_str() == table)
            .and_then(|t| t.route_for(&cidr).cloned())
    }

    fn record(&self, line: String) -> Option<Fault> {
        self.calls.borrow_mut().push(line.clone());
        let mut faults = self.faults.borrow_mut();
        let i = faults
            .iter()
            .position(|(p, _)| line.starts_with(p.as_str()))?;
        Some(faults.remove(i).1)
    }

    fn err(action: &'static str, code: &str, maybe_applied: bool) -> Ec2Error {
        Ec2Error::Api {
            action,
            status: 400,
            code: code.to_string(),
            message: format!("fake {code}"),
            request_id: Some("fake-request".into()),
            maybe_applied,
        }
    }

    fn transport(action: &'static str) -> Ec2Error {
        Ec2Error::Transport {
            action,
            endpoint: "fake".into(),
            detail: "connection refused".into(),
            timed_out: false,
            attempts: 5,
        }
    }

    /// Runs a mutating call against the tables, honouring faults and dry runs.
    fn mutate(
        &self,
        action: &'static str,
        line: String,
        dry_run: bool,
        change: impl FnOnce(&mut RouteTable) -> Result<(), &'static str>,
        table: &RouteTableId,
    ) -> Result<(), Ec2Error> {
        let fault = self.record(line);
        if let Some(f) = self.interleave.borrow_mut().take() {
            f(&mut self.tables.borrow_mut());
        }
        let mut lost = None;
        let mut dry_run = dry_run;
        match fault {
            Some(Fault::IgnoreDryRun) => dry_run = false,
            Some(Fault::Api(code)) => return Err(Self::err(action, code, false)),
            Some(Fault::Transport) => return Err(Self::transport(action)),
            Some(Fault::LostAnswer(code)) => lost = Some(code),
            None => {}
        }
        let mut tables = self.tables.borrow_mut();
        let Some(t) = tables.iter_mut().find(|t| &t.id == table) else {
            return Err(Self::err(action, "InvalidRouteTableID.NotFound", false));
        };
        if dry_run {
            let mut copy = t.clone();
            return match change(&mut copy) {
                Ok(()) => Err(Self::err(action, "DryRunOperation", false)),
                Err(code) => Err(Self::err(action, code, false)),
            };
        }
        let result = change(t).map_err(|code| Self::err(action, code, false));
        match lost {
            Some(code) => Err(Self::err(action, code, true)),
            None => result,
        }
    }
}

fn interface_route(cidr: &Cidr, eni: &EniId) -> Route {
    Route {
        destination: Destination::Cidr(*cidr),
        target: RouteTarget::Interface {
            eni: Some(eni.clone()),
            instance: None,
        },
        state: RouteState::Active,
        origin: RouteOrigin::CreateRoute,
    }
}

fn dry(dry_run: bool) -> &'static str {
    if dry_run {
        " dry"
    } else {
        ""
    }
}

impl Ec2 for FakeEc2 {
    fn describe_route_tables(
        &self,
        vpc: &VpcId,
        ids: &[RouteTableId],
    ) -> Result<Vec<RouteTable>, Ec2Error> {
        let ids_s: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
        match self.record(format!("DescribeRouteTables {vpc} {}", ids_s.join(","))) {
            Some(Fault::Transport) => return Err(Self::transport("DescribeRouteTables")),
            Some(Fault::Api(c) | Fault::LostAnswer(c)) => {
                return Err(Self::err("DescribeRouteTables", c, false))
            }
            Some(Fault::IgnoreDryRun) | None => {}
        }
        if self.vpc.as_ref() != Some(vpc) {
            return Ok(vec![]);
        }
        Ok(self
            .tables
            .borrow()
            .iter()
            .filter(|t| ids.is_empty() || ids.contains(&t.id))
            .cloned()
            .collect())
    }

    fn describe_network_interfaces(
        &self,
        vpc: &VpcId,
        ips: &[IpAddr],
    ) -> Result<Vec<NetworkInterface>, Ec2Error> {
        let ips_s: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
        if let Some(f) = self.record(format!(
            "DescribeNetworkInterfaces {vpc} {}",
            ips_s.join(",")
        )) {
            return Err(match f {
                Fault::Transport | Fault::IgnoreDryRun => {
                    Self::transport("DescribeNetworkInterfaces")
                }
                Fault::Api(c) | Fault::LostAnswer(c) => {
                    Self::err("DescribeNetworkInterfaces", c, false)
                }
            });
        }
        if self.vpc.as_ref() != Some(vpc) {
            return Ok(vec![]);
        }
        Ok(self
            .enis
            .borrow()
            .iter()
            .filter(|e| e.addresses.iter().any(|a| ips.contains(a)))
            .cloned()
            .collect())
    }

    fn create_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let line = format!("CreateRoute {table} {dest} {eni}{}", dry(dry_run));
        self.mutate(
            "CreateRoute",
            line,
            dry_run,
            |t| {
                if t.route_for(dest).is_some() {
                    return Err("RouteAlreadyExists");
                }
                t.routes.push(interface_route(dest, eni));
                Ok(())
            },
            table,
        )
    }

    fn replace_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let line = format!("ReplaceRoute {table} {dest} {eni}{}", dry(dry_run));
        self.mutate(
            "ReplaceRoute",
            line,
            dry_run,
            |t| {
                let Some(r) = t
                    .routes
                    .iter_mut()
                    .find(|r| r.destination == Destination::Cidr(*dest))
                else {
                    return Err("InvalidRoute.NotFound");
                };
                *r = interface_route(dest, eni);
                Ok(())
            },
            table,
        )
    }

    fn delete_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let line = format!("DeleteRoute {table} {dest}{}", dry(dry_run));
        self.mutate(
            "DeleteRoute",
            line,
            dry_run,
            |t| {
                let before = t.routes.len();
                t.routes
                    .retain(|r| r.destination != Destination::Cidr(*dest));
                if t.routes.len() == before {
                    return Err("InvalidRoute.NotFound");
                }
                Ok(())
            },
            table,
        )
    }

    fn disable_source_dest_check(&self, eni: &EniId, dry_run: bool) -> Result<(), Ec2Error> {
        const ACTION: &str = "ModifyNetworkInterfaceAttribute";
        let line = format!("{ACTION} {eni} SourceDestCheck=false{}", dry(dry_run));
        match self.record(line) {
            Some(Fault::Api(code)) => return Err(Self::err(ACTION, code, false)),
            Some(Fault::Transport) => return Err(Self::transport(ACTION)),
            _ => {}
        }
        let mut enis = self.enis.borrow_mut();
        let Some(e) = enis.iter_mut().find(|e| &e.id == eni) else {
            return Err(Self::err(
                ACTION,
                "InvalidNetworkInterfaceID.NotFound",
                false,
            ));
        };
        if dry_run {
            return Err(Self::err(ACTION, "DryRunOperation", false));
        }
        e.source_dest_check = Some(false);
        Ok(())
    }
}

/// Builds a table from compact lines, one route each:
/// `CIDR TARGET [STATE] [ORIGIN]`, where TARGET is `local`, `?` (unknown),
/// `eni-...`, `i-...`, `eni-...+i-...` or a gateway ID; STATE is `active`
/// (default), `blackhole` or `filtered`; ORIGIN is `static` (default),
/// `table`, `propagated`, `advertised` (VPC Route Server) or `other:NAME`.
pub fn table(id: &str, main: bool, lines: &str) -> RouteTable {
    let routes = lines
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let target = match f[1] {
                "local" => RouteTarget::Local,
                "?" => RouteTarget::Unknown,
                t if t.starts_with("eni-") || t.starts_with("i-") => {
                    let mut eni = None;
                    let mut instance = None;
                    for part in t.split('+') {
                        if part.starts_with("eni-") {
                            eni = Some(part.parse().unwrap());
                        } else {
                            instance = Some(part.parse().unwrap());
                        }
                    }
                    RouteTarget::Interface { eni, instance }
                }
                gw => RouteTarget::Gateway(gw.into()),
            };
            let state = match f.get(2) {
                Some(&"blackhole") => RouteState::Blackhole,
                Some(&"filtered") => RouteState::Filtered,
                _ => RouteState::Active,
            };
            let origin = match f.get(3) {
                Some(&"table") => RouteOrigin::CreateRouteTable,
                Some(&"propagated") => RouteOrigin::EnableVgwRoutePropagation,
                Some(&"advertised") => RouteOrigin::Advertisement,
                Some(o) if o.starts_with("other:") => RouteOrigin::Other(o[6..].into()),
                _ => RouteOrigin::CreateRoute,
            };
            Route {
                destination: Destination::Cidr(f[0].parse().unwrap()),
                target,
                state,
                origin,
            }
        })
        .collect();
    RouteTable {
        id: id.parse().unwrap(),
        vpc_id: None,
        main,
        routes,
        tags: vec![],
    }
}

/// An interface holding `ips`, attached to `instance`.
pub fn eni(id: &str, instance: &str, ips: &[&str], source_dest_check: bool) -> NetworkInterface {
    NetworkInterface {
        id: id.parse().unwrap(),
        instance: Some(instance.parse().unwrap()),
        addresses: ips.iter().map(|a| a.parse().unwrap()).collect(),
        source_dest_check: Some(source_dest_check),
        status: "in-use".into(),
    }
}

/// A fake shared between threads (the daemon's workers): each call locks
/// it, so calls are atomic but a sequence of calls can interleave with
/// another thread's, as with the real EC2.
impl Ec2 for std::sync::Mutex<FakeEc2> {
    fn describe_route_tables(
        &self,
        vpc: &VpcId,
        ids: &[RouteTableId],
    ) -> Result<Vec<RouteTable>, Ec2Error> {
        self.lock().unwrap().describe_route_tables(vpc, ids)
    }

    fn describe_network_interfaces(
        &self,
        vpc: &VpcId,
        ips: &[IpAddr],
    ) -> Result<Vec<NetworkInterface>, Ec2Error> {
        self.lock().unwrap().describe_network_interfaces(vpc, ips)
    }

    fn create_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.lock().unwrap().create_route(table, dest, eni, dry_run)
    }

    fn replace_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.lock()
            .unwrap()
            .replace_route(table, dest, eni, dry_run)
    }

    fn delete_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.lock().unwrap().delete_route(table, dest, dry_run)
    }

    fn disable_source_dest_check(&self, eni: &EniId, dry_run: bool) -> Result<(), Ec2Error> {
        self.lock().unwrap().disable_source_dest_check(eni, dry_run)
    }
}
