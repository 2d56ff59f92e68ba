//! The AWS conventions vpc-router follows like the AWS CLI does, through
//! the binary: a CA bundle (`AWS_CA_BUNDLE`, the profile's `ca_bundle`)
//! against an HTTPS endpoint signed by a throw-away CA; endpoint URLs from
//! the profile and its `[services]` section, and ignoring them; retry
//! settings from the profile; `--ip self` from instance metadata; and
//! `--route-table-tag` for the one-shot route commands. Every endpoint is
//! on 127.0.0.1.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::ec2sim::{self, Ec2Sim};
use common::etcd::Tls;
use common::*;
use httpmock::prelude::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The binary with static keys, metadata off, one attempt per call (so a
/// refused TLS handshake fails at once), and `-r`/`-v` given.
fn cmd(home: &str) -> std::process::Command {
    let mut c = base(home);
    c.env("AWS_MAX_ATTEMPTS", "1")
        .args(["-r", "us-east-1", "-v", VPC]);
    c
}

/// [`command`], with the config [`write_config`] wrote for `home`, and a
/// dead proxy for any endpoint off this machine: should a test's endpoint
/// not be used, nothing is sent (nor looked up) beyond 127.0.0.1.
fn base(home: &str) -> std::process::Command {
    let mut c = command(home);
    c.env("HTTPS_PROXY", "http://127.0.0.1:9");
    let config = config_path(home);
    if config.exists() {
        c.env("AWS_CONFIG_FILE", config);
    }
    c
}

fn config_path(home: &str) -> std::path::PathBuf {
    std::env::temp_dir()
        .join(format!(
            "vpc-router-test-{}-{home}-config",
            std::process::id()
        ))
        .join("config")
}

fn run_cmd(mut c: std::process::Command, args: &[&str]) -> Run {
    c.args(args).output().expect("run vpc-router").into()
}

/// Writes `config` as the shared config file of the commands [`cmd`] and
/// [`base`] make for `home` (`AWS_CONFIG_FILE`).
fn write_config(home: &str, config: &str) {
    temp_dir(&format!("{home}-config"));
    fs::write(config_path(home), config).unwrap();
}

/// One HTTP/1.1 message (head and a `Content-Length` body) from `r`;
/// `None` when the stream ends or fails first (a refused handshake).
fn read_message(r: &mut impl Read) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if r.read(&mut byte).ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    buf.extend(body);
    Some(buf)
}

/// An HTTPS endpoint on 127.0.0.1 whose certificate (for 127.0.0.1) is
/// signed by the throw-away CA of `pki`; it relays each request to the
/// EC2 simulator in plain HTTP and counts the requests it relayed.
struct HttpsRelay {
    url: String,
    relayed: Arc<AtomicUsize>,
}

impl HttpsRelay {
    fn start(pki: &Tls, backend: &str) -> HttpsRelay {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&fs::read(pki.path("server.crt")).unwrap())
                .collect::<Result<_, _>>()
                .unwrap();
        let key =
            PrivateKeyDer::from_pem_slice(&fs::read(pki.path("server.key")).unwrap()).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let backend = backend.trim_start_matches("http://").to_string();
        let relayed = Arc::new(AtomicUsize::new(0));
        let count = relayed.clone();
        thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (config, backend, count) = (config.clone(), backend.clone(), count.clone());
                thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, tcp);
                    while let Some(request) = read_message(&mut tls) {
                        let mut up = TcpStream::connect(&backend).unwrap();
                        up.write_all(&request).unwrap();
                        let Some(answer) = read_message(&mut up) else {
                            return;
                        };
                        count.fetch_add(1, Ordering::SeqCst);
                        if tls.write_all(&answer).and_then(|()| tls.flush()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        HttpsRelay { url, relayed }
    }

    fn relayed(&self) -> usize {
        self.relayed.load(Ordering::SeqCst)
    }
}

fn pki(name: &str) -> Tls {
    Tls::generate(&temp_dir(&format!("{name}-pki")))
}

// Issue 13: an endpoint behind a corporate CA failed with UnknownIssuer
// while the AWS CLI worked with the same bundle.
#[test]
fn a_ca_bundle_makes_an_endpoint_behind_a_private_ca_trusted() {
    let pki = pki("ca-bundle");
    let sim = ec2sim::scenario();
    let relay = HttpsRelay::start(&pki, &sim.url());
    // The local route: in every table, so a good run exits 0.
    let show = [
        "--endpoint-url",
        &relay.url,
        "-c",
        "show",
        "--CIDR",
        "10.33.0.0/16",
    ];

    // Without the bundle: the built-in roots do not know the CA.
    let r = run_cmd(cmd("ca-none"), &show);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_contains!(r.stderr, "UnknownIssuer");
    assert_eq!(relay.relayed(), 0);

    // With AWS_CA_BUNDLE.
    let mut c = cmd("ca-env");
    c.env("AWS_CA_BUNDLE", pki.path("ca.crt"));
    let r = run_cmd(c, &show);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_contains!(r.stdout, "rtb-1a2b3c4d");
    assert!(relay.relayed() >= 1);

    // With the profile's ca_bundle.
    let before = relay.relayed();
    write_config(
        "ca-profile",
        &format!("[default]\nca_bundle = {}\n", pki.path("ca.crt").display()),
    );
    let r = run_cmd(cmd("ca-profile"), &show);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(relay.relayed() > before);

    // A bundle of another CA (of the same name) does not make it trusted.
    let other = self::pki("ca-other");
    let mut c = cmd("ca-other");
    c.env("AWS_CA_BUNDLE", other.path("ca.crt"));
    let r = run_cmd(c, &show);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_contains!(r.stderr, "invalid peer certificate: BadSignature");
}

// The bundle is trusted for STS too (web identity): the role's
// credentials come from an STS endpoint behind the same private CA.
#[test]
fn the_ca_bundle_serves_sts_too() {
    let pki = pki("ca-sts");
    let sts = MockServer::start();
    let assume = sts.mock(|when, then| {
        when.method(POST)
            .x_www_form_urlencoded_tuple("Action", "AssumeRoleWithWebIdentity");
        then.status(200)
            .body(fixture("sts-assume-role-with-web-identity.xml"));
    });
    let relay = HttpsRelay::start(&pki, &sts.base_url());
    let sim = ec2sim::scenario();
    let token = temp_dir("ca-sts-token").join("token");
    fs::write(&token, "eyJ.k8s.token").unwrap();
    let show = |bundle: Option<&Path>| {
        let mut c = cmd("ca-sts");
        c.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
            .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/vpc-router")
            .env("AWS_ENDPOINT_URL_STS", &relay.url);
        if let Some(b) = bundle {
            c.env("AWS_CA_BUNDLE", b);
        }
        let url = sim.url();
        run_cmd(
            c,
            &[
                "--endpoint-url",
                &url,
                "-c",
                "show",
                "--CIDR",
                "10.33.0.0/16",
            ],
        )
    };
    let r = show(None);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_contains!(r.stderr, "UnknownIssuer");
    assume.assert_hits(0);
    let r = show(Some(&pki.path("ca.crt")));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assume.assert_hits(1);
    assert_eq!(sim.actions(), ["DescribeRouteTables"]);
}

#[test]
fn a_bad_ca_bundle_stops_the_run_at_start_naming_the_file() {
    let sim = ec2sim::scenario();
    let dir = temp_dir("ca-bad-files");
    let missing = dir.join("missing.pem");
    let garbage = dir.join("garbage.pem");
    fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n",
    )
    .unwrap();
    let not_pem = dir.join("text.pem");
    fs::write(&not_pem, "hello\n").unwrap();
    for (file, says) in [
        (&missing, "cannot read"),
        (&garbage, "the CA file"),
        (&not_pem, "holds no PEM certificate"),
    ] {
        let mut c = cmd("ca-bad");
        c.env("AWS_CA_BUNDLE", file);
        let r = run_cmd(
            c,
            &[
                "--endpoint-url",
                &sim.url(),
                "-c",
                "show",
                "--CIDR",
                "10.55.0.0/16",
            ],
        );
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_contains!(r.stderr, format!("AWS_CA_BUNDLE: "));
        assert_contains!(r.stderr, file.display().to_string());
        assert_contains!(r.stderr, says);
        assert!(sim.calls().is_empty(), "nothing is sent with a bad bundle");
    }
}

/// A proxy on 127.0.0.1 that records each request line (`CONNECT
/// host:443 HTTP/1.1`) and refuses it: it shows which host vpc-router
/// would have called, without anything leaving the machine.
fn refusing_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    thread::spawn(move || {
        for mut tcp in listener.incoming().flatten() {
            if let Some(head) = read_message(&mut tcp) {
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                record.lock().unwrap().push(line);
            }
            let _ = tcp.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        }
    });
    (url, seen)
}

#[test]
fn endpoints_come_from_the_profile_and_its_services_section() {
    let sim = ec2sim::scenario();
    let show = ["-c", "show", "--CIDR", "10.33.0.0/16"];
    // The services section's ec2 endpoint beats the profile's own.
    write_config(
        "ep-services",
        &format!(
            "[default]\nendpoint_url = http://127.0.0.1:1\nservices = local\n\
             [services local]\nec2 =\n  endpoint_url = {}/\n",
            sim.url()
        ),
    );
    let r = run_cmd(cmd("ep-services"), &show);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.actions(), ["DescribeRouteTables"]);

    write_config(
        "ep-profile",
        &format!("[profile router]\nendpoint_url = {}\n", sim.url()),
    );
    let mut c = cmd("ep-profile");
    c.env("AWS_PROFILE", "router");
    let r = run_cmd(c, &show);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.actions().len(), 2);

    // AWS_ENDPOINT_URL beats the profile.
    let mut c = cmd("ep-profile");
    c.env("AWS_PROFILE", "router")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
    let r = run_cmd(c, &show);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_contains!(r.stderr, "127.0.0.1:1");
    assert_eq!(sim.actions().len(), 2);

    // A services name with no such section, and a bad URL, are exit 2.
    write_config("ep-dangling", "[default]\nservices = nowhere\n");
    let r = run_cmd(cmd("ep-dangling"), &show);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(r.stderr, "no [services nowhere] section");
    write_config("ep-bad", "[default]\nendpoint_url = ftp://127.0.0.1\n");
    let r = run_cmd(cmd("ep-bad"), &show);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "endpoint_url of profile default: 'ftp://127.0.0.1' is not an http:// or https:// URL"
    );
}

#[test]
fn configured_endpoints_can_be_ignored_but_not_the_flag() {
    let sim = ec2sim::scenario();
    let show = ["-c", "show", "--CIDR", "10.33.0.0/16"];
    write_config(
        "ep-ignore",
        &format!(
            "[default]\nendpoint_url = {}\nignore_configured_endpoint_urls = true\n",
            sim.url()
        ),
    );
    // The region's endpoint instead: seen by a local proxy that refuses it.
    let (proxy, seen) = refusing_proxy();
    let mut c = cmd("ep-ignore");
    c.env("HTTPS_PROXY", &proxy)
        .env("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:1");
    let r = run_cmd(c, &show);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        *seen.lock().unwrap(),
        ["CONNECT ec2.us-east-1.amazonaws.com:443 HTTP/1.1"]
    );
    assert!(sim.calls().is_empty());

    // The variable overrides the profile's setting.
    let mut c = cmd("ep-ignore");
    c.env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false");
    let r = run_cmd(c, &show);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.actions(), ["DescribeRouteTables"]);

    // --endpoint-url is used whatever the setting.
    let mut c = cmd("ep-ignore-flag");
    c.env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
    let url = sim.url();
    let mut args = vec!["--endpoint-url", url.as_str()];
    args.extend(show);
    let r = run_cmd(c, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.actions().len(), 2);

    let mut c = cmd("ep-ignore-bad");
    c.env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "yes");
    let r = run_cmd(c, &show);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is 'yes'; it must be true or false"
    );
}

#[test]
fn retry_settings_come_from_the_environment_then_the_profile() {
    // A server fault: retried after 50 ms at most, not throttling's 1 s.
    let busy = || (500, fixture("error-internal.xml"));
    let attempts = |home: &str, env: &[(&str, &str)]| {
        let ec2 = Scripted::start(vec![busy(), busy(), busy(), busy(), busy(), busy()]);
        let mut c = base(home);
        c.env_remove("AWS_MAX_ATTEMPTS");
        for (k, v) in env {
            c.env(k, v);
        }
        let r = run_with(c, &ec2.url, &["-c", "show", "--CIDR", "10.55.0.0/16"]);
        (r, ec2.seen().len())
    };
    write_config(
        "retry-profile",
        "[default]\nmax_attempts = 2\nretry_mode = standard\n",
    );
    let (r, n) = attempts("retry-profile", &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(n, 2, "{}", r.stderr);
    let (r, n) = attempts("retry-profile", &[("AWS_MAX_ATTEMPTS", "1")]);
    assert_eq!((r.code, n), (3, 1), "{}", r.stderr);

    write_config(
        "retry-legacy",
        "[default]\nmax_attempts = 3\nretry_mode = legacy\n",
    );
    let (r, n) = attempts("retry-legacy", &[]);
    assert_eq!((r.code, n), (3, 3), "{}", r.stderr);

    write_config("retry-adaptive", "[default]\nretry_mode = adaptive\n");
    let (r, n) = attempts("retry-adaptive", &[]);
    assert_eq!((r.code, n), (2, 0), "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "retry_mode of profile default is adaptive, which vpc-router does not support"
    );
    let (r, n) = attempts("retry-adaptive", &[("AWS_RETRY_MODE", "standard")]);
    assert_eq!((r.code, n), (3, 5), "{}", r.stderr);
    let (r, _) = attempts("retry-env", &[("AWS_RETRY_MODE", "adaptive")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(r.stderr, "AWS_RETRY_MODE is adaptive");
}

#[test]
fn profile_settings_vpc_router_does_not_read_are_warned_about() {
    let sim = ec2sim::scenario();
    write_config(
        "unread",
        "[default]\nec2_metadata_service_endpoint = http://[fd00:ec2::254]\nregion = us-east-1\n",
    );
    let r = run_cmd(
        cmd("unread"),
        &[
            "--endpoint-url",
            &sim.url(),
            "-c",
            "show",
            "--CIDR",
            "10.33.0.0/16",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "profile default: ec2_metadata_service_endpoint is not read by vpc-router (set \
         AWS_EC2_METADATA_SERVICE_ENDPOINT)"
    );
}

/// Instance metadata on httpmock: a token, then `local-ipv4` with it.
fn metadata(local_ipv4: Option<&str>) -> MockServer {
    let imds = MockServer::start();
    imds.mock(|when, then| {
        when.method(PUT)
            .path("/latest/api/token")
            .header_exists("x-aws-ec2-metadata-token-ttl-seconds");
        then.status(200).body("IMDS-TOKEN");
    });
    if let Some(ip) = local_ipv4 {
        imds.mock(|when, then| {
            when.method(GET)
                .path("/latest/meta-data/local-ipv4")
                .header("x-aws-ec2-metadata-token", "IMDS-TOKEN");
            then.status(200).body(ip);
        });
    }
    imds
}

fn with_metadata(home: &str, endpoint: &str) -> std::process::Command {
    let mut c = cmd(home);
    c.env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint);
    c
}

#[test]
fn ip_self_is_the_instance_s_own_primary_ip_from_metadata() {
    let sim = ec2sim::scenario();
    let imds = metadata(Some(A_IP));
    let add = [
        "--endpoint-url",
        &sim.url(),
        "-c",
        "add",
        "--CIDR",
        "10.99.0.0/16",
        "--ip",
        "self",
    ];
    let r = run_cmd(with_metadata("ip-self", &imds.base_url()), &add);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for table in TABLES {
        assert_eq!(
            sim.route_target(table, "10.99.0.0/16").as_deref(),
            Some(A_ENI),
            "{table}"
        );
    }
}

#[test]
fn ip_self_without_metadata_is_a_clear_error_and_changes_nothing() {
    let sim = ec2sim::scenario();
    let add = [
        "--endpoint-url",
        &sim.url(),
        "-c",
        "add",
        "--CIDR",
        "10.99.0.0/16",
        "--ip",
        "self",
    ];
    // Nothing listens there: exit 4, as for AWS that cannot be reached.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let r = run_cmd(with_metadata("ip-self-down", &url), &add);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        format!("--ip self: instance metadata (IMDSv2) at {url} did not answer")
    );
    // Metadata without local-ipv4 (404), or not an address: exit 2.
    let imds = metadata(None);
    let r = run_cmd(with_metadata("ip-self-404", &imds.base_url()), &add);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(
        r.stderr,
        "--ip self: instance metadata has no /latest/meta-data/local-ipv4"
    );
    let imds = metadata(Some("fe80::1"));
    let r = run_cmd(with_metadata("ip-self-v6", &imds.base_url()), &add);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(r.stderr, "local-ipv4 is 'fe80::1', not an IPv4 address");
    // Metadata turned off.
    let r = run_cmd(cmd("ip-self-off"), &add);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(r.stderr, "--ip self: instance metadata is disabled");
    assert!(
        !sim.actions().iter().any(|a| a.ends_with("Route")),
        "{:?}",
        sim.actions()
    );
}

fn tagged_scenario() -> Ec2Sim {
    let sim = ec2sim::scenario();
    sim.set_tag("rtb-1a2b3c4d", "vpc-router", "managed");
    sim.set_tag("rtb-2a2b3c4d", "vpc-router", "other");
    sim
}

#[test]
fn route_table_tag_limits_the_route_commands_to_tagged_tables() {
    let sim = tagged_scenario();
    let url = sim.url();
    let tag = ["--route-table-tag", "vpc-router=managed"];
    let route = |args: &[&str]| {
        let mut all = vec!["--endpoint-url", url.as_str()];
        all.extend(args);
        all.extend(tag);
        run_cmd(cmd("tag"), &all)
    };
    let r = route(&["-c", "add", "--CIDR", "10.99.0.0/16", "--ip", A_IP]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        sim.route_target("rtb-1a2b3c4d", "10.99.0.0/16").as_deref(),
        Some(A_ENI)
    );
    for untagged in ["rtb-0a1b2c3d", "rtb-2a2b3c4d"] {
        assert_eq!(
            sim.route_target(untagged, "10.99.0.0/16"),
            None,
            "{untagged}"
        );
    }
    let r = route(&["-c", "show", "--CIDR", "10.99.0.0/16", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let shown: Vec<&str> = doc["route_tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["route_table"].as_str().unwrap())
        .collect();
    assert_eq!(shown, ["rtb-1a2b3c4d"], "{}", r.stdout);
    // The main table has 10.55.0.0/16 too; del with the tag leaves it.
    let r = route(&["-c", "del", "--CIDR", "10.55.0.0/16"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.route_target("rtb-1a2b3c4d", "10.55.0.0/16"), None);
    assert_eq!(
        sim.route_target("rtb-0a1b2c3d", "10.55.0.0/16").as_deref(),
        Some(A_ENI)
    );
}

#[test]
fn a_tag_no_table_carries_is_an_error_and_changes_nothing() {
    let sim = tagged_scenario();
    let url = sim.url();
    for (tag, tables) in [
        ("vpc-router=Managed", None),
        ("vpc-router=managed", Some("rtb-2a2b3c4d")),
    ] {
        let mut args = vec![
            "--endpoint-url",
            url.as_str(),
            "-c",
            "del",
            "--CIDR",
            "10.55.0.0/16",
            "--route-table-tag",
            tag,
        ];
        if let Some(t) = tables {
            args.extend(["--route-table", t]);
        }
        let r = run_cmd(cmd("tag-none"), &args);
        assert_eq!(r.code, 2, "{}", r.stderr);
        let (k, v) = tag.split_once('=').unwrap();
        assert_contains!(
            r.stderr,
            format!("no route table of {VPC} (of those --route-table names, if given) has the tag {k}={v}")
        );
    }
    assert_eq!(
        sim.actions(),
        ["DescribeRouteTables", "DescribeRouteTables"]
    );
    let r = run_cmd(
        cmd("tag-bad"),
        &[
            "--endpoint-url",
            &url,
            "-c",
            "show",
            "--CIDR",
            "10.55.0.0/16",
            "--route-table-tag",
            "novalue",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(r.stderr, "--route-table-tag: 'novalue' is not Key=Value");
}
