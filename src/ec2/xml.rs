//! Parses EC2 Query API responses (XML) into the domain types of `ec2`:
//! DescribeRouteTables, DescribeNetworkInterfaces and the `<return>` of the
//! route mutations. Documents are read as they arrive (from the connection,
//! through `xml-events`) straight into the domain types, with no element
//! tree in between (a page of 100 tables x 500 routes would be millions of
//! small strings) and never held whole. Fields are taken from an element's
//! direct children only, so a nested element of the same name (an
//! association's `routeTableId`) never stands in for a field. A streamed
//! document that is not the one expected says so as the reader found it
//! (what, and at which byte); one given whole as text is read again by
//! [`crate::query`], whose messages also name an error document.

use std::io;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use vpc_router_xml_events::Failure;

use crate::ec2::{
    Destination, NetworkInterface, Route, RouteOrigin, RouteState, RouteTable, RouteTarget,
};
use crate::query::{self, XmlError, MAX_DEPTH};
use crate::types::{Cidr, EniId, InstanceId, ParseError, RouteTableId, VpcId};

/// One page of a paginated Describe* answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `nextToken`: present when there are more pages.
    pub next_token: Option<String>,
    pub request_id: Option<String>,
}

/// `DescribeRouteTablesResponse`, from its text.
pub fn route_tables(xml: &str) -> Result<Page<RouteTable>, XmlError> {
    from_text(xml, &ROUTE_TABLES, route_table)
}

/// `DescribeRouteTablesResponse`, read as it arrives.
pub fn route_tables_from(source: &mut dyn io::Read) -> Result<Page<RouteTable>, ReadError> {
    from_stream(source, &ROUTE_TABLES, route_table)
}

/// `DescribeNetworkInterfacesResponse`, from its text.
pub fn network_interfaces(xml: &str) -> Result<Page<NetworkInterface>, XmlError> {
    from_text(xml, &INTERFACES, network_interface)
}

/// `DescribeNetworkInterfacesResponse`, read as it arrives.
pub fn network_interfaces_from(
    source: &mut dyn io::Read,
) -> Result<Page<NetworkInterface>, ReadError> {
    from_stream(source, &INTERFACES, network_interface)
}

/// A Describe* answer's root element and the set that holds its items.
struct Shape {
    root: &'static str,
    set: &'static str,
}

const ROUTE_TABLES: Shape = Shape {
    root: "DescribeRouteTablesResponse",
    set: "routeTableSet",
};
const INTERFACES: Shape = Shape {
    root: "DescribeNetworkInterfacesResponse",
    set: "networkInterfaceSet",
};

/// Why an answer read as it arrived could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// It is not the document expected, or a field in it is invalid.
    Xml(XmlError),
    /// Reading it failed (the connection, a size limit).
    Io(Arc<io::Error>),
}

/// A page from a whole document; a document that cannot be read is read
/// again by [`query::document`], whose messages say what was wrong and
/// where.
fn from_text<T>(
    xml: &str,
    shape: &Shape,
    item: fn(&mut Stream<'_>) -> Result<T, Fault>,
) -> Result<Page<T>, XmlError> {
    read_page(&mut xml.as_bytes(), shape, item).map_err(|fault| match fault {
        Fault::Field(e) => e,
        Fault::Document(_) => match query::document(xml, shape.root) {
            Err(e) => e,
            Ok(_) => XmlError(format!("<{}> could not be read", shape.root)),
        },
    })
}

/// A page from a document read as it arrives: it is never held whole, so
/// what is wrong with it is said as the reader found it.
fn from_stream<T>(
    source: &mut dyn io::Read,
    shape: &Shape,
    item: fn(&mut Stream<'_>) -> Result<T, Fault>,
) -> Result<Page<T>, ReadError> {
    read_page(source, shape, item).map_err(|fault| match fault {
        Fault::Field(e) => ReadError::Xml(e),
        Fault::Document(Failure::Io(e)) => ReadError::Io(e),
        Fault::Document(Failure::Malformed { at, why }) => {
            ReadError::Xml(query::malformed(at, &why))
        }
        Fault::Document(Failure::Root(found)) => {
            ReadError::Xml(query::not_the_document(shape.root, &found))
        }
    })
}

/// The `<return>true|false</return>` of CreateRoute, ReplaceRoute, DeleteRoute.
///
/// An answer document (`<...Response>`) without `<return>` counts as `true`:
/// it came with a 2xx status, which already says the call worked. EC2 always
/// sends the element, but emulators do not (moto 5.2 omits it for
/// ReplaceRoute and DeleteRoute). Only an explicit `false` is a refusal.
pub fn return_value(xml: &str) -> Result<bool, XmlError> {
    let root = query::parse(xml)?;
    if let Some(err) = query::error_in(&root) {
        return Err(XmlError(format!(
            "expected a response with <return>, got an error document: {}: {}",
            err.code, err.message
        )));
    }
    match root.text("return") {
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(XmlError(format!(
            "<{}> has <return>{v}</return>; expected true or false",
            root.name
        ))),
        None if root.name.ends_with("Response") => Ok(true),
        None => Err(XmlError(format!(
            "<{}> is not an answer document (no <return>)",
            root.name
        ))),
    }
}

/// Why a stream stopped: the document could not be read, or a field is
/// invalid.
enum Fault {
    Document(Failure),
    Field(XmlError),
}

impl From<XmlError> for Fault {
    fn from(e: XmlError) -> Fault {
        Fault::Field(e)
    }
}

impl From<Failure> for Fault {
    fn from(f: Failure) -> Fault {
        Fault::Document(f)
    }
}

/// The pull reader of `xml-events` (see there: [`Stream::child`] gives the
/// name of the next child, read then with one of `text`, `skip` or a loop
/// of `child`), with what reading routes keeps from one to the next.
struct Stream<'r> {
    xml: vpc_router_xml_events::Stream<'r>,
    /// The interface and instance IDs last read, for [`read_id`].
    ids: (Option<EniId>, Option<InstanceId>),
}

impl Stream<'_> {
    /// The name (without a namespace prefix) of the next child of the
    /// element being read, or `None` at its end.
    fn child(&mut self) -> Result<Option<&[u8]>, Fault> {
        Ok(self.xml.child()?)
    }

    /// Skips the element whose name `child` returned, with all it holds.
    fn skip(&mut self) -> Result<(), Fault> {
        Ok(self.xml.skip()?)
    }

    /// The text of the element whose name `child` returned, trimmed;
    /// `None` when there is none (EC2 sends `<description/>` for "no
    /// value"). Entities are resolved; child elements are skipped.
    fn text(&mut self) -> Result<Option<&str>, Fault> {
        Ok(self.xml.text()?)
    }

    /// The text of a field, owned, if the field is not set yet: the first
    /// of two children of the same name wins, as it did in the tree.
    fn text_into(&mut self, field: &mut Option<String>) -> Result<(), Fault> {
        let text = self.text()?;
        if field.is_none() {
            *field = text.map(str::to_string);
        }
        Ok(())
    }

    /// Reads the `<item>`s of a set (`<routeTableSet><item>..`), handing
    /// each to `item`; other children are skipped.
    fn items(&mut self, mut item: impl FnMut(&mut Self) -> Result<(), Fault>) -> Result<(), Fault> {
        while let Some(name) = self.child()? {
            if name == b"item" {
                item(self)?;
            } else {
                self.skip()?;
            }
        }
        Ok(())
    }
}

/// Reads a Describe* page: the items of its set, `nextToken`, `requestId`.
fn read_page<T>(
    source: &mut dyn io::Read,
    shape: &Shape,
    item: fn(&mut Stream<'_>) -> Result<T, Fault>,
) -> Result<Page<T>, Fault> {
    let mut s = Stream {
        xml: vpc_router_xml_events::Stream::open(source, shape.root, MAX_DEPTH)?,
        ids: (None, None),
    };
    let mut page = Page {
        items: Vec::new(),
        next_token: None,
        request_id: None,
    };
    while let Some(name) = s.child()? {
        match name {
            name if name == shape.set.as_bytes() => s.items(|s| {
                page.items.push(item(s)?);
                Ok(())
            })?,
            b"nextToken" => s.text_into(&mut page.next_token)?,
            b"requestId" => s.text_into(&mut page.request_id)?,
            _ => s.skip()?,
        }
    }
    s.xml.finish()?;
    Ok(page)
}

/// A route's field that did not parse, reported once the table's ID is
/// known (it may come after the routes).
struct BadRoute {
    what: &'static str,
    value: String,
    error: ParseError,
    destination: Destination,
}

fn route_table(s: &mut Stream<'_>) -> Result<RouteTable, Fault> {
    let (mut id, mut vpc) = (None, None);
    let mut main = false;
    let mut routes = Vec::new();
    let mut bad: Option<BadRoute> = None;
    let mut tags = Vec::new();
    while let Some(name) = s.child()? {
        match name {
            b"routeTableId" => s.text_into(&mut id)?,
            b"vpcId" => s.text_into(&mut vpc)?,
            // Only an association says whether the table is the main one;
            // a table with no associations at all is not.
            b"associationSet" => s.items(|s| {
                while let Some(field) = s.child()? {
                    if field == b"main" {
                        main |= s.text()?.is_some_and(|m| m.eq_ignore_ascii_case("true"));
                    } else {
                        s.skip()?;
                    }
                }
                Ok(())
            })?,
            b"routeSet" => s.items(|s| {
                match route(s)? {
                    Ok(r) => routes.push(r),
                    Err(b) => {
                        bad.get_or_insert(b);
                    }
                }
                Ok(())
            })?,
            b"tagSet" => s.items(|s| {
                let (mut key, mut value) = (None, None);
                while let Some(field) = s.child()? {
                    match field {
                        b"key" => s.text_into(&mut key)?,
                        b"value" => s.text_into(&mut value)?,
                        _ => s.skip()?,
                    }
                }
                if let Some(key) = key {
                    tags.push((key, value.unwrap_or_default()));
                }
                Ok(())
            })?,
            _ => s.skip()?,
        }
    }
    let id_text = id.ok_or_else(|| XmlError("route table item without routeTableId".into()))?;
    let id: RouteTableId = parse_field(&id_text, "route table ID", "")?;
    let vpc_id = vpc
        .map(|v| parse_field::<VpcId>(&v, "VPC ID", &format!(" in route table {id}")))
        .transpose()?;
    if let Some(b) = bad {
        let context = match &b.destination {
            Destination::Cidr(c) => format!(" in the route to {c} of {id}"),
            Destination::PrefixList(p) => format!(" in the route to {p} of {id}"),
            Destination::Unknown => format!(" in a route of {id}"),
        };
        return Err(Fault::Field(XmlError(format!(
            "invalid {} '{}'{context}: {}",
            b.what, b.value, b.error
        ))));
    }
    routes.shrink_to_fit();
    Ok(RouteTable {
        id,
        vpc_id,
        main,
        routes,
        tags,
    })
}

/// The fields that name a gateway-like target, in the order they are tried.
/// `gatewayId` covers igw-, vgw- and vpce- targets (and `local`, handled first).
const GATEWAY_FIELDS: [&str; 9] = [
    "gatewayId",
    "natGatewayId",
    "transitGatewayId",
    "vpcPeeringConnectionId",
    "egressOnlyInternetGatewayId",
    "carrierGatewayId",
    "localGatewayId",
    "coreNetworkArn",
    "odbNetworkArn",
];

/// An ID as read: parsed, or the text that did not parse and why.
type Read<T> = Option<Result<T, (String, ParseError)>>;

/// Reads an ID field; `last` is the last value of that field read, shared
/// rather than parsed again when the next is the same (a VPC's routes name
/// the same few routers thousands of times).
fn read_id<T: FromStr<Err = ParseError> + Clone>(
    s: &mut Stream<'_>,
    field: &mut Read<T>,
    last: &mut Option<T>,
    as_str: fn(&T) -> &str,
) -> Result<(), Fault> {
    let text = s.text()?;
    if let (None, Some(t)) = (&field, text) {
        *field = Some(match last {
            Some(l) if as_str(l) == t => Ok(l.clone()),
            _ => t.parse().map_err(|e| (t.to_string(), e)),
        });
        if let Some(Ok(v)) = field {
            *last = Some(v.clone());
        }
    }
    Ok(())
}

/// One `<item>` of a `routeSet`; the inner `Err` is a field that did not
/// parse (see [`BadRoute`]).
fn route(s: &mut Stream<'_>) -> Result<Result<Route, BadRoute>, Fault> {
    // A destination CIDR that does not parse is kept as `Unknown` rather
    // than failing the whole table: one odd route must not stop vpc-router
    // from managing the others.
    let (mut v4, mut v6, mut prefix_list) = (None, None, None);
    let (mut eni, mut instance): (Read<EniId>, Read<InstanceId>) = (None, None);
    let mut gateway: Option<(usize, RouteTarget)> = None;
    // `None` until read: an empty `Other` costs an allocation, and only a
    // route without the field keeps one.
    let (mut state, mut origin) = (None, None);
    let mut last = std::mem::take(&mut s.ids);
    while let Some(name) = s.child()? {
        match name {
            b"destinationCidrBlock" | b"destinationIpv6CidrBlock" => {
                let slot = if name == b"destinationCidrBlock" {
                    &mut v4
                } else {
                    &mut v6
                };
                let text = s.text()?;
                if slot.is_none() {
                    *slot = text.map(|t| {
                        t.parse::<Cidr>()
                            .map_or(Destination::Unknown, Destination::Cidr)
                    });
                }
            }
            b"destinationPrefixListId" => s.text_into(&mut prefix_list)?,
            b"networkInterfaceId" => read_id(s, &mut eni, &mut last.0, EniId::as_str)?,
            b"instanceId" => read_id(s, &mut instance, &mut last.1, InstanceId::as_str)?,
            b"state" => {
                state = Some(match s.text()?.unwrap_or_default() {
                    "active" => RouteState::Active,
                    "blackhole" => RouteState::Blackhole,
                    "filtered" => RouteState::Filtered,
                    other => RouteState::Other(other.into()),
                });
            }
            b"origin" => {
                origin = Some(match s.text()?.unwrap_or_default() {
                    "CreateRouteTable" => RouteOrigin::CreateRouteTable,
                    "CreateRoute" => RouteOrigin::CreateRoute,
                    "EnableVgwRoutePropagation" => RouteOrigin::EnableVgwRoutePropagation,
                    "Advertisement" => RouteOrigin::Advertisement,
                    other => RouteOrigin::Other(other.into()),
                });
            }
            other => match GATEWAY_FIELDS.iter().position(|f| f.as_bytes() == other) {
                // The first field in GATEWAY_FIELDS' order wins.
                Some(rank) => {
                    if let Some(id) = s.text()? {
                        if gateway.as_ref().is_none_or(|(r, _)| rank < *r) {
                            let target = match id {
                                "local" => RouteTarget::Local,
                                id => RouteTarget::Gateway(id.into()),
                            };
                            gateway = Some((rank, target));
                        }
                    }
                }
                None => s.skip()?,
            },
        }
    }
    s.ids = last;
    let destination = match (v4, v6, prefix_list) {
        (Some(d), _, _) | (None, Some(d), _) => d,
        (None, None, Some(pl)) => Destination::PrefixList(pl.into()),
        (None, None, None) => Destination::Unknown,
    };
    // A gateway wins over an interface: EC2 names the interface of some
    // gateways (a NAT gateway, a Gateway Load Balancer endpoint) in their
    // routes, and such a route is the gateway's, never a router's.
    let target = match gateway {
        Some((_, target)) => target,
        None if eni.is_some() || instance.is_some() => {
            let bad = |what, (value, error)| BadRoute {
                what,
                value,
                error,
                destination: destination.clone(),
            };
            RouteTarget::Interface {
                eni: match eni.transpose() {
                    Ok(e) => e,
                    Err(e) => return Ok(Err(bad("network interface ID", e))),
                },
                instance: match instance.transpose() {
                    Ok(i) => i,
                    Err(e) => return Ok(Err(bad("instance ID", e))),
                },
            }
        }
        None => RouteTarget::Unknown,
    };
    Ok(Ok(Route {
        destination,
        target,
        state: state.unwrap_or_else(|| RouteState::Other(Default::default())),
        origin: origin.unwrap_or_else(|| RouteOrigin::Other(Default::default())),
    }))
}

fn network_interface(s: &mut Stream<'_>) -> Result<NetworkInterface, Fault> {
    let (mut id, mut instance, mut primary_ip) = (None, None, None);
    let (mut source_dest_check, mut status) = (None, None);
    // (address, primary) of privateIpAddressesSet, and ipv6AddressesSet's.
    let mut private: Vec<(String, bool)> = Vec::new();
    let mut ipv6: Vec<String> = Vec::new();
    let mut attachment_seen = false;
    while let Some(name) = s.child()? {
        match name {
            b"networkInterfaceId" => s.text_into(&mut id)?,
            b"privateIpAddress" => s.text_into(&mut primary_ip)?,
            b"sourceDestCheck" => s.text_into(&mut source_dest_check)?,
            b"status" => s.text_into(&mut status)?,
            // The instance is the attachment's; an unattached interface has
            // none, and one attached to an AWS service (a NAT gateway, say)
            // has no instanceId.
            b"attachment" if !attachment_seen => {
                attachment_seen = true;
                while let Some(field) = s.child()? {
                    if field == b"instanceId" {
                        s.text_into(&mut instance)?;
                    } else {
                        s.skip()?;
                    }
                }
            }
            b"privateIpAddressesSet" => s.items(|s| {
                let (mut ip, mut primary) = (None, None);
                while let Some(field) = s.child()? {
                    match field {
                        b"privateIpAddress" => s.text_into(&mut ip)?,
                        b"primary" => s.text_into(&mut primary)?,
                        _ => s.skip()?,
                    }
                }
                if let Some(ip) = ip {
                    private.push((ip, primary.is_some_and(|p| p == "true")));
                }
                Ok(())
            })?,
            b"ipv6AddressesSet" => s.items(|s| {
                let mut ip = None;
                while let Some(field) = s.child()? {
                    match field {
                        b"ipv6Address" => s.text_into(&mut ip)?,
                        _ => s.skip()?,
                    }
                }
                ipv6.extend(ip);
                Ok(())
            })?,
            _ => s.skip()?,
        }
    }
    let id_text =
        id.ok_or_else(|| XmlError("network interface item without networkInterfaceId".into()))?;
    let id: EniId = parse_field(&id_text, "network interface ID", "")?;
    let context = format!(" on {id}");
    let instance = instance
        .map(|v| parse_field::<InstanceId>(&v, "instance ID", &context))
        .transpose()?;

    // The primary address first, so that callers showing one address show
    // the one the interface is known by; the set repeats it, hence the dedup.
    let ordered = primary_ip
        .iter()
        .chain(private.iter().filter(|(_, p)| *p).map(|(ip, _)| ip))
        .chain(private.iter().filter(|(_, p)| !*p).map(|(ip, _)| ip))
        .chain(ipv6.iter());
    let mut addresses: Vec<IpAddr> = Vec::new();
    for text in ordered {
        let ip: IpAddr = text
            .parse()
            .map_err(|_| XmlError(format!("invalid IP address '{text}'{context}")))?;
        if !addresses.contains(&ip) {
            addresses.push(ip);
        }
    }

    let source_dest_check = match source_dest_check.as_deref() {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
        Some(v) => {
            return Err(Fault::Field(XmlError(format!(
                "invalid sourceDestCheck '{v}'{context}; expected true or false"
            ))))
        }
    };
    Ok(NetworkInterface {
        id,
        instance,
        addresses,
        source_dest_check,
        status: status.unwrap_or_default(),
    })
}

/// Parses an ID (or other validated value) read from the response; the
/// error quotes the value and says where it was.
fn parse_field<T: FromStr<Err = ParseError>>(
    value: &str,
    what: &str,
    context: &str,
) -> Result<T, XmlError> {
    value
        .parse()
        .map_err(|e: ParseError| XmlError(format!("invalid {what} '{value}'{context}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{error_body, parse};

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn eni(s: &str) -> EniId {
        s.parse().unwrap()
    }

    fn instance(s: &str) -> InstanceId {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn route(dest: &str, target: RouteTarget, state: RouteState, origin: RouteOrigin) -> Route {
        let destination = if dest.starts_with("pl-") {
            Destination::PrefixList(dest.into())
        } else {
            Destination::Cidr(cidr(dest))
        };
        Route {
            destination,
            target,
            state,
            origin,
        }
    }

    fn local(dest: &str) -> Route {
        route(
            dest,
            RouteTarget::Local,
            RouteState::Active,
            RouteOrigin::CreateRouteTable,
        )
    }

    fn via(dest: &str, gateway: &str) -> Route {
        route(
            dest,
            RouteTarget::Gateway(gateway.into()),
            RouteState::Active,
            RouteOrigin::CreateRoute,
        )
    }

    fn to_router(dest: &str, e: &str, i: &str, state: RouteState) -> Route {
        route(
            dest,
            RouteTarget::Interface {
                eni: Some(eni(e)),
                instance: Some(instance(i)),
            },
            state,
            RouteOrigin::CreateRoute,
        )
    }

    fn table(id: &str, main: bool, routes: Vec<Route>, tags: &[(&str, &str)]) -> RouteTable {
        RouteTable {
            id: id.parse().unwrap(),
            vpc_id: Some("vpc-350d6a51".parse().unwrap()),
            main,
            routes,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn main_table() -> RouteTable {
        let a = ("eni-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa1");
        table(
            "rtb-0a1b2c3d",
            true,
            vec![
                local("10.33.0.0/16"),
                local("2600:1f18:abcd:ef00::/56"),
                via("0.0.0.0/0", "igw-1a2b3c4d"),
                via("::/0", "eigw-0a1b2c3d4e5f67890"),
                via("pl-63a5400a", "vpce-0123456789abcdef0"),
                to_router("10.55.0.0/16", a.0, a.1, RouteState::Active),
                to_router("2001:db8:1234::/48", a.0, a.1, RouteState::Active),
            ],
            &[("Name", "main")],
        )
    }

    fn private_a_table() -> RouteTable {
        table(
            "rtb-1a2b3c4d",
            false,
            vec![
                local("10.33.0.0/16"),
                via("0.0.0.0/0", "nat-0123456789abcdef0"),
                to_router(
                    "10.55.0.0/16",
                    "eni-0bbbbbbbbbbbbbbb2",
                    "i-0bbbbbbbbbbbbbbb2",
                    RouteState::Active,
                ),
                to_router(
                    "10.66.0.0/16",
                    "eni-0ccccccccccccccc3",
                    "i-0ccccccccccccccc3",
                    RouteState::Blackhole,
                ),
                via("192.168.0.0/16", "pcx-0a1b2c3d4e5f67890"),
                route(
                    "172.16.0.0/12",
                    RouteTarget::Gateway("vgw-0a1b2c3d4e5f67890".into()),
                    RouteState::Active,
                    RouteOrigin::EnableVgwRoutePropagation,
                ),
            ],
            &[("Name", "private-a")],
        )
    }

    fn third_table() -> RouteTable {
        table(
            "rtb-2a2b3c4d",
            false,
            vec![
                local("10.33.0.0/16"),
                via("10.77.0.0/16", "tgw-0123456789abcdef0"),
            ],
            &[],
        )
    }

    #[test]
    fn describe_route_tables_fixture() {
        let page = route_tables(include_str!("../../fixtures/describe-route-tables.xml")).unwrap();
        assert_eq!(
            page.items,
            vec![main_table(), private_a_table(), third_table()]
        );
        assert_eq!(page.next_token, None);
        assert_eq!(
            page.request_id.as_deref(),
            Some("6f570b0b-9c18-4b07-bdec-73740dcf861a")
        );
    }

    /// A source that gives `piece` bytes a read; if `fail_at` is set, it
    /// fails once after that many bytes, then ends (as a connection reset
    /// does: the error is said once).
    struct Trickle<'a> {
        rest: &'a [u8],
        piece: usize,
        fail_at: Option<usize>,
        given: usize,
    }

    impl io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.fail_at.is_some_and(|at| self.given >= at) {
                self.fail_at = None;
                self.rest = &[];
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
            }
            let n = self.piece.min(out.len()).min(self.rest.len());
            out[..n].copy_from_slice(&self.rest[..n]);
            self.rest = &self.rest[n..];
            self.given += n;
            Ok(n)
        }
    }

    #[test]
    fn documents_read_as_they_arrive_in_any_pieces_read_as_whole_ones() {
        let tables = include_str!("../../fixtures/describe-route-tables.xml");
        let enis = include_str!("../../fixtures/describe-network-interfaces-a.xml");
        for piece in [1, 2, 7, 64, 100_000] {
            let mut src = Trickle {
                rest: tables.as_bytes(),
                piece,
                fail_at: None,
                given: 0,
            };
            assert_eq!(
                route_tables_from(&mut src).unwrap(),
                route_tables(tables).unwrap(),
                "{piece}"
            );
            let mut src = Trickle {
                rest: enis.as_bytes(),
                piece,
                fail_at: None,
                given: 0,
            };
            assert_eq!(
                network_interfaces_from(&mut src).unwrap(),
                network_interfaces(enis).unwrap(),
                "{piece}"
            );
        }
        // The connection failing halfway is a read error, not a document's.
        let mut src = Trickle {
            rest: tables.as_bytes(),
            piece: 100,
            fail_at: Some(tables.len() / 2),
            given: 0,
        };
        match route_tables_from(&mut src) {
            Err(ReadError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("{other:?}"),
        }
        // A document cut short, or another one, is the document's fault.
        let cut = &tables.as_bytes()[..tables.len() / 2];
        let Err(ReadError::Xml(e)) = route_tables_from(&mut &cut[..]) else {
            panic!("a cut document read");
        };
        assert!(e.0.starts_with("malformed XML at byte "), "{e}");
        let other = "<DescribeVpcsResponse><vpcSet/></DescribeVpcsResponse>";
        let Err(ReadError::Xml(e)) = route_tables_from(&mut other.as_bytes()) else {
            panic!("another document read");
        };
        assert_eq!(
            e.0,
            "expected a DescribeRouteTablesResponse document, got <DescribeVpcsResponse>"
        );
    }

    #[test]
    fn route_tables_fixture_pages() {
        let one = route_tables(include_str!(
            "../../fixtures/describe-route-tables-page1.xml"
        ))
        .unwrap();
        assert_eq!(one.items, vec![main_table()]);
        assert_eq!(one.next_token.as_deref(), Some("AAEAAeCf3page2token"));
        assert_eq!(
            one.request_id.as_deref(),
            Some("0e9a3a4b-7c1d-4f2e-8a6b-5d4c3b2a1f01")
        );

        let two = route_tables(include_str!(
            "../../fixtures/describe-route-tables-page2.xml"
        ))
        .unwrap();
        assert_eq!(two.items, vec![private_a_table(), third_table()]);
        assert_eq!(two.next_token, None);
        assert_eq!(
            two.request_id.as_deref(),
            Some("0e9a3a4b-7c1d-4f2e-8a6b-5d4c3b2a1f02")
        );
    }

    #[test]
    fn route_tables_fixture_empty() {
        let page = route_tables(include_str!(
            "../../fixtures/describe-route-tables-empty.xml"
        ))
        .unwrap();
        assert_eq!(
            page,
            Page {
                items: vec![],
                next_token: None,
                request_id: Some("3c6b2f7e-1d4a-4e8b-9f0c-2a5d7e9b1c43".into()),
            }
        );
    }

    #[test]
    fn route_for_finds_fixture_routes() {
        let page = route_tables(include_str!("../../fixtures/describe-route-tables.xml")).unwrap();
        let r = page.items[1].route_for(&cidr("10.55.0.0/16")).unwrap();
        assert_eq!(r.target.eni(), Some(&eni("eni-0bbbbbbbbbbbbbbb2")));
    }

    #[test]
    fn network_interface_fixture_router_a() {
        let page = network_interfaces(include_str!(
            "../../fixtures/describe-network-interfaces-a.xml"
        ))
        .unwrap();
        assert_eq!(
            page,
            Page {
                items: vec![NetworkInterface {
                    id: eni("eni-0aaaaaaaaaaaaaaa1"),
                    instance: Some(instance("i-0aaaaaaaaaaaaaaa1")),
                    addresses: vec![ip("10.33.20.142"), ip("10.33.20.143")],
                    source_dest_check: Some(false),
                    status: "in-use".into(),
                }],
                next_token: None,
                request_id: Some("fc45294c-006b-457b-bab9-012f5b3b0e40".into()),
            }
        );
    }

    #[test]
    fn network_interface_fixture_router_b() {
        let page = network_interfaces(include_str!(
            "../../fixtures/describe-network-interfaces-b.xml"
        ))
        .unwrap();
        assert_eq!(
            page.items,
            vec![NetworkInterface {
                id: eni("eni-0bbbbbbbbbbbbbbb2"),
                instance: Some(instance("i-0bbbbbbbbbbbbbbb2")),
                addresses: vec![ip("10.33.30.22")],
                source_dest_check: Some(true),
                status: "in-use".into(),
            }]
        );
        assert_eq!(
            page.request_id.as_deref(),
            Some("a1d3e5f7-2b4c-4d6e-8f0a-1b3c5d7e9f02")
        );
    }

    #[test]
    fn network_interface_fixture_empty() {
        let page = network_interfaces(include_str!(
            "../../fixtures/describe-network-interfaces-empty.xml"
        ))
        .unwrap();
        assert!(page.items.is_empty());
        assert_eq!(page.next_token, None);
        assert_eq!(
            page.request_id.as_deref(),
            Some("5b7d9f1a-3c5e-4a7b-9d1f-3e5a7c9b1d04")
        );
    }

    #[test]
    fn return_fixtures() {
        for xml in [
            include_str!("../../fixtures/create-route.xml"),
            include_str!("../../fixtures/replace-route.xml"),
            include_str!("../../fixtures/delete-route.xml"),
            include_str!("../../fixtures/modify-network-interface-attribute.xml"),
        ] {
            assert_eq!(return_value(xml), Ok(true), "{xml}");
            assert_eq!(error_body(xml), None, "{xml}");
        }
        assert_eq!(
            return_value("<DeleteRouteResponse><return>false</return></DeleteRouteResponse>"),
            Ok(false)
        );
    }

    #[test]
    fn return_value_errors_say_what_is_wrong() {
        assert_eq!(
            return_value("<ReplaceRouteResponse><requestId>x</requestId></ReplaceRouteResponse>"),
            Ok(true),
            "an answer without <return> is a success (moto's form)"
        );
        assert_eq!(
            return_value("<html><body>ok</body></html>"),
            Err(XmlError(
                "<html> is not an answer document (no <return>)".into()
            ))
        );
        assert_eq!(
            return_value("<CreateRouteResponse><return>maybe</return></CreateRouteResponse>"),
            Err(XmlError(
                "<CreateRouteResponse> has <return>maybe</return>; expected true or false".into()
            ))
        );
        let err = return_value(include_str!(
            "../../fixtures/error-route-already-exists.xml"
        ))
        .unwrap_err();
        assert!(err.0.contains("RouteAlreadyExists"), "{err}");
    }

    /// The smallest DescribeRouteTables answer around `items`.
    fn rt_doc(items: &str) -> String {
        format!(
            "<DescribeRouteTablesResponse><routeTableSet>{items}</routeTableSet>\
             </DescribeRouteTablesResponse>"
        )
    }

    #[test]
    fn no_namespace_other_order_and_unknown_elements() {
        // Fields in reverse order, unknown elements (nested and empty, with
        // names that also occur as real fields deeper down), and no namespace.
        let xml = rt_doc(
            "<item>
               <futureThing><routeTableId>rtb-99999999</routeTableId><item><main>true</main></item></futureThing>
               <tagSet><item><value>v</value><key>k</key><extra><key>no</key></extra></item></tagSet>
               <routeSet>
                 <item>
                   <origin>CreateRoute</origin><state>blackhole</state>
                   <networkInterfaceId>eni-0aaaaaaaaaaaaaaa1</networkInterfaceId>
                   <newField><gatewayId>local</gatewayId></newField>
                   <destinationCidrBlock>10.55.0.0/16</destinationCidrBlock>
                 </item>
               </routeSet>
               <associationSet><item><main>false</main><routeTableId>rtb-11111111</routeTableId></item></associationSet>
               <vpcId>vpc-350d6a51</vpcId>
               <routeTableId>rtb-0a1b2c3d</routeTableId>
               <emptyThing/>
             </item>",
        );
        let page = route_tables(&xml).unwrap();
        assert_eq!(
            page.items,
            vec![RouteTable {
                id: "rtb-0a1b2c3d".parse().unwrap(),
                vpc_id: Some("vpc-350d6a51".parse().unwrap()),
                main: false,
                routes: vec![Route {
                    destination: Destination::Cidr(cidr("10.55.0.0/16")),
                    target: RouteTarget::Interface {
                        eni: Some(eni("eni-0aaaaaaaaaaaaaaa1")),
                        instance: None,
                    },
                    state: RouteState::Blackhole,
                    origin: RouteOrigin::CreateRoute,
                }],
                tags: vec![("k".into(), "v".into())],
            }]
        );
        assert_eq!(page.request_id, None);
    }

    #[test]
    fn namespace_prefixes_are_ignored() {
        let xml = "<ec2:DescribeRouteTablesResponse xmlns:ec2=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
                   <ec2:routeTableSet><ec2:item><ec2:routeTableId>rtb-0a1b2c3d</ec2:routeTableId>\
                   </ec2:item></ec2:routeTableSet><ec2:nextToken>t</ec2:nextToken>\
                   </ec2:DescribeRouteTablesResponse>";
        let page = route_tables(xml).unwrap();
        assert_eq!(page.items[0].id.as_str(), "rtb-0a1b2c3d");
        assert_eq!(page.items[0].vpc_id, None);
        assert_eq!(page.next_token.as_deref(), Some("t"));
    }

    #[test]
    fn empty_sets_in_both_forms() {
        for set in [
            "<routeTableSet/>",
            "<routeTableSet></routeTableSet>",
            "<routeTableSet>\n  </routeTableSet>",
            "",
        ] {
            let xml = format!(
                "<?xml version=\"1.0\"?>\n<DescribeRouteTablesResponse><requestId>r</requestId>\
                 {set}<nextToken/></DescribeRouteTablesResponse>"
            );
            let page = route_tables(&xml).unwrap();
            assert_eq!(
                page,
                Page {
                    items: vec![],
                    next_token: None,
                    request_id: Some("r".into())
                },
                "{set}"
            );
        }
        let xml = rt_doc(
            "<item><routeTableId>rtb-0a1b2c3d</routeTableId><routeSet/><tagSet></tagSet>\
             <associationSet/></item>",
        );
        let t = &route_tables(&xml).unwrap().items[0];
        assert!(t.routes.is_empty() && t.tags.is_empty() && !t.main);
    }

    fn one_route(route_xml: &str) -> Route {
        let xml = rt_doc(&format!(
            "<item><routeTableId>rtb-0a1b2c3d</routeTableId><routeSet><item>{route_xml}</item>\
             </routeSet></item>"
        ));
        let mut page = route_tables(&xml).unwrap();
        page.items.remove(0).routes.remove(0)
    }

    #[test]
    fn route_with_only_a_prefix_list() {
        let r = one_route("<destinationPrefixListId>pl-63a5400a</destinationPrefixListId>");
        assert_eq!(
            r,
            Route {
                destination: Destination::PrefixList("pl-63a5400a".into()),
                target: RouteTarget::Unknown,
                state: RouteState::Other(Default::default()),
                origin: RouteOrigin::Other(Default::default()),
            }
        );
    }

    #[test]
    fn route_destinations_and_targets() {
        let r = one_route(
            "<destinationCidrBlock>10.55.1.0/16</destinationCidrBlock>\
             <gatewayId>igw-1a2b3c4d</gatewayId><state>pending</state><origin>Other</origin>",
        );
        assert_eq!(r.destination, Destination::Unknown, "host bits set");
        assert_eq!(r.target, RouteTarget::Gateway("igw-1a2b3c4d".into()));
        assert_eq!(r.state, RouteState::Other("pending".into()));
        assert_eq!(r.origin, RouteOrigin::Other("Other".into()));

        let r = one_route("<destinationIpv6CidrBlock>garbage</destinationIpv6CidrBlock>");
        assert_eq!(r.destination, Destination::Unknown);
        assert_eq!(r.target, RouteTarget::Unknown);

        let r = one_route("<instanceId>i-0aaaaaaaaaaaaaaa1</instanceId>");
        assert_eq!(
            r.target,
            RouteTarget::Interface {
                eni: None,
                instance: Some(instance("i-0aaaaaaaaaaaaaaa1"))
            }
        );

        for field in GATEWAY_FIELDS {
            let r = one_route(&format!("<{field}>gw-x</{field}>"));
            assert_eq!(r.target, RouteTarget::Gateway("gw-x".into()), "{field}");
        }
        let arn = "arn:aws:networkmanager::123456789012:core-network/core-network-0123";
        let r = one_route(&format!("<coreNetworkArn>{arn}</coreNetworkArn>"));
        assert_eq!(r.target, RouteTarget::Gateway(arn.into()));
    }

    // Issue 16: Route Server's origin and state, a gateway that names its
    // interface too, and the ODB network target, as EC2 documents them.
    #[test]
    fn route_server_origin_filtered_state_and_gateway_targets() {
        let page = route_tables(include_str!(
            "../../fixtures/describe-route-tables-route-server.xml"
        ))
        .unwrap();
        let t = &page.items[0];
        let r = |c: &str| t.route_for(&cidr(c)).unwrap().clone();
        let a = RouteTarget::Interface {
            eni: Some(eni("eni-0aaaaaaaaaaaaaaa1")),
            instance: None,
        };
        assert_eq!(
            r("10.88.0.0/16"),
            route(
                "10.88.0.0/16",
                a,
                RouteState::Active,
                RouteOrigin::Advertisement
            )
        );
        let b = r("10.89.0.0/16");
        assert_eq!(
            (b.state.clone(), b.origin.clone()),
            (RouteState::Filtered, RouteOrigin::Advertisement)
        );
        assert_eq!(b.state.to_string(), "filtered");
        assert_eq!(
            r("10.90.0.0/16").target,
            RouteTarget::Gateway("nat-0123456789abcdef0".into())
        );
        assert_eq!(
            r("10.91.0.0/16").target,
            RouteTarget::Gateway(
                "arn:aws:odb:us-east-1:123456789012:odb-network/odbnet-0123456789abcdef0".into()
            )
        );
        // A gateway beside an interface or instance, in any order, wins.
        let r = one_route(
            "<networkInterfaceId>eni-0aaaaaaaaaaaaaaa1</networkInterfaceId>\
             <instanceId>i-0aaaaaaaaaaaaaaa1</instanceId><gatewayId>vpce-0123456789abcdef0</gatewayId>",
        );
        assert_eq!(
            r.target,
            RouteTarget::Gateway("vpce-0123456789abcdef0".into())
        );
    }

    #[test]
    fn bad_ids_are_errors_that_quote_the_value() {
        let err =
            route_tables(&rt_doc("<item><vpcId>vpc-350d6a51</vpcId><tagSet/></item>")).unwrap_err();
        assert_eq!(err.0, "route table item without routeTableId");

        let err = route_tables(&rt_doc("<item><routeTableId>x</routeTableId></item>")).unwrap_err();
        assert!(err.0.starts_with("invalid route table ID 'x'"), "{err}");

        let err = route_tables(&rt_doc(
            "<item><routeTableId>rtb-0a1b2c3d</routeTableId><vpcId>vpc-zz</vpcId></item>",
        ))
        .unwrap_err();
        assert!(
            err.0
                .starts_with("invalid VPC ID 'vpc-zz' in route table rtb-0a1b2c3d"),
            "{err}"
        );

        let err = route_tables(&rt_doc(
            "<item><routeTableId>rtb-0a1b2c3d</routeTableId><routeSet><item>\
             <destinationCidrBlock>10.55.0.0/16</destinationCidrBlock>\
             <instanceId>i-nothex</instanceId></item></routeSet></item>",
        ))
        .unwrap_err();
        assert!(
            err.0.starts_with(
                "invalid instance ID 'i-nothex' in the route to 10.55.0.0/16 of rtb-0a1b2c3d"
            ),
            "{err}"
        );
    }

    fn one_eni(item: &str) -> Result<NetworkInterface, XmlError> {
        let xml = format!(
            "<DescribeNetworkInterfacesResponse><networkInterfaceSet><item>{item}</item>\
             </networkInterfaceSet><nextToken>next</nextToken></DescribeNetworkInterfacesResponse>"
        );
        let mut page = network_interfaces(&xml)?;
        assert_eq!(page.next_token.as_deref(), Some("next"));
        Ok(page.items.remove(0))
    }

    #[test]
    fn eni_addresses_primary_first_deduplicated_with_ipv6() {
        let e = one_eni(
            "<ipv6AddressesSet><item><ipv6Address>2600:1f18:abcd:ef00::10</ipv6Address>\
             <isPrimaryIpv6>false</isPrimaryIpv6></item></ipv6AddressesSet>\
             <privateIpAddressesSet>\
               <item><privateIpAddress>10.0.0.6</privateIpAddress><primary>false</primary></item>\
               <item><privateIpAddress>10.0.0.5</privateIpAddress><primary>true</primary>\
                 <association><privateIpAddress>9.9.9.9</privateIpAddress></association></item>\
             </privateIpAddressesSet>\
             <groupSet><item><groupId>sg-1</groupId><privateIpAddress>8.8.8.8</privateIpAddress></item></groupSet>\
             <networkInterfaceId>eni-0aaaaaaaaaaaaaaa1</networkInterfaceId>",
        )
        .unwrap();
        assert_eq!(
            e,
            NetworkInterface {
                id: eni("eni-0aaaaaaaaaaaaaaa1"),
                instance: None,
                addresses: vec![
                    ip("10.0.0.5"),
                    ip("10.0.0.6"),
                    ip("2600:1f18:abcd:ef00::10")
                ],
                source_dest_check: None,
                status: String::new(),
            }
        );
    }

    // Issue 16: a delegated prefix is not an address the interface holds
    // (EC2's address filters do not find it either), so a router IP from
    // one is refused by `route::find_router` rather than matched here.
    #[test]
    fn delegated_prefixes_are_not_addresses() {
        let page = network_interfaces(include_str!(
            "../../fixtures/describe-network-interfaces-prefix.xml"
        ))
        .unwrap();
        assert_eq!(page.items[0].addresses, [ip("10.33.40.7")]);
    }

    #[test]
    fn eni_attachment_status_is_not_the_interface_status() {
        let e = one_eni(
            "<attachment><status>attached</status><instanceOwnerId>amazon-aws</instanceOwnerId>\
             </attachment><networkInterfaceId>eni-0aaaaaaaaaaaaaaa1</networkInterfaceId>\
             <privateIpAddress>10.0.0.5</privateIpAddress><status>available</status>\
             <sourceDestCheck>true</sourceDestCheck>",
        )
        .unwrap();
        assert_eq!(e.status, "available");
        assert_eq!(e.instance, None);
        assert_eq!(e.addresses, vec![ip("10.0.0.5")]);
        assert_eq!(e.source_dest_check, Some(true));
    }

    #[test]
    fn eni_errors() {
        assert_eq!(
            one_eni("<privateIpAddress>10.0.0.5</privateIpAddress>"),
            Err(XmlError(
                "network interface item without networkInterfaceId".into()
            ))
        );
        let err = one_eni(
            "<networkInterfaceId>eni-0aaaaaaaaaaaaaaa1</networkInterfaceId>\
             <attachment><instanceId>i-XYZ</instanceId></attachment>",
        )
        .unwrap_err();
        assert!(
            err.0
                .starts_with("invalid instance ID 'i-XYZ' on eni-0aaaaaaaaaaaaaaa1"),
            "{err}"
        );
        let err = one_eni(
            "<networkInterfaceId>eni-0aaaaaaaaaaaaaaa1</networkInterfaceId>\
             <privateIpAddress>10.0.0</privateIpAddress>",
        )
        .unwrap_err();
        assert_eq!(
            err.0,
            "invalid IP address '10.0.0' on eni-0aaaaaaaaaaaaaaa1"
        );
        let err = one_eni(
            "<networkInterfaceId>eni-0aaaaaaaaaaaaaaa1</networkInterfaceId>\
             <sourceDestCheck>yes</sourceDestCheck>",
        )
        .unwrap_err();
        assert!(err.0.contains("sourceDestCheck 'yes'"), "{err}");
        let err = one_eni("<networkInterfaceId>eni-1</networkInterfaceId>").unwrap_err();
        assert!(
            err.0.starts_with("invalid network interface ID 'eni-1'"),
            "{err}"
        );
    }

    #[test]
    fn malformed_xml_says_where() {
        let err =
            route_tables("<DescribeRouteTablesResponse><a></b></DescribeRouteTablesResponse>")
                .unwrap_err();
        assert!(err.0.starts_with("malformed XML at byte 32: "), "{err}");

        let err = route_tables("<DescribeRouteTablesResponse><routeTableSet>").unwrap_err();
        assert_eq!(
            err.0,
            "malformed XML at byte 44: the document ends inside <routeTableSet>"
        );

        let err = route_tables("<a/><b/>").unwrap_err();
        assert_eq!(err.0, "malformed XML at byte 8: more than one root element");

        let err = parse_error_text("<Response>&nbsp;</Response>");
        assert!(err.contains("unknown entity &nbsp;"), "{err}");

        let err = route_tables("Service Unavailable").unwrap_err();
        assert!(err.0.contains("text outside the root element"), "{err}");

        assert_eq!(
            route_tables("  ").unwrap_err().0,
            "not an XML document: no root element"
        );

        let deep = "<a>".repeat(100);
        let err = route_tables(&deep).unwrap_err();
        assert!(err.0.contains("nested deeper than 64"), "{err}");
    }

    // The stream reads the expected document itself; the tree reader only
    // explains one that is malformed, so its messages still say where.
    #[test]
    fn streamed_documents_resolve_text_and_report_damage() {
        let xml = rt_doc(
            "<item><routeTableId>rtb-0a1b2c3d</routeTableId><tagSet><item>\
             <key> a &amp; b </key><value><![CDATA[<v>]]>&#233;<note>x</note></value>\
             </item><item><key>ünï</key><value>\r\n café\u{a0}</value></item></tagSet></item>",
        );
        let t = &route_tables(&xml).unwrap().items[0];
        assert_eq!(
            t.tags,
            vec![
                ("a & b".to_string(), "<v>é".to_string()),
                ("ünï".to_string(), "café".to_string())
            ]
        );

        let truncated = "<DescribeRouteTablesResponse><routeTableSet><item>\
                         <routeTableId>rtb-0a1b2c3d</routeTableId><routeSet><item><state>act";
        assert_eq!(
            route_tables(truncated).unwrap_err().0,
            format!(
                "malformed XML at byte {}: the document ends inside <state>",
                truncated.len()
            )
        );
        let err = route_tables(&format!("{}<b/>", rt_doc(""))).unwrap_err();
        assert!(err.0.ends_with("more than one root element"), "{err}");
        let err = route_tables(&format!("{} trailing", rt_doc(""))).unwrap_err();
        assert!(err.0.ends_with("text outside the root element"), "{err}");
        let err = route_tables(&rt_doc(
            "<item><routeTableId>rtb-0a1b2c3d</routeTableId><x>&bogus;</x></item>",
        ))
        .unwrap_err();
        assert!(err.0.contains("unknown entity &bogus;"), "{err}");
        let deep = rt_doc(&format!("<item>{}", "<a>".repeat(70)));
        let err = route_tables(&deep).unwrap_err();
        assert!(err.0.contains("nested deeper than 64"), "{err}");
        assert_eq!(
            route_tables("<DescribeRouteTablesResponse/>")
                .unwrap()
                .items,
            vec![]
        );
    }

    /// Every document below reads the same whole (a 64 KiB chunk: the
    /// usual element's text is taken straight from it) and in pieces of 1
    /// to 5 bytes (never a whole element at hand: every text goes through
    /// quick-xml's events), and streamed damage is found in both.
    #[test]
    fn the_plain_text_shortcut_reads_as_the_events_do() {
        let ok = [
            rt_doc(
                "<item><routeTableId>rtb-0a1b2c3d</routeTableId><tagSet>\
                 <item><key> a &amp; b </key><value><![CDATA[c<d]]>é</value></item>\
                 <item><key>ab<!-- c -->cd</key><value>a\r\nb</value></item>\
                 <item><key>k</key ><value>v<x>y</x>w</value></item>\
                 <item><ec2:key>ns</ec2:key><value/></item>\
                 <item><key>héllo ünï</key><value></value></item>\
                 </tagSet><routeSet><item><destinationCidrBlock>10.1.0.0/16\
                 </destinationCidrBlock><networkInterfaceId>eni-0aaaaaaaaaaaaaaa1\
                 </networkInterfaceId><state>active</state><origin>CreateRoute</origin>\
                 </item></routeSet></item>",
            ),
            include_str!("../../fixtures/describe-route-tables.xml").to_string(),
        ];
        for doc in &ok {
            let whole = route_tables(doc).unwrap();
            for piece in 1..=5 {
                let mut src = Trickle {
                    rest: doc.as_bytes(),
                    piece,
                    fail_at: None,
                    given: 0,
                };
                assert_eq!(route_tables_from(&mut src).unwrap(), whole, "{piece}");
            }
        }
        let bad = [
            rt_doc("<item><routeTableId>rtb-0a1b2c3d</routeTableId><tagSet><item><key>k</kez>"),
            rt_doc("<item><routeTableId>rtb-0a1b2c3d</routeTable></item>"),
            rt_doc("<item><routeTableId>rtb-0a1b2c3d</routeTableId><x>&bogus;</x></item>"),
            rt_doc("<item><routeTableId>rtb-0a1b2c3d</routeTableId></item></item>"),
            "<DescribeRouteTablesResponse><routeTableSet><item><routeTableId>rtb-0a".into(),
        ];
        for doc in &bad {
            for piece in [1, 2, 3, 64 * 1024] {
                let mut src = Trickle {
                    rest: doc.as_bytes(),
                    piece,
                    fail_at: None,
                    given: 0,
                };
                match route_tables_from(&mut src) {
                    Err(ReadError::Xml(e)) => {
                        assert!(e.0.starts_with("malformed XML at byte "), "{e}")
                    }
                    other => panic!("{doc} in pieces of {piece}: {other:?}"),
                }
            }
        }
    }

    // Whitespace between elements is dropped while looking for children,
    // never inside the text read.
    #[test]
    fn indented_documents_keep_their_text_whole() {
        let xml = rt_doc(
            "\n  <item>\n    <routeTableId>rtb-0a1b2c3d</routeTableId>\n    <tagSet>\n      \
             <item>\n <key>  k </key>\n <value>a<note> x </note> b &amp; <i/> c</value>\n \
             </item>\n    </tagSet>\n  </item>\n",
        );
        let t = &route_tables(&xml).unwrap().items[0];
        assert_eq!(t.tags, vec![("k".to_string(), "a b &  c".to_string())]);
    }

    fn parse_error_text(xml: &str) -> String {
        match parse(xml) {
            Ok(root) => format!("parsed <{}>", root.name),
            Err(e) => e.0,
        }
    }

    #[test]
    fn wrong_document_is_reported() {
        let err = route_tables(include_str!(
            "../../fixtures/describe-network-interfaces-a.xml"
        ))
        .unwrap_err();
        assert_eq!(
            err.0,
            "expected a DescribeRouteTablesResponse document, got <DescribeNetworkInterfacesResponse>"
        );
        let err = network_interfaces(include_str!("../../fixtures/error-dry-run.xml")).unwrap_err();
        assert_eq!(
            err.0,
            "expected a DescribeNetworkInterfacesResponse document, got an error document: \
             DryRunOperation: Request would have succeeded, but DryRun flag is set."
        );
    }
}
