//! The network config on stdin, as dhcpnet reads it: the complete config of
//! the main plugin (SPEC.md §4: a delegated plugin gets "the complete
//! network configuration passed to the upper plugin ... not just the ipam
//! section"), of which dhcpnet reads `name`, `type`, `master`/`bridge`/
//! `mode`, its own `ipam` section, and per call `runtimeConfig`, `args`,
//! `prevResult` and GC's attachment lists. The main plugin's other keys
//! are its own business and pass unread.
//!
//! Problems are collected, not returned at the first one, each marked
//! whether it stops a cleanup: ADD, CHECK and STATUS refuse any problem,
//! while DEL and GC (best effort, SPEC.md §2) go on past those that do not
//! keep them from finding the right records (an unknown ipam key, a bad
//! timeout), and stop at those that do (no network name, a bad state
//! directory).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use serde_json::{Map, Value};

use super::env::{self, CniArgs};
use super::error::{CniError, Code};
use crate::dhcp::message;
use crate::dhcp::reply::is_unicast;

/// The largest network config dhcpnet reads (GC's attachment lists of a
/// busy host are the largest input: both keys, about 200 bytes per
/// attachment).
pub const MAX_STDIN: usize = 4 << 20;
/// The most attachments in each of GC's lists.
pub const MAX_ATTACHMENTS: usize = 16_384;
/// The most entries of any other list read (`ips` lists, `prevResult`'s
/// `ips` and `interfaces`).
pub const MAX_LIST: usize = 256;
/// The longest `ipam.timeout`, in seconds.
pub const MAX_TIMEOUT_SECS: f64 = 600.0;
/// `ipam.timeout` when the config has none: the `lease` command's.
pub const DEFAULT_TIMEOUT_SECS: f64 = 30.0;
/// This plugin's `type` (the binary's name in the CNI plugin directory).
pub const PLUGIN_TYPE: &str = "dhcpnet";
/// The bridge plugin's bridge when its config names none (plugins
/// main/bridge defaultBrName).
pub const DEFAULT_BRIDGE: &str = "cni0";

/// The ipam keys dhcpnet takes (`type` and these).
pub const IPAM_KEYS: [&str; 7] = [
    "hostname",
    "clientId",
    "requestAddress",
    "timeout",
    "parent",
    "requireDaemon",
    "stateDir",
];

/// dhcpnet's `ipam` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Ipam {
    /// Option 12; default from the attachment (`attachment::hostname`).
    pub hostname: Option<String>,
    /// Option 61 as given (`--client-id`'s forms); default per attachment
    /// (`attachment::client_id`). Every attachment of the network shares a
    /// configured one: it suits a network of one container.
    pub client_id: Option<Vec<u8>>,
    /// An address to ask for (option 50); ADD fails if the server gives
    /// another. Shared by every attachment like `client_id`.
    pub request_address: Option<Ipv4Addr>,
    /// How long ADD waits for a lease.
    pub timeout: Duration,
    /// The host-side interface the lease is renewed and released on when
    /// the container's namespace is gone; default from the main plugin's
    /// `master` or `bridge`.
    pub parent: Option<String>,
    /// Refuse ADD when no daemon would renew the lease (default true).
    pub require_daemon: bool,
    /// dhcpnet's state directory; default /var/lib/dhcpnet. Taken from
    /// the config, not from DHCPNET_STATE_DIR: Podman's cleanup DEL runs
    /// with an environment of conmon's choosing.
    pub state_dir: Option<PathBuf>,
}

impl Default for Ipam {
    fn default() -> Ipam {
        Ipam {
            hostname: None,
            client_id: None,
            request_address: None,
            timeout: Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS),
            parent: None,
            require_daemon: true,
            state_dir: None,
        }
    }
}

/// Where the host side of the attachment is, as the config tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentHint {
    /// `ipam.parent`, the main plugin's `master`, or the bridge.
    Named(String),
    /// macvlan or ipvlan without `master`: they use the interface of the
    /// default route, which only the host can tell.
    DefaultRoute,
    /// A main plugin dhcpnet knows no parent key of.
    Unknown,
}

/// The network as the config describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// `name`: the network, one of the keys of every attachment.
    pub name: String,
    /// The main plugin's `type` (macvlan, ipvlan, bridge, ...).
    pub plugin: String,
    /// The main plugin's `mode` (macvlan bridge/vepa/..., ipvlan l2/l3/l3s).
    pub mode: Option<String>,
    pub parent: ParentHint,
    pub ipam: Ipam,
}

impl Network {
    /// Whether the DISCOVER should ask for broadcast replies: on ipvlan
    /// every slave shares the parent's MAC and a unicast OFFER to an
    /// address not yet configured goes to the master; on a main plugin
    /// dhcpnet does not know it is the safe choice. macvlan, bridge (a
    /// veth), vlan and host-device interfaces have a MAC of their own and
    /// get their unicast replies.
    pub fn wants_broadcast(&self) -> bool {
        !matches!(
            self.plugin.as_str(),
            "macvlan" | "bridge" | "vlan" | "host-device"
        )
    }
}

/// A problem in the config, and whether it stops DEL and GC too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub error: CniError,
    pub blocks_cleanup: bool,
}

fn config_error(msg: impl Into<String>, details: impl Into<String>) -> CniError {
    CniError::new(Code::InvalidConfig, msg, details)
}

/// A JSON value as a message quotes it: compact, at most 60 characters.
fn quote(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

/// Decode stdin into the config object (code 6 when it is not one; the
/// size is checked by whoever read it, see `read_bounded`).
pub fn decode(stdin: &[u8]) -> Result<Map<String, Value>, CniError> {
    if stdin.iter().all(u8::is_ascii_whitespace) {
        return Err(CniError::new(
            Code::Decode,
            "no network config on stdin",
            "the runtime (or main plugin) passes the network config as JSON on stdin",
        ));
    }
    match serde_json::from_slice::<Value>(stdin) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(CniError::new(
            Code::Decode,
            format!(
                "the network config on stdin is not a JSON object but {}",
                quote(&other)
            ),
            "pass the network config object, e.g. {\"cniVersion\": \"1.0.0\", \"name\": ..., \"type\": \"macvlan\", \"ipam\": {\"type\": \"dhcpnet\"}}",
        )),
        Err(e) => Err(CniError::new(
            Code::Decode,
            format!("the network config on stdin is not valid JSON: {e}"),
            "fix the JSON of the network config (conflist)",
        )),
    }
}

/// The config's `cniVersion` as written, if it is a string.
pub fn version_field(doc: &Map<String, Value>) -> Option<&str> {
    field(doc, "cniVersion").and_then(Value::as_str)
}

/// Key `k` of `doc`, None when absent or null (Go reads null as the zero
/// value, and tools that write configs write null for "not set").
pub fn field<'a>(doc: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    doc.get(k).filter(|v| !v.is_null())
}

/// The network, with every problem found.
pub fn network(doc: &Map<String, Value>) -> (Network, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut push = |error: CniError, blocks_cleanup: bool| {
        problems.push(Problem {
            error,
            blocks_cleanup,
        })
    };

    let name = match field(doc, "name") {
        Some(Value::String(s)) => match env::validate_id("the network name", s) {
            Ok(()) => s.clone(),
            Err(why) => {
                push(
                    config_error(why, "fix \"name\" in the network config"),
                    true,
                );
                String::new()
            }
        },
        None => {
            push(
                config_error(
                    "the network config has no \"name\"",
                    "give the network a name",
                ),
                true,
            );
            String::new()
        }
        Some(v) => {
            push(
                config_error(
                    format!("\"name\" is {}, not a string", quote(v)),
                    "give the network a name",
                ),
                true,
            );
            String::new()
        }
    };

    let plugin = match field(doc, "type") {
        Some(Value::String(s)) if s == PLUGIN_TYPE => {
            push(
                config_error(
                    "dhcpnet is an IPAM plugin, not a main plugin",
                    "put it under a main plugin: {\"type\": \"macvlan\", \"master\": \"eth0\", \"ipam\": {\"type\": \"dhcpnet\"}}",
                ),
                false,
            );
            s.clone()
        }
        Some(Value::String(s)) if !s.is_empty() && s.len() <= env::MAX_ID && !s.contains('/') => {
            s.clone()
        }
        Some(v @ Value::String(_)) => {
            push(
                config_error(
                    format!(
                        "the main plugin \"type\" {} is not a plugin's name",
                        quote(v)
                    ),
                    "\"type\" names the main plugin's binary (macvlan, ipvlan, bridge)",
                ),
                false,
            );
            String::new()
        }
        _ => {
            push(
                config_error(
                    "the network config has no main plugin \"type\"",
                    "dhcpnet is called by a main plugin (macvlan, ipvlan, bridge) with that plugin's config",
                ),
                false,
            );
            String::new()
        }
    };
    // The main plugin's own keys, read only when they are what that
    // plugin would take (it refuses the rest itself).
    let str_key = |k: &str| doc.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let ifname_key = |k: &str| str_key(k).filter(|s| env::validate_ifname(s).is_ok());
    let mode = str_key("mode")
        .filter(|m| m.len() <= 16)
        .map(str::to_string);
    if plugin == "ipvlan"
        && let Some(m) = mode.as_deref()
        && !m.eq_ignore_ascii_case("l2")
    {
        push(
            config_error(
                format!("ipvlan mode {m} passes no broadcasts, so DHCP cannot work on it"),
                "use \"mode\": \"l2\" (the default) for a network whose addresses come from DHCP",
            ),
            false,
        );
    }

    let ipam = match field(doc, "ipam") {
        Some(Value::Object(m)) => ipam(m, &mut push),
        None => {
            push(
                config_error(
                    "the network config has no \"ipam\" section",
                    "add \"ipam\": {\"type\": \"dhcpnet\"} to the main plugin's config",
                ),
                false,
            );
            Ipam::default()
        }
        Some(v) => {
            push(
                config_error(
                    format!("\"ipam\" is {}, not an object", quote(v)),
                    "write \"ipam\": {\"type\": \"dhcpnet\"}",
                ),
                false,
            );
            Ipam::default()
        }
    };

    let parent = if let Some(p) = &ipam.parent {
        ParentHint::Named(p.clone())
    } else if let Some(m) = ifname_key("master") {
        ParentHint::Named(m.to_string())
    } else if plugin == "bridge" {
        ParentHint::Named(ifname_key("bridge").unwrap_or(DEFAULT_BRIDGE).to_string())
    } else if plugin == "macvlan" || plugin == "ipvlan" {
        ParentHint::DefaultRoute
    } else {
        ParentHint::Unknown
    };

    (
        Network {
            name,
            plugin,
            mode,
            parent,
            ipam,
        },
        problems,
    )
}

fn ipam(m: &Map<String, Value>, push: &mut impl FnMut(CniError, bool)) -> Ipam {
    let mut ipam = Ipam::default();
    match field(m, "type") {
        Some(Value::String(t)) if t == PLUGIN_TYPE => {}
        other => push(
            config_error(
                format!(
                    "ipam.type is {}, not \"dhcpnet\"",
                    other.map(quote).unwrap_or_else(|| "missing".into())
                ),
                "dhcpnet was called for another IPAM plugin's config; write \"ipam\": {\"type\": \"dhcpnet\"}",
            ),
            false,
        ),
    }
    let bad = |key: &str, v: &Value, want: &str| {
        config_error(
            format!("ipam.{key} is {}: {want}", quote(v)),
            format!("fix ipam.{key} in the network config"),
        )
    };
    // A key set to null is a key not set (Go reads null as the zero value).
    for (key, v) in m.iter().filter(|(_, v)| !v.is_null()) {
        match key.as_str() {
            "type" => {}
            "hostname" => match v.as_str().map(|s| (s, message::validate_hostname(s))) {
                Some((s, Ok(()))) => ipam.hostname = Some(s.to_string()),
                Some((_, Err(why))) => push(bad(key, v, &why), false),
                None => push(
                    bad(key, v, "it must be a host name such as \"web-1\""),
                    false,
                ),
            },
            "clientId" => match v.as_str().map(message::parse_client_id) {
                Some(Ok(id)) => ipam.client_id = Some(id),
                Some(Err(why)) => push(bad(key, v, &why), false),
                None => push(
                    bad(
                        key,
                        v,
                        "it must be a string: text, or hex octets such as \"01:02:42:0a:00:05\"",
                    ),
                    false,
                ),
            },
            "requestAddress" => match v.as_str().and_then(|s| s.parse::<Ipv4Addr>().ok()) {
                Some(a) if is_unicast(a) => ipam.request_address = Some(a),
                _ => push(
                    bad(
                        key,
                        v,
                        "it must be a unicast IPv4 address such as \"192.168.1.60\"",
                    ),
                    false,
                ),
            },
            "timeout" => match v.as_f64() {
                Some(s) if s > 0.0 && s <= MAX_TIMEOUT_SECS => {
                    ipam.timeout = Duration::from_secs_f64(s)
                }
                _ => push(
                    bad(
                        key,
                        v,
                        &format!(
                            "it must be a number of seconds over 0 and at most {MAX_TIMEOUT_SECS}"
                        ),
                    ),
                    false,
                ),
            },
            "parent" => match v.as_str().map(|s| (s, env::validate_ifname(s))) {
                Some((s, Ok(()))) => ipam.parent = Some(s.to_string()),
                Some((_, Err(why))) => push(bad(key, v, &why), false),
                None => push(
                    bad(key, v, "it must be the name of a host interface"),
                    false,
                ),
            },
            "requireDaemon" => match v.as_bool() {
                Some(b) => ipam.require_daemon = b,
                None => push(bad(key, v, "it must be true or false"), false),
            },
            "stateDir" => match v.as_str() {
                Some(s) if s.starts_with('/') && s.len() <= env::MAX_PATH => {
                    ipam.state_dir = Some(PathBuf::from(s))
                }
                _ => push(bad(key, v, "it must be an absolute path"), true),
            },
            _ => push(
                CniError::new(
                    Code::UnsupportedField,
                    format!("ipam has the unsupported field \"{key}\": {}", quote(v)),
                    format!("dhcpnet's ipam keys are type, {}", IPAM_KEYS.join(", ")),
                ),
                false,
            ),
        }
    }
    ipam
}

/// An address asked for in one of the config's or the call's lists
/// (`runtimeConfig.ips`, `args.cni.ips`, CNI_ARGS `IP`): at most one IPv4
/// address, optionally with a prefix (which the server decides, so it is
/// not kept). IPv6 entries are refused rather than dropped: nothing would
/// give the container the address it was promised.
fn one_ipv4<'a>(
    what: &str,
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Ipv4Addr>, CniError> {
    let mut found = None;
    for (n, s) in entries.into_iter().enumerate() {
        if n == MAX_LIST {
            return Err(config_error(
                format!("{what} has more than {MAX_LIST} entries"),
                "",
            ));
        }
        let ip = s
            .parse::<IpAddr>()
            .ok()
            .or_else(|| s.parse::<IpNet>().ok().map(|n| n.addr()));
        match ip {
            Some(IpAddr::V4(a)) if is_unicast(a) => {
                if found.is_some() {
                    return Err(CniError::new(
                        Code::UnsupportedField,
                        format!(
                            "{what} asks for more than one IPv4 address: \"{s}\" is the second"
                        ),
                        "dhcpnet leases one address per interface: ask for one",
                    ));
                }
                found = Some(a);
            }
            Some(IpAddr::V6(_)) => {
                return Err(CniError::new(
                    Code::UnsupportedField,
                    format!("{what} asks for the IPv6 address \"{s}\""),
                    "dhcpnet leases IPv4 addresses by DHCP only: leave the IPv6 address out",
                ));
            }
            _ => {
                return Err(config_error(
                    format!("{what} has {s:?}, which is not a unicast IP address"),
                    "give addresses as \"192.168.1.60\" or \"192.168.1.60/24\"",
                ));
            }
        }
    }
    Ok(found)
}

fn string_list<'a>(what: &str, v: &'a Value) -> Result<Vec<&'a str>, CniError> {
    let Some(a) = v.as_array() else {
        return Err(config_error(
            format!("{what} is {}, not a list", quote(v)),
            "",
        ));
    };
    if a.len() > MAX_LIST {
        return Err(config_error(
            format!("{what} has more than {MAX_LIST} entries"),
            "",
        ));
    }
    a.iter()
        .map(|e| {
            e.as_str()
                .ok_or_else(|| config_error(format!("{what} has {}, not a string", quote(e)), ""))
        })
        .collect()
}

/// Where an address asked for came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressSource {
    /// `runtimeConfig.ips` (the `ips` capability; Podman with several
    /// `--ip`).
    RuntimeConfig,
    /// `args.cni.ips` (CONVENTIONS.md).
    Args,
    /// CNI_ARGS `IP` (Podman's one `--ip`, Multus's annotation).
    CniArgs,
    /// `ipam.requestAddress`.
    Config,
    /// The address this attachment held before (a DEL and ADD restart).
    Previous,
}

impl AddressSource {
    pub fn describe(self) -> &'static str {
        match self {
            AddressSource::RuntimeConfig => "runtimeConfig.ips",
            AddressSource::Args => "args.cni.ips",
            AddressSource::CniArgs => "CNI_ARGS IP",
            AddressSource::Config => "ipam.requestAddress",
            AddressSource::Previous => "the address this attachment held before",
        }
    }
}

/// The address asked for by the call or the config, the most specific
/// first: `runtimeConfig.ips`, `args.cni.ips`, CNI_ARGS `IP` (CONVENTIONS.md:
/// `args` wins over CNI_ARGS), `ipam.requestAddress`.
pub fn asked_address(
    doc: &Map<String, Value>,
    args: &CniArgs,
    ipam: &Ipam,
) -> Result<Option<(Ipv4Addr, AddressSource)>, CniError> {
    if let Some(v) = field(doc, "runtimeConfig")
        .and_then(|r| r.get("ips"))
        .filter(|v| !v.is_null())
    {
        let what = "runtimeConfig.ips";
        if let Some(a) = one_ipv4(what, string_list(what, v)?)? {
            return Ok(Some((a, AddressSource::RuntimeConfig)));
        }
    }
    if let Some(v) = field(doc, "args")
        .and_then(|a| a.get("cni"))
        .and_then(|c| c.get("ips"))
        .filter(|v| !v.is_null())
    {
        let what = "args.cni.ips";
        if let Some(a) = one_ipv4(what, string_list(what, v)?)? {
            return Ok(Some((a, AddressSource::Args)));
        }
    }
    if let Some(s) = args.get(env::IP) {
        let asked =
            one_ipv4("CNI_ARGS IP", s.split(',').filter(|p| !p.is_empty())).map_err(|e| {
                CniError {
                    code: Code::InvalidEnv,
                    ..e
                }
            })?;
        if let Some(a) = asked {
            return Ok(Some((a, AddressSource::CniArgs)));
        }
    }
    Ok(ipam.request_address.map(|a| (a, AddressSource::Config)))
}

/// One interface of a previous result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrevInterface {
    pub name: String,
    pub sandbox: Option<String>,
}

/// One address of a previous result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrevIp {
    /// As written: address and prefix (host bits kept).
    pub address: IpNet,
    /// Index into `interfaces`.
    pub interface: Option<usize>,
}

/// What dhcpnet reads of `prevResult` (the runtime's cached ADD result on
/// CHECK and DEL): any version's layout, `version` fields ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrevResult {
    pub interfaces: Vec<PrevInterface>,
    pub ips: Vec<PrevIp>,
}

impl PrevResult {
    /// The IPv4 addresses the result puts on the container's interface
    /// `ifname`: those whose `interface` index names an interface of that
    /// name inside the container (a `sandbox`), and those with no index (an
    /// abbreviated result cannot say, so they count).
    pub fn addresses_on(&self, ifname: &str) -> Vec<Ipv4Net> {
        self.ips
            .iter()
            .filter(|ip| match ip.interface {
                None => true,
                Some(i) => self.interfaces.get(i).is_some_and(|f| {
                    f.name == ifname && f.sandbox.as_deref().is_some_and(|s| !s.is_empty())
                }),
            })
            .filter_map(|ip| match ip.address {
                IpNet::V4(n) => Some(n),
                IpNet::V6(_) => None,
            })
            .collect()
    }
}

/// Parse `prevResult`.
pub fn prev_result(v: &Value) -> Result<PrevResult, CniError> {
    let bad = |why: String| {
        config_error(
            format!("prevResult {why}"),
            "the runtime passes its cached ADD result as prevResult; delete the cache entry if it is corrupt",
        )
    };
    let Some(m) = v.as_object() else {
        return Err(bad(format!("is {}, not an object", quote(v))));
    };
    let list = |key: &str| -> Result<&[Value], CniError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) if a.len() <= MAX_LIST => Ok(a),
            Some(Value::Array(_)) => Err(bad(format!("has more than {MAX_LIST} {key}"))),
            Some(other) => Err(bad(format!("{key} is {}, not a list", quote(other)))),
        }
    };
    let mut out = PrevResult::default();
    for f in list("interfaces")? {
        let name = f
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("has the interface {} without a name", quote(f))))?;
        out.interfaces.push(PrevInterface {
            name: name.to_string(),
            sandbox: f.get("sandbox").and_then(Value::as_str).map(str::to_string),
        });
    }
    for ip in list("ips")? {
        let address = ip
            .get("address")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<IpNet>().ok())
            .ok_or_else(|| bad(format!("has {} without an address in CIDR form", quote(ip))))?;
        let interface = match ip.get("interface") {
            None | Some(Value::Null) => None,
            Some(i) => Some(
                i.as_u64()
                    .and_then(|i| usize::try_from(i).ok())
                    .ok_or_else(|| bad(format!("has the interface index {}", quote(i))))?,
            ),
        };
        out.ips.push(PrevIp { address, interface });
    }
    Ok(out)
}

/// GC's valid attachments: the union of `cni.dev/valid-attachments` (the
/// spec's key) and `cni.dev/attachments` (what the spec-v1.1.0 tag named
/// it; libcni sends both, cni#1101), as (container id, ifname) pairs.
///
/// Strict, since GC releases what is not listed: neither key, a list over
/// `MAX_ATTACHMENTS`, or an entry without both strings refuses the whole
/// GC (code 7) and releases nothing. An empty list is meant: every
/// attachment of the network is stale.
pub fn valid_attachments(doc: &Map<String, Value>) -> Result<BTreeSet<(String, String)>, CniError> {
    const KEYS: [&str; 2] = ["cni.dev/valid-attachments", "cni.dev/attachments"];
    let mut set = BTreeSet::new();
    let mut seen = false;
    for key in KEYS {
        let Some(v) = field(doc, key) else { continue };
        seen = true;
        let bad = |why: String| {
            config_error(
                format!("{key} {why}"),
                "GC released nothing; the runtime lists the attachments it still holds as [{\"containerID\": ..., \"ifname\": ...}]",
            )
        };
        let Some(list) = v.as_array() else {
            return Err(bad(format!("is {}, not a list", quote(v))));
        };
        if list.len() > MAX_ATTACHMENTS {
            return Err(bad(format!(
                "has {} entries, over dhcpnet's limit of {MAX_ATTACHMENTS}",
                list.len()
            )));
        }
        for a in list {
            let field = |k: &str, max: usize| {
                a.get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty() && s.len() <= max)
            };
            match (
                field("containerID", env::MAX_ID),
                field("ifname", env::MAX_IFNAME),
            ) {
                (Some(c), Some(i)) => {
                    set.insert((c.to_string(), i.to_string()));
                }
                _ => {
                    return Err(bad(format!(
                        "has {}, not {{\"containerID\", \"ifname\"}}",
                        quote(a)
                    )));
                }
            }
        }
    }
    if !seen {
        return Err(config_error(
            "GC was called without cni.dev/valid-attachments",
            "GC releases every lease not listed there, so dhcpnet refuses it without the list; \
             pass an empty list to release every attachment of this network",
        ));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn macvlan() -> Value {
        json!({"cniVersion": "1.0.0", "name": "lan", "type": "macvlan", "master": "eth0",
               "ipam": {"type": "dhcpnet"}})
    }

    #[test]
    fn a_plain_config_has_no_problem_and_the_defaults() {
        let (n, p) = network(&doc(macvlan()));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(n.name, "lan");
        assert_eq!(n.plugin, "macvlan");
        assert_eq!(n.parent, ParentHint::Named("eth0".into()));
        assert_eq!(n.ipam, Ipam::default());
        assert_eq!(n.ipam.timeout, Duration::from_secs(30));
        assert!(n.ipam.require_daemon);
        assert!(!n.wants_broadcast());
    }

    #[test]
    fn every_ipam_key_is_read() {
        let (n, p) = network(&doc(
            json!({"name": "lan", "type": "ipvlan", "master": "eth0",
            "ipam": {"type": "dhcpnet", "hostname": "web-1", "clientId": "01:02:42:0a:00:05",
                     "requestAddress": "192.168.77.60", "timeout": 2.5, "parent": "br0",
                     "requireDaemon": false, "stateDir": "/tmp/dn"}}),
        ));
        assert!(p.is_empty(), "{p:?}");
        let i = &n.ipam;
        assert_eq!(i.hostname.as_deref(), Some("web-1"));
        assert_eq!(i.client_id, Some(vec![1, 2, 0x42, 10, 0, 5]));
        assert_eq!(i.request_address, Some(Ipv4Addr::new(192, 168, 77, 60)));
        assert_eq!(i.timeout, Duration::from_millis(2500));
        assert_eq!(i.parent.as_deref(), Some("br0"));
        assert!(!i.require_daemon);
        assert_eq!(i.state_dir, Some(PathBuf::from("/tmp/dn")));
        // ipam.parent wins over master; ipvlan asks for broadcast replies.
        assert_eq!(n.parent, ParentHint::Named("br0".into()));
        assert!(n.wants_broadcast());
    }

    #[test]
    fn a_key_set_to_null_is_a_key_not_set() {
        let (n, p) = network(&doc(
            json!({"cniVersion": "1.0.0", "name": "lan", "type": "macvlan", "master": null,
            "ipam": {"type": "dhcpnet", "hostname": null, "timeout": null, "stateDir": null, "other": null}}),
        ));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(n.ipam, Ipam::default());
        assert_eq!(n.parent, ParentHint::DefaultRoute);
        let d = doc(json!({"cni.dev/valid-attachments": null, "cni.dev/attachments": []}));
        assert!(valid_attachments(&d).unwrap().is_empty());
        assert!(valid_attachments(&doc(json!({"cni.dev/valid-attachments": null}))).is_err());
        let d = doc(json!({"runtimeConfig": {"ips": null}, "args": null}));
        assert_eq!(
            asked_address(&d, &CniArgs::default(), &Ipam::default()).unwrap(),
            None
        );
        let (_, p) = network(&doc(
            json!({"name": null, "type": "macvlan", "ipam": {"type": "dhcpnet"}}),
        ));
        assert!(p[0].error.msg.contains("has no \"name\""), "{p:?}");
    }

    #[test]
    fn the_parent_comes_from_master_the_bridge_or_the_default_route() {
        let parent = |v: Value| network(&doc(v)).0.parent;
        assert_eq!(
            parent(
                json!({"name": "n", "type": "bridge", "bridge": "dnbr0", "ipam": {"type": "dhcpnet"}})
            ),
            ParentHint::Named("dnbr0".into())
        );
        assert_eq!(
            parent(json!({"name": "n", "type": "bridge", "ipam": {"type": "dhcpnet"}})),
            ParentHint::Named("cni0".into())
        );
        assert_eq!(
            parent(json!({"name": "n", "type": "macvlan", "ipam": {"type": "dhcpnet"}})),
            ParentHint::DefaultRoute
        );
        assert_eq!(
            parent(
                json!({"name": "n", "type": "ipvlan", "master": "", "ipam": {"type": "dhcpnet"}})
            ),
            ParentHint::DefaultRoute
        );
        assert_eq!(
            parent(json!({"name": "n", "type": "host-device", "ipam": {"type": "dhcpnet"}})),
            ParentHint::Unknown
        );
        // A master no interface could have is not taken for one.
        assert_eq!(
            parent(
                json!({"name": "n", "type": "macvlan", "master": "x".repeat(300), "ipam": {"type": "dhcpnet"}})
            ),
            ParentHint::DefaultRoute
        );
    }

    fn only_problem(v: Value) -> Problem {
        let (_, p) = network(&doc(v));
        assert_eq!(p.len(), 1, "{p:?}");
        p.into_iter().next().unwrap()
    }

    fn with_ipam(ipam: Value) -> Value {
        json!({"name": "lan", "type": "macvlan", "ipam": ipam})
    }

    #[test]
    fn an_unknown_ipam_key_is_an_unsupported_field_naming_key_and_value() {
        let p = only_problem(with_ipam(
            json!({"type": "dhcpnet", "subnet": "10.0.0.0/8"}),
        ));
        assert_eq!(p.error.code, Code::UnsupportedField);
        assert_eq!(
            p.error.msg,
            r#"dhcpnet: ipam has the unsupported field "subnet": "10.0.0.0/8""#
        );
        assert!(
            p.error
                .details
                .contains("hostname, clientId, requestAddress")
        );
        assert!(!p.blocks_cleanup);
    }

    #[test]
    fn each_bad_ipam_value_is_an_invalid_config_naming_the_key() {
        for (key, v) in [
            ("hostname", json!("-web")),
            ("hostname", json!(7)),
            ("clientId", json!("")),
            ("clientId", json!(["x"])),
            ("requestAddress", json!("10.0.0.300")),
            ("requestAddress", json!("224.0.0.1")),
            ("requestAddress", json!("fe80::1")),
            ("timeout", json!(0)),
            ("timeout", json!(601)),
            ("timeout", json!("30")),
            ("parent", json!("a b")),
            ("parent", json!(true)),
            ("requireDaemon", json!("yes")),
            ("stateDir", json!("relative/dir")),
            ("stateDir", json!(1)),
        ] {
            let mut ipam = json!({"type": "dhcpnet"});
            ipam[key] = v.clone();
            let p = only_problem(with_ipam(ipam));
            assert_eq!(p.error.code, Code::InvalidConfig, "{key} {v}");
            assert!(
                p.error.msg.starts_with(&format!("dhcpnet: ipam.{key} is ")),
                "{}",
                p.error
            );
            assert_eq!(p.blocks_cleanup, key == "stateDir", "{key}");
        }
    }

    #[test]
    fn what_is_not_a_dhcpnet_network_config_is_said_so() {
        let cases = [
            (
                json!({"type": "macvlan", "ipam": {"type": "dhcpnet"}}),
                "has no \"name\"",
                true,
            ),
            (
                json!({"name": 5, "type": "macvlan", "ipam": {"type": "dhcpnet"}}),
                "\"name\" is 5",
                true,
            ),
            (
                json!({"name": "-x", "type": "macvlan", "ipam": {"type": "dhcpnet"}}),
                "the network name \"-x\"",
                true,
            ),
            (
                json!({"name": "n", "ipam": {"type": "dhcpnet"}}),
                "no main plugin",
                false,
            ),
            (
                json!({"name": "n", "type": "dhcpnet", "ipam": {"type": "dhcpnet"}}),
                "not a main plugin",
                false,
            ),
            (
                json!({"name": "n", "type": "macvlan"}),
                "no \"ipam\" section",
                false,
            ),
            (
                json!({"name": "n", "type": "macvlan", "ipam": []}),
                "\"ipam\" is [], not an object",
                false,
            ),
            (
                json!({"name": "n", "type": "macvlan", "ipam": {"type": "dhcp"}}),
                "ipam.type is \"dhcp\"",
                false,
            ),
            (
                json!({"name": "n", "type": "macvlan", "ipam": {}}),
                "ipam.type is missing",
                false,
            ),
            (
                json!({"name": "n", "type": "ipvlan", "mode": "l3", "ipam": {"type": "dhcpnet"}}),
                "ipvlan mode l3 passes no broadcasts",
                false,
            ),
        ];
        for (v, said, blocks) in cases {
            let p = only_problem(v.clone());
            assert_eq!(p.error.code, Code::InvalidConfig, "{v}");
            assert!(p.error.msg.contains(said), "{v}: {}", p.error);
            assert_eq!(p.blocks_cleanup, blocks, "{v}");
        }
        assert!(
            network(&doc(
                json!({"name": "n", "type": "ipvlan", "mode": "L2", "ipam": {"type": "dhcpnet"}})
            ))
            .1
            .is_empty()
        );
    }

    #[test]
    fn stdin_that_is_not_a_json_object_is_a_decode_failure() {
        for (bad, said) in [
            (&b""[..], "no network config on stdin"),
            (b"  \n", "no network config on stdin"),
            (b"{", "not valid JSON"),
            (b"[1]", "not a JSON object but [1]"),
            (b"\"x\"", "not a JSON object"),
            (b"\xff", "not valid JSON"),
        ] {
            let e = decode(bad).unwrap_err();
            assert_eq!(e.code, Code::Decode);
            assert!(e.msg.contains(said), "{e}");
        }
        assert!(decode(br#"{"a":1}"#).is_ok());
    }

    #[test]
    fn the_asked_address_is_the_most_specific_one_and_its_prefix_is_dropped() {
        let ipam = Ipam {
            request_address: Some(Ipv4Addr::new(10, 0, 0, 4)),
            ..Ipam::default()
        };
        let args = CniArgs::parse("IP=10.0.0.3/24").unwrap();
        let full = doc(
            json!({"runtimeConfig": {"ips": ["10.0.0.1/24"]}, "args": {"cni": {"ips": ["10.0.0.2"]}}}),
        );
        let a = |d: &Map<String, Value>, args: &CniArgs, ipam: &Ipam| {
            asked_address(d, args, ipam).unwrap()
        };
        assert_eq!(
            a(&full, &args, &ipam),
            Some((Ipv4Addr::new(10, 0, 0, 1), AddressSource::RuntimeConfig))
        );
        let no_rt = doc(json!({"args": {"cni": {"ips": ["10.0.0.2"]}}}));
        assert_eq!(
            a(&no_rt, &args, &ipam),
            Some((Ipv4Addr::new(10, 0, 0, 2), AddressSource::Args))
        );
        let none = Map::new();
        assert_eq!(
            a(&none, &args, &ipam),
            Some((Ipv4Addr::new(10, 0, 0, 3), AddressSource::CniArgs))
        );
        assert_eq!(
            a(&none, &CniArgs::default(), &ipam),
            Some((Ipv4Addr::new(10, 0, 0, 4), AddressSource::Config))
        );
        assert_eq!(a(&none, &CniArgs::default(), &Ipam::default()), None);
        // An empty list asks for nothing and the next source speaks.
        let empty = doc(json!({"runtimeConfig": {"ips": []}}));
        assert_eq!(
            a(&empty, &args, &ipam).map(|x| x.1),
            Some(AddressSource::CniArgs)
        );
    }

    #[test]
    fn an_asked_ipv6_or_second_address_is_refused_naming_it() {
        let e = asked_address(
            &doc(json!({"runtimeConfig": {"ips": ["10.0.0.1", "2001:db8::5/64"]}})),
            &CniArgs::default(),
            &Ipam::default(),
        )
        .unwrap_err();
        assert_eq!(e.code, Code::UnsupportedField);
        assert!(
            e.msg
                .contains("runtimeConfig.ips asks for the IPv6 address \"2001:db8::5/64\""),
            "{e}"
        );
        let e = asked_address(
            &doc(json!({"args": {"cni": {"ips": ["10.0.0.1", "10.0.0.2"]}}})),
            &CniArgs::default(),
            &Ipam::default(),
        )
        .unwrap_err();
        assert_eq!(e.code, Code::UnsupportedField);
        assert!(e.msg.contains("\"10.0.0.2\" is the second"), "{e}");
        let e = asked_address(
            &Map::new(),
            &CniArgs::parse("IP=10.0.0.1,10.0.0.x").unwrap(),
            &Ipam::default(),
        )
        .unwrap_err();
        assert_eq!(e.code, Code::InvalidEnv);
        assert!(e.msg.contains("CNI_ARGS IP has \"10.0.0.x\""), "{e}");
        let e = asked_address(
            &doc(json!({"runtimeConfig": {"ips": "10.0.0.1"}})),
            &CniArgs::default(),
            &Ipam::default(),
        )
        .unwrap_err();
        assert_eq!(e.code, Code::InvalidConfig);
        let long: Vec<String> = (0..=MAX_LIST).map(|_| "2001:db8::1".to_string()).collect();
        let e = asked_address(
            &doc(json!({"runtimeConfig": {"ips": long}})),
            &CniArgs::default(),
            &Ipam::default(),
        )
        .unwrap_err();
        assert!(e.msg.contains("more than 256"), "{e}");
    }

    #[test]
    fn a_previous_result_of_any_version_gives_the_addresses_on_the_interface() {
        let p = prev_result(&json!({"cniVersion": "0.4.0",
            "interfaces": [{"name": "dnlab0"}, {"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": "/run/netns/c"}],
            "ips": [{"version": "4", "address": "192.168.77.57/24", "gateway": "192.168.77.1", "interface": 1},
                    {"version": "4", "address": "10.9.9.9/8", "interface": 0},
                    {"version": "6", "address": "2001:db8::5/64", "interface": 1}]})).unwrap();
        assert_eq!(
            p.addresses_on("eth0"),
            vec!["192.168.77.57/24".parse::<Ipv4Net>().unwrap()]
        );
        assert!(
            p.addresses_on("dnlab0").is_empty(),
            "a host-side interface is not the container's"
        );
        let abbreviated = prev_result(&json!({"ips": [{"address": "192.168.77.57/24"}]})).unwrap();
        assert_eq!(abbreviated.addresses_on("net1").len(), 1);
        assert_eq!(prev_result(&json!({})).unwrap(), PrevResult::default());
    }

    #[test]
    fn a_malformed_previous_result_is_an_invalid_config() {
        for bad in [
            json!([]),
            json!({"ips": {}}),
            json!({"ips": [{"address": "192.168.77.57"}]}),
            json!({"ips": [{"address": "192.168.77.57/24", "interface": -1}]}),
            json!({"interfaces": [{"mac": "x"}]}),
            json!({"ips": vec![json!({"address": "10.0.0.1/8"}); MAX_LIST + 1]}),
        ] {
            assert_eq!(
                prev_result(&bad).unwrap_err().code,
                Code::InvalidConfig,
                "{bad}"
            );
        }
    }

    #[test]
    fn gc_reads_both_attachment_keys_and_refuses_without_either_or_with_a_bad_entry() {
        let set = valid_attachments(&doc(json!({
            "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}],
            "cni.dev/attachments": [{"containerID": "c1", "ifname": "eth0"}, {"containerID": "c2", "ifname": "net1"}]
        })))
        .unwrap();
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            [
                ("c1".to_string(), "eth0".to_string()),
                ("c2".into(), "net1".into())
            ]
        );
        let old = valid_attachments(&doc(json!({"cni.dev/attachments": []}))).unwrap();
        assert!(old.is_empty());
        let e = valid_attachments(&Map::new()).unwrap_err();
        assert_eq!(e.code, Code::InvalidConfig);
        assert!(e.msg.contains("without cni.dev/valid-attachments"), "{e}");
        for bad in [
            json!({"cni.dev/valid-attachments": {}}),
            json!({"cni.dev/valid-attachments": [{"containerID": "c1"}]}),
            json!({"cni.dev/valid-attachments": [{"containerID": "c1", "ifname": ""}]}),
            json!({"cni.dev/valid-attachments": [], "cni.dev/attachments": [{"ifname": "eth0"}]}),
            json!({"cni.dev/valid-attachments": vec![json!({"containerID": "c", "ifname": "e"}); MAX_ATTACHMENTS + 1]}),
        ] {
            let e = valid_attachments(&doc(bad.clone())).unwrap_err();
            assert_eq!(e.code, Code::InvalidConfig, "{bad}");
            assert!(e.details.starts_with("GC released nothing"), "{e}");
        }
    }
}
