//! The checks of a safetensors header that every reader of one applies, in one place:
//! `include_weights!` calls them while a crate compiles, the run-time loader
//! (`monograd_nn::serialize`) when it loads, and [`counter`](super::counter) during
//! constant evaluation, so that a file one of them accepts the others accept too.
//!
//! A reader parses the header's JSON its own way (the loader streams it, keeping little;
//! the macro keeps every entry) and hands each piece to these functions:
//!
//! | function | checks |
//! | --- | --- |
//! | [`header_len`] | the header's length, in the first 8 bytes, against the file and [`MAX_HEADER_LEN`] |
//! | [`entry`] | one tensor: its size from shape and type (overflow-checked, whole bytes) against its offsets |
//! | [`tiling`] | the offsets, sorted: they cover the data from 0 with no gap and no overlap |
//! | [`file_len`] | the file is exactly as long as the header says |
//! | [`unique`] | the names, sorted: none twice |
//! | [`counter`] | an integer counter's 8 bytes: an `I64` below 0 is not a count |
//!
//! Every problem names what is wrong in words ([`Problem`]'s `Display`).
//!
//! ```
//! use monograd_core::embed::header::{self, Problem};
//! // Two F32 [2] tensors: 8 bytes each, one after the other.
//! assert_eq!(header::entry("a", "F32", 32, &[2], 0, 8), Ok(8));
//! assert_eq!(header::tiling([(0, 8), (8, 16)]), Ok(16));
//! assert_eq!(header::tiling([(0, 8), (4, 12)]), Err(Problem::Overlap { at: 4 }));
//! assert_eq!(header::unique(["a", "b", "b"]), Err(Problem::Duplicate { name: "b" }));
//! let e = header::counter("bn.num_batches_tracked", true, (-3i64).to_le_bytes()).unwrap_err();
//! assert_eq!(e.to_string(), "counter `bn.num_batches_tracked` is -3, not a count");
//! ```

use core::fmt;

/// The longest header a safetensors file may have (the format's own limit, 100 MB).
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// What is wrong with a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem<'a> {
    /// The header's length, in the first 8 bytes, is more than the file holds after them
    /// or than [`MAX_HEADER_LEN`].
    HeaderLength {
        /// The length the file claims.
        claimed: u64,
        /// The most it could be.
        limit: u64,
    },
    /// A tensor's size in bytes overflows, or is not whole bytes.
    Size {
        /// The tensor.
        name: &'a str,
        /// Its type's name (`F32`).
        dtype: &'a str,
        /// Its shape.
        shape: &'a [usize],
    },
    /// A tensor's offsets do not span exactly the bytes its shape and type take.
    Offsets {
        /// The tensor.
        name: &'a str,
        /// Its type's name.
        dtype: &'a str,
        /// Its shape.
        shape: &'a [usize],
        /// Where its data begins, after the header.
        begin: usize,
        /// Where it ends.
        end: usize,
        /// The bytes it takes.
        size: usize,
    },
    /// Two tensors' data overlap.
    Overlap {
        /// The first byte, after the header, that two tensors claim.
        at: usize,
    },
    /// Bytes between two tensors (or before the first) belong to none.
    Gap {
        /// Where the gap starts, after the header.
        at: usize,
    },
    /// A name appears twice in the header.
    Duplicate {
        /// The name.
        name: &'a str,
    },
    /// The file ends before the data the header describes (or before 8 bytes).
    Truncated {
        /// The bytes the header describes.
        expected: u64,
        /// The bytes the file holds.
        found: u64,
    },
    /// The file holds bytes after the data the header describes.
    Trailing {
        /// The bytes the header describes.
        expected: u64,
        /// The bytes the file holds.
        found: u64,
    },
    /// An `I64` counter holds a negative value.
    NegativeCounter {
        /// The counter.
        name: &'a str,
        /// Its value.
        value: i64,
    },
}

impl fmt::Display for Problem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Problem::HeaderLength { claimed, limit } => write!(
                f,
                "not a safetensors file: its header length is {claimed} bytes, more than the {limit} possible"
            ),
            Problem::Size { name, dtype, shape } => {
                write!(f, "tensor `{name}`: the size of {dtype} {shape:?} overflows or is not whole bytes")
            }
            Problem::Offsets { name, dtype, shape, begin, end, size } => {
                write!(f, "tensor `{name}`: offsets [{begin}, {end}] for {dtype} {shape:?}, which takes {size} bytes")
            }
            Problem::Overlap { at } => write!(f, "tensor offsets overlap at byte {at}"),
            Problem::Gap { at } => write!(f, "tensor offsets leave a gap at byte {at}"),
            Problem::Duplicate { name } => write!(f, "tensor `{name}` appears twice"),
            Problem::Truncated { expected, found } => {
                write!(f, "truncated: the header describes {expected} bytes, the file holds {found}")
            }
            Problem::Trailing { expected, found } => {
                write!(f, "the header describes {expected} bytes, but the file holds {found}")
            }
            Problem::NegativeCounter { name, value } => write!(f, "counter `{name}` is {value}, not a count"),
        }
    }
}

/// The header's length `claimed` (the file's first 8 bytes, little-endian) checked
/// against a file of `file_len` bytes, before any of the header is read: returns it.
///
/// ```
/// use monograd_core::embed::header::{header_len, Problem};
/// assert_eq!(header_len(40, 100), Ok(40));
/// assert_eq!(header_len(1 << 40, 100), Err(Problem::HeaderLength { claimed: 1 << 40, limit: 92 }));
/// assert_eq!(header_len(0, 5), Err(Problem::Truncated { expected: 8, found: 5 }));
/// ```
pub const fn header_len(claimed: u64, file_len: u64) -> Result<u64, Problem<'static>> {
    if file_len < 8 {
        return Err(Problem::Truncated { expected: 8, found: file_len });
    }
    let after = file_len - 8;
    let limit = if after < MAX_HEADER_LEN { after } else { MAX_HEADER_LEN };
    if claimed > limit {
        return Err(Problem::HeaderLength { claimed, limit });
    }
    Ok(claimed)
}

/// One tensor's entry: `shape` of a type of `bits` bits per element named `dtype`, at
/// `begin..end` after the header. Returns its size in bytes.
pub fn entry<'a>(
    name: &'a str,
    dtype: &'a str,
    bits: usize,
    shape: &'a [usize],
    begin: usize,
    end: usize,
) -> Result<usize, Problem<'a>> {
    let size = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .and_then(|numel| numel.checked_mul(bits))
        .filter(|b| b % 8 == 0)
        .map(|b| b / 8);
    let Some(size) = size else {
        return Err(Problem::Size { name, dtype, shape });
    };
    if end < begin || end - begin != size {
        return Err(Problem::Offsets { name, dtype, shape, begin, end, size });
    }
    Ok(size)
}

/// Every tensor's `(begin, end)`, sorted: they must tile the data from byte 0, each
/// beginning where the one before ended. Returns the data's length.
pub fn tiling(sorted: impl IntoIterator<Item = (usize, usize)>) -> Result<usize, Problem<'static>> {
    let mut cursor = 0usize;
    for (begin, end) in sorted {
        if begin < cursor {
            return Err(Problem::Overlap { at: begin });
        }
        if begin > cursor {
            return Err(Problem::Gap { at: cursor });
        }
        cursor = end;
    }
    Ok(cursor)
}

/// A file of `file_len` bytes whose data starts at `data_start` (8 plus the header's
/// length) and takes `data_len` bytes must end where the data does.
pub const fn file_len(data_start: u64, data_len: usize, file_len: u64) -> Result<(), Problem<'static>> {
    // An end past `u64::MAX` is past any file: it must not saturate into a match with a
    // file length of `u64::MAX`.
    let Some(end) = data_start.checked_add(data_len as u64) else {
        return Err(Problem::Truncated { expected: u64::MAX, found: file_len });
    };
    if end > file_len {
        return Err(Problem::Truncated { expected: end, found: file_len });
    }
    if end < file_len {
        return Err(Problem::Trailing { expected: end, found: file_len });
    }
    Ok(())
}

/// The header's names, sorted: none may appear twice.
pub fn unique<'a>(sorted: impl IntoIterator<Item = &'a str>) -> Result<(), Problem<'a>> {
    let mut last: Option<&str> = None;
    for name in sorted {
        if last == Some(name) {
            return Err(Problem::Duplicate { name });
        }
        last = Some(name);
    }
    Ok(())
}

/// A counter's value from its 8 little-endian bytes: `I64` (`signed`) or `U64`. A
/// negative `I64` is not a count (PyTorch never writes one), and is refused rather than
/// read as a huge unsigned number.
pub const fn counter(name: &str, signed: bool, bytes: [u8; 8]) -> Result<u64, Problem<'_>> {
    if signed {
        let value = i64::from_le_bytes(bytes);
        if value < 0 {
            return Err(Problem::NegativeCounter { name, value });
        }
        Ok(value as u64)
    } else {
        Ok(u64::from_le_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_accepts_the_good_and_names_the_bad() {
        assert_eq!(entry("h", "F16", 16, &[3], 2, 8), Ok(6));
        assert_eq!(entry("s", "I64", 64, &[], 0, 8), Ok(8));
        assert_eq!(
            entry("x", "F32", 32, &[3], 0, 8),
            Err(Problem::Offsets { name: "x", dtype: "F32", shape: &[3], begin: 0, end: 8, size: 12 })
        );
        assert_eq!(
            entry("x", "F32", 32, &[usize::MAX, 2], 0, 8),
            Err(Problem::Size { name: "x", dtype: "F32", shape: &[usize::MAX, 2] })
        );
        assert!(matches!(entry("x", "F4", 4, &[3], 0, 1), Err(Problem::Size { .. })));
        assert!(matches!(entry("x", "F32", 32, &[1], 8, 4), Err(Problem::Offsets { .. })));
        assert_eq!(tiling([]), Ok(0));
        assert_eq!(tiling([(4, 8)]), Err(Problem::Gap { at: 0 }));
        assert_eq!(tiling([(0, 4), (6, 8)]), Err(Problem::Gap { at: 4 }));
        assert_eq!(tiling([(0, 0), (0, 4)]), Ok(4));
        assert_eq!(file_len(16, 8, 24), Ok(()));
        assert_eq!(file_len(16, 8, 23), Err(Problem::Truncated { expected: 24, found: 23 }));
        assert_eq!(file_len(16, 8, 25), Err(Problem::Trailing { expected: 24, found: 25 }));
        // An end that overflows is never a match, not even for a file of u64::MAX bytes
        // (the embed_header fuzz target found that it saturated into one).
        assert_eq!(file_len(u64::MAX, 1, u64::MAX), Err(Problem::Truncated { expected: u64::MAX, found: u64::MAX }));
        assert_eq!(file_len(u64::MAX - 1, 1, u64::MAX), Ok(()));
        assert_eq!(
            header_len(MAX_HEADER_LEN + 1, u64::MAX),
            Err(Problem::HeaderLength { claimed: MAX_HEADER_LEN + 1, limit: MAX_HEADER_LEN })
        );
        assert_eq!(unique(["a", "ab", "b"]), Ok(()));
        assert_eq!(counter("c", true, 7i64.to_le_bytes()), Ok(7));
        assert_eq!(counter("c", false, u64::MAX.to_le_bytes()), Ok(u64::MAX));
        assert_eq!(counter("c", true, (-1i64).to_le_bytes()), Err(Problem::NegativeCounter { name: "c", value: -1 }));
    }
}
