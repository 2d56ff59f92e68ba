//! Bearer-token authentication for the API: the token is read once from
//! `--auth-token-file`, kept out of every `Debug` and log line, and
//! compared in constant time.

use std::fmt;
use std::path::Path;

/// Shorter tokens are refused at start-up: they could be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// The API's token.
pub struct Token(Vec<u8>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Missing,
    Invalid,
}

impl Denied {
    pub fn message(self) -> &'static str {
        match self {
            Denied::Missing => {
                "this API needs a token: send the header 'Authorization: Bearer <token>' \
                 with the token from the daemon's --auth-token-file"
            }
            Denied::Invalid => "the bearer token is not the daemon's token",
        }
    }
}

impl Token {
    /// Reads the token: the file's content without surrounding whitespace.
    /// Says what is wrong with a missing, empty, short or unusable token.
    pub fn from_file(path: &Path) -> Result<(Token, Option<String>), String> {
        let name = path.display();
        let raw = std::fs::read(path)
            .map_err(|e| format!("--auth-token-file: cannot read {name}: {e}"))?;
        let warning = world_readable(path).then(|| {
            format!(
                "--auth-token-file: {name} can be read by other users; \
                 chmod 600 it"
            )
        });
        let token = Token::new(&raw).map_err(|m| format!("--auth-token-file: {name}: {m}"))?;
        Ok((token, warning))
    }

    pub fn new(raw: &[u8]) -> Result<Token, String> {
        let text =
            std::str::from_utf8(raw).map_err(|_| "the token is not UTF-8 text".to_string())?;
        let token = text.trim();
        let hint = "generate one with: head -c 32 /dev/urandom | base64";
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "the token has {} characters; it needs at least {MIN_TOKEN_LEN} ({hint})",
                token.len()
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "the token must be one line of visible ASCII characters, without spaces ({hint})"
            ));
        }
        Ok(Token(token.as_bytes().to_vec()))
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, header: Option<&str>) -> Result<(), Denied> {
        let Some(h) = header else {
            return Err(Denied::Missing);
        };
        let given = match h.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => return Err(Denied::Invalid),
        };
        if constant_time_eq(&self.0, given.as_bytes()) {
            Ok(())
        } else {
            Err(Denied::Invalid)
        }
    }
}

/// Compares without an early exit, so that the time taken does not tell
/// how many leading bytes of a guess were right. The loop runs over the
/// expected token only; the guess's length changes nothing but the result.
fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    let mut diff = u8::from(expected.len() != given.len());
    for (i, e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(e ^ g);
    }
    diff == 0
}

#[cfg(unix)]
fn world_readable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

#[cfg(not(unix))]
fn world_readable(_: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_the_bearer_token() {
        let t = Token::new(b"s3cr3t-t0ken-0123456789\n").unwrap();
        assert_eq!(t.check(Some("Bearer s3cr3t-t0ken-0123456789")), Ok(()));
        assert_eq!(t.check(Some("bearer  s3cr3t-t0ken-0123456789 ")), Ok(()));
        assert_eq!(t.check(None), Err(Denied::Missing));
        for bad in [
            "Bearer s3cr3t-t0ken-012345678",
            "Bearer s3cr3t-t0ken-01234567890",
            "Bearer S3cr3t-t0ken-0123456789",
            "Basic czNjcjN0LXQwa2Vu",
            "Bearer",
            "s3cr3t-t0ken-0123456789",
            "Bearer ",
        ] {
            assert_eq!(t.check(Some(bad)), Err(Denied::Invalid), "{bad}");
        }
        assert_eq!(format!("{t:?}"), "Token(***)");
    }

    #[test]
    fn refuses_weak_or_odd_tokens() {
        assert!(Token::new(b"short").unwrap_err().contains("at least 16"));
        assert!(Token::new(b"").unwrap_err().contains("at least 16"));
        assert!(Token::new(b"two words are not a token")
            .unwrap_err()
            .contains("visible ASCII"));
        assert!(Token::new(&[0xff; 20]).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abc", b""));
    }
}
