//! The route spec: which routers may carry each CIDR, in priority order.
//!
//! ```json
//! {"10.55.16.0/24": ["10.33.20.142"],
//!  "10.66.17.0/24": ["10.33.20.93", {"ip": "10.33.30.22", "check": "127.0.0.2:2201"}]}
//! ```
//!
//! [`parse`] validates completely and strictly (CIDRs, host bits, IPs,
//! duplicates, empty lists, unknown fields) and names the offending key, so
//! an invalid spec is refused whole: it never replaces the one in force.
//! JSON lives only here; the rest of the program sees [`Spec`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde_json::{json, Map, Value};

use crate::types::{parse_ip, Cidr};

pub mod json;

use json::JsonError;

/// One eligible router of a CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The router's private IP: the route points at the interface that
    /// holds it.
    pub ip: IpAddr,
    /// Where its health is checked, when not at `ip` itself.
    pub check: Option<CheckAddr>,
}

/// A health-check address: an IP, with a port for TCP checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckAddr {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

impl fmt::Display for CheckAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => SocketAddr::new(self.ip, p).fmt(f),
            None => self.ip.fmt(f),
        }
    }
}

/// A validated spec: CIDR -> eligible hosts in priority order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    routes: BTreeMap<Cidr, Vec<Host>>,
    /// CIDRs whose route always goes to the first eligible host, even if
    /// another one carries it now: routes learned over BGP, where the best
    /// path wins at once. Others keep the router in use (no flapping).
    strict: BTreeSet<Cidr>,
}

/// Why a spec is refused. `key` is the CIDR key at fault, when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "route spec, key \"{k}\": {}", self.message),
            None => write!(f, "route spec: {}", self.message),
        }
    }
}

impl std::error::Error for SpecError {}

fn at(key: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        key: Some(key.to_string()),
        message: message.into(),
    }
}

impl Spec {
    pub fn from_routes(routes: BTreeMap<Cidr, Vec<Host>>) -> Spec {
        Spec {
            routes,
            strict: BTreeSet::new(),
        }
    }

    /// A spec whose every CIDR is strict (see [`Spec::is_strict`]): what
    /// BGP teaches, each prefix's next hops from the best path down.
    pub fn learned(routes: BTreeMap<Cidr, Vec<Host>>) -> Spec {
        let strict = routes.keys().copied().collect();
        Spec { routes, strict }
    }

    /// Whether `cidr` always goes to its first eligible host.
    pub fn is_strict(&self, cidr: &Cidr) -> bool {
        self.strict.contains(cidr)
    }

    /// Adds `cidr` (replacing it if present), strict or not.
    pub fn insert(&mut self, cidr: Cidr, hosts: Vec<Host>, strict: bool) {
        self.routes.insert(cidr, hosts);
        if strict {
            self.strict.insert(cidr);
        } else {
            self.strict.remove(&cidr);
        }
    }

    /// The part of the spec for `cidrs` (those it has), strictness kept.
    pub fn subset<'a>(&self, cidrs: impl IntoIterator<Item = &'a Cidr>) -> Spec {
        let mut out = Spec::default();
        for c in cidrs {
            if let Some(hosts) = self.routes.get(c) {
                out.insert(*c, hosts.clone(), self.is_strict(c));
            }
        }
        out
    }

    pub fn routes(&self) -> &BTreeMap<Cidr, Vec<Host>> {
        &self.routes
    }

    pub fn hosts(&self, cidr: &Cidr) -> Option<&[Host]> {
        self.routes.get(cidr).map(Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Every host of the spec, in spec order (a router listed for several
    /// CIDRs appears once per CIDR).
    pub fn all_hosts(&self) -> Vec<Host> {
        self.routes.values().flatten().cloned().collect()
    }

    /// Every router IP of the spec, once each, in a stable order.
    pub fn ips(&self) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = self
            .routes
            .values()
            .flat_map(|hs| hs.iter().map(|h| h.ip))
            .collect();
        ips.sort();
        ips.dedup();
        ips
    }

    /// The spec as JSON, in the form it is read (plain strings for hosts
    /// without a check address).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (cidr, hosts) in &self.routes {
            let list = hosts
                .iter()
                .map(|h| match &h.check {
                    None => json!(h.ip.to_string()),
                    Some(c) => json!({"ip": h.ip.to_string(), "check": c.to_string()}),
                })
                .collect();
            m.insert(cidr.to_string(), Value::Array(list));
        }
        Value::Object(m)
    }
}

/// The largest spec file `-f` reads: 4 MiB. A spec of 10,000 CIDRs with
/// two routers each is under 1 MiB; anything much larger is not a spec,
/// and reading it whole would cost its size in memory.
pub const MAX_FILE: u64 = 4 * 1024 * 1024;

/// Reads and validates a spec file (`-f`); the error names the file.
pub fn read_file(path: &std::path::Path) -> Result<Spec, String> {
    let doc = read_bounded(path).map_err(|e| format!("-f/--file: {e}"))?;
    parse(&doc).map_err(|e| format!("{}: {e}", path.display()))
}

/// A regular file's content, at most [`MAX_FILE`] bytes. Opened without
/// blocking (a FIFO with no writer would wait forever) and refused, before
/// a byte is read, if it is not a regular file: `/dev/zero` or a pipe
/// never ends, and a directory is a mistake.
fn read_bounded(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let shown = path.display();
    let cannot = |e: std::io::Error| format!("cannot read {shown}: {e}");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    let t = meta.file_type();
    let kind = if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        None
    };
    if let Some(kind) = kind.or((!t.is_file()).then_some("not a regular file")) {
        return Err(format!(
            "{shown} is {kind}; give the route spec as a regular JSON file"
        ));
    }
    let too_big = |size: String| {
        format!(
            "{shown} is {size}, more than a route spec may be ({MAX_FILE} bytes, 4 MiB); \
             is it the right file?"
        )
    };
    if meta.len() > MAX_FILE {
        return Err(too_big(format!("{} bytes", meta.len())));
    }
    let mut doc = Vec::with_capacity(meta.len() as usize);
    // Bounded again while reading: the file may grow after the check.
    file.take(MAX_FILE + 1)
        .read_to_end(&mut doc)
        .map_err(cannot)?;
    if doc.len() as u64 > MAX_FILE {
        return Err(too_big(format!("over {MAX_FILE} bytes")));
    }
    Ok(doc)
}

/// Parses and validates a spec document.
pub fn parse(doc: &[u8]) -> Result<Spec, SpecError> {
    let example = r#"e.g. {"10.55.16.0/24": ["10.33.20.142", "10.33.30.22"]}"#;
    let entries = json::parse_entries(doc).map_err(|e| match e {
        JsonError::Syntax(e) => SpecError {
            key: None,
            message: if e.is_data() {
                format!(
                    "must be a JSON object mapping CIDRs to lists of router IPs ({e}); {example}"
                )
            } else {
                format!("not valid JSON ({e}); {example}")
            },
        },
        JsonError::Duplicate {
            ref key, ref path, ..
        } if path.is_empty() => at(key, "given twice; give each CIDR once"),
        e => at(e.top_key().unwrap_or_default(), e.to_string()),
    })?;
    // One route (the body of POST /route, 1.x's and ours) where a spec
    // was expected: say so rather than "dst_cidr is not a CIDR".
    if entries
        .iter()
        .any(|(k, _)| k == "dst_cidr" || k == "router_ip")
    {
        return Err(SpecError {
            key: None,
            message: format!(
                "this is one route (dst_cidr, router_ip: the body of POST /route), not a \
                 route spec, which maps each CIDR to its routers; {example}"
            ),
        });
    }
    let mut routes: BTreeMap<Cidr, Vec<Host>> = BTreeMap::new();
    let mut seen: BTreeMap<Cidr, String> = BTreeMap::new();
    for (key, value) in entries {
        let cidr: Cidr = key
            .parse()
            .map_err(|e: crate::types::ParseError| at(&key, e.0))?;
        if let Some(first) = seen.get(&cidr) {
            // (The same spelling twice was refused while parsing.)
            return Err(at(
                &key,
                format!("the same CIDR as \"{first}\"; give each CIDR once"),
            ));
        }
        seen.insert(cidr, key.clone());
        let Value::Array(items) = value else {
            return Err(at(
                &key,
                format!("must be a list of router IPs, not {value}; e.g. [\"10.33.20.142\"]"),
            ));
        };
        if items.is_empty() {
            return Err(at(
                &key,
                "the list of routers is empty; give at least one router IP \
                 (to stop managing the CIDR, remove its key)",
            ));
        }
        let mut hosts: Vec<Host> = Vec::with_capacity(items.len());
        for item in &items {
            let host = host(&key, item)?;
            if hosts.iter().any(|h| h.ip == host.ip) {
                return Err(at(&key, format!("router {} is listed twice", host.ip)));
            }
            hosts.push(host);
        }
        routes.insert(cidr, hosts);
    }
    Ok(Spec::from_routes(routes))
}

fn host(key: &str, item: &Value) -> Result<Host, SpecError> {
    match item {
        Value::String(s) => Ok(Host {
            ip: parse_ip(s).map_err(|e| at(key, e.0))?,
            check: None,
        }),
        Value::Object(m) => {
            if let Some(k) = m.keys().find(|k| *k != "ip" && *k != "check") {
                return Err(at(
                    key,
                    format!("unknown field \"{k}\" in a router; known: ip, check"),
                ));
            }
            let ip = match m.get("ip") {
                Some(Value::String(s)) => parse_ip(s).map_err(|e| at(key, e.0))?,
                Some(other) => {
                    return Err(at(key, format!("\"ip\" must be a string, not {other}")))
                }
                None => return Err(at(key, "a router object needs \"ip\"")),
            };
            let check = match m.get("check") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(check_addr(s).map_err(|m| at(key, m))?),
                Some(other) => {
                    return Err(at(key, format!("\"check\" must be a string, not {other}")))
                }
            };
            Ok(Host { ip, check })
        }
        other => Err(at(
            key,
            format!(
                "a router must be an IP string or {{\"ip\": ..., \"check\": ...}}, not {other}"
            ),
        )),
    }
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`.
fn check_addr(s: &str) -> Result<CheckAddr, String> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        if sa.port() == 0 {
            return Err(format!(
                "\"check\": port 0 in '{s}'; give a port from 1 to 65535"
            ));
        }
        return Ok(CheckAddr {
            ip: sa.ip(),
            port: Some(sa.port()),
        });
    }
    match s.parse::<IpAddr>() {
        Ok(ip) => Ok(CheckAddr { ip, port: None }),
        Err(_) => Err(format!(
            "\"check\": '{s}' is not an address; expected an IP or IP:PORT, e.g. 127.0.0.2:2201"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(doc: &str) -> Spec {
        parse(doc.as_bytes()).unwrap_or_else(|e| panic!("{doc}: {e}"))
    }

    fn err(doc: &str) -> String {
        parse(doc.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn parses_the_documented_forms() {
        let s = ok(r#"{
            "10.55.16.0/24": ["10.33.20.142"],
            "10.66.17.0/24": ["10.33.20.93", {"ip": "10.33.30.22", "check": "127.0.0.2:2201"}],
            "2001:db8::/56": [{"ip": "fd00::1", "check": "[::1]:22"}, {"ip": "fd00::2", "check": "::1"}]
        }"#);
        assert_eq!(s.len(), 3);
        let hosts = s.hosts(&"10.66.17.0/24".parse().unwrap()).unwrap();
        assert_eq!(hosts[0].ip.to_string(), "10.33.20.93");
        assert_eq!(hosts[0].check, None);
        assert_eq!(hosts[1].check.unwrap().to_string(), "127.0.0.2:2201");
        let v6 = s.hosts(&"2001:db8::/56".parse().unwrap()).unwrap();
        assert_eq!(v6[0].check.unwrap().to_string(), "[::1]:22");
        assert_eq!(v6[1].check.unwrap().port, None);
        assert_eq!(
            s.ips().iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "10.33.20.93",
                "10.33.20.142",
                "10.33.30.22",
                "fd00::1",
                "fd00::2"
            ]
        );
        assert!(ok("{}").is_empty());
        // Issue 14: an IPv4-mapped host is its IPv4 address.
        let m = ok(r#"{"10.55.0.0/16": ["::ffff:10.33.20.142", {"ip": "::ffff:10.33.20.143"}]}"#);
        assert_eq!(
            m.ips().iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["10.33.20.142", "10.33.20.143"]
        );
        // vpc-router 1.x's spec files, as its README wrote them: the same
        // shape, spaces around the colons, blank lines after.
        let old = ok("{\n    \"10.55.16.0/24\" : [ \"10.33.20.142\" ],\n    \
                      \"10.66.17.0/24\" : [ \"10.33.20.93\", \"10.33.30.22\" ]\n}\n\n\n");
        assert_eq!(old.len(), 2);
        assert_eq!(
            old.hosts(&"10.66.17.0/24".parse().unwrap()).unwrap()[1]
                .ip
                .to_string(),
            "10.33.30.22"
        );
        // The JSON form reads back to the same spec.
        assert_eq!(ok(&s.to_json().to_string()), s);
    }

    #[test]
    fn every_error_names_the_key_and_what_would_be_right() {
        let cases = [
            ("[1, 2]", "route spec: must be a JSON object mapping CIDRs to lists of router IPs"),
            ("\"x\"", "route spec: must be a JSON object"),
            ("{", "route spec: not valid JSON"),
            (r#"{"dst_cidr": "10.55.0.0/16", "router_ip": "10.1.1.1"}"#, "route spec: this is one route (dst_cidr, router_ip: the body of POST /route), not a route spec"),
            (r#"{"10.55.16.1/24": ["10.1.1.1"]}"#, "key \"10.55.16.1/24\": 10.55.16.1/24 has host bits set; did you mean 10.55.16.0/24?"),
            (r#"{"10.55.16.0/33": ["10.1.1.1"]}"#, "key \"10.55.16.0/33\": "),
            (r#"{"nope": ["10.1.1.1"]}"#, "key \"nope\": "),
            (r#"{"10.55.16.0/24": []}"#, "key \"10.55.16.0/24\": the list of routers is empty"),
            (r#"{"10.55.16.0/24": "10.1.1.1"}"#, "key \"10.55.16.0/24\": must be a list of router IPs"),
            (r#"{"10.55.16.0/24": ["10.1.1"]}"#, "key \"10.55.16.0/24\": '10.1.1' is not an IP address"),
            (r#"{"10.55.16.0/24": ["10.1.1.1", "10.1.1.1"]}"#, "key \"10.55.16.0/24\": router 10.1.1.1 is listed twice"),
            (r#"{"10.55.16.0/24": ["10.1.1.1", {"ip": "10.1.1.1"}]}"#, "router 10.1.1.1 is listed twice"),
            (r#"{"10.55.16.0/24": [1]}"#, "key \"10.55.16.0/24\": a router must be an IP string"),
            (r#"{"10.55.16.0/24": [{"ip": "10.1.1.1", "port": 22}]}"#, "unknown field \"port\" in a router; known: ip, check"),
            (r#"{"10.55.16.0/24": [{"check": "10.1.1.1"}]}"#, "a router object needs \"ip\""),
            (r#"{"10.55.16.0/24": [{"ip": "10.1.1.1", "check": "host:22"}]}"#, "\"check\": 'host:22' is not an address"),
            (r#"{"10.55.16.0/24": [{"ip": "10.1.1.1", "check": "10.1.1.1:0"}]}"#, "\"check\": port 0"),
            (r#"{"10.55.16.0/24": ["10.1.1.1"], "10.55.16.0/24": ["10.1.1.2"]}"#, "key \"10.55.16.0/24\": given twice"),
            (r#"{"2001:db8::/56": ["fd00::1"], "2001:DB8::/56": ["fd00::2"]}"#, "key \"2001:DB8::/56\": the same CIDR as \"2001:db8::/56\""),
            // Issue 14: a key given twice inside a router was the last one.
            (r#"{"10.55.16.0/24": [{"ip": "10.1.1.1", "ip": "10.1.1.2"}]}"#, "key \"10.55.16.0/24\": the key \"ip\" is given twice in the object under \"10.55.16.0/24\" (line 1, column 42); give each key once"),
        ];
        for (doc, want) in cases {
            let got = err(doc);
            assert!(got.contains(want), "{doc}\n got: {got}\nwant: {want}");
        }
    }
}
