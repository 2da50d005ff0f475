//! What `summary()` on a generated network returns: one row per node, with totals.
//!
//! Everything in it is known at compile time; printing it needs no allocation.
//!
//! A network holds its parameters inline, so one above [`STACK_WARNING_BYTES`] gets a
//! warning line: built with `Net::new`, it passes through the stack, which it may
//! overflow; `Net::boxed` builds it on the heap ([`crate::boxed`]).

/// Parameters above this many bytes (1 MiB, half of a spawned thread's default stack)
/// make [`Summary`] warn that the network should be built with `Net::boxed`.
pub const STACK_WARNING_BYTES: usize = 1 << 20;

use core::fmt;

/// One node of a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// The node's name.
    pub node: &'static str,
    /// The layer as written, or `input`.
    pub layer: &'static str,
    /// Shape of one output sample.
    pub shape: &'static [usize],
    /// Parameters of the layer, on its first use (0 when it reuses a layer).
    pub params: usize,
    /// Multiply-accumulates per sample.
    pub macs: usize,
    /// The nodes of a network nested here (empty for a layer), printed under this one as
    /// `blk.conv1`.
    pub inner: &'static [SummaryRow],
    /// How the layer computes where it has a choice ([`Layer::ALGORITHM`]: a
    /// convolution's `direct`, `im2col` or `winograd`), else empty.
    ///
    /// [`Layer::ALGORITHM`]: crate::module::Layer::ALGORITHM
    pub algorithm: &'static str,
}

/// A network's nodes and totals, printed like Keras' `model.summary()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The network's name.
    pub name: &'static str,
    /// The nodes in the order they run, the input first.
    pub rows: &'static [SummaryRow],
    /// Parameters in all.
    pub params: usize,
    /// Bytes of parameters.
    pub param_bytes: usize,
    /// Multiply-accumulates per sample (FLOPs are twice this).
    pub macs: usize,
    /// Bytes of every node's output for one sample, summed.
    pub activation_bytes: usize,
    /// The most bytes of node outputs alive at once for one sample, in inference.
    pub peak_activation_bytes: usize,
}

impl Summary {
    /// Whether the parameters are too large to build the network on the stack
    /// (more than [`STACK_WARNING_BYTES`]); `Display` then adds a warning line.
    ///
    /// ```
    /// use monograd_core::summary::Summary;
    ///
    /// let summary = Summary {
    ///     name: "Big", rows: &[], params: 1 << 24, param_bytes: 4 << 24, macs: 0,
    ///     activation_bytes: 0, peak_activation_bytes: 0,
    /// };
    /// assert!(summary.too_large_for_the_stack());
    /// assert!(summary.to_string().ends_with(
    ///     "warning: `Big` holds 64 MiB of parameters inline; build it with `Big::boxed(&mut rng)` \
    ///      rather than `Big::new`, which returns it on the stack"
    /// ));
    /// ```
    pub fn too_large_for_the_stack(&self) -> bool {
        self.param_bytes > STACK_WARNING_BYTES
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.name)?;
        let algorithms = any_algorithm(self.rows);
        write!(f, "{:<16} {:<28} {:<16} {:>12} {:>14}", "node", "layer", "output", "params", "FLOPs")?;
        writeln!(f, "{}", if algorithms { "  algorithm" } else { "" })?;
        rows(f, self.rows, "", algorithms)?;
        writeln!(
            f,
            "total: {} parameters ({} bytes), {} FLOPs per sample",
            self.params,
            self.param_bytes,
            2 * self.macs
        )?;
        write!(
            f,
            "activations per sample: {} bytes in all, {} bytes at peak",
            self.activation_bytes, self.peak_activation_bytes
        )?;
        if self.too_large_for_the_stack() {
            let name = self.name;
            write!(
                f,
                "\nwarning: `{name}` holds {} of parameters inline; build it with `{name}::boxed(&mut rng)` \
                 rather than `{name}::new`, which returns it on the stack",
                Mib(self.param_bytes)
            )?;
        }
        Ok(())
    }
}

/// Bytes in MiB, whole when they are, else to one decimal.
struct Mib(usize);

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: usize = 1 << 20;
        if self.0.is_multiple_of(MIB) {
            write!(f, "{} MiB", self.0 / MIB)
        } else {
            write!(f, "{:.1} MiB", self.0 as f64 / MIB as f64)
        }
    }
}

/// Whether any row, nested ones included, names an algorithm: only then does the table
/// have that column, so networks without convolutions print as they always did.
fn any_algorithm(rows: &[SummaryRow]) -> bool {
    rows.iter().any(|r| !r.algorithm.is_empty() || any_algorithm(r.inner))
}

/// Prints `rows`, each nested network's rows after its own, named `prefix.node`.
fn rows(f: &mut fmt::Formatter<'_>, rows: &[SummaryRow], prefix: &str, algorithms: bool) -> fmt::Result {
    for r in rows {
        let mut name = ShapeText::default();
        fmt::Write::write_fmt(&mut name, format_args!("{prefix}{}", r.node))?;
        write!(f, "{:<16} {:<28} ", name.as_str(), r.layer)?;
        let mut shape = ShapeText::default();
        fmt::Write::write_fmt(&mut shape, format_args!("{:?}", r.shape))?;
        write!(f, "{:<16} {:>12} {:>14}", shape.as_str(), r.params, 2 * r.macs)?;
        if algorithms && !r.algorithm.is_empty() {
            write!(f, "  {}", r.algorithm)?;
        }
        writeln!(f)?;
        if !r.inner.is_empty() {
            let mut inner = ShapeText::default();
            fmt::Write::write_fmt(&mut inner, format_args!("{prefix}{}.", r.node))?;
            // The nested network's input is this node's input: not a row of its own.
            rows_nested(f, &r.inner[1..], inner.as_str(), algorithms)?;
        }
    }
    Ok(())
}

/// [`rows`], for a nested network (a separate function: recursion through a `&str` borrowed
/// from a local buffer).
fn rows_nested(f: &mut fmt::Formatter<'_>, r: &[SummaryRow], prefix: &str, algorithms: bool) -> fmt::Result {
    rows(f, r, prefix, algorithms)
}

/// A small stack buffer, so that shapes can be padded without allocating.
#[derive(Default)]
struct ShapeText {
    buf: [u8; 32],
    len: usize,
}

impl ShapeText {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

impl fmt::Write for ShapeText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = (self.len + s.len()).min(self.buf.len());
        let n = end - self.len;
        self.buf[self.len..end].copy_from_slice(&s.as_bytes()[..n]);
        self.len = end;
        Ok(())
    }
}

/// The largest value: for the peak-activation constant the macro emits.
pub const fn max_of(xs: &[usize]) -> usize {
    let mut m = 0;
    let mut i = 0;
    while i < xs.len() {
        if xs[i] > m {
            m = xs[i];
        }
        i += 1;
    }
    m
}

/// Text shown as it is by `{:?}`: a generated network's `Debug` lists each layer as the
/// user wrote it (`fc1: Linear<784, 128>`), not its weights.
///
/// ```
/// use monograd_core::summary::Written;
/// assert_eq!(format!("{:?}", Written("Linear<784, 128>")), "Linear<784, 128>");
/// ```
#[derive(Clone, Copy)]
pub struct Written(pub &'static str);

impl core::fmt::Debug for Written {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0)
    }
}
