//! The one place ureq agents are made: every outgoing HTTP client (EC2, STS,
//! container credentials, IMDS) comes from [`AgentSettings::build`], so TLS,
//! the proxy and the reading of error statuses are decided here once. TLS is
//! rustls with the webpki roots (a static binary needs no CA files); the
//! proxy is always set explicitly, so ureq never reads the environment.
//! Host names are looked up through [`Dns`], a cache in the calling thread.

mod resolve;
pub use resolve::Dns;

use std::time::Duration;

use ureq::tls::{
    parse_pem, Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig, TlsProvider,
};

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
    /// Trust these roots instead of the webpki ones, and present a client
    /// certificate (etcd's `--trusted-ca-file` and `--client-cert-auth`).
    pub tls: Option<Tls>,
    /// A streamed answer (etcd's watch): no timeout for the whole request;
    /// the answer's head within `timeout`, its body within this window,
    /// after which the stream ends and the caller asks again.
    pub stream_window: Option<Duration>,
    /// The DNS cache (tests pass one to count lookups); `None`: a cache of
    /// the agent's own on the system clock.
    pub dns: Option<Dns>,
}

/// Roots and a client certificate, parsed from PEM once.
#[derive(Debug, Clone)]
pub struct Tls {
    roots: Vec<Certificate<'static>>,
    client: Option<ClientCert>,
}

impl Tls {
    /// `ca`: PEM certificates to trust (none: the webpki roots); `client`:
    /// a PEM certificate chain and its PEM private key. Errors say which
    /// part is wrong.
    pub fn from_pem(ca: Option<&[u8]>, client: Option<(&[u8], &[u8])>) -> Result<Tls, String> {
        let roots = match ca {
            None => Vec::new(),
            Some(pem) => {
                let certs = certificates(pem).map_err(|e| format!("the CA file: {e}"))?;
                if certs.is_empty() {
                    return Err("the CA file holds no PEM certificate".into());
                }
                certs
            }
        };
        let client = match client {
            None => None,
            Some((cert, key)) => {
                let chain =
                    certificates(cert).map_err(|e| format!("the client certificate: {e}"))?;
                if chain.is_empty() {
                    return Err("the client certificate file holds no PEM certificate".into());
                }
                let key = PrivateKey::from_pem(key)
                    .map_err(|e| format!("the client key: no PEM private key ({e})"))?;
                Some(ClientCert::new_with_certs(&chain, key))
            }
        };
        Ok(Tls { roots, client })
    }
}

fn certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>, ureq::Error> {
    let mut out = Vec::new();
    for item in parse_pem(pem) {
        if let PemItem::Certificate(c) = item? {
            out.push(c);
        }
    }
    Ok(out)
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
            tls: None,
            stream_window: None,
            dns: None,
        }
    }

    pub fn dns(mut self, dns: Dns) -> AgentSettings {
        self.dns = Some(dns);
        self
    }

    pub fn tls(mut self, tls: Option<Tls>) -> AgentSettings {
        self.tls = tls;
        self
    }

    pub fn stream_window(mut self, window: Duration) -> AgentSettings {
        self.stream_window = Some(window);
        self
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
        let (roots, client) = match &self.tls {
            Some(t) if !t.roots.is_empty() => {
                (RootCerts::new_with_certs(&t.roots), t.client.clone())
            }
            Some(t) => (RootCerts::WebPki, t.client.clone()),
            None => (RootCerts::WebPki, None),
        };
        let mut config = ureq::Agent::config_builder()
            // ureq's defaults, written out so that this is where they change.
            .tls_config(
                TlsConfig::builder()
                    .provider(TlsProvider::Rustls)
                    .root_certs(roots)
                    .client_cert(client)
                    .build(),
            )
            // Set explicitly, so ureq never reads the process environment.
            .proxy(self.proxy.clone())
            .timeout_connect(Some(self.connect_timeout));
        config = match self.stream_window {
            None => config.timeout_global(Some(self.timeout)),
            Some(window) => config
                .timeout_global(None)
                .timeout_recv_response(Some(self.timeout))
                .timeout_recv_body(Some(window)),
        };
        config = config
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
        let dns = self
            .dns
            .clone()
            .unwrap_or_else(|| Dns::new(crate::clock::Clock::system()));
        ureq::Agent::with_parts(
            config.build(),
            ureq::unversioned::transport::DefaultConnector::new(),
            dns,
        )
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
