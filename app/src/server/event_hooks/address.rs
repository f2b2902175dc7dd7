//! Where deliveries may go, and the guard that keeps them there (server-side request
//! forgery).
//!
//! An endpoint's URL is someone's input that Dial will request from inside its own
//! network, so:
//! - it is `https://`, or `http://` only to a loopback address or in sandbox mode; no
//!   credentials in it (shown on pages; the signature authenticates instead), no fragment;
//! - its host must be a public address: loopback, private (RFC 1918, unique local),
//!   link-local (169.254.0.0/16, where cloud metadata services answer; fe80::/10),
//!   shared (100.64.0.0/10), documentation, benchmarking, multicast and reserved ranges
//!   are refused, unless the installation allows them (`DIAL_WEBHOOKS_ALLOW_PRIVATE`) or
//!   runs in sandbox mode. An IPv4 address written inside IPv6 (`::ffff:10.0.0.1`,
//!   `64:ff9b::a00:1`) is judged as the IPv4 address;
//! - a host name is resolved when the endpoint is saved, to refuse a name that points
//!   inside at once, and **again at every delivery**, by the delivery client's own resolver
//!   ([`GuardedResolver`]), which drops every address the rule refuses before connecting:
//!   a name that resolved to a public address when it was saved and to 169.254.169.254
//!   later (DNS rebinding) reaches nothing. The delivery client follows no redirects and
//!   uses no proxy (a proxy would resolve names itself).

use crate::error::AppError;
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

/// The longest URL an endpoint may have.
pub const MAX_URL_LEN: usize = 2048;
/// How long saving an endpoint waits for its host name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Which addresses deliveries may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Private, loopback and link-local addresses too (sandbox, or
    /// `DIAL_WEBHOOKS_ALLOW_PRIVATE`).
    pub private: bool,
    /// `http://` to any host (sandbox mode).
    pub plain_http: bool,
}

/// Whether `ip` is an address on the public Internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10.
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                // Documentation 2001:db8::/32; discard 100::/64.
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0))
        }
    }
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let v4 = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(v4()),
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(v4()),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(v4()),
        _ => None,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        // "This network" 0.0.0.0/8, shared address space 100.64.0.0/10, IETF protocol
        // assignments 192.0.0.0/24, benchmarking 198.18.0.0/15, reserved 240.0.0.0/4.
        || a == 0
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b & 0xfe) == 18)
        || a >= 240)
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || embedded_v4(v6).is_some_and(|v4| v4.is_loopback()),
    }
}

fn refused(message: impl Into<String>) -> AppError {
    AppError::invalid("url", message)
}

const PRIVATE_HINT: &str = "Dial sends webhooks only to public addresses (private, loopback and link-local ones are refused, so an endpoint cannot reach inside Dial's network); an administrator can allow them with DIAL_WEBHOOKS_ALLOW_PRIVATE.";

/// A host as the URL names it: an address, or a name to resolve.
enum Host {
    Ip(IpAddr),
    Name(String),
}

fn host_of(url: &url::Url) -> Option<Host> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(Host::Ip(IpAddr::V4(v4))),
        url::Host::Ipv6(v6) => Some(Host::Ip(IpAddr::V6(v6))),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                Some(Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)))
            } else {
                Some(Host::Name(name))
            }
        }
    }
}

/// Parses an endpoint URL and checks what can be checked without the network: the
/// scheme, no credentials or fragment, and a host that is an allowed address or a name.
/// Returns the URL as Dial will store and request it.
pub fn parse_url(text: &str, reach: Reach) -> Result<url::Url, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(refused(
            "Enter the address Dial should post events to, e.g. https://example.com/dial-webhooks.",
        ));
    }
    if text.len() > MAX_URL_LEN {
        return Err(refused(format!(
            "An endpoint address is at most {MAX_URL_LEN} characters."
        )));
    }
    let url = url::Url::parse(text).map_err(|_| {
        refused("Enter a full web address starting with https://, e.g. https://example.com/dial-webhooks.")
    })?;
    let host = host_of(&url)
        .ok_or_else(|| refused("The address needs a host name, e.g. https://example.com/hooks."))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused(
            "Leave credentials out of the address: they would be shown on this page. Dial signs every delivery (the Dial-Signature header), which your receiver checks instead.",
        ));
    }
    if url.fragment().is_some() {
        return Err(refused(
            "Leave out the part after # (it is never sent to a server).",
        ));
    }
    let loopback = matches!(host, Host::Ip(ip) if is_loopback(ip));
    match url.scheme() {
        "https" => {}
        "http" if reach.plain_http || loopback => {}
        "http" => return Err(refused(
            "Use https:// so events (and their signatures) cannot be read or changed on the way.",
        )),
        _ => return Err(refused("The address must start with https://.")),
    }
    if let Host::Ip(ip) = host {
        if !reach.private && !is_public(ip) {
            return Err(refused(format!(
                "{ip} is not a public address. {PRIVATE_HINT}"
            )));
        }
    }
    Ok(url)
}

/// [`parse_url`], then the host name resolved: a name that resolves to an address the
/// rule refuses is refused now. A name that does not resolve (yet) is accepted: every
/// delivery resolves it again, through the guard.
pub async fn check_url(text: &str, reach: Reach) -> Result<url::Url, AppError> {
    let url = parse_url(text, reach)?;
    if reach.private {
        return Ok(url);
    }
    if let Some(Host::Name(name)) = host_of(&url) {
        let port = url.port_or_known_default().unwrap_or(443);
        let found = tokio::time::timeout(
            RESOLVE_TIMEOUT,
            tokio::net::lookup_host((name.as_str(), port)),
        )
        .await;
        if let Ok(Ok(addresses)) = found {
            if let Some(inside) = addresses.map(|a| a.ip()).find(|ip| !is_public(*ip)) {
                return Err(refused(format!(
                    "{name} resolves to {inside}, which is not a public address. {PRIVATE_HINT}"
                )));
            }
        }
    }
    Ok(url)
}

/// Whether a delivery may be sent to `url` now: an address host is checked here (the
/// resolver never sees one); a name is checked by [`GuardedResolver`] as it connects.
pub fn deliverable(url: &url::Url, reach: Reach) -> Result<(), String> {
    match host_of(url) {
        Some(Host::Ip(ip)) if !reach.private && !is_public(ip) => Err(format!(
            "refused: {ip} is not a public address (DIAL_WEBHOOKS_ALLOW_PRIVATE is off)"
        )),
        Some(_) => Ok(()),
        None => Err("refused: the address has no host".into()),
    }
}

/// The delivery client's resolver: the system's, minus every address the rule refuses.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub reach: Reach,
}

/// A name that resolved only to refused addresses.
#[derive(Debug, thiserror::Error)]
#[error("refused: {0} resolves only to addresses that are not public (DIAL_WEBHOOKS_ALLOW_PRIVATE is off)")]
struct OnlyPrivate(String);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let reach = self.reach;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| reach.private || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(OnlyPrivate(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Reach = Reach {
        private: false,
        plain_http: false,
    };
    const SANDBOX: Reach = Reach {
        private: true,
        plain_http: true,
    };

    #[test]
    fn only_public_addresses_are_public() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = inside.parse().unwrap();
            assert!(!is_public(ip), "{inside}");
        }
        for outside in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            let ip: IpAddr = outside.parse().unwrap();
            assert!(is_public(ip), "{outside}");
        }
    }

    #[test]
    fn urls_are_https_to_public_hosts_without_credentials() {
        assert_eq!(
            parse_url(" https://hooks.example.com/dial ", STRICT)
                .unwrap()
                .as_str(),
            "https://hooks.example.com/dial"
        );
        assert!(parse_url("https://93.184.216.34:8443/x", STRICT).is_ok());
        for bad in [
            "",
            "hooks.example.com",
            "ftp://example.com/",
            "http://example.com/",
            "https://user:pass@example.com/",
            "https://example.com/#frag",
            "https://127.0.0.1/",
            "http://127.0.0.1:8080/",
            "https://localhost/",
            "https://app.localhost/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/",
            "https://[::ffff:192.168.0.1]/",
            "https://0x7f000001/",
            "https://2130706433/",
            "javascript:alert(1)",
            "data:text/plain,hi",
        ] {
            let e = parse_url(bad, STRICT).expect_err(bad);
            assert!(e.field("url").is_some(), "{bad}: {e:?}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(parse_url(&long, STRICT).is_err());
    }

    #[test]
    fn sandbox_and_the_setting_open_private_addresses() {
        assert!(parse_url("http://127.0.0.1:9000/hook", SANDBOX).is_ok());
        assert!(parse_url("http://10.0.0.5/hook", SANDBOX).is_ok());
        let private_https = Reach {
            private: true,
            plain_http: false,
        };
        assert!(parse_url("https://10.0.0.5/hook", private_https).is_ok());
        // Plain http only to loopback outside the sandbox.
        assert!(parse_url("http://127.0.0.1:9000/hook", private_https).is_ok());
        assert!(parse_url("http://10.0.0.5/hook", private_https).is_err());
    }

    #[test]
    fn a_delivery_to_an_address_host_is_checked_before_it_is_sent() {
        let url = url::Url::parse("https://169.254.169.254/").unwrap();
        assert!(deliverable(&url, STRICT).is_err());
        assert!(deliverable(&url, SANDBOX).is_ok());
        let url = url::Url::parse("https://hooks.example.com/").unwrap();
        assert!(deliverable(&url, STRICT).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_drops_addresses_inside() {
        use reqwest::dns::Resolve;
        let guard = GuardedResolver { reach: STRICT };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(guard.resolve(name).await.is_err());
        let open = GuardedResolver { reach: SANDBOX };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let found: Vec<SocketAddr> = open.resolve(name).await.unwrap().collect();
        assert!(found.iter().all(|a| a.ip().is_loopback()) && !found.is_empty());
    }
}
