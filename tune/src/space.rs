//! Search spaces: what each hyperparameter may be, and when it exists.
//!
//! A [`Space`] is an ordered list of [`Param`]s. Samplers see values as [`Value`]s; a user
//! sees a typed struct, declared with [`search_space!`](crate::search_space), whose
//! fields are decoded from those values by the distribution that declared them
//! ([`Dist`]).
//!
//! Every sampler works in the *unit* coordinates of a parameter ([`Param::to_unit`]): a
//! float or integer maps linearly (or in logarithm) onto `[0, 1]`, a categorical is its
//! index.

use std::fmt::{self, Display};
use std::marker::PhantomData;

use crate::TuneError;

/// The values one parameter can take.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A real number in `[low, high]`, uniform in the value or, with `log`, in its logarithm.
    Float {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
        /// Sample the logarithm uniformly (both bounds positive).
        log: bool,
    },
    /// An integer `low, low + step, ..` up to `high`; with `log`, spread uniformly in the
    /// logarithm (then `step` is 1).
    Int {
        /// Lower bound.
        low: i64,
        /// Upper bound (reached only if `high - low` is a multiple of `step`).
        high: i64,
        /// Distance between neighbouring values.
        step: i64,
        /// Sample the logarithm uniformly (`low >= 1`).
        log: bool,
    },
    /// One of a list of choices, by index; the labels are the choices as written.
    Categorical {
        /// Each choice, as `Display` prints it: the journal and the reports use them.
        labels: Vec<String>,
    },
}

/// When a conditional parameter exists: another parameter took one of some choices.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The parameter it depends on (a categorical declared before it).
    pub parent: String,
    /// The parent's choices, as labels, under which it exists.
    pub labels: Vec<String>,
    /// Resolved by [`Space::new`]: the parent's index in the space.
    pub parent_index: usize,
    /// Resolved by [`Space::new`]: the parent's choice indices.
    pub choices: Vec<usize>,
}

/// One hyperparameter: a name, its values, and possibly a condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The name (the struct field's).
    pub name: String,
    /// What it can be.
    pub kind: Kind,
    /// When it exists; `None`: always.
    pub condition: Option<Condition>,
}

/// One parameter's value in a trial, as samplers and the journal see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A float parameter's value.
    Float(f64),
    /// An integer parameter's value.
    Int(i64),
    /// A categorical parameter's choice index.
    Cat(usize),
    /// A conditional parameter whose condition does not hold.
    Absent,
}

impl Param {
    /// The number of values, for integers and categoricals; `None` for floats.
    ///
    /// ```
    /// use monograd_tune::space::{Kind, Param};
    /// let p = Param { name: "units".into(), kind: Kind::Int { low: 16, high: 64, step: 16, log: false }, condition: None };
    /// assert_eq!(p.cardinality(), Some(4));
    /// ```
    pub fn cardinality(&self) -> Option<usize> {
        match &self.kind {
            Kind::Float { .. } => None,
            Kind::Int { low, high, step, .. } => Some(((high - low) / step + 1) as usize),
            Kind::Categorical { labels } => Some(labels.len()),
        }
    }

    /// `value` in unit coordinates: `[0, 1]` for numbers (in the logarithm for `log`
    /// parameters), the index for categoricals, `None` for `Absent`.
    ///
    /// ```
    /// use monograd_tune::space::{Kind, Param, Value};
    /// let p = Param { name: "lr".into(), kind: Kind::Float { low: 1e-4, high: 1e-2, log: true }, condition: None };
    /// assert!((p.to_unit(Value::Float(1e-3)).unwrap() - 0.5).abs() < 1e-12);
    /// ```
    pub fn to_unit(&self, value: Value) -> Option<f64> {
        match (&self.kind, value) {
            (Kind::Float { low, high, log }, Value::Float(v)) => Some(unit(*low, *high, *log, v)),
            (Kind::Int { low, high, log, .. }, Value::Int(v)) => {
                if low == high {
                    Some(0.5)
                } else {
                    Some(unit(*low as f64, *high as f64, *log, v as f64))
                }
            }
            (Kind::Categorical { .. }, Value::Cat(i)) => Some(i as f64),
            _ => None,
        }
    }

    /// The value at unit coordinate `u` (clamped to `[0, 1]`; integers round to the
    /// nearest allowed value, categoricals take index `u as usize`).
    ///
    /// ```
    /// use monograd_tune::space::{Kind, Param, Value};
    /// let p = Param { name: "units".into(), kind: Kind::Int { low: 16, high: 64, step: 16, log: false }, condition: None };
    /// assert_eq!(p.from_unit(0.4), Value::Int(32));
    /// ```
    pub fn from_unit(&self, u: f64) -> Value {
        let u = if u.is_nan() { 0.5 } else { u };
        match &self.kind {
            Kind::Float { low, high, log } => {
                let u = u.clamp(0.0, 1.0);
                let v = if *log {
                    libm::exp(libm::log(*low) + u * (libm::log(*high) - libm::log(*low)))
                } else {
                    low + u * (high - low)
                };
                Value::Float(v.clamp(*low, *high))
            }
            Kind::Int { low, step, log, .. } => {
                let u = u.clamp(0.0, 1.0);
                let n = self.cardinality().unwrap_or(1) as i64;
                let last = low + (n - 1) * step;
                let v = if *log {
                    libm::exp(libm::log(*low as f64) + u * (libm::log(last as f64) - libm::log(*low as f64)))
                } else {
                    *low as f64 + u * (last - low) as f64
                };
                let k = libm::round((v - *low as f64) / *step as f64) as i64;
                Value::Int(low + k.clamp(0, n - 1) * step)
            }
            Kind::Categorical { labels } => Value::Cat((u.max(0.0) as usize).min(labels.len().saturating_sub(1))),
        }
    }

    /// The value as the reports print it: a choice by its label.
    ///
    /// ```
    /// use monograd_tune::space::{choice, Dist, Value};
    /// let p = Dist::<&str>::param(&choice(["sgd", "adam"]), "opt");
    /// assert_eq!(p.label(Value::Cat(1)), "adam");
    /// ```
    pub fn label(&self, value: Value) -> String {
        match (&self.kind, value) {
            (Kind::Categorical { labels }, Value::Cat(i)) => labels.get(i).cloned().unwrap_or_default(),
            (_, Value::Float(v)) => format!("{v:.6e}"),
            (_, Value::Int(v)) => v.to_string(),
            _ => "-".into(),
        }
    }
}

fn unit(low: f64, high: f64, log: bool, v: f64) -> f64 {
    if log {
        (libm::log(v) - libm::log(low)) / (libm::log(high) - libm::log(low))
    } else {
        (v - low) / (high - low)
    }
}

/// An ordered list of parameters, checked: bounds make sense, every condition names a
/// categorical declared earlier and labels it has.
#[derive(Clone, Debug, PartialEq)]
pub struct Space {
    params: Vec<Param>,
}

impl Space {
    /// Checks `params` and resolves their conditions.
    ///
    /// ```
    /// use monograd_tune::space::{Kind, Param, Space};
    /// let bad = Param { name: "x".into(), kind: Kind::Float { low: 1.0, high: 0.0, log: false }, condition: None };
    /// assert!(Space::new(vec![bad]).is_err());
    /// ```
    pub fn new(mut params: Vec<Param>) -> Result<Self, TuneError> {
        let bad = |name: &str, why: String| TuneError::Space(format!("parameter `{name}`: {why}"));
        for i in 0..params.len() {
            let (before, rest) = params.split_at_mut(i);
            let p = &mut rest[0];
            if before.iter().any(|q| q.name == p.name) {
                return Err(bad(&p.name, "declared twice".into()));
            }
            match &p.kind {
                Kind::Float { low, high, log } => {
                    if !(low.is_finite() && high.is_finite() && low < high) {
                        return Err(bad(&p.name, format!("bounds [{low}, {high}] are not finite and increasing")));
                    }
                    if *log && *low <= 0.0 {
                        return Err(bad(&p.name, format!("a log scale needs a positive lower bound, not {low}")));
                    }
                }
                Kind::Int { low, high, step, log } => {
                    if low > high || *step < 1 {
                        return Err(bad(&p.name, format!("bounds [{low}, {high}] step {step} are empty")));
                    }
                    if *log && (*low < 1 || *step != 1) {
                        return Err(bad(&p.name, "a log scale needs a lower bound >= 1 and step 1".into()));
                    }
                }
                Kind::Categorical { labels } => {
                    if labels.is_empty() {
                        return Err(bad(&p.name, "no choices".into()));
                    }
                }
            }
            if let Some(c) = &mut p.condition {
                let Some(pi) = before.iter().position(|q| q.name == c.parent) else {
                    return Err(bad(&p.name, format!("its condition names `{}`, not declared before it", c.parent)));
                };
                let Kind::Categorical { labels } = &before[pi].kind else {
                    return Err(bad(&p.name, format!("its condition names `{}`, which is not a choice", c.parent)));
                };
                c.parent_index = pi;
                c.choices.clear();
                for l in &c.labels {
                    let Some(k) = labels.iter().position(|x| x == l) else {
                        return Err(bad(&p.name, format!("`{}` has no choice `{l}`", c.parent)));
                    };
                    c.choices.push(k);
                }
            }
        }
        Ok(Self { params })
    }

    /// The parameters, in declaration order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Whether parameter `i` exists given the values of those before it.
    ///
    /// ```
    /// use monograd_tune::search_space;
    /// use monograd_tune::space::{SearchSpace, Value};
    /// search_space! {
    ///     struct Cfg {
    ///         opt: &'static str = choice(["sgd", "adam"]),
    ///         momentum: Option<f64> = when(opt == "sgd", uniform(0.0, 0.99)),
    ///     }
    /// }
    /// let space = Cfg::space()?;
    /// assert!(space.active(1, &[Value::Cat(0)]));
    /// assert!(!space.active(1, &[Value::Cat(1)]));
    /// # Ok::<(), monograd_tune::TuneError>(())
    /// ```
    pub fn active(&self, i: usize, values: &[Value]) -> bool {
        match &self.params[i].condition {
            None => true,
            Some(c) => {
                self.active(c.parent_index, values)
                    && matches!(values.get(c.parent_index), Some(Value::Cat(k)) if c.choices.contains(k))
            }
        }
    }

    /// Checks a full assignment: one value per parameter, of the right kind and in
    /// bounds, and `Absent` exactly where a condition does not hold.
    pub fn check(&self, values: &[Value]) -> Result<(), TuneError> {
        if values.len() != self.params.len() {
            return Err(TuneError::Space(format!("{} values for {} parameters", values.len(), self.params.len())));
        }
        for (i, (p, v)) in self.params.iter().zip(values).enumerate() {
            let ok = match (self.active(i, values), &p.kind, *v) {
                (false, _, Value::Absent) => true,
                (true, Kind::Float { low, high, .. }, Value::Float(x)) => *low <= x && x <= *high,
                (true, Kind::Int { low, high, step, .. }, Value::Int(x)) => {
                    *low <= x && x <= *high && (x - low) % step == 0
                }
                (true, Kind::Categorical { labels }, Value::Cat(k)) => k < labels.len(),
                _ => false,
            };
            if !ok {
                return Err(TuneError::Space(format!("parameter `{}`: {v:?} does not fit {:?}", p.name, p.kind)));
            }
        }
        Ok(())
    }
}

/// A struct of hyperparameters: its space and how to build it from values. Declared with
/// [`search_space!`](crate::search_space).
pub trait SearchSpace: Sized + Clone + Send + Sync {
    /// The parameters, in field order.
    fn space() -> Result<Space, TuneError>;
    /// The configuration for checked values (as [`Space::check`] accepts).
    fn decode(values: &[Value]) -> Result<Self, TuneError>;
}

/// A declared distribution: the parameter it stands for and how its value becomes the
/// field's type `T`.
pub trait Dist<T> {
    /// The parameter, named `name`.
    fn param(&self, name: &str) -> Param;
    /// The field's value.
    fn decode(&self, name: &str, value: Value) -> Result<T, TuneError>;
}

fn mismatch(name: &str, v: Value) -> TuneError {
    TuneError::Space(format!("parameter `{name}`: value {v:?} of the wrong kind"))
}

/// A float distribution, from [`uniform`] or [`log_uniform`].
#[derive(Clone, Copy, Debug)]
pub struct FloatDist {
    low: f64,
    high: f64,
    log: bool,
}

/// Uniform in `[low, high]`.
///
/// ```
/// use monograd_tune::space::{uniform, Dist, Kind};
/// let p = Dist::<f64>::param(&uniform(0.0, 0.5), "dropout");
/// assert_eq!(p.kind, Kind::Float { low: 0.0, high: 0.5, log: false });
/// ```
pub fn uniform(low: f64, high: f64) -> FloatDist {
    FloatDist { low, high, log: false }
}

/// Uniform in the logarithm over `[low, high]` (`low > 0`): as likely in `[1e-4, 1e-3]`
/// as in `[1e-3, 1e-2]`.
///
/// ```
/// use monograd_tune::space::{log_uniform, Dist, Kind};
/// let p = Dist::<f64>::param(&log_uniform(1e-4, 1e-1), "lr");
/// assert_eq!(p.kind, Kind::Float { low: 1e-4, high: 1e-1, log: true });
/// ```
pub fn log_uniform(low: f64, high: f64) -> FloatDist {
    FloatDist { low, high, log: true }
}

impl Dist<f64> for FloatDist {
    fn param(&self, name: &str) -> Param {
        Param {
            name: name.into(),
            kind: Kind::Float { low: self.low, high: self.high, log: self.log },
            condition: None,
        }
    }
    fn decode(&self, name: &str, value: Value) -> Result<f64, TuneError> {
        match value {
            Value::Float(v) => Ok(v),
            v => Err(mismatch(name, v)),
        }
    }
}

impl Dist<f32> for FloatDist {
    fn param(&self, name: &str) -> Param {
        Dist::<f64>::param(self, name)
    }
    fn decode(&self, name: &str, value: Value) -> Result<f32, TuneError> {
        Dist::<f64>::decode(self, name, value).map(|v| v as f32)
    }
}

/// An integer distribution, from [`int`], [`int_step`] or [`int_log`].
#[derive(Clone, Copy, Debug)]
pub struct IntDist {
    low: i64,
    high: i64,
    step: i64,
    log: bool,
}

/// Every integer in `[low, high]`, equally likely.
///
/// ```
/// use monograd_tune::space::{int, Dist};
/// let p = Dist::<usize>::param(&int(1, 4), "layers");
/// assert_eq!(p.cardinality(), Some(4));
/// ```
pub fn int(low: i64, high: i64) -> IntDist {
    IntDist { low, high, step: 1, log: false }
}

/// `low, low + step, ..` up to `high`.
///
/// ```
/// use monograd_tune::space::{int_step, Dist};
/// assert_eq!(Dist::<u32>::param(&int_step(16, 128, 16), "batch").cardinality(), Some(8));
/// ```
pub fn int_step(low: i64, high: i64, step: i64) -> IntDist {
    IntDist { low, high, step, log: false }
}

/// Integers in `[low, high]` (`low >= 1`), uniform in the logarithm.
///
/// ```
/// use monograd_tune::space::{int_log, Dist, Kind};
/// let p = Dist::<usize>::param(&int_log(8, 512), "units");
/// assert_eq!(p.kind, Kind::Int { low: 8, high: 512, step: 1, log: true });
/// ```
pub fn int_log(low: i64, high: i64) -> IntDist {
    IntDist { low, high, step: 1, log: true }
}

macro_rules! int_dist {
    ($($t:ty),*) => {$(
        impl Dist<$t> for IntDist {
            fn param(&self, name: &str) -> Param {
                Param {
                    name: name.into(),
                    kind: Kind::Int { low: self.low, high: self.high, step: self.step, log: self.log },
                    condition: None,
                }
            }
            fn decode(&self, name: &str, value: Value) -> Result<$t, TuneError> {
                match value {
                    Value::Int(v) => <$t>::try_from(v).map_err(|_| {
                        TuneError::Space(format!("parameter `{name}`: {v} does not fit {}", stringify!($t)))
                    }),
                    v => Err(mismatch(name, v)),
                }
            }
        }
    )*};
}
int_dist!(i64, i32, u64, u32, usize, isize, u16, i16, u8, i8);

/// A categorical distribution, from [`choice`].
#[derive(Clone, Debug)]
pub struct Choice<T> {
    choices: Vec<T>,
}

/// One of `choices`, each equally likely a priori. The choices are the field's values
/// (`&str`, numbers, an enum of yours) and print (`Display`) as the labels reports and
/// the journal use.
///
/// ```
/// use monograd_tune::space::{choice, Dist, Value};
/// let width = choice([64usize, 128, 256]);
/// assert_eq!(width.decode("width", Value::Cat(1)).unwrap(), 128);
/// ```
pub fn choice<T: Clone + Display, const N: usize>(choices: [T; N]) -> Choice<T> {
    Choice { choices: choices.to_vec() }
}

impl<T: Clone + Display> Dist<T> for Choice<T> {
    fn param(&self, name: &str) -> Param {
        Param {
            name: name.into(),
            kind: Kind::Categorical { labels: self.choices.iter().map(|c| c.to_string()).collect() },
            condition: None,
        }
    }
    fn decode(&self, name: &str, value: Value) -> Result<T, TuneError> {
        match value {
            Value::Cat(i) if i < self.choices.len() => Ok(self.choices[i].clone()),
            v => Err(mismatch(name, v)),
        }
    }
}

/// A conditional distribution, from [`when`].
#[derive(Clone, Debug)]
pub struct When<D, T> {
    parent: &'static str,
    labels: Vec<String>,
    inner: D,
    _t: PhantomData<fn() -> T>,
}

/// `inner`, present only when the categorical `parent` took one of `labels` (the
/// choices as they print): the field is an `Option`, `None` otherwise.
/// [`search_space!`](crate::search_space) writes it `when(opt == "sgd", uniform(0.0, 0.99))`
/// or `when(opt in ["sgd", "rmsprop"], ..)`.
///
/// ```
/// use monograd_tune::space::{uniform, when, Dist, Value};
/// let m = when::<_, f64>("opt", &[&"sgd"], uniform(0.0, 0.99));
/// let p = Dist::<Option<f64>>::param(&m, "momentum");
/// assert_eq!(p.condition.unwrap().parent, "opt");
/// assert_eq!(m.decode("momentum", Value::Absent).unwrap(), None);
/// ```
pub fn when<D: Dist<T>, T>(parent: &'static str, labels: &[&dyn Display], inner: D) -> When<D, T> {
    When { parent, labels: labels.iter().map(|l| l.to_string()).collect(), inner, _t: PhantomData }
}

impl<D: Dist<T>, T> Dist<Option<T>> for When<D, T> {
    fn param(&self, name: &str) -> Param {
        let mut p = self.inner.param(name);
        p.condition = Some(Condition {
            parent: self.parent.into(),
            labels: self.labels.clone(),
            parent_index: 0,
            choices: Vec::new(),
        });
        p
    }
    fn decode(&self, name: &str, value: Value) -> Result<Option<T>, TuneError> {
        match value {
            Value::Absent => Ok(None),
            v => self.inner.decode(name, v).map(Some),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Float(v) => write!(f, "{v}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Cat(i) => write!(f, "#{i}"),
            Value::Absent => f.write_str("-"),
        }
    }
}

/// Declares a struct of hyperparameters and its search space: each field has a type and
/// the distribution it is drawn from. The struct implements
/// [`SearchSpace`](crate::space::SearchSpace) (and derives `Clone` and `Debug`), so a
/// study hands the objective a typed value, not a map of strings.
///
/// Distributions: `uniform(lo, hi)`, `log_uniform(lo, hi)` (for `f64` or `f32` fields);
/// `int(lo, hi)`, `int_step(lo, hi, step)`, `int_log(lo, hi)` (any integer type);
/// `choice([a, b, ..])` (the choices' type); and `when(parent == "label", dist)` or
/// `when(parent in ["a", "b"], dist)` for a field that exists only under a choice of a
/// categorical declared before it (an `Option` of the inner type).
///
/// ```
/// use monograd_tune::search_space;
/// use monograd_tune::space::{SearchSpace, Value};
///
/// search_space! {
///     /// How to train.
///     pub struct Cfg {
///         lr: f64 = log_uniform(1e-4, 1e-1),
///         width: usize = choice([64, 128, 256]),
///         layers: u32 = int(1, 4),
///         opt: &'static str = choice(["sgd", "adam"]),
///         momentum: Option<f64> = when(opt == "sgd", uniform(0.0, 0.99)),
///     }
/// }
///
/// let space = Cfg::space()?;
/// assert_eq!(space.len(), 5);
/// let values = [Value::Float(1e-3), Value::Cat(2), Value::Int(3), Value::Cat(1), Value::Absent];
/// space.check(&values)?;
/// let cfg = Cfg::decode(&values)?;
/// assert_eq!((cfg.width, cfg.opt, cfg.momentum), (256, "adam", None));
/// # Ok::<(), monograd_tune::TuneError>(())
/// ```
#[macro_export]
macro_rules! search_space {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $dist:ident ( $($args:tt)* ) ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        $vis struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::space::SearchSpace for $name {
            fn space() -> ::core::result::Result<$crate::space::Space, $crate::TuneError> {
                $crate::space::Space::new(::std::vec![
                    $( <_ as $crate::space::Dist<$ty>>::param(
                        &$crate::__dist!($dist ( $($args)* )), ::core::stringify!($field)), )*
                ])
            }
            fn decode(values: &[$crate::space::Value]) -> ::core::result::Result<Self, $crate::TuneError> {
                let mut __it = values.iter().copied();
                $(
                    let $field: $ty = <_ as $crate::space::Dist<$ty>>::decode(
                        &$crate::__dist!($dist ( $($args)* )),
                        ::core::stringify!($field),
                        __it.next().ok_or_else(|| $crate::TuneError::Space(::std::format!(
                            "no value for `{}`", ::core::stringify!($field))))?,
                    )?;
                )*
                ::core::result::Result::Ok(Self { $($field,)* })
            }
        }
    };
}

/// Not public API: one distribution of [`search_space!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __dist {
    (when ( $parent:ident == $label:expr , $dist:ident ( $($args:tt)* ) )) => {
        $crate::space::when(::core::stringify!($parent), &[&$label], $crate::__dist!($dist ( $($args)* )))
    };
    (when ( $parent:ident in [ $($label:expr),+ $(,)? ] , $dist:ident ( $($args:tt)* ) )) => {
        $crate::space::when(::core::stringify!($parent), &[$(&$label),+], $crate::__dist!($dist ( $($args)* )))
    };
    ($dist:ident ( $($args:tt)* )) => {
        $crate::space::$dist($($args)*)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::search_space! {
        #[allow(dead_code)] // never decoded: the space is refused
        struct BadParent {
            lr: f64 = uniform(0.0, 1.0),
            m: Option<f64> = when(opt == "sgd", uniform(0.0, 1.0)),
        }
    }

    crate::search_space! {
        #[allow(dead_code)]
        struct BadLabel {
            opt: &'static str = choice(["sgd", "adam"]),
            m: Option<f64> = when(opt == "sdg", uniform(0.0, 1.0)),
        }
    }

    crate::search_space! {
        struct Small {
            n: u8 = int(0, 1000),
        }
    }

    #[test]
    fn declaration_errors_name_the_parameter() {
        let e = BadParent::space().unwrap_err().to_string();
        assert!(e.contains("`m`") && e.contains("`opt`"), "{e}");
        let e = BadLabel::space().unwrap_err().to_string();
        assert!(e.contains("no choice `sdg`"), "{e}");
        let e = Space::new(vec![Dist::<f64>::param(&log_uniform(0.0, 1.0), "lr")]).unwrap_err().to_string();
        assert!(e.contains("positive lower bound"), "{e}");
    }

    #[test]
    fn values_that_do_not_fit_are_errors() {
        assert!(Small::decode(&[Value::Int(300)]).is_err(), "300 does not fit a u8");
        assert_eq!(Small::decode(&[Value::Int(200)]).unwrap().n, 200);
        let space = Small::space().unwrap();
        assert!(space.check(&[Value::Int(1001)]).is_err());
        assert!(space.check(&[Value::Float(1.0)]).is_err());
        assert!(space.check(&[]).is_err());
    }

    #[test]
    fn unit_coordinates_round_trip() {
        let p = Dist::<i64>::param(&int_log(1, 1000), "n");
        for v in [1, 10, 999, 1000] {
            assert_eq!(p.from_unit(p.to_unit(Value::Int(v)).unwrap()), Value::Int(v));
        }
        let q = Dist::<f64>::param(&log_uniform(1e-4, 1e-1), "lr");
        let x = 3.7e-3;
        let Value::Float(y) = q.from_unit(q.to_unit(Value::Float(x)).unwrap()) else { unreachable!() };
        assert!((y - x).abs() < 1e-15);
    }
}
