//! The EC2 API as the rest of vpc-router sees it: a small trait, the domain
//! types it returns, and its error.
//!
//! `client` implements the trait over the Query API (SigV4, XML, retries
//! through [`crate::retry`]); tests implement it in memory. Only this
//! module and `aws` talk to AWS.

pub mod client;
#[cfg(test)]
pub mod fake;
pub mod fence;
// SigV4 signing lives in `aws` (STS AssumeRole signs too); EC2 keeps its path.
pub use crate::aws::sign;
pub mod xml;

use std::fmt;
use std::net::IpAddr;

use crate::aws::CredentialsError;
use crate::types::{Cidr, EniId, InstanceId, RouteTableId, VpcId};

/// The EC2 calls vpc-router makes. Every mutating call takes `dry_run`: with
/// it, EC2 only checks permissions and answers `DryRunOperation`.
pub trait Ec2 {
    /// All route tables of `vpc`, following pagination; only `ids` when it is
    /// not empty.
    fn describe_route_tables(
        &self,
        vpc: &VpcId,
        ids: &[RouteTableId],
    ) -> Result<Vec<RouteTable>, Ec2Error>;

    /// The network interfaces of `vpc` that hold any of `ips` (primary,
    /// secondary or IPv6 addresses).
    fn describe_network_interfaces(
        &self,
        vpc: &VpcId,
        ips: &[IpAddr],
    ) -> Result<Vec<NetworkInterface>, Ec2Error>;

    fn create_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error>;

    fn replace_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error>;

    fn delete_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        dry_run: bool,
    ) -> Result<(), Ec2Error>;

    /// Turns source/destination checking off on `eni`, so that the router
    /// forwards packets not addressed to itself
    /// (ModifyNetworkInterfaceAttribute).
    fn disable_source_dest_check(&self, eni: &EniId, dry_run: bool) -> Result<(), Ec2Error>;
}

/// A shared client is a client: the daemon's threads share one, and
/// wrappers (the fence) wrap a shared one.
impl<T: Ec2 + ?Sized> Ec2 for std::sync::Arc<T> {
    fn describe_route_tables(
        &self,
        vpc: &VpcId,
        ids: &[RouteTableId],
    ) -> Result<Vec<RouteTable>, Ec2Error> {
        (**self).describe_route_tables(vpc, ids)
    }

    fn describe_network_interfaces(
        &self,
        vpc: &VpcId,
        ips: &[IpAddr],
    ) -> Result<Vec<NetworkInterface>, Ec2Error> {
        (**self).describe_network_interfaces(vpc, ips)
    }

    fn create_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        (**self).create_route(table, dest, eni, dry_run)
    }

    fn replace_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        eni: &EniId,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        (**self).replace_route(table, dest, eni, dry_run)
    }

    fn delete_route(
        &self,
        table: &RouteTableId,
        dest: &Cidr,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        (**self).delete_route(table, dest, dry_run)
    }

    fn disable_source_dest_check(&self, eni: &EniId, dry_run: bool) -> Result<(), Ec2Error> {
        (**self).disable_source_dest_check(eni, dry_run)
    }
}

/// A route table as DescribeRouteTables reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    pub id: RouteTableId,
    pub vpc_id: Option<VpcId>,
    /// Whether this is the VPC's main route table.
    pub main: bool,
    pub routes: Vec<Route>,
    pub tags: Vec<(String, String)>,
}

impl RouteTable {
    /// The route for exactly this destination, if the table has one.
    pub fn route_for(&self, cidr: &Cidr) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.destination == Destination::Cidr(*cidr))
    }
}

/// One route of a table. An observation holds every route of every table
/// (the daemon two observations at its peak), so the fields are kept
/// compact: thin IDs, boxed texts (80 bytes, checked by a test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination: Destination,
    pub target: RouteTarget,
    pub state: RouteState,
    pub origin: RouteOrigin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Cidr(Cidr),
    /// A managed prefix list (`pl-...`) rather than a CIDR.
    PrefixList(Box<str>),
    /// EC2 sent a route with no destination we understand; kept so that the
    /// table is reported faithfully, never matched.
    Unknown,
}

/// Where a route sends its packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// The VPC's own `local` route.
    Local,
    /// An instance or network interface. Routes to an instance carry the
    /// instance's primary ENI as well; either may be missing in a blackhole.
    Interface {
        eni: Option<EniId>,
        instance: Option<InstanceId>,
    },
    /// Any kind of gateway or attachment: igw-, nat-, vgw-, tgw-, pcx-,
    /// vpce-, eigw-, cagw-, lgw-, or a core network or ODB network ARN.
    /// A route that names one of these and an interface too (EC2 reports
    /// the interface of some gateways) is a gateway route.
    Gateway(Box<str>),
    /// No target we recognise.
    Unknown,
}

impl RouteTarget {
    pub fn eni(&self) -> Option<&EniId> {
        match self {
            RouteTarget::Interface { eni, .. } => eni.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteTarget::Local => f.write_str("local"),
            RouteTarget::Interface { eni, instance } => match (eni, instance) {
                (Some(e), Some(i)) => write!(f, "{e} ({i})"),
                (Some(e), None) => write!(f, "{e}"),
                (None, Some(i)) => write!(f, "{i}"),
                (None, None) => f.write_str("(no target)"),
            },
            RouteTarget::Gateway(id) => f.write_str(id),
            RouteTarget::Unknown => f.write_str("(unknown target)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteState {
    Active,
    /// The target is gone (instance stopped or terminated, ENI detached).
    Blackhole,
    /// VPC Route Server installed the route but filtered it out: it is in
    /// the table and carries no packets.
    Filtered,
    Other(ThinStr),
}

impl fmt::Display for RouteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteState::Active => f.write_str("active"),
            RouteState::Blackhole => f.write_str("blackhole"),
            RouteState::Filtered => f.write_str("filtered"),
            RouteState::Other(s) => f.write_str(s),
        }
    }
}

/// How the route came to be. Only a `CreateRoute` route can be vpc-router's:
/// the others belong to the table itself, to a virtual private gateway's
/// propagation, or to VPC Route Server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOrigin {
    CreateRouteTable,
    CreateRoute,
    EnableVgwRoutePropagation,
    /// Installed by VPC Route Server from what its BGP peers advertise.
    Advertisement,
    /// An origin EC2 did not document when this was written (or none).
    Other(ThinStr),
}

impl fmt::Display for RouteOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouteOrigin::CreateRouteTable => "CreateRouteTable",
            RouteOrigin::CreateRoute => "CreateRoute",
            RouteOrigin::EnableVgwRoutePropagation => "EnableVgwRoutePropagation",
            RouteOrigin::Advertisement => "Advertisement",
            RouteOrigin::Other(o) => o,
        })
    }
}

/// A text that is rarely there (a route state or origin EC2 did not
/// document), behind one thin pointer: the enum that holds it takes 16
/// bytes, where a `String` makes it 24, in every route.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ThinStr(Box<Box<str>>);

/// As the text alone, as the `String` it replaces printed.
impl fmt::Debug for ThinStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl std::ops::Deref for ThinStr {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ThinStr {
    fn from(s: &str) -> ThinStr {
        ThinStr(Box::new(s.into()))
    }
}

impl fmt::Display for ThinStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

/// A network interface as DescribeNetworkInterfaces reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInterface {
    pub id: EniId,
    /// The instance it is attached to, if any.
    pub instance: Option<InstanceId>,
    /// Every address the interface holds: primary, secondary, IPv6.
    pub addresses: Vec<IpAddr>,
    /// `None` when EC2 did not say.
    pub source_dest_check: Option<bool>,
    pub status: String,
}

impl NetworkInterface {
    /// Whether the interface is attached, so that routes to it carry
    /// packets. EC2 keeps routes to a detached interface in `blackhole`,
    /// and pointing them at it again changes nothing.
    pub fn attached(&self) -> bool {
        self.instance.is_some() || self.status == "in-use"
    }
}

/// The error of an EC2 call, with what the user needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ec2Error {
    /// EC2 answered with an error document.
    Api {
        action: &'static str,
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
        /// An earlier attempt of this call failed in a way that may have
        /// reached EC2 (a 5xx or a dropped connection), so a mutating call may
        /// already have taken effect. The route logic checks before it trusts
        /// an error such as `RouteAlreadyExists`.
        maybe_applied: bool,
    },
    /// The request did not get an answer: DNS, connect, TLS, timeout.
    Transport {
        action: &'static str,
        endpoint: String,
        detail: String,
        timed_out: bool,
        attempts: u32,
    },
    /// EC2 answered, but not with a document we could read.
    Response {
        action: &'static str,
        status: u16,
        detail: String,
    },
    /// No credentials to sign with.
    Credentials(CredentialsError),
    /// Not sent: the fence refused it (this daemon may not change routes
    /// now), with the fence's reason.
    Fenced {
        action: &'static str,
        reason: String,
    },
}

impl Ec2Error {
    /// EC2's error code, when EC2 answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Ec2Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the cause is the network rather than an answer from AWS.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Ec2Error::Transport { .. } | Ec2Error::Credentials(CredentialsError::Transport { .. })
        )
    }
}

impl fmt::Display for Ec2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ec2Error::Api {
                action,
                status,
                code,
                message,
                request_id,
                ..
            } => {
                write!(f, "EC2 {action} failed: {code}: {message} (HTTP {status}")?;
                if let Some(id) = request_id {
                    write!(f, ", request ID {id}")?;
                }
                f.write_str(")")?;
                if let Some(hint) = hint_for(code) {
                    write!(f, "; {hint}")?;
                }
                Ok(())
            }
            Ec2Error::Transport {
                action,
                endpoint,
                detail,
                timed_out,
                attempts,
            } => {
                let what = if *timed_out {
                    "timed out"
                } else {
                    "could not be sent"
                };
                write!(
                    f,
                    "EC2 {action} to {endpoint} {what} after {attempts} attempt(s): {detail}; \
                     check the network path to the endpoint (or --endpoint-url), \
                     and --connect-timeout/--timeout"
                )
            }
            Ec2Error::Response {
                action,
                status,
                detail,
            } => write!(
                f,
                "EC2 {action} answered HTTP {status} with a body that is not an EC2 response: \
                 {detail}; is the endpoint an EC2 endpoint?"
            ),
            Ec2Error::Credentials(e) => e.fmt(f),
            Ec2Error::Fenced { action, reason } => {
                write!(f, "EC2 {action} was not sent: {reason}")
            }
        }
    }
}

impl std::error::Error for Ec2Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Ec2Error::Credentials(e) => Some(e),
            _ => None,
        }
    }
}

/// What the user can do about the EC2 error codes they are most likely to
/// meet. EC2's own message says what happened; this says what would fix it.
fn hint_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "UnauthorizedOperation" => {
            "the credentials lack an IAM permission vpc-router needs \
             (see README: IAM permissions)"
        }
        "AuthFailure" | "InvalidClientTokenId" | "SignatureDoesNotMatch" => {
            "check the access key, secret key and session token, and the machine's clock"
        }
        "ExpiredToken" | "RequestExpired" => {
            "the credentials or the request expired; refresh the credentials and check the clock"
        }
        "InvalidVpcID.NotFound" => "check --vpc and --region",
        "InvalidRouteTableID.NotFound" => "check --route-table, --vpc and --region",
        "RouteLimitExceeded" => "the route table is full; remove routes or raise the quota",
        "RequestLimitExceeded" | "Throttling" => {
            "EC2 throttled the calls; raise AWS_MAX_ATTEMPTS or try again later"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every observed route is held once or twice (the daemon's last-seen
    // tables and a pass's new ones): 200,000 routes at 200 tables x 500.
    // A field that grows a route back (a fat `Arc<str>` ID, a `String` in
    // a destination, state or origin) fails here rather than in the
    // daemon's peak memory.
    #[test]
    fn a_route_stays_compact() {
        use std::mem::size_of;
        assert!(size_of::<Option<EniId>>() <= 8);
        assert!(size_of::<RouteTarget>() <= 24);
        assert!(size_of::<Destination>() <= 24);
        assert!(size_of::<RouteState>() <= 16);
        assert!(size_of::<RouteOrigin>() <= 16);
        assert!(size_of::<Route>() <= 80, "{}", size_of::<Route>());
    }

    #[test]
    fn a_thin_str_reads_as_its_text() {
        let t = ThinStr::from("pending");
        assert_eq!(&*t, "pending");
        assert_eq!(t.to_string(), "pending");
        assert_eq!(format!("{t:?}"), "\"pending\"");
        assert_eq!(&*ThinStr::default(), "");
        assert_eq!(RouteState::Other("pending".into()).to_string(), "pending");
        assert_eq!(RouteOrigin::Other("New".into()).to_string(), "New");
    }
}
