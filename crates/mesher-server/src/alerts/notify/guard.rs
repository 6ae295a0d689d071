//! The SSRF guard: a webhook URL is written by a project's member, but it is fetched by the
//! server, from inside the server's network. Without a guard a rule could make Mesher POST to
//! its own admin ports, a cloud's metadata service (169.254.169.254) or any host of the
//! private network. So, unless `webhook_allow_private` is set, only public unicast addresses
//! are reached.
//!
//! Checking a name once and connecting later would let DNS answer differently the second
//! time (rebinding). The guard therefore sits where addresses are chosen: [`GuardedResolver`]
//! is the HTTP client's resolver, and the addresses it lets through are the ones the client
//! connects to. IP-literal URLs never reach a resolver, so [`check_url`] refuses those before
//! anything is sent; redirects are not followed (a redirect would be a second, unchecked URL).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;
use ipnet::{Ipv4Net, Ipv6Net};
use thiserror::Error;
use url::{Host, Url};

/// Why a webhook URL may not be used.
#[derive(Debug, Error)]
pub enum GuardError {
    /// Not a URL at all.
    #[error("{0:?} is not a URL")]
    NotAUrl(String),
    /// A scheme other than `http` or `https`.
    #[error("webhook URLs must start with http:// or https://, not {0}://")]
    Scheme(String),
    /// No host to send to.
    #[error("the webhook URL names no host")]
    NoHost,
    /// The address is not a public one (loopback, private, link-local, …).
    #[error(
        "{host} is a private or reserved address ({addr}); webhooks go to public addresses only unless webhook_allow_private is set"
    )]
    Refused {
        /// The host as written in the URL.
        host: String,
        /// The refused address.
        addr: IpAddr,
    },
    /// The name resolves only to refused addresses.
    #[error(
        "{host} resolves only to private or reserved addresses; webhooks go to public addresses only unless webhook_allow_private is set"
    )]
    OnlyRefused {
        /// The name.
        host: String,
    },
}

/// Checks a webhook URL without resolving it: the scheme, and the address when the host is an
/// IP literal (in any of the forms the URL standard normalizes, such as `0x7f.1`). Names are
/// checked when they are resolved ([`check_url_resolved`] at creation, [`GuardedResolver`]
/// at each delivery).
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, GuardError> {
    let url = Url::parse(raw.trim()).map_err(|_| GuardError::NotAUrl(raw.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(GuardError::Scheme(url.scheme().to_owned()));
    }
    let addr = match url.host() {
        None => return Err(GuardError::NoHost),
        Some(Host::Domain("")) => return Err(GuardError::NoHost),
        Some(Host::Domain(_)) => None,
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
    };
    if let Some(addr) = addr
        && !allow_private
        && !is_public(addr)
    {
        return Err(GuardError::Refused {
            host: url.host_str().unwrap_or_default().to_owned(),
            addr,
        });
    }
    Ok(url)
}

/// [`check_url`], then, for a name, a lookup that must give at least one allowed address: a
/// rule pointing at an internal name is refused when it is written rather than failing at
/// every delivery. A name that does not resolve now is accepted; it is checked again at send
/// time.
pub async fn check_url_resolved(raw: &str, allow_private: bool) -> Result<Url, GuardError> {
    let url = check_url(raw, allow_private)?;
    if allow_private {
        return Ok(url);
    }
    if let Some(Host::Domain(name)) = url.host()
        && let Ok(addrs) = tokio::net::lookup_host((name, 0)).await
    {
        let addrs: Vec<SocketAddr> = addrs.collect();
        if !addrs.is_empty() && !addrs.iter().any(|a| is_public(a.ip())) {
            return Err(GuardError::OnlyRefused {
                host: name.to_owned(),
            });
        }
    }
    Ok(url)
}

/// The HTTP client's resolver: resolves with the system's resolver and drops every address
/// that is not public (unless private ones are allowed); a name left with none fails.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    /// A resolver that lets private addresses through only if `allow_private`.
    pub fn new(allow_private: bool) -> Self {
        GuardedResolver { allow_private }
    }
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // Port 0: the connector puts the URL's port in.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(std::io::Error::other(GuardError::OnlyRefused { host }));
            }
            Ok(addrs.into_iter())
        })
    }
}

/// IPv4 networks that are not publicly routable unicast: "this network" (with the
/// unspecified address), private (RFC 1918), CGNAT, loopback, link-local, IETF protocol
/// assignments, the documentation and benchmarking ranges, multicast, and the reserved block
/// (with the broadcast address).
const REFUSED_V4: [Ipv4Net; 14] = [
    Ipv4Net::new_assert(Ipv4Addr::new(0, 0, 0, 0), 8),
    Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 8),
    Ipv4Net::new_assert(Ipv4Addr::new(100, 64, 0, 0), 10),
    Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8),
    Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 0, 0), 16),
    Ipv4Net::new_assert(Ipv4Addr::new(172, 16, 0, 0), 12),
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 0, 0), 24),
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 2, 0), 24),
    Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16),
    Ipv4Net::new_assert(Ipv4Addr::new(198, 18, 0, 0), 15),
    Ipv4Net::new_assert(Ipv4Addr::new(198, 51, 100, 0), 24),
    Ipv4Net::new_assert(Ipv4Addr::new(203, 0, 113, 0), 24),
    Ipv4Net::new_assert(Ipv4Addr::new(224, 0, 0, 0), 4),
    Ipv4Net::new_assert(Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// IPv6 networks that are not publicly routable unicast: unspecified, loopback, the
/// discard prefix, documentation, unique local (ULA), link-local, the old site-local, and
/// multicast.
const REFUSED_V6: [Ipv6Net; 8] = [
    Ipv6Net::new_assert(Ipv6Addr::UNSPECIFIED, 128),
    Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128),
    Ipv6Net::new_assert(Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
    Ipv6Net::new_assert(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    Ipv6Net::new_assert(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    Ipv6Net::new_assert(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),
    Ipv6Net::new_assert(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
];

/// Whether `addr` is a public unicast address a webhook may go to.
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => !REFUSED_V4.iter().any(|net| net.contains(&v4)),
        IpAddr::V6(v6) => {
            if REFUSED_V6.iter().any(|net| net.contains(&v6)) {
                return false;
            }
            // An IPv6 address that carries an IPv4 one reaches that IPv4 host: judge it.
            match embedded_v4(v6) {
                Some(v4) => is_public(IpAddr::V4(v4)),
                None => true,
            }
        }
    }
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`),
/// NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`) address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low()),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low()),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ALERT-04: loopback, private, link-local (the metadata service), IPv6 loopback and
    /// IPv4-mapped loopback, and the odd IPv4 spellings the URL standard normalizes, are all
    /// refused by default and allowed with `webhook_allow_private`.
    #[test]
    fn alert_04_private_literals_are_refused_unless_allowed() {
        for raw in [
            "http://127.0.0.1/hook",
            "http://10.1.2.3",
            "http://172.16.0.1",
            "http://192.168.1.1",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1",
            "http://0.0.0.0",
            "http://255.255.255.255",
            "http://224.0.0.1",
            "http://192.0.2.1",
            "http://[::1]",
            "http://[::]",
            "http://[::ffff:127.0.0.1]",
            "http://[::ffff:10.0.0.1]",
            "http://[::127.0.0.1]",
            "http://[64:ff9b::7f00:1]",
            "http://[2002:7f00:1::]",
            "http://[fe80::1]",
            "http://[fd00::1]",
            "http://[ff02::1]",
            "http://[2001:db8::1]",
            "http://0x7f.1",
            "http://2130706433",
            "http://127.1",
            "https://0177.0.0.1:8443",
        ] {
            match check_url(raw, false) {
                Err(GuardError::Refused { .. }) => {}
                other => panic!("{raw} should be refused, got {other:?}"),
            }
            assert!(
                check_url(raw, true).is_ok(),
                "{raw} is allowed when private is"
            );
        }
    }

    #[test]
    fn alert_04_public_addresses_and_names_pass_the_literal_check() {
        for raw in [
            "https://hooks.slack.com/services/T/B/X",
            "http://93.184.216.34/x",
            "http://[2606:2800:220:1:248:1893:25c8:1946]/",
            "http://localhost/",
        ] {
            assert!(check_url(raw, false).is_ok(), "{raw}");
        }
    }

    #[test]
    fn alert_04_only_http_and_https() {
        for raw in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "gopher://example.com",
        ] {
            assert!(
                matches!(check_url(raw, true), Err(GuardError::Scheme(_))),
                "{raw}"
            );
        }
        assert!(matches!(
            check_url("not a url", true),
            Err(GuardError::NotAUrl(_))
        ));
    }

    #[tokio::test]
    async fn alert_04_names_of_loopback_are_refused_at_creation() {
        assert!(matches!(
            check_url_resolved("http://localhost:9/hook", false).await,
            Err(GuardError::OnlyRefused { .. })
        ));
        assert!(
            check_url_resolved("http://localhost:9/hook", true)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn alert_04_the_resolver_drops_refused_addresses() {
        use tower_service::Service as _;
        let name: Name = "localhost".parse().unwrap();
        let err = GuardedResolver::new(false)
            .call(name)
            .await
            .expect_err("localhost is refused");
        let inner = err.get_ref().expect("the guard's error inside");
        assert!(inner.downcast_ref::<GuardError>().is_some(), "{err}");
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = GuardedResolver::new(true)
            .call(name)
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
