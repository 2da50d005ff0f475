//! Opening a file to read, refusing special files first: every reader of the crate (CSV,
//! IDX, MNIST, safetensors, checkpoints) opens its input here.
//!
//! A named pipe (FIFO) blocks `open` until a writer appears, and a device such as
//! `/dev/zero` or `/dev/urandom` never ends: a reader given one would wait or grow
//! forever. So the path's metadata is checked before it is opened (symbolic links are
//! followed: a link to a regular file is fine), and the opened handle is checked again,
//! in case the path changed in between. Directories, FIFOs, sockets and character or
//! block devices are refused with an [`io::Error`] of kind
//! [`InvalidInput`](io::ErrorKind::InvalidInput) (a directory:
//! [`IsADirectory`](io::ErrorKind::IsADirectory)) whose message names what the path is;
//! each reader puts the path in front of it.
//!
//! (A path swapped for a FIFO between the check and the `open` can still block; closing
//! that race would need `O_NONBLOCK`, which std does not name portably.)

use std::fs::{self, File, Metadata};
use std::io;
use std::path::Path;

/// Why [`open_regular`] failed.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The system's error (no such file, no permission, ...).
    Io(io::Error),
    /// The path is not a regular file; this says what it is (`"a named pipe (FIFO)"`).
    NotAFile(&'static str),
}

impl OpenError {
    /// As an [`io::Error`] whose message names what the path is, for error types that
    /// wrap one (the serializer's).
    #[cfg_attr(not(feature = "safetensors"), allow(dead_code))]
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            OpenError::Io(e) => e,
            OpenError::NotAFile(kind) => {
                let k = if kind == DIRECTORY { io::ErrorKind::IsADirectory } else { io::ErrorKind::InvalidInput };
                io::Error::new(k, std::format!("is {kind}, not a regular file; {ADVICE}"))
            }
        }
    }
}

/// What to do about a special file, for messages.
pub(crate) const ADVICE: &str = "readers take regular files only (copy the data to a file first)";

const DIRECTORY: &str = "a directory";

/// Opens `path` for reading if it is a regular file (after following symbolic links);
/// returns the file and its length.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64), OpenError> {
    check(&fs::metadata(path).map_err(OpenError::Io)?)?;
    let file = File::open(path).map_err(OpenError::Io)?;
    let meta = file.metadata().map_err(OpenError::Io)?;
    check(&meta)?;
    Ok((file, meta.len()))
}

/// `Ok` for a regular file, else what the metadata describes.
fn check(meta: &Metadata) -> Result<(), OpenError> {
    let ty = meta.file_type();
    if ty.is_file() {
        return Ok(());
    }
    Err(OpenError::NotAFile(if ty.is_dir() { DIRECTORY } else { kind_of(&ty) }))
}

#[cfg(unix)]
fn kind_of(ty: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ty.is_fifo() {
        "a named pipe (FIFO)"
    } else if ty.is_char_device() {
        "a character device"
    } else if ty.is_block_device() {
        "a block device"
    } else if ty.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn kind_of(_: &fs::FileType) -> &'static str {
    "a special file"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn regular_files_open_and_directories_do_not() {
        let dir = std::env::temp_dir().join(std::format!("monograd-file-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.bin");
        fs::write(&f, b"abc").unwrap();
        assert_eq!(open_regular(&f).unwrap().1, 3);
        let e = open_regular(&dir).unwrap_err().into_io();
        assert_eq!(e.kind(), io::ErrorKind::IsADirectory);
        assert!(e.to_string().starts_with("is a directory, not a regular file"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn devices_are_refused_before_reading() {
        let e = open_regular(Path::new("/dev/zero")).unwrap_err().into_io();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().starts_with("is a character device"), "{e}");
    }
}
