//! One table of records: a directory of the state directory holding one
//! small JSON file per record (`leases.d/<key>.json`), so that reading,
//! writing or removing one record costs the same with ten records or ten
//! thousand; only listing reads them all.
//!
//! A record file is `{"version": 1, "record": {...}}`, written to a
//! temporary file (`.<key>.json.tmp`, fsynced) that is renamed over the
//! old one, after which the table's directory is fsynced; a removal is an
//! unlink followed by the same directory fsync. A crash therefore leaves
//! each record whole, old or new; a leftover temporary file is ignored
//! and removed by the next writer that lists the table. Writers hold the
//! store's lock (`Store::lock`); readers need none. A batch of many records
//! (an `update` that changes hundreds) writes them all, syncs the file
//! system once (syncfs(2)) and then renames them, instead of one fsync
//! per record. Every record is checked (`Record::check`) before it is
//! written: nothing dhcpnet writes can fail to load.
//!
//! One bad file never takes the table down. A file that cannot be parsed,
//! that holds a record failing its checks, that a newer dhcpnet wrote, or
//! whose name is not its record's key is skipped by readers, which serve
//! the rest; the first process that holds the lock while it meets the file
//! (a writer, or a reader that finds the lock free) sets it aside: moves it
//! to `quarantine/<table>/` in the state directory (never deletes it) and
//! logs that once. `set_aside` lists what is there, with the reason, for
//! `dhcpnet leases` and `doctor`. A record that loads only after a repair
//! (`Record::repair`) is rewritten repaired by the same first process, and
//! the repair is logged once.
//!
//! Older dhcpnet kept each table in one file (`leases.json`). Such a file
//! found at first use is converted under the lock (its records written as
//! record files, an existing record file winning over the old file's copy)
//! and then renamed to `leases.json.migrated`, which is kept. Readers that
//! cannot take the lock at that moment read the old file and the directory
//! together, with the same precedence, so they see what the conversion
//! will produce. Older dhcpnet also cut long file names with FNV-1a; such a
//! file is read as its record's, and renamed by the first process holding
//! the lock.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{DIR_MODE, FILE_MODE, FORMAT_VERSION, Lock, Store, corrupt, euid, make_private};
use crate::error::{Error, Result};

/// Past this many changed records, a write syncs the file system once
/// instead of fsyncing each record file.
const BATCH: usize = 16;
/// Longest file name stem; longer keys are cut and end in a hash.
const MAX_STEM: usize = 200;
const EXT: &str = ".json";
const TMP: &str = ".tmp";
/// The state directory's folder for record files set aside.
pub const QUARANTINE: &str = "quarantine";

/// A kind of record kept in a table.
pub trait Record: Serialize + DeserializeOwned + Clone + PartialEq + Send {
    /// What identifies a record: one record per key.
    type Key: Ord + Clone + std::fmt::Debug + Send;
    /// The table's directory in the state directory, e.g. `leases.d`.
    const DIR: &'static str;
    /// The single file older dhcpnet kept all records in, e.g. `leases.json`.
    const LEGACY: &'static str;
    /// What it means that a record file of this kind was set aside, and
    /// what to do (said with the file's name).
    const SET_ASIDE: &'static str = "dhcpnet no longer reads that record; repair the file and move \
         it back, or remove it once it is not needed";

    fn key(&self) -> Self::Key;
    /// The file name (without `.json`) of the record of `key`; made
    /// file-safe by `file_safe`.
    fn stem(key: &Self::Key) -> String;
    /// Why the record is not one dhcpnet could have written, if it is not.
    fn check(&self) -> std::result::Result<(), String>;
    /// How an error message names the record (quoted, never raw).
    fn label(&self) -> String;
    /// Repairs made on load, each said in a few words (none: nothing a
    /// person needs to hear of). A repaired record is written back by the
    /// first process that holds the lock, which logs them once.
    fn repair(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// The records of an old single file of these bytes, each checked.
    fn parse_legacy(path: &Path, bytes: &[u8]) -> Result<Vec<Self>>;
}

/// Text as a file name part: ASCII letters, digits, `_` and `-` as they
/// are, `.` except in first place, everything else (and so `@`, `/`, `%`)
/// as `%XX` per byte. Distinct texts give distinct names.
pub fn file_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A stem no longer than `MAX_STEM`: a longer one keeps its start and ends
/// in `~` and a hash of the whole (`crate::cut`: SHA-256). `~` never
/// appears in `file_safe` output, so a cut stem cannot equal an uncut one.
fn bounded(stem: &str) -> String {
    // file_safe output is ASCII: any cut is on a character boundary.
    String::from_utf8_lossy(&crate::cut::cut(
        stem.as_bytes(),
        MAX_STEM,
        crate::cut::tail,
    ))
    .into_owned()
}

/// The name older dhcpnet gave a stem it cut (FNV-1a), if it cut it.
fn legacy_bounded(stem: &str) -> Option<String> {
    (stem.len() > MAX_STEM).then(|| {
        String::from_utf8_lossy(&crate::cut::cut(
            stem.as_bytes(),
            MAX_STEM,
            crate::cut::legacy_tail,
        ))
        .into_owned()
    })
}

#[derive(Serialize)]
struct OutFile<'a, R> {
    version: u32,
    record: &'a R,
}

#[derive(Deserialize)]
struct InFile<R> {
    version: u32,
    record: R,
}

/// The record in a record file's bytes, repaired and checked (`path`
/// names the file in errors). Does not check that the file name fits the
/// key.
pub fn parse_record<R: Record>(path: &Path, bytes: &[u8]) -> Result<R> {
    parse_repaired(path, bytes).map(|(r, _)| r)
}

/// `parse_record`, and the repairs it made.
fn parse_repaired<R: Record>(path: &Path, bytes: &[u8]) -> Result<(R, Vec<String>)> {
    let file: InFile<R> = match serde_json::from_slice(bytes) {
        Ok(f) => f,
        Err(e) => {
            // A version this dhcpnet does not know says so, whatever the rest.
            #[derive(Deserialize)]
            struct Version {
                version: Option<u32>,
            }
            if let Ok(Version { version: Some(v) }) = serde_json::from_slice(bytes)
                && v != FORMAT_VERSION
            {
                return Err(newer(path, v));
            }
            return Err(corrupt(path, e));
        }
    };
    if file.version != FORMAT_VERSION {
        return Err(newer(path, file.version));
    }
    let mut r = file.record;
    let repairs = r.repair();
    if let Err(why) = r.check() {
        return Err(Error::state(
            path,
            format!(
                "the record ({}) is invalid: {why}; the file was left as it is: repair or remove it",
                r.label()
            ),
        ));
    }
    Ok((r, repairs))
}

/// A record file's bytes as a table writes them, after the record's own
/// checks: what is written always loads back (`parse_record`).
pub fn encode_record<R: Record>(r: &R) -> std::result::Result<Vec<u8>, String> {
    r.check()
        .map_err(|why| format!("the record ({}) fails its checks: {why}", r.label()))?;
    let mut data = serde_json::to_vec_pretty(&OutFile {
        version: FORMAT_VERSION,
        record: r,
    })
    .map_err(|e| format!("cannot encode: {e}"))?;
    data.push(b'\n');
    Ok(data)
}

fn newer(path: &Path, v: u32) -> Error {
    Error::state(
        path,
        format!(
            "format version {v} was written by a newer dhcpnet; this one reads version {FORMAT_VERSION}"
        ),
    )
}

/// What reading one record file gave.
enum Read1<R> {
    /// The record, as it is in the file.
    Good(R),
    /// The record after repairs (said in a few words): to be written back.
    Repaired(R, Vec<String>),
    /// The record, in a file of the name older dhcpnet cut: to be renamed.
    OldName(R),
    /// Not a record this dhcpnet can use: why.
    Bad(String),
}

/// A record file that was set aside (or that readers skip, until a
/// process holding the lock sets it aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// Where it is now.
    pub path: PathBuf,
    /// Its name in the table (where it came from).
    pub name: String,
    /// Why it was set aside.
    pub why: String,
    /// Whether it is still in the table's directory (no process could set
    /// it aside yet).
    pub in_table: bool,
}

/// The records of one kind in a store. Cheap to make: `store.table()`.
pub struct Table<'s, R> {
    store: &'s Store,
    _r: std::marker::PhantomData<fn() -> R>,
}

impl Store {
    pub fn table<R: Record>(&self) -> Table<'_, R> {
        Table {
            store: self,
            _r: std::marker::PhantomData,
        }
    }

    /// Take the lock if no one holds it (this process included, through
    /// another `Lock`); `None` when it is held.
    fn try_lock(&self) -> Result<Option<Lock>> {
        let p = self.path("lock");
        let f = self.open_private("lock")?;
        match f.try_lock() {
            Ok(()) => Ok(Some(Lock { _file: f })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(Error::state(&p, format!("cannot lock: {e}")))
            }
        }
    }
}

impl<R: Record> Table<'_, R> {
    /// The table's directory.
    pub fn dir(&self) -> PathBuf {
        self.store.path(R::DIR)
    }

    /// The file that holds (or would hold) the record of `key`.
    pub fn path_of(&self, key: &R::Key) -> PathBuf {
        self.dir().join(Self::name_of(key))
    }

    fn stem_of(key: &R::Key) -> String {
        let stem = R::stem(key);
        // `%` alone is never `file_safe` output (it writes `%XX`).
        if stem.is_empty() { "%".into() } else { stem }
    }

    /// The file name of the record of `key`.
    pub fn name_of(key: &R::Key) -> String {
        format!("{}{EXT}", bounded(&Self::stem_of(key)))
    }

    /// The file name older dhcpnet gave the record of `key`, where it
    /// differs from `name_of`'s (a long key cut with FNV-1a).
    fn old_name_of(key: &R::Key) -> Option<String> {
        legacy_bounded(&Self::stem_of(key)).map(|s| format!("{s}{EXT}"))
    }

    fn legacy(&self) -> PathBuf {
        self.store.path(R::LEGACY)
    }

    /// Where this table's files are set aside.
    pub fn quarantine(&self) -> PathBuf {
        self.store.path(QUARANTINE).join(R::DIR)
    }

    /// The record of `key`, if there is one. No lock needed. A bad file
    /// there counts as none (and is set aside when the lock is free).
    pub fn get(&self, key: &R::Key) -> Result<Option<R>> {
        self.get_with(key, None)
    }

    /// `get`, by a caller holding `lock` (`None`: the lock is taken if free
    /// when the file needs tending).
    fn get_with(&self, key: &R::Key, lock: Option<&Lock>) -> Result<Option<R>> {
        if !self.store.secure(false)? {
            return Ok(None);
        }
        // A caller holding the lock converted any old file first.
        let old = match lock {
            Some(_) => None,
            None => self.pending_legacy()?,
        };
        let mut names = vec![Self::name_of(key)];
        names.extend(Self::old_name_of(key));
        for name in names {
            let p = self.dir().join(&name);
            let Some(bytes) = read_file(&p)? else {
                continue;
            };
            let got = self.examine(&name, &bytes);
            let r = match &got {
                Read1::Good(r) | Read1::Repaired(r, _) | Read1::OldName(r) => Some(r.clone()),
                Read1::Bad(_) => None,
            };
            if !matches!(got, Read1::Good(_)) {
                self.tend(lock, vec![(name, got)])?;
            }
            if r.as_ref().is_some_and(|r| r.key() == *key) {
                return Ok(r);
            }
            if r.is_none() {
                return Ok(None);
            }
        }
        Ok(old.and_then(|old| old.into_values().find(|r| r.key() == *key)))
    }

    /// Every record, in key order. No lock needed; reads every file. Bad
    /// files are skipped (and set aside when the lock is free).
    pub fn list(&self) -> Result<Vec<R>> {
        Ok(self.list_noting()?.0)
    }

    /// `list`, and the bad files it skipped that are still in the table
    /// (no process could set them aside yet: the lock was held).
    pub fn list_noting(&self) -> Result<(Vec<R>, Vec<SetAside>)> {
        if !self.store.secure(false)? {
            return Ok((Vec::new(), Vec::new()));
        }
        // The old file first: should a conversion run meanwhile, the
        // directory read after it holds everything the file held.
        let mut all = self.pending_legacy()?.unwrap_or_default();
        let (records, skipped) = self.read_dir(None)?;
        for (k, r) in records {
            all.insert(k, r);
        }
        Ok((all.into_values().collect(), skipped))
    }

    /// An old single file that is still there: converted now when the lock
    /// is free (`None`), else its records (`Some`).
    fn pending_legacy(&self) -> Result<Option<BTreeMap<R::Key, R>>> {
        let p = self.legacy();
        if fs::symlink_metadata(&p).is_err() {
            return Ok(None);
        }
        if let Some(lock) = self.store.try_lock()? {
            self.migrate(&lock)?;
            return Ok(None);
        }
        match read_file(&p)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(keyed(R::parse_legacy(&p, &bytes)?))),
        }
    }

    /// The records of the directory, and the bad files skipped that are
    /// still there. With `lock` held, leftover temporary files are removed
    /// and files that need it are tended at once; without, they are tended
    /// if the lock is free.
    fn read_dir(&self, lock: Option<&Lock>) -> Result<(Keyed<R>, Vec<SetAside>)> {
        let dir = self.dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
            Err(e) => return Err(Error::state(&dir, format!("cannot list: {e}"))),
        };
        let mut names = Vec::new();
        for e in entries {
            let e = e.map_err(|e| Error::state(&dir, format!("cannot list: {e}")))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else {
                log::debug!("{}: ignoring a file with a non-UTF-8 name", dir.display());
                continue;
            };
            if name.starts_with('.') {
                if lock.is_some() && name.ends_with(TMP) {
                    let _ = fs::remove_file(dir.join(name));
                }
                continue;
            }
            if name.ends_with(EXT) {
                names.push(name.to_string());
            }
        }
        // Reading and parsing is most of a listing's cost: spread it over
        // the cores when there is enough of it.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4);
        let read: Examined<R> = if names.len() < 512 || threads == 1 {
            self.read_records(&dir, &names)?
        } else {
            let chunk = names.len().div_ceil(threads);
            let parts: Vec<Result<Examined<R>>> = std::thread::scope(|sc| {
                let handles: Vec<_> = names
                    .chunks(chunk)
                    .map(|part| sc.spawn(|| self.read_records(&dir, part)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(Error::state(&dir, "a reader thread failed")))
                    })
                    .collect()
            });
            let mut out = Vec::with_capacity(names.len());
            for p in parts {
                out.extend(p?);
            }
            out
        };
        let mut out = Vec::with_capacity(read.len());
        let mut old_named = Vec::new();
        let mut tend = Vec::new();
        for (name, got) in read {
            match got {
                Read1::Good(r) => out.push((r.key(), r)),
                Read1::Repaired(r, why) => {
                    out.push((r.key(), r.clone()));
                    tend.push((name, Read1::Repaired(r, why)));
                }
                Read1::OldName(r) => {
                    old_named.push((r.key(), r.clone()));
                    tend.push((name, Read1::OldName(r)));
                }
                bad @ Read1::Bad(_) => tend.push((name, bad)),
            }
        }
        // A record in an old-named file and in a new one: the new one wins
        // (it was written since).
        if !old_named.is_empty() {
            let have: std::collections::BTreeSet<R::Key> =
                out.iter().map(|(k, _)| k.clone()).collect();
            out.extend(old_named.into_iter().filter(|(k, _)| !have.contains(k)));
        }
        let mut skipped = Vec::new();
        if !tend.is_empty() {
            let bad: Vec<SetAside> = tend
                .iter()
                .filter_map(|(name, t)| match t {
                    Read1::Bad(why) => Some(SetAside {
                        path: dir.join(name),
                        name: name.clone(),
                        why: why.clone(),
                        in_table: true,
                    }),
                    _ => None,
                })
                .collect();
            if !self.tend(lock, tend)? {
                skipped = bad;
            }
        }
        Ok((out, skipped))
    }

    fn read_records(&self, dir: &Path, names: &[String]) -> Result<Examined<R>> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            // Removed since the listing: not a record any more.
            let Some(bytes) = read_file(&dir.join(name))? else {
                continue;
            };
            out.push((name.clone(), self.examine(name, &bytes)));
        }
        Ok(out)
    }

    /// What the file `name` of the table holding `bytes` is.
    fn examine(&self, name: &str, bytes: &[u8]) -> Read1<R> {
        let p = self.dir().join(name);
        let (r, repairs) = match parse_repaired::<R>(&p, bytes) {
            Ok(x) => x,
            Err(Error::State { msg, .. }) => return Read1::Bad(msg),
            Err(e) => return Read1::Bad(e.to_string()),
        };
        let key = r.key();
        if name != Self::name_of(&key) {
            if Self::old_name_of(&key).as_deref() == Some(name) {
                return Read1::OldName(r);
            }
            return Read1::Bad(format!(
                "holds the record of {}, which belongs in {}",
                r.label(),
                Self::name_of(&key)
            ));
        }
        if repairs.is_empty() {
            Read1::Good(r)
        } else {
            Read1::Repaired(r, repairs)
        }
    }

    /// Files met while reading that need a process holding the lock: set
    /// aside, written back repaired, renamed. Done at once with `lock`,
    /// else if the lock is free, else left to the next one (said at debug
    /// level: whoever holds the lock meets them too). Whether it was done.
    fn tend(&self, lock: Option<&Lock>, files: Vec<(String, Read1<R>)>) -> Result<bool> {
        let taken;
        let lock = match lock {
            Some(l) => l,
            None => match self.store.try_lock()? {
                Some(l) => {
                    taken = l;
                    &taken
                }
                None => {
                    for (name, _) in &files {
                        log::debug!(
                            "{}: needs tending, left to the process that holds the lock",
                            self.dir().join(name).display()
                        );
                    }
                    return Ok(false);
                }
            },
        };
        for (name, _) in files {
            // Read again under the lock: a writer may have replaced it.
            let p = self.dir().join(&name);
            let Some(bytes) = read_file(&p)? else {
                continue;
            };
            match self.examine(&name, &bytes) {
                Read1::Good(_) => {}
                Read1::Bad(why) => self.set_aside_file(lock, &name, &why)?,
                Read1::Repaired(r, repairs) => {
                    self.apply(lock, &[&r], &[])?;
                    log::warn!(
                        "{}: the record ({}) was repaired: {}",
                        p.display(),
                        r.label(),
                        repairs.join("; ")
                    );
                }
                Read1::OldName(r) => {
                    let to = self.path_of(&r.key());
                    if fs::symlink_metadata(&to).is_ok() {
                        self.set_aside_file(
                            lock,
                            &name,
                            &format!(
                                "an older copy of the record ({}) in {}, the name older dhcpnet \
                                 gave it",
                                r.label(),
                                Self::name_of(&r.key())
                            ),
                        )?;
                    } else {
                        fs::rename(&p, &to)
                            .and_then(|()| sync_dir(&self.dir()))
                            .map_err(|e| Error::state(&p, format!("cannot rename: {e}")))?;
                        log::info!(
                            "{}: renamed to {} (long names are now cut with SHA-256)",
                            p.display(),
                            to.display()
                        );
                    }
                }
            }
        }
        Ok(true)
    }

    /// Move the table's file `name` to the quarantine folder (never over
    /// another file there) and say so once. Lock held.
    fn set_aside_file(&self, _lock: &Lock, name: &str, why: &str) -> Result<()> {
        let from = self.dir().join(name);
        let q = self.quarantine();
        let io = |e: std::io::Error| Error::state(&from, format!("cannot set it aside: {e}"));
        for d in [self.store.path(QUARANTINE), q.clone()] {
            match fs::DirBuilder::new().mode(DIR_MODE).create(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        let mut to = q.join(name);
        let mut n = 1;
        while fs::symlink_metadata(&to).is_ok() {
            to = q.join(format!("{name}.{n}"));
            n += 1;
        }
        fs::rename(&from, &to).map_err(io)?;
        sync_dir(&q)
            .and_then(|()| sync_dir(&self.dir()))
            .map_err(io)?;
        log::error!(
            "{}: {why}. It was moved to {}; the other records are read as before. {} \
             (`dhcpnet doctor` lists the files set aside)",
            from.display(),
            to.display(),
            R::SET_ASIDE
        );
        Ok(())
    }

    /// The files of this table set aside (in the quarantine folder), each
    /// with the reason (read again for it). No lock needed.
    pub fn set_aside(&self) -> Result<Vec<SetAside>> {
        let mut out = Vec::new();
        if !self.store.secure(false)? {
            return Ok(out);
        }
        let q = self.quarantine();
        let mut names: Vec<String> = match fs::read_dir(&q) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect(),
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::state(&q, format!("cannot list: {e}"))),
        };
        names.sort();
        for file in names {
            let p = q.join(&file);
            // Its name in the table: without the `.N` of a second one.
            let name = match file.rsplit_once('.') {
                Some((stem, n)) if n.bytes().all(|b| b.is_ascii_digit()) && stem.ends_with(EXT) => {
                    stem.to_string()
                }
                _ => file.clone(),
            };
            let why = match read_file(&p) {
                Ok(Some(bytes)) => match self.examine(&name, &bytes) {
                    Read1::Bad(why) => why,
                    _ => "it reads as a good record now: move it back if it is still wanted, \
                          else remove it"
                        .into(),
                },
                Ok(None) => continue,
                Err(e) => e.to_string(),
            };
            out.push(SetAside {
                path: p,
                name,
                why,
                in_table: false,
            });
        }
        Ok(out)
    }
    /// Convert an old single file, if there is one (see the module doc).
    pub fn migrate(&self, lock: &Lock) -> Result<()> {
        let p = self.legacy();
        let Some(bytes) = read_file(&p)? else {
            return Ok(());
        };
        let old = keyed(R::parse_legacy(&p, &bytes)?);
        let have: BTreeMap<R::Key, R> = self.read_dir(Some(lock))?.0.into_iter().collect();
        let count = old.len();
        let fresh: Vec<&R> = old
            .values()
            .filter(|r| !have.contains_key(&r.key()))
            .collect();
        self.apply(lock, &fresh, &[])?;
        let mut to = self.store.path(&format!("{}.migrated", R::LEGACY));
        let mut n = 1;
        while fs::symlink_metadata(&to).is_ok() {
            to = self.store.path(&format!("{}.migrated.{n}", R::LEGACY));
            n += 1;
        }
        let io =
            |e: std::io::Error| Error::state(&p, format!("cannot rename after converting: {e}"));
        fs::rename(&p, &to).map_err(io)?;
        sync_dir(self.store.dir()).map_err(io)?;
        log::info!(
            "converted {} ({count} record(s)) to one file per record in {}; the old file is kept as {}",
            p.display(),
            self.dir().display(),
            to.display()
        );
        Ok(())
    }

    /// Write one record (replacing the record of its key). Lock held.
    pub fn put(&self, lock: &Lock, r: &R) -> Result<()> {
        self.migrate(lock)?;
        self.guard(lock, std::slice::from_ref(&r.key()))?;
        self.apply(lock, &[r], &[])
    }

    /// Set aside the bad files that writing the records of `keys` would
    /// replace (a writer that did not read them first): nothing is lost.
    fn guard(&self, lock: &Lock, keys: &[R::Key]) -> Result<()> {
        for k in keys {
            let name = Self::name_of(k);
            if let Some(bytes) = read_file(&self.dir().join(&name))?
                && let Read1::Bad(why) = self.examine(&name, &bytes)
            {
                self.set_aside_file(lock, &name, &why)?;
            }
        }
        Ok(())
    }

    /// Write several records in one durable step (each replacing the
    /// record of its key; the last of a key wins). Lock held.
    pub fn put_many(&self, lock: &Lock, records: &[R]) -> Result<()> {
        self.migrate(lock)?;
        let last: BTreeMap<R::Key, &R> = records.iter().map(|r| (r.key(), r)).collect();
        let keys: Vec<R::Key> = last.keys().cloned().collect();
        self.guard(lock, &keys)?;
        let refs: Vec<&R> = last.into_values().collect();
        self.apply(lock, &refs, &[])
    }

    /// Remove the record of `key`; whether there was one. Lock held.
    pub fn remove(&self, lock: &Lock, key: &R::Key) -> Result<bool> {
        self.migrate(lock)?;
        let old = Self::old_name_of(key).map(|n| self.dir().join(n));
        let exists = |p: &Path| fs::symlink_metadata(p).is_ok();
        if !exists(&self.path_of(key)) && !old.as_deref().is_some_and(exists) {
            return Ok(false);
        }
        self.apply(lock, &[], std::slice::from_ref(key))?;
        Ok(true)
    }

    /// Every record, read under the lock (converting an old file first and
    /// removing leftover temporary files).
    pub fn load_locked(&self, lock: &Lock) -> Result<Vec<R>> {
        self.migrate(lock)?;
        let mut all = BTreeMap::new();
        for (k, r) in self.read_dir(Some(lock))?.0 {
            all.insert(k, r);
        }
        Ok(all.into_values().collect())
    }

    /// Make the table hold exactly `records` (the last of a key wins),
    /// writing only the records that changed and removing those that are
    /// gone. Lock held.
    pub fn save(&self, lock: &Lock, records: Vec<R>) -> Result<()> {
        let before = self.load_locked(lock)?;
        self.save_over(lock, before, records)
    }

    fn save_over(&self, lock: &Lock, before: Vec<R>, after: Vec<R>) -> Result<()> {
        let mut before = keyed(before);
        let after = keyed(after);
        let changed: Vec<&R> = after
            .iter()
            .filter(|(k, r)| before.get(*k) != Some(*r))
            .map(|(_, r)| r)
            .collect();
        before.retain(|k, _| !after.contains_key(k));
        let gone: Vec<R::Key> = before.into_keys().collect();
        self.apply(lock, &changed, &gone)
    }

    /// Lock, load every record, let `f` change them, write what changed.
    /// Nothing is written if `f` fails.
    pub fn update<T>(&self, f: impl FnOnce(&mut Vec<R>) -> Result<T>) -> Result<T> {
        let lock = self.store.lock()?;
        let before = self.load_locked(&lock)?;
        let mut after = before.clone();
        let out = f(&mut after)?;
        self.save_over(&lock, before, after)?;
        Ok(out)
    }

    /// `update` over the records of `keys` only (those that exist): reads
    /// and writes those files, whatever the size of the table. Records `f`
    /// adds are written, records of `keys` it drops are removed. Lock held.
    pub fn update_keys<T>(
        &self,
        lock: &Lock,
        keys: &[R::Key],
        f: impl FnOnce(&mut Vec<R>) -> Result<T>,
    ) -> Result<T> {
        self.migrate(lock)?;
        let mut before = BTreeMap::new();
        for k in keys {
            if !before.contains_key(k)
                && let Some(r) = self.get_with(k, Some(lock))?
            {
                before.insert(k.clone(), r);
            }
        }
        let before: Vec<R> = before.into_values().collect();
        let mut after = before.clone();
        let out = f(&mut after)?;
        self.save_over(lock, before, after)?;
        Ok(out)
    }

    /// The table's directory, created if missing (0700) and checked: a real
    /// directory of this user's, tightened to 0700 when looser.
    fn open_dir(&self) -> Result<File> {
        self.store.prepare()?;
        let dir = self.dir();
        match fs::DirBuilder::new().mode(DIR_MODE).create(&dir) {
            Ok(()) => {
                // Make the new directory's entry durable.
                sync_dir(self.store.dir())
                    .map_err(|e| Error::state(&dir, format!("cannot create: {e}")))?;
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::state(&dir, format!("cannot create: {e}"))),
        }
        let d = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(&dir)
            .map_err(|e| Error::state(&dir, format!("cannot open (must be a directory): {e}")))?;
        let md = d
            .metadata()
            .map_err(|e| Error::state(&dir, format!("cannot stat: {e}")))?;
        if md.uid() != euid() {
            return Err(Error::state(
                &dir,
                format!(
                    "belongs to uid {}, not to the user dhcpnet runs as (uid {})",
                    md.uid(),
                    euid()
                ),
            ));
        }
        let mode = md.permissions().mode() & 0o7777;
        if mode != DIR_MODE {
            d.set_permissions(fs::Permissions::from_mode(DIR_MODE))
                .map_err(|e| Error::state(&dir, format!("cannot chmod 0700: {e}")))?;
            log::warn!("{} was mode {mode:04o}; tightened to 0700", dir.display());
        }
        Ok(d)
    }

    /// Write `puts`, remove `gone`, then make it durable.
    fn apply(&self, _lock: &Lock, puts: &[&R], gone: &[R::Key]) -> Result<()> {
        if puts.is_empty() && gone.is_empty() {
            return Ok(());
        }
        let d = self.open_dir()?;
        let dir = self.dir();
        let many = puts.len() > BATCH;
        let mut renames = Vec::with_capacity(puts.len());
        for r in puts {
            let name = Self::name_of(&r.key());
            let p = dir.join(&name);
            let tmp = dir.join(format!(".{name}{TMP}"));
            let io = |e: std::io::Error| Error::state(&p, format!("cannot write: {e}"));
            // What fails its checks would fail to load: never written.
            let data = encode_record(*r).map_err(|why| {
                Error::state(&p, format!("{why}; it was not written (dhcpnet refuses to write a record it could not read back)"))
            })?;
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
            if !many {
                f.sync_all().map_err(io)?;
            }
            renames.push((tmp, p));
        }
        if many {
            // SAFETY: syncfs(2) takes an open descriptor, which `d` is for
            // the whole call; it touches no memory of ours.
            if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
                return Err(Error::state(
                    &dir,
                    format!("cannot sync: {}", std::io::Error::last_os_error()),
                ));
            }
        }
        for (tmp, p) in &renames {
            fs::rename(tmp, p).map_err(|e| Error::state(p, format!("cannot write: {e}")))?;
        }
        // A record in the file of the name older dhcpnet cut is superseded
        // by the one just written (or removed with its key).
        let old_names = puts
            .iter()
            .map(|r| r.key())
            .chain(gone.iter().cloned())
            .filter_map(|k| Self::old_name_of(&k));
        let gone_names = gone.iter().map(Self::name_of).chain(old_names);
        for name in gone_names {
            let p = dir.join(name);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::state(&p, format!("cannot remove: {e}"))),
            }
        }
        d.sync_all()
            .map_err(|e| Error::state(&dir, format!("cannot sync: {e}")))
    }
}

/// Records with their keys, as read.
type Keyed<R> = Vec<(<R as Record>::Key, R)>;

/// Record files by name, with what reading each gave.
type Examined<R> = Vec<(String, Read1<R>)>;

/// Records by key, the last of a key winning.
fn keyed<R: Record>(records: Vec<R>) -> BTreeMap<R::Key, R> {
    records.into_iter().map(|r| (r.key(), r)).collect()
}

/// A file's bytes (never through a symlink); a missing file is `None`.
fn read_file(p: &Path) -> Result<Option<Vec<u8>>> {
    let mut f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(p)
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::state(p, format!("cannot read: {e}"))),
    };
    // Plain reads until the end: a record is small, and read_to_end would
    // first ask for the size (statx, lseek), two more system calls a file.
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(Some(bytes)),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::state(p, format!("cannot read: {e}"))),
        }
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::Lease;
    use crate::links::LinkRecord;
    use crate::network::Network;
    use proptest::prelude::*;

    /// A record for the table's own tests: any name, a number that must
    /// stay under 1000.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Item {
        name: String,
        n: u32,
    }

    #[derive(Serialize, Deserialize)]
    struct ItemFile {
        version: u32,
        items: Vec<Item>,
    }

    impl Record for Item {
        type Key = String;
        const DIR: &'static str = "items.d";
        const LEGACY: &'static str = "items.json";
        fn key(&self) -> String {
            self.name.clone()
        }
        fn stem(key: &String) -> String {
            file_safe(key)
        }
        fn check(&self) -> std::result::Result<(), String> {
            if self.n < 1000 {
                Ok(())
            } else {
                Err(format!("n {} is over 999", self.n))
            }
        }
        fn label(&self) -> String {
            format!("name {:?}", self.name)
        }
        fn parse_legacy(path: &Path, bytes: &[u8]) -> Result<Vec<Item>> {
            let f: ItemFile = crate::store::decode(path, bytes)?;
            crate::store::check_records(path, &f.items, Item::check, Item::label)?;
            Ok(f.items)
        }
    }

    fn item(name: &str, n: u32) -> Item {
        Item {
            name: name.into(),
            n,
        }
    }

    fn setup() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path().join("state"));
        (d, s)
    }

    fn mtime(p: &Path) -> (i64, i64) {
        let m = fs::metadata(p).unwrap();
        (m.mtime(), m.mtime_nsec())
    }

    #[test]
    fn put_get_remove_and_list_keep_one_record_per_key_in_key_order() {
        let (_d, s) = setup();
        let t = s.table::<Item>();
        assert_eq!(t.list().unwrap(), vec![]);
        assert_eq!(t.get(&"a".into()).unwrap(), None);
        let l = s.lock().unwrap();
        t.put(&l, &item("b", 1)).unwrap();
        t.put(&l, &item("a", 2)).unwrap();
        t.put(&l, &item("b", 3)).unwrap();
        assert_eq!(t.get(&"b".into()).unwrap(), Some(item("b", 3)));
        assert_eq!(t.list().unwrap(), vec![item("a", 2), item("b", 3)]);
        assert!(t.remove(&l, &"a".into()).unwrap());
        assert!(!t.remove(&l, &"a".into()).unwrap());
        assert_eq!(t.list().unwrap(), vec![item("b", 3)]);
        assert!(s.path("items.d/b.json").exists());
        assert!(!s.path("items.d/a.json").exists());
    }

    #[test]
    fn any_key_becomes_a_safe_file_name_and_distinct_keys_stay_distinct() {
        let (_d, s) = setup();
        let t = s.table::<Item>();
        let l = s.lock().unwrap();
        let long = "é".repeat(200);
        let keys = [
            "..", ".", ".x", "a/b", "a%2Fb", "a b", "x@y", "", "€", &long, "a\u{0}b",
        ];
        for (i, k) in keys.iter().enumerate() {
            let name = Table::<Item>::name_of(&k.to_string());
            assert!(name.len() <= 255 && !name.starts_with('.'), "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-%~".contains(&b)),
                "{name}"
            );
            t.put(&l, &item(k, i as u32)).unwrap();
        }
        let got = t.list().unwrap();
        assert_eq!(got.len(), keys.len());
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.get(&k.to_string()).unwrap(), Some(item(k, i as u32)));
        }
    }

    #[test]
    fn update_writes_only_the_records_that_changed_and_removes_the_ones_gone() {
        let (_d, s) = setup();
        let t = s.table::<Item>();
        t.update(|all| {
            all.extend([item("a", 1), item("b", 2), item("c", 3)]);
            Ok(())
        })
        .unwrap();
        let (a, b) = (s.path("items.d/a.json"), s.path("items.d/b.json"));
        let (ino_a, ino_b) = (
            fs::metadata(&a).unwrap().ino(),
            fs::metadata(&b).unwrap().ino(),
        );
        let before = mtime(&a);
        std::thread::sleep(std::time::Duration::from_millis(20));
        t.update(|all| {
            all.retain(|i| i.name != "c");
            all.iter_mut()
                .filter(|i| i.name == "b")
                .for_each(|i| i.n = 20);
            all.push(item("d", 4));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            (fs::metadata(&a).unwrap().ino(), mtime(&a)),
            (ino_a, before),
            "a is untouched"
        );
        assert_ne!(fs::metadata(&b).unwrap().ino(), ino_b, "b was replaced");
        assert_eq!(
            t.list().unwrap(),
            vec![item("a", 1), item("b", 20), item("d", 4)]
        );
        // A failing closure writes nothing.
        let e = t.update(|all| -> Result<()> {
            all.clear();
            Err(Error::Other("no".into()))
        });
        assert!(e.is_err());
        assert_eq!(t.list().unwrap().len(), 3);
    }

    #[test]
    fn a_batch_of_many_records_is_written_whole() {
        let (_d, s) = setup();
        let t = s.table::<Item>();
        let many: Vec<Item> = (0..100).map(|i| item(&format!("i{i:03}"), i)).collect();
        t.put_many(&s.lock().unwrap(), &many).unwrap();
        assert_eq!(t.list().unwrap(), many);
        let left: Vec<_> = fs::read_dir(t.dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(left.is_empty(), "no temporary file left");
    }

    #[test]
    fn a_crash_between_the_temporary_write_and_the_rename_leaves_the_old_record_and_the_leftover_is_ignored_then_removed()
     {
        let (_d, s) = setup();
        let t = s.table::<Item>();
        t.put(&s.lock().unwrap(), &item("a", 1)).unwrap();
        // What a writer killed before its rename leaves: a whole or a torn
        // temporary file.
        let tmp = s.path("items.d/.a.json.tmp");
        fs::write(&tmp, br#"{"version": 1, "record": {"name": "a", "n": 2}}"#).unwrap();
        fs::write(s.path("items.d/.b.json.tmp"), b"{\"vers").unwrap();
        assert_eq!(t.get(&"a".into()).unwrap(), Some(item("a", 1)));
        assert_eq!(t.list().unwrap(), vec![item("a", 1)]);
        // The next writer that lists the table cleans them up.
        t.update(|_| Ok(())).unwrap();
        assert!(!tmp.exists() && !s.path("items.d/.b.json.tmp").exists());
        assert_eq!(t.list().unwrap(), vec![item("a", 1)]);
    }

    #[test]
    fn a_corrupt_invalid_newer_or_misnamed_record_file_is_skipped_and_set_aside_whole_and_the_rest_served()
     {
        let (_d, s) = setup();
        let t = s.table::<Item>();
        t.put(&s.lock().unwrap(), &item("a", 1)).unwrap();
        let cases: [(&[u8], &str); 6] = [
            (b"{not json", "cannot parse"),
            (
                br#"{"version": 1, "record": {"name": "b", "n": 5000}}"#,
                "over 999",
            ),
            (
                br#"{"version": 2, "record": {"name": "b", "n": 1}}"#,
                "newer dhcpnet",
            ),
            (
                br#"{"version": 1, "record": {"name": "c", "n": 1}}"#,
                "belongs in c.json",
            ),
            (br#"{"record": {"name": "b", "n": 1}}"#, "cannot parse"),
            (
                br#"{"version": 1, "record": {"name": "b", "#,
                "cannot parse",
            ),
        ];
        for (i, (bytes, why)) in cases.into_iter().enumerate() {
            let p = s.path("items.d/b.json");
            fs::write(&p, bytes).unwrap();
            // While another process holds the lock: skipped, left in place,
            // and said to be there.
            {
                let _held = s.lock().unwrap();
                let (got, skipped) = t.list_noting().unwrap();
                assert_eq!(got, vec![item("a", 1)], "case {i}");
                assert_eq!(skipped.len(), 1, "case {i}");
                assert!(
                    skipped[0].in_table && skipped[0].why.contains(why),
                    "{skipped:?}"
                );
                assert_eq!(t.get(&"b".into()).unwrap(), None, "case {i}");
                assert_eq!(fs::read(&p).unwrap(), bytes, "case {i}: left in place");
            }
            // The first process that can take the lock sets it aside,
            // whole: reader or writer alike.
            if i % 2 == 0 {
                assert_eq!(t.list().unwrap(), vec![item("a", 1)], "case {i}");
            } else {
                t.update(|all| {
                    assert_eq!(all, &vec![item("a", 1)]);
                    Ok(())
                })
                .unwrap();
            }
            assert!(!p.exists(), "case {i}: set aside");
            let aside = t.set_aside().unwrap();
            let this = aside.last().expect("a file set aside");
            assert_eq!(fs::read(&this.path).unwrap(), bytes, "case {i}: kept whole");
            assert_eq!(this.name, "b.json");
            assert!(
                this.why.contains(why) && !this.in_table,
                "case {i}: {this:?}"
            );
            assert!(
                this.path.starts_with(s.path("quarantine/items.d")),
                "{this:?}"
            );
            assert_eq!(aside.len(), i + 1, "never over another one: {aside:?}");
        }
        assert_eq!(t.list().unwrap(), vec![item("a", 1)]);
        // The table's writers go on as before.
        t.put(&s.lock().unwrap(), &item("b", 2)).unwrap();
        assert_eq!(t.list().unwrap(), vec![item("a", 1), item("b", 2)]);
    }

    #[test]
    fn a_record_failing_its_checks_is_never_written() {
        let (_d, s) = setup();
        let t = s.table::<Item>();
        t.put(&s.lock().unwrap(), &item("a", 1)).unwrap();
        let e = t.put(&s.lock().unwrap(), &item("a", 5000)).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::ExitCode::State);
        assert!(e.to_string().contains("over 999"), "{e}");
        let e = t.update(|all| {
            all.push(item("z", 7000));
            Ok(())
        });
        assert!(e.is_err());
        assert_eq!(t.list().unwrap(), vec![item("a", 1)]);
        assert!(encode_record(&item("q", 1000)).is_err());
        let bytes = encode_record(&item("q", 5)).unwrap();
        assert_eq!(
            parse_record::<Item>(Path::new("q.json"), &bytes).unwrap(),
            item("q", 5)
        );
    }

    #[test]
    fn a_writer_that_did_not_read_first_sets_a_bad_file_aside_before_replacing_it() {
        let (_d, s) = setup();
        let t = s.table::<Item>();
        t.put(&s.lock().unwrap(), &item("a", 1)).unwrap();
        let p = t.path_of(&"a".into());
        fs::write(&p, b"{torn").unwrap();
        let l = s.lock().unwrap();
        t.put(&l, &item("a", 2)).unwrap();
        assert_eq!(t.get(&"a".into()).unwrap(), Some(item("a", 2)));
        let aside = t.set_aside().unwrap();
        assert_eq!(aside.len(), 1);
        assert_eq!(fs::read(&aside[0].path).unwrap(), b"{torn");
    }

    #[test]
    fn a_long_key_cut_by_an_older_dhcpnet_with_fnv_loads_and_is_renamed_to_its_sha_256_name() {
        let (_d, s) = setup();
        let t = s.table::<Item>();
        let long = "k".repeat(300);
        let key: String = long.clone();
        let new = Table::<Item>::name_of(&key);
        let old = Table::<Item>::old_name_of(&key).expect("a long key has an old name");
        assert_ne!(new, old);
        // As older dhcpnet wrote it: its name cut with FNV-1a.
        // FNV-1a 64 as the code before SHA-256 computed it.
        let h = long.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let fnv = format!("{}~{h:016x}.json", &long[..200 - 17]);
        assert_eq!(old, fnv);
        s.prepare().unwrap();
        fs::create_dir_all(t.dir()).unwrap();
        let rec = serde_json::json!({"version": 1, "record": item(&long, 3)});
        fs::write(t.dir().join(&old), serde_json::to_vec(&rec).unwrap()).unwrap();
        {
            // Read as its record's while the lock is held elsewhere.
            let _held = s.lock().unwrap();
            assert_eq!(t.get(&key).unwrap(), Some(item(&long, 3)));
            assert_eq!(t.list().unwrap(), vec![item(&long, 3)]);
            assert!(t.dir().join(&old).exists());
        }
        // Renamed by the first that holds the lock.
        assert_eq!(t.list().unwrap(), vec![item(&long, 3)]);
        assert!(!t.dir().join(&old).exists() && t.dir().join(&new).exists());
        // A writer of the key replaces the old-named file.
        fs::rename(t.dir().join(&new), t.dir().join(&old)).unwrap();
        t.put(&s.lock().unwrap(), &item(&long, 4)).unwrap();
        assert!(!t.dir().join(&old).exists());
        assert_eq!(t.list().unwrap(), vec![item(&long, 4)]);
        assert!(t.set_aside().unwrap().is_empty());
        // And a removal removes it too.
        fs::rename(t.dir().join(&new), t.dir().join(&old)).unwrap();
        assert!(t.remove(&s.lock().unwrap(), &key).unwrap());
        assert!(t.list().unwrap().is_empty());
        // Under both names: the new one wins, the old copy is set aside.
        t.put(&s.lock().unwrap(), &item(&long, 5)).unwrap();
        let stale = serde_json::json!({"version": 1, "record": item(&long, 6)});
        fs::write(t.dir().join(&old), serde_json::to_vec(&stale).unwrap()).unwrap();
        {
            let _held = s.lock().unwrap();
            assert_eq!(t.list().unwrap(), vec![item(&long, 5)]);
        }
        assert_eq!(t.list().unwrap(), vec![item(&long, 5)]);
        assert!(!t.dir().join(&old).exists());
        assert_eq!(t.set_aside().unwrap().len(), 1);
    }

    #[test]
    fn record_files_and_the_table_directory_are_private_whatever_the_umask() {
        let (_d, s) = setup();
        let t = s.table::<Item>();
        // SAFETY: umask(2) only changes this process's file mode mask.
        let old = unsafe { libc::umask(0) };
        let r = t.put(&s.lock().unwrap(), &item("a", 1));
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        r.unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&t.dir()), DIR_MODE);
        assert_eq!(mode(&t.path_of(&"a".into())), FILE_MODE);
        // A table directory loosened by hand is tightened by the next write.
        fs::set_permissions(t.dir(), fs::Permissions::from_mode(0o755)).unwrap();
        t.put(&s.lock().unwrap(), &item("b", 1)).unwrap();
        assert_eq!(mode(&t.dir()), DIR_MODE);
        assert_eq!(mode(&t.path_of(&"b".into())), FILE_MODE);
    }

    /// The old single file of `kind` holding `records`.
    fn legacy_doc(kind: &str, records: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"version": 1, kind: records})).unwrap()
    }

    fn migrates<R: Record + std::fmt::Debug>(kind: &str, sample: R) {
        let (_d, s) = setup();
        s.prepare().unwrap();
        let bytes = legacy_doc(kind, serde_json::json!([sample]));
        fs::write(s.path(R::LEGACY), &bytes).unwrap();
        let t = s.table::<R>();
        assert_eq!(t.list().unwrap(), vec![sample.clone()], "{kind}");
        assert!(!s.path(R::LEGACY).exists(), "{kind}");
        let kept = s.path(&format!("{}.migrated", R::LEGACY));
        assert_eq!(
            fs::read(&kept).unwrap(),
            bytes,
            "{kind}: the old file is kept"
        );
        assert!(t.path_of(&sample.key()).exists(), "{kind}");
        assert_eq!(t.get(&sample.key()).unwrap(), Some(sample), "{kind}");
    }

    fn lease_sample() -> Lease {
        serde_json::from_value(serde_json::json!({
            "ip": "10.0.0.5", "prefix_len": 24, "subnet": "10.0.0.0/24",
            "mac": "02:00:00:00:00:05", "gateway": null, "dns": [], "domain": null,
            "server_id": "10.0.0.1", "lease_time": 100, "renewal_time": 50, "rebinding_time": 87,
            "obtained_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T00:01:40Z",
            "hostname": null, "client_id": "01:02:00:00:00:00:05", "interface": "eth0",
            "network": null
        }))
        .unwrap()
    }

    fn link_sample() -> LinkRecord {
        serde_json::from_value(serde_json::json!({
            "name": "eth0.10", "ifindex": 7, "kind": "vlan", "parent": "eth0", "vid": 10,
            "created_at": "2026-11-28T05:00:00Z"
        }))
        .unwrap()
    }

    fn network_sample() -> Network {
        serde_json::from_value(serde_json::json!({
            "name": "n", "id": "x", "parent": "eth0", "dhcp_interface": "eth0",
            "subnet": "10.0.0.0/24", "gateway": "10.0.0.1", "created_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn each_old_single_file_is_converted_at_first_use_and_kept_renamed() {
        migrates("leases", lease_sample());
        migrates("links", link_sample());
        migrates("networks", network_sample());
    }

    #[test]
    fn a_reader_that_cannot_take_the_lock_reads_the_old_file_and_the_first_writer_converts_it() {
        let (_d, s) = setup();
        s.prepare().unwrap();
        let t = s.table::<Item>();
        fs::write(
            s.path("items.json"),
            legacy_doc("items", serde_json::json!([item("a", 1), item("b", 2)])),
        )
        .unwrap();
        let l = s.lock().unwrap();
        // Another process (here: this one, through another descriptor)
        // holds the lock: nothing is converted, the old records are read.
        assert_eq!(t.list().unwrap(), vec![item("a", 1), item("b", 2)]);
        assert_eq!(t.get(&"b".into()).unwrap(), Some(item("b", 2)));
        assert!(s.path("items.json").exists());
        // The first writer converts before writing; a record file already
        // there (a conversion interrupted, then written to) wins.
        t.put(&l, &item("a", 10)).unwrap();
        assert!(!s.path("items.json").exists());
        assert_eq!(t.list().unwrap(), vec![item("a", 10), item("b", 2)]);
        // A second old file (put back by hand) is converted too; the first
        // conversion's copy is not overwritten.
        fs::write(
            s.path("items.json"),
            legacy_doc("items", serde_json::json!([item("c", 3)])),
        )
        .unwrap();
        t.remove(&l, &"b".into()).unwrap();
        assert!(s.path("items.json.migrated").exists());
        assert!(s.path("items.json.migrated.1").exists());
        assert_eq!(t.list().unwrap(), vec![item("a", 10), item("c", 3)]);
    }

    #[test]
    fn a_corrupt_old_file_is_refused_naming_it_and_kept_and_nothing_is_converted() {
        for bytes in [
            b"{\"version\": 1, \"items\": [ garbage".to_vec(),
            legacy_doc("items", serde_json::json!([item("a", 1), item("b", 5000)])),
        ] {
            let (_d, s) = setup();
            s.prepare().unwrap();
            fs::write(s.path("items.json"), &bytes).unwrap();
            let t = s.table::<Item>();
            let put = t.put(&s.lock().unwrap(), &item("z", 1)).unwrap_err();
            for e in [
                t.list().unwrap_err(),
                t.get(&"a".into()).unwrap_err(),
                put,
                t.update(|_| Ok(())).unwrap_err(),
            ] {
                assert_eq!(e.exit_code(), crate::error::ExitCode::State);
                assert!(e.to_string().contains("items.json"), "{e}");
            }
            assert_eq!(fs::read(s.path("items.json")).unwrap(), bytes);
            assert!(!s.path("items.json.migrated").exists());
            assert!(!t.path_of(&"a".into()).exists() && !t.path_of(&"z".into()).exists());
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(u8, u32),
        Remove(u8),
        PutMany(Vec<(u8, u32)>),
        Update(Vec<(u8, Option<u32>)>),
        Save(Vec<(u8, u32)>),
        Crash(u8, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = 0u8..8;
        prop_oneof![
            (key.clone(), 0u32..999).prop_map(|(k, n)| Op::Put(k, n)),
            key.clone().prop_map(Op::Remove),
            prop::collection::vec((key.clone(), 0u32..999), 0..20).prop_map(Op::PutMany),
            prop::collection::vec((key.clone(), prop::option::of(0u32..999)), 0..5)
                .prop_map(Op::Update),
            prop::collection::vec((key.clone(), 0u32..999), 0..6).prop_map(Op::Save),
            (key, 0u32..999).prop_map(|(k, n)| Op::Crash(k, n)),
        ]
    }

    fn name(k: u8) -> String {
        // Keys that need escaping too.
        ["a", "b", ".c", "d/e", "f g", "h@i", "€", "j%2F"][k as usize % 8].to_string()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn random_operations_leave_the_table_equal_to_a_model_after_reopening(
            ops in prop::collection::vec(op(), 1..25)
        ) {
            let d = tempfile::tempdir().unwrap();
            let mut model: BTreeMap<String, Item> = BTreeMap::new();
            for o in ops {
                // A fresh Store each time: as a new process would open it.
                let s = Store::new(d.path().join("state"));
                let t = s.table::<Item>();
                match o {
                    Op::Put(k, n) => {
                        t.put(&s.lock().unwrap(), &item(&name(k), n)).unwrap();
                        model.insert(name(k), item(&name(k), n));
                    }
                    Op::Remove(k) => {
                        let had = t.remove(&s.lock().unwrap(), &name(k)).unwrap();
                        prop_assert_eq!(had, model.remove(&name(k)).is_some());
                    }
                    Op::PutMany(v) => {
                        let items: Vec<Item> = v.iter().map(|&(k, n)| item(&name(k), n)).collect();
                        t.put_many(&s.lock().unwrap(), &items).unwrap();
                        for i in items {
                            model.insert(i.name.clone(), i);
                        }
                    }
                    Op::Update(v) => {
                        t.update(|all| {
                            for (k, n) in &v {
                                all.retain(|i| i.name != name(*k));
                                if let Some(n) = n {
                                    all.push(item(&name(*k), *n));
                                }
                            }
                            Ok(())
                        })
                        .unwrap();
                        for (k, n) in v {
                            match n {
                                Some(n) => model.insert(name(k), item(&name(k), n)),
                                None => model.remove(&name(k)),
                            };
                        }
                    }
                    Op::Save(v) => {
                        let items: Vec<Item> = v.iter().map(|&(k, n)| item(&name(k), n)).collect();
                        t.save(&s.lock().unwrap(), items.clone()).unwrap();
                        model = items.into_iter().map(|i| (i.name.clone(), i)).collect();
                    }
                    Op::Crash(k, n) => {
                        // A writer killed after its temporary write.
                        let dir = t.dir();
                        fs::create_dir_all(&dir).unwrap();
                        let tmp = dir.join(format!(".{}{TMP}", Table::<Item>::name_of(&name(k))));
                        fs::write(tmp, serde_json::to_vec(&serde_json::json!(
                            {"version": 1, "record": item(&name(k), n)})).unwrap()).unwrap();
                    }
                }
                let s = Store::new(d.path().join("state"));
                let t = s.table::<Item>();
                prop_assert_eq!(t.list().unwrap(), model.values().cloned().collect::<Vec<_>>());
                for k in 0..8 {
                    prop_assert_eq!(t.get(&name(k)).unwrap(), model.get(&name(k)).cloned());
                }
            }
        }
    }
}
