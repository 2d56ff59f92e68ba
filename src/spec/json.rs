//! Strict JSON for every document vpc-router reads from outside: API
//! bodies, route specs, and the state dir's files. serde_json keeps the
//! last of two equal keys in an object; here a key given twice, at any
//! depth, is an error that names the key, so that `{"dst_cidr": A,
//! "dst_cidr": B}` never means B by accident.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a document was refused.
#[derive(Debug)]
pub enum JsonError {
    /// Not JSON, or (for [`parse_entries`]) not an object: serde_json's
    /// own error (`is_data()` tells the two apart).
    Syntax(serde_json::Error),
    /// A key given twice in one object. `path` holds the keys of the
    /// objects around it, outermost first (empty: the top level).
    Duplicate {
        key: String,
        path: Vec<String>,
        line: usize,
        column: usize,
    },
}

impl JsonError {
    /// The key at the top level the error is under: the duplicated key
    /// itself, or the outermost key around it.
    pub fn top_key(&self) -> Option<&str> {
        match self {
            JsonError::Syntax(_) => None,
            JsonError::Duplicate { key, path, .. } => Some(path.first().unwrap_or(key)),
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(e) => e.fmt(f),
            JsonError::Duplicate {
                key,
                path,
                line,
                column,
            } => {
                write!(f, "the key \"{key}\" is given twice")?;
                if !path.is_empty() {
                    let within: Vec<String> = path.iter().map(|k| format!("\"{k}\"")).collect();
                    write!(f, " in the object under {}", within.join(" > "))?;
                }
                write!(f, " (line {line}, column {column}); give each key once")
            }
        }
    }
}

impl std::error::Error for JsonError {}

/// Where the first duplicate was found, filled in on the way down and
/// given its enclosing keys on the way back up.
type Found = RefCell<Option<(String, Vec<String>)>>;

/// Parses a whole document into a [`Value`], refusing duplicate keys.
pub fn parse(doc: &[u8]) -> Result<Value, JsonError> {
    let found = Found::default();
    run(doc, &found, Strict { found: &found })
}

/// Parses a document that must be an object into its entries, in document
/// order, refusing duplicate keys (at the top level too).
pub fn parse_entries(doc: &[u8]) -> Result<Vec<(String, Value)>, JsonError> {
    let found = Found::default();
    run(doc, &found, Entries { found: &found })
}

fn run<'de, S: DeserializeSeed<'de>>(
    doc: &'de [u8],
    found: &Found,
    seed: S,
) -> Result<S::Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(doc);
    let value = seed
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| match found.borrow_mut().take() {
            Some((key, path)) => JsonError::Duplicate {
                key,
                path,
                line: e.line(),
                column: e.column(),
            },
            None => JsonError::Syntax(e),
        })?;
    Ok(value)
}

/// Reads an object's entries, each value strictly; `add` keeps each one.
fn entries<'de, A: MapAccess<'de>>(
    mut map: A,
    found: &Found,
    mut add: impl FnMut(String, Value),
) -> Result<(), A::Error> {
    let mut seen = HashSet::new();
    while let Some(key) = map.next_key::<String>()? {
        if !seen.insert(key.clone()) {
            *found.borrow_mut() = Some((key.clone(), Vec::new()));
            return Err(A::Error::custom(format!(
                "the key \"{key}\" is given twice"
            )));
        }
        match map.next_value_seed(Strict { found }) {
            Ok(v) => add(key, v),
            Err(e) => {
                if let Some((_, path)) = found.borrow_mut().as_mut() {
                    path.insert(0, key);
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

struct Strict<'a> {
    found: &'a Found,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict { found: self.found })? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        entries(map, self.found, |k, v| {
            out.insert(k, v);
        })?;
        Ok(Value::Object(out))
    }
}

struct Entries<'a> {
    found: &'a Found,
}

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = Vec<(String, Value)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = Vec<(String, Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        entries(map, self.found, |k, v| out.push((k, v)))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(doc: &str) -> (String, Vec<String>, String) {
        match parse(doc.as_bytes()) {
            Err(e @ JsonError::Duplicate { .. }) => {
                let text = e.to_string();
                let JsonError::Duplicate { key, path, .. } = e else {
                    unreachable!()
                };
                (key, path, text)
            }
            other => panic!("{doc}: {other:?}"),
        }
    }

    #[test]
    fn a_key_given_twice_is_refused_at_any_depth_and_named() {
        let (key, path, text) = dup(r#"{"dst_cidr": "A", "dst_cidr": "B"}"#);
        assert_eq!((key.as_str(), path.len()), ("dst_cidr", 0));
        assert_eq!(
            text,
            "the key \"dst_cidr\" is given twice (line 1, column 28); give each key once"
        );
        let (key, path, text) = dup(r#"{"a": [1, {"b": {"ip": 1, "ip": 2}}]}"#);
        assert_eq!((key.as_str(), path), ("ip", vec!["a".into(), "b".into()]));
        assert!(
            text.contains("\"ip\" is given twice in the object under \"a\" > \"b\""),
            "{text}"
        );
        let e = parse(br#"{"x": {"k": 1, "k": 1}}"#).unwrap_err();
        assert_eq!(e.top_key(), Some("x"));
        let e = parse_entries(br#"{"x": 1, "y": 2, "x": 3}"#).unwrap_err();
        assert_eq!(e.top_key(), Some("x"));
    }

    #[test]
    fn everything_else_reads_as_serde_json_reads_it() {
        let doc = r#"{"s": "t\u00e9", "n": -3, "u": 18446744073709551615, "f": 1.5,
                      "b": [true, false, null], "o": {"k": {}}, "e": []}"#;
        assert_eq!(
            parse(doc.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(doc).unwrap()
        );
        // The same key in two different objects is not a duplicate.
        assert!(parse(br#"[{"k": 1}, {"k": 2}]"#).is_ok());
        assert_eq!(
            parse_entries(br#"{"z": 1, "a": 2}"#).unwrap(),
            vec![("z".to_string(), 1.into()), ("a".to_string(), 2.into())]
        );
        for bad in ["{", "{} x", "", "[1,]"] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(JsonError::Syntax(e)) if !e.is_data()),
                "{bad}"
            );
        }
        assert!(matches!(parse_entries(b"[1]"), Err(JsonError::Syntax(e)) if e.is_data()));
        // serde_json's nesting limit still holds.
        let deep = "[".repeat(10_000);
        assert!(matches!(parse(deep.as_bytes()), Err(JsonError::Syntax(_))));
    }
}
