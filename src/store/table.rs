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
//! per record.
//!
//! A file that cannot be parsed, that holds a record failing its checks, or
//! whose name is not its record's key is an error naming it (exit 7); it is
//! never replaced behind the user's back.
//!
//! Older dhcpnet kept each table in one file (`leases.json`). Such a file
//! found at first use is converted under the lock (its records written as
//! record files, an existing record file winning over the old file's copy)
//! and then renamed to `leases.json.migrated`, which is kept. Readers that
//! cannot take the lock at that moment read the old file and the directory
//! together, with the same precedence, so they see what the conversion
//! will produce.

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

/// A kind of record kept in a table.
pub trait Record: Serialize + DeserializeOwned + Clone + PartialEq {
    /// What identifies a record: one record per key.
    type Key: Ord + Clone + std::fmt::Debug;
    /// The table's directory in the state directory, e.g. `leases.d`.
    const DIR: &'static str;
    /// The single file older dhcpnet kept all records in, e.g. `leases.json`.
    const LEGACY: &'static str;

    fn key(&self) -> Self::Key;
    /// The file name (without `.json`) of the record of `key`; made
    /// file-safe by `file_safe`.
    fn stem(key: &Self::Key) -> String;
    /// Why the record is not one dhcpnet could have written, if it is not.
    fn check(&self) -> std::result::Result<(), String>;
    /// How an error message names the record (quoted, never raw).
    fn label(&self) -> String;
    /// Repairs made on load (logged); `path` names the file.
    fn repair(&mut self, _path: &Path) {}
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
/// in `~` and a hash of the whole (FNV-1a, 64 bits). `~` never appears in
/// `file_safe` output, so a cut stem cannot equal an uncut one.
fn bounded(stem: String) -> String {
    if stem.len() <= MAX_STEM {
        return stem;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stem.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    // file_safe output is ASCII: any cut is on a character boundary.
    format!("{}~{h:016x}", &stem[..MAX_STEM - 17])
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

/// The record in a record file's bytes, checked (`path` names the file in
/// errors). Does not check that the file name fits the key.
pub fn parse_record<R: Record>(path: &Path, bytes: &[u8]) -> Result<R> {
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
    r.repair(path);
    if let Err(why) = r.check() {
        return Err(Error::state(
            path,
            format!(
                "the record ({}) is invalid: {why}; the file was left as it is: repair or remove it",
                r.label()
            ),
        ));
    }
    Ok(r)
}

fn newer(path: &Path, v: u32) -> Error {
    Error::state(
        path,
        format!(
            "format version {v} was written by a newer dhcpnet; this one reads version {FORMAT_VERSION}"
        ),
    )
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

    fn name_of(key: &R::Key) -> String {
        format!("{}{EXT}", bounded(R::stem(key)))
    }

    fn legacy(&self) -> PathBuf {
        self.store.path(R::LEGACY)
    }

    /// The record of `key`, if there is one. No lock needed.
    pub fn get(&self, key: &R::Key) -> Result<Option<R>> {
        if !self.store.secure(false)? {
            return Ok(None);
        }
        let old = self.pending_legacy()?;
        let p = self.path_of(key);
        match read_file(&p)? {
            Some(bytes) => {
                let r: R = parse_record(&p, &bytes)?;
                self.check_name(&p, &r)?;
                Ok(Some(r))
            }
            None => Ok(old.and_then(|old| old.into_values().find(|r| r.key() == *key))),
        }
    }

    /// Every record, in key order. No lock needed; reads every file.
    pub fn list(&self) -> Result<Vec<R>> {
        Ok(self.map()?.into_values().collect())
    }

    /// Every record by key.
    fn map(&self) -> Result<BTreeMap<R::Key, R>> {
        if !self.store.secure(false)? {
            return Ok(BTreeMap::new());
        }
        // The old file first: should a conversion run meanwhile, the
        // directory read after it holds everything the file held.
        let mut all = self.pending_legacy()?.unwrap_or_default();
        for (k, r) in self.read_dir(false)? {
            all.insert(k, r);
        }
        Ok(all)
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

    /// The records of the directory; with `clean` (lock held), leftover
    /// temporary files are removed.
    fn read_dir(&self, clean: bool) -> Result<Vec<(R::Key, R)>> {
        let dir = self.dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
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
                if clean && name.ends_with(TMP) {
                    let _ = fs::remove_file(dir.join(name));
                }
                continue;
            }
            if name.ends_with(EXT) {
                names.push(name.to_string());
            }
        }
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let p = dir.join(&name);
            // Removed since the listing: not a record any more.
            let Some(bytes) = read_file(&p)? else {
                continue;
            };
            let r: R = parse_record(&p, &bytes)?;
            self.check_name(&p, &r)?;
            out.push((r.key(), r));
        }
        Ok(out)
    }

    fn check_name(&self, p: &Path, r: &R) -> Result<()> {
        let want = Self::name_of(&r.key());
        if p.file_name().and_then(|n| n.to_str()) != Some(want.as_str()) {
            return Err(Error::state(
                p,
                format!(
                    "holds the record of {}, which belongs in {want}; the file was left as it is: \
                     rename or remove it",
                    r.label()
                ),
            ));
        }
        Ok(())
    }

    /// Convert an old single file, if there is one (see the module doc).
    pub fn migrate(&self, lock: &Lock) -> Result<()> {
        let p = self.legacy();
        let Some(bytes) = read_file(&p)? else {
            return Ok(());
        };
        let old = keyed(R::parse_legacy(&p, &bytes)?);
        let have: BTreeMap<R::Key, R> = self.read_dir(true)?.into_iter().collect();
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
        self.apply(lock, &[r], &[])
    }

    /// Write several records in one durable step (each replacing the
    /// record of its key; the last of a key wins). Lock held.
    pub fn put_many(&self, lock: &Lock, records: &[R]) -> Result<()> {
        self.migrate(lock)?;
        let last: BTreeMap<R::Key, &R> = records.iter().map(|r| (r.key(), r)).collect();
        let refs: Vec<&R> = last.into_values().collect();
        self.apply(lock, &refs, &[])
    }

    /// Remove the record of `key`; whether there was one. Lock held.
    pub fn remove(&self, lock: &Lock, key: &R::Key) -> Result<bool> {
        self.migrate(lock)?;
        let p = self.path_of(key);
        if fs::symlink_metadata(&p).is_err() {
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
        for (k, r) in self.read_dir(true)? {
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
            let mut data = serde_json::to_vec_pretty(&OutFile {
                version: FORMAT_VERSION,
                record: *r,
            })
            .map_err(|e| Error::state(&p, format!("cannot encode: {e}")))?;
            data.push(b'\n');
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
        for k in gone {
            let p = self.path_of(k);
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
    let mut bytes = Vec::with_capacity(1024);
    f.read_to_end(&mut bytes)
        .map_err(|e| Error::state(p, format!("cannot read: {e}")))?;
    Ok(Some(bytes))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}
