//! Calibration: real ranges of every quantized activation, observed on a data set.
//!
//! Two methods: the observed minimum and maximum (TFLite's converter does this), and a
//! percentile of the values, which ignores rare outliers (the range then clips them, and
//! the common values get finer steps). A percentile takes two passes over the data: the
//! first finds the extremes, the second fills a histogram of 2048 bins between them.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::QuantError;
use crate::params::QParams;

/// How a range is chosen from the observed values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// The smallest and largest value seen.
    MinMax,
    /// The `p`-th percentile of the values as the top of the range and the `(100 − p)`-th
    /// as its bottom (`p` in `(50, 100]`; `Percentile(99.99)` is common).
    Percentile(f64),
}

/// Per output channel or per tensor: how many scales a layer's weights get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// One scale for the whole weight tensor (TFLite's fully connected default, run by
    /// every TFLite Micro version and its optimized kernels).
    PerTensor,
    /// One scale per output channel (TFLite's convolutions, always).
    PerChannel,
}

/// What `quantize` needs besides the network: samples and choices.
///
/// ```
/// use monograd_quant::calibrate::{Calibration, Granularity, Method};
///
/// let data = vec![0.5f32; 4 * 10]; // ten samples of four values
/// let cal = Calibration::new(&data)
///     .method(Method::Percentile(99.99))
///     .linear(Granularity::PerChannel)   // every Linear layer
///     .layer("head", Granularity::PerTensor); // but this one
/// assert_eq!(cal.granularity("fc1"), Granularity::PerChannel);
/// assert_eq!(cal.granularity("head"), Granularity::PerTensor);
/// ```
#[derive(Clone, Debug)]
pub struct Calibration<'a> {
    data: &'a [f32],
    method: Method,
    linear: Granularity,
    layers: Vec<(String, Granularity)>,
    batch: usize,
}

impl<'a> Calibration<'a> {
    /// Samples one after another, flat (`n · input size` values); min/max, per-tensor
    /// `Linear` layers, batches of 64.
    pub fn new(data: &'a [f32]) -> Self {
        Self { data, method: Method::MinMax, linear: Granularity::PerTensor, layers: Vec::new(), batch: 64 }
    }

    /// The range method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// The granularity of every `Linear` layer's weights (convolutions are always per
    /// channel, as TFLite has them).
    pub fn linear(mut self, g: Granularity) -> Self {
        self.linear = g;
        self
    }

    /// The granularity of one `Linear` layer, by name.
    pub fn layer(mut self, name: &str, g: Granularity) -> Self {
        self.layers.push((String::from(name), g));
        self
    }

    /// Samples run through the float network at once while observing.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// The granularity of the `Linear` layer `name`.
    pub fn granularity(&self, name: &str) -> Granularity {
        self.layers.iter().rev().find(|(n, _)| n == name).map_or(self.linear, |(_, g)| *g)
    }

    /// The samples.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    /// The range method.
    pub fn range_method(&self) -> Method {
        self.method
    }

    /// Samples per batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Passes over the data the method needs.
    pub fn passes(&self) -> usize {
        match self.method {
            Method::MinMax => 1,
            Method::Percentile(_) => 2,
        }
    }

    /// Checks the settings and the data for samples of `numel` values; returns the number
    /// of samples.
    pub fn check(&self, what: &'static str, numel: usize) -> Result<usize, QuantError> {
        if let Method::Percentile(p) = self.method {
            if !(p > 50.0 && p <= 100.0) {
                return Err(QuantError::Setting { what: "Method::Percentile", value: p });
            }
        }
        if self.data.is_empty() {
            return Err(QuantError::EmptyCalibration);
        }
        if numel == 0 || !self.data.len().is_multiple_of(numel) {
            return Err(QuantError::Length { what, expected: numel, got: self.data.len() });
        }
        Ok(self.data.len() / numel)
    }
}

const BINS: usize = 2048;

/// The observed values of one activation.
#[derive(Clone, Debug)]
pub struct Observer {
    what: &'static str,
    min: f32,
    max: f32,
    finite: bool,
    hist: Vec<u64>,
}

impl Observer {
    /// An observer for the node `what`, for error messages.
    pub fn new(what: &'static str) -> Self {
        Self { what, min: f32::INFINITY, max: f32::NEG_INFINITY, finite: true, hist: Vec::new() }
    }

    /// Records values on pass `pass` (0: extremes; 1: histogram, for percentiles).
    pub fn observe(&mut self, pass: usize, values: &[f32]) {
        if pass == 0 {
            for &v in values {
                self.finite &= v.is_finite();
                self.min = self.min.min(v);
                self.max = self.max.max(v);
            }
            return;
        }
        if self.hist.is_empty() {
            self.hist = vec![0; BINS];
        }
        let width = f64::from(self.max) - f64::from(self.min);
        // Also false for NaN: nothing to bin then.
        if width.is_nan() || width <= 0.0 {
            return;
        }
        for &v in values {
            let at = ((f64::from(v) - f64::from(self.min)) / width * BINS as f64) as usize;
            self.hist[at.min(BINS - 1)] += 1;
        }
    }

    /// The range chosen by `method`.
    pub fn range(&self, method: Method) -> Result<(f32, f32), QuantError> {
        if !self.finite || !self.min.is_finite() || !self.max.is_finite() {
            return Err(QuantError::NotFinite { what: self.what });
        }
        let Method::Percentile(p) = method else { return Ok((self.min, self.max)) };
        let total: u64 = self.hist.iter().sum();
        if total == 0 || self.max <= self.min {
            return Ok((self.min, self.max));
        }
        let width = (f64::from(self.max) - f64::from(self.min)) / BINS as f64;
        let edge = |bin: usize| (f64::from(self.min) + width * bin as f64) as f32;
        // Top: the upper edge of the bin where the count reaches p% of the values.
        // Both are non-negative: `as u64` truncates, which is the floor, and the ceiling
        // adds one where that dropped a fraction (`f64::ceil` and `floor` need std).
        let hi = total as f64 * p / 100.0;
        let want_hi = hi as u64 + u64::from((hi as u64 as f64) < hi);
        let want_lo = (total as f64 * (100.0 - p) / 100.0) as u64;
        let (mut seen, mut lo, mut hi) = (0u64, 0usize, BINS);
        let mut lo_found = false;
        for (i, &c) in self.hist.iter().enumerate() {
            if !lo_found && seen + c > want_lo {
                lo = i;
                lo_found = true;
            }
            seen += c;
            if seen >= want_hi {
                hi = i + 1;
                break;
            }
        }
        Ok((edge(lo).max(self.min), edge(hi).min(self.max)))
    }

    /// The parameters for the range chosen by `method`.
    pub fn params(&self, method: Method) -> Result<QParams, QuantError> {
        let (lo, hi) = self.range(method)?;
        Ok(QParams::from_range(lo, hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_and_percentile() {
        let mut values: Vec<f32> = (0..10_000).map(|i| i as f32 / 10_000.0).collect();
        values.push(100.0); // one outlier
        let mut o = Observer::new("x");
        o.observe(0, &values);
        o.observe(1, &values);
        assert_eq!(o.range(Method::MinMax).unwrap(), (0.0, 100.0));
        let (lo, hi) = o.range(Method::Percentile(99.9)).unwrap();
        assert_eq!(lo, 0.0);
        // All but the outlier sit in the first bin-widths below 1.0 (bins of 100/2048).
        assert!(hi > 0.9 && hi < 1.1, "{hi}");
    }

    #[test]
    fn bad_values_and_settings_are_errors() {
        let mut o = Observer::new("conv1");
        o.observe(0, &[1.0, f32::NAN]);
        assert_eq!(o.range(Method::MinMax), Err(QuantError::NotFinite { what: "conv1" }));
        let data = [0.0f32; 6];
        assert!(Calibration::new(&data).check("input", 4).is_err());
        assert_eq!(Calibration::new(&data).check("input", 3), Ok(2));
        assert!(Calibration::new(&data).method(Method::Percentile(40.0)).check("input", 3).is_err());
        assert_eq!(Calibration::new(&[]).check("input", 3), Err(QuantError::EmptyCalibration));
    }
}
