//! Replacing a file atomically: whatever happens during a save, the file holds either its
//! previous bytes or the new ones, never a mix, never nothing.
//!
//! [`write()`] goes through these steps, and stops at the first failure:
//!
//! 1. create a temporary file in the target's directory (`.NAME.PID.N.tmp`, created new:
//!    never an existing file), with the target's permissions when it exists;
//! 2. write every byte and flush: [`Stage::Written`];
//! 3. `sync_all`, so the bytes are on the device before any name points at them:
//!    [`Stage::Synced`];
//! 4. close it: [`Stage::Closed`], just before the rename;
//! 5. rename it over the target, which replaces the directory entry in one step
//!    (`rename(2)` on Unix; `MoveFileEx` with `REPLACE_EXISTING` on Windows);
//! 6. on Unix, sync the directory, so that the rename itself survives a power loss.
//!
//! On an error before the rename, the temporary file is removed and the target is as it
//! was. If the process dies instead (a crash, a kill), the target is still intact and a
//! stray `.NAME.*.tmp` may remain beside it. An error from step 6 means the new file is in
//! place but may not survive a power loss.
//!
//! [`write_with`] calls a hook after steps 2, 3 and 4; tests inject failures there.
//!
//! Two more things a careful tool does:
//!
//! - **Symbolic links are followed.** When the target is a symbolic link (or a chain of
//!   them), the file it points to is replaced and the link stays a link: the temporary
//!   file is made in the directory of the link's final target and renamed over that. A
//!   link to a file that does not exist yet creates that file.
//! - **Temporary files left by a crash are removed** by the next save to the same target:
//!   before step 1, the files of the target's directory named as a save of this target
//!   names its own (`.NAME.PID.N.tmp`, `PID` and `N` decimal) that are regular files
//!   last modified [`STALE_AFTER`] (one hour) ago or more are deleted. Younger ones may
//!   belong to a save still running in another process and are left alone; nothing else
//!   is touched. This lists the directory once per save; failures to list or remove are
//!   ignored (the save itself does not depend on them).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use std::{format, process};

/// How old a temporary file of a save must be before a later save to the same target
/// takes it for the leftover of a crash and removes it.
pub const STALE_AFTER: Duration = Duration::from_secs(60 * 60);

/// Symbolic links followed before giving up, as Linux's `ELOOP` limit.
const MAX_LINKS: usize = 40;

/// A point of [`write_with`] at which its hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Every byte is written to the temporary file and flushed.
    Written,
    /// The temporary file is synced to the device (`sync_all`).
    Synced,
    /// The temporary file is closed; the rename comes next.
    Closed,
}

impl Stage {
    /// Every stage, in the order they happen.
    pub const ALL: [Stage; 3] = [Stage::Written, Stage::Synced, Stage::Closed];
}

/// Replaces the file at `path` with `bytes`, atomically (see the [module](self) docs).
///
/// ```
/// use monograd_nn::serialize::atomic;
/// # let dir = std::env::temp_dir().join(format!("monograd-doc-atomic-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("weights.bin");
/// atomic::write(&path, b"first")?;
/// atomic::write(&path, b"second")?;
/// assert_eq!(std::fs::read(&path)?, b"second");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write(path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    write_with(path, bytes, |_| Ok(()))
}

/// [`write()`], calling `hook` at each [`Stage`]: an error from the hook stops the write
/// there, as a failure of the file system would, and is returned.
///
/// ```
/// use std::io;
/// use monograd_nn::serialize::atomic::{self, Stage};
/// # let dir = std::env::temp_dir().join(format!("monograd-doc-atomic-with-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("weights.bin");
/// atomic::write(&path, b"good")?;
/// // The disk "fails" once the new bytes are synced: the old file stays.
/// let failed = atomic::write_with(&path, b"new", |stage| match stage {
///     Stage::Synced => Err(io::Error::other("injected")),
///     _ => Ok(()),
/// });
/// assert!(failed.is_err());
/// assert_eq!(std::fs::read(&path)?, b"good");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_with(
    path: impl AsRef<Path>,
    bytes: &[u8],
    mut hook: impl FnMut(Stage) -> io::Result<()>,
) -> io::Result<()> {
    let path = &final_target(path.as_ref())?;
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = name.to_string_lossy();
    remove_stale(dir, &name, SystemTime::now());
    let (mut file, temp) = create_temp(dir, &name)?;
    let guard = RemoveOnDrop(Some(temp));
    // Keep the target's permissions (a model shared read-only stays so).
    if let Ok(meta) = fs::metadata(path) {
        file.set_permissions(meta.permissions())?;
    }
    file.write_all(bytes)?;
    file.flush()?;
    hook(Stage::Written)?;
    file.sync_all()?;
    hook(Stage::Synced)?;
    drop(file);
    hook(Stage::Closed)?;
    let temp = guard.path();
    fs::rename(temp, path)?;
    guard.disarm();
    sync_dir(dir)
}

/// The file `path` finally names: `path` itself unless it is a symbolic link, else the
/// end of the chain of links (which may not exist yet).
fn final_target(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let next = fs::read_link(&p)?;
                // A relative link is relative to the directory holding it.
                p = match p.parent() {
                    Some(dir) if next.is_relative() => dir.join(next),
                    _ => next,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{}: too many levels of symbolic links", path.display())))
}

/// Whether `file` is named as [`create_temp`] names a temporary file for the target
/// `name`: `.NAME.PID.N.tmp`, `PID` and `N` decimal.
fn is_temp_of(file: &str, name: &str) -> bool {
    let Some(rest) = file
        .strip_prefix('.')
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix('.'))
        .and_then(|r| r.strip_suffix(".tmp"))
    else {
        return false;
    };
    let decimal = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut parts = rest.split('.');
    matches!((parts.next(), parts.next(), parts.next()), (Some(pid), Some(n), None) if decimal(pid) && decimal(n))
}

/// Removes the temporary files of earlier saves to `name` in `dir` that are [`STALE_AFTER`]
/// old or more at `now`: regular files only, named by [`is_temp_of`]. Best effort.
fn remove_stale(dir: &Path, name: &str, now: SystemTime) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        if !file_name.to_str().is_some_and(|f| is_temp_of(f, name)) {
            continue;
        }
        // Not followed: a link with a temporary file's name is not ours.
        let Ok(meta) = entry.metadata() else { continue };
        let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok());
        if meta.file_type().is_file() && age.is_some_and(|a| a >= STALE_AFTER) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Creates `.NAME.PID.N.tmp` in `dir`, never opening an existing file.
fn create_temp(dir: &Path, name: &str) -> io::Result<(File, PathBuf)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.{}.{n}.tmp", process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((file, temp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

/// Removes the temporary file unless the rename took it.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            // Best effort: the write already failed, and that error is the one to report.
            let _ = fs::remove_file(p);
        }
    }
}

/// Makes a rename in `dir` durable, where the platform can (Unix: `fsync` on the
/// directory).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_temporary_names_count_as_ours() {
        assert!(is_temp_of(".w.bin.123.0.tmp", "w.bin"));
        assert!(is_temp_of(".a.1.2.tmp", "a"));
        for other in
            [".w.bin.tmp", ".w.bin.x.0.tmp", ".w.bin.1.2.3.tmp", "w.bin.1.2.tmp", ".w.bin.1.2.tmp~", ".a.1.2.tmp"]
        {
            assert!(!is_temp_of(other, if other.starts_with(".a.") { "a.1" } else { "w.bin" }), "{other}");
        }
        assert!(!is_temp_of(".w.bin.1..tmp", "w.bin"));
    }
}
