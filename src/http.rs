//! The one place ureq agents are made: every outgoing HTTP client (EC2, STS,
//! container credentials, IMDS) comes from [`AgentSettings::build`], so TLS,
//! the proxy and the reading of error statuses are decided here once. TLS is
//! rustls with the webpki roots (a static binary needs no CA files); the
//! proxy is always set explicitly, so ureq never reads the environment.

use std::time::Duration;

use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

/// The `User-Agent` vpc-router sends where it names itself.
pub const USER_AGENT: &str = concat!("vpc-router/", env!("CARGO_PKG_VERSION"));

/// What differs between vpc-router's agents. Everything else (TLS, error
/// statuses as answers) is the same for all of them.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub connect_timeout: Duration,
    /// For a whole request, from connect to the last byte of the answer.
    pub timeout: Duration,
    /// `None` connects directly. The caller resolves it from `aws::Env`.
    pub proxy: Option<ureq::Proxy>,
    /// Idle keep-alive connections kept, in all and per host; `None` keeps
    /// ureq's defaults.
    pub max_idle: Option<usize>,
    /// `None` sends ureq's own `User-Agent`.
    pub user_agent: Option<&'static str>,
}

impl AgentSettings {
    /// Direct connections, ureq's pool and `User-Agent`, these timeouts.
    pub fn new(connect_timeout: Duration, timeout: Duration) -> AgentSettings {
        AgentSettings {
            connect_timeout,
            timeout,
            proxy: None,
            max_idle: None,
            user_agent: None,
        }
    }

    pub fn proxy(mut self, proxy: Option<ureq::Proxy>) -> AgentSettings {
        self.proxy = proxy;
        self
    }

    pub fn max_idle(mut self, connections: usize) -> AgentSettings {
        self.max_idle = Some(connections);
        self
    }

    pub fn user_agent(mut self, user_agent: &'static str) -> AgentSettings {
        self.user_agent = Some(user_agent);
        self
    }

    pub fn build(&self) -> ureq::Agent {
        let mut config = ureq::Agent::config_builder()
            // ureq's defaults, written out so that this is where they change.
            .tls_config(
                TlsConfig::builder()
                    .provider(TlsProvider::Rustls)
                    .root_certs(RootCerts::WebPki)
                    .build(),
            )
            // Set explicitly, so ureq never reads the process environment.
            .proxy(self.proxy.clone())
            .timeout_connect(Some(self.connect_timeout))
            .timeout_global(Some(self.timeout))
            // Every caller reads error answers itself: EC2's and STS's XML
            // error codes, IMDS's 404, a credentials endpoint's status.
            .http_status_as_error(false);
        if let Some(n) = self.max_idle {
            config = config
                .max_idle_connections(n)
                .max_idle_connections_per_host(n);
        }
        if let Some(ua) = self.user_agent {
            config = config.user_agent(ua);
        }
        config.build().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_agent_reads_error_statuses_and_has_its_proxy_set() {
        let proxy = ureq::Proxy::new("http://proxy.example:3128").unwrap();
        let agent = AgentSettings::new(Duration::from_secs(1), Duration::from_secs(2))
            .proxy(Some(proxy))
            .build();
        let c = agent.config();
        assert!(!c.http_status_as_error());
        assert_eq!(c.proxy().map(|p| p.host()), Some("proxy.example"));
        assert_eq!(c.tls_config().provider(), TlsProvider::Rustls);
        assert!(matches!(c.tls_config().root_certs(), RootCerts::WebPki));
        assert_eq!(c.timeouts().connect, Some(Duration::from_secs(1)));
        assert_eq!(c.timeouts().global, Some(Duration::from_secs(2)));

        // Without one, no proxy at all: not one ureq found in the environment.
        let direct = AgentSettings::new(Duration::from_secs(1), Duration::from_secs(2)).build();
        assert!(direct.config().proxy().is_none());
    }

    #[test]
    fn pool_and_user_agent_only_when_asked() {
        let plain = AgentSettings::new(Duration::from_secs(1), Duration::from_secs(2)).build();
        let ec2 = AgentSettings::new(Duration::from_secs(1), Duration::from_secs(2))
            .max_idle(32)
            .user_agent(USER_AGENT)
            .build();
        assert_eq!(plain.config().max_idle_connections_per_host(), 3);
        assert_eq!(ec2.config().max_idle_connections(), 32);
        assert_eq!(ec2.config().max_idle_connections_per_host(), 32);
        assert!(format!("{:?}", ec2.config().user_agent()).contains(USER_AGENT));
    }
}
