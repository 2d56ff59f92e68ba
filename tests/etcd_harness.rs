//! Tests of the etcd harness itself (`tests/common/etcd.rs`), against real
//! etcd processes on loopback: what later tests rely on it for (data kept
//! across a kill -9, compaction, a frozen server, a cluster losing a member,
//! TLS with client certificates, authentication) works as it says.

mod common;

use std::time::Duration;

use common::etcd::{base64_decode, base64_encode, reserve_port, Cluster, Etcd};
use serde_json::{json, Value};

fn b64(s: &str) -> String {
    base64_encode(s.as_bytes())
}

/// A plain-HTTP agent that gives up after `timeout`.
fn quick_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// A range of `key` through `agent`, with `token` if any: the status and
/// the answer, or the transport error.
fn range(
    agent: &ureq::Agent,
    url: &str,
    key: &str,
    token: Option<&str>,
) -> Result<(u16, Value), ureq::Error> {
    let mut req = agent.post(format!("{url}/v3/kv/range"));
    if let Some(token) = token {
        req = req.header("Authorization", token);
    }
    let mut resp = req.send(json!({"key": b64(key)}).to_string())?;
    let text = resp.body_mut().read_to_string()?;
    Ok((resp.status().as_u16(), serde_json::from_str(&text).unwrap()))
}

#[test]
fn base64_round_trips() {
    for (plain, coded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("/vpc-router/spec", "L3ZwYy1yb3V0ZXIvc3BlYw=="),
        ("\0", "AA=="),
    ] {
        assert_eq!(base64_encode(plain.as_bytes()), coded);
        assert_eq!(base64_decode(coded), plain.as_bytes());
    }
}

#[test]
fn reserved_ports_are_distinct_while_held() {
    let ports: Vec<_> = (0..20).map(|_| reserve_port()).collect();
    let mut numbers: Vec<u16> = ports.iter().map(|p| p.port).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 20, "{numbers:?}");
}

#[test]
fn puts_gets_and_deletes() {
    let etcd = Etcd::start("kv");
    assert!(
        etcd.url().starts_with("http://127.0.0.1:"),
        "{}",
        etcd.url()
    );
    assert_eq!(etcd.get("/vpc-router/spec"), None);
    let first = etcd.put("/vpc-router/spec", "{\"10.55.0.0/16\": []}");
    assert_eq!(
        etcd.get("/vpc-router/spec").as_deref(),
        Some("{\"10.55.0.0/16\": []}")
    );
    let second = etcd.put("/vpc-router/empty", "");
    assert_eq!(second, first + 1);
    assert_eq!(etcd.get("/vpc-router/empty").as_deref(), Some(""));
    assert_eq!(etcd.revision(), second);
    assert_eq!(etcd.delete("/vpc-router/spec"), second + 1);
    assert_eq!(etcd.get("/vpc-router/spec"), None);
    assert_contains!(etcd.log(), "became leader");
}

#[test]
fn kill9_and_restart_keep_the_data() {
    let etcd = Etcd::start("restart");
    let rev = etcd.put("/k", "kept");
    etcd.kill9();
    let down = range(
        &quick_agent(Duration::from_secs(2)),
        &etcd.url(),
        "/k",
        None,
    );
    assert!(down.is_err(), "a killed etcd answered: {down:?}");
    etcd.restart();
    assert_eq!(etcd.get("/k").as_deref(), Some("kept"));
    assert_eq!(etcd.revision(), rev);
}

#[test]
fn compaction_drops_old_revisions() {
    let etcd = Etcd::start("compact");
    let old = etcd.put("/k", "1");
    etcd.put("/k", "2");
    let now = etcd.put("/k", "3");
    etcd.compact(now);
    let at_old = json!({"key": b64("/k"), "revision": old.to_string()});
    let (status, answer) = etcd.post("/v3/kv/range", &at_old, None);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["code"], 11, "{answer}");
    assert_contains!(answer["error"].as_str().unwrap(), "compacted");
    let at_now = json!({"key": b64("/k"), "revision": now.to_string()});
    let (status, answer) = etcd.post("/v3/kv/range", &at_now, None);
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn a_paused_etcd_does_not_answer_until_resumed() {
    let etcd = Etcd::start("pause");
    etcd.put("/k", "v");
    etcd.pause();
    let frozen = range(
        &quick_agent(Duration::from_millis(500)),
        &etcd.url(),
        "/k",
        None,
    );
    assert!(frozen.is_err(), "a paused etcd answered: {frozen:?}");
    etcd.resume();
    assert_eq!(etcd.get("/k").as_deref(), Some("v"));
}

#[test]
fn a_cluster_survives_one_member_killed() {
    let cluster = Cluster::start("trio", 3);
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    assert_eq!(
        urls.iter().collect::<std::collections::BTreeSet<_>>().len(),
        3,
        "{urls:?}"
    );
    cluster.member(0).put("/k", "before");
    cluster.member(0).kill9();
    assert_eq!(cluster.member(1).get("/k").as_deref(), Some("before"));
    cluster.member(2).put("/k", "after");
    assert_eq!(cluster.member(1).get("/k").as_deref(), Some("after"));
    cluster.member(0).restart();
    // A linearizable read: the restarted member answers with the
    // cluster's latest value.
    assert_eq!(cluster.member(0).get("/k").as_deref(), Some("after"));
}

#[test]
fn tls_requires_the_client_certificate() {
    let etcd = Etcd::start_tls("tls");
    assert!(
        etcd.url().starts_with("https://127.0.0.1:"),
        "{}",
        etcd.url()
    );
    for file in [etcd.ca(), etcd.client_cert(), etcd.client_key()] {
        assert!(file.is_file(), "{}", file.display());
    }
    etcd.put("/k", "over tls");

    let (status, answer) = range(&etcd.tls_agent(true), &etcd.url(), "/k", None).unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["kvs"][0]["value"], b64("over tls"));

    let refused = range(&etcd.tls_agent(false), &etcd.url(), "/k", None);
    assert!(
        refused.is_err(),
        "answered without a client cert: {refused:?}"
    );
    let plain = range(
        &quick_agent(Duration::from_secs(2)),
        &etcd.url().replace("https:", "http:"),
        "/k",
        None,
    );
    assert!(
        !matches!(plain, Ok((200, _))),
        "answered over plain HTTP: {plain:?}"
    );
}

#[test]
fn auth_refuses_requests_without_a_valid_token() {
    let etcd = Etcd::start("auth");
    etcd.put("/k", "secret");
    etcd.enable_auth("vpc-router", "s3cret");
    let agent = quick_agent(Duration::from_secs(5));

    let (status, answer) = range(&agent, &etcd.url(), "/k", None).unwrap();
    assert_eq!(
        (status, answer["code"].clone()),
        (400, json!(3)),
        "{answer}"
    );
    assert_contains!(answer["error"].as_str().unwrap(), "user name is empty");
    let (status, answer) = range(&agent, &etcd.url(), "/k", Some("made.up")).unwrap();
    assert_eq!(
        (status, answer["code"].clone()),
        (401, json!(16)),
        "{answer}"
    );

    let token = etcd.authenticate("vpc-router", "s3cret");
    let (status, answer) = range(&agent, &etcd.url(), "/k", Some(&token)).unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["kvs"][0]["value"], b64("secret"));

    // The harness goes on working as root, even once a restart has
    // invalidated its token.
    etcd.put("/k", "changed");
    etcd.restart();
    assert_eq!(etcd.get("/k").as_deref(), Some("changed"));
}
