//! The client's address behind trusted proxies (`[server] trusted_proxies`).
//!
//! Behind a load balancer every connection comes from the balancer, so the
//! login limits and the logs would see one client. A proxy whose address is
//! in `trusted_proxies` is believed about who its client is: the
//! `Forwarded` header's `for=` (RFC 7239) or, without it, `X-Forwarded-For`.
//! The hops are read from the right (the nearest) and trusted proxies
//! skipped, so the address reported is the first one no trusted proxy
//! vouches for; a client cannot choose its own address by writing a header
//! itself, since what it writes stands left of what its proxies add. From
//! anyone else, the headers are ignored. Nobody is trusted by default.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The networks whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `trusted_proxies` entry that is not an address or a CIDR.
#[derive(Debug, thiserror::Error)]
#[error("server.trusted_proxies: {0:?} is not an IP address or a CIDR such as 10.0.0.0/8")]
pub struct BadProxy(String);

impl TrustedProxies {
    /// Parses addresses (`10.0.0.7`) and networks (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse(entries: &[String]) -> Result<Self, BadProxy> {
        entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxy(e.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client of a request that reached the service from `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers).or_else(|| x_forwarded_for(headers));
        let Some(hops) = hops else { return peer };
        let mut client = peer;
        for hop in hops.iter().rev() {
            // An unknown or obfuscated hop (`unknown`, `_hidden`) ends what
            // can be known: the last address seen is the client.
            let Some(ip) = hop else { break };
            client = *ip;
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so one client has one address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Every `for=` of every `Forwarded` header, in order; `None` without one.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    let mut seen = false;
    for v in headers.get_all("forwarded") {
        seen = true;
        let Ok(v) = v.to_str() else {
            hops.push(None);
            continue;
        };
        for element in v.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
            });
            if let Some(node) = node {
                hops.push(node_ip(node));
            }
        }
    }
    seen.then_some(hops)
}

/// The address of an RFC 7239 node: `192.0.2.1`, `192.0.2.1:80`,
/// `"[2001:db8::1]:80"`; `None` for `unknown` and obfuscated names.
fn node_ip(node: &str) -> Option<IpAddr> {
    let node = node.trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok().map(canonical);
    }
    let host = match node.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => node,
    };
    host.parse().ok().map(canonical)
}

/// Every address of every `X-Forwarded-For` header, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    let mut seen = false;
    for v in headers.get_all("x-forwarded-for") {
        seen = true;
        match v.to_str() {
            Ok(v) => hops.extend(v.split(',').map(|h| node_ip(h.trim()))),
            Err(_) => hops.push(None),
        }
    }
    seen.then_some(hops)
}

/// Kept here too, where `trusted_proxies` is used: the settings' own
/// deserializer, read with the configuration in `fsa-app`.
pub use fsa_app::config::one_or_many;

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn nobody_is_trusted_by_default() {
        let p = TrustedProxies::default();
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn a_trusted_proxy_names_its_client() {
        let p = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(p.client(ip("10.1.2.3"), &h), ip("203.0.113.9"));
        // Not from a trusted proxy: the header is the client's own words.
        assert_eq!(p.client(ip("192.0.2.1"), &h), ip("192.0.2.1"));
        // No header: the proxy itself.
        assert_eq!(p.client(ip("10.1.2.3"), &HeaderMap::new()), ip("10.1.2.3"));
    }

    #[test]
    fn a_client_cannot_choose_its_address() {
        let p = proxies(&["10.0.0.0/8"]);
        // The client wrote 1.1.1.1; its proxy appended the real address.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
        assert_eq!(p.client(ip("10.0.0.2"), &h), ip("203.0.113.9"));
        // Two trusted hops are skipped; garbage ends the walk.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.5")]);
        assert_eq!(p.client(ip("10.0.0.2"), &h), ip("203.0.113.9"));
        let h = headers(&[("x-forwarded-for", "1.1.1.1, nonsense, 10.0.0.5")]);
        assert_eq!(p.client(ip("10.0.0.2"), &h), ip("10.0.0.5"));
    }

    #[test]
    fn forwarded_wins_and_is_parsed() {
        let p = proxies(&["10.0.0.0/8", "fd00::/8"]);
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            (
                "forwarded",
                "for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.9:80",
            ),
        ]);
        assert_eq!(p.client(ip("fd00::1"), &h), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "for=unknown, for=10.0.0.9")]);
        assert_eq!(p.client(ip("10.0.0.2"), &h), ip("10.0.0.9"));
        let h = headers(&[("forwarded", "proto=https;For=192.0.2.60")]);
        assert_eq!(p.client(ip("::ffff:10.0.0.2"), &h), ip("192.0.2.60"));
    }

    #[test]
    fn bad_entries_are_named() {
        let e = TrustedProxies::parse(&["10.0.0.0/8".into(), "lb.internal".into()]).unwrap_err();
        assert!(e.to_string().contains("lb.internal"), "{e}");
        proxies(&["10.0.0.7", "::1"]);
    }
}
