//! SigV4 signing of one request, with the time passed in.
//! (Interface fixed; implementation in progress.)

use std::time::SystemTime;

use crate::aws::Credentials;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignError(pub String);

/// Signs a request and returns the headers to add to it (`authorization`,
/// `x-amz-date`, and `x-amz-security-token` when there is a session token).
/// `headers` are the headers that will be sent (at least `host` and
/// `content-type`); `body` is exactly the bytes that will be sent.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    _method: &str,
    _url: &str,
    _headers: &[(&str, &str)],
    _body: &[u8],
    _creds: &Credentials,
    _region: &str,
    _service: &str,
    _now: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    unimplemented!("in progress")
}
