//! Parses EC2 Query API responses (XML) into the domain types of `ec2`.
//! (Interface fixed; implementation in progress.)

use crate::ec2::{NetworkInterface, RouteTable};

/// One page of a paginated Describe* answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `nextToken`: present when there are more pages.
    pub next_token: Option<String>,
    pub request_id: Option<String>,
}

/// EC2's error document, from either envelope:
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

/// `DescribeRouteTablesResponse`.
pub fn route_tables(_xml: &str) -> Result<Page<RouteTable>, XmlError> {
    unimplemented!("in progress")
}

/// `DescribeNetworkInterfacesResponse`.
pub fn network_interfaces(_xml: &str) -> Result<Page<NetworkInterface>, XmlError> {
    unimplemented!("in progress")
}

/// The `<return>true|false</return>` of CreateRoute, ReplaceRoute, DeleteRoute.
pub fn return_value(_xml: &str) -> Result<bool, XmlError> {
    unimplemented!("in progress")
}

/// The error document in `xml`, or `None` if it is not one.
pub fn error_body(_xml: &str) -> Option<ErrorBody> {
    unimplemented!("in progress")
}
