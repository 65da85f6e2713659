//! DHCPv4 client: messages sent (`message`) and replies read and checked
//! (`reply`; a client's messages: `request`), the per-exchange state machine
//! (`client`), retransmission timing (`retransmit`) and the socket-driven
//! engine that runs exchanges (`transport`), and a passive watcher (`watch`).

pub mod client;
pub mod message;
pub mod probe;
pub mod reply;
pub mod request;
pub mod retransmit;
pub mod transport;
pub mod watch;
