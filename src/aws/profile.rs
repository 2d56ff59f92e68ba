//! The AWS shared files: `~/.aws/credentials` and `~/.aws/config` (or
//! `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`), read as the AWS CLI
//! reads them. A profile is the merge of its sections in both files, the
//! credentials file winning for a key set in both.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::aws::Env;

/// One profile's settings, keys lowercased; a nested setting's keys as
/// `PARENT.KEY` (`s3 =` then an indented `max_concurrent_requests = 10`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    values: HashMap<String, String>,
    /// The files it was read from, for messages.
    pub files: Vec<PathBuf>,
    /// The `[services NAME]` section of the config file that the profile's
    /// `services = NAME` names, its keys as `SERVICE.KEY`; `None` without
    /// such a section.
    services: Option<HashMap<String, String>>,
}

impl Profile {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Every key the profile sets (nested ones as `PARENT.KEY`).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// `key` of `service` (e.g. `ec2`, `endpoint_url`) in the `[services
    /// NAME]` section the profile names. `Err` with a message when the
    /// profile names a section that is not in the config file.
    pub fn service_setting(&self, service: &str, key: &str) -> Result<Option<&str>, String> {
        let Some(name) = self.get("services") else {
            return Ok(None);
        };
        let Some(section) = &self.services else {
            return Err(format!(
                "profile {} has services = {name}, but there is no [services {name}] section \
                 in the config file; add it or remove the setting",
                self.name
            ));
        };
        Ok(section
            .get(&format!("{service}.{key}"))
            .map(String::as_str)
            .filter(|v| !v.is_empty()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileError {
    /// A file exists but cannot be read.
    Unreadable { path: PathBuf, detail: String },
    /// A profile named explicitly (`--profile`, `AWS_PROFILE`) is in neither file.
    NotFound { name: String, paths: Vec<PathBuf> },
    /// A line that is neither a section header, a setting, a comment nor a
    /// continuation: the file is not what the AWS tools would read.
    Malformed {
        path: PathBuf,
        line: usize,
        detail: String,
    },
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileError::Unreadable { path, detail } => {
                write!(f, "cannot read {}: {detail}", path.display())
            }
            ProfileError::NotFound { name, paths } => {
                let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "profile '{name}' is in neither {}; check --profile / AWS_PROFILE",
                    paths.join(" nor ")
                )
            }
            ProfileError::Malformed { path, line, detail } => {
                write!(f, "{}, line {line}: {detail}", path.display())
            }
        }
    }
}

impl std::error::Error for ProfileError {}

/// The profile name in force: the explicit one, else `AWS_PROFILE`, else
/// `default`; and whether it was named explicitly.
pub fn profile_name<'a>(env: &'a Env, explicit: Option<&'a str>) -> (&'a str, bool) {
    match explicit.or_else(|| env.get("AWS_PROFILE")) {
        Some(name) => (name, true),
        None => ("default", false),
    }
}

fn paths(env: &Env) -> (Option<PathBuf>, Option<PathBuf>) {
    let home = env.home().map(|h| h.join(".aws"));
    let credentials = env
        .get("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join("credentials")));
    let config = env
        .get("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join("config")));
    (credentials, config)
}

/// Loads the profile in force. `Ok(None)` when the default profile is not
/// configured anywhere (that is normal); an explicitly named profile that is
/// missing is an error.
pub fn load(env: &Env, explicit: Option<&str>) -> Result<Option<Profile>, ProfileError> {
    let (name, named) = profile_name(env, explicit);
    let (cred_path, config_path) = paths(env);
    let mut values = HashMap::new();
    let mut files = Vec::new();
    let mut found = false;
    let mut config_sections = None;
    // The config file first, so that the credentials file overrides it.
    if let Some(path) = &config_path {
        if let Some(sections) = read(path)? {
            let wanted = if name == "default" {
                vec!["default".to_string(), "profile default".to_string()]
            } else {
                vec![format!("profile {name}")]
            };
            for section in wanted {
                if let Some(v) = sections.get(&section) {
                    values.extend(v.clone());
                    found = true;
                    files.push(path.clone());
                }
            }
            config_sections = Some(sections);
        }
    }
    if let Some(path) = &cred_path {
        if let Some(sections) = read(path)? {
            if let Some(v) = sections.get(name) {
                values.extend(v.clone());
                found = true;
                files.push(path.clone());
            }
        }
    }
    // `services = NAME` names a `[services NAME]` section of the config file.
    let services = values
        .get("services")
        .zip(config_sections.as_ref())
        .and_then(|(s, sections)| sections.get(&format!("services {}", s.trim())))
        .cloned();
    match (found, named) {
        (true, _) => Ok(Some(Profile {
            name: name.to_string(),
            values,
            files,
            services,
        })),
        (false, false) => Ok(None),
        (false, true) => Err(ProfileError::NotFound {
            name: name.to_string(),
            paths: [cred_path, config_path].into_iter().flatten().collect(),
        }),
    }
}

/// One section's settings, keys lowercased.
pub type Settings = HashMap<String, String>;

/// The settings of `[sso-session NAME]` (IAM Identity Center) in the config
/// file, keys lowercased, with that file's path for messages: `None` for
/// the settings when there is no such section (or no config file).
pub fn sso_session(
    env: &Env,
    name: &str,
) -> Result<(Option<PathBuf>, Option<Settings>), ProfileError> {
    let (_, config) = paths(env);
    let Some(path) = config else {
        return Ok((None, None));
    };
    let section = read(&path)?.and_then(|mut s| s.remove(&format!("sso-session {name}")));
    Ok((Some(path), section))
}

type Sections = HashMap<String, HashMap<String, String>>;

/// Reads an INI file; `None` if it does not exist.
fn read(path: &Path) -> Result<Option<Sections>, ProfileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text)
            .map(Some)
            .map_err(|(line, detail)| ProfileError::Malformed {
                path: path.to_path_buf(),
                line,
                detail,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ProfileError::Unreadable {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }),
    }
}

/// The AWS dialect of INI: `[section]`, `key = value`, `#` and `;` comment
/// lines. Indented `key = value` lines under a setting with no value are
/// its nested settings (`ec2 =` followed by an indented `endpoint_url =
/// ...`), kept as `ec2.endpoint_url`; other indented lines continue a
/// value and are skipped (no setting vpc-router reads spans lines). Anything else is an error with its line number (1-based), as
/// the AWS CLI refuses such a file too: skipping it would turn a typo into
/// "no credentials found". A setting line is never quoted in the message:
/// it may hold a secret.
fn parse(text: &str) -> Result<Sections, (usize, String)> {
    let mut sections: Sections = HashMap::new();
    let mut current: Option<String> = None;
    // The setting with no value that indented lines nest under.
    let mut parent: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = section_name(rest).ok_or_else(|| {
                let shown: String = line.chars().take(60).collect();
                (
                    n,
                    format!(
                        "'{shown}' is not a section header; write [default], [NAME] or \
                         [profile NAME]"
                    ),
                )
            })?;
            sections.entry(name.clone()).or_default();
            current = Some(name);
            parent = None;
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            if let (Some(p), Some(section), Some((k, v))) =
                (&parent, &current, line.split_once('='))
            {
                sections.entry(section.clone()).or_default().insert(
                    format!("{p}.{}", k.trim().to_ascii_lowercase()),
                    v.trim().to_string(),
                );
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err((
                n,
                "is neither a [section] header nor a setting (key = value), and is not a \
                 # comment"
                    .into(),
            ));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err((n, "a setting with no name before its '='".into()));
        }
        let Some(section) = &current else {
            return Err((
                n,
                format!("the setting '{k}' comes before any [section] header; put it under one"),
            ));
        };
        let (k, v) = (k.to_ascii_lowercase(), v.trim().to_string());
        parent = v.is_empty().then(|| k.clone());
        sections.entry(section.clone()).or_default().insert(k, v);
    }
    Ok(sections)
}

/// The name of a section from what follows its `[`: up to the `]`, which
/// only a comment may follow; `None` if there is no name or no `]`.
fn section_name(rest: &str) -> Option<String> {
    let (name, after) = rest.split_once(']')?;
    let after = after.trim();
    if !(after.is_empty() || after.starts_with('#') || after.starts_with(';')) {
        return None;
    }
    // "[profile  prod]" and "[ prod ]" are the same section.
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(name: &str, credentials: &str, config: &str) -> (Env, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("vpc-router-profile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(".aws")).unwrap();
        std::fs::write(dir.join(".aws/credentials"), credentials).unwrap();
        std::fs::write(dir.join(".aws/config"), config).unwrap();
        let home = dir.to_str().unwrap().to_string();
        let env = Env::from_pairs([("HOME", home.as_str())]);
        (env, dir)
    }

    const CREDS: &str = "
# comment
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secret-default

[prod]
AWS_ACCESS_KEY_ID=AKIDPROD
aws_secret_access_key=secret-prod
region = eu-west-1
";
    const CONFIG: &str = "
[default]
region = us-east-1
; comment
[profile prod]
region = us-west-2
s3 =
  max_concurrent_requests = 20
[profile irsa]
role_arn = arn:aws:iam::123456789012:role/router
web_identity_token_file = /var/run/token
";

    #[test]
    fn the_default_profile_merges_both_files() {
        let (env, _d) = files("default", CREDS, CONFIG);
        let p = load(&env, None).unwrap().unwrap();
        assert_eq!(p.name, "default");
        assert_eq!(p.get("aws_access_key_id"), Some("AKIDDEFAULT"));
        assert_eq!(p.get("region"), Some("us-east-1"));
        assert_eq!(p.files.len(), 2);
    }

    #[test]
    fn a_named_profile_comes_from_the_argument_or_aws_profile() {
        let (env, d) = files("named", CREDS, CONFIG);
        let p = load(&env, Some("prod")).unwrap().unwrap();
        // Keys are case-insensitive, and the credentials file wins.
        assert_eq!(p.get("aws_access_key_id"), Some("AKIDPROD"));
        assert_eq!(p.get("region"), Some("eu-west-1"));
        assert_eq!(p.get("max_concurrent_requests"), None);
        let home = d.to_str().unwrap();
        let env = Env::from_pairs([("HOME", home), ("AWS_PROFILE", "irsa")]);
        let p = load(&env, None).unwrap().unwrap();
        assert_eq!(
            p.get("role_arn"),
            Some("arn:aws:iam::123456789012:role/router")
        );
        // The argument beats AWS_PROFILE.
        assert_eq!(load(&env, Some("prod")).unwrap().unwrap().name, "prod");
    }

    #[test]
    fn a_missing_named_profile_is_an_error_but_a_missing_default_is_not() {
        let (env, _d) = files("missing", "", "");
        assert_eq!(load(&env, None).unwrap(), None);
        let err = load(&env, Some("nope")).unwrap_err().to_string();
        assert!(err.starts_with("profile 'nope' is in neither "), "{err}");
        assert!(
            err.contains(".aws/credentials nor ") && err.contains(".aws/config"),
            "{err}"
        );
        // No files at all is fine too.
        let env = Env::from_pairs([("HOME", "/nonexistent-vpc-router-home")]);
        assert_eq!(load(&env, None).unwrap(), None);
    }

    // Issue 14: a malformed line was skipped, and the profile it broke
    // ended in "no credentials found".
    #[test]
    fn a_malformed_line_is_an_error_that_names_the_file_and_line() {
        let cases = [
            (
                "[default\naws_access_key_id = AKID\n",
                1,
                "'[default' is not a section header; write [default], [NAME] or [profile NAME]",
            ),
            ("[]\n", 1, "'[]' is not a section header"),
            (
                "[default] region\n",
                1,
                "'[default] region' is not a section header",
            ),
            (
                "# keys\n[default]\naws_secret_access_key wJalrXUtnFEMI\n",
                3,
                "is neither a [section] header nor a setting (key = value)",
            ),
            (
                "[default]\n= x\n",
                2,
                "a setting with no name before its '='",
            ),
            (
                "region = us-east-1\n[default]\n",
                1,
                "the setting 'region' comes before any [section] header",
            ),
        ];
        for (i, (text, line, want)) in cases.into_iter().enumerate() {
            let (env, d) = files(&format!("malformed{i}"), text, "");
            let err = load(&env, None).unwrap_err();
            let path = d.join(".aws/credentials");
            let msg = err.to_string();
            assert_eq!(
                err,
                ProfileError::Malformed {
                    path: path.clone(),
                    line,
                    detail: err_detail(&err),
                },
                "{text:?}"
            );
            assert!(
                msg.starts_with(&format!("{}, line {line}: ", path.display())),
                "{msg}"
            );
            assert!(msg.contains(want), "{text:?}: {msg}");
            // A secret on a broken line is never quoted.
            assert!(!msg.contains("wJalr"), "{msg}");
        }
        // A comment after a header is fine, as for the AWS CLI.
        let (env, _d) = files(
            "header-comment",
            "[default] # main\nregion = eu-west-1\n",
            "",
        );
        assert_eq!(
            load(&env, None).unwrap().unwrap().get("region"),
            Some("eu-west-1")
        );
    }

    fn err_detail(e: &ProfileError) -> String {
        match e {
            ProfileError::Malformed { detail, .. } => detail.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nested_settings_and_the_services_section_are_read() {
        let (env, _d) = files(
            "nested",
            "",
            "[default]\nservices = dev\ns3 =\n  max_concurrent_requests = 20\n\
             region = eu-west-1\n  continued = not nested\n\
             [services dev]\nec2 =\n  endpoint_url = http://127.0.0.1:5000\n\
             ; comment\n  after_comment = x\nsts = \n\tendpoint_url = http://127.0.0.1:5001\n",
        );
        let p = load(&env, None).unwrap().unwrap();
        assert_eq!(p.get("s3.max_concurrent_requests"), Some("20"));
        assert_eq!(p.get("region"), Some("eu-west-1"));
        // Under a setting with a value, an indented line is a continuation.
        assert_eq!(p.get("region.continued"), None);
        assert_eq!(
            p.service_setting("ec2", "endpoint_url"),
            Ok(Some("http://127.0.0.1:5000"))
        );
        assert_eq!(p.service_setting("ec2", "after_comment"), Ok(Some("x")));
        assert_eq!(
            p.service_setting("sts", "endpoint_url"),
            Ok(Some("http://127.0.0.1:5001"))
        );
        assert_eq!(p.service_setting("s3", "endpoint_url"), Ok(None));
        let (env, _d) = files("no-services", "", "[default]\nregion = eu-west-1\n");
        let p = load(&env, None).unwrap().unwrap();
        assert_eq!(p.service_setting("ec2", "endpoint_url"), Ok(None));
    }

    #[test]
    fn file_locations_can_be_overridden() {
        let (_env, d) = files("override", CREDS, CONFIG);
        let c = d.join(".aws/credentials");
        let env = Env::from_pairs([
            ("AWS_SHARED_CREDENTIALS_FILE", c.to_str().unwrap()),
            ("AWS_CONFIG_FILE", "/nonexistent"),
        ]);
        let p = load(&env, Some("prod")).unwrap().unwrap();
        assert_eq!(p.get("aws_secret_access_key"), Some("secret-prod"));
    }
}
