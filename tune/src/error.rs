use std::fmt;
use std::path::PathBuf;

/// Why a study, a space or a sampler could not go on.
#[derive(Debug)]
pub enum TuneError {
    /// The search space is ill-formed, or values do not fit it.
    Space(String),
    /// The sampler has nothing left to suggest (a grid visited every point).
    Exhausted,
    /// A numerical failure in a model (a kernel matrix that is not positive definite).
    Numeric(String),
    /// A journal that cannot be read, written, or does not belong to this study.
    Journal {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line where it applies.
        problem: String,
    },
    /// A report (CSV, chart) that could not be written.
    Report {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
}

impl fmt::Display for TuneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TuneError::Space(m) => write!(f, "search space: {m}"),
            TuneError::Exhausted => f.write_str("the sampler has no configuration left to try"),
            TuneError::Numeric(m) => write!(f, "numerical failure: {m}"),
            TuneError::Journal { path, problem } => write!(f, "{}: journal: {problem}", path.display()),
            TuneError::Report { path, problem } => write!(f, "{}: {problem}", path.display()),
        }
    }
}

impl std::error::Error for TuneError {}
