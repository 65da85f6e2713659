//! dhcpnet: addresses for Docker macvlan containers from the LAN's own DHCP
//! server.
//!
//! The core (`dhcp::message`, `dhcp::client`, `dhcp::retransmit`,
//! `net::frame`, `lease`) is pure and unit-tested without root; the edges
//! (`net::packet`, `net::iface`, `dhcp::transport`, `store`) touch sockets and
//! files; `cmd` holds one module per subcommand.

pub mod cli;
pub mod cmd;
pub mod daemon;
pub mod dhcp;
pub mod docker;
pub mod error;
pub mod lease;
pub mod links;
pub mod logging;
pub mod net;
pub mod network;
pub mod output;
pub mod store;
