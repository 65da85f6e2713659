//! One module per subcommand. Each takes its parsed arguments and the shared
//! context, does its work through the core modules, and returns an `Error`
//! whose kind decides the exit code.

mod completions;
mod create;
mod daemon;
mod delete;
mod doctor;
mod lease;
mod leases;
mod man;
mod probe;
mod release;
mod renew;
mod restore;
mod rm;
mod run;
mod shim;
mod vlan;
mod watch;

use std::sync::Arc;

use chrono::Utc;
use std::time::Duration;

use crate::cli::{Cli, Command, Global, Target};
use crate::error::{Error, Result};
use crate::lease::{Lease, Ledger, Place};
use crate::links::shim::RouteSync;
use crate::net::iface::Interface;
use crate::output;
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

    /// The lease layer, with the shim's routes kept in line with every change.
    pub fn ledger(&self) -> Ledger {
        Ledger::new(self.store.clone()).with_hook(Arc::new(RouteSync))
    }

    /// The docker CLI to use (`DHCPNET_DOCKER`, default `docker`).
    pub fn docker(&self) -> crate::docker::Docker {
        crate::docker::Docker::from_env()
    }
}

/// Leases run out unless something renews them: say so when no daemon runs
/// for this state directory (`create`, `run`, `lease`).
pub fn warn_without_daemon(ctx: &Ctx) {
    if crate::daemon::service::is_running(&ctx.store) == Some(false) {
        log::warn!(
            "no dhcpnet daemon is running for {}: nothing will renew these leases, and the server \
             takes them back when they expire. Start it: `systemctl enable --now dhcpnet` (the \
             systemd unit), or `dhcpnet daemon` (with this --state-dir)",
            ctx.store.dir().display()
        );
    }
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

/// Whether to draw progress (bars, spinners): on a terminal, and not with
/// `-q`.
pub fn show_progress() -> bool {
    stderr_is_tty() && log::max_level() >= log::LevelFilter::Warn
}

/// A spinner saying `msg` on stderr while long work runs, when
/// `show_progress()`; cleared with `finish_and_clear`.
pub fn spinner(msg: impl Into<std::borrow::Cow<'static, str>>) -> Option<indicatif::ProgressBar> {
    if !show_progress() {
        return None;
    }
    let b = indicatif::ProgressBar::new_spinner();
    if let Ok(s) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        b.set_style(s);
    }
    b.set_message(msg);
    b.enable_steady_tick(Duration::from_millis(120));
    Some(b)
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
        Command::Doctor(a) => runtime()?.block_on(doctor::run(&ctx, a)),
        Command::Watch(a) => runtime()?.block_on(watch::run(&ctx, a)),
    }
}

pub use crate::output::step;

/// The table of leases that `lease`, `release` and `leases` print.
/// Say on stderr, one line each, which lease record files are set aside
/// (or skipped) and so what the command leaves out (`what`: "is not
/// renewed", ...).
pub fn note_set_aside(aside: &[crate::store::table::SetAside], what: &str) {
    for a in aside {
        log::warn!(
            "{} {} ({}): its lease {what}. {}",
            a.path.display(),
            if a.in_table {
                "cannot be read and is skipped"
            } else {
                "was set aside"
            },
            a.why,
            if a.in_table {
                "The next dhcpnet that takes the lock moves it to quarantine/."
            } else {
                "Repair it and move it back into leases.d/, or remove it once its lease is not needed."
            }
        );
    }
}

pub fn lease_table(leases: &[Lease]) -> String {
    let now = Utc::now();
    let mut t = output::table(&[
        "IP",
        "MAC",
        "HOSTNAME",
        "GATEWAY",
        "DNS",
        "SERVER",
        "EXPIRES IN",
    ]);
    for l in leases {
        t.add_row(vec![
            format!("{}/{}", l.ip, l.prefix_len),
            l.mac.to_string(),
            output::opt(&l.hostname),
            output::opt(&l.gateway),
            output::list(&l.dns),
            l.server_id.to_string(),
            output::duration(l.seconds_left(now)),
        ]);
    }
    t.to_string()
}
