//! Who the client is, behind a load balancer. `X-Forwarded-For` and `X-Forwarded-Proto` are
//! believed only from the addresses in `TRUSTED_PROXIES`; from anyone else they are ignored,
//! so a client cannot spoof its address or scheme by sending them.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use ipnet::IpNet;

/// `TRUSTED_PROXIES`: addresses and CIDR ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(proxies: Vec<IpNet>) -> Self {
        Self(proxies)
    }
}

/// The client as far as trusted proxies vouch for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub addr: Option<IpAddr>,
    /// `https` or `http`.
    pub scheme: &'static str,
}

impl TrustedProxies {
    /// Whether `addr` is one of the trusted proxies.
    pub fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client's address and scheme: the connection's own, unless it comes from a trusted
    /// proxy, in which case `X-Forwarded-For` is read from the right, skipping trusted hops,
    /// and `X-Forwarded-Proto` gives the scheme. The first hop that is not a trusted proxy is
    /// the client; when it is not an address (`unknown`, garbage), the client is unknown:
    /// nothing further left, where anyone can write anything, is believed.
    pub fn client(&self, req: &HttpRequest) -> Client {
        let peer = req.peer_addr().map(|addr| addr.ip());
        let scheme = if req.app_config().secure() {
            "https"
        } else {
            "http"
        };
        let Some(peer) = peer.filter(|peer| self.trusts(*peer)) else {
            return Client { addr: peer, scheme };
        };
        let forwarded: Vec<Option<IpAddr>> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|hop| parse_hop(hop.trim()))
            .collect();
        let addr = forwarded
            .iter()
            .rev()
            .find(|hop| hop.is_none_or(|addr| !self.trusts(addr)))
            .or(forwarded.first())
            .copied()
            .unwrap_or(Some(peer));
        let scheme = match req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .map(str::trim)
        {
            Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
            Some(proto) if proto.eq_ignore_ascii_case("http") => "http",
            _ => scheme,
        };
        Client { addr, scheme }
    }
}

/// One `X-Forwarded-For` hop: an address, with or without a port (`5.6.7.8:4711`,
/// `[2001:db8::1]:443`, `[2001:db8::1]`); `None` for anything else.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|net| net.parse().unwrap()).collect())
    }

    fn request(peer: &str, forwarded_for: Option<&str>, proto: Option<&str>) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        if let Some(value) = forwarded_for {
            req = req.insert_header(("X-Forwarded-For", value));
        }
        if let Some(value) = proto {
            req = req.insert_header(("X-Forwarded-Proto", value));
        }
        req.to_http_request()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let proxies = proxies(&["10.0.0.0/8"]);
        let client = proxies.client(&request("203.0.113.9", Some("1.2.3.4"), Some("https")));
        assert_eq!(
            client,
            Client {
                addr: Some("203.0.113.9".parse().unwrap()),
                scheme: "http"
            }
        );
    }

    #[test]
    fn a_trusted_proxy_is_believed_and_trusted_hops_are_skipped() {
        let proxies = proxies(&["10.0.0.0/8", "192.0.2.7/32"]);
        // spoofed-by-client, real client, an inner trusted proxy
        let client = proxies.client(&request(
            "10.1.1.1",
            Some("6.6.6.6, 198.51.100.20, 192.0.2.7"),
            Some("https"),
        ));
        assert_eq!(
            client,
            Client {
                addr: Some("198.51.100.20".parse().unwrap()),
                scheme: "https"
            }
        );
    }

    #[test]
    fn hops_with_ports_are_addresses_and_garbage_is_an_unknown_client() {
        let proxies = proxies(&["10.0.0.0/8"]);
        let behind = |xff: &str| proxies.client(&request("10.1.1.1", Some(xff), None)).addr;

        assert_eq!(
            behind("6.6.6.6, 5.6.7.8:4711"),
            Some("5.6.7.8".parse().unwrap())
        );
        assert_eq!(
            behind("6.6.6.6, [2001:db8::1]:443, 10.2.2.2"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            behind("[2001:db8::2]"),
            Some("2001:db8::2".parse().unwrap())
        );
        assert_eq!(
            behind("6.6.6.6, unknown"),
            None,
            "never the spoofable left-most hop"
        );
        assert_eq!(behind("6.6.6.6, unknown, 10.3.3.3"), None);
    }
}
