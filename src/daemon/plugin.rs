//! The IPAM plugin server: Docker's remote API on a unix socket.
//!
//! Handlers talk DHCP and the records, never to Docker: the engine calls
//! plugins while it starts, and a handler waiting on the engine would
//! deadlock it.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::os::unix::fs::FileTypeExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use super::Shared;
use super::http::{self, Parse};
use super::ipam::{self, AddressAsk, Call, Cidr, Discoveries, Offered, PoolId};
use crate::dhcp::message::Identity;
use crate::dhcp::transport::{self, Options};
use crate::error::{Error, Result};
use crate::lease::{Ledger, Place};
use crate::net::iface::Interface;
use crate::net::mac::Mac;

pub use crate::docker::PLUGIN_SOCKET as DEFAULT_SOCKET;

pub struct Plugin {
    shared: Rc<Shared>,
    discoveries: RefCell<Discoveries>,
    opts: Options,
    probe_timeout: Duration,
}

/// Bind the socket. Whatever is at the path is left alone unless it is a
/// stale socket (one nobody listens on: connecting is refused): a regular
/// file, a directory, a symlink or a socket that is served is reported
/// (exit code 12, a conflict: the path is taken) and nothing is
/// removed.
pub async fn bind(path: &Path) -> Result<UnixListener> {
    let fail = |what: &str, e: std::io::Error| {
        Error::from_os(
            &format!("{what} the plugin socket {}", path.display()),
            e,
            "root (to write /run/docker/plugins)",
        )
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail("creating the directory of", e))?;
    }
    let refuse = |what: String| {
        Error::Conflict(format!(
            "--plugin-socket {}: {what}; nothing was removed: pass another --plugin-socket{}",
            path.display(),
            if what.starts_with("another process") {
                ", or stop that process (a dhcpnet daemon already running?)"
            } else {
                ", or move it away yourself"
            }
        ))
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("inspecting", e)),
        Ok(m) if m.file_type().is_socket() => match UnixStream::connect(path).await {
            Ok(_) => return Err(refuse("another process serves this socket".into())),
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                log::info!(
                    "removing the stale plugin socket {} (nothing listens on it)",
                    path.display()
                );
                std::fs::remove_file(path).map_err(|e| fail("removing the stale", e))?;
            }
            Err(e) => {
                return Err(refuse(format!(
                    "a socket there could not be checked ({e}), so it may not be stale"
                )));
            }
        },
        Ok(m) => {
            let t = m.file_type();
            let what = if t.is_dir() {
                "a directory"
            } else if t.is_symlink() {
                "a symbolic link"
            } else if t.is_file() {
                "a regular file"
            } else {
                "a file that is not a socket"
            };
            return Err(refuse(format!("{what} is there, not a socket")));
        }
    }
    UnixListener::bind(path).map_err(|e| fail("binding", e))
}

/// Connections served at once; more wait in the listen backlog until one
/// ends. The engine makes a few at a time.
pub const MAX_CONNECTIONS: usize = 64;
/// A kept-alive connection with no request begun is closed after this.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A request must arrive whole within this from its first byte (the engine
/// sends each in one go), and an answer be taken within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest pause between two failed accept() calls.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serve the plugin API on `listener` for as long as the daemon runs: an
/// accept() that fails (EMFILE, ENFILE, ENOMEM, ECONNABORTED ...) is
/// logged and retried after a pause that grows to `MAX_ACCEPT_BACKOFF`; it
/// never ends the server.
pub async fn serve(shared: Rc<Shared>, listener: Rc<UnixListener>, opts: Options) -> Result<()> {
    let plugin = Rc::new(Plugin {
        shared,
        discoveries: RefCell::new(Discoveries::default()),
        opts,
        probe_timeout: Duration::from_secs(8),
    });
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut failures: u32 = 0;
    let mut said_full = false;
    loop {
        if slots.available_permits() == 0 && !said_full {
            log::warn!("plugin: {MAX_CONNECTIONS} connections open; new ones wait until one ends");
            said_full = true;
        }
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Err(Error::Other(
                "internal: the plugin's connection slots closed".into(),
            ));
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                if failures > 0 {
                    log::info!(
                        "plugin: accepting connections again after {failures} failed accept()s"
                    );
                    failures = 0;
                }
                said_full = false;
                let p = plugin.clone();
                tokio::task::spawn_local(async move {
                    let _slot = slot;
                    // The plugin's only state across requests is a cache of
                    // recent pool discoveries (`RefCell`, released on unwind),
                    // so a handler that panicked leaves nothing half-changed
                    // that another request relies on.
                    match AssertUnwindSafe(connection(&p, stream))
                        .catch_unwind()
                        .await
                    {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => log::debug!("plugin connection: {e}"),
                        Err(panic) => log::error!(
                            "plugin: a request handler panicked ({}); that connection was closed, the daemon goes on",
                            super::panic_message(&*panic)
                        ),
                    }
                });
            }
            Err(e) => {
                drop(slot);
                failures = failures.saturating_add(1);
                let pause = accept_backoff(failures);
                if failures == 1 || failures.is_power_of_two() {
                    log::error!(
                        "plugin: accept() failed on the plugin socket: {e} ({failures} in a row); retrying in {} ms",
                        pause.as_millis()
                    );
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// The pause after the `n`th failed accept() in a row: 10 ms, doubling, at
/// most `MAX_ACCEPT_BACKOFF`.
fn accept_backoff(n: u32) -> Duration {
    let ms = 10u64.saturating_mul(1u64 << n.saturating_sub(1).min(16));
    Duration::from_millis(ms).min(MAX_ACCEPT_BACKOFF)
}

async fn connection(p: &Plugin, mut s: UnixStream) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut parser = http::Parser::new();
    // When the request under way must be whole (set at its first byte).
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        match parser.next(&buf) {
            Parse::Incomplete => {
                let until = deadline.unwrap_or_else(|| tokio::time::Instant::now() + IDLE_TIMEOUT);
                let n = match tokio::time::timeout_at(until, s.read(&mut chunk)).await {
                    Ok(r) => r?,
                    Err(_) if buf.is_empty() => return Ok(()),
                    Err(_) => {
                        let msg = format!(
                            "the request did not arrive whole within {} s",
                            REQUEST_TIMEOUT.as_secs()
                        );
                        log::debug!("plugin: {msg}; closing the connection");
                        answer(&mut s, 400, &ipam::error(format!("dhcpnet plugin: {msg}"))).await?;
                        return Ok(());
                    }
                };
                if n == 0 {
                    return Ok(());
                }
                if buf.is_empty() {
                    deadline = Some(tokio::time::Instant::now() + REQUEST_TIMEOUT);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Parse::Bad(msg) => {
                answer(&mut s, 400, &ipam::error(format!("dhcpnet plugin: {msg}"))).await?;
                return Ok(());
            }
            Parse::Done(req, used) => {
                buf.drain(..used);
                deadline = (!buf.is_empty()).then(|| tokio::time::Instant::now() + REQUEST_TIMEOUT);
                let (status, body) = p.handle(&req).await;
                answer(&mut s, status, &body).await?;
                if req.close {
                    return Ok(());
                }
            }
        }
    }
}

/// Write an answer, giving a client that does not read it `REQUEST_TIMEOUT`.
async fn answer(s: &mut UnixStream, status: u16, body: &Value) -> std::io::Result<()> {
    tokio::time::timeout(REQUEST_TIMEOUT, s.write_all(&http::response(status, body)))
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "the client took no answer")
        })?
}

impl Plugin {
    async fn handle(&self, req: &http::Request) -> (u16, Value) {
        let Some(call) = ipam::route(&req.path) else {
            return (
                404,
                ipam::error(format!(
                    "dhcpnet implements the IPAM driver API only; {} is not part of it",
                    req.path
                )),
            );
        };
        if req.method != "POST" {
            return (405, ipam::error("use POST"));
        }
        log::debug!(
            "plugin: {} {}",
            req.path,
            String::from_utf8_lossy(&req.body)
        );
        if let Some(v) = ipam::fixed_answer(call) {
            return (200, v);
        }
        let r = match call {
            Call::RequestPool => self.request_pool(&req.body).await,
            Call::ReleasePool => Ok(json!({})),
            Call::RequestAddress => self.request_address(&req.body).await,
            Call::ReleaseAddress => self.release_address(&req.body).await,
            _ => Ok(json!({})),
        };
        match r {
            Ok(v) => {
                log::info!("plugin: {} -> {v}", req.path);
                (200, v)
            }
            Err(msg) => {
                log::error!("plugin: {}: {msg}", req.path);
                (200, ipam::error(msg))
            }
        }
    }

    async fn request_pool(&self, body: &[u8]) -> std::result::Result<Value, String> {
        let r: ipam::PoolRequest = ipam::decode(body, "RequestPool")?;
        if r.v6 {
            return Err(
                "dhcpnet hands out IPv4 addresses only: create the network without --ipv6".into(),
            );
        }
        if !r.sub_pool.is_empty() {
            return Err(format!(
                "--ip-range {} cannot be honoured: the DHCP server decides which addresses it hands out; \
                 narrow its range on the server instead",
                r.sub_pool
            ));
        }
        let opts = r.options.unwrap_or_default();
        let Some(name) = opts.get(ipam::INTERFACE_OPTION).filter(|s| !s.is_empty()) else {
            return Err(format!(
                "say which interface reaches the DHCP server: --ipam-opt {}=IFACE (the macvlan parent, e.g. eth0)",
                ipam::INTERFACE_OPTION
            ));
        };
        let requested = if r.pool.is_empty() {
            None
        } else {
            Some(Cidr::parse(&r.pool)?)
        };
        let again = self.discoveries.borrow().asked_again(name, Instant::now());
        if let (None, Some(prev)) = (requested, again) {
            return Err(ipam::refused_discovery(name, prev));
        }
        // On a VLAN interface spanning tree may hold DHCP back: no probe there
        // (the interface may not even exist yet: Docker creates eth0.10 for
        // `-o parent=eth0.10` after asking for the pool).
        let vlan = is_vlan(name);
        let offer = if vlan {
            None
        } else {
            let iface = Interface::lookup(name).map_err(|e| e.to_string())?;
            self.probe(&iface).await?
        };
        let pool = ipam::decide_pool(name, requested, vlan, offer.as_ref())?;
        if requested.is_none() {
            self.discoveries
                .borrow_mut()
                .handed_out(name, pool.subnet, Instant::now());
        } else if offer.is_none() {
            log::warn!(
                "no answer from a DHCP server on {name} (or a VLAN interface); accepting the subnet {} as given",
                pool.subnet
            );
        }
        Ok(ipam::pool_answer(&pool))
    }

    async fn probe(&self, iface: &Interface) -> std::result::Result<Option<Offered>, String> {
        let id = Identity::new(Mac::random_local());
        let offers = transport::probe(
            iface,
            &id,
            self.probe_timeout,
            Duration::from_millis(200),
            true,
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(offers.first().map(|o| Offered {
            subnet: Cidr::new(o.params.ip, o.params.prefix_len),
            router: o.params.gateway,
        }))
    }

    fn ledger(&self) -> Ledger {
        self.shared.ledger.clone()
    }

    async fn request_address(&self, body: &[u8]) -> std::result::Result<Value, String> {
        let r: ipam::AddressRequest = ipam::decode(body, "RequestAddress")?;
        let pool = PoolId::decode(&r.pool_id)?;
        match ipam::address_ask(&r, &pool)? {
            AddressAsk::Gateway { requested } => {
                self.discoveries.borrow_mut().accepted(&pool.iface);
                Ok(ipam::address_answer(
                    requested.unwrap_or_else(|| pool.gateway()),
                    pool.subnet.prefix,
                ))
            }
            AddressAsk::Lease { mac, requested } => self.lease(&pool, mac, requested).await,
        }
    }

    async fn lease(
        &self,
        pool: &PoolId,
        mac: Mac,
        requested: Option<Ipv4Addr>,
    ) -> std::result::Result<Value, String> {
        let iface = Interface::lookup(&pool.iface).map_err(|e| e.to_string())?;
        let place = Place {
            iface,
            network: None,
        };
        let (ledger, opts) = (self.ledger(), self.opts.clone());
        // The exchange (up to --timeout) and its record run on a thread of
        // their own: other calls, releases and renewals go on meanwhile.
        let (granted, failed) = super::own_thread(move || async move {
            crate::lease::acquire(
                &ledger,
                &place,
                vec![Identity::new(mac)],
                requested,
                &opts,
                false,
            )
            .await
        })
        .await
        .map_err(|e| e.to_string())?;
        let Some(l) = granted.into_iter().next() else {
            let e = failed
                .into_iter()
                .next()
                .map(|(_, e)| e.to_string())
                .unwrap_or_default();
            return Err(format!("no lease for {mac} on {}: {e}", pool.iface));
        };
        let wrong = if let Some(want) = requested.filter(|w| *w != l.ip) {
            Some(format!(
                "the DHCP server on {} would not give {want} to {mac} (it offered {} instead): the address \
                 is taken or outside its range; choose another --ip, or leave --ip out",
                pool.iface, l.ip
            ))
        } else if !pool.subnet.contains(l.ip) || l.prefix_len != pool.subnet.prefix {
            Some(format!(
                "the DHCP server on {} gave {}/{}, outside the network's subnet {}: recreate the network with --subnet {}",
                pool.iface,
                l.ip,
                l.prefix_len,
                pool.subnet,
                Cidr::new(l.ip, l.prefix_len)
            ))
        } else {
            None
        };
        if let Some(msg) = wrong {
            let (ip, ifn) = (l.ip, l.interface.clone());
            if let Err(e) = self
                .shared
                .release(move |x| x.ip == ip && x.interface == ifn)
                .await
            {
                log::error!("could not give back {ip}: {e}");
            }
            return Err(msg);
        }
        log::info!("plugin: leased {} for {mac} on {}", l.ip, pool.iface);
        Ok(ipam::address_answer(l.ip, pool.subnet.prefix))
    }

    async fn release_address(&self, body: &[u8]) -> std::result::Result<Value, String> {
        let r: ipam::ReleaseAddressRequest = ipam::decode(body, "ReleaseAddress")?;
        let pool = PoolId::decode(&r.pool_id)?;
        let ip = ipam::parse_address(&r.address)?;
        let held = crate::lease::load(&self.shared.store)
            .map_err(|e| e.to_string())?
            .iter()
            .any(|l| l.ip == ip && l.interface == pool.iface);
        if !held {
            // The gateway, or a lease already released (e.g. by the event follower).
            log::debug!(
                "plugin: no lease for {ip} on {}; nothing to release",
                pool.iface
            );
            return Ok(json!({}));
        }
        let ifn = pool.iface.clone();
        let released = self
            .shared
            .release(move |l| l.ip == ip && l.interface == ifn)
            .await
            .map_err(|e| format!("could not release {ip}: {e}"))?;
        for l in &released {
            log::info!("plugin: released {} ({}) to {}", l.ip, l.mac, l.server_id);
        }
        Ok(json!({}))
    }
}

/// Whether `name` is an 802.1Q VLAN link: the kernel says so, or it is named
/// like one (`eth0.10`), as Docker names the links it creates.
fn is_vlan(name: &str) -> bool {
    ipam::vlan_name(name)
        || Path::new("/proc/net/vlan").join(name).exists()
        || std::fs::read_to_string(Path::new("/sys/class/net").join(name).join("uevent"))
            .is_ok_and(|u| u.lines().any(|l| l == "DEVTYPE=vlan"))
}

pub fn socket_path(p: Option<&PathBuf>) -> PathBuf {
    p.cloned().unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind_at(path: &Path) -> Result<UnixListener> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async { bind(path).await })
    }

    fn refused(path: &Path) -> String {
        match bind_at(path) {
            Ok(_) => panic!("bound over {}", path.display()),
            Err(e) => {
                assert_eq!(e.exit_code(), crate::error::ExitCode::Conflict, "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn a_regular_file_or_a_directory_at_the_socket_path_is_reported_and_kept() {
        let d = tempfile::tempdir().expect("tempdir");
        let file = d.path().join("plugin.sock");
        std::fs::write(&file, b"precious").expect("write");
        let msg = refused(&file);
        assert!(
            msg.contains("a regular file") && msg.contains("nothing was removed"),
            "{msg}"
        );
        assert_eq!(std::fs::read(&file).expect("still there"), b"precious");

        let dir = d.path().join("dir.sock");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("inside"), b"x").expect("write");
        assert!(refused(&dir).contains("a directory"));
        assert!(dir.join("inside").exists());

        let link = d.path().join("link.sock");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert!(refused(&link).contains("a symbolic link"));
        assert!(link.symlink_metadata().is_ok() && file.exists());
    }

    #[test]
    fn a_socket_someone_listens_on_is_reported_and_kept() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("plugin.sock");
        let live = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let msg = refused(&path);
        assert!(msg.contains("another process serves"), "{msg}");
        // Still the same socket: a client reaches the first listener.
        let _c = std::os::unix::net::UnixStream::connect(&path).expect("connect");
        live.set_nonblocking(true).expect("nonblocking");
        assert!(live.accept().is_ok());
    }

    #[test]
    fn a_stale_socket_is_replaced() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("plugin.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
        assert!(path.exists(), "the socket file outlives its listener");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let l = bind(&path).await.expect("rebind over a stale socket");
            let _c = UnixStream::connect(&path).await.expect("connect");
            l.accept().await.expect("accept");
        });
    }

    #[test]
    fn accept_failures_are_retried_after_a_pause_that_grows_to_a_second() {
        let ms: Vec<u128> = [1, 2, 3, 7, 8, 100, u32::MAX]
            .iter()
            .map(|&n| accept_backoff(n).as_millis())
            .collect();
        assert_eq!(ms, vec![10, 20, 40, 640, 1000, 1000, 1000]);
    }
}
