//! The RFC 8415 client state machine for one exchange, free of I/O.
//!
//! As on the IPv4 side (`dhcp::client`), an `Exchange` is fed events and
//! answers with a `Step`; the transport owns sockets and clocks. Unlike
//! DHCPv4, RFC 8415 ties retransmission to the state (a REQUEST that runs
//! out of sends moves on to the next server, a RENEW that runs out of time
//! becomes a REBIND), so the exchange also owns its timers: the caller
//! passes `now` (any monotonic clock, as an offset from a fixed origin) and
//! a random source with every event, and calls `on_timer` once `deadline`
//! has come. Each new message gets a fresh transaction id (§15);
//! retransmissions keep it and update the elapsed time.
//!
//! ```text
//!  Acquire:  [delay] SOLICIT --ADVERTISEs, first RT over--> REQUEST --REPLY--> bound
//!                       |  preference 255: REQUEST at once       |  NoAddrsAvail: next server
//!                       +-- REPLY + rapid commit (asked) -> bound |  NotOnLink: SOLICIT again
//!  Renew:    RENEW (the lease's server) --until T2--> REBIND (any) --until expiry--> expired
//!              NoBinding -> REQUEST;  NotOnLink -> SOLICIT;  UseMulticast -> multicast
//!  Release / Decline: until a REPLY or 4 sends.  Confirm: until a REPLY or 10 s.
//!  After bound, DAD failed (`on_dad_failure`): DECLINE, then SOLICIT again.
//! ```
//!
//! What is "ours" (§16): a REPLY or ADVERTISE with our transaction id that
//! echoes our DUID; a server id is required; a REPLY answering a REQUEST,
//! RENEW, RELEASE or DECLINE must come from the server it was sent to (no
//! lease is extended by a server other than the one that granted it, except
//! by REBIND, which asks them all). A reply refused for its contents is
//! noted (`last_refusal`) and the exchange keeps waiting: one forged reply
//! must not end it.

use std::net::Ipv6Addr;
use std::time::Duration;

use super::duid::Duid;
use super::frame::dhcp6_client_frame;
use super::message::{self, Identity, Message, MessageType, XID_MASK};
use super::reply::{Checked, Params6, Reply6, Status, StatusCode};
use super::retransmit::{Retransmit, Timing, initial_delay};
use crate::net::mac::Mac;

/// ADVERTISEs kept while collecting; more (from more servers) are dropped.
pub const MAX_ADVERTISES: usize = 16;

/// How often one exchange may go back to SOLICIT (after NotOnLink, a
/// REQUEST no server answered, or a DECLINE) before it fails: a server that
/// keeps sending the client round must not keep it busy forever.
pub const MAX_RESTARTS: u32 = 4;

/// Where random words come from (transaction ids, jitter): the OS in the
/// transport, a fixed sequence in tests.
pub trait Random {
    fn next_u32(&mut self) -> u32;
}

impl<F: FnMut() -> u32> Random for F {
    fn next_u32(&mut self) -> u32 {
        self()
    }
}

/// A lease as its record knows it: what RENEW, REBIND, RELEASE and DECLINE
/// need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub addrs: Vec<Ipv6Addr>,
    pub server_id: Duid,
    /// The server's unicast address (its UNICAST option) and MAC, when it
    /// accepts unicast; otherwise messages go to ff02::1:2.
    pub unicast: Option<(Ipv6Addr, Mac)>,
}

/// What the exchange is for. Times are offsets from the `now` of `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goal {
    /// A new lease; `hint` asks for an address (the last one).
    Acquire {
        hint: Option<Ipv6Addr>,
        rapid_commit: bool,
    },
    /// At T1: RENEW with the lease's server until `rebind_after` (T2), then
    /// REBIND with any until `expire_after` (the shortest valid lifetime).
    Renew {
        held: Held,
        rebind_after: Duration,
        expire_after: Duration,
    },
    /// At T2: REBIND with any server until `expire_after`.
    Rebind {
        held: Held,
        expire_after: Duration,
    },
    /// Are these addresses still right for this link (after a move)?
    Confirm {
        addrs: Vec<Ipv6Addr>,
    },
    Release {
        held: Held,
    },
    /// `held.addrs` are the addresses found in use.
    Decline {
        held: Held,
    },
    /// Configuration only (DNS, search list), no address.
    Information,
}

/// Where a message goes: multicast from the client's link-local address
/// to ff02::1:2, or unicast to a server that allowed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Multicast,
    Unicast { dst_ip: Ipv6Addr, dst_mac: Mac },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub msg: Message,
    pub dest: Dest,
}

impl Outgoing {
    /// The frame to send for a client with `mac`: from its EUI-64
    /// link-local address, port 546.
    pub fn frame(&self, mac: Mac) -> Vec<u8> {
        let dst = match self.dest {
            Dest::Multicast => None,
            Dest::Unicast { dst_ip, dst_mac } => Some((dst_ip, dst_mac)),
        };
        dhcp6_client_frame(mac, None, dst, &self.msg.encode())
    }
}

/// A server message as the transport received it.
#[derive(Debug)]
pub struct Reply<'a> {
    pub msg: &'a Reply6,
    pub src_mac: Mac,
    pub src_ip: Ipv6Addr,
}

/// An ADVERTISE that passed the checks and offers addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    pub params: Params6,
    pub server_mac: Mac,
    pub src_ip: Ipv6Addr,
    pub warnings: Vec<String>,
}

impl Advertised {
    fn held(&self, addrs: Vec<Ipv6Addr>) -> Held {
        Held {
            addrs,
            server_id: self.params.server_id.clone(),
            unicast: self.params.unicast.map(|u| (u, self.server_mac)),
        }
    }
}

/// The server to REQUEST from (§18.2.9): the highest preference, and the
/// first received among equals. ADVERTISEs without addresses never get
/// here (they are ignored on receipt).
pub fn choose(advertised: &[Advertised]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, a) in advertised.iter().enumerate() {
        if best.is_none_or(|b| a.params.preference > advertised[b].params.preference) {
            best = Some(i);
        }
    }
    best
}

/// How a lease came to be bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// SOLICIT, ADVERTISE, REQUEST, REPLY (also a REQUEST after NoBinding,
    /// or a new lease after NotOnLink: a new binding, not an extension).
    Requested,
    /// SOLICIT + rapid commit, REPLY.
    RapidCommit,
    /// RENEW with the lease's server.
    Renewed,
    /// REBIND with any server.
    Rebound,
}

/// A lease the server granted or extended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub params: Params6,
    pub server_mac: Mac,
    /// The REPLY's source (a link-local address, usually).
    pub server_ip: Ipv6Addr,
    pub how: How,
    /// When (on the caller's clock) the message this REPLY answers was
    /// first sent: lifetimes and T1/T2 run from then, never from later.
    pub sent_at: Duration,
    pub warnings: Vec<String>,
}

impl Bound {
    /// The lease as a record will hold it, for the next RENEW or RELEASE.
    pub fn held(&self) -> Held {
        Held {
            addrs: self.params.addrs.iter().map(|a| a.addr).collect(),
            server_id: self.params.server_id.clone(),
            unicast: self.params.unicast.map(|u| (u, self.server_mac)),
        }
    }
}

/// Why an exchange ended without a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Every server that advertised was asked and had no address; the
    /// server's message, if any.
    NoAddrsAvail { message: Option<String> },
    /// A REQUEST that no server answered, after every candidate and
    /// `MAX_RESTARTS` solicitations.
    NoAnswer,
    /// REBIND reached the end of the valid lifetime: the lease is gone.
    Expired,
    /// The server answered a RENEW or REBIND but extended none of the
    /// lease's addresses (`withdrawn`: those it ended with lifetime 0).
    NotExtended {
        withdrawn: Vec<Ipv6Addr>,
        status: Option<Status>,
    },
    /// Sent back to SOLICIT more than `MAX_RESTARTS` times.
    TooManyRestarts,
}

#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per exchange, moved once
pub enum Step {
    /// Nothing to send now: wait for a reply or `deadline`.
    Wait,
    /// Send this (a new message or a retransmission) now.
    Send(Outgoing),
    Bound(Bound),
    /// The answer to an INFORMATION-REQUEST.
    Informed(Params6),
    /// RELEASE, DECLINE or CONFIRM done; `answered` false when no server
    /// replied before the sends ran out (a RELEASE may then have been
    /// lost; a CONFIRM means "keep using the addresses", §18.2.3).
    Finished {
        answered: bool,
    },
    Failed(Failure),
}

// One per exchange: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum State {
    Idle,
    Selecting {
        advertised: Vec<Advertised>,
        /// Until the first RT is over, ADVERTISEs are collected.
        collecting: bool,
    },
    Requesting {
        server: Advertised,
        others: Vec<Advertised>,
        how: How,
    },
    Extending {
        rebinding: bool,
    },
    Confirming,
    Releasing,
    Declining {
        then_solicit: bool,
    },
    Informing,
    Done,
}

#[derive(Debug, Clone)]
pub struct Exchange {
    pub id: Identity,
    pub goal: Goal,
    state: State,
    xid: u32,
    out: Option<Outgoing>,
    rt: Option<Retransmit>,
    /// Until then, the first message waits (the random initial delay).
    delay_until: Option<Duration>,
    skip_delay: bool,
    restarts: u32,
    refusal: Option<String>,
    /// The lease being extended (Renew, Rebind) or just bound (for DAD).
    held: Option<Held>,
    rebind_at: Duration,
    expire_at: Duration,
    /// The last NoAddrsAvail message heard.
    no_addrs: Option<String>,
    /// Addresses declined in this exchange: never asked for again.
    declined: Vec<Ipv6Addr>,
}

/// Where messages about `held` go: to its server's unicast address, when it
/// gave one, else multicast.
fn dest_of(held: &Held) -> Dest {
    match held.unicast {
        Some((dst_ip, dst_mac)) => Dest::Unicast { dst_ip, dst_mac },
        None => Dest::Multicast,
    }
}

fn failure_of(c: &Checked) -> Option<StatusCode> {
    c.failure().map(|s| s.code)
}

impl Exchange {
    pub fn new(id: Identity, goal: Goal) -> Exchange {
        Exchange {
            id,
            goal,
            state: State::Idle,
            xid: 0,
            out: None,
            rt: None,
            delay_until: None,
            skip_delay: false,
            restarts: 0,
            refusal: None,
            held: None,
            rebind_at: Duration::ZERO,
            expire_at: Duration::ZERO,
            no_addrs: None,
            declined: Vec::new(),
        }
    }

    /// Send the first message at once instead of after the random delay of
    /// §18.2.1 (an interactive probe; batches keep the delay).
    pub fn without_initial_delay(mut self) -> Exchange {
        self.skip_delay = true;
        self
    }

    pub fn xid(&self) -> u32 {
        self.xid
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether the exchange is waiting for ADVERTISEs.
    pub fn is_selecting(&self) -> bool {
        matches!(self.state, State::Selecting { .. })
    }

    /// The ADVERTISEs collected so far (while selecting).
    pub fn advertised(&self) -> &[Advertised] {
        match &self.state {
            State::Selecting { advertised, .. } => advertised,
            _ => &[],
        }
    }

    /// The server being asked while REQUESTing, with what it advertised:
    /// what it may hold for this client from the moment the REQUEST leaves.
    pub fn requesting(&self) -> Option<&Advertised> {
        match &self.state {
            State::Requesting { server, .. } => Some(server),
            _ => None,
        }
    }

    /// The message in flight (what a retransmission sends).
    pub fn current(&self) -> Option<&Outgoing> {
        self.out.as_ref()
    }

    /// Why the last reply addressed to this exchange was refused, if one was.
    pub fn last_refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }

    /// When `on_timer` is due; None before `start` and once done.
    pub fn deadline(&self) -> Option<Duration> {
        match self.state {
            State::Done | State::Idle => None,
            _ => self.delay_until.or(self.rt.as_ref().map(Retransmit::due)),
        }
    }

    fn fresh_xid(&mut self, rng: &mut impl Random) {
        let old = self.xid;
        loop {
            let x = rng.next_u32() & XID_MASK;
            if x != old {
                self.xid = x;
                return;
            }
        }
    }

    /// Start sending `msg` (built for `self.xid`) with `timing`.
    fn send(
        &mut self,
        msg: Message,
        dest: Dest,
        timing: Timing,
        now: Duration,
        rng: &mut impl Random,
    ) -> Step {
        let out = Outgoing { msg, dest };
        self.rt = Some(Retransmit::begin(timing, now, rng.next_u32()));
        self.delay_until = None;
        self.out = Some(out.clone());
        Step::Send(out)
    }

    fn finish(&mut self, step: Step) -> Step {
        self.state = State::Done;
        self.delay_until = None;
        step
    }

    fn refuse(&mut self, r: &Reply<'_>, why: String) -> Step {
        let kind = r
            .msg
            .message_type()
            .map_or("message".to_string(), |t| t.name().to_string());
        self.refusal = Some(format!(
            "ignored a {kind} from {} ({}): {why}",
            r.src_ip, r.src_mac
        ));
        Step::Wait
    }

    fn rapid_commit(&self) -> bool {
        matches!(
            self.goal,
            Goal::Acquire {
                rapid_commit: true,
                ..
            }
        )
    }

    /// The first message of the exchange, or `Wait` for the random initial
    /// delay (SOLICIT, CONFIRM, INFORMATION-REQUEST) after which `on_timer`
    /// sends it.
    pub fn start(&mut self, now: Duration, rng: &mut impl Random) -> Step {
        self.fresh_xid(rng);
        let (msg, timing) = match self.goal.clone() {
            Goal::Acquire { hint, rapid_commit } => {
                self.state = State::Selecting {
                    advertised: Vec::new(),
                    collecting: true,
                };
                let m = message::solicit(self.xid, &self.id, hint, rapid_commit);
                (m, Timing::solicit(None))
            }
            Goal::Renew {
                held,
                rebind_after,
                expire_after,
            } => {
                self.rebind_at = now.saturating_add(rebind_after);
                self.expire_at = now.saturating_add(expire_after);
                self.held = Some(held.clone());
                if rebind_after.is_zero() {
                    return self.rebind(now, rng);
                }
                self.state = State::Extending { rebinding: false };
                let m = message::renew(self.xid, &self.id, &held.server_id, &held.addrs);
                return self.send(m, dest_of(&held), Timing::renew(rebind_after), now, rng);
            }
            Goal::Rebind { held, expire_after } => {
                self.expire_at = now.saturating_add(expire_after);
                self.held = Some(held);
                return self.rebind(now, rng);
            }
            Goal::Confirm { addrs } => {
                self.state = State::Confirming;
                (
                    message::confirm(self.xid, &self.id, &addrs),
                    Timing::confirm(),
                )
            }
            Goal::Release { held } => {
                self.state = State::Releasing;
                let m = message::release(self.xid, &self.id, &held.server_id, &held.addrs);
                return self.send(m, dest_of(&held), Timing::release(), now, rng);
            }
            Goal::Decline { held } => {
                self.state = State::Declining {
                    then_solicit: false,
                };
                let m = message::decline(self.xid, &self.id, &held.server_id, &held.addrs);
                let dest = dest_of(&held);
                self.held = Some(held);
                return self.send(m, dest, Timing::decline(), now, rng);
            }
            Goal::Information => {
                self.state = State::Informing;
                let m = message::information_request(self.xid, &self.id);
                (m, Timing::information(None))
            }
        };
        let delay = if self.skip_delay {
            Duration::ZERO
        } else {
            initial_delay(timing.max_delay, rng.next_u32())
        };
        if delay.is_zero() {
            return self.send(msg, Dest::Multicast, timing, now, rng);
        }
        self.out = Some(Outgoing {
            msg,
            dest: Dest::Multicast,
        });
        self.delay_until = Some(now.saturating_add(delay));
        Step::Wait
    }

    /// REBIND the held lease with any server until it expires.
    fn rebind(&mut self, now: Duration, rng: &mut impl Random) -> Step {
        let Some(held) = self.held.clone() else {
            return self.finish(Step::Failed(Failure::Expired));
        };
        let left = self.expire_at.saturating_sub(now);
        if left.is_zero() {
            return self.finish(Step::Failed(Failure::Expired));
        }
        self.fresh_xid(rng);
        self.state = State::Extending { rebinding: true };
        let m = message::rebind(self.xid, &self.id, &held.addrs);
        self.send(m, Dest::Multicast, Timing::rebind(left), now, rng)
    }

    /// Back to SOLICIT (NotOnLink, no server left, after a DECLINE), or,
    /// past `MAX_RESTARTS`, fail with `failure`.
    fn resolicit_or(&mut self, failure: Failure, now: Duration, rng: &mut impl Random) -> Step {
        self.restarts += 1;
        if self.restarts > MAX_RESTARTS {
            return self.finish(Step::Failed(failure));
        }
        self.fresh_xid(rng);
        self.state = State::Selecting {
            advertised: Vec::new(),
            collecting: true,
        };
        let rapid = self.rapid_commit();
        let m = message::solicit(self.xid, &self.id, None, rapid);
        self.send(m, Dest::Multicast, Timing::solicit(None), now, rng)
    }

    /// REQUEST the best of `advertised` (removed from it; the rest are the
    /// fallbacks).
    fn request_best(
        &mut self,
        mut advertised: Vec<Advertised>,
        now: Duration,
        rng: &mut impl Random,
    ) -> Step {
        let Some(i) = choose(&advertised) else {
            // Every server asked went silent: look for servers again.
            return self.resolicit_or(Failure::NoAnswer, now, rng);
        };
        let server = advertised.remove(i);
        let addrs: Vec<Ipv6Addr> = server.params.addrs.iter().map(|a| a.addr).collect();
        self.request_from(server, advertised, addrs, How::Requested, now, rng)
    }

    fn request_from(
        &mut self,
        server: Advertised,
        others: Vec<Advertised>,
        addrs: Vec<Ipv6Addr>,
        how: How,
        now: Duration,
        rng: &mut impl Random,
    ) -> Step {
        self.fresh_xid(rng);
        let held = server.held(addrs);
        let m = message::request(self.xid, &self.id, &held.server_id, &held.addrs);
        self.state = State::Requesting {
            server,
            others,
            how,
        };
        self.send(m, dest_of(&held), Timing::request(), now, rng)
    }

    /// A retransmission timer (or the initial delay) is over: send again,
    /// move on, or give up.
    pub fn on_timer(&mut self, now: Duration, rng: &mut impl Random) -> Step {
        if self.is_done() || matches!(self.state, State::Idle) {
            return Step::Wait;
        }
        if let Some(until) = self.delay_until {
            if now < until {
                return Step::Wait;
            }
            let Some(out) = self.out.take() else {
                return Step::Wait;
            };
            let timing = match self.state {
                State::Confirming => Timing::confirm(),
                State::Informing => Timing::information(None),
                _ => Timing::solicit(None),
            };
            return self.send(out.msg, out.dest, timing, now, rng);
        }
        let Some(rt) = self.rt.as_mut() else {
            return Step::Wait;
        };
        if now < rt.due() {
            return Step::Wait;
        }
        // The first RT of a SOLICIT is over: take the best ADVERTISE.
        if let State::Selecting {
            advertised,
            collecting,
        } = &mut self.state
        {
            *collecting = false;
            if !advertised.is_empty() {
                let list = std::mem::take(advertised);
                return self.request_best(list, now, rng);
            }
        }
        let again = rt.on_timeout(now, rng.next_u32());
        if again {
            let elapsed = rt.elapsed(now);
            let Some(out) = self.out.as_mut() else {
                return Step::Wait;
            };
            out.msg.set_elapsed(elapsed);
            return Step::Send(out.clone());
        }
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Requesting { others, .. } => self.request_best(others, now, rng),
            State::Extending { rebinding: false } => self.rebind(now, rng),
            State::Extending { rebinding: true } => self.finish(Step::Failed(Failure::Expired)),
            State::Releasing | State::Confirming => self.finish(Step::Finished { answered: false }),
            State::Declining { then_solicit } => {
                if then_solicit {
                    self.resolicit_or(Failure::TooManyRestarts, now, rng)
                } else {
                    self.finish(Step::Finished { answered: false })
                }
            }
            other => {
                // SOLICIT and INFORMATION-REQUEST never run out (MRC and
                // MRD are 0): the caller's overall timeout ends them.
                self.state = other;
                Step::Wait
            }
        }
    }

    /// Duplicate Address Detection found a bound address in use: DECLINE it
    /// to the server that granted it (§18.2.8), then SOLICIT again (never
    /// asking for it). Only after `Step::Bound`; otherwise `Wait`.
    pub fn on_dad_failure(
        &mut self,
        bound: &Bound,
        addrs: &[Ipv6Addr],
        now: Duration,
        rng: &mut impl Random,
    ) -> Step {
        if !self.is_done() || addrs.is_empty() {
            return Step::Wait;
        }
        self.declined.extend_from_slice(addrs);
        let mut held = bound.held();
        held.addrs = addrs.to_vec();
        self.fresh_xid(rng);
        self.state = State::Declining { then_solicit: true };
        let m = message::decline(self.xid, &self.id, &held.server_id, &held.addrs);
        let dest = dest_of(&held);
        self.send(m, dest, Timing::decline(), now, rng)
    }

    /// Whether `r` answers this exchange at all: an ADVERTISE or REPLY with
    /// our transaction id that echoes our DUID (§16.3, §16.10: a client id
    /// is required since we always send one, and a different one is
    /// another client's, as when containers share a MAC).
    fn is_ours(&self, r: &Reply<'_>) -> bool {
        matches!(
            r.msg.message_type(),
            Some(MessageType::Advertise | MessageType::Reply)
        ) && r.msg.xid == self.xid
            && r.msg.client_id() == Some(self.id.duid.as_bytes())
    }

    /// Feed one message from a server.
    pub fn on_reply(&mut self, r: &Reply<'_>, now: Duration, rng: &mut impl Random) -> Step {
        if self.is_done() || self.delay_until.is_some() || !self.is_ours(r) {
            return Step::Wait;
        }
        let advertise = r.msg.message_type() == Some(MessageType::Advertise);
        let checked = match r.msg.check(self.id.iaid) {
            Ok(c) => c,
            Err(why) => return self.refuse(r, why),
        };
        match &self.state {
            State::Selecting { .. } if advertise => self.on_advertise(r, checked, now, rng),
            State::Selecting { .. } => {
                if !r.msg.rapid_commit() {
                    return self.refuse(r, "a REPLY to a SOLICIT without rapid commit".into());
                }
                if !self.rapid_commit() {
                    return self.refuse(r, "rapid commit, which was not asked for".into());
                }
                if checked.params.addrs.is_empty() || failure_of(&checked).is_some() {
                    return self.refuse(r, why_nothing(&checked));
                }
                let sent_at = self.sent_at();
                self.bound(r, checked, How::RapidCommit, sent_at)
            }
            _ if advertise => Step::Wait,
            State::Requesting { .. } => self.on_request_reply(r, checked, now, rng),
            State::Extending { rebinding } => {
                let rebinding = *rebinding;
                self.on_extend_reply(r, checked, rebinding, now, rng)
            }
            State::Confirming => match failure_of(&checked) {
                Some(StatusCode::NotOnLink) => {
                    self.resolicit_or(Failure::TooManyRestarts, now, rng)
                }
                Some(StatusCode::UseMulticast) => self.resend_multicast(),
                Some(StatusCode::UnspecFail) => self.refuse(r, why_nothing(&checked)),
                _ => self.finish(Step::Finished { answered: true }),
            },
            State::Releasing | State::Declining { .. } => {
                let server = self.held_server();
                if let Some(s) = server
                    && checked.params.server_id != s
                {
                    return self.refuse(r, "it is not from the lease's server".into());
                }
                if failure_of(&checked) == Some(StatusCode::UseMulticast) {
                    return self.resend_multicast();
                }
                // §18.2.10.2: done, whatever the status.
                if let State::Declining { then_solicit: true } = self.state {
                    return self.resolicit_or(Failure::TooManyRestarts, now, rng);
                }
                self.finish(Step::Finished { answered: true })
            }
            State::Informing => match failure_of(&checked) {
                Some(StatusCode::UseMulticast) => self.resend_multicast(),
                Some(_) => self.refuse(r, why_nothing(&checked)),
                None => self.finish(Step::Informed(checked.params)),
            },
            State::Idle | State::Done => Step::Wait,
        }
    }

    fn held_server(&self) -> Option<Duid> {
        match &self.goal {
            Goal::Release { held } | Goal::Decline { held } => Some(held.server_id.clone()),
            _ => self.held.as_ref().map(|h| h.server_id.clone()),
        }
    }

    fn sent_at(&self) -> Duration {
        self.rt.as_ref().map_or(Duration::ZERO, |r| r.first_sent)
    }

    /// UseMulticast (§18.2.10): send the same message again, multicast.
    fn resend_multicast(&mut self) -> Step {
        if let Some(h) = self.held.as_mut() {
            h.unicast = None;
        }
        let Some(out) = self.out.as_mut() else {
            return Step::Wait;
        };
        if out.dest == Dest::Multicast {
            return Step::Wait;
        }
        out.dest = Dest::Multicast;
        Step::Send(out.clone())
    }

    fn on_advertise(
        &mut self,
        r: &Reply<'_>,
        checked: Checked,
        now: Duration,
        rng: &mut impl Random,
    ) -> Step {
        // §18.2.9: SOL_MAX_RT counts even from an ADVERTISE otherwise ignored.
        if let (Some(s), Some(rt)) = (checked.params.sol_max_rt, self.rt.as_mut()) {
            rt.set_mrt(Duration::from_secs(s as u64));
        }
        let offered: Vec<_> = checked
            .params
            .addrs
            .iter()
            .filter(|a| !self.declined.contains(&a.addr))
            .cloned()
            .collect();
        if offered.is_empty() || failure_of(&checked).is_some() {
            if let Some(s) = checked.failure() {
                self.no_addrs = Some(s.message.clone());
            }
            return self.refuse(r, why_nothing(&checked));
        }
        let mut params = checked.params;
        params.addrs = offered;
        let ad = Advertised {
            params,
            server_mac: r.src_mac,
            src_ip: r.src_ip,
            warnings: checked.warnings,
        };
        let State::Selecting {
            advertised,
            collecting,
        } = &mut self.state
        else {
            return Step::Wait;
        };
        if advertised
            .iter()
            .any(|a| a.params.server_id == ad.params.server_id)
        {
            return Step::Wait; // the same server answering a retransmission
        }
        if advertised.len() == MAX_ADVERTISES {
            return self.refuse(
                r,
                format!("more than {MAX_ADVERTISES} servers advertised: dropped"),
            );
        }
        let urgent = ad.params.preference == 255 || !*collecting;
        advertised.push(ad);
        if urgent {
            let list = std::mem::take(advertised);
            return self.request_best(list, now, rng);
        }
        Step::Wait
    }

    fn on_request_reply(
        &mut self,
        r: &Reply<'_>,
        checked: Checked,
        now: Duration,
        rng: &mut impl Random,
    ) -> Step {
        let State::Requesting { server, how, .. } = &self.state else {
            return Step::Wait;
        };
        let how = *how;
        if checked.params.server_id != server.params.server_id {
            return self.refuse(
                r,
                format!(
                    "it is from server {}, not {} which the REQUEST was for",
                    checked.params.server_id, server.params.server_id
                ),
            );
        }
        match failure_of(&checked) {
            Some(StatusCode::UseMulticast) => return self.resend_multicast(),
            Some(StatusCode::UnspecFail) => return self.refuse(r, why_nothing(&checked)),
            Some(StatusCode::NotOnLink) => {
                return self.resolicit_or(Failure::TooManyRestarts, now, rng);
            }
            _ => {}
        }
        if checked.params.addrs.is_empty() || failure_of(&checked).is_some() {
            // NoAddrsAvail (or nothing granted): the next server, if any.
            self.no_addrs = Some(
                checked
                    .failure()
                    .map_or_else(|| why_nothing(&checked), |s| s.message.clone()),
            );
            let State::Requesting { others, .. } = std::mem::replace(&mut self.state, State::Idle)
            else {
                return Step::Wait;
            };
            if others.is_empty() {
                return self.finish(Step::Failed(Failure::NoAddrsAvail {
                    message: self.no_addrs.clone().filter(|m| !m.is_empty()),
                }));
            }
            return self.request_best(others, now, rng);
        }
        let sent_at = self.sent_at();
        self.bound(r, checked, how, sent_at)
    }

    fn on_extend_reply(
        &mut self,
        r: &Reply<'_>,
        checked: Checked,
        rebinding: bool,
        now: Duration,
        rng: &mut impl Random,
    ) -> Step {
        let Some(held) = self.held.clone() else {
            return Step::Wait;
        };
        if !rebinding && checked.params.server_id != held.server_id {
            return self.refuse(
                r,
                format!(
                    "it is from server {}, not {} which granted the lease",
                    checked.params.server_id, held.server_id
                ),
            );
        }
        match failure_of(&checked) {
            Some(StatusCode::UseMulticast) => return self.resend_multicast(),
            Some(StatusCode::UnspecFail) => return self.refuse(r, why_nothing(&checked)),
            Some(StatusCode::NotOnLink) => {
                return self.resolicit_or(Failure::TooManyRestarts, now, rng);
            }
            Some(StatusCode::NoBinding) => {
                // §18.2.10.1: REQUEST the addresses from the server that answered.
                let server = Advertised {
                    params: checked.params,
                    server_mac: r.src_mac,
                    src_ip: r.src_ip,
                    warnings: checked.warnings,
                };
                return self.request_from(server, Vec::new(), held.addrs, How::Requested, now, rng);
            }
            _ => {}
        }
        if !checked.ia_present {
            return self.refuse(r, "it holds no IA_NA for this lease".into());
        }
        if checked.params.addrs.is_empty() {
            let status = checked.failure().cloned();
            return self.finish(Step::Failed(Failure::NotExtended {
                withdrawn: checked.params.withdrawn,
                status,
            }));
        }
        let how = if rebinding {
            How::Rebound
        } else {
            How::Renewed
        };
        let sent_at = self.sent_at();
        self.bound(r, checked, how, sent_at)
    }

    fn bound(&mut self, r: &Reply<'_>, checked: Checked, how: How, sent_at: Duration) -> Step {
        let b = Bound {
            params: checked.params,
            server_mac: r.src_mac,
            server_ip: r.src_ip,
            how,
            sent_at,
            warnings: checked.warnings,
        };
        self.held = Some(b.held());
        self.finish(Step::Bound(b))
    }
}

/// Why a reply grants nothing, for a refusal or a failure.
fn why_nothing(c: &Checked) -> String {
    match c.failure() {
        Some(s) if s.message.is_empty() => format!("status {:?}", s.code),
        Some(s) => format!("status {:?}: {}", s.code, s.message),
        None => "it grants no usable address".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp6::message::code;
    use crate::dhcp6::reply::tests::{
        SERVER_DUID, a, ia, iaaddr, ident, msg, opt, reply_granting, status,
    };
    use proptest::prelude::*;

    const SERVER_MAC: Mac = Mac([2, 0, 0, 0, 0, 1]);
    const OTHER_DUID: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0, 9];

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// A fixed random sequence: every word different, RAND varied.
    fn rng() -> impl FnMut() -> u32 {
        let mut n = 0u32;
        move || {
            n = n.wrapping_add(0x9e37_79b9);
            n
        }
    }

    fn feed(x: &mut Exchange, b: &[u8], now: Duration) -> Step {
        let parsed = Reply6::parse(b).expect("a DHCPv6 message");
        x.on_reply(
            &Reply {
                msg: &parsed,
                src_mac: SERVER_MAC,
                src_ip: a("fe80::1"),
            },
            now,
            &mut rng(),
        )
    }

    fn sent(step: Step) -> Outgoing {
        match step {
            Step::Send(o) => o,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    /// An ADVERTISE or REPLY from `server` for `ident()`.
    fn answer(t: u8, xid: u32, server: &[u8], extra: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut opts = vec![
            (code::CLIENTID, ident().duid.as_bytes().to_vec()),
            (code::SERVERID, server.to_vec()),
        ];
        opts.extend_from_slice(extra);
        msg(t, xid, &opts)
    }

    fn grant(addr: &str) -> (u16, Vec<u8>) {
        (
            code::IA_NA,
            ia(ident().iaid, 0, 0, &[iaaddr(a(addr), 600, 900, &[])]),
        )
    }

    fn ia_status(c: u16) -> (u16, Vec<u8>) {
        (
            code::IA_NA,
            ia(
                ident().iaid,
                0,
                0,
                &[opt(code::STATUS_CODE, &status(c, ""))],
            ),
        )
    }

    fn acquiring(rapid_commit: bool) -> (Exchange, Outgoing) {
        let mut x = Exchange::new(
            ident(),
            Goal::Acquire {
                hint: None,
                rapid_commit,
            },
        )
        .without_initial_delay();
        let o = sent(x.start(Duration::ZERO, &mut rng()));
        (x, o)
    }

    fn held() -> Held {
        Held {
            addrs: vec![a("2001:db8:77::150")],
            server_id: Duid::from_bytes(&SERVER_DUID).unwrap(),
            unicast: None,
        }
    }

    #[test]
    fn solicit_advertise_request_reply_binds() {
        let (mut x, sol) = acquiring(false);
        assert_eq!(sol.msg.msg_type, MessageType::Solicit);
        assert_eq!(sol.dest, Dest::Multicast);
        let adv = answer(2, x.xid(), &SERVER_DUID, &[grant("2001:db8:77::150")]);
        assert_eq!(
            feed(&mut x, &adv, secs(0)),
            Step::Wait,
            "collecting until the first RT"
        );
        assert_eq!(x.advertised().len(), 1);
        let solicit_xid = x.xid();
        let due = x.deadline().unwrap();
        assert!(
            due > secs(1) && due <= Duration::from_millis(1100),
            "{due:?}"
        );
        let req = sent(x.on_timer(due, &mut rng()));
        assert_eq!(req.msg.msg_type, MessageType::Request);
        assert_ne!(
            req.msg.xid, solicit_xid,
            "a new message, a new transaction id"
        );
        assert_eq!(req.msg.option(code::SERVERID), Some(&SERVER_DUID[..]));
        assert_eq!(x.requesting().map(|s| s.server_mac), Some(SERVER_MAC));
        let reply = answer(7, req.msg.xid, &SERVER_DUID, &[grant("2001:db8:77::150")]);
        let Step::Bound(b) = feed(&mut x, &reply, due + secs(1)) else {
            panic!("not bound")
        };
        assert_eq!(b.params.ip(), Some(a("2001:db8:77::150")));
        assert_eq!(
            (b.how, b.server_mac, b.sent_at),
            (How::Requested, SERVER_MAC, due)
        );
        assert_eq!((b.params.t1, b.params.t2), (300, 480));
        assert!(x.is_done() && x.deadline().is_none());
        assert_eq!(b.held().server_id.as_bytes(), &SERVER_DUID);
    }

    #[test]
    fn preference_255_ends_the_wait_at_once() {
        let (mut x, _) = acquiring(false);
        let adv = answer(
            2,
            x.xid(),
            &SERVER_DUID,
            &[grant("2001:db8:77::150"), (code::PREFERENCE, vec![255])],
        );
        let req = sent(feed(&mut x, &adv, secs(0)));
        assert_eq!(req.msg.msg_type, MessageType::Request);
    }

    #[test]
    fn the_highest_preference_wins_and_the_first_among_equals() {
        let (mut x, _) = acquiring(false);
        let xid = x.xid();
        let s3: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0, 3];
        feed(
            &mut x,
            &answer(
                2,
                xid,
                &SERVER_DUID,
                &[grant("2001:db8::1"), (code::PREFERENCE, vec![5])],
            ),
            secs(0),
        );
        feed(
            &mut x,
            &answer(
                2,
                xid,
                &OTHER_DUID,
                &[grant("2001:db8::2"), (code::PREFERENCE, vec![9])],
            ),
            secs(0),
        );
        feed(
            &mut x,
            &answer(
                2,
                xid,
                &s3,
                &[grant("2001:db8::3"), (code::PREFERENCE, vec![9])],
            ),
            secs(0),
        );
        assert_eq!(choose(x.advertised()), Some(1));
        let req = sent(x.on_timer(x.deadline().unwrap(), &mut rng()));
        assert_eq!(req.msg.option(code::SERVERID), Some(&OTHER_DUID[..]));
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn an_advertise_without_addresses_is_ignored_but_its_sol_max_rt_counts() {
        let (mut x, _) = acquiring(false);
        let xid = x.xid();
        let noaddr = answer(
            2,
            xid,
            &SERVER_DUID,
            &[
                ia_status(2),
                (code::SOL_MAX_RT, 60u32.to_be_bytes().to_vec()),
            ],
        );
        assert_eq!(feed(&mut x, &noaddr, secs(0)), Step::Wait);
        assert!(x.advertised().is_empty());
        assert!(
            x.last_refusal().is_some_and(|r| r.contains("NoAddrsAvail")),
            "{:?}",
            x.last_refusal()
        );
        let top = answer(
            2,
            xid,
            &SERVER_DUID,
            &[(code::STATUS_CODE, status(2, "pool empty"))],
        );
        assert_eq!(feed(&mut x, &top, secs(0)), Step::Wait);
        assert!(x.advertised().is_empty());
        // With no ADVERTISE the SOLICIT is sent again, RT capped by the
        // server's 60 s.
        let mut now = x.deadline().unwrap();
        for _ in 0..12 {
            let o = sent(x.on_timer(now, &mut rng()));
            assert_eq!((o.msg.msg_type, o.msg.xid), (MessageType::Solicit, xid));
            let next = x.deadline().unwrap();
            assert!(next - now <= secs(66), "{:?}", next - now);
            now = next;
        }
    }

    #[test]
    fn replies_for_another_transaction_or_client_or_without_a_client_id_are_not_ours() {
        let (mut x, _) = acquiring(true);
        let xid = x.xid();
        let good = answer(
            7,
            xid,
            &SERVER_DUID,
            &[grant("2001:db8::1"), (code::RAPID_COMMIT, vec![])],
        );
        let mut other_xid = good.clone();
        other_xid[3] ^= 1;
        assert_eq!(feed(&mut x, &other_xid, secs(0)), Step::Wait);
        let theirs = msg(
            7,
            xid,
            &[
                (code::CLIENTID, OTHER_DUID.to_vec()),
                (code::SERVERID, SERVER_DUID.to_vec()),
                grant("2001:db8::1"),
                (code::RAPID_COMMIT, vec![]),
            ],
        );
        assert_eq!(feed(&mut x, &theirs, secs(0)), Step::Wait);
        let anonymous = msg(
            7,
            xid,
            &[
                (code::SERVERID, SERVER_DUID.to_vec()),
                grant("2001:db8::1"),
                (code::RAPID_COMMIT, vec![]),
            ],
        );
        assert_eq!(feed(&mut x, &anonymous, secs(0)), Step::Wait);
        let mut request = good.clone();
        request[0] = 3;
        assert_eq!(
            feed(&mut x, &request, secs(0)),
            Step::Wait,
            "a client's message"
        );
        assert!(
            x.last_refusal().is_none(),
            "none of these was even addressed to us"
        );
        assert!(matches!(feed(&mut x, &good, secs(0)), Step::Bound(_)));
    }

    #[test]
    fn keas_rapid_commit_reply_binds_and_its_release_reply_finishes() {
        use crate::dhcp6::reply::tests::{KEA_RAPID_REPLY, KEA_RELEASE_REPLY, unhex};
        let id = Identity::new(Mac([0x02, 0x42, 0xac, 0x11, 0x00, 0x03]));
        let mut x = Exchange::new(
            id.clone(),
            Goal::Acquire {
                hint: None,
                rapid_commit: true,
            },
        )
        .without_initial_delay();
        x.start(Duration::ZERO, &mut rng());
        let mut b = unhex(KEA_RAPID_REPLY);
        b[1..4].copy_from_slice(&x.xid().to_be_bytes()[1..]);
        let Step::Bound(bound) = feed(&mut x, &b, secs(0)) else {
            panic!("kea's rapid commit REPLY did not bind")
        };
        assert_eq!(
            (bound.how, bound.params.ip()),
            (How::RapidCommit, Some(a("2001:db8:77::200")))
        );
        let mut x = Exchange::new(id, Goal::Release { held: bound.held() });
        x.start(Duration::ZERO, &mut rng());
        let mut b = unhex(KEA_RELEASE_REPLY);
        b[1..4].copy_from_slice(&x.xid().to_be_bytes()[1..]);
        assert_eq!(feed(&mut x, &b, secs(0)), Step::Finished { answered: true });
    }

    #[test]
    fn rapid_commit_binds_only_when_asked() {
        let (mut x, sol) = acquiring(true);
        assert!(sol.msg.option(code::RAPID_COMMIT).is_some());
        let rc = answer(
            7,
            x.xid(),
            &SERVER_DUID,
            &[grant("2001:db8::1"), (code::RAPID_COMMIT, vec![])],
        );
        let Step::Bound(b) = feed(&mut x, &rc, secs(0)) else {
            panic!("not bound")
        };
        assert_eq!(b.how, How::RapidCommit);

        let (mut x, sol) = acquiring(false);
        assert!(sol.msg.option(code::RAPID_COMMIT).is_none());
        let rc = answer(
            7,
            x.xid(),
            &SERVER_DUID,
            &[grant("2001:db8::1"), (code::RAPID_COMMIT, vec![])],
        );
        assert_eq!(feed(&mut x, &rc, secs(0)), Step::Wait);
        assert!(x.last_refusal().is_some_and(|r| r.contains("not asked")));
        let plain = answer(7, x.xid(), &SERVER_DUID, &[grant("2001:db8::1")]);
        assert_eq!(feed(&mut x, &plain, secs(0)), Step::Wait);
        assert!(x.is_selecting());
    }

    /// An exchange REQUESTing from SERVER_DUID with OTHER_DUID as fallback.
    fn requesting() -> Exchange {
        let (mut x, _) = acquiring(false);
        let xid = x.xid();
        feed(
            &mut x,
            &answer(
                2,
                xid,
                &SERVER_DUID,
                &[grant("2001:db8::1"), (code::PREFERENCE, vec![9])],
            ),
            secs(0),
        );
        feed(
            &mut x,
            &answer(2, xid, &OTHER_DUID, &[grant("2001:db8::2")]),
            secs(0),
        );
        sent(x.on_timer(x.deadline().unwrap(), &mut rng()));
        x
    }

    #[test]
    fn while_requesting_a_reply_from_another_server_is_refused() {
        let mut x = requesting();
        let rogue = answer(7, x.xid(), &OTHER_DUID, &[grant("2001:db8::66")]);
        assert_eq!(feed(&mut x, &rogue, secs(2)), Step::Wait);
        assert!(x.last_refusal().is_some_and(|r| r.contains("not")));
        let genuine = answer(7, x.xid(), &SERVER_DUID, &[grant("2001:db8::1")]);
        assert!(matches!(feed(&mut x, &genuine, secs(2)), Step::Bound(_)));
    }

    #[test]
    fn no_addrs_avail_in_a_reply_moves_on_to_the_next_server_then_fails() {
        let mut x = requesting();
        let none = answer(7, x.xid(), &SERVER_DUID, &[ia_status(2)]);
        let req = sent(feed(&mut x, &none, secs(2)));
        assert_eq!(req.msg.option(code::SERVERID), Some(&OTHER_DUID[..]));
        let none = answer(
            7,
            x.xid(),
            &OTHER_DUID,
            &[(code::STATUS_CODE, status(2, "no more"))],
        );
        assert_eq!(
            feed(&mut x, &none, secs(3)),
            Step::Failed(Failure::NoAddrsAvail {
                message: Some("no more".into())
            })
        );
        assert!(x.is_done());
    }

    #[test]
    fn a_request_nobody_answers_is_sent_ten_times_then_the_next_server_is_asked() {
        let mut x = requesting();
        let first = x.xid();
        let mut sends = 1;
        let next = loop {
            let o = sent(x.on_timer(x.deadline().unwrap(), &mut rng()));
            if o.msg.xid != first {
                break o;
            }
            sends += 1;
        };
        assert_eq!(sends, 10);
        assert_eq!(next.msg.option(code::SERVERID), Some(&OTHER_DUID[..]));
    }

    #[test]
    fn retransmissions_keep_the_transaction_id_and_count_the_elapsed_time() {
        let (mut x, sol) = acquiring(false);
        let due = x.deadline().unwrap();
        let again = sent(x.on_timer(due, &mut rng()));
        assert_eq!(again.msg.xid, sol.msg.xid);
        let cs = crate::dhcp6::message::elapsed_centis(due).to_be_bytes();
        assert_eq!(again.msg.option(code::ELAPSED_TIME), Some(&cs[..]));
        assert_eq!(x.on_timer(due, &mut rng()), Step::Wait, "not due yet");
    }

    #[test]
    fn the_first_solicit_waits_a_random_delay_of_at_most_a_second() {
        let mut x = Exchange::new(
            ident(),
            Goal::Acquire {
                hint: None,
                rapid_commit: false,
            },
        );
        let start = secs(100);
        assert_eq!(x.start(start, &mut rng()), Step::Wait);
        let due = x.deadline().unwrap();
        assert!(due >= start && due <= start + secs(1), "{due:?}");
        assert_eq!(x.on_timer(start, &mut rng()), Step::Wait);
        let o = sent(x.on_timer(due, &mut rng()));
        assert_eq!(o.msg.msg_type, MessageType::Solicit);
        assert!(x.deadline().unwrap() > due + secs(1));
    }

    fn renewing() -> Exchange {
        let mut x = Exchange::new(
            ident(),
            Goal::Renew {
                held: held(),
                rebind_after: secs(180),
                expire_after: secs(300),
            },
        );
        let o = sent(x.start(Duration::ZERO, &mut rng()));
        assert_eq!(o.msg.msg_type, MessageType::Renew);
        assert_eq!(o.msg.option(code::SERVERID), Some(&SERVER_DUID[..]));
        x
    }

    #[test]
    fn a_renewal_is_taken_only_from_the_leases_server() {
        let mut x = renewing();
        let rogue = answer(7, x.xid(), &OTHER_DUID, &[grant("2001:db8:77::150")]);
        assert_eq!(feed(&mut x, &rogue, secs(1)), Step::Wait);
        assert!(
            x.last_refusal()
                .is_some_and(|r| r.contains("granted the lease"))
        );
        let ok = answer(7, x.xid(), &SERVER_DUID, &[grant("2001:db8:77::150")]);
        let Step::Bound(b) = feed(&mut x, &ok, secs(1)) else {
            panic!("not renewed")
        };
        assert_eq!(b.how, How::Renewed);
    }

    #[test]
    fn a_renew_unanswered_until_t2_becomes_a_rebind_to_any_server_until_expiry() {
        let mut x = renewing();
        let renew_xid = x.xid();
        let rebind = loop {
            let o = sent(x.on_timer(x.deadline().unwrap(), &mut rng()));
            if o.msg.msg_type != MessageType::Renew {
                break o;
            }
            assert_eq!(o.msg.xid, renew_xid);
        };
        assert_eq!(rebind.msg.msg_type, MessageType::Rebind);
        assert!(rebind.msg.option(code::SERVERID).is_none());
        assert_ne!(rebind.msg.xid, renew_xid);
        // Any server may extend a lease being rebound.
        let mut y = x.clone();
        let other = answer(7, y.xid(), &OTHER_DUID, &[grant("2001:db8:77::150")]);
        let Step::Bound(b) = feed(&mut y, &other, secs(200)) else {
            panic!("not rebound")
        };
        assert_eq!(
            (b.how, b.params.server_id.as_bytes()),
            (How::Rebound, &OTHER_DUID[..])
        );
        // Unanswered, it ends at the valid lifetime.
        let end = loop {
            match x.on_timer(x.deadline().unwrap(), &mut rng()) {
                Step::Send(_) => assert!(x.deadline().unwrap() <= secs(300)),
                other => break other,
            }
        };
        assert_eq!(end, Step::Failed(Failure::Expired));
    }

    #[test]
    fn no_binding_on_renew_requests_the_addresses_again() {
        let mut x = renewing();
        let nb = answer(7, x.xid(), &SERVER_DUID, &[ia_status(3)]);
        let req = sent(feed(&mut x, &nb, secs(1)));
        assert_eq!(req.msg.msg_type, MessageType::Request);
        assert_eq!(req.msg.option(code::SERVERID), Some(&SERVER_DUID[..]));
        assert!(
            req.msg
                .option(code::IA_NA)
                .is_some_and(|v| v.windows(16).any(|w| w == a("2001:db8:77::150").octets())),
            "the held address is asked for"
        );
        let ok = answer(7, req.msg.xid, &SERVER_DUID, &[grant("2001:db8:77::150")]);
        let Step::Bound(b) = feed(&mut x, &ok, secs(2)) else {
            panic!("not bound")
        };
        assert_eq!(b.how, How::Requested);
    }

    #[test]
    fn not_on_link_sends_the_client_back_to_solicit() {
        let mut x = renewing();
        let nol = answer(
            7,
            x.xid(),
            &SERVER_DUID,
            &[(code::STATUS_CODE, status(4, ""))],
        );
        let o = sent(feed(&mut x, &nol, secs(1)));
        assert_eq!(o.msg.msg_type, MessageType::Solicit);
        assert!(x.is_selecting());
        let mut x = requesting();
        let nol = answer(7, x.xid(), &SERVER_DUID, &[ia_status(4)]);
        assert_eq!(
            sent(feed(&mut x, &nol, secs(1))).msg.msg_type,
            MessageType::Solicit
        );
    }

    #[test]
    fn use_multicast_resends_the_same_message_multicast() {
        let mut h = held();
        h.unicast = Some((a("2001:db8:77::1"), SERVER_MAC));
        let mut x = Exchange::new(
            ident(),
            Goal::Renew {
                held: h,
                rebind_after: secs(100),
                expire_after: secs(200),
            },
        );
        let o = sent(x.start(Duration::ZERO, &mut rng()));
        assert_eq!(
            o.dest,
            Dest::Unicast {
                dst_ip: a("2001:db8:77::1"),
                dst_mac: SERVER_MAC
            }
        );
        let um = answer(
            7,
            x.xid(),
            &SERVER_DUID,
            &[(code::STATUS_CODE, status(5, ""))],
        );
        let again = sent(feed(&mut x, &um, secs(1)));
        assert_eq!((again.dest, again.msg.xid), (Dest::Multicast, o.msg.xid));
        assert_eq!(feed(&mut x, &um, secs(1)), Step::Wait, "already multicast");
    }

    #[test]
    fn a_renewal_that_withdraws_the_address_is_not_an_extension() {
        let mut x = renewing();
        let gone = answer(
            7,
            x.xid(),
            &SERVER_DUID,
            &[(
                code::IA_NA,
                ia(
                    ident().iaid,
                    0,
                    0,
                    &[iaaddr(a("2001:db8:77::150"), 0, 0, &[])],
                ),
            )],
        );
        assert_eq!(
            feed(&mut x, &gone, secs(1)),
            Step::Failed(Failure::NotExtended {
                withdrawn: vec![a("2001:db8:77::150")],
                status: None
            })
        );
    }

    #[test]
    fn unspec_fail_keeps_the_retransmissions_going() {
        let mut x = renewing();
        let uf = answer(
            7,
            x.xid(),
            &SERVER_DUID,
            &[(code::STATUS_CODE, status(1, "busy"))],
        );
        assert_eq!(feed(&mut x, &uf, secs(1)), Step::Wait);
        assert!(!x.is_done() && x.last_refusal().is_some_and(|r| r.contains("busy")));
    }

    #[test]
    fn a_release_ends_on_any_reply_of_its_server_or_after_four_sends() {
        let mut x = Exchange::new(ident(), Goal::Release { held: held() });
        let o = sent(x.start(Duration::ZERO, &mut rng()));
        assert_eq!(o.msg.msg_type, MessageType::Release);
        let other = answer(7, x.xid(), &OTHER_DUID, &[]);
        assert_eq!(feed(&mut x, &other, secs(0)), Step::Wait);
        let r = answer(
            7,
            x.xid(),
            &SERVER_DUID,
            &[(code::STATUS_CODE, status(3, ""))],
        );
        assert_eq!(feed(&mut x, &r, secs(0)), Step::Finished { answered: true });

        let mut x = Exchange::new(ident(), Goal::Release { held: held() });
        x.start(Duration::ZERO, &mut rng());
        let mut sends = 1;
        loop {
            match x.on_timer(x.deadline().unwrap(), &mut rng()) {
                Step::Send(_) => sends += 1,
                other => {
                    assert_eq!(other, Step::Finished { answered: false });
                    break;
                }
            }
        }
        assert_eq!(sends, 4);
    }

    #[test]
    fn after_dad_fails_the_address_is_declined_then_never_taken_again() {
        let (mut x, _) = acquiring(true);
        let rc = answer(
            7,
            x.xid(),
            &SERVER_DUID,
            &[grant("2001:db8::1"), (code::RAPID_COMMIT, vec![])],
        );
        let Step::Bound(b) = feed(&mut x, &rc, secs(0)) else {
            panic!("not bound")
        };
        let dec = sent(x.on_dad_failure(&b, &[a("2001:db8::1")], secs(2), &mut rng()));
        assert_eq!(dec.msg.msg_type, MessageType::Decline);
        assert_eq!(dec.msg.option(code::SERVERID), Some(&SERVER_DUID[..]));
        let done = answer(7, x.xid(), &SERVER_DUID, &[]);
        let sol = sent(feed(&mut x, &done, secs(3)));
        assert_eq!(sol.msg.msg_type, MessageType::Solicit);
        // The same address offered again is not taken; another one is.
        let same = answer(
            2,
            x.xid(),
            &SERVER_DUID,
            &[grant("2001:db8::1"), (code::PREFERENCE, vec![255])],
        );
        assert_eq!(feed(&mut x, &same, secs(3)), Step::Wait);
        let other = answer(
            2,
            x.xid(),
            &SERVER_DUID,
            &[grant("2001:db8::2"), (code::PREFERENCE, vec![255])],
        );
        assert_eq!(
            sent(feed(&mut x, &other, secs(3))).msg.msg_type,
            MessageType::Request
        );
    }

    #[test]
    fn a_confirm_is_done_on_success_and_solicits_on_not_on_link() {
        let addrs = vec![a("2001:db8:77::150")];
        let mut x = Exchange::new(
            ident(),
            Goal::Confirm {
                addrs: addrs.clone(),
            },
        )
        .without_initial_delay();
        let o = sent(x.start(Duration::ZERO, &mut rng()));
        assert_eq!(o.msg.msg_type, MessageType::Confirm);
        let ok = answer(
            7,
            x.xid(),
            &SERVER_DUID,
            &[(code::STATUS_CODE, status(0, "all on link"))],
        );
        assert_eq!(
            feed(&mut x, &ok, secs(0)),
            Step::Finished { answered: true }
        );
        let mut x = Exchange::new(
            ident(),
            Goal::Confirm {
                addrs: addrs.clone(),
            },
        )
        .without_initial_delay();
        x.start(Duration::ZERO, &mut rng());
        let nol = answer(
            7,
            x.xid(),
            &SERVER_DUID,
            &[(code::STATUS_CODE, status(4, ""))],
        );
        assert_eq!(
            sent(feed(&mut x, &nol, secs(0))).msg.msg_type,
            MessageType::Solicit
        );
        let mut x = Exchange::new(ident(), Goal::Confirm { addrs }).without_initial_delay();
        x.start(Duration::ZERO, &mut rng());
        let end = loop {
            match x.on_timer(x.deadline().unwrap(), &mut rng()) {
                Step::Send(_) => {}
                other => break other,
            }
        };
        assert_eq!(end, Step::Finished { answered: false });
    }

    #[test]
    fn an_information_request_is_answered_with_dns_and_no_address() {
        let mut x = Exchange::new(ident(), Goal::Information).without_initial_delay();
        let o = sent(x.start(Duration::ZERO, &mut rng()));
        assert_eq!(o.msg.msg_type, MessageType::InformationRequest);
        let r = answer(
            7,
            x.xid(),
            &SERVER_DUID,
            &[(code::DNS_SERVERS, a("2001:db8::53").octets().to_vec())],
        );
        let Step::Informed(p) = feed(&mut x, &r, secs(0)) else {
            panic!("not informed")
        };
        assert_eq!(p.dns, vec![a("2001:db8::53")]);
    }

    #[test]
    fn a_reply_granting_a_link_local_address_never_binds() {
        let (mut x, _) = acquiring(true);
        let b = reply_granting(7, x.xid(), a("fe80::5"), 60, 120);
        let mut b = b;
        put_rapid(&mut b);
        assert_eq!(feed(&mut x, &b, secs(0)), Step::Wait);
        assert!(x.last_refusal().is_some());
    }

    fn put_rapid(b: &mut Vec<u8>) {
        crate::dhcp6::message::put_option(b, code::RAPID_COMMIT, &[]);
    }

    fn any_reply(xid: u32) -> impl Strategy<Value = Vec<u8>> {
        let addr = prop_oneof![
            Just(a("2001:db8::1")),
            Just(a("fe80::1")),
            Just(a("ff02::1")),
            any::<[u8; 16]>().prop_map(Ipv6Addr::from),
        ];
        (
            prop_oneof![Just(2u8), Just(7u8), any::<u8>()],
            prop_oneof![
                Just(SERVER_DUID.to_vec()),
                Just(OTHER_DUID.to_vec()),
                proptest::collection::vec(any::<u8>(), 0..8)
            ],
            addr,
            any::<u32>(),
            any::<u32>(),
            proptest::option::of(0u16..8),
            any::<bool>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(move |(t, server, addr, pref, valid, st, rapid, t1, t2)| {
                let mut inner = vec![iaaddr(addr, pref, valid, &[])];
                if let Some(c) = st {
                    inner.push(opt(code::STATUS_CODE, &status(c, "x")));
                }
                let mut opts = vec![
                    (code::CLIENTID, ident().duid.as_bytes().to_vec()),
                    (code::SERVERID, server),
                    (code::IA_NA, ia(ident().iaid, t1, t2, &inner)),
                ];
                if rapid {
                    opts.push((code::RAPID_COMMIT, vec![]));
                }
                msg(t, xid, &opts)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        #[test]
        fn any_sequence_of_replies_and_timers_never_panics_and_binds_only_sane_leases(
            goal in 0u8..5,
            events in proptest::collection::vec((any_reply(0), any::<bool>(), 0u64..5000), 1..12),
        ) {
            let goal = match goal {
                0 => Goal::Acquire { hint: None, rapid_commit: true },
                1 => Goal::Acquire { hint: None, rapid_commit: false },
                2 => Goal::Renew { held: held(), rebind_after: secs(60), expire_after: secs(120) },
                3 => Goal::Rebind { held: held(), expire_after: secs(60) },
                _ => Goal::Release { held: held() },
            };
            let renewing_from = matches!(goal, Goal::Renew { .. });
            let mut x = Exchange::new(ident(), goal).without_initial_delay();
            let mut r = rng();
            let mut now = Duration::ZERO;
            x.start(now, &mut r);
            for (mut b, timer, dt) in events {
                now += Duration::from_millis(dt);
                // Address the reply to the current transaction.
                b[1..4].copy_from_slice(&x.xid().to_be_bytes()[1..]);
                let step = if timer {
                    x.on_timer(now, &mut r)
                } else {
                    feed(&mut x, &b, now)
                };
                if let Step::Bound(bd) = &step {
                    prop_assert!(!bd.params.addrs.is_empty());
                    for ad in &bd.params.addrs {
                        prop_assert!(crate::dhcp6::reply::is_lease_address(ad.addr));
                    }
                    if renewing_from && bd.how == How::Renewed {
                        prop_assert_eq!(bd.params.server_id.as_bytes(), &SERVER_DUID[..]);
                    }
                }
                if x.is_done() {
                    prop_assert!(x.deadline().is_none());
                    break;
                }
                prop_assert!(x.deadline().is_some());
            }
        }
    }
}
