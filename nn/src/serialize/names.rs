//! How the names of a model map to the names in a file.
//!
//! monograd names tensors as PyTorch's `state_dict` does for a module whose attributes
//! have the same names as the fields (`fc1.weight`, `bn.running_mean`,
//! `blocks.2.conv.bias`), so the default, [`SameNames`], suits a `torch.nn.Module` written
//! with named attributes. Where PyTorch's names differ, a [`NameMap`] translates each of
//! the model's names into the file's:
//!
//! - [`Sequential`]: a `torch.nn.Sequential` names its layers by position (`0.weight`,
//!   `1.running_mean`); give it the model's layer names in the same order.
//! - [`Prefix`]: the file's names carry a prefix (`model.fc1.weight`, or one part of a
//!   file that holds several models).
//! - any closure `Fn(&str) -> String`, for everything else (a prefix per part, renamed
//!   layers, several sequentials in one model).
//!
//! The same map serves saving and loading, so a file written through a map reads back
//! through it.

use std::borrow::ToOwned;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use monograd_core::summary::Summary;

/// Maps a name of the model (`fc1.weight`, `bn.num_batches_tracked`) to the name of the
/// same tensor in a file.
///
/// Two of the model's names must not map to one file name: saving and loading reject
/// that as [`SerializeError::DuplicateName`](super::SerializeError::DuplicateName).
///
/// ```
/// use monograd_nn::serialize::names::NameMap;
///
/// // A closure is a map: here Keras-style `kernel` for `weight`.
/// let keras = |name: &str| name.replace(".weight", ".kernel");
/// assert_eq!(keras.file_name("fc1.weight"), "fc1.kernel");
/// ```
pub trait NameMap {
    /// The file's name for the model's tensor or counter `name`.
    fn file_name(&self, name: &str) -> String;
}

impl<F: Fn(&str) -> String> NameMap for F {
    fn file_name(&self, name: &str) -> String {
        self(name)
    }
}

/// The file's names are the model's: the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SameNames;

impl NameMap for SameNames {
    fn file_name(&self, name: &str) -> String {
        name.to_owned()
    }
}

/// The file's names are the model's behind a prefix: `Prefix("model.")` maps
/// `fc1.weight` to `model.fc1.weight`.
///
/// ```
/// use monograd_nn::serialize::names::{NameMap, Prefix};
/// assert_eq!(Prefix("student.").file_name("fc1.bias"), "student.fc1.bias");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix<'a>(pub &'a str);

impl NameMap for Prefix<'_> {
    fn file_name(&self, name: &str) -> String {
        format!("{}{name}", self.0)
    }
}

/// The names of a `torch.nn.Sequential`: each layer by its position.
///
/// Built from the model's layer names in the order the `Sequential` lists them, every
/// layer counted, with or without parameters (an activation, a pooling or a `Flatten`
/// takes an index too). The first segment of a name is replaced by the layer's index:
/// with layers `[conv, bn, act, pool, flat, fc]`, `bn.running_mean` is
/// `1.running_mean` and `fc.weight` is `5.weight`. A name whose first segment is not a
/// listed layer is left as it is.
///
/// ```
/// use monograd_nn::serialize::names::{NameMap, Sequential};
///
/// // torch.nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
/// let seq = Sequential::new(["fc1", "act", "fc2"]);
/// assert_eq!(seq.file_name("fc1.weight"), "0.weight");
/// assert_eq!(seq.file_name("fc2.bias"), "2.bias");
/// ```
///
/// For a sequential network declared with `network!`, [`Sequential::from_summary`]
/// takes the layer order from the network itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sequential {
    layers: Vec<String>,
}

impl Sequential {
    /// A `Sequential` of these layers, in order.
    pub fn new<S: AsRef<str>>(layers: impl IntoIterator<Item = S>) -> Self {
        Self { layers: layers.into_iter().map(|s| s.as_ref().to_owned()).collect() }
    }

    /// The layers of a `network!` in the order they run (the input left out): right for a
    /// network without branches, whose nodes each apply one layer to the previous node,
    /// as `torch.nn.Sequential` does.
    ///
    /// ```
    /// use monograd_core::summary::{Summary, SummaryRow};
    /// use monograd_nn::serialize::names::{NameMap, Sequential};
    ///
    /// // The rows of `Net::summary()` for
    /// // `network! { struct Net { input: [4], fc1: Linear<4, 8>, act: ReLU, fc2: Linear<8, 2> } }`:
    /// const fn row(node: &'static str, layer: &'static str, params: usize) -> SummaryRow {
    ///     SummaryRow { node, layer, shape: &[], params, macs: 0, inner: &[], algorithm: "" }
    /// }
    /// const ROWS: &[SummaryRow] =
    ///     &[row("input", "input", 0), row("fc1", "Linear<4, 8>", 40), row("act", "ReLU", 0), row("fc2", "Linear<8, 2>", 18)];
    /// let summary = Summary {
    ///     name: "Net", rows: ROWS, params: 58, param_bytes: 232, macs: 48, activation_bytes: 0, peak_activation_bytes: 0,
    /// };
    /// let seq = Sequential::from_summary(&summary);
    /// assert_eq!(seq.layers(), ["fc1", "act", "fc2"]);
    /// assert_eq!(seq.file_name("fc2.weight"), "2.weight");
    /// ```
    pub fn from_summary(summary: &Summary) -> Self {
        Self::new(summary.rows.iter().filter(|r| r.layer != "input").map(|r| r.node))
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[String] {
        &self.layers
    }
}

impl NameMap for Sequential {
    fn file_name(&self, name: &str) -> String {
        let (first, rest) = match name.split_once('.') {
            Some((first, rest)) => (first, Some(rest)),
            None => (name, None),
        };
        match (self.layers.iter().position(|l| l == first), rest) {
            (Some(i), Some(rest)) => format!("{i}.{rest}"),
            (Some(i), None) => i.to_string(),
            (None, _) => name.to_owned(),
        }
    }
}
