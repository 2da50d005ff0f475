//! Settings for a layer of the user's go to its `configured(..)`: a wrong count is the
//! compiler's error on that call, pointing at the settings.
use monograd::core::module::{OutputShape, ParamUpdate, Path, Tensor};
use monograd::prelude::{network, Ctx, Layer, Module, Scalar, Shape};

#[derive(Clone, Copy, Debug, Default)]
pub struct Scale(f64);

impl Scale {
    pub fn configured(factor: f64) -> Self {
        Scale(factor)
    }
}

impl<T: Scalar> Module<T> for Scale {
    const PARAMS: usize = 0;
    fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, _: &Path<'_>, _: &mut F) {}
    fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
    fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
}

impl<S: Shape> OutputShape<S> for Scale {
    type Output = S;
}

impl<T: Scalar, S: Shape> Layer<T, S, S> for Scale {
    type Cache = ();
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = T::from_f64(self.0) * x;
        }
    }
    fn backward(&self, _: &[T], _: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let Some(dx) = dx {
            for (dx, &dy) in dx.iter_mut().zip(dy) {
                *dx += T::from_f64(self.0) * dy;
            }
        }
    }
}

network! {
    pub struct Net {
        input: [4],
        s: Scale(2.0, 3.0),
    }
}

fn main() {}
