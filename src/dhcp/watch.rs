//! A passive view of DHCP on a segment (`dhcpnet watch`), like dhcpdump:
//! every DHCP message seen on the interface, clients' and servers', decoded
//! into one `Seen` each. It sends nothing: the socket is a `Sniffer`, which
//! cannot send. Everything read is untrusted; strings are cleaned.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::reply::Bootreply;
use super::request::Bootrequest;
use super::transport::{CLIENT_PORT, SERVER_PORT};
use crate::error::{Error, Result};
use crate::net::frame;
use crate::net::iface::Interface;
use crate::net::mac::Mac;
use crate::net::packet::Sniffer;

/// One DHCP message seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// When it was seen (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// `DISCOVER`, `OFFER`, `REQUEST`, `DECLINE`, `ACK`, `NAK`, `RELEASE`,
    /// `INFORM`, or `BOOTP` (no option 53), or `TYPE-n` for others.
    #[serde(rename = "type")]
    pub kind: String,
    /// `client` (a BOOTREQUEST) or `server` (a BOOTREPLY).
    pub from: &'static str,
    /// Transaction id, as 0x-prefixed hex.
    pub xid: String,
    /// The client's MAC (`chaddr`), when the header describes one.
    pub client_mac: Option<Mac>,
    pub src_mac: Mac,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    /// What a client asks for (option 50, else `ciaddr`).
    pub requested_ip: Option<Ipv4Addr>,
    /// What a server offers or acknowledges (`yiaddr`).
    pub offered_ip: Option<Ipv4Addr>,
    /// Option 54 (for a reply without it, the datagram's source address).
    pub server_id: Option<Ipv4Addr>,
    /// Option 12, cleaned.
    pub hostname: Option<String>,
    /// Option 51, in seconds.
    pub lease_time: Option<u32>,
    /// Option 56 (a NAK's reason), cleaned.
    pub message: Option<String>,
    /// A reply from a server not seen before on this watch while another
    /// was (a second server on the segment).
    pub new_server: bool,
}

fn type_name(t: Option<u8>) -> String {
    match t {
        None => "BOOTP".into(),
        Some(1) => "DISCOVER".into(),
        Some(2) => "OFFER".into(),
        Some(3) => "REQUEST".into(),
        Some(4) => "DECLINE".into(),
        Some(5) => "ACK".into(),
        Some(6) => "NAK".into(),
        Some(7) => "RELEASE".into(),
        Some(8) => "INFORM".into(),
        Some(n) => format!("TYPE-{n}"),
    }
}

fn u32_opt(m: &Bootreply, code: u8) -> Option<u32> {
    m.option(code)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map(u32::from_be_bytes)
}

/// Decode one Ethernet frame into what a person needs to see, or None when
/// it is not a DHCP message between ports 67 and 68. Pure; never panics.
pub fn decode(frame_bytes: &[u8], time: String) -> Option<Seen> {
    let udp = frame::parse_udp(frame_bytes)?;
    let ports = (udp.src_port, udp.dst_port);
    let from_client = ports == (CLIENT_PORT, SERVER_PORT);
    // Relays talk 67 -> 67; servers answer 67 -> 68.
    let from_server =
        udp.src_port == SERVER_PORT && matches!(udp.dst_port, CLIENT_PORT | SERVER_PORT);
    if !from_client && !from_server {
        return None;
    }
    let m = Bootreply::parse(udp.payload)?;
    let kind_code = match m.option(53) {
        Some([t]) => Some(*t),
        _ => None,
    };
    let mut seen = Seen {
        time,
        kind: type_name(kind_code),
        from: "client",
        xid: format!("{:#010x}", m.xid),
        client_mac: m.client_mac(),
        src_mac: udp.src_mac,
        src_ip: udp.src_ip,
        dst_ip: udp.dst_ip,
        requested_ip: None,
        offered_ip: None,
        server_id: None,
        hostname: None,
        lease_time: u32_opt(&m, 51),
        message: m.server_message(),
        new_server: false,
    };
    if m.op == 1 {
        let r = Bootrequest { msg: m };
        seen.requested_ip = r.requested_ip();
        seen.server_id = r.server_id();
        seen.hostname = r.hostname();
    } else if m.op == 2 {
        seen.from = "server";
        seen.offered_ip = (!m.yiaddr.is_unspecified()).then_some(m.yiaddr);
        seen.server_id = m
            .option(54)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map(Ipv4Addr::from)
            .or(Some(udp.src_ip).filter(|ip| !ip.is_unspecified()));
        seen.hostname = m
            .option(12)
            .map(super::reply::clean_text)
            .filter(|s| !s.is_empty());
    } else {
        return None;
    }
    Some(seen)
}

/// Server ids a watch remembers. Past this many, further ones are neither
/// remembered nor warned about one by one (a flood of forged replies with
/// random server ids must not grow memory or the log): one warning says so,
/// and their replies are still printed, flagged as from another server.
pub const MAX_SERVERS: usize = 64;

/// What a reply says about the servers heard so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Not a server's reply, or a server already heard.
    Known,
    /// The first server heard on this watch.
    First,
    /// A server not heard before while another was (the `n`th).
    New(usize),
    /// A server id not among the `MAX_SERVERS` remembered; `first` for the
    /// first such reply of the watch.
    Untracked { first: bool },
}

/// The servers a watch has heard, to flag a second one (at most
/// `MAX_SERVERS`).
#[derive(Debug, Default)]
pub struct Servers {
    seen: BTreeMap<Ipv4Addr, Mac>,
    first: Option<(Ipv4Addr, Mac)>,
    overflowed: bool,
}

impl Servers {
    /// Note a reply: whether it comes from a server not heard before.
    pub fn note(&mut self, s: &Seen) -> Heard {
        if s.from != "server" {
            return Heard::Known;
        }
        let Some(id) = s.server_id else {
            return Heard::Known;
        };
        if self.seen.contains_key(&id) {
            return Heard::Known;
        }
        if self.seen.len() >= MAX_SERVERS {
            let first = !self.overflowed;
            self.overflowed = true;
            return Heard::Untracked { first };
        }
        let first = self.seen.is_empty();
        if first {
            self.first = Some((id, s.src_mac));
        }
        self.seen.insert(id, s.src_mac);
        if first {
            Heard::First
        } else {
            Heard::New(self.seen.len())
        }
    }

    /// The first server heard, "ADDRESS (MAC)".
    pub fn first(&self) -> Option<String> {
        self.first.map(|(ip, mac)| format!("{ip} ({mac})"))
    }

    /// How many servers are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// Warnings about new servers logged per `NEW_SERVER_LOG_PERIOD` (more are
/// counted, and the next one logged says how many were left out).
pub const NEW_SERVER_WARNINGS: u32 = 10;
pub const NEW_SERVER_LOG_PERIOD: Duration = Duration::from_secs(60);

/// "2nd", "3rd", "11th" ...
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// When to stop watching.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub timeout: Option<Duration>,
    pub count: Option<u64>,
}

/// Watch `iface` until a limit is reached, calling `on_seen` for each DHCP
/// message (with `new_server` set and a warning logged for a second
/// server). Returns how many messages were seen.
pub async fn watch(
    iface: &Interface,
    limits: &Limits,
    mut on_seen: impl FnMut(&Seen) -> Result<()>,
) -> Result<u64> {
    let sock = Sniffer::open(iface.index).map_err(|e| {
        Error::from_os(
            &format!("opening a receive-only packet socket on {}", iface.name),
            e,
            "CAP_NET_RAW",
        )
    })?;
    let end = limits.timeout.map(|t| Instant::now() + t);
    let mut servers = Servers::default();
    let mut warnings = crate::logging::Throttle::new(NEW_SERVER_WARNINGS, NEW_SERVER_LOG_PERIOD);
    let mut buf = vec![0u8; 65536];
    let mut n = 0u64;
    loop {
        if limits.count.is_some_and(|c| n >= c) {
            break;
        }
        let recv = sock.recv(&mut buf);
        let got = match end {
            Some(end) => match tokio::time::timeout_at(end.into(), recv).await {
                Ok(r) => r,
                Err(_) => break,
            },
            None => recv.await,
        };
        let len = got.map_err(|e| {
            Error::from_os(&format!("receiving on {}", iface.name), e, "CAP_NET_RAW")
        })?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let Some(mut seen) = buf.get(..len).and_then(|f| decode(f, now)) else {
            continue;
        };
        match servers.note(&seen) {
            Heard::Known | Heard::First => {}
            Heard::New(n) => {
                seen.new_server = true;
                if let Some(left_out) = warnings.allow() {
                    log::warn!(
                        "another DHCP server answers on {}: {} ({}), the {} heard (the first: {}). \
                         More than one server on a segment is often a rogue one{}",
                        iface.name,
                        seen.server_id.map(|i| i.to_string()).unwrap_or_default(),
                        seen.src_mac,
                        ordinal(n),
                        servers.first().unwrap_or_default(),
                        crate::logging::left_out_note(left_out)
                    );
                }
            }
            Heard::Untracked { first } => {
                seen.new_server = true;
                if first {
                    log::warn!(
                        "more than {MAX_SERVERS} DHCP server ids heard on {}: a flood of forged \
                         replies? Further server ids are not remembered or warned about (their \
                         replies are still shown, flagged as from another server)",
                        iface.name
                    );
                }
            }
        }
        on_seen(&seen)?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::message::{self, Identity};
    use crate::net::frame::{UdpFrame, build_udp};
    use proptest::prelude::*;

    fn framed(payload: &[u8], src_port: u16, dst_port: u16) -> Vec<u8> {
        build_udp(&UdpFrame {
            src_mac: Mac([2, 0, 0, 0, 0, 1]),
            dst_mac: Mac::BROADCAST,
            src_ip: Ipv4Addr::UNSPECIFIED,
            dst_ip: Ipv4Addr::BROADCAST,
            src_port,
            dst_port,
            payload,
        })
    }

    #[test]
    fn a_discover_is_decoded_with_its_client_and_hostname() {
        let mut id = Identity::new(Mac([2, 0, 0, 0, 0, 1]));
        id.hostname = Some("db".into());
        let m = message::discover(0xabc, 0, &id, true, None);
        let s = decode(&framed(&message::encode(&m), 68, 67), "t".into()).expect("seen");
        assert_eq!(s.kind, "DISCOVER");
        assert_eq!(s.from, "client");
        assert_eq!(s.xid, "0x00000abc");
        assert_eq!(s.client_mac, Some(id.mac));
        assert_eq!(s.hostname.as_deref(), Some("db"));
        assert!(decode(&framed(&message::encode(&m), 68, 53), "t".into()).is_none());
    }

    #[test]
    fn a_second_server_is_flagged_once() {
        let mut srv = Servers::default();
        let mk = |ip: [u8; 4]| Seen {
            time: String::new(),
            kind: "OFFER".into(),
            from: "server",
            xid: String::new(),
            client_mac: None,
            src_mac: Mac([2, 0, 0, 0, 0, ip[3]]),
            src_ip: Ipv4Addr::from(ip),
            dst_ip: Ipv4Addr::BROADCAST,
            requested_ip: None,
            offered_ip: None,
            server_id: Some(Ipv4Addr::from(ip)),
            hostname: None,
            lease_time: None,
            message: None,
            new_server: false,
        };
        assert_eq!(srv.note(&mk([10, 0, 0, 1])), Heard::First);
        assert_eq!(srv.note(&mk([10, 0, 0, 1])), Heard::Known);
        assert_eq!(srv.note(&mk([10, 0, 0, 9])), Heard::New(2));
        assert_eq!(srv.note(&mk([10, 0, 0, 9])), Heard::Known);
        assert_eq!(srv.len(), 2);
        assert_eq!(srv.first().as_deref(), Some("10.0.0.1 (02:00:00:00:00:01)"));
    }

    #[test]
    fn a_flood_of_server_ids_is_remembered_up_to_the_cap_and_said_once() {
        let mut srv = Servers::default();
        let mut untracked = 0;
        let mut firsts = 0;
        for i in 0..10_000u32 {
            let ip = Ipv4Addr::from(0x0a00_0000 + i);
            let s = Seen {
                time: String::new(),
                kind: "OFFER".into(),
                from: "server",
                xid: String::new(),
                client_mac: None,
                src_mac: Mac([2, 0, 0, 0, 0, 1]),
                src_ip: ip,
                dst_ip: Ipv4Addr::BROADCAST,
                requested_ip: None,
                offered_ip: None,
                server_id: Some(ip),
                hostname: None,
                lease_time: None,
                message: None,
                new_server: false,
            };
            if let Heard::Untracked { first } = srv.note(&s) {
                untracked += 1;
                firsts += usize::from(first);
            }
        }
        assert_eq!(srv.len(), MAX_SERVERS);
        assert_eq!(untracked, 10_000 - MAX_SERVERS);
        assert_eq!(firsts, 1);
        assert_eq!(ordinal(2), "2nd");
        assert_eq!(ordinal(13), "13th");
        assert_eq!(ordinal(23), "23rd");
    }

    proptest! {
        #[test]
        fn any_frame_decodes_without_panicking(b in proptest::collection::vec(any::<u8>(), 0..800)) {
            let _ = decode(&b, String::new());
        }

        #[test]
        fn any_dhcp_payload_decodes_without_panicking_and_cleaned(
            mut p in proptest::collection::vec(any::<u8>(), 240..700),
            op in 1u8..=2,
        ) {
            p[0] = op;
            p[236..240].copy_from_slice(&[99, 130, 83, 99]);
            let (sp, dp) = if op == 1 { (68, 67) } else { (67, 68) };
            let s = decode(&framed(&p, sp, dp), String::new());
            prop_assert!(s.is_some());
            if let Some(s) = s {
                for t in [s.hostname, s.message].into_iter().flatten() {
                    prop_assert!(!t.chars().any(char::is_control));
                }
            }
        }
    }
}
