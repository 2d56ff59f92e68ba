//! The gateway's answers as etcd 3.4 writes them (captured from a real
//! etcd), parsed; base64 both ways.

use super::wire::*;
use super::*;

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
    assert_eq!(b64(b"/vpc-router/spec"), "L3ZwYy1yb3V0ZXIvc3BlYw==");
    assert_eq!(unb64("eA==").unwrap(), b"x");
    assert_eq!(unb64("not base64!"), None);
}

const RANGE: &str = r#"{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"2","raft_term":"2"},"kvs":[{"key":"L3ZwYy1yb3V0ZXIvc3BlYw==","create_revision":"2","mod_revision":"2","version":"1","value":"eyIxMC41NS4wLjAvMTYiOlsiMTAuMzMuMjAuMTQyIl19"}],"count":"1"}"#;

#[test]
fn a_range_answer_gives_the_key_value_and_the_revision() {
    let v: Value = serde_json::from_str(RANGE).unwrap();
    let (kvs, rev) = range(&v).unwrap();
    assert_eq!(rev, 2);
    assert_eq!(kvs.len(), 1);
    assert_eq!(kvs[0].key, b"/vpc-router/spec");
    assert_eq!(kvs[0].value, br#"{"10.55.0.0/16":["10.33.20.142"]}"#);
    assert_eq!(
        (kvs[0].create_revision, kvs[0].mod_revision, kvs[0].version),
        (2, 2, 1)
    );
    // No key: no "kvs" at all (zero values are omitted).
    let empty: Value = serde_json::from_str(
        r#"{"header":{"cluster_id":"1","member_id":"2","revision":"2","raft_term":"2"}}"#,
    )
    .unwrap();
    assert_eq!(range(&empty).unwrap(), (Vec::new(), 2));
}

#[test]
fn a_dead_leases_keepalive_has_no_ttl() {
    let alive: Value = serde_json::from_str(
        r#"{"result":{"header":{"revision":"2"},"ID":"4111120359586760200","TTL":"5"}}"#,
    )
    .unwrap();
    let dead: Value =
        serde_json::from_str(r#"{"result":{"header":{"revision":"2"},"ID":"12345"}}"#).unwrap();
    assert_eq!(keepalive(&alive), Some(5));
    assert_eq!(keepalive(&dead), None);
    let granted: Value =
        serde_json::from_str(r#"{"header":{"revision":"2"},"ID":"4111120359586760200","TTL":"5"}"#)
            .unwrap();
    assert_eq!(grant(&granted).unwrap(), (4111120359586760200, 5));
}

#[test]
fn a_failed_txn_omits_succeeded_and_carries_its_failure_reads() {
    let v: Value = serde_json::from_str(r#"{"header":{"revision":"2"},"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"L3ZwYy1yb3V0ZXIvc3BlYw==","create_revision":"2","mod_revision":"2","version":"1","value":"eA=="}],"count":"1"}}]}"#).unwrap();
    let (ok, rev, found) = txn(&v).unwrap();
    assert!(!ok);
    assert_eq!(rev, 2);
    assert_eq!(found[0].value, b"x");
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
fn watch_lines_become_messages() {
    let created = r#"{"result":{"header":{"cluster_id":"1","member_id":"2","revision":"2","raft_term":"2"},"created":true}}"#;
    let put = r#"{"result":{"header":{"cluster_id":"1","member_id":"2","revision":"3","raft_term":"2"},"events":[{"kv":{"key":"L3ZwYy1yb3V0ZXIvc3BlYw==","create_revision":"2","mod_revision":"3","version":"2","value":"eA=="}}]}}"#;
    let delete = r#"{"result":{"header":{"cluster_id":"1","member_id":"2","revision":"4","raft_term":"2"},"events":[{"type":"DELETE","kv":{"key":"L3ZwYy1yb3V0ZXIvc3BlYw==","mod_revision":"4"}}]}}"#;
    let compacted = r#"{"result":{"header":{"cluster_id":"1","member_id":"2","raft_term":"2"},"canceled":true,"compact_revision":"3"}}"#;
    assert_eq!(
        watch_line(created).unwrap(),
        WatchMessage::Created { revision: 2 }
    );
    let WatchMessage::Events {
        revision: 3,
        events,
    } = watch_line(put).unwrap()
    else {
        panic!("events")
    };
    assert!(matches!(&events[..], [Event::Put(kv)] if kv.value == b"x" && kv.mod_revision == 3));
    let WatchMessage::Events {
        revision: 4,
        events,
    } = watch_line(delete).unwrap()
    else {
        panic!("events")
    };
    assert!(matches!(&events[..], [Event::Delete(kv)] if kv.key == b"/vpc-router/spec"));
    assert_eq!(
        watch_line(compacted).unwrap(),
        WatchMessage::Compacted { revision: 3 }
    );
}

#[test]
fn errors_keep_etcds_code_and_message() {
    let e = error(
        400,
        "http://127.0.0.1:2379",
        r#"{"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11}"#,
    );
    assert!(e.is_compacted(), "{e}");
    assert_eq!(
        e.to_string(),
        "etcd at http://127.0.0.1:2379 answered HTTP 400: etcdserver: mvcc: required revision \
         has been compacted (code 11)"
    );
    let e = error(404, "http://127.0.0.1:2379", "Not Found");
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
