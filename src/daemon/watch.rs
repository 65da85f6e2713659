//! Wake the daemon when another dhcpnet process changes the records.
//!
//! inotify on the state directory and on the table's directory in it
//! (`leases.d`): every writer replaces a record by renaming a temporary
//! file over it, or removes it (see `store::table`), which is an
//! `IN_MOVED_TO` or `IN_DELETE` event naming the record's file; temporary
//! files (names starting with `.`) are ignored. The table's directory may
//! appear (or be replaced) after the watch starts: its creation in the
//! state directory wakes the watch and starts watching it. A name that is
//! a plain file is watched in the state directory as before. No polling:
//! the daemon sleeps until its next deadline or until this fires.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use tokio::io::unix::AsyncFd;

use crate::error::{Error, Result};

pub struct Watch {
    fd: AsyncFd<OwnedFd>,
    file: String,
    /// The table directory's path and watch, while it exists.
    table: std::path::PathBuf,
    table_wd: Option<i32>,
}

/// Events of the table's directory worth waking for.
const TABLE_MASK: u32 = libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_CLOSE_WRITE
    | libc::IN_DELETE
    | libc::IN_CREATE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;

/// The events in a buffer of `struct inotify_event`s, as (watch, mask,
/// name) triples.
pub fn events(buf: &[u8]) -> Vec<(i32, u32, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(h) = buf.get(at..at + 16) {
        let wd = i32::from_ne_bytes([h[0], h[1], h[2], h[3]]);
        let mask = u32::from_ne_bytes([h[4], h[5], h[6], h[7]]);
        let len = u32::from_ne_bytes([h[12], h[13], h[14], h[15]]) as usize;
        let Some(raw) = buf.get(at + 16..at + 16 + len) else {
            break;
        };
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        out.push((wd, mask, String::from_utf8_lossy(&raw[..end]).into_owned()));
        at += 16 + len;
    }
    out
}

/// Names in a buffer of `struct inotify_event`s (header: wd i32, mask u32,
/// cookie u32, len u32; then `len` bytes of NUL-padded name).
#[cfg(test)]
fn event_names(buf: &[u8]) -> Vec<String> {
    events(buf).into_iter().map(|(_, _, n)| n).collect()
}

impl Watch {
    /// Watch `dir` for `file` being replaced, created or deleted, and, when
    /// `file` is a directory (a table), for any record in it being
    /// created, replaced or removed.
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
        let mut w = Watch {
            fd,
            file: file.to_string(),
            table: dir.join(file),
            table_wd: None,
        };
        w.watch_table();
        Ok(w)
    }

    /// Start watching the table's directory, if it is one now.
    fn watch_table(&mut self) {
        let is_dir = std::fs::symlink_metadata(&self.table).is_ok_and(|m| m.is_dir());
        let Ok(path) = std::ffi::CString::new(self.table.as_os_str().as_encoded_bytes()) else {
            return;
        };
        if !is_dir {
            self.table_wd = None;
            return;
        }
        // SAFETY: `path` is a NUL-terminated string that outlives the call;
        // the descriptor is open. Adding a watch twice returns the same wd.
        let wd = unsafe {
            libc::inotify_add_watch(
                self.fd.get_ref().as_raw_fd(),
                path.as_ptr(),
                TABLE_MASK | libc::IN_ONLYDIR | libc::IN_DONT_FOLLOW,
            )
        };
        self.table_wd = (wd >= 0).then_some(wd);
    }

    /// Whether these events change the records (and follow the table's
    /// directory when it appears or goes).
    fn relevant(&mut self, evs: Vec<(i32, u32, String)>) -> bool {
        let mut hit = false;
        for (wd, mask, name) in evs {
            if Some(wd) == self.table_wd {
                if mask & (libc::IN_IGNORED | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF) != 0 {
                    self.table_wd = None;
                    hit = true;
                } else if !name.is_empty() && !name.starts_with('.') {
                    hit = true;
                }
            } else if name == self.file {
                if Some(wd) != self.table_wd {
                    self.watch_table();
                }
                hit = true;
            }
        }
        hit
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
                    if self.relevant(events(&buf[..n])) {
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

    #[test]
    fn wakes_on_any_record_created_replaced_or_removed_in_the_table_directory() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("leases.d");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let wake = |w: &mut Watch| {
            rt.block_on(async {
                tokio::time::timeout(std::time::Duration::from_millis(2000), w.changed())
                    .await
                    .is_ok()
            })
        };
        let quiet = |w: &mut Watch| {
            rt.block_on(async {
                tokio::time::timeout(std::time::Duration::from_millis(200), w.changed())
                    .await
                    .is_err()
            })
        };
        let _guard = rt.enter();
        // The directory does not exist yet: its creation wakes the watch.
        let mut w = Watch::new(d.path(), "leases.d").unwrap();
        std::fs::create_dir(&t).unwrap();
        assert!(wake(&mut w), "creation of the table directory");
        // A temporary file alone is not a change.
        std::fs::write(t.join(".a.json.tmp"), b"{}").unwrap();
        assert!(quiet(&mut w), "a temporary file");
        std::fs::rename(t.join(".a.json.tmp"), t.join("a.json")).unwrap();
        assert!(wake(&mut w), "a record renamed into place");
        std::fs::write(t.join(".a.json.tmp"), b"{}").unwrap();
        std::fs::rename(t.join(".a.json.tmp"), t.join("a.json")).unwrap();
        assert!(wake(&mut w), "a record replaced");
        std::fs::remove_file(t.join("a.json")).unwrap();
        assert!(wake(&mut w), "a record removed");
        // The directory replaced: the new one is followed.
        std::fs::remove_dir(&t).unwrap();
        assert!(wake(&mut w), "the table directory removed");
        std::fs::create_dir(&t).unwrap();
        let _ = wake(&mut w);
        std::fs::write(t.join("b.json"), b"{}").unwrap();
        assert!(wake(&mut w), "a record in the new directory");
    }
}
