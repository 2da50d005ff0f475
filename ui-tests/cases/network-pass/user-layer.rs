//! A layer the macro knows nothing about: its output shape comes from `OutputShape`.
#![deny(warnings)]

use monograd::core::module::{Kind, OutputShape, ParamUpdate, Path, Tensor};
use monograd::prelude::*;

/// One learnable gain per feature: `y = g ⊙ x`.
#[derive(Clone)]
pub struct Gain<const N: usize, T: Scalar = f32> {
    pub g: [T; N],
}

impl<const N: usize, T: Scalar> Default for Gain<N, T> {
    fn default() -> Self {
        Self { g: [T::ONE; N] }
    }
}

impl<const N: usize, T: Scalar> Module<T> for Gain<N, T> {
    const PARAMS: usize = N;

    fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, path: &Path<'_>, f: &mut F) {
        let p = path.field("g");
        f(Tensor { path: &p, kind: Kind::Param, shape: &[N], values: &self.g });
    }

    fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, path: &Path<'_>, f: &mut F) {
        let p = path.field("g");
        f(Tensor { path: &p, kind: Kind::Param, shape: &[N], values: &mut self.g });
    }

    fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(
        &mut self,
        grad: &Self,
        path: &Path<'_>,
        offset: &mut usize,
        f: &mut F,
    ) {
        let p = path.field("g");
        f(ParamUpdate { path: &p, offset: *offset, value: &mut self.g, grad: &grad.g });
        *offset += N;
    }
}

impl<const N: usize, T: Scalar> OutputShape<Rank1<N>> for Gain<N, T> {
    type Output = Rank1<N>;
}

impl<const N: usize, T: Scalar> Layer<T, Rank1<N>, Rank1<N>> for Gain<N, T> {
    type Cache = ();
    const MACS: usize = N;

    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        for (y, x) in y.chunks_exact_mut(N).zip(x.chunks_exact(N)) {
            for ((y, &x), &g) in y.iter_mut().zip(x).zip(&self.g) {
                *y = g * x;
            }
        }
    }

    fn backward(
        &self,
        x: &[T],
        _y: &[T],
        _cache: &(),
        dy: &[T],
        mut dx: Option<&mut [T]>,
        grad: &mut Self,
        _: &mut Ctx<'_, T>,
    ) {
        for (i, (x, dy)) in x.chunks_exact(N).zip(dy.chunks_exact(N)).enumerate() {
            for j in 0..N {
                grad.g[j] += dy[j] * x[j];
                if let Some(dx) = dx.as_deref_mut() {
                    dx[i * N + j] += dy[j] * self.g[j];
                }
            }
        }
    }
}

network! {
    pub struct Net<T: Scalar = f32> {
        input: [4],
        fc: Linear<4, 8>,
        gain: Gain<8, T>,
        head: Linear<8, 2>,
    }
}

fn main() -> Result<(), ShapeError> {
    let mut net = Net::<f32>::new(&mut Rng::seed(4));
    let mut grad = Net::<f32>::default();
    let mut state = Net::<f32>::state::<Heap>();
    let x = [1.0f32; 4];
    assert_eq!(net.forward_train(&x, &mut state)?.len(), 2);
    net.backward(&x, &[1.0; 2], &mut grad, &mut state)?;
    assert_eq!(<Net as Module<f32>>::PARAMS, (4 * 8 + 8) + 8 + (8 * 2 + 2));
    Ok(())
}
