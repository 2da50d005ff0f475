//! A layer of the user's own without `InPlace`: the network compiles and `new` works, but
//! building it on the heap in place is refused, naming the layer and the fix.
use monograd::core::module::{OutputShape, ParamUpdate, Path, Tensor};
use monograd::prelude::{network, Ctx, Layer, Module, Rng, Scalar, Shape};

/// The identity, as a layer of the user's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Same;

impl<T: Scalar> Module<T> for Same {
    const PARAMS: usize = 0;
    fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, _: &Path<'_>, _: &mut F) {}
    fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
    fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
}

impl<S: Shape> OutputShape<S> for Same {
    type Output = S;
}

impl<T: Scalar, S: Shape> Layer<T, S, S> for Same {
    type Cache = ();
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        y.copy_from_slice(x);
    }
    fn backward(&self, _: &[T], _: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let Some(dx) = dx {
            dx.iter_mut().zip(dy).for_each(|(dx, &dy)| *dx += dy);
        }
    }
}

network! {
    pub struct Net {
        input x: [4],
        fc: monograd::prelude::Linear<4, 4>,
        same: Same,
    }
}

fn main() {
    let _on_stack: Net = Net::new(&mut Rng::seed(0));
    let _boxed: Box<Net> = Net::boxed(&mut Rng::seed(0));
}
