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
//! The tasks share one thread, which must never wait on the state
//! directory's lock (a file lock another process may hold for a while):
//! record updates run on the blocking pool (`off_thread`), and the code the
//! daemon shares with the CLI, which takes the lock itself and may hold it
//! across a send (`lease::acquire`, `release::release_leases`), runs on a
//! thread and runtime of its own (`own_thread`). The file lock orders them
//! against each other as it does separate processes.

pub mod events;
pub mod http;
pub mod ipam;
pub mod plugin;
pub mod renew;
pub mod schedule;
pub mod watch;

use std::future::Future;

use crate::error::{Error, Result};
use crate::lease::Lease;
use crate::store::Store;

pub struct Shared {
    pub store: Store,
    /// Held around each record update of this process's tasks (and only
    /// there: never across a DHCP exchange or a sleep), so that they queue
    /// here in order instead of polling the file lock against each other.
    pub gate: tokio::sync::Mutex<()>,
}

impl Shared {
    pub fn new(store: Store) -> Shared {
        Shared {
            store,
            gate: tokio::sync::Mutex::new(()),
        }
    }

    /// DHCPRELEASE the picked leases and forget them (`release_leases`,
    /// which holds the lock across its sends, on a thread of its own).
    pub async fn release(
        &self,
        pick: impl Fn(&Lease) -> bool + Send + 'static,
    ) -> Result<Vec<Lease>> {
        let ctx = crate::cmd::Ctx {
            store: self.store.clone(),
        };
        let _gate = self.gate.lock().await;
        own_thread(move || async move { crate::cmd::release::release_leases(&ctx, pick).await })
            .await
    }

    /// Change the records (`lease::update`) off this thread.
    pub async fn update_leases<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Lease>) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let store = self.store.clone();
        let _gate = self.gate.lock().await;
        off_thread(move || crate::lease::update(&store, f)).await
    }
}

/// Run `f`, which may wait for the state directory's lock, on the blocking
/// pool: the daemon's thread goes on serving meanwhile.
pub async fn off_thread<R: Send + 'static>(
    f: impl FnOnce() -> Result<R> + Send + 'static,
) -> Result<R> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Other(format!("internal: a record update did not finish: {e}")))?
}

/// Run the future `make` returns on a thread with a runtime of its own: for
/// async code that takes the state directory's lock itself.
pub async fn own_thread<R, F>(make: impl FnOnce() -> F + Send + 'static) -> Result<R>
where
    R: Send + 'static,
    F: Future<Output = Result<R>>,
{
    off_thread(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start a runtime: {e}")))?;
        rt.block_on(make())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A lock held elsewhere stalls neither the thread's other tasks nor
    /// its timers, whether waited for off the thread or on a thread of its own.
    #[test]
    fn waiting_for_the_lock_leaves_the_thread_free() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::new(d.path());
        let held = store.lock().expect("lock");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let s1 = store.clone();
            let a = tokio::task::spawn_local(off_thread(move || s1.lock().map(|_| Instant::now())));
            let s2 = store.clone();
            let b = tokio::task::spawn_local(own_thread(move || async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                s2.lock().map(|_| Instant::now())
            }));
            // The thread ticks on while both wait.
            let start = Instant::now();
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(
                start.elapsed() < Duration::from_millis(1500),
                "the thread was stalled: {:?}",
                start.elapsed()
            );
            assert!(
                !a.is_finished() && !b.is_finished(),
                "took a lock that is held"
            );
            let freed = Instant::now();
            drop(held);
            let (ta, tb) = (
                a.await.expect("join").expect("lock a"),
                b.await.expect("join").expect("lock b"),
            );
            assert!(ta >= freed && tb >= freed);
        });
    }
}
