//! The module map's invariants (ARCHITECTURE.md), checked on the source
//! text rather than promised: no import cycle between top-level modules,
//! the layering rules that keep seams clean, and no mutable global but the
//! logger. Test code (`tests.rs`, `mod tests`, fakes) is left out: tests
//! may reach across layers to check what a layer produces. Function length
//! is checked by clippy (`too_many_lines`, clippy.toml).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules `lib.rs` declares.
fn modules() -> BTreeSet<String> {
    std::fs::read_to_string(src().join("lib.rs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect()
}

/// Each top-level module's own source text, without its tests and fakes.
fn sources() -> BTreeMap<String, String> {
    let mods = modules();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src()).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let name = f.file_name().unwrap().to_string_lossy();
        let in_tests = rel.components().any(|c| c.as_os_str() == "tests");
        if !mods.contains(&top) || name == "tests.rs" || name == "fake.rs" || in_tests {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let own = match text.find("#[cfg(test)]\nmod tests") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        out.entry(top).or_default().push_str(&own);
    }
    out
}

/// The top-level modules each module refers to (`crate::x`, or `x` in a
/// `use crate::{..}` list).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let mut graph = BTreeMap::new();
    for (top, text) in sources() {
        let mut refs = BTreeSet::new();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            if let Some(list) = rest.strip_prefix('{') {
                let list = &list[..list.find('}').unwrap_or(0)];
                refs.extend(
                    list.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .map(str::to_string),
                );
            } else {
                let word: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                refs.insert(word);
            }
        }
        refs.retain(|r| mods.contains(r) && *r != top);
        graph.insert(top, refs);
    }
    graph
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = imports();
    // Depth-first search for a path back to where it started.
    fn reaches(
        graph: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> bool {
        for next in graph.get(from).into_iter().flatten() {
            path.push(next.clone());
            if next == to || (seen.insert(next.clone()) && reaches(graph, next, to, seen, path)) {
                return true;
            }
            path.pop();
        }
        false
    }
    for m in graph.keys() {
        let mut path = vec![m.clone()];
        let cycle = reaches(&graph, m, m, &mut BTreeSet::new(), &mut path);
        assert!(!cycle, "import cycle: {}", path.join(" -> "));
    }
}

#[test]
fn layers_import_only_downwards() {
    let graph = imports();
    for (module, forbidden, why) in [
        (
            "daemon",
            "cli",
            "the daemon takes its validated config from `config`",
        ),
        (
            "state",
            "reconcile",
            "the engine sees the state dir through `state::Persist`",
        ),
        ("aws", "ec2", "both use the Query protocol from `query`"),
        (
            "reconcile",
            "daemon",
            "only the daemon's control loop drives the engine",
        ),
        ("health", "reconcile", "health knows no routes"),
        ("route", "daemon", "the route logic knows no HTTP server"),
    ] {
        assert!(
            !graph[module].contains(forbidden),
            "{module} imports {forbidden}: {why}"
        );
    }
    // The sanity of the check itself: it sees real imports.
    assert!(graph["daemon"].contains("reconcile"), "{graph:?}");
    assert!(graph["ec2"].contains("query"), "{graph:?}");
}

/// Types through which a `static` can change.
const INTERIOR: [&str; 9] = [
    "Atomic", "Mutex", "RwLock", "OnceLock", "OnceCell", "LazyLock", "Cell<", "RefCell", "Lazy<",
];

#[test]
fn no_mutable_global_but_the_logger() {
    let mut tables = 0;
    for (module, text) in sources() {
        for line in text.lines().map(str::trim) {
            let global = line.starts_with("static ") || line.starts_with("pub static ");
            assert!(!line.contains("static mut"), "{module}: {line}");
            if !global {
                continue;
            }
            let mutable = INTERIOR.iter().any(|t| line.contains(t));
            if mutable && module != "log" {
                panic!("a mutable global in {module}: {line}; pass state in instead");
            }
            tables += usize::from(!mutable);
        }
    }
    // The check sees statics: the command line's flag table is one.
    assert!(tables >= 1);
}
