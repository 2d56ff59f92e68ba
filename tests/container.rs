//! The static binary in an empty root, as the container image
//! (`dist/Containerfile`, `FROM scratch`) runs it: a chroot that holds the
//! musl binary and nothing else (no libc, no /etc, no /dev, no /proc; the CA
//! roots are compiled in), run as uid and gid 65534, against the EC2
//! simulator on 127.0.0.1. For the daemon the root also has what the image
//! has: the state dir `/var/lib/vpc-router` owned by 65534 (also its
//! `TMPDIR`, for the workers' private socket directory) and a spec file.
//!
//! The binary is built here with `cargo build --profile static-test
//! --target x86_64-unknown-linux-musl`: the target and static linking of
//! `make static`, without the release profile's LTO (see Cargo.toml).
//! Needs root for chroot(2), as CI has.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::ec2sim::scenario;
use common::*;

const MUSL: &str = "x86_64-unknown-linux-musl";
/// The image's user: nobody.
const USER: &str = "65534:65534";
const NOBODY: u32 = 65534;
const STATE: &str = "/var/lib/vpc-router";

/// The static binary, built once per test run (cargo does nothing when it
/// is up to date). Fails, saying what to install, if it cannot be built.
fn static_binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build_static)
}

fn build_static() -> PathBuf {
    // target/debug/vpc-router → target: CARGO_TARGET_DIR is honoured.
    let target = Path::new(BIN).parent().unwrap().parent().unwrap();
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    if let Ok(o) = installed {
        let list = String::from_utf8_lossy(&o.stdout);
        assert!(
            list.lines().any(|l| l.trim() == MUSL),
            "the Rust target {MUSL} is not installed: run `rustup target add {MUSL}` \
             (`make test` and `make static` do)"
        );
    }
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--profile", "static-test", "--target", MUSL])
        .args(["--bin", "vpc-router"])
        .env("CARGO_TARGET_DIR", target);
    // ring compiles C for the target: musl-gcc if there, else gcc (as
    // `make static` does), unless the caller chose a compiler.
    let cc_var = format!("CC_{}", MUSL.replace('-', "_"));
    if std::env::var_os(&cc_var).is_none() {
        if let Some(cc) = ["musl-gcc", "gcc"].into_iter().find(|cc| on_path(cc)) {
            c.env(&cc_var, cc);
        }
    }
    let o = c.output().expect("run cargo");
    assert!(
        o.status.success(),
        "cannot build the static binary (cargo build --profile static-test --target {MUSL}); \
         it needs the Rust target (`rustup target add {MUSL}`) and a C compiler for ring \
         (gcc, or musl-gcc from Debian's musl-tools):\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let bin = target.join(MUSL).join("static-test").join("vpc-router");
    assert!(bin.is_file(), "cargo built no {}", bin.display());
    bin
}

fn on_path(name: &str) -> bool {
    which(name).is_some()
}

/// Where `name` is on the PATH (or in /usr/sbin, /sbin).
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The ELF file asks for no program interpreter (no PT_INTERP segment):
/// the kernel runs it as it is, with no ld.so and no libc beside it.
fn assert_static(bin: &Path) {
    let elf = std::fs::read(bin).unwrap();
    assert_eq!(&elf[..5], b"\x7fELF\x02", "not a 64-bit ELF file");
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([elf[at], elf[at + 1]]));
    let phoff = usize::try_from(u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap())).unwrap();
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    let interp = (0..count).any(|i| {
        let at = phoff + i * size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3
    });
    assert!(!interp, "{} is dynamically linked", bin.display());
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// An empty root with only the static binary in it, as `/vpc-router`.
/// Each test removes it when it passes (it holds an 11 MB binary).
fn empty_root(name: &str) -> PathBuf {
    assert!(
        is_root(),
        "this test needs root: it runs the static binary under chroot(8) as uid 65534 \
         (CI runs as root; run it as root, e.g. `sudo -E cargo test --test container`)"
    );
    let bin = static_binary();
    assert_static(bin);
    let root = temp_dir(name);
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(bin, root.join("vpc-router")).unwrap();
    root
}

/// `chroot --userspec=65534:65534 ROOT /vpc-router`, with an environment of
/// fake keys and nothing else (no HOME, no PATH).
fn in_root(root: &Path) -> Command {
    // Found here: the child's environment has no PATH.
    let chroot = which("chroot").expect("chroot(8) not found (Debian: coreutils)");
    let mut c = Command::new(chroot);
    c.env_clear()
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "3")
        .arg(format!("--userspec={USER}"))
        .arg(root)
        .arg("/vpc-router");
    c
}

/// Everything under `root`, relative: what the chroot held.
fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = e.path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_static_binary_runs_show_in_an_empty_root_as_nobody() {
    let sim = scenario();
    // 10.55.0.0/16 in every table, so that show exits 0.
    sim.add_route_to_eni("rtb-2a2b3c4d", "10.55.0.0/16", A_ENI);
    let root = empty_root("container-show");
    let mut c = in_root(&root);
    c.args(["--version"]);
    let r: Run = c.output().unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_contains!(r.stdout, "vpc-router ");

    let r = run_with(
        in_root(&root),
        &sim.url(),
        &["-c", "show", "--CIDR", "10.55.0.0/16"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_contains!(
        r.stdout,
        "rtb-2a2b3c4d         found: eni-0aaaaaaaaaaaaaaa1"
    );
    assert_contains!(r.stdout, B_ENI);
    // It reached the simulator, and left nothing behind in its root.
    assert!(sim.actions().iter().any(|a| a == "DescribeRouteTables"));
    assert_eq!(listing(&root), ["vpc-router"]);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_daemon_makes_its_pass_and_checks_health_in_an_empty_root_as_nobody() {
    let sim = scenario();
    let root = empty_root("container-daemon");
    // What the image adds to the binary: the state dir, owned by nobody.
    let state = root.join(STATE.trim_start_matches('/'));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&state, Some(NOBODY), Some(NOBODY)).unwrap();
    // The routers' health endpoints: listeners on loopback, as in
    // tests/failover.rs, checked over TCP (no capability needed).
    let a = TcpListener::bind("127.0.0.2:0").unwrap();
    let b = TcpListener::bind("127.0.0.3:0").unwrap();
    let (a, b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    std::fs::write(
        root.join("spec.json"),
        format!(r#"{{"10.60.0.0/16": [{{"ip": "{A_IP}", "check": "{a}"}}, {{"ip": "{B_IP}", "check": "{b}"}}]}}"#),
    )
    .unwrap();

    let mut c = in_root(&root);
    c.env("TMPDIR", STATE);
    let d = Daemon::start_with(
        c,
        &sim.url(),
        &[
            "-m",
            "configfile",
            "-f",
            "/spec.json",
            "--state-dir",
            STATE,
            "--health",
            "tcp",
            "--check-interval",
            "0.05",
            "--route-recheck-interval",
            "0",
        ],
    );
    converge(&sim, "10.60.0.0/16", Some(A_ENI));
    let status = wait_for_status(&d, |st| {
        st["reconcile"]["last_pass"]["result"].is_string()
            && st["reconcile"]["hosts"]
                .as_array()
                .is_some_and(|h| h.len() == 2 && h.iter().all(|h| h["state"] == "healthy"))
    });
    assert_eq!(status["reconcile"]["hosts"].as_array().unwrap().len(), 2);
    // It runs as nobody, not as root.
    let proc_status = std::fs::read_to_string(format!("/proc/{}/status", d.child.id())).unwrap();
    let uids = proc_status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uids.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["65534"; 4],
        "{proc_status}"
    );

    d.signal("TERM");
    let (code, log) = d.wait(Duration::from_secs(10));
    assert_eq!(code, 0, "{log}");
    // Its state, written as nobody; the private socket directory is gone.
    let owned = state.join("owned.json");
    assert_eq!(std::fs::metadata(&owned).unwrap().uid(), NOBODY, "{log}");
    assert_contains!(std::fs::read_to_string(&owned).unwrap(), "10.60.0.0/16");
    let left: Vec<_> = listing(&root)
        .into_iter()
        .filter(|p| p.contains("vpc-router-"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}\n{log}");
    let _ = std::fs::remove_dir_all(&root);
}

/// What the image adds to the binary, and why: with no /tmp and no
/// `TMPDIR`, the daemon has nowhere for its private socket directory and
/// says so; and ICMP checks as nobody need CAP_NET_RAW or a
/// `ping_group_range` that includes its group (README, "Container image").
#[test]
fn in_an_empty_root_the_daemon_names_what_it_lacks() {
    let sim = scenario();
    let root = empty_root("container-lacks");
    let state = root.join(STATE.trim_start_matches('/'));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&state, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::write(
        root.join("spec.json"),
        format!(r#"{{"10.60.0.0/16": [{{"ip": "{A_IP}", "check": "127.0.0.1"}}]}}"#),
    )
    .unwrap();
    let args = |extra: &[&str]| -> Vec<String> {
        ["-m", "configfile", "-f", "/spec.json", "--state-dir", STATE]
            .iter()
            .chain(extra)
            .map(|s| (*s).to_string())
            .collect()
    };
    let exits = |mut c: Command, extra: &[&str]| -> Run {
        c.args([
            "-r",
            "us-east-1",
            "-v",
            VPC,
            "--endpoint-url",
            &sim.url(),
            "-d",
            "-p",
            "0",
        ])
        .args(args(extra));
        run_limited(c)
    };

    let r = exits(in_root(&root), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_contains!(r.stderr, "cannot create a private directory under /tmp");

    // The kernel lets a group open unprivileged ICMP sockets only if
    // net.ipv4.ping_group_range covers it; nobody has no capability.
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    let bounds: Vec<u32> = range
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let mut c = in_root(&root);
    c.env("TMPDIR", STATE);
    if (bounds[0]..=bounds[1]).contains(&NOBODY) {
        // Allowed here: the checks work, as nobody.
        let extra = args(&["--health", "icmp", "--check-interval", "0.05"]);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let d = Daemon::start_with(c, &sim.url(), &extra);
        wait_for_status(&d, |st| {
            st["reconcile"]["hosts"]
                .as_array()
                .is_some_and(|h| h.len() == 1 && h[0]["state"] == "healthy")
        });
    } else {
        let r = exits(c, &["--health", "icmp", "--check-interval", "0.05"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_contains!(r.stderr, "cannot open an ICMP socket");
        assert_contains!(r.stderr, "CAP_NET_RAW");
        assert_contains!(r.stderr, "ping_group_range");
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// Runs `c` to its end, killing it after 20 s (then the test fails).
fn run_limited(mut c: Command) -> Run {
    use std::process::Stdio;
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > until {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "did not exit within 20 s: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap().into()
}
