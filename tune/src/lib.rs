//! # monograd-tune: hyperparameter search
//!
//! Declare what to search as a typed struct ([`search_space!`]), pick a sampler (grid,
//! random, Gaussian-process expected improvement, TPE) and optionally a pruner (median
//! stopping, successive halving), and run a [`Study`](study::Study): trials in parallel on
//! threads, each appended to a journal so that a study stopped midway resumes where it
//! stopped, with a results table, CSV export and PNG charts at the end.
//!
//! ```
//! use monograd_tune::prelude::*;
//!
//! search_space! {
//!     struct Cfg {
//!         x: f64 = uniform(-5.0, 10.0),
//!         y: f64 = uniform(0.0, 15.0),
//!     }
//! }
//!
//! let study = Study::<Cfg>::new(Tpe::new(0)).trials(30);
//! let result = study.run(|cfg: &Cfg, _trial: &mut Trial| Ok(branin(cfg.x, cfg.y)))?;
//! assert!(result.best().unwrap().value.unwrap() < 5.0);
//! println!("{result}");
//! # Ok::<(), monograd_tune::TuneError>(())
//! ```

#![warn(missing_docs)]

pub mod bench;
mod dispatch;
mod error;
pub(crate) mod math;
pub mod prune;
pub mod report;
pub mod sampler;
pub mod space;
pub mod study;

pub use error::TuneError;

/// What a tuning program needs, in one `use`.
pub mod prelude {
    pub use crate::bench::{branin, hartmann6};
    pub use crate::prune::{MedianPruner, NoPruner, Pruner, Rungs, SuccessiveHalving};
    pub use crate::sampler::{GpSampler, Grid, Random, Sampler, Tpe};
    pub use crate::search_space;
    pub use crate::space::SearchSpace;
    pub use crate::study::{Direction, Pruned, Study, StudyResult, Trial, TrialState};
    pub use crate::with_const;
    pub use crate::TuneError;
}
