//! DHCPv4 client: messages (`message`), the per-exchange state machine
//! (`client`), retransmission timing (`retransmit`) and the socket-driven
//! engine that runs exchanges (`transport`).

pub mod client;
pub mod message;
pub mod retransmit;
pub mod transport;
