//! DHCPv4 client: messages sent (`message`) and replies read and checked
//! (`reply`), the per-exchange state machine
//! (`client`), retransmission timing (`retransmit`) and the socket-driven
//! engine that runs exchanges (`transport`).

pub mod client;
pub mod message;
pub mod probe;
pub mod reply;
pub mod retransmit;
pub mod transport;
