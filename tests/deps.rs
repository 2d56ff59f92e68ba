//! The dependency policy, checked rather than promised (as firecracker's
//! `verify_dependencies` does): every direct dependency says why it is
//! there, and the shipped binary carries no async runtime, no second HTTP
//! stack and no OpenSSL.

use std::process::Command;

fn cargo_tree(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "--edges",
            "normal",
            "--manifest-path",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .args(args)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_direct_dependency_has_a_reason() {
    let manifest = include_str!("../Cargo.toml");
    let mut in_deps = false;
    let mut previous = "";
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', ' ']).next().unwrap();
            assert!(
                previous.starts_with('#'),
                "dependency '{name}' in Cargo.toml has no comment above it saying why it is needed"
            );
        }
        previous = line;
    }
}

#[test]
fn the_binary_has_no_async_runtime_or_other_http_stack() {
    let tree = cargo_tree(&["--prefix", "none"]);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for banned in [
        "hyper",
        "reqwest",
        "h2",
        "mio",
        "async-std",
        "smol",
        "native-tls",
        "openssl",
        "openssl-sys",
        "aws-lc-sys",
    ] {
        assert!(
            !crates.contains(&banned),
            "{banned} is in the shipped dependency tree:\n{tree}"
        );
    }
    for wanted in [
        "ureq",
        "aws-sigv4",
        "quick-xml",
        "lexopt",
        "serde_json",
        "tiny_http",
        "rustls",
        "ring",
    ] {
        assert!(crates.contains(&wanted), "{wanted} missing from the tree");
    }
}

#[test]
fn tokio_comes_in_only_for_its_sync_primitives() {
    // aws-sigv4 depends on aws-smithy-async, which uses tokio's `sync`
    // module. That is data structures, not a runtime: no executor, no
    // reactor, no timers. Any feature beyond that would bring one in.
    let tree = cargo_tree(&[
        "--edges", "features", "--invert", "tokio", "--prefix", "none",
    ]);
    for line in tree.lines().filter(|l| l.starts_with("tokio feature")) {
        let feature = line.split('"').nth(1).unwrap_or("");
        assert!(
            ["default", "sync"].contains(&feature),
            "tokio feature '{feature}' is enabled in the shipped binary:\n{tree}"
        );
    }
}
