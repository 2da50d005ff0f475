use monograd::core::module::{OutputShape, ParamUpdate, Path, Tensor};
use monograd::prelude::*;

/// Doubles every value: any shape to the same shape.
#[derive(Clone, Default)]
pub struct Double;

impl<T: Scalar> Module<T> for Double {
    const PARAMS: usize = 0;
    fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, _: &Path<'_>, _: &mut F) {}
    fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
    fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
}

impl<S: Shape> OutputShape<S> for Double {
    type Output = S;
}

impl<T: Scalar, S: Shape> Layer<T, S, S> for Double {
    type Cache = ();
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x + x;
        }
    }
    fn backward(&self, _: &[T], _: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let Some(dx) = dx {
            for (d, &g) in dx.iter_mut().zip(dy) {
                *d += g + g;
            }
        }
    }
}

// The macro has no rule for `Double`, but reads its output shape from the type.
network! {
    struct Net {
        input: [3, 8, 8],
        double: Double,
        conv: Conv2d<4, 8, 3>,
    }
}

fn main() {}
