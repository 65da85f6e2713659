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
//!
//! The daemon is never half-alive: each long-running task (renewal loop,
//! plugin server, event follower) runs under `supervise`, which restarts a
//! task that returned or panicked, with a growing pause, logging its name;
//! one that keeps failing (`Restart::max_in_a_row` times, each within
//! `Restart::stable` of its start) ends the process with an error naming it,
//! so that the service manager starts a fresh one. A panic in one plugin
//! connection closes that connection only; one in work sent to the
//! blocking pool comes back as an error of that work.

pub mod activation;
mod events;
pub mod http;
pub mod ipam;
pub mod plugin;
mod renew;
pub mod schedule;
pub mod service;
mod watch;

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, Result};
use std::sync::Arc;

use crate::lease::{Lease, Ledger};
use crate::links::shim::RouteSync;
use crate::store::Store;

pub struct Shared {
    pub store: Store,
    /// The lease layer over `store`, keeping shim routes in line.
    pub ledger: Ledger,
    /// Held around each record update of this process's tasks (and only
    /// there: never across a DHCP exchange or a sleep), so that they queue
    /// here in order instead of polling the file lock against each other.
    pub gate: tokio::sync::Mutex<()>,
}

impl Shared {
    pub fn new(store: Store) -> Shared {
        Shared {
            ledger: Ledger::new(store.clone()).with_hook(Arc::new(RouteSync)),
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
        let ledger = self.ledger.clone();
        let _gate = self.gate.lock().await;
        own_thread(move || async move { crate::lease::release_leases(&ledger, pick).await }).await
    }

    /// Change the records of `keys` only (`lease::update_keys`: the cost does
    /// not grow with the number of leases) off this thread.
    pub async fn update_leases_of<R: Send + 'static>(
        &self,
        keys: Vec<crate::lease::LeaseKey>,
        f: impl FnOnce(&mut Vec<Lease>) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let store = self.store.clone();
        let _gate = self.gate.lock().await;
        off_thread(move || {
            let lock = store.lock()?;
            crate::lease::update_keys(&store, &lock, &keys, f)
        })
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

/// The text of a panic's payload (what `panic!` was given).
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// How `supervise` restarts a task.
#[derive(Debug, Clone, Copy)]
pub struct Restart {
    /// The pause before the first restart; it doubles with each failure in
    /// a row, up to `max_pause`.
    pub first_pause: Duration,
    pub max_pause: Duration,
    /// A task that ran this long before failing starts a new count.
    pub stable: Duration,
    /// Failures in a row after which the process gives up.
    pub max_in_a_row: u32,
}

impl Restart {
    pub const DAEMON: Restart = Restart {
        first_pause: Duration::from_secs(1),
        max_pause: Duration::from_secs(60),
        stable: Duration::from_secs(600),
        max_in_a_row: 5,
    };

    fn pause(&self, in_a_row: u32) -> Duration {
        let factor = 1u32 << in_a_row.saturating_sub(1).min(16);
        self.first_pause
            .checked_mul(factor)
            .unwrap_or(self.max_pause)
            .min(self.max_pause)
    }
}

/// Run the task `start` makes on this thread's `LocalSet` for as long as the
/// daemon runs: when it ends, fails or panics, say so naming it and start it
/// again after a pause. Returns (an error naming the task and its last
/// failure) only when it failed `policy.max_in_a_row` times in a row: the
/// caller then ends the process non-zero.
pub async fn supervise<F, Fut>(name: &str, policy: Restart, mut start: F) -> Error
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>> + 'static,
{
    let mut in_a_row: u32 = 0;
    loop {
        let began = tokio::time::Instant::now();
        let why = match tokio::task::spawn_local(start()).await {
            Ok(Ok(())) => "it ended".to_string(),
            Ok(Err(e)) => format!("it failed: {e}"),
            Err(e) if e.is_panic() => format!("it panicked: {}", panic_message(&*e.into_panic())),
            Err(e) => format!("it was cancelled: {e}"),
        };
        if began.elapsed() >= policy.stable {
            in_a_row = 0;
        }
        in_a_row = in_a_row.saturating_add(1);
        if in_a_row >= policy.max_in_a_row {
            return Error::Other(format!(
                "the daemon's {name} stopped {in_a_row} times in a row (last: {why}); \
                 exiting so that the service manager starts dhcpnet afresh"
            ));
        }
        let pause = policy.pause(in_a_row);
        log::error!(
            "the daemon's {name} stopped ({why}); restarting it in {:.1} s ({in_a_row} of {} tries in a row)",
            pause.as_secs_f64(),
            policy.max_in_a_row
        );
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Instant;

    fn local<F: Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    const QUICK: Restart = Restart {
        first_pause: Duration::from_millis(1),
        max_pause: Duration::from_millis(8),
        stable: Duration::from_secs(60),
        max_in_a_row: 4,
    };

    #[test]
    fn a_task_that_panics_is_restarted_and_then_runs_on() {
        let starts = Rc::new(Cell::new(0u32));
        let s = starts.clone();
        let outcome = local(async move {
            let sup = supervise("test task", QUICK, move || {
                let n = s.get() + 1;
                s.set(n);
                async move {
                    if n == 1 {
                        panic!("first run dies");
                    }
                    // The restarted task runs for good.
                    std::future::pending::<()>().await;
                    Ok(())
                }
            });
            tokio::time::timeout(Duration::from_millis(300), sup).await
        });
        assert!(outcome.is_err(), "the supervisor gave up: {outcome:?}");
        assert_eq!(starts.get(), 2);
    }

    #[test]
    fn a_task_that_keeps_failing_ends_the_daemon_with_an_error_naming_it() {
        let starts = Rc::new(Cell::new(0u32));
        let s = starts.clone();
        let e = local(supervise("renewal loop", QUICK, move || {
            s.set(s.get() + 1);
            let n = s.get();
            async move {
                if n.is_multiple_of(2) {
                    panic!("boom {n}");
                }
                Err(Error::Other(format!("failure {n}")))
            }
        }));
        assert_eq!(starts.get(), QUICK.max_in_a_row);
        let msg = e.to_string();
        assert!(
            msg.contains("renewal loop") && msg.contains("4 times") && msg.contains("boom 4"),
            "{msg}"
        );
        assert_eq!(e.exit_code(), crate::error::ExitCode::Failure);
    }

    #[test]
    fn restart_pauses_double_up_to_the_most() {
        let p = Restart::DAEMON;
        let pauses: Vec<u64> = (1..=8).map(|n| p.pause(n).as_secs()).collect();
        assert_eq!(pauses, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(p.pause(u32::MAX), p.max_pause);
    }

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
