//! etcd's HTTP/JSON gateway on the wire: the JSON shapes (int64 as strings,
//! zero values omitted, keys and values in base64) and their conversion to
//! the client's plain types. Serde lives here only.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{Compare, EtcdError, Kv, Op, WatchMessage};

/// An int64 as the gateway writes it: a JSON string (or, leniently, a
/// number); absent is zero.
fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as the gateway wants bytes.
pub fn b64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` if it is not.
pub fn unb64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = B64.iter().position(|b| *b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[derive(Deserialize)]
struct RawKv {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    create_revision: Value,
    #[serde(default)]
    mod_revision: Value,
    #[serde(default)]
    version: Value,
    #[serde(default)]
    lease: Value,
}

impl RawKv {
    fn into_kv(self) -> Result<Kv, String> {
        Ok(Kv {
            key: unb64(&self.key).ok_or("a key that is not base64")?,
            value: unb64(&self.value).ok_or("a value that is not base64")?,
            create_revision: int(&self.create_revision),
            mod_revision: int(&self.mod_revision),
            version: int(&self.version),
            lease: int(&self.lease),
        })
    }
}

fn kvs(v: &Value) -> Result<Vec<Kv>, String> {
    let Some(list) = v.get("kvs") else {
        return Ok(Vec::new());
    };
    let raw: Vec<RawKv> = serde_json::from_value(list.clone()).map_err(|e| e.to_string())?;
    raw.into_iter().map(RawKv::into_kv).collect()
}

/// The revision in an answer's header.
pub fn revision(v: &Value) -> i64 {
    int(&v["header"]["revision"])
}

/// `/v3/kv/range`: the key-values and the store's revision.
pub fn range(v: &Value) -> Result<(Vec<Kv>, i64), String> {
    Ok((kvs(v)?, revision(v)))
}

/// `/v3/lease/grant`: the lease ID and its TTL.
pub fn grant(v: &Value) -> Result<(i64, i64), String> {
    if let Some(e) = v
        .get("error")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    {
        return Err(e.to_string());
    }
    let id = int(&v["ID"]);
    if id == 0 {
        return Err("no lease ID in the answer".into());
    }
    Ok((id, int(&v["TTL"])))
}

/// `/v3/lease/keepalive`: the TTL left, or `None` when the lease is gone
/// (expired or revoked: etcd answers without a TTL).
pub fn keepalive(v: &Value) -> Option<i64> {
    let ttl = int(&v["result"]["TTL"]);
    (ttl > 0).then_some(ttl)
}

/// A request body for `/v3/kv/range` of one key.
pub fn range_request(key: &[u8]) -> Value {
    json!({"key": b64(key)})
}

fn op(o: &Op) -> Value {
    match o {
        Op::Put { key, value, lease } => {
            let mut put = json!({"key": b64(key), "value": b64(value)});
            if *lease != 0 {
                put["lease"] = json!(lease.to_string());
            }
            json!({"request_put": put})
        }
        Op::Delete { key } => json!({"request_delete_range": {"key": b64(key)}}),
        Op::Get { key } => json!({"request_range": {"key": b64(key)}}),
    }
}

fn compare(c: &Compare) -> Value {
    match c {
        Compare::CreateRevision { key, equals } => json!({
            "key": b64(key), "target": "CREATE", "result": "EQUAL",
            "create_revision": equals.to_string(),
        }),
        Compare::Value { key, equals } => json!({
            "key": b64(key), "target": "VALUE", "result": "EQUAL",
            "value": b64(equals),
        }),
    }
}

/// A request body for `/v3/kv/txn`.
pub fn txn_request(when: &[Compare], then: &[Op], otherwise: &[Op]) -> Value {
    json!({
        "compare": when.iter().map(compare).collect::<Vec<_>>(),
        "success": then.iter().map(op).collect::<Vec<_>>(),
        "failure": otherwise.iter().map(op).collect::<Vec<_>>(),
    })
}

/// `/v3/kv/txn`: whether the comparisons held, the revision, and the
/// key-values of the `Get`s that ran.
pub fn txn(v: &Value) -> Result<(bool, i64, Vec<Kv>), String> {
    let succeeded = v["succeeded"].as_bool().unwrap_or(false);
    let mut found = Vec::new();
    for r in v["responses"].as_array().into_iter().flatten() {
        if let Some(range) = r.get("response_range") {
            found.extend(kvs(range)?);
        }
    }
    Ok((succeeded, revision(v), found))
}

/// A request body that opens a watch of one key from `revision`.
pub fn watch_request(key: &[u8], from: i64) -> Value {
    json!({"create_request": {"key": b64(key), "start_revision": from.to_string()}})
}

/// One line of a watch stream; an error line as its gRPC code and
/// message.
pub fn watch_line(line: &str) -> Result<WatchMessage, (i64, String)> {
    let bad = |e: String| (0, e);
    let v: Value = serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
    if let Some(e) = v.get("error") {
        let code = int(e.get("grpc_code").unwrap_or(&e["code"]));
        let message = e["message"].as_str().unwrap_or("").to_string();
        return Err((code, message));
    }
    let r = &v["result"];
    let compacted = int(&r["compact_revision"]);
    if compacted > 0 {
        return Ok(WatchMessage::Compacted {
            revision: compacted,
        });
    }
    if r["canceled"].as_bool() == Some(true) {
        let why = r["cancel_reason"].as_str().unwrap_or("no reason given");
        return Ok(WatchMessage::Canceled(why.to_string()));
    }
    if r["created"].as_bool() == Some(true) {
        return Ok(WatchMessage::Created {
            revision: revision(r),
        });
    }
    let mut events = Vec::new();
    for e in r["events"].as_array().into_iter().flatten() {
        let raw: RawKv = serde_json::from_value(e["kv"].clone()).map_err(|e| bad(e.to_string()))?;
        let kv = raw.into_kv().map_err(bad)?;
        events.push(match e["type"].as_str() {
            Some("DELETE") => super::Event::Delete(kv),
            _ => super::Event::Put(kv),
        });
    }
    Ok(WatchMessage::Events {
        revision: revision(r),
        events,
    })
}

/// The error document the gateway answers with: `{"error", "message",
/// "code"}` (a gRPC status code).
pub fn error(status: u16, endpoint: &str, body: &str) -> EtcdError {
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("code").is_some() || v.get("message").is_some() => EtcdError::Api {
            endpoint: endpoint.to_string(),
            status,
            code: int(&v["code"]),
            message: v["message"]
                .as_str()
                .or(v["error"].as_str())
                .unwrap_or("")
                .to_string(),
        },
        _ => EtcdError::Response {
            endpoint: endpoint.to_string(),
            detail: format!(
                "HTTP {status} with a body that is not etcd's: {}",
                body.chars().take(200).collect::<String>()
            ),
        },
    }
}
