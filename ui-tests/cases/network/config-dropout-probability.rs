//! A dropout probability out of range, written as a literal: rejected where it is written.
use monograd::prelude::*;

network! {
    pub struct Net {
        input: [4],
        fc: Linear<4, 4>,
        drop: Dropout(1.5),
    }
}

fn main() {}
