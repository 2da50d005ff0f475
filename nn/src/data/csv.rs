//! Numeric CSV: rows of numbers, an optional header, one column chosen as the target.
//!
//! Small on purpose (no CSV crate): fields are separated by commas, may be quoted with `"`
//! (a `""` inside a quoted field is one quote; a quoted field stays on its line), and are
//! trimmed of spaces. Blank lines are skipped, `\r\n` line ends and a UTF-8 byte order mark
//! are accepted. Every other field of every row must be a finite number in `T`'s syntax
//! (Rust's: `1`, `-0.5`, `3e-4`); anything else is an error naming the file, the line and
//! the column, counted from 1 as editors do, and what was found. A row with a different
//! number of fields than the first is an error too.
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
//! # Ok::<(), monograd_nn::data::DataError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::string::{String, ToString};
use std::vec::Vec;

use monograd_core::Scalar;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Csv<'a> {
    header: bool,
    target: Column<'a>,
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
            Self::NotFinite { found } => write!(f, "expected a finite number, found `{found}`"),
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
    /// A reader expecting a header, with the last column as the target.
    pub fn new() -> Self {
        Self { header: true, target: Column::Last }
    }

    /// Whether the first non-blank line is a header of column names.
    pub fn header(self, header: bool) -> Self {
        Self { header, ..self }
    }

    /// The target column: a name (`"price"`), an index from 0 (`3`), or [`Column::Last`].
    pub fn target(self, target: impl Into<Column<'a>>) -> Self {
        Self { target: target.into(), ..self }
    }

    /// Reads the file at `path` with values of type `T` (`f32` or `f64`).
    pub fn read<T: Scalar + FromStr>(&self, path: impl AsRef<Path>) -> Result<Table<T>, DataError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        let text = match core::str::from_utf8(&bytes) {
            Ok(t) => t,
            Err(e) => {
                let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
                return Err(DataError::Csv {
                    path: path.into(),
                    line: Some(line),
                    column: None,
                    problem: CsvProblem::NotUtf8,
                });
            }
        };
        self.parse(text, path)
    }

    /// Parses CSV text already in memory; `name` stands for the file in messages.
    pub fn parse<T: Scalar + FromStr>(&self, text: &str, name: impl AsRef<Path>) -> Result<Table<T>, DataError> {
        let path = name.as_ref();
        let err = |line: usize, column: Option<usize>, problem| DataError::Csv {
            path: path.into(),
            line: Some(line),
            column,
            problem,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);

        let mut fields: Vec<Cow<'_, str>> = Vec::new();
        // Set by the first non-blank line: (fields per row, its line, target index).
        let mut shape: Option<(usize, usize, usize)> = None;
        let mut names: Vec<String> = Vec::new();
        let (mut inputs, mut targets) = (Vec::new(), Vec::new());

        for (i, line) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            split_fields(line, &mut fields).map_err(|(col, p)| err(line_no, Some(col), p))?;
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
                        Column::Name(name) => match fields.iter().position(|f| f.trim() == name) {
                            Some(k) => k,
                            None => {
                                let columns = fields.iter().map(|f| f.trim().to_string()).collect();
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
                        names = fields.iter().map(|f| f.trim().to_string()).collect();
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
                let v: T = number(field).map_err(|p| err(line_no, Some(j + 1), p))?;
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
}

/// A finite number, or the problem with the field.
fn number<T: Scalar + FromStr>(field: &str) -> Result<T, CsvProblem> {
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
    match s.parse::<T>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(CsvProblem::NotFinite { found: shown() }),
        Err(_) => Err(CsvProblem::NotANumber { found: shown() }),
    }
}

/// Splits one line into fields, unquoting quoted ones; an error carries its column from 1.
fn split_fields<'t>(line: &'t str, out: &mut Vec<Cow<'t, str>>) -> Result<(), (usize, CsvProblem)> {
    out.clear();
    let bytes = line.as_bytes();
    let mut i = 0;
    loop {
        let col = out.len() + 1;
        let mut j = i;
        while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
            j += 1;
        }
        if j < bytes.len() && bytes[j] == b'"' {
            // Quoted: up to the next lone quote; `""` is an escaped quote.
            let mut k = j + 1;
            let mut owned: Option<String> = None;
            let mut seg = k;
            let content = loop {
                let Some(q) = line[k..].find('"').map(|q| k + q) else {
                    return Err((col, CsvProblem::Unterminated));
                };
                if bytes.get(q + 1) == Some(&b'"') {
                    owned.get_or_insert_with(String::new).push_str(&line[seg..=q]);
                    k = q + 2;
                    seg = k;
                    continue;
                }
                k = q + 1;
                break match owned.take() {
                    Some(mut s) => {
                        s.push_str(&line[seg..q]);
                        Cow::Owned(s)
                    }
                    None => Cow::Borrowed(&line[seg..q]),
                };
            };
            while k < bytes.len() && (bytes[k] == b' ' || bytes[k] == b'\t') {
                k += 1;
            }
            out.push(content);
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
                    out.push(Cow::Borrowed(&line[i..i + p]));
                    i += p + 1;
                }
                None => {
                    out.push(Cow::Borrowed(&line[i..]));
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
