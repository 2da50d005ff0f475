// `weight` twice in the header: the run-time loader refuses the file (which of the two
// would be meant?), so embedding refuses it too.
use monograd::prelude::*;

static BN: BatchNorm1d<2> = include_weights!(BatchNorm1d<2>, "duplicate_names.safetensors");

fn main() {
    let _ = &BN;
}
