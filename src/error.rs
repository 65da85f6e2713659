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
    /// The command line is fine but the world is not as it requires: a
    /// name, MAC or path is taken, or the change would disturb something that
    /// is in use or is not dhcpnet's (containers still attached, a link
    /// someone else made, a socket another process serves). Unlike `Usage`,
    /// the same command succeeds once that is out of the way.
    Conflict = 12,
    /// `dhcpnet doctor` found a check that fails.
    Unhealthy = 13,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line itself is wrong: fix the command.
    #[error("{0}")]
    Usage(String),
    /// The command line is fine, the world is in the way (see `ExitCode::Conflict`).
    #[error("{0}")]
    Conflict(String),
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
            Error::Conflict(_) => ExitCode::Conflict,
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

    /// The same kind of error with `prefix: ` before its message.
    pub fn context(self, prefix: &str) -> Self {
        let p = |m: String| format!("{prefix}: {m}");
        match self {
            Error::Usage(m) => Error::Usage(p(m)),
            Error::Conflict(m) => Error::Conflict(p(m)),
            Error::Interface(m) => Error::Interface(p(m)),
            Error::NoAnswer(m) => Error::NoAnswer(p(m)),
            Error::Refused(m) => Error::Refused(p(m)),
            Error::NotFound(m) => Error::NotFound(p(m)),
            Error::State { path, msg } => Error::State { path, msg: p(msg) },
            Error::Permission(m) => Error::Permission(p(m)),
            Error::Kernel(m) => Error::Kernel(p(m)),
            Error::Docker(m) => Error::Docker(p(m)),
            Error::Partial(m) => Error::Partial(p(m)),
            Error::Unhealthy(m) => Error::Unhealthy(p(m)),
            Error::Other(m) => Error::Other(p(m)),
            Error::Passthrough { code, msg } => Error::Passthrough { code, msg: p(msg) },
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

/// The result of a batch (several containers, leases ...) in which each
/// failure is printed exactly once: main prints the error returned, so that
/// one is not logged as well.
///
/// - nothing failed: Ok;
/// - everything failed: the last failure is the error (its own kind and exit
///   code), named by its item (unless that is empty: the message names it)
///   when there were several; the others are logged;
/// - some failed: each is logged and a `Partial` error, worded by `partial(failed,
///   total)`, counts them.
pub fn conclude_batch(
    mut failed: Vec<(String, Error)>,
    succeeded: usize,
    partial: impl FnOnce(usize, usize) -> String,
) -> Result<()> {
    let n = failed.len();
    let Some((item, last)) = failed.pop() else {
        return Ok(());
    };
    if succeeded == 0 && failed.is_empty() {
        return Err(last);
    }
    let named = |i: &str, e: Error| if i.is_empty() { e } else { e.context(i) };
    for (i, e) in failed.drain(..) {
        log::error!("{}", named(&i, e));
    }
    let last = named(&item, last);
    if succeeded == 0 {
        return Err(last);
    }
    log::error!("{last}");
    Err(Error::Partial(partial(n, n + succeeded)))
}

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
  7   state directory unreadable, corrupt or locked; `leases` also, after
      listing the rest, while a record file is set aside (quarantine/)
  8   missing privilege (CAP_NET_RAW / CAP_NET_ADMIN)
  9   the kernel lacks a needed feature (e.g. 802.1Q)
  10  Docker failed or cannot be reached
  11  a batch partly failed (some items succeeded)
  12  conflict: a name, MAC or path is taken, or something in use is in the way
  13  dhcpnet doctor: at least one check failed
`dhcpnet run` exits with docker's own status when `docker run` fails.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reports_each_failure_once_with_the_right_code() {
        assert!(conclude_batch(Vec::new(), 3, |_, _| unreachable!()).is_ok());
        let one = conclude_batch(
            vec![("a".into(), Error::NotFound("no a".into()))],
            0,
            |_, _| String::new(),
        );
        assert!(matches!(one, Err(Error::NotFound(m)) if m == "no a"));
        let all = conclude_batch(
            vec![
                ("a".into(), Error::NotFound("gone".into())),
                ("b".into(), Error::Docker("down".into())),
            ],
            0,
            |_, _| String::new(),
        );
        assert!(matches!(all, Err(Error::Docker(m)) if m == "b: down"));
        let some = conclude_batch(
            vec![("a".into(), Error::NotFound("gone".into()))],
            2,
            |n, t| format!("{n} of {t}"),
        );
        assert!(matches!(some, Err(Error::Partial(m)) if m == "1 of 3"));
    }

    #[test]
    fn conflicts_have_their_own_documented_exit_code() {
        assert_eq!(Error::Conflict("taken".into()).process_code(), 12);
        assert_eq!(Error::Usage("bad".into()).process_code(), 2);
        assert!(EXIT_CODES_HELP.contains("\n  12  conflict"));
    }
}
