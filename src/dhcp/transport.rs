//! Runs many exchanges over one packet socket on one interface.
//!
//! One task, one socket: replies are matched to exchanges by transaction id
//! (and, inside the exchange, by MAC). A batch is paced to what the server
//! answers: at most `window` exchanges are in flight, the window grows with
//! each success and halves when a retransmission timer fires, and
//! retransmission waits shrink to a few round trips once the server has
//! shown how fast it is (see `retransmit::Pacer`).
//!
//! While an exchange renews an address, the server may ARP for it before it
//! can unicast the ACK; if no container holds the address right now, nobody
//! else would answer, so the transport answers for the exchange's MAC.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

use super::client::{Bound, Dest, Exchange, Goal, Outgoing, Reply, Step};
use super::message::{self, Identity};
use super::reply::Bootreply;
use super::retransmit::{Pacer, jitter_from};
use crate::error::{Error, Result};
use crate::net::frame::{self, ARP_REPLY, ARP_REQUEST, Arp, UdpFrame};
use crate::net::iface::Interface;
use crate::net::mac::{Mac, random_u32};
use crate::net::packet::PacketSocket;

pub const CLIENT_PORT: u16 = 68;
pub const SERVER_PORT: u16 = 67;

#[derive(Debug, Clone)]
pub struct Job {
    pub id: Identity,
    pub goal: Goal,
}

// One outcome per job, moved once: boxing `Bound` would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Outcome {
    Bound(Bound),
    Refused {
        server_id: Ipv4Addr,
        message: Option<String>,
    },
    NoAnswer,
    /// The run stopped on an error (e.g. the interface disappeared).
    Failed(String),
}

/// A DHCPREQUEST (SELECTING) about to go out: from then on the server may
/// hold `offer.ip` for `id`.
#[derive(Debug, Clone)]
pub struct Requested {
    pub id: Identity,
    pub offer: message::Params,
    pub server_mac: Mac,
    pub at: SystemTime,
}

/// Told, before REQUESTs go out, what the server may hold once they do
/// (`lease::intent` writes it to disk). REQUESTs answering offers that came
/// in together are told in one call, so one write covers a round.
pub trait Intents: Send + Sync {
    /// Err: the REQUESTs are not sent, and the run stops with that error.
    fn requesting(&self, batch: &[Requested]) -> Result<()>;
}

#[derive(Clone)]
pub struct IntentSink(pub std::sync::Arc<dyn Intents>);

impl std::fmt::Debug for IntentSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntentSink")
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Give up on what has not finished by then (from the start of the run).
    pub timeout: Duration,
    /// Ask servers to broadcast replies (BOOTP broadcast flag).
    pub broadcast_flag: bool,
    /// Exchanges in flight at first; grows with successes.
    pub window: usize,
    /// After an ACK, probe the address by ARP for this long (RFC 5227) and
    /// DECLINE it when another host answers for it.
    pub arp_check: Option<Duration>,
    /// Told before each round of SELECTING REQUESTs goes out.
    pub intents: Option<IntentSink>,
    /// When this turns true (a signal), the run ends at once; what finished
    /// is in the outcomes, the rest is `NoAnswer`.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(30),
            broadcast_flag: true,
            window: 8,
            arp_check: None,
            intents: None,
            stop: None,
        }
    }
}

/// Wait until `stop` turns true; forever without one.
async fn stopped(stop: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    match stop {
        Some(rx) => {
            if rx.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// How long REQUESTs may wait for others to share their intent write.
const INTENT_GATHER: Duration = Duration::from_millis(5);

const MAX_WINDOW: usize = 64;
/// Above this many MACs in one run, one promiscuous membership replaces a
/// unicast filter entry per MAC.
const MAX_UNICAST_FILTERS: usize = 16;

struct Active {
    job: usize,
    ex: Exchange,
    last: Outgoing,
    started: Instant,
    /// Wall time the current message was first sent: a lease granted in
    /// answer runs from here.
    requested_at: SystemTime,
    sent_at: Instant,
    attempt: u32,
    retransmit_at: Instant,
    /// Waiting to DISCOVER again (`last` is that DISCOVER, not yet sent)
    /// because this address was offered to another exchange of the run too.
    deferred: Option<Ipv4Addr>,
    /// How many offers this exchange gave up for that reason.
    defers: u32,
    /// DISCOVERs sent since this exchange last (re)started selecting.
    discovers: u32,
}

/// Wrap a DHCP message into a frame for `dest`.
pub fn frame_for(mac: Mac, out: &Outgoing) -> Vec<u8> {
    let payload = message::encode(&out.msg);
    let (src_ip, dst_ip, dst_mac) = match out.dest {
        Dest::Broadcast => (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, Mac::BROADCAST),
        Dest::Unicast {
            src_ip,
            dst_ip,
            dst_mac,
        } => (src_ip, dst_ip, dst_mac),
    };
    frame::build_udp(&UdpFrame {
        src_mac: mac,
        dst_mac,
        src_ip,
        dst_ip,
        src_port: CLIENT_PORT,
        dst_port: SERVER_PORT,
        payload: &payload,
    })
}

/// Open the socket for `iface`, mapping errors to what a person can act on.
pub fn open_socket(iface: &Interface, arp: bool) -> Result<PacketSocket> {
    PacketSocket::open(iface.index, arp).map_err(|e| {
        Error::from_os(
            &format!("opening a packet socket on {}", iface.name),
            e,
            "CAP_NET_RAW",
        )
    })
}

/// Let the socket receive unicast frames for `mac` (not needed for the
/// interface's own address).
pub fn accept_mac(sock: &PacketSocket, iface: &Interface, mac: Mac) -> Result<()> {
    if mac != iface.mac {
        sock.accept_unicast(mac).map_err(|e| {
            Error::from_os(
                &format!("adding {mac} to the receive filter of {}", iface.name),
                e,
                "CAP_NET_RAW",
            )
        })?;
    }
    Ok(())
}

fn send_err(iface: &Interface, e: std::io::Error) -> Error {
    Error::from_os(&format!("sending on {}", iface.name), e, "CAP_NET_RAW")
}

/// Run `jobs` to completion (or until the timeout); outcomes are in job order.
/// `on_done` is called once per finished job (for progress bars).
pub async fn run(
    iface: &Interface,
    jobs: &[Job],
    opts: &Options,
    mut on_done: impl FnMut(usize, &Outcome),
) -> Result<Vec<Outcome>> {
    let needs_arp = jobs
        .iter()
        .any(|j| matches!(j.goal, Goal::Renew { .. } | Goal::Rebind { .. }));
    let sock = open_socket(iface, needs_arp)?;
    if jobs.len() > MAX_UNICAST_FILTERS {
        sock.accept_all().map_err(|e| {
            Error::from_os(
                &format!("receiving all frames on {}", iface.name),
                e,
                "CAP_NET_RAW",
            )
        })?;
    } else {
        for j in jobs {
            accept_mac(&sock, iface, j.id.mac)?;
        }
    }
    let elsewhere = listener_elsewhere(iface, jobs).await?;
    let mut outcomes: Vec<Option<Outcome>> = vec![None; jobs.len()];
    let socks = Sockets {
        own: &sock,
        elsewhere: elsewhere.as_ref().map(|(s, p)| (s, *p)),
    };
    let failure = drive(&socks, iface, jobs, opts, &mut outcomes, &mut on_done)
        .await
        .err();
    if let Some(e) = &failure {
        log::error!("stopped before every exchange finished: {e}");
    }
    Ok(outcomes
        .into_iter()
        .enumerate()
        .map(|(j, o)| {
            o.unwrap_or_else(|| {
                let o = match &failure {
                    Some(e) => Outcome::Failed(e.to_string()),
                    None => Outcome::NoAnswer,
                };
                on_done(j, &o);
                o
            })
        })
        .collect())
}

/// A renewal of an address this host holds itself (the shim's own lease:
/// its interface carries the leased address) is answered by unicast to
/// that address, after the server ARPs for it. Linux answers that ARP on
/// every interface of the segment (the weak host model, `arp_ignore` 0),
/// each with its own MAC, and the parent's answer comes first: dnsmasq then
/// sends its ACK to the parent's MAC, where a socket on the shim never sees
/// it. For such runs on a macvlan or ipvlan link, a second socket listens
/// on its parent (the lower device), for replies addressed to this host
/// that come in there. Only there: a socket on every interface would take a
/// forged reply from any other segment the host is on, and record its
/// source MAC as the server's (later RENEWs would go to a MAC not on this
/// segment).
async fn listener_elsewhere(
    iface: &Interface,
    jobs: &[Job],
) -> Result<Option<(PacketSocket, u32)>> {
    let local = crate::net::iface::local_ipv4s();
    let held_here = jobs.iter().find_map(|j| match j.goal {
        Goal::Renew { ip, .. } | Goal::Rebind { ip } if local.contains(&ip) => Some(ip),
        _ => None,
    });
    let Some(ip) = held_here else {
        return Ok(None);
    };
    let link = crate::net::link::Netlink::connect()?
        .get_index(iface.index)
        .await?;
    let parent = link.and_then(|l| match (l.kind.as_deref(), l.parent_index) {
        (Some("macvlan" | "macvtap" | "ipvlan" | "ipvtap"), Some(p))
            if p != iface.index && p != 0 =>
        {
            Some(p)
        }
        _ => None,
    });
    let Some(parent) = parent else {
        log::debug!(
            "{ip} is an address of this host on {}, which has no parent link: its own socket hears the answer",
            iface.name
        );
        return Ok(None);
    };
    log::debug!(
        "{ip} is an address of this host: listening for its server's answer on the parent of {} (link #{parent}) too",
        iface.name
    );
    PacketSocket::open(parent, false)
        .map(|s| Some((s, parent)))
        .map_err(|e| {
            Error::from_os(
                &format!("opening a packet socket on the parent of {}", iface.name),
                e,
                "CAP_NET_RAW",
            )
        })
}

/// The sockets of a run: the interface's own (it sends, and receives
/// everything on the interface) and, for renewals of this host's own
/// addresses, one on the interface's parent (`listener_elsewhere`).
struct Sockets<'a> {
    own: &'a PacketSocket,
    elsewhere: Option<(&'a PacketSocket, u32)>,
}

impl Sockets<'_> {
    /// The next frame for the run: from the interface's own socket, or a
    /// frame addressed to this host (PACKET_HOST) that came in on the
    /// parent (the socket there is bound to it; the index is checked all
    /// the same).
    async fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some((other, parent)) = self.elsewhere else {
            return self.own.recv(buf).await;
        };
        let mut spare = vec![0u8; buf.len()];
        loop {
            let got = tokio::select! {
                r = self.own.recv(buf) => Err(r?),
                r = other.recv_from(&mut spare) => Ok(r?),
            };
            match got {
                Err(n) => return Ok(n),
                Ok((n, from, kind)) if kind == libc::PACKET_HOST && from == parent => {
                    let n = n.min(buf.len());
                    buf[..n].copy_from_slice(&spare[..n]);
                    return Ok(n);
                }
                Ok(_) => continue,
            }
        }
    }
}

/// The event loop of `run`: fills `outcomes` as exchanges finish. An error
/// (the interface went away, say) stops it; what finished stays in
/// `outcomes`, so granted leases are never lost with the error.
///
/// Exchanges of one run coordinate: a server may offer one free address to
/// two clients whose DISCOVERs cross (dnsmasq does, and NAKs the slower
/// REQUEST with "address in use"). An OFFER of an address that another
/// exchange of this run is already requesting, or was granted, is not
/// REQUESTed: that exchange starts over with a new DISCOVER once the other
/// one is done (or after `DEFER_FALLBACK`), so contention never becomes a
/// failure. And when the server has answered this run but then offers
/// nothing to anyone for `STARVED_AFTER` while every exchange left has sent
/// `STARVED_DISCOVERS` DISCOVERs, its pool is taken to be exhausted: the run
/// ends there instead of at the timeout (those exchanges are `NoAnswer`).
async fn drive(
    socks: &Sockets<'_>,
    iface: &Interface,
    jobs: &[Job],
    opts: &Options,
    outcomes: &mut [Option<Outcome>],
    on_done: &mut impl FnMut(usize, &Outcome),
) -> Result<()> {
    let begin = Instant::now();
    let deadline = begin + opts.timeout;
    let mut queue: VecDeque<usize> = (0..jobs.len()).collect();
    let mut active: HashMap<u32, Active> = HashMap::new();
    let mut window = opts.window.max(1);
    let mut pacer = Pacer::default();
    let mut buf = vec![0u8; 2048];
    let mut remaining = jobs.len();
    // Addresses granted in this run: an offer of one of them is stale.
    let mut granted: HashSet<Ipv4Addr> = HashSet::new();
    // The last time any exchange of this run got an OFFER or an ACK.
    let mut last_progress: Option<Instant> = None;
    let mut stop = opts.stop.clone();
    // SELECTING REQUESTs waiting for their intents to be written, and when
    // the first of them came.
    let mut held: Vec<u32> = Vec::new();
    let mut held_since = begin;
    let far = deadline + Duration::from_secs(3600);
    let sock = socks.own;

    while remaining > 0 {
        // Write the intents of the held REQUESTs in one go, then send them:
        // once every exchange in flight waits on one, or a moment passed.
        if !held.is_empty()
            && (held.len() >= active.len() || Instant::now() >= held_since + INTENT_GATHER)
        {
            flush_requests(sock, iface, opts, &mut active, &mut held, &pacer).await?;
        }
        // Start queued jobs while the window allows.
        while active.len() < window {
            let Some(j) = queue.pop_front() else { break };
            let mut ex = Exchange::new(
                jobs[j].id.clone(),
                jobs[j].goal.clone(),
                opts.broadcast_flag,
            );
            let xid = fresh_xid(&active);
            let out = ex.start(xid);
            sock.send(&frame_for(jobs[j].id.mac, &out))
                .await
                .map_err(|e| send_err(iface, e))?;
            let now = Instant::now();
            let retransmit_at = now + pacer.delay(0, jitter_from(random_u32()));
            active.insert(
                xid,
                Active {
                    job: j,
                    ex,
                    last: out,
                    started: now,
                    requested_at: SystemTime::now(),
                    sent_at: now,
                    attempt: 0,
                    retransmit_at,
                    deferred: None,
                    defers: 0,
                    discovers: 1,
                },
            );
        }
        // What the pacer has learned also applies to exchanges already
        // waiting on the RFC's 4 s: pull their timers in.
        for a in active
            .values_mut()
            .filter(|a| a.deferred.is_none() && a.retransmit_at != far)
        {
            a.retransmit_at = a.retransmit_at.min(a.sent_at + pacer.delay(a.attempt, 0));
        }
        let mut next_timer = active
            .values()
            .map(|a| a.retransmit_at)
            .min()
            .unwrap_or(deadline)
            .min(deadline);
        if !held.is_empty() {
            next_timer = next_timer.min(held_since + INTENT_GATHER);
        }

        tokio::select! {
            _ = stopped(&mut stop) => {
                log::warn!(
                    "interrupted: stopping {} exchange(s) on {}",
                    active.len() + queue.len(),
                    iface.name
                );
                break;
            }
            r = socks.recv(&mut buf) => {
                let n = r.map_err(|e| Error::from_os(&format!("receiving on {}", iface.name), e, "CAP_NET_RAW"))?;
                let frame_bytes = &buf[..n];
                if let Some(arp) = frame::parse_arp(frame_bytes) {
                    answer_arp(sock, &active, &arp).await;
                    continue;
                }
                let Some(udp) = frame::parse_udp(frame_bytes) else { continue };
                if udp.dst_port != CLIENT_PORT || udp.src_port != SERVER_PORT {
                    continue;
                }
                let Some(msg) = Bootreply::parse(udp.payload) else {
                    log::debug!("ignoring an undecodable DHCP reply from {}", udp.src_ip);
                    continue;
                };
                let xid = msg.xid;
                let Some(a) = active.get_mut(&xid) else { continue };
                if a.deferred.is_some() {
                    continue; // waiting to start over: this reply is stale
                }
                let reply = Reply { msg: &msg, src_mac: udp.src_mac, src_ip: udp.src_ip };
                let now = Instant::now();
                let had_refusal = a.ex.last_refusal().is_some();
                let mut step = a.ex.on_reply(&reply);
                if !had_refusal && let Some(why) = a.ex.last_refusal() {
                    // Said once per exchange: a rogue host spraying replies
                    // must not flood the log.
                    log::warn!("{}: {why}", a.ex.id.mac);
                }
                if !matches!(step, Step::Ignore) {
                    pacer.observe(now - a.sent_at);
                    last_progress = Some(now);
                    log::debug!("xid {xid:#010x} {} <- {} {:?}", a.ex.id.mac, udp.src_ip, msg.msg_type());
                }
                if let Step::Bound(b) = &mut step {
                    b.requested_at = Some(a.requested_at);
                    for w in &b.warnings {
                        log::warn!("{}: the server's reply for {}: {w}", a.ex.id.mac, b.params.ip);
                    }
                }
                // An offer of an address another exchange of this run holds
                // or is requesting: start over instead of REQUESTing it.
                let offered = match step {
                    Step::Send(_) => a.ex.requested_ip(),
                    _ => None,
                };
                if let Some(ip) = offered {
                    let claimant = active
                        .iter()
                        .find(|(x, o)| **x != xid && o.deferred.is_none() && o.ex.requested_ip() == Some(ip))
                        .map(|(_, o)| o.ex.id.mac);
                    let stale = granted.contains(&ip);
                    if (claimant.is_some() || stale)
                        && let Some(mut a) = active.remove(&xid)
                    {
                        if a.defers < MAX_DEFERS {
                            a.defers += 1;
                            match claimant {
                                Some(other) => log::debug!("{}: {ip} is offered to {other} of this batch too; waiting to DISCOVER again", a.ex.id.mac),
                                None => log::debug!("{}: {ip} was granted to another exchange of this batch; DISCOVER again", a.ex.id.mac),
                            }
                            let nx = fresh_xid(&active);
                            a.last = a.ex.start(nx);
                            a.deferred = Some(ip);
                            a.discovers = 0;
                            // Wake up when the claimant is done; a stale
                            // offer (the address is granted) almost at once.
                            let wait = if claimant.is_some() { DEFER_FALLBACK } else { DEFER_STALE * a.defers };
                            a.retransmit_at = now + wait;
                            active.insert(nx, a);
                            continue;
                        }
                        // A server that keeps offering the same address:
                        // let it decide (REQUEST anyway).
                        active.insert(xid, a);
                    }
                }
                let Some(a) = active.get_mut(&xid) else { continue };
                match step {
                    Step::Ignore => {}
                    Step::Send(out) if opts.intents.is_some() && a.ex.requesting().is_some() => {
                        // Held until its intent is on disk (`flush_requests`).
                        a.last = out;
                        a.attempt = 0;
                        a.retransmit_at = far;
                        a.sent_at = now;
                        if held.is_empty() {
                            held_since = now;
                        }
                        held.push(xid);
                    }
                    Step::Send(out) => {
                        sock.send(&frame_for(a.ex.id.mac, &out)).await.map_err(|e| send_err(iface, e))?;
                        a.last = out;
                        a.attempt = 0;
                        a.requested_at = SystemTime::now();
                        a.sent_at = now;
                        a.retransmit_at = now + pacer.delay(0, jitter_from(random_u32()));
                    }
                    Step::Restart => {
                        let Some(mut a) = active.remove(&xid) else { continue };
                        log::info!("{}: the server refused (DHCPNAK); starting over", a.ex.id.mac);
                        if let Some(ip) = a.ex.requested_ip() {
                            wake_waiters(&mut active, ip, now);
                        }
                        // Collisions between concurrent offers cause most NAKs
                        // in a batch: fewer exchanges in flight, fewer collisions.
                        window = (window / 2).max(1);
                        let nx = fresh_xid(&active);
                        a.last = a.ex.start(nx);
                        sock.send(&frame_for(a.ex.id.mac, &a.last)).await.map_err(|e| send_err(iface, e))?;
                        a.attempt = 0;
                        a.discovers = 1;
                        a.requested_at = SystemTime::now();
                        a.sent_at = now;
                        a.retransmit_at = now + pacer.delay(0, jitter_from(random_u32()));
                        active.insert(nx, a);
                    }
                    Step::Bound(b) => {
                        let j = a.job;
                        active.remove(&xid);
                        granted.insert(b.params.ip);
                        wake_waiters(&mut active, b.params.ip, now);
                        window = (window + 1).min(MAX_WINDOW);
                        let o = Outcome::Bound(b);
                        on_done(j, &o);
                        outcomes[j] = Some(o);
                        remaining -= 1;
                    }
                    Step::Refused { server_id, message } => {
                        let j = a.job;
                        if let Some(ip) = a.ex.requested_ip() {
                            wake_waiters(&mut active, ip, now);
                        }
                        active.remove(&xid);
                        let o = Outcome::Refused { server_id, message };
                        on_done(j, &o);
                        outcomes[j] = Some(o);
                        remaining -= 1;
                    }
                }
            }
            _ = tokio::time::sleep_until(next_timer.into()) => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                let mut lost = false;
                for a in active.values_mut().filter(|a| a.retransmit_at <= now && a.retransmit_at != far) {
                    if a.deferred.take().is_some() {
                        // Starting over after an offer another exchange took.
                        log::debug!("xid {:#010x} {}: DISCOVER again", a.ex.xid(), a.ex.id.mac);
                        a.attempt = 0;
                        a.requested_at = SystemTime::now();
                    } else {
                        lost = true;
                        a.attempt += 1;
                        let secs = (now - a.started).as_secs().min(u16::MAX as u64) as u16;
                        a.last = a.ex.retransmission(&a.last, secs);
                        log::debug!("xid {:#010x} {}: no answer, retransmission {}", a.ex.xid(), a.ex.id.mac, a.attempt);
                    }
                    if a.ex.is_selecting() {
                        a.discovers += 1;
                    }
                    sock.send(&frame_for(a.ex.id.mac, &a.last)).await.map_err(|e| send_err(iface, e))?;
                    a.sent_at = now;
                    a.retransmit_at = now + pacer.delay(a.attempt, jitter_from(random_u32()));
                }
                if lost {
                    window = (window / 2).max(1);
                }
                if let Some(p) = last_progress
                    && now - p >= STARVED_AFTER
                    && !active.is_empty()
                    && active.values().all(|a| a.ex.is_selecting() && a.discovers >= STARVED_DISCOVERS)
                {
                    log::info!(
                        "the server answered this batch but has offered nothing for {} s to {} exchange(s) still asking: taking its pool as exhausted",
                        (now - p).as_secs(),
                        active.len() + queue.len()
                    );
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Longest wait before an exchange that met an address another exchange of
/// the run is requesting DISCOVERs again (it is woken as soon as that other
/// exchange is done).
const DEFER_FALLBACK: Duration = Duration::from_millis(1000);
/// Wait before DISCOVERing again after a stale offer (of an address already
/// granted in this run), times the number of times it happened.
const DEFER_STALE: Duration = Duration::from_millis(20);
/// Offers given up per exchange before it REQUESTs a contended address
/// anyway (and lets the server decide).
const MAX_DEFERS: u32 = 16;
/// Silence from a server that answered the run, after which exchanges that
/// each sent `STARVED_DISCOVERS` DISCOVERs are taken to find its pool empty.
const STARVED_AFTER: Duration = Duration::from_secs(5);
const STARVED_DISCOVERS: u32 = 4;

/// Exchanges waiting on `ip` (offered to them while another exchange was
/// requesting it) DISCOVER again now.
fn wake_waiters(active: &mut HashMap<u32, Active>, ip: Ipv4Addr, now: Instant) {
    for a in active.values_mut().filter(|a| a.deferred == Some(ip)) {
        a.retransmit_at = a.retransmit_at.min(now);
    }
}

/// Tell the intents of the held REQUESTs (one write), then send them. When
/// that write fails, none is sent: the server must not hold what no record
/// says it may.
async fn flush_requests(
    sock: &PacketSocket,
    iface: &Interface,
    opts: &Options,
    active: &mut HashMap<u32, Active>,
    held: &mut Vec<u32>,
    pacer: &Pacer,
) -> Result<()> {
    let xids: Vec<u32> = std::mem::take(held);
    let at = SystemTime::now();
    let batch: Vec<Requested> = xids
        .iter()
        .filter_map(|x| active.get(x))
        .filter_map(|a| {
            let (offer, server_mac) = a.ex.requesting()?;
            Some(Requested {
                id: a.ex.id.clone(),
                offer: offer.clone(),
                server_mac,
                at,
            })
        })
        .collect();
    if let Some(sink) = &opts.intents {
        sink.0.requesting(&batch)?;
    }
    for x in xids {
        let Some(a) = active.get_mut(&x) else {
            continue;
        };
        sock.send(&frame_for(a.ex.id.mac, &a.last))
            .await
            .map_err(|e| send_err(iface, e))?;
        let now = Instant::now();
        a.requested_at = SystemTime::now();
        a.sent_at = now;
        a.retransmit_at = now + pacer.delay(0, jitter_from(random_u32()));
    }
    Ok(())
}

/// A transaction id not in use by another exchange of this run.
fn fresh_xid(active: &HashMap<u32, Active>) -> u32 {
    loop {
        let x = random_u32();
        if x != 0 && !active.contains_key(&x) {
            return x;
        }
    }
}

/// Answer "who has IP" for an address an exchange is renewing.
async fn answer_arp(sock: &PacketSocket, active: &HashMap<u32, Active>, arp: &Arp) {
    if arp.op != ARP_REQUEST {
        return;
    }
    let owner = active.values().find_map(|a| match a.ex.goal {
        Goal::Renew { ip, .. } | Goal::Rebind { ip } if ip == arp.target_ip => Some(a.ex.id.mac),
        _ => None,
    });
    if let Some(mac) = owner {
        let reply = Arp {
            op: ARP_REPLY,
            sender_mac: mac,
            sender_ip: arp.target_ip,
            target_mac: arp.sender_mac,
            target_ip: arp.sender_ip,
        };
        if let Err(e) = sock.send(&frame::build_arp(&reply)).await {
            log::debug!("could not answer ARP for {}: {e}", arp.target_ip);
        }
    }
}

/// What a DHCPRELEASE needs to know about a lease.
#[derive(Debug, Clone)]
pub struct ReleaseOf {
    pub id: Identity,
    pub ip: Ipv4Addr,
    pub server_id: Ipv4Addr,
    pub server_mac: Option<Mac>,
}

/// RELEASEs sent back to back before pacing sets in.
pub const RELEASE_BURST: u32 = 16;
/// Pace of RELEASEs after the burst: one every 10 ms (100/s). A RELEASE has
/// no answer, so the client cannot see what the server took; what
/// overflows the server's receive buffer is lost in silence (dnsmasq
/// dropped 33 of 200 unpaced, kea 16 of 200). Measured here against
/// dnsmasq (`--log-dhcp`, 2 shared cores): at 500/s it kept 92 of 300, at
/// 200/s it kept 57 of 400 once in three runs (it frees only ~200/s when
/// the machine is busy), at 100/s none of 200, 300 or 400. Slow is cheap
/// here (400 leases in 4 s); a lost RELEASE holds an address until expiry.
pub const RELEASE_GAP: Duration = Duration::from_millis(10);

/// Send one DHCPRELEASE per lease over one socket (there is no reply to wait
/// for), paced (`RELEASE_BURST`, then one per `RELEASE_GAP`). RFC 2131
/// §4.4.6: unicast to the server that granted the lease. Err when no
/// socket could be opened (nothing was sent); else, per lease, None when it
/// was sent or the send error: a lease whose RELEASE was not sent is not
/// released.
pub async fn release(iface: &Interface, leases: &[ReleaseOf]) -> Result<Vec<Option<Error>>> {
    if leases.is_empty() {
        return Ok(Vec::new());
    }
    let sock = open_socket(iface, false)?;
    let mut results = Vec::with_capacity(leases.len());
    let start = Instant::now();
    for (i, l) in leases.iter().enumerate() {
        if let Some(k) = (i as u32).checked_sub(RELEASE_BURST) {
            tokio::time::sleep_until((start + RELEASE_GAP * (k + 1)).into()).await;
        }
        let out = Outgoing {
            msg: message::release(random_u32(), &l.id, l.ip, l.server_id),
            dest: Dest::Unicast {
                src_ip: l.ip,
                dst_ip: l.server_id,
                dst_mac: l.server_mac.unwrap_or(Mac::BROADCAST),
            },
        };
        results.push(
            sock.send(&frame_for(l.id.mac, &out))
                .await
                .map_err(|e| send_err(iface, e))
                .err(),
        );
    }
    Ok(results)
}

/// `release`, with the first failure (of opening or of any send) as the
/// result: for one lease, or where per-lease results are not needed.
pub async fn release_all(iface: &Interface, leases: &[ReleaseOf]) -> Result<()> {
    match release(iface, leases).await?.into_iter().flatten().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// RFC 5227 address conflict detection for freshly acquired addresses:
/// send ARP probes (sender address 0.0.0.0) for each `(mac, ip)`, three
/// spread over `wait`, and report, per pair, the MAC of another host that
/// answers for the address or probes for it at the same time.
pub async fn arp_probe(
    iface: &Interface,
    pairs: &[(Mac, Ipv4Addr)],
    wait: Duration,
) -> Result<Vec<Option<Mac>>> {
    let mut found: Vec<Option<Mac>> = vec![None; pairs.len()];
    if pairs.is_empty() {
        return Ok(found);
    }
    let sock = open_socket(iface, true)?;
    let probe = |mac: Mac, ip: Ipv4Addr| {
        frame::build_arp(&Arp {
            op: ARP_REQUEST,
            sender_mac: mac,
            sender_ip: Ipv4Addr::UNSPECIFIED,
            target_mac: Mac([0; 6]),
            target_ip: ip,
        })
    };
    let end = Instant::now() + wait;
    let step = wait / 3;
    let mut next_probe = Instant::now();
    let mut probes = 0;
    let mut buf = vec![0u8; 2048];
    loop {
        if probes < 3 && Instant::now() >= next_probe {
            for (mac, ip) in pairs {
                sock.send(&probe(*mac, *ip))
                    .await
                    .map_err(|e| send_err(iface, e))?;
            }
            probes += 1;
            next_probe += step;
        }
        let timer = if probes < 3 { next_probe.min(end) } else { end };
        tokio::select! {
            r = sock.recv(&mut buf) => {
                let n = r.map_err(|e| Error::from_os(&format!("receiving on {}", iface.name), e, "CAP_NET_RAW"))?;
                let Some(a) = frame::parse_arp(&buf[..n]) else { continue };
                for (i, (mac, ip)) in pairs.iter().enumerate() {
                    if a.sender_mac == *mac {
                        continue; // our own probe, or a container of ours
                    }
                    // Someone using the address, or probing for it too.
                    let claims = a.sender_ip == *ip || (a.op == ARP_REQUEST && a.sender_ip.is_unspecified() && a.target_ip == *ip);
                    if claims && found[i].is_none() {
                        found[i] = Some(a.sender_mac);
                    }
                }
            }
            _ = tokio::time::sleep_until(timer.into()) => {
                if Instant::now() >= end {
                    break;
                }
            }
        }
    }
    Ok(found)
}

/// Send DHCPDECLINE for an address found in use (broadcast: the client has
/// no usable address of its own).
pub async fn decline(
    iface: &Interface,
    id: &Identity,
    ip: Ipv4Addr,
    server_id: Ipv4Addr,
) -> Result<()> {
    let sock = open_socket(iface, false)?;
    let out = Outgoing {
        msg: message::decline(random_u32(), id, ip, server_id),
        dest: Dest::Broadcast,
    };
    sock.send(&frame_for(id.mac, &out))
        .await
        .map_err(|e| send_err(iface, e))
}

/// Offers seen by a probe.
#[derive(Debug, Clone)]
pub struct Offer {
    pub params: message::Params,
    pub server_mac: Mac,
    pub src_ip: Ipv4Addr,
}

/// DISCOVER (retransmitted on the RFC schedule) until the first OFFER, then
/// keep listening for `collect` more to hear every server; never REQUEST.
pub async fn probe(
    iface: &Interface,
    id: &Identity,
    timeout: Duration,
    collect: Duration,
    broadcast: bool,
) -> Result<Vec<Offer>> {
    Ok(probe_listening(iface, id, timeout, collect, broadcast)
        .await?
        .0)
}

/// When a probe that has heard an offer sends its DISCOVER once more: a
/// server that missed the first one (or dropped it while it checked an
/// address for another client) still answers within the collect window.
pub const PROBE_SECOND_DISCOVER: Duration = Duration::from_secs(2);

/// `probe`, also saying how long it listened (from the first DISCOVER to
/// the end of the collect window or the timeout).
pub async fn probe_listening(
    iface: &Interface,
    id: &Identity,
    timeout: Duration,
    collect: Duration,
    broadcast: bool,
) -> Result<(Vec<Offer>, Duration)> {
    let sock = open_socket(iface, false)?;
    accept_mac(&sock, iface, id.mac)?;
    let xid = random_u32();
    let begin = Instant::now();
    let mut deadline = begin + timeout;
    let mut msg = message::discover(xid, 0, id, broadcast, None);
    let out = Outgoing {
        msg: msg.clone(),
        dest: Dest::Broadcast,
    };
    sock.send(&frame_for(id.mac, &out))
        .await
        .map_err(|e| send_err(iface, e))?;
    let mut attempt = 0;
    let mut retransmit_at = begin + super::retransmit::rfc_delay(0, jitter_from(random_u32()));
    let second_at = begin + PROBE_SECOND_DISCOVER;
    let mut offers: Vec<Offer> = Vec::new();
    // Server ids heard (a retransmission's second answer is no new offer):
    // a set, since a flood of forged OFFERs must not cost n^2 comparisons.
    let mut heard: HashSet<Ipv4Addr> = HashSet::new();
    let mut beyond_cap: u64 = 0;
    let mut warnings = crate::logging::Throttle::new(PROBE_WARNINGS, Duration::from_secs(60));
    let mut buf = vec![0u8; 2048];
    loop {
        let timer = if offers.is_empty() {
            retransmit_at.min(deadline)
        } else if attempt == 0 && second_at < deadline {
            second_at
        } else {
            deadline
        };
        tokio::select! {
            r = sock.recv(&mut buf) => {
                let n = r.map_err(|e| Error::from_os(&format!("receiving on {}", iface.name), e, "CAP_NET_RAW"))?;
                let Some(udp) = frame::parse_udp(&buf[..n]) else { continue };
                if udp.src_port != SERVER_PORT || udp.dst_port != CLIENT_PORT { continue }
                let Some(m) = Bootreply::parse(udp.payload) else { continue };
                if m.xid != xid || !m.is_reply()
                    || m.client_mac() != Some(id.mac)
                    || m.msg_type() != Some(dhcproto::v4::MessageType::Offer) {
                    continue;
                }
                let params = match m.params(udp.src_ip) {
                    Ok(c) => {
                        for w in &c.warnings {
                            if let Some(n) = warnings.allow() {
                                log::warn!("the offer from {} ({}): {w}{}", udp.src_ip, udp.src_mac, crate::logging::left_out_note(n));
                            }
                        }
                        c.params
                    }
                    Err(why) => {
                        if let Some(n) = warnings.allow() {
                            log::warn!("ignored a DHCPOFFER from {} ({}): {why}{}", udp.src_ip, udp.src_mac, crate::logging::left_out_note(n));
                        }
                        continue;
                    }
                };
                if heard.contains(&params.server_id) {
                    continue; // the same server answering a retransmission
                }
                if offers.len() >= MAX_PROBE_OFFERS {
                    beyond_cap = beyond_cap.saturating_add(1);
                    continue;
                }
                heard.insert(params.server_id);
                if offers.is_empty() {
                    deadline = deadline.min(Instant::now() + collect);
                }
                log::info!("offer from {} ({}) after {:.1} s", params.server_id, udp.src_mac, begin.elapsed().as_secs_f64());
                offers.push(Offer { params, server_mac: udp.src_mac, src_ip: udp.src_ip });
            }
            _ = tokio::time::sleep_until(timer.into()) => {
                let now = Instant::now();
                if now >= deadline { break; }
                attempt += 1;
                msg.set_secs((now - begin).as_secs().min(u16::MAX as u64) as u16);
                let out = Outgoing { msg: msg.clone(), dest: Dest::Broadcast };
                sock.send(&frame_for(id.mac, &out)).await.map_err(|e| send_err(iface, e))?;
                retransmit_at = now + super::retransmit::rfc_delay(attempt, jitter_from(random_u32()));
            }
        }
    }
    if warnings.left_out() > 0 {
        log::warn!(
            "{} more warnings about offers on {} were left out",
            warnings.left_out(),
            iface.name
        );
    }
    if beyond_cap > 0 {
        log::warn!(
            "more than {MAX_PROBE_OFFERS} DHCP servers answered on {}: {beyond_cap} more offers were \
             ignored (a flood of forged replies?)",
            iface.name
        );
    }
    Ok((offers, begin.elapsed()))
}

/// Offers one probe keeps, each from another server id: a segment has one
/// or two servers, and a flood of forged OFFERs (the DISCOVER's xid is in
/// the clear) must not grow memory, the output or the time to compare them.
pub const MAX_PROBE_OFFERS: usize = 32;
/// Warnings about bad offers logged per minute of one probe (the rest are
/// counted and said in one line at the end).
pub const PROBE_WARNINGS: u32 = 10;
