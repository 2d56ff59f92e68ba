//! `credential_process`: a program named in the profile prints credentials
//! as JSON (`Version` 1, `AccessKeyId`, `SecretAccessKey`, `SessionToken`,
//! `Expiration`). The command line is split as the AWS CLI splits it (no
//! shell: the AWS docs say not to rely on `$VARS` or `~`), the program runs
//! with vpc-router's own environment (as the SDKs run it; the `Env`
//! snapshot is a copy of it), no stdin, and a timeout, after which it
//! and its process group are killed so a hung helper cannot hang a daemon.

use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::Fetch;
use crate::aws::{Credentials, CredentialsError, Secret};
use crate::timefmt::parse_rfc3339;

/// How long the program may take. The AWS CLI waits for ever; a daemon
/// must not, and a credential helper that needs longer is waiting for a
/// person, which a daemon cannot be.
pub(super) const TIMEOUT: Duration = Duration::from_secs(60);
/// At most this much of the program's output is read (a credentials
/// document is a few kilobytes); stderr is shown up to a few hundred bytes.
const OUTPUT_LIMIT: u64 = 1 << 20;
const STDERR_SHOWN: usize = 600;

pub(super) struct Process {
    source: String,
    argv: Vec<String>,
    timeout: Duration,
}

impl Process {
    /// The program of the profile's `credential_process`; an error when
    /// the command line cannot be split.
    pub(super) fn new(
        profile: &str,
        command: &str,
        timeout: Duration,
    ) -> Result<Process, CredentialsError> {
        let source = format!("profile {profile} (credential_process)");
        let argv = split(command).map_err(|detail| CredentialsError::Invalid {
            source: source.clone(),
            detail,
        })?;
        Ok(Process {
            source,
            argv,
            timeout,
        })
    }

    fn failed(&self, detail: String) -> CredentialsError {
        CredentialsError::Provider {
            source: self.source.clone(),
            detail,
        }
    }

    /// Runs the program: its stdout, or why it failed. Only the program's
    /// name is shown, never its arguments (they may hold a secret).
    fn run(&self) -> Result<Vec<u8>, CredentialsError> {
        let program = &self.argv[0];
        // Sockets rather than pipes: they take a read timeout, so the
        // output is read and the deadline kept without a thread per pipe.
        let pair =
            || UnixStream::pair().map_err(|e| self.failed(format!("cannot run '{program}': {e}")));
        let ((out, out_child), (err, err_child)) = (pair()?, pair()?);
        let mut child = Command::new(program)
            .args(&self.argv[1..])
            .stdin(Stdio::null())
            .stdout(OwnedFd::from(out_child))
            .stderr(OwnedFd::from(err_child))
            // Its own process group, so that a timeout kills what it
            // started too (a shell script's children hold the output open).
            .process_group(0)
            .spawn()
            .map_err(|e| self.failed(format!("cannot run '{program}': {e}")))?;
        let deadline = Instant::now() + self.timeout;
        let mut outputs = [Vec::new(), Vec::new()];
        let mut open = [Some(out), Some(err)];
        let mut chunk = [0u8; 4096];
        // Until the program has closed its output and exited, or the deadline.
        let status = loop {
            let now = Instant::now();
            if now >= deadline {
                kill_group(&mut child);
                return Err(self.failed(format!(
                    "'{program}' did not finish within {} s and was stopped; it must print \
                     credentials without waiting for input (vpc-router cannot answer a prompt)",
                    self.timeout.as_secs()
                )));
            }
            if open.iter().all(Option::is_none) {
                match child.try_wait() {
                    Ok(Some(status)) => break status,
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                    Err(e) => return Err(self.failed(format!("waiting for '{program}': {e}"))),
                }
                continue;
            }
            for (slot, buf) in open.iter_mut().zip(&mut outputs) {
                let Some(stream) = slot else { continue };
                let wait = deadline
                    .saturating_duration_since(now)
                    .min(Duration::from_millis(20));
                let _ = stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))));
                match stream.read(&mut chunk) {
                    Ok(0) => *slot = None,
                    Ok(n) if (buf.len() as u64) < OUTPUT_LIMIT => {
                        buf.extend_from_slice(&chunk[..n])
                    }
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                        ) => {}
                    Err(_) => *slot = None,
                }
            }
        };
        let [stdout, stderr] = outputs;
        if !status.success() {
            let said = String::from_utf8_lossy(&stderr);
            let said = said.trim();
            let shown: String = said.chars().take(STDERR_SHOWN).collect();
            let how = match (status.code(), status.signal()) {
                (Some(c), _) => format!("exited with status {c}"),
                (None, s) => format!("was killed by signal {}", s.unwrap_or(0)),
            };
            return Err(self.failed(if shown.is_empty() {
                format!("'{program}' {how} and printed nothing on stderr")
            } else {
                format!(
                    "'{program}' {how}: {shown}{}",
                    if shown.len() < said.len() { "..." } else { "" }
                )
            }));
        }
        Ok(stdout)
    }
}

/// Kills the program's process group (it leads one), and the program
/// itself should that fail; then reaps it.
fn kill_group(child: &mut std::process::Child) {
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) takes plain integers and touches no memory of
        // ours; the group is the one the child was started in (`process_group(0)`).
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The credentials in the program's output. The document is read as a
/// `serde_json::Value` (as etcd's are), not through a derive, to keep the
/// shipped binary small.
pub(super) fn parse(stdout: &[u8], source: &str) -> Result<Credentials, String> {
    let text = String::from_utf8_lossy(stdout);
    let o: Value = serde_json::from_str(&text).map_err(|e| {
        let start: String = text.chars().take(40).filter(|c| !c.is_control()).collect();
        format!(
            "its output is not the JSON document credential_process must print ({e}); it \
             began '{start}'"
        )
    })?;
    match o.get("Version") {
        Some(v) if v.as_u64() == Some(1) => {}
        Some(v) => {
            return Err(format!(
                "its output has \"Version\": {v}; vpc-router, like the AWS SDKs, understands \
                 only Version 1"
            ))
        }
        None => return Err("its output has no \"Version\" (it must be 1)".into()),
    }
    let text = |name: &str| {
        o.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let field = |name: &str| {
        text(name)
            .map(str::to_string)
            .ok_or_else(|| format!("its output has no \"{name}\""))
    };
    let access_key_id = field("AccessKeyId")?;
    let secret = field("SecretAccessKey")?;
    let expires = match text("Expiration") {
        Some(e) => Some(parse_rfc3339(e).ok_or_else(|| {
            format!("its \"Expiration\" '{e}' is not an RFC 3339 time such as 2026-11-25T12:34:56Z")
        })?),
        None => None,
    };
    Ok(Credentials {
        access_key_id,
        secret_access_key: Secret::new(secret),
        session_token: text("SessionToken").map(Secret::new),
        expires,
        source: source.to_string(),
    })
}

impl Fetch for Process {
    fn fetch(&self, _now: SystemTime) -> Result<Credentials, CredentialsError> {
        let stdout = self.run()?;
        let c = parse(&stdout, &self.source).map_err(|e| self.failed(e))?;
        crate::debug!("credentials from {} ('{}')", self.source, self.argv[0]);
        Ok(c)
    }
}

/// Splits a command line into words as the AWS CLI does on Unix (Python's
/// `shlex.split`): whitespace separates; `"..."` and `'...'` group; a
/// backslash escapes the next character outside single quotes (inside
/// double quotes only before `"` and `\`). No variables,
/// no `~`, no globbing: there is no shell.
pub(super) fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(unterminated("'")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(unterminated("\"")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(unterminated("\"")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => {
                        return Err("credential_process ends with a lone backslash; remove it \
                                    or escape it as \\\\"
                            .into())
                    }
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err(
            "credential_process is empty; give the full path of a program that prints \
                    credentials"
                .into(),
        );
    }
    Ok(words)
}

fn unterminated(quote: &str) -> String {
    format!(
        "credential_process has a {quote} that is never closed; quote a path or argument with \
         spaces as \"/opt/my tools/creds\" --name \"a b\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_as_the_aws_cli_splits_them() {
        for (line, want) in [
            (
                "/opt/bin/creds --user helen",
                vec!["/opt/bin/creds", "--user", "helen"],
            ),
            (
                "\"/opt/my tools/creds\" plain \"with space\"",
                vec!["/opt/my tools/creds", "plain", "with space"],
            ),
            ("a  'b c'  d\\ e", vec!["a", "b c", "d e"]),
            ("x \"q\\\"uote\" 'it''s'", vec!["x", "q\"uote", "its"]),
            ("x \"a\\nb\" $HOME ~", vec!["x", "a\\nb", "$HOME", "~"]),
            ("  lead\ttab  ", vec!["lead", "tab"]),
            ("x \"\"", vec!["x", ""]),
        ] {
            assert_eq!(split(line).unwrap(), want, "{line}");
        }
        for (line, want) in [
            ("", "credential_process is empty"),
            ("  ", "credential_process is empty"),
            ("/bin/creds \"open", "has a \" that is never closed"),
            ("/bin/creds 'open", "has a ' that is never closed"),
            ("/bin/creds \\", "ends with a lone backslash"),
        ] {
            let e = split(line).unwrap_err();
            assert!(e.contains(want), "{line:?}: {e}");
        }
    }

    #[test]
    fn the_output_document_is_checked_field_by_field() {
        let ok = br#"{"Version": 1, "AccessKeyId": "ASIAPROC", "SecretAccessKey": "s",
                      "SessionToken": "t", "Expiration": "2026-11-25T13:00:00Z"}"#;
        let c = parse(ok, "p").unwrap();
        assert_eq!(c.access_key_id, "ASIAPROC");
        assert_eq!(c.session_token.unwrap().expose(), "t");
        assert_eq!(c.expires, parse_rfc3339("2026-11-25T13:00:00Z"));
        let long = br#"{"Version": 1, "AccessKeyId": "AKIA", "SecretAccessKey": "s"}"#;
        let c = parse(long, "p").unwrap();
        assert_eq!((c.session_token, c.expires), (None, None));
        for (doc, want) in [
            (&b"not json"[..], "is not the JSON document credential_process must print"),
            (br#"{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "s"}"#, "\"Version\": 2; vpc-router"),
            (br#"{"Version": "1", "AccessKeyId": "A", "SecretAccessKey": "s"}"#, "\"Version\": \"1\""),
            (br#"{"AccessKeyId": "A", "SecretAccessKey": "s"}"#, "has no \"Version\""),
            (br#"{"Version": 1, "SecretAccessKey": "s"}"#, "has no \"AccessKeyId\""),
            (br#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": ""}"#, "has no \"SecretAccessKey\""),
            (
                br#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "s", "Expiration": "tomorrow"}"#,
                "\"Expiration\" 'tomorrow' is not an RFC 3339 time",
            ),
        ] {
            let e = parse(doc, "p").unwrap_err();
            assert!(e.contains(want), "{}: {e}", String::from_utf8_lossy(doc));
        }
    }
}
