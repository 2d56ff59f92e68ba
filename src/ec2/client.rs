//! The EC2 Query API client: implements [`crate::ec2::Ec2`] over HTTP.
