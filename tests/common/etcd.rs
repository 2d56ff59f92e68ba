//! Real etcd servers for tests: each member is a child process (Debian's
//! `etcd-server`, 3.4) on loopback ports of its own, with its data and log
//! in a fresh temp dir, driven through its HTTP/JSON gateway with ureq. A
//! single server (`Etcd`), optionally TLS with client certificates or with
//! authentication on, or a cluster of members (`Cluster`) for failover.
//! Dropping one kills its process and removes its dir.

use std::fs::{self, File, OpenOptions};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// How long a member may take to answer after it is started: elections on
/// a 2-core machine shared with other builds can be slow.
const READY: Duration = Duration::from_secs(30);
/// Bound on each of the harness's own gateway calls.
const CALL: Duration = Duration::from_secs(10);
/// The root user's password once [`Etcd::enable_auth`] has run; the harness
/// authenticates as root for its own calls.
pub const ROOT_PASSWORD: &str = "root-password-for-tests";
/// Where ports are reserved: one lock file per port, held (flock) by the
/// test process that uses it, so parallel test processes never share one.
const PORT_LOCKS: &str = "vpc-router-test-ports";
/// Ports are taken from here, below Linux's ephemeral range (32768-60999)
/// so that no outgoing connection or bind to port 0 can hold one.
const PORTS: std::ops::Range<u16> = 20000..32000;

/// A loopback port reserved for this process until dropped.
pub struct Port {
    pub port: u16,
    _lock: File,
}

/// Reserves a free port on 127.0.0.1: its lock file keeps other test
/// processes (and threads of this one) off it; the trial bind skips ports
/// that something else already listens on.
pub fn reserve_port() -> Port {
    let dir = std::env::temp_dir().join(PORT_LOCKS);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let span = u32::from(PORTS.end - PORTS.start);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let start = (std::process::id().wrapping_mul(7919) ^ nanos) % span;
    for i in 0..span {
        let port = PORTS.start + ((start + i) % span) as u16;
        let path = dir.join(format!("{port}.lock"));
        let Ok(lock) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        else {
            continue;
        };
        if lock.try_lock().is_ok() && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Port { port, _lock: lock };
        }
    }
    panic!("no free port in {PORTS:?} on 127.0.0.1");
}

/// The path of `name` on PATH or in the usual system dirs.
fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn etcd_binary() -> PathBuf {
    find_binary("etcd").unwrap_or_else(|| {
        panic!(
            "etcd not found: install Debian's etcd-server (apt-get install etcd-server); \
             `make test` installs it"
        )
    })
}

/// A fresh dir for one member, unique across this process's threads.
fn member_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    super::temp_dir(&format!(
        "etcd-{name}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

pub fn base64_encode(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {text:?}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | u32::from(d) << (18 - 6 * i));
        out.extend(n.to_be_bytes()[1..chunk.len()].iter());
    }
    out
}

fn b64(s: &str) -> String {
    base64_encode(s.as_bytes())
}

/// An int64 of the gateway: a JSON string, absent when zero.
fn int(v: &Value) -> i64 {
    v.as_str().map_or(0, |s| s.parse().unwrap())
}

/// The throw-away PKI of a TLS server: CA, server and client certificates.
pub struct Tls {
    dir: PathBuf,
}

impl Tls {
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

struct Auth {
    token: Option<String>,
}

/// How one member runs: what `etcd` gets on its command line.
struct Member {
    name: String,
    client: Port,
    peer: Port,
    initial_cluster: String,
    cluster_token: String,
}

/// One etcd server (alone, or a member of a [`Cluster`]).
pub struct Etcd {
    member: Member,
    dir: PathBuf,
    tls: Option<Tls>,
    agent: ureq::Agent,
    child: Mutex<Option<Child>>,
    auth: Mutex<Option<Auth>>,
}

/// A gateway call that did not get a 200: the status if there was an
/// answer, and what happened.
struct Failure {
    status: Option<u16>,
    why: String,
}

/// Why members did not come up: which one, and why.
enum NotReady {
    /// Another process took one of its ports between the reservation and
    /// the bind: worth another try on other ports.
    PortTaken(usize),
    Failed(usize, String),
}

/// Polls (bounded) until every one of `members` answers a read, which for
/// a cluster member means that the cluster has a leader.
fn wait_ready(members: &[&Etcd]) -> Result<(), NotReady> {
    let until = Instant::now() + READY;
    let mut ready = vec![false; members.len()];
    loop {
        for (i, m) in members.iter().enumerate() {
            if ready[i] {
                continue;
            }
            let last = match m.try_call("/v3/kv/range", &json!({"key": b64("\0")}), READY / 10) {
                Ok(_) => {
                    ready[i] = true;
                    continue;
                }
                Err(e) => e.why,
            };
            let exited = match m.child.lock().unwrap().as_mut() {
                Some(child) => child.try_wait().unwrap(),
                None => return Err(NotReady::Failed(i, "it was killed while starting".into())),
            };
            if let Some(status) = exited {
                if m.log().contains("address already in use") {
                    return Err(NotReady::PortTaken(i));
                }
                return Err(NotReady::Failed(i, format!("it exited ({status})")));
            }
            if Instant::now() > until {
                let why = format!("it did not answer within {READY:?}; last: {last}");
                return Err(NotReady::Failed(i, why));
            }
        }
        if ready.iter().all(|r| *r) {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

impl Etcd {
    /// A single-member etcd on plain HTTP, answering.
    pub fn start(name: &str) -> Etcd {
        Etcd::start_with(name, false)
    }

    /// A single-member etcd serving clients over HTTPS only, requiring a
    /// client certificate signed by its throw-away CA.
    pub fn start_tls(name: &str) -> Etcd {
        Etcd::start_with(name, true)
    }

    fn start_with(name: &str, tls: bool) -> Etcd {
        let mut attempts = 0;
        loop {
            let (client, peer) = (reserve_port(), reserve_port());
            let member = Member {
                initial_cluster: format!("{name}=http://127.0.0.1:{}", peer.port),
                cluster_token: format!("{name}-{}-{}", std::process::id(), client.port),
                name: name.to_string(),
                client,
                peer,
            };
            let etcd = Etcd::new(member, tls);
            etcd.spawn();
            match wait_ready(&[&etcd]) {
                Ok(()) => return etcd,
                Err(NotReady::PortTaken(_)) if attempts < 3 => attempts += 1,
                Err(NotReady::PortTaken(_)) => {
                    etcd.fail("it kept losing its ports to other processes")
                }
                Err(NotReady::Failed(_, why)) => etcd.fail(&why),
            }
        }
    }

    fn new(member: Member, tls: bool) -> Etcd {
        let dir = member_dir(&member.name);
        let tls = tls.then(|| Tls::generate(&dir));
        let agent = agent(tls.as_ref(), true);
        Etcd {
            member,
            dir,
            tls,
            agent,
            child: Mutex::new(None),
            auth: Mutex::new(None),
        }
    }

    /// The client URL: `http://127.0.0.1:PORT`, or `https://` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.member.client.port)
    }

    /// The temp dir: data in `data/`, the log in `etcd.log`, TLS files in
    /// `tls/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Everything etcd wrote to stdout and stderr, across restarts.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default()
    }

    fn tls(&self) -> &Tls {
        self.tls
            .as_ref()
            .unwrap_or_else(|| panic!("etcd {} was not started with TLS", self.member.name))
    }

    /// The CA that signed the server and client certificates (PEM).
    pub fn ca(&self) -> PathBuf {
        self.tls().path("ca.crt")
    }

    /// A client certificate the server accepts (PEM).
    pub fn client_cert(&self) -> PathBuf {
        self.tls().path("client.crt")
    }

    /// The client certificate's private key (PKCS#8 PEM).
    pub fn client_key(&self) -> PathBuf {
        self.tls().path("client.key")
    }

    /// A ureq agent that trusts this server's CA and, if `client_cert`,
    /// presents the client certificate; statuses are not errors.
    pub fn tls_agent(&self, client_cert: bool) -> ureq::Agent {
        agent(Some(self.tls()), client_cert)
    }

    fn spawn(&self) {
        let m = &self.member;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("etcd.log"))
            .unwrap();
        let client = self.url();
        let peer = format!("http://127.0.0.1:{}", m.peer.port);
        let mut c = Command::new(etcd_binary());
        // A clean environment: etcd reads its flags from ETCD_* variables too.
        c.env_clear()
            .current_dir(&self.dir)
            .arg("--name")
            .arg(&m.name)
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &m.initial_cluster])
            .args(["--initial-cluster-token", &m.cluster_token])
            .args(["--initial-cluster-state", "new"])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            // The passwords are throw-away: the cheapest bcrypt keeps
            // authentication fast.
            .args(["--bcrypt-cost", "4"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(tls) = &self.tls {
            c.arg("--cert-file")
                .arg(tls.path("server.crt"))
                .arg("--key-file")
                .arg(tls.path("server.key"))
                .arg("--trusted-ca-file")
                .arg(tls.path("ca.crt"))
                .arg("--client-cert-auth");
        }
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", etcd_binary().display()));
        *self.child.lock().unwrap() = Some(child);
    }

    #[track_caller]
    fn fail(&self, why: &str) -> ! {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        panic!(
            "etcd {} at {}: {why}\n--- {} (last 60 lines)\n{tail}\n--- end of log",
            self.member.name,
            self.url(),
            self.dir.join("etcd.log").display()
        )
    }

    /// Kills the process with SIGKILL (even if paused) and reaps it.
    pub fn kill9(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process if it runs, starts it again on the same data dir
    /// and ports, and waits until it answers.
    pub fn restart(&self) {
        self.kill9();
        self.spawn();
        match wait_ready(&[self]) {
            Ok(()) => {}
            Err(NotReady::PortTaken(_)) => self.fail("restart: another process took its port"),
            Err(NotReady::Failed(_, why)) => self.fail(&format!("restart: {why}")),
        }
    }

    /// Sends `sig` to the running process; its pid.
    fn signal(&self, sig: libc::c_int) -> u32 {
        let guard = self.child.lock().unwrap();
        let child = guard
            .as_ref()
            .unwrap_or_else(|| panic!("etcd {} is not running", self.member.name));
        // SAFETY: kill(2) takes no pointers; the pid is our unreaped child,
        // so it cannot have been reused by another process.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", child.id());
        child.id()
    }

    /// Freezes the process (SIGSTOP): its ports stay open, nothing
    /// answers. Returns once every thread of it is stopped (the signal is
    /// delivered asynchronously).
    pub fn pause(&self) {
        let pid = self.signal(libc::SIGSTOP);
        let until = Instant::now() + CALL;
        loop {
            let states = thread_states(pid);
            if !states.is_empty() && states.iter().all(|s| *s == 'T') {
                return;
            }
            assert!(
                Instant::now() < until,
                "etcd {} (pid {pid}) did not stop: thread states {states:?}",
                self.member.name
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Lets a paused process run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }
}

/// The state letter (R, S, T, ...) of each thread of process `pid`.
pub fn thread_states(pid: u32) -> Vec<char> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("stat")).ok())
        // The state follows the command name, which is in parentheses.
        .filter_map(|stat| stat.rsplit_once(") ")?.1.chars().next())
        .collect()
}

impl Etcd {
    /// POSTs `body` to the gateway at `path` as it is: no authentication
    /// added. The status and the answer (JSON, or the text as a string).
    pub fn post(&self, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
        send(&self.agent, &self.url(), path, body, token, CALL)
            .unwrap_or_else(|e| self.fail(&format!("POST {path}: {e}")))
    }

    /// POSTs to the gateway as the harness (as root once auth is on); the
    /// answer of a 200, else a panic with the error and the log. While the
    /// cluster has no leader for a moment (etcd answers 503, Unavailable:
    /// "leader changed", "no leader"), it asks again, for a bounded time.
    pub fn call(&self, path: &str, body: &Value) -> Value {
        let until = Instant::now() + CALL;
        loop {
            match self.try_call(path, body, CALL) {
                Ok(answer) => return answer,
                Err(e) if e.status == Some(503) && Instant::now() < until => {
                    thread::sleep(Duration::from_millis(50));
                }
                Err(e) => self.fail(&e.why),
            }
        }
    }

    fn try_call(&self, path: &str, body: &Value, timeout: Duration) -> Result<Value, Failure> {
        for attempt in 0.. {
            let token = self.root_token(timeout)?;
            let url = self.url();
            let (status, answer) = send(&self.agent, &url, path, body, token.as_deref(), timeout)
                .map_err(|why| Failure { status: None, why })?;
            // Simple tokens die with a restart and after their TTL: log in
            // again once.
            if status == 401 && token.is_some() && attempt == 0 {
                self.auth.lock().unwrap().as_mut().unwrap().token = None;
                continue;
            }
            if status != 200 {
                return Err(Failure {
                    status: Some(status),
                    why: format!("POST {path} {body}: {status} {answer}"),
                });
            }
            return Ok(answer);
        }
        unreachable!()
    }

    /// Root's token when auth is on (authenticating if none is cached).
    fn root_token(&self, timeout: Duration) -> Result<Option<String>, Failure> {
        let mut auth = self.auth.lock().unwrap();
        let Some(auth) = auth.as_mut() else {
            return Ok(None);
        };
        if auth.token.is_none() {
            let body = json!({"name": "root", "password": ROOT_PASSWORD});
            let path = "/v3/auth/authenticate";
            let (status, answer) = send(&self.agent, &self.url(), path, &body, None, timeout)
                .map_err(|why| Failure { status: None, why })?;
            if status != 200 {
                return Err(Failure {
                    status: Some(status),
                    why: format!("authenticate as root: {status} {answer}"),
                });
            }
            auth.token = answer["token"].as_str().map(str::to_string);
        }
        Ok(auth.token.clone())
    }

    /// A token for `user` (POST /v3/auth/authenticate).
    pub fn authenticate(&self, user: &str, password: &str) -> String {
        let body = json!({"name": user, "password": password});
        let (status, answer) = self.post("/v3/auth/authenticate", &body, None);
        assert_eq!(status, 200, "authenticate {user}: {answer}");
        answer["token"].as_str().unwrap().to_string()
    }

    /// Turns authentication on: root (password [`ROOT_PASSWORD`], role
    /// root, as etcd requires), then `user` with a role that may read and
    /// write every key. The harness's own calls go on working, as root.
    pub fn enable_auth(&self, user: &str, password: &str) {
        assert_ne!(user, "root", "root is the harness's own user");
        let all = b64("\0");
        for (path, body) in [
            (
                "/v3/auth/user/add",
                json!({"name": "root", "password": ROOT_PASSWORD}),
            ),
            ("/v3/auth/role/add", json!({"name": "root"})),
            (
                "/v3/auth/user/grant",
                json!({"user": "root", "role": "root"}),
            ),
            (
                "/v3/auth/user/add",
                json!({"name": user, "password": password}),
            ),
            ("/v3/auth/role/add", json!({"name": "readwrite"})),
            (
                "/v3/auth/role/grant",
                json!({"name": "readwrite",
                       "perm": {"permType": "READWRITE", "key": all, "range_end": all}}),
            ),
            (
                "/v3/auth/user/grant",
                json!({"user": user, "role": "readwrite"}),
            ),
            ("/v3/auth/enable", json!({})),
        ] {
            self.call(path, &body);
        }
        *self.auth.lock().unwrap() = Some(Auth { token: None });
    }

    /// Puts `key` = `value`; the store's revision after it.
    pub fn put(&self, key: &str, value: &str) -> i64 {
        let answer = self.call("/v3/kv/put", &json!({"key": b64(key), "value": b64(value)}));
        int(&answer["header"]["revision"])
    }

    /// The value of `key` (UTF-8), if it exists.
    pub fn get(&self, key: &str) -> Option<String> {
        let answer = self.call("/v3/kv/range", &json!({"key": b64(key)}));
        let kv = answer["kvs"].get(0)?;
        // An empty value is omitted, like every zero value.
        let value = base64_decode(kv["value"].as_str().unwrap_or(""));
        Some(String::from_utf8(value).expect("a UTF-8 value"))
    }

    /// Deletes `key`; the store's revision after it.
    pub fn delete(&self, key: &str) -> i64 {
        let answer = self.call("/v3/kv/deleterange", &json!({"key": b64(key)}));
        int(&answer["header"]["revision"])
    }

    /// Compacts the history up to `revision`, waiting until the backend
    /// has dropped it (`physical`).
    pub fn compact(&self, revision: i64) {
        self.call(
            "/v3/kv/compaction",
            &json!({"revision": revision.to_string(), "physical": true}),
        );
    }

    /// The store's current revision.
    pub fn revision(&self) -> i64 {
        let answer = self.call("/v3/kv/range", &json!({"key": b64("\0")}));
        int(&answer["header"]["revision"])
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill9();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// An agent for the gateway (statuses are not errors); with `tls`, one
/// that trusts only its CA and presents the client certificate if asked.
fn agent(tls: Option<&Tls>, client_cert: bool) -> ureq::Agent {
    use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
    let mut config = ureq::Agent::config_builder().http_status_as_error(false);
    if let Some(tls) = tls {
        let read = |f: &str| fs::read(tls.path(f)).unwrap();
        let ca = Certificate::from_pem(&read("ca.crt")).unwrap();
        let mut t = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&[ca]));
        if client_cert {
            let cert = Certificate::from_pem(&read("client.crt")).unwrap();
            let key = PrivateKey::from_pem(&read("client.key")).unwrap();
            t = t.client_cert(Some(ClientCert::new_with_certs(&[cert], key)));
        }
        config = config.tls_config(t.build());
    }
    config.build().into()
}

/// One POST to `base` + `path`; the status and the answer (JSON, or the
/// text as a JSON string).
fn send(
    agent: &ureq::Agent,
    base: &str,
    path: &str,
    body: &Value,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(u16, Value), String> {
    let mut req = agent
        .post(format!("{base}{path}"))
        .config()
        .timeout_global(Some(timeout))
        .build()
        .header("Content-Type", "application/json");
    if let Some(token) = token {
        // The gateway takes the bare token, not "Bearer ...".
        req = req.header("Authorization", token);
    }
    let mut resp = req
        .send(body.to_string())
        .map_err(|e| format!("POST {path}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("POST {path}: reading the answer: {e}"))?;
    let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, answer))
}

impl Tls {
    /// A CA, a server certificate for 127.0.0.1 (IP SAN; client auth too,
    /// as etcd's gateway dials the server with it) and a client
    /// certificate, with openssl, in `dir/tls`. EC P-256 keys: quick to
    /// make. Our own config file, so the system's openssl.cnf plays no part.
    pub fn generate(dir: &Path) -> Tls {
        let openssl = find_binary("openssl").unwrap_or_else(|| {
            panic!(
                "openssl not found: install Debian's openssl (apt-get install openssl); \
                 `make test` installs it"
            )
        });
        let tls = Tls {
            dir: dir.join("tls"),
        };
        fs::create_dir_all(&tls.dir).unwrap();
        fs::write(tls.path("openssl.cnf"), OPENSSL_CNF).unwrap();
        let run = |args: &[&str]| {
            let out = Command::new(&openssl)
                .current_dir(&tls.dir)
                .env("OPENSSL_CONF", "openssl.cnf")
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let conf = ["-config", "openssl.cnf"];
        run(&[
            &[
                "req",
                "-x509",
                "-days",
                "2",
                "-subj",
                "/CN=vpc-router test CA",
            ],
            &key[..],
            &conf[..],
            &["-extensions", "ca", "-keyout", "ca.key", "-out", "ca.crt"],
        ]
        .concat());
        // The client certificate has no CommonName: etcd refuses gateway
        // requests whose client certificate names a user (CN) once
        // authentication is on, since the gateway cannot use it.
        for (who, subject, serial) in [
            ("server", "/CN=127.0.0.1", "2"),
            ("client", "/O=vpc-router-test-client", "3"),
        ] {
            let (k, csr, crt) = (
                format!("{who}.key"),
                format!("{who}.csr"),
                format!("{who}.crt"),
            );
            run(&[
                &["req", "-new", "-subj", subject],
                &key[..],
                &conf[..],
                &["-keyout", &k, "-out", &csr],
            ]
            .concat());
            run(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                serial,
                "-days",
                "2",
                "-extfile",
                "openssl.cnf",
                "-extensions",
                who,
                "-out",
                &crt,
            ]);
        }
        tls
    }
}

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
";

/// Several etcd members on loopback forming one cluster.
pub struct Cluster {
    members: Vec<Etcd>,
}

impl Cluster {
    /// `n` members (`{name}0`, `{name}1`, ...), all answering.
    pub fn start(name: &str, n: usize) -> Cluster {
        for _ in 0..3 {
            let ports: Vec<(Port, Port)> =
                (0..n).map(|_| (reserve_port(), reserve_port())).collect();
            let initial_cluster = ports
                .iter()
                .enumerate()
                .map(|(i, (_, peer))| format!("{name}{i}=http://127.0.0.1:{}", peer.port))
                .collect::<Vec<_>>()
                .join(",");
            let cluster_token = format!("{name}-{}-{}", std::process::id(), ports[0].0.port);
            let members: Vec<Etcd> = ports
                .into_iter()
                .enumerate()
                .map(|(i, (client, peer))| {
                    let member = Member {
                        name: format!("{name}{i}"),
                        client,
                        peer,
                        initial_cluster: initial_cluster.clone(),
                        cluster_token: cluster_token.clone(),
                    };
                    Etcd::new(member, false)
                })
                .collect();
            // All first: no member answers before a quorum has elected a leader.
            members.iter().for_each(Etcd::spawn);
            match wait_ready(&members.iter().collect::<Vec<_>>()) {
                Ok(()) => return Cluster { members },
                Err(NotReady::PortTaken(_)) => {}
                Err(NotReady::Failed(i, why)) => members[i].fail(&why),
            }
        }
        panic!("cluster {name}: its members kept losing their ports to other processes");
    }

    /// The members' client URLs, in order.
    pub fn urls(&self) -> Vec<String> {
        self.members.iter().map(Etcd::url).collect()
    }

    pub fn member(&self, i: usize) -> &Etcd {
        &self.members[i]
    }
}
