//! The state directory: dhcpnet's records of leases (and, later, links and
//! networks), one JSON file per kind.
//!
//! Writers take an exclusive lock on `DIR/lock` for the whole
//! read-modify-write, so concurrent `dhcpnet` processes never lose each
//! other's records; every write goes to a temporary file that is fsynced and
//! renamed over the old one (then the directory is fsynced), so a crash
//! leaves either the old or the new file, never half of one. Readers need no
//! lock. A file that cannot be parsed is an error naming it; it is never
//! replaced behind the user's back.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

pub const DEFAULT_DIR: &str = "/var/lib/dhcpnet";
pub const FORMAT_VERSION: u32 = 1;
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Holds the state directory's lock until dropped.
pub struct Lock {
    _file: File,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn ensure_dir(&self) -> Result<()> {
        fs::create_dir_all(&self.dir).map_err(|e| {
            Error::state(&self.dir, format!("cannot create the state directory: {e} (set --state-dir or DHCPNET_STATE_DIR to a writable directory)"))
        })
    }

    /// Take the exclusive lock; blocks while another dhcpnet holds it.
    pub fn lock(&self) -> Result<Lock> {
        self.ensure_dir()?;
        let p = self.path("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| Error::state(&p, format!("cannot open the lock file: {e}")))?;
        // Writers hold the lock for milliseconds; waiting longer than this
        // means a stuck process, which a person should hear about.
        let give_up = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(Lock { _file: f }),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < give_up => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::state(
                        &p,
                        format!(
                            "another dhcpnet process has held the lock for over {} s;                              find it with `fuser {}` and stop it if it is stuck",
                            LOCK_WAIT.as_secs(),
                            p.display()
                        ),
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::state(&p, format!("cannot lock: {e}")));
                }
            }
        }
    }

    /// Read a JSON document; a missing file is `None`.
    pub fn read<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let p = self.path(name);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::state(&p, format!("cannot read: {e}"))),
        };
        #[derive(serde::Deserialize)]
        struct Version {
            version: Option<u32>,
        }
        let v: Version = serde_json::from_slice(&bytes).map_err(|e| corrupt(&p, e))?;
        match v.version {
            Some(FORMAT_VERSION) => {}
            Some(n) => {
                return Err(Error::state(
                    &p,
                    format!(
                        "format version {n} was written by a newer dhcpnet; this one reads version {FORMAT_VERSION}"
                    ),
                ));
            }
            None => {
                return Err(Error::state(
                    &p,
                    "no \"version\" field: not a dhcpnet state file",
                ));
            }
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| corrupt(&p, e))
    }

    /// Replace a JSON document atomically. Call with the lock held.
    pub fn write<T: Serialize>(&self, _lock: &Lock, name: &str, value: &T) -> Result<()> {
        let p = self.path(name);
        let tmp = self.path(&format!(".{name}.tmp"));
        let mut data = serde_json::to_vec_pretty(value)
            .map_err(|e| Error::state(&p, format!("cannot encode: {e}")))?;
        data.push(b'\n');
        let io = |e: std::io::Error| Error::state(&p, format!("cannot write: {e}"));
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&data).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        fs::rename(&tmp, &p).map_err(io)?;
        // Make the rename itself durable.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }
}

fn corrupt(p: &Path, e: serde_json::Error) -> Error {
    Error::state(
        p,
        format!(
            "cannot parse ({e}); the file was left as it is: repair it, or move it aside to start \
             with no records (dhcpnet would then forget those leases)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Doc {
        version: u32,
        items: Vec<u32>,
    }

    #[test]
    fn round_trip_and_missing() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path().join("state"));
        assert_eq!(s.read::<Doc>("x.json").unwrap(), None);
        let l = s.lock().unwrap();
        s.write(
            &l,
            "x.json",
            &Doc {
                version: 1,
                items: vec![1, 2],
            },
        )
        .unwrap();
        assert_eq!(
            s.read::<Doc>("x.json").unwrap(),
            Some(Doc {
                version: 1,
                items: vec![1, 2]
            })
        );
        assert!(!s.path(".x.json.tmp").exists());
    }

    #[test]
    fn corrupt_file_is_named_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        fs::write(s.path("x.json"), b"{not json").unwrap();
        let e = s.read::<Doc>("x.json").unwrap_err();
        assert!(matches!(e, Error::State { .. }));
        assert!(e.to_string().contains("x.json"), "{e}");
        assert_eq!(fs::read(s.path("x.json")).unwrap(), b"{not json");
    }

    #[test]
    fn newer_version_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        fs::write(s.path("x.json"), br#"{"version": 9, "items": []}"#).unwrap();
        assert!(
            s.read::<Doc>("x.json")
                .unwrap_err()
                .to_string()
                .contains("newer dhcpnet")
        );
    }
}
