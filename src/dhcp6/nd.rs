//! IPv6 Neighbor Discovery (RFC 4861), the parts a DHCPv6 client for
//! containers needs: Router Solicitation out and Router Advertisements in
//! (the M and O flags say whether DHCPv6 is in use at all; the prefixes
//! say what is on link; the router's link-local address is the default
//! route), and Neighbor Solicitation/Advertisement, which the transport
//! answers for the addresses it speaks for and uses for Duplicate Address
//! Detection.
//!
//! Why the transport must answer Neighbor Solicitations: a server unicasts
//! its REPLY to the client's link-local address (RFC 8415 §18.3), and first
//! asks the link who holds it. While the container does not exist yet (the
//! IPAM plugin leases before the engine creates it), nobody would answer,
//! and the REPLY would never come. Like ARP on the IPv4 side.
//!
//! Everything read here is hostile input: RFC 4861 §6.1.2 and §7.1.1
//! validity checks (hop limit 255, code 0, lengths, no zero-length option,
//! link-local source for an RA), every list bounded, nothing panics.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};

use super::frame::{
    ALL_NODES, ALL_ROUTERS, Icmp6Frame, ND_HOP_LIMIT, build_icmp6, link_local, multicast_mac,
    solicited_node,
};
use super::reply::{decode_names, is_lease_address};
use crate::net::mac::Mac;

pub const ROUTER_SOLICITATION: u8 = 133;
pub const ROUTER_ADVERTISEMENT: u8 = 134;
pub const NEIGHBOR_SOLICITATION: u8 = 135;
pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;

const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;
const OPT_PREFIX: u8 = 3;
const OPT_MTU: u8 = 5;
const OPT_RDNSS: u8 = 25;
const OPT_DNSSL: u8 = 31;

/// Prefix Information options kept from one RA.
pub const MAX_PREFIXES: usize = 16;
/// Recursive DNS servers kept from one RA (RFC 8106; glibc uses three).
pub const MAX_RDNSS: usize = 8;
/// Search domains kept from one RA's DNSSL options.
pub const MAX_DNSSL: usize = 8;
/// The smallest link MTU IPv6 allows (RFC 8200 §5): less is nonsense.
pub const MIN_MTU: u32 = 1280;

/// One Prefix Information option (RFC 4861 §4.6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixInfo {
    pub prefix: Ipv6Net,
    /// L: addresses in it are on this link (no router needed).
    pub on_link: bool,
    /// A: hosts may form addresses in it themselves (SLAAC).
    pub autonomous: bool,
    /// Seconds; 0xffffffff is forever.
    pub valid: u32,
    pub preferred: u32,
}

/// A DNS server from an RDNSS option (RFC 8106).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rdnss {
    pub addr: Ipv6Addr,
    pub lifetime: u32,
}

/// A Router Advertisement that passed the checks: what a probe reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterAdvert {
    /// The router's link-local address: the next hop of the default route.
    pub router: Ipv6Addr,
    /// The Ethernet source of the frame.
    pub router_mac: Mac,
    /// The Source Link-Layer Address option, if sent.
    pub source_ll: Option<Mac>,
    /// M: addresses come from DHCPv6.
    pub managed: bool,
    /// O: other configuration (DNS ...) comes from DHCPv6.
    pub other: bool,
    /// Seconds this router is a default router; 0: it is not one.
    pub router_lifetime: u16,
    pub cur_hop_limit: u8,
    pub reachable_ms: u32,
    pub retrans_ms: u32,
    pub prefixes: Vec<PrefixInfo>,
    pub mtu: Option<u32>,
    pub rdnss: Vec<Rdnss>,
    pub dnssl: Vec<String>,
    /// What was dropped, for the log.
    pub warnings: Vec<String>,
}

impl RouterAdvert {
    pub fn is_default_router(&self) -> bool {
        self.router_lifetime > 0
    }

    /// Prefixes on this link (L set, still valid).
    pub fn on_link_prefixes(&self) -> Vec<Ipv6Net> {
        self.prefixes
            .iter()
            .filter(|p| p.on_link && p.valid > 0)
            .map(|p| p.prefix)
            .collect()
    }

    /// The on-link prefix holding `addr`, if any: the subnet of a DHCPv6
    /// address (DHCPv6 gives /128s; the prefix length comes from the RA).
    pub fn prefix_of(&self, addr: Ipv6Addr) -> Option<Ipv6Net> {
        self.on_link_prefixes()
            .into_iter()
            .filter(|p| p.contains(&addr))
            .max_by_key(|p| p.prefix_len())
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

fn ip6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(s))
}

fn mac_of(b: &[u8]) -> Option<Mac> {
    let m: [u8; 6] = b.get(..6)?.try_into().ok()?;
    Some(Mac(m))
}

fn is_link_local(a: Ipv6Addr) -> bool {
    let o = a.octets();
    o[0] == 0xfe && o[1] & 0xc0 == 0x80
}

/// ND options (type, data after type and length); Err on a zero length or
/// one running past the message (RFC 4861 §4.6: the packet is discarded).
fn nd_options(mut b: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (Some(&t), Some(&l)) = (b.first(), b.get(1)) else {
            return Err("a truncated option".into());
        };
        if l == 0 {
            return Err(format!("option {t} has length 0"));
        }
        let n = 8 * l as usize;
        let Some(opt) = b.get(..n) else {
            return Err(format!("option {t} runs past the message"));
        };
        out.push((t, &opt[2..]));
        b = &b[n..];
    }
    Ok(out)
}

/// Check and read a Router Advertisement (RFC 4861 §4.2, §6.1.2). Err says
/// why it is not a valid RA; a valid one lists what it dropped (prefixes
/// that are link-local or multicast or longer than 128 bits, lists past
/// their caps, an MTU below 1280, DNS servers that are not global or
/// unique-local) in `warnings`.
pub fn parse_router_advert(f: &Icmp6Frame<'_>) -> Result<RouterAdvert, String> {
    if f.icmp_type != ROUTER_ADVERTISEMENT {
        return Err(format!(
            "ICMPv6 type {} is not a router advertisement",
            f.icmp_type
        ));
    }
    if f.hop_limit != ND_HOP_LIMIT {
        return Err(format!(
            "hop limit {} (not 255): it was forwarded, not sent on this link",
            f.hop_limit
        ));
    }
    if f.code != 0 {
        return Err(format!("ICMPv6 code {} (not 0)", f.code));
    }
    if !is_link_local(f.src_ip) {
        return Err(format!("source {} is not a link-local address", f.src_ip));
    }
    let b = f.body;
    if b.len() < 12 {
        return Err(format!("{} octets, fewer than an RA's 16", b.len() + 4));
    }
    let mut ra = RouterAdvert {
        router: f.src_ip,
        router_mac: f.src_mac,
        source_ll: None,
        managed: b[1] & 0x80 != 0,
        other: b[1] & 0x40 != 0,
        router_lifetime: u16::from_be_bytes([b[2], b[3]]),
        cur_hop_limit: b[0],
        reachable_ms: u32_at(b, 4),
        retrans_ms: u32_at(b, 8),
        prefixes: Vec::new(),
        mtu: None,
        rdnss: Vec::new(),
        dnssl: Vec::new(),
        warnings: Vec::new(),
    };
    let w = &mut ra.warnings;
    for (t, d) in nd_options(&b[12..])? {
        match t {
            OPT_SOURCE_LL => ra.source_ll = mac_of(d),
            OPT_PREFIX => {
                if d.len() != 30 {
                    w.push("a prefix information option of the wrong length: dropped".into());
                    continue;
                }
                let plen = d[0];
                let Some(addr) = ip6_at(d, 14) else { continue };
                let Ok(net) = Ipv6Net::new(addr, plen) else {
                    w.push(format!(
                        "prefix {addr}/{plen} is longer than 128 bits: dropped"
                    ));
                    continue;
                };
                let net = net.trunc();
                let (valid, preferred) = (u32_at(d, 2), u32_at(d, 6));
                if is_link_local(net.addr()) || net.addr().is_multicast() {
                    w.push(format!("prefix {net} is link-local or multicast: ignored"));
                } else if preferred > valid {
                    w.push(format!(
                        "prefix {net} is preferred ({preferred} s) longer than valid ({valid} s): ignored"
                    ));
                } else if ra.prefixes.iter().any(|p| p.prefix == net) {
                    w.push(format!("prefix {net} is listed twice"));
                } else if ra.prefixes.len() == MAX_PREFIXES {
                    w.push(format!("prefixes past the first {MAX_PREFIXES}: dropped"));
                } else {
                    ra.prefixes.push(PrefixInfo {
                        prefix: net,
                        on_link: d[1] & 0x80 != 0,
                        autonomous: d[1] & 0x40 != 0,
                        valid,
                        preferred,
                    });
                }
            }
            OPT_MTU => match u32_at(d, 2) {
                m if d.len() != 6 => {
                    w.push(format!("an MTU option of the wrong length ({m}): dropped"))
                }
                m if m < MIN_MTU => w.push(format!("MTU {m} is below {MIN_MTU}: dropped")),
                m => ra.mtu = Some(m),
            },
            OPT_RDNSS => {
                if d.len() < 22 || !(d.len() - 6).is_multiple_of(16) {
                    w.push("an RDNSS option of the wrong length: dropped".into());
                    continue;
                }
                let lifetime = u32_at(d, 2);
                for c in d[6..].chunks_exact(16) {
                    let Some(addr) = ip6_at(c, 0) else { continue };
                    if !is_lease_address(addr) {
                        w.push(format!(
                            "DNS server {addr} is not a global or unique-local address: dropped"
                        ));
                    } else if ra.rdnss.len() == MAX_RDNSS {
                        w.push(format!("DNS servers past the first {MAX_RDNSS}: dropped"));
                        break;
                    } else if lifetime > 0 && !ra.rdnss.iter().any(|r| r.addr == addr) {
                        ra.rdnss.push(Rdnss { addr, lifetime });
                    }
                }
            }
            OPT_DNSSL => {
                if d.len() < 6 || u32_at(d, 2) == 0 {
                    continue;
                }
                match decode_names(&d[6..], MAX_DNSSL) {
                    Ok((names, extra)) => {
                        if extra > 0 {
                            w.push(format!(
                                "search domains past the first {MAX_DNSSL}: dropped"
                            ));
                        }
                        for n in names {
                            if ra.dnssl.len() < MAX_DNSSL && !ra.dnssl.contains(&n) {
                                ra.dnssl.push(n);
                            }
                        }
                    }
                    Err(e) => w.push(format!("a DNSSL option is malformed ({e}): dropped")),
                }
            }
            _ => {}
        }
    }
    Ok(ra)
}

/// A Router Solicitation frame from `mac` (its link-local address, with a
/// Source Link-Layer Address option) to all routers (RFC 4861 §4.1, §6.3.7).
pub fn router_solicitation(mac: Mac) -> Vec<u8> {
    let mut body = vec![0u8; 4]; // reserved
    body.extend_from_slice(&[OPT_SOURCE_LL, 1]);
    body.extend_from_slice(&mac.0);
    build_icmp6(&Icmp6Frame {
        src_mac: mac,
        dst_mac: multicast_mac(ALL_ROUTERS),
        src_ip: link_local(mac),
        dst_ip: ALL_ROUTERS,
        hop_limit: ND_HOP_LIMIT,
        icmp_type: ROUTER_SOLICITATION,
        code: 0,
        body: &body,
    })
}

/// A Neighbor Solicitation that passed RFC 4861 §7.1.1's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborSolicit {
    pub src_ip: Ipv6Addr,
    pub src_mac: Mac,
    pub target: Ipv6Addr,
    pub source_ll: Option<Mac>,
}

impl NeighborSolicit {
    /// From the unspecified address: another node's Duplicate Address
    /// Detection for `target` (RFC 4862 §5.4).
    pub fn is_dad(&self) -> bool {
        self.src_ip.is_unspecified()
    }
}

/// Check and read a Neighbor Solicitation; None when `f` is not a valid one.
pub fn parse_neighbor_solicit(f: &Icmp6Frame<'_>) -> Option<NeighborSolicit> {
    if f.icmp_type != NEIGHBOR_SOLICITATION || f.code != 0 || f.hop_limit != ND_HOP_LIMIT {
        return None;
    }
    let target = ip6_at(f.body, 4)?;
    if target.is_multicast() {
        return None;
    }
    let opts = nd_options(&f.body[20..]).ok()?;
    let source_ll = opts
        .iter()
        .find(|(t, _)| *t == OPT_SOURCE_LL)
        .and_then(|(_, d)| mac_of(d));
    // DAD: to the target's solicited-node group, never with a source
    // link-layer address.
    if f.src_ip.is_unspecified() && (f.dst_ip != solicited_node(target) || source_ll.is_some()) {
        return None;
    }
    Some(NeighborSolicit {
        src_ip: f.src_ip,
        src_mac: f.src_mac,
        target,
        source_ll,
    })
}

/// A Neighbor Advertisement that passed RFC 4861 §7.1.2's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborAdvert {
    pub src_ip: Ipv6Addr,
    pub src_mac: Mac,
    pub target: Ipv6Addr,
    pub router: bool,
    pub solicited: bool,
    pub override_flag: bool,
    pub target_ll: Option<Mac>,
}

/// Check and read a Neighbor Advertisement; None when `f` is not a valid one.
pub fn parse_neighbor_advert(f: &Icmp6Frame<'_>) -> Option<NeighborAdvert> {
    if f.icmp_type != NEIGHBOR_ADVERTISEMENT || f.code != 0 || f.hop_limit != ND_HOP_LIMIT {
        return None;
    }
    let flags = *f.body.first()?;
    let target = ip6_at(f.body, 4)?;
    let solicited = flags & 0x40 != 0;
    if target.is_multicast() || (solicited && f.dst_ip.is_multicast()) {
        return None;
    }
    let opts = nd_options(&f.body[20..]).ok()?;
    Some(NeighborAdvert {
        src_ip: f.src_ip,
        src_mac: f.src_mac,
        target,
        router: flags & 0x80 != 0,
        solicited,
        override_flag: flags & 0x20 != 0,
        target_ll: opts
            .iter()
            .find(|(t, _)| *t == OPT_TARGET_LL)
            .and_then(|(_, d)| mac_of(d)),
    })
}

/// The Neighbor Advertisement that answers `ns` for `mac` (solicited,
/// unicast back to the asker), or None when `ns` is another node's
/// Duplicate Address Detection probe. Those are never answered: the
/// address asked about may be the container's own link-local address,
/// which its kernel is checking right now, and an answer would make that
/// check fail (the container would lose its link-local address).
pub fn answer_solicit(mac: Mac, ns: &NeighborSolicit) -> Option<Vec<u8>> {
    if ns.is_dad() {
        return None;
    }
    Some(advert(
        mac,
        ns.target,
        ns.src_ip,
        ns.source_ll.unwrap_or(ns.src_mac),
        true,
    ))
}

/// An unsolicited Neighbor Advertisement to all nodes: `mac` now holds
/// `target` (after a lease moved to another MAC, say).
pub fn unsolicited_advert(mac: Mac, target: Ipv6Addr) -> Vec<u8> {
    advert(mac, target, ALL_NODES, multicast_mac(ALL_NODES), false)
}

fn advert(mac: Mac, target: Ipv6Addr, dst_ip: Ipv6Addr, dst_mac: Mac, solicited: bool) -> Vec<u8> {
    // Override: this MAC is the one to use for `target`.
    let flags = 0x20 | if solicited { 0x40 } else { 0 };
    let mut body = vec![flags, 0, 0, 0];
    body.extend_from_slice(&target.octets());
    body.extend_from_slice(&[OPT_TARGET_LL, 1]);
    body.extend_from_slice(&mac.0);
    build_icmp6(&Icmp6Frame {
        src_mac: mac,
        dst_mac,
        src_ip: target,
        dst_ip,
        hop_limit: ND_HOP_LIMIT,
        icmp_type: NEIGHBOR_ADVERTISEMENT,
        code: 0,
        body: &body,
    })
}

/// A Duplicate Address Detection probe for `target` (RFC 4862 §5.4.2): a
/// Neighbor Solicitation from the unspecified address to the target's
/// solicited-node group, without a source link-layer address. An answer
/// (an NA for `target`) or another node's probe for it means the address
/// is in use: DECLINE it.
pub fn dad_probe(mac: Mac, target: Ipv6Addr) -> Vec<u8> {
    let group = solicited_node(target);
    let mut body = vec![0u8; 4];
    body.extend_from_slice(&target.octets());
    build_icmp6(&Icmp6Frame {
        src_mac: mac,
        dst_mac: multicast_mac(group),
        src_ip: Ipv6Addr::UNSPECIFIED,
        dst_ip: group,
        hop_limit: ND_HOP_LIMIT,
        icmp_type: NEIGHBOR_SOLICITATION,
        code: 0,
        body: &body,
    })
}

/// Whether `f` (from a MAC other than ours) says `target` is in use: an NA
/// for it, or another node's DAD probe for it (RFC 4862 §5.4.3, §5.4.4).
pub fn claims(f: &Icmp6Frame<'_>, own: Mac, target: Ipv6Addr) -> bool {
    if f.src_mac == own {
        return false;
    }
    if let Some(na) = parse_neighbor_advert(f) {
        return na.target == target;
    }
    parse_neighbor_solicit(f).is_some_and(|ns| ns.is_dad() && ns.target == target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp6::frame::{ETHERTYPE_IPV6, parse_icmp6};
    use proptest::prelude::*;

    const MAC: Mac = Mac([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
    const ROUTER_MAC: Mac = Mac([0x02, 0, 0, 0, 0, 0x01]);

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// An RA frame as a router sends it: `flags` (M 0x80, O 0x40), lifetime
    /// 1800 s, then the options.
    fn ra_frame(src: Ipv6Addr, hop: u8, flags: u8, opts: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![64, flags, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
        for o in opts {
            body.extend_from_slice(o);
        }
        build_icmp6(&Icmp6Frame {
            src_mac: ROUTER_MAC,
            dst_mac: multicast_mac(ALL_NODES),
            src_ip: src,
            dst_ip: ALL_NODES,
            hop_limit: hop,
            icmp_type: ROUTER_ADVERTISEMENT,
            code: 0,
            body: &body,
        })
    }

    fn pio(prefix: &str, len: u8, flags: u8, valid: u32, pref: u32) -> Vec<u8> {
        let mut o = vec![OPT_PREFIX, 4, len, flags];
        o.extend_from_slice(&valid.to_be_bytes());
        o.extend_from_slice(&pref.to_be_bytes());
        o.extend_from_slice(&[0; 4]);
        o.extend_from_slice(&a(prefix).octets());
        o
    }

    fn rdnss(lifetime: u32, addrs: &[&str]) -> Vec<u8> {
        let mut o = vec![OPT_RDNSS, (1 + 2 * addrs.len()) as u8, 0, 0];
        o.extend_from_slice(&lifetime.to_be_bytes());
        for x in addrs {
            o.extend_from_slice(&a(x).octets());
        }
        o
    }

    fn parse(b: &[u8]) -> Result<RouterAdvert, String> {
        parse_router_advert(&parse_icmp6(b).expect("an ICMPv6 frame"))
    }

    #[test]
    fn a_router_solicitation_has_these_bytes() {
        let b = router_solicitation(MAC);
        assert_eq!(
            hex(&b),
            concat!(
                "333300000002", // to all routers
                "0242ac110002",
                "86dd",
                "60000000",
                "0010", // 16 octets of ICMPv6
                "3a",   // ICMPv6
                "ff",   // hop limit 255
                "fe800000000000000042acfffe110002",
                "ff020000000000000000000000000002",
                "85",   // type 133
                "00",   // code
                "2283", // checksum (worked independently, Python RFC 1071)
                "00000000",
                "0101", // source link-layer address, 8 octets
                "0242ac110002"
            )
        );
    }

    #[test]
    fn an_ra_of_a_dhcpv6_router_gives_flags_prefixes_mtu_and_dns() {
        let mut mtu = vec![OPT_MTU, 1, 0, 0];
        mtu.extend_from_slice(&1500u32.to_be_bytes());
        let mut sll = vec![OPT_SOURCE_LL, 1];
        sll.extend_from_slice(&ROUTER_MAC.0);
        let b = ra_frame(
            a("fe80::1"),
            255,
            0xc0,
            &[
                sll,
                pio("2001:db8:77::", 64, 0x80, 2592000, 604800),
                mtu,
                rdnss(600, &["2001:db8:77::53"]),
            ],
        );
        let ra = parse(&b).unwrap();
        assert!(ra.warnings.is_empty(), "{:?}", ra.warnings);
        assert_eq!(
            (ra.managed, ra.other, ra.router_lifetime),
            (true, true, 1800)
        );
        assert!(ra.is_default_router());
        assert_eq!(
            (ra.router, ra.source_ll, ra.mtu),
            (a("fe80::1"), Some(ROUTER_MAC), Some(1500))
        );
        assert_eq!(
            ra.on_link_prefixes(),
            vec!["2001:db8:77::/64".parse::<Ipv6Net>().unwrap()]
        );
        assert!(!ra.prefixes[0].autonomous);
        assert_eq!(
            ra.prefix_of(a("2001:db8:77::150")),
            Some("2001:db8:77::/64".parse().unwrap())
        );
        assert_eq!(ra.prefix_of(a("2001:db8:78::150")), None);
        assert_eq!(
            ra.rdnss,
            vec![Rdnss {
                addr: a("2001:db8:77::53"),
                lifetime: 600
            }]
        );
    }

    /// The RA dnsmasq 2.90 (`--enable-ra`, the FIELD-NOTES DHCPv6 lab) sent
    /// in answer to `router_solicitation`, unicast to the soliciting
    /// link-local address once the lab's driver answered dnsmasq's Neighbor
    /// Solicitation for it; captured on the client's veth.
    const DNSMASQ_RA: &str = concat!(
        "0242ac1100021e5621da9b9286dd6c002b6100703afffe800000000000001c5621fffeda9b92",
        "fe800000000000000042acfffe1100028600160940c007080000000000000000030440800000",
        "0708000007080000000020010db800770000000000000000000005010000000005dc01011e56",
        "21da9b921f03000000000708036c6162076578616d706c6500000000190300000000070820010d",
        "b8007700000000000000000053"
    );

    #[test]
    fn dnsmasqs_ra_reads_as_it_was_seen_in_the_lab() {
        let b = crate::dhcp6::reply::tests::unhex(DNSMASQ_RA);
        let ra = parse(&b).unwrap();
        assert!(ra.warnings.is_empty(), "{:?}", ra.warnings);
        assert_eq!(
            (ra.managed, ra.other, ra.router_lifetime),
            (true, true, 1800)
        );
        assert_eq!(ra.router, a("fe80::1c56:21ff:feda:9b92"));
        assert_eq!(
            ra.on_link_prefixes(),
            vec!["2001:db8:77::/64".parse::<Ipv6Net>().unwrap()]
        );
        assert!(!ra.prefixes[0].autonomous, "a DHCPv6 range: no SLAAC");
        assert_eq!(ra.mtu, Some(1500));
        assert_eq!(
            ra.rdnss,
            vec![Rdnss {
                addr: a("2001:db8:77::53"),
                lifetime: 1800
            }]
        );
        assert_eq!(ra.dnssl, vec!["lab.example"]);
    }

    #[test]
    fn an_ra_that_was_forwarded_or_not_from_a_link_local_address_is_refused() {
        assert!(parse(&ra_frame(a("fe80::1"), 64, 0, &[])).is_err());
        assert!(parse(&ra_frame(a("2001:db8::1"), 255, 0, &[])).is_err());
        let mut zero = pio("2001:db8::", 64, 0x80, 1, 1);
        zero[1] = 0;
        assert!(
            parse(&ra_frame(a("fe80::1"), 255, 0, &[zero]))
                .unwrap_err()
                .contains("length 0")
        );
        let mut long = pio("2001:db8::", 64, 0x80, 1, 1);
        long[1] = 9;
        assert!(parse(&ra_frame(a("fe80::1"), 255, 0, &[long])).is_err());
    }

    #[test]
    fn nonsense_prefixes_and_dns_servers_are_dropped_with_warnings() {
        let mut mtu = vec![OPT_MTU, 1, 0, 0];
        mtu.extend_from_slice(&1000u32.to_be_bytes());
        let b = ra_frame(
            a("fe80::1"),
            255,
            0x80,
            &[
                pio("fe80::", 64, 0xc0, 100, 100),
                pio("ff02::", 16, 0x80, 100, 100),
                pio("2001:db8::", 129, 0x80, 100, 100),
                pio("2001:db8:1::", 64, 0x80, 100, 200),
                pio("2001:db8:2::ffff", 64, 0x80, 100, 50),
                mtu,
                rdnss(600, &["fe80::53", "ff02::1", "2001:db8::53"]),
            ],
        );
        let ra = parse(&b).unwrap();
        assert_eq!(ra.warnings.len(), 7, "{:#?}", ra.warnings);
        assert_eq!(
            ra.on_link_prefixes(),
            vec!["2001:db8:2::/64".parse::<Ipv6Net>().unwrap()],
            "and truncated to its length"
        );
        assert_eq!(ra.mtu, None);
        assert_eq!(ra.rdnss.len(), 1);
        assert!(!ra.other);
    }

    #[test]
    fn prefixes_and_dns_servers_are_bounded() {
        let mut opts: Vec<Vec<u8>> = (0..40u16)
            .map(|i| pio(&format!("2001:db8:{i:x}::"), 64, 0x80, 100, 100))
            .collect();
        let many: Vec<String> = (1..=20).map(|i| format!("2001:db8::53:{i:x}")).collect();
        opts.push(rdnss(
            600,
            &many.iter().map(String::as_str).collect::<Vec<_>>(),
        ));
        let ra = parse(&ra_frame(a("fe80::1"), 255, 0, &opts)).unwrap();
        assert_eq!(
            (ra.prefixes.len(), ra.rdnss.len()),
            (MAX_PREFIXES, MAX_RDNSS)
        );
        assert!(!ra.warnings.is_empty());
    }

    #[test]
    fn a_router_lifetime_of_zero_is_no_default_router() {
        let mut b = ra_frame(a("fe80::1"), 255, 0, &[]);
        // Zero the lifetime and fix the checksum by rebuilding.
        let f = parse_icmp6(&b).unwrap();
        let mut body = f.body.to_vec();
        body[2..4].copy_from_slice(&[0, 0]);
        b = build_icmp6(&Icmp6Frame { body: &body, ..f });
        assert!(!parse(&b).unwrap().is_default_router());
    }

    #[test]
    fn a_neighbor_solicitation_for_our_address_gets_a_solicited_advertisement() {
        let target = link_local(MAC);
        let mut body = vec![0u8; 4];
        body.extend_from_slice(&target.octets());
        body.extend_from_slice(&[OPT_SOURCE_LL, 1]);
        body.extend_from_slice(&ROUTER_MAC.0);
        let ns_frame = build_icmp6(&Icmp6Frame {
            src_mac: ROUTER_MAC,
            dst_mac: multicast_mac(solicited_node(target)),
            src_ip: a("fe80::1"),
            dst_ip: solicited_node(target),
            hop_limit: 255,
            icmp_type: NEIGHBOR_SOLICITATION,
            code: 0,
            body: &body,
        });
        let ns = parse_neighbor_solicit(&parse_icmp6(&ns_frame).unwrap()).unwrap();
        assert_eq!(
            (ns.target, ns.source_ll, ns.is_dad()),
            (target, Some(ROUTER_MAC), false)
        );
        let na = answer_solicit(MAC, &ns).expect("an answer");
        let f = parse_icmp6(&na).unwrap();
        assert_eq!(
            (f.dst_mac, f.dst_ip, f.src_ip),
            (ROUTER_MAC, a("fe80::1"), target)
        );
        let na = parse_neighbor_advert(&f).unwrap();
        assert!(na.solicited && na.override_flag && !na.router);
        assert_eq!((na.target, na.target_ll), (target, Some(MAC)));
        assert!(
            claims(&f, ROUTER_MAC, target),
            "to another node it claims the address"
        );
        assert!(!claims(&f, MAC, target), "our own NA is not a conflict");
    }

    #[test]
    fn a_dad_probe_is_from_the_unspecified_address_to_the_solicited_node_group() {
        let target = a("2001:db8:77::150");
        let b = dad_probe(MAC, target);
        let f = parse_icmp6(&b).unwrap();
        assert_eq!(
            (f.src_ip, f.dst_ip, f.dst_mac),
            (
                Ipv6Addr::UNSPECIFIED,
                a("ff02::1:ff00:150"),
                Mac([0x33, 0x33, 0xff, 0, 0x01, 0x50])
            )
        );
        let ns = parse_neighbor_solicit(&f).unwrap();
        assert!(ns.is_dad() && ns.target == target && ns.source_ll.is_none());
        let other = Mac([2, 0, 0, 0, 0, 9]);
        let theirs = dad_probe(other, target);
        assert!(claims(&parse_icmp6(&theirs).unwrap(), MAC, target));
        assert!(!claims(&f, MAC, target), "our own probe");
        // Another node's DAD probe is never answered (it may be the
        // container's kernel checking its own address).
        assert_eq!(answer_solicit(other, &ns), None);
        // An unsolicited NA goes to all nodes.
        let na = unsolicited_advert(other, target);
        let g = parse_icmp6(&na).unwrap();
        assert_eq!(g.dst_ip, ALL_NODES);
        assert!(claims(&g, MAC, target));
    }

    #[test]
    fn neighbor_messages_with_a_wrong_hop_limit_or_multicast_target_are_refused() {
        let target = a("2001:db8::5");
        let b = dad_probe(MAC, target);
        let f = parse_icmp6(&b).unwrap();
        assert!(
            parse_neighbor_solicit(&Icmp6Frame {
                hop_limit: 64,
                ..f.clone()
            })
            .is_none()
        );
        let mut body = f.body.to_vec();
        body[4..20].copy_from_slice(&a("ff02::1").octets());
        assert!(
            parse_neighbor_solicit(&Icmp6Frame {
                body: &body,
                ..f.clone()
            })
            .is_none()
        );
        assert!(
            parse_neighbor_solicit(&Icmp6Frame {
                dst_ip: ALL_NODES,
                ..f
            })
            .is_none(),
            "a DAD probe not to the solicited-node group"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]
        #[test]
        fn any_icmp6_body_never_panics(t in prop_oneof![Just(134u8), Just(135), Just(136), any::<u8>()], body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let b = build_icmp6(&Icmp6Frame {
                src_mac: ROUTER_MAC,
                dst_mac: multicast_mac(ALL_NODES),
                src_ip: a("fe80::1"),
                dst_ip: ALL_NODES,
                hop_limit: 255,
                icmp_type: t,
                code: 0,
                body: &body,
            });
            let f = parse_icmp6(&b).unwrap();
            if let Ok(ra) = parse_router_advert(&f) {
                prop_assert!(ra.prefixes.len() <= MAX_PREFIXES && ra.rdnss.len() <= MAX_RDNSS && ra.dnssl.len() <= MAX_DNSSL);
                prop_assert!(ra.mtu.is_none_or(|m| m >= MIN_MTU));
                for p in &ra.prefixes {
                    prop_assert!(p.preferred <= p.valid);
                }
            }
            let _ = parse_neighbor_solicit(&f);
            let _ = parse_neighbor_advert(&f);
            let _ = claims(&f, MAC, a("2001:db8::5"));
        }

        #[test]
        fn any_frame_never_panics(mut b in proptest::collection::vec(any::<u8>(), 0..200)) {
            if b.len() > 14 {
                b[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            }
            if let Some(f) = parse_icmp6(&b) {
                let _ = parse_router_advert(&f);
            }
        }
    }
}
