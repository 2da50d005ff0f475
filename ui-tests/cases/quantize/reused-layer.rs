// A layer applied twice gets one quantization per application in TFLite: declare two.
use monograd::prelude::*;

network! {
    #[quantize(NetI8)]
    pub struct Net {
        input: [4],
        fc: Linear<4, 4>,
        act: ReLU,
        again = fc,
    }
}

fn main() {}
