//! An AF_PACKET socket bound to one interface, with a kernel BPF filter.
//!
//! Why AF_PACKET: dhcpnet speaks DHCP for MAC addresses that are not the
//! host's (containers'), must not bind UDP port 68 (the host's own DHCP
//! client may hold it), and must see replies whether the server broadcasts or
//! unicasts them to the container's MAC. A packet socket sees every frame on
//! the parent before macvlan hands it to a child, so this works even while a
//! container with that MAC is up.
//!
//! The filter runs in the kernel so that only DHCP replies (UDP to port 68)
//! and, when asked for, ARP reach user space.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::unix::AsyncFd;

use super::mac::Mac;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// setsockopt(2) with `value`, its length being the size of `T`.
///
/// # Safety
/// Any pointer inside `value` must be valid for the kernel to read during
/// the call (the kernel copies what it needs).
unsafe fn setsockopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` is a valid T for the whole call and the length is its
    // size; the caller vouches for what it points to.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

const fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}
const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

const BPF_LD_H_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
const BPF_LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
const BPF_LD_H_IND: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_IND) as u16;
const BPF_LDX_MSH: u16 = (libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH) as u16;
const BPF_JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const BPF_RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// The classic BPF program: accept IPv4/UDP, unfragmented, destination port
/// 68; and ARP when `arp` is true. Everything else is dropped in the kernel.
pub fn dhcp_filter(arp: bool) -> Vec<libc::sock_filter> {
    vec![
        /* 0 */ stmt(BPF_LD_H_ABS, 12), // ethertype
        /* 1 */ jump(BPF_JEQ, 0x0800, 0, 7), // IPv4? else -> 9
        /* 2 */ stmt(BPF_LD_B_ABS, 23), // IP protocol
        /* 3 */ jump(BPF_JEQ, 17, 0, 6), // UDP? else drop (10)
        /* 4 */ stmt(BPF_LD_H_ABS, 20), // flags + fragment offset
        /* 5 */ jump(BPF_JSET, 0x1fff, 4, 0), // a fragment: drop
        /* 6 */ stmt(BPF_LDX_MSH, 14), // X = IP header length
        /* 7 */ stmt(BPF_LD_H_IND, 16), // UDP destination port
        /* 8 */ jump(BPF_JEQ, 68, 2, 1), // port 68: accept (11) else drop (10)
        /* 9 */
        jump(BPF_JEQ, 0x0806, if arp { 1 } else { 0 }, 0), // ARP (A still ethertype)
        /* 10 */ stmt(BPF_RET, 0),
        /* 11 */ stmt(BPF_RET, 0x0004_0000),
    ]
}

/// The classic BPF program of a watcher: IPv4/UDP, unfragmented,
/// destination port 67 (what clients send) or 68 (what servers answer).
pub fn dhcp_watch_filter() -> Vec<libc::sock_filter> {
    vec![
        /* 0 */ stmt(BPF_LD_H_ABS, 12), // ethertype
        /* 1 */ jump(BPF_JEQ, 0x0800, 0, 8), // IPv4? else drop (10)
        /* 2 */ stmt(BPF_LD_B_ABS, 23), // IP protocol
        /* 3 */ jump(BPF_JEQ, 17, 0, 6), // UDP? else drop (10)
        /* 4 */ stmt(BPF_LD_H_ABS, 20), // flags + fragment offset
        /* 5 */ jump(BPF_JSET, 0x1fff, 4, 0), // a fragment: drop (10)
        /* 6 */ stmt(BPF_LDX_MSH, 14), // X = IP header length
        /* 7 */ stmt(BPF_LD_H_IND, 16), // UDP destination port
        /* 8 */ jump(BPF_JEQ, 67, 2, 0), // port 67: accept (11)
        /* 9 */ jump(BPF_JEQ, 68, 1, 0), // port 68: accept (11) else drop (10)
        /* 10 */ stmt(BPF_RET, 0),
        /* 11 */ stmt(BPF_RET, 0x0004_0000),
    ]
}

/// A packet socket that only receives: `dhcpnet watch`'s. It has no way
/// to send (no method for it), sees every DHCP datagram on the interface
/// (ports 67 and 68, see `dhcp_watch_filter`), and other hosts' unicast
/// frames through a `PACKET_MR_PROMISC` membership that the kernel drops
/// when the socket closes.
pub struct Sniffer {
    sock: PacketSocket,
}

impl Sniffer {
    pub fn open(ifindex: u32) -> io::Result<Sniffer> {
        let sock = PacketSocket::open_filtered(ifindex, &dhcp_watch_filter())?;
        sock.accept_all()?;
        Ok(Sniffer { sock })
    }

    /// Receive one frame into `buf`; returns its length.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.recv(buf).await
    }
}

pub struct PacketSocket {
    /// Always Some until dropped.
    fd: Option<AsyncFd<OwnedFd>>,
    ifindex: i32,
}

// Closing a packet socket makes the kernel wait for an RCU grace period
// (packet_release -> synchronize_net), about 10 ms here: more than half of a
// whole `dhcpnet lease` process. A one-shot command therefore keeps its
// packet sockets open until it has printed its result, and then hands them
// to a short-lived child that closes them after the command has exited
// (`finish`). Long-running processes (the daemon) close them normally.
static DEFER: AtomicBool = AtomicBool::new(false);
static DEFERRED: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

/// Keep packet sockets open until `finish` (one-shot commands only).
pub fn defer_close() {
    DEFER.store(true, Ordering::Relaxed);
}

/// Close deferred packet sockets off the caller's critical path: a child
/// inherits them and waits, on a pipe, until this process has exited; the
/// last close (and its grace period) then happens in the child. Call right
/// before exiting, with all output flushed.
pub fn finish() {
    let fds = match DEFERRED.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(_) => return,
    };
    if fds.is_empty() {
        return;
    }
    let mut pipe = [0 as libc::c_int; 2];
    // SAFETY: `pipe` is a valid array of two ints for the kernel to fill.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return; // the sockets are closed normally, just more slowly
    }
    // Everything the child needs is computed before fork: after it, the
    // child only makes system calls.
    let mut keep: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).chain([pipe[0]]).collect();
    keep.sort_unstable();
    // SAFETY: getrlimit fills a valid rlimit struct.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    let max_fd: RawFd = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 16) as RawFd
    } else {
        1024
    };
    // SAFETY: this process runs a current-thread runtime and no other
    // threads, so the child is a faithful copy; the child makes only
    // async-signal-safe system calls (close, close_range, read, _exit) on
    // data prepared before the fork, and never returns into Rust code.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY (whole block): plain system calls on descriptor numbers.
        unsafe {
            // First what must not outlive the parent: the caller's stdin,
            // stdout and stderr (a `$(dhcpnet ...)` waits for their EOF) and
            // our own copy of the pipe's write end (else EOF never comes).
            for fd in [0, 1, 2, pipe[1]] {
                if keep.binary_search(&fd).is_err() {
                    libc::close(fd);
                }
            }
            // Then every other descriptor but the sockets and the pipe's
            // read end; one by one where close_range is missing (< 5.9).
            let mut next: RawFd = 3;
            for &k in keep.iter().chain([&max_fd]) {
                if k > next {
                    let r = libc::syscall(
                        libc::SYS_close_range,
                        next as libc::c_uint,
                        (k - 1) as libc::c_uint,
                        0,
                    );
                    if r != 0 {
                        for fd in next..k {
                            libc::close(fd);
                        }
                    }
                }
                next = next.max(k + 1);
            }
            // Wait for the parent to exit (EOF), then exit, closing the
            // sockets; their grace period is no one's wait.
            let mut b = [0u8; 1];
            while libc::read(pipe[0], b.as_mut_ptr() as *mut libc::c_void, 1) < 0
                && *libc::__errno_location() == libc::EINTR
            {}
            libc::_exit(0);
        }
    }
    // Parent (or fork failed): drop our copies now; the pipe's write end
    // stays open until this process exits, which releases the child.
    // SAFETY: closing the read end we own; the write end is deliberately
    // left open for the kernel to close at exit.
    unsafe { libc::close(pipe[0]) };
    drop(fds);
}

impl Drop for PacketSocket {
    fn drop(&mut self) {
        if let Some(afd) = self.fd.take()
            && DEFER.load(Ordering::Relaxed)
            && let Ok(mut v) = DEFERRED.lock()
        {
            v.push(afd.into_inner());
        }
    }
}

impl PacketSocket {
    /// Open a packet socket on `ifindex` that receives only DHCP replies
    /// (and ARP if `arp`). Needs CAP_NET_RAW.
    pub fn open(ifindex: u32, arp: bool) -> io::Result<PacketSocket> {
        Self::open_filtered(ifindex, &dhcp_filter(arp))
    }

    /// Open a packet socket on `ifindex` whose kernel filter is `prog`.
    fn open_filtered(ifindex: u32, prog: &[libc::sock_filter]) -> io::Result<PacketSocket> {
        let proto = (libc::ETH_P_ALL as u16).to_be() as libc::c_int;
        // Open with protocol 0 so that nothing is queued before the filter is
        // attached and the socket bound; then bind with ETH_P_ALL.
        // SAFETY: plain syscall with constant arguments; the result is checked.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })?;
        // SAFETY: `raw` is a fresh descriptor we own; OwnedFd closes it once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `fprog` points into `prog`, which outlives the call; the
        // kernel copies the program during setsockopt.
        unsafe { setsockopt(raw, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog) }?;
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto as u16;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll and the length matches it.
        cvt(unsafe {
            libc::bind(
                raw,
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        // SAFETY: `fd` is an OwnedFd moved into the AsyncFd, so the descriptor
        // stays open and is not closed or reused by anyone else for as long as
        // it is registered with the reactor.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
        Ok(PacketSocket {
            fd: Some(fd),
            ifindex: ifindex as i32,
        })
    }

    /// Ask the interface to accept frames sent to `mac` (PACKET_MR_UNICAST).
    /// A real NIC filters unicast MACs it does not own; this membership adds
    /// `mac` to its filter for as long as the socket lives, and the kernel
    /// removes it when the socket closes, so the parent is never left with a
    /// stale filter or in promiscuous mode.
    pub fn accept_unicast(&self, mac: Mac) -> io::Result<()> {
        self.membership(libc::PACKET_MR_UNICAST, Some(mac))
    }

    /// Receive every frame on the interface (PACKET_MR_PROMISC), for batches
    /// of many MACs where one filter entry each would make the driver
    /// reprogram its filter thousands of times. Like `accept_unicast`, the
    /// kernel drops it when the socket closes.
    pub fn accept_all(&self) -> io::Result<()> {
        self.membership(libc::PACKET_MR_PROMISC, None)
    }

    fn membership(&self, kind: libc::c_int, mac: Option<Mac>) -> io::Result<()> {
        // SAFETY: packet_mreq is plain old data; all-zero is a valid value.
        let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
        mr.mr_ifindex = self.ifindex;
        mr.mr_type = kind as u16;
        if let Some(mac) = mac {
            mr.mr_alen = 6;
            mr.mr_address[..6].copy_from_slice(&mac.0);
        }
        // SAFETY: packet_mreq holds no pointers.
        unsafe {
            setsockopt(
                self.raw(),
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                &mr,
            )
        }
    }

    fn afd(&self) -> io::Result<&AsyncFd<OwnedFd>> {
        self.fd
            .as_ref()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))
    }

    fn raw(&self) -> RawFd {
        self.fd
            .as_ref()
            .map(|f| f.get_ref().as_raw_fd())
            .unwrap_or(-1)
    }

    /// Send one whole Ethernet frame.
    pub async fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.afd()?.writable().await?;
            // SAFETY: `frame` is a valid buffer of the given length.
            let r = guard.try_io(|fd| {
                cvt(unsafe {
                    libc::send(
                        fd.as_raw_fd(),
                        frame.as_ptr() as *const libc::c_void,
                        frame.len(),
                        0,
                    )
                } as i32)
            });
            match r {
                Ok(res) => return res.map(|_| ()),
                Err(_would_block) => continue,
            }
        }
    }

    /// Receive one frame into `buf`; returns its length, the index of the
    /// interface it came in on and its packet type (`libc::PACKET_HOST`
    /// for a frame addressed to one of this host's MAC addresses).
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, u32, u8)> {
        loop {
            let mut guard = self.afd()?.readable().await?;
            // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: `buf` is a valid writable buffer of the given length,
            // and `sll`/`len` a valid address buffer and its size.
            let r = guard.try_io(|fd| {
                let n = unsafe {
                    libc::recvfrom(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        0,
                        &mut sll as *mut _ as *mut libc::sockaddr,
                        &mut len,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match r {
                Ok(res) => return res.map(|n| (n, sll.sll_ifindex as u32, sll.sll_pkttype)),
                Err(_would_block) => continue,
            }
        }
    }

    /// Receive one frame into `buf`; returns its length.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.afd()?.readable().await?;
            // SAFETY: `buf` is a valid writable buffer of the given length.
            let r = guard.try_io(|fd| {
                let n = unsafe {
                    libc::recv(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        0,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match r {
                Ok(res) => return res,
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_jumps_stay_inside_the_program() {
        for p in [dhcp_filter(false), dhcp_filter(true), dhcp_watch_filter()] {
            for (i, ins) in p.iter().enumerate() {
                if ins.code & libc::BPF_JMP as u16 != 0 && ins.code & 0x07 == libc::BPF_JMP as u16 {
                    assert!(i + 1 + (ins.jt as usize) < p.len(), "jt of {i}");
                    assert!(i + 1 + (ins.jf as usize) < p.len(), "jf of {i}");
                }
            }
            assert_eq!(p.last().map(|i| i.k), Some(0x0004_0000));
        }
    }
}
