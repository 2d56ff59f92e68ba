//! vpc-router: keeps a route (a destination CIDR and the network interface of
//! the router instance that should receive its packets) right in every route
//! table of an AWS VPC. See ARCHITECTURE.md for the map of modules.

pub mod aws;
pub mod ec2;
pub mod types;
