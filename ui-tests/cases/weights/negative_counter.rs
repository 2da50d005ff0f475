// A counter below zero (`num_batches_tracked` is I64 -3): PyTorch never writes one and the
// run-time loader refuses it, so embedding refuses it too rather than read 2^64 - 3.
use monograd::prelude::*;

static BN: BatchNorm1d<2> = include_weights!(BatchNorm1d<2>, "negative_counter.safetensors");

fn main() {
    let _ = &BN;
}
