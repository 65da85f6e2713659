//! Socket activation (systemd's `sd_listen_fds` protocol): the service
//! manager listens on the plugin sockets from early boot and hands them to
//! the daemon as file descriptors 3, 4 ... (`LISTEN_PID` is the daemon's
//! pid, `LISTEN_FDS` how many).
//!
//! What is handed over is checked, never trusted: a descriptor that is not
//! a listening unix stream socket, or whose socket file others may use, is
//! refused with a line saying what is wrong, and the daemon runs on without
//! that plugin. Exiting instead would make `Restart=always` start it again
//! and again with the same descriptors, renewing nothing meanwhile.
//!
//! The environment and the descriptors are taken first thing in `main`
//! (`take_environment`), before any thread or child exists: every handed
//! descriptor is made close-on-exec (else the docker CLI the event
//! follower runs, and its children, would inherit listening plugin
//! sockets), and `LISTEN_*` are removed (else a child could take them as
//! meant for itself).

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The first descriptor passed (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;
/// More descriptors than this are not looked at (a bogus `LISTEN_FDS`).
const MAX_FDS: u32 = 1024;
/// Sockets served: one per driver (dhcpnet, dhcpnet-ipvlan).
pub const SERVED: usize = 2;

/// The descriptors handed to this process, as `take_environment` found them.
static HANDED: OnceLock<Vec<RawFd>> = OnceLock::new();

/// Read and remove `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`, and make
/// every descriptor handed to this process close-on-exec.
///
/// # Safety
/// Must be called while the process has one thread (first thing in
/// `main`): it changes the environment, which another thread might be
/// reading at the same time.
pub unsafe fn take_environment() {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0)
        .min(MAX_FDS);
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: the caller guarantees a single thread, so nothing reads
        // the environment while it changes.
        unsafe { std::env::remove_var(var) };
    }
    let fds: Vec<RawFd> = if ours {
        (0..count).map(|i| FIRST_FD + i as RawFd).collect()
    } else {
        Vec::new()
    };
    for &fd in &fds {
        // SAFETY: F_GETFD/F_SETFD only read and set the descriptor's flags;
        // on a descriptor that is not open they fail with EBADF, harmlessly.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
    let _ = HANDED.set(fds);
}

/// What socket activation handed over, after the checks.
#[derive(Debug, Default)]
pub struct Activated {
    /// Usable listeners, with their socket file's path when they have one.
    pub listeners: Vec<(tokio::net::UnixListener, Option<PathBuf>)>,
    /// Descriptors handed over (served or not).
    pub handed: usize,
    /// Descriptors refused (each logged as an error saying why).
    pub refused: usize,
}

/// The listeners handed over (none without socket activation). Each
/// refused descriptor is logged as an error and left out.
pub fn listeners() -> Activated {
    let fds = HANDED.get().cloned().unwrap_or_default();
    let mut out = Activated {
        handed: fds.len(),
        ..Activated::default()
    };
    for fd in fds {
        if out.listeners.len() >= SERVED {
            log::warn!(
                "socket activation: file descriptor {fd} is one socket too many (at most {SERVED}: \
                 dhcpnet.sock and dhcpnet-ipvlan.sock); not served"
            );
            continue;
        }
        match listener(fd) {
            Ok(l) => out.listeners.push(l),
            Err(why) => {
                out.refused += 1;
                log::error!(
                    "socket activation: file descriptor {fd} {why}; that plugin socket is not \
                     served (leases are still renewed). Fix the socket unit: \
                     ListenStream=/run/docker/plugins/dhcpnet.sock (and ...-ipvlan.sock), \
                     SocketMode=0600"
                );
            }
        }
    }
    out
}

/// Why descriptor `fd` cannot serve the plugin, or the listener it is.
fn listener(fd: RawFd) -> Result<(tokio::net::UnixListener, Option<PathBuf>), String> {
    let kind = kind_of(fd)?;
    if let Some(wrong) = kind.wrong() {
        return Err(wrong);
    }
    // SAFETY: the descriptor was handed to this process by the service
    // manager for it to own (LISTEN_PID is ours), it is a listening unix
    // stream socket (checked above), and `listeners` takes each only once.
    let std_listener =
        unsafe { <std::os::unix::net::UnixListener as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let path = std_listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(|p| p.to_path_buf()));
    let Some(p) = &path else {
        // Forget the descriptor again without closing it: it is refused,
        // and closing the service manager's socket under it helps no one.
        let _ = std::os::fd::IntoRawFd::into_raw_fd(std_listener);
        return Err(
            "is a socket with no file (an abstract or unnamed socket): the engine finds plugins \
             by file"
                .into(),
        );
    };
    if let Err(why) = check_file_mode(p) {
        let _ = std::os::fd::IntoRawFd::into_raw_fd(std_listener);
        return Err(why);
    }
    std_listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot be made non-blocking ({e})"))?;
    let l = tokio::net::UnixListener::from_std(std_listener)
        .map_err(|e| format!("cannot be used ({e})"))?;
    Ok((l, path))
}

/// A handed socket's file must not let others connect: looser than 0660
/// in the one bit that matters, write for others (connect(2) on a unix
/// socket needs write permission; read or execute grant nothing, so the
/// 0644 or 0755 a umask of 022 gives are accepted), is refused. The peer
/// check (`plugin::serve`) refuses every uid but root's anyway; this
/// catches the unit's mistake where it is made.
fn check_file_mode(p: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let m = std::fs::symlink_metadata(p).map_err(|e| {
        format!(
            "is a socket whose file {} cannot be read ({e})",
            p.display()
        )
    })?;
    if !m.file_type().is_socket() {
        return Err(format!(
            "is a socket whose path {} is not a socket file",
            p.display()
        ));
    }
    let mode = m.permissions().mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Err(format!(
            "is the socket {} with mode {mode:04o}, which lets every local user lease, release and \
             run DHCP on any interface (others may write it: looser than 0660 is refused)",
            p.display()
        ));
    }
    Ok(())
}

/// What the kernel says a descriptor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kind {
    /// `st_mode & S_IFMT` of fstat.
    file_type: libc::mode_t,
    /// SO_DOMAIN, SO_TYPE and SO_ACCEPTCONN, for a socket.
    domain: libc::c_int,
    sock_type: libc::c_int,
    listening: bool,
}

impl Kind {
    /// What makes it unusable as a plugin listener, said for a person.
    fn wrong(&self) -> Option<String> {
        if self.file_type != libc::S_IFSOCK {
            let what = match self.file_type {
                libc::S_IFREG => "a regular file",
                libc::S_IFDIR => "a directory",
                libc::S_IFIFO => "a pipe",
                libc::S_IFCHR => "a character device (a terminal, /dev/null?)",
                _ => "something else",
            };
            return Some(format!("is not a unix socket but {what}"));
        }
        if self.domain != libc::AF_UNIX {
            let fam = match self.domain {
                libc::AF_INET => "an IPv4 socket".to_string(),
                libc::AF_INET6 => "an IPv6 socket".to_string(),
                libc::AF_NETLINK => "a netlink socket".to_string(),
                libc::AF_PACKET => "a packet socket".to_string(),
                n => format!("a socket of address family {n}"),
            };
            return Some(format!(
                "is not a unix socket but {fam} (the engine reaches plugins by file)"
            ));
        }
        if self.sock_type != libc::SOCK_STREAM {
            let t = match self.sock_type {
                libc::SOCK_DGRAM => "a datagram (ListenDatagram) socket".to_string(),
                libc::SOCK_SEQPACKET => {
                    "a sequential-packet (ListenSequentialPacket) socket".into()
                }
                n => format!("a socket of type {n}"),
            };
            return Some(format!("is {t}, not a stream socket (ListenStream=)"));
        }
        if !self.listening {
            return Some(
                "is a unix stream socket that does not listen (a connection, not a listener: \
                 Accept=yes in the socket unit?)"
                    .into(),
            );
        }
        None
    }
}

fn kind_of(fd: RawFd) -> Result<Kind, String> {
    // SAFETY: fstat fills a stat struct we own, of the right size.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(format!(
            "cannot be inspected ({}): was it closed?",
            std::io::Error::last_os_error()
        ));
    }
    let file_type = st.st_mode & libc::S_IFMT;
    let mut k = Kind {
        file_type,
        domain: -1,
        sock_type: -1,
        listening: false,
    };
    if file_type == libc::S_IFSOCK {
        let get = |opt: libc::c_int| -> Option<libc::c_int> {
            let mut v: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: getsockopt writes at most `len` bytes into `v`, a local
            // int whose size `len` is.
            let r = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    (&mut v as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            (r == 0).then_some(v)
        };
        k.domain = get(libc::SO_DOMAIN).unwrap_or(-1);
        k.sock_type = get(libc::SO_TYPE).unwrap_or(-1);
        k.listening = get(libc::SO_ACCEPTCONN).is_some_and(|v| v != 0);
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn each_wrong_kind_of_descriptor_is_named_for_what_it_is() {
        let d = tempfile::tempdir().expect("tempdir");
        let file = std::fs::File::create(d.path().join("f")).expect("file");
        let why = kind_of(file.as_raw_fd())
            .expect("kind")
            .wrong()
            .expect("wrong");
        assert!(why.contains("a regular file"), "{why}");

        let dgram = std::os::unix::net::UnixDatagram::unbound().expect("dgram");
        let why = kind_of(dgram.as_raw_fd())
            .expect("kind")
            .wrong()
            .expect("wrong");
        assert!(
            why.contains("datagram") && why.contains("ListenStream"),
            "{why}"
        );

        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
        let why = kind_of(a.as_raw_fd())
            .expect("kind")
            .wrong()
            .expect("wrong");
        assert!(why.contains("does not listen"), "{why}");

        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        let why = kind_of(udp.as_raw_fd())
            .expect("kind")
            .wrong()
            .expect("wrong");
        assert!(why.contains("IPv4"), "{why}");

        let l = std::os::unix::net::UnixListener::bind(d.path().join("s")).expect("bind");
        assert_eq!(kind_of(l.as_raw_fd()).expect("kind").wrong(), None);
    }

    #[test]
    fn a_socket_file_others_may_use_is_refused_and_0660_or_tighter_is_not() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("s");
        let _l = std::os::unix::net::UnixListener::bind(&p).expect("bind");
        for (mode, ok) in [
            (0o600, true),
            (0o660, true),
            (0o644, true),
            (0o755, true),
            (0o666, false),
            (0o602, false),
            (0o777, false),
        ] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let r = check_file_mode(&p);
            assert_eq!(r.is_ok(), ok, "{mode:o}: {r:?}");
            if let Err(why) = r {
                assert!(why.contains(&format!("{mode:04o}")), "{why}");
            }
        }
    }
}
