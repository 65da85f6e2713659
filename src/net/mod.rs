//! The edges that touch the host's network: interfaces (`iface`), raw frames
//! (`frame`, pure), packet sockets (`packet`) and MAC addresses (`mac`).

pub mod frame;
pub mod iface;
pub mod link;
pub mod mac;
pub mod packet;
pub mod subnet;
