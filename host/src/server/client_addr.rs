//! The client's address: the peer's, or, when the peer is a trusted reverse
//! proxy, the one the proxy says it forwarded for.
//!
//! `X-Forwarded-For` is read from the right: each proxy appends the address
//! it received from, so the rightmost address that is not a trusted proxy is
//! the first one no trusted party vouches for, the client. Entries to its
//! left were written by the client and are ignored. `Forwarded` (RFC 7239)
//! is read the same way when no `X-Forwarded-For` is present: nginx and Caddy
//! set the former by default.

use std::net::IpAddr;

use hyper::HeaderMap;
use ipnet::IpNet;

pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = match forwarded_for(headers, "x-forwarded-for", parse_xff_entry) {
        Some(hops) => hops,
        None => match forwarded_for(headers, "forwarded", parse_forwarded_element) {
            Some(hops) => hops,
            None => return peer,
        },
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        // An entry that is not an address (`unknown`, an obfuscated name)
        // cannot be attributed: the last trusted hop is the best answer.
        let Some(hop) = hop else { return client };
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

/// Every entry of every `name` header, in order; `None` if there is none.
fn forwarded_for(
    headers: &HeaderMap,
    name: &str,
    parse: fn(&str) -> Option<IpAddr>,
) -> Option<Vec<Option<IpAddr>>> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let mut hops = Vec::new();
    for value in values {
        let Ok(value) = value.to_str() else {
            hops.push(None);
            continue;
        };
        hops.extend(value.split(',').map(|entry| parse(entry.trim())));
    }
    Some(hops)
}

fn parse_xff_entry(entry: &str) -> Option<IpAddr> {
    parse_node(entry)
}

/// `for=192.0.2.60;proto=http;by=203.0.113.43`: the `for` parameter.
fn parse_forwarded_element(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value.trim().trim_matches('"')))
            .flatten()
    })
}

/// An address, possibly `[v6]`, `[v6]:port` or `v4:port`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (ip, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    const PROXY: &str = "10.0.0.5";

    fn trusted() -> Vec<IpNet> {
        vec!["10.0.0.0/24".parse().unwrap(), "::1/128".parse().unwrap()]
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            resolve(ip("203.0.113.9"), &h, &trusted()),
            ip("203.0.113.9")
        );
        assert_eq!(resolve(ip("10.0.0.5"), &h, &[]), ip("10.0.0.5"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        // The client forged the first entry; the proxy appended the real one.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7")]);
        assert_eq!(resolve(ip(PROXY), &h, &trusted()), ip("198.51.100.7"));
        // Two trusted proxies in a chain.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.9")]);
        assert_eq!(resolve(ip(PROXY), &h, &trusted()), ip("198.51.100.7"));
        // Split over two header lines.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(resolve(ip(PROXY), &h, &trusted()), ip("198.51.100.7"));
    }

    #[test]
    fn unparseable_hops_stop_the_walk_at_the_last_trusted_one() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7, unknown")]);
        assert_eq!(resolve(ip(PROXY), &h, &trusted()), ip(PROXY));
        let h = headers(&[("x-forwarded-for", "")]);
        assert_eq!(resolve(ip(PROXY), &h, &trusted()), ip(PROXY));
    }

    #[test]
    fn forwarded_is_read_when_x_forwarded_for_is_absent() {
        let h = headers(&[(
            "forwarded",
            r#"for=6.6.6.6, for="[2001:db8::7]:4711";proto=https, for=10.0.0.3"#,
        )]);
        assert_eq!(resolve(ip(PROXY), &h, &trusted()), ip("2001:db8::7"));
        let h = headers(&[("forwarded", "for=198.51.100.7:8080;by=10.0.0.5")]);
        assert_eq!(resolve(ip("::1"), &h, &trusted()), ip("198.51.100.7"));
        let h = headers(&[
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(resolve(ip(PROXY), &h, &trusted()), ip("198.51.100.7"));
    }

    #[test]
    fn no_header_from_a_trusted_proxy_leaves_the_proxy() {
        assert_eq!(resolve(ip(PROXY), &HeaderMap::new(), &trusted()), ip(PROXY));
    }
}
