//! The command line, declared once for parsing, completions and the man page.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::EXIT_CODES_HELP;
use crate::net::mac::Mac;
use crate::output::Format;

#[derive(Debug, Parser)]
#[command(
    name = "dhcpnet",
    version,
    about = "Addresses for Docker macvlan containers from the LAN's own DHCP server",
    long_about = "dhcpnet lets containers on macvlan networks take their IPv4 addresses from the DHCP \
server that already runs on the LAN: it probes the server, leases addresses for container MACs \
(hostname included), renews and releases them, and keeps records in its state directory.",
    after_help = EX_TOP,
    after_long_help = long_after_help(),
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory of dhcpnet's records (leases, links, networks)
    #[arg(long, global = true, env = "DHCPNET_STATE_DIR", default_value = crate::store::DEFAULT_DIR, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// More messages on stderr (-v info, -vv debug, -vvv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Output format of the data on stdout (before or after the subcommand)
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

impl Cli {
    /// Parse the process's arguments (clap's own exit on an error, with a
    /// tip about `--` for `run`) and propagate `-o`.
    pub fn parse_args() -> Cli {
        let mut cli = Cli::try_parse().unwrap_or_else(|mut e| {
            use clap::error::{ContextKind, ContextValue, ErrorKind};
            if matches!(
                e.kind(),
                ErrorKind::UnknownArgument | ErrorKind::MissingRequiredArgument
            ) {
                let args: Vec<String> = std::env::args_os()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                if let Some(tip) = run_hint(&args) {
                    e.insert(
                        ContextKind::Suggested,
                        ContextValue::StyledStrs(vec![tip.into()]),
                    );
                }
            }
            e.exit()
        });
        cli.propagate_output();
        cli
    }

    /// Hand the global `-o/--output` to the subcommand's arguments, which
    /// render with it. Call once after parsing.
    pub fn propagate_output(&mut self) {
        if let Some(out) = self.command.output_arg() {
            out.output = self.global.output;
        }
    }
}

impl Command {
    /// The output setting of commands that print data; None for the others
    /// (they accept `-o` as every command does, and print no data).
    fn output_arg(&mut self) -> Option<&mut OutputArg> {
        match self {
            Command::Probe(a) => Some(&mut a.out),
            Command::Lease(a) => Some(&mut a.out),
            Command::Release(a) => Some(&mut a.out),
            Command::Leases(a) | Command::Restore(a) => Some(&mut a.out),
            Command::Renew(a) => Some(&mut a.out),
            Command::Vlan(VlanCommand::Add(a)) => Some(&mut a.out),
            Command::Vlan(VlanCommand::List(a)) | Command::Shim(ShimCommand::List(a)) => {
                Some(&mut a.out)
            }
            Command::Shim(ShimCommand::Add(a)) => Some(&mut a.out),
            Command::Create(a) => Some(&mut a.out),
            Command::Run(a) => Some(&mut a.out),
            Command::Rm(a) => Some(&mut a.out),
            Command::Delete(a) => Some(&mut a.out),
            Command::Vlan(VlanCommand::Del(_)) | Command::Shim(ShimCommand::Del(_)) => None,
            Command::Doctor(a) => Some(&mut a.out),
            Command::Watch(a) => Some(&mut a.out),
            Command::Completions(_) | Command::Man(_) | Command::Daemon(_) => None,
        }
    }
}

/// Environment variables dhcpnet reads (or hands on), for `--help` and the
/// man page's ENVIRONMENT section.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "DHCPNET_STATE_DIR",
        "Directory of dhcpnet's records, as --state-dir (default /var/lib/dhcpnet).",
    ),
    (
        "DHCPNET_DOCKER",
        "The docker CLI dhcpnet runs (create, run, rm, delete, the daemon's event follower), as the \
         daemon's --docker (default: docker on PATH).",
    ),
    (
        "DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH",
        "Not read by dhcpnet: passed on to the docker CLI, which chooses the engine with them.",
    ),
    (
        "PATH",
        "Where docker is found when DHCPNET_DOCKER is not set.",
    ),
    (
        "TMPDIR",
        "Where `dhcpnet run` has docker write the container id file (default /tmp).",
    ),
];

/// `dhcpnet --help` after the options: examples, exit codes, environment.
fn long_after_help() -> String {
    let mut s = format!("{EX_TOP}\n\n{EXIT_CODES_HELP}\n\nEnvironment:\n");
    for (name, what) in ENVIRONMENT {
        s += &format!("  {name}\n{:6}{what}\n", "");
    }
    s.trim_end().to_string()
}

// Examples for each command's --help and man page (EXAMPLES).
const EX_TOP: &str = "\
Examples:
  dhcpnet probe eth0                          # what the LAN's DHCP server offers
  dhcpnet create mcv0 --parent eth0           # a macvlan network addressed by DHCP
  dhcpnet run mcv0 -- -d --name web nginx     # a container with a leased address
  dhcpnet -o json leases                      # what dhcpnet holds
  dhcpnet rm web && dhcpnet delete mcv0";
const EX_DOCTOR: &str = "\
Examples:
  dhcpnet doctor eth0              # everything an address for a container on eth0 depends on
  dhcpnet doctor --network mcv0    # the same for a network dhcpnet created, and its subnet
  dhcpnet -o json doctor eth0 | jq '.checks[] | select(.status != \"ok\")'";
const EX_WATCH: &str = "\
Examples:
  dhcpnet watch eth0                       # every DHCP message on the segment, until Ctrl-C
  dhcpnet watch eth0 --timeout 30          # half a minute of it
  dhcpnet -o json watch eth0 --count 4     # one JSON object per message";
const EX_PROBE: &str = "\
Examples:
  dhcpnet probe eth0                      # subnet, gateway, DNS, lease time; no lease taken
  dhcpnet probe eth0 --collect 3 -o json  # wait 3 s for other (rogue) servers too";
const EX_LEASE: &str = "\
Examples:
  dhcpnet lease --interface eth0 --hostname web-1
  dhcpnet lease mcv0 --mac 02:42:c0:a8:01:0a --arp-check
  dhcpnet lease -i eth0 --client-id 01:02:42:c0:a8:01:0a --request-ip 192.168.1.50
  dhcpnet -o json lease -i eth0 --count 10";
const EX_RELEASE: &str = "\
Examples:
  dhcpnet release --interface eth0 --mac 02:42:c0:a8:01:0a
  dhcpnet release mcv0 --ip 192.168.1.50
  dhcpnet release mcv0 --all";
const EX_LEASES: &str = "\
Examples:
  dhcpnet leases
  dhcpnet leases -o json | jq -r '.[].ip'";
const EX_RENEW: &str = "\
Examples:
  dhcpnet renew --all
  dhcpnet renew --ip 192.168.1.50 --timeout 5";
const EX_COMPLETIONS: &str = "\
Examples:
  dhcpnet completions bash > /etc/bash_completion.d/dhcpnet
  dhcpnet completions zsh > \"${fpath[1]}/_dhcpnet\"";
const EX_MAN: &str = "\
Examples:
  dhcpnet man | man -l -
  dhcpnet man --out-dir /usr/local/share/man/man1";
const EX_VLAN: &str = "\
Examples:
  dhcpnet vlan add eth0 10
  dhcpnet vlan list
  dhcpnet vlan del eth0.10";
const EX_SHIM: &str = "\
Examples:
  dhcpnet shim add eth0
  dhcpnet shim add wlan0 --driver ipvlan
  dhcpnet shim list
  dhcpnet shim del shim-eth0";
const EX_RESTORE: &str = "\
Examples:
  dhcpnet restore            # after a reboot: missing VLANs and shims come back
  dhcpnet restore -o json";
const EX_DAEMON: &str = "\
Examples:
  dhcpnet daemon                      # as the systemd unit runs it
  dhcpnet daemon --no-plugin -v       # renewals and releases only, with info messages
  DHCPNET_DOCKER=/usr/bin/docker dhcpnet daemon";
const EX_CREATE: &str = "\
Examples:
  dhcpnet create mcv0 --parent eth0
  dhcpnet create mcv0 --parent eth0 --dry-run
  dhcpnet create mcv10 --parent eth0 --vlan 10 --subnet 192.168.10.0/24 --gateway 192.168.10.1";
const EX_RUN: &str = "\
Examples:
  dhcpnet run mcv0 -- -d --name web nginx
  dhcpnet run mcv0 --hostname db-main -- -d --name db postgres
  dhcpnet run mcv0 -- --rm -it alpine sh
  dhcpnet run -o json mcv0 -- -d nginx | jq -r .lease.ip";
const EX_RM: &str = "\
Examples:
  dhcpnet rm web db";
const EX_DELETE: &str = "\
Examples:
  dhcpnet delete mcv0
  dhcpnet delete mcv0 --force   # remove its containers first";
const EX_VLAN_ADD: &str = "\
Examples:
  dhcpnet vlan add eth0 10                 # creates eth0.10
  dhcpnet vlan add enp0s31f6 4000 --name vl4000";
const EX_VLAN_DEL: &str = "\
Examples:
  dhcpnet vlan del eth0.10
  dhcpnet vlan del eth0.20 --force         # one dhcpnet did not create";
const EX_VLAN_LIST: &str = "\
Examples:
  dhcpnet vlan list
  dhcpnet vlan list -o json";
const EX_SHIM_ADD: &str = "\
Examples:
  dhcpnet shim add eth0                    # shim-eth0, its address by DHCP
  dhcpnet shim add eth0 --name shim0 --hostname docker-host
  dhcpnet shim add wlan0 --driver ipvlan   # for ipvlan containers: shares wlan0's MAC";
const EX_SHIM_DEL: &str = "\
Examples:
  dhcpnet shim del shim-eth0";
const EX_SHIM_LIST: &str = "\
Examples:
  dhcpnet shim list
  dhcpnet shim list -o yaml";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Learn subnet, gateway, DNS and lease time from DHCP offers, without taking a lease
    #[command(after_help = EX_PROBE)]
    Probe(ProbeArgs),
    /// Take leases from the DHCP server for (container) MAC addresses
    #[command(after_help = EX_LEASE)]
    Lease(LeaseArgs),
    /// Give leases back to the DHCP server (DHCPRELEASE) and forget them
    #[command(after_help = EX_RELEASE)]
    Release(ReleaseArgs),
    /// List the leases dhcpnet holds, with the time left on each
    #[command(after_help = EX_LEASES)]
    Leases(ListArgs),
    /// Extend leases now (DHCPREQUEST in RENEWING state)
    #[command(after_help = EX_RENEW)]
    Renew(RenewArgs),
    /// Print a shell completion script
    #[command(after_help = EX_COMPLETIONS)]
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    #[command(after_help = EX_MAN)]
    Man(ManArgs),
    /// VLAN sub-interfaces (802.1Q) that dhcpnet creates, owns and deletes
    #[command(subcommand)]
    #[command(after_help = EX_VLAN)]
    Vlan(VlanCommand),
    /// The host shim: a macvlan or ipvlan link that lets the host reach its containers
    #[command(subcommand)]
    #[command(after_help = EX_SHIM)]
    Shim(ShimCommand),
    /// Recreate the links dhcpnet owns that are missing (after a reboot); idempotent
    #[command(after_help = EX_RESTORE)]
    Restore(ListArgs),
    /// Renew leases on time, serve Docker's IPAM plugin, release leases of removed containers
    ///
    /// At start-up it first rebuilds the links dhcpnet owns that are missing (as `dhcpnet restore`
    /// does, for the systemd unit that runs before docker.service after a reboot); a link it
    /// cannot rebuild is logged as an error and start-up goes on.
    #[command(after_help = EX_DAEMON)]
    Daemon(DaemonArgs),
    /// Create a Docker macvlan network whose containers get addresses by DHCP
    #[command(after_help = EX_CREATE)]
    Create(CreateArgs),
    /// Lease an address for a new container's MAC, then `docker run` it with that address
    #[command(after_help = EX_RUN)]
    Run(RunArgs),
    /// Remove containers (`docker rm -f`) and release their leases
    #[command(after_help = EX_RM)]
    Rm(RmArgs),
    /// Delete a network dhcpnet created: release its leases, `docker network rm`, remove its links
    #[command(after_help = EX_DELETE)]
    Delete(DeleteArgs),
    /// Check everything a DHCP address for a container depends on, and say how to fix what fails
    ///
    /// One row per check (ok, warn or fail), what was found and the fix: privileges, the
    /// interface, 8021q and macvlan in the kernel, the DHCP servers answering (a DISCOVER only:
    /// no lease is taken), Docker, the IPAM plugin, the daemon, the state directory, records
    /// against reality, the host shim. Changes nothing. Exits 13 when a check fails.
    ///
    /// Examples:
    ///   dhcpnet doctor eth0
    ///   dhcpnet doctor --network mcv0 -o json
    #[command(after_help = EX_DOCTOR)]
    Doctor(DoctorArgs),
    /// Show the DHCP messages on a segment as they pass (like dhcpdump); sends nothing
    ///
    /// One line per message, every client's and server's: time, type, xid, client MAC, the
    /// address asked for or offered, server id, hostname, lease time. A reply from a second
    /// server is flagged, and a warning names it (at most 10 a minute; 64 server ids are
    /// remembered). Ctrl-C or SIGTERM ends it (exit 0).
    ///
    /// Examples:
    ///   dhcpnet watch eth0
    ///   dhcpnet watch eth0 --count 4 -o json
    #[command(after_help = EX_WATCH)]
    Watch(WatchArgs),
}

/// The tip for `dhcpnet run NET -d nginx`: docker run's arguments belong
/// after `--`. `args` is the whole command line, program name first; None
/// when the command is not `run` or already has a `--`.
pub fn run_hint(args: &[String]) -> Option<String> {
    const WITH_VALUE: &[&str] = &[
        "--hostname",
        "--mac",
        "--timeout",
        "-o",
        "--output",
        "--state-dir",
    ];
    const FLAGS: &[&str] = &["-v", "-vv", "-vvv", "--verbose", "-q", "--quiet"];
    let mut it = args.iter().skip(1);
    loop {
        let a = it.next()?;
        match a.as_str() {
            "run" => break,
            "--state-dir" | "-o" | "--output" => {
                it.next();
            }
            _ if a.starts_with('-') => {}
            _ => return None,
        }
    }
    let after: Vec<&String> = it.collect();
    if after.iter().any(|a| *a == "--") {
        return None;
    }
    let (mut own, mut network, mut rest) = (Vec::new(), None, Vec::new());
    let mut i = 0;
    while i < after.len() {
        let a = after[i].as_str();
        if !rest.is_empty() {
            rest.push(a);
        } else if WITH_VALUE.contains(&a) {
            own.push(a);
            if let Some(v) = after.get(i + 1) {
                own.push(v.as_str());
                i += 1;
            }
        } else if FLAGS.contains(&a)
            || WITH_VALUE
                .iter()
                .any(|f| a.strip_prefix(f).is_some_and(|v| v.starts_with('=')))
        {
            own.push(a);
        } else if network.is_none() && !a.starts_with('-') {
            network = Some(a);
        } else {
            rest.push(a);
        }
        i += 1;
    }
    let quote = |w: &str| {
        if !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b))
        {
            w.to_string()
        } else {
            format!("'{}'", w.replace('\'', "'\\''"))
        }
    };
    let mut line = vec!["dhcpnet".to_string(), "run".into()];
    line.extend(own.iter().map(|w| quote(w)));
    line.push(network.map(quote).unwrap_or_else(|| "NETWORK".into()));
    line.push("--".into());
    if rest.is_empty() {
        line.push("[OPTIONS] IMAGE [COMMAND]".into());
    } else {
        line.extend(rest.iter().map(|w| quote(w)));
    }
    Some(format!(
        "put docker run's arguments after `--`: {}",
        line.join(" ")
    ))
}

fn parse_mac(s: &str) -> Result<Mac, String> {
    Mac::parse_unicast(s)
}

fn parse_hostname(s: &str) -> Result<String, String> {
    crate::dhcp::message::validate_hostname(s).map(|_| s.to_string())
}

/// The contents of DHCP option 61 given with `--client-id`. A newtype, since
/// clap would take an `Option<Vec<u8>>` for a list of single octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(pub Vec<u8>);

fn parse_client_id(s: &str) -> Result<ClientId, String> {
    crate::dhcp::message::parse_client_id(s).map(ClientId)
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86400.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number of seconds between 0 and 86400 (e.g. 10 or 2.5)"
        )),
    }
}

/// The output format a command renders with: the global `-o/--output`,
/// filled in by `Cli::propagate_output` (not an argument of its own, so that
/// `-o` parses the same before and after the subcommand).
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArg {
    #[arg(skip)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Interface to probe (the macvlan parent, e.g. eth0)
    pub interface: String,
    /// Give up when no server has answered after this many seconds
    #[arg(long, default_value = "10", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: f64,
    /// After the first offer, keep listening this long for other servers (slow ones check an
    /// address for about 2 s before they offer it; the DISCOVER is sent again at 2 s)
    #[arg(long, default_value = "3", value_parser = parse_secs, value_name = "SECS")]
    pub collect: f64,
    /// MAC address to probe from (default: a random locally administered one)
    #[arg(long, value_parser = parse_mac)]
    pub mac: Option<Mac>,
    /// Ask servers to unicast replies instead of broadcasting them
    #[arg(long)]
    pub no_broadcast: bool,
    #[command(flatten)]
    pub out: OutputArg,
}

/// Where to lease: a Docker network dhcpnet knows, or an interface.
#[derive(Debug, Args, Clone)]
pub struct Target {
    /// Docker network created by dhcpnet (resolves parent and DHCP interface)
    #[arg(value_name = "NETWORK")]
    pub network: Option<String>,
    /// Interface to lease on (the macvlan parent, e.g. eth0)
    #[arg(short, long, value_name = "IFACE")]
    pub interface: Option<String>,
}

#[derive(Debug, Args)]
pub struct LeaseArgs {
    #[command(flatten)]
    pub target: Target,
    /// MAC address to lease for (default: a random locally administered one)
    #[arg(long, value_parser = parse_mac)]
    pub mac: Option<Mac>,
    /// Hostname sent to the server (option 12), shown in its lease table
    #[arg(long, value_parser = parse_hostname)]
    pub hostname: Option<String>,
    /// Client identifier (option 61): hex octets like 01:02:42:ac:11:00:02, or text
    #[arg(long, value_parser = parse_client_id, value_name = "ID")]
    pub client_id: Option<ClientId>,
    /// Vendor class identifier (option 60)
    #[arg(long, value_name = "TEXT")]
    pub vendor_class: Option<String>,
    /// Ask for this address (option 50); the server decides
    #[arg(long, value_name = "IP")]
    pub request_ip: Option<std::net::Ipv4Addr>,
    /// Before using an address, probe it by ARP for SECS (default 1) and
    /// decline it if another host answers (RFC 5227 conflict detection)
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "1", value_parser = parse_secs)]
    pub arp_check: Option<f64>,
    /// Lease N addresses for N new random MACs at once (prints a JSON array)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100000), value_name = "N")]
    pub count: u32,
    /// Give up after this many seconds without a lease
    #[arg(long, default_value = "30", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: f64,
    /// Ask servers to unicast replies instead of broadcasting them
    #[arg(long)]
    pub no_broadcast: bool,
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["mac", "ip", "all"])))]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub target: Target,
    /// The lease of this MAC address
    #[arg(long, value_parser = parse_mac)]
    pub mac: Option<Mac>,
    /// The lease of this address
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Every lease on the network or interface
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["mac", "ip", "all"])))]
pub struct RenewArgs {
    /// The lease of this MAC address
    #[arg(long, value_parser = parse_mac)]
    pub mac: Option<Mac>,
    /// The lease of this address
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Every recorded lease
    #[arg(long)]
    pub all: bool,
    /// Give up on a lease after this many seconds without an answer
    #[arg(long, default_value = "10", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: f64,
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate for
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write dhcpnet.1 and one page per subcommand into this directory
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

fn parse_vid(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(v) if (1..=4094).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a VLAN ID: 802.1Q VIDs are 1 to 4094")),
    }
}

#[derive(Debug, Subcommand)]
pub enum VlanCommand {
    /// Create VLAN sub-interface PARENT.VID, set it up and record it as dhcpnet's
    #[command(after_help = EX_VLAN_ADD)]
    Add(VlanAddArgs),
    /// Delete a VLAN sub-interface dhcpnet created (others are refused)
    #[command(after_help = EX_VLAN_DEL)]
    Del(LinkDelArgs),
    /// List the VLAN sub-interfaces dhcpnet owns, and whether each exists and is up
    #[command(after_help = EX_VLAN_LIST)]
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct VlanAddArgs {
    /// Parent interface (e.g. eth0)
    pub parent: String,
    /// VLAN ID, 1-4094
    #[arg(value_parser = parse_vid)]
    pub vid: u16,
    /// Name of the new link (default PARENT.VID; at most 15 bytes)
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
pub struct LinkDelArgs {
    /// The link to delete
    pub name: String,
    /// Delete it even if dhcpnet did not create it, or it no longer matches the record
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum ShimCommand {
    /// Create a macvlan or ipvlan shim on PARENT, lease an address for it, and route leased addresses through it
    #[command(after_help = EX_SHIM_ADD)]
    Add(ShimAddArgs),
    /// Remove a shim: routes, address, lease (DHCPRELEASE) and link
    #[command(after_help = EX_SHIM_DEL)]
    Del(LinkDelArgs),
    /// List the shims, with their addresses and routes
    #[command(after_help = EX_SHIM_LIST)]
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ShimAddArgs {
    /// Parent interface of the macvlan or ipvlan containers (e.g. eth0)
    pub parent: String,
    /// Name of the shim link (default shim-PARENT; at most 15 bytes)
    #[arg(long)]
    pub name: Option<String>,
    /// The containers' driver: macvlan, or ipvlan (L2; the shim shares PARENT's MAC and its lease has a client id of its own) [default: ipvlan when PARENT carries a dhcpnet ipvlan network, else macvlan]
    #[arg(long, value_enum)]
    pub driver: Option<crate::network::Driver>,
    /// MAC address of a macvlan shim (default: a random locally administered one)
    #[arg(long, value_parser = parse_mac)]
    pub mac: Option<Mac>,
    /// Hostname sent to the DHCP server for the shim's lease
    #[arg(long, value_parser = parse_hostname)]
    pub hostname: Option<String>,
    /// Give up after this many seconds without a lease
    #[arg(long, default_value = "30", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: f64,
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Unix socket for Docker's IPAM plugin API (`--ipam-driver dhcpnet`); made mode 0600, and only root is served
    #[arg(long, value_name = "PATH", default_value = crate::docker::PLUGIN_SOCKET)]
    pub plugin_socket: Option<PathBuf>,
    /// Unix socket of the dhcpnet-ipvlan IPAM driver (`--ipam-driver dhcpnet-ipvlan`, for ipvlan networks: every container leases under the parent's MAC) [default: NAME-ipvlan.sock beside --plugin-socket's NAME.sock]
    #[arg(long, value_name = "PATH")]
    pub ipvlan_plugin_socket: Option<PathBuf>,
    /// Do not serve the IPAM plugins
    #[arg(long)]
    pub no_plugin: bool,
    /// Do not follow Docker's events (no release on container removal)
    #[arg(long)]
    pub no_docker: bool,
    /// Docker CLI used to follow events (honours DOCKER_HOST) [default: $DHCPNET_DOCKER, else
    /// docker on PATH]
    #[arg(long, value_name = "PATH")]
    pub docker: Option<String>,
    /// Give up on one DHCP exchange after this many seconds (retried later)
    #[arg(long, default_value = "10", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: f64,
    /// The plugin's DHCP interface for networks that name none (Docker Compose drops ipam options) and whose subnet no host interface reaches
    #[arg(long, env = "DHCPNET_DEFAULT_INTERFACE", value_name = "IFACE", value_parser = parse_iface)]
    pub default_interface: Option<String>,
}

fn parse_iface(s: &str) -> Result<String, String> {
    crate::net::iface::validate_name(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

fn parse_subnet(s: &str) -> Result<crate::network::Subnet, String> {
    s.parse()
}

fn parse_network_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a usable network name: letters, digits, '_', '.' and '-', starting with a letter or digit"
        ))
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name of the Docker network to create
    #[arg(value_parser = parse_network_name)]
    pub network: String,
    /// Interface the macvlan network sits on (e.g. eth0, or eth0.10 for a VLAN Docker creates)
    #[arg(long, value_name = "IFACE")]
    pub parent: String,
    /// Subnet of the LAN (default: learnt from the DHCP server's offer)
    #[arg(long, value_parser = parse_subnet, value_name = "CIDR")]
    pub subnet: Option<crate::network::Subnet>,
    /// Gateway (default: from the offer, or the first usable address of --subnet)
    #[arg(long, value_name = "IP")]
    pub gateway: Option<std::net::Ipv4Addr>,
    /// Interface to talk DHCP on for this network (default: the parent)
    #[arg(long, value_name = "IFACE")]
    pub dhcp_interface: Option<String>,
    /// Put the network on VLAN VID: dhcpnet creates (and later deletes) PARENT.VID itself
    #[arg(long, value_parser = parse_vid, value_name = "VID")]
    pub vlan: Option<u16>,
    /// macvlan (a MAC per container), or ipvlan (L2: containers share the parent's MAC and are told apart by DHCP client id; for Wi-Fi and one-MAC ports)
    #[arg(long, value_enum, default_value_t = crate::network::Driver::Macvlan)]
    pub driver: crate::network::Driver,
    /// How long to wait for the DHCP server's offer
    #[arg(long, default_value = "5", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: f64,
    /// Print the docker command that would run, and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Network created by `dhcpnet create`
    pub network: String,
    /// Hostname for the container and the DHCP server (default: the container's --name)
    #[arg(long, value_parser = parse_hostname)]
    pub hostname: Option<String>,
    /// MAC address for the container (default: the one its --name had on NETWORK, else a random one)
    #[arg(long, value_parser = parse_mac)]
    pub mac: Option<Mac>,
    /// Give up after this many seconds without a lease
    #[arg(long, default_value = "30", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: f64,
    /// Arguments for `docker run`, after `--` (options, IMAGE, COMMAND...)
    #[arg(last = true, required = true, value_name = "DOCKER_RUN_ARGS")]
    pub docker_args: Vec<String>,
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Containers (names or ids)
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Network created by `dhcpnet create`
    pub network: String,
    /// Remove attached containers first (`dhcpnet rm` each) instead of refusing
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Interface to check (the macvlan parent, e.g. eth0)
    #[arg(value_name = "IFACE", conflicts_with = "network")]
    pub interface: Option<String>,
    /// Check a Docker network dhcpnet created (its parent and DHCP interface, its subnet)
    #[arg(long, value_name = "NET")]
    pub network: Option<String>,
    /// How long to wait for DHCP servers to answer the probe
    #[arg(long, default_value = "4", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: f64,
    /// The IPAM plugin's socket
    #[arg(long, value_name = "PATH", default_value = crate::docker::PLUGIN_SOCKET)]
    pub plugin_socket: PathBuf,
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Interface to watch (e.g. eth0, or a macvlan parent)
    pub interface: String,
    /// Stop after this many seconds
    #[arg(long, value_parser = parse_secs, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Stop after this many DHCP messages
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    pub count: Option<u64>,
    #[command(flatten)]
    pub out: OutputArg,
}

#[cfg(test)]
mod tests {
    use clap::{ArgAction, CommandFactory, Parser};

    use super::*;

    /// Valid example values by value name; each is tried.
    const EXAMPLES: &[(&str, &[&str])] = &[
        ("DIR", &["/tmp/dhcpnet-state"]),
        ("SECS", &["2.5", "10"]),
        ("MAC", &["02:42:0a:00:00:05"]),
        ("HOSTNAME", &["web-1"]),
        ("ID", &["01:02:42:ac:11:00:02", "my-client"]),
        ("TEXT", &["dhcpnet"]),
        ("IP", &["192.168.1.10"]),
        ("N", &["3"]),
        ("NETWORK", &["mcv0"]),
        ("NET", &["mcv0"]),
        ("IFACE", &["eth0"]),
        ("INTERFACE", &["eth0"]),
        ("PARENT", &["eth0"]),
        ("VID", &["10"]),
        ("NAME", &["vl10"]),
        ("PATH", &["/run/dhcpnet-test.sock"]),
        ("CIDR", &["192.168.10.0/24"]),
        ("CONTAINER", &["web-1"]),
        ("DOCKER_RUN_ARGS", &["-d nginx"]),
    ];

    fn examples(arg: &clap::Arg) -> Vec<String> {
        let values = arg.get_possible_values();
        if !values.is_empty() {
            return values.iter().map(|v| v.get_name().to_string()).collect();
        }
        let name = arg
            .get_value_names()
            .and_then(|v| v.first())
            .map(|n| n.to_string())
            .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
        EXAMPLES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.iter().map(|s| s.to_string()).collect())
            .unwrap_or_else(|| panic!("no example value for {name} (--{}): add one", arg.get_id()))
    }

    /// The words that give `arg` one value (or none, for a flag).
    fn uses(arg: &clap::Arg) -> Vec<Vec<String>> {
        let named = |v: Option<&str>| {
            let mut w = Vec::new();
            if arg.is_last_set() {
                w.push("--".to_string());
            }
            if !arg.is_positional() {
                w.push(match arg.get_long() {
                    Some(l) => format!("--{l}"),
                    None => format!("-{}", arg.get_short().unwrap_or('?')),
                });
            }
            if let Some(v) = v {
                w.extend(v.split(' ').map(str::to_string));
            }
            w
        };
        if !arg.get_action().takes_values() {
            return vec![named(None)];
        }
        let mut all: Vec<Vec<String>> = examples(arg).iter().map(|v| named(Some(v))).collect();
        if arg.get_num_args().is_some_and(|n| n.min_values() == 0) {
            all.push(named(None));
        }
        all
    }

    /// Every leaf subcommand, with the words that name it.
    fn leaves(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
        let subs: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if subs.is_empty() {
            out.push((path.clone(), cmd.clone()));
        }
        for s in subs {
            let mut p = path.clone();
            p.push(s.get_name().to_string());
            leaves(s, p, out);
        }
    }

    /// A valid invocation of `sub` with `arg` used as `words`: the required
    /// positionals and one member of each required group are added.
    fn invocation(
        path: &[String],
        sub: &clap::Command,
        arg: &clap::Arg,
        words: &[String],
    ) -> Vec<String> {
        let mut v = vec!["dhcpnet".to_string()];
        v.extend(path.iter().cloned());
        for g in sub.get_groups().filter(|g| g.is_required_set()) {
            let members: Vec<&clap::Id> = g.get_args().collect();
            if !members.contains(&arg.get_id()) {
                let first = sub
                    .get_arguments()
                    .find(|a| a.get_id() == members[0])
                    .expect("group member");
                v.extend(uses(first).remove(0));
            }
        }
        for o in sub.get_opts() {
            if o.is_required_set() && o.get_id() != arg.get_id() {
                v.extend(uses(o).remove(0));
            }
        }
        let mut last = Vec::new();
        for p in sub.get_positionals() {
            let w = if p.get_id() == arg.get_id() {
                words.to_vec()
            } else if p.is_required_set() {
                uses(p).remove(0)
            } else {
                continue;
            };
            if p.is_last_set() {
                last = w
            } else {
                v.extend(w)
            }
        }
        if !arg.is_positional() {
            v.extend(words.iter().cloned());
        }
        v.extend(last);
        v
    }

    #[test]
    fn docker_run_arguments_without_a_double_dash_get_a_tip() {
        let tip = |s: &str| {
            let args: Vec<String> = s.split(' ').map(str::to_string).collect();
            run_hint(&args)
        };
        assert_eq!(
            tip("dhcpnet run mcv0 -d nginx").as_deref(),
            Some("put docker run's arguments after `--`: dhcpnet run mcv0 -- -d nginx")
        );
        assert_eq!(
            tip("dhcpnet -o json run --hostname web mcv0 --name web nginx").as_deref(),
            Some(
                "put docker run's arguments after `--`: dhcpnet run --hostname web mcv0 -- --name web nginx"
            )
        );
        assert_eq!(
            tip("dhcpnet run mcv0").as_deref(),
            Some(
                "put docker run's arguments after `--`: dhcpnet run mcv0 -- [OPTIONS] IMAGE [COMMAND]"
            )
        );
        assert_eq!(tip("dhcpnet run mcv0 -- -d nginx"), None);
        assert_eq!(tip("dhcpnet leases -d"), None);
    }

    #[test]
    fn the_command_line_definition_passes_clap_s_own_checks() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_parses_with_every_flag() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut all = Vec::new();
        leaves(&cmd, Vec::new(), &mut all);
        assert!(all.len() >= 18, "{} subcommands", all.len());
        let mut tried = 0;
        for (path, sub) in &all {
            for arg in sub.get_arguments() {
                if matches!(
                    arg.get_action(),
                    ArgAction::Help
                        | ArgAction::HelpShort
                        | ArgAction::HelpLong
                        | ArgAction::Version
                ) {
                    continue;
                }
                for words in uses(arg) {
                    let argv = invocation(path, sub, arg, &words);
                    if let Err(e) = Cli::try_parse_from(&argv) {
                        panic!("{argv:?} does not parse:\n{e}");
                    }
                    tried += 1;
                }
            }
        }
        assert!(tried > 80, "only {tried} invocations");
    }

    #[test]
    fn a_client_id_is_parsed_as_hex_octets_or_text() {
        let parse = |id: &str| match Cli::try_parse_from([
            "dhcpnet",
            "lease",
            "-i",
            "eth0",
            "--client-id",
            id,
        ]) {
            Ok(Cli {
                command: Command::Lease(a),
                ..
            }) => a.client_id.map(|c| c.0),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            parse("01:02:42:ac:11:00:02"),
            Some(vec![1, 2, 0x42, 0xac, 0x11, 0, 2])
        );
        assert_eq!(parse("ab"), Some(vec![0, b'a', b'b']));
        assert!(
            Cli::try_parse_from(["dhcpnet", "lease", "-i", "eth0", "--client-id", ""]).is_err()
        );
    }

    #[test]
    fn the_output_format_is_the_same_before_and_after_the_subcommand() {
        for argv in [
            vec!["dhcpnet", "-o", "json", "leases"],
            vec!["dhcpnet", "leases", "-o", "json"],
            vec![
                "dhcpnet",
                "--output=json",
                "run",
                "mcv0",
                "--",
                "-d",
                "nginx",
            ],
            vec!["dhcpnet", "run", "mcv0", "-o", "json", "--", "-d", "nginx"],
        ] {
            let mut cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            cli.propagate_output();
            assert_eq!(cli.global.output, Format::Json, "{argv:?}");
            let out = cli.command.output_arg().map(|o| o.output);
            assert_eq!(out, Some(Format::Json), "{argv:?}");
        }
    }
}
