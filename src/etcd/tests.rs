//! The gateway's answers as etcd 3.4 writes them (recorded from a real
//! etcd into `fixtures/etcd/`), parsed; base64 both ways; secrets.

use super::wire::*;
use super::*;

fn fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/etcd")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn doc(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

const SPEC_KEY: &[u8] = b"/vpc-router/spec";

#[test]
fn base64_round_trips_every_length() {
    for s in [
        "",
        "f",
        "fo",
        "foo",
        "foob",
        "fooba",
        "foobar",
        "/vpc-router/spec",
    ] {
        assert_eq!(unb64(&b64(s.as_bytes())).unwrap(), s.as_bytes(), "{s}");
    }
    assert_eq!(b64(SPEC_KEY), "L3ZwYy1yb3V0ZXIvc3BlYw==");
    assert_eq!(unb64("eA==").unwrap(), b"x");
    assert_eq!(unb64("not base64!"), None);
}

#[test]
fn a_range_answer_gives_the_key_value_and_the_revision() {
    let (kvs, rev) = range(&doc("range.json")).unwrap();
    assert!(rev > 0);
    assert_eq!(kvs.len(), 1);
    assert_eq!(kvs[0].key, SPEC_KEY);
    assert!(kvs[0].create_revision > 0 && kvs[0].mod_revision >= kvs[0].create_revision);
    assert!(crate::spec::parse(&kvs[0].value).is_ok(), "{:?}", kvs[0]);
    // No key: no "kvs" at all (zero values are omitted).
    let (none, rev) = range(&doc("range-empty.json")).unwrap();
    assert!(none.is_empty() && rev > 0);
}

#[test]
fn writes_answer_with_the_new_revision() {
    assert!(revision(&doc("put.json")) > 0);
    assert!(revision(&doc("deleterange.json")) > 0);
    assert!(revision(&doc("compaction.json")) > 0);
}

#[test]
fn leases_are_granted_renewed_and_seen_dead() {
    let (id, ttl) = grant(&doc("lease-grant.json")).unwrap();
    assert!(id != 0 && ttl > 0);
    assert!(keepalive(&doc("lease-keepalive.json")).is_some_and(|t| t > 0));
    // A dead lease's keepalive carries no TTL at all.
    assert_eq!(keepalive(&doc("lease-keepalive-dead.json")), None);
    assert!(revision(&doc("lease-revoke.json")) > 0);
}

#[test]
fn a_txn_says_which_branch_ran_and_carries_its_reads() {
    let (ok, rev, found) = txn(&doc("txn-succeeded.json")).unwrap();
    assert!(ok && rev > 0 && found.is_empty());
    // A failed txn omits "succeeded" and carries its failure branch's reads.
    let (ok, _, found) = txn(&doc("txn-failed.json")).unwrap();
    assert!(!ok);
    assert_eq!(found.len(), 1, "{found:?}");
    let req = txn_request(
        &[Compare::CreateRevision {
            key: b"k".to_vec(),
            equals: 0,
        }],
        &[Op::Put {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            lease: 7,
        }],
        &[Op::Get { key: b"k".to_vec() }],
    );
    assert_eq!(req["compare"][0]["create_revision"], "0");
    assert_eq!(req["compare"][0]["target"], "CREATE");
    assert_eq!(req["success"][0]["request_put"]["lease"], "7");
    assert_eq!(req["failure"][0]["request_range"]["key"], b64(b"k"));
}

#[test]
fn a_watch_stream_becomes_messages() {
    let msgs: Vec<WatchMessage> = fixture("watch-stream.ndjson")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| watch_line(l).unwrap())
        .collect();
    assert!(matches!(msgs[0], WatchMessage::Created { .. }), "{msgs:?}");
    let WatchMessage::Events { events, .. } = &msgs[1] else {
        panic!("{msgs:?}")
    };
    assert!(matches!(&events[..], [Event::Put(kv)] if kv.key == SPEC_KEY && kv.value == b"{}"));
    let WatchMessage::Events { events, .. } = &msgs[2] else {
        panic!("{msgs:?}")
    };
    assert!(matches!(&events[..], [Event::Delete(kv)] if kv.key == SPEC_KEY));
    let compacted: Vec<WatchMessage> = fixture("watch-compacted.ndjson")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| watch_line(l).unwrap())
        .collect();
    assert!(
        compacted
            .iter()
            .any(|m| matches!(m, WatchMessage::Compacted { revision } if *revision > 0)),
        "{compacted:?}"
    );
}

#[test]
fn errors_keep_etcds_code_and_message_and_say_what_they_mean() {
    let at = "http://127.0.0.1:2379";
    let e = error(400, at, &fixture("error-compacted.json"));
    assert!(e.is_compacted(), "{e}");
    assert_eq!(
        e.to_string(),
        "etcd at http://127.0.0.1:2379 answered HTTP 400: etcdserver: mvcc: required revision \
         has been compacted (code 11)"
    );
    assert!(error(401, at, &fixture("error-invalid-token.json")).token_expired());
    for f in [
        "error-auth-required.json",
        "error-auth-failed.json",
        "error-permission-denied.json",
        "error-lease-not-found.json",
        "error-bad-request.json",
    ] {
        let e = error(400, at, &fixture(f));
        assert!(
            matches!(e, EtcdError::Api { code, .. } if code > 0),
            "{f}: {e}"
        );
        assert!(!e.token_expired() && !e.is_compacted(), "{f}: {e}");
    }
    assert_eq!(
        doc("auth-authenticate.json")["token"]
            .as_str()
            .map(str::is_empty),
        Some(false)
    );
    let e = error(404, at, "Not Found");
    assert!(matches!(e, EtcdError::Response { .. }), "{e}");
}

#[test]
fn secrets_never_print() {
    let s = Settings {
        endpoints: vec!["http://127.0.0.1:2379".into()],
        tls: None,
        auth: Some(("vpc-router".into(), Secret::new("hunter2"))),
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
    };
    let c = Client::new(&s);
    c.token.lock().unwrap().0 = Some(Secret::new("tokensecret.42"));
    let shown = format!("{s:?} {c:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("tokensecret"),
        "{shown}"
    );
}
