//! The RFC 2131 client state machine for one exchange, free of I/O.
//!
//! An `Exchange` is fed replies and reports what to do next; the transport
//! (`super::transport`) owns sockets and clocks. This split keeps every
//! decision (which reply belongs to us, what a NAK means in each state, what
//! to send next) reachable from unit tests without root.
//!
//! ```text
//!  Acquire:  SELECTING --OFFER--> REQUESTING --ACK--> bound
//!                 ^                    |
//!                 +------- NAK --------+   (restart, at most MAX_NAKS times)
//!  Renew / Rebind / Reboot:  EXTENDING --ACK--> bound
//!                                      --NAK--> refused (the lease is lost)
//! ```

use std::net::Ipv4Addr;

use std::time::SystemTime;

use dhcproto::v4::{Message, MessageType};

use super::message::{self, Identity, Params};
use super::reply::Bootreply;
use crate::net::mac::Mac;

/// NAKs after which acquiring gives up instead of starting over. A server
/// that refuses every REQUEST is caught after a few; but under a batch, a
/// server that offers one free address to two clients at once (dnsmasq does)
/// NAKs the slower one with "address in use", a transient collision that
/// starting over resolves, so the bound is generous.
pub const MAX_NAKS: u32 = 8;

/// What the exchange is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goal {
    /// INIT: a new lease, optionally asking for an address.
    Acquire { requested: Option<Ipv4Addr> },
    /// RENEWING: extend a lease with the server that granted it (unicast).
    Renew {
        ip: Ipv4Addr,
        server_id: Ipv4Addr,
        server_mac: Mac,
    },
    /// REBINDING: extend a lease with any server (broadcast).
    Rebind { ip: Ipv4Addr },
    /// INIT-REBOOT: ask for a known address back (broadcast, option 50).
    Reboot { ip: Ipv4Addr },
}

/// Where a message goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// From 0.0.0.0 to 255.255.255.255, Ethernet broadcast.
    Broadcast,
    /// From the client's leased address to the server (renewing).
    Unicast {
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        dst_mac: Mac,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub msg: Message,
    pub dest: Dest,
}

/// A reply as the transport received it.
#[derive(Debug)]
pub struct Reply<'a> {
    pub msg: &'a Bootreply,
    pub src_mac: Mac,
    pub src_ip: Ipv4Addr,
}

/// A lease the server acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub params: Params,
    pub server_mac: Mac,
    /// The hostname the server echoed back (option 12), if any.
    pub server_hostname: Option<String>,
    /// Options the server sent that made no sense and were dropped.
    pub warnings: Vec<String>,
    /// When the REQUEST this ACK answers was first sent (set by the
    /// transport, which owns the clock): the lease runs from then (RFC 2131
    /// §4.4.1), not from when the whole batch ended.
    pub requested_at: Option<SystemTime>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Not ours, or not expected now: keep waiting.
    Ignore,
    /// Send this new message (retransmission count starts again).
    Send(Outgoing),
    /// Start over with a fresh transaction id (after a NAK in REQUESTING).
    Restart,
    /// Done: the server acknowledged.
    Bound(Bound),
    /// Done: the server refused.
    Refused {
        server_id: Ipv4Addr,
        message: Option<String>,
    },
}

#[derive(Debug, Clone)]
enum State {
    Selecting,
    Requesting { offer: Params, server_mac: Mac },
    Extending,
    Done,
}

#[derive(Debug, Clone)]
pub struct Exchange {
    pub id: Identity,
    pub goal: Goal,
    xid: u32,
    broadcast: bool,
    state: State,
    naks: u32,
    refusal: Option<String>,
}

impl Exchange {
    pub fn new(id: Identity, goal: Goal, broadcast: bool) -> Self {
        Exchange {
            id,
            goal,
            xid: 0,
            broadcast,
            state: State::Done,
            naks: 0,
            refusal: None,
        }
    }

    pub fn xid(&self) -> u32 {
        self.xid
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The first message of the exchange, under transaction id `xid`.
    pub fn start(&mut self, xid: u32) -> Outgoing {
        self.xid = xid;
        let id = &self.id;
        match &self.goal {
            Goal::Acquire { requested } => {
                self.state = State::Selecting;
                Outgoing {
                    msg: message::discover(xid, 0, id, self.broadcast, *requested),
                    dest: Dest::Broadcast,
                }
            }
            Goal::Renew {
                ip,
                server_id,
                server_mac,
            } => {
                self.state = State::Extending;
                Outgoing {
                    msg: message::request_extend(xid, 0, id, *ip),
                    dest: Dest::Unicast {
                        src_ip: *ip,
                        dst_ip: *server_id,
                        dst_mac: *server_mac,
                    },
                }
            }
            Goal::Rebind { ip } => {
                self.state = State::Extending;
                Outgoing {
                    msg: message::request_extend(xid, 0, id, *ip),
                    dest: Dest::Broadcast,
                }
            }
            Goal::Reboot { ip } => {
                self.state = State::Extending;
                Outgoing {
                    msg: message::request_reboot(xid, 0, id, self.broadcast, *ip),
                    dest: Dest::Broadcast,
                }
            }
        }
    }

    /// The address this exchange is asking for in REQUESTING (the offer it
    /// took), if it is there.
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.requesting().map(|(offer, _)| offer.ip)
    }

    /// The offer being requested (SELECTING's REQUEST is out or about to
    /// go), with the offering server's MAC: what the server may hold for
    /// this client from the moment the REQUEST leaves.
    pub fn requesting(&self) -> Option<(&message::Params, Mac)> {
        match &self.state {
            State::Requesting { offer, server_mac } => Some((offer, *server_mac)),
            _ => None,
        }
    }

    /// Whether the exchange is still waiting for an offer (SELECTING).
    pub fn is_selecting(&self) -> bool {
        matches!(self.state, State::Selecting)
    }

    /// Whether a reply belongs to this exchange at all: a BOOTREPLY with our
    /// xid for our MAC (an `hlen` other than 6 is not ours, whatever it says),
    /// and, when the server echoes option 61 (RFC 6842), our client id: many
    /// exchanges may share one MAC (ipvlan), told apart by it.
    fn is_ours(&self, r: &Reply<'_>) -> bool {
        r.msg.is_reply()
            && r.msg.xid == self.xid
            && r.msg.client_mac() == Some(self.id.mac)
            && r.msg.client_id().is_none_or(|c| c == self.id.client_id)
    }

    /// Why the last reply addressed to this exchange was refused, if one was.
    pub fn last_refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }

    /// Note a refused reply and keep waiting: another (genuine) server's
    /// answer may still come, and one forged reply must not end an exchange.
    fn refuse(&mut self, r: &Reply<'_>, kind: &str, why: String) -> Step {
        self.refusal = Some(format!(
            "ignored a {kind} from {} ({}): {why}",
            r.src_ip, r.src_mac
        ));
        Step::Ignore
    }

    /// Feed one reply.
    pub fn on_reply(&mut self, r: &Reply<'_>) -> Step {
        if self.is_done() || !self.is_ours(r) {
            return Step::Ignore;
        }
        let kind = r.msg.msg_type();
        match (&self.state, kind) {
            (State::Selecting, Some(MessageType::Offer)) => {
                let checked = match r.msg.params(r.src_ip) {
                    Ok(c) => c,
                    Err(why) => return self.refuse(r, "DHCPOFFER", why),
                };
                let offer = checked.params;
                let msg = message::request_selecting(
                    self.xid,
                    0,
                    &self.id,
                    self.broadcast,
                    offer.ip,
                    offer.server_id,
                );
                self.state = State::Requesting {
                    offer,
                    server_mac: r.src_mac,
                };
                Step::Send(Outgoing {
                    msg,
                    dest: Dest::Broadcast,
                })
            }
            (State::Requesting { offer, server_mac }, Some(MessageType::Ack)) => {
                if r.msg.server_id(r.src_ip) != Some(offer.server_id) {
                    return Step::Ignore; // another server's answer to our broadcast REQUEST
                }
                let (offered, server_mac) = (offer.ip, *server_mac);
                let checked = match r.msg.params(r.src_ip) {
                    Ok(c) => c,
                    Err(why) => return self.refuse(r, "DHCPACK", why),
                };
                if checked.params.ip != offered {
                    let why = format!(
                        "it acknowledges {} but {offered} was requested",
                        checked.params.ip
                    );
                    return self.refuse(r, "DHCPACK", why);
                }
                self.state = State::Done;
                Step::Bound(Bound {
                    params: checked.params,
                    server_mac,
                    server_hostname: r.msg.server_hostname(),
                    warnings: checked.warnings,
                    requested_at: None,
                })
            }
            (State::Requesting { offer, .. }, Some(MessageType::Nak)) => {
                let Some(from) = r.msg.server_id(r.src_ip).filter(|s| *s == offer.server_id) else {
                    return Step::Ignore;
                };
                self.naks += 1;
                if self.naks >= MAX_NAKS {
                    self.state = State::Done;
                    Step::Refused {
                        server_id: from,
                        message: r.msg.server_message(),
                    }
                } else {
                    Step::Restart
                }
            }
            (State::Extending, Some(MessageType::Ack)) => {
                let checked = match r.msg.params(r.src_ip) {
                    Ok(c) => c,
                    Err(why) => return self.refuse(r, "DHCPACK", why),
                };
                let (ip, renew_server) = match &self.goal {
                    Goal::Renew { ip, server_id, .. } => (*ip, Some(*server_id)),
                    Goal::Rebind { ip } | Goal::Reboot { ip } => (*ip, None),
                    Goal::Acquire { .. } => return Step::Ignore,
                };
                if let Some(s) = renew_server
                    && checked.params.server_id != s
                {
                    return Step::Ignore; // RENEWING talks to the lease's server only
                }
                // An ACK that extends a lease carries that lease's address: a
                // different yiaddr is either a bug or a forged reply.
                if checked.params.ip != ip {
                    let why = format!(
                        "it acknowledges {} while extending the lease of {ip}",
                        checked.params.ip
                    );
                    return self.refuse(r, "DHCPACK", why);
                }
                self.state = State::Done;
                Step::Bound(Bound {
                    params: checked.params,
                    server_mac: r.src_mac,
                    server_hostname: r.msg.server_hostname(),
                    warnings: checked.warnings,
                    requested_at: None,
                })
            }
            (State::Extending, Some(MessageType::Nak)) => {
                let Some(from) = r.msg.server_id(r.src_ip) else {
                    return Step::Ignore;
                };
                // While RENEWING only the lease's server may refuse it (as
                // only its ACK is taken); REBINDING and INIT-REBOOT ask every
                // server, and any of them may say the address is wrong here.
                if let Goal::Renew { server_id, .. } = &self.goal
                    && from != *server_id
                {
                    return self.refuse(
                        r,
                        "DHCPNAK",
                        format!("it is not from {server_id}, the lease's server"),
                    );
                }
                self.state = State::Done;
                Step::Refused {
                    server_id: from,
                    message: r.msg.server_message(),
                }
            }
            _ => Step::Ignore,
        }
    }

    /// The message to send again after a timeout, with `secs` updated.
    pub fn retransmission(&self, last: &Outgoing, secs: u16) -> Outgoing {
        let mut o = last.clone();
        o.msg.set_secs(secs);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::v4::{DhcpOption, Opcode};

    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    const SERVER_MAC: Mac = Mac([2, 0, 0, 0, 0, 1]);

    fn ident() -> Identity {
        Identity::new(Mac([2, 0, 0, 0, 0, 0x42]))
    }

    fn reply(xid: u32, mac: Mac, kind: MessageType, yiaddr: Ipv4Addr, server: Ipv4Addr) -> Message {
        let mut m = Message::default();
        m.set_opcode(Opcode::BootReply)
            .set_xid(xid)
            .set_chaddr(&mac.0)
            .set_yiaddr(yiaddr);
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        m.opts_mut().insert(DhcpOption::ServerIdentifier(server));
        m.opts_mut().insert(DhcpOption::AddressLeaseTime(600));
        m
    }

    fn feed(x: &mut Exchange, m: &Message) -> Step {
        let bytes = message::encode(m);
        let parsed = Bootreply::parse(&bytes).expect("a BOOTP message");
        x.on_reply(&Reply {
            msg: &parsed,
            src_mac: SERVER_MAC,
            src_ip: SERVER,
        })
    }

    fn renewing(ip: Ipv4Addr) -> Exchange {
        let mut x = Exchange::new(
            ident(),
            Goal::Renew {
                ip,
                server_id: SERVER,
                server_mac: SERVER_MAC,
            },
            true,
        );
        x.start(5);
        x
    }

    #[test]
    fn a_nak_from_another_server_does_not_end_a_renewal() {
        let ip = Ipv4Addr::new(10, 77, 0, 50);
        let mut x = renewing(ip);
        let rogue = Ipv4Addr::new(10, 77, 0, 66);
        let nak = reply(
            5,
            ident().mac,
            MessageType::Nak,
            Ipv4Addr::UNSPECIFIED,
            rogue,
        );
        assert_eq!(feed(&mut x, &nak), Step::Ignore);
        assert!(!x.is_done());
        assert!(
            x.last_refusal().is_some_and(|r| r.contains("10.77.0.1")),
            "{:?}",
            x.last_refusal()
        );
        let ack = reply(5, ident().mac, MessageType::Ack, ip, SERVER);
        assert!(
            matches!(feed(&mut x, &ack), Step::Bound(_)),
            "the genuine ACK still binds"
        );
    }

    #[test]
    fn an_ack_that_extends_a_lease_must_carry_its_address() {
        let ip = Ipv4Addr::new(10, 77, 0, 50);
        let mut x = renewing(ip);
        let bogus = reply(
            5,
            ident().mac,
            MessageType::Ack,
            Ipv4Addr::new(1, 1, 1, 1),
            SERVER,
        );
        assert_eq!(feed(&mut x, &bogus), Step::Ignore);
        for goal in [Goal::Rebind { ip }, Goal::Reboot { ip }] {
            let mut x = Exchange::new(ident(), goal, true);
            x.start(6);
            let other = Ipv4Addr::new(10, 77, 0, 9);
            let rogue = reply(
                6,
                ident().mac,
                MessageType::Ack,
                Ipv4Addr::new(10, 77, 0, 51),
                other,
            );
            assert_eq!(feed(&mut x, &rogue), Step::Ignore);
            assert!(matches!(
                feed(&mut x, &reply(6, ident().mac, MessageType::Ack, ip, other)),
                Step::Bound(_)
            ));
        }
    }

    #[test]
    fn on_a_shared_mac_a_reply_echoing_another_client_id_is_not_ours_and_one_echoing_ours_or_none_is()
     {
        let mut id = ident();
        id.client_id = b"\0dhcpnet:net/web".to_vec();
        let ip = Ipv4Addr::new(10, 77, 0, 50);
        let with_cid = |kind, cid: &[u8]| {
            let mut m = reply(3, id.mac, kind, ip, SERVER);
            m.opts_mut()
                .insert(DhcpOption::ClientIdentifier(cid.to_vec()));
            m
        };
        let mut x = Exchange::new(id.clone(), Goal::Acquire { requested: None }, true);
        x.start(3);
        let theirs = with_cid(MessageType::Offer, b"\0dhcpnet:net/db");
        assert_eq!(feed(&mut x, &theirs), Step::Ignore);
        assert!(x.is_selecting(), "another client's offer is not taken");
        assert!(matches!(
            feed(&mut x, &with_cid(MessageType::Offer, &id.client_id)),
            Step::Send(_)
        ));
        assert_eq!(
            feed(&mut x, &with_cid(MessageType::Ack, b"\0dhcpnet:net/db")),
            Step::Ignore
        );
        // A server that does not echo option 61 (before RFC 6842) is
        // matched by xid and MAC, as before.
        assert!(matches!(
            feed(&mut x, &reply(3, id.mac, MessageType::Ack, ip, SERVER)),
            Step::Bound(_)
        ));
    }

    #[test]
    fn an_ack_for_another_address_than_the_offer_is_refused() {
        let mut x = Exchange::new(ident(), Goal::Acquire { requested: None }, true);
        x.start(3);
        let ip = Ipv4Addr::new(10, 77, 0, 50);
        feed(
            &mut x,
            &reply(3, ident().mac, MessageType::Offer, ip, SERVER),
        );
        let other = reply(
            3,
            ident().mac,
            MessageType::Ack,
            Ipv4Addr::new(10, 77, 0, 51),
            SERVER,
        );
        assert_eq!(feed(&mut x, &other), Step::Ignore);
        assert!(matches!(
            feed(&mut x, &reply(3, ident().mac, MessageType::Ack, ip, SERVER)),
            Step::Bound(_)
        ));
    }

    #[test]
    fn an_offer_of_a_broadcast_address_is_refused_and_the_reason_kept() {
        let mut x = Exchange::new(ident(), Goal::Acquire { requested: None }, true);
        x.start(4);
        let bad = reply(
            4,
            ident().mac,
            MessageType::Offer,
            Ipv4Addr::BROADCAST,
            SERVER,
        );
        assert_eq!(feed(&mut x, &bad), Step::Ignore);
        assert!(
            x.last_refusal()
                .is_some_and(|r| r.contains("255.255.255.255"))
        );
    }

    #[test]
    fn a_reply_with_an_hlen_beyond_chaddr_is_not_ours() {
        let mut x = Exchange::new(ident(), Goal::Acquire { requested: None }, true);
        x.start(4);
        let mut bytes = message::encode(&reply(
            4,
            ident().mac,
            MessageType::Offer,
            Ipv4Addr::new(10, 77, 0, 50),
            SERVER,
        ));
        bytes[2] = 255;
        let parsed = Bootreply::parse(&bytes).unwrap();
        let r = Reply {
            msg: &parsed,
            src_mac: SERVER_MAC,
            src_ip: SERVER,
        };
        assert_eq!(x.on_reply(&r), Step::Ignore);
    }

    #[test]
    fn dora_binds() {
        let mut x = Exchange::new(ident(), Goal::Acquire { requested: None }, true);
        let d = x.start(9);
        assert_eq!(d.msg.opts().msg_type(), Some(MessageType::Discover));
        let ip = Ipv4Addr::new(10, 77, 0, 50);
        let Step::Send(req) = feed(
            &mut x,
            &reply(9, ident().mac, MessageType::Offer, ip, SERVER),
        ) else {
            panic!("no REQUEST")
        };
        assert_eq!(req.msg.opts().msg_type(), Some(MessageType::Request));
        assert_eq!(req.msg.xid(), 9);
        let Step::Bound(b) = feed(&mut x, &reply(9, ident().mac, MessageType::Ack, ip, SERVER))
        else {
            panic!("not bound")
        };
        assert_eq!(b.params.ip, ip);
        assert_eq!(b.server_mac, SERVER_MAC);
        assert!(x.is_done());
    }

    #[test]
    fn foreign_replies_are_ignored() {
        let mut x = Exchange::new(ident(), Goal::Acquire { requested: None }, true);
        x.start(9);
        let ip = Ipv4Addr::new(10, 77, 0, 50);
        assert_eq!(
            feed(
                &mut x,
                &reply(8, ident().mac, MessageType::Offer, ip, SERVER)
            ),
            Step::Ignore,
            "xid"
        );
        assert_eq!(
            feed(
                &mut x,
                &reply(9, Mac([2, 0, 0, 0, 0, 7]), MessageType::Offer, ip, SERVER)
            ),
            Step::Ignore,
            "mac"
        );
        assert_eq!(
            feed(&mut x, &reply(9, ident().mac, MessageType::Ack, ip, SERVER)),
            Step::Ignore,
            "ACK before OFFER"
        );
        let mut req = reply(9, ident().mac, MessageType::Offer, ip, SERVER);
        req.set_opcode(Opcode::BootRequest);
        assert_eq!(feed(&mut x, &req), Step::Ignore, "a request is no reply");
    }

    #[test]
    fn ack_from_another_server_is_ignored_while_requesting() {
        let mut x = Exchange::new(ident(), Goal::Acquire { requested: None }, true);
        x.start(1);
        let ip = Ipv4Addr::new(10, 77, 0, 50);
        feed(
            &mut x,
            &reply(1, ident().mac, MessageType::Offer, ip, SERVER),
        );
        let other = Ipv4Addr::new(10, 77, 0, 9);
        assert_eq!(
            feed(&mut x, &reply(1, ident().mac, MessageType::Ack, ip, other)),
            Step::Ignore
        );
    }

    #[test]
    fn nak_restarts_then_gives_up() {
        let mut x = Exchange::new(ident(), Goal::Acquire { requested: None }, true);
        let ip = Ipv4Addr::new(10, 77, 0, 50);
        for round in 0..MAX_NAKS {
            let xid = 100 + round;
            x.start(xid);
            feed(
                &mut x,
                &reply(xid, ident().mac, MessageType::Offer, ip, SERVER),
            );
            let step = feed(
                &mut x,
                &reply(
                    xid,
                    ident().mac,
                    MessageType::Nak,
                    Ipv4Addr::UNSPECIFIED,
                    SERVER,
                ),
            );
            if round + 1 < MAX_NAKS {
                assert_eq!(step, Step::Restart);
            } else {
                assert!(matches!(step, Step::Refused { server_id, .. } if server_id == SERVER));
            }
        }
    }

    #[test]
    fn renew_is_unicast_and_nak_is_final() {
        let ip = Ipv4Addr::new(10, 77, 0, 50);
        let mut x = Exchange::new(
            ident(),
            Goal::Renew {
                ip,
                server_id: SERVER,
                server_mac: SERVER_MAC,
            },
            true,
        );
        let o = x.start(5);
        assert_eq!(
            o.dest,
            Dest::Unicast {
                src_ip: ip,
                dst_ip: SERVER,
                dst_mac: SERVER_MAC
            }
        );
        assert_eq!(o.msg.ciaddr(), ip);
        let mut nak = reply(
            5,
            ident().mac,
            MessageType::Nak,
            Ipv4Addr::UNSPECIFIED,
            SERVER,
        );
        nak.opts_mut()
            .insert(DhcpOption::Message("lease not found".into()));
        assert_eq!(
            feed(&mut x, &nak),
            Step::Refused {
                server_id: SERVER,
                message: Some("lease not found".into())
            }
        );
    }

    #[test]
    fn rebind_accepts_any_server() {
        let ip = Ipv4Addr::new(10, 77, 0, 50);
        let mut x = Exchange::new(ident(), Goal::Rebind { ip }, false);
        assert_eq!(x.start(5).dest, Dest::Broadcast);
        let other = Ipv4Addr::new(10, 77, 0, 9);
        assert!(matches!(
            feed(&mut x, &reply(5, ident().mac, MessageType::Ack, ip, other)),
            Step::Bound(_)
        ));
    }

    #[test]
    fn retransmission_keeps_xid_and_updates_secs() {
        let mut x = Exchange::new(ident(), Goal::Acquire { requested: None }, true);
        let o = x.start(77);
        let r = x.retransmission(&o, 4);
        assert_eq!((r.msg.xid(), r.msg.secs()), (77, 4));
    }
}
