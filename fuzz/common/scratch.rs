//! A scratch directory per fuzzing process, for the targets that read files by path (the
//! readers' own code from `open` on): made once, reused by every input, removed by nobody
//! (it lives under the system's temporary directory, named after the target and the
//! process).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `$TMPDIR/monograd-fuzz-<target>-<pid>`, created on first use.
pub fn dir(target: &str) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("monograd-fuzz-{target}-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("a scratch directory");
        d
    })
}
