//! Which network addresses the URL fetcher may connect to.
//!
//! Everything that is not a public unicast address is refused: a fetch URL comes from the caller,
//! and without this check it could reach loopback services, the private network or a cloud
//! metadata endpoint that hands out credentials. `fetch.allow` lets an operator open exceptions
//! by address range or by host name.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The operator's exceptions to the built-in refusals.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    ranges: Vec<IpNet>,
    /// Exact host names, lowercase, without a trailing dot.
    hosts: Vec<String>,
    /// Wildcard entries as `.example.com`: any name ending in it, not the bare domain.
    suffixes: Vec<String>,
}

/// Why an address may not be connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    ip: IpAddr,
    reason: Cow<'static, str>,
}

impl Refusal {
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// What the address is, as a noun phrase: "a loopback address".
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}", self.ip, self.reason)
    }
}

impl std::error::Error for Refusal {}

const LINK_LOCAL_V4: &str = "a link-local / cloud metadata address \
    (AWS, GCP and Azure serve instance credentials at 169.254.169.254)";
const PRIVATE: &str = "a private address";
const DOCUMENTATION: &str = "a documentation address";

/// Forbidden IPv4 ranges, most specific first: the first match names the reason.
const FORBIDDEN_V4: &[(Ipv4Net, &str)] = &[
    (v4(255, 255, 255, 255, 32), "the broadcast address"),
    (
        v4(0, 0, 0, 0, 8),
        "an unspecified (\"this network\") address",
    ),
    (v4(10, 0, 0, 0, 8), PRIVATE),
    (
        v4(100, 64, 0, 0, 10),
        "a carrier-grade NAT address (Alibaba Cloud serves instance metadata at 100.100.100.200)",
    ),
    (v4(127, 0, 0, 0, 8), "a loopback address"),
    (v4(169, 254, 0, 0, 16), LINK_LOCAL_V4),
    (v4(172, 16, 0, 0, 12), PRIVATE),
    (v4(192, 0, 0, 0, 24), "an IETF protocol assignment address"),
    (v4(192, 0, 2, 0, 24), DOCUMENTATION),
    (
        v4(192, 88, 99, 0, 24),
        "a deprecated 6to4 relay anycast address",
    ),
    (v4(192, 168, 0, 0, 16), PRIVATE),
    (v4(198, 18, 0, 0, 15), "a benchmarking address"),
    (v4(198, 51, 100, 0, 24), DOCUMENTATION),
    (v4(203, 0, 113, 0, 24), DOCUMENTATION),
    (v4(224, 0, 0, 0, 4), "a multicast address"),
    (v4(240, 0, 0, 0, 4), "a reserved address"),
];

/// Forbidden IPv6 ranges, most specific first. The forms that embed an IPv4 address are
/// handled by [`embedded_ipv4`] before this table is consulted.
const FORBIDDEN_V6: &[(Ipv6Net, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "the unspecified address"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "a loopback address"),
    // ::a.b.c.d: deprecated, and some stacks still route it to the IPv4 address.
    (
        v6([0, 0, 0, 0, 0, 0, 0, 0], 96),
        "a deprecated IPv4-compatible address",
    ),
    (
        v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        "a discard-only address",
    ),
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "a local-use NAT64 address",
    ),
    (
        v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),
        "a benchmarking address",
    ),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), DOCUMENTATION),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), DOCUMENTATION),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "a unique-local (private) address (AWS serves instance metadata at fd00:ec2::254)",
    ),
    (
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        "a link-local address",
    ),
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "a deprecated site-local address",
    ),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "a multicast address"),
];

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(s: [u16; 8], prefix: u8) -> Ipv6Net {
    let ip = Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
    Ipv6Net::new_assert(ip, prefix)
}

impl AddressPolicy {
    /// Builds the policy from `fetch.allow` entries: an IP address, a CIDR range, an exact host
    /// name or a `*.example.com` wildcard.
    pub fn new(entries: &[String]) -> anyhow::Result<Self> {
        let mut policy = AddressPolicy::default();
        for entry in entries {
            policy.add(entry.trim())?;
        }
        Ok(policy)
    }

    fn add(&mut self, entry: &str) -> anyhow::Result<()> {
        if entry.contains("://") {
            anyhow::bail!("fetch.allow entry {entry:?} is a URL; list its host name alone");
        }
        if entry.contains('/') {
            let net: IpNet = entry.parse().map_err(|_| {
                anyhow::anyhow!("fetch.allow entry {entry:?} is not a valid CIDR range")
            })?;
            self.ranges.push(net.trunc());
            return Ok(());
        }
        if let Ok(ip) = entry.parse::<IpAddr>() {
            self.ranges.push(IpNet::from(ip));
            return Ok(());
        }
        if let Some(domain) = entry.strip_prefix("*.") {
            let name = host_name(entry, domain)?;
            self.suffixes.push(format!(".{name}"));
            return Ok(());
        }
        let name = host_name(entry, entry)?;
        self.hosts.push(name);
        Ok(())
    }

    /// Refuses `ip` unless it is a public unicast address or lies in an allowed range. An IPv6
    /// form that embeds an IPv4 address is judged by the IPv4 address it reaches.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        let embedded = match ip {
            IpAddr::V4(_) => None,
            IpAddr::V6(v6) => embedded_ipv4(v6),
        };
        let in_allowed_range = |ip: IpAddr| self.ranges.iter().any(|net| net.contains(&ip));
        if in_allowed_range(ip) || embedded.is_some_and(|(v4, _)| in_allowed_range(v4.into())) {
            return Ok(());
        }
        let reason = match (ip, embedded) {
            (IpAddr::V4(v4), _) => ipv4_reason(v4).map(Cow::Borrowed),
            (IpAddr::V6(_), Some((v4, form))) => {
                ipv4_reason(v4).map(|inner| Cow::Owned(format!("{form} of {v4}, which is {inner}")))
            }
            (IpAddr::V6(v6), None) => ipv6_reason(v6).map(Cow::Borrowed),
        };
        match reason {
            Some(reason) => Err(Refusal { ip, reason }),
            None => Ok(()),
        }
    }

    /// Whether `host` is named by an exact or a wildcard entry; its addresses are then trusted.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.hosts.contains(&host) || self.suffixes.iter().any(|s| host.ends_with(s))
    }
}

fn ipv4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    FORBIDDEN_V4
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, reason)| *reason)
}

fn ipv6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    FORBIDDEN_V6
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, reason)| *reason)
}

/// The IPv4 address an IPv6 address stands for, with the name of the form. Connecting to any of
/// these forms reaches the IPv4 host, so judging only the IPv6 address would let
/// `::ffff:127.0.0.1` through.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<(Ipv4Addr, &'static str)> {
    const MAPPED: Ipv6Net = v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96);
    const NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
    const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);
    const TEREDO: Ipv6Net = v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32);
    let s = ip.segments();
    let low = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    if MAPPED.contains(&ip) {
        return Some((low, "an IPv4-mapped form"));
    }
    if NAT64.contains(&ip) {
        return Some((low, "a NAT64 form"));
    }
    if SIX_TO_FOUR.contains(&ip) {
        let gateway = Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2]));
        return Some((gateway, "a 6to4 form"));
    }
    if TEREDO.contains(&ip) {
        // RFC 4380: the client's IPv4 address is stored inverted in the low 32 bits.
        return Some((Ipv4Addr::from(!u32::from(low)), "a Teredo form"));
    }
    None
}

/// Validates a host-name entry, normalised the way `url` normalises a URL's host (lowercase,
/// punycode) so that entries and URLs compare equal.
fn host_name(entry: &str, name: &str) -> anyhow::Result<String> {
    let invalid = |why: &str| anyhow::anyhow!("fetch.allow entry {entry:?} {why}");
    if name.is_empty() || name.contains('*') {
        return Err(invalid(
            "is not an IP address, a CIDR range, a host name or a *.domain wildcard",
        ));
    }
    match url::Host::parse(name) {
        Ok(url::Host::Domain(domain)) => {
            let domain = normalize_host(&domain);
            if domain.is_empty() || domain.split('.').any(str::is_empty) {
                return Err(invalid("has an empty label"));
            }
            Ok(domain)
        }
        // `url` reads numeric names such as `10.1` or `0x7f.1` as IPv4 addresses, so the entry
        // could never match a URL host as a name.
        Ok(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => Err(invalid(
            "looks like an abbreviated IP address; write it in full (a.b.c.d) or as a CIDR range",
        )),
        Err(e) => Err(invalid(&format!("is not a valid host name: {e}"))),
    }
}

fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> AddressPolicy {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        AddressPolicy::new(&entries).unwrap()
    }

    fn refusal(ip: &str) -> String {
        let ip: IpAddr = ip.parse().unwrap();
        match AddressPolicy::default().check_ip(ip) {
            Ok(()) => panic!("{ip} was allowed"),
            Err(refusal) => {
                assert_eq!(refusal.ip(), ip);
                refusal.to_string()
            }
        }
    }

    fn assert_refused(ips: &[&str], reason: &str) {
        for ip in ips {
            let message = refusal(ip);
            assert!(message.contains(reason), "{ip}: {message}");
            assert!(message.starts_with(&format!("{ip} is ")), "{message}");
        }
    }

    #[test]
    fn refuses_unspecified() {
        assert_refused(&["0.0.0.0", "0.1.2.3"], "unspecified");
        assert_refused(&["::"], "the unspecified address");
    }

    #[test]
    fn refuses_loopback() {
        assert_refused(
            &["127.0.0.1", "127.255.255.254", "::1"],
            "a loopback address",
        );
    }

    #[test]
    fn refuses_private() {
        assert_refused(
            &["10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1"],
            "a private address",
        );
    }

    #[test]
    fn refuses_carrier_grade_nat_naming_alibaba_metadata() {
        let message = refusal("100.100.100.200");
        assert!(message.contains("carrier-grade NAT"), "{message}");
        assert!(message.contains("Alibaba Cloud"), "{message}");
        assert_refused(&["100.64.0.1", "100.127.255.255"], "carrier-grade NAT");
    }

    #[test]
    fn refuses_link_local_naming_cloud_metadata() {
        assert_refused(
            &["169.254.169.254", "169.254.0.1"],
            "a link-local / cloud metadata address",
        );
        assert_refused(&["fe80::1"], "a link-local address");
    }

    #[test]
    fn refuses_special_purpose_ipv4() {
        assert_refused(&["192.0.0.8", "192.0.0.192"], "IETF protocol assignment");
        assert_refused(
            &["192.0.2.1", "198.51.100.7", "203.0.113.9"],
            "a documentation address",
        );
        assert_refused(&["198.18.0.1", "198.19.255.255"], "a benchmarking address");
        assert_refused(&["224.0.0.1", "239.255.255.250"], "a multicast address");
        assert_refused(&["240.0.0.1", "255.255.255.254"], "a reserved address");
        assert_refused(&["255.255.255.255"], "the broadcast address");
    }

    #[test]
    fn refuses_special_purpose_ipv6() {
        let message = refusal("fd00:ec2::254");
        assert!(message.contains("unique-local"), "{message}");
        assert!(message.contains("AWS"), "{message}");
        assert_refused(&["fc00::1", "fdff::1"], "unique-local");
        assert_refused(&["ff02::1", "ff05::2"], "a multicast address");
        assert_refused(&["2001:db8::1", "3fff::1"], "a documentation address");
        assert_refused(&["fec0::1"], "site-local");
        assert_refused(&["100::1"], "discard-only");
    }

    #[test]
    fn judges_ipv6_forms_by_the_embedded_ipv4_address() {
        let cases = [
            (
                "::ffff:127.0.0.1",
                "IPv4-mapped form of 127.0.0.1, which is a loopback",
            ),
            (
                "::ffff:169.254.169.254",
                "of 169.254.169.254, which is a link-local",
            ),
            (
                "64:ff9b::a00:1",
                "NAT64 form of 10.0.0.1, which is a private address",
            ),
            (
                "2002:c0a8:101::1",
                "6to4 form of 192.168.1.1, which is a private address",
            ),
            (
                "2001:0:4136:e378:8000:63bf:80ff:fffe",
                "Teredo form of 127.0.0.1",
            ),
        ];
        for (ip, expected) in cases {
            let message = refusal(ip);
            assert!(message.contains(expected), "{ip}: {message}");
        }
        assert_refused(&["::7f00:1"], "IPv4-compatible"); // ::127.0.0.1
        let public = AddressPolicy::default();
        for ip in ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"] {
            assert_eq!(public.check_ip(ip.parse().unwrap()), Ok(()), "{ip}");
        }
    }

    #[test]
    fn allows_public_unicast() {
        let public = AddressPolicy::default();
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "172.32.0.1",
            "2606:4700::1111",
        ] {
            assert_eq!(public.check_ip(ip.parse().unwrap()), Ok(()), "{ip}");
        }
    }

    #[test]
    fn allowed_ranges_open_exceptions() {
        let allowed = policy(&["127.0.0.1", "10.1.2.3/24", "fd00::/8"]);
        for ip in [
            "127.0.0.1",
            "10.1.2.200",
            "::ffff:10.1.2.4",
            "fd00:ec2::254",
        ] {
            assert_eq!(allowed.check_ip(ip.parse().unwrap()), Ok(()), "{ip}");
        }
        for ip in ["127.0.0.2", "10.1.3.1", "fc00::1", "169.254.169.254"] {
            assert!(allowed.check_ip(ip.parse().unwrap()).is_err(), "{ip}");
        }
    }

    #[test]
    fn host_entries_match_exact_names_and_wildcards() {
        let allowed = policy(&["Images.Example.com", "*.cdn.example.net"]);
        assert!(allowed.host_allowed("images.example.com"));
        assert!(allowed.host_allowed("IMAGES.example.com."));
        assert!(!allowed.host_allowed("evil-images.example.com"));
        assert!(!allowed.host_allowed("example.com"));
        assert!(allowed.host_allowed("a.cdn.example.net"));
        assert!(allowed.host_allowed("a.b.cdn.example.net"));
        assert!(!allowed.host_allowed("cdn.example.net"));
        assert!(!allowed.host_allowed("evilcdn.example.net"));
        assert!(!AddressPolicy::default().host_allowed("localhost"));
    }

    #[test]
    fn host_entries_compare_in_punycode() {
        let allowed = policy(&["bücher.example"]);
        assert!(allowed.host_allowed("xn--bcher-kva.example"));
    }

    #[test]
    fn invalid_entries_are_named() {
        for entry in [
            "10.0.0.0/33",
            "10.0.0/8",
            "*",
            "*.",
            "foo.*.com",
            "*foo.com",
            "http://example.com",
            "example.com:8080",
            "a..b",
            "0x7f.1",
            "",
        ] {
            let err = AddressPolicy::new(&[entry.to_owned()]).unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains(&format!("{entry:?}")),
                "{entry}: {message}"
            );
        }
    }
}
