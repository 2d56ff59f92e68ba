//! The AWS shared files: `~/.aws/credentials` and `~/.aws/config` (or
//! `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`), read as the AWS CLI
//! reads them. A profile is the merge of its sections in both files, the
//! credentials file winning for a key set in both.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::aws::Env;

/// One profile's settings, keys lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    values: HashMap<String, String>,
    /// The files it was read from, for messages.
    pub files: Vec<PathBuf>,
}

impl Profile {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileError {
    /// A file exists but cannot be read.
    Unreadable { path: PathBuf, detail: String },
    /// A profile named explicitly (`--profile`, `AWS_PROFILE`) is in neither file.
    NotFound { name: String, paths: Vec<PathBuf> },
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
    match (found, named) {
        (true, _) => Ok(Some(Profile {
            name: name.to_string(),
            values,
            files,
        })),
        (false, false) => Ok(None),
        (false, true) => Err(ProfileError::NotFound {
            name: name.to_string(),
            paths: [cred_path, config_path].into_iter().flatten().collect(),
        }),
    }
}

type Sections = HashMap<String, HashMap<String, String>>;

/// Reads an INI file; `None` if it does not exist.
fn read(path: &Path) -> Result<Option<Sections>, ProfileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(parse(&text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ProfileError::Unreadable {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }),
    }
}

/// The AWS dialect of INI: `[section]`, `key = value`, `#` and `;` comment
/// lines. Indented lines continue a nested setting (`s3 =` followed by
/// indented keys); they belong to services we do not use, so they are
/// skipped.
fn parse(text: &str) -> Sections {
    let mut sections: Sections = HashMap::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            // "[profile  prod]" and "[ prod ]" are the same section.
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            continue;
        }
        let (Some(section), Some((k, v))) = (&current, line.split_once('=')) else {
            continue;
        };
        sections
            .entry(section.clone())
            .or_default()
            .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    sections
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
