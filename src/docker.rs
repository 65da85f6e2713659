//! Talking to Docker through its CLI: argument vectors only (never a shell
//! string), the binary from `DHCPNET_DOCKER` (default `docker` on PATH), and
//! the caller's environment passed through unchanged so that DOCKER_HOST,
//! DOCKER_CONTEXT, DOCKER_CONFIG and TLS settings work as they do for the
//! CLI itself.
//!
//! Every call returns the captured `Output`; a docker that cannot be started
//! at all is an `Error::Docker` saying how to point dhcpnet at one.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::process::Stdio;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::net::mac::Mac;

/// Environment variable naming the docker CLI binary.
/// Where Docker looks for the dhcpnet IPAM plugin (Docker's plugin
/// discovery directory, `/run/docker/plugins/NAME.sock`).
pub const PLUGIN_SOCKET: &str = "/run/docker/plugins/dhcpnet.sock";

/// The `dhcpnet-ipvlan` driver's socket beside the plugin socket
/// `NAME.sock`: `NAME-ipvlan.sock` (the engine names a driver after its
/// socket's file).
pub fn ipvlan_plugin_socket(plugin_socket: &std::path::Path) -> std::path::PathBuf {
    let stem = plugin_socket
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dhcpnet".into());
    plugin_socket.with_file_name(format!("{stem}-ipvlan.sock"))
}

pub const ENV_BINARY: &str = "DHCPNET_DOCKER";

/// Labels dhcpnet puts on the Docker networks it creates, so that it can
/// find the DHCP interface (and what it owns) from Docker itself.
pub const LABEL_MANAGED: &str = "io.dhcpnet.managed";
pub const LABEL_DHCP_INTERFACE: &str = "io.dhcpnet.dhcp-interface";
pub const LABEL_PARENT: &str = "io.dhcpnet.parent";
pub const LABEL_VLAN: &str = "io.dhcpnet.vlan";
pub const LABEL_OWNED_LINK: &str = "io.dhcpnet.owned-link";

/// The first engine API version that accepts the way newer CLIs send
/// `docker run --mac-address` (per network endpoint).
const MAC_PER_NETWORK_API: (u32, u32) = (1, 44);

/// What a docker command did.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status; -1 when docker was killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// stderr trimmed, or a note that there was none.
    pub fn message(&self) -> String {
        let m = self.stderr.trim();
        if m.is_empty() {
            format!("docker exited with status {}", self.code)
        } else {
            m.to_string()
        }
    }
}

#[derive(Debug, Clone)]
pub struct Docker {
    bin: OsString,
}

/// A container as `docker inspect` shows it (the parts dhcpnet uses).
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub id: String,
    /// Without the leading '/'.
    pub name: String,
    /// `Config.Hostname`, as the engine gives it (not checked).
    pub hostname: Option<String>,
    pub running: bool,
    /// `Config.MacAddress`: the MAC the container was given
    /// (`docker run --mac-address`, a compose service's per-network
    /// `mac_address:`); None when the engine makes one up at every start.
    pub fixed_mac: Option<Mac>,
    /// Per network name: MAC and IPv4 address.
    pub networks: BTreeMap<String, Endpoint>,
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub mac: Option<Mac>,
    pub ip: Option<Ipv4Addr>,
}

/// A network as `docker network inspect` shows it.
#[derive(Debug, Clone)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<Ipv4Addr>,
    /// The IPv4 range Docker's own IPAM picks from (`--ip-range`), if set.
    pub ip_range: Option<String>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Attached containers: (id, name).
    pub containers: Vec<(String, String)>,
}

/// Client and engine API versions from `docker version`.
#[derive(Debug, Clone)]
pub struct Versions {
    pub client_version: String,
    /// The API version the CLI speaks by default (before negotiation).
    pub client_api: Option<String>,
    pub server_version: Option<String>,
    pub server_api: Option<String>,
}

fn parse_api(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

impl Versions {
    /// The CLI sends `--mac-address` in a form this engine rejects.
    pub fn mac_address_mismatch(&self) -> bool {
        let c = self.client_api.as_deref().and_then(parse_api);
        let s = self.server_api.as_deref().and_then(parse_api);
        matches!((c, s), (Some(c), Some(s)) if c >= MAC_PER_NETWORK_API && s < MAC_PER_NETWORK_API)
    }
}

/// What to tell a person whose CLI is newer than the engine.
pub fn mac_address_advice(bin: &str, v: Option<&Versions>) -> String {
    let versions = match v {
        Some(v) => format!(
            " (docker CLI {} speaks API {}, the engine {} speaks API {})",
            v.client_version,
            v.client_api.as_deref().unwrap_or("?"),
            v.server_version.as_deref().unwrap_or("?"),
            v.server_api.as_deref().unwrap_or("?")
        ),
        None => String::new(),
    };
    format!(
        "the docker CLI `{bin}` is newer than the Docker Engine{versions}: it sends `--mac-address` \
         per network, which engines before API 1.44 (Docker 25) reject, so containers cannot get the \
         MAC their lease was taken for. Point dhcpnet at a docker CLI that matches the engine with \
         {ENV_BINARY} (e.g. `export {ENV_BINARY}=/usr/bin/docker` where the distribution's client \
         is installed), or upgrade the engine to Docker 25 or later"
    )
}

/// Whether docker's message is the CLI-newer-than-engine `--mac-address` riddle.
pub fn is_mac_address_riddle(stderr: &str) -> bool {
    stderr.contains("mac-address") && stderr.contains("requires API version")
}

/// Whether `s` is a container name as Docker makes them: its own pattern
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (daemon/names, `RestrictedNameChars`), at
/// most 255 bytes here (dhcpnet's bound; Docker's names are far shorter in
/// practice). A name from the engine that is not one came from something
/// else speaking its API, and is not taken as a container's identity.
pub fn is_container_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b.len() <= 255
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

/// The 12-character form of a container or network id, as docker shows it.
pub fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Quote one argument for display as a POSIX shell word.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawContainer {
    id: String,
    #[serde(default)]
    name: String,
    config: Option<RawConfig>,
    state: Option<RawState>,
    network_settings: Option<RawNetSettings>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    hostname: Option<String>,
    mac_address: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    running: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetSettings {
    networks: Option<BTreeMap<String, RawEndpoint>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawEndpoint {
    mac_address: Option<String>,
    #[serde(rename = "IPAddress")]
    ip_address: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetwork {
    id: String,
    name: String,
    driver: Option<String>,
    #[serde(rename = "IPAM")]
    ipam: Option<RawIpam>,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    containers: Option<BTreeMap<String, RawAttached>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawIpam {
    config: Option<Vec<RawIpamConfig>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawIpamConfig {
    subnet: Option<String>,
    gateway: Option<String>,
    #[serde(rename = "IPRange")]
    ip_range: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawAttached {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawVersion {
    client: Option<RawClient>,
    server: Option<RawServer>,
}

#[derive(Deserialize)]
struct RawClient {
    #[serde(rename = "Version")]
    version: Option<String>,
    #[serde(rename = "DefaultAPIVersion")]
    default_api: Option<String>,
    #[serde(rename = "ApiVersion")]
    api: Option<String>,
}

#[derive(Deserialize)]
struct RawServer {
    #[serde(rename = "Version")]
    version: Option<String>,
    #[serde(rename = "ApiVersion")]
    api: Option<String>,
}

fn is_no_such(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("no such") || s.contains("not found")
}

impl Docker {
    /// The CLI named by `DHCPNET_DOCKER`, else `docker` on PATH.
    pub fn from_env() -> Docker {
        match std::env::var_os(ENV_BINARY) {
            Some(b) if !b.is_empty() => Docker { bin: b },
            _ => Docker {
                bin: OsString::from("docker"),
            },
        }
    }

    pub fn new(bin: impl Into<OsString>) -> Docker {
        Docker { bin: bin.into() }
    }

    /// The binary as shown to people.
    pub fn bin(&self) -> String {
        self.bin.to_string_lossy().into_owned()
    }

    /// The command line as a person would type it (for `--dry-run`).
    pub fn command_line<S: AsRef<str>>(&self, args: &[S]) -> String {
        std::iter::once(shell_quote(&self.bin()))
            .chain(args.iter().map(|a| shell_quote(a.as_ref())))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn command<S: AsRef<str>>(&self, args: &[S]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.bin);
        c.args(args.iter().map(|a| a.as_ref()));
        c.kill_on_drop(true);
        c
    }

    fn spawn_error(&self, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Docker(format!(
                "cannot run the docker CLI `{}`: not found. Install the docker CLI, or name it with {ENV_BINARY}=/path/to/docker",
                self.bin()
            ))
        } else {
            Error::Docker(format!("cannot run the docker CLI `{}`: {e}", self.bin()))
        }
    }

    /// Run `docker ARGS...` with no input, capturing its output. A non-zero
    /// exit is not an error here: look at `Output::code`.
    pub async fn run<S: AsRef<str>>(&self, args: &[S]) -> Result<Output> {
        self.run_with_input(args, None).await
    }

    /// Like `run`, writing `input` to docker's stdin.
    pub async fn run_with_input<S: AsRef<str>>(
        &self,
        args: &[S],
        input: Option<&[u8]>,
    ) -> Result<Output> {
        log::debug!("running {}", self.command_line(args));
        let mut c = self.command(args);
        c.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|e| self.spawn_error(e))?;
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(data)
                .await
                .map_err(|e| Error::Docker(format!("writing to docker's input: {e}")))?;
            drop(stdin);
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| Error::Docker(format!("waiting for docker: {e}")))?;
        Ok(Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run and require success; failure is an `Error::Docker` with docker's message.
    pub async fn check<S: AsRef<str>>(&self, args: &[S]) -> Result<Output> {
        let out = self.run(args).await?;
        if out.success() {
            Ok(out)
        } else {
            let what = args
                .first()
                .map(|a| a.as_ref().to_string())
                .unwrap_or_default();
            let what2 = args
                .get(1)
                .map(|a| format!(" {}", a.as_ref()))
                .unwrap_or_default();
            Err(Error::Docker(format!(
                "`docker {what}{what2}` failed: {}",
                out.message()
            )))
        }
    }

    /// Run with the terminal passed through (stdin and stdout inherited),
    /// stderr copied to ours as it comes and kept for inspection: for
    /// `docker run`, whose output belongs to the user.
    pub async fn run_attached<S: AsRef<str>>(&self, args: &[S]) -> Result<Output> {
        self.spawn_attached(args, false)?.wait().await
    }

    /// Start an attached docker (see `run_attached`) and return at once.
    /// With `stdout_to_stderr` docker's stdout goes to our stderr, keeping
    /// our stdout for a JSON or YAML document.
    pub fn spawn_attached<S: AsRef<str>>(
        &self,
        args: &[S],
        stdout_to_stderr: bool,
    ) -> Result<Attached> {
        log::debug!("running {}", self.command_line(args));
        let mut c = self.command(args);
        let stdout = if stdout_to_stderr {
            use std::os::fd::AsFd;
            std::io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null())
        } else {
            Stdio::inherit()
        };
        c.stdin(Stdio::inherit())
            .stdout(stdout)
            .stderr(Stdio::piped());
        let child = c.spawn().map_err(|e| self.spawn_error(e))?;
        Ok(Attached { child })
    }

    /// `docker version`: the CLI's and the engine's API versions.
    pub async fn version(&self) -> Result<Versions> {
        let out = self.run(&["version", "--format", "{{json .}}"]).await?;
        // docker version exits non-zero when the engine is unreachable but
        // still prints the client part; the engine part then is missing.
        let raw: RawVersion = serde_json::from_str(out.stdout.trim()).map_err(|e| {
            Error::Docker(format!(
                "cannot read `docker version` ({e}): {}",
                out.message()
            ))
        })?;
        let client = raw.client.ok_or_else(|| {
            Error::Docker(format!(
                "`docker version` shows no client: {}",
                out.message()
            ))
        })?;
        let server = raw.server;
        if server.is_none() {
            return Err(Error::Docker(format!(
                "cannot reach the Docker Engine: {} (is dockerd running? DOCKER_HOST and the docker context decide where the CLI looks)",
                out.message()
            )));
        }
        Ok(Versions {
            client_version: client.version.unwrap_or_default(),
            client_api: client.default_api.or(client.api),
            server_version: server.as_ref().and_then(|s| s.version.clone()),
            server_api: server.and_then(|s| s.api),
        })
    }

    /// Fail early, with advice, when this CLI cannot give a container a MAC
    /// on this engine.
    pub async fn check_mac_address_support(&self) -> Result<Versions> {
        let v = self.version().await?;
        if v.mac_address_mismatch() {
            return Err(Error::Docker(mac_address_advice(&self.bin(), Some(&v))));
        }
        Ok(v)
    }

    /// `docker KIND inspect NAME`: the first object it lists; None when there
    /// is no such object.
    async fn inspect<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<Option<T>> {
        let out = self.run(&[kind, "inspect", "--", name]).await?;
        if !out.success() {
            if is_no_such(&out.stderr) {
                return Ok(None);
            }
            return Err(Error::Docker(format!(
                "`docker {kind} inspect {name}` failed: {}",
                out.message()
            )));
        }
        let raw: Vec<T> = serde_json::from_str(&out.stdout).map_err(|e| {
            Error::Docker(format!("cannot read `docker {kind} inspect {name}`: {e}"))
        })?;
        Ok(raw.into_iter().next())
    }

    /// `docker inspect --type container`; None when there is no such container.
    pub async fn inspect_container(&self, name_or_id: &str) -> Result<Option<ContainerInfo>> {
        Ok(self
            .inspect::<RawContainer>("container", name_or_id)
            .await?
            .map(container_info))
    }

    /// Every container, running or stopped, as (id, name), by name.
    pub async fn containers(&self) -> Result<Vec<(String, String)>> {
        self.ps(None).await
    }

    /// Every container on `network`, running or stopped, as (id, name):
    /// `docker network inspect` lists only the running ones.
    pub async fn containers_on(&self, network: &str) -> Result<Vec<(String, String)>> {
        self.ps(Some(&format!("network={network}"))).await
    }

    /// `docker events` for `filters` (each a `--filter` value), one JSON
    /// object a line on the child's stdout (see `parse_event`).
    pub fn events(&self, filters: &[&str]) -> Result<tokio::process::Child> {
        let mut args = vec!["events", "--format", "{{json .}}"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        log::debug!("running {}", self.command_line(&args));
        self.command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| self.spawn_error(e))
    }
}

fn container_info(c: RawContainer) -> ContainerInfo {
    let networks = c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, ep)| {
            let mac = ep
                .mac_address
                .as_deref()
                .filter(|m| !m.is_empty())
                .and_then(|m| m.parse().ok());
            let ip = ep
                .ip_address
                .as_deref()
                .filter(|i| !i.is_empty())
                .and_then(|i| i.parse().ok());
            (name, Endpoint { mac, ip })
        })
        .collect();
    let (hostname, fixed_mac) = match c.config {
        Some(c) => (
            c.hostname,
            c.mac_address
                .as_deref()
                .filter(|m| !m.is_empty())
                .and_then(|m| m.parse().ok()),
        ),
        None => (None, None),
    };
    // A name outside Docker's pattern is no name (it matches no record).
    let name = c.name.trim_start_matches('/');
    let name = if is_container_name(name) {
        name.to_string()
    } else {
        if !name.is_empty() {
            log::warn!(
                "the engine names container {} {:?}, which is not a Docker container name; it is \
                 known by its id only",
                short_id(&c.id),
                crate::dhcp::reply::clean_text(name.as_bytes())
            );
        }
        String::new()
    };
    ContainerInfo {
        id: c.id,
        name,
        hostname,
        fixed_mac,
        running: c.state.and_then(|s| s.running).unwrap_or(false),
        networks,
    }
}

/// Whether `asked` names the object called `name` with id `id`: its name,
/// its full id, or a short id of 12 or more characters (never a shorter id
/// prefix, which Docker accepts for an unknown name).
pub fn names_it(asked: &str, name: &str, id: &str) -> bool {
    asked == name || asked == id || (asked.len() >= 12 && id.starts_with(asked))
}

/// What `docker inspect` printed for containers: each one it could read.
pub fn parse_container_inspect(json: &str) -> Vec<ContainerInfo> {
    serde_json::from_str::<Vec<RawContainer>>(json)
        .map(|v| v.into_iter().map(container_info).collect())
        .unwrap_or_default()
}

/// One line of `docker events --format '{{json .}}'`, the parts dhcpnet
/// reads.
#[derive(Debug, Clone, Deserialize)]
pub struct EngineEvent {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    #[serde(rename = "Action")]
    pub action: Option<String>,
    /// The older name of `Action`.
    pub status: Option<String>,
    /// The older name of `Actor.ID`.
    pub id: Option<String>,
    #[serde(rename = "Actor")]
    pub actor: Option<EventActor>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventActor {
    #[serde(rename = "ID")]
    pub id: Option<String>,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// None when the line is not such an event.
pub fn parse_event(line: &str) -> Option<EngineEvent> {
    serde_json::from_str(line).ok()
}

impl Docker {
    /// `docker ps -a` (with `filter`) as (id, name), by name.
    async fn ps(&self, filter: Option<&str>) -> Result<Vec<(String, String)>> {
        let mut args = vec!["ps", "-a", "--no-trunc"];
        if let Some(f) = filter {
            args.extend(["--filter", f]);
        }
        args.extend(["--format", "{{.ID}} {{.Names}}"]);
        let out = self.check(&args).await?;
        let mut v: Vec<(String, String)> = out
            .stdout
            .lines()
            .filter_map(|l| {
                let (id, name) = l.trim().split_once(' ')?;
                Some((id.to_string(), name.to_string()))
            })
            .collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(v)
    }

    /// `docker network inspect`; None when there is no such network.
    pub async fn network_inspect(&self, name: &str) -> Result<Option<NetworkInfo>> {
        let Some(n) = self.inspect::<RawNetwork>("network", name).await? else {
            return Ok(None);
        };
        // Docker resolves an unknown name as an id prefix: another network
        // whose id happens to begin with `name` is not the network `name`.
        if !names_it(name, &n.name, &n.id) {
            return Ok(None);
        }
        let first = n.ipam.and_then(|i| i.config).and_then(|c| {
            c.into_iter()
                .find(|c| c.subnet.as_deref().is_some_and(|s| s.contains('.')))
        });
        let mut containers: Vec<(String, String)> = n
            .containers
            .unwrap_or_default()
            .into_iter()
            .map(|(id, a)| {
                let name = a.name.unwrap_or_else(|| id.clone());
                (id, name)
            })
            .collect();
        containers.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(Some(NetworkInfo {
            id: n.id,
            name: n.name,
            driver: n.driver.unwrap_or_default(),
            subnet: first.as_ref().and_then(|c| c.subnet.clone()),
            gateway: first
                .as_ref()
                .and_then(|c| c.gateway.as_deref())
                .and_then(|g| g.parse().ok()),
            ip_range: first.and_then(|c| c.ip_range).filter(|r| !r.is_empty()),
            options: n.options.unwrap_or_default(),
            labels: n.labels.unwrap_or_default(),
            containers,
        }))
    }
}

/// A docker process started by `spawn_attached`.
pub struct Attached {
    child: tokio::process::Child,
}

impl Attached {
    /// Wait for it to end, copying its stderr to ours meanwhile.
    pub async fn wait(mut self) -> Result<Output> {
        let mut kept = Vec::new();
        if let Some(mut err) = self.child.stderr.take() {
            let mut buf = [0u8; 4096];
            loop {
                match err.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut ours = std::io::stderr().lock();
                        let _ = std::io::Write::write_all(&mut ours, &buf[..n]);
                        let _ = std::io::Write::flush(&mut ours);
                        if kept.len() < 64 * 1024 {
                            kept.extend_from_slice(&buf[..n]);
                        }
                    }
                }
            }
        }
        let status = self
            .child
            .wait()
            .await
            .map_err(|e| Error::Docker(format!("waiting for docker: {e}")))?;
        Ok(Output {
            code: status.code().unwrap_or(-1),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&kept).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("network"), "network");
        assert_eq!(shell_quote("parent=eth0.10"), "parent=eth0.10");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        let d = Docker::new("/usr/bin/docker");
        assert_eq!(
            d.command_line(&["network", "create", "--label", "x=a b"]),
            "/usr/bin/docker network create --label 'x=a b'"
        );
    }

    #[test]
    fn a_short_id_prefix_is_not_a_name() {
        let id = "db1b67871665aaaabbbbccccdddd";
        assert!(names_it("db", "db", id));
        assert!(!names_it("db", "web-1", id));
        assert!(names_it("db1b67871665", "web-1", id));
        assert!(names_it(id, "web-1", id));
    }

    #[test]
    fn mac_address_mismatch() {
        let v = |c: &str, s: &str| Versions {
            client_version: "28.2.2".into(),
            client_api: Some(c.into()),
            server_version: Some("20.10.24".into()),
            server_api: Some(s.into()),
        };
        assert!(v("1.50", "1.41").mac_address_mismatch());
        assert!(!v("1.41", "1.41").mac_address_mismatch());
        assert!(!v("1.50", "1.44").mac_address_mismatch());
        assert!(!v("x", "1.41").mac_address_mismatch());
        assert!(is_mac_address_riddle(
            "docker: \"specify mac-address per network\" requires API version 1.44, but the Docker daemon API version is 1.41"
        ));
        assert!(mac_address_advice("docker", Some(&v("1.50", "1.41"))).contains(ENV_BINARY));
    }
}
