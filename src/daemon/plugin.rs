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
use super::ipam::{self, AddressAsk, Call, Discoveries, Offered, PoolId, Subnet};
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
    config: Config,
}

/// How the plugin serves (from `daemon`'s flags).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `daemon --default-interface`: the DHCP interface of pools that name
    /// none and whose subnet no host interface reaches.
    pub default_interface: Option<String>,
    /// The event follower runs (releases the leases of removed
    /// containers), so a lease the engine gives back at a container's stop
    /// can be kept for its restart.
    pub keep_for_restart: bool,
    /// This socket serves the `dhcpnet-ipvlan` driver: every pool is
    /// shared-MAC and the engine is asked for no endpoint MAC.
    pub ipvlan_driver: bool,
}

/// A kept address (`Lease::kept_since`: the engine gave it back at its
/// container's stop) goes to a new endpoint of unknown container only if
/// it was kept this recently (a restart, a stop and start, an engine
/// restart, a reboot) and it is the only one kept on that interface: the
/// engine names no container in its requests, and a new endpoint gets a new
/// random MAC.
pub const PARK_REUSE: Duration = Duration::from_secs(600);

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
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // 0755 (less the umask), not 0777 less the umask: a plugin
        // directory others can write lets them plant sockets the engine
        // would take for plugins.
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| fail("creating the directory of", e))?;
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
    let l = bind_private(path).map_err(|e| fail("binding", e))?;
    l.set_nonblocking(true)
        .map_err(|e| fail("making non-blocking", e))?;
    UnixListener::from_std(l).map_err(|e| fail("listening on", e))
}

/// Bind a unix socket at `path` that is mode 0600 from the moment it can be
/// reached, whatever the umask.
///
/// bind(2) creates the socket file with 0777 less the umask, and a chmod
/// afterwards leaves a window in which another user can connect (and keep
/// that connection). Changing the umask around bind is no cure either: it
/// is process-wide, and the runtime's other threads create files too. So
/// the socket is bound inside a fresh directory of its own, 0700 (mkdir
/// with 0700 can only lose bits to the umask), where nobody else can reach
/// it; it is made 0600 there, then hard-linked to `path` (link(2) fails
/// rather than replace whatever appeared there meanwhile) and the private
/// name and directory are removed. The listening socket is the same inode
/// under its new name.
fn bind_private(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Short (sun_path holds 107 bytes) and unpredictable.
    let private = dir.join(format!(".dn{:08x}", crate::net::mac::random_u32()));
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let inner = private.join("s");
    let bound = (|| {
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700))?;
        let l = std::os::unix::net::UnixListener::bind(&inner)?;
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o600))?;
        std::fs::hard_link(&inner, path)?;
        Ok(l)
    })();
    let _ = std::fs::remove_file(&inner);
    let _ = std::fs::remove_dir(&private);
    bound
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
pub async fn serve(
    shared: Rc<Shared>,
    listener: Rc<UnixListener>,
    opts: Options,
    config: Config,
) -> Result<()> {
    let plugin = Rc::new(Plugin {
        shared,
        discoveries: RefCell::new(Discoveries::default()),
        opts,
        probe_timeout: Duration::from_secs(8),
        config,
    });
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut failures: u32 = 0;
    let mut said_full = false;
    let mut refusals = crate::logging::Throttle::new(REFUSALS_LOGGED, REFUSAL_LOG_PERIOD);
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
                let peer = stream.peer_cred();
                let uid = peer.as_ref().ok().map(|c| c.uid());
                if !peer_allowed(uid) {
                    if let Some(n) = refusals.allow() {
                        log::warn!(
                            "plugin: refused a connection from {} (pid {}): only root may use \
                             the plugin socket{}",
                            uid.map(|u| format!("uid {u}"))
                                .unwrap_or_else(|| "an unknown uid".into()),
                            peer.as_ref()
                                .ok()
                                .and_then(|c| c.pid())
                                .map(|p| p.to_string())
                                .unwrap_or_else(|| "?".into()),
                            crate::logging::left_out_note(n)
                        );
                    }
                    tokio::task::spawn_local(async move {
                        let _slot = slot;
                        let _ = refuse(stream, uid).await;
                    });
                    continue;
                }
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

/// Refused connections logged per `REFUSAL_LOG_PERIOD` (the rest are
/// counted, and the next line logged says how many).
pub const REFUSALS_LOGGED: u32 = 5;
pub const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(60);

/// Who may use the plugin: root (the engine), or the daemon's own uid
/// (which can control the daemon anyway). Every other local user could
/// otherwise lease without limit (exhausting the LAN's pool), run DHCP on
/// any interface, or release and take other containers' leases; the socket
/// file's mode keeps them out too, but a socket handed over or a directory
/// made by someone else may not.
fn peer_allowed(uid: Option<u32>) -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    let own = unsafe { libc::geteuid() };
    uid.is_some_and(|u| u == 0 || u == own)
}

/// Tell a refused peer why, without reading its request.
async fn refuse(mut s: UnixStream, uid: Option<u32>) -> std::io::Result<()> {
    let who = uid
        .map(|u| format!("uid {u}"))
        .unwrap_or_else(|| "an unknown uid".into());
    answer(
        &mut s,
        403,
        &ipam::error(format!(
            "dhcpnet plugin: only root may use this socket, not {who}"
        )),
    )
    .await?;
    s.shutdown().await?;
    // Read (and drop) what the peer sent, briefly and boundedly, before
    // closing: a unix socket closed with unread data resets the peer, who
    // would then lose the answer above and see only ECONNRESET.
    let mut sink = [0u8; 4096];
    let mut left = REFUSED_READ_MAX;
    let until = tokio::time::Instant::now() + REFUSED_LINGER;
    while left > 0 {
        match tokio::time::timeout_at(until, s.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
    Ok(())
}

/// How long, and how much, a refused peer's request is read before the
/// connection closes (see `refuse`).
const REFUSED_LINGER: Duration = Duration::from_secs(1);
const REFUSED_READ_MAX: usize = 64 * 1024;

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
        if let Some(v) = ipam::fixed_answer(call, !self.config.ipvlan_driver) {
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
        let requested = if r.pool.is_empty() {
            None
        } else {
            Some(Subnet::parse_normalised(&r.pool)?)
        };
        let opts = r.options.unwrap_or_default();
        let name = self.dhcp_interface(&opts, requested)?;
        let name = name.as_str();
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
        let mut pool = ipam::decide_pool(name, requested, vlan, offer.as_ref())?;
        pool.shared_mac = self.shared_mac(name, &opts)?;
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

    /// The pool's DHCP interface: `--ipam-opt dhcp_interface=` when given
    /// (`docker network create`); else (Docker Compose drops ipam options)
    /// the host interface with an address or a route in the requested
    /// subnet, then the daemon's `--default-interface`, else an error naming
    /// both fixes.
    fn dhcp_interface(
        &self,
        opts: &std::collections::HashMap<String, String>,
        requested: Option<Subnet>,
    ) -> std::result::Result<String, String> {
        if let Some(n) = opts.get(ipam::INTERFACE_OPTION).filter(|s| !s.is_empty()) {
            return Ok(n.clone());
        }
        if let Some(subnet) = requested {
            let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
            if let Some(n) = ipam::interface_for_subnet(&table, subnet)? {
                log::info!(
                    "plugin: no {} option; {n} has an address or a route in {subnet}: using it",
                    ipam::INTERFACE_OPTION
                );
                return Ok(n);
            }
        }
        match &self.config.default_interface {
            Some(n) => {
                log::info!(
                    "plugin: no {} option; using the daemon's --default-interface {n}",
                    ipam::INTERFACE_OPTION
                );
                Ok(n.clone())
            }
            None => Err(ipam::no_interface(requested)),
        }
    }

    /// Whether a pool on `iface` is shared-MAC (`ipam::shared_mac`).
    fn shared_mac(
        &self,
        iface: &str,
        opts: &std::collections::HashMap<String, String>,
    ) -> std::result::Result<bool, String> {
        let option = opts.get(ipam::SHARED_MAC_OPTION).map(String::as_str);
        let wireless = is_wireless(Path::new("/sys/class/net"), iface);
        let shared = ipam::shared_mac(iface, self.config.ipvlan_driver, option, wireless)?;
        if shared {
            log::info!(
                "plugin: the pool on {iface} is shared-MAC ({}): every container uses {iface}'s MAC and a client id of its own",
                ipam::IPVLAN_DRIVER
            );
        }
        Ok(shared)
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
            subnet: Subnet::new(o.params.ip, o.params.prefix_len),
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
                    pool.subnet.prefix(),
                ))
            }
            AddressAsk::Lease {
                mac,
                name,
                requested,
            } => {
                self.lease(&pool, Endpoint::Mac { mac, name }, requested)
                    .await
            }
            AddressAsk::SharedLease {
                name,
                mac,
                requested,
            } => {
                self.lease(&pool, Endpoint::Shared { name, mac }, requested)
                    .await
            }
        }
    }

    async fn lease(
        &self,
        pool: &PoolId,
        endpoint: Endpoint,
        requested: Option<Ipv4Addr>,
    ) -> std::result::Result<Value, String> {
        let iface = Interface::lookup(&pool.iface).map_err(|e| e.to_string())?;
        // On a shared-MAC pool every container has the DHCP interface's MAC
        // (ipvlan): what the engine names the endpoint by (the container's
        // name, else Docker's endpoint MAC) goes in the client id, never in
        // chaddr.
        // With a MAC per container, a container the engine names (engines
        // since moby/moby#50586) is known by its name in the client id, in
        // the same form, with the endpoint's MAC of the moment in chaddr:
        // the server keeps its lease across restarts whatever MAC the
        // engine makes up (dnsmasq and kea match the client id first).
        let named = matches!(
            &endpoint,
            Endpoint::Shared { name: Some(_), .. } | Endpoint::Mac { name: Some(_), .. }
        );
        let (shared, fresh, legacy, who) = match endpoint {
            Endpoint::Mac { mac, name: None } => {
                (None, Identity::new(mac), Vec::new(), mac.to_string())
            }
            Endpoint::Mac {
                mac,
                name: Some(name),
            } => {
                let handle = crate::network::EndpointHandle::Name(&name);
                let mut fresh = crate::network::ipvlan_plugin_identity(iface.mac, handle);
                fresh.mac = mac;
                let who = format!(
                    "container {name} ({mac}, client id {})",
                    readable_client_id(&fresh.client_id)
                );
                let legacy = crate::network::legacy_plugin_client_ids(iface.mac, handle);
                (None, fresh, legacy, who)
            }
            Endpoint::Shared { name, mac } => {
                let handle = match (&name, mac) {
                    (Some(n), _) => crate::network::EndpointHandle::Name(n),
                    (None, Some(m)) => crate::network::EndpointHandle::Mac(m),
                    (None, None) => crate::network::EndpointHandle::Random,
                };
                let fresh = crate::network::ipvlan_plugin_identity(iface.mac, handle);
                let legacy = crate::network::legacy_plugin_client_ids(iface.mac, handle);
                let who = format!(
                    "endpoint {} (as {}, client id {})",
                    name.clone()
                        .or(mac.map(|m| m.to_string()))
                        .as_deref()
                        .unwrap_or("of unknown name"),
                    iface.mac,
                    readable_client_id(&fresh.client_id)
                );
                (Some(iface.mac), fresh, legacy, who)
            }
        };
        let place = Place {
            iface,
            network: None,
        };
        let records = crate::lease::load(&self.shared.store).map_err(|e| e.to_string())?;
        // Who asks: this endpoint's own lease (a container with a fixed MAC
        // starting again, or `dhcpnet run`'s container): that lease again,
        // same client id and hostname. Else the one address parked for a
        // restart on this interface: the same lease (same client id, so the
        // server keeps one lease) for the endpoint. Else a new one.
        let own = own_record(&records, &pool.iface, shared.is_some(), &fresh, &legacy);
        // A container named by the engine has an identity of its own: a
        // lease kept for another one is not its to take.
        let reclaimed = match (&own, requested) {
            (None, None) if !named => self.reclaimable(&pool.iface, &records, shared),
            _ => None,
        };
        let (id, ask, was) = match (own, reclaimed) {
            (Some(l), _) => {
                // Its lease again, on the wire with the endpoint's MAC of
                // now (a named container's changes at every start).
                let mut id = l.identity();
                id.mac = fresh.mac;
                (id, requested.or(Some(l.ip)), Some((l, true)))
            }
            (None, Some(l)) => {
                let mut id = l.identity();
                // With a MAC per container the new endpoint's MAC goes on
                // the wire under the old client id; on a shared-MAC pool
                // the lease is asked for exactly as it was (the parent's
                // MAC and the old client id).
                if shared.is_none() {
                    id.mac = fresh.mac;
                }
                // The container may be another one: its hostname is sent
                // once it starts (the event follower).
                id.hostname = None;
                log::info!(
                    "plugin: {} was given back at a stop moments ago; asking for it again for the new {who} (same client id)",
                    l.ip
                );
                (id, Some(l.ip), Some((l, false)))
            }
            (None, None) => (fresh, requested, None),
        };
        let (ledger, opts) = (self.ledger(), self.opts.clone());
        // The exchange (up to --timeout) and its record run on a thread of
        // their own: other calls, releases and renewals go on meanwhile.
        let (granted, failed) = super::own_thread(move || async move {
            crate::lease::acquire(&ledger, &place, vec![id], ask, &opts, false).await
        })
        .await
        .map_err(|e| e.to_string())?;
        if let (Some((w, own)), Some(l)) = (&was, granted.first()) {
            self.carry_over(w, l, *own).await;
        }
        let Some(l) = granted.into_iter().next() else {
            let e = failed
                .into_iter()
                .next()
                .map(|(_, e)| e.to_string())
                .unwrap_or_default();
            return Err(format!("no lease for {who} on {}: {e}", pool.iface));
        };
        let wrong = if let Some(want) = requested.filter(|w| *w != l.ip) {
            Some(format!(
                "the DHCP server on {} would not give {want} to {who} (it offered {} instead): the address \
                 is taken or outside its range; choose another --ip, or leave --ip out",
                pool.iface, l.ip
            ))
        } else if !pool.subnet.contains(l.ip) || l.prefix_len != pool.subnet.prefix() {
            Some(format!(
                "the DHCP server on {} gave {}/{}, outside the network's subnet {}: recreate the network with --subnet {}",
                pool.iface,
                l.ip,
                l.prefix_len,
                pool.subnet,
                Subnet::new(l.ip, l.prefix_len)
            ))
        } else {
            None
        };
        if let Some(msg) = wrong {
            // By its key: on a shared-MAC pool other leases share its MAC.
            let (ip, key) = (l.ip, l.key());
            if let Err(e) = self.shared.release(move |x| x.has_key(&key)).await {
                log::error!("could not give back {ip}: {e}");
            }
            return Err(msg);
        }
        log::info!("plugin: leased {} for {who} on {}", l.ip, pool.iface);
        Ok(ipam::address_answer(l.ip, pool.subnet.prefix()))
    }

    async fn release_address(&self, body: &[u8]) -> std::result::Result<Value, String> {
        let r: ipam::ReleaseAddressRequest = ipam::decode(body, "ReleaseAddress")?;
        let pool = PoolId::decode(&r.pool_id)?;
        let ip = ipam::parse_address(&r.address)?;
        let records = crate::lease::load(&self.shared.store).map_err(|e| e.to_string())?;
        let Some(held) = records
            .iter()
            .find(|l| l.ip == ip && l.interface == pool.iface)
        else {
            // The gateway, or a lease already released (e.g. by the event follower).
            log::debug!(
                "plugin: no lease for {ip} on {}; nothing to release",
                pool.iface
            );
            return Ok(json!({}));
        };
        // The engine gives the address back at every stop (restart, stop,
        // engine shutdown) and asks again at the start with a new random
        // MAC: a container's lease is kept (and renewed) for its next start,
        // as any DHCP client keeps its lease while down, and released when
        // the container is removed (the event follower).
        if self.config.keep_for_restart
            && let Some(c) = held.container()
        {
            let (held, now) = (held.clone(), chrono::Utc::now());
            let key = held.key();
            let r = self
                .shared
                .update_leases_of(vec![key.clone()], move |all| {
                    if let Some(l) = all.iter_mut().find(|l| l.has_key(&key)) {
                        l.kept_since = Some(now);
                    }
                    Ok(())
                })
                .await;
            match r {
                Ok(()) => log::info!(
                    "plugin: kept {ip} ({}) of container {} for its next start; it is released when the container is removed",
                    held.mac,
                    crate::docker::short_id(c)
                ),
                // Still kept (and renewed) for the container; only a new
                // endpoint of it cannot be told it was its own.
                Err(e) => log::error!(
                    "plugin: could not note {ip} ({}) as kept for container {}'s next start: {e}",
                    held.mac,
                    crate::docker::short_id(c)
                ),
            }
            return Ok(json!({}));
        }
        // That lease alone, by its key: on a shared-MAC pool the others
        // share its MAC, and the RELEASE carries its client id.
        let key = held.key();
        let released = self
            .shared
            .release(move |l| l.has_key(&key))
            .await
            .map_err(|e| format!("could not release {ip}: {e}"))?;
        for l in &released {
            log::info!("plugin: released {} ({}) to {}", l.ip, l.mac, l.server_id);
        }
        Ok(json!({}))
    }

    /// The one lease kept on `iface` recently enough to go to a new
    /// endpoint (see `PARK_REUSE`); None when there is none or several
    /// (which container asks cannot be told: each gets a new lease, and the
    /// event follower releases a container's old one when it starts).
    fn reclaimable(
        &self,
        iface: &str,
        records: &[crate::lease::Lease],
        shared: Option<Mac>,
    ) -> Option<crate::lease::Lease> {
        let now = chrono::Utc::now();
        let window = chrono::Duration::from_std(PARK_REUSE).unwrap_or(chrono::Duration::MAX);
        reclaimable(iface, records, now, window, shared)
    }

    /// The lease `now` was asked for as `was` again: keep what the record
    /// knew (network; the container when it was the endpoint's `own`
    /// lease, not one kept for whichever container starts next), and drop
    /// `was`'s record when the lease's key changed (a new endpoint MAC).
    async fn carry_over(&self, was: &crate::lease::Lease, now: &crate::lease::Lease, own: bool) {
        let (was, now, ip) = (was.clone(), now.clone(), now.ip);
        let keys = vec![was.key(), now.key()];
        let r = self
            .shared
            .update_leases_of(keys, move |all| {
                if !was.same_key(&now) {
                    all.retain(|l| !l.same_key(&was));
                }
                if let Some(l) = all.iter_mut().find(|l| l.same_key(&now)) {
                    l.network = l.network.take().or(was.network.clone());
                    if own {
                        l.container = l.container.take().or(was.container.clone());
                        l.mac_fixed |= was.mac_fixed && was.mac == l.mac;
                    }
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            log::error!("plugin: could not update the record of {ip}: {e}");
        }
    }
}

/// Whether `l` was kept at its container's stop longer ago than `window`
/// for a container nothing can tie it to again: no fixed MAC and no name
/// from the engine, so its next start gets a new lease whatever happens
/// (`reclaimable` hands out only recent ones). Renewing it would only hold
/// an address nobody will use: the daemon releases it instead.
pub fn kept_for_nobody(
    l: &crate::lease::Lease,
    now: chrono::DateTime<chrono::Utc>,
    window: chrono::Duration,
) -> bool {
    l.status == crate::lease::Status::Bound
        && !l.mac_fixed
        && crate::network::plugin_handle_of(l) != Some(crate::network::PluginHandle::Name)
        && l.kept_since
            .is_some_and(|at| now.signed_duration_since(at) >= window)
}

/// The one record on `iface` kept at its container's stop within `window`
/// of `now` (a clock stepped back counts as recent); None when none or
/// several are. On a shared-MAC pool (`shared`: the DHCP interface's MAC)
/// only the plugin's leases for that MAC of endpoints the engine did not
/// name count (a named container comes back under its name), elsewhere
/// only leases with a MAC of their own: a lease is asked for again with the
/// identity it was made with.
fn reclaimable(
    iface: &str,
    records: &[crate::lease::Lease],
    now: chrono::DateTime<chrono::Utc>,
    window: chrono::Duration,
    shared: Option<Mac>,
) -> Option<crate::lease::Lease> {
    // A container with a fixed MAC comes back with it and finds its own
    // lease: its kept one is not in the running.
    let mut here = records.iter().filter(|l| {
        l.interface == iface
            && !l.mac_fixed
            && l.status == crate::lease::Status::Bound
            && l.kept_since
                .is_some_and(|at| now.signed_duration_since(at) < window)
            && match shared {
                Some(parent) => {
                    l.mac == parent
                        && crate::network::plugin_handle_of(l)
                            == Some(crate::network::PluginHandle::Endpoint)
                }
                None => l.key().client_id.is_none(),
            }
    });
    match (here.next(), here.next()) {
        (Some(l), None) => Some(l.clone()),
        _ => None,
    }
}

/// Who asks for a lease.
enum Endpoint {
    /// A container with a MAC of its own (Docker's endpoint MAC), and its
    /// name when the engine sends it.
    Mac { mac: Mac, name: Option<String> },
    /// An endpoint on a shared-MAC pool, named by what the engine sent.
    Shared {
        name: Option<String>,
        mac: Option<Mac>,
    },
}

/// The record of an endpoint's own lease: on a shared-MAC pool the one
/// with `fresh`'s key (the parent's MAC and the client id naming the
/// endpoint: every lease there has that MAC); for a named container with a
/// MAC of its own the one with its client id, whatever MAC it had (the
/// engine makes one up at every start), else the one of its MAC (a lease
/// taken before the engine sent names); else the one of its MAC.
fn own_record(
    records: &[crate::lease::Lease],
    iface: &str,
    shared: bool,
    fresh: &Identity,
    legacy: &[Vec<u8>],
) -> Option<crate::lease::Lease> {
    let key = crate::lease::LeaseKey::of(iface, fresh);
    let by_mac = || records.iter().find(|l| l.is_of(fresh.mac, iface));
    // A lease granted under the id an older dhcpnet gave this endpoint: a
    // record of the plugin's own (no network), on this interface.
    let by_legacy = || {
        let ids: Vec<String> = legacy
            .iter()
            .map(|c| crate::dhcp::message::format_client_id(c))
            .collect();
        records.iter().find(|l| {
            l.interface == iface
                && l.network.is_none()
                && (!shared || l.mac == fresh.mac)
                && ids.contains(&l.client_id)
        })
    };
    let found = match (shared, &key.client_id) {
        (true, _) => records.iter().find(|l| l.has_key(&key)).or_else(by_legacy),
        (false, Some(id)) => records
            .iter()
            .find(|l| l.interface == iface && l.key().client_id.as_ref() == Some(id))
            .or_else(by_legacy)
            .or_else(by_mac),
        (false, None) => by_mac(),
    };
    found.cloned()
}

/// A client id as text where it is text (type 0 + printable ASCII, as
/// dhcpnet makes them), else in hex.
fn readable_client_id(id: &[u8]) -> String {
    match id.split_first() {
        Some((0, text))
            if !text.is_empty() && text.iter().all(|b| b.is_ascii_graphic() || *b == b' ') =>
        {
            String::from_utf8_lossy(text).into_owned()
        }
        _ => crate::dhcp::message::format_client_id(id),
    }
}

/// Whether `name` is a Wi-Fi interface: the kernel shows `wireless`
/// (wireless extensions) or `phy80211` (cfg80211) under its sysfs
/// directory `sys_class_net/NAME`.
fn is_wireless(sys_class_net: &Path, name: &str) -> bool {
    let dir = sys_class_net.join(name);
    dir.join("wireless").exists() || dir.join("phy80211").exists()
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

/// The `dhcpnet-ipvlan` driver's socket: `explicit`, else `NAME-ipvlan.sock`
/// beside the plugin socket `NAME.sock` (the engine names a driver after
/// its socket in /run/docker/plugins: `dhcpnet.sock` is `dhcpnet`, so this
/// is `dhcpnet-ipvlan`).
pub fn ipvlan_socket_path(explicit: Option<&PathBuf>, plugin_socket: &Path) -> PathBuf {
    explicit
        .cloned()
        .unwrap_or_else(|| crate::docker::ipvlan_plugin_socket(plugin_socket))
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
    fn the_ipvlan_driver_s_socket_sits_beside_the_plugin_socket_and_names_the_driver() {
        assert_eq!(
            ipvlan_socket_path(None, Path::new(DEFAULT_SOCKET)),
            PathBuf::from("/run/docker/plugins/dhcpnet-ipvlan.sock")
        );
        assert_eq!(
            ipvlan_socket_path(None, Path::new("/tmp/t/plugin.sock")),
            PathBuf::from("/tmp/t/plugin-ipvlan.sock")
        );
        let mine = PathBuf::from("/srv/x.sock");
        assert_eq!(
            ipvlan_socket_path(Some(&mine), Path::new(DEFAULT_SOCKET)),
            mine
        );
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

#[cfg(test)]
mod reclaim_tests {
    use super::reclaimable;
    use crate::daemon::schedule::tests::lease;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn only_the_one_address_kept_recently_on_the_interface_goes_to_a_new_endpoint() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let window = Duration::minutes(10);
        let kept = |n: u8, ago: i64| {
            let mut l = lease(n, 3600, None, None);
            l.kept_since = Some(now - Duration::seconds(ago));
            l
        };
        let running = lease(9, 3600, None, None);
        // One kept a minute ago, beside a running container's lease: that one.
        let one = [running.clone(), kept(2, 60)];
        assert_eq!(
            reclaimable("eth0", &one, now, window, None).map(|l| l.ip),
            Some(one[1].ip)
        );
        // On another interface: not here.
        assert!(reclaimable("eth1", &one, now, window, None).is_none());
        // Two kept: whose is whose cannot be told.
        let two = [kept(2, 60), kept(3, 30)];
        assert!(reclaimable("eth0", &two, now, window, None).is_none());
        // Kept too long ago (a container stopped for good): not handed out.
        let old = [kept(2, 601)];
        assert!(reclaimable("eth0", &old, now, window, None).is_none());
        // Kept "in the future" (the clock stepped back since): still recent.
        let ahead = [kept(2, -30)];
        assert!(reclaimable("eth0", &ahead, now, window, None).is_some());
        // Beside the lease of a container with a fixed MAC (it comes back
        // with it, to its own): still the one.
        let mut pinned = kept(3, 30);
        pinned.mac_fixed = true;
        let beside = [kept(2, 60), pinned];
        assert_eq!(
            reclaimable("eth0", &beside, now, window, None).map(|l| l.ip),
            Some(beside[0].ip)
        );
        // Being released: never.
        let mut releasing = kept(2, 60);
        releasing.status = crate::lease::Status::Releasing;
        assert!(reclaimable("eth0", &[releasing], now, window, None).is_none());
    }

    /// A lease the plugin made on a shared-MAC pool for `endpoint`.
    fn shared(n: u8, endpoint: u8) -> crate::lease::Lease {
        let mut l = lease(n, 3600, None, None);
        l.mac = PARENT;
        let id = crate::network::ipvlan_plugin_identity(
            PARENT,
            crate::network::EndpointHandle::Mac(endpoint_mac(endpoint)),
        );
        l.client_id = crate::dhcp::message::format_client_id(&id.client_id);
        l
    }

    const PARENT: crate::net::mac::Mac = crate::net::mac::Mac([2, 0xaa, 0, 0, 0, 1]);

    fn endpoint_mac(n: u8) -> crate::net::mac::Mac {
        crate::net::mac::Mac([2, 0x42, 10, 0x4d, 0, n])
    }

    #[test]
    fn on_a_shared_mac_pool_an_endpoint_s_own_lease_is_found_by_its_client_id_not_the_mac_all_share()
     {
        use super::{own_record, readable_client_id};
        let records = [shared(5, 1), shared(6, 2), lease(7, 3600, None, None)];
        let id = |n: u8| {
            crate::network::ipvlan_plugin_identity(
                PARENT,
                crate::network::EndpointHandle::Mac(endpoint_mac(n)),
            )
        };
        let found = |n| own_record(&records, "eth0", true, &id(n), &[]).map(|l| l.ip);
        assert_eq!(found(1), Some(records[0].ip));
        assert_eq!(found(2), Some(records[1].ip));
        // A new endpoint owns none of them, though all have the parent's MAC.
        assert_eq!(found(3), None);
        // On another interface: not here.
        assert!(own_record(&records, "eth1", true, &id(1), &[]).is_none());
        // With a MAC per container, the MAC's own record, as before.
        let mac7 = records[2].mac;
        assert_eq!(
            own_record(
                &records,
                "eth0",
                false,
                &crate::dhcp::message::Identity::new(mac7),
                &[]
            )
            .map(|l| l.ip),
            Some(records[2].ip)
        );
        assert_eq!(
            readable_client_id(&id(1).client_id),
            "dhcpnet:02aa00000001:plugin:mac/02:42:0a:4d:00:01"
        );
        assert_eq!(readable_client_id(&[1, 2, 0xff]), "01:02:ff");
    }

    #[test]
    fn a_named_container_s_lease_granted_under_an_older_dhcpnet_s_client_id_is_still_its_own() {
        use super::own_record;
        use crate::network::{EndpointHandle, ipvlan_plugin_identity, legacy_plugin_client_ids};
        let long = format!("web-{}", "x".repeat(300));
        for name in ["web", long.as_str()] {
            // As older dhcpnet made the record: `plugin/<name>`, a long one
            // cut with FNV-1a (64 bits) and written out here independently.
            let text = format!("dhcpnet:{}:plugin/{name}", PARENT.hex());
            let old_id: Vec<u8> = if text.len() < 255 {
                std::iter::once(0).chain(text.bytes()).collect()
            } else {
                let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
                });
                let tail = format!("~{h:016x}");
                std::iter::once(0)
                    .chain(text.bytes().take(254 - tail.len()))
                    .chain(tail.bytes())
                    .collect()
            };
            let handle = EndpointHandle::Name(name);
            assert_eq!(
                legacy_plugin_client_ids(PARENT, handle),
                vec![old_id.clone()]
            );
            let mut old = shared(5, 1);
            old.client_id = crate::dhcp::message::format_client_id(&old_id);
            let records = [old.clone(), shared(6, 2)];
            let fresh = ipvlan_plugin_identity(PARENT, handle);
            assert_ne!(fresh.client_id, old_id, "{name}: the id changed");
            let legacy = legacy_plugin_client_ids(PARENT, handle);
            let got = own_record(&records, "eth0", true, &fresh, &legacy);
            assert_eq!(
                got.map(|l| l.client_id),
                Some(old.client_id.clone()),
                "{name}"
            );
            // Not a record another tool made with that id (`dhcpnet run` on
            // a network named "plugin": it names its network).
            let mut run = old.clone();
            run.network = Some("plugin".into());
            assert!(own_record(&[run], "eth0", true, &fresh, &legacy).is_none());
        }
    }

    #[test]
    fn a_kept_lease_goes_only_to_a_pool_that_leases_the_way_it_was_made() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let window = Duration::minutes(10);
        let kept = |mut l: crate::lease::Lease| {
            l.kept_since = Some(now - Duration::seconds(60));
            l
        };
        let on_shared = [kept(shared(5, 1)), shared(6, 2)];
        // A shared-MAC pool on the same parent takes it back as it was.
        assert_eq!(
            reclaimable("eth0", &on_shared, now, window, Some(PARENT)).map(|l| l.client_id),
            Some(on_shared[0].client_id.clone())
        );
        // A pool with a MAC per container does not (it would put a new MAC
        // under the shared lease's client id), nor one whose parent differs.
        assert!(reclaimable("eth0", &on_shared, now, window, None).is_none());
        let other_parent = crate::net::mac::Mac([2, 0xaa, 0, 0, 0, 9]);
        assert!(reclaimable("eth0", &on_shared, now, window, Some(other_parent)).is_none());
        // Nor a lease kept for a container the engine named: it comes back
        // under its name.
        let mut named = kept(shared(5, 1));
        let id = crate::network::ipvlan_plugin_identity(
            PARENT,
            crate::network::EndpointHandle::Name("web"),
        );
        named.client_id = crate::dhcp::message::format_client_id(&id.client_id);
        assert!(reclaimable("eth0", &[named], now, window, Some(PARENT)).is_none());
        // And a shared-MAC pool never takes a lease with a MAC of its own.
        let on_macvlan = [kept(lease(7, 3600, None, None))];
        assert!(reclaimable("eth0", &on_macvlan, now, window, Some(PARENT)).is_none());
        assert!(reclaimable("eth0", &on_macvlan, now, window, None).is_some());
    }

    #[test]
    fn wi_fi_interfaces_are_told_by_their_sysfs_entries() {
        let d = tempfile::tempdir().expect("tempdir");
        for (name, entry) in [
            ("wlan0", Some("wireless")),
            ("wlp2s0", Some("phy80211")),
            ("eth0", None),
        ] {
            std::fs::create_dir_all(d.path().join(name)).expect("mkdir");
            if let Some(e) = entry {
                std::fs::create_dir_all(d.path().join(name).join(e)).expect("mkdir");
            }
        }
        assert!(super::is_wireless(d.path(), "wlan0"));
        assert!(super::is_wireless(d.path(), "wlp2s0"));
        assert!(!super::is_wireless(d.path(), "eth0"));
        assert!(!super::is_wireless(d.path(), "nosuch0"));
    }

    #[test]
    fn a_lease_kept_past_the_window_for_a_container_nothing_names_is_for_nobody() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let window = Duration::minutes(10);
        let kept = |ago: i64| {
            let mut l = lease(2, 3600, None, None);
            l.kept_since = Some(now - Duration::seconds(ago));
            l
        };
        assert!(super::kept_for_nobody(&kept(601), now, window));
        // Recent: it may still go back to its container.
        assert!(!super::kept_for_nobody(&kept(60), now, window));
        // Not kept at all (a running container's).
        assert!(!super::kept_for_nobody(
            &lease(2, 3600, None, None),
            now,
            window
        ));
        // A fixed MAC brings its container back to it, however late.
        let mut pinned = kept(3600);
        pinned.mac_fixed = true;
        assert!(!super::kept_for_nobody(&pinned, now, window));
        // So does a name the engine sent.
        let mut named = kept(3600);
        named.client_id = crate::dhcp::message::format_client_id(
            &crate::network::ipvlan_plugin_identity(
                named.mac,
                crate::network::EndpointHandle::Name("web"),
            )
            .client_id,
        );
        assert!(!super::kept_for_nobody(&named, now, window));
    }

    #[test]
    fn a_kept_lease_shows_as_kept_and_loads_back_as_bound_with_its_time() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let mut l = lease(2, 3600, None, None);
        l.obtained_at = now;
        l.expires_at = Some(now + Duration::hours(1));
        l.kept_since = Some(now);
        assert_eq!(l.shown_status(now), crate::lease::Status::Kept);
        let json = serde_json::to_string(&l).expect("json");
        assert!(json.contains("\"kept_since\""), "{json}");
        let back: crate::lease::Lease = serde_json::from_str(&json).expect("back");
        assert_eq!(back.kept_since, Some(now));
        assert_eq!(back.status, crate::lease::Status::Bound);
        // A record without the field (older dhcpnet) loads as not kept.
        let mut v: serde_json::Value = serde_json::from_str(&json).expect("value");
        v.as_object_mut().expect("object").remove("kept_since");
        let old: crate::lease::Lease = serde_json::from_value(v).expect("old");
        assert_eq!(old.kept_since, None);
        assert_eq!(old.shown_status(now), crate::lease::Status::Bound);
    }
}
