//! The IDX format (MNIST's): a big-endian header, then the elements, row-major.
//!
//! | bytes | what |
//! | --- | --- |
//! | 0, 1 | zero |
//! | 2 | element type: `0x08` u8 (the only one read here), `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32, `0x0E` f64 |
//! | 3 | rank `r` |
//! | 4 .. 4 + 4r | each dimension, a big-endian u32 |
//! | then | the product of the dimensions, in elements |
//!
//! So MNIST images start with the magic number `0x00000803` (u8, rank 3: `[n, rows, cols]`)
//! and labels with `0x00000801` (u8, rank 1: `[n]`).
//!
//! A file is read gzip-compressed or raw, told apart by gzip's magic bytes `1f 8b` rather
//! than by its name. A compressed file may hold several gzip members one after another
//! (what `cat a.gz b.gz` makes): their contents are read as one stream, as `gunzip` does.
//! Bad input is an `Err`, never a panic: a file shorter than its header or than the data
//! its header declares, a wrong magic number, dimensions whose product overflows (or the
//! product of those after the first: the size of one item, even in an empty array), bytes
//! left after the data (raw), or after the last gzip member bytes that do not start
//! another member (compressed). Memory follows what the file holds, not what its header
//! claims: a raw file's declared size is checked against the file's length before
//! anything is allocated, and a compressed file's buffer grows only as decompressed bytes
//! arrive (its first reservation is bounded by the compressed size).
//!
//! Only u8 arrays are read (`0x08`): IDX files of other element types, floats included,
//! are refused by their magic number, so no non-finite value can come from an IDX file.
//!
//! ```
//! use monograd_nn::data::idx;
//! // Two 2x3 "images", written raw.
//! let mut bytes = vec![0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
//! bytes.extend(0..12u8);
//! let a = idx::parse(&bytes, "two.idx", Some(idx::IMAGES))?;
//! assert_eq!((a.dims(), a.len(), a.item_len()), (&[2, 2, 3][..], 2, 6));
//! assert_eq!(a.item(1), &[6, 7, 8, 9, 10, 11]);
//!
//! // The same bytes read as labels: the magic number is wrong.
//! let e = idx::parse(&bytes, "two.idx", Some(idx::LABELS)).unwrap_err();
//! assert_eq!(e.to_string(), "two.idx: expected magic 0x00000801 (IDX labels), found 0x00000803 (IDX images)");
//! # Ok::<(), monograd_nn::data::DataError>(())
//! ```

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::vec::Vec;

use flate2::bufread::GzDecoder;

use super::DataError;

/// Magic number of u8 images, `[n, rows, cols]`.
pub const IMAGES: u32 = 0x0000_0803;
/// Magic number of u8 labels, `[n]`.
pub const LABELS: u32 = 0x0000_0801;
/// The first two bytes of every gzip file.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Deflate cannot expand its input by more than about 1032:1; the first reservation for a
/// compressed file is far below that, and the buffer then grows with what arrives.
const GZIP_FIRST_RESERVE_RATIO: u64 = 8;

/// A u8 IDX array: its dimensions and its elements, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    dims: Vec<usize>,
    data: Vec<u8>,
}

impl Idx {
    /// The magic number of this array (`0x000008NN`, `NN` its rank).
    pub fn magic(&self) -> u32 {
        0x0800 | self.dims.len() as u32
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// Every element, row-major.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The elements, by value.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The number of items along the first dimension (1 for a rank-0 array).
    pub fn len(&self) -> usize {
        self.dims.first().copied().unwrap_or(1)
    }

    /// Whether the first dimension is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements per item: the product of the dimensions after the first.
    pub fn item_len(&self) -> usize {
        self.dims.iter().skip(1).product()
    }

    /// Item `i` (an image, a label).
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn item(&self, i: usize) -> &[u8] {
        let n = self.item_len();
        &self.data[i * n..(i + 1) * n]
    }
}

/// Reads a u8 IDX file of any rank, gzip-compressed or raw.
pub fn read(path: impl AsRef<Path>) -> Result<Idx, DataError> {
    read_file(path.as_ref(), None)
}

/// Reads u8 images (magic `0x00000803`, `[n, rows, cols]`), gzip-compressed or raw.
pub fn read_images(path: impl AsRef<Path>) -> Result<Idx, DataError> {
    read_file(path.as_ref(), Some(IMAGES))
}

/// Reads u8 labels (magic `0x00000801`, `[n]`), gzip-compressed or raw.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Idx, DataError> {
    read_file(path.as_ref(), Some(LABELS))
}

/// Parses IDX bytes already in memory, gzip-compressed or raw. `name` stands for the file
/// in messages; `expected` is the magic number required, or `None` for any u8 IDX.
pub fn parse(bytes: &[u8], name: impl AsRef<Path>, expected: Option<u32>) -> Result<Idx, DataError> {
    let path = name.as_ref();
    if bytes.starts_with(&GZIP_MAGIC) {
        let reserve = (bytes.len() as u64).saturating_mul(GZIP_FIRST_RESERVE_RATIO);
        read_from(Members::new(bytes), path, expected, None, reserve, gzip_error)
    } else {
        read_from(bytes, path, expected, Some(bytes.len() as u64), u64::MAX, io_error)
    }
}

fn io_error(path: &Path, e: io::Error) -> DataError {
    DataError::io(path, e)
}

fn gzip_error(path: &Path, e: io::Error) -> DataError {
    if let Some(&NotAMember { members }) = e.get_ref().and_then(|inner| inner.downcast_ref()) {
        return DataError::TrailingGzip { path: PathBuf::from(path), members };
    }
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return DataError::TruncatedGzip { path: PathBuf::from(path), source: e };
    }
    DataError::Gzip { path: PathBuf::from(path), source: e }
}

fn read_file(path: &Path, expected: Option<u32>) -> Result<Idx, DataError> {
    let (file, len) = crate::file::open_regular(path).map_err(|e| DataError::open(path, e))?;
    let mut reader = BufReader::new(file);
    // A file's buffer fills with the first read unless the file is shorter than two bytes.
    let head = reader.fill_buf().map_err(|e| io_error(path, e))?;
    if head.starts_with(&GZIP_MAGIC) {
        let reserve = len.saturating_mul(GZIP_FIRST_RESERVE_RATIO);
        read_from(Members::new(reader), path, expected, None, reserve, gzip_error)
    } else {
        read_from(reader, path, expected, Some(len), u64::MAX, io_error)
    }
}

/// The contents of every gzip member of a stream, one after another, as `gunzip` reads
/// them: each member's CRC and length are checked at its end (by the decoder), and what
/// follows a member must be the end of the input or another member, else the read fails
/// with [`NotAMember`].
struct Members<R: BufRead> {
    decoder: Option<GzDecoder<R>>,
    /// Members read to their end.
    done: usize,
}

impl<R: BufRead> Members<R> {
    fn new(r: R) -> Self {
        Self { decoder: Some(GzDecoder::new(r)), done: 0 }
    }
}

impl<R: BufRead> Read for Members<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(decoder) = self.decoder.as_mut() else { return Ok(0) };
            let n = decoder.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // This member ended, its trailer checked; the decoder read nothing past it.
            self.done += 1;
            let Some(mut rest) = self.decoder.take().map(GzDecoder::into_inner) else { return Ok(0) };
            let next = rest.fill_buf()?;
            if next.is_empty() {
                return Ok(0);
            }
            // A member starts with 1f 8b; a second byte that differs fails in the decoder's
            // header check, which is reported the same way below.
            if next[0] != GZIP_MAGIC[0] {
                return Err(io::Error::new(io::ErrorKind::InvalidData, NotAMember { members: self.done }));
            }
            let mut decoder = GzDecoder::new(rest);
            match decoder.read(buf) {
                Ok(n) if n > 0 || buf.is_empty() => {
                    self.decoder = Some(decoder);
                    return Ok(n);
                }
                // An empty member: on to what follows it.
                Ok(_) => self.decoder = Some(decoder),
                Err(e) if decoder.header().is_none() && e.kind() != io::ErrorKind::UnexpectedEof => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, NotAMember { members: self.done }))
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Bytes after the last complete gzip member that do not start another member.
#[derive(Debug)]
struct NotAMember {
    members: usize,
}

impl fmt::Display for NotAMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes after gzip member {} that are not a gzip member", self.members)
    }
}

impl std::error::Error for NotAMember {}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The reader behind [`read`] and [`parse`]. `available` is the stream's total length when
/// known (a raw file), `reserve` the most to reserve up front, `err` wraps a read error.
fn read_from(
    mut r: impl Read,
    path: &Path,
    expected: Option<u32>,
    available: Option<u64>,
    reserve: u64,
    err: fn(&Path, io::Error) -> DataError,
) -> Result<Idx, DataError> {
    let mut magic = [0u8; 4];
    let got = read_full(&mut r, &mut magic).map_err(|e| err(path, e))?;
    if got < 4 {
        return Err(DataError::TruncatedHeader { path: path.into(), expected: 4, found: got as u64 });
    }
    let found = u32::from_be_bytes(magic);
    let ok = match expected {
        Some(m) => found == m,
        None => found >> 8 == 0x08,
    };
    if !ok {
        return Err(DataError::Magic { path: path.into(), expected, found });
    }

    let rank = (found & 0xff) as usize;
    let header_len = 4 + 4 * rank as u64;
    let mut raw_dims = [0u8; 4 * 255];
    let raw_dims = &mut raw_dims[..4 * rank];
    let got = read_full(&mut r, raw_dims).map_err(|e| err(path, e))?;
    if got < raw_dims.len() {
        return Err(DataError::TruncatedHeader { path: path.into(), expected: header_len, found: 4 + got as u64 });
    }
    let dims32: Vec<u32> = raw_dims.chunks_exact(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).collect();
    let product = |dims: &[u32]| {
        dims.iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))
            .filter(|&n| usize::try_from(n).is_ok() && n <= isize::MAX as u64)
    };
    // An item's size (the dimensions after the first) must be addressable too, even when
    // the first dimension is 0 and the array holds nothing: `Idx::item_len` and the MNIST
    // reader multiply those dimensions.
    let needed = product(&dims32).filter(|_| product(dims32.get(1..).unwrap_or(&[])).is_some());
    let Some(needed) = needed else {
        return Err(DataError::Overflow { path: path.into(), dims: dims32 });
    };
    let dims: Vec<usize> = dims32.iter().map(|&d| d as usize).collect();

    // A raw file's length says at once whether the declared data is there.
    if let Some(total) = available {
        let present = total.saturating_sub(header_len);
        if present < needed {
            return Err(DataError::TruncatedData { path: path.into(), dims, expected: needed, found: present });
        }
        if present > needed {
            return Err(DataError::TrailingData { path: path.into(), dims, expected: needed });
        }
    }

    let mut data = Vec::new();
    data.try_reserve_exact(needed.min(reserve) as usize)
        .map_err(|_| DataError::Overflow { path: path.into(), dims: dims32.clone() })?;
    (&mut r).take(needed).read_to_end(&mut data).map_err(|e| err(path, e))?;
    if (data.len() as u64) < needed {
        return Err(DataError::TruncatedData { path: path.into(), dims, expected: needed, found: data.len() as u64 });
    }
    // One more byte: there must be none. For gzip this also reaches the end of the stream,
    // where the decoder checks the CRC and length in the trailer.
    let mut one = [0u8; 1];
    if read_full(&mut r, &mut one).map_err(|e| err(path, e))? > 0 {
        return Err(DataError::TrailingData { path: path.into(), dims, expected: needed });
    }
    Ok(Idx { dims, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;
    use std::string::ToString;

    fn header(magic: u32, dims: &[u32]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn labels(n: u8) -> Vec<u8> {
        let mut v = header(LABELS, &[u32::from(n)]);
        v.extend(0..n);
        v
    }

    #[test]
    fn raw_and_gzip_read_the_same_array_of_any_rank() {
        let raw = labels(5);
        let a = parse(&raw, "l", Some(LABELS)).unwrap();
        let b = parse(&gz(&raw), "l.gz", Some(LABELS)).unwrap();
        assert_eq!(a, b);
        assert_eq!((a.dims(), a.data()), (&[5][..], &[0, 1, 2, 3, 4][..]));
        assert_eq!((a.magic(), a.len(), a.item_len(), a.item(3)), (LABELS, 5, 1, &[3][..]));

        let mut r4 = header(0x0804, &[2, 1, 2, 2]);
        r4.extend(10..18u8);
        let c = parse(&gz(&r4), "r4", None).unwrap();
        assert_eq!((c.dims(), c.item(1)), (&[2, 1, 2, 2][..], &[14, 15, 16, 17][..]));
        let scalar = parse(&[0, 0, 8, 0, 42], "s", None).unwrap();
        assert_eq!((scalar.dims(), scalar.data(), scalar.len()), (&[][..], &[42][..], 1));
        let empty = parse(&header(LABELS, &[0]), "e", Some(LABELS)).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn each_malformed_input_has_its_own_error() {
        for (bytes, name) in [(labels(5), "raw"), (gz(&labels(5)), "gz")] {
            let _ = name;
            // Every truncation of a valid file, raw and compressed, is an error.
            for cut in 0..bytes.len() {
                let e = parse(&bytes[..cut], "t", Some(LABELS)).unwrap_err();
                assert!(
                    matches!(
                        e,
                        DataError::TruncatedHeader { .. }
                            | DataError::TruncatedData { .. }
                            | DataError::TruncatedGzip { .. }
                            | DataError::Gzip { .. }
                    ),
                    "{name} cut at {cut}: {e}"
                );
            }
        }
        let e = parse(&labels(5)[..3], "t", Some(LABELS)).unwrap_err();
        assert!(matches!(e, DataError::TruncatedHeader { expected: 4, found: 3, .. }), "{e}");
        let e = parse(&header(IMAGES, &[2, 28])[..], "t", Some(IMAGES)).unwrap_err();
        assert!(matches!(e, DataError::TruncatedHeader { expected: 16, found: 12, .. }), "{e}");
        let e = parse(&labels(5)[..10], "t", Some(LABELS)).unwrap_err();
        assert!(matches!(e, DataError::TruncatedData { expected: 5, found: 2, .. }), "{e}");
        assert_eq!(e.to_string(), "t: file ends early: the header declares 5 = 5 bytes of data, found 2");

        let mut long = labels(5);
        long.push(9);
        let e = parse(&long, "t", Some(LABELS)).unwrap_err();
        assert!(matches!(e, DataError::TrailingData { expected: 5, .. }), "{e}");
        let e = parse(&gz(&long), "t", Some(LABELS)).unwrap_err();
        assert!(matches!(e, DataError::TrailingData { expected: 5, .. }), "{e}");

        let e = parse(&labels(5), "t", Some(IMAGES)).unwrap_err();
        assert!(matches!(e, DataError::Magic { expected: Some(IMAGES), found: LABELS, .. }), "{e}");
        let e = parse(&header(0x0D01, &[1]), "t", None).unwrap_err();
        assert!(matches!(e, DataError::Magic { expected: None, found: 0x0D01, .. }), "{e}");

        let e = parse(&header(IMAGES, &[u32::MAX, u32::MAX, u32::MAX]), "t", Some(IMAGES)).unwrap_err();
        assert!(matches!(e, DataError::Overflow { .. }), "{e}");
        // No elements, but items too large to address: `item_len` would overflow (found by
        // the load_idx_raw fuzz target), and so would MNIST's rows x columns.
        for dims in [[0, u32::MAX, u32::MAX, u32::MAX], [0, 1 << 31, 1 << 31, 1 << 2]] {
            let e = parse(&header(0x0804, &dims), "t", None).unwrap_err();
            assert!(matches!(e, DataError::Overflow { .. }), "{dims:?}: {e}");
            let e = parse(&gz(&header(0x0804, &dims)), "t", None).unwrap_err();
            assert!(matches!(e, DataError::Overflow { .. }), "{dims:?}: {e}");
        }
        let e = parse(&header(IMAGES, &[0, u32::MAX, u32::MAX]), "t", Some(IMAGES)).unwrap_err();
        assert!(matches!(e, DataError::Overflow { .. }), "{e}");
        // Large items that fit are fine: an empty array of them.
        let empty = parse(&header(0x0804, &[0, 1 << 10, 1 << 10, 1 << 10]), "t", None).unwrap();
        assert_eq!((empty.len(), empty.item_len(), empty.data().len()), (0, 1 << 30, 0));
        // Huge but representable: refused from the raw length, before allocating.
        let e = parse(&header(IMAGES, &[u32::MAX, 1 << 16, 1]), "t", Some(IMAGES)).unwrap_err();
        assert!(matches!(e, DataError::TruncatedData { found: 0, .. }), "{e}");
        // The same claim compressed: the buffer grows only with what arrives.
        let e = parse(&gz(&header(IMAGES, &[u32::MAX, 1 << 16, 1])), "t", Some(IMAGES)).unwrap_err();
        assert!(matches!(e, DataError::TruncatedData { found: 0, .. }), "{e}");

        let mut bad = gz(&labels(5));
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        bad[mid + 1] ^= 0x55;
        let e = parse(&bad, "t", Some(LABELS)).unwrap_err();
        assert!(
            matches!(e, DataError::Gzip { .. } | DataError::TruncatedData { .. } | DataError::TrailingData { .. }),
            "{e}"
        );
        let e = parse(&[0x1f, 0x8b, 1, 2, 3], "t", Some(LABELS)).unwrap_err();
        assert!(matches!(e, DataError::Gzip { .. } | DataError::TruncatedGzip { .. }), "{e}");
        // A compressed file cut anywhere past its gzip header: the stream ends early.
        let whole = gz(&labels(5));
        for cut in 10..whole.len() {
            let e = parse(&whole[..cut], "t", Some(LABELS)).unwrap_err();
            assert!(matches!(e, DataError::TruncatedGzip { .. }), "cut at {cut}: {e}");
        }
    }

    #[test]
    fn a_corrupted_checksum_is_caught_at_the_end_of_the_stream() {
        let mut bytes = gz(&labels(5));
        let n = bytes.len();
        bytes[n - 8] ^= 1; // CRC32 in the trailer
        let e = parse(&bytes, "t", Some(LABELS)).unwrap_err();
        assert!(matches!(e, DataError::Gzip { .. }), "{e}");
    }
}
