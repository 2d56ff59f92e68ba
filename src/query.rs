//! The AWS Query protocol that EC2 and STS share: the form encoding of a
//! request body, and the reading of XML answers into a small element tree,
//! with the two error envelopes. It knows no service: `ec2::xml` reads EC2's
//! documents with it and `aws::credentials` the STS answer, so neither of
//! `ec2` and `aws` imports the other for it. Documents are read once and
//! fields are looked up among an element's direct children only.

use quick_xml::events::{BytesStart, Event};
use vpc_router_xml_events::Events;

/// Form-encodes Query API parameters, in the order given, the way the AWS
/// SDKs do: every key and value is percent-encoded per RFC 3986, keeping
/// only the unreserved characters `A-Z a-z 0-9 - _ . ~` (so a space becomes
/// `%20`, not `+`), and the pairs are joined with `=` and `&`.
pub fn form_body(params: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode(key, &mut out);
        out.push('=');
        percent_encode(value, &mut out);
    }
    out
}

/// Appends `s` to `out`, percent-encoding every UTF-8 byte outside the
/// RFC 3986 unreserved set with uppercase hex digits.
fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// An error document, from either envelope (EC2 uses the first, STS the
/// second):
/// `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`
/// or `<ErrorResponse><Error><Code/><Message/></Error><RequestId/></ErrorResponse>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

/// The body was not the XML document we expected; says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for XmlError {}

/// The error document in `xml`, or `None` if it is not one.
pub fn error_body(xml: &str) -> Option<ErrorBody> {
    error_in(&parse(xml).ok()?)
}

/// The error carried by an already parsed document, from either envelope. A
/// bare `<Error>` root (the S3 form, which some emulators use) is accepted too.
pub(crate) fn error_in(root: &Element) -> Option<ErrorBody> {
    let error = match root.name.as_str() {
        "Response" => root.child("Errors")?.child("Error")?,
        "ErrorResponse" => root.child("Error")?,
        "Error" => root,
        _ => return None,
    };
    let code = error.text("Code")?.to_string();
    let message = error.text("Message").unwrap_or_default().to_string();
    // EC2 spells it RequestID, the other services RequestId; either may sit
    // beside the Error or, in the bare form, inside it.
    let request_id = ["RequestID", "RequestId"]
        .iter()
        .find_map(|name| root.text(name).or_else(|| error.text(name)))
        .map(str::to_string);
    Some(ErrorBody {
        code,
        message,
        request_id,
    })
}

/// Parses `xml` and checks that its root is `expected`, so that an error
/// document or an answer to another action is reported as such rather than
/// read as an empty page.
pub(crate) fn document(xml: &str, expected: &str) -> Result<Element, XmlError> {
    let root = parse(xml)?;
    if root.name == expected {
        return Ok(root);
    }
    Err(match error_in(&root) {
        Some(err) => XmlError(format!(
            "expected a {expected} document, got an error document: {}: {}",
            err.code, err.message
        )),
        None => not_the_document(expected, &root.name),
    })
}

/// A document whose root is `found` where `expected` was wanted.
pub(crate) fn not_the_document(expected: &str, found: &str) -> XmlError {
    XmlError(format!("expected a {expected} document, got <{found}>"))
}

/// One element of the document: its local name (namespace prefix dropped),
/// its text with surrounding whitespace trimmed, and its child elements.
/// Attributes are dropped; EC2 carries no data in them.
#[derive(Debug)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
}

impl Element {
    fn new(start: &BytesStart<'_>) -> Element {
        Element {
            name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
            text: String::new(),
            children: Vec::new(),
        }
    }

    /// The first direct child called `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first direct child called `name`, if that child
    /// exists and is not empty: EC2 sends `<description/>` for "no value".
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.as_str())
            .filter(|t| !t.is_empty())
    }
}

/// Deeper nesting than this is refused: EC2 documents nest about six deep,
/// and a bound keeps a hostile or broken body from exhausting the stack when
/// the tree is dropped.
pub(crate) const MAX_DEPTH: usize = 64;

/// Reads `xml` into an element tree.
///
/// Text is not trimmed by the reader (`trim_text`): quick-xml 0.38 delivers
/// an entity such as `&amp;` as its own event between two text events and
/// would trim each piece, turning `a &amp; b` into `a&b`. Each element's text
/// is instead assembled whole and trimmed once, when the element ends.
pub(crate) fn parse(xml: &str) -> Result<Element, XmlError> {
    let mut bytes = xml.as_bytes();
    let mut reader = Events::new(&mut bytes);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let (event, at) = reader
            .event()
            .map_err(|(e, at)| malformed(at, &e.to_string()))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(malformed(
                        at,
                        &format!("elements nested deeper than {MAX_DEPTH}"),
                    ));
                }
                if stack.is_empty() && root.is_some() {
                    return Err(malformed(at, "more than one root element"));
                }
                stack.push(Element::new(&start));
            }
            Event::Empty(start) => attach(&mut stack, &mut root, Element::new(&start), at)?,
            Event::End(_) => {
                // quick-xml checks that end tags match their start tags, so
                // an End always has its element on the stack.
                let Some(mut element) = stack.pop() else {
                    return Err(malformed(at, "end tag without a start tag"));
                };
                let trimmed = element.text.trim();
                if trimmed.len() != element.text.len() {
                    element.text = trimmed.to_string();
                }
                attach(&mut stack, &mut root, element, at)?;
            }
            Event::Text(text) => {
                let text = text
                    .xml10_content()
                    .map_err(|e| malformed(at, &e.to_string()))?;
                add_text(&mut stack, &text, at)?;
            }
            Event::CData(cdata) => {
                let text = cdata
                    .xml10_content()
                    .map_err(|e| malformed(at, &e.to_string()))?;
                add_text(&mut stack, &text, at)?;
            }
            Event::GeneralRef(reference) => {
                let text = resolve(&reference).map_err(|why| malformed(at, &why))?;
                add_text(&mut stack, &text, at)?;
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(malformed(
            reader.position(),
            &format!("the document ends inside <{}>", open.name),
        ));
    }
    root.ok_or_else(|| XmlError("not an XML document: no root element".into()))
}

/// Adds a finished element to its parent, or makes it the root.
fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
    at: u64,
) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_some() => return Err(malformed(at, "more than one root element")),
        None => *root = Some(element),
    }
    Ok(())
}

fn add_text(stack: &mut [Element], text: &str, at: u64) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(element) => element.text.push_str(text),
        // Whitespace around the root is fine; anything else means the body
        // is not (only) an XML document, such as a proxy's plain-text error.
        None if text.trim().is_empty() => {}
        None => return Err(malformed(at, "text outside the root element")),
    }
    Ok(())
}

/// The text an entity or character reference stands for (shared with the
/// streaming reader of `ec2::xml`).
pub(crate) use vpc_router_xml_events::resolve;

/// A document that is not well-formed: why, and the byte where it was found.
pub(crate) fn malformed(at: u64, why: &str) -> XmlError {
    XmlError(format!("malformed XML at byte {at}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_body_encodes_like_the_aws_sdks() {
        assert_eq!(
            form_body(&[("Action", "DescribeRouteTables"), ("Version", "2016-11-15")]),
            "Action=DescribeRouteTables&Version=2016-11-15"
        );
        assert_eq!(form_body(&[("a b", "c d")]), "a%20b=c%20d");
        assert_eq!(
            form_body(&[("DestinationCidrBlock", "10.0.0.0/8")]),
            "DestinationCidrBlock=10.0.0.0%2F8"
        );
        assert_eq!(form_body(&[("k", "a+b=c&d")]), "k=a%2Bb%3Dc%26d");
        assert_eq!(form_body(&[("k", "~-_.AZaz09")]), "k=~-_.AZaz09");
        assert_eq!(form_body(&[("k", "é☃")]), "k=%C3%A9%E2%98%83");
        assert_eq!(form_body(&[("k", "\u{7f}%")]), "k=%7F%25");
    }

    #[test]
    fn form_body_keeps_the_order_given_and_empty_values() {
        assert_eq!(
            form_body(&[("Z", "1"), ("A", ""), ("M", "3")]),
            "Z=1&A=&M=3"
        );
        assert_eq!(form_body(&[]), "");
    }

    fn error(code: &str, message: &str, request_id: &str) -> Option<ErrorBody> {
        Some(ErrorBody {
            code: code.into(),
            message: message.into(),
            request_id: Some(request_id.into()),
        })
    }

    #[test]
    fn error_fixtures() {
        let cases = [
            (
                include_str!("../fixtures/error-request-limit-exceeded.xml"),
                error(
                    "RequestLimitExceeded",
                    "Request limit exceeded.",
                    "7d1e3f5a-9b2c-4d6e-8f0a-2c4e6a8b0d11",
                ),
            ),
            (
                include_str!("../fixtures/error-route-table-not-found.xml"),
                error(
                    "InvalidRouteTableID.NotFound",
                    "The routeTable ID 'rtb-0a1b2c3d' does not exist",
                    "7d1e3f5a-9b2c-4d6e-8f0a-2c4e6a8b0d12",
                ),
            ),
            (
                include_str!("../fixtures/error-route-not-found.xml"),
                error(
                    "InvalidRoute.NotFound",
                    "There is no route defined for '10.55.0.0/16' in the route table. \
                     Use a valid route table ID and destination CIDR block.",
                    "7d1e3f5a-9b2c-4d6e-8f0a-2c4e6a8b0d13",
                ),
            ),
            (
                include_str!("../fixtures/error-route-already-exists.xml"),
                error(
                    "RouteAlreadyExists",
                    "The route identified by 10.55.0.0/16 already exists.",
                    "7d1e3f5a-9b2c-4d6e-8f0a-2c4e6a8b0d14",
                ),
            ),
            (
                include_str!("../fixtures/error-dry-run.xml"),
                error(
                    "DryRunOperation",
                    "Request would have succeeded, but DryRun flag is set.",
                    "7d1e3f5a-9b2c-4d6e-8f0a-2c4e6a8b0d16",
                ),
            ),
            (
                include_str!("../fixtures/error-auth-failure.xml"),
                error(
                    "AuthFailure",
                    "AWS was not able to validate the provided access credentials",
                    "7d1e3f5a-9b2c-4d6e-8f0a-2c4e6a8b0d17",
                ),
            ),
            (
                include_str!("../fixtures/error-internal.xml"),
                error(
                    "InternalError",
                    "An internal error has occurred",
                    "7d1e3f5a-9b2c-4d6e-8f0a-2c4e6a8b0d18",
                ),
            ),
            (
                include_str!("../fixtures/error-response-envelope.xml"),
                error(
                    "Throttling",
                    "Rate exceeded",
                    "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c61",
                ),
            ),
        ];
        for (xml, expected) in cases {
            assert_eq!(error_body(xml), expected, "{xml}");
        }
    }

    #[test]
    fn unauthorized_fixture_keeps_the_encoded_message() {
        let body = error_body(include_str!("../fixtures/error-unauthorized.xml")).unwrap();
        assert_eq!(body.code, "UnauthorizedOperation");
        assert!(
            body.message
                .starts_with("You are not authorized to perform this operation. User: "),
            "{}",
            body.message
        );
        assert!(
            body.message
                .ends_with("Encoded authorization failure message: kQm3x7VbR2pLw9Yd_eN4TgH8sJ1uZc6AoF5iXr0Ky-MvBqWn2Ej7DtSl4Gh9Ua3Pf8Rz1Ix6Cb0No5Ye2Tk7Lm4Qs9Vw3Jd8Hg1Ra6Zu"),
            "{}",
            body.message
        );
        assert_eq!(
            body.request_id.as_deref(),
            Some("7d1e3f5a-9b2c-4d6e-8f0a-2c4e6a8b0d15")
        );
    }

    #[test]
    fn error_body_is_none_for_other_documents() {
        assert_eq!(
            error_body(include_str!("../fixtures/describe-route-tables.xml")),
            None
        );
        assert_eq!(error_body("Service Unavailable"), None);
        assert_eq!(error_body(""), None);
        assert_eq!(error_body("<Response><Errors>"), None);
        // An envelope without a code is not an error we can report.
        assert_eq!(
            error_body("<Response><Errors><Error><Message>m</Message></Error></Errors></Response>"),
            None
        );
    }

    #[test]
    fn error_body_variants() {
        // A message may be missing; the request ID may use either spelling.
        assert_eq!(
            error_body(
                "<Response><Errors><Error><Code>InvalidGroup.NotFound</Code></Error></Errors>\
                 <RequestId>r1</RequestId></Response>"
            ),
            error("InvalidGroup.NotFound", "", "r1")
        );
        assert_eq!(
            error_body("<Error><Code>NoSuchKey</Code><Message>m</Message><RequestId>r2</RequestId></Error>"),
            error("NoSuchKey", "m", "r2")
        );
        assert_eq!(
            error_body("<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"),
            Some(ErrorBody {
                code: "Throttling".into(),
                message: String::new(),
                request_id: None,
            })
        );
    }

    #[test]
    fn entities_and_cdata_in_messages() {
        let xml = "<Response><Errors><Error><Code>Bad&amp;Code</Code>\
                   <Message>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#233;&#x20AC;</Message>\
                   </Error></Errors><RequestID><![CDATA[ id<1> ]]></RequestID></Response>";
        assert_eq!(
            error_body(xml),
            error("Bad&Code", "a <b> & \"c\" 'd' é€", "id<1>")
        );
        let xml = "<Response><Errors><Error><Code>X</Code>\
                   <Message>before <![CDATA[in & <side>]]> after</Message>\
                   </Error></Errors></Response>";
        assert_eq!(error_body(xml).unwrap().message, "before in & <side> after");
    }
}
