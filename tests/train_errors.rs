//! A NaN or infinite loss or gradient stops training with an error naming the epoch, the
//! step, the batch, the tensor (by its dotted name in a `network!` network) and the likely
//! cause.

use monograd::nn::train::{Cause, NonFinite, TrainError};
use monograd::prelude::*;

network! {
    pub struct Net {
        input: [2],
        fc1: Linear<2, 4>,
        act: ReLU,
        fc2: Linear<4, 1>,
    }
}

/// 8 samples of `(x0, 1)` with targets 1000.
fn data(x0: f32) -> Dataset<f32, f32> {
    Dataset::new([x0, 1.0].repeat(8), vec![1000.0; 8], 2).unwrap()
}

#[test]
fn a_nan_parameter_is_refused_before_the_first_step_and_named() {
    let mut net = Net::new(&mut Rng::seed(0));
    net.fc2.bias[0] = f32::NAN;
    let mut trainer = Trainer::new(net, Sgd::new(0.1), MseLoss).batch_size(4).epochs(2);
    let e = trainer.fit(&data(1.0), None, &mut ()).unwrap_err();
    let TrainError::NonFinite {
        epoch: 1,
        step: 1,
        batch: 1,
        batches: 2,
        what: NonFinite::Parameter,
        tensor,
        cause: Cause::Given,
        restored: None,
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(tensor.as_deref(), Some("fc2.bias"));
    assert_eq!(
        e.to_string(),
        "a parameter is not finite at epoch 1, step 1 (batch 1 of 2): `fc2.bias`; likely cause: it was so before \
         the step (set by hand, or loaded)"
    );
    assert_eq!(trainer.steps(), 0);
}

#[test]
fn an_overflowing_gradient_names_the_tensor_nearest_the_output() {
    // Huge inputs and a zero output layer: the output and the loss are finite, but the
    // output layer's weight gradient (output gradient times huge activations) overflows.
    let mut net = Net::new(&mut Rng::seed(0));
    net.fc1.weight = [[0.5; 2]; 4];
    net.fc1.bias = [0.0; 4];
    net.fc2.weight = [[0.0; 4]];
    let mut trainer = Trainer::new(net, Sgd::new(0.1), MseLoss).batch_size(8);
    let e = trainer.fit(&data(1e38), None, &mut ()).unwrap_err();
    let TrainError::NonFinite { epoch: 1, step: 1, what: NonFinite::Gradient, tensor, .. } = &e else { panic!("{e}") };
    assert_eq!(tensor.as_deref(), Some("fc2.weight"));
    let text = e.to_string();
    assert!(
        text.starts_with(
            "a gradient is not finite at epoch 1, step 1 (batch 1 of 1); first non-finite from the output: \
             the gradient of `fc2.weight`; likely cause: sample "
        ) && text.ends_with(
            "holds 1.000e38, whose square overflows; the model and the optimizer are back as they were before step 1"
        ),
        "{text}"
    );
    // The weights were not updated with it.
    assert_eq!(trainer.net().fc2.weight, [[0.0; 4]]);
}
