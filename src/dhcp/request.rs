//! Reading what a client sends (DISCOVER, REQUEST, DECLINE, RELEASE,
//! INFORM): BOOTREQUESTs have the same layout as replies, so the reply
//! parser reads them and this adds what only requests carry. Used by
//! `dhcpnet watch`, which sees other hosts' traffic: every field is
//! untrusted, every string cleaned (`reply::clean_text`), nothing panics.

use std::net::Ipv4Addr;

use super::reply::{Bootreply, clean_text};

/// A BOOTREQUEST (op 1) as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootrequest {
    pub msg: Bootreply,
}

fn ip_of(v: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from)
}

impl Bootrequest {
    /// Parse a client's message; None when the bytes are not a DHCP
    /// BOOTREQUEST. Never panics, whatever the bytes.
    pub fn parse(b: &[u8]) -> Option<Bootrequest> {
        let msg = Bootreply::parse(b)?;
        (msg.op == 1).then_some(Bootrequest { msg })
    }

    /// The address asked for: option 50 (SELECTING, INIT-REBOOT), else
    /// `ciaddr` (RENEWING, REBINDING, RELEASE).
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.msg
            .option(50)
            .and_then(ip_of)
            .or_else(|| (!self.msg.ciaddr.is_unspecified()).then_some(self.msg.ciaddr))
    }

    /// The server the client chose (option 54), when it is 4 octets.
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.msg.option(54).and_then(ip_of)
    }

    /// The hostname the client sent (option 12), cleaned for display.
    pub fn hostname(&self) -> Option<String> {
        self.msg
            .option(12)
            .map(clean_text)
            .filter(|s| !s.is_empty())
    }

    /// The vendor class (option 60), cleaned for display.
    pub fn vendor_class(&self) -> Option<String> {
        self.msg
            .option(60)
            .map(clean_text)
            .filter(|s| !s.is_empty())
    }

    /// The lease time the client asked for (option 51).
    pub fn lease_time(&self) -> Option<u32> {
        let v = self.msg.option(51)?;
        <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::message::{self, Identity};
    use crate::net::mac::Mac;
    use proptest::prelude::*;

    #[test]
    fn a_discover_of_ours_reads_back_with_hostname_and_requested_address() {
        let mut id = Identity::new(Mac([2, 0, 0, 0, 0, 7]));
        id.hostname = Some("web-1".into());
        let m = message::discover(0x1234, 0, &id, true, Some(Ipv4Addr::new(10, 0, 0, 9)));
        let r = Bootrequest::parse(&message::encode(&m)).expect("a request");
        assert_eq!(r.msg.xid, 0x1234);
        assert_eq!(r.msg.client_mac(), Some(id.mac));
        assert_eq!(r.hostname().as_deref(), Some("web-1"));
        assert_eq!(r.requested_ip(), Some(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!(r.server_id(), None);
    }

    #[test]
    fn a_reply_is_not_a_request_and_control_characters_are_removed() {
        let mut b = vec![0u8; 300];
        b[0] = 2;
        b[236..240].copy_from_slice(&[99, 130, 83, 99]);
        assert!(Bootrequest::parse(&b).is_none());
        b[0] = 1;
        b[240..247].copy_from_slice(&[12, 5, b'a', 0x1b, b'[', b'2', b'J']);
        b[247] = 255;
        let r = Bootrequest::parse(&b).expect("a request");
        assert_eq!(r.hostname().as_deref(), Some("a[2J"));
        assert_eq!(r.lease_time(), None);
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panicking(b in proptest::collection::vec(any::<u8>(), 0..700)) {
            if let Some(r) = Bootrequest::parse(&b) {
                let _ = (r.requested_ip(), r.server_id(), r.hostname(), r.vendor_class(), r.lease_time());
                for s in [r.hostname(), r.vendor_class()].into_iter().flatten() {
                    prop_assert!(!s.chars().any(char::is_control));
                }
            }
        }

        #[test]
        fn requests_with_random_options_parse_without_panicking(
            opts in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..20),
        ) {
            let mut b = vec![0u8; 240];
            b[0] = 1;
            b[2] = 6;
            b[236..240].copy_from_slice(&[99, 130, 83, 99]);
            for (code, data) in &opts {
                b.push(*code);
                b.push(data.len() as u8);
                b.extend_from_slice(data);
            }
            let r = Bootrequest::parse(&b);
            prop_assert!(r.is_some());
            if let Some(r) = r {
                let _ = (r.requested_ip(), r.server_id(), r.hostname(), r.lease_time());
            }
        }
    }
}
