//! Wake the daemon when another dhcpnet process changes the records.
//!
//! inotify on the state directory: every writer replaces `leases.json` by
//! renaming a temporary file over it (see `store`), which is an
//! `IN_MOVED_TO` event naming the file. No polling: the daemon sleeps until
//! its next deadline or until this fires.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use tokio::io::unix::AsyncFd;

use crate::error::{Error, Result};

pub struct Watch {
    fd: AsyncFd<OwnedFd>,
    file: String,
}

/// Names in a buffer of `struct inotify_event`s (header: wd i32, mask u32,
/// cookie u32, len u32; then `len` bytes of NUL-padded name).
pub fn event_names(buf: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 0;
    while let Some(h) = buf.get(at..at + 16) {
        let len = u32::from_ne_bytes([h[12], h[13], h[14], h[15]]) as usize;
        let Some(raw) = buf.get(at + 16..at + 16 + len) else {
            break;
        };
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        names.push(String::from_utf8_lossy(&raw[..end]).into_owned());
        at += 16 + len;
    }
    names
}

impl Watch {
    /// Watch `dir` for `file` being replaced, created or deleted.
    pub fn new(dir: &Path, file: &str) -> Result<Watch> {
        let fail = |what: &str, e: std::io::Error| {
            Error::Other(format!(
                "cannot watch {} for changes ({what}: {e})",
                dir.display()
            ))
        };
        // SAFETY: inotify_init1 has no memory preconditions; the result is checked.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(fail("inotify_init1", std::io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a valid descriptor just returned by the kernel and
        // owned by nobody else; OwnedFd closes it exactly once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::Usage(format!("{} contains a NUL byte", dir.display())))?;
        let mask = libc::IN_MOVED_TO | libc::IN_CLOSE_WRITE | libc::IN_DELETE | libc::IN_CREATE;
        // SAFETY: `path` is a NUL-terminated string that outlives the call;
        // the descriptor is open.
        let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) };
        if wd < 0 {
            return Err(fail("inotify_add_watch", std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` is an OwnedFd moved into the AsyncFd, so the descriptor
        // stays open (and is not reused) for as long as it is registered.
        let fd = unsafe { AsyncFd::register(fd) }
            .map_err(|e| fail("registering with the runtime", e.into_parts().1))?;
        Ok(Watch {
            fd,
            file: file.to_string(),
        })
    }

    /// Wait until the watched file changed.
    pub async fn changed(&mut self) -> Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            let mut guard = self
                .fd
                .readable()
                .await
                .map_err(|e| Error::Other(format!("watching the state directory: {e}")))?;
            let r = guard.try_io(|fd| {
                // SAFETY: `buf` is valid for writes of its length for the call.
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match r {
                Ok(Ok(n)) => {
                    if event_names(&buf[..n]).contains(&self.file) {
                        return Ok(());
                    }
                }
                Ok(Err(e)) => return Err(Error::Other(format!("reading inotify events: {e}"))),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, pad: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&1i32.to_ne_bytes());
        v.extend_from_slice(&libc::IN_MOVED_TO.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&((name.len() + pad) as u32).to_ne_bytes());
        v.extend_from_slice(name.as_bytes());
        v.extend(std::iter::repeat_n(0u8, pad));
        v
    }

    #[test]
    fn parses_names_and_stops_at_truncation() {
        let mut b = ev("leases.json", 5);
        b.extend(ev("lock", 12));
        assert_eq!(event_names(&b), vec!["leases.json", "lock"]);
        let cut = &b[..b.len() - 3];
        assert_eq!(event_names(cut), vec!["leases.json"]);
        assert!(event_names(&[1, 2, 3]).is_empty());
    }

    #[test]
    fn wakes_on_a_rename_over_the_file() {
        let d = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut w = Watch::new(d.path(), "leases.json").unwrap();
            std::fs::write(d.path().join("other"), b"x").unwrap();
            std::fs::write(d.path().join(".leases.json.tmp"), b"{}").unwrap();
            std::fs::rename(
                d.path().join(".leases.json.tmp"),
                d.path().join("leases.json"),
            )
            .unwrap();
            tokio::time::timeout(std::time::Duration::from_secs(5), w.changed())
                .await
                .unwrap()
                .unwrap();
        });
    }
}
