//! dhcpnet as a CNI IPAM plugin (CNI spec 1.1, SPEC.md of
//! containernetworking/cni): the protocol, pure. A call is read from an
//! environment and stdin bytes handed in (`parse`), the answer is rendered
//! to the bytes for stdout and an exit status (`Outcome`); leasing,
//! records and netns work are the caller's.
//!
//! Runtimes (Podman's CNI backend, containerd, CRI-O, Multus) run the main
//! plugin (macvlan, ipvlan, bridge), which runs `dhcpnet` from CNI_PATH with
//! the same environment and stdin. dhcpnet is in CNI mode when CNI_COMMAND
//! is set and it has no arguments (`is_cni_invocation`); runtimes exec a
//! plugin with none.
//!
//! Limits (over one, the call is refused with an error naming it):
//!
//! | what | limit |
//! |---|---|
//! | stdin (the network config) | 4 MiB (`config::MAX_STDIN`) |
//! | a CNI_* variable | 32 KiB (`env::MAX_VALUE`) |
//! | CNI_ARGS pairs | 64 (`env::MAX_ARGS`) |
//! | container id, network name | 255 characters (`env::MAX_ID`) |
//! | CNI_IFNAME, ipam.parent | 15 characters (`env::MAX_IFNAME`) |
//! | CNI_NETNS, ipam.stateDir | 4095 bytes (`env::MAX_PATH`) |
//! | each GC attachment list | 16,384 entries (`config::MAX_ATTACHMENTS`) |
//! | any other list (`ips`, `prevResult`) | 256 entries (`config::MAX_LIST`) |
//! | ipam.timeout | over 0 and at most 600 s, default 30 (`config`) |
//! | JSON nesting | 128 levels (serde_json's own limit) |
//!
//! What each command requires and does:
//!
//! | command | variables | config | output |
//! |---|---|---|---|
//! | VERSION | CNI_COMMAND | stdin optional | `{"cniVersion", "supportedVersions"}` |
//! | ADD | + CONTAINERID, NETNS, IFNAME | all valid | the result (`result::render`) |
//! | CHECK (0.4.0+) | + CONTAINERID, NETNS, IFNAME | all valid, prevResult | nothing |
//! | DEL | + CONTAINERID, IFNAME | best effort | nothing |
//! | GC (1.1.0+) | CNI_COMMAND | attachment lists | nothing |
//! | STATUS (1.1.0+) | CNI_COMMAND | all valid | nothing |
//!
//! DEL is best effort (SPEC.md §2): it goes on with an unknown cniVersion,
//! a bad CNI_ARGS or CNI_NETNS, unknown ipam keys or bad values of keys it
//! does not need (each a warning for stderr), and stops only at what keeps
//! it from finding the attachment's record: no container id, interface or
//! network name, or a bad `ipam.stateDir`.

pub mod attachment;
pub mod config;
pub mod env;
pub mod error;
pub mod result;
pub mod verdict;
pub mod version;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::net::Ipv4Addr;

use serde_json::{Map, Value};

pub use attachment::AttachmentId;
pub use config::{AddressSource, Network, PrevResult};
pub use env::{CniArgs, Command, Env};
pub use error::{CniError, Code};
pub use version::{Version, VersionAnswer};

/// Whether the process was started as a CNI plugin: CNI_COMMAND set to
/// something and no arguments (`argc` counts argv[0]). A person running
/// `dhcpnet leases` with CNI_COMMAND left in the shell still gets the CLI.
pub fn is_cni_invocation(cni_command: Option<&OsStr>, argc: usize) -> bool {
    cni_command.is_some_and(|c| !c.is_empty()) && argc <= 1
}

/// Read stdin up to `config::MAX_STDIN` bytes: code 5 when reading fails,
/// 7 when there is more.
pub fn read_bounded(r: &mut impl Read) -> Result<Vec<u8>, CniError> {
    let mut buf = Vec::new();
    let limit = config::MAX_STDIN as u64 + 1;
    r.take(limit).read_to_end(&mut buf).map_err(|e| {
        CniError::new(
            Code::Io,
            format!("reading the network config from stdin failed: {e}"),
            "",
        )
    })?;
    if buf.len() > config::MAX_STDIN {
        return Err(too_large());
    }
    Ok(buf)
}

fn too_large() -> CniError {
    CniError::new(
        Code::InvalidConfig,
        format!(
            "the network config on stdin is over {} MiB, dhcpnet's limit",
            config::MAX_STDIN >> 20
        ),
        "a network config is a few hundred bytes; GC's attachment lists hold about 16,000 attachments at most",
    )
}

/// ADD: lease for the attachment and print the result.
#[derive(Debug, Clone, PartialEq)]
pub struct Add {
    pub version: Version,
    pub id: AttachmentId,
    pub netns: String,
    pub network: Network,
    pub args: CniArgs,
    /// The address the call or config asks for (`attachment::address_to_ask`
    /// adds the one held before).
    pub asked: Option<(Ipv4Addr, AddressSource)>,
}

/// CHECK: is the attachment's lease still what the runtime was told.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub version: Version,
    pub id: AttachmentId,
    pub netns: String,
    pub network: Network,
    pub prev_result: PrevResult,
}

/// DEL: release the attachment's lease, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Del {
    /// None when the config named a version dhcpnet does not speak (DEL
    /// goes on: nothing was leased under it).
    pub version: Option<Version>,
    pub id: AttachmentId,
    /// Absent when the namespace is gone (the release is from the host).
    pub netns: Option<String>,
    pub network: Network,
    /// The runtime's cached result, when it passed one that parses.
    pub prev_result: Option<PrevResult>,
}

/// GC: release the leases of this network's attachments not in `valid`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gc {
    pub version: Version,
    pub network: Network,
    /// (container id, ifname) of every attachment the runtime still holds.
    pub valid: BTreeSet<(String, String)>,
}

/// STATUS: can ADD be served.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub version: Version,
    pub network: Network,
}

/// A call, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Version(VersionAnswer),
    Add(Add),
    Check(Check),
    Del(Del),
    Gc(Gc),
    Status(Status),
}

/// What `parse` made of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The config's version, when it named one dhcpnet speaks: what
    /// answers, errors included, are rendered in.
    pub version: Option<Version>,
    pub request: Result<Request, CniError>,
    /// What was wrong but did not stop the call (DEL and GC go on past
    /// much): for stderr.
    pub warnings: Vec<String>,
}

impl Invocation {
    /// The outcome of a call that failed with `e` (whether `request` was an
    /// error or the work failed later).
    pub fn failed(&self, e: &CniError) -> Outcome {
        Outcome::error(self.version, e)
    }
}

/// What the process prints on stdout and exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// One JSON document and a newline, or nothing.
    pub stdout: Option<String>,
    pub exit_code: i32,
}

impl Outcome {
    /// Success with nothing to print (DEL, CHECK, GC, STATUS).
    pub fn done() -> Outcome {
        Outcome {
            stdout: None,
            exit_code: 0,
        }
    }

    /// Success printing `json` (ADD's result, VERSION's answer).
    pub fn print(json: String) -> Outcome {
        Outcome {
            stdout: Some(json + "\n"),
            exit_code: 0,
        }
    }

    /// The VERSION answer.
    pub fn version(a: &VersionAnswer) -> Outcome {
        Outcome::print(serde_json::to_string(a).unwrap_or_default())
    }

    /// Failure: the error object in `version` (the newest when the config
    /// named none dhcpnet speaks) and exit status 1, as cni's skel.
    pub fn error(version: Option<Version>, e: &CniError) -> Outcome {
        let v = version.unwrap_or(version::NEWEST);
        Outcome {
            stdout: Some(e.to_json(v.as_str()) + "\n"),
            exit_code: 1,
        }
    }
}

/// Read a call from its environment and stdin.
pub fn parse(env: &Env, stdin: &[u8]) -> Invocation {
    let doc = if stdin.len() > config::MAX_STDIN {
        Err(too_large())
    } else {
        config::decode(stdin)
    };
    let version = doc
        .as_ref()
        .ok()
        .and_then(config::version_field)
        .and_then(Version::parse);
    let mut warnings = Vec::new();
    let request = request(env, doc, &mut warnings);
    Invocation {
        version,
        request,
        warnings,
    }
}

/// The variables `cmd` uses: each it requires present and valid, and
/// DEL's optional CNI_NETNS None (with a warning) when invalid. Variables
/// the command does not use are not read: a stale CNI_ARGS fails no DEL.
struct Vars<'a> {
    container_id: &'a str,
    ifname: &'a str,
    netns: Option<&'a str>,
    args: CniArgs,
}

fn vars<'a>(env: &'a Env, cmd: Command, warnings: &mut Vec<String>) -> Result<Vars<'a>, CniError> {
    let required = cmd.required();
    let mut missing = Vec::new();
    let mut invalid = None;
    let mut need = |name: &'static str| -> Option<&'a str> {
        if !required.contains(&name) {
            return None;
        }
        match env.get(name) {
            Ok(Some(v)) => Some(v),
            Ok(None) => {
                missing.push(name);
                None
            }
            Err(e) => {
                invalid.get_or_insert(e);
                None
            }
        }
    };
    // In the order of `Command::required`, which the message repeats.
    let container_id = need("CNI_CONTAINERID");
    let netns = need("CNI_NETNS");
    let ifname = need("CNI_IFNAME");
    if !missing.is_empty() {
        return Err(env::missing(cmd, &missing));
    }
    if let Some(e) = invalid {
        return Err(e);
    }
    let valid = |name: &str, v: Option<&'a str>, f: &dyn Fn(&str) -> Result<(), String>| match v {
        Some(s) => f(s)
            .map(|()| Some(s))
            .map_err(|why| env::invalid(name, &format!("is invalid: {why}"))),
        None => Ok(None),
    };
    let container_id = valid("CNI_CONTAINERID", container_id, &|s| {
        env::validate_id("the container id", s)
    })?;
    let ifname = valid("CNI_IFNAME", ifname, &env::validate_ifname)?;
    let mut netns = valid("CNI_NETNS", netns, &env::validate_netns)?;
    if cmd == Command::Del {
        // Optional for DEL: the namespace may be gone, and a bad value only
        // means the release is made from the host.
        let given = env
            .get("CNI_NETNS")
            .and_then(|n| valid("CNI_NETNS", n, &env::validate_netns));
        netns = given.unwrap_or_else(|e| {
            warnings.push(format!("{e}; DEL goes on without it"));
            None
        });
    }
    let args = if cmd == Command::Add {
        env.get("CNI_ARGS")?
            .map(CniArgs::parse)
            .transpose()?
            .unwrap_or_default()
    } else {
        CniArgs::default()
    };
    Ok(Vars {
        container_id: container_id.unwrap_or_default(),
        ifname: ifname.unwrap_or_default(),
        netns,
        args,
    })
}

/// The config's version for `cmd`: one dhcpnet speaks, in which `cmd`
/// exists (cni's skel: CHECK from 0.4.0, GC and STATUS from 1.1.0).
fn version_for(doc: &Map<String, Value>, cmd: Command) -> Result<Version, CniError> {
    let details = format!(
        "dhcpnet speaks CNI {}; set \"cniVersion\" in the network config (conflist) to one of them \
         (Podman 4 and Debian 12's plugins take up to \"1.0.0\")",
        version::supported_list()
    );
    let v = match config::field(doc, "cniVersion") {
        Some(Value::String(s)) => Version::parse(s).ok_or_else(|| {
            CniError::new(
                Code::IncompatibleVersion,
                format!("the network config's cniVersion {s:?} is not one dhcpnet speaks"),
                details.clone(),
            )
        })?,
        None => {
            return Err(CniError::new(
                Code::IncompatibleVersion,
                "the network config has no cniVersion",
                details,
            ));
        }
        Some(other) => {
            return Err(CniError::new(
                Code::IncompatibleVersion,
                format!("the network config's cniVersion is {other}, not a string"),
                details,
            ));
        }
    };
    let exists = match cmd {
        Command::Check => v.has_check(),
        Command::Gc | Command::Status => v.has_gc_and_status(),
        _ => true,
    };
    if !exists {
        let since = if cmd == Command::Check {
            "0.4.0"
        } else {
            "1.1.0"
        };
        return Err(CniError::new(
            Code::IncompatibleVersion,
            format!("CNI {v} has no {} (it came in {since})", cmd.as_str()),
            format!(
                "set \"cniVersion\": \"{since}\" or later to use {}",
                cmd.as_str()
            ),
        ));
    }
    Ok(v)
}

/// The network, refusing any problem (`strict`) or only those that stop a
/// cleanup; the rest become warnings.
fn network_for(
    doc: &Map<String, Value>,
    strict: bool,
    warnings: &mut Vec<String>,
) -> Result<Network, CniError> {
    let (network, problems) = config::network(doc);
    let mut fatal = None;
    for p in problems {
        if fatal.is_none() && (strict || p.blocks_cleanup) {
            fatal = Some(p.error);
        } else {
            warnings.push(p.error.to_string());
        }
    }
    match fatal {
        Some(e) => Err(e),
        None => Ok(network),
    }
}

fn request(
    env: &Env,
    doc: Result<Map<String, Value>, CniError>,
    warnings: &mut Vec<String>,
) -> Result<Request, CniError> {
    let cmd = match env.get("CNI_COMMAND")? {
        None => {
            return Err(env::invalid(
                "CNI_COMMAND",
                "is not set: dhcpnet runs as a CNI plugin when a runtime or main plugin sets it",
            ));
        }
        Some(s) => Command::parse(s).ok_or_else(|| {
            env::invalid(
                "CNI_COMMAND",
                &format!(
                    "is {s:?}, not one of {}",
                    Command::ALL.map(Command::as_str).join(", ")
                ),
            )
        })?,
    };
    if cmd == Command::Version {
        let asked = doc.as_ref().ok().and_then(config::version_field);
        return Ok(Request::Version(VersionAnswer::new(asked)));
    }
    let v = vars(env, cmd, warnings)?;
    let doc = doc?;
    let id = |network: &Network| AttachmentId {
        network: network.name.clone(),
        container_id: v.container_id.to_string(),
        ifname: v.ifname.to_string(),
    };
    match cmd {
        Command::Add => {
            let version = version_for(&doc, cmd)?;
            let network = network_for(&doc, true, warnings)?;
            let asked = config::asked_address(&doc, &v.args, &network.ipam)?;
            Ok(Request::Add(Add {
                version,
                id: id(&network),
                netns: v.netns.unwrap_or_default().to_string(),
                args: v.args.clone(),
                network,
                asked,
            }))
        }
        Command::Check => {
            let version = version_for(&doc, cmd)?;
            let network = network_for(&doc, true, warnings)?;
            let prev = config::field(&doc, "prevResult").ok_or_else(|| {
                CniError::new(
                    Code::InvalidConfig,
                    "CHECK was called without prevResult",
                    "the runtime must pass the result of the attachment's ADD as prevResult (SPEC.md §2 CHECK)",
                )
            })?;
            Ok(Request::Check(Check {
                version,
                id: id(&network),
                netns: v.netns.unwrap_or_default().to_string(),
                prev_result: config::prev_result(prev)?,
                network,
            }))
        }
        Command::Del => {
            let version = match version_for(&doc, cmd) {
                Ok(v) => Some(v),
                Err(e) => {
                    warnings.push(format!("{e}; DEL goes on"));
                    None
                }
            };
            let network = network_for(&doc, false, warnings)?;
            let prev_result = match config::field(&doc, "prevResult").map(config::prev_result) {
                Some(Ok(p)) => Some(p),
                Some(Err(e)) => {
                    warnings.push(format!("{e}; DEL goes on without it"));
                    None
                }
                None => None,
            };
            Ok(Request::Del(Del {
                version,
                id: id(&network),
                netns: v.netns.map(str::to_string),
                network,
                prev_result,
            }))
        }
        Command::Gc => {
            let version = version_for(&doc, cmd)?;
            let network = network_for(&doc, false, warnings)?;
            let valid = config::valid_attachments(&doc)?;
            Ok(Request::Gc(Gc {
                version,
                network,
                valid,
            }))
        }
        Command::Status => {
            let version = version_for(&doc, cmd)?;
            let network = network_for(&doc, true, warnings)?;
            Ok(Request::Status(Status { version, network }))
        }
        Command::Version => Ok(Request::Version(VersionAnswer::new(config::version_field(
            &doc,
        )))),
    }
}

#[cfg(test)]
mod tests;
