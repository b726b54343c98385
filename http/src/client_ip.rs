//! The client's address of a request: the TCP peer, or, when the peer is a
//! proxy the operator named with `--trusted-proxy`, the right-most address of
//! `X-Forwarded-For` that is not itself a trusted proxy. What per-address
//! rate limits (`rate_limit`) and the login throttle
//! (`boxoffice_actors::accounts::throttle`) key on.
//!
//! Why right-most: each proxy appends the address it received the request
//! from, so the entries a client wrote itself are on the left and can say
//! anything; walking from the right past our own proxies, the first other
//! address is the one a trusted proxy saw. From an untrusted peer the header
//! is ignored entirely (anyone can send it).

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use ipnet::IpNet;
use std::future::{ready, Ready};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::error::ApiError;
use crate::state::AppState;

/// The client's address, as an extractor (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.app_data::<web::Data<AppState>>()
                .map(|state| ClientIp(state.trusted_proxies.client_ip(req)))
                .ok_or_else(|| ApiError::internal("application state missing")),
        )
    }
}

/// Most `X-Forwarded-For` entries read (from the right): a chain of proxies
/// is a handful long; a longer header is a client's padding.
pub const MAX_FORWARDED_HOPS: usize = 32;

/// The proxies whose `X-Forwarded-For` is believed (none by default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        TrustedProxies(networks)
    }

    /// Parses `--trusted-proxy` values: an address (`10.0.0.1`, `::1`) or a
    /// network in CIDR form (`10.0.0.0/8`).
    pub fn parse(value: &str) -> Result<IpNet, String> {
        let value = value.trim();
        value
            .parse::<IpNet>()
            .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| {
                format!("--trusted-proxy: {value:?} is neither an address nor a CIDR network")
            })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `req` came straight from a trusted proxy, whose forwarding
    /// headers (`X-Forwarded-*`, `Forwarded`) may then be believed.
    pub fn from_trusted_proxy(&self, req: &HttpRequest) -> bool {
        req.peer_addr().is_some_and(|peer| self.trusts(peer.ip()))
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client address of `req` (see the module doc). A request without a
    /// peer address (never over TCP) is taken as from 0.0.0.0.
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| canonical(p.ip()));
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        // Several headers are one list, in order.
        let headers: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect();
        let hops = headers.iter().rev().flat_map(|h| h.rsplit(','));
        for hop in hops.take(MAX_FORWARDED_HOPS) {
            let Some(addr) = parse_hop(hop) else {
                // Garbage: the last address we could believe is the answer.
                return client;
            };
            client = addr;
            if !self.trusts(addr) {
                return addr;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as IPv4, so one client is one address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn trusted(values: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            values
                .iter()
                .map(|v| TrustedProxies::parse(v).expect("parses"))
                .collect(),
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn request(peer: &str, forwarded: &[&str]) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(SocketAddr::new(ip(peer), 4000));
        for value in forwarded {
            req = req.append_header(("X-Forwarded-For", *value));
        }
        req.to_http_request()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer() {
        let none = TrustedProxies::default();
        let req = request("203.0.113.9", &["198.51.100.1"]);
        assert_eq!(none.client_ip(&req), ip("203.0.113.9"));
        let proxies = trusted(&["10.0.0.0/8", "127.0.0.1"]);
        assert_eq!(
            proxies.client_ip(&req),
            ip("203.0.113.9"),
            "peer not trusted"
        );
        let req = request("127.0.0.1", &["198.51.100.1"]);
        assert_eq!(proxies.client_ip(&req), ip("198.51.100.1"));
        let req = request("127.0.0.1", &[]);
        assert_eq!(
            proxies.client_ip(&req),
            ip("127.0.0.1"),
            "no header: the peer"
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies = trusted(&["10.0.0.0/8", "127.0.0.1"]);
        // A client-written spoof on the left is skipped; our proxies on the right too.
        let req = request("127.0.0.1", &["1.2.3.4, 198.51.100.1, 10.0.0.5"]);
        assert_eq!(proxies.client_ip(&req), ip("198.51.100.1"));
        // Two headers are one list.
        let req = request("127.0.0.1", &["1.2.3.4", "198.51.100.1:5555, 10.0.0.5"]);
        assert_eq!(proxies.client_ip(&req), ip("198.51.100.1"));
        // Garbage stops the walk at the last believable hop.
        let req = request("127.0.0.1", &["198.51.100.1, nonsense, 10.0.0.5"]);
        assert_eq!(proxies.client_ip(&req), ip("10.0.0.5"));
        // Every hop trusted: the left-most.
        let req = request("127.0.0.1", &["10.0.0.7, 10.0.0.5"]);
        assert_eq!(proxies.client_ip(&req), ip("10.0.0.7"));
        // Mapped IPv6 is the IPv4 address.
        let req = request("127.0.0.1", &["::ffff:198.51.100.1"]);
        assert_eq!(proxies.client_ip(&req), ip("198.51.100.1"));
    }

    #[test]
    fn values_are_addresses_or_networks() {
        assert!(TrustedProxies::parse("10.0.0.0/8").is_ok());
        assert!(TrustedProxies::parse("::1").is_ok());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }
}
