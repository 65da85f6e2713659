//! The daemon as one service: one instance per state directory, owned
//! links rebuilt at start-up, then the renewal loop, the IPAM plugin server
//! and the Docker event follower, each supervised (restarted when it stops;
//! the process ends, naming it, when it keeps stopping).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::{Restart, Shared, events, plugin, renew, supervise};
use crate::dhcp::transport::Options;
use crate::error::{Error, Result};
use crate::store::Store;

/// How the daemon runs (`dhcpnet daemon`'s flags).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The plugin socket; None for the default (`docker::PLUGIN_SOCKET`).
    pub plugin_socket: Option<PathBuf>,
    pub no_plugin: bool,
    pub no_docker: bool,
    /// The docker CLI that event following runs.
    pub docker: crate::docker::Docker,
    /// Longest DHCP exchange.
    pub timeout: Duration,
    /// The plugin's DHCP interface for pools that name none (Compose).
    pub default_interface: Option<String>,
    /// The `dhcpnet-ipvlan` driver's socket; None for the one beside the
    /// plugin socket (`plugin::ipvlan_socket_path`).
    pub ipvlan_plugin_socket: Option<PathBuf>,
}

/// Run the daemon until SIGTERM or Ctrl-C (Ok), or until a task keeps
/// failing (the error names it).
pub async fn run(store: &Store, a: &Settings) -> Result<()> {
    // Mode 0700 whatever the umask; an older, looser one is tightened.
    store.prepare()?;
    let _one = single_instance(store)?;
    restore_links(store).await;
    let shared = Rc::new(Shared::new(store.clone()));
    // Intents and releases a killed process left: the server may hold
    // them for nobody.
    match crate::lease::intent::resolve(&shared.ledger).await {
        Ok(r) if !r.is_empty() => log::warn!(
            "released {} address(es) left `requesting` or `releasing` by a process that ended",
            r.len()
        ),
        Ok(_) => {}
        Err(e) => log::error!("cannot resolve the records left `requesting` or `releasing`: {e}"),
    }
    let opts = Options {
        timeout: a.timeout,
        ..Options::default()
    };
    let socket = plugin::socket_path(a.plugin_socket.as_ref());
    // Socket activation (contrib/dhcpnet.socket): systemd listens on the
    // plugin socket from early boot, before docker.service, and hands it
    // over; requests made meanwhile wait in its backlog. The socket is then
    // systemd's: it stays when the daemon stops.
    let activated = if a.no_plugin {
        super::activation::Activated::default()
    } else {
        super::activation::listeners()
    };
    // Which handed-over socket serves which driver: the engine names a
    // driver after its socket's file, so `...-ipvlan.sock` (or the one
    // --ipvlan-plugin-socket names) is `dhcpnet-ipvlan`'s.
    let is_ipvlan = |p: &Option<PathBuf>| match (p, &a.ipvlan_plugin_socket) {
        (Some(p), Some(explicit)) => p == explicit,
        (Some(p), None) => p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with("-ipvlan.sock")),
        (None, _) => false,
    };
    let (mut listener, mut ipvlan_listener, mut main_path) = (None, None, None);
    for (l, p) in activated.listeners {
        let shown = p
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "an unnamed socket".into());
        if is_ipvlan(&p) && ipvlan_listener.is_none() {
            log::info!(
                "{shown} handed over by the service manager (socket activation): the {} driver",
                super::ipam::IPVLAN_DRIVER
            );
            ipvlan_listener = Some(l);
        } else if listener.is_none() {
            log::info!(
                "plugin socket {shown} handed over by the service manager (socket activation)"
            );
            main_path = p;
            listener = Some(l);
        } else {
            log::warn!("socket activation: {shown} is one socket too many; not served");
        }
    }
    // A socket handed over is systemd's: it stays when the daemon stops.
    // One refused (logged already) leaves its driver off: its path is the
    // service manager's, and binding another socket there would fail.
    let may_bind = !a.no_plugin && activated.refused == 0;
    let own_socket = listener.is_none() && may_bind;
    if own_socket {
        listener = Some(plugin::bind(&socket).await?);
    }
    // The `dhcpnet-ipvlan` driver: its own socket, since the engine reads
    // a driver's capabilities once and the two differ; beside the plugin
    // socket unless named.
    let ipvlan_socket = plugin::ipvlan_socket_path(
        a.ipvlan_plugin_socket.as_ref(),
        main_path.as_deref().unwrap_or(&socket),
    );
    let own_ipvlan_socket = ipvlan_listener.is_none() && may_bind;
    if own_ipvlan_socket {
        ipvlan_listener = Some(plugin::bind(&ipvlan_socket).await?);
    }
    let socket = main_path.unwrap_or(socket);
    log::info!(
        "dhcpnet daemon {} started: state {}, plugin {}, Docker events {}",
        env!("CARGO_PKG_VERSION"),
        store.dir().display(),
        if a.no_plugin {
            "off".to_string()
        } else {
            let shown = |l: &Option<tokio::net::UnixListener>, p: &Path| match l {
                Some(_) => p.display().to_string(),
                None => "off (the socket handed over was refused)".into(),
            };
            format!(
                "{} (dhcpnet-ipvlan: {})",
                shown(&listener, &socket),
                shown(&ipvlan_listener, &ipvlan_socket)
            )
        },
        if a.no_docker { "off" } else { "on" },
    );
    let local = tokio::task::LocalSet::new();
    let result = local
        .run_until(async {
            // Each task under `supervise`: restarted when it stops, and the
            // process ends (non-zero, naming it) when it keeps stopping.
            let renewals = {
                let (s, o) = (shared.clone(), opts.clone());
                supervise("renewal loop", Restart::DAEMON, move || {
                    let (s, o) = (s.clone(), o.clone());
                    async move { renew::run(&s, o).await }
                })
            };
            let plugin = async {
                let server = |l: tokio::net::UnixListener, ipvlan_driver: bool, name: &'static str| {
                    let (l, s, o) = (Rc::new(l), shared.clone(), opts.clone());
                    let c = plugin::Config {
                        default_interface: a.default_interface.clone(),
                        keep_for_restart: !a.no_docker,
                        ipvlan_driver,
                    };
                    supervise(name, Restart::DAEMON, move || {
                        plugin::serve(s.clone(), l.clone(), o.clone(), c.clone())
                    })
                };
                // Either may be off (a handed-over socket refused): the
                // other is served all the same.
                let main = async {
                    match listener {
                        Some(l) => server(l, false, "IPAM plugin server").await,
                        None => std::future::pending().await,
                    }
                };
                let second = async {
                    match ipvlan_listener {
                        Some(l) => server(l, true, "dhcpnet-ipvlan IPAM plugin server").await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    e = main => e,
                    e = second => e,
                }
            };
            let follower = async {
                if a.no_docker {
                    return std::future::pending().await;
                }
                let f = Rc::new(events::Follower {
                    shared: shared.clone(),
                    docker: a.docker.clone(),
                    opts: opts.clone(),
                });
                supervise("Docker event follower", Restart::DAEMON, move || {
                    let f = f.clone();
                    async move {
                        f.run().await;
                        Ok(())
                    }
                })
                .await
            };
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| Error::Other(format!("cannot handle SIGTERM: {e}")))?;
            tokio::select! {
                e = renewals => Err(e),
                e = plugin => Err(e),
                e = follower => Err(e),
                _ = tokio::signal::ctrl_c() => { log::info!("interrupted; leases stay recorded"); Ok(()) }
                _ = term.recv() => { log::info!("stopping; leases stay recorded and are renewed at the next start"); Ok(()) }
            }
        })
        .await;
    if own_socket {
        let _ = std::fs::remove_file(&socket);
    }
    if own_ipvlan_socket {
        let _ = std::fs::remove_file(&ipvlan_socket);
    }
    result
}

/// After a reboot the links dhcpnet owns are gone: rebuild them (as
/// `dhcpnet restore` does) before Docker starts its containers on them (the
/// unit is ordered before docker.service). Never fatal: renewals matter more,
/// so failures are logged loudly and start-up goes on.
async fn restore_links(store: &Store) {
    match crate::links::restore(store).await {
        Ok(rows) => {
            for r in &rows {
                match (r.failed(), r.action) {
                    (true, _) => log::error!(
                        "could not restore link {} ({} on {}): {}; fix it, then run `dhcpnet restore`",
                        r.name,
                        r.kind,
                        r.parent,
                        r.message.as_deref().unwrap_or(r.action.as_str())
                    ),
                    (false, crate::links::RestoreAction::Present) => {
                        log::info!("link {} is present", r.name)
                    }
                    (false, action) => {
                        log::info!("link {} ({} on {}): {action}", r.name, r.kind, r.parent)
                    }
                }
            }
        }
        Err(e) => log::error!(
            "could not restore the links dhcpnet owns: {e}; run `dhcpnet restore` to retry"
        ),
    }
    if let Err(e) = crate::links::shim::restore_shims(store).await {
        log::error!(
            "could not put the shims' addresses and routes back: {e}; run `dhcpnet restore` to retry"
        );
    }
}

/// Whether a daemon runs for this state directory: it holds `daemon.lock`.
/// A non-blocking try: if this process can take the lock, no daemon runs
/// (the lock is let go at once). None when that cannot be told.
pub fn is_running(store: &Store) -> Option<bool> {
    let f = match std::fs::File::open(store.path("daemon.lock")) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(false),
        Err(_) => return None,
    };
    match f.try_lock() {
        Ok(()) => {
            let _ = f.unlock();
            Some(false)
        }
        Err(std::fs::TryLockError::WouldBlock) => Some(true),
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}

/// One daemon per state directory: two would renew every lease twice. The
/// lock is released by the kernel when the process ends, however it ends.
fn single_instance(store: &Store) -> Result<std::fs::File> {
    let p = store.path("daemon.lock");
    // 0600: another user able to open it could hold the lock.
    let f = store.open_private("daemon.lock")?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::state(
            &p,
            "another dhcpnet daemon is running with this state directory; stop it first \
             (e.g. `systemctl stop dhcpnet`), or give this one another --state-dir",
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::state(&p, format!("cannot lock: {e}"))),
    }
}
