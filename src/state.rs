//! The state directory (`--state-dir`): what vpc-router must not forget
//! across restarts. `owned.json` lists the CIDRs it manages (so it deletes
//! only routes it created); `spec.json` holds the spec set over HTTP.
//! Every write is atomic (temp file, fsync, rename, fsync of the
//! directory): a crash leaves the old content or the new, never a mix. An
//! exclusive lock keeps two processes from sharing a directory.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use crate::spec::{self, Spec};
use crate::types::Cidr;

const OWNED: &str = "owned.json";
const SPEC: &str = "spec.json";
/// The format of `owned.json` this build reads (and `save_owned` writes).
const OWNED_VERSION: u64 = 1;
const TEMP_PREFIX: &str = ".tmp-";

#[derive(Debug)]
pub enum StateError {
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    Corrupt {
        path: PathBuf,
        detail: String,
    },
    Locked {
        path: PathBuf,
    },
    /// Others could change what vpc-router believes it owns.
    Unsafe {
        path: PathBuf,
        why: String,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Io {
                path,
                action,
                source,
            } => write!(f, "state dir: cannot {action} {}: {source}", path.display()),
            StateError::Corrupt { path, detail } => write!(
                f,
                "state dir: {} is damaged ({detail}); fix or remove it (removing it makes \
                 vpc-router forget which routes it manages)",
                path.display()
            ),
            StateError::Locked { path } => write!(
                f,
                "state dir: {} is in use by another vpc-router; give each its own --state-dir",
                path.display()
            ),
            StateError::Unsafe { path, why } => write!(
                f,
                "state dir: {} {why}, so others could change which routes vpc-router \
                 believes it manages; refused",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StateError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// An open state directory, locked for this process.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    /// Holds the flock for as long as the directory is open.
    _lock: File,
    /// Numbers the temp files of this handle's writes (the lock makes this
    /// handle the only writer).
    seq: AtomicU64,
}

/// Refuses a directory that another user owns, or that others may write
/// to: they could plant an `owned.json` that makes vpc-router delete
/// routes, or remove one so that it forgets them.
fn safe(path: &Path, m: &fs::Metadata) -> Result<(), StateError> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let why = if m.uid() != me {
        format!(
            "belongs to user {} and vpc-router runs as user {me}; \
             chown it or choose another --state-dir",
            m.uid()
        )
    } else if m.mode() & 0o022 != 0 {
        format!(
            "is writable by others (mode {:o}); run chmod 700 {}",
            m.mode() & 0o7777,
            path.display()
        )
    } else {
        return Ok(());
    };
    Err(StateError::Unsafe {
        path: path.to_path_buf(),
        why,
    })
}

impl StateDir {
    /// Opens the directory (creating it, mode 0700, if missing; refusing
    /// one others may write to), takes its lock, and removes temp files a
    /// crash may have left.
    pub fn open(path: &Path) -> Result<StateDir, StateError> {
        match fs::metadata(path) {
            Ok(m) if !m.is_dir() => {
                return Err(StateError::Io {
                    path: path.to_path_buf(),
                    action: "use",
                    source: io::Error::other("it exists and is not a directory"),
                })
            }
            Ok(m) => safe(path, &m)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(io_err(path, "create"))?,
            Err(e) => return Err(io_err(path, "open")(e)),
        }
        let lock_path = path.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_err(&lock_path, "open"))?;
        loop {
            // SAFETY: flock on a descriptor we own; LOCK_NB makes it fail
            // instead of waiting when another process holds the lock.
            let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                // Only "someone holds it" means another vpc-router.
                io::ErrorKind::WouldBlock => {
                    return Err(StateError::Locked {
                        path: path.to_path_buf(),
                    })
                }
                _ => return Err(io_err(&lock_path, "lock")(e)),
            }
        }
        if let Ok(entries) = fs::read_dir(path) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(StateDir {
            path: path.to_path_buf(),
            _lock: lock,
            seq: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file's content; `None` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StateError> {
        let p = self.path.join(name);
        match fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&p, "read")(e)),
        }
    }

    /// Replaces a file atomically. Each write has a temp file of its own,
    /// so two threads writing the same name never mix their content (the
    /// last rename wins, whole).
    pub fn write(&self, name: &str, data: &[u8]) -> Result<(), StateError> {
        let target = self.path.join(name);
        let temp = self.path.join(format!(
            "{TEMP_PREFIX}{name}.{}.{}",
            std::process::id(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut f = OpenOptions::new()
                .create_new(true)
                .write(true)
                .mode(0o600)
                .open(&temp)
                .map_err(io_err(&temp, "create"))?;
            f.write_all(data).map_err(io_err(&temp, "write"))?;
            f.sync_all().map_err(io_err(&temp, "sync"))?;
            fs::rename(&temp, &target).map_err(io_err(&target, "replace"))
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written?;
        // The rename is durable once the directory is synced.
        File::open(&self.path)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.path, "sync"))?;
        Ok(())
    }

    pub fn load_owned(&self) -> Result<BTreeSet<Cidr>, StateError> {
        let path = self.path.join(OWNED);
        let Some(raw) = self.read(OWNED)? else {
            return Ok(BTreeSet::new());
        };
        owned_from_json(&raw).map_err(|detail| StateError::Corrupt { path, detail })
    }

    pub fn save_owned(&self, owned: &BTreeSet<Cidr>) -> Result<(), StateError> {
        self.write(OWNED, owned_to_json(owned).as_bytes())
    }

    pub fn load_spec(&self) -> Result<Option<Spec>, StateError> {
        match self.read(SPEC)? {
            None => Ok(None),
            Some(raw) => spec::parse(&raw)
                .map(Some)
                .map_err(|e| StateError::Corrupt {
                    path: self.path.join(SPEC),
                    detail: e.to_string(),
                }),
        }
    }

    pub fn save_spec(&self, spec: &Spec) -> Result<(), StateError> {
        self.write(SPEC, format!("{:#}\n", spec.to_json()).as_bytes())
    }
}

/// The owned CIDRs as `owned.json` (and etcd's `PREFIXowned`) hold them.
pub fn owned_to_json(owned: &BTreeSet<Cidr>) -> String {
    let doc = json!({
        "version": OWNED_VERSION,
        "managed": owned.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    format!("{doc:#}\n")
}

/// Reads [`owned_to_json`]'s document; what is wrong with it otherwise.
/// Strict: a key given twice, another version or a key we do not write is
/// a document we cannot vouch for, so it owns nothing only when it says so.
pub fn owned_from_json(raw: &[u8]) -> Result<BTreeSet<Cidr>, String> {
    let v = spec::json::parse(raw).map_err(|e| e.to_string())?;
    let Value::Object(doc) = v else {
        return Err(format!(
            "{v} is not an object like {{\"version\": 1, \"managed\": [...]}}"
        ));
    };
    match doc.get("version") {
        Some(n) if n == &json!(OWNED_VERSION) => {}
        Some(other) => {
            return Err(format!(
                "version {other} is not one this vpc-router reads (it reads version \
                 {OWNED_VERSION}); was it written by another version?"
            ))
        }
        None => return Err(format!("no \"version\" (expected {OWNED_VERSION})")),
    }
    if let Some(k) = doc.keys().find(|k| *k != "version" && *k != "managed") {
        return Err(format!(
            "unknown key \"{k}\"; the file holds only \"version\" and \"managed\""
        ));
    }
    let list = doc
        .get("managed")
        .and_then(Value::as_array)
        .ok_or_else(|| "no \"managed\" list".to_string())?;
    list.iter()
        .map(|c| {
            c.as_str()
                .ok_or_else(|| format!("{c} is not a CIDR string"))?
                .parse::<Cidr>()
                .map_err(|e| e.0)
        })
        .collect()
}

/// Where the CIDRs vpc-router owns are kept across restarts: the state
/// dir, or (in tests) memory. The engine sees only this.
pub trait Persist: Send + Sync {
    fn load_owned(&self) -> Result<BTreeSet<Cidr>, String>;
    fn save_owned(&self, owned: &BTreeSet<Cidr>) -> Result<(), String>;
    /// What the engine starts with. A shared store (etcd) is read when this
    /// daemon comes to lead instead, so an unreachable one does not stop
    /// the start.
    fn load_at_start(&self) -> Result<BTreeSet<Cidr>, String> {
        self.load_owned()
    }
}

impl Persist for StateDir {
    fn load_owned(&self) -> Result<BTreeSet<Cidr>, String> {
        StateDir::load_owned(self).map_err(|e| e.to_string())
    }
    fn save_owned(&self, owned: &BTreeSet<Cidr>) -> Result<(), String> {
        StateDir::save_owned(self, owned).map_err(|e| e.to_string())
    }
}

/// Where a spec edited over the API is kept (`-m http`): the state dir's
/// `spec.json`, or with etcd the spec key, shared by every daemon.
pub trait SpecStore: Send + Sync {
    fn load_spec(&self) -> Result<Option<Spec>, String>;
    fn save_spec(&self, spec: &Spec) -> Result<(), String>;
    /// Other daemons write it too (etcd): read it anew before an edit, and
    /// expect its changes through a watch rather than at start.
    fn shared(&self) -> bool {
        false
    }
}

impl SpecStore for StateDir {
    fn load_spec(&self) -> Result<Option<Spec>, String> {
        StateDir::load_spec(self).map_err(|e| e.to_string())
    }
    fn save_spec(&self, spec: &Spec) -> Result<(), String> {
        StateDir::save_spec(self, spec).map_err(|e| e.to_string())
    }
}

/// One state dir shared by the engine (owned CIDRs) and the http feed
/// (its spec): the directory's lock is taken once per process.
impl<P: Persist + ?Sized> Persist for std::sync::Arc<P> {
    fn load_owned(&self) -> Result<BTreeSet<Cidr>, String> {
        (**self).load_owned()
    }
    fn save_owned(&self, owned: &BTreeSet<Cidr>) -> Result<(), String> {
        (**self).save_owned(owned)
    }
    fn load_at_start(&self) -> Result<BTreeSet<Cidr>, String> {
        (**self).load_at_start()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("vpc-router-state-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn cidrs(list: &[&str]) -> BTreeSet<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    #[test]
    fn owned_and_spec_round_trip_and_survive_reopening() {
        let p = dir("roundtrip");
        let s = StateDir::open(&p).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(s.load_owned().unwrap().is_empty());
        assert_eq!(s.load_spec().unwrap(), None);
        s.save_owned(&cidrs(&["10.55.0.0/16", "2001:db8::/56"]))
            .unwrap();
        let spec = spec::parse(br#"{"10.55.0.0/16": ["10.33.20.142"]}"#).unwrap();
        s.save_spec(&spec).unwrap();
        drop(s);
        let s = StateDir::open(&p).unwrap();
        assert_eq!(
            s.load_owned().unwrap(),
            cidrs(&["10.55.0.0/16", "2001:db8::/56"])
        );
        assert_eq!(s.load_spec().unwrap(), Some(spec));
        fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn a_damaged_file_is_an_error_never_an_empty_set() {
        let p = dir("corrupt");
        let s = StateDir::open(&p).unwrap();
        for (bad, why) in [
            ("{", "EOF while parsing"),
            (r#"{"version": 1}"#, "no \"managed\" list"),
            (
                r#"{"version": 1, "managed": ["10.55.0.1/16"]}"#,
                "host bits",
            ),
            (
                r#"{"version": 1, "managed": [1]}"#,
                "1 is not a CIDR string",
            ),
            // Issue 14: these were read as "owns nothing" or as the last key.
            (
                r#"{"version": 1, "managed": ["10.55.0.0/16"], "managed": []}"#,
                "the key \"managed\" is given twice",
            ),
            (
                r#"{"version": 2, "managed": ["10.55.0.0/16"]}"#,
                "version 2 is not one this vpc-router reads (it reads version 1)",
            ),
            (
                r#"{"version": "1", "managed": []}"#,
                "version \"1\" is not one",
            ),
            (r#"{"managed": []}"#, "no \"version\" (expected 1)"),
            (
                r#"{"version": 1, "managed": [], "owner": "x"}"#,
                "unknown key \"owner\"",
            ),
            ("[]", "[] is not an object"),
        ] {
            fs::write(p.join(OWNED), bad).unwrap();
            let e = s.load_owned().unwrap_err().to_string();
            assert!(e.contains("owned.json is damaged"), "{bad}: {e}");
            assert!(e.contains(why), "{bad}: {e}");
        }
        for (bad, why) in [
            ("[]", "must be a JSON object"),
            (
                r#"{"10.55.0.0/16": ["10.33.20.142"], "10.55.0.0/16": []}"#,
                "key \"10.55.0.0/16\": given twice",
            ),
            (
                r#"{"10.55.0.0/16": [{"ip": "10.33.20.142", "ip": "10.33.20.143"}]}"#,
                "the key \"ip\" is given twice",
            ),
        ] {
            fs::write(p.join(SPEC), bad).unwrap();
            let e = s.load_spec().unwrap_err().to_string();
            assert!(e.contains("spec.json is damaged"), "{bad}: {e}");
            assert!(e.contains(why), "{bad}: {e}");
        }
        fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn writes_replace_whole_files_and_crash_leftovers_are_ignored() {
        let p = dir("atomic");
        let s = StateDir::open(&p).unwrap();
        s.write("x", b"old").unwrap();
        // A crash between writing the temp file and the rename.
        fs::write(p.join(format!("{TEMP_PREFIX}x.999")), b"half").unwrap();
        assert_eq!(s.read("x").unwrap().unwrap(), b"old");
        drop(s);
        let s = StateDir::open(&p).unwrap();
        let left: Vec<_> = fs::read_dir(&p)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
            .collect();
        assert!(left.is_empty(), "a temp file was left behind");
        s.write("x", b"new").unwrap();
        assert_eq!(s.read("x").unwrap().unwrap(), b"new");
        fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn one_process_per_directory_and_files_are_refused() {
        let p = dir("lock");
        let first = StateDir::open(&p).unwrap();
        // flock locks belong to the open file description: a second open
        // in the same process conflicts like another process would.
        let e = StateDir::open(&p).unwrap_err();
        assert!(
            e.to_string().contains("in use by another vpc-router"),
            "{e}"
        );
        drop(first);
        let again = StateDir::open(&p).unwrap();
        drop(again);
        let file = p.join("owned.json");
        fs::write(&file, "{}").unwrap();
        let e = StateDir::open(&file).unwrap_err().to_string();
        assert!(e.contains("not a directory"), "{e}");
        fs::remove_dir_all(&p).unwrap();
    }

    // See: issue 14, item 4 (a state dir with mode 0777 was used silently).
    #[test]
    fn issue14_a_state_dir_others_may_write_to_is_refused_with_the_fix() {
        let p = dir("unsafe");
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).unwrap();
        let Err(e) = StateDir::open(&p) else {
            panic!("a dir others may write to is refused")
        };
        let e = e.to_string();
        assert!(e.contains("is writable by others (mode 777)"), "{e}");
        assert!(e.contains(&format!("chmod 700 {}", p.display())), "{e}");
        // Nothing was written into it.
        assert_eq!(fs::read_dir(&p).unwrap().count(), 0);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o750)).unwrap();
        assert!(StateDir::open(&p).is_ok());
    }
}
