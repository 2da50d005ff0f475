//! Lines of a stream, one at a time, in a buffer of bounded size: what the CSV reader
//! reads through, so that its memory never depends on the file's size or on its longest
//! line beyond the limit it sets.
//!
//! `\n`, `\r\n` and a lone `\r` each end a line, mixed freely (a `\r\n` split across two
//! reads of the stream is still one line end).

use std::io::{self, BufRead};
use std::vec::Vec;

/// Why [`Lines::next`] stopped.
pub(crate) enum LineError {
    Io(io::Error),
    TooLong,
}

/// The lines of a stream, one at a time in one buffer of at most `max` bytes: `\n`,
/// `\r\n` and a lone `\r` each end a line.
pub(crate) struct Lines<R> {
    r: R,
    buf: Vec<u8>,
    max: usize,
    /// Lines returned so far.
    pub(crate) line_no: usize,
    /// The last line ended with `\r`: a `\n` right after it belongs to the same line end.
    after_cr: bool,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(r: R, max: usize) -> Self {
        Self { r, buf: Vec::new(), max, line_no: 0, after_cr: false }
    }

    /// The next line without its line end, or `None` at the end of the stream.
    pub(crate) fn next(&mut self) -> Result<Option<&[u8]>, LineError> {
        self.buf.clear();
        loop {
            let chunk = match self.r.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LineError::Io(e)),
            };
            if chunk.is_empty() {
                // The end: a last line without a line end, or nothing more.
                self.after_cr = false;
                if self.buf.is_empty() {
                    return Ok(None);
                }
                self.line_no += 1;
                return Ok(Some(&self.buf));
            }
            if core::mem::take(&mut self.after_cr) && chunk[0] == b'\n' {
                self.r.consume(1);
                continue;
            }
            match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(p) => {
                    if self.buf.len() + p > self.max {
                        return Err(LineError::TooLong);
                    }
                    self.buf.extend_from_slice(&chunk[..p]);
                    self.after_cr = chunk[p] == b'\r';
                    self.r.consume(p + 1);
                    self.line_no += 1;
                    return Ok(Some(&self.buf));
                }
                None => {
                    let n = chunk.len();
                    if self.buf.len() + n > self.max {
                        return Err(LineError::TooLong);
                    }
                    self.buf.extend_from_slice(chunk);
                    self.r.consume(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8], max: usize, chunk: usize) -> Result<Vec<Vec<u8>>, usize> {
        // A reader that hands out `chunk` bytes at a time, to split line ends across reads.
        let r = io::BufReader::with_capacity(chunk, text);
        let mut lines = Lines::new(r, max);
        let mut out = Vec::new();
        loop {
            match lines.next() {
                Ok(Some(l)) => out.push(l.to_vec()),
                Ok(None) => return Ok(out),
                Err(LineError::TooLong) => return Err(lines.line_no + 1),
                Err(LineError::Io(e)) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn every_line_end_ends_one_line_wherever_the_reads_split() {
        let text = b"a\r\nbb\rccc\n\r\n\nd";
        let want: Vec<Vec<u8>> = [&b"a"[..], b"bb", b"ccc", b"", b"", b"d"].iter().map(|l| l.to_vec()).collect();
        for chunk in 1..=text.len() {
            assert_eq!(all(text, 8, chunk).unwrap(), want, "reads of {chunk} bytes");
        }
        assert_eq!(all(b"", 8, 4).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(all(b"\r", 8, 4).unwrap(), [Vec::<u8>::new()]);
    }

    #[test]
    fn a_line_past_the_limit_stops_the_read_at_its_number() {
        for chunk in [1, 3, 64] {
            assert_eq!(all(b"1234\n12345\n", 4, chunk), Err(2), "reads of {chunk} bytes");
            assert_eq!(all(b"1234\r\n1234", 4, chunk).unwrap().len(), 2);
        }
    }
}
