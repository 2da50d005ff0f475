//! A network written by hand (one dense layer), for the doctests and unit tests of this
//! crate, which cannot use `network!` (it generates paths through the `monograd` facade).

use std::vec::Vec;

use monograd_core::module::{ParamUpdate, Path, Tensor};
use monograd_core::network::batch_of;
use monograd_core::storage::Storage;
use monograd_core::summary::Summary;
use monograd_core::{Ctx, Layer, Module, Network, Rank1, Rng, ShapeError};

use crate::Linear;

/// `Linear<I, O>` as a [`Network`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dense<const I: usize, const O: usize>(pub Linear<I, O, f32>);

/// The buffers of a [`Dense`].
#[derive(Debug, Default)]
pub struct DenseState {
    y: Vec<f32>,
    dx: Vec<f32>,
}

impl<const I: usize, const O: usize> Dense<I, O> {
    /// PyTorch's default initialisation.
    pub fn new(rng: &mut Rng) -> Self {
        Self(Linear::new(rng))
    }
}

monograd_core::in_place_by_value!([const I: usize, const O: usize] Dense<I, O>);

impl<const I: usize, const O: usize> Module<f32> for Dense<I, O> {
    const PARAMS: usize = I * O + O;
    fn visit<F: FnMut(Tensor<'_, &[f32]>)>(&self, path: &Path<'_>, f: &mut F) {
        self.0.visit(path, f);
    }
    fn visit_mut<F: FnMut(Tensor<'_, &mut [f32]>)>(&mut self, path: &Path<'_>, f: &mut F) {
        self.0.visit_mut(path, f);
    }
    fn visit_update<F: FnMut(ParamUpdate<'_, f32>)>(
        &mut self,
        grad: &Self,
        path: &Path<'_>,
        offset: &mut usize,
        f: &mut F,
    ) {
        self.0.visit_update(&grad.0, path, offset, f);
    }
    fn init(&mut self, rng: &mut Rng) {
        self.0.init(rng);
    }
}

impl<const I: usize, const O: usize> Network<f32> for Dense<I, O> {
    type Input = Rank1<I>;
    type Output = Rank1<O>;
    type State<S: Storage> = DenseState;
    const MACS: usize = I * O;
    const ACTIVATION_BYTES: usize = 4 * O;
    const PEAK_ACTIVATION_BYTES: usize = 4 * O;

    fn state<S: Storage>() -> DenseState {
        DenseState::default()
    }

    fn forward<'s, S: Storage>(&self, x: &[f32], st: &'s mut DenseState) -> Result<&'s [f32], ShapeError> {
        let batch = batch_of::<Rank1<I>>("`Dense` input", x.len())?;
        st.y.resize(batch * O, 0.0);
        Layer::<f32, Rank1<I>, Rank1<O>>::forward(&self.0, x, &mut st.y, &mut Ctx::new(&mut []));
        Ok(&st.y)
    }

    fn forward_train<'s, S: Storage>(&mut self, x: &[f32], st: &'s mut DenseState) -> Result<&'s [f32], ShapeError> {
        self.forward::<S>(x, st)
    }

    fn backward<S: Storage>(
        &self,
        x: &[f32],
        dy: &[f32],
        grad: &mut Self,
        st: &mut DenseState,
    ) -> Result<(), ShapeError> {
        self.backward_input::<S>(x, dy, grad, st).map(|_| ())
    }

    fn backward_input<'s, S: Storage>(
        &self,
        x: &[f32],
        dy: &[f32],
        grad: &mut Self,
        st: &'s mut DenseState,
    ) -> Result<&'s [f32], ShapeError> {
        let batch = batch_of::<Rank1<I>>("`Dense` input", x.len())?;
        monograd_core::network::expect_batch::<Rank1<O>>("`Dense` output gradient", dy.len(), batch)?;
        st.dx.clear();
        st.dx.resize(x.len(), 0.0);
        let DenseState { y, dx } = st;
        Layer::<f32, Rank1<I>, Rank1<O>>::backward(
            &self.0,
            x,
            y,
            &(),
            dy,
            Some(dx),
            &mut grad.0,
            &mut Ctx::new(&mut []),
        );
        Ok(&st.dx)
    }

    fn summary() -> Summary {
        Summary {
            name: "Dense",
            rows: &[],
            params: I * O + O,
            param_bytes: 4 * (I * O + O),
            macs: I * O,
            activation_bytes: 4 * O,
            peak_activation_bytes: 4 * O,
        }
    }
}
