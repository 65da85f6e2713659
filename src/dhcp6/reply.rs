//! Reading what a DHCPv6 server sends (ADVERTISE, REPLY), byte by byte, and
//! checking the lease before anything is recorded or configured.
//!
//! A reply is hostile input: any host on the link can answer a multicast
//! SOLICIT or REBIND (the transaction id is in the clear). So, as on the
//! IPv4 side (`dhcp::reply`): options are gathered by walking the message
//! once, with every length checked; each option is decoded on its own and a
//! bad one is dropped with a warning while the others still count; every
//! list is bounded (the caps below: more is dropped, with a warning); every
//! string is cleaned of control characters (`dhcp::reply::clean_text`)
//! before it reaches a log, a terminal or a record; nothing panics,
//! whatever the bytes.
//!
//! `Reply6::check` then applies the rules that keep nonsense out of the
//! records: a server identifier is required (RFC 8415 §16.3, §16.10); only
//! global unicast (2000::/3) and unique-local (fc00::/7) addresses are
//! leases (multicast, link-local, loopback, unspecified, v4-mapped,
//! site-local and the rest are refused), and not a subnet-router anycast
//! (an interface identifier of zero); an address whose preferred lifetime
//! exceeds its valid lifetime is discarded (§21.6); DNS servers must be
//! global or unique-local too; SOL_MAX_RT and INF_MAX_RT outside 60-86400 s
//! are ignored (§21.24, §21.25).
//!
//! T1 and T2 (§21.4, `ia_timers`): 0 leaves them to the client, which takes
//! 0.5 and 0.8 of the shortest preferred lifetime. T1 > T2 (both non-zero)
//! is nonsense; RFC 8415 says to discard the whole IA_NA then, but the
//! server has bound the addresses by the time its REPLY is sent, and a
//! client that drops them leaves a binding nobody records or releases. So
//! such T1/T2 are ignored (as if 0) and the addresses kept, with a warning.
//! A T2 at or past the shortest valid lifetime would let the lease lapse
//! before REBIND is tried: it is brought to 0.8 of that lifetime. Infinity
//! (0xffffffff) stays infinity; the arithmetic is done in 64 bits.

use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

use super::duid::Duid;
use super::message::{INFINITY, MessageType, code};
use crate::dhcp::reply::{clean_text, valid_domain};

/// Top-level options kept from one message; more are dropped (a real
/// server sends about ten).
pub const MAX_OPTIONS: usize = 64;
/// IAADDR options kept from one IA_NA (dhcpnet asks for one address).
pub const MAX_ADDRS: usize = 8;
/// Options read inside one IA_NA or IAADDR.
pub const MAX_IA_OPTIONS: usize = 16;
/// DNS servers kept from option 23.
pub const MAX_DNS: usize = 8;
/// Search domains kept from option 24 (glibc's resolver uses six).
pub const MAX_DOMAINS: usize = 8;

/// SOL_MAX_RT and INF_MAX_RT a client accepts (RFC 8415 §21.24, §21.25).
pub const MIN_MAX_RT: u32 = 60;
pub const MAX_MAX_RT: u32 = 86400;
/// Least information refresh time (RFC 8415 §21.23, IRT_MINIMUM).
pub const IRT_MINIMUM: u32 = 600;

/// Status codes (RFC 8415 §21.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusCode {
    Success,
    UnspecFail,
    NoAddrsAvail,
    NoBinding,
    NotOnLink,
    UseMulticast,
    NoPrefixAvail,
    Other(u16),
}

impl StatusCode {
    pub fn from_u16(c: u16) -> StatusCode {
        match c {
            0 => StatusCode::Success,
            1 => StatusCode::UnspecFail,
            2 => StatusCode::NoAddrsAvail,
            3 => StatusCode::NoBinding,
            4 => StatusCode::NotOnLink,
            5 => StatusCode::UseMulticast,
            6 => StatusCode::NoPrefixAvail,
            n => StatusCode::Other(n),
        }
    }
}

/// A STATUS_CODE option: the code and the server's message, cleaned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

impl Status {
    pub fn is_success(&self) -> bool {
        self.code == StatusCode::Success
    }
}

/// An address the server granted (IAADDR), checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address6 {
    pub addr: Ipv6Addr,
    /// Seconds; `INFINITY` is forever.
    pub preferred: u32,
    pub valid: u32,
}

/// An IA_NA as sent, decoded but not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaNa {
    pub iaid: u32,
    pub t1: u32,
    pub t2: u32,
    pub addrs: Vec<IaAddr>,
    pub status: Option<Status>,
}

/// An IAADDR as sent, decoded but not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaAddr {
    pub addr: Ipv6Addr,
    pub preferred: u32,
    pub valid: u32,
    pub status: Option<Status>,
}

/// The server's CLIENT_FQDN (RFC 4704): its flags (O set when it did not
/// do what S asked) and the name it will use, if it sent a valid one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFqdn {
    pub flags: u8,
    pub name: Option<String>,
}

/// What a server's ADVERTISE or REPLY says, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params6 {
    pub server_id: Duid,
    pub iaid: u32,
    /// Addresses granted (valid lifetime above 0), at most `MAX_ADDRS`.
    pub addrs: Vec<Address6>,
    /// Addresses the server withdrew (valid lifetime 0, §18.2.10.1).
    pub withdrawn: Vec<Ipv6Addr>,
    /// When to RENEW and REBIND, seconds after the message was sent
    /// (`ia_timers`: never 0 while there are addresses, never past expiry).
    pub t1: u32,
    pub t2: u32,
    /// Server preference (§21.8), 0 when absent.
    pub preference: u8,
    /// The server's address for unicast (§21.12), when it allows it.
    pub unicast: Option<Ipv6Addr>,
    pub dns: Vec<Ipv6Addr>,
    pub search: Vec<String>,
    pub sol_max_rt: Option<u32>,
    pub inf_max_rt: Option<u32>,
    /// Information refresh time (§21.23), at least `IRT_MINIMUM`.
    pub refresh_time: Option<u32>,
    pub rapid_commit: bool,
    pub fqdn: Option<ServerFqdn>,
}

impl Params6 {
    /// The first address granted.
    pub fn ip(&self) -> Option<Ipv6Addr> {
        self.addrs.first().map(|a| a.addr)
    }

    /// The shortest valid lifetime: when the lease is gone (what DHCPv4
    /// calls the lease time). 0 without addresses.
    pub fn lease_time(&self) -> u32 {
        self.addrs.iter().map(|a| a.valid).min().unwrap_or(0)
    }

    /// The shortest preferred lifetime.
    pub fn preferred_time(&self) -> u32 {
        self.addrs.iter().map(|a| a.preferred).min().unwrap_or(0)
    }
}

/// A reply's parameters that passed the checks, what the server said of
/// the whole message and of our IA, and what was dropped on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub params: Params6,
    /// The top-level status (absent means Success).
    pub status: Option<Status>,
    /// Whether the message held an IA_NA with our IAID at all.
    pub ia_present: bool,
    /// The status inside our IA_NA (absent means Success).
    pub ia_status: Option<Status>,
    pub warnings: Vec<String>,
}

impl Checked {
    /// The first failure the server reported, top level first.
    pub fn failure(&self) -> Option<&Status> {
        [&self.status, &self.ia_status]
            .into_iter()
            .flatten()
            .find(|s| !s.is_success())
    }
}

/// A server's message as received: type, transaction id, options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply6 {
    pub msg_type: u8,
    pub xid: u32,
    options: Vec<(u16, Vec<u8>)>,
    /// What the parse itself dropped (options past the cap, a truncated one).
    notes: Vec<String>,
}

/// Walk options in `area`, at most `cap` of them: (code, data) in order.
/// An option whose length runs past the area ends the walk; what came
/// before still counts. Returns whether something was cut.
fn walk(area: &[u8], cap: usize, out: &mut Vec<(u16, Vec<u8>)>) -> Option<String> {
    let mut i = 0;
    while i < area.len() {
        let (Some(c), Some(l)) = (area.get(i..i + 2), area.get(i + 2..i + 4)) else {
            return Some(format!(
                "{} stray octets after the last option",
                area.len() - i
            ));
        };
        let code = u16::from_be_bytes([c[0], c[1]]);
        let len = u16::from_be_bytes([l[0], l[1]]) as usize;
        let Some(data) = area.get(i + 4..i + 4 + len) else {
            return Some(format!(
                "option {code} claims {len} octets, more than the message holds: it and anything after it dropped"
            ));
        };
        if out.len() == cap {
            return Some(format!("more than {cap} options: the rest dropped"));
        }
        out.push((code, data.to_vec()));
        i += 4 + len;
    }
    None
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

fn ip6_of(b: &[u8]) -> Option<Ipv6Addr> {
    <[u8; 16]>::try_from(b).ok().map(Ipv6Addr::from)
}

/// STATUS_CODE data: two octets of code, then UTF-8 text.
pub fn decode_status(v: &[u8]) -> Option<Status> {
    let c = v.get(..2)?;
    Some(Status {
        code: StatusCode::from_u16(u16::from_be_bytes([c[0], c[1]])),
        message: clean_text(&v[2..]),
    })
}

/// IA_NA data (§21.4): IAID, T1, T2, then options (IAADDR, STATUS_CODE).
/// None when shorter than 12 octets.
pub fn decode_ia_na(v: &[u8], warnings: &mut Vec<String>) -> Option<IaNa> {
    if v.len() < 12 {
        return None;
    }
    let mut opts = Vec::new();
    if let Some(w) = walk(&v[12..], MAX_IA_OPTIONS, &mut opts) {
        warnings.push(format!("inside an IA_NA: {w}"));
    }
    let mut ia = IaNa {
        iaid: u32_at(v, 0),
        t1: u32_at(v, 4),
        t2: u32_at(v, 8),
        addrs: Vec::new(),
        status: None,
    };
    for (c, d) in opts {
        match c {
            code::IAADDR => match decode_iaaddr(&d, warnings) {
                Some(a) => ia.addrs.push(a),
                None => warnings.push(format!(
                    "an IA address option of {} octets (at least 24 needed): dropped",
                    d.len()
                )),
            },
            code::STATUS_CODE if ia.status.is_none() => match decode_status(&d) {
                Some(s) => ia.status = Some(s),
                None => warnings.push("a malformed status code in the IA_NA: dropped".into()),
            },
            _ => {}
        }
    }
    Some(ia)
}

/// IAADDR data (§21.6): address, preferred and valid lifetimes, options.
fn decode_iaaddr(v: &[u8], warnings: &mut Vec<String>) -> Option<IaAddr> {
    let addr = ip6_of(v.get(..16)?)?;
    if v.len() < 24 {
        return None;
    }
    let mut opts = Vec::new();
    if let Some(w) = walk(&v[24..], MAX_IA_OPTIONS, &mut opts) {
        warnings.push(format!("inside the IA address {addr}: {w}"));
    }
    let status = opts
        .iter()
        .find(|(c, _)| *c == code::STATUS_CODE)
        .and_then(|(_, d)| decode_status(d));
    Some(IaAddr {
        addr,
        preferred: u32_at(v, 16),
        valid: u32_at(v, 20),
        status,
    })
}

/// An address a server may lease: global unicast (2000::/3) or unique local
/// (fc00::/7), and not a subnet-router anycast address (interface id 0).
/// Everything else (multicast, link-local, loopback, unspecified, v4-mapped
/// and v4-compatible, site-local, discard-only ...) lies outside both.
pub fn is_lease_address(a: Ipv6Addr) -> bool {
    let o = a.octets();
    let global = o[0] & 0xe0 == 0x20;
    let ula = o[0] & 0xfe == 0xfc;
    (global || ula) && o[8..] != [0; 8]
}

/// Why `a` cannot be leased, for a warning.
fn not_lease_why(a: Ipv6Addr) -> &'static str {
    let o = a.octets();
    if a.is_unspecified() {
        "the unspecified address"
    } else if a.is_loopback() {
        "the loopback address"
    } else if a.is_multicast() {
        "a multicast address"
    } else if o[0] == 0xfe && o[1] & 0xc0 == 0x80 {
        "a link-local address"
    } else if o[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
        "an IPv4-mapped address"
    } else if (o[0] & 0xe0 == 0x20 || o[0] & 0xfe == 0xfc) && o[8..] == [0; 8] {
        "a subnet-router anycast address (interface id 0)"
    } else {
        "not a global or unique-local unicast address"
    }
}

/// DOMAIN_LIST data (§21.? of RFC 3646, RFC 8415 §10): names in DNS wire
/// format, one after another, never compressed. Err on a compression
/// pointer, a label running past the data, or a name over 255 octets; names
/// that are not valid domains are skipped; at most `cap` kept (the rest
/// counted in the second value).
pub fn decode_names(v: &[u8], cap: usize) -> Result<(Vec<String>, usize), String> {
    let mut names = Vec::new();
    let mut extra = 0;
    let mut i = 0;
    while i < v.len() {
        let mut labels: Vec<String> = Vec::new();
        let mut total = 0usize;
        loop {
            let Some(&len) = v.get(i) else {
                return Err("a name runs past the end of the option".into());
            };
            i += 1;
            match len {
                0 => break,
                1..=63 => {
                    let Some(l) = v.get(i..i + len as usize) else {
                        return Err("a label runs past the end of the option".into());
                    };
                    total += len as usize + 1;
                    if total > 255 {
                        return Err("a name is longer than 255 octets".into());
                    }
                    labels.push(String::from_utf8_lossy(l).into_owned());
                    i += len as usize;
                }
                _ => return Err("it uses DNS name compression, which DHCPv6 forbids".into()),
            }
        }
        if let Some(d) = valid_domain(&labels.join("."))
            && !names.contains(&d)
        {
            if names.len() < cap {
                names.push(d);
            } else {
                extra += 1;
            }
        }
    }
    Ok((names, extra))
}

/// T1 and T2 the client uses for an IA with these server values and
/// addresses (see the module doc): 0 means the client's choice, 0.5 and
/// 0.8 of the shortest preferred lifetime (of the shortest valid one when
/// every address is deprecated); T1 <= T2 always; T2 before the shortest
/// valid lifetime. Returns whether the server's T1 > T2 was ignored.
pub fn ia_timers(t1: u32, t2: u32, addrs: &[Address6]) -> (u32, u32, bool) {
    if addrs.is_empty() {
        return (0, 0, false);
    }
    let insane = t1 > t2 && t2 != 0;
    let (t1, t2) = if insane { (0, 0) } else { (t1, t2) };
    let pref = addrs.iter().map(|a| a.preferred).min().unwrap_or(0);
    let valid = addrs.iter().map(|a| a.valid).min().unwrap_or(0);
    let base = if pref == 0 { valid } else { pref };
    let part = |num: u64, den: u64| -> u64 {
        if base == INFINITY {
            INFINITY as u64
        } else {
            base as u64 * num / den
        }
    };
    let mut t2 = if t2 == 0 { part(4, 5) } else { t2 as u64 };
    let mut t1 = if t1 == 0 {
        part(1, 2).min(t2)
    } else {
        t1 as u64
    };
    t2 = t2.max(t1);
    if valid != INFINITY && t2 >= valid as u64 {
        t2 = valid as u64 * 4 / 5;
        t1 = t1.min(valid as u64 / 2).min(t2);
    }
    (t1 as u32, t2 as u32, insane)
}

impl Reply6 {
    /// Parse a DHCPv6 message; None when shorter than its 4-octet header.
    /// Never panics, whatever the bytes.
    pub fn parse(b: &[u8]) -> Option<Reply6> {
        if b.len() < 4 {
            return None;
        }
        let mut options = Vec::new();
        let notes = walk(&b[4..], MAX_OPTIONS, &mut options)
            .into_iter()
            .collect();
        Some(Reply6 {
            msg_type: b[0],
            xid: u32::from_be_bytes([0, b[1], b[2], b[3]]),
            options,
            notes,
        })
    }

    pub fn message_type(&self) -> Option<MessageType> {
        MessageType::from_u8(self.msg_type)
    }

    /// The data of the first option `code`.
    pub fn option(&self, code: u16) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// Every option `code`, in order.
    pub fn options(&self, code: u16) -> impl Iterator<Item = &[u8]> {
        self.options
            .iter()
            .filter(move |(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// The client identifier the server echoed (a DUID, as raw octets).
    pub fn client_id(&self) -> Option<&[u8]> {
        self.option(code::CLIENTID)
    }

    /// The server identifier, when it is a well-formed DUID.
    pub fn server_id(&self) -> Option<Duid> {
        self.option(code::SERVERID).and_then(Duid::from_bytes)
    }

    /// The server preference (§21.8): 0 when absent or malformed.
    pub fn preference(&self) -> u8 {
        match self.option(code::PREFERENCE) {
            Some([p]) => *p,
            _ => 0,
        }
    }

    pub fn rapid_commit(&self) -> bool {
        self.option(code::RAPID_COMMIT).is_some()
    }

    /// The top-level status code (absent means Success).
    pub fn status(&self) -> Option<Status> {
        self.option(code::STATUS_CODE).and_then(decode_status)
    }

    /// SOL_MAX_RT or INF_MAX_RT, when within 60-86400 s (§21.24).
    fn max_rt(&self, c: u16, what: &str, warnings: &mut Vec<String>) -> Option<u32> {
        let v = self.option(c)?;
        match <[u8; 4]>::try_from(v).map(u32::from_be_bytes) {
            Ok(s) if (MIN_MAX_RT..=MAX_MAX_RT).contains(&s) => Some(s),
            Ok(s) => {
                warnings.push(format!(
                    "{what} {s} s is outside {MIN_MAX_RT}-{MAX_MAX_RT} s: ignored"
                ));
                None
            }
            Err(_) => {
                warnings.push(format!("{what} is malformed: ignored"));
                None
            }
        }
    }

    /// SOL_MAX_RT as the server set it (checked), read even from an
    /// ADVERTISE that is otherwise ignored (§18.2.9 says it MUST be).
    pub fn sol_max_rt(&self) -> Option<u32> {
        self.max_rt(code::SOL_MAX_RT, "SOL_MAX_RT", &mut Vec::new())
    }

    pub fn inf_max_rt(&self) -> Option<u32> {
        self.max_rt(code::INF_MAX_RT, "INF_MAX_RT", &mut Vec::new())
    }

    /// The IA_NA with `iaid`, decoded (the first one, if several).
    pub fn ia_na(&self, iaid: u32, warnings: &mut Vec<String>) -> Option<IaNa> {
        self.options(code::IA_NA)
            .filter(|v| v.len() >= 4 && u32_at(v, 0) == iaid)
            .find_map(|v| decode_ia_na(v, warnings))
    }

    /// The parameters of an ADVERTISE or REPLY for the IA_NA `iaid`,
    /// checked. Err when it cannot be used at all (no server identifier);
    /// otherwise what the server granted, what it said, and warnings for
    /// what was dropped.
    pub fn check(&self, iaid: u32) -> Result<Checked, String> {
        let mut warnings = self.notes.clone();
        let server_id = match self.option(code::SERVERID) {
            None => return Err("it has no server identifier".into()),
            Some(v) => Duid::from_bytes(v).ok_or_else(|| {
                format!("its server identifier has {} octets, not 3 to 130", v.len())
            })?,
        };
        let status = self.option(code::STATUS_CODE).and_then(|v| {
            let s = decode_status(v);
            if s.is_none() {
                warnings.push("a malformed status code: ignored".into());
            }
            s
        });
        let ia = self.ia_na(iaid, &mut warnings);
        let others = self
            .options(code::IA_NA)
            .filter(|v| v.len() < 4 || u32_at(v, 0) != iaid)
            .count();
        if others > 0 {
            warnings.push(format!(
                "{others} IA_NA option(s) for another IAID or malformed: ignored"
            ));
        }
        let mut addrs: Vec<Address6> = Vec::new();
        let mut withdrawn = Vec::new();
        let (mut t1, mut t2) = (0, 0);
        if let Some(ia) = &ia {
            let mut extra = 0;
            for a in &ia.addrs {
                if !is_lease_address(a.addr) {
                    warnings.push(format!(
                        "the address {} is {}: refused",
                        a.addr,
                        not_lease_why(a.addr)
                    ));
                } else if let Some(s) = a.status.as_ref().filter(|s| !s.is_success()) {
                    warnings.push(format!(
                        "the address {} carries status {:?} ({}): dropped",
                        a.addr, s.code, s.message
                    ));
                } else if a.preferred > a.valid {
                    warnings.push(format!(
                        "the address {} has a preferred lifetime ({} s) above its valid lifetime ({} s): discarded (RFC 8415 §21.6)",
                        a.addr, a.preferred, a.valid
                    ));
                } else if a.valid == 0 {
                    if !withdrawn.contains(&a.addr) {
                        withdrawn.push(a.addr);
                    }
                } else if addrs.iter().any(|x| x.addr == a.addr) {
                    warnings.push(format!("the address {} is listed twice", a.addr));
                } else if addrs.len() == MAX_ADDRS {
                    extra += 1;
                } else {
                    addrs.push(Address6 {
                        addr: a.addr,
                        preferred: a.preferred,
                        valid: a.valid,
                    });
                }
            }
            if extra > 0 {
                warnings.push(format!(
                    "{extra} address(es) past the first {MAX_ADDRS}: dropped"
                ));
            }
            let (a, b, insane) = ia_timers(ia.t1, ia.t2, &addrs);
            if insane {
                warnings.push(format!(
                    "T1 ({} s) is above T2 ({} s): both ignored, the client's choice taken",
                    ia.t1, ia.t2
                ));
            }
            (t1, t2) = (a, b);
        }
        let dns = self.dns_servers(&mut warnings);
        let search = match self.option(code::DOMAIN_LIST) {
            None => Vec::new(),
            Some(v) => match decode_names(v, MAX_DOMAINS) {
                Ok((names, extra)) => {
                    if extra > 0 {
                        warnings.push(format!(
                            "{extra} search domain(s) past the first {MAX_DOMAINS}: dropped"
                        ));
                    }
                    names
                }
                Err(e) => {
                    warnings.push(format!(
                        "the domain list (option 24) is malformed ({e}): dropped"
                    ));
                    Vec::new()
                }
            },
        };
        let unicast = match self.option(code::UNICAST) {
            None => None,
            Some(v) => match ip6_of(v) {
                Some(a) if is_lease_address(a) => Some(a),
                Some(a) => {
                    warnings.push(format!(
                        "the server unicast address {a} is {}: ignored",
                        not_lease_why(a)
                    ));
                    None
                }
                None => {
                    warnings.push("the server unicast option is malformed: ignored".into());
                    None
                }
            },
        };
        if matches!(self.option(code::PREFERENCE), Some(v) if v.len() != 1) {
            warnings.push("the preference option is malformed: taken as 0".into());
        }
        let refresh_time = self
            .option(code::INFORMATION_REFRESH_TIME)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map(|b| u32::from_be_bytes(b).max(IRT_MINIMUM));
        let fqdn = self.option(code::CLIENT_FQDN).and_then(|v| {
            let (&flags, name) = v.split_first()?;
            let name = if name.is_empty() {
                None
            } else {
                // A partial name has no terminating zero: add it to read.
                let mut n = name.to_vec();
                if n.last() != Some(&0) {
                    n.push(0);
                }
                decode_names(&n, 1)
                    .ok()
                    .and_then(|(v, _)| v.into_iter().next())
            };
            Some(ServerFqdn { flags, name })
        });
        Ok(Checked {
            params: Params6 {
                server_id,
                iaid,
                addrs,
                withdrawn,
                t1,
                t2,
                preference: self.preference(),
                unicast,
                dns,
                search,
                sol_max_rt: self.max_rt(code::SOL_MAX_RT, "SOL_MAX_RT", &mut warnings),
                inf_max_rt: self.max_rt(code::INF_MAX_RT, "INF_MAX_RT", &mut warnings),
                refresh_time,
                rapid_commit: self.rapid_commit(),
                fqdn,
            },
            status,
            ia_present: ia.is_some(),
            ia_status: ia.and_then(|i| i.status),
            warnings,
        })
    }

    /// DNS_SERVERS (option 23): global or unique-local addresses, at most
    /// `MAX_DNS`, duplicates dropped.
    fn dns_servers(&self, warnings: &mut Vec<String>) -> Vec<Ipv6Addr> {
        let Some(v) = self.option(code::DNS_SERVERS) else {
            return Vec::new();
        };
        if v.is_empty() || !v.len().is_multiple_of(16) {
            warnings.push("the DNS server list (option 23) is malformed: dropped".into());
            return Vec::new();
        }
        let mut out = Vec::new();
        for c in v.chunks_exact(16) {
            let Some(a) = ip6_of(c) else { continue };
            if !is_lease_address(a) {
                warnings.push(format!("DNS server {a} is {}: dropped", not_lease_why(a)));
            } else if out.len() == MAX_DNS {
                warnings.push(format!("DNS servers past the first {MAX_DNS}: dropped"));
                break;
            } else if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dhcp6::message::{self, Identity, put_option};
    use crate::net::mac::Mac;
    use proptest::prelude::*;

    pub const MAC: Mac = Mac([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
    pub const SERVER_DUID: [u8; 14] = [0, 1, 0, 1, 0x2c, 0x5e, 0x11, 0x22, 2, 0, 0, 0, 0, 1];

    pub fn ident() -> Identity {
        Identity::new(MAC)
    }

    pub fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    pub fn iaaddr(addr: Ipv6Addr, pref: u32, valid: u32, sub: &[u8]) -> Vec<u8> {
        let mut v = addr.octets().to_vec();
        v.extend_from_slice(&pref.to_be_bytes());
        v.extend_from_slice(&valid.to_be_bytes());
        v.extend_from_slice(sub);
        let mut o = Vec::new();
        put_option(&mut o, code::IAADDR, &v);
        o
    }

    pub fn ia(iaid: u32, t1: u32, t2: u32, inner: &[Vec<u8>]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&iaid.to_be_bytes());
        v.extend_from_slice(&t1.to_be_bytes());
        v.extend_from_slice(&t2.to_be_bytes());
        for i in inner {
            v.extend_from_slice(i);
        }
        v
    }

    pub fn status(c: u16, msg: &str) -> Vec<u8> {
        let mut v = c.to_be_bytes().to_vec();
        v.extend_from_slice(msg.as_bytes());
        v
    }

    pub fn opt(c: u16, data: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        put_option(&mut o, c, data);
        o
    }

    /// A server's message: type, xid, options given as (code, data).
    pub fn msg(t: u8, xid: u32, opts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![t];
        b.extend_from_slice(&xid.to_be_bytes()[1..]);
        for (c, d) in opts {
            put_option(&mut b, *c, d);
        }
        b
    }

    /// A sane REPLY for `ident()` granting `addr` with these lifetimes.
    pub fn reply_granting(t: u8, xid: u32, addr: Ipv6Addr, pref: u32, valid: u32) -> Vec<u8> {
        let id = ident();
        msg(
            t,
            xid,
            &[
                (code::CLIENTID, id.duid.as_bytes().to_vec()),
                (code::SERVERID, SERVER_DUID.to_vec()),
                (
                    code::IA_NA,
                    ia(id.iaid, 0, 0, &[iaaddr(addr, pref, valid, &[])]),
                ),
            ],
        )
    }

    fn checked(b: &[u8]) -> Checked {
        Reply6::parse(b).unwrap().check(ident().iaid).unwrap()
    }

    pub fn unhex(h: &str) -> Vec<u8> {
        (0..h.len() / 2)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    /// What dnsmasq 2.90 (the FIELD-NOTES lab: range 2001:db8:77::100-1ff,
    /// 600 s, DNS 2001:db8:77::53, search lab.example) answered to the
    /// SOLICIT of `message::tests::a_solicit_has_these_bytes` (xid ed26f6)
    /// for MAC 02:42:ac:11:00:02, captured on the client's veth.
    pub const DNSMASQ_ADVERTISE: &str = concat!(
        "02ed26f6",
        "0001000a000300010242ac110002",
        "0002000e0001000132a5dae2e2ba98632212",
        "00030028ac1100020000012c0000020d",
        "0005001820010db800770000000000000000012d0000025800000258",
        "000d0009000073756363657373",
        "0007000100",
        "0018000d036c6162076578616d706c6500",
        "0017001020010db8007700000000000000000053",
        "0027000701057765622d31"
    );

    /// What kea-dhcp6 2.2 (2001:db8:77::200-2ff, preferred 400 s, valid
    /// 600 s, T1 100 s, T2 200 s, rapid commit on, DDNS off) answered to a
    /// SOLICIT with rapid commit (xid e2fc6e) for MAC 02:42:ac:11:00:03.
    pub const KEA_RAPID_REPLY: &str = concat!(
        "07e2fc6e",
        "0001000a000300010242ac110003",
        "0002000e0001000132a5dbfab64227b1903a",
        "00030028ac11000300000064000000c8",
        "0005001820010db80077000000000000000002000000019000000258",
        "000e0000",
        "0017001020010db8007700000000000000000053",
        "0018000d036c6162076578616d706c6500",
        "0027000806057765622d3100"
    );

    /// kea's answer to a RELEASE of that lease.
    pub const KEA_RELEASE_REPLY: &str = concat!(
        "0776c544",
        "0001000a000300010242ac110003",
        "0002000e0001000132a5dbfab64227b1903a",
        "0003003fac1100030000000000000000",
        "000d002f00004c656173652072656c65617365642e205468616e6b20796f752c20706c6561736520636f6d6520616761696e2e",
        "000d0029000053756d6d6172792073746174757320666f7220616c6c2070726f6365737365642049415f4e4173"
    );

    #[test]
    fn dnsmasqs_advertise_reads_as_it_was_seen_in_the_lab() {
        let r = Reply6::parse(&unhex(DNSMASQ_ADVERTISE)).unwrap();
        assert_eq!(
            (r.message_type(), r.xid),
            (Some(MessageType::Advertise), 0xed26f6)
        );
        assert_eq!(r.client_id(), Some(ident().duid.as_bytes()));
        let c = r.check(ident().iaid).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert!(c.failure().is_none());
        let p = c.params;
        assert_eq!(
            p.server_id.to_string(),
            "00:01:00:01:32:a5:da:e2:e2:ba:98:63:22:12"
        );
        assert_eq!(
            p.addrs,
            vec![Address6 {
                addr: a("2001:db8:77::12d"),
                preferred: 600,
                valid: 600
            }]
        );
        assert_eq!((p.t1, p.t2), (300, 525), "dnsmasq's own T1/T2 are kept");
        assert_eq!(
            (p.dns, p.search),
            (vec![a("2001:db8:77::53")], vec!["lab.example".to_string()])
        );
        assert_eq!(
            p.fqdn,
            Some(ServerFqdn {
                flags: 1,
                name: Some("web-1".into())
            }),
            "S kept: the name is registered"
        );
    }

    #[test]
    fn keas_rapid_commit_reply_and_release_reply_read_as_they_were_seen_in_the_lab() {
        let mac3 = Mac([0x02, 0x42, 0xac, 0x11, 0x00, 0x03]);
        let id = Identity::new(mac3);
        let r = Reply6::parse(&unhex(KEA_RAPID_REPLY)).unwrap();
        assert!(r.rapid_commit());
        let c = r.check(id.iaid).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(
            c.params.addrs,
            vec![Address6 {
                addr: a("2001:db8:77::200"),
                preferred: 400,
                valid: 600
            }]
        );
        assert_eq!((c.params.t1, c.params.t2), (100, 200));
        // DDNS off: kea overrides S (O) and says it does no update (N);
        // it answers the partial name as the full "web-1.".
        assert_eq!(
            c.params.fqdn,
            Some(ServerFqdn {
                flags: 6,
                name: Some("web-1".into())
            })
        );
        let r = Reply6::parse(&unhex(KEA_RELEASE_REPLY)).unwrap();
        let c = r.check(id.iaid).unwrap();
        assert_eq!(c.status.map(|s| s.code), Some(StatusCode::Success));
        assert_eq!(
            c.ia_status.map(|s| s.message),
            Some("Lease released. Thank you, please come again.".into())
        );
        assert!(c.params.addrs.is_empty());
    }

    #[test]
    fn a_sane_reply_gives_every_parameter() {
        let id = ident();
        let mut dom = Vec::new();
        dom.extend_from_slice(b"\x03lab\x07example\x00\x03dev\x07example\x00");
        let b = msg(
            7,
            0x123456,
            &[
                (code::CLIENTID, id.duid.as_bytes().to_vec()),
                (code::SERVERID, SERVER_DUID.to_vec()),
                (
                    code::IA_NA,
                    ia(
                        id.iaid,
                        300,
                        480,
                        &[iaaddr(a("2001:db8:77::150"), 600, 900, &[])],
                    ),
                ),
                (code::DNS_SERVERS, a("2001:db8:77::53").octets().to_vec()),
                (code::DOMAIN_LIST, dom),
                (code::PREFERENCE, vec![10]),
                (code::SOL_MAX_RT, 120u32.to_be_bytes().to_vec()),
                (code::CLIENT_FQDN, b"\x00\x05web-1\x03lab\x00".to_vec()),
            ],
        );
        let r = Reply6::parse(&b).unwrap();
        assert_eq!(
            (r.message_type(), r.xid),
            (Some(MessageType::Reply), 0x123456)
        );
        assert_eq!(r.client_id(), Some(id.duid.as_bytes()));
        let c = r.check(id.iaid).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let p = &c.params;
        assert_eq!(p.ip(), Some(a("2001:db8:77::150")));
        assert_eq!((p.t1, p.t2, p.lease_time()), (300, 480, 900));
        assert_eq!(p.dns, vec![a("2001:db8:77::53")]);
        assert_eq!(p.search, vec!["lab.example", "dev.example"]);
        assert_eq!((p.preference, p.sol_max_rt), (10, Some(120)));
        assert_eq!(p.server_id.as_bytes(), &SERVER_DUID);
        assert_eq!(
            p.fqdn,
            Some(ServerFqdn {
                flags: 0,
                name: Some("web-1.lab".into())
            })
        );
        assert!(c.failure().is_none() && c.ia_present);
    }

    #[test]
    fn a_reply_without_a_server_identifier_or_with_a_short_one_is_refused() {
        let id = ident();
        let b = msg(
            7,
            1,
            &[
                (code::CLIENTID, id.duid.as_bytes().to_vec()),
                (
                    code::IA_NA,
                    ia(id.iaid, 0, 0, &[iaaddr(a("2001:db8::5"), 60, 120, &[])]),
                ),
            ],
        );
        assert!(Reply6::parse(&b).unwrap().check(id.iaid).is_err());
        let b = msg(7, 1, &[(code::SERVERID, vec![0, 1])]);
        let e = Reply6::parse(&b).unwrap().check(id.iaid).unwrap_err();
        assert!(e.contains("2 octets"), "{e}");
    }

    #[test]
    fn addresses_that_are_not_global_or_unique_local_unicast_are_refused() {
        for bad in [
            "ff02::1:2",
            "ff05::5",
            "fe80::1",
            "::1",
            "::",
            "::ffff:10.0.0.5",
            "::10.0.0.5",
            "fec0::5",
            "100::5",
            "2001:db8:77::",
            "fd00:1::",
        ] {
            let c = checked(&reply_granting(7, 1, a(bad), 60, 120));
            assert!(c.params.addrs.is_empty(), "{bad} was accepted");
            assert_eq!(c.warnings.len(), 1, "{bad}: {:?}", c.warnings);
        }
        for good in [
            "2001:db8:77::150",
            "fd12:3456::1",
            "2a00:1450::5",
            "3fff::1",
        ] {
            let c = checked(&reply_granting(7, 1, a(good), 60, 120));
            assert_eq!(c.params.ip(), Some(a(good)), "{good}");
        }
    }

    #[test]
    fn an_address_preferred_longer_than_it_is_valid_is_discarded() {
        let c = checked(&reply_granting(7, 1, a("2001:db8::5"), 121, 120));
        assert!(c.params.addrs.is_empty());
        assert!(c.warnings[0].contains("21.6"), "{:?}", c.warnings);
    }

    #[test]
    fn an_address_with_a_valid_lifetime_of_zero_is_withdrawn_not_granted() {
        let c = checked(&reply_granting(7, 1, a("2001:db8::5"), 0, 0));
        assert!(c.params.addrs.is_empty());
        assert_eq!(c.params.withdrawn, vec![a("2001:db8::5")]);
        assert_eq!((c.params.t1, c.params.t2), (0, 0));
    }

    #[test]
    fn t1_and_t2_of_zero_are_half_and_four_fifths_of_the_shortest_preferred_lifetime() {
        let ad = |p, v| Address6 {
            addr: a("2001:db8::5"),
            preferred: p,
            valid: v,
        };
        assert_eq!(ia_timers(0, 0, &[ad(600, 900)]), (300, 480, false));
        assert_eq!(
            ia_timers(0, 0, &[ad(600, 900), ad(100, 900)]),
            (50, 80, false)
        );
        assert_eq!(ia_timers(0, 400, &[ad(600, 900)]), (300, 400, false));
        assert_eq!(ia_timers(0, 200, &[ad(600, 900)]), (200, 200, false));
        assert_eq!(ia_timers(500, 0, &[ad(600, 900)]), (500, 500, false));
        // Deprecated addresses: the valid lifetime is the base.
        assert_eq!(ia_timers(0, 0, &[ad(0, 1000)]), (500, 800, false));
    }

    #[test]
    fn t1_above_t2_is_ignored_and_the_clients_choice_taken() {
        let addr = Address6 {
            addr: a("2001:db8::5"),
            preferred: 600,
            valid: 900,
        };
        assert_eq!(
            ia_timers(500, 400, std::slice::from_ref(&addr)),
            (300, 480, true)
        );
        let id = ident();
        let b = msg(
            7,
            1,
            &[
                (code::SERVERID, SERVER_DUID.to_vec()),
                (
                    code::IA_NA,
                    ia(id.iaid, 500, 400, &[iaaddr(addr.addr, 600, 900, &[])]),
                ),
            ],
        );
        let c = checked(&b);
        assert_eq!(c.params.ip(), Some(addr.addr), "the address is kept");
        assert_eq!((c.params.t1, c.params.t2), (300, 480));
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    }

    #[test]
    fn infinite_lifetimes_and_timers_never_overflow() {
        let inf = Address6 {
            addr: a("2001:db8::5"),
            preferred: INFINITY,
            valid: INFINITY,
        };
        assert_eq!(
            ia_timers(0, 0, std::slice::from_ref(&inf)),
            (INFINITY, INFINITY, false)
        );
        assert_eq!(
            ia_timers(100, 0, std::slice::from_ref(&inf)),
            (100, INFINITY, false)
        );
        assert_eq!(
            ia_timers(INFINITY, INFINITY, &[inf]),
            (INFINITY, INFINITY, false)
        );
        let big = Address6 {
            addr: a("2001:db8::5"),
            preferred: INFINITY - 1,
            valid: INFINITY - 1,
        };
        let (t1, t2, _) = ia_timers(0, 0, &[big]);
        assert!(t1 < t2 && t2 < INFINITY - 1);
    }

    #[test]
    fn a_t2_at_or_past_the_valid_lifetime_is_brought_before_expiry() {
        let ad = Address6 {
            addr: a("2001:db8::5"),
            preferred: 600,
            valid: 900,
        };
        assert_eq!(
            ia_timers(800, 1000, std::slice::from_ref(&ad)),
            (450, 720, false)
        );
        assert_eq!(ia_timers(INFINITY, INFINITY, &[ad]), (450, 720, false));
    }

    #[test]
    fn status_codes_are_read_at_the_top_and_inside_the_ia() {
        let id = ident();
        let b = msg(
            2,
            1,
            &[
                (code::SERVERID, SERVER_DUID.to_vec()),
                (
                    code::IA_NA,
                    ia(
                        id.iaid,
                        0,
                        0,
                        &[opt(code::STATUS_CODE, &status(2, "no addresses\n\x1b[2J"))],
                    ),
                ),
            ],
        );
        let c = checked(&b);
        assert_eq!(
            c.ia_status,
            Some(Status {
                code: StatusCode::NoAddrsAvail,
                message: "no addresses[2J".into()
            })
        );
        assert_eq!(c.failure().map(|s| s.code), Some(StatusCode::NoAddrsAvail));
        let b = msg(
            7,
            1,
            &[
                (code::SERVERID, SERVER_DUID.to_vec()),
                (code::STATUS_CODE, status(5, "use multicast")),
            ],
        );
        let c = checked(&b);
        assert_eq!(c.status.map(|s| s.code), Some(StatusCode::UseMulticast));
        assert!(!c.ia_present);
        for (n, want) in [
            (0, StatusCode::Success),
            (1, StatusCode::UnspecFail),
            (3, StatusCode::NoBinding),
            (4, StatusCode::NotOnLink),
            (6, StatusCode::NoPrefixAvail),
            (99, StatusCode::Other(99)),
        ] {
            assert_eq!(StatusCode::from_u16(n), want);
        }
    }

    #[test]
    fn one_bad_option_is_dropped_alone() {
        let id = ident();
        let b = msg(
            7,
            1,
            &[
                (code::DNS_SERVERS, vec![1, 2, 3]),
                (code::DOMAIN_LIST, b"\x03lab\xc0\x00".to_vec()),
                (code::CLIENTID, id.duid.as_bytes().to_vec()),
                (code::SOL_MAX_RT, vec![0, 0, 0, 5]),
                (code::UNICAST, vec![0xff; 15]),
                (code::PREFERENCE, vec![1, 2]),
                (code::SERVERID, SERVER_DUID.to_vec()),
                (
                    code::IA_NA,
                    ia(
                        id.iaid,
                        0,
                        0,
                        &[
                            opt(code::IAADDR, &[0x20; 20]),
                            iaaddr(a("2001:db8::7"), 60, 120, &[]),
                        ],
                    ),
                ),
            ],
        );
        let c = checked(&b);
        assert_eq!(c.params.ip(), Some(a("2001:db8::7")));
        assert!(c.params.dns.is_empty() && c.params.search.is_empty());
        assert_eq!(
            (c.params.sol_max_rt, c.params.unicast, c.params.preference),
            (None, None, 0)
        );
        assert_eq!(c.warnings.len(), 6, "{:#?}", c.warnings);
    }

    #[test]
    fn an_option_longer_than_the_message_ends_the_walk_and_what_came_before_counts() {
        let mut b = reply_granting(7, 1, a("2001:db8::5"), 60, 120);
        b.extend_from_slice(&[0, 23, 0x10, 0]); // DNS servers, 4096 octets
        b.extend_from_slice(&[0; 16]);
        let c = checked(&b);
        assert_eq!(c.params.ip(), Some(a("2001:db8::5")));
        assert!(c.params.dns.is_empty());
        assert!(c.warnings[0].contains("4096"), "{:?}", c.warnings);
    }

    #[test]
    fn every_list_is_bounded_with_a_warning() {
        let id = ident();
        let addrs: Vec<Vec<u8>> = (1..=20u16)
            .map(|i| iaaddr(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i), 60, 120, &[]))
            .collect();
        let dns: Vec<u8> = (1..=20u16)
            .flat_map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0x53, i).octets())
            .collect();
        let names: Vec<u8> = (0..20u8).flat_map(|i| [1, b'a' + i, 0]).collect();
        let mut opts = vec![
            (code::SERVERID, SERVER_DUID.to_vec()),
            (code::IA_NA, ia(id.iaid, 0, 0, &addrs[..12])),
            (code::DNS_SERVERS, dns),
            (code::DOMAIN_LIST, names),
        ];
        for _ in 0..MAX_OPTIONS {
            opts.push((999, vec![]));
        }
        let c = checked(&msg(7, 1, &opts));
        assert_eq!(c.params.addrs.len(), MAX_ADDRS);
        assert_eq!(c.params.dns.len(), MAX_DNS);
        assert_eq!(c.params.search.len(), MAX_DOMAINS);
        for needle in ["address(es)", "DNS", "search", "options"] {
            assert!(
                c.warnings.iter().any(|w| w.contains(needle)),
                "no warning about {needle}: {:?}",
                c.warnings
            );
        }
        // Options inside one IA_NA are bounded too.
        let c = checked(&msg(
            7,
            1,
            &[
                (code::SERVERID, SERVER_DUID.to_vec()),
                (code::IA_NA, ia(id.iaid, 0, 0, &addrs)),
            ],
        ));
        assert!(
            c.warnings.iter().any(|w| w.contains("IA_NA")),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn an_ia_na_for_another_iaid_is_not_ours() {
        let b = msg(
            7,
            1,
            &[
                (code::SERVERID, SERVER_DUID.to_vec()),
                (
                    code::IA_NA,
                    ia(7, 0, 0, &[iaaddr(a("2001:db8::9"), 60, 120, &[])]),
                ),
            ],
        );
        let c = checked(&b);
        assert!(!c.ia_present && c.params.addrs.is_empty());
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn sol_max_rt_outside_60_to_86400_is_ignored() {
        for (v, want) in [
            (59u32, None),
            (60, Some(60)),
            (86400, Some(86400)),
            (86401, None),
        ] {
            let b = msg(2, 1, &[(code::SOL_MAX_RT, v.to_be_bytes().to_vec())]);
            assert_eq!(Reply6::parse(&b).unwrap().sol_max_rt(), want, "{v}");
        }
    }

    #[test]
    fn the_domain_list_refuses_compression_and_truncation() {
        assert_eq!(
            decode_names(b"\x03lab\x00\x03dev\x03lab\x00", 8).unwrap().0,
            vec!["lab", "dev.lab"]
        );
        assert!(decode_names(b"\x03lab\xc0\x00", 8).is_err());
        assert!(decode_names(b"\x03la", 8).is_err());
        assert!(decode_names(b"\x03lab", 8).is_err(), "no terminating zero");
        assert_eq!(
            decode_names(b"\x04l\x1bab\x00\x03lab\x00", 8).unwrap().0,
            vec!["lab"],
            "an invalid name is skipped"
        );
        let long: Vec<u8> = (0..5)
            .flat_map(|_| {
                let mut l = vec![63u8];
                l.extend_from_slice(&[b'a'; 63]);
                l
            })
            .chain([0])
            .collect();
        assert!(decode_names(&long, 8).is_err(), "a name over 255 octets");
    }

    #[test]
    fn our_own_messages_parse_back() {
        let m = message::solicit(0x42, &ident(), Some(a("2001:db8::1")), true);
        let r = Reply6::parse(&m.encode()).unwrap();
        assert_eq!(
            (r.message_type(), r.xid),
            (Some(MessageType::Solicit), 0x42)
        );
        assert!(r.rapid_commit());
        assert_eq!(r.client_id(), Some(ident().duid.as_bytes()));
        let mut w = Vec::new();
        let ia = r.ia_na(ident().iaid, &mut w).unwrap();
        assert_eq!(ia.addrs[0].addr, a("2001:db8::1"));
        assert!(Reply6::parse(&[7, 0, 0]).is_none());
    }

    /// Mutate a valid reply: flip, cut, insert and overwrite bytes.
    fn mutated(base: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
        let mut b = base;
        for &(at, kind, val) in edits {
            if b.is_empty() {
                break;
            }
            let i = at % b.len();
            match kind % 4 {
                0 => b[i] ^= val,
                1 => b.truncate(i),
                2 => b.insert(i, val),
                _ => b[i] = val,
            }
        }
        b
    }

    fn check_invariants(b: &[u8]) -> Result<(), TestCaseError> {
        if let Some(r) = Reply6::parse(b) {
            let _ = (r.message_type(), r.status(), r.preference(), r.sol_max_rt());
            if let Ok(c) = r.check(ident().iaid) {
                prop_assert!(c.params.addrs.len() <= MAX_ADDRS);
                prop_assert!(c.params.dns.len() <= MAX_DNS);
                prop_assert!(c.params.search.len() <= MAX_DOMAINS);
                for ad in &c.params.addrs {
                    prop_assert!(is_lease_address(ad.addr));
                    prop_assert!(ad.preferred <= ad.valid && ad.valid > 0);
                }
                prop_assert!(c.params.t1 <= c.params.t2);
                if c.params.lease_time() != INFINITY && !c.params.addrs.is_empty() {
                    prop_assert!(c.params.t2 < c.params.lease_time());
                }
                for w in &c.warnings {
                    prop_assert!(!w.chars().any(char::is_control), "{w:?}");
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]
        #[test]
        fn any_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            check_invariants(&b)?;
        }

        #[test]
        fn mutated_valid_replies_never_panic_and_keep_the_invariants(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
            pref in any::<u32>(),
            valid in any::<u32>(),
        ) {
            let base = reply_granting(7, 1, a("2001:db8:77::150"), pref, valid);
            check_invariants(&mutated(base, &edits))?;
        }

        #[test]
        fn random_options_inside_an_ia_never_panic(
            inner in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..12),
            t1 in any::<u32>(),
            t2 in any::<u32>(),
        ) {
            let id = ident();
            let inner: Vec<Vec<u8>> = inner.iter().map(|(c, d)| opt(*c % 16, d)).collect();
            let b = msg(7, 1, &[
                (code::SERVERID, SERVER_DUID.to_vec()),
                (code::IA_NA, ia(id.iaid, t1, t2, &inner)),
            ]);
            check_invariants(&b)?;
        }
    }
}
