//! Following Docker: release the leases of removed containers, tell the DHCP
//! server the hostname of containers that start, and reconcile at start-up.
//!
//! This runs beside the plugin, never inside a handler: it talks to the
//! engine through the `docker` CLI (`docker events`, `docker inspect`,
//! `docker ps`), and when the engine is not there it says so and waits for it
//! while renewals go on.

use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::Shared;
use crate::dhcp::client::Goal;
use crate::dhcp::transport::{self, Job, Options, Outcome};
use crate::lease::{self, ContainerRef, Lease};
use crate::net::iface::Interface;
use crate::net::mac::Mac;

/// How long to wait before looking for the engine again.
pub const ENGINE_RETRY: Duration = Duration::from_secs(15);

/// Reads of the records tried before an event's work is given up (waiting
/// 0.5 s, then twice as long each time: about 15 s in all).
const READ_TRIES: u32 = 6;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub action: String,
    pub id: String,
    pub name: Option<String>,
}

/// One line of `docker events --format '{{json .}}'`: a container event,
/// or a network `connect` (`docker network connect`; `id` is then the
/// container's, taken from the event's `container` attribute).
pub fn parse_event(line: &str) -> Option<Event> {
    let v = crate::docker::parse_event(line)?;
    let attribute = |k: &str| v.actor.as_ref().and_then(|a| a.attributes.get(k));
    match v.kind.as_deref() {
        Some("container") => {}
        Some("network") => {
            if v.action.as_deref() != Some("connect") {
                return None;
            }
            let id = attribute("container").filter(|s| !s.is_empty())?;
            return Some(Event {
                action: "connect".into(),
                id: id.clone(),
                name: None,
            });
        }
        _ => return None,
    }
    let action = v.action.clone().or_else(|| v.status.clone())?;
    let id = v
        .actor
        .as_ref()
        .and_then(|a| a.id.clone())
        .or_else(|| v.id.clone())?;
    let name = attribute("name").cloned();
    Some(Event { action, id, name })
}

/// What `docker inspect` says about a container that matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub hostname: Option<String>,
    pub macs: Vec<Mac>,
    /// Its endpoints' IPv4 addresses (what ties a shared-MAC lease of the
    /// plugin to it).
    pub ips: Vec<Ipv4Addr>,
    pub running: bool,
    /// The MAC it was given (`docker run --mac-address`), if any.
    pub fixed_mac: Option<Mac>,
}

impl From<crate::docker::ContainerInfo> for Container {
    fn from(c: crate::docker::ContainerInfo) -> Self {
        Container {
            id: c.id,
            name: c.name,
            hostname: c
                .hostname
                .filter(|h| crate::dhcp::message::validate_hostname(h).is_ok()),
            macs: c
                .networks
                .values()
                .filter_map(|e| e.mac)
                .filter(|m| !m.is_zero() && !m.is_multicast())
                .collect(),
            ips: c
                .networks
                .into_values()
                .filter_map(|e| e.ip)
                .filter(|ip| !ip.is_unspecified())
                .collect(),
            running: c.running,
            fixed_mac: c.fixed_mac,
        }
    }
}

#[cfg(test)]
fn parse_inspect(json: &str) -> Vec<Container> {
    crate::docker::parse_container_inspect(json)
        .into_iter()
        .map(Container::from)
        .collect()
}

/// Whether the lease is held with a MAC of its own (macvlan): a lease
/// with a client id of its own (ipvlan) shares its MAC with other
/// containers' leases, and a MAC says nothing about whose it is.
fn shares_no_mac(l: &Lease) -> bool {
    l.key().client_id.is_none()
}

/// Whether the lease is one the IPAM plugin made on a shared-MAC pool:
/// its record names no container until one is tied to it by address.
fn plugin_shared(l: &Lease) -> bool {
    crate::network::plugin_handle_of(l).is_some()
}

/// Whether the lease is container `c`'s: by its endpoint MACs (a lease with
/// a MAC of its own), else by the container its record names (ipvlan),
/// else, for a shared-MAC lease of the plugin that names none yet, by an
/// endpoint address of `c` equal to the lease's (the engine gave `c` the
/// address the plugin leased; the MAC, the parent's, says nothing).
pub fn is_its(l: &Lease, c: &Container) -> bool {
    if shares_no_mac(l) {
        return c.macs.contains(&l.mac);
    }
    if l.container().is_none() {
        return plugin_shared(l) && c.ips.contains(&l.ip);
    }
    l.belongs_to(&ContainerRef {
        id: &c.id,
        name: Some(&c.name),
    })
}

/// Leases whose container is gone: `existing` is (id, name) of every container.
pub fn orphans(leases: &[Lease], existing: &[(String, String)]) -> Vec<usize> {
    leases
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l.container.is_some()
                && !existing.iter().any(|(id, name)| {
                    l.belongs_to(&ContainerRef {
                        id,
                        name: Some(name),
                    })
                })
        })
        .map(|(i, _)| i)
        .collect()
}

pub struct Follower {
    pub shared: Rc<Shared>,
    pub docker: crate::docker::Docker,
    pub opts: Options,
}

impl Follower {
    async fn engine_version(&self) -> Result<String, String> {
        let v = self.docker.version().await.map_err(|e| e.to_string())?;
        Ok(v.server_version.unwrap_or_default())
    }

    /// Follow the engine for as long as the daemon runs.
    pub async fn run(&self) {
        let mut said_missing = false;
        loop {
            match self.engine_version().await {
                Ok(v) => {
                    log::info!(
                        "Docker engine {v} reached: following container events (releases on removal, hostnames on start)"
                    );
                    said_missing = false;
                    if let Err(e) = self.follow().await {
                        log::warn!(
                            "stopped following Docker events: {e}; trying again in {} s",
                            ENGINE_RETRY.as_secs()
                        );
                    }
                }
                Err(e) => {
                    if !said_missing {
                        log::warn!(
                            "the Docker engine cannot be reached ({e}): following container events is off until it \
                             appears, and the IPAM plugin waits on its socket for the engine; renewals go on"
                        );
                        said_missing = true;
                    }
                }
            }
            tokio::time::sleep(ENGINE_RETRY).await;
        }
    }

    async fn follow(&self) -> Result<(), String> {
        let mut child = self
            .docker
            .events(&[
                "type=container",
                "type=network",
                "event=destroy",
                "event=start",
                "event=connect",
            ])
            .map_err(|e| format!("cannot run {} events: {e}", self.docker.bin()))?;
        let stdout = child.stdout.take().ok_or("no output from docker events")?;
        // Events arriving while reconciling wait in the pipe.
        self.reconcile().await;
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines
            .next_line()
            .await
            .map_err(|e| format!("reading docker events: {e}"))?
        {
            let Some(ev) = parse_event(&line) else {
                continue;
            };
            match ev.action.as_str() {
                "destroy" => self.destroyed(&ev.id, ev.name.as_deref()).await,
                // `docker network connect` of a running container: the
                // lease was taken without its hostname, as at a start.
                "start" | "connect" => self.started(&ev.id).await,
                _ => {}
            }
        }
        let _ = child.kill().await;
        Err("the engine closed the event stream".into())
    }

    /// The recorded leases for `what` (said in errors). A read that fails
    /// is logged and tried again (`READ_TRIES`), never taken for "no
    /// leases": that would release nothing of a removed container, or
    /// attach nothing. None when it still fails: `what` is given up, said
    /// as an error with what does it later.
    async fn leases(&self, what: &str) -> Option<Vec<Lease>> {
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=READ_TRIES {
            match lease::load(&self.shared.store) {
                Ok(l) => return Some(l),
                Err(e) if attempt < READ_TRIES => {
                    log::error!(
                        "{e}; {what}: reading the leases again in {:.1} s",
                        wait.as_secs_f64()
                    );
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => {
                    log::error!(
                        "{e}; {what} is given up after {READ_TRIES} reads: the daemon does it at its \
                         next start (reconciliation), `dhcpnet rm` for a removed container"
                    );
                }
            }
        }
        None
    }

    /// Release the leases of containers that no longer exist, and attach
    /// running containers to the leases of their MACs.
    async fn reconcile(&self) {
        let Ok(existing) = self.docker.containers().await else {
            log::warn!("could not list containers; start-up reconciliation skipped");
            return;
        };
        let Some(leases) = self.leases("start-up reconciliation").await else {
            return;
        };
        let gone: Vec<Lease> = orphans(&leases, &existing)
            .into_iter()
            .map(|i| leases[i].clone())
            .collect();
        if !gone.is_empty() {
            log::info!(
                "{} lease(s) belong to containers that no longer exist; releasing them",
                gone.len()
            );
            self.release(move |l| gone.iter().any(|g| g.same_key(l)))
                .await;
        }
        // Member records of containers removed while the daemon was away.
        let nets = match crate::network::load(&self.shared.store) {
            Ok(n) => n,
            Err(e) => {
                log::error!(
                    "{e}; the network records of containers removed while the daemon was away are \
                     kept for now (`dhcpnet rm` forgets them)"
                );
                Vec::new()
            }
        };
        let recorded: Vec<String> = nets
            .into_iter()
            .flat_map(|n| n.members.into_iter().filter_map(|m| m.container))
            .collect();
        for c in recorded {
            if !existing
                .iter()
                .any(|(id, name)| *name == c || id.starts_with(&c) || c.starts_with(id.as_str()))
            {
                self.forget(&c).await;
            }
        }
        for (id, _) in existing {
            self.started(&id).await;
        }
    }

    async fn release(&self, pick: impl Fn(&Lease) -> bool + Send + 'static) {
        match self.shared.release(pick).await {
            Ok(r) => {
                for l in r {
                    log::info!(
                        "released {} ({}) of removed container {}",
                        l.ip,
                        l.mac,
                        l.container.unwrap_or_default()
                    );
                }
            }
            Err(e) => log::error!("releasing the leases of a removed container: {e}"),
        }
    }

    async fn destroyed(&self, id: &str, name: Option<&str>) {
        let what = format!(
            "releasing the leases of removed container {}",
            crate::docker::short_id(id)
        );
        let Some(leases) = self.leases(&what).await else {
            return;
        };
        if leases
            .iter()
            .any(|l| l.belongs_to(&ContainerRef { id, name }))
        {
            let (id, name) = (id.to_string(), name.map(str::to_string));
            self.release(move |l| {
                l.belongs_to(&ContainerRef {
                    id: &id,
                    name: name.as_deref(),
                })
            })
            .await;
        }
        self.forget(id).await;
    }

    /// networks.json keeps a removed container's name and MAC (for its
    /// re-creation) but no longer its id, as `dhcpnet rm` leaves it.
    async fn forget(&self, id: &str) {
        let (store, owned) = (self.shared.store.clone(), id.to_string());
        let r = {
            let _gate = self.shared.gate.lock().await;
            super::off_thread(move || crate::network::forget_container(&store, &owned)).await
        };
        match r {
            Ok(0) => {}
            Ok(_) => log::info!(
                "container {} is gone: forgotten in {}",
                crate::docker::short_id(id),
                crate::network::FILE
            ),
            Err(e) => log::error!(
                "cannot forget removed container {} in {}: {e}; `dhcpnet rm {}` does it",
                crate::docker::short_id(id),
                crate::network::FILE,
                crate::docker::short_id(id)
            ),
        }
    }

    /// A container started: note it on the leases of its MACs, and send its
    /// hostname (option 12) where the lease was taken without one.
    async fn started(&self, id: &str) {
        let what = format!(
            "noting started container {} on its leases",
            crate::docker::short_id(id)
        );
        let Some(leases) = self.leases(&what).await else {
            return;
        };
        if leases.is_empty() {
            return;
        }
        let Ok(Some(c)) = self.docker.inspect_container(id).await else {
            return;
        };
        let c = Container::from(c);
        if c.running {
            self.release_replaced(&c, &leases).await;
        }
        let mine: Vec<Lease> = leases.into_iter().filter(|l| is_its(l, &c)).collect();
        for l in mine {
            let renewed = match (&l.hostname, &c.hostname) {
                (None, Some(h)) => {
                    let r = self.send_hostname(&l, h).await;
                    match &r {
                        Some(_) => {
                            log::info!("told the DHCP server that {} ({}) is {h}", l.ip, l.mac)
                        }
                        None => log::warn!(
                            "could not send the hostname {h} for {} ({}); the lease is unchanged",
                            l.ip,
                            l.mac
                        ),
                    }
                    r
                }
                _ => None,
            };
            let fixed = c.fixed_mac == Some(l.mac);
            if l.container.is_some() && renewed.is_none() && l.mac_fixed == fixed {
                continue;
            }
            // The records may have changed during `docker inspect` and the
            // exchange (the renewal loop, a release): only what this knows is
            // written, on the record as it is now.
            let cid = c.id.clone();
            match self
                .shared
                .update_leases_of(vec![l.key()], move |all| {
                    Ok(note_started(all, &l, &cid, renewed, fixed))
                })
                .await
            {
                Ok(stale) => crate::lease::give_back(&stale).await,
                Err(e) => log::error!("cannot record container {} on its lease: {e}", c.name),
            }
        }
    }

    /// A running container's leases for MACs (on a shared-MAC pool:
    /// addresses) it no longer has: kept by the plugin at its stop, then not
    /// handed back at its start (the engine gave the endpoint a new MAC, and
    /// several addresses were parked on that interface, so which was its own
    /// could not be told). Released, so that the server holds one lease per
    /// container.
    async fn release_replaced(&self, c: &Container, leases: &[Lease]) {
        let stale = replaced(leases, c);
        if stale.is_empty() {
            return;
        }
        for l in &stale {
            if !shares_no_mac(l) {
                log::warn!(
                    "container {} came back with a new address on a shared-MAC (ipvlan) network; releasing its \
                     previous address {} (client id {})",
                    c.name,
                    l.ip,
                    l.client_id
                );
                continue;
            }
            log::warn!(
                "container {} came back with a new MAC (the engine makes one up at every start) and a new address; \
                 releasing its previous address {} ({}). To keep one address across restarts, give it a fixed MAC: \
                 `docker run --mac-address`, or in a compose file `mac_address:` under the service's `networks: NET:`",
                c.name,
                l.ip,
                l.mac
            );
        }
        self.release(move |l| stale.iter().any(|s| s.same_key(l)))
            .await;
    }

    /// A DHCPREQUEST (renewing) that carries the hostname; the new record.
    async fn send_hostname(&self, l: &Lease, hostname: &str) -> Option<Lease> {
        let iface = Interface::lookup(&l.interface).ok()?;
        let mut id = l.identity();
        id.hostname = Some(hostname.to_string());
        let goal = match l.server_mac {
            Some(server_mac) => Goal::Renew {
                ip: l.ip,
                server_id: l.server_id,
                server_mac,
            },
            None => Goal::Rebind { ip: l.ip },
        };
        let out = transport::run(&iface, &[Job { id, goal }], &self.opts, |_, _| {})
            .await
            .ok()?;
        match out.into_iter().next()? {
            Outcome::Bound(b) => {
                let mut n = l.renewed(&b, Utc::now());
                n.hostname = Some(hostname.to_string());
                Some(n)
            }
            _ => None,
        }
    }
}

/// The leases of running container `c` for MACs it no longer has, and the
/// plugin's shared-MAC leases of it for addresses it no longer has (their
/// MAC, the parent's, says nothing). Where `c`'s MACs (addresses) are not
/// known, none.
pub fn replaced(leases: &[Lease], c: &Container) -> Vec<Lease> {
    leases
        .iter()
        .filter(|l| {
            l.belongs_to(&ContainerRef {
                id: &c.id,
                name: Some(&c.name),
            }) && if shares_no_mac(l) {
                !c.macs.is_empty() && !c.macs.contains(&l.mac)
            } else {
                plugin_shared(l) && !c.ips.is_empty() && !c.ips.contains(&l.ip)
            }
        })
        .cloned()
        .collect()
}

/// What `started` learnt, on the current records: the container on the
/// record of `was`'s MAC (where none is noted), and the hostname renewal
/// `renewed` if that record is still the lease it renewed (else it is
/// dropped: the renewal loop or a release got there first). Returns what the
/// renewal bound that no record reflects, to be given back.
pub fn note_started(
    all: &mut [Lease],
    was: &Lease,
    container: &str,
    renewed: Option<Lease>,
    mac_fixed: bool,
) -> Vec<Lease> {
    let stale = match renewed {
        Some(mut n) => {
            n.container = Some(container.to_string());
            lease::apply_renewals(
                all,
                vec![lease::Renewal {
                    was: was.clone(),
                    new: n,
                }],
            )
        }
        None => Vec::new(),
    };
    if let Some(slot) = all.iter_mut().find(|o| o.same_key(was)) {
        if slot.container.is_none() {
            slot.container = Some(container.to_string());
        }
        slot.mac_fixed = mac_fixed;
    }
    stale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_20_events() {
        let line = r#"{"status":"destroy","id":"abc123","from":"busybox","Type":"container","Action":"destroy","Actor":{"ID":"abc123","Attributes":{"image":"busybox","name":"web"}},"scope":"local","time":1,"timeNano":1}"#;
        assert_eq!(
            parse_event(line),
            Some(Event {
                action: "destroy".into(),
                id: "abc123".into(),
                name: Some("web".into())
            })
        );
        assert_eq!(
            parse_event(r#"{"Type":"network","Action":"connect","Actor":{"ID":"n"}}"#),
            None
        );
        let connect = r#"{"Type":"network","Action":"connect","Actor":{"ID":"netid","Attributes":{"container":"c0ffee","name":"mcv0","type":"macvlan"}},"scope":"local"}"#;
        assert_eq!(
            parse_event(connect),
            Some(Event {
                action: "connect".into(),
                id: "c0ffee".into(),
                name: None
            })
        );
        assert_eq!(
            parse_event(&connect.replace("\"connect\"", "\"disconnect\"")),
            None
        );
        assert_eq!(parse_event("not json"), None);
        assert_eq!(parse_event(r#"{"Type":"container"}"#), None);
    }

    #[test]
    fn parses_inspect() {
        let j = r#"[{"Id":"abcdef0123456789","Name":"/web","Config":{"Hostname":"web-1"},
            "NetworkSettings":{"Networks":{"mcv0":{"MacAddress":"02:42:0a:4d:00:07"},"bridge":{"MacAddress":""}}}}]"#;
        let c = parse_inspect(j);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name, "web");
        assert_eq!(c[0].hostname.as_deref(), Some("web-1"));
        assert_eq!(c[0].macs, vec![Mac([2, 0x42, 10, 0x4d, 0, 7])]);
        assert!(!c[0].running);
        assert!(parse_inspect("[]").is_empty());
        assert!(parse_inspect("garbage").is_empty());
    }

    fn with_container(c: Option<&str>) -> Lease {
        let mut l: Lease = serde_json::from_value(serde_json::json!({
            "ip": "10.0.0.5", "prefix_len": 24, "subnet": "10.0.0.0/24", "mac": "02:00:00:00:00:05",
            "gateway": null, "dns": [], "domain": null, "server_id": "10.0.0.1", "lease_time": 100,
            "renewal_time": 50, "rebinding_time": 87, "obtained_at": "2026-01-01T00:00:00Z",
            "expires_at": "2026-01-01T00:01:40Z", "hostname": null, "client_id": "01:02:00:00:00:00:05",
            "interface": "eth0", "network": null
        }))
        .unwrap();
        l.container = c.map(str::to_string);
        l
    }

    #[test]
    fn ownership_and_orphans() {
        let full = "0123456789abcdef0123456789abcdef";
        let owned_by = |l: &Lease, id, name| l.belongs_to(&ContainerRef { id, name });
        assert!(owned_by(&with_container(Some(full)), full, None));
        assert!(owned_by(&with_container(Some("0123456789ab")), full, None));
        assert!(!owned_by(&with_container(Some("0123")), full, None));
        assert!(owned_by(&with_container(Some("web")), full, Some("web")));
        assert!(!owned_by(&with_container(None), full, Some("web")));
        let leases = [
            with_container(Some("web")),
            with_container(None),
            with_container(Some("gone")),
        ];
        let existing = [(full.to_string(), "web".to_string())];
        assert_eq!(orphans(&leases, &existing), vec![2]);
    }

    #[test]
    fn a_container_back_with_a_new_mac_replaces_its_kept_lease() {
        let full = "0123456789abcdef0123456789abcdef";
        let mut old = with_container(Some(full));
        old.mac = Mac([2, 0x42, 0, 0, 0, 1]);
        let mut now = with_container(Some(full));
        now.mac = Mac([2, 0x42, 0, 0, 0, 2]);
        let other = with_container(Some("other"));
        let c = Container {
            id: full.into(),
            name: "web".into(),
            hostname: None,
            macs: vec![now.mac],
            ips: vec![now.ip],
            running: true,
            fixed_mac: None,
        };
        let all = [old.clone(), now.clone(), other];
        assert_eq!(replaced(&all, &c), vec![old]);
        // A container whose MACs are not known (not on any network now) keeps them.
        let bare = Container { macs: vec![], ..c };
        assert!(replaced(&all, &bare).is_empty());
    }

    #[test]
    fn an_ipvlan_lease_of_a_running_container_on_another_network_too_is_not_taken_for_replaced() {
        let full = "0123456789abcdef0123456789abcdef";
        let mut ipvlan = with_container(Some(full));
        ipvlan.client_id = "00:64:68:63:70".into();
        let c = Container {
            id: full.into(),
            name: "web".into(),
            hostname: None,
            // Its macvlan endpoint's MAC: not the parent's MAC of the ipvlan lease.
            macs: vec![Mac([2, 0x42, 0, 0, 0, 9])],
            ips: vec![std::net::Ipv4Addr::new(10, 0, 0, 9)],
            running: true,
            fixed_mac: None,
        };
        assert!(replaced(std::slice::from_ref(&ipvlan), &c).is_empty());
        // Another container whose endpoint reports the shared (parent's) MAC
        // does not own it.
        let other = Container {
            id: "f".repeat(32),
            name: "db".into(),
            macs: vec![ipvlan.mac],
            ..c.clone()
        };
        assert!(!is_its(&ipvlan, &other));
        assert!(is_its(&ipvlan, &c));
    }

    /// A lease the plugin made on a shared-MAC pool, naming no container.
    fn plugin_shared_lease(ip: u8, endpoint: u8) -> Lease {
        let mut l = with_container(None);
        l.ip = std::net::Ipv4Addr::new(10, 0, 0, ip);
        l.mac = Mac([2, 0xaa, 0, 0, 0, 1]);
        let handle = crate::network::EndpointHandle::Mac(Mac([2, 0x42, 0, 0, 0, endpoint]));
        let id = crate::network::ipvlan_plugin_identity(l.mac, handle);
        l.client_id = crate::dhcp::message::format_client_id(&id.client_id);
        l
    }

    #[test]
    fn a_shared_mac_lease_of_the_plugin_is_tied_to_the_container_the_engine_gave_its_address() {
        let a = plugin_shared_lease(5, 1);
        let b = plugin_shared_lease(6, 2);
        let web = Container {
            id: "a".repeat(64),
            name: "web".into(),
            hostname: Some("web".into()),
            // ipvlan endpoints report the parent's MAC, the same for all.
            macs: vec![a.mac],
            ips: vec![a.ip],
            running: true,
            fixed_mac: None,
        };
        assert!(is_its(&a, &web), "its endpoint has the lease's address");
        assert!(!is_its(&b, &web), "the MAC they share says nothing");
        // A stopped container has no address: nothing is tied to it.
        let stopped = Container {
            ips: vec![],
            running: false,
            fixed_mac: None,
            ..web.clone()
        };
        assert!(!is_its(&a, &stopped));
        // Once the record names a container, that decides, not the address.
        let mut owned = a.clone();
        owned.container = Some("b".repeat(64));
        assert!(!is_its(&owned, &web));
        owned.container = Some(web.id.clone());
        assert!(is_its(&owned, &web));
        // A hand-made lease with a client id (`lease --client-id`) at the
        // same address is not the plugin's: never tied by address.
        let mut by_hand = a.clone();
        by_hand.client_id = "00:64:68:63:70".into();
        assert!(!is_its(&by_hand, &web));
        // The start notes the container on the record.
        let mut all = vec![a.clone(), b.clone()];
        note_started(&mut all, &a, &web.id, None, false);
        assert_eq!(all[0].container.as_deref(), Some(web.id.as_str()));
        assert_eq!(all[1].container, None);
    }

    #[test]
    fn a_container_back_at_a_new_address_on_a_shared_mac_pool_replaces_its_kept_lease() {
        let mut old = plugin_shared_lease(5, 1);
        let mut now = plugin_shared_lease(6, 2);
        let full = "c".repeat(64);
        old.container = Some(full.clone());
        now.container = Some(full.clone());
        let c = Container {
            id: full,
            name: "web".into(),
            hostname: None,
            macs: vec![old.mac],
            ips: vec![now.ip],
            running: true,
            fixed_mac: None,
        };
        let other = plugin_shared_lease(7, 3);
        assert_eq!(
            replaced(&[old.clone(), now.clone(), other], &c),
            vec![old.clone()]
        );
        // Addresses not known (on no network now): kept.
        let bare = Container { ips: vec![], ..c };
        assert!(replaced(&[old], &bare).is_empty());
    }

    #[test]
    fn a_start_notes_the_container_on_the_record_as_it_is_now() {
        let was = with_container(None);
        // Renewed by the renewal loop during `docker inspect`: kept as it is,
        // only the container added.
        let mut renewed = was.clone();
        renewed.obtained_at += chrono::Duration::seconds(50);
        renewed.expires_at = renewed
            .expires_at
            .map(|e| e + chrono::Duration::seconds(50));
        let mut all = vec![renewed.clone()];
        assert!(note_started(&mut all, &was, "abc", None, false).is_empty());
        assert_eq!(all[0].obtained_at, renewed.obtained_at);
        assert_eq!(all[0].container.as_deref(), Some("abc"));
        // A container noted already is left alone.
        let mut all = vec![with_container(Some("web"))];
        note_started(&mut all, &was, "abc", None, false);
        assert_eq!(all[0].container.as_deref(), Some("web"));
    }

    #[test]
    fn a_hostname_renewal_applies_only_to_the_lease_it_renewed() {
        let was = with_container(None);
        let mut sent = was.clone();
        sent.obtained_at += chrono::Duration::seconds(10);
        sent.hostname = Some("web-1".into());
        // Unchanged meanwhile: the renewal (with its hostname) is recorded.
        let mut all = vec![was.clone()];
        assert!(note_started(&mut all, &was, "abc", Some(sent.clone()), false).is_empty());
        assert_eq!(
            (all[0].obtained_at, all[0].hostname.as_deref()),
            (sent.obtained_at, Some("web-1"))
        );
        assert_eq!(all[0].container.as_deref(), Some("abc"));
        // Renewed by the loop meanwhile (same address): that record stays,
        // nothing is given back.
        let mut newer = was.clone();
        newer.obtained_at += chrono::Duration::seconds(20);
        let mut all = vec![newer.clone()];
        assert!(note_started(&mut all, &was, "abc", Some(sent.clone()), false).is_empty());
        assert_eq!(
            (all[0].obtained_at, all[0].hostname.clone()),
            (newer.obtained_at, None)
        );
        // Moved to another address meanwhile: the renewal's address is given back.
        let mut moved = newer.clone();
        moved.ip = std::net::Ipv4Addr::new(10, 0, 0, 9);
        let mut all = vec![moved.clone()];
        assert_eq!(
            note_started(&mut all, &was, "abc", Some(sent.clone()), false).len(),
            1
        );
        assert_eq!(all[0].ip, moved.ip);
        // Released meanwhile: no record comes back, the address is given back.
        let mut all: Vec<Lease> = vec![];
        let stale = note_started(&mut all, &was, "abc", Some(sent.clone()), false);
        assert!(all.is_empty());
        assert_eq!(
            stale.iter().map(|l| l.ip).collect::<Vec<_>>(),
            vec![sent.ip]
        );
    }

    #[test]
    fn a_start_notes_whether_the_container_s_mac_is_fixed_on_its_lease() {
        let was = with_container(None);
        let mut all = vec![was.clone()];
        note_started(&mut all, &was, "abc", None, true);
        assert!(all[0].mac_fixed && all[0].container.as_deref() == Some("abc"));
        // Re-created without --mac-address under the same MAC (unlikely,
        // but the record follows what inspect says).
        note_started(&mut all, &was, "abc", None, false);
        assert!(!all[0].mac_fixed);
    }
}
