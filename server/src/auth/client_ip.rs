//! The address a request comes from, for per-address rate limits: the connection's peer, or,
//! when that peer is a configured trusted proxy, the visitor it names in `X-Forwarded-For`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};

use crate::{error::AppError, state::AppState};

/// The visitor's address (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| AppError::internal("the server was started without connection info"))?;
        let forwarded =
            parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
        Ok(ClientIp(client_ip(peer.ip(), &forwarded.join(","), &state.config.trusted_proxies)))
    }
}

/// Each proxy appends the address it received the request from, so the list is read from the
/// right: the first address that is not a trusted proxy is the visitor. Anything left of it
/// was written by the visitor and proves nothing. A request that did not come through a
/// trusted proxy is its peer, whatever the header says.
pub fn client_ip(peer: IpAddr, forwarded_for: &str, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut nearest = peer;
    for entry in forwarded_for.rsplit(',') {
        let Ok(addr) = entry.trim().parse::<IpAddr>() else {
            // Garbage where an address should be: stop at the last address that is known.
            return nearest;
        };
        if !trusted.contains(&addr) {
            return addr;
        }
        nearest = addr;
    }
    nearest
}

/// What per-address limits count an address as. An IPv6 address is its /64 network: one
/// subscriber usually holds a whole /64, so counting single addresses would let a visitor
/// step around a limit by changing the low bits. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
/// as a dual-stack socket reports IPv4 peers) counts as its IPv4 address; IPv4 is unchanged.
pub fn limit_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("{}/64", Ipv6Addr::from_bits(v6.to_bits() & !(u128::MAX >> 64))),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The visitor seen for a request from `peer` with `X-Forwarded-For: header`.
    fn seen(peer: &str, header: &str, proxies: &[&str]) -> IpAddr {
        let proxies: Vec<IpAddr> = proxies.iter().map(|p| ip(p)).collect();
        client_ip(ip(peer), header, &proxies)
    }

    #[test]
    fn a_request_not_from_a_trusted_proxy_is_its_peer_whatever_the_header_says() {
        assert_eq!(seen("198.51.100.7", "203.0.113.9", &[]), ip("198.51.100.7"));
        assert_eq!(seen("198.51.100.7", "203.0.113.9", &["10.0.0.1"]), ip("198.51.100.7"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_visitor_is_the_nearest_untrusted_address() {
        let proxies = ["10.0.0.1", "10.0.0.2"];
        assert_eq!(seen("10.0.0.1", "203.0.113.9", &proxies), ip("203.0.113.9"));
        // A forged entry on the left does not win over what the proxies wrote.
        assert_eq!(seen("10.0.0.1", "1.2.3.4, 203.0.113.9, 10.0.0.2", &proxies), ip("203.0.113.9"));
        assert_eq!(seen("::1", "2001:db8::5", &["::1"]), ip("2001:db8::5"));
    }

    #[test]
    fn a_missing_or_broken_header_falls_back_to_the_last_known_address() {
        for (header, expected) in [("", "10.0.0.1"), ("not-an-ip", "10.0.0.1"), ("junk, 10.0.0.2", "10.0.0.2")] {
            assert_eq!(seen("10.0.0.1", header, &["10.0.0.1", "10.0.0.2"]), ip(expected), "{header:?}");
        }
    }

    #[test]
    fn limits_count_an_ipv6_address_as_its_slash_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
        // The same /64, other low bits: the same key.
        assert_eq!(limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), "2001:db8:1:2::/64");
        assert_eq!(limit_key(ip("2001:db8:1:2::")), "2001:db8:1:2::/64");
        // A neighbouring /64 is another key.
        assert_eq!(limit_key(ip("2001:db8:1:3::1")), "2001:db8:1:3::/64");
        assert_eq!(limit_key(ip("::1")), "::/64");
    }

    #[test]
    fn limits_count_ipv4_as_is_also_when_mapped_into_ipv6() {
        assert_eq!(limit_key(ip("198.51.100.7")), "198.51.100.7");
        assert_eq!(limit_key(ip("198.51.100.8")), "198.51.100.8");
        assert_eq!(limit_key(ip("::ffff:198.51.100.7")), "198.51.100.7");
    }
}
