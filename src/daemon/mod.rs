//! `dhcpnet daemon`: keeps leases alive and serves Docker.
//!
//! - `schedule`: pure; which leases are due for RENEWING, REBINDING or
//!   reacquiring, and when the next deadline is.
//! - `renew`: the loop that sleeps until that deadline (or until another
//!   dhcpnet process changes the records, seen through `watch`) and does it.
//! - `plugin`: Docker's IPAM remote API on a unix socket.
//! - `events`: follows `docker events` to release the leases of removed
//!   containers and to send hostnames once containers start.
//!
//! The tasks share one thread. Store writes in this process go through
//! `Shared::gate` first: the state directory's lock is a blocking file lock,
//! and two tasks of one thread waiting on it would deadlock each other.

pub mod events;
pub mod http;
pub mod ipam;
pub mod plugin;
pub mod renew;
pub mod schedule;
pub mod watch;

use crate::store::Store;

pub struct Shared {
    pub store: Store,
    /// Held around every read-modify-write of the records in this process.
    pub gate: tokio::sync::Mutex<()>,
}

impl Shared {
    pub fn new(store: Store) -> Shared {
        Shared { store, gate: tokio::sync::Mutex::new(()) }
    }
}
