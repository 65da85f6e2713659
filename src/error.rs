//! Errors that reach a person, and the exit code each one maps to.
//!
//! Every failure dhcpnet reports is one of these kinds. The exit codes are a
//! public interface (scripts branch on them) and are listed in README and the
//! man page; `ExitCode` is the single place they are defined.

use std::path::PathBuf;

/// Documented process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Something failed that has no more specific code.
    Failure = 1,
    /// The command line or a value on it is invalid (clap uses 2 as well).
    Usage = 2,
    /// The interface is missing, down, or not Ethernet.
    Interface = 3,
    /// No DHCP server answered within the timeout.
    NoAnswer = 4,
    /// A DHCP server answered but refused (DHCPNAK, or an unusable offer).
    Refused = 5,
    /// The lease, link or network named is not in dhcpnet's records.
    NotFound = 6,
    /// The state directory or a file in it is unreadable, corrupt or locked.
    State = 7,
    /// dhcpnet lacks a privilege (a capability) it needs.
    Permission = 8,
    /// The kernel lacks a feature (for example 802.1Q VLAN support).
    Kernel = 9,
    /// Docker (CLI or engine) failed or is unreachable.
    Docker = 10,
    /// Some items of a batch failed while others succeeded.
    Partial = 11,
    /// `dhcpnet doctor` found a check that fails.
    Unhealthy = 13,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Interface(String),
    #[error("{0}")]
    NoAnswer(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    NotFound(String),
    #[error("state file {path}: {msg}")]
    State { path: PathBuf, msg: String },
    #[error("{0}")]
    Permission(String),
    #[error("{0}")]
    Kernel(String),
    #[error("{0}")]
    Docker(String),
    #[error("{0}")]
    Partial(String),
    #[error("{0}")]
    Unhealthy(String),
    #[error("{0}")]
    Other(String),
    /// A command dhcpnet ran for the user (`docker run`) failed: the process
    /// exits with that command's own status.
    #[error("{msg}")]
    Passthrough { code: i32, msg: String },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::Interface(_) => ExitCode::Interface,
            Error::NoAnswer(_) => ExitCode::NoAnswer,
            Error::Refused(_) => ExitCode::Refused,
            Error::NotFound(_) => ExitCode::NotFound,
            Error::State { .. } => ExitCode::State,
            Error::Permission(_) => ExitCode::Permission,
            Error::Kernel(_) => ExitCode::Kernel,
            Error::Docker(_) => ExitCode::Docker,
            Error::Partial(_) => ExitCode::Partial,
            Error::Unhealthy(_) => ExitCode::Unhealthy,
            Error::Other(_) => ExitCode::Failure,
            Error::Passthrough { .. } => ExitCode::Docker,
        }
    }

    /// The process exit status for this error: the documented code, or the
    /// passed-through status of the command dhcpnet ran for the user.
    pub fn process_code(&self) -> i32 {
        match self {
            Error::Passthrough { code, .. } if (1..=255).contains(code) => *code,
            e => e.exit_code() as i32,
        }
    }

    pub fn state(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::State {
            path: path.into(),
            msg: msg.into(),
        }
    }

    /// Map an OS error from a socket or netlink call into a kind a person can
    /// act on, naming the capability when it is a privilege problem.
    pub fn from_os(what: &str, err: std::io::Error, capability: &str) -> Self {
        match err.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => Error::Permission(format!(
                "{what}: permission denied: dhcpnet needs {capability} \
                 (run it as root, or grant it with `setcap cap_net_raw,cap_net_admin+ep $(command -v dhcpnet)`)"
            )),
            Some(libc::ENODEV) | Some(libc::ENXIO) => {
                Error::Interface(format!("{what}: no such interface ({err}); see `ip link`"))
            }
            Some(libc::ENETDOWN) => Error::Interface(format!(
                "{what}: the interface is down; bring it up with `ip link set DEV up`"
            )),
            _ => Error::Other(format!("{what}: {err}")),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The exit codes table as text, shared by `--help` and the man page.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   success
  1   failure with no more specific code
  2   invalid command line or value (bad MAC, hostname, VID ...)
  3   interface missing, down or not Ethernet
  4   no DHCP server answered within --timeout
  5   the DHCP server refused (DHCPNAK) or offered something unusable
  6   no such lease, link or network in dhcpnet's records
  7   state directory unreadable, corrupt or locked
  8   missing privilege (CAP_NET_RAW / CAP_NET_ADMIN)
  9   the kernel lacks a needed feature (e.g. 802.1Q)
  10  Docker failed or cannot be reached
  11  a batch partly failed (some items succeeded)
  13  dhcpnet doctor: at least one check failed
`dhcpnet run` exits with docker's own status when `docker run` fails.";
