// The attribute names the twin's type, and nothing else.
use monograd::prelude::*;

network! {
    #[quantize("NetI8")]
    pub struct Net {
        input: [4],
        fc: Linear<4, 2>,
    }
}

fn main() {}
