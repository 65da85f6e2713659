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
    after_long_help = EXIT_CODES_HELP,
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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Learn subnet, gateway, DNS and lease time from DHCP offers, without taking a lease
    Probe(ProbeArgs),
    /// Take leases from the DHCP server for (container) MAC addresses
    Lease(LeaseArgs),
    /// Give leases back to the DHCP server (DHCPRELEASE) and forget them
    Release(ReleaseArgs),
    /// List the leases dhcpnet holds, with the time left on each
    Leases(ListArgs),
    /// Extend leases now (DHCPREQUEST in RENEWING state)
    Renew(RenewArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    Man(ManArgs),
    /// VLAN sub-interfaces (802.1Q) that dhcpnet creates, owns and deletes
    #[command(subcommand)]
    Vlan(VlanCommand),
    /// The host shim: a macvlan link that lets the host reach its macvlan containers
    #[command(subcommand)]
    Shim(ShimCommand),
    /// Recreate the links dhcpnet owns that are missing (after a reboot); idempotent
    Restore(ListArgs),
    /// Renew leases on time, serve Docker's IPAM plugin, release leases of removed containers
    ///
    /// At start-up it first rebuilds the links dhcpnet owns that are missing (as `dhcpnet restore`
    /// does, for the systemd unit that runs before docker.service after a reboot); a link it
    /// cannot rebuild is logged as an error and start-up goes on.
    Daemon(DaemonArgs),
    /// Create a Docker macvlan network whose containers get addresses by DHCP
    Create(CreateArgs),
    /// Lease an address for a new container's MAC, then `docker run` it with that address
    Run(RunArgs),
    /// Remove containers (`docker rm -f`) and release their leases
    Rm(RmArgs),
    /// Delete a network dhcpnet created: release its leases, `docker network rm`, remove its links
    Delete(DeleteArgs),
}

fn parse_mac(s: &str) -> Result<Mac, String> {
    Mac::parse_unicast(s)
}

fn parse_hostname(s: &str) -> Result<String, String> {
    crate::dhcp::message::validate_hostname(s).map(|_| s.to_string())
}

fn parse_client_id(s: &str) -> Result<Vec<u8>, String> {
    crate::dhcp::message::parse_client_id(s)
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86400.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number of seconds between 0 and 86400 (e.g. 10 or 2.5)"
        )),
    }
}

#[derive(Debug, Args, Clone)]
pub struct OutputArg {
    /// Output format
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Interface to probe (the macvlan parent, e.g. eth0)
    pub interface: String,
    /// Give up when no server has answered after this many seconds
    #[arg(long, default_value = "10", value_parser = parse_secs, value_name = "SECS")]
    pub timeout: f64,
    /// After the first offer, keep listening this long for other servers
    #[arg(long, default_value = "1", value_parser = parse_secs, value_name = "SECS")]
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
    pub client_id: Option<Vec<u8>>,
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
    Add(VlanAddArgs),
    /// Delete a VLAN sub-interface dhcpnet created (others are refused)
    Del(LinkDelArgs),
    /// List the VLAN sub-interfaces dhcpnet owns, and whether each exists and is up
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
    /// Create a macvlan shim on PARENT, lease an address for it, and route leased addresses through it
    Add(ShimAddArgs),
    /// Remove a shim: routes, address, lease (DHCPRELEASE) and link
    Del(LinkDelArgs),
    /// List the shims, with their addresses and routes
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ShimAddArgs {
    /// Parent interface of the macvlan containers (e.g. eth0)
    pub parent: String,
    /// Name of the shim link (default shim-PARENT; at most 15 bytes)
    #[arg(long)]
    pub name: Option<String>,
    /// MAC address of the shim (default: a random locally administered one)
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
    /// Unix socket for Docker's IPAM plugin API (`--ipam-driver dhcpnet`)
    #[arg(long, value_name = "PATH", default_value = crate::docker::PLUGIN_SOCKET)]
    pub plugin_socket: Option<PathBuf>,
    /// Do not serve the IPAM plugin
    #[arg(long)]
    pub no_plugin: bool,
    /// Do not follow Docker's events (no release on container removal)
    #[arg(long)]
    pub no_docker: bool,
    /// Docker CLI used to follow events (honours DOCKER_HOST)
    #[arg(
        long,
        env = "DHCPNET_DOCKER",
        default_value = "docker",
        value_name = "PATH"
    )]
    pub docker: String,
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
