//! The CNI_* environment of a call (SPEC.md §2 "Parameters"), read from a
//! map handed in (so tests need no process), with each variable checked
//! the way cni's skel checks it and every value bounded.
//!
//! Which command needs which variable is the spec's per-operation "Input"
//! list, not skel's stricter one (skel wants CNI_PATH for all but VERSION):
//! DEL works without CNI_NETNS (the namespace may be gone), and CNI_PATH,
//! which only a plugin that calls other plugins uses, is never required.

use std::collections::BTreeMap;
use std::ffi::OsStr;

use super::error::{CniError, Code};

/// The longest value of a CNI_* variable dhcpnet reads (a real CNI_ARGS or
/// CNI_PATH is a few hundred bytes).
pub const MAX_VALUE: usize = 32 * 1024;
/// The most `K=V` pairs in CNI_ARGS (Kubernetes sends five).
pub const MAX_ARGS: usize = 64;
/// The longest container id and network name (runtimes make 64-character
/// ids).
pub const MAX_ID: usize = 255;
/// The longest CNI_NETNS path (PATH_MAX less the NUL).
pub const MAX_PATH: usize = 4095;
/// Linux's interface name limit (IFNAMSIZ less the NUL).
pub const MAX_IFNAME: usize = 15;

/// The variables dhcpnet reads; any other is ignored.
pub const VARS: [&str; 6] = [
    "CNI_COMMAND",
    "CNI_CONTAINERID",
    "CNI_NETNS",
    "CNI_IFNAME",
    "CNI_ARGS",
    "CNI_PATH",
];

/// What CNI_COMMAND asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Add,
    Del,
    Check,
    Gc,
    Status,
    Version,
}

impl Command {
    pub const ALL: [Command; 6] = [
        Command::Add,
        Command::Del,
        Command::Check,
        Command::Gc,
        Command::Status,
        Command::Version,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Gc => "GC",
            Command::Status => "STATUS",
            Command::Version => "VERSION",
        }
    }

    /// The command CNI_COMMAND names (exactly, as skel compares it).
    pub fn parse(s: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The variables the spec requires for this command besides
    /// CNI_COMMAND (SPEC.md §2, each operation's "Required environment
    /// parameters"; GC's CNI_PATH left out, see the module doc).
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Command::Add | Command::Check => &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
            Command::Del => &["CNI_CONTAINERID", "CNI_IFNAME"],
            Command::Gc | Command::Status | Command::Version => &[],
        }
    }
}

/// One variable as found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Raw {
    Text(String),
    NotUtf8,
    TooLong(usize),
}

/// The CNI_* variables of a call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<&'static str, Raw>,
}

impl Env {
    /// The CNI_* variables among `vars` (e.g. `std::env::vars_os()`); the
    /// rest are not kept. A later duplicate replaces an earlier one.
    pub fn from_vars<I, K, V>(vars: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let mut env = Env::default();
        for (k, v) in vars {
            let Some(name) = VARS.into_iter().find(|n| OsStr::new(n) == k.as_ref()) else {
                continue;
            };
            let v = v.as_ref();
            let raw = if v.len() > MAX_VALUE {
                Raw::TooLong(v.len())
            } else {
                match v.to_str() {
                    Some(s) => Raw::Text(s.to_string()),
                    None => Raw::NotUtf8,
                }
            };
            env.vars.insert(name, raw);
        }
        env
    }

    /// Variable `name`: None when unset or empty (skel treats both as
    /// missing), an error (code 4, naming it) when it is not UTF-8 or too
    /// long.
    pub fn get(&self, name: &str) -> Result<Option<&str>, CniError> {
        match self.vars.get(name) {
            None => Ok(None),
            Some(Raw::Text(s)) if s.is_empty() => Ok(None),
            Some(Raw::Text(s)) => Ok(Some(s)),
            Some(Raw::NotUtf8) => Err(invalid(name, "is not valid UTF-8")),
            Some(Raw::TooLong(n)) => Err(invalid(
                name,
                &format!("is {n} bytes long, over dhcpnet's limit of {MAX_VALUE}"),
            )),
        }
    }

    /// Whether `name` is set to something (even something invalid).
    pub fn is_set(&self, name: &str) -> bool {
        match self.vars.get(name) {
            None => false,
            Some(Raw::Text(s)) => !s.is_empty(),
            Some(Raw::NotUtf8 | Raw::TooLong(_)) => true,
        }
    }
}

/// Code 4 naming the variable.
pub fn invalid(name: &str, why: &str) -> CniError {
    CniError::new(
        Code::InvalidEnv,
        format!("{name} {why}"),
        "the container runtime sets the CNI_* variables; see SPEC.md §2 \"Parameters\"",
    )
}

/// Code 4 naming every variable the command needs and the call lacks.
pub fn missing(command: Command, names: &[&str]) -> CniError {
    CniError::new(
        Code::InvalidEnv,
        format!(
            "required environment variables [{}] missing for {}",
            names.join(","),
            command.as_str()
        ),
        format!(
            "{} needs {}; dhcpnet is run by a container runtime or a main plugin (macvlan, ipvlan, \
             bridge), which sets them",
            command.as_str(),
            std::iter::once("CNI_COMMAND")
                .chain(command.required().iter().copied())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// A container id as the spec allows it: an alphanumeric character, then
/// alphanumerics, `_`, `.` and `-` (cni pkg/utils ValidateContainerID).
pub fn validate_id(what: &str, s: &str) -> Result<(), String> {
    if s.len() > MAX_ID {
        return Err(format!(
            "{what} is {} characters long, over dhcpnet's limit of {MAX_ID}",
            s.len()
        ));
    }
    let mut bytes = s.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return Err(format!(
            "{what} {s:?} must start with a letter or digit, followed by letters, digits, '_', '.' or '-'"
        ));
    }
    Ok(())
}

/// An interface name Linux accepts (cni pkg/utils ValidateInterfaceName,
/// after the kernel's dev_valid_name).
pub fn validate_ifname(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_IFNAME {
        return Err(format!(
            "interface name {s:?} must be 1 to {MAX_IFNAME} characters long"
        ));
    }
    if s == "." || s == ".." || s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return Err(format!(
            "interface name {s:?} is not valid: it must not be \".\" or \"..\" nor contain '/', ':' or spaces"
        ));
    }
    Ok(())
}

/// A network namespace path: absolute (Podman's /run/netns/netns-..., a
/// runtime's /proc/PID/ns/net), bounded.
pub fn validate_netns(s: &str) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err(format!(
            "{s:?} is not an absolute path to a network namespace"
        ));
    }
    if s.len() > MAX_PATH {
        return Err(format!(
            "is {} bytes long, over the {MAX_PATH} a path may be",
            s.len()
        ));
    }
    Ok(())
}

/// CNI_ARGS: `K=V;K=V` (SPEC.md §2; CONVENTIONS.md "CNI_ARGS").
///
/// Unknown keys are ignored whatever `IgnoreUnknown` says: main plugins
/// refuse them without it (cni pkg/types LoadArgs), but an IPAM plugin
/// is handed the same variables and cannot know which keys the others
/// take. Keys compare without regard to case, as LoadArgs's do; a later
/// pair wins. Empty pieces (`a=b;;c=d`, a trailing `;`) are skipped; a
/// value may hold `=`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    pairs: Vec<(String, String)>,
}

/// The keys dhcpnet reads.
pub const K8S_POD_NAME: &str = "K8S_POD_NAME";
pub const K8S_POD_NAMESPACE: &str = "K8S_POD_NAMESPACE";
/// nerdctl's container hostname, sent for the `dhcp` plugin's
/// `provide: [{"option": "host-name", "fromArg": ...}]`.
pub const NERDCTL_HOSTNAME: &str = "NERDCTL_CNI_DHCP_HOSTNAME";
/// A requested address (CONVENTIONS.md: `IP=<ip>[/<prefix>]`; Podman's
/// `--ip`).
pub const IP: &str = "IP";

impl CniArgs {
    pub fn parse(s: &str) -> Result<CniArgs, CniError> {
        let mut pairs = Vec::new();
        for piece in s.split(';').filter(|p| !p.is_empty()) {
            let Some((k, v)) = piece.split_once('=') else {
                return Err(invalid(
                    "CNI_ARGS",
                    &format!("has {piece:?}, which is not KEY=VALUE"),
                ));
            };
            if k.is_empty() {
                return Err(invalid(
                    "CNI_ARGS",
                    &format!("has {piece:?}, which has no key"),
                ));
            }
            if pairs.len() == MAX_ARGS {
                return Err(invalid(
                    "CNI_ARGS",
                    &format!("has more than {MAX_ARGS} pairs"),
                ));
            }
            pairs.push((k.to_string(), v.to_string()));
        }
        Ok(CniArgs { pairs })
    }

    /// The value of `key` (last one wins), None when absent or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_vars(pairs.iter().copied())
    }

    #[test]
    fn only_cni_variables_are_kept_and_empty_ones_count_as_unset() {
        let e = env(&[("PATH", "/bin"), ("CNI_COMMAND", "ADD"), ("CNI_NETNS", "")]);
        assert_eq!(e.get("CNI_COMMAND").unwrap(), Some("ADD"));
        assert_eq!(e.get("CNI_NETNS").unwrap(), None);
        assert_eq!(e.get("PATH").unwrap(), None);
        assert!(!e.is_set("CNI_NETNS") && e.is_set("CNI_COMMAND"));
    }

    #[test]
    fn a_value_that_is_not_utf8_or_too_long_is_an_invalid_variable_named_as_such() {
        use std::os::unix::ffi::OsStrExt;
        let bad = OsStr::from_bytes(b"\xff\xfe");
        let e = Env::from_vars([(OsStr::new("CNI_IFNAME"), bad)]);
        let err = e.get("CNI_IFNAME").unwrap_err();
        assert_eq!(err.code, Code::InvalidEnv);
        assert!(err.msg.contains("CNI_IFNAME is not valid UTF-8"), "{err}");
        assert!(e.is_set("CNI_IFNAME"));
        let long = "a".repeat(MAX_VALUE + 1);
        let err = env(&[("CNI_ARGS", &long)]).get("CNI_ARGS").unwrap_err();
        assert!(err.msg.contains("CNI_ARGS is 32769 bytes long"), "{err}");
    }

    #[test]
    fn the_spec_s_required_variables_per_command() {
        assert_eq!(
            Command::Add.required(),
            ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"]
        );
        assert_eq!(Command::Check.required(), Command::Add.required());
        assert_eq!(Command::Del.required(), ["CNI_CONTAINERID", "CNI_IFNAME"]);
        for c in [Command::Gc, Command::Status, Command::Version] {
            assert!(c.required().is_empty());
        }
        for c in Command::ALL {
            assert_eq!(Command::parse(c.as_str()), Some(c));
        }
        assert_eq!(Command::parse("add"), None);
    }

    #[test]
    fn container_ids_interface_names_and_netns_paths_are_held_to_the_spec_s_rules() {
        for ok in ["c0ffee01", "a", "A_b.c-d", &"f".repeat(64)] {
            assert!(validate_id("CNI_CONTAINERID", ok).is_ok(), "{ok}");
        }
        for bad in ["-a", "_a", ".a", "a/b", "a b", "ä", &"a".repeat(256)] {
            assert!(validate_id("CNI_CONTAINERID", bad).is_err(), "{bad}");
        }
        for ok in ["eth0", "net1", "a-b.c_d@e", &"x".repeat(15)] {
            assert!(validate_ifname(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "a\tb", &"x".repeat(16)] {
            assert!(validate_ifname(bad).is_err(), "{bad:?}");
        }
        assert!(validate_netns("/run/netns/ctr1").is_ok());
        assert!(validate_netns("run/netns/ctr1").is_err());
        assert!(validate_netns(&format!("/{}", "a".repeat(4095))).is_err());
    }

    #[test]
    fn cni_args_are_pairs_read_without_regard_to_case_and_unknown_keys_are_kept_not_refused() {
        let a = CniArgs::parse("IgnoreUnknown=1;K8S_POD_NAME=web1;k8s_pod_namespace=ns;X=a=b;")
            .unwrap();
        assert_eq!(a.get(K8S_POD_NAME), Some("web1"));
        assert_eq!(a.get(K8S_POD_NAMESPACE), Some("ns"));
        assert_eq!(a.get("x"), Some("a=b"));
        assert_eq!(a.get("IP"), None);
        assert_eq!(CniArgs::parse("IP=1;ip=2").unwrap().get(IP), Some("2"));
        assert_eq!(CniArgs::parse("IP=").unwrap().get(IP), None);
        assert_eq!(CniArgs::parse("").unwrap().pairs().len(), 0);
    }

    #[test]
    fn cni_args_that_are_not_pairs_or_too_many_are_refused_naming_the_variable() {
        for bad in ["novalue", "a=b;junk", "=v"] {
            let e = CniArgs::parse(bad).unwrap_err();
            assert_eq!(e.code, Code::InvalidEnv);
            assert!(e.msg.starts_with("dhcpnet: CNI_ARGS has"), "{e}");
        }
        let many: Vec<String> = (0..=MAX_ARGS).map(|i| format!("K{i}=v")).collect();
        assert!(
            CniArgs::parse(&many.join(";"))
                .unwrap_err()
                .msg
                .contains("more than 64")
        );
        let enough: Vec<String> = (0..MAX_ARGS).map(|i| format!("K{i}=v")).collect();
        assert!(CniArgs::parse(&enough.join(";")).is_ok());
    }
}
