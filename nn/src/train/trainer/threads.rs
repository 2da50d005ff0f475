//! [`Trainer::threads`]: data-parallel steps on worker threads
//! ([`DataParallel`](crate::distributed::DataParallel)).

use std::boxed::Box;

use monograd_core::{Network, Scalar};

use super::Trainer;
use crate::distributed::{DataParallel, ParallelStep};
use crate::loss::Loss;
use crate::train::{Metric, Target, TrainError};

/// The trainer's data-parallel step, if it has worker threads: the batch's mean loss, with
/// the gradient in `grad` and the correct predictions added to `correct`; `None` without
/// threads (the trainer then runs the step itself).
#[allow(clippy::too_many_arguments)]
pub(super) fn step<N, Y, T: Scalar>(
    parallel: &mut Option<Box<dyn ParallelStep<N, Y, T>>>,
    step: usize,
    net: &mut N,
    x: &[T],
    y: &[Y],
    grad: &mut N,
    metric: &Option<Box<dyn Metric<Y, T>>>,
    correct: &mut usize,
) -> Result<Option<T>, TrainError> {
    let Some(p) = parallel else { return Ok(None) };
    let out = p.step(step, net, x, y, grad, metric.as_deref())?;
    *correct = correct.saturating_add(out.correct);
    Ok(Some(T::from_f64(f64::from(out.loss))))
}

impl<N, O, L, Y> Trainer<N, O, L, Y, f32>
where
    N: Network<f32> + Send + 'static,
    L: Loss<f32, Target = [Y]> + Clone + Send + 'static,
    Y: Target + Send + Sync,
{
    /// Splits each training batch across the calling thread and `threads - 1` worker
    /// threads (each with a replica of the network), and sums their gradients in a fixed
    /// order
    /// ([`DataParallel`]): the same global batch, the
    /// same step, up to rounding; bit-identical from run to run for a given number of
    /// threads. `0` and `1` train on the calling thread. Set it after any change to the
    /// network's weights that should reach the workers' first step (they copy the
    /// weights every step, so any later change is seen too).
    ///
    /// BatchNorm normalises each thread's shard by the shard's statistics, and the
    /// running statistics are the first worker's; Dropout draws per shard.
    ///
    /// ```
    /// use monograd_core::Rng;
    /// use monograd_nn::data::Dataset;
    /// use monograd_nn::train::Trainer;
    /// use monograd_nn::{CrossEntropyLoss, Sgd};
    /// # type Net = monograd_nn::train::testing::Dense<1, 2>;
    /// let data = Dataset::new(vec![-1.0f32, -0.5, 0.5, 1.0], vec![0usize, 0, 1, 1], 1)?;
    /// let mut trainer = Trainer::new(Net::new(&mut Rng::seed(0)), Sgd::new(0.5), CrossEntropyLoss::new())
    ///     .batch_size(4)
    ///     .epochs(50)
    ///     .threads(2);
    /// trainer.fit(&data, None, &mut ())?;
    /// assert_eq!(trainer.evaluate(&data)?.accuracy, Some(1.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn threads(mut self, threads: usize) -> Self {
        self.parallel = (threads > 1).then(|| {
            Box::new(DataParallel::<N, Y>::new(&*self.net, self.loss.clone(), threads)) as Box<dyn ParallelStep<N, Y>>
        });
        self
    }

    /// [`threads`](Self::threads) with a pool of your own, for settings beyond the number
    /// of threads (a [`timeout`](DataParallel::timeout) for slow steps). A worker that
    /// fails ends `fit` with [`TrainError::Distributed`] naming it and the step; the model
    /// and optimizer are left as they were before that step, and a run resumed from its
    /// last checkpoint ends bit-identical to one that never failed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use monograd_core::Rng;
    /// use monograd_nn::distributed::DataParallel;
    /// use monograd_nn::train::Trainer;
    /// use monograd_nn::{CrossEntropyLoss, Sgd};
    /// # type Net = monograd_nn::train::testing::Dense<1, 2>;
    /// let net = Net::new(&mut Rng::seed(0));
    /// let pool = DataParallel::new(&net, CrossEntropyLoss::new(), 2).timeout(Duration::from_secs(600));
    /// let trainer = Trainer::new(net, Sgd::new(0.5), CrossEntropyLoss::new()).data_parallel(pool);
    /// # let _ = trainer;
    /// ```
    pub fn data_parallel(mut self, pool: DataParallel<N, Y>) -> Self {
        self.parallel = Some(Box::new(pool));
        self
    }
}
