//! dhcpnet: addresses for Docker macvlan containers from the LAN's own DHCP
//! server.
//!
//! Layers, each using only the ones below it (README, "Architecture"):
//!
//! 1. `cli` (the command line as types) and `cmd` (one thin module per
//!    subcommand: parse, call one operation, render with `output`).
//! 2. `daemon`: the long-running service (renewal loop, IPAM plugin, Docker
//!    events), over the same operations.
//! 3. The domain: `doctor` (read-only checks over everything below),
//!    `network` (Docker networks: create, delete, containers),
//!    `links` (owned links, the host shim), `lease` (records and the
//!    operations acquire, release, renew, give back). `links` uses `lease`;
//!    `lease` never uses `links`: it announces changes through the
//!    `lease::LeasesChanged` hook, which `links::shim::RouteSync` implements.
//! 4. Edges and core: `dhcp` (messages, reply checks and the state machine,
//!    pure; the socket-driven transport; probe), `net` (frames, pure;
//!    packet sockets, netlink, interfaces), `docker` (the docker CLI),
//!    `store` (the state directory).
//! 5. `error` (one error type whose variants are the exit codes), `output`,
//!    `logging`.
//!
//! The library API is what the binary and the tests use: `cmd::run` with
//! `cli::Cli`, `logging`, `error`; the pure core for tests and fuzzers
//! (`dhcp::{message, reply, client}`, `net::{frame, mac}`,
//! `daemon::{schedule, http, ipam}`, `links::shim::wanted_routes`); and the
//! record types and loaders (`lease`, `links`, `network`, `store`). Command
//! modules and the daemon's tasks are private.

pub mod cli;
pub mod cmd;
pub mod cni;
pub mod cut;
pub mod daemon;
pub mod dhcp;
pub mod dhcp6;
pub mod docker;
pub mod doctor;
pub mod error;
pub mod lease;
pub mod links;
pub mod logging;
pub mod net;
pub mod network;
pub mod output;
pub mod store;
