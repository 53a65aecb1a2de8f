//! Which hosts on a database file are alive, so a dead host's leases are released at once.
//!
//! A handle that takes leases holds an exclusive OS lock (`flock`) on a file of its own in
//! `<database>-hosts/`, named after the prefix of its lock tokens, for as long as the handle
//! lives. The operating system releases that lock when the process ends, however it ends
//! (`kill -9` included), and never while it runs. So a host that *can* take another's lock
//! knows its holder is gone: it releases every lease whose token has that prefix (the work
//! becomes lockable at once) and deletes the file. A live host's file stays locked, so its
//! work is never taken this way; leases still expire as before for anything this cannot see
//! (a host on another machine, a directory that could not be written).

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// Suffix of a registered host's file; anything else in the directory is not a host.
const LIVE: &str = "lock";
/// Suffix of a file being set up: created and locked, then renamed to `LIVE`, so no one ever
/// sees an unlocked file of a live host under its final name.
const SETTING_UP: &str = "tmp";

/// This handle's registration: its locked file, held until the handle is dropped.
#[derive(Debug)]
pub(super) struct Registration {
    _file: File,
}

/// The directory of host files for a database file.
pub(super) fn hosts_dir(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-hosts");
    PathBuf::from(name)
}

/// Registers the host whose lock tokens start with `prefix`: creates `dir/<prefix>.lock` and
/// holds an exclusive lock on it. `prefix` must be usable as a file name.
pub(super) fn register(dir: &Path, prefix: &str) -> io::Result<Registration> {
    std::fs::create_dir_all(dir)?;
    let setting_up = dir.join(format!("{prefix}.{SETTING_UP}"));
    let live = dir.join(format!("{prefix}.{LIVE}"));
    // A scan that took the half-made file for a dead host's may delete it between its creation
    // and the lock: then the rename finds nothing, and the next attempt starts over rather than
    // holding a lock on a file no one can see. A scan removes it at most once per look.
    let mut attempts = 0;
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&setting_up)?;
        file.lock()?;
        match std::fs::rename(&setting_up, &live) {
            Ok(()) => return Ok(Registration { _file: file }),
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
            Err(e) => return Err(e),
        }
    }
}

/// The token prefixes of the hosts in `dir` that are gone (their file's lock is free), other
/// than `own`. Each returned host's file is still locked by the caller through the returned
/// guard, and is deleted by [`Dead::forget`] once its leases are released, so two scans never
/// both act on it. A missing directory has no hosts.
pub(super) fn dead_hosts(dir: &Path, own: Option<&str>) -> io::Result<Vec<Dead>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut dead = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let (Some(prefix), Some(suffix)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        if Some(prefix) == own || (suffix != LIVE && suffix != SETTING_UP) {
            continue;
        }
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // another scan took it
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue, // alive
            Err(TryLockError::Error(e)) => return Err(e),
        }
        if !path.exists() {
            continue; // another scan released it and deleted the file between open and lock
        }
        if suffix == SETTING_UP {
            // A host killed while registering holds no lease yet; one still registering
            // fails its rename and registers again.
            let _ = std::fs::remove_file(&path);
            continue;
        }
        dead.push(Dead {
            prefix: prefix.to_owned(),
            path,
            _file: file,
        });
    }
    Ok(dead)
}

/// A host found dead, its file locked by the scan that found it.
#[derive(Debug)]
pub(super) struct Dead {
    /// The prefix of every lock token it held.
    pub(super) prefix: String,
    path: PathBuf,
    _file: File,
}

impl Dead {
    /// Deletes the host's file: its leases have been released.
    pub(super) fn forget(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file left half-made by a host killed while registering is removed and not taken for
    /// a host; a registered host is alive while its registration lives, and dead after.
    #[test]
    fn half_made_files_are_removed_and_registrations_live_as_long_as_their_handle() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stray = dir.path().join(format!("killed.{SETTING_UP}"));
        std::fs::write(&stray, b"").unwrap();
        assert!(dead_hosts(dir.path(), None).unwrap().is_empty());
        assert!(!stray.exists(), "the half-made file is gone");

        let registration = register(dir.path(), "a").expect("registering");
        assert!(
            dead_hosts(dir.path(), Some("b")).unwrap().is_empty(),
            "a is alive"
        );
        drop(registration);
        let dead = dead_hosts(dir.path(), Some("b")).unwrap();
        assert_eq!(
            dead.iter().map(|d| d.prefix.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        dead.into_iter().for_each(Dead::forget);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
