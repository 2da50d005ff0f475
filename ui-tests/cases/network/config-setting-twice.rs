//! A setting given twice, positionally and by name; a named one before a positional one.
use monograd::prelude::*;

network! {
    pub struct Net {
        input: [4],
        fc: Linear<4, 4>,
        bn: BatchNorm1d<4>(1e-3, eps = 1e-4),
        ln: LayerNorm<4>(eps = 1e-4, 1e-3),
    }
}

fn main() {}
