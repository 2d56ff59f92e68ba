//! Region and VPC resolution. Partial: flags and environment only; the
//! instance metadata (IMDSv2) lookups land with the credential chain.

use crate::aws::Env;
use crate::types::{Region, VpcId};

/// Instance metadata access; not available in this build yet, so `None`.
pub struct Imds;

impl Imds {
    pub fn from_env(_env: &Env) -> Option<Imds> {
        None
    }
}

/// Region: the flag, else `AWS_REGION`, else `AWS_DEFAULT_REGION`.
pub fn resolve_region(
    flag: Option<&Region>,
    env: &Env,
    _profile: Option<&str>,
    _imds: Option<&Imds>,
) -> Result<(Region, &'static str), String> {
    if let Some(r) = flag {
        return Ok((r.clone(), "--region"));
    }
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(v) = env.get(var) {
            let r = v
                .parse()
                .map_err(|e: crate::types::ParseError| format!("{var}: {e}"))?;
            return Ok((r, var));
        }
    }
    Err("no region: pass -r/--region or set AWS_REGION".into())
}

/// VPC: the flag.
pub fn resolve_vpc(flag: Option<&VpcId>, _imds: Option<&Imds>) -> Result<VpcId, String> {
    flag.cloned().ok_or_else(|| "no VPC: pass -v/--vpc".into())
}
