//! Reading and checking a safetensors header, streamed: the length against the file before
//! anything else, each entry as it comes, the offsets against each other and the file.
//!
//! The checks themselves are `monograd_core::embed::header`'s, which `include_weights!`
//! applies to the same files at compile time.
//!
//! Memory: the entries the model wants, 16 bytes of offsets per tensor and (lenient) the
//! names of the others, each vector allocated once at the size a first, counting pass
//! found; never the header's text whole, never anything sized by what it claims.

use std::borrow::ToOwned;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path as FsPath;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use ::safetensors::tensor::TensorInfo;
use monograd_core::embed::header::{self, Problem};

use crate::serialize::SerializeError;

/// Whence the loader reads: a file (its size when opened: a file that shrinks while being
/// read is an I/O error, an early end) or bytes in memory.
pub(crate) enum Source<'a> {
    File(File, u64),
    Slice(&'a [u8]),
}

impl Source<'_> {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Source::File(_, len) => *len,
            Source::Slice(s) => s.len() as u64,
        }
    }

    /// Fills `buf` from position `pos`.
    pub(crate) fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        match self {
            Source::File(file, _) => {
                file.seek(SeekFrom::Start(pos))?;
                file.read_exact(buf)
            }
            Source::Slice(s) => {
                let src = usize::try_from(pos)
                    .ok()
                    .and_then(|p| s.get(p..)?.get(..buf.len()))
                    .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
    }

    /// Parses the `n` bytes of header after the first 8, streaming: the header's text is
    /// never held whole, only what `seed` keeps of it.
    fn parse_header<S, V>(&mut self, n: u64, seed: S) -> Result<V, HeaderError>
    where
        S: for<'de> serde::de::DeserializeSeed<'de, Value = V>,
    {
        match self {
            Source::File(file, _) => {
                file.seek(SeekFrom::Start(8)).map_err(HeaderError::Io)?;
                let capacity = n.min(8 * 1024) as usize;
                let reader = io::BufReader::with_capacity(capacity, Read::take(&mut *file, n));
                let mut de = serde_json::Deserializer::from_reader(reader);
                let parsed = serde::de::DeserializeSeed::deserialize(seed, &mut de).map_err(HeaderError::from)?;
                de.end().map_err(HeaderError::from)?;
                Ok(parsed)
            }
            Source::Slice(s) => {
                // `n <= len - 8` was checked.
                let text = s.get(8..).and_then(|t| t.get(..n as usize)).unwrap_or_default();
                let mut de = serde_json::Deserializer::from_slice(text);
                let parsed = serde::de::DeserializeSeed::deserialize(seed, &mut de)?;
                de.end()?;
                Ok(parsed)
            }
        }
    }
}

/// Why a header did not parse.
enum HeaderError {
    Io(io::Error),
    Corrupt(String),
}

impl From<serde_json::Error> for HeaderError {
    fn from(e: serde_json::Error) -> Self {
        match e.classify() {
            // Reading from a file that shrank, or failed: the file system's error.
            serde_json::error::Category::Io => HeaderError::Io(e.into()),
            _ => HeaderError::Corrupt(e.to_string()),
        }
    }
}

/// How many unexpected names an error keeps (it shows as many, then a count).
const NAMES_SHOWN: usize = 8;

/// What the loader keeps of a header: the entries the model wants, every tensor's
/// offsets (16 bytes each, to check that they tile the data), and the names of the
/// others (all of them when lenient, for the report; the first few when strict, for the
/// error). The header is read twice, first to count its entries, so that these vectors
/// are allocated once at their exact size: less, in all, than the header's text.
pub(crate) struct Parsed {
    /// Indexed like the model's wants.
    pub(crate) found: Vec<Option<TensorInfo>>,
    pub(crate) offsets: Vec<(usize, usize)>,
    pub(crate) unexpected: Vec<String>,
    pub(crate) unexpected_count: usize,
    /// `__metadata__`, in the header's order, when asked for (checkpoints keep their run
    /// state there); empty otherwise.
    pub(crate) metadata: Vec<(String, String)>,
}

/// Parses a header into [`Parsed`], checking each entry as it comes: a size that matches
/// its shape and type (with overflow checks), no name twice among the wanted ones, a
/// `__metadata__` of strings. The checks are those of `safetensors`' own parser, which
/// would keep every entry in two maps.
struct HeaderSeed<'w> {
    /// The file names the model wants, to their index.
    wanted: &'w HashMap<&'w str, usize>,
    keep_all_unexpected: bool,
    keep_metadata: bool,
    /// Names that are neither wanted nor unexpected (skipped, checked for their offsets).
    skipped_prefix: Option<&'w str>,
    /// From the first pass.
    count: Count,
}

/// A header's tensors, how many of them the model does not want, and its metadata's
/// entries.
#[derive(Clone, Copy, Default)]
struct Count {
    tensors: usize,
    unexpected: usize,
    metadata: usize,
}

/// The first pass: counts the entries, keeping nothing and checking nothing that the
/// second pass does not check again.
struct CountSeed<'w> {
    wanted: &'w HashMap<&'w str, usize>,
}

impl<'de> serde::de::DeserializeSeed<'de> for CountSeed<'_> {
    type Value = Count;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Count, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for CountSeed<'_> {
    type Value = Count;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a map from tensor names to {\"dtype\", \"shape\", \"data_offsets\"}")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
        let mut count = Count::default();
        while let Some(name) = map.next_key::<String>()? {
            if name == "__metadata__" {
                count.metadata += map.next_value_seed(CountEntries)?;
                continue;
            }
            map.next_value::<serde::de::IgnoredAny>()?;
            count.tensors += 1;
            count.unexpected += usize::from(!self.wanted.contains_key(name.as_str()));
        }
        Ok(count)
    }
}

/// The entries of a map, counted and not kept.
struct CountEntries;

impl<'de> serde::de::DeserializeSeed<'de> for CountEntries {
    type Value = usize;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for CountEntries {
    type Value = usize;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a map of strings")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let mut n = 0usize;
        while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(n)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = Parsed;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for HeaderSeed<'_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a map from tensor names to {\"dtype\", \"shape\", \"data_offsets\"}")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        use serde::de::Error;
        let kept =
            if self.keep_all_unexpected { self.count.unexpected } else { self.count.unexpected.min(NAMES_SHOWN) };
        let mut p = Parsed {
            found: vec![None; self.wanted.len()],
            // Capacities from the first pass; a header that changed in between only grows them.
            offsets: Vec::with_capacity(self.count.tensors),
            unexpected: Vec::with_capacity(kept),
            unexpected_count: 0,
            metadata: Vec::new(),
        };
        let mut metadata = false;
        while let Some(name) = map.next_key::<String>()? {
            if name == "__metadata__" {
                if core::mem::replace(&mut metadata, true) {
                    return Err(A::Error::custom("`__metadata__` appears twice"));
                }
                // At the size the first pass counted (a header that changed in between only
                // grows it).
                let kept = self.keep_metadata.then(|| Vec::with_capacity(self.count.metadata));
                let StringMap(entries) = map.next_value_seed(StringMap(kept))?;
                p.metadata = entries.unwrap_or_default();
                continue;
            }
            let info: TensorInfo = map.next_value()?;
            let (begin, end) = info.data_offsets;
            let dtype = info.dtype.to_string();
            header::entry(&name, &dtype, info.dtype.bitsize(), &info.shape, begin, end).map_err(A::Error::custom)?;
            p.offsets.push((begin, end));
            match self.wanted.get(name.as_str()) {
                None if self.skipped_prefix.is_some_and(|s| name.starts_with(s)) => {}
                Some(&i) => {
                    if p.found[i].replace(info).is_some() {
                        return Err(A::Error::custom(Problem::Duplicate { name: &name }));
                    }
                }
                None => {
                    p.unexpected_count += 1;
                    if self.keep_all_unexpected || p.unexpected.len() < NAMES_SHOWN {
                        p.unexpected.push(name);
                    }
                }
            }
        }
        Ok(p)
    }
}

/// `__metadata__`: a map of strings to strings, checked, and kept if `Some` (the text of
/// a header that was read, so no more than the file holds).
struct StringMap(Option<Vec<(String, String)>>);

impl<'de> serde::de::DeserializeSeed<'de> for StringMap {
    type Value = StringMap;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StringMap {
    type Value = StringMap;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a map of strings")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(mut self, mut map: A) -> Result<StringMap, A::Error> {
        match &mut self.0 {
            Some(kept) => {
                while let Some(entry) = map.next_entry::<String, String>()? {
                    kept.push(entry);
                }
            }
            // Checked to be strings, never copied.
            None => while map.next_entry_seed(AnyString, AnyString)?.is_some() {},
        }
        Ok(self)
    }
}

/// A string, checked and not kept.
struct AnyString;

impl<'de> serde::de::DeserializeSeed<'de> for AnyString {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for AnyString {
    type Value = ();

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

/// The checked header: for each of the model's wants, its entry, and where the data
/// starts.
pub(crate) struct Header {
    pub(crate) parsed: Parsed,
    pub(crate) data_start: u64,
}

/// Reads and checks the header: its length against the file (before reading anything
/// of it), each entry, that the offsets tile the data with no gap or overlap, and that
/// the file is exactly as long as the header says.
/// How to read a header: see [`read_header`].
#[derive(Clone, Copy, Default)]
pub(crate) struct HeaderOptions<'a> {
    /// Whether tensors the model does not want are an error (then only the first few
    /// names are kept, for the message) or listed (all names kept).
    pub(crate) strict: bool,
    /// Whether to keep `__metadata__`.
    pub(crate) keep_metadata: bool,
    /// Tensors whose names start with this are neither wanted nor unexpected: a
    /// checkpoint's `trainer.` tensors, when a custom loop loads it.
    pub(crate) skipped_prefix: Option<&'a str>,
}

pub(crate) fn read_header(
    src: &mut Source<'_>,
    path: &FsPath,
    wanted: &HashMap<&str, usize>,
    options: HeaderOptions<'_>,
) -> Result<Header, SerializeError> {
    let HeaderOptions { strict, keep_metadata, skipped_prefix } = options;
    let io = |source| SerializeError::Io { path: path.to_owned(), source };
    let corrupt = |reason: String| SerializeError::CorruptHeader { path: path.to_owned(), reason };
    let problem = |p: Problem<'_>| match p {
        Problem::HeaderLength { claimed, limit } => {
            SerializeError::HeaderLength { path: path.to_owned(), claimed, limit }
        }
        Problem::Truncated { expected, found } => SerializeError::Truncated { path: path.to_owned(), expected, found },
        Problem::Trailing { expected, found } => {
            SerializeError::TrailingData { path: path.to_owned(), expected, found }
        }
        other => corrupt(other.to_string()),
    };
    let len = src.len();
    let mut n = [0u8; 8];
    if len >= 8 {
        src.read_at(0, &mut n).map_err(io)?;
    }
    let n = header::header_len(u64::from_le_bytes(n), len).map_err(problem)?;
    let header_error = |e| match e {
        HeaderError::Io(e) => io(e),
        HeaderError::Corrupt(reason) => corrupt(reason),
    };
    let count = src.parse_header(n, CountSeed { wanted }).map_err(header_error)?;
    let seed = HeaderSeed { wanted, keep_all_unexpected: !strict, keep_metadata, skipped_prefix, count };
    let mut parsed = src.parse_header(n, seed).map_err(header_error)?;
    // The offsets must tile [0, data length): sorted, each begins where the last ended.
    parsed.offsets.sort_unstable();
    let data_len = header::tiling(parsed.offsets.iter().copied()).map_err(problem)?;
    if !strict {
        // Each name once (wanted names were checked while parsing): sorted in place, which
        // is also the order of the report.
        parsed.unexpected.sort_unstable();
        header::unique(parsed.unexpected.iter().map(String::as_str)).map_err(problem)?;
    }
    let data_start = 8 + n;
    header::file_len(data_start, data_len, len).map_err(problem)?;
    Ok(Header { parsed, data_start })
}
