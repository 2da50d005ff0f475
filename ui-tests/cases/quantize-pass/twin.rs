// A twin builds, runs, and has the float network's budget constants.
#![deny(warnings)]

use monograd::prelude::*;
use monograd::quant::calibrate::Calibration;

network! {
    #[quantize(NetI8)]
    pub struct Net {
        input: [1, 6, 6],
        conv: Conv2d<1, 2, 3>,
        act: ReLU,
        pool: MaxPool2d<2>,
        flat: Flatten,
        fc: Linear<8, 2>,
    }
}

const _: () = assert!(NetI8::MACS == Net::MACS && NetI8::PARAM_BYTES < Net::PARAM_BYTES);

fn main() {
    let net = Net::new(&mut Rng::seed(0));
    let data = [0.25f32; 36 * 4];
    let twin = Net::quantize(&net, &Calibration::new(&data)).unwrap();
    let mut state = NetI8::state();
    assert_eq!(twin.predict(&data[..36], &mut state).unwrap().len(), 2);
    assert_eq!(twin.to_graph().ops.len(), 4);
}
