//! SigV4 signing of one Query API request (EC2, STS AssumeRole), with the
//! time passed in. The body it signs is form-encoded by
//! [`crate::query::form_body`].
//!
//! The signature itself comes from AWS's own `aws-sigv4` crate; this module
//! adapts vpc-router's credentials and plain header lists to it, and hands
//! back only the headers the caller must add before sending.

use std::error::Error;
use std::fmt;
use std::time::SystemTime;

use aws_sigv4::http_request::{self, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::aws::Credentials;

/// Why a request could not be signed. The message names the request and
/// what was wrong with it; it never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignError(pub String);

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot sign the request: {}", self.0)
    }
}

impl Error for SignError {}

/// Signs a request and returns the headers to add to it (`authorization`,
/// `x-amz-date`, and `x-amz-security-token` when there is a session token).
/// `headers` are the headers that will be sent (at least `host` and
/// `content-type`); `body` is exactly the bytes that will be sent.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    creds: &Credentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    // aws-sigv4 would happily sign with an empty scope, and AWS would then
    // answer with an opaque SignatureDoesNotMatch; say what is missing instead.
    if region.is_empty() {
        return Err(SignError(format!("{method} {url}: the region is empty")));
    }
    if service.is_empty() {
        return Err(SignError(format!(
            "{method} {url}: the service name is empty"
        )));
    }
    if creds.access_key_id.is_empty() {
        return Err(SignError(format!(
            "{method} {url}: the access key ID from {} is empty",
            creds.source
        )));
    }

    let identity: Identity = aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.expose(),
        creds.session_token.as_ref().map(|t| t.expose().to_string()),
        None,
        "vpc-router",
    )
    .into();

    // The defaults are what the AWS SDKs use for EC2: the payload hash is in
    // the canonical request but not sent as x-amz-content-sha256, and the
    // session token is signed along with the other headers.
    let params: http_request::SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SignError(format!("{method} {url}: {}", chain(&e))))?
        .into();

    let request = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| SignError(format!("{method} {url}: {}", chain(&e))))?;

    let (instructions, _signature) = http_request::sign(request, &params)
        .map_err(|e| SignError(format!("{method} {url}: {}", chain(&e))))?
        .into_parts();

    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string()))
        .collect())
}

/// An error with all its causes, because aws-sigv4's top-level messages
/// ("failed to create canonical request") do not say which part was wrong.
fn chain(e: &dyn Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::Secret;
    use std::time::{Duration, UNIX_EPOCH};

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtEXAMPLE";

    const EC2_URL: &str = "https://ec2.us-east-1.amazonaws.com/";
    const EC2_BODY: &str = "Action=DescribeRouteTables&Version=2016-11-15\
                            &Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-350d6a51";
    const EC2_HEADERS: &[(&str, &str)] = &[
        ("host", "ec2.us-east-1.amazonaws.com"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ];

    fn creds(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: AKID.into(),
            secret_access_key: Secret::new(SECRET),
            session_token: token.map(Secret::new),
            expires: None,
            source: "test".into(),
        }
    }

    /// 2026-11-25T12:34:56Z.
    fn ec2_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_610_096)
    }

    /// 2015-08-30T12:36:00Z, the time of the AWS SigV4 test suite.
    fn suite_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn sign_ec2(body: &[u8], token: Option<&str>) -> Vec<(String, String)> {
        sign(
            "POST",
            EC2_URL,
            EC2_HEADERS,
            body,
            &creds(token),
            "us-east-1",
            "ec2",
            ec2_time(),
        )
        .unwrap()
    }

    // The expected Authorization values of the two EC2 tests come from
    // botocore 1.44.8 (Python 3.11.7, installed with pip in a throwaway venv),
    // an implementation of SigV4 independent of aws-sigv4. The script:
    //
    //   import datetime, botocore.auth
    //   from botocore.auth import SigV4Auth
    //   from botocore.awsrequest import AWSRequest
    //   from botocore.credentials import Credentials
    //   when = datetime.datetime(2026, 11, 25, 12, 34, 56,
    //                            tzinfo=datetime.timezone.utc)
    //   botocore.auth.get_current_datetime = lambda *a, **k: when
    //   body = (b"Action=DescribeRouteTables&Version=2016-11-15"
    //           b"&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-350d6a51")
    //   for token in (None, "AQoDYXdzEPT//////////wEXAMPLEtEXAMPLE"):
    //       req = AWSRequest(method="POST",
    //           url="https://ec2.us-east-1.amazonaws.com/", data=body,
    //           headers={"host": "ec2.us-east-1.amazonaws.com",
    //                    "content-type":
    //                    "application/x-www-form-urlencoded; charset=utf-8"})
    //       SigV4Auth(Credentials("AKIDEXAMPLE",
    //                 "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token),
    //                 "ec2", "us-east-1").add_auth(req)
    //       print(dict(req.headers))
    //
    // botocore signed exactly content-type, host, x-amz-date and (with a
    // token) x-amz-security-token; it adds no x-amz-content-sha256 for an
    // HTTPS request, so its canonical request is the one aws-sigv4 builds.

    #[test]
    fn matches_botocore_for_describe_route_tables() {
        let headers = sign_ec2(EC2_BODY.as_bytes(), None);
        assert_eq!(
            header(&headers, "authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/ec2/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, \
                 Signature=3f33d7135de5f69fa353669c470c81039dc0dbe199173059a0aa3b364f897555"
            ),
            "{headers:?}"
        );
        assert_eq!(header(&headers, "x-amz-date"), Some("20261125T123456Z"));
        assert_eq!(header(&headers, "x-amz-security-token"), None);
        assert_eq!(headers.len(), 2, "{headers:?}");
    }

    #[test]
    fn matches_botocore_with_a_session_token() {
        let headers = sign_ec2(EC2_BODY.as_bytes(), Some(TOKEN));
        assert_eq!(
            header(&headers, "authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/ec2/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, \
                 Signature=f0dc75ae5b899c7acd2c16494f6a9fef1b631ce9dd4b785542a4bf2a0907a678"
            ),
            "{headers:?}"
        );
        assert_eq!(header(&headers, "x-amz-date"), Some("20261125T123456Z"));
        assert_eq!(header(&headers, "x-amz-security-token"), Some(TOKEN));
        assert_eq!(headers.len(), 3, "{headers:?}");
    }

    // The AWS SigV4 test suite's `post-x-www-form-urlencoded` and
    // `get-vanilla` cases (service "service", region us-east-1, 20150830T123600Z).
    // The expected values are the suite's .authz files, as carried in the AWS
    // SDK for JavaScript's signature-v4 suite.fixture.js; botocore 1.44.8
    // produces the same post-x-www-form-urlencoded value.

    #[test]
    fn aws_test_suite_post_x_www_form_urlencoded() {
        let headers = sign(
            "POST",
            "https://example.amazonaws.com/",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("host", "example.amazonaws.com"),
            ],
            b"Param1=value1",
            &creds(None),
            "us-east-1",
            "service",
            suite_time(),
        )
        .unwrap();
        assert_eq!(
            header(&headers, "authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, \
                 Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
            )
        );
        assert_eq!(header(&headers, "x-amz-date"), Some("20150830T123600Z"));
    }

    #[test]
    fn aws_test_suite_get_vanilla_takes_the_host_from_the_url() {
        let headers = sign(
            "GET",
            "https://example.amazonaws.com/",
            &[],
            b"",
            &creds(None),
            "us-east-1",
            "service",
            suite_time(),
        )
        .unwrap();
        assert_eq!(
            header(&headers, "authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
            )
        );
    }

    #[test]
    fn the_secret_never_appears_in_the_headers() {
        for token in [None, Some(TOKEN)] {
            let headers = sign_ec2(EC2_BODY.as_bytes(), token);
            for (name, value) in &headers {
                assert!(!value.contains(SECRET), "{name} holds the secret");
                assert!(!name.contains(SECRET));
            }
        }
    }

    #[test]
    fn the_signature_covers_every_body_byte_and_the_time() {
        let original = sign_ec2(EC2_BODY.as_bytes(), None);
        assert_eq!(original, sign_ec2(EC2_BODY.as_bytes(), None));

        // vpc-350d6a51 -> vpc-350d6a52: one byte, the last one.
        let mut changed = EC2_BODY.as_bytes().to_vec();
        *changed.last_mut().unwrap() = b'2';
        let altered = sign_ec2(&changed, None);
        assert_ne!(
            header(&original, "authorization"),
            header(&altered, "authorization")
        );

        let later = sign(
            "POST",
            EC2_URL,
            EC2_HEADERS,
            EC2_BODY.as_bytes(),
            &creds(None),
            "us-east-1",
            "ec2",
            ec2_time() + Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(header(&later, "x-amz-date"), Some("20261125T123457Z"));
        assert_ne!(
            header(&original, "authorization"),
            header(&later, "authorization")
        );
    }

    #[test]
    fn bad_input_is_an_error_with_context() {
        let bad_url = sign(
            "POST",
            "not a url",
            EC2_HEADERS,
            b"",
            &creds(None),
            "us-east-1",
            "ec2",
            ec2_time(),
        )
        .unwrap_err();
        assert!(bad_url.0.contains("not a url"), "{bad_url}");
        assert!(bad_url.to_string().starts_with("cannot sign the request: "));

        let bad_header = sign(
            "POST",
            EC2_URL,
            &[("content-type", "a\nb")],
            b"",
            &creds(None),
            "us-east-1",
            "ec2",
            ec2_time(),
        )
        .unwrap_err();
        assert!(
            bad_header.0.contains("invalid header value"),
            "{bad_header}"
        );

        let no_region = sign(
            "POST",
            EC2_URL,
            EC2_HEADERS,
            b"",
            &creds(None),
            "",
            "ec2",
            ec2_time(),
        )
        .unwrap_err();
        assert!(no_region.0.contains("region is empty"), "{no_region}");

        let mut anonymous = creds(None);
        anonymous.access_key_id.clear();
        let no_key = sign(
            "POST",
            EC2_URL,
            EC2_HEADERS,
            b"",
            &anonymous,
            "us-east-1",
            "ec2",
            ec2_time(),
        )
        .unwrap_err();
        assert!(no_key.0.contains("access key ID from test"), "{no_key}");
        assert!(!no_key.to_string().contains(SECRET));
    }
}
