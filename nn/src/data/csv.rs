//! Numeric CSV: rows of numbers, an optional header, one column chosen as the target.
//!
//! Small on purpose (no CSV crate): fields are separated by commas, may be quoted with `"`
//! (a `""` inside a quoted field is one quote; a quoted field stays on its line), and are
//! trimmed of spaces. Blank lines are skipped; lines may end in `\n`, `\r\n` or a lone
//! `\r` (old Mac files), mixed freely; a UTF-8 byte order mark is accepted. Every other
//! field of every row must be a number in `T`'s syntax (Rust's: `1`, `-0.5`, `3e-4`);
//! anything else is an error naming the file, the line and the column, counted from 1 as
//! editors do, and what was found. A row with a different number of fields than the first
//! is an error too.
//!
//! Values must be finite (`NaN`, `inf` are refused unless
//! [`allow_non_finite`](Csv::allow_non_finite)) and at most [`Csv::DEFAULT_MAX_ABS`]
//! (`1e30`) in absolute value unless [`max_abs`](Csv::max_abs) says otherwise: a value that
//! large in training data is almost always a unit error or a sentinel, and squares of it
//! overflow `f32`.
//!
//! Memory and time: [`Csv::read`] streams the file one line at a time, so it holds the
//! rows it keeps (as `T`s, in vectors that grow by doubling), one line, and that line's
//! field boundaries; never the file. A line longer than [`Csv::DEFAULT_MAX_LINE_LEN`]
//! bytes (1 MiB) or with more than [`Csv::DEFAULT_MAX_FIELDS`] fields stops the read
//! with an error naming the line and the limit; both limits are settable. Special files
//! (a named pipe, `/dev/zero`, a directory) are refused before they are opened.
//!
//! ```
//! use monograd_nn::data::Csv;
//! let text = "x1,x2,\"price\"\n1,2,10\n3,4,20\n";
//! let t = Csv::new().target("price").parse::<f32>(text, "houses.csv")?;
//! assert_eq!(t.features, ["x1", "x2"]);
//! assert_eq!((t.data.inputs(), t.data.targets()), (&[1.0, 2.0, 3.0, 4.0][..], &[10.0, 20.0][..]));
//!
//! let e = Csv::new().parse::<f64>("a,b\n1,2\n3,abc\n", "t.csv").unwrap_err();
//! assert_eq!(e.to_string(), "t.csv: line 3, column 2: expected a number, found `abc`");
//!
//! // Values past the magnitude bound are errors unless the bound is raised.
//! let e = Csv::new().parse::<f64>("a,b\n1,2e31\n", "t.csv").unwrap_err();
//! assert!(e.to_string().starts_with("t.csv: line 2, column 2: expected a number of magnitude at most 1e30"), "{e}");
//! let t = Csv::new().max_abs(f64::INFINITY).parse::<f64>("a,b\n1,2e31\n", "t.csv")?;
//! assert_eq!(t.data.targets(), &[2e31]);
//! # Ok::<(), monograd_nn::data::DataError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::str::FromStr;
use std::string::{String, ToString};
use std::vec::Vec;

use monograd_core::Scalar;

use super::lines::{LineError, Lines};
use super::{DataError, Dataset};

/// Which column holds the target. Indices count from 0 (messages count columns from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column<'a> {
    /// The column at this index, from 0.
    Index(usize),
    /// The column with this name in the header.
    Name(&'a str),
    /// The last column (the default).
    Last,
}

impl From<usize> for Column<'_> {
    fn from(i: usize) -> Self {
        Self::Index(i)
    }
}

impl<'a> From<&'a str> for Column<'a> {
    fn from(name: &'a str) -> Self {
        Self::Name(name)
    }
}

/// A numeric CSV reader: whether there is a header (default: yes) and which column is the
/// target (default: the last).
///
/// ```
/// use monograd_nn::data::Csv;
/// let t = Csv::new().header(false).target(0).parse::<f64>("5, 1, 2\n6, 3, 4\n", "inline")?;
/// assert_eq!(t.data.targets(), &[5.0, 6.0]);
/// assert_eq!(t.data.input(1), &[3.0, 4.0]);
/// assert_eq!(t.features, ["column 2", "column 3"]);
/// assert_eq!(t.target, "column 1");
/// # Ok::<(), monograd_nn::data::DataError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Csv<'a> {
    header: bool,
    target: Column<'a>,
    max_line_len: usize,
    max_fields: usize,
    allow_non_finite: bool,
    max_abs: f64,
}

impl Default for Csv<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// A CSV file read into a [`Dataset`] whose targets are the chosen column, with the names
/// of the columns (from the header, else `column N`, counting from 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Table<T> {
    /// One sample per row: the other columns as inputs, in file order; the target column.
    pub data: Dataset<T, T>,
    /// Names of the input columns, in order.
    pub features: Vec<String>,
    /// Name of the target column.
    pub target: String,
}

/// What is wrong in a CSV file (the [`DataError::Csv`] around it names the file, line and
/// column).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CsvProblem {
    /// A field is not a number.
    NotANumber {
        /// The field, trimmed (shortened past 40 characters).
        found: String,
    },
    /// A field is a number but not finite (`inf`, `NaN`).
    NotFinite {
        /// The field, trimmed.
        found: String,
    },
    /// A field is a number larger in absolute value than the reader's bound
    /// ([`Csv::max_abs`]), or than `T` can hold.
    TooLarge {
        /// The field, trimmed (shortened past 40 characters).
        found: String,
        /// The bound.
        limit: f64,
    },
    /// A line is longer than the reader's limit ([`Csv::max_line_len`]).
    LineTooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A line has more fields than the reader's limit ([`Csv::max_fields`]).
    TooManyFields {
        /// The limit.
        limit: usize,
    },
    /// A field is empty.
    EmptyField,
    /// A row's number of fields differs from the first row's.
    Ragged {
        /// Fields on the first row.
        expected: usize,
        /// Fields on this one.
        found: usize,
        /// The line of the first row (the header, when there is one).
        first_line: usize,
    },
    /// The target is named, but the header has no such column.
    UnknownColumn {
        /// The name asked for.
        name: String,
        /// The header's names.
        columns: Vec<String>,
    },
    /// The target's index is not below the number of fields.
    ColumnOutOfRange {
        /// The index asked for (from 0).
        index: usize,
        /// Fields on a row.
        fields: usize,
    },
    /// The target is named, but the reader was told there is no header.
    NameWithoutHeader {
        /// The name asked for.
        name: String,
    },
    /// The target is the only column.
    NoFeatures,
    /// A quoted field has no closing quote on its line.
    Unterminated,
    /// Something other than `,` or the line's end follows a closing quote.
    AfterQuote {
        /// The character found.
        found: char,
    },
    /// The bytes are not UTF-8.
    NotUtf8,
    /// No data rows (only blank lines, or a header alone).
    NoRows,
}

impl fmt::Display for CsvProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotANumber { found } => write!(f, "expected a number, found `{found}`"),
            Self::NotFinite { found } => write!(
                f,
                "expected a finite number, found `{found}` (`Csv::allow_non_finite(true)` accepts NaN and infinities)"
            ),
            Self::TooLarge { found, limit } => write!(
                f,
                "expected a number of magnitude at most {limit:e}, found `{found}` (a unit error or a sentinel \
                 value? `Csv::max_abs` sets the bound)"
            ),
            Self::LineTooLong { limit } => write!(
                f,
                "the line is longer than {limit} bytes, the reader's limit: is this a CSV file? If it is, raise the \
                 limit with `Csv::max_line_len`"
            ),
            Self::TooManyFields { limit } => write!(
                f,
                "the line has more than {limit} fields, the reader's limit: if the file is right, raise it with \
                 `Csv::max_fields`"
            ),
            Self::EmptyField => write!(f, "expected a number, found an empty field"),
            Self::Ragged { expected, found, first_line } => {
                write!(f, "expected {expected} fields, as on line {first_line}, found {found}")
            }
            Self::UnknownColumn { name, columns } => {
                write!(f, "expected a column named `{name}` in the header, found ")?;
                for (i, c) in columns.iter().enumerate() {
                    write!(f, "{}`{c}`", if i == 0 { "" } else { ", " })?;
                }
                Ok(())
            }
            Self::ColumnOutOfRange { index, fields } => {
                write!(f, "expected a target column index below {fields} (the fields on a row), found {index}")
            }
            Self::NameWithoutHeader { name } => {
                write!(f, "the target column `{name}` is given by name, but the reader was told there is no header")
            }
            Self::NoFeatures => write!(f, "expected input columns besides the target, found the target alone"),
            Self::Unterminated => write!(f, "expected a closing `\"`, found the end of the line"),
            Self::AfterQuote { found } => {
                write!(f, "expected `,` or the end of the line after a closing quote, found `{found}`")
            }
            Self::NotUtf8 => write!(f, "expected UTF-8 text, found invalid bytes"),
            Self::NoRows => write!(f, "expected at least one data row, found none"),
        }
    }
}

impl<'a> Csv<'a> {
    /// The longest line read by default, in bytes (1 MiB): room for 50,000 fields of
    /// 20 characters.
    pub const DEFAULT_MAX_LINE_LEN: usize = 1 << 20;
    /// The most fields on a line by default.
    pub const DEFAULT_MAX_FIELDS: usize = 100_000;
    /// The largest absolute value accepted by default.
    pub const DEFAULT_MAX_ABS: f64 = 1e30;

    /// A reader expecting a header, with the last column as the target, and the default
    /// limits: lines of at most [`Csv::DEFAULT_MAX_LINE_LEN`] bytes and
    /// [`Csv::DEFAULT_MAX_FIELDS`] fields, finite values of at most
    /// [`Csv::DEFAULT_MAX_ABS`] in absolute value.
    pub fn new() -> Self {
        Self {
            header: true,
            target: Column::Last,
            max_line_len: Self::DEFAULT_MAX_LINE_LEN,
            max_fields: Self::DEFAULT_MAX_FIELDS,
            allow_non_finite: false,
            max_abs: Self::DEFAULT_MAX_ABS,
        }
    }

    /// The longest line accepted, in bytes (line end excluded); a longer one is an error
    /// ([`CsvProblem::LineTooLong`]). Reading holds one line, so this bounds the memory
    /// beyond the rows kept.
    ///
    /// ```
    /// use monograd_nn::data::{Csv, CsvProblem, DataError};
    /// let e = Csv::new().max_line_len(8).parse::<f32>("a,b\n1,2\n1000000,2\n", "t.csv").unwrap_err();
    /// assert!(matches!(e, DataError::Csv { line: Some(3), problem: CsvProblem::LineTooLong { limit: 8 }, .. }));
    /// ```
    pub fn max_line_len(self, bytes: usize) -> Self {
        Self { max_line_len: bytes, ..self }
    }

    /// The most fields a line may have; more is an error ([`CsvProblem::TooManyFields`]).
    pub fn max_fields(self, fields: usize) -> Self {
        Self { max_fields: fields, ..self }
    }

    /// Whether `NaN`, `inf` and `-inf` are accepted as values (default: no, they are
    /// [`CsvProblem::NotFinite`] errors).
    ///
    /// ```
    /// use monograd_nn::data::Csv;
    /// assert!(Csv::new().parse::<f32>("a,b\n1,NaN\n", "t.csv").is_err());
    /// let t = Csv::new().allow_non_finite(true).parse::<f32>("a,b\n1,NaN\n-inf,2\n", "t.csv")?;
    /// assert!(t.data.targets()[0].is_nan() && t.data.inputs()[1] == f32::NEG_INFINITY);
    /// # Ok::<(), monograd_nn::data::DataError>(())
    /// ```
    pub fn allow_non_finite(self, allow: bool) -> Self {
        Self { allow_non_finite: allow, ..self }
    }

    /// The largest absolute value accepted (default [`Csv::DEFAULT_MAX_ABS`], `1e30`);
    /// a larger one is a [`CsvProblem::TooLarge`] error. `f64::INFINITY` accepts every
    /// finite value. Numbers too large for `T` itself (`1e39` for `f32`) are always
    /// [`CsvProblem::TooLarge`], unless non-finite values are allowed (they become
    /// infinities, as Rust parses them).
    pub fn max_abs(self, limit: f64) -> Self {
        Self { max_abs: limit, ..self }
    }

    /// Whether the first non-blank line is a header of column names.
    pub fn header(self, header: bool) -> Self {
        Self { header, ..self }
    }

    /// The target column: a name (`"price"`), an index from 0 (`3`), or [`Column::Last`].
    pub fn target(self, target: impl Into<Column<'a>>) -> Self {
        Self { target: target.into(), ..self }
    }

    /// Reads the file at `path` with values of type `T` (`f32` or `f64`), one line at a
    /// time (see the [module](self) docs for the memory this takes). A path that is not a
    /// regular file (a directory, a named pipe, a device) is refused before it is opened:
    /// [`DataError::NotAFile`].
    pub fn read<T: Scalar + FromStr>(&self, path: impl AsRef<Path>) -> Result<Table<T>, DataError> {
        let path = path.as_ref();
        let (file, _) = crate::file::open_regular(path).map_err(|e| DataError::open(path, e))?;
        self.read_from(BufReader::with_capacity(64 * 1024, file), path)
    }

    /// Parses CSV text already in memory; `name` stands for the file in messages.
    pub fn parse<T: Scalar + FromStr>(&self, text: &str, name: impl AsRef<Path>) -> Result<Table<T>, DataError> {
        self.read_from(text.as_bytes(), name.as_ref())
    }

    /// The reader behind [`Csv::read`] and [`Csv::parse`].
    fn read_from<T: Scalar + FromStr>(&self, r: impl BufRead, path: &Path) -> Result<Table<T>, DataError> {
        let err = |line: usize, column: Option<usize>, problem| DataError::Csv {
            path: path.into(),
            line: Some(line),
            column,
            problem,
        };
        let mut lines = Lines::new(r, self.max_line_len);
        let mut fields: Vec<Field> = Vec::new();
        // Set by the first non-blank line: (fields per row, its line, target index).
        let mut shape: Option<(usize, usize, usize)> = None;
        let mut names: Vec<String> = Vec::new();
        let (mut inputs, mut targets) = (Vec::new(), Vec::new());

        loop {
            let line_no = lines.line_no + 1;
            let bytes = match lines.next() {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(LineError::Io(e)) => return Err(DataError::io(path, e)),
                Err(LineError::TooLong) => {
                    return Err(err(line_no, None, CsvProblem::LineTooLong { limit: self.max_line_len }))
                }
            };
            let Ok(mut line) = core::str::from_utf8(bytes) else {
                return Err(err(line_no, None, CsvProblem::NotUtf8));
            };
            if line_no == 1 {
                line = line.strip_prefix('\u{feff}').unwrap_or(line);
            }
            if line.trim().is_empty() {
                continue;
            }
            split_fields(line, &mut fields, self.max_fields).map_err(|(col, p)| err(line_no, Some(col), p))?;
            let (width, first_line, target) = match shape {
                Some(s) => s,
                None => {
                    let width = fields.len();
                    let target = match self.target {
                        Column::Last => width - 1,
                        Column::Index(k) if k < width => k,
                        Column::Index(index) => {
                            return Err(err(line_no, None, CsvProblem::ColumnOutOfRange { index, fields: width }))
                        }
                        Column::Name(name) if !self.header => {
                            return Err(err(line_no, None, CsvProblem::NameWithoutHeader { name: name.into() }))
                        }
                        Column::Name(name) => match fields.iter().position(|f| f.text(line).trim() == name) {
                            Some(k) => k,
                            None => {
                                let columns = fields.iter().map(|f| f.text(line).trim().to_string()).collect();
                                return Err(err(
                                    line_no,
                                    None,
                                    CsvProblem::UnknownColumn { name: name.into(), columns },
                                ));
                            }
                        },
                    };
                    if width < 2 {
                        return Err(err(line_no, None, CsvProblem::NoFeatures));
                    }
                    shape = Some((width, line_no, target));
                    if self.header {
                        names = fields.iter().map(|f| f.text(line).trim().to_string()).collect();
                        continue;
                    }
                    names = (1..=width).map(|c| std::format!("column {c}")).collect();
                    (width, line_no, target)
                }
            };
            if fields.len() != width {
                return Err(err(
                    line_no,
                    None,
                    CsvProblem::Ragged { expected: width, found: fields.len(), first_line },
                ));
            }
            for (j, field) in fields.iter().enumerate() {
                let v: T = self.number(&field.text(line)).map_err(|p| err(line_no, Some(j + 1), p))?;
                if j == target {
                    targets.push(v);
                } else {
                    inputs.push(v);
                }
            }
        }

        let Some((width, _, target)) = shape else {
            return Err(DataError::Csv { path: path.into(), line: None, column: None, problem: CsvProblem::NoRows });
        };
        if targets.is_empty() {
            return Err(DataError::Csv { path: path.into(), line: None, column: None, problem: CsvProblem::NoRows });
        }
        let target_name = names.remove(target);
        Ok(Table { data: Dataset::new(inputs, targets, width - 1)?, features: names, target: target_name })
    }

    /// A number within the reader's bounds, or the problem with the field.
    fn number<T: Scalar + FromStr>(&self, field: &str) -> Result<T, CsvProblem> {
        let s = field.trim();
        if s.is_empty() {
            return Err(CsvProblem::EmptyField);
        }
        let shown = || {
            let mut chars = s.chars();
            let mut out: String = chars.by_ref().take(40).collect();
            if chars.next().is_some() {
                out.push('…');
            }
            out
        };
        let Ok(v) = s.parse::<T>() else {
            return Err(CsvProblem::NotANumber { found: shown() });
        };
        if !v.is_finite() {
            if self.allow_non_finite {
                return Ok(v);
            }
            // Written as NaN or an infinity, or a number too large for `T` (which parses to
            // an infinity).
            let word = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
            return Err(if matches!(word.as_str(), "nan" | "inf" | "infinity") {
                CsvProblem::NotFinite { found: shown() }
            } else {
                CsvProblem::TooLarge { found: shown(), limit: self.max_abs }
            });
        }
        if v.to_f64().abs() > self.max_abs {
            return Err(CsvProblem::TooLarge { found: shown(), limit: self.max_abs });
        }
        Ok(v)
    }
}

/// A field's place on its line: the bytes `start..end` (inside the quotes, for a quoted
/// field), and whether they hold `""` escapes.
#[derive(Clone, Copy)]
struct Field {
    start: usize,
    end: usize,
    escaped: bool,
}

impl Field {
    /// The field's text, unquoted.
    fn text<'t>(&self, line: &'t str) -> Cow<'t, str> {
        let raw = &line[self.start..self.end];
        if self.escaped {
            Cow::Owned(raw.replace("\"\"", "\""))
        } else {
            Cow::Borrowed(raw)
        }
    }
}

/// Splits one line into fields (at most `max`); an error carries its column from 1.
fn split_fields(line: &str, out: &mut Vec<Field>, max: usize) -> Result<(), (usize, CsvProblem)> {
    out.clear();
    let bytes = line.as_bytes();
    let mut i = 0;
    loop {
        let col = out.len() + 1;
        if out.len() == max {
            return Err((col, CsvProblem::TooManyFields { limit: max }));
        }
        let mut j = i;
        while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
            j += 1;
        }
        if j < bytes.len() && bytes[j] == b'"' {
            // Quoted: up to the next lone quote; `""` is an escaped quote.
            let start = j + 1;
            let mut k = start;
            let mut escaped = false;
            let end = loop {
                let Some(q) = line[k..].find('"').map(|q| k + q) else {
                    return Err((col, CsvProblem::Unterminated));
                };
                if bytes.get(q + 1) == Some(&b'"') {
                    escaped = true;
                    k = q + 2;
                    continue;
                }
                break q;
            };
            out.push(Field { start, end, escaped });
            k = end + 1;
            while k < bytes.len() && (bytes[k] == b' ' || bytes[k] == b'\t') {
                k += 1;
            }
            match bytes.get(k) {
                None => return Ok(()),
                Some(b',') => i = k + 1,
                Some(_) => {
                    let found = line[k..].chars().next().unwrap_or(' ');
                    return Err((col, CsvProblem::AfterQuote { found }));
                }
            }
        } else {
            match line[i..].find(',') {
                Some(p) => {
                    out.push(Field { start: i, end: i + p, escaped: false });
                    i += p + 1;
                }
                None => {
                    out.push(Field { start: i, end: bytes.len(), escaped: false });
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn problem(r: Result<Table<f32>, DataError>) -> (Option<usize>, Option<usize>, CsvProblem) {
        match r {
            Err(DataError::Csv { line, column, problem, .. }) => (line, column, problem),
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn quoted_fields_header_names_and_line_ends() {
        let text = "\u{feff}\"a, b\",\"say \"\"hi\"\"\", y\r\n\r\n 1 , \"2\" ,3\r\n4,5,6";
        let t = Csv::new().parse::<f32>(text, "q.csv").unwrap();
        assert_eq!(t.features, ["a, b", "say \"hi\""]);
        assert_eq!(t.target, "y");
        assert_eq!((t.data.inputs(), t.data.targets()), (&[1.0, 2.0, 4.0, 5.0][..], &[3.0, 6.0][..]));
        let t = Csv::new().target(1).parse::<f64>(text, "q.csv").unwrap();
        assert_eq!((t.target.as_str(), t.data.targets()), ("say \"hi\"", &[2.0, 5.0][..]));
    }

    #[test]
    fn each_problem_names_its_line_and_column() {
        let c = Csv::new();
        assert_eq!(
            problem(c.parse("a,b,c\n1,2,3\n1,2\n", "t")),
            (Some(3), None, CsvProblem::Ragged { expected: 3, found: 2, first_line: 1 })
        );
        assert_eq!(problem(c.parse("a,b\n1,\n", "t")), (Some(2), Some(2), CsvProblem::EmptyField));
        assert_eq!(
            problem(c.parse("a,b\n1,inf\n", "t")),
            (Some(2), Some(2), CsvProblem::NotFinite { found: "inf".into() })
        );
        assert_eq!(problem(c.parse("a,b\n1,\"2\n", "t")), (Some(2), Some(2), CsvProblem::Unterminated));
        assert_eq!(problem(c.parse("a,b\n\"1\"x,2\n", "t")), (Some(2), Some(1), CsvProblem::AfterQuote { found: 'x' }));
        assert_eq!(problem(c.parse("a,b\n", "t")), (None, None, CsvProblem::NoRows));
        assert_eq!(problem(c.parse("\n \n", "t")), (None, None, CsvProblem::NoRows));
        assert_eq!(problem(c.parse("a\n1\n", "t")), (Some(1), None, CsvProblem::NoFeatures));
        assert_eq!(
            problem(c.target("z").parse("a,b\n1,2\n", "t")),
            (Some(1), None, CsvProblem::UnknownColumn { name: "z".into(), columns: vec!["a".into(), "b".into()] })
        );
        assert_eq!(
            problem(c.target(2).parse("a,b\n1,2\n", "t")),
            (Some(1), None, CsvProblem::ColumnOutOfRange { index: 2, fields: 2 })
        );
        assert_eq!(
            problem(c.header(false).target("a").parse("1,2\n", "t")),
            (Some(1), None, CsvProblem::NameWithoutHeader { name: "a".into() })
        );
        let long = std::format!("a,b\n1,{}\n", "x".repeat(100));
        match problem(c.parse(&long, "t")) {
            (_, _, CsvProblem::NotANumber { found }) => assert_eq!(found.chars().count(), 41),
            other => panic!("{other:?}"),
        }
    }
}
