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

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::{format, process};

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
    let path = path.as_ref();
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let (mut file, temp) = create_temp(dir, &name.to_string_lossy())?;
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
