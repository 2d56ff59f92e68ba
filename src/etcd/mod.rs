//! A synchronous etcd v3 client over etcd's HTTP/JSON gateway (no gRPC, no
//! async runtime): key-values, transactions, leases and watches, on ureq
//! like the EC2 client. Several endpoints: a call that cannot reach one
//! goes to the next, and the one that answered is kept for the next call.
//! TLS (own CA, client certificate) and username/password authentication
//! with its token refreshed when etcd says it expired. The password and
//! the token never print.
//!
//! Only this module and its users in `daemon::etcd` know etcd; the engine
//! sees ownership through `state::Persist` and leadership through the
//! control loop.

pub mod wire;

use std::fmt;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use crate::aws::Secret;
use crate::http::{AgentSettings, Tls};

/// How long one watch request streams before the client asks again from
/// the last revision it saw: the bound on how long a stop waits for a
/// watching thread, and how soon a frozen etcd is noticed.
pub const WATCH_WINDOW: Duration = Duration::from_secs(2);

/// A key-value as etcd stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    /// 0: no lease.
    pub lease: i64,
}

/// A comparison of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key's create revision is `equals` (0: the key does not exist).
    CreateRevision {
        key: Vec<u8>,
        equals: i64,
    },
    Value {
        key: Vec<u8>,
        equals: Vec<u8>,
    },
}

/// An operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `lease` 0: none.
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        lease: i64,
    },
    Delete {
        key: Vec<u8>,
    },
    Get {
        key: Vec<u8>,
    },
}

/// What a transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnResult {
    /// The comparisons held (the success branch ran).
    pub succeeded: bool,
    pub revision: i64,
    /// The key-values of the `Get`s of the branch that ran.
    pub found: Vec<Kv>,
}

/// A change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Put(Kv),
    Delete(Kv),
}

/// One message of a watch stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMessage {
    /// The watch is open; the store is at `revision`.
    Created {
        revision: i64,
    },
    Events {
        revision: i64,
        events: Vec<Event>,
    },
    /// The revision asked for was compacted away: read the key anew.
    Compacted {
        revision: i64,
    },
    Canceled(String),
}

/// Why a call failed.
#[derive(Debug)]
pub enum EtcdError {
    /// No endpoint could be reached (`detail` says why for each).
    Transport { detail: String },
    /// etcd answered with an error (a gRPC `code` and its message).
    Api {
        endpoint: String,
        status: u16,
        code: i64,
        message: String,
    },
    /// The answer was not etcd's.
    Response { endpoint: String, detail: String },
}

/// gRPC status codes etcd uses.
const OUT_OF_RANGE: i64 = 11;
const UNAUTHENTICATED: i64 = 16;

impl EtcdError {
    /// A read or watch at a revision etcd has compacted away.
    pub fn is_compacted(&self) -> bool {
        matches!(self, EtcdError::Api { code: OUT_OF_RANGE, message, .. } if message.contains("compacted"))
    }

    /// Whether the cause is the network rather than an answer.
    pub fn is_transport(&self) -> bool {
        matches!(self, EtcdError::Transport { .. })
    }

    fn token_expired(&self) -> bool {
        matches!(self, EtcdError::Api { code: UNAUTHENTICATED, message, .. }
            if message.contains("invalid auth token") || message.contains("token"))
    }
}

impl fmt::Display for EtcdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtcdError::Transport { detail } => write!(f, "etcd could not be reached: {detail}"),
            EtcdError::Api {
                endpoint,
                status,
                code,
                message,
            } => write!(
                f,
                "etcd at {endpoint} answered HTTP {status}: {message} (code {code})"
            ),
            EtcdError::Response { endpoint, detail } => {
                write!(
                    f,
                    "etcd at {endpoint}: {detail}; is it an etcd v3 endpoint?"
                )
            }
        }
    }
}

impl std::error::Error for EtcdError {}

/// How to reach etcd, validated.
#[derive(Clone)]
pub struct Settings {
    /// `http://` or `https://` base URLs, tried in order.
    pub endpoints: Vec<String>,
    pub tls: Option<Tls>,
    /// A user and password (`--etcd-user`, `--etcd-password-file`).
    pub auth: Option<(String, Secret)>,
    pub connect_timeout: Duration,
    /// For one call.
    pub timeout: Duration,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("endpoints", &self.endpoints)
            .field("tls", &self.tls.is_some())
            .field("user", &self.auth.as_ref().map(|(u, _)| u))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A token from `/v3/auth/authenticate`, redacted in `Debug`.
struct Token(Option<Secret>);

/// The client; cheap to share between threads.
pub struct Client {
    endpoints: Vec<String>,
    /// The endpoint that answered last: calls start there.
    current: AtomicUsize,
    agent: ureq::Agent,
    watcher: ureq::Agent,
    auth: Option<(String, Secret)>,
    token: Mutex<Token>,
    /// The last transport failure, for `/status`.
    last_error: Mutex<Option<String>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.endpoints)
            .field("current", &self.endpoint())
            .finish()
    }
}

impl Client {
    pub fn new(s: &Settings) -> Client {
        let base = AgentSettings::new(s.connect_timeout, s.timeout).tls(s.tls.clone());
        Client {
            endpoints: s
                .endpoints
                .iter()
                .map(|e| e.trim_end_matches('/').to_string())
                .collect(),
            current: AtomicUsize::new(0),
            agent: base.build(),
            watcher: base.stream_window(WATCH_WINDOW).build(),
            auth: s.auth.clone(),
            token: Mutex::new(Token(None)),
            last_error: Mutex::new(None),
        }
    }

    /// The endpoint calls go to now.
    pub fn endpoint(&self) -> &str {
        &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()]
    }

    /// The last failure to reach an endpoint, if any since the last success.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// POSTs `body` to `path` at the current endpoint, then the next ones
    /// while they cannot be reached. Returns the endpoint that answered and
    /// the raw answer.
    fn send(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> Result<(String, ureq::http::Response<ureq::Body>), EtcdError> {
        let n = self.endpoints.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for i in 0..n {
            let at = (start + i) % n;
            let endpoint = &self.endpoints[at];
            let mut req = ureq::http::Request::builder()
                .method("POST")
                .uri(format!("{endpoint}{path}"))
                .header("Content-Type", "application/json");
            if let Some(t) = token {
                req = req.header("Authorization", t);
            }
            let req = req
                .body(body.to_string())
                .map_err(|e| EtcdError::Response {
                    endpoint: endpoint.clone(),
                    detail: format!("cannot build the request: {e}"),
                })?;
            match agent.run(req) {
                Ok(resp) => {
                    self.current.store(at, Ordering::Relaxed);
                    *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    return Ok((endpoint.clone(), resp));
                }
                Err(e) => failures.push(format!("{endpoint}: {e}")),
            }
        }
        let detail = failures.join("; ");
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(detail.clone());
        Err(EtcdError::Transport { detail })
    }

    /// A unary call: the answer's JSON, or etcd's error.
    fn call(&self, path: &str, body: &Value) -> Result<Value, EtcdError> {
        let token = self.token()?;
        match self.call_with(path, body, token.as_deref()) {
            Err(e) if self.auth.is_some() && e.token_expired() => {
                // Tokens expire (etcd's --auth-token-ttl): get a new one
                // and try once more.
                self.forget_token();
                let token = self.token()?;
                self.call_with(path, body, token.as_deref())
            }
            r => r,
        }
    }

    fn call_with(&self, path: &str, body: &Value, token: Option<&str>) -> Result<Value, EtcdError> {
        let (endpoint, resp) = self.send(&self.agent, path, body, token)?;
        let status = resp.status().as_u16();
        let text = resp
            .into_body()
            .read_to_string()
            .map_err(|e| EtcdError::Response {
                endpoint: endpoint.clone(),
                detail: format!("the answer could not be read: {e}"),
            })?;
        if status != 200 {
            return Err(wire::error(status, &endpoint, &text));
        }
        serde_json::from_str(&text).map_err(|e| EtcdError::Response {
            endpoint,
            detail: format!("the answer is not JSON: {e}"),
        })
    }

    fn forget_token(&self) {
        self.token.lock().unwrap_or_else(|p| p.into_inner()).0 = None;
    }

    /// The auth token, fetched when there is none yet.
    fn token(&self) -> Result<Option<String>, EtcdError> {
        let Some((user, password)) = &self.auth else {
            return Ok(None);
        };
        let mut held = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = &held.0 {
            return Ok(Some(t.expose().to_string()));
        }
        let doc = json!({"name": user, "password": password.expose()});
        let v = self.call_with("/v3/auth/authenticate", &doc, None)?;
        let token = v["token"].as_str().unwrap_or("").to_string();
        if token.is_empty() {
            return Err(EtcdError::Response {
                endpoint: self.endpoint().to_string(),
                detail: "authentication answered without a token".into(),
            });
        }
        held.0 = Some(Secret::new(token.clone()));
        Ok(Some(token))
    }

    fn parse<T>(&self, r: Result<T, String>) -> Result<T, EtcdError> {
        r.map_err(|detail| EtcdError::Response {
            endpoint: self.endpoint().to_string(),
            detail,
        })
    }

    /// The key's value (none if absent) and the store's revision.
    pub fn get(&self, key: &[u8]) -> Result<(Option<Kv>, i64), EtcdError> {
        let v = self.call("/v3/kv/range", &wire::range_request(key))?;
        let (mut kvs, revision) = self.parse(wire::range(&v))?;
        Ok((kvs.pop(), revision))
    }

    /// Puts a value (with a lease, unless 0); the new revision.
    pub fn put(&self, key: &[u8], value: &[u8], lease: i64) -> Result<i64, EtcdError> {
        let mut body = json!({"key": wire::b64(key), "value": wire::b64(value)});
        if lease != 0 {
            body["lease"] = json!(lease.to_string());
        }
        Ok(wire::revision(&self.call("/v3/kv/put", &body)?))
    }

    pub fn delete(&self, key: &[u8]) -> Result<i64, EtcdError> {
        let v = self.call("/v3/kv/deleterange", &wire::range_request(key))?;
        Ok(wire::revision(&v))
    }

    /// If every comparison holds, `then`; else `otherwise`; atomically.
    pub fn txn(
        &self,
        when: &[Compare],
        then: &[Op],
        otherwise: &[Op],
    ) -> Result<TxnResult, EtcdError> {
        let v = self.call("/v3/kv/txn", &wire::txn_request(when, then, otherwise))?;
        let (succeeded, revision, found) = self.parse(wire::txn(&v))?;
        Ok(TxnResult {
            succeeded,
            revision,
            found,
        })
    }

    /// A new lease of `ttl` seconds: its ID and the TTL granted.
    pub fn grant(&self, ttl: i64) -> Result<(i64, i64), EtcdError> {
        let v = self.call("/v3/lease/grant", &json!({"TTL": ttl.to_string()}))?;
        self.parse(wire::grant(&v))
    }

    /// Renews a lease: the TTL it has again, or `None` if it is gone.
    pub fn keepalive(&self, id: i64) -> Result<Option<i64>, EtcdError> {
        let v = self.call("/v3/lease/keepalive", &json!({"ID": id.to_string()}))?;
        Ok(wire::keepalive(&v))
    }

    /// Ends a lease at once; its keys are deleted.
    pub fn revoke(&self, id: i64) -> Result<(), EtcdError> {
        self.call("/v3/lease/revoke", &json!({"ID": id.to_string()}))
            .map(|_| ())
    }

    /// Watches `key` from revision `from`, for one [`WATCH_WINDOW`]:
    /// `each` gets every message as it arrives. Returns when the window
    /// ends, the stream ends, or `each` says stop (false).
    pub fn watch(
        &self,
        key: &[u8],
        from: i64,
        each: &mut dyn FnMut(WatchMessage) -> bool,
    ) -> Result<(), EtcdError> {
        let token = self.token()?;
        let (endpoint, resp) = self.send(
            &self.watcher,
            "/v3/watch",
            &wire::watch_request(key, from),
            token.as_deref(),
        )?;
        let status = resp.status().as_u16();
        if status != 200 {
            let text = resp.into_body().read_to_string().unwrap_or_default();
            let e = wire::error(status, &endpoint, &text);
            if e.token_expired() {
                self.forget_token();
            }
            return Err(e);
        }
        let reader = BufReader::new(resp.into_body().into_reader());
        for line in reader.lines() {
            // The window ending (a timeout) or etcd closing: the caller
            // asks again from the last revision it saw.
            let Ok(line) = line else { return Ok(()) };
            if line.trim().is_empty() {
                continue;
            }
            let msg = wire::watch_line(&line).map_err(|(code, message)| {
                let e = EtcdError::Api {
                    endpoint: endpoint.clone(),
                    status,
                    code,
                    message,
                };
                if e.token_expired() {
                    self.forget_token();
                }
                e
            })?;
            if !each(msg) {
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
