//! `dhcpnet doctor`: every check a person would otherwise do by hand when a
//! container gets no address, each a row (ok / warn / fail, what was found,
//! the fix in one sentence). Read-only: the DHCP probe is a DISCOVER from a
//! throwaway MAC (no REQUEST, so no lease), files are read without the
//! store's tightening, the daemon's lock is only tested, Docker is only
//! asked (`version`, `inspect`).
//!
//! The judgements are pure functions over what was gathered (unit-tested);
//! `run` gathers.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use crate::dhcp::message;
use crate::dhcp::transport::Offer;
use crate::docker::{Docker, Versions};
use crate::error::Result;
use crate::lease::{self, Lease, Status as LeaseStatus};
use crate::links::{self, Kind};
use crate::network::{self, Network, Subnet};
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        })
    }
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// What to do, in one sentence; empty when nothing is to be done.
    pub fix: String,
}

fn row(name: &str, status: Status, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        status,
        detail: detail.into(),
        fix: fix.into(),
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The interface DHCP is spoken on (the parent, or the network's DHCP
    /// interface).
    pub iface: Option<String>,
    /// The macvlan parent, when it differs from `iface`.
    pub parent: Option<String>,
    /// The Docker network, with `--network`.
    pub network: Option<String>,
    pub probe_timeout: f64,
    pub plugin_socket: PathBuf,
}

// ---- privileges -----------------------------------------------------------

const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;

/// The effective capability set from the text of /proc/self/status.
pub fn cap_eff(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

pub fn judge_privileges(cap_eff: Option<u64>) -> Check {
    let Some(c) = cap_eff else {
        return row(
            "privileges",
            Status::Warn,
            "cannot read CapEff from /proc/self/status",
            "run dhcpnet as root or with CAP_NET_RAW and CAP_NET_ADMIN",
        );
    };
    let has = |bit: u32| c & (1u64 << bit) != 0;
    let fix = "run dhcpnet as root, or `setcap cap_net_raw,cap_net_admin+ep $(command -v dhcpnet)`";
    match (has(CAP_NET_RAW), has(CAP_NET_ADMIN)) {
        (true, true) => row(
            "privileges",
            Status::Ok,
            "CAP_NET_RAW and CAP_NET_ADMIN",
            "",
        ),
        (false, _) => row(
            "privileges",
            Status::Fail,
            "no CAP_NET_RAW: no DHCP can be sent or received",
            fix,
        ),
        (true, false) => row(
            "privileges",
            Status::Warn,
            "CAP_NET_RAW but no CAP_NET_ADMIN: leases work, links (VLANs, shims) cannot be made",
            fix,
        ),
    }
}

// ---- interface ------------------------------------------------------------

/// What sysfs says about an interface.
#[derive(Debug, Clone, Default)]
pub struct IfaceFacts {
    pub exists: bool,
    pub link_type: Option<u32>,
    pub up: bool,
    pub carrier: Option<bool>,
    pub mtu: Option<u32>,
    pub wireless: bool,
}

pub fn iface_facts(name: &str) -> IfaceFacts {
    if crate::net::iface::validate_name(name).is_err() {
        return IfaceFacts::default();
    }
    let dir = Path::new("/sys/class/net").join(name);
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let flags = read("flags")
        .and_then(|s| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0);
    IfaceFacts {
        exists: dir.exists(),
        link_type: read("type").and_then(|s| s.parse().ok()),
        up: flags & 1 != 0,
        carrier: read("carrier").map(|s| s == "1"),
        mtu: read("mtu").and_then(|s| s.parse().ok()),
        wireless: dir.join("wireless").exists() || dir.join("phy80211").exists(),
    }
}

pub fn judge_interface(name: &str, f: &IfaceFacts) -> Check {
    let n = "interface";
    if !f.exists {
        return row(
            n,
            Status::Fail,
            format!("no interface named {name} in this network namespace"),
            "name the LAN interface (`ip link` lists them), e.g. eth0",
        );
    }
    if f.link_type != Some(1) {
        return row(
            n,
            Status::Fail,
            format!(
                "{name} is not Ethernet (link type {})",
                f.link_type.unwrap_or(0)
            ),
            "use the Ethernet interface on the LAN: macvlan and DHCP need Ethernet",
        );
    }
    if !f.up {
        return row(
            n,
            Status::Fail,
            format!("{name} is down"),
            format!("`ip link set {name} up`"),
        );
    }
    if f.carrier == Some(false) {
        return row(
            n,
            Status::Fail,
            format!("{name} is up but has no carrier"),
            "check the cable, the switch port or the peer of the link",
        );
    }
    let mtu = f.mtu.unwrap_or(0);
    if mtu < 576 {
        return row(
            n,
            Status::Fail,
            format!("{name}: MTU {mtu} is below the 576 bytes DHCP needs"),
            format!("`ip link set {name} mtu 1500`"),
        );
    }
    if f.wireless {
        return row(
            n,
            Status::Warn,
            format!("{name} is Wi-Fi (MTU {mtu})"),
            "use a wired interface: access points drop frames from MACs that have not associated",
        );
    }
    row(
        n,
        Status::Ok,
        format!("{name}: Ethernet, up, carrier, MTU {mtu}"),
        "",
    )
}

// ---- kernel ---------------------------------------------------------------

/// Whether the kernel has `module`: loaded (or built in with a sysfs
/// entry), listed as built in, or loadable from the module tree. None when
/// it cannot be told (no module tree and not loaded).
pub fn kernel_has(module: &str) -> Option<bool> {
    if Path::new("/sys/module").join(module).exists() {
        return Some(true);
    }
    let from_config = kernel_config(module);
    if from_config == Some(true) {
        return from_config;
    }
    let Some(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok() else {
        return from_config;
    };
    let tree = Path::new("/lib/modules").join(release.trim());
    let listed = |file: &str| {
        std::fs::read_to_string(tree.join(file)).ok().map(|t| {
            t.lines().any(|l| {
                let path = l.split(':').next().unwrap_or("");
                let base = path.rsplit('/').next().unwrap_or("");
                base.strip_suffix(".ko")
                    .or_else(|| base.split(".ko.").next())
                    .is_some_and(|b| b == module)
            })
        })
    };
    match (listed("modules.builtin"), listed("modules.dep")) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => from_config,
    }
}

/// What the running kernel's configuration (/proc/config.gz, read with
/// `gzip -dc`) says about `module`: built in, a module, or not set.
fn kernel_config(module: &str) -> Option<bool> {
    let key = match module {
        "macvlan" => "CONFIG_MACVLAN",
        "ipvlan" => "CONFIG_IPVLAN",
        "8021q" => "CONFIG_VLAN_8021Q",
        _ => return None,
    };
    if !Path::new("/proc/config.gz").exists() {
        return None;
    }
    let out = std::process::Command::new("gzip")
        .args(["-dc", "/proc/config.gz"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    judge_config(&String::from_utf8_lossy(&out.stdout), key)
}

/// `key` in a kernel config text: Some(true) for =y/=m, Some(false) when
/// "is not set" or absent from a non-empty config.
pub fn judge_config(config: &str, key: &str) -> Option<bool> {
    if config.trim().is_empty() {
        return None;
    }
    for l in config.lines() {
        if let Some(v) = l.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
            return Some(v == "y" || v == "m");
        }
    }
    Some(false)
}

pub fn judge_module(
    name: &str,
    module: &str,
    has: Option<bool>,
    missing: Status,
    why: &str,
) -> Check {
    match has {
        Some(true) => row(
            name,
            Status::Ok,
            format!("{module} is available in the kernel"),
            "",
        ),
        Some(false) => row(
            name,
            missing,
            format!("the kernel has no {module} module ({why})"),
            format!(
                "use a kernel with {module} (Debian's linux-image has it), or load it with `modprobe {module}`"
            ),
        ),
        None => row(
            name,
            Status::Warn,
            format!(
                "cannot tell whether the kernel has {module}: not loaded and no module tree to look in ({why})"
            ),
            format!("`modprobe {module}`, or check the kernel's configuration"),
        ),
    }
}

// ---- DHCP -----------------------------------------------------------------

fn describe_offer(o: &Offer) -> String {
    let p = &o.params;
    let lease = if p.lease_time == message::INFINITE {
        "infinite".to_string()
    } else {
        format!("{} s", p.lease_time)
    };
    format!(
        "{} ({}): subnet {}, router {}, lease {lease}",
        p.server_id,
        o.server_mac,
        message::subnet_of(p.ip, p.prefix_len),
        p.gateway
            .map(|g| g.to_string())
            .unwrap_or_else(|| "none".into()),
    )
}

pub fn judge_servers(iface: &str, offers: &[Offer], listened: Duration) -> Check {
    let n = "dhcp";
    match offers {
        [] => row(
            n,
            Status::Fail,
            format!(
                "no DHCP server answered a DISCOVER on {iface} within {:.1} s",
                listened.as_secs_f64()
            ),
            "check that a DHCP server serves this segment (and VLAN), that its pool has free addresses, \
             and that the switch port lets DHCP through (`dhcpnet watch` shows what passes)",
        ),
        [one] => row(n, Status::Ok, describe_offer(one), ""),
        many => row(
            n,
            Status::Warn,
            format!(
                "{} servers answered: {}",
                many.len(),
                many.iter()
                    .map(describe_offer)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            "find the one that should not be there (a home router, a VM) by its address and MAC, and switch it off",
        ),
    }
}

// ---- Docker ---------------------------------------------------------------

pub fn judge_versions(v: &std::result::Result<Versions, String>, needed: bool) -> Check {
    let n = "docker";
    let missing = if needed { Status::Fail } else { Status::Warn };
    match v {
        Err(e) if e.contains("not found") => row(
            n,
            Status::Warn,
            format!("skipped: {e}"),
            "install Docker to use dhcpnet's networks; leases work without it",
        ),
        Err(e) => row(
            n,
            missing,
            e.clone(),
            "start the engine (`systemctl start docker`), or point DOCKER_HOST at it",
        ),
        Ok(v) if v.mac_address_mismatch() => row(
            n,
            missing,
            format!(
                "CLI {} (API {}) is newer than engine {} (API {}): `--mac-address` is refused (API 1.44)",
                v.client_version,
                v.client_api.as_deref().unwrap_or("?"),
                v.server_version.as_deref().unwrap_or("?"),
                v.server_api.as_deref().unwrap_or("?")
            ),
            format!(
                "point {} at a CLI matching the engine (e.g. /usr/bin/docker), or upgrade the engine to 25 or later",
                crate::docker::ENV_BINARY
            ),
        ),
        Ok(v) => row(
            n,
            Status::Ok,
            format!(
                "engine {} (API {}), CLI {} (API {})",
                v.server_version.as_deref().unwrap_or("?"),
                v.server_api.as_deref().unwrap_or("?"),
                v.client_version,
                v.client_api.as_deref().unwrap_or("?")
            ),
            "",
        ),
    }
}

/// The Docker network against the DHCP server's offer.
pub fn judge_network(
    name: &str,
    info: &std::result::Result<Option<crate::docker::NetworkInfo>, String>,
    offers: &[Offer],
) -> Check {
    let n = "docker network";
    match info {
        Err(e) => row(
            n,
            Status::Warn,
            format!("skipped: {e}"),
            "fix the Docker check first",
        ),
        Ok(None) => row(
            n,
            Status::Fail,
            format!("Docker has no network {name}"),
            format!("create it with `dhcpnet create {name} --parent IFACE`"),
        ),
        Ok(Some(i)) => {
            let subnet: Option<Subnet> = i.subnet.as_deref().and_then(|s| s.parse().ok());
            let offered = offers.first().map(|o| o.params.ip);
            match (subnet, offered) {
                (Some(s), Some(ip)) if !s.contains(ip) => row(
                    n,
                    Status::Fail,
                    format!(
                        "{name} has subnet {s} but the DHCP server offers {ip} ({})",
                        offers
                            .first()
                            .map(|o| message::subnet_of(o.params.ip, o.params.prefix_len)
                                .to_string())
                            .unwrap_or_default()
                    ),
                    format!(
                        "re-create the network on the server's subnet (`dhcpnet delete {name}`, then `dhcpnet create`)"
                    ),
                ),
                (Some(s), Some(_)) => row(
                    n,
                    Status::Ok,
                    format!(
                        "{name} ({}): subnet {s} matches the server's offer",
                        i.driver
                    ),
                    "",
                ),
                (s, None) => row(
                    n,
                    Status::Warn,
                    format!(
                        "{name} ({}) exists, subnet {}; no offer to compare with",
                        i.driver,
                        s.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into())
                    ),
                    "fix the DHCP check first",
                ),
                (None, Some(_)) => row(
                    n,
                    Status::Warn,
                    format!("{name} shows no IPv4 subnet"),
                    "inspect it with `docker network inspect`",
                ),
            }
        }
    }
}

// ---- state directory and records -------------------------------------------

/// How the state directory looks, without touching it.
pub fn judge_state_dir(dir: &Path) -> (Check, bool) {
    let n = "state directory";
    let md = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (
                row(
                    n,
                    Status::Ok,
                    format!("{} does not exist yet (nothing recorded)", dir.display()),
                    "",
                ),
                false,
            );
        }
        Err(e) => {
            return (
                row(
                    n,
                    Status::Fail,
                    format!("{}: {e}", dir.display()),
                    "check the path and its permissions",
                ),
                false,
            );
        }
    };
    if md.file_type().is_symlink() || !md.is_dir() {
        return (
            row(
                n,
                Status::Fail,
                format!(
                    "{} is not a real directory (a symlink or a file)",
                    dir.display()
                ),
                "give the real directory with --state-dir",
            ),
            false,
        );
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if md.uid() != me && md.uid() != 0 {
        return (
            row(
                n,
                Status::Fail,
                format!("{} belongs to uid {}", dir.display(), md.uid()),
                "use a state directory of your own (or root's)",
            ),
            false,
        );
    }
    if std::fs::read_dir(dir).is_err() {
        return (
            row(
                n,
                Status::Fail,
                format!("{} cannot be read", dir.display()),
                "run dhcpnet as the directory's owner (root)",
            ),
            false,
        );
    }
    let mode = md.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return (
            row(
                n,
                Status::Warn,
                format!(
                    "{} is mode {mode:04o}, open to other users (records not checked)",
                    dir.display()
                ),
                "run any dhcpnet command as its owner: it tightens the directory to 0700",
            ),
            false,
        );
    }
    (
        row(
            n,
            Status::Ok,
            format!("{} is private ({mode:04o})", dir.display()),
            "",
        ),
        true,
    )
}

/// Whether the daemon holds its lock: a shared lock attempt on a read-only
/// descriptor (created nothing, held for no time).
pub fn daemon_running(store: &Store) -> Option<bool> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nofollow()
        .open(store.path("daemon.lock"))
        .ok()?;
    match f.try_lock_shared() {
        Ok(()) => {
            let _ = f.unlock();
            Some(false)
        }
        Err(std::fs::TryLockError::WouldBlock) => Some(true),
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}

trait NoFollow {
    fn custom_flags_nofollow(&mut self) -> &mut Self;
}
impl NoFollow for std::fs::OpenOptions {
    fn custom_flags_nofollow(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NOFOLLOW)
    }
}

/// One warning row per record file of table `dir` set aside (or skipped
/// by readers until a process holding the lock sets it aside), naming it,
/// why, and the fix.
pub fn judge_set_aside(aside: &[crate::store::table::SetAside], dir: &str) -> Vec<Check> {
    aside
        .iter()
        .map(|a| {
            row(
                "set aside",
                Status::Warn,
                format!(
                    "{} {}: {}",
                    a.path.display(),
                    if a.in_table {
                        "cannot be read and is skipped (the next dhcpnet holding the lock moves it to quarantine/)"
                    } else {
                        "was set aside: dhcpnet does not read it"
                    },
                    a.why
                ),
                if dir == lease::DIR {
                    format!(
                        "its lease is neither renewed nor released (the server frees it at expiry): \
                         repair the file and move it back into {dir}/ to keep it, or remove it"
                    )
                } else {
                    format!("repair the file and move it back into {dir}/, or remove it")
                },
            )
        })
        .collect()
}

pub fn judge_daemon(running: Option<bool>, leases: usize) -> Check {
    let n = "daemon";
    match running {
        Some(true) => row(
            n,
            Status::Ok,
            "a dhcpnet daemon holds this state directory's lock",
            "",
        ),
        _ if leases == 0 => row(
            n,
            Status::Warn,
            "no dhcpnet daemon runs (no lease is recorded, so nothing needs renewing yet)",
            "`systemctl enable --now dhcpnet` before leasing for containers",
        ),
        _ => row(
            n,
            Status::Fail,
            format!("no dhcpnet daemon runs: nothing renews the {leases} recorded lease(s)"),
            "`systemctl enable --now dhcpnet` (or run `dhcpnet daemon`)",
        ),
    }
}

/// Recorded leases against the clock and Docker: expired, lost, or held
/// for a container that no longer exists (`gone` lists those containers).
pub fn judge_leases(leases: &[Lease], gone: &[String], now: chrono::DateTime<Utc>) -> Check {
    let n = "leases";
    let mut problems = Vec::new();
    for l in leases {
        if l.status == LeaseStatus::Lost {
            problems.push(format!(
                "{} ({}) is lost (the server refused it)",
                l.ip, l.mac
            ));
        } else if l.is_expired(now) {
            problems.push(format!("{} ({}) expired", l.ip, l.mac));
        } else if l.shown_status(now) == LeaseStatus::Moved
            && let Some(old) = l.in_use_ip
        {
            problems.push(format!(
                "{} ({}) moved: the server gave {} while {} still uses {old} unleased \
                 (re-create it: `dhcpnet rm NAME`, then the same `dhcpnet run`)",
                l.ip,
                l.mac,
                l.ip,
                l.container()
                    .map(crate::docker::short_id)
                    .unwrap_or_else(|| "its user".into())
            ));
        }
        if let Some(c) = &l.container
            && gone.contains(c)
        {
            problems.push(format!(
                "{} ({}) is held for container {} that no longer exists",
                l.ip,
                l.mac,
                crate::docker::short_id(c)
            ));
        }
    }
    if problems.is_empty() {
        return row(
            n,
            Status::Ok,
            format!(
                "{} recorded, none expired, lost, moved or orphaned",
                leases.len()
            ),
            "",
        );
    }
    row(
        n,
        Status::Warn,
        problems.join("; "),
        "release them (`dhcpnet release --interface IFACE --mac MAC`), or start the daemon, which renews and cleans up",
    )
}

/// Containers whose address depends on a MAC the engine makes up again at
/// every start: leases held for a container (`infos` are those containers
/// as `docker inspect` shows them) by their MAC, where the container has no
/// fixed MAC of that value. After an engine restart or a reboot they may
/// come back with another address (the plugin hands a kept address to a
/// new endpoint only when it is the only one kept on its interface). None
/// when no lease is held for an existing container (no row).
pub fn judge_restarts(leases: &[Lease], infos: &[crate::docker::ContainerInfo]) -> Option<Check> {
    let n = "restarts";
    let mut pinned = 0;
    let mut loose = Vec::new();
    for l in leases {
        // A lease told apart by client id (ipvlan) is the container's by
        // its name, whatever its MAC.
        if l.key().client_id.is_some() {
            continue;
        }
        let Some(c) = infos.iter().find(|i| {
            l.belongs_to(&lease::ContainerRef {
                id: &i.id,
                name: Some(&i.name),
            })
        }) else {
            continue;
        };
        if c.fixed_mac == Some(l.mac) {
            pinned += 1;
        } else {
            loose.push(format!("{} ({}, MAC now {})", c.name, l.ip, l.mac));
        }
    }
    if loose.is_empty() {
        return (pinned > 0).then(|| {
            row(
                n,
                Status::Ok,
                format!("{pinned} container(s) hold their lease by a fixed MAC: same address after a restart or a reboot"),
                "",
            )
        });
    }
    Some(row(
        n,
        Status::Warn,
        format!(
            "{} without a fixed MAC: the engine makes up a new one at every start, so after an engine \
             restart or a reboot {} may come back with another address",
            loose.join(", "),
            if loose.len() == 1 { "it" } else { "they" }
        ),
        "give each a fixed MAC (its MAC now keeps its address): `docker run --mac-address MAC`, or in \
         a compose file `mac_address: MAC` under the service's `networks: NET:` (Compose 2.26 ignores \
         a service-level `mac_address:` on Docker 25 and later)",
    ))
}

/// Leases told apart by client id on one MAC (ipvlan, `lease --client-id`):
/// a server that ignores option 61 gives them one address. None when no
/// lease has a client id of its own (nothing to judge: no row).
pub fn judge_client_ids(leases: &[Lease]) -> Option<Check> {
    let shared: Vec<Lease> = leases
        .iter()
        .filter(|l| l.status.is_held() && l.key().client_id.is_some())
        .cloned()
        .collect();
    if shared.is_empty() {
        return None;
    }
    let n = "client-ids";
    let held: Vec<Lease> = leases
        .iter()
        .filter(|l| l.status.is_held())
        .cloned()
        .collect();
    let clashes: Vec<String> = crate::lease::same_address_elsewhere(&held, &shared)
        .into_iter()
        .zip(&shared)
        .filter_map(|(other, l)| {
            other.map(|o| {
                format!(
                    "{} on {} is recorded for client ids {} and {} of MAC {}",
                    l.ip, l.interface, o.client_id, l.client_id, l.mac
                )
            })
        })
        .collect();
    Some(if clashes.is_empty() {
        row(
            n,
            Status::Ok,
            format!(
                "{} lease(s) told apart by client id, each with an address of its own",
                shared.len()
            ),
            "",
        )
    } else {
        row(
            n,
            Status::Fail,
            format!(
                "{}: the DHCP server keys leases on the MAC alone and ignores option 61",
                clashes.join("; ")
            ),
            "ipvlan needs a server that keys leases on the client id (dnsmasq and kea do by default): \
             use macvlan with this server, and release the duplicates",
        )
    })
}

/// Recorded networks against Docker: `gone` are the recorded names Docker
/// no longer has; `open` those whose Docker IPAM range is more than the
/// gateway alone (made by an older dhcpnet): a plain `docker run` there
/// gets an address from Docker, one the DHCP server does not know.
pub fn judge_networks(records: &[Network], gone: &[String], open: &[String]) -> Check {
    let n = "networks";
    let pick = |names: &[String]| -> Vec<String> {
        records
            .iter()
            .filter(|r| names.contains(&r.name))
            .map(|r| r.name.clone())
            .collect()
    };
    let (stale, open) = (pick(gone), pick(open));
    if stale.is_empty() && open.is_empty() {
        return row(
            n,
            Status::Ok,
            format!("{} recorded, each present in Docker", records.len()),
            "",
        );
    }
    let mut detail = Vec::new();
    let mut fix = Vec::new();
    if let Some(first) = stale.first() {
        detail.push(format!(
            "recorded but gone from Docker: {}",
            stale.join(", ")
        ));
        fix.push(format!(
            "`dhcpnet delete {first}` to drop the record and its leases"
        ));
    }
    if let Some(first) = open.first() {
        detail.push(format!(
            "{} let a plain `docker run --network` take an address from Docker's own pool, \
             one the DHCP server does not know (made by an older dhcpnet, without the one-address --ip-range)",
            open.join(", ")
        ));
        fix.push(format!(
            "re-create it: `dhcpnet delete {first} --force` (removes its containers), then the same \
             `dhcpnet create` and `dhcpnet run`s (a container run again with the same --name gets its \
             MAC, so its address, back)"
        ));
    }
    row(n, Status::Warn, detail.join("; "), fix.join("; "))
}

/// Whether a network made by `dhcpnet create` has Docker's own IPAM range
/// narrowed to its gateway alone (see `network::create`).
pub fn range_is_closed(info: &crate::docker::NetworkInfo) -> bool {
    match (&info.ip_range, info.gateway) {
        (Some(r), Some(g)) => *r == format!("{g}/32"),
        _ => false,
    }
}

pub fn judge_links(status: &[links::LinkStatus]) -> Check {
    let n = "links";
    let missing: Vec<&str> = status
        .iter()
        .filter(|s| s.state == links::LinkState::Missing)
        .map(|s| s.record.name.as_str())
        .collect();
    let conflict: Vec<String> = status
        .iter()
        .filter(|s| matches!(s.state, links::LinkState::Conflict(_)))
        .map(|s| format!("{} ({})", s.record.name, s.state))
        .collect();
    if !conflict.is_empty() {
        return row(
            n,
            Status::Fail,
            format!("owned links in conflict: {}", conflict.join(", ")),
            "remove or rename the link someone else made in its place, then `dhcpnet restore`",
        );
    }
    if !missing.is_empty() {
        return row(
            n,
            Status::Warn,
            format!("owned links missing: {}", missing.join(", ")),
            "`dhcpnet restore` recreates them",
        );
    }
    row(
        n,
        Status::Ok,
        format!("{} owned link(s), all present", status.len()),
        "",
    )
}

/// The host shim on `parent`, whose containers use `driver` (ipvlan when
/// a recorded network on it is ipvlan): a shim of the other kind cannot
/// sit beside them, so the fix names the driver.
pub fn judge_shim(parent: &str, status: &[links::LinkStatus], driver: network::Driver) -> Check {
    let n = "host shim";
    let (kind, add) = match driver {
        network::Driver::Macvlan => (Kind::Macvlan, format!("`dhcpnet shim add {parent}`")),
        network::Driver::Ipvlan => (
            Kind::Ipvlan,
            format!("`dhcpnet shim add {parent} --driver ipvlan`"),
        ),
    };
    match status
        .iter()
        .find(|s| s.record.shim && s.record.parent == parent)
    {
        Some(s) if s.record.kind != kind => row(
            n,
            Status::Warn,
            format!(
                "shim {} on {parent} is {}, but {parent}'s networks are {driver}: macvlan and ipvlan \
                 links cannot share a parent",
                s.record.name, s.record.kind
            ),
            format!("`dhcpnet shim del {}`, then {add}", s.record.name),
        ),
        Some(s) if s.exists && s.up => row(
            n,
            Status::Ok,
            format!(
                "{} ({}) on {parent}: the host reaches its containers",
                s.record.name, s.record.kind
            ),
            "",
        ),
        Some(s) => row(
            n,
            Status::Warn,
            format!(
                "shim {} on {parent} is {}",
                s.record.name,
                if s.exists { "down" } else { "missing" }
            ),
            "`dhcpnet restore`",
        ),
        None => row(
            n,
            Status::Warn,
            format!(
                "no shim on {parent}: this host cannot reach its own {driver} containers (other hosts can)"
            ),
            format!("{add} if the host must reach them"),
        ),
    }
}

// ---- plugin socket ----------------------------------------------------------

/// `/Plugin.Activate` over the plugin's unix socket: Ok(body) or why not.
pub async fn activate(path: &Path) -> std::result::Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let talk = async {
        let mut s = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        s.write_all(
            b"POST /Plugin.Activate HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s
                .read(&mut chunk)
                .await
                .map_err(|e| format!("cannot read: {e}"))?;
            if n == 0 || buf.len() > 64 * 1024 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if String::from_utf8_lossy(&buf).contains("IpamDriver") {
                break;
            }
        }
        Ok(crate::dhcp::reply::clean_text(&buf))
    };
    tokio::time::timeout(Duration::from_secs(2), talk)
        .await
        .map_err(|_| "no answer within 2 s".to_string())?
}

/// The IPAM driver `driver`'s socket at `path`: there (`present`), and
/// what it answered to /Plugin.Activate.
pub fn judge_plugin(
    driver: &str,
    path: &Path,
    present: bool,
    answer: Option<&std::result::Result<String, String>>,
) -> Check {
    let n = if driver == "dhcpnet" {
        "ipam plugin".to_string()
    } else {
        format!("ipam plugin ({driver})")
    };
    let n = n.as_str();
    if !present {
        return row(
            n,
            Status::Warn,
            format!(
                "no socket at {}: `--ipam-driver {driver}` networks cannot get addresses",
                path.display()
            ),
            "run the daemon (`systemctl enable --now dhcpnet.socket dhcpnet`) if you use the IPAM plugin",
        );
    }
    match answer {
        Some(Ok(body)) if body.contains("IpamDriver") => row(
            n,
            Status::Ok,
            format!("{} answers /Plugin.Activate (IpamDriver)", path.display()),
            "",
        ),
        Some(Ok(body)) => row(
            n,
            Status::Fail,
            format!(
                "{} answers, but not as an IPAM driver: {}",
                path.display(),
                body.chars().take(120).collect::<String>()
            ),
            "check what listens there; restart the dhcpnet daemon",
        ),
        Some(Err(e)) => row(
            n,
            Status::Fail,
            format!("{} does not answer: {e}", path.display()),
            "restart the daemon (`systemctl restart dhcpnet`); a stale socket is replaced at start",
        ),
        None => row(n, Status::Warn, "not asked", ""),
    }
}

// ---- running it all ----------------------------------------------------------

/// Docker's view, gathered once.
struct DockerView {
    versions: std::result::Result<Versions, String>,
}

async fn bounded<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T>>,
) -> std::result::Result<T, String> {
    match tokio::time::timeout(Duration::from_secs(5), f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("{what}: no answer within 5 s")),
    }
}

/// Run every check for `scope`. Never fails as a whole: a check that cannot
/// run is a row that says so.
pub async fn run(store: &Store, docker: &Docker, scope: &Scope) -> Vec<Check> {
    let mut out = Vec::new();
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| cap_eff(&s));
    out.push(judge_privileges(caps));
    let can_raw = caps.is_some_and(|c| c & (1 << CAP_NET_RAW) != 0);

    // Only a private state directory is read: the store's loaders tighten
    // a loose one, and the doctor changes nothing.
    let (dir_check, readable) = judge_state_dir(store.dir());
    let records = if readable {
        store.clone()
    } else {
        Store::new(store.dir().join("doctor-does-not-read-a-loose-directory"))
    };

    // The network, first: it says which interfaces to look at.
    let mut iface = scope.iface.clone();
    let mut parent = scope.parent.clone();
    let mut net_vlan = None;
    let mut driver = None;
    if let Some(name) = &scope.network {
        match network::lookup(&records, docker, name).await {
            Ok(n) => {
                iface = Some(n.dhcp_interface.clone());
                parent = Some(n.parent.clone());
                net_vlan = n.vlan;
                driver = Some(n.driver);
            }
            Err(e) => out.push(row(
                "network",
                Status::Fail,
                e.to_string(),
                "name a network made by `dhcpnet create` (`docker network ls`)",
            )),
        }
    }
    let parent = parent.or_else(|| iface.clone());
    // The shim must be of its containers' driver: the network's, else
    // ipvlan when any network recorded on the parent is.
    let driver = driver.unwrap_or_else(|| {
        let nets = network::load(&records).unwrap_or_default();
        match parent.as_deref() {
            Some(p) if !network::on_parent(&nets, p, network::Driver::Ipvlan).is_empty() => {
                network::Driver::Ipvlan
            }
            _ => network::Driver::Macvlan,
        }
    });

    let mut iface_ok = false;
    if let Some(i) = &iface {
        let facts = iface_facts(i);
        let c = judge_interface(i, &facts);
        iface_ok = c.status != Status::Fail;
        out.push(c);
        if let Some(p) = parent.as_ref().filter(|p| *p != i) {
            out.push(judge_interface(p, &iface_facts(p)));
        }
    }
    let vlan_parent = parent.as_deref().and_then(network::vlan_of).or(net_vlan);
    if vlan_parent.is_some() {
        let has = if Path::new("/proc/net/vlan/config").exists() {
            Some(true)
        } else {
            kernel_has("8021q")
        };
        out.push(judge_module(
            "8021q",
            "8021q",
            has,
            Status::Fail,
            "needed for a PARENT.VID interface",
        ));
    }
    out.push(judge_module(
        "macvlan",
        "macvlan",
        kernel_has("macvlan"),
        Status::Fail,
        "Docker's macvlan driver and the host shim need it",
    ));
    out.push(judge_module(
        "ipvlan",
        "ipvlan",
        kernel_has("ipvlan"),
        Status::Warn,
        "only for ipvlan networks",
    ));

    // DHCP and Docker at the same time: each takes up to a few seconds.
    let probe = async {
        match (&iface, iface_ok && can_raw) {
            (Some(i), true) => match crate::net::iface::Interface::lookup(i) {
                Ok(ifc) => {
                    let collect = scope.probe_timeout.min(3.0);
                    match crate::dhcp::probe::survey_quiet(
                        &ifc,
                        None,
                        scope.probe_timeout,
                        collect,
                        true,
                    )
                    .await
                    {
                        Ok(s) => Some(Ok((s.offers, s.listened))),
                        Err(e) => Some(Err(e.to_string())),
                    }
                }
                Err(e) => Some(Err(e.to_string())),
            },
            _ => None,
        }
    };
    let dock = async {
        DockerView {
            versions: bounded("docker version", docker.version()).await,
        }
    };
    let (probed, dv) = tokio::join!(probe, dock);
    let offers: Vec<Offer> = match (&iface, probed) {
        (Some(i), Some(Ok((offers, listened)))) => {
            out.push(judge_servers(i, &offers, listened));
            offers
        }
        (_, Some(Err(e))) => {
            out.push(row(
                "dhcp",
                Status::Fail,
                format!("the probe failed: {e}"),
                "fix the checks above first",
            ));
            Vec::new()
        }
        (Some(_), None) => {
            out.push(row(
                "dhcp",
                Status::Warn,
                "not probed: the interface or privileges check failed",
                "fix the checks above first",
            ));
            Vec::new()
        }
        (None, _) => {
            out.push(row(
                "dhcp",
                Status::Warn,
                "not probed: no interface named",
                "give IFACE or --network NET",
            ));
            Vec::new()
        }
    };
    let docker_check = judge_versions(&dv.versions, scope.network.is_some());
    let docker_ok = dv.versions.is_ok();
    out.push(docker_check);
    if let Some(name) = &scope.network {
        let info = if docker_ok {
            bounded("docker network inspect", docker.network_inspect(name)).await
        } else {
            Err("Docker is not reachable".into())
        };
        out.push(judge_network(name, &info, &offers));
    }

    // The plugin and the daemon.
    let sock = &scope.plugin_socket;
    let present = std::fs::symlink_metadata(sock).is_ok();
    let answer = if present {
        Some(activate(sock).await)
    } else {
        None
    };
    out.push(judge_plugin("dhcpnet", sock, present, answer.as_ref()));
    // The ipvlan driver's, beside it: a daemon older than it, or one whose
    // socket unit lacks it, leaves ipvlan networks without a plugin.
    let ipvlan = crate::docker::ipvlan_plugin_socket(sock);
    let ipvlan_present = std::fs::symlink_metadata(&ipvlan).is_ok();
    if present || ipvlan_present {
        let answer = if ipvlan_present {
            Some(activate(&ipvlan).await)
        } else {
            None
        };
        out.push(judge_plugin(
            "dhcpnet-ipvlan",
            &ipvlan,
            ipvlan_present,
            answer.as_ref(),
        ));
    }

    // State and records.
    out.push(dir_check);
    let leases = if readable {
        lease::load_noting(store)
    } else {
        Ok((Vec::new(), Vec::new()))
    };
    let leases = match leases {
        Ok((l, aside)) => {
            out.extend(judge_set_aside(&aside, lease::DIR));
            if readable {
                for (dir, aside) in [
                    (
                        crate::links::DIR,
                        store.table::<crate::links::LinkRecord>().set_aside(),
                    ),
                    (
                        crate::network::DIR,
                        store.table::<crate::network::Network>().set_aside(),
                    ),
                ] {
                    out.extend(judge_set_aside(&aside.unwrap_or_default(), dir));
                }
            }
            l
        }
        Err(e) => {
            out.push(row(
                "leases",
                Status::Fail,
                e.to_string(),
                "fix or move the file named; dhcpnet never replaces it",
            ));
            Vec::new()
        }
    };
    out.push(judge_daemon(daemon_running(store), leases.len()));
    if readable {
        let mut gone_containers = Vec::new();
        let mut infos = Vec::new();
        if docker_ok {
            let mut asked = std::collections::BTreeSet::new();
            for c in leases.iter().filter_map(|l| l.container.as_ref()) {
                if !asked.insert(c.clone()) {
                    continue;
                }
                match bounded("docker inspect", docker.inspect_container(c)).await {
                    Ok(None) => gone_containers.push(c.clone()),
                    Ok(Some(i)) => infos.push(i),
                    Err(_) => {}
                }
            }
        }
        out.push(judge_leases(&leases, &gone_containers, Utc::now()));
        out.extend(judge_client_ids(&leases));
        out.extend(judge_restarts(&leases, &infos));
        match network::load(store) {
            Ok(nets) if !nets.is_empty() => {
                let (mut gone, mut open) = (Vec::new(), Vec::new());
                if docker_ok {
                    for n in &nets {
                        match bounded("docker network inspect", docker.network_inspect(&n.name))
                            .await
                        {
                            Ok(None) => gone.push(n.name.clone()),
                            Ok(Some(i)) if !range_is_closed(&i) => open.push(n.name.clone()),
                            _ => {}
                        }
                    }
                    out.push(judge_networks(&nets, &gone, &open));
                } else {
                    out.push(row(
                        "networks",
                        Status::Warn,
                        format!(
                            "{} recorded; not compared with Docker (not reachable)",
                            nets.len()
                        ),
                        "fix the Docker check first",
                    ));
                }
            }
            Ok(_) => {}
            Err(e) => out.push(row(
                "networks",
                Status::Fail,
                e.to_string(),
                "fix or move the file named",
            )),
        }
        match links::status(store).await {
            Ok(st) => {
                if !st.is_empty() {
                    out.push(judge_links(&st));
                }
                if let Some(p) = &parent {
                    out.push(judge_shim(p, &st, driver));
                }
            }
            Err(e) => out.push(row(
                "links",
                Status::Fail,
                e.to_string(),
                "fix or move the file named",
            )),
        }
    } else if let Some(p) = &parent {
        out.push(judge_shim(p, &[], driver));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn capabilities_are_read_from_cap_eff() {
        let s = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(cap_eff(s), Some(0x1ff_ffff_ffff));
        assert_eq!(judge_privileges(cap_eff(s)).status, Status::Ok);
        assert_eq!(
            judge_privileges(Some(1 << CAP_NET_RAW)).status,
            Status::Warn
        );
        assert_eq!(judge_privileges(Some(0)).status, Status::Fail);
        assert_eq!(judge_privileges(None).status, Status::Warn);
        assert_eq!(cap_eff("CapEff:\tzz\n"), None);
    }

    #[test]
    fn an_interface_down_or_without_carrier_fails() {
        let good = IfaceFacts {
            exists: true,
            link_type: Some(1),
            up: true,
            carrier: Some(true),
            mtu: Some(1500),
            wireless: false,
        };
        assert_eq!(judge_interface("eth0", &good).status, Status::Ok);
        for bad in [
            IfaceFacts {
                up: false,
                ..good.clone()
            },
            IfaceFacts {
                carrier: Some(false),
                ..good.clone()
            },
            IfaceFacts {
                link_type: Some(772),
                ..good.clone()
            },
            IfaceFacts {
                mtu: Some(500),
                ..good.clone()
            },
            IfaceFacts::default(),
        ] {
            assert_eq!(
                judge_interface("eth0", &bad).status,
                Status::Fail,
                "{bad:?}"
            );
        }
        assert_eq!(
            judge_interface(
                "wl0",
                &IfaceFacts {
                    wireless: true,
                    ..good
                }
            )
            .status,
            Status::Warn
        );
    }

    #[test]
    fn no_server_fails_and_two_servers_warn_naming_both() {
        assert_eq!(
            judge_servers("eth0", &[], Duration::from_secs(4)).status,
            Status::Fail
        );
        let mk = |last: u8| Offer {
            params: message::Params {
                ip: Ipv4Addr::new(10, 0, 0, 50 + last),
                prefix_len: 24,
                netmask: Ipv4Addr::new(255, 255, 255, 0),
                gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
                dns: vec![],
                domain: None,
                search: vec![],
                server_id: Ipv4Addr::new(10, 0, 0, last),
                lease_time: 300,
                renewal_time: 150,
                rebinding_time: 262,
                mtu: None,
                broadcast: None,
                ntp: vec![],
                routes: vec![],
            },
            server_mac: crate::net::mac::Mac([2, 0, 0, 0, 0, last]),
            src_ip: Ipv4Addr::new(10, 0, 0, last),
        };
        let one = judge_servers("eth0", &[mk(1)], Duration::from_secs(3));
        assert_eq!(one.status, Status::Ok);
        assert!(
            one.detail.contains("10.0.0.0/24") && one.detail.contains("300 s"),
            "{}",
            one.detail
        );
        let two = judge_servers("eth0", &[mk(1), mk(9)], Duration::from_secs(3));
        assert_eq!(two.status, Status::Warn);
        assert!(
            two.detail.contains("10.0.0.1 (02:00:00:00:00:01)")
                && two.detail.contains("10.0.0.9 (02:00:00:00:00:09)"),
            "{}",
            two.detail
        );
    }

    #[test]
    fn docker_missing_is_a_warning_not_a_failure() {
        let e: std::result::Result<Versions, String> =
            Err("cannot run the docker CLI `docker`: not found. Install it".into());
        assert_eq!(judge_versions(&e, false).status, Status::Warn);
        assert_eq!(judge_versions(&e, true).status, Status::Warn);
        let unreachable: std::result::Result<Versions, String> =
            Err("cannot reach the Docker Engine".into());
        assert_eq!(judge_versions(&unreachable, false).status, Status::Warn);
        assert_eq!(judge_versions(&unreachable, true).status, Status::Fail);
        let drift = Ok(Versions {
            client_version: "28.2.2".into(),
            client_api: Some("1.50".into()),
            server_version: Some("20.10.24".into()),
            server_api: Some("1.41".into()),
        });
        let c = judge_versions(&drift, true);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("1.44"), "{}", c.detail);
    }

    #[test]
    fn kernel_config_lines_are_read() {
        let c = "CONFIG_MACVLAN=y\n# CONFIG_IPVLAN is not set\nCONFIG_VLAN_8021Q=m\nCONFIG_MACVLAN_X=n\n";
        assert_eq!(judge_config(c, "CONFIG_MACVLAN"), Some(true));
        assert_eq!(judge_config(c, "CONFIG_IPVLAN"), Some(false));
        assert_eq!(judge_config(c, "CONFIG_VLAN_8021Q"), Some(true));
        assert_eq!(judge_config("", "CONFIG_MACVLAN"), None);
    }

    #[test]
    fn a_daemon_is_needed_once_leases_are_recorded() {
        assert_eq!(judge_daemon(Some(true), 3).status, Status::Ok);
        assert_eq!(judge_daemon(Some(false), 0).status, Status::Warn);
        assert_eq!(judge_daemon(None, 2).status, Status::Fail);
    }
}

#[cfg(test)]
mod client_id_tests {
    use super::*;

    fn lease(client_id: &str, ip: &str) -> Lease {
        serde_json::from_value(serde_json::json!({
            "ip": ip, "prefix_len": 24, "subnet": "10.0.0.0/24", "mac": "02:00:00:00:00:05",
            "gateway": null, "dns": [], "domain": null, "server_id": "10.0.0.1",
            "lease_time": 100, "renewal_time": 50, "rebinding_time": 87,
            "obtained_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T00:01:40Z",
            "hostname": null, "client_id": client_id, "interface": "eth0", "network": null
        }))
        .expect("a lease record")
    }

    #[test]
    fn two_client_ids_of_one_mac_recorded_at_one_address_fail_the_client_ids_check() {
        assert!(judge_client_ids(&[lease("01:02:00:00:00:00:05", "10.0.0.5")]).is_none());
        let fine = judge_client_ids(&[lease("00:61", "10.0.0.5"), lease("00:62", "10.0.0.6")])
            .expect("a row");
        assert_eq!(fine.status, Status::Ok, "{fine:?}");
        let bad = judge_client_ids(&[lease("00:61", "10.0.0.5"), lease("00:62", "10.0.0.5")])
            .expect("a row");
        assert_eq!(bad.status, Status::Fail, "{bad:?}");
        assert!(
            bad.detail.contains("ignores option 61") && bad.detail.contains("10.0.0.5"),
            "{bad:?}"
        );
    }

    #[test]
    fn a_lease_the_server_moved_under_its_container_is_a_warning_that_says_the_fix() {
        let mut l = lease("01:02:00:00:00:00:05", "10.0.0.5");
        let now: chrono::DateTime<Utc> = "2026-01-01T00:00:10Z".parse().expect("a time");
        assert_eq!(
            judge_leases(std::slice::from_ref(&l), &[], now).status,
            Status::Ok
        );
        l.in_use_ip = Some(std::net::Ipv4Addr::new(10, 0, 0, 4));
        let c = judge_leases(&[l], &[], now);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.detail.contains("moved")
                && c.detail.contains("10.0.0.4")
                && c.detail.contains("dhcpnet rm"),
            "{c:?}"
        );
    }

    fn container(name: &str, fixed_mac: Option<&str>) -> crate::docker::ContainerInfo {
        crate::docker::ContainerInfo {
            id: format!("{name:0>64}"),
            name: name.into(),
            hostname: None,
            running: true,
            fixed_mac: fixed_mac.and_then(|m| m.parse().ok()),
            networks: Default::default(),
        }
    }

    #[test]
    fn a_container_holding_its_lease_by_a_mac_the_engine_makes_up_is_a_restart_warning() {
        let mac = "02:00:00:00:00:05";
        let mut l = lease("01:02:00:00:00:00:05", "10.0.0.5");
        // No container on the record (a plain `dhcpnet lease`): no row.
        assert!(judge_restarts(std::slice::from_ref(&l), &[]).is_none());
        l.container = Some("web".into());
        // Pinned: `docker run --mac-address` with the lease's MAC.
        let ok = judge_restarts(std::slice::from_ref(&l), &[container("web", Some(mac))])
            .expect("a row");
        assert_eq!(ok.status, Status::Ok, "{ok:?}");
        // The engine's own MAC: a warning naming the container, its address
        // and MAC, and both fixes.
        let warn =
            judge_restarts(std::slice::from_ref(&l), &[container("web", None)]).expect("a row");
        assert_eq!(warn.status, Status::Warn, "{warn:?}");
        assert!(
            warn.detail
                .contains("web (10.0.0.5, MAC now 02:00:00:00:00:05)"),
            "{warn:?}"
        );
        assert!(
            warn.fix.contains("--mac-address") && warn.fix.contains("mac_address:"),
            "{warn:?}"
        );
        // A container gone from Docker is the leases row's business.
        assert!(judge_restarts(&[l.clone()], &[container("db", None)]).is_none());
        // ipvlan: told apart by client id, the container's by its name.
        let mut ipvlan = lease("00:64:68", "10.0.0.6");
        ipvlan.container = Some("web".into());
        assert!(judge_restarts(&[ipvlan], &[container("web", None)]).is_none());
    }

    #[test]
    fn the_host_shim_row_names_the_driver_of_the_parent_s_containers() {
        let shim = |kind: Kind, exists: bool| links::LinkStatus {
            record: links::LinkRecord {
                name: "shim-eth0".into(),
                ifindex: 9,
                kind,
                parent: "eth0".into(),
                vid: None,
                mac: None,
                mode: None,
                shim: true,
                created_at: Utc::now(),
            },
            exists,
            up: exists,
            current_ifindex: exists.then_some(9),
            state: links::LinkState::Owned,
        };
        let none = judge_shim("eth0", &[], network::Driver::Ipvlan);
        assert_eq!(none.status, Status::Warn, "{none:?}");
        assert!(none.detail.contains("ipvlan containers"), "{none:?}");
        assert!(
            none.fix.contains("`dhcpnet shim add eth0 --driver ipvlan`"),
            "{none:?}"
        );
        let none = judge_shim("eth0", &[], network::Driver::Macvlan);
        assert!(
            none.fix.contains("`dhcpnet shim add eth0`") && !none.fix.contains("--driver"),
            "{none:?}"
        );
        let good = judge_shim("eth0", &[shim(Kind::Ipvlan, true)], network::Driver::Ipvlan);
        assert_eq!(good.status, Status::Ok, "{good:?}");
        assert!(good.detail.contains("(ipvlan)"), "{good:?}");
        let gone = judge_shim(
            "eth0",
            &[shim(Kind::Ipvlan, false)],
            network::Driver::Ipvlan,
        );
        assert!(
            gone.detail.contains("missing") && gone.fix.contains("restore"),
            "{gone:?}"
        );
        // A macvlan shim beside ipvlan containers cannot work: say so.
        let wrong = judge_shim(
            "eth0",
            &[shim(Kind::Macvlan, true)],
            network::Driver::Ipvlan,
        );
        assert_eq!(wrong.status, Status::Warn, "{wrong:?}");
        assert!(
            wrong.fix.contains("shim del shim-eth0") && wrong.fix.contains("--driver ipvlan"),
            "{wrong:?}"
        );
    }

    #[test]
    fn a_recorded_network_open_to_dockers_own_ipam_is_a_warning_naming_the_fix() {
        let net = |name: &str| -> Network {
            serde_json::from_value(serde_json::json!({
                "name": name, "id": "x", "parent": "eth0", "dhcp_interface": "eth0",
                "subnet": "10.0.0.0/24", "gateway": "10.0.0.1", "vlan": null,
                "owned_link": null, "created_at": "2026-01-01T00:00:00Z"
            }))
            .expect("a network record")
        };
        let recs = [net("lan"), net("old")];
        assert_eq!(judge_networks(&recs, &[], &[]).status, Status::Ok);
        let c = judge_networks(&recs, &["lan".into()], &["old".into()]);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.detail.contains("gone from Docker: lan"), "{c:?}");
        assert!(c.detail.contains("old let a plain"), "{c:?}");
        assert!(
            c.fix.contains("dhcpnet delete lan`") && c.fix.contains("dhcpnet delete old --force"),
            "{c:?}"
        );
        let info = |range: Option<&str>| crate::docker::NetworkInfo {
            id: "x".into(),
            name: "lan".into(),
            driver: "macvlan".into(),
            subnet: Some("10.0.0.0/24".into()),
            gateway: Some(std::net::Ipv4Addr::new(10, 0, 0, 1)),
            ip_range: range.map(str::to_string),
            options: Default::default(),
            labels: Default::default(),
            containers: Vec::new(),
        };
        assert!(range_is_closed(&info(Some("10.0.0.1/32"))));
        assert!(!range_is_closed(&info(None)));
        assert!(!range_is_closed(&info(Some("10.0.0.0/25"))));
    }

    #[test]
    fn each_ipam_driver_s_socket_is_a_row_of_its_own_naming_the_driver() {
        let p = Path::new("/run/docker/plugins/dhcpnet-ipvlan.sock");
        let missing = judge_plugin("dhcpnet-ipvlan", p, false, None);
        assert_eq!(missing.name, "ipam plugin (dhcpnet-ipvlan)");
        assert_eq!(missing.status, Status::Warn);
        assert!(
            missing.detail.contains("--ipam-driver dhcpnet-ipvlan"),
            "{missing:?}"
        );
        let ok = judge_plugin(
            "dhcpnet",
            Path::new("/run/docker/plugins/dhcpnet.sock"),
            true,
            Some(&Ok("{\"Implements\":[\"IpamDriver\"]}".into())),
        );
        assert_eq!((ok.name.as_str(), ok.status), ("ipam plugin", Status::Ok));
    }
}
