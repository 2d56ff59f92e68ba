//! Real BIRD 2 routers for the BGP tests: each is a child process (Debian's
//! `bird2`, 2.0.12) with its own config, control socket, pid file and log
//! in a fresh temp dir, never the system service. It connects out over
//! loopback to a BGP listener (vpc-router, or [`listener`] in the harness's
//! own tests) and announces the routes of its static protocols; `announce`
//! and `withdraw` rewrite the config and reload it. Its config has no
//! kernel protocol, so nothing touches the machine's routing table, and the
//! next hops it announces are data only. Dropping one kills it and removes
//! its dir.
//!
//! When the first UPDATE leaves (BIRD 2.0.12, measured with `listener`):
//! BIRD needs nothing beyond the handshake (our OPEN, then our KEEPALIVE,
//! which makes it Established); it does not wait for our End-of-RIB. But
//! its initial export runs as "work" in its event loop, and the loop then
//! sleeps in poll(2) before sending what that export queued: the UPDATEs
//! leave when the loop next wakes, that is when a message from us arrives,
//! when one of its timers fires, or at the latest 3 s later (its poll
//! timeout). So a listener that wants routes at once sends OPEN and
//! KEEPALIVE in one write and, once BIRD's first KEEPALIVE has arrived
//! (BIRD sends it when it has read our OPEN), one more message, such as its
//! own End-of-RIB: the UPDATEs follow within milliseconds rather than 3 s
//! (`tests/bird_harness.rs` checks both). Later changes (`announce`,
//! `withdraw`) go out at once.

pub mod listener;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::etcd::{reserve_port, thread_states, Port};

/// The name of the BGP protocol in BIRD's config (`birdc` commands use it).
pub const PROTO: &str = "vpcrouter";
/// How long BIRD may take to answer on its control socket after a start.
const READY: Duration = Duration::from_secs(10);
/// Bound on one `birdc` command, and on waiting for a route change to show.
const CALL: Duration = Duration::from_secs(10);
/// Bound on waiting for a BGP state: a connection attempt after an error
/// waits up to `error wait time` (2 s here) plus a randomized connect delay.
const STATE: Duration = Duration::from_secs(20);

/// The ORIGIN attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Igp,
    Egp,
    Incomplete,
}

impl Origin {
    /// The name in BIRD's filter language.
    fn filter_name(self) -> &'static str {
        match self {
            Origin::Igp => "ORIGIN_IGP",
            Origin::Egp => "ORIGIN_EGP",
            Origin::Incomplete => "ORIGIN_INCOMPLETE",
        }
    }

    /// The name in `birdc show route all`.
    fn shown(self) -> &'static str {
        match self {
            Origin::Igp => "IGP",
            Origin::Egp => "EGP",
            Origin::Incomplete => "Incomplete",
        }
    }
}

/// One announced route's attributes. Build it with [`Route::via`] and
/// struct update syntax: `Route { med: Some(10), ..Route::via(A_IP) }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// NEXT_HOP (IPv4 prefixes) or the MP_REACH next hop (IPv6 prefixes):
    /// announced as it is, never contacted.
    pub next_hop: IpAddr,
    /// LOCAL_PREF, if any: sent to an eBGP peer too (`allow
    /// bgp_local_pref`); over iBGP BIRD sends 100 when unset.
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC, if any.
    pub med: Option<u32>,
    /// How many extra times the local AS is put in front of the AS path:
    /// the path BIRD sends is `prepend + 1` times its AS over eBGP,
    /// `prepend` times over iBGP.
    pub prepend: u8,
    /// ORIGIN; BIRD sends IGP when unset.
    pub origin: Option<Origin>,
}

impl Route {
    /// A route to `next_hop` (an IPv4 or IPv6 address) with no other
    /// attribute set.
    pub fn via(next_hop: &str) -> Route {
        Route {
            next_hop: next_hop
                .parse()
                .unwrap_or_else(|e| panic!("next hop {next_hop:?}: {e}")),
            local_pref: None,
            med: None,
            prepend: 0,
            origin: None,
        }
    }

    /// The static route's attribute block, in BIRD's filter language.
    fn block(&self, local_as: u32) -> String {
        let mut out = format!("bgp_next_hop = {};", self.next_hop);
        if let Some(v) = self.local_pref {
            out += &format!(" bgp_local_pref = {v};");
        }
        if let Some(v) = self.med {
            out += &format!(" bgp_med = {v};");
        }
        for _ in 0..self.prepend {
            out += &format!(" bgp_path.prepend({local_as});");
        }
        if let Some(o) = self.origin {
            out += &format!(" bgp_origin = {};", o.filter_name());
        }
        out
    }

    /// The `BGP.*` lines `birdc show route PREFIX all` prints for the
    /// static route, sorted.
    fn shown(&self, local_as: u32) -> Vec<String> {
        let mut lines = vec![format!("BGP.next_hop: {}", self.next_hop)];
        if let Some(v) = self.local_pref {
            lines.push(format!("BGP.local_pref: {v}"));
        }
        if let Some(v) = self.med {
            lines.push(format!("BGP.med: {v}"));
        }
        if self.prepend > 0 {
            let path = vec![local_as.to_string(); usize::from(self.prepend)];
            lines.push(format!("BGP.as_path: {}", path.join(" ")));
        }
        if let Some(o) = self.origin {
            lines.push(format!("BGP.origin: {}", o.shown()));
        }
        lines.sort();
        lines
    }
}

/// How one BIRD runs: its BGP session to the listener, and the routes it
/// announces from the start.
#[derive(Clone, Debug)]
pub struct BirdConfig {
    /// Where the BGP listener (vpc-router) accepts: `127.0.0.x:port`.
    pub listen: SocketAddr,
    /// The local address BIRD connects from, a 127.0.0.N of its own so that
    /// the listener can tell peers apart by source IP.
    pub source: Ipv4Addr,
    pub local_as: u32,
    pub neighbor_as: u32,
    /// Hold time BIRD offers, in seconds (3 or more); BIRD sends a
    /// KEEPALIVE every third of the negotiated one.
    pub hold_time: u16,
    /// TCP MD5 signature key (RFC 2385) for the session, if any.
    pub password: Option<String>,
    pub router_id: Ipv4Addr,
    /// (prefix, route) announced from the start.
    pub routes: Vec<(String, Route)>,
}

impl BirdConfig {
    /// A peer in AS 65001 talking eBGP to AS 65000, hold time 9 s, router
    /// id `source`, no password, no route.
    pub fn new(listen: SocketAddr, source: Ipv4Addr) -> BirdConfig {
        BirdConfig {
            listen,
            source,
            local_as: 65001,
            neighbor_as: 65000,
            hold_time: 9,
            password: None,
            router_id: source,
            routes: Vec::new(),
        }
    }
}

/// What changes while BIRD runs: what its config file says.
struct Live {
    /// By canonical prefix, so the config is written in a stable order.
    routes: BTreeMap<String, Route>,
    /// Written as `disabled;` so that a reload does not enable it again
    /// (`birdc configure` resets a protocol disabled from the CLI).
    disabled: bool,
}

/// One BIRD process and its temp dir.
pub struct Bird {
    name: String,
    config: BirdConfig,
    /// BIRD's own BGP listening port on `source` (BIRD always listens too):
    /// reserved so that parallel BIRDs never collide on 179.
    port: Port,
    dir: PathBuf,
    birdc: PathBuf,
    live: Mutex<Live>,
    child: Mutex<Option<Child>>,
}

/// The path of `name` on PATH or in the system dirs (BIRD is in /usr/sbin,
/// often not on a user's PATH).
fn find_binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found: install Debian's bird2 (apt-get install bird2); \
                 `make test` installs it"
            )
        })
}

/// `prefix` as BIRD prints it (`2001:db8:1::/48`), checked.
fn canonical(prefix: &str) -> String {
    let (addr, len) = prefix
        .split_once('/')
        .unwrap_or_else(|| panic!("prefix {prefix:?}: no /length"));
    let addr: IpAddr = addr
        .parse()
        .unwrap_or_else(|e| panic!("prefix {prefix:?}: {e}"));
    let len: u8 = len
        .parse()
        .unwrap_or_else(|e| panic!("prefix {prefix:?}: {e}"));
    assert!(
        len <= if addr.is_ipv4() { 32 } else { 128 },
        "prefix {prefix:?}: length out of range"
    );
    format!("{addr}/{len}")
}

impl Bird {
    /// Writes the config, starts BIRD and waits until it answers on its
    /// control socket. It then connects to `config.listen` on its own (the
    /// first attempt about a second after the start).
    pub fn start(name: &str, config: BirdConfig) -> Bird {
        let bird = find_binary("bird");
        assert!(
            config.listen.ip().is_loopback() && config.listen.is_ipv4(),
            "the listener must be on 127.0.0.0/8: {}",
            config.listen
        );
        assert!(
            config.source.is_loopback(),
            "the source must be in 127.0.0.0/8: {}",
            config.source
        );
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = super::temp_dir(&format!(
            "bird-{name}-{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let routes = config
            .routes
            .iter()
            .map(|(p, r)| (canonical(p), r.clone()))
            .collect();
        let b = Bird {
            name: name.to_string(),
            port: reserve_port(),
            birdc: find_binary("birdc"),
            live: Mutex::new(Live {
                routes,
                disabled: false,
            }),
            child: Mutex::new(None),
            config,
            dir,
        };
        // A Unix socket path must fit in sun_path (108 bytes).
        let sock = b.socket();
        assert!(
            sock.as_os_str().len() < 100,
            "control socket path too long (use a shorter name): {}",
            sock.display()
        );
        b.write_config();
        b.spawn(&bird);
        b.wait_running();
        b
    }

    /// The temp dir: `bird.conf`, `bird.ctl`, `bird.pid`, `bird.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("bird.conf")
    }

    /// The address BIRD connects from.
    pub fn source(&self) -> Ipv4Addr {
        self.config.source
    }

    /// The config file as last written.
    pub fn config_text(&self) -> String {
        fs::read_to_string(self.config_path()).unwrap_or_default()
    }

    /// Everything BIRD logged (its own messages and the BGP protocol's
    /// states, events and packets), across its life.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("bird.log")).unwrap_or_default()
    }

    fn spawn(&self, bird: &Path) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("bird.log"))
            .unwrap();
        let child = Command::new(bird)
            .current_dir(&self.dir)
            .env_clear()
            .arg("-f")
            .arg("-c")
            .arg(self.config_path())
            .arg("-s")
            .arg(self.socket())
            .arg("-P")
            .arg(self.dir.join("bird.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bird.display()));
        *self.child.lock().unwrap() = Some(child);
    }

    /// Polls (bounded) until BIRD answers `show status`.
    fn wait_running(&self) {
        let until = Instant::now() + READY;
        loop {
            if let Some(out) = self.try_birdc(&["show", "status"]) {
                if out.contains("Daemon is up and running") {
                    return;
                }
            }
            let exited = match self.child.lock().unwrap().as_mut() {
                Some(child) => child.try_wait().unwrap(),
                None => self.fail("it was killed while starting"),
            };
            if let Some(status) = exited {
                self.fail(&format!("it exited while starting ({status})"));
            }
            if Instant::now() > until {
                self.fail(&format!("it did not answer within {READY:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    #[track_caller]
    fn fail(&self, why: &str) -> ! {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        panic!(
            "bird {} (from {} to {}): {why}\n--- {} (last 60 lines)\n{tail}\n--- end of log\n\
             --- bird.conf\n{}--- end of config",
            self.name,
            self.config.source,
            self.config.listen,
            self.dir.join("bird.log").display(),
            self.config_text()
        )
    }
}

impl Bird {
    /// Runs `birdc -s SOCK args...`: its answer without the greeting, or
    /// None if it could not run or did not finish within [`CALL`] (a
    /// paused BIRD does not answer).
    fn try_birdc(&self, args: &[&str]) -> Option<String> {
        let mut child = Command::new(&self.birdc)
            .arg("-s")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        let (mut stdout, mut stderr) = (child.stdout.take()?, child.stderr.take()?);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            let _ = stderr.read_to_string(&mut out);
            let _ = tx.send(out);
        });
        let out = rx.recv_timeout(CALL);
        if out.is_err() {
            let _ = child.kill();
        }
        let _ = child.wait();
        let out = out.ok()?;
        Some(
            out.lines()
                .filter(|l| !(l.starts_with("BIRD ") && l.ends_with(" ready.")))
                .map(|l| format!("{l}\n"))
                .collect(),
        )
    }

    /// `birdc` with `args`; its answer (panics if it does not run).
    pub fn birdc(&self, args: &[&str]) -> String {
        self.try_birdc(args).unwrap_or_else(|| {
            self.fail(&format!(
                "birdc {} got no answer within {CALL:?}",
                args.join(" ")
            ))
        })
    }

    fn write_config(&self) {
        let text = self.render(&self.live.lock().unwrap());
        fs::write(self.config_path(), text).unwrap();
    }

    /// Rewrites the config and has BIRD reload it.
    fn reconfigure(&self) {
        self.write_config();
        let out = self.birdc(&["configure"]);
        if !out.contains("Reconfigured") && !out.contains("Reconfiguration in progress") {
            self.fail(&format!("birdc configure: {out}"));
        }
    }

    /// Announces `prefix` (IPv4 or IPv6) with `route`'s attributes,
    /// replacing what was announced for it, and waits until BIRD's table
    /// has it. BIRD sends the UPDATE on its own right after.
    pub fn announce(&self, prefix: &str, route: Route) {
        let prefix = canonical(prefix);
        let want = route.shown(self.config.local_as);
        self.live
            .lock()
            .unwrap()
            .routes
            .insert(prefix.clone(), route);
        self.reconfigure();
        self.wait_route(&prefix, |out| {
            let mut shown: Vec<String> = out
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("BGP."))
                .map(str::to_string)
                .collect();
            shown.sort();
            shown == want
        });
    }

    /// Stops announcing `prefix` and waits until BIRD's table no longer
    /// has it. BIRD sends the withdrawal on its own right after.
    pub fn withdraw(&self, prefix: &str) {
        let prefix = canonical(prefix);
        let had = self.live.lock().unwrap().routes.remove(&prefix);
        assert!(had.is_some(), "{prefix} was not announced");
        self.reconfigure();
        self.wait_route(&prefix, |out| out.contains("Network not found"));
    }

    /// Polls `show route PREFIX all` (bounded) until `done` holds for it.
    fn wait_route(&self, prefix: &str, done: impl Fn(&str) -> bool) {
        let until = Instant::now() + CALL;
        loop {
            let out = self.birdc(&["show", "route", prefix, "all"]);
            if done(&out) {
                return;
            }
            if Instant::now() > until {
                self.fail(&format!("show route {prefix} all did not change:\n{out}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Bird {
    /// The config: one static protocol per address family holding the
    /// routes, and the BGP session that exports them.
    fn render(&self, live: &Live) -> String {
        let c = &self.config;
        let (mut v4, mut v6) = (String::new(), String::new());
        for (prefix, route) in &live.routes {
            let line = format!(
                "\troute {prefix} blackhole {{ {} }};\n",
                route.block(c.local_as)
            );
            let family = if prefix.contains(':') {
                &mut v6
            } else {
                &mut v4
            };
            family.push_str(&line);
        }
        let disabled = if live.disabled { "\tdisabled;\n" } else { "" };
        let password = match &c.password {
            Some(p) => {
                assert!(!p.contains(['"', '\\']), "password {p:?}: no quotes");
                format!("\tpassword \"{p}\";\n")
            }
            None => String::new(),
        };
        format!(
            "# Written by tests/common/bird.rs: one BGP session out to the listener,\n\
             # routes from static protocols, nothing else.\n\
             router id {router_id};\n\
             log stderr all;\n\
             \n\
             # Interfaces only (BGP needs to know lo). There is deliberately no\n\
             # kernel protocol: no route ever reaches the machine's routing table.\n\
             protocol device {{}}\n\
             \n\
             # Each route is a blackhole carrying its BGP attributes: BIRD resolves\n\
             # no gateway for it, so a next hop on no connected network (data only,\n\
             # never contacted) is announced as it is, thanks to `next hop keep`.\n\
             protocol static routes4 {{\n\
             \tipv4;\n{v4}}}\n\
             protocol static routes6 {{\n\
             \tipv6;\n{v6}}}\n\
             \n\
             # BIRD drops a MED on export to an eBGP peer unless the export filter\n\
             # sets it, so the filter sets it again from the route.\n\
             filter to_listener {{\n\
             \tif defined(bgp_med) then bgp_med = bgp_med;\n\
             \taccept;\n\
             }}\n\
             \n\
             protocol bgp {PROTO} {{\n\
             {disabled}\
             \tdebug {{ states, events, packets }};\n\
             \t# BIRD listens too: on its own address and a reserved port, so that\n\
             \t# parallel BIRDs never collide (and none needs port 179).\n\
             \tlocal {source} port {port} as {local_as};\n\
             \tstrict bind yes;\n\
             \tneighbor {listen_ip} port {listen_port} as {neighbor_as};\n\
             \t# A session to a loopback address is refused as direct (\"Invalid\n\
             \t# remote address\"): multihop it is.\n\
             \tmultihop;\n\
             \thold time {hold};\n\
             \t# Tests restart listeners: reconnect within seconds, not minutes.\n\
             \tconnect delay time 1;\n\
             \tconnect retry time 1;\n\
             \terror wait time 1, 2;\n\
             {password}\
             \tallow bgp_local_pref yes;\n\
             \tipv4 {{ import none; export filter to_listener; next hop keep; }};\n\
             \t# Only for BIRD's own use when a route has no next hop (never here):\n\
             \t# an IPv4 session has no IPv6 address of its own to offer.\n\
             \tipv6 {{ import none; export filter to_listener; next hop keep; \
             next hop address ::1; }};\n\
             }}\n",
            router_id = c.router_id,
            source = c.source,
            port = self.port.port,
            local_as = c.local_as,
            listen_ip = c.listen.ip(),
            listen_port = c.listen.port(),
            neighbor_as = c.neighbor_as,
            hold = c.hold_time,
        )
    }
}

impl Bird {
    /// The BGP protocol's state as `show protocols all` gives it:
    /// `Established`, `Active`, `Connect`, `OpenSent`, `OpenConfirm`,
    /// `Idle`, or `Down` (disabled).
    pub fn state(&self) -> String {
        let out = self.birdc(&["show", "protocols", "all", PROTO]);
        match out
            .lines()
            .find_map(|l| l.trim().strip_prefix("BGP state:"))
        {
            Some(state) => state.trim().to_string(),
            None => self.fail(&format!("no BGP state in show protocols:\n{out}")),
        }
    }

    /// Polls (bounded) until the BGP protocol is in `state`.
    pub fn wait_state(&self, state: &str) {
        let until = Instant::now() + STATE;
        loop {
            let now = self.state();
            if now == state {
                return;
            }
            if Instant::now() > until {
                self.fail(&format!("still {now:?} after {STATE:?}, not {state:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Shuts the session down from the CLI (`birdc disable`): BIRD sends a
    /// NOTIFICATION Cease / Administrative Shutdown carrying `message`
    /// (RFC 8203) and stays down, across reloads, until [`Bird::enable`].
    pub fn disable(&self, message: &str) {
        assert!(
            !message.contains(['"', '\\']),
            "message {message:?}: no quotes"
        );
        self.live.lock().unwrap().disabled = true;
        let out = self.birdc(&["disable", PROTO, &format!("\"{message}\"")]);
        if !out.contains(&format!("{PROTO}: disabled")) {
            self.fail(&format!("birdc disable: {out}"));
        }
        self.wait_state("Down");
    }

    /// Starts the session again after [`Bird::disable`]; BIRD connects
    /// again about a second later.
    pub fn enable(&self) {
        self.live.lock().unwrap().disabled = false;
        let out = self.birdc(&["enable", PROTO]);
        if !out.contains(&format!("{PROTO}: enabled")) {
            self.fail(&format!("birdc enable: {out}"));
        }
    }

    /// Kills BIRD with SIGKILL (even if paused) and reaps it: the kernel
    /// closes its connection, with no NOTIFICATION.
    pub fn kill9(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `sig` to the running process; its pid.
    fn signal(&self, sig: libc::c_int) -> u32 {
        let guard = self.child.lock().unwrap();
        let Some(child) = guard.as_ref() else {
            self.fail("it is not running");
        };
        // SAFETY: kill(2) takes no pointers; the pid is our unreaped child,
        // so it cannot have been reused by another process.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", child.id());
        child.id()
    }

    /// Freezes BIRD (SIGSTOP): its connection stays open, it sends and
    /// answers nothing (no KEEPALIVE) until [`Bird::resume`], so that a
    /// listener's hold timer can expire. Returns once it is stopped. Do not
    /// call `birdc` methods meanwhile: they wait for an answer.
    pub fn pause(&self) {
        let pid = self.signal(libc::SIGSTOP);
        let until = Instant::now() + CALL;
        loop {
            let states = thread_states(pid);
            if !states.is_empty() && states.iter().all(|s| *s == 'T') {
                return;
            }
            if Instant::now() > until {
                self.fail(&format!("pid {pid} did not stop: thread states {states:?}"));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Lets a paused BIRD run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        self.kill9();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
