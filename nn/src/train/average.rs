//! Averaged weights: an exponential moving average of a network's weights while it trains
//! (Polyak averaging), evaluated beside the run without disturbing it.
//!
//! Early in a run with a high learning rate the weights bounce around the region they are
//! heading for, and their validation accuracy says more about the step size than about
//! where the run will end. The average of the recent weights sits nearer the middle of
//! that region: its accuracy is a steadier early guess of what annealing the learning
//! rate will reach. That makes it a better value to report to a pruner (successive
//! halving, median stopping) than the raw weights' accuracy, and the averaged weights are
//! often a better model in their own right.

use std::vec::Vec;

use monograd_core::boxed::InPlace;
use monograd_core::module::{Module, Path};
use monograd_core::{Network, Scalar, ShapeError};

use super::callback::{Callback, Control, Event};
use super::history::EpochReport;
use super::metric::{Metrics, Target};
use super::trainer::Trainer;
use super::TrainError;
use crate::data::Dataset;
use crate::loss::Loss;
use crate::optim::OptimizerState;

/// An exponential moving average of a network's tensors (parameters and buffers, in
/// [`Module::visit`] order): each [`update`](Ema::update) sets `avg = decay · avg +
/// (1 - decay) · weights`; the first copies the weights.
///
/// [`Ema::epoch`] trains one epoch of a [`Trainer`] and updates the average every
/// [`every`](Ema::every) optimizer steps and at the end of the epoch, so the average
/// covers about `every / (1 - decay)` recent steps. It pauses the trainer to read its
/// weights, which changes nothing in the run: the network, the optimizer and every report
/// are those of [`Trainer::epoch`] called alone. [`Ema::evaluate`] measures the averaged
/// weights and leaves the trainer's as they were.
///
/// ```
/// use monograd_core::Rng;
/// use monograd_nn::data::Dataset;
/// use monograd_nn::train::{Ema, Trainer};
/// use monograd_nn::{AdamW, CrossEntropyLoss};
/// # type Net = monograd_nn::train::testing::Dense<2, 2>;
///
/// // Two classes: is the sum of the two inputs positive?
/// let mut rng = Rng::seed(1);
/// let x: Vec<f32> = (0..400).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
/// let y: Vec<usize> = x.chunks(2).map(|s| usize::from(s[0] + s[1] > 0.0)).collect();
/// let (train, val) = Dataset::new(x, y, 2)?.split_at(150)?;
///
/// let net = Net::new(&mut Rng::seed(0));
/// let mut trainer =
///     Trainer::new(net, AdamW::new(0.05), CrossEntropyLoss::new()).batch_size(16).seed(0);
/// let mut ema = Ema::new(0.9).every(2); // about the last 20 steps
/// for _ in 0..5 {
///     let report = ema.epoch(&mut trainer, &train, Some(&val), &mut ())?;
///     let raw = report.val.unwrap().accuracy.unwrap();
///     let averaged = ema.evaluate(&mut trainer, &val)?.accuracy.unwrap();
///     println!("epoch {}: {raw:.3} raw, {averaged:.3} averaged", report.epoch);
/// }
/// assert!(ema.evaluate(&mut trainer, &val)?.accuracy.unwrap() > 0.9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Ema<T: Scalar = f32> {
    decay: f64,
    every: usize,
    values: Vec<T>,
    updates: u64,
    /// The trainer's step count at the last update by [`Ema::epoch`]: no step, no update.
    at_step: Option<usize>,
}

impl<T: Scalar> Ema<T> {
    /// An empty average keeping `decay` of itself at each update (`0 <= decay < 1`;
    /// checked at the first update), updated after every step by [`Ema::epoch`].
    pub fn new(decay: f64) -> Self {
        Self { decay, every: 1, values: Vec::new(), updates: 0, at_step: None }
    }

    /// How many optimizer steps [`Ema::epoch`] lets pass between updates (at least 1,
    /// checked there). Fewer updates cost less; the average then spans `every` times more
    /// steps for the same decay.
    pub fn every(mut self, steps: usize) -> Self {
        self.every = steps;
        self
    }

    /// The share of the average each update keeps.
    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// How many updates the average has had (0: empty).
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The averaged tensors, flat, in [`Module::visit`] order (empty before the first
    /// update); [`load_flat`](monograd_core::module::load_flat) puts them in a network.
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// Moves the average towards `net`'s current tensors (the first update copies them).
    ///
    /// # Errors
    /// [`TrainError::Config`] if the decay is not in `[0, 1)`; [`TrainError::Shape`] if
    /// `net` does not have as many values as the networks averaged so far.
    pub fn update<M: Module<T>>(&mut self, net: &M) -> Result<(), TrainError> {
        if !(0.0..1.0).contains(&self.decay) {
            return Err(TrainError::Config { what: "Ema decay", expected: "at least 0 and below 1" });
        }
        if self.updates == 0 {
            self.values.clear();
            net.visit(&Path::ROOT, &mut |t| self.values.extend_from_slice(t.values));
        } else {
            self.check(net, "Ema::update network")?;
            let keep = T::from_f64(self.decay);
            let take = T::from_f64(1.0 - self.decay);
            let mut rest = &mut self.values[..];
            net.visit(&Path::ROOT, &mut |t| {
                let (head, tail) = core::mem::take(&mut rest).split_at_mut(t.values.len());
                for (a, &w) in head.iter_mut().zip(t.values) {
                    *a = keep * *a + take * w;
                }
                rest = tail;
            });
        }
        self.updates += 1;
        Ok(())
    }

    /// Exchanges `net`'s tensors with the average: swapping twice puts both back, bit for
    /// bit.
    ///
    /// # Errors
    /// [`TrainError::Config`] before the first update; [`TrainError::Shape`] if `net`
    /// does not have as many values as the average.
    pub fn swap<M: Module<T>>(&mut self, net: &mut M) -> Result<(), TrainError> {
        if self.updates == 0 {
            return Err(TrainError::Config { what: "Ema average", expected: "at least one update before it is used" });
        }
        self.check(net, "Ema::swap network")?;
        let mut rest = &mut self.values[..];
        net.visit_mut(&Path::ROOT, &mut |t| {
            let (head, tail) = core::mem::take(&mut rest).split_at_mut(t.values.len());
            t.values.swap_with_slice(head);
            rest = tail;
        });
        Ok(())
    }

    /// Fails unless `net` holds as many values as the average.
    fn check<M: Module<T>>(&self, net: &M, what: &'static str) -> Result<(), TrainError> {
        let mut found = 0;
        net.visit(&Path::ROOT, &mut |t| found += t.values.len());
        if found == self.values.len() {
            Ok(())
        } else {
            Err(TrainError::Shape(ShapeError::Length { what, expected: self.values.len(), found }))
        }
    }
}

impl<T: Scalar> Ema<T> {
    /// One epoch of [`Trainer::epoch`], updating the average every
    /// [`every`](Ema::every) steps and at the end (the first call starts it from the
    /// weights as they are). `callback` sees every event, as with `Trainer::epoch`; if it
    /// stops or pauses the run, this returns there too.
    ///
    /// # Errors
    /// As [`Trainer::epoch`] and [`Ema::update`]; [`TrainError::Config`] if `every` is 0.
    pub fn epoch<N, O, L, Y, C>(
        &mut self,
        trainer: &mut Trainer<N, O, L, Y, T>,
        train: &Dataset<T, Y>,
        val: Option<&Dataset<T, Y>>,
        callback: &mut C,
    ) -> Result<EpochReport, TrainError>
    where
        N: Network<T> + InPlace,
        O: OptimizerState<T>,
        L: Loss<T, Target = [Y]>,
        Y: Target,
        C: Callback + ?Sized,
    {
        let every = self.every;
        if every == 0 {
            return Err(TrainError::Config { what: "Ema::every", expected: "at least 1 step" });
        }
        if self.updates == 0 {
            self.update(trainer.net())?;
            self.at_step = Some(trainer.steps());
        }
        loop {
            let mut ours = false;
            let mut both = |e: &Event<'_>| match callback.event(e) {
                Control::Continue => match e {
                    Event::Step(s) if s.step % every == 0 => {
                        ours = true;
                        Control::Pause
                    }
                    _ => Control::Continue,
                },
                theirs => theirs,
            };
            let report = trainer.epoch(train, val, &mut both)?;
            if self.at_step != Some(trainer.steps()) {
                self.update(trainer.net())?;
                self.at_step = Some(trainer.steps());
            }
            // Paused by us mid-epoch: go on with the next batch, exactly where it stopped.
            if !(ours && trainer.is_mid_epoch()) {
                return Ok(report);
            }
        }
    }

    /// Loss and accuracy of the averaged weights on `data` ([`Trainer::evaluate`] with the
    /// average swapped in, then swapped back: the trainer's weights are left as they were).
    ///
    /// # Errors
    /// As [`Trainer::evaluate`] and [`Ema::swap`].
    pub fn evaluate<N, O, L, Y>(
        &mut self,
        trainer: &mut Trainer<N, O, L, Y, T>,
        data: &Dataset<T, Y>,
    ) -> Result<Metrics, TrainError>
    where
        N: Network<T> + InPlace,
        O: OptimizerState<T>,
        L: Loss<T, Target = [Y]>,
        Y: Target,
    {
        self.swap(trainer.net_mut())?;
        let metrics = trainer.evaluate(data);
        // The same network as a moment ago: the sizes match, so this cannot fail.
        self.swap(trainer.net_mut())?;
        metrics
    }
}

#[cfg(test)]
mod tests {
    use std::vec;

    use monograd_core::module::{load_flat, to_vec};
    use monograd_core::Rng;

    use super::*;
    use crate::train::testing::Dense;
    use crate::{AdamW, CrossEntropyLoss};

    type Net = Dense<2, 2>;

    fn data() -> (Dataset<f32, usize>, Dataset<f32, usize>) {
        let mut rng = Rng::seed(3);
        let x: Vec<f32> = (0..200).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let y: Vec<usize> = x.chunks(2).map(|s| usize::from(s[0] - s[1] > 0.0)).collect();
        Dataset::new(x, y, 2).unwrap().split_at(70).unwrap()
    }

    fn trainer() -> Trainer<Net, impl OptimizerState<f32>, CrossEntropyLoss<'static, f32>, usize> {
        Trainer::new(Net::new(&mut Rng::seed(0)), AdamW::new(0.05), CrossEntropyLoss::new()).batch_size(8).seed(4)
    }

    #[test]
    fn updates_average_exponentially_from_a_copy() {
        let mut net = Net::new(&mut Rng::seed(0));
        let n = to_vec(&net).len();
        let mut ema = Ema::<f32>::new(0.75);
        load_flat(&mut net, &vec![4.0; n]).unwrap();
        ema.update(&net).unwrap();
        assert_eq!(ema.values(), vec![4.0; n]);
        load_flat(&mut net, &vec![8.0; n]).unwrap();
        ema.update(&net).unwrap();
        assert_eq!(ema.values(), vec![5.0; n]); // 0.75 * 4 + 0.25 * 8
        assert_eq!(ema.updates(), 2);
    }

    #[test]
    fn swapping_twice_restores_both_and_misuse_is_an_error() {
        let mut net = Net::new(&mut Rng::seed(0));
        let before = to_vec(&net);
        let mut ema = Ema::<f32>::new(0.5);
        assert!(matches!(ema.swap(&mut net), Err(TrainError::Config { .. })));
        ema.update(&net).unwrap();
        load_flat(&mut net, &vec![1.0; before.len()]).unwrap();
        ema.swap(&mut net).unwrap();
        assert_eq!(to_vec(&net), before);
        assert_eq!(ema.values(), vec![1.0; before.len()]);
        ema.swap(&mut net).unwrap();
        assert_eq!(to_vec(&net), vec![1.0; before.len()]);
        // Another network's worth of values is refused, not half-swapped.
        let mut other = Dense::<3, 2>::new(&mut Rng::seed(0));
        let other_before = to_vec(&other);
        assert!(matches!(ema.swap(&mut other), Err(TrainError::Shape(_))));
        assert!(matches!(ema.update(&other), Err(TrainError::Shape(_))));
        assert_eq!(to_vec(&other), other_before);
        assert!(matches!(Ema::<f32>::new(1.0).update(&net), Err(TrainError::Config { .. })));
        assert!(matches!(Ema::<f32>::new(f64::NAN).update(&net), Err(TrainError::Config { .. })));
    }

    #[test]
    fn epochs_with_an_average_train_exactly_as_without() {
        let (train, val) = data();
        let mut plain = trainer();
        let mut averaged = trainer();
        let mut ema = Ema::new(0.9).every(3);
        for _ in 0..3 {
            let a = plain.epoch(&train, Some(&val), &mut ()).unwrap();
            let b = ema.epoch(&mut averaged, &train, Some(&val), &mut ()).unwrap();
            assert_eq!((a.epoch, a.steps, a.val, a.train.loss), (b.epoch, b.steps, b.val, b.train.loss));
            assert_eq!(to_vec(plain.net()), to_vec(averaged.net()));
        }
        // 9 steps an epoch (70 samples, batches of 8): the first update, one every 3 steps
        // (the last of each epoch among them), nothing twice.
        assert_eq!(plain.steps(), 27);
        assert_eq!(ema.updates(), 1 + 9);
        // Evaluating the average leaves the trainer's weights alone, and the average
        // differs from them (it lags behind).
        let weights = to_vec(averaged.net());
        let m = ema.evaluate(&mut averaged, &val).unwrap();
        assert_eq!(to_vec(averaged.net()), weights);
        assert_ne!(ema.values(), &weights[..]);
        assert!(m.loss.is_finite());
        assert!(matches!(
            Ema::new(0.9).every(0).epoch(&mut averaged, &train, None, &mut ()),
            Err(TrainError::Config { .. })
        ));
    }

    #[test]
    fn a_callback_that_stops_is_obeyed() {
        let (train, _) = data();
        let mut t = trainer();
        let mut ema = Ema::new(0.9).every(2);
        let mut stop_at_5 = |e: &Event<'_>| match e {
            Event::Step(s) if s.step == 5 => Control::Stop,
            _ => Control::Continue,
        };
        ema.epoch(&mut t, &train, None, &mut stop_at_5).unwrap();
        assert_eq!(t.steps(), 5);
        // The start, after steps 2 and 4, and where it stopped.
        assert_eq!(ema.updates(), 4);
    }

    #[test]
    fn with_no_decay_the_average_is_the_network() {
        let (train, val) = data();
        let mut t = trainer();
        let mut ema = Ema::new(0.0);
        ema.epoch(&mut t, &train, None, &mut ()).unwrap();
        assert_eq!(ema.values(), &to_vec(t.net())[..]);
        let own = t.evaluate(&val).unwrap();
        assert_eq!(ema.evaluate(&mut t, &val).unwrap(), own);
    }
}
