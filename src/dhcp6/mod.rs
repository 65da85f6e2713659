//! DHCPv6 client core (RFC 8415) and IPv6 Neighbor Discovery (RFC 4861),
//! pure: no sockets, clocks or randomness of their own, so every decision
//! is reachable from unit tests without root. The parts mirror the IPv4
//! side (`dhcp`), so both families can share one lease model:
//!
//! - `message`: what a client sends (and the option vocabulary);
//!   `duid`: client and server identifiers;
//! - `reply`: what a server sends, read and checked as hostile input;
//! - `client`: the state machine of one exchange (SOLICIT to bound, RENEW,
//!   REBIND, RELEASE, DECLINE, CONFIRM, INFORMATION-REQUEST), events in and
//!   steps out, and the choice among ADVERTISEs;
//! - `retransmit`: RFC 8415 §15 timing with an injected random source;
//! - `nd`: Router Solicitation out, Router Advertisements in (M/O flags,
//!   prefixes, RDNSS), Neighbor Solicitation/Advertisement for the
//!   transport to answer for the addresses it speaks for, and DAD probes;
//! - `frame`: Ethernet + IPv6 + UDP/ICMPv6 frames and link-local addresses.
//!
//! The transport that drives these over a packet socket comes later, on
//! top of the restructured tree of issue 18 (which may move `frame` and
//! `nd` beside `net::frame`).

pub mod client;
pub mod duid;
pub mod frame;
pub mod message;
pub mod nd;
pub mod reply;
pub mod retransmit;
