//! The credential chain. Partial: environment credentials only; shared
//! files, web identity, container and instance profile land next.

use std::sync::Arc;
use std::time::SystemTime;

use crate::aws::{Credentials, CredentialsError, CredentialsProvider, Env, Secret};
use crate::types::Region;

struct Static(Credentials);

impl CredentialsProvider for Static {
    fn credentials(&self, _now: SystemTime) -> Result<Credentials, CredentialsError> {
        Ok(self.0.clone())
    }
}

/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.
pub fn default_chain(
    env: &Env,
    _profile: Option<&str>,
    _region: Option<&Region>,
) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
    let (Some(k), Some(s)) = (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) else {
        return Err(CredentialsError::NotFound("the environment".into()));
    };
    Ok(Arc::new(Static(Credentials {
        access_key_id: k.into(),
        secret_access_key: Secret::new(s),
        session_token: env.get("AWS_SESSION_TOKEN").map(Secret::new),
        expires: None,
        source: "environment".into(),
    })))
}
