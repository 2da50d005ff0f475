//! A layer of the user's own that happens to be called `Tanh`: `network!` recognises
//! layers by name, so it must not apply the rules of monograd's `Tanh` to it.
use monograd::core::module::{OutputShape, ParamUpdate, Path, Tensor};
use monograd::prelude::{network, Ctx, Layer, Linear, Module, Scalar, Shape};

/// `y = x / (1 + |x|)`: a "soft" tanh.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tanh;

impl<T: Scalar> Module<T> for Tanh {
    const PARAMS: usize = 0;
    fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, _: &Path<'_>, _: &mut F) {}
    fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
    fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
}

impl<S: Shape> OutputShape<S> for Tanh {
    type Output = S;
}

impl<T: Scalar, S: Shape> Layer<T, S, S> for Tanh {
    type Cache = ();
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x / (T::ONE + x.abs());
        }
    }
    fn backward(&self, x: &[T], _: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let Some(dx) = dx {
            for ((dx, &dy), &x) in dx.iter_mut().zip(dy).zip(x) {
                let d = T::ONE + x.abs();
                *dx += dy / (d * d);
            }
        }
    }
}

network! {
    struct Net {
        input: [4],
        fc: Linear<4, 8>,
        act: Tanh,
        head: Linear<8, 2>,
    }
}

fn main() {}
