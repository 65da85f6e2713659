//! One module per subcommand. Each takes its parsed arguments and the shared
//! context, does its work through the core modules, and returns an `Error`
//! whose kind decides the exit code.

pub mod completions;
pub mod create;
pub mod daemon;
pub mod delete;
pub mod lease;
pub mod leases;
pub mod man;
pub mod probe;
pub mod release;
pub mod renew;
pub mod restore;
pub mod rm;
pub mod run;
pub mod shim;
pub mod vlan;

use std::time::Duration;

use crate::cli::{Cli, Command, Global, Target};
use crate::error::{Error, Result};
use crate::net::iface::Interface;
use crate::store::Store;

pub struct Ctx {
    pub store: Store,
}

impl Ctx {
    pub fn new(g: &Global) -> Ctx {
        Ctx {
            store: Store::new(&g.state_dir),
        }
    }

    /// The docker CLI to use (`DHCPNET_DOCKER`, default `docker`).
    pub fn docker(&self) -> crate::docker::Docker {
        crate::docker::Docker::from_env()
    }
}

/// Where a lease command acts: the interface to send on, and the Docker
/// network the lease belongs to, if any.
pub struct Place {
    pub iface: Interface,
    pub network: Option<String>,
}

/// Resolve `NETWORK | --interface IFACE`: a network resolves to its DHCP
/// interface, from dhcpnet's records or else from Docker's labels.
pub async fn resolve(ctx: &Ctx, target: &Target) -> Result<Place> {
    match (&target.network, &target.interface) {
        (Some(_), Some(_)) => Err(Error::Usage("name either a NETWORK or --interface, not both".into())),
        (None, None) => Err(Error::Usage(
            "say where to lease: a Docker NETWORK created by dhcpnet, or --interface IFACE (e.g. --interface eth0)".into(),
        )),
        (None, Some(i)) => Ok(Place { iface: Interface::lookup(i)?, network: None }),
        (Some(n), None) => {
            let net = crate::network::lookup(&ctx.store, &ctx.docker(), n).await?;
            if net.deleting {
                return Err(Error::NotFound(format!(
                    "network {n} is being deleted (an earlier `dhcpnet delete {n}` stopped midway): finish it with `dhcpnet delete {n}`"
                )));
            }
            Ok(Place { iface: Interface::lookup(&net.dhcp_interface)?, network: Some(net.name) })
        }
    }
}

pub fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

/// Whether stderr is a terminal (progress bars only then).
pub fn stderr_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))
}

pub fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx::new(&cli.global);
    match cli.command {
        Command::Probe(a) => runtime()?.block_on(probe::run(&ctx, a)),
        Command::Lease(a) => runtime()?.block_on(lease::run(&ctx, a)),
        Command::Release(a) => runtime()?.block_on(release::run(&ctx, a)),
        Command::Leases(a) => leases::run(&ctx, a),
        Command::Renew(a) => runtime()?.block_on(renew::run(&ctx, a)),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
        Command::Vlan(c) => runtime()?.block_on(vlan::run(&ctx, c)),
        Command::Shim(c) => runtime()?.block_on(shim::run(&ctx, c)),
        Command::Restore(a) => runtime()?.block_on(restore::run(&ctx, a)),
        Command::Daemon(a) => runtime()?.block_on(daemon::run(&ctx, a)),
        Command::Create(a) => runtime()?.block_on(create::run(&ctx, a)),
        Command::Run(a) => runtime()?.block_on(run::run(&ctx, a)),
        Command::Rm(a) => runtime()?.block_on(rm::run(&ctx, a)),
        Command::Delete(a) => runtime()?.block_on(delete::run(&ctx, a)),
    }
}

/// Report one step of a multi-step command on stderr (not with --quiet).
pub fn step(msg: &str) {
    if log::max_level() >= log::LevelFilter::Warn {
        eprintln!("dhcpnet: {msg}");
    }
}
