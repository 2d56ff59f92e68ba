//! Shell completions and the man page from the real binary: generated from
//! the flag table, they list every flag (and every alias and short form);
//! the scripts parse where their shell exists (`bash -n`, ...); the man
//! page is clean roff where groff exists; bad shells are usage errors.

mod common;

use std::process::Command;

use common::BIN;
use vpc_router::cli::flags::{Section, FLAGS};

fn generate(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(BIN).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn names(long: &str, aliases: &[&str], short: Option<char>) -> Vec<String> {
    let mut all = vec![format!("--{long}")];
    all.extend(aliases.iter().map(|a| format!("--{a}")));
    all.extend(short.map(|s| format!("-{s}")));
    all
}

#[test]
fn completions_and_the_man_page_list_every_flag() {
    let (_, bash, _) = generate(&["completions", "bash"]);
    let (_, zsh, _) = generate(&["completions", "zsh"]);
    let (_, fish, _) = generate(&["completions", "fish"]);
    let (code, man, _) = generate(&["man"]);
    assert_eq!(code, 0);
    for f in FLAGS {
        // vpc-router 1.x's spellings: accepted and in the man page, never
        // offered by completion.
        let legacy = f.legacy.iter().map(|l| l.spelling.to_string());
        let own = (f.section == Section::Legacy).then(|| format!("--{}", f.long));
        for name in legacy.chain(own) {
            let roff = name.replace('-', "\\-");
            assert!(man.contains(&format!("\\fB{roff}")), "man lacks {name}");
            let bare = name.trim_start_matches('-');
            for (shell, script) in [("bash", &bash), ("zsh", &zsh), ("fish", &fish)] {
                for form in [
                    format!(" {name} "),
                    format!(" {name}\""),
                    format!("'{name}["),
                    format!("-l {bare} "),
                    format!("-s {bare} "),
                ] {
                    assert!(!script.contains(&form), "{shell} offers {name}");
                }
            }
        }
        if f.section == Section::Legacy {
            continue;
        }
        for name in names(f.long, f.aliases, f.short) {
            assert!(bash.contains(&format!(" {name}")), "bash lacks {name}");
            assert!(zsh.contains(&format!("{name}[")), "zsh lacks {name}");
            let roff = name.replace('-', "\\-");
            assert!(man.contains(&format!("\\fB{roff}\\fR")), "man lacks {name}");
        }
        assert!(
            fish.contains(&format!("-l {} ", f.long)),
            "fish lacks --{}",
            f.long
        );
        if let Some(s) = f.short {
            assert!(
                fish.contains(&format!("-l {} -s {s}", f.long)),
                "fish lacks -{s}"
            );
        }
    }
    assert!(zsh.starts_with("#compdef vpc-router\n"));
    assert!(bash.contains("complete -F _vpc_router vpc-router"));
    assert!(man.starts_with(".TH VPC\\-ROUTER 1 "));
    for (shell, script) in [("bash", &bash), ("zsh", &zsh), ("fish", &fish)] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {shell}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            eprintln!("skipped: {shell} -n (not installed)");
            continue;
        }
        let path = common::temp_dir(&format!("completions-{shell}")).join("script");
        std::fs::write(&path, script).unwrap();
        let flag = if shell == "fish" {
            "--no-execute"
        } else {
            "-n"
        };
        let o = Command::new(shell).arg(flag).arg(&path).output().unwrap();
        assert!(
            o.status.success(),
            "{shell} {flag}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn the_man_page_is_clean_roff_where_groff_exists() {
    let found = Command::new("sh")
        .args(["-c", "command -v groff"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: groff -man -ww (groff is not installed)");
        return;
    }
    let (_, man, _) = generate(&["man"]);
    let path = common::temp_dir("man-groff").join("vpc-router.1");
    std::fs::write(&path, man).unwrap();
    let o = Command::new("groff")
        .args(["-man", "-ww", "-z"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.is_empty(), "groff: {err}");
}

#[test]
fn a_bad_shell_or_extra_words_are_usage_errors() {
    let (code, _, err) = generate(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected bash, zsh or fish"), "{err}");
    let (code, _, err) = generate(&["completions"]);
    assert_eq!(code, 2);
    assert!(err.contains("bash, zsh or fish"), "{err}");
    let (code, _, _) = generate(&["man", "-v", "vpc-1"]);
    assert_eq!(code, 2);
}
