//! [`InPlace`] for every built-in layer: how each is built in zeroed memory and copied
//! without a temporary, so that networks of any size can live on the heap alone
//! ([`monograd_core::boxed`]).
//!
//! Layers of tensors are plain (zero bytes are their default, `Self::ZERO`, and a bitwise
//! copy copies them) when their scalar is; the norms write their settings (`eps`,
//! `momentum`) over the zeros; small layers (activations, pooling, `Dropout`) are built
//! by value with [`in_place_by_value!`](monograd_core::in_place_by_value).

use monograd_core::boxed::InPlace;
use monograd_core::in_place_by_value;

use super::{
    Add, AvgPool2d, BatchNorm1d, BatchNorm2d, Concat, Conv1d, Conv2d, Dropout, Embedding, Flatten, GlobalAvgPool2d,
    GroupedConv2d, LayerNorm, LeakyReLU, Linear, LinearNoBias, LogSoftmax, MaxPool2d, Permute, ReLU, Reshape,
    SeparableConv2d, SiLU, Sigmoid, Softmax, Softplus, Tanh, Transpose, Upsample, Upsample1d, ELU, GELU,
};

/// `InPlace` for a struct of fields that are each `InPlace`, every field listed: built
/// field by field, copied field by field, plain when every field is.
///
/// The exhaustive pattern in `copy_from` stops compiling if the struct gains a field that
/// is not listed here, which would otherwise be left as zero bytes.
macro_rules! fields {
    ([$($g:tt)*] $ty:ty { $($field:ident: $fty:ty),* $(,)? }) => {
        // SAFETY: the struct has exactly these fields (the pattern below checks it), each
        // made valid by its own type's implementation; it is plain only when all of them
        // are, and it has no destructor of its own.
        unsafe impl<$($g)*> InPlace for $ty {
            const PLAIN: bool = !core::mem::needs_drop::<Self>() $(&& <$fty as InPlace>::PLAIN)*;
            #[inline]
            unsafe fn default_in_place(this: *mut Self) {
                // SAFETY: the caller's guarantees for `this` hold for each of its fields.
                unsafe { $(<$fty as InPlace>::default_in_place(&raw mut (*this).$field);)* }
            }
            #[inline]
            fn copy_from(&mut self, src: &Self) {
                let Self { $($field),* } = src;
                $(<$fty as InPlace>::copy_from(&mut self.$field, $field);)*
            }
        }
    };
}

fields!([const I: usize, const O: usize, T: InPlace] Linear<I, O, T> { weight: [[T; I]; O], bias: [T; O] });
fields!([const I: usize, const O: usize, T: InPlace] LinearNoBias<I, O, T> { weight: [[T; I]; O] });
fields!([const V: usize, const D: usize, T: InPlace] Embedding<V, D, T> { weight: [[T; D]; V] });
fields!(
    [const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T: InPlace]
    Conv1d<CI, CO, K, S, P, D, T> { weight: [[[T; K]; CI]; CO], bias: [T; CO] }
);
fields!(
    [const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T: InPlace]
    Conv2d<CI, CO, K, S, P, D, T> { weight: [[[[T; K]; K]; CI]; CO], bias: [T; CO] }
);
fields!(
    [
        const CI: usize, const CO: usize, const K: usize, const G: usize, const CIG: usize,
        const S: usize, const P: usize, const D: usize, T: InPlace
    ]
    GroupedConv2d<CI, CO, K, G, CIG, S, P, D, T> { weight: [[[[T; K]; K]; CIG]; CO], bias: [T; CO] }
);
fields!(
    [const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T: InPlace]
    SeparableConv2d<CI, CO, K, S, P, D, T> {
        depthwise: super::DepthwiseConv2d<CI, K, S, P, D, T>,
        pointwise: Conv2d<CI, CO, 1, 1, 0, 1, T>,
    }
);

/// `InPlace` for a batch norm: its tensors zero, then the settings of `Self::ZERO`
/// (PyTorch's `momentum` and `eps`), which is what `Default` gives.
macro_rules! batch_norm {
    ($name:ident) => {
        // SAFETY: the four tensors are made valid by `[T; C]`'s implementation, and the
        // three other fields are written whole before anything reads them; the pattern in
        // `copy_from` checks that there is no other field. Not plain: zero bytes are no
        // valid `Option<f64>` that the language promises.
        unsafe impl<const C: usize, T: InPlace> InPlace for $name<C, T> {
            unsafe fn default_in_place(this: *mut Self) {
                // SAFETY: the caller's guarantees for `this` hold for each of its fields.
                unsafe {
                    <[T; C]>::default_in_place(&raw mut (*this).weight);
                    <[T; C]>::default_in_place(&raw mut (*this).bias);
                    <[T; C]>::default_in_place(&raw mut (*this).running_mean);
                    <[T; C]>::default_in_place(&raw mut (*this).running_var);
                    (&raw mut (*this).num_batches_tracked).write(0);
                    (&raw mut (*this).momentum).write(Some(0.1));
                    (&raw mut (*this).eps).write(1e-5);
                }
            }
            fn copy_from(&mut self, src: &Self) {
                let Self { weight, bias, running_mean, running_var, num_batches_tracked, momentum, eps } = src;
                self.weight.copy_from(weight);
                self.bias.copy_from(bias);
                self.running_mean.copy_from(running_mean);
                self.running_var.copy_from(running_var);
                self.num_batches_tracked = *num_batches_tracked;
                self.momentum = *momentum;
                self.eps = *eps;
            }
        }
    };
}
batch_norm!(BatchNorm1d);
batch_norm!(BatchNorm2d);

// SAFETY: both tensors are made valid by `[T; N]`'s implementation and `eps` is written
// whole (zero bytes are a valid `f64`, but not the default); the pattern in `copy_from`
// checks there is no other field.
unsafe impl<const N: usize, T: InPlace> InPlace for LayerNorm<N, T> {
    unsafe fn default_in_place(this: *mut Self) {
        // SAFETY: the caller's guarantees for `this` hold for each of its fields.
        unsafe {
            <[T; N]>::default_in_place(&raw mut (*this).weight);
            <[T; N]>::default_in_place(&raw mut (*this).bias);
            (&raw mut (*this).eps).write(1e-5);
        }
    }
    fn copy_from(&mut self, src: &Self) {
        let Self { weight, bias, eps } = src;
        self.weight.copy_from(weight);
        self.bias.copy_from(bias);
        self.eps = *eps;
    }
}

in_place_by_value!(Dropout);
in_place_by_value!(LeakyReLU);
in_place_by_value!(ELU);
in_place_by_value!(ReLU);
in_place_by_value!(Tanh);
in_place_by_value!(Sigmoid);
in_place_by_value!(GELU);
in_place_by_value!(SiLU);
in_place_by_value!(Softplus);
in_place_by_value!(Softmax);
in_place_by_value!(LogSoftmax);
in_place_by_value!(Add);
in_place_by_value!(Concat);
in_place_by_value!(Flatten);
in_place_by_value!(GlobalAvgPool2d);
in_place_by_value!([const K: usize, const S: usize] MaxPool2d<K, S>);
in_place_by_value!([const K: usize, const S: usize] AvgPool2d<K, S>);
in_place_by_value!([B: monograd_core::Shape] Reshape<B>);
in_place_by_value!(Transpose);
in_place_by_value!([const A: usize, const B: usize, const C: usize] Permute<A, B, C>);
in_place_by_value!([const F: usize] Upsample<F>);
in_place_by_value!([const F: usize] Upsample1d<F>);

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use core::fmt::Debug;

    use monograd_core::boxed::{boxed_clone, boxed_default, boxed_new, boxed_zeros_like, InPlace};
    use monograd_core::module::Path;
    use monograd_core::{Dual, Module, Rng};

    use super::*;

    /// Built in place, a layer is its `Default`; copied in place, the original; with
    /// `init`, what `new`-then-`init` gives from the same seed (not under Miri, which
    /// cannot run the inline assembly `libm` uses for `sqrt`).
    fn agrees<L: Module<f64> + InPlace + Default + PartialEq + Debug>() {
        let built = boxed_default::<L>();
        assert_eq!(*built, L::default());
        // A value unlike the default: every tensor numbered.
        let mut source = L::default();
        let mut i = 0.0;
        source.visit_mut(&Path::ROOT, &mut |t| {
            for v in t.values {
                i += 1.0;
                *v = i;
            }
        });
        assert_eq!(*boxed_clone(&source), source);
        let mut copy = boxed_default::<L>();
        copy.copy_from(&source);
        assert_eq!(*copy, source);
        assert_eq!(*boxed_zeros_like::<f64, L>(&source), source.zeros_like());
        if !cfg!(miri) {
            let mut on_stack = L::default();
            on_stack.init(&mut Rng::seed(3));
            assert_eq!(*boxed_new::<f64, L>(&mut Rng::seed(3)), on_stack);
        }
    }

    #[test]
    fn every_layer_is_built_and_copied_in_place_as_by_value() {
        agrees::<Linear<3, 2, f64>>();
        agrees::<LinearNoBias<3, 2, f64>>();
        agrees::<Embedding<5, 2, f64>>();
        agrees::<Conv1d<2, 3, 2, 1, 0, 1, f64>>();
        agrees::<Conv2d<2, 3, 2, 1, 0, 1, f64>>();
        agrees::<GroupedConv2d<4, 2, 3, 2, 2, 1, 0, 1, f64>>();
        agrees::<SeparableConv2d<2, 3, 3, 1, 1, 1, f64>>();
        agrees::<BatchNorm1d<3, f64>>();
        agrees::<BatchNorm2d<3, f64>>();
        agrees::<LayerNorm<4, f64>>();
        agrees::<Dropout>();
        agrees::<LeakyReLU>();
        agrees::<ELU>();
        agrees::<ReLU>();
        agrees::<Softmax>();
        agrees::<MaxPool2d<2, 2>>();
        agrees::<Flatten>();
        agrees::<Add>();
    }

    #[test]
    fn settings_survive_copies_and_gradients() {
        let mut bn = BatchNorm1d::<2, f64>::new();
        bn.momentum = None;
        bn.eps = 1e-3;
        bn.num_batches_tracked = 7;
        bn.running_var = [2.0, 3.0];
        let copy = boxed_clone(&bn);
        assert_eq!(*copy, bn);
        let grad = boxed_zeros_like::<f64, _>(&bn);
        assert_eq!((grad.momentum, grad.eps, grad.running_var), (None, 1e-3, [0.0; 2]));
        let drop = Dropout::with_seed(0.2, 9);
        assert_eq!(*boxed_clone(&drop), drop);
    }

    #[test]
    fn only_layers_of_tensors_of_plain_scalars_are_plain() {
        const { assert!(<Linear<3, 2> as InPlace>::PLAIN) };
        const { assert!(<Conv2d<1, 2, 3> as InPlace>::PLAIN) };
        const { assert!(<SeparableConv2d<1, 2, 3> as InPlace>::PLAIN) };
        const { assert!(<Linear<3, 2, Dual<f64, 2>> as InPlace>::PLAIN) };
        const { assert!(!<BatchNorm1d<3> as InPlace>::PLAIN) };
        const { assert!(!<LayerNorm<3> as InPlace>::PLAIN) };
        const { assert!(!<Dropout as InPlace>::PLAIN) };
    }
}
