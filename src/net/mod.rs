//! The edges that touch the host's network: interfaces (`iface`), raw frames
//! (`frame`, pure), packet sockets (`packet`), MAC addresses (`mac`) and IPv4
//! subnets (`subnet`, pure).

pub mod frame;
pub mod iface;
pub mod link;
pub mod mac;
pub mod packet;
pub mod subnet;
