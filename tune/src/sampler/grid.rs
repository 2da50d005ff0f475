//! Grid search: every combination, each exactly once.

use super::{Context, Sampler};
use crate::space::{Kind, Space, Value};
use crate::TuneError;

/// Visits the points of a grid in order, trial `n` taking point `n`; after the last,
/// suggestions fail with [`TuneError::Exhausted`] and a study stops. Integers and
/// choices contribute every value (or, with [`Grid::points`], at most that many integers,
/// spread evenly); floats need [`Grid::points`]. A conditional parameter only multiplies
/// the points where its condition holds.
///
/// ```
/// use monograd_tune::sampler::{Context, Grid, Sampler};
/// use monograd_tune::search_space;
/// use monograd_tune::space::SearchSpace;
///
/// search_space! {
///     struct Cfg {
///         opt: &'static str = choice(["sgd", "adam"]),
///         momentum: Option<f64> = when(opt == "sgd", uniform(0.0, 0.9)),
///         lr: f64 = log_uniform(1e-3, 1e-1),
///     }
/// }
/// let space = Cfg::space()?;
/// let grid = Grid::points(3);
/// // sgd: 3 momenta × 3 rates; adam: 3 rates.
/// assert_eq!(grid.len(&space)?, 12);
/// let cx = Context { space: &space, observed: &[], pending: &[], number: 12 };
/// assert!(grid.suggest(&cx).is_err());
/// # Ok::<(), monograd_tune::TuneError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Grid {
    points: Option<usize>,
}

impl Grid {
    /// Every combination of every integer and choice; floats are refused.
    pub fn new() -> Self {
        Self { points: None }
    }

    /// `n` points per float axis (evenly spaced in unit coordinates, ends included), and
    /// at most `n` values per integer axis.
    pub fn points(n: usize) -> Self {
        Self { points: Some(n.max(1)) }
    }

    fn axis(&self, space: &Space, i: usize) -> Result<Vec<Value>, TuneError> {
        let p = &space.params()[i];
        let spread = |n: usize| -> Vec<f64> {
            if n == 1 {
                vec![0.5]
            } else {
                (0..n).map(|k| k as f64 / (n - 1) as f64).collect()
            }
        };
        match &p.kind {
            Kind::Categorical { labels } => Ok((0..labels.len()).map(Value::Cat).collect()),
            Kind::Float { .. } => match self.points {
                Some(n) => Ok(spread(n).into_iter().map(|u| p.from_unit(u)).collect()),
                None => Err(TuneError::Space(format!(
                    "parameter `{}` is a float: a grid needs a number of points per axis (`Grid::points`)",
                    p.name
                ))),
            },
            Kind::Int { .. } => {
                let card = p.cardinality().unwrap_or(1);
                let n = self.points.map_or(card, |n| n.min(card));
                let mut vals: Vec<Value> = spread(n).into_iter().map(|u| p.from_unit(u)).collect();
                vals.dedup();
                Ok(vals)
            }
        }
    }

    /// Every point, in the order trials visit them.
    pub fn all(&self, space: &Space) -> Result<Vec<Vec<Value>>, TuneError> {
        let axes = (0..space.len()).map(|i| self.axis(space, i)).collect::<Result<Vec<_>, _>>()?;
        let mut out = vec![Vec::new()];
        for (i, axis) in axes.iter().enumerate() {
            let mut next = Vec::new();
            for prefix in out {
                if space.active(i, &prefix) {
                    for v in axis {
                        let mut p = prefix.clone();
                        p.push(*v);
                        next.push(p);
                    }
                } else {
                    let mut p = prefix;
                    p.push(Value::Absent);
                    next.push(p);
                }
            }
            out = next;
        }
        Ok(out)
    }

    /// The number of points.
    pub fn len(&self, space: &Space) -> Result<usize, TuneError> {
        self.all(space).map(|a| a.len())
    }
}

impl Sampler for Grid {
    fn suggest(&self, cx: &Context<'_>) -> Result<Vec<Value>, TuneError> {
        self.all(cx.space)?.into_iter().nth(cx.number).ok_or(TuneError::Exhausted)
    }

    fn name(&self) -> String {
        match self.points {
            Some(n) => format!("grid ({n} points per axis)"),
            None => "grid".into(),
        }
    }
}
