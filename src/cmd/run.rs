//! `dhcpnet run NET -- DOCKER_RUN_ARGS...`: lease an address for the
//! container's MAC, then `docker run` it with that address, MAC, hostname
//! and the lease's DNS; the user's arguments follow unchanged.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use super::{Ctx, secs, step};
use crate::cli::RunArgs;
use crate::dhcp::message::{Identity, validate_hostname};
use crate::dhcp::transport::Options;
use crate::docker::{Docker, Output, is_mac_address_riddle, mac_address_advice};
use crate::error::{Error, Result};
use crate::lease::{self, Lease, LeaseKey, Place};
use crate::net::iface::Interface;
use crate::net::mac::Mac;
use crate::network::{self, Driver, Network};
use crate::output::{self, Format};

/// What `dhcpnet run` reports on stdout once docker is done: the container
/// and the lease it runs with.
#[derive(Debug, serde::Serialize)]
pub struct Ran {
    pub network: String,
    /// The container's --name, if it was given one.
    pub container: Option<String>,
    /// Docker's id of the container; null when it ran with --rm and is gone.
    pub id: Option<String>,
    /// Whether the lease was given back (the container ran with --rm and is gone).
    pub released: bool,
    pub lease: Lease,
}

/// JSON/YAML go to stdout (docker's own output went to stderr); the table
/// for a person goes to stderr, so that stdout stays docker's and
/// `id=$(dhcpnet run NET -- -d IMAGE)` keeps working as with `docker run`.
fn report(format: Format, r: &Ran) -> Result<()> {
    if format == Format::Table {
        if log::max_level() >= log::LevelFilter::Warn {
            eprintln!("{}", table(r));
        }
        return Ok(());
    }
    output::emit(format, r, || table(r))
}

fn table(r: &Ran) -> String {
    output::kv_table(&[
        ("container", output::opt(&r.container)),
        (
            "id",
            r.id.as_deref()
                .map(crate::docker::short_id)
                .unwrap_or_else(|| "- (gone)".into()),
        ),
        ("network", r.network.clone()),
        ("ip", format!("{}/{}", r.lease.ip, r.lease.prefix_len)),
        ("mac", r.lease.mac.to_string()),
        ("hostname", output::opt(&r.lease.hostname)),
        (
            "lease",
            if r.released {
                "released".into()
            } else {
                output::duration(
                    r.lease
                        .expires_at
                        .map(|e| (e - chrono::Utc::now()).num_seconds()),
                )
            },
        ),
    ])
}

/// `docker run` flags that take no value (everything else starting with
/// '-' takes one, unless given as `--flag=value`).
const BOOL_FLAGS: &[&str] = &[
    "--detach",
    "--interactive",
    "--tty",
    "--rm",
    "--init",
    "--privileged",
    "--read-only",
    "--publish-all",
    "--no-healthcheck",
    "--oom-kill-disable",
    "--disable-content-trust",
    "--quiet",
    "--sig-proxy",
    "--help",
];
/// Single-letter flags that take no value (and may be combined: `-dit`).
const SHORT_BOOLS: &str = "ditPq";
/// Flags dhcpnet sets itself; giving them too would contradict the lease.
const OURS: &[(&str, &str)] = &[
    ("--network", "dhcpnet puts the container on NETWORK"),
    ("--net", "dhcpnet puts the container on NETWORK"),
    ("--ip", "the address comes from the DHCP lease"),
    (
        "--mac-address",
        "give the MAC to dhcpnet: `dhcpnet run NET --mac MAC -- ...`",
    ),
    (
        "--hostname",
        "give the hostname to dhcpnet: `dhcpnet run NET --hostname H -- ...`",
    ),
    (
        "-h",
        "give the hostname to dhcpnet: `dhcpnet run NET --hostname H -- ...`",
    ),
    ("--cidfile", "dhcpnet uses it to learn the container id"),
];

/// What dhcpnet reads from the user's `docker run` arguments (options up to
/// the image; the command after the image is not looked at).
#[derive(Debug, Default, PartialEq)]
pub struct UserArgs {
    pub name: Option<String>,
    pub has_dns: bool,
    pub has_dns_search: bool,
}

pub fn scan(args: &[String]) -> Result<UserArgs> {
    let mut u = UserArgs::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" || !a.starts_with('-') || a == "-" {
            break; // the image
        }
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a, None),
        };
        let takes_value = if flag.starts_with("--") {
            !BOOL_FLAGS.contains(&flag)
        } else {
            let letters = &flag[1..];
            !letters.chars().all(|c| SHORT_BOOLS.contains(c))
        };
        // A short flag with its value attached (-eFOO=1) carries it inline.
        let short_inline = !flag.starts_with("--") && flag.len() > 2 && takes_value;
        let value = if inline.is_some() || short_inline || !takes_value {
            inline
        } else {
            i += 1;
            Some(args.get(i).cloned().ok_or_else(|| {
                Error::Usage(format!(
                    "`{flag}` in the docker run arguments needs a value"
                ))
            })?)
        };
        let short_name = if flag.starts_with("--") {
            flag
        } else {
            flag.get(..2).unwrap_or(flag)
        };
        if let Some((_, why)) = OURS.iter().find(|(f, _)| *f == short_name) {
            return Err(Error::Usage(format!(
                "`{short_name}` cannot be among the docker run arguments: {why}"
            )));
        }
        match short_name {
            "--name" => u.name = value,
            "--dns" => u.has_dns = true,
            "--dns-search" => u.has_dns_search = true,
            _ => {}
        }
        i += 1;
    }
    if u.name.as_deref() == Some("") {
        return Err(Error::Usage("`--name` needs a container name".into()));
    }
    Ok(u)
}

/// The hostname a container name gives: '_' becomes '-'; None when even
/// then it is not a valid hostname.
pub fn hostname_from_name(name: &str) -> Option<String> {
    let h = name.replace('_', "-");
    validate_hostname(&h).is_ok().then_some(h)
}

/// `docker run` arguments for a leased container.
pub fn docker_args(
    net: &str,
    l: &Lease,
    hostname: Option<&str>,
    user: &UserArgs,
    cidfile: &str,
    rest: &[String],
    with_mac: bool,
) -> Vec<String> {
    let mut v: Vec<String> = vec!["run".into(), "--cidfile".into(), cidfile.into()];
    v.extend([
        "--network".into(),
        net.into(),
        "--ip".into(),
        l.ip.to_string(),
    ]);
    // On ipvlan the container has the parent's MAC: Docker sets none.
    if with_mac {
        v.extend(["--mac-address".into(), l.mac.to_string()]);
    }
    if let Some(h) = hostname {
        v.extend(["--hostname".into(), h.into()]);
    }
    if !user.has_dns {
        for d in &l.dns {
            v.extend(["--dns".into(), d.to_string()]);
        }
    }
    if !user.has_dns_search {
        let mut search: Vec<&String> = l.domain.iter().chain(l.search.iter()).collect();
        search.dedup();
        let mut seen = Vec::new();
        // Records can be edited by hand: only valid names reach docker's argv.
        for s in search
            .into_iter()
            .filter(|s| crate::dhcp::reply::valid_domain(s).is_some())
        {
            if !seen.contains(&s) {
                v.extend(["--dns-search".into(), s.clone()]);
                seen.push(s);
            }
        }
    }
    v.extend(rest.iter().cloned());
    v
}

fn cidfile_path() -> PathBuf {
    let mut b = [0u8; 6];
    crate::net::mac::fill_random(&mut b);
    let tag: String = b.iter().map(|x| format!("{x:02x}")).collect();
    std::env::temp_dir().join(format!("dhcpnet-{}-{tag}.cid", std::process::id()))
}

fn read_cid(p: &PathBuf) -> Option<String> {
    let s = std::fs::read_to_string(p).ok()?;
    let s = s.trim();
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_string())
}

/// Put the container id on the lease of `key` (on ipvlan, other
/// containers' leases share its MAC: only this one's client id is it).
fn record_container(ctx: &Ctx, key: &LeaseKey, id: &str) -> Result<()> {
    lease::update(&ctx.store, |all| {
        for l in all.iter_mut().filter(|l| l.has_key(key)) {
            l.container = Some(id.to_string());
        }
        Ok(())
    })
}

async fn give_back(ctx: &Ctx, l: &Lease) -> String {
    let key = l.key();
    match lease::release_leases(&ctx.ledger(), |x| x.has_key(&key)).await {
        Ok(_) => format!("the lease of {} ({}) was released", l.ip, l.mac),
        Err(e) => format!(
            "releasing the lease of {} ({}) failed too: {e}",
            l.ip, l.mac
        ),
    }
}

/// The MAC (and address to ask for) of a container: --mac, else the one its
/// name had on this network, else a new one.
fn pick_mac(net: &Network, mac: Option<Mac>, name: Option<&str>) -> (Mac, Option<Ipv4Addr>) {
    let member = name.and_then(|n| net.member(n));
    match (mac, member) {
        (Some(m), Some(mem)) if mem.mac == m => (m, mem.ip),
        (Some(m), _) => (m, None),
        (None, Some(mem)) => {
            log::info!(
                "{} ran on {} before with {}: using that MAC again",
                mem.name,
                net.name,
                mem.mac
            );
            (mem.mac, mem.ip)
        }
        (None, None) => (Mac::random_local(), None),
    }
}

pub async fn run(ctx: &Ctx, a: RunArgs) -> Result<()> {
    let docker = ctx.docker();
    let net = network::lookup(&ctx.store, &docker, &a.network).await?;
    if net.deleting {
        return Err(Error::NotFound(format!(
            "network {} is being deleted: finish with `dhcpnet delete {}`",
            net.name, net.name
        )));
    }
    let user = scan(&a.docker_args)?;
    let ipvlan = net.driver == Driver::Ipvlan;
    if ipvlan && a.mac.is_some() {
        return Err(Error::Usage(format!(
            "{} is an ipvlan network: its containers share the parent's MAC (the DHCP server tells \
             them apart by client id), so --mac cannot be given",
            net.name
        )));
    }
    super::warn_without_daemon(ctx);
    if !ipvlan {
        docker.check_mac_address_support().await?;
    }
    // Docker resolves an unknown name as an id prefix: a container whose
    // id starts with the name is no clash (seen: `db` found `db1b6...`).
    if let Some(name) = &user.name
        && let Some(c) = docker.inspect_container(name).await?
        && c.name == name.trim_start_matches('/')
    {
        return Err(Error::Conflict(format!(
            "a container named {name} exists already ({}): remove it with `dhcpnet rm {name}` first",
            crate::docker::short_id(&c.id)
        )));
    }
    let (mut id, requested) = if ipvlan {
        // Every container leases with the parent's MAC and a client id of
        // its own, derived from its name (`network::ipvlan_identity`).
        let parent =
            Interface::lookup(&net.parent).or_else(|_| Interface::lookup(&net.dhcp_interface))?;
        let requested = user
            .name
            .as_deref()
            .and_then(|n| net.member(n))
            .and_then(|m| m.ip);
        (
            network::ipvlan_identity(&net.name, parent.mac, user.name.as_deref()),
            requested,
        )
    } else {
        let (mac, requested) = pick_mac(&net, a.mac, user.name.as_deref());
        (Identity::new(mac), requested)
    };
    let mac = id.mac;
    let key = LeaseKey::of(&net.dhcp_interface, &id);
    let held = lease::get(&ctx.store, &key)?;
    if let Some(l) = held
        && let Some(cid) = &l.container
        && docker.inspect_container(cid).await?.is_some()
    {
        return Err(Error::Conflict(if ipvlan {
            format!(
                "the client id of this container name already belongs to container {} ({}): \
                 remove that container with `dhcpnet rm`",
                crate::docker::short_id(cid),
                l.ip
            )
        } else {
            format!(
                "{mac} already belongs to container {} ({}): give another --mac, or remove that container with `dhcpnet rm`",
                crate::docker::short_id(cid),
                l.ip
            )
        }));
    }
    let hostname = match (&a.hostname, &user.name) {
        (Some(h), _) => Some(h.clone()),
        (None, Some(n)) => {
            let h = hostname_from_name(n);
            if h.is_none() {
                log::warn!(
                    "the container name {n:?} is not a valid hostname: no hostname is sent to the DHCP server (use --hostname)"
                );
            }
            h
        }
        (None, None) => None,
    };
    id.hostname = hostname.clone();
    let place = Place {
        iface: Interface::lookup(&net.dhcp_interface)?,
        network: Some(net.name.clone()),
    };
    let opts = Options {
        timeout: secs(a.timeout),
        ..Options::default()
    };
    let (mut granted, mut failed) =
        lease::acquire(&ctx.ledger(), &place, vec![id], requested, &opts, false).await?;
    let Some(l) = granted.pop() else {
        return Err(failed
            .pop()
            .map(|(_, e)| e)
            .unwrap_or_else(|| Error::NoAnswer("no lease was granted".into())));
    };
    if !net.subnet.contains(l.ip) {
        let undo = give_back(ctx, &l).await;
        return Err(Error::Refused(format!(
            "the DHCP server {} offered {} (subnet {}), outside {}'s subnet {}: Docker cannot give that \
             address to a container; {undo}. The network's --subnet does not match the server: delete \
             and re-create the network",
            l.server_id, l.ip, l.subnet, net.name, net.subnet
        )));
    }
    step(&format!(
        "leased {} for {}{} from {}",
        l.ip,
        l.mac,
        hostname
            .as_deref()
            .map(|h| format!(" ({h})"))
            .unwrap_or_default(),
        l.server_id
    ));
    let cidfile = cidfile_path();
    let cid_arg = cidfile.to_string_lossy().into_owned();
    let args = docker_args(
        &net.name,
        &l,
        hostname.as_deref(),
        &user,
        &cid_arg,
        &a.docker_args,
        !ipvlan,
    );
    let format = a.out.output;
    let out = run_docker(ctx, &docker, &args, &cidfile, &l, format != Format::Table).await;
    let cid = read_cid(&cidfile);
    let _ = std::fs::remove_file(&cidfile);
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            let undo = give_back(ctx, &l).await;
            return Err(Error::Docker(format!("{e}; {undo}")));
        }
    };
    let exists = match &cid {
        Some(c) => docker.inspect_container(c).await.ok().flatten(),
        None => None,
    };
    let docker_failed = matches!(out.code, 125..=127) || out.code < 0;
    if let (Some(c), false) = (&exists, docker_failed) {
        // Running (or, attached, ended but kept): the lease stays with it.
        record_container(ctx, &l.key(), &c.id)?;
        if let Some(name) = &user.name {
            let (ip, cid) = (l.ip, c.id.clone());
            network::update_one(&ctx.store, &net.name, |n| {
                n.remember(name, mac, Some(ip), Some(cid))
            })?;
        }
        let mut held = l.clone();
        held.container = Some(c.id.clone());
        report(
            format,
            &Ran {
                network: net.name.clone(),
                container: user.name.clone(),
                id: Some(c.id.clone()),
                released: false,
                lease: held,
            },
        )?;
        if out.success() {
            return Ok(());
        }
        return Err(Error::Passthrough {
            code: out.code,
            msg: format!("the container exited with status {}", out.code),
        });
    }
    if !docker_failed && out.success() {
        // It ran attached with --rm and is gone: so is its need for the address.
        if let Some(name) = &user.name {
            let ip = l.ip;
            network::update_one(&ctx.store, &net.name, |n| {
                n.remember(name, mac, Some(ip), None)
            })?;
        }
        let undo = give_back(ctx, &l).await;
        step(&format!("the container has ended and is gone; {undo}"));
        return report(
            format,
            &Ran {
                network: net.name.clone(),
                container: user.name.clone(),
                id: None,
                released: true,
                lease: l,
            },
        );
    }
    if let Some(c) = &exists {
        // Created but not started: it holds the address in Docker's view only.
        let _ = docker.run(&["rm", "-f", c.id.as_str()]).await;
    }
    let undo = give_back(ctx, &l).await;
    let msg = if is_mac_address_riddle(&out.stderr) {
        format!("{}; {undo}", mac_address_advice(&docker.bin(), None))
    } else {
        format!("`docker run` failed (exit status {}); {undo}", out.code)
    };
    Err(Error::Passthrough {
        code: if out.code > 0 { out.code } else { 125 },
        msg,
    })
}

/// Run docker attached; record the container id on the lease as soon as
/// docker writes it, so a long-running attached container is known too.
async fn run_docker(
    ctx: &Ctx,
    docker: &Docker,
    args: &[String],
    cidfile: &PathBuf,
    l: &Lease,
    stdout_to_stderr: bool,
) -> Result<Output> {
    // While docker runs, Ctrl-C is for the container (docker forwards it):
    // dhcpnet must live on to finish the records.
    let _sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    let child = docker.spawn_attached(args, stdout_to_stderr)?;
    let wait = child.wait();
    tokio::pin!(wait);
    let mut recorded = false;
    loop {
        tokio::select! {
            r = &mut wait => return r,
            _ = tokio::time::sleep(Duration::from_millis(100)), if !recorded => {
                if let Some(id) = read_cid(cidfile) {
                    recorded = true;
                    if let Err(e) = record_container(ctx, &l.key(), &id) {
                        log::warn!("cannot record container {id} on the lease of {}: {e}", l.ip);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn scanning_docker_run_arguments() {
        let u = scan(&v(&[
            "-d", "--name", "web", "-e", "A=1", "busybox", "sh", "--ip", "x",
        ]))
        .unwrap();
        assert_eq!(
            u,
            UserArgs {
                name: Some("web".into()),
                has_dns: false,
                has_dns_search: false
            }
        );
        let u = scan(&v(&[
            "-dit",
            "--name=db",
            "--dns",
            "1.1.1.1",
            "-eX=1",
            "img",
        ]))
        .unwrap();
        assert_eq!(u.name.as_deref(), Some("db"));
        assert!(u.has_dns);
        assert!(
            scan(&v(&["--ip", "1.2.3.4", "img"]))
                .unwrap_err()
                .to_string()
                .contains("lease")
        );
        assert!(scan(&v(&["-h", "x", "img"])).is_err());
        assert!(scan(&v(&["--network=host", "img"])).is_err());
        assert!(scan(&v(&["--name"])).is_err());
        assert_eq!(scan(&v(&["img", "--name", "x"])).unwrap().name, None);
    }

    #[test]
    fn hostnames_from_names() {
        assert_eq!(hostname_from_name("web_1").as_deref(), Some("web-1"));
        assert_eq!(hostname_from_name("db").as_deref(), Some("db"));
        assert_eq!(hostname_from_name("-x"), None);
    }
}
