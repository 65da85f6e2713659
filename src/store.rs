//! The state directory: dhcpnet's records of leases, links and networks,
//! one table (a directory of one JSON file per record, see `table`) per
//! kind.
//!
//! Writers take an exclusive lock on `DIR/lock` for the whole
//! read-modify-write, so concurrent `dhcpnet` processes never lose each
//! other's records; every write goes to a temporary file that is fsynced and
//! renamed over the old one (then the directory is fsynced), so a crash
//! leaves either the old or the new file, never half of one. Readers need no
//! lock. A single document (`read`, an old `leases.json`) that cannot be
//! parsed, or that holds a record that fails its checks, is an error naming
//! it (and the record); it is never replaced behind the user's back. One
//! bad record file of a table is set aside instead, and the table serves
//! the rest (see `table`).
//!
//! The directory is private: mode 0700, every file in it 0600 (lock files
//! included, since `flock` works on a read-only descriptor), whatever the
//! umask. A directory left looser by an older dhcpnet is tightened, with a
//! warning; one that is a symbolic link, or that belongs to another user
//! (root excepted), is refused.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

pub mod table;
pub use table::{Record, Table};

pub const DEFAULT_DIR: &str = "/var/lib/dhcpnet";
pub const FORMAT_VERSION: u32 = 1;
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// The state directory's mode: its owner only.
pub const DIR_MODE: u32 = 0o700;
/// Every file's mode in the state directory.
pub const FILE_MODE: u32 = 0o600;
/// The files that are only ever locked (they hold no data).
const LOCK_FILES: [&str; 2] = ["lock", "daemon.lock"];

#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    /// Set once the directory was checked (and tightened) by this process.
    checked: Arc<AtomicBool>,
}

/// Holds the state directory's lock until dropped.
pub struct Lock {
    _file: File,
}

fn euid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store {
            dir: dir.into(),
            checked: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Create the state directory if it is missing (mode 0700, whatever the
    /// umask), and check it: see `secure`.
    pub fn prepare(&self) -> Result<()> {
        self.secure(true).map(|_| ())
    }

    /// Check the directory once per process: a real directory (not a
    /// symlink) owned by this user or by root; tighten it to 0700 (and its
    /// files to 0600) when it is looser. With `create`, make it when it is
    /// missing. Returns whether it exists.
    fn secure(&self, create: bool) -> Result<bool> {
        if self.checked.load(Ordering::Acquire) {
            return Ok(true);
        }
        let dir = &self.dir;
        let mut created = false;
        if create {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|e| cannot_create(dir, e))?;
            }
            match fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
                Ok(()) => created = true,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(cannot_create(dir, e)),
            }
        }
        // O_NOFOLLOW: a symlink is refused rather than followed; every check
        // and the chmod then act on this descriptor, not on the path again.
        let d = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(dir)
        {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => return Ok(false),
            Err(e) => {
                let what = match fs::symlink_metadata(dir) {
                    Ok(m) if m.file_type().is_symlink() => {
                        "is a symbolic link; dhcpnet's state directory must be a real directory \
                         (another user who can change the link could point dhcpnet elsewhere): \
                         give the target itself with --state-dir or DHCPNET_STATE_DIR"
                            .to_string()
                    }
                    Ok(m) if !m.is_dir() => "is not a directory".to_string(),
                    _ => format!("cannot open the state directory: {e}"),
                };
                return Err(Error::state(dir, what));
            }
        };
        let md = d
            .metadata()
            .map_err(|e| Error::state(dir, format!("cannot stat the state directory: {e}")))?;
        let me = euid();
        if md.uid() != me && md.uid() != 0 {
            return Err(Error::state(
                dir,
                format!(
                    "the state directory belongs to uid {}, not to the user dhcpnet runs as \
                     (uid {me}): that user could change or lock dhcpnet's records. Give dhcpnet \
                     a directory of its own with --state-dir or DHCPNET_STATE_DIR, or chown this one",
                    md.uid()
                ),
            ));
        }
        let mode = md.permissions().mode() & 0o7777;
        if mode != DIR_MODE {
            if md.uid() == me {
                d.set_permissions(fs::Permissions::from_mode(DIR_MODE))
                    .map_err(|e| Error::state(dir, format!("cannot chmod 0700: {e}")))?;
                if !created && mode & 0o077 != 0 {
                    log::warn!(
                        "state directory {} was mode {mode:04o}, open to other users; tightened to 0700",
                        dir.display()
                    );
                    tighten_files(dir)?;
                }
            } else if mode & 0o077 != 0 {
                log::warn!(
                    "state directory {} is mode {mode:04o}, open to other users; run dhcpnet once \
                     as its owner (root) to tighten it to 0700",
                    dir.display()
                );
            }
        }
        self.checked.store(true, Ordering::Release);
        Ok(true)
    }

    /// Open (creating it if missing) a file of the state directory that only
    /// this user can open: mode 0600 whatever the umask, never through a
    /// symlink, refused when another user owns it. For lock files such as
    /// `daemon.lock`.
    pub fn open_private(&self, name: &str) -> Result<File> {
        self.prepare()?;
        let p = self.path(name);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
            .map_err(|e| Error::state(&p, format!("cannot open: {e}")))?;
        make_private(&f, &p)?;
        Ok(f)
    }

    /// Take the exclusive lock; blocks while another dhcpnet holds it.
    pub fn lock(&self) -> Result<Lock> {
        let p = self.path("lock");
        let f = self.open_private("lock")?;
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
                            "another dhcpnet process has held the lock for over {} s; \
                             find it with `fuser {}` and stop it if it is stuck",
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
        if !self.secure(false)? {
            return Ok(None);
        }
        let p = self.path(name);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::state(&p, format!("cannot read: {e}"))),
        };
        decode(&p, &bytes).map(Some)
    }

    /// Replace a JSON document atomically. Call with the lock held.
    pub fn write<T: Serialize>(&self, _lock: &Lock, name: &str, value: &T) -> Result<()> {
        let p = self.path(name);
        let tmp = self.path(&format!(".{name}.tmp"));
        let mut data = serde_json::to_vec_pretty(value)
            .map_err(|e| Error::state(&p, format!("cannot encode: {e}")))?;
        data.push(b'\n');
        let io = |e: std::io::Error| Error::state(&p, format!("cannot write: {e}"));
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(io)?;
        make_private(&f, &tmp)?;
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

fn cannot_create(dir: &Path, e: std::io::Error) -> Error {
    Error::state(
        dir,
        format!(
            "cannot create the state directory: {e} (set --state-dir or DHCPNET_STATE_DIR to a \
             writable directory)"
        ),
    )
}

/// An open file of the state directory: a regular file of this user's, mode
/// 0600 (fchmod, so that neither the umask nor an older mode loosens it).
fn make_private(f: &File, p: &Path) -> Result<()> {
    let md = f
        .metadata()
        .map_err(|e| Error::state(p, format!("cannot stat: {e}")))?;
    if !md.is_file() {
        return Err(Error::state(p, "is not a regular file"));
    }
    if md.uid() != euid() {
        return Err(Error::state(
            p,
            format!(
                "belongs to uid {}, not to the user dhcpnet runs as (uid {}): remove it",
                md.uid(),
                euid()
            ),
        ));
    }
    if md.permissions().mode() & 0o7777 != FILE_MODE {
        f.set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .map_err(|e| Error::state(p, format!("cannot chmod 0600: {e}")))?;
    }
    Ok(())
}

/// The files of a directory that was open to other users: data files become
/// 0600; lock files are replaced by new ones (0600), since another user may
/// hold the old one open (and locked) already.
fn tighten_files(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir)
        .map_err(|e| Error::state(dir, format!("cannot list the state directory: {e}")))?;
    let me = euid();
    for entry in entries.flatten() {
        let p = entry.path();
        let Ok(md) = fs::symlink_metadata(&p) else {
            continue;
        };
        let name = entry.file_name();
        let is_lock = LOCK_FILES.iter().any(|l| name == *l);
        let mode = md.permissions().mode() & 0o7777;
        if !md.is_file() {
            continue;
        }
        if is_lock && (mode & 0o077 != 0 || md.uid() != me) {
            let fresh = dir.join(format!(".{}.new", name.to_string_lossy()));
            let _ = fs::remove_file(&fresh);
            OpenOptions::new()
                .create_new(true)
                .write(true)
                .mode(FILE_MODE)
                .open(&fresh)
                .and_then(|f| f.set_permissions(fs::Permissions::from_mode(FILE_MODE)))
                .and_then(|()| fs::rename(&fresh, &p))
                .map_err(|e| Error::state(&p, format!("cannot replace the lock file: {e}")))?;
            log::warn!(
                "lock file {} was mode {mode:04o}; replaced by a new one of mode 0600",
                p.display()
            );
        } else if md.uid() != me {
            log::warn!(
                "{} belongs to uid {}, not to dhcpnet's user; left as it is",
                p.display(),
                md.uid()
            );
        } else if mode & 0o077 != 0 {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode & 0o700 | FILE_MODE))
                .map_err(|e| Error::state(&p, format!("cannot chmod 0600: {e}")))?;
            log::warn!(
                "{} was mode {mode:04o}, open to other users; tightened to 0600",
                p.display()
            );
        }
    }
    Ok(())
}

/// Parse a state file's bytes: a JSON object with a known `version`.
pub fn decode<T: DeserializeOwned>(p: &Path, bytes: &[u8]) -> Result<T> {
    #[derive(serde::Deserialize)]
    struct Version {
        version: Option<u32>,
    }
    let v: Version = serde_json::from_slice(bytes).map_err(|e| corrupt(p, e))?;
    match v.version {
        Some(FORMAT_VERSION) => {}
        Some(n) => {
            return Err(Error::state(
                p,
                format!(
                    "format version {n} was written by a newer dhcpnet; this one reads version {FORMAT_VERSION}"
                ),
            ));
        }
        None => {
            return Err(Error::state(
                p,
                "no \"version\" field: not a dhcpnet state file",
            ));
        }
    }
    serde_json::from_slice(bytes).map_err(|e| corrupt(p, e))
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

/// Check every record of a state file; the first that fails is an error
/// naming the file, the record (its position and `label`) and the reason.
pub fn check_records<T>(
    p: &Path,
    records: &[T],
    check: impl Fn(&T) -> std::result::Result<(), String>,
    label: impl Fn(&T) -> String,
) -> Result<()> {
    for (i, r) in records.iter().enumerate() {
        if let Err(why) = check(r) {
            return Err(Error::state(
                p,
                format!(
                    "record {} of {} ({}) is invalid: {why}; the file was left as it is: repair or \
                     remove that record",
                    i + 1,
                    records.len(),
                    label(r)
                ),
            ));
        }
    }
    Ok(())
}

/// Checks shared by the records of every state file. Each returns why a
/// value is refused; strings from the file are quoted with escapes, never
/// printed raw.
pub mod check {
    use super::*;

    /// The years a recorded instant may fall in: far inside chrono's range,
    /// so that adding any u32 number of seconds cannot overflow.
    pub const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

    pub fn date(field: &str, t: &DateTime<Utc>) -> std::result::Result<(), String> {
        if YEARS.contains(&t.year()) {
            Ok(())
        } else {
            Err(format!(
                "{field} is in year {}, outside {}..={}",
                t.year(),
                YEARS.start(),
                YEARS.end()
            ))
        }
    }

    /// Text without control characters, of at most `max` bytes.
    pub fn text(field: &str, s: &str, max: usize) -> std::result::Result<(), String> {
        if s.len() > max {
            return Err(format!("{field} is {} bytes long, over {max}", s.len()));
        }
        if s.chars().any(char::is_control) {
            return Err(format!("{field} {s:?} holds control characters"));
        }
        Ok(())
    }

    /// Non-empty text without control characters, of at most `max` bytes.
    pub fn name(field: &str, s: &str, max: usize) -> std::result::Result<(), String> {
        if s.is_empty() {
            return Err(format!("{field} is empty"));
        }
        text(field, s, max)
    }

    /// A Linux interface name: 1 to 15 bytes, no '/', ':', whitespace or
    /// control characters, not "." or "..".
    pub fn ifname(field: &str, s: &str) -> std::result::Result<(), String> {
        if s.is_empty()
            || s.len() > 15
            || s == "."
            || s == ".."
            || s.chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "{field} {s:?} is not a valid interface name (1-15 bytes, no '/', ':', spaces or \
                 control characters)"
            ));
        }
        Ok(())
    }

    /// An address a host may hold: not 0.0.0.0, broadcast, multicast,
    /// loopback or in 0.0.0.0/8.
    pub fn host_ip(field: &str, ip: Ipv4Addr) -> std::result::Result<(), String> {
        if ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() || ip.octets()[0] == 0 {
            return Err(format!("{field} {ip} is not a host address"));
        }
        Ok(())
    }

    /// A VLAN ID: 1 to 4094.
    pub fn vid(field: &str, v: u16) -> std::result::Result<(), String> {
        if (1..=4094).contains(&v) {
            Ok(())
        } else {
            Err(format!("{field} {v} is not a VLAN ID (1 to 4094)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Doc {
        version: u32,
        items: Vec<u32>,
    }

    /// Runs of three or more spaces inside the string literals of one
    /// source text, as (line, text) pairs. A literal that continues on the
    /// next line without a `\` (a laid-out table such as the exit codes) is
    /// left alone; one continued with `\` is checked on every line, since
    /// the continuation drops only the next line's leading whitespace.
    fn space_runs(src: &str) -> Vec<(usize, String)> {
        let mut found = Vec::new();
        let (mut in_str, mut raw_hashes, mut laid_out) = (false, None::<usize>, false);
        for (n, line) in src.lines().enumerate() {
            let chars: Vec<char> = line.chars().collect();
            let mut i = 0;
            let mut run = 0;
            if in_str && !laid_out {
                // After `\` + newline, leading whitespace is not in the string.
                while i < chars.len() && chars[i].is_whitespace() {
                    i += 1;
                }
            }
            while i < chars.len() {
                let c = chars[i];
                if !in_str {
                    if c == '/' && chars.get(i + 1) == Some(&'/') {
                        break;
                    }
                    if c == '\'' {
                        // A char literal ('"', '\'', '\\'); a lifetime otherwise.
                        if chars.get(i + 1) == Some(&'\\') {
                            i += 4;
                            continue;
                        }
                        if chars.get(i + 2) == Some(&'\'') {
                            i += 3;
                            continue;
                        }
                    }
                    if c == 'r' && matches!(chars.get(i + 1), Some('"') | Some('#')) {
                        let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
                        if chars.get(i + 1 + hashes) == Some(&'"') {
                            (in_str, raw_hashes, laid_out) = (true, Some(hashes), false);
                            i += hashes + 2;
                            continue;
                        }
                    }
                    if c == '"' {
                        (in_str, raw_hashes, laid_out) = (true, None, false);
                    }
                    i += 1;
                    continue;
                }
                match (c, raw_hashes) {
                    ('\\', None) => {
                        run = 0;
                        i += 2;
                        continue;
                    }
                    ('"', None) => in_str = false,
                    ('"', Some(h))
                        if chars[i + 1..].iter().take_while(|&&x| x == '#').count() >= h =>
                    {
                        in_str = false;
                        i += h;
                    }
                    (' ', _) => {
                        run += 1;
                        if run == 3 && !laid_out {
                            found.push((n + 1, line.trim().to_string()));
                        }
                    }
                    _ => run = 0,
                }
                if !in_str {
                    run = 0;
                }
                i += 1;
            }
            if in_str && !line.ends_with('\\') {
                laid_out = true;
            }
        }
        found
    }

    #[test]
    fn the_space_run_scanner_finds_a_lost_line_continuation_and_spares_tables() {
        // The samples are built at run time, so that this file's own
        // literals stay clean.
        let sp = |n: usize| " ".repeat(n);
        let count = |src: String| space_runs(&src).len();
        assert_eq!(
            count(format!("let m = \"the lock;{}find it\";\n", sp(17))),
            1
        );
        assert_eq!(count(format!("let m = \"one \\\n{}two\";\n", sp(4))), 0);
        assert_eq!(
            count(format!("let m = \"one \\\n{0}two{0}three\";\n", sp(4))),
            1
        );
        assert_eq!(
            count(format!(
                "const T: &str = \"\\\nA:\n  0{0}ok\n  1{0}bad\";\n",
                sp(3)
            )),
            0
        );
        assert_eq!(
            count(format!(
                "let c = '\"'; let s = \"a b\"; // \"x{}y\"\n",
                sp(4)
            )),
            0
        );
        assert_eq!(count(format!("let s = r#\"a \"{}\" b\"#;\n", sp(3))), 1);
    }

    #[test]
    fn no_string_literal_in_the_source_has_a_run_of_spaces_from_a_lost_line_continuation() {
        let mut bad = Vec::new();
        let mut dirs = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(d) = dirs.pop() {
            for e in fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    for (n, l) in space_runs(&fs::read_to_string(&p).unwrap()) {
                        bad.push(format!("{}:{n}: {l}", p.display()));
                    }
                }
            }
        }
        assert!(
            bad.is_empty(),
            "runs of spaces in strings:\n{}",
            bad.join("\n")
        );
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
