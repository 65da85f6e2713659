//! Reading what a server sends: a BOOTREPLY parsed byte by byte, and the
//! lease parameters checked before anything is recorded or configured.
//!
//! Why a parser of our own rather than dhcproto's decoder: every host on the
//! LAN can answer a broadcast DISCOVER, REBIND or INIT-REBOOT (the xid is in
//! the clear), so a reply is hostile input. dhcproto trusts `hlen` when it
//! slices `chaddr`, stops at the first option it cannot decode (dropping
//! every later one, lease time included) and does not read overloaded
//! `file`/`sname` fields. Here the fixed header is read into plain fields,
//! options are gathered per RFC 2131 §4.1 (overload) and RFC 3396 (split
//! options joined, in the order options, file, sname), and each option is
//! decoded on its own: a bad one is dropped with a warning and the others
//! still count.
//!
//! `Bootreply::params` then applies the rules that keep nonsense out of the
//! records (see README, "Security and reliability"): only a unicast host
//! address inside a sane subnet is taken, a server id must be a unicast
//! address, options that make no sense are dropped with a warning, and every
//! string a server sends is cleaned of control characters before it can
//! reach a log, a terminal, a record or docker's argv.

use std::net::Ipv4Addr;

use dhcproto::v4::MessageType;

use super::message::{Params, Route, mask_to_prefix, prefix_to_mask, timers};
use crate::net::mac::Mac;

/// The fixed BOOTP header: op .. file, then the magic cookie.
const FIXED: usize = 240;
const MAGIC: [u8; 4] = [99, 130, 83, 99];

/// Lease time taken when an ACK or OFFER carries no valid option 51 (missing,
/// malformed, or two different values joined into a wrong length). RFC 2131
/// says a server MUST send it; a server that does not is not given an
/// infinite lease by accident: ten minutes, renewed at five like any other.
pub const DEFAULT_LEASE_TIME: u32 = 600;

/// Smallest MTU taken from option 26. RFC 2132 allows 68, but an IPv4 host
/// must accept 576-byte datagrams (RFC 791) and clients (dhcpcd, systemd)
/// ignore less: an MTU of 1 would cut the container off.
pub const MIN_MTU: u16 = 576;

/// Shortest prefix taken from option 1: a LAN subnet wider than a /8 is a
/// misconfigured or hostile server, and a /0 would make every address local.
pub const MIN_PREFIX: u8 = 8;

/// Longest server text (option 56, hostnames) kept.
const MAX_TEXT: usize = 255;

/// The most DNS servers (option 6) kept from one reply. A resolver uses
/// three (glibc's MAXNS); the rest are dropped with one warning per reply.
pub const MAX_DNS: usize = 8;
/// The most NTP servers (option 42) kept from one reply.
pub const MAX_NTP: usize = 8;
/// The most search domains kept from one reply: option 15's names and
/// option 119's together (more than any LAN's resolvers need; each is a
/// query per lookup that fails).
pub const MAX_SEARCH: usize = 32;
/// The most classless static routes (option 121) kept from one reply.
pub const MAX_ROUTES: usize = 64;
/// Names of option 119 read at most (valid or not, duplicates included):
/// past `MAX_SEARCH` kept, the rest are counted, not decoded.
const MAX_NAMES_READ: usize = 4 * MAX_SEARCH;
/// Compression pointers followed at most in one name of option 119: a
/// name has at most 127 labels, and a chain of pointers to pointers is no
/// name, only work.
const MAX_JUMPS: usize = 127;

/// A BOOTREPLY as received, header fields decoded and options gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootreply {
    pub op: u8,
    pub htype: u8,
    pub hlen: u8,
    pub xid: u32,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    /// Options by code, each joined across pieces (RFC 3396), in the order
    /// first seen.
    options: Vec<(u8, Vec<u8>)>,
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    match b.get(at..at + 4) {
        Some(s) => Ipv4Addr::new(s[0], s[1], s[2], s[3]),
        None => Ipv4Addr::UNSPECIFIED,
    }
}

fn u32_of(b: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(b).ok().map(u32::from_be_bytes)
}

/// Walk one option area (the options field, or an overloaded file/sname),
/// appending each option's data to `out`. Stops at End (255); an option whose
/// length runs past the area ends the walk (what came before still counts).
fn gather(area: &[u8], out: &mut Vec<(u8, Vec<u8>)>) {
    let mut i = 0;
    while let Some(&code) = area.get(i) {
        match code {
            0 => {
                i += 1;
                continue;
            }
            255 => break,
            _ => {}
        }
        let Some(&len) = area.get(i + 1) else { break };
        let Some(data) = area.get(i + 2..i + 2 + len as usize) else {
            break;
        };
        match out.iter_mut().find(|(c, _)| *c == code) {
            Some((_, v)) => v.extend_from_slice(data),
            None => out.push((code, data.to_vec())),
        }
        i += 2 + len as usize;
    }
}

impl Bootreply {
    /// Parse a DHCP message from the network; None when it is not one (too
    /// short, no magic cookie). Never panics, whatever the bytes.
    pub fn parse(b: &[u8]) -> Option<Bootreply> {
        if b.len() < FIXED || b[236..240] != MAGIC {
            return None;
        }
        let mut chaddr = [0u8; 16];
        chaddr.copy_from_slice(&b[28..44]);
        let mut options = Vec::new();
        gather(&b[FIXED..], &mut options);
        // RFC 2131 §4.1: option 52 says `file` (1), `sname` (2) or both (3)
        // hold options too; RFC 3396 §7: they continue the options field, in
        // the order file, then sname.
        let overload = options
            .iter()
            .find(|(c, _)| *c == 52)
            .and_then(|(_, v)| (v.len() == 1).then(|| v[0]));
        if let Some(o) = overload {
            if o & 1 != 0 {
                gather(&b[108..236], &mut options);
            }
            if o & 2 != 0 {
                gather(&b[44..108], &mut options);
            }
        }
        Some(Bootreply {
            op: b[0],
            htype: b[1],
            hlen: b[2],
            xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            flags: u16::from_be_bytes([b[10], b[11]]),
            ciaddr: ip_at(b, 12),
            yiaddr: ip_at(b, 16),
            siaddr: ip_at(b, 20),
            giaddr: ip_at(b, 24),
            chaddr,
            options,
        })
    }

    /// The raw (joined) data of option `code`.
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    pub fn is_reply(&self) -> bool {
        self.op == 2
    }

    /// The client's hardware address, when the header describes an Ethernet
    /// address (what every client of ours sends). `hlen` is never trusted
    /// as an index: anything but 6 is not ours.
    pub fn client_mac(&self) -> Option<Mac> {
        if self.hlen != 6 {
            return None;
        }
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.chaddr[..6]);
        Some(Mac(m))
    }

    /// Option 53, when it is one octet naming a message type.
    pub fn msg_type(&self) -> Option<MessageType> {
        match self.option(53) {
            Some([t]) => Some(MessageType::from(*t)),
            _ => None,
        }
    }

    /// Option 61 as sent back by the server, if any.
    pub fn client_id(&self) -> Option<&[u8]> {
        self.option(61)
    }

    /// The server identifier (option 54), or `fallback` (the IP source of
    /// the reply) when the option is absent; None when the one that applies
    /// is not a unicast address (255.255.255.255 cannot be renewed from).
    pub fn server_id(&self, fallback: Ipv4Addr) -> Option<Ipv4Addr> {
        let id = match self.option(54) {
            Some(v) => Ipv4Addr::from(u32_of(v)?),
            None => fallback,
        };
        is_unicast(id).then_some(id)
    }

    /// The server's explanation (option 56, in a NAK), cleaned for display.
    pub fn server_message(&self) -> Option<String> {
        self.option(56).map(clean_text).filter(|s| !s.is_empty())
    }

    /// The hostname the server echoed (option 12), when it is a valid one.
    pub fn server_hostname(&self) -> Option<String> {
        let h = self.option(12)?;
        let s = std::str::from_utf8(h).ok()?.trim_end_matches('\0');
        super::message::validate_hostname(s)
            .is_ok()
            .then(|| s.to_string())
    }

    /// The lease parameters of an OFFER or ACK, checked. `src_ip` stands in
    /// for a missing option 54. An error says why the reply cannot be used
    /// at all; `Checked::warnings` lists what was dropped from a usable one.
    pub fn params(&self, src_ip: Ipv4Addr) -> Result<Checked, String> {
        let mut warnings = Vec::new();
        let ip = self.yiaddr;
        let Some(server_id) = self.server_id(src_ip) else {
            return Err(match self.option(54) {
                Some(v) if v.len() != 4 => {
                    format!("its server identifier has {} octets, not 4", v.len())
                }
                Some(v) => format!(
                    "its server identifier {} is not a unicast address",
                    Ipv4Addr::from(u32_of(v).unwrap_or(0))
                ),
                None => format!("it has no server identifier and came from {src_ip}"),
            });
        };
        if !is_unicast(ip) {
            return Err(format!(
                "the address it offers, {ip}, is not a unicast host address"
            ));
        }
        let (netmask, prefix_len) = match self.option(1) {
            Some(v) => {
                let Some(m) = u32_of(v).map(Ipv4Addr::from) else {
                    return Err(format!("its subnet mask has {} octets, not 4", v.len()));
                };
                match mask_to_prefix(m) {
                    Some(p) if p >= MIN_PREFIX => (m, p),
                    Some(p) => {
                        return Err(format!(
                            "its subnet mask {m} (/{p}) is wider than a /{MIN_PREFIX}; no LAN is that large"
                        ));
                    }
                    None => return Err(format!("its subnet mask {m} is not contiguous")),
                }
            }
            None => {
                let m = classful_mask(ip);
                warnings.push(format!(
                    "no subnet mask (option 1): assuming {m}, the classful mask of {ip}"
                ));
                (m, mask_to_prefix(m).unwrap_or(24))
            }
        };
        if prefix_len <= 30 {
            let net = u32::from(ip) & u32::from(netmask);
            if u32::from(ip) == net {
                return Err(format!(
                    "the address it offers, {ip}, is the network address of its /{prefix_len}"
                ));
            }
            if u32::from(ip) == net | !u32::from(netmask) {
                return Err(format!(
                    "the address it offers, {ip}, is the broadcast address of its /{prefix_len}"
                ));
            }
        }
        if ip == server_id {
            return Err(format!("the address it offers, {ip}, is the server's own"));
        }
        // The gateway's own address handed out as a lease would cut the
        // subnet off its router: nonsense, not a lease with a bad option.
        let first_router = self.option(3).filter(|v| v.len() >= 4).map(|v| ip_at(v, 0));
        let default_route = self
            .option(121)
            .and_then(decode_classless_routes)
            .and_then(|rs| rs.into_iter().find(|r| r.1 == 0).map(|r| r.2));
        if first_router == Some(ip) || default_route == Some(ip) {
            return Err(format!("the address it offers, {ip}, is its own gateway's"));
        }
        let in_subnet = |a: Ipv4Addr| {
            prefix_len == 32
                || (u32::from(a) & u32::from(netmask)) == (u32::from(ip) & u32::from(netmask))
        };
        // Why a router is refused, if it is.
        let router_fault = |a: Ipv4Addr| -> Option<&'static str> {
            if !is_unicast(a) {
                Some("is not a unicast address")
            } else if a == ip {
                Some("is the leased address itself")
            } else if !in_subnet(a) {
                Some("is outside the subnet")
            } else if prefix_len <= 30
                && (u32::from(a) & !u32::from(netmask) == 0
                    || u32::from(a) | u32::from(netmask) == u32::MAX)
            {
                Some("is the subnet's network or broadcast address")
            } else {
                None
            }
        };
        // Lists longer than dhcpnet keeps: said together, in one warning.
        let mut over: Vec<String> = Vec::new();

        let mut routes = Vec::new();
        if let Some(v) = self.option(121) {
            match decode_classless_routes(v) {
                Some(rs) => {
                    let mut refused = Refused::default();
                    for (net, plen, gw) in rs {
                        // RFC 3442: a router of 0.0.0.0 means "on link".
                        if !gw.is_unspecified()
                            && let Some(why) = router_fault(gw)
                        {
                            refused.note(format!("{gw} {why}"));
                            continue;
                        }
                        let r = Route {
                            destination: ipnet::Ipv4Net::new_assert(net, plen),
                            gateway: gw,
                        };
                        if !routes.contains(&r) {
                            routes.push(r);
                        }
                    }
                    refused.warn("classless route router", &mut warnings);
                    cap(
                        &mut routes,
                        MAX_ROUTES,
                        "classless routes (option 121)",
                        &mut over,
                    );
                }
                None => warnings.push("option 121 (classless routes) is malformed: dropped".into()),
            }
        }
        // RFC 3442: with option 121 present, option 3 MUST be ignored.
        let gateway = if self.option(121).is_some() {
            routes
                .iter()
                .find(|r| r.destination.prefix_len() == 0 && !r.gateway.is_unspecified())
                .map(|r| r.gateway)
        } else {
            match self.option(3) {
                Some(v) if !v.is_empty() && v.len().is_multiple_of(4) => {
                    let first = ip_at(v, 0);
                    match router_fault(first) {
                        None => Some(first),
                        Some(why) => {
                            warnings.push(format!("the router {first} {why}: dropped"));
                            None
                        }
                    }
                }
                Some(_) => {
                    warnings.push("option 3 (router) is malformed: dropped".into());
                    None
                }
                None => None,
            }
        };
        let mut dns = address_list(self.option(6), "DNS server", &mut warnings);
        cap(&mut dns, MAX_DNS, "DNS servers (option 6)", &mut over);
        let mut ntp = address_list(self.option(42), "NTP server", &mut warnings);
        cap(&mut ntp, MAX_NTP, "NTP servers (option 42)", &mut over);

        let mut domain = None;
        let mut search = Vec::new();
        if let Some(v) = self.option(15) {
            match domain_list(v) {
                Ok(mut names) => {
                    if names.len() > 1 {
                        cap(
                            &mut names,
                            MAX_SEARCH,
                            "names in option 15 (domain name)",
                            &mut over,
                        );
                        warnings.push(format!(
                            "option 15 (domain name) holds {} names; using {} as the domain and all as search domains",
                            names.len(),
                            names[0]
                        ));
                        search.extend(names.iter().cloned());
                    }
                    domain = names.into_iter().next();
                }
                Err(e) => warnings.push(format!("option 15 (domain name) {e}: dropped")),
            }
        }
        if let Some(v) = self.option(119) {
            match decode_search_names(v) {
                Some((names, more)) => {
                    let mut fresh: Vec<String> =
                        names.into_iter().filter(|n| !search.contains(n)).collect();
                    let room = MAX_SEARCH.saturating_sub(search.len());
                    let total = fresh.len() + more;
                    if total > room {
                        fresh.truncate(room);
                        over.push(format!(
                            "{} of {total} search domains (option 119)",
                            total - fresh.len()
                        ));
                    }
                    search.extend(fresh);
                }
                None => warnings.push("option 119 (domain search) is malformed: dropped".into()),
            }
        }
        if !over.is_empty() {
            warnings.push(format!(
                "the reply carries more than dhcpnet keeps; dropped {}. dhcpnet keeps at most \
                 {MAX_DNS} DNS servers, {MAX_NTP} NTP servers, {MAX_SEARCH} search domains and \
                 {MAX_ROUTES} classless routes from a reply",
                over.join(", ")
            ));
        }
        let lease_time = match self.option(51) {
            Some(v) if v.len() == 4 => u32_of(v).unwrap_or(DEFAULT_LEASE_TIME),
            other => {
                warnings.push(format!(
                    "{}: taking a {DEFAULT_LEASE_TIME} s lease, renewed at half of it",
                    match other {
                        None => "no lease time (option 51)".to_string(),
                        Some(v) =>
                            format!("the lease time (option 51) has {} octets, not 4", v.len()),
                    }
                ));
                DEFAULT_LEASE_TIME
            }
        };
        let t = |code| self.option(code).and_then(u32_of);
        let (renewal_time, rebinding_time) = timers(lease_time, t(58), t(59));
        let mtu = match self.option(26) {
            None => None,
            Some(v) => match <[u8; 2]>::try_from(v).map(u16::from_be_bytes) {
                Ok(m) if m >= MIN_MTU => Some(m),
                Ok(m) => {
                    warnings.push(format!("MTU {m} (option 26) is below {MIN_MTU}: dropped"));
                    None
                }
                Err(_) => {
                    warnings.push("option 26 (MTU) is malformed: dropped".into());
                    None
                }
            },
        };
        let broadcast = match self.option(28).and_then(u32_of).map(Ipv4Addr::from) {
            Some(b)
                if prefix_len <= 30 && u32::from(b) == (u32::from(ip) | !u32::from(netmask)) =>
            {
                Some(b)
            }
            Some(b) => {
                warnings.push(format!(
                    "broadcast address {b} (option 28) does not match the subnet: dropped"
                ));
                None
            }
            None => None,
        };
        Ok(Checked {
            params: Params {
                ip,
                server_id,
                netmask,
                prefix_len,
                gateway,
                dns,
                domain,
                search,
                lease_time,
                renewal_time,
                rebinding_time,
                mtu,
                broadcast,
                ntp,
                routes,
            },
            warnings,
        })
    }
}

/// Parameters that passed the checks, and what was dropped on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub params: Params,
    pub warnings: Vec<String>,
}

/// An address a host can hold or a server can answer from: not 0.0.0.0/8,
/// loopback, link-local, multicast, or the reserved 240/4 (which holds the
/// limited broadcast).
pub fn is_unicast(a: Ipv4Addr) -> bool {
    let o = a.octets();
    !(o[0] == 0 || a.is_loopback() || a.is_link_local() || a.is_multicast() || o[0] >= 240)
}

fn classful_mask(ip: Ipv4Addr) -> Ipv4Addr {
    match ip.octets()[0] {
        0..=127 => Ipv4Addr::new(255, 0, 0, 0),
        128..=191 => Ipv4Addr::new(255, 255, 0, 0),
        _ => Ipv4Addr::new(255, 255, 255, 0),
    }
}

fn address_list(v: Option<&[u8]>, what: &str, warnings: &mut Vec<String>) -> Vec<Ipv4Addr> {
    let Some(v) = v else { return Vec::new() };
    if v.is_empty() || !v.len().is_multiple_of(4) {
        warnings.push(format!("the {what} list is malformed: dropped"));
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut refused = Refused::default();
    for c in v.chunks_exact(4) {
        let a = ip_at(c, 0);
        if !is_unicast(a) {
            refused.note(format!("{a} is not a unicast address"));
        } else if !out.contains(&a) {
            out.push(a);
        }
    }
    refused.warn(what, warnings);
    out
}

/// Entries of one list refused for what they hold: one warning for all,
/// naming the first.
#[derive(Default)]
struct Refused {
    count: usize,
    first: Option<String>,
}

impl Refused {
    fn note(&mut self, why: String) {
        self.count += 1;
        self.first.get_or_insert(why);
    }

    fn warn(self, what: &str, warnings: &mut Vec<String>) {
        match (self.count, self.first) {
            (1, Some(why)) => warnings.push(format!("the {what} {why}: dropped")),
            (n, Some(why)) => warnings.push(format!("{n} {what}s were dropped (the first: {why})")),
            _ => {}
        }
    }
}

/// Keep the first `max` of `list`; what is cut is noted in `over` (as
/// "N of M WHAT").
fn cap<T>(list: &mut Vec<T>, max: usize, what: &str, over: &mut Vec<String>) {
    if list.len() > max {
        over.push(format!("{} of {} {what}", list.len() - max, list.len()));
        list.truncate(max);
    }
}

/// Text from a server, safe to print and store: invalid UTF-8 replaced,
/// control characters (C0, DEL, C1: NUL, newline, ESC ...) removed, trailing
/// NULs dropped, at most 255 characters.
pub fn clean_text(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TEXT)
        .collect::<String>()
        .trim()
        .to_string()
}

/// A DNS domain name as a resolver and `docker --dns-search` take it:
/// dot-separated labels of 1-63 letters, digits, hyphens or underscores,
/// at most 253 characters, one trailing dot allowed (and removed).
pub fn valid_domain(s: &str) -> Option<String> {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return None;
    }
    let ok = s.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    ok.then(|| s.to_ascii_lowercase())
}

/// Option 15: one domain name, though some servers put a space- or
/// comma-separated list there. Every name must be valid.
fn domain_list(v: &[u8]) -> Result<Vec<String>, String> {
    let Ok(s) = std::str::from_utf8(v) else {
        return Err("is not UTF-8".into());
    };
    let s = s.trim_end_matches('\0');
    let parts: Vec<&str> = s
        .split([' ', ',', '\t'])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Err("is empty".into());
    }
    let mut out = Vec::new();
    for p in parts {
        match valid_domain(p) {
            Some(d) if !out.contains(&d) => out.push(d),
            Some(_) => {}
            None => {
                return Err(format!(
                    "{:?} is not a valid domain name",
                    clean_text(p.as_bytes())
                ));
            }
        }
    }
    Ok(out)
}

/// RFC 3442 option 121: (width, significant octets of the destination,
/// router) repeated. None when any entry is truncated or has a width over 32.
pub fn decode_classless_routes(v: &[u8]) -> Option<Vec<(Ipv4Addr, u8, Ipv4Addr)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let width = v[i];
        if width > 32 {
            return None;
        }
        let sig = (width as usize).div_ceil(8);
        let dest = v.get(i + 1..i + 1 + sig)?;
        let gw = v.get(i + 1 + sig..i + 5 + sig)?;
        let mut d = [0u8; 4];
        d[..sig].copy_from_slice(dest);
        let net = u32::from_be_bytes(d) & u32::from(prefix_to_mask(width));
        out.push((Ipv4Addr::from(net), width, ip_at(gw, 0)));
        i += 5 + sig;
    }
    Some(out)
}

/// RFC 3397 option 119: names in DNS wire format, with compression pointers
/// into the option's own data. None when malformed; invalid names are
/// skipped. Pointers must point backwards, so a loop cannot form.
pub fn decode_search_list(v: &[u8]) -> Option<Vec<String>> {
    decode_search_names(v).map(|(names, _)| names)
}

/// `decode_search_list` within bounds: at most `MAX_SEARCH` distinct names,
/// and how many more names there were past them (not decoded, counted:
/// names read are bounded by `MAX_NAMES_READ`, so a long option costs no
/// more than a short one).
fn decode_search_names(v: &[u8]) -> Option<(Vec<String>, usize)> {
    let mut names = Vec::new();
    let mut read = 0;
    let mut i = 0;
    while i < v.len() {
        if names.len() >= MAX_SEARCH || read >= MAX_NAMES_READ {
            return Some((names, count_names(&v[i..])));
        }
        let (labels, next) = read_name(v, i)?;
        read += 1;
        i = next;
        if let Some(d) = valid_domain(&labels.join("."))
            && !names.contains(&d)
        {
            names.push(d);
        }
    }
    Some((names, 0))
}

/// About how many names `rest` holds: its name ends (a zero length or a
/// pointer), counted without following anything; at least one.
fn count_names(rest: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while let Some(&len) = rest.get(i) {
        match len {
            0 => {
                n += 1;
                i += 1;
            }
            0xc0..=0xff => {
                n += 1;
                i += 2;
            }
            _ => i += 1 + len as usize,
        }
    }
    n.max(1)
}

/// Read one DNS name starting at `start`; returns its labels and where the
/// next name starts.
fn read_name(v: &[u8], start: usize) -> Option<(Vec<String>, usize)> {
    let mut labels = Vec::new();
    let mut pos = start;
    let mut end = None;
    let mut total = 0usize;
    let mut jumps = 0;
    loop {
        let len = *v.get(pos)?;
        match len {
            0 => {
                return Some((labels, end.unwrap_or(pos + 1)));
            }
            1..=63 => {
                let l = v.get(pos + 1..pos + 1 + len as usize)?;
                total += len as usize + 1;
                if total > 255 {
                    return None;
                }
                labels.push(String::from_utf8_lossy(l).into_owned());
                pos += 1 + len as usize;
            }
            0xc0..=0xff => {
                let lo = *v.get(pos + 1)?;
                let target = (((len & 0x3f) as usize) << 8) | lo as usize;
                if target >= pos {
                    return None; // forward or self pointer: could loop
                }
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return None;
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::message::INFINITE;

    const XID: u32 = 0x1234_5678;
    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x42];

    /// A reply's bytes: header fields, then options given raw.
    fn bytes(yiaddr: [u8; 4], opts: &[&[u8]]) -> Vec<u8> {
        let mut b = vec![0u8; FIXED];
        b[0] = 2;
        b[1] = 1;
        b[2] = 6;
        b[4..8].copy_from_slice(&XID.to_be_bytes());
        b[16..20].copy_from_slice(&yiaddr);
        b[28..34].copy_from_slice(&MAC);
        b[236..240].copy_from_slice(&MAGIC);
        for o in opts {
            b.extend_from_slice(o);
        }
        b.push(255);
        b
    }

    const ACK: &[u8] = &[53, 1, 5];
    const MASK24: &[u8] = &[1, 4, 255, 255, 255, 0];
    const SRV: &[u8] = &[54, 4, 10, 0, 0, 1];
    const L600: &[u8] = &[51, 4, 0, 0, 2, 88];
    const ROUTER: &[u8] = &[3, 4, 10, 0, 0, 1];

    fn params_of(b: &[u8]) -> Result<Checked, String> {
        Bootreply::parse(b)
            .expect("parses")
            .params(Ipv4Addr::new(10, 0, 0, 1))
    }

    #[test]
    fn a_sane_ack_gives_every_parameter() {
        let b = bytes(
            [10, 0, 0, 50],
            &[
                ACK,
                MASK24,
                ROUTER,
                SRV,
                L600,
                &[6, 4, 10, 0, 0, 2],
                &[15, 3, b'l', b'a', b'b'],
            ],
        );
        let r = Bootreply::parse(&b).unwrap();
        assert_eq!(
            (r.xid, r.client_mac(), r.msg_type()),
            (XID, Some(Mac(MAC)), Some(MessageType::Ack))
        );
        let c = r.params(Ipv4Addr::UNSPECIFIED).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let p = c.params;
        assert_eq!(
            (p.ip, p.prefix_len, p.gateway),
            (
                Ipv4Addr::new(10, 0, 0, 50),
                24,
                Some(Ipv4Addr::new(10, 0, 0, 1))
            )
        );
        assert_eq!(
            (p.lease_time, p.renewal_time, p.rebinding_time),
            (600, 300, 525)
        );
        assert_eq!(p.domain.as_deref(), Some("lab"));
        assert_eq!(p.dns, vec![Ipv4Addr::new(10, 0, 0, 2)]);
    }

    #[test]
    fn an_hlen_beyond_the_chaddr_field_is_not_a_client_mac_and_does_not_panic() {
        for hlen in [0u8, 5, 7, 16, 17, 255] {
            let mut b = bytes([10, 0, 0, 50], &[ACK, SRV]);
            b[2] = hlen;
            let r = Bootreply::parse(&b).unwrap();
            assert_eq!(r.client_mac(), None, "hlen {hlen}");
        }
    }

    #[test]
    fn addresses_no_host_can_hold_are_refused() {
        for y in [
            [255, 255, 255, 255],
            [224, 0, 0, 5],
            [127, 0, 0, 1],
            [0, 0, 0, 0],
            [0, 1, 2, 3],
            [169, 254, 1, 1],
            [240, 0, 0, 1],
            [10, 0, 0, 0],   // network address of the /24
            [10, 0, 0, 255], // broadcast address of the /24
            [10, 0, 0, 1],   // the server's own address
        ] {
            let b = bytes(y, &[ACK, MASK24, SRV, L600]);
            assert!(params_of(&b).is_err(), "{y:?} was accepted");
        }
    }

    #[test]
    fn masks_that_are_zero_too_wide_or_not_contiguous_are_refused() {
        for m in [
            &[0u8, 0, 0, 0][..],
            &[255, 0, 255, 0],
            &[254, 0, 0, 0],
            &[255, 255, 255],
        ] {
            let mut o = vec![1, m.len() as u8];
            o.extend_from_slice(m);
            let b = bytes([10, 0, 0, 50], &[ACK, &o, SRV, L600]);
            assert!(params_of(&b).is_err(), "mask {m:?} was accepted");
        }
    }

    #[test]
    fn a_server_id_that_is_not_unicast_is_refused() {
        for s in [[255, 255, 255, 255], [0, 0, 0, 0], [224, 0, 0, 1]] {
            let o = [54, 4, s[0], s[1], s[2], s[3]];
            let b = bytes([10, 0, 0, 50], &[ACK, MASK24, &o, L600]);
            assert!(params_of(&b).is_err(), "server id {s:?} was accepted");
        }
        let b = bytes([10, 0, 0, 50], &[ACK, MASK24, &[54, 3, 1, 2, 3], L600]);
        assert!(params_of(&b).is_err(), "a 3-octet server id");
    }

    #[test]
    fn a_router_outside_the_subnet_is_dropped_with_a_warning_and_one_equal_to_the_lease_refused() {
        let c = params_of(&bytes(
            [10, 0, 0, 50],
            &[ACK, MASK24, &[3, 4, 10, 0, 0, 50], SRV, L600],
        ));
        assert!(c.is_err(), "the gateway's own address offered as a lease");
        for r in [[192, 168, 1, 1], [255, 255, 255, 255], [10, 0, 0, 255]] {
            let o = [3, 4, r[0], r[1], r[2], r[3]];
            let c = params_of(&bytes([10, 0, 0, 50], &[ACK, MASK24, &o, SRV, L600])).unwrap();
            assert_eq!(c.params.gateway, None, "router {r:?}");
            assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        }
    }

    #[test]
    fn an_mtu_below_576_is_dropped_with_a_warning() {
        let c = params_of(&bytes(
            [10, 0, 0, 50],
            &[ACK, MASK24, SRV, L600, &[26, 2, 0, 1]],
        ))
        .unwrap();
        assert_eq!((c.params.mtu, c.warnings.len()), (None, 1));
        let c = params_of(&bytes(
            [10, 0, 0, 50],
            &[ACK, MASK24, SRV, L600, &[26, 2, 5, 0xdc]],
        ))
        .unwrap();
        assert_eq!(c.params.mtu, Some(1500));
    }

    #[test]
    fn one_undecodable_option_does_not_drop_the_options_after_it() {
        let bad_host: &[u8] = &[12, 3, 0xff, 0xfe, b'x'];
        let bad_domain: &[u8] = &[15, 4, b'a', 0xc3, 0x28, b'b'];
        let bad_msg: &[u8] = &[56, 2, 0xff, 0xff];
        let truncated_121: &[u8] = &[121, 3, 24, 10, 0];
        let b = bytes(
            [10, 0, 0, 50],
            &[
                MASK24,
                ROUTER,
                bad_host,
                bad_domain,
                L600,
                &[53, 1, 5],
                SRV,
                bad_msg,
                &[58, 4, 0, 0, 0, 100],
                truncated_121,
            ],
        );
        let c = params_of(&b).unwrap();
        assert_eq!((c.params.lease_time, c.params.renewal_time), (600, 100));
        assert_eq!(c.params.domain, None);
        assert_eq!(
            c.params.gateway, None,
            "121 present (even malformed) hides option 3"
        );
        assert_eq!(Bootreply::parse(&b).unwrap().server_hostname(), None);
    }

    #[test]
    fn a_missing_malformed_or_doubled_lease_time_is_never_infinite() {
        let doubled: &[u8] = &[51, 4, 0, 0, 0, 60, 51, 4, 0, 0, 0, 90];
        for opts in [
            vec![ACK, MASK24, SRV],
            vec![ACK, MASK24, SRV, &[51, 3, 0, 0, 60][..]],
            vec![ACK, MASK24, SRV, doubled],
        ] {
            let c = params_of(&bytes([10, 0, 0, 50], &opts)).unwrap();
            assert_eq!(c.params.lease_time, DEFAULT_LEASE_TIME);
            assert_eq!(c.params.renewal_time, DEFAULT_LEASE_TIME / 2);
            assert!(!c.warnings.is_empty());
        }
        let inf = params_of(&bytes(
            [10, 0, 0, 50],
            &[ACK, MASK24, SRV, &[51, 4, 255, 255, 255, 255]],
        ))
        .unwrap();
        assert_eq!(
            inf.params.lease_time, INFINITE,
            "only an explicit 0xffffffff is infinite"
        );
    }

    #[test]
    fn overloaded_file_and_sname_fields_are_read_as_options() {
        let mut b = bytes([10, 0, 0, 50], &[ACK, &[52, 1, 3], SRV]);
        let file = [
            51, 4, 0, 0, 0, 120, 1, 4, 255, 255, 255, 0, 3, 4, 10, 0, 0, 1, 255,
        ];
        b[108..108 + file.len()].copy_from_slice(&file);
        let sname = [6, 4, 10, 0, 0, 53, 255];
        b[44..44 + sname.len()].copy_from_slice(&sname);
        let c = params_of(&b).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.params.lease_time, 120);
        assert_eq!(c.params.prefix_len, 24);
        assert_eq!(c.params.gateway, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(c.params.dns, vec![Ipv4Addr::new(10, 0, 0, 53)]);
        // Without option 52 the same bytes are a file name, not options.
        b[243..246].copy_from_slice(&[0, 0, 0]);
        let c = params_of(&b).unwrap();
        assert_eq!(c.params.lease_time, DEFAULT_LEASE_TIME);
    }

    #[test]
    fn server_strings_lose_their_control_characters_and_lists_are_split() {
        let evil: &[u8] = b"ev\0il\n.com\x1b[2J";
        let mut o = vec![15, evil.len() as u8];
        o.extend_from_slice(evil);
        let c = params_of(&bytes([10, 0, 0, 50], &[ACK, MASK24, SRV, L600, &o])).unwrap();
        assert_eq!(c.params.domain, None);
        assert!(
            c.warnings.iter().all(|w| !w.chars().any(char::is_control)),
            "{:?}",
            c.warnings
        );
        let list = b"a.example b.example";
        let mut o = vec![15, list.len() as u8];
        o.extend_from_slice(list);
        let c = params_of(&bytes([10, 0, 0, 50], &[ACK, MASK24, SRV, L600, &o])).unwrap();
        assert_eq!(c.params.domain.as_deref(), Some("a.example"));
        assert_eq!(c.params.search, vec!["a.example", "b.example"]);
        let mut m = vec![56, evil.len() as u8];
        m.extend_from_slice(evil);
        let r = Bootreply::parse(&bytes([0; 4], &[&[53, 1, 6], SRV, &m])).unwrap();
        assert_eq!(r.server_message().as_deref(), Some("evil.com[2J"));
    }

    #[test]
    fn classless_routes_win_over_the_router_option() {
        let r121: &[u8] = &[121, 5, 0, 10, 0, 0, 254];
        let c = params_of(&bytes(
            [10, 0, 0, 50],
            &[ACK, MASK24, ROUTER, r121, SRV, L600],
        ))
        .unwrap();
        assert_eq!(c.params.gateway, Some(Ipv4Addr::new(10, 0, 0, 254)));
        assert_eq!(c.params.routes.len(), 1);
    }

    #[test]
    fn a_missing_mask_is_classful_and_a_missing_server_id_falls_back_to_the_source() {
        let c = params_of(&bytes([10, 0, 0, 50], &[ACK, L600])).unwrap();
        assert_eq!(c.params.prefix_len, 8);
        assert_eq!(c.params.server_id, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(c.warnings.len(), 1, "the guessed mask is said");
    }

    #[test]
    fn search_lists_follow_backward_pointers_and_refuse_loops() {
        // "lab.example" then "dev" + pointer to "example" at offset 4.
        let v = [
            3, b'l', b'a', b'b', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0, 3, b'd', b'e',
            b'v', 0xc0, 4,
        ];
        assert_eq!(
            decode_search_list(&v).unwrap(),
            vec!["lab.example", "dev.example"]
        );
        assert_eq!(decode_search_list(&[0xc0, 0]), None, "self pointer");
        assert_eq!(
            decode_search_list(&[1, b'a', 0xc0, 5]),
            None,
            "forward pointer"
        );
    }

    #[test]
    fn classless_routes_decode_and_truncation_is_refused() {
        let v = [24, 192, 168, 5, 10, 0, 0, 1, 0, 10, 0, 0, 1];
        assert_eq!(
            decode_classless_routes(&v).unwrap(),
            vec![
                (
                    Ipv4Addr::new(192, 168, 5, 0),
                    24,
                    Ipv4Addr::new(10, 0, 0, 1)
                ),
                (Ipv4Addr::UNSPECIFIED, 0, Ipv4Addr::new(10, 0, 0, 1))
            ]
        );
        assert_eq!(decode_classless_routes(&v[..7]), None);
        assert_eq!(decode_classless_routes(&[33, 0, 0, 0, 0, 0, 0, 0, 0]), None);
    }

    /// Option `code` holding `data`, split into RFC 3396 pieces of at most
    /// 255 octets each (joined again by the reader).
    fn pieces(code: u8, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in data.chunks(255) {
            out.push(code);
            out.push(c.len() as u8);
            out.extend_from_slice(c);
        }
        out
    }

    /// `n` distinct unicast addresses 10.1.x.y, as option data.
    fn addresses(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| [10, 1, (i / 250) as u8, (i % 250 + 1) as u8])
            .collect()
    }

    /// The one warning about lists over their caps, if any.
    fn over_warning(c: &Checked) -> Vec<&String> {
        c.warnings
            .iter()
            .filter(|w| w.contains("more than dhcpnet keeps"))
            .collect()
    }

    #[test]
    fn two_hundred_fifty_six_dns_servers_in_rfc_3396_pieces_are_cut_to_the_cap_with_one_warning() {
        let dns = pieces(6, &addresses(256));
        assert!(dns.len() > 1024, "more than one piece: {}", dns.len());
        let c = params_of(&bytes([10, 0, 0, 50], &[ACK, MASK24, SRV, L600, &dns])).unwrap();
        assert_eq!(c.params.dns.len(), MAX_DNS);
        assert_eq!(c.params.dns[0], Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(c.params.dns[7], Ipv4Addr::new(10, 1, 0, 8));
        let w = over_warning(&c);
        assert_eq!(w.len(), 1, "{:?}", c.warnings);
        assert!(w[0].contains("248 of 256 DNS servers (option 6)"), "{w:?}");
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    }

    #[test]
    fn every_list_option_is_cut_to_its_cap_and_one_warning_names_them_all() {
        let ntp = pieces(42, &addresses(40));
        // 100 routes to 10.2.N.0/24 via the server.
        let routes: Vec<u8> = (0..100u8)
            .flat_map(|n| [24, 10, 2, n, 10, 0, 0, 1])
            .collect();
        let routes = pieces(121, &routes);
        // 60 names a0.example .. a59.example, in DNS wire format.
        let mut names = Vec::new();
        for n in 0..60 {
            let l = format!("a{n}");
            names.push(l.len() as u8);
            names.extend_from_slice(l.as_bytes());
            names.extend_from_slice(&[7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0]);
        }
        let search = pieces(119, &names);
        let c = params_of(&bytes(
            [10, 0, 0, 50],
            &[ACK, MASK24, SRV, L600, &ntp, &routes, &search],
        ))
        .unwrap();
        assert_eq!(c.params.ntp.len(), MAX_NTP);
        assert_eq!(c.params.routes.len(), MAX_ROUTES);
        assert_eq!(c.params.search.len(), MAX_SEARCH);
        assert_eq!(c.params.search[0], "a0.example");
        let w = over_warning(&c);
        assert_eq!(w.len(), 1, "{:?}", c.warnings);
        for part in [
            "32 of 40 NTP servers (option 42)",
            "36 of 100 classless routes (option 121)",
            "28 of 60 search domains (option 119)",
        ] {
            assert!(w[0].contains(part), "{part}: {w:?}");
        }
        // Option 15 with a list of names counts towards the same cap.
        let list: String = (0..50).map(|n| format!("d{n}.example ")).collect();
        let o15 = pieces(15, list.as_bytes());
        let c = params_of(&bytes(
            [10, 0, 0, 50],
            &[ACK, MASK24, SRV, L600, &o15, &search],
        ))
        .unwrap();
        assert_eq!(c.params.search.len(), MAX_SEARCH);
        assert_eq!(c.params.domain.as_deref(), Some("d0.example"));
        let w = over_warning(&c);
        assert!(w[0].contains("18 of 50 names in option 15"), "{w:?}");
        assert!(
            w[0].contains("60 of 60 search domains (option 119)"),
            "{w:?}"
        );
    }

    #[test]
    fn many_refused_list_entries_make_one_warning_not_one_each() {
        let mut bad = [224, 0, 0, 1].repeat(200);
        bad.extend_from_slice(&[10, 0, 0, 2]);
        let c = params_of(&bytes(
            [10, 0, 0, 50],
            &[ACK, MASK24, SRV, L600, &pieces(6, &bad)],
        ))
        .unwrap();
        assert_eq!(c.params.dns, vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(
            c.warnings[0].contains(
                "200 DNS servers were dropped (the first: 224.0.0.1 is not a unicast address)"
            ),
            "{:?}",
            c.warnings
        );
        let routes: Vec<u8> = (0..50u8)
            .flat_map(|n| [24, 10, 2, n, 192, 168, 0, 1])
            .collect();
        let c = params_of(&bytes(
            [10, 0, 0, 50],
            &[ACK, MASK24, SRV, L600, &pieces(121, &routes)],
        ))
        .unwrap();
        assert!(c.params.routes.is_empty());
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    }

    /// "a." then `n` pointers, each to the one before it (the first to
    /// "a."): the name at pointer k takes k jumps to read.
    fn pointer_chain(n: usize) -> Vec<u8> {
        let mut v = vec![1, b'a', 0];
        let mut prev = 0usize;
        for _ in 0..n {
            let at = v.len();
            v.extend_from_slice(&[0xc0 | (prev >> 8) as u8, prev as u8]);
            prev = at;
        }
        v
    }

    #[test]
    fn a_search_list_of_pointer_chains_is_bounded_work_and_a_chain_longer_than_a_name_is_refused() {
        let chain = pointer_chain(200);
        assert!(read_name(&chain, 3).is_some(), "one jump");
        assert!(read_name(&chain, 3 + 2 * 126).is_some(), "127 jumps");
        assert!(read_name(&chain, 3 + 2 * 127).is_none(), "128 jumps");
        // 900 names each one jump longer than the last: bounded by the
        // names read, whatever the option's size.
        let long = pointer_chain(900);
        let t = std::time::Instant::now();
        let (names, more) = decode_search_names(&long).expect("decodes");
        assert!(t.elapsed() < std::time::Duration::from_millis(200));
        assert_eq!(names, vec!["a".to_string()]);
        assert!(more > 700, "{more}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        #[test]
        fn any_bytes_after_a_valid_header_never_panic(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), hlen in 0u8..=255, y in proptest::prelude::any::<[u8; 4]>()) {
            let mut b = bytes(y, &[]);
            b.pop();
            b[2] = hlen;
            b.extend_from_slice(&tail);
            if let Some(r) = Bootreply::parse(&b) {
                let _ = r.client_mac();
                let _ = r.msg_type();
                let _ = r.server_message();
                let _ = r.server_hostname();
                if let Ok(c) = r.params(Ipv4Addr::new(10, 0, 0, 1)) {
                    proptest::prop_assert!(is_unicast(c.params.ip));
                    proptest::prop_assert!(c.params.prefix_len >= MIN_PREFIX);
                    if let Some(d) = &c.params.domain {
                        proptest::prop_assert!(valid_domain(d).is_some());
                    }
                }
            }
        }
    }
}
