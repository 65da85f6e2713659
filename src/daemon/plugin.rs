//! The IPAM plugin server: Docker's remote API on a unix socket.
//!
//! Handlers talk DHCP and the records, never to Docker: the engine calls
//! plugins while it starts, and a handler waiting on the engine would
//! deadlock it.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use super::Shared;
use super::http::{self, Parse};
use super::ipam::{self, AddressAsk, Call, Cidr, Discoveries, Offered, PoolId};
use crate::cmd::{Ctx, Place};
use crate::dhcp::message::Identity;
use crate::dhcp::transport::{self, Options};
use crate::error::{Error, Result};
use crate::net::iface::Interface;
use crate::net::mac::Mac;

pub const DEFAULT_SOCKET: &str = "/run/docker/plugins/dhcpnet.sock";

pub struct Plugin {
    shared: Rc<Shared>,
    discoveries: RefCell<Discoveries>,
    opts: Options,
    probe_timeout: Duration,
}

/// Bind the socket, refusing to take it from a plugin that is serving.
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
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(Error::Other(format!(
                "another process serves {} (a dhcpnet daemon already running?): stop it, or pass another --plugin-socket",
                path.display()
            )));
        }
        std::fs::remove_file(path).map_err(|e| fail("removing the stale", e))?;
    }
    UnixListener::bind(path).map_err(|e| fail("binding", e))
}

pub async fn serve(shared: Rc<Shared>, listener: UnixListener, opts: Options) -> Result<()> {
    let plugin = Rc::new(Plugin {
        shared,
        discoveries: RefCell::new(Discoveries::default()),
        opts,
        probe_timeout: Duration::from_secs(8),
    });
    loop {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| Error::Other(format!("accepting on the plugin socket: {e}")))?;
        let p = plugin.clone();
        tokio::task::spawn_local(async move {
            if let Err(e) = connection(&p, stream).await {
                log::debug!("plugin connection: {e}");
            }
        });
    }
}

async fn connection(p: &Plugin, mut s: UnixStream) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        match http::parse(&buf) {
            Parse::Incomplete => {
                let n = s.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Parse::Bad(msg) => {
                s.write_all(&http::response(
                    400,
                    &ipam::error(format!("dhcpnet plugin: {msg}")),
                ))
                .await?;
                return Ok(());
            }
            Parse::Done(req, used) => {
                buf.drain(..used);
                let (status, body) = p.handle(&req).await;
                s.write_all(&http::response(status, &body)).await?;
                if req.close {
                    return Ok(());
                }
            }
        }
    }
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

    fn ctx(&self) -> Ctx {
        Ctx {
            store: self.shared.store.clone(),
        }
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
        let (ctx, opts) = (self.ctx(), self.opts.clone());
        // The exchange (up to --timeout) and its record run on a thread of
        // their own: other calls, releases and renewals go on meanwhile.
        let (granted, failed) = super::own_thread(move || async move {
            crate::cmd::lease::acquire(
                &ctx,
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
        let ctx = self.ctx();
        let held = crate::lease::load(&ctx.store)
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
