//! The private directory of one session, removed when the session ends.
//!
//! ```text
//! rlm-python-<random>/   0711, the host's  (others may enter, not list)
//!   lock                 0600              locked while the session lives
//!   driver.py            0444              the embedded driver
//!   work/                0700, sandbox uid the interpreter's working directory
//!   values/              0711, the host's  backing files of injected values (the context)
//!     v<n>               0440 host:sandbox gid when dropping privileges, else 0400
//! ```
//!
//! The code can write only in `work/`; it can read an injected value's file (by its unlisted
//! name) but not change or delete it, so a fresh interpreter re-loads the value as injected.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::options::SandboxUser;

/// Session directories are named `rlm-python-<random>`.
const PREFIX: &str = "rlm-python-";
/// The file a live session keeps locked (`flock`) inside its directory.
const LOCK: &str = "lock";

/// Removes session directories whose host died without removing them: their lock file is no
/// longer locked. (A lock, unlike a pid, cannot be mistaken across PID namespaces or reuse.)
fn sweep_orphans(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let named = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PREFIX));
        let ours = fs::symlink_metadata(&path)
            .is_ok_and(|m| m.is_dir() && std::os::unix::fs::MetadataExt::uid(&m) == own_uid());
        if !named || !ours {
            continue;
        }
        // No lock file yet: a session being created right now. Leave it.
        let Ok(lock) = fs::File::open(path.join(LOCK)) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            let _ = remove_tree(&path);
        }
    }
}

/// This process's uid, the owner of the directories it creates.
fn own_uid() -> u32 {
    fs::metadata("/proc/self").map_or(u32::MAX, |m| std::os::unix::fs::MetadataExt::uid(&m))
}

/// The driver script, embedded at build time.
pub(crate) const DRIVER_SOURCE: &str = include_str!("driver.py");

/// A session directory (see the module docs).
#[derive(Debug)]
pub(crate) struct SessionDir {
    root: PathBuf,
    work: PathBuf,
    values: PathBuf,
    driver: PathBuf,
    /// The sandbox user owning `work/`, when privileges are dropped.
    user: Option<SandboxUser>,
    next_value: u64,
    /// Held locked while the session lives (see [`sweep_orphans`]).
    lock: Option<fs::File>,
}

impl SessionDir {
    /// Creates a fresh directory under `base` (the first time in a process, after removing the
    /// directories that hosts killed without a chance to clean up left behind).
    pub(crate) fn create(base: &Path, user: Option<SandboxUser>) -> io::Result<Self> {
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| sweep_orphans(base));
        let root_mode = if user.is_some() { 0o711 } else { 0o700 };
        let mut attempt = 0;
        let root = loop {
            let candidate = base.join(format!("{PREFIX}{:016x}", fastrand::u64(..)));
            match DirBuilder::new().mode(root_mode).create(&candidate) {
                Ok(()) => break candidate,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        let mut dir = Self {
            work: root.join("work"),
            values: root.join("values"),
            driver: root.join("driver.py"),
            root,
            user,
            next_value: 0,
            lock: None,
        };
        // On failure `dir` is dropped, which removes what was created.
        fs::set_permissions(&dir.root, fs::Permissions::from_mode(root_mode))?;
        let lock = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.root.join(LOCK))?;
        lock.lock()?;
        dir.lock = Some(lock);
        DirBuilder::new().mode(0o700).create(&dir.work)?;
        DirBuilder::new().mode(root_mode).create(&dir.values)?;
        fs::set_permissions(&dir.values, fs::Permissions::from_mode(root_mode))?;
        if let Some(user) = user {
            std::os::unix::fs::chown(&dir.work, Some(user.uid), Some(user.gid))?;
        }
        write_new(&dir.driver, DRIVER_SOURCE.as_bytes(), 0o444)?;
        Ok(dir)
    }

    /// The interpreter's working directory.
    pub(crate) fn work(&self) -> &Path {
        &self.work
    }

    /// The driver script.
    pub(crate) fn driver(&self) -> &Path {
        &self.driver
    }

    /// Stores an injected value's bytes in a new backing file readable by the sandbox.
    pub(crate) fn write_value(&mut self, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.values.join(format!("v{}", self.next_value));
        self.next_value += 1;
        match self.user {
            Some(user) => {
                write_new(&path, bytes, 0o440)?;
                std::os::unix::fs::chown(&path, None, Some(user.gid))?;
            }
            None => write_new(&path, bytes, 0o400)?,
        }
        Ok(path)
    }
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    // The umask may have cleared bits of `mode`.
    file.set_permissions(fs::Permissions::from_mode(mode))
}

/// Removes a tree even where the code left directories without write or search permission
/// (possible when the host is not root).
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            open_up(path);
            fs::remove_dir_all(path)
        }
        _ => Ok(()),
    }
}

fn open_up(path: &Path) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
        if let Ok(entries) = fs::read_dir(path) {
            for entry in entries.flatten() {
                open_up(&entry.path());
            }
        }
    }
}

impl Drop for SessionDir {
    fn drop(&mut self) {
        // The interpreter was killed just before; give a dying process a moment to let go.
        for attempt in 0..3 {
            match remove_tree(&self.root) {
                Ok(()) => return,
                Err(e) if attempt == 2 => {
                    tracing::warn!(dir = %self.root.display(), error = %e, "could not remove the python session directory");
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_of_dead_hosts_are_swept() {
        let base = std::env::temp_dir().join(format!("rlm-sweep-{:x}", fastrand::u64(..)));
        fs::create_dir_all(&base).unwrap();
        let live = SessionDir::create(&base, None).unwrap();
        let dead = base.join(format!("{PREFIX}dead"));
        let creating = base.join(format!("{PREFIX}creating"));
        let other = base.join("unrelated-dir");
        for dir in [&dead, &creating, &other] {
            fs::create_dir_all(dir.join("work")).unwrap();
        }
        fs::write(dead.join(LOCK), b"").unwrap();
        fs::write(other.join(LOCK), b"").unwrap();
        sweep_orphans(&base);
        assert!(!dead.exists(), "unlocked: its host is gone");
        assert!(live.root.exists() && creating.exists() && other.exists());
        drop(live);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn the_driver_defines_every_host_function_and_hard_codes_no_name_list() {
        // The driver binds the names the host sends at start (`rlm_core::names`); it must
        // define a function for each, and keep no list of its own.
        for name in rlm_core::HOST_FUNCTIONS {
            assert!(
                DRIVER_SOURCE.contains(&format!("\ndef {name}(")),
                "driver.py defines no {name}()"
            );
        }
        for literal in [
            "\"__rlm\"",
            "\"answer\"]",
            "\"answer\")",
            "_HOST_FUNCTIONS = (",
        ] {
            assert!(
                !DRIVER_SOURCE.contains(literal),
                "driver.py hard-codes {literal}"
            );
        }
    }

    #[test]
    fn the_directory_is_private_and_removed_on_drop() {
        let base = std::env::temp_dir();
        let mut dir = SessionDir::create(&base, None).unwrap();
        let root = dir.root.clone();
        assert_eq!(
            fs::metadata(&root).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(fs::read_to_string(dir.driver()).unwrap(), DRIVER_SOURCE);
        let value = dir.write_value(b"hello").unwrap();
        assert_eq!(fs::read(&value).unwrap(), b"hello");
        assert_eq!(
            fs::metadata(&value).unwrap().permissions().mode() & 0o777,
            0o400
        );
        let nested = dir.work().join("a/b");
        fs::create_dir_all(&nested).unwrap();
        fs::set_permissions(dir.work().join("a"), fs::Permissions::from_mode(0o000)).unwrap();
        drop(dir);
        assert!(!root.exists());
    }
}
