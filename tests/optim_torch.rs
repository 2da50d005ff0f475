//! Optimizers, schedules and gradient clipping against PyTorch.
//!
//! `tests/fixtures/optim/torch.json` was recorded by `scripts/record-optim-fixtures.py`
//! from PyTorch's `torch.optim` in float64 (the torch version is in the file). For each
//! optimizer configuration it holds six steps of a `Linear(3, 2)` fitted to a fixed batch
//! with the mean squared error: the gradient before each step and the parameters after it.
//! Here monograd computes the same gradients with its own `Linear` and `MseLoss`, takes
//! the same steps with its own optimizers, and must land on PyTorch's parameters within
//! `1e-6` relative at every step. Schedules and clipping are replayed the same way. CI
//! needs only the fixture, not PyTorch.
//!
//! The last tests add a user-defined optimizer (Lion) through the public trait alone.

use monograd::core::module::Ctx;
use monograd::core::{Layer, Module, Scalar};
use monograd::nn::optim::clip::{clip_grad_norm_with, clip_grad_value};
use monograd::nn::optim::schedule::{CosineAnnealingLr, ExponentialLr, LinearLr, Schedule, StepLr};
use monograd::nn::optim::{for_each_param, slots, OptimError, Optimizer, Scheduled, StateStore};
use monograd::nn::{Adagrad, Adam, AdamW, Linear, Loss, MseLoss, RmsProp, Sgd};

const FIXTURE: &str = include_str!("fixtures/optim/torch.json");

/// `|a - b| <= tol · max(|a|, |b|)`, with a floor far below any value compared.
fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-12)
}

#[track_caller]
fn assert_all_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(close(*g, *w, tol), "{what}, element {i}: monograd {g:e}, PyTorch {w:e}");
    }
}

/// The fixed problem: `Linear(3, 2)` on five samples, mean squared error.
struct Problem {
    x: Vec<f64>,
    y: Vec<f64>,
    init: Linear<3, 2, f64>,
}

impl Problem {
    fn load(j: &Json) -> Self {
        let p = j.get("problem");
        let mut init = Linear::<3, 2, f64>::ZERO;
        init.weight.as_flattened_mut().copy_from_slice(&p.get("weight").floats());
        init.bias.copy_from_slice(&p.get("bias").floats());
        Self { x: p.get("x").floats(), y: p.get("y").floats(), init }
    }

    /// The gradient of the loss at `model`, through monograd's own layer and loss.
    fn grad(&self, model: &Linear<3, 2, f64>) -> Linear<3, 2, f64> {
        let mut ctx = Ctx::new(&mut []);
        let mut out = vec![0.0; self.y.len()];
        model.forward(&self.x, &mut out, &mut ctx);
        let mut dout = vec![0.0; out.len()];
        MseLoss.backward(&out, &self.y, &mut dout).unwrap();
        let mut grad = Linear::ZERO;
        model.backward(&self.x, &out, &(), &dout, None, &mut grad, &mut ctx);
        grad
    }
}

/// All parameters in PyTorch's order: weight row-major, then bias.
fn flat(m: &Linear<3, 2, f64>) -> Vec<f64> {
    m.weight.as_flattened().iter().chain(&m.bias).copied().collect()
}

/// Replays one recorded trajectory with `opt`.
fn replay(problem: &Problem, case: &Json, opt: &mut impl Optimizer<f64>) {
    let name = case.get("name").str();
    let mut model = problem.init.clone();
    let (grads, params) = (case.get("grads").array(), case.get("params").array());
    for (step, (g, p)) in grads.iter().zip(params).enumerate() {
        let grad = problem.grad(&model);
        assert_all_close(&format!("{name}: gradient at step {step}"), &flat(&grad), &g.floats(), 1e-9);
        opt.try_step(&mut model, &grad).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_all_close(&format!("{name}: parameters after step {step}"), &flat(&model), &p.floats(), 1e-6);
    }
}

/// A schedule from its fixture record.
fn schedule_of(s: &Json, base: f64) -> Box<dyn Fn(usize) -> f64> {
    let (f, u) = (|k: &str| s.get(k).float(), |k: &str| s.get(k).float() as usize);
    match s.get("kind").str() {
        "step" => {
            let s = StepLr::new(base, u("step_size"), f("gamma"));
            Box::new(move |k| s.lr(k))
        }
        "exponential" => {
            let s = ExponentialLr::new(base, f("gamma"));
            Box::new(move |k| s.lr(k))
        }
        "cosine" => {
            let s = CosineAnnealingLr::new(base, u("t_max"), f("eta_min"));
            Box::new(move |k| s.lr(k))
        }
        "linear" => {
            let s = LinearLr::new(base, f("start_factor"), f("end_factor"), u("total_iters"));
            Box::new(move |k| s.lr(k))
        }
        "warmup_cosine" => {
            let warmup = u("warmup");
            let s = LinearLr::warmup(base, f("start_factor"), warmup)
                .then(warmup, CosineAnnealingLr::new(base, u("t_max"), f("eta_min")));
            Box::new(move |k| s.lr(k))
        }
        other => panic!("unknown schedule {other}"),
    }
}

#[test]
fn optimizers_follow_pytorchs_trajectories() {
    let j = Json::parse(FIXTURE);
    let problem = Problem::load(&j);
    let mut seen = Vec::new();
    for case in j.get("optimizers").array() {
        let o = case.get("options");
        let f = |k: &str, default: f64| o.try_get(k).map_or(default, Json::float);
        let b = |k: &str| o.try_get(k).is_some_and(Json::bool);
        let betas = o.try_get("betas").map_or(vec![0.9, 0.999], Json::floats);
        let lr = f("lr", f64::NAN);
        let kind = case.get("optimizer").str();
        let sched = case.get("schedule");
        macro_rules! run {
            ($opt:expr) => {{
                let mut opt = $opt;
                if sched.is_null() {
                    replay(&problem, case, &mut opt);
                } else {
                    // Scheduled sets the rate before each step, as PyTorch's scheduler.step()
                    // after each optimizer.step() does.
                    let lrs = case.get("lrs").floats();
                    let s = schedule_of(sched, lr);
                    assert_all_close("scheduled rates", &(0..lrs.len()).map(|k| s(k)).collect::<Vec<_>>(), &lrs, 1e-12);
                    replay(&problem, case, &mut Scheduled::new(opt, s));
                }
            }};
        }
        match kind {
            "sgd" => run!(Sgd::new(lr)
                .momentum(f("momentum", 0.0))
                .dampening(f("dampening", 0.0))
                .weight_decay(f("weight_decay", 0.0))
                .nesterov(b("nesterov"))
                .maximize(b("maximize"))),
            "adam" | "adamw" => {
                let base = if kind == "adam" { Adam::new(lr) } else { AdamW::new(lr) };
                let wd = f("weight_decay", if kind == "adam" { 0.0 } else { 0.01 });
                run!(base
                    .betas(betas[0], betas[1])
                    .eps(f("eps", 1e-8))
                    .weight_decay(wd)
                    .amsgrad(b("amsgrad"))
                    .maximize(b("maximize")))
            }
            "rmsprop" => run!(RmsProp::new(lr)
                .alpha(f("alpha", 0.99))
                .eps(f("eps", 1e-8))
                .weight_decay(f("weight_decay", 0.0))
                .momentum(f("momentum", 0.0))
                .centered(b("centered"))),
            "adagrad" => run!(Adagrad::new(lr)
                .lr_decay(f("lr_decay", 0.0))
                .weight_decay(f("weight_decay", 0.0))
                .initial_accumulator_value(f("initial_accumulator_value", 0.0))
                .eps(f("eps", 1e-10))),
            other => panic!("unknown optimizer {other}"),
        }
        seen.push(kind);
    }
    for kind in ["sgd", "adam", "adamw", "rmsprop", "adagrad"] {
        assert!(seen.contains(&kind), "the fixture has no {kind} trajectory");
    }
}

#[test]
fn a_caller_provided_buffer_gives_the_same_trajectory_as_the_heap() {
    // The no-alloc path: Adam with AMSGrad in a fixed array, against the same fixture.
    let j = Json::parse(FIXTURE);
    let problem = Problem::load(&j);
    let case = j.get("optimizers").array().iter().find(|c| c.get("name").str() == "adam_amsgrad_weight_decay").unwrap();
    const N: usize = Adam::<f64, &mut [f64]>::STATE_PER_PARAM * <Linear<3, 2, f64> as Module<f64>>::PARAMS;
    let mut buf = [f64::NAN; N]; // whatever it held: the first step initialises it
    let opt = Adam::with_state(0.02, &mut buf[..]).betas(0.8, 0.95).eps(1e-6).weight_decay(0.1).amsgrad(true);
    replay(&problem, case, &mut { opt });
}

#[test]
fn schedules_follow_pytorchs_rates() {
    let j = Json::parse(FIXTURE);
    for s in j.get("schedules").array() {
        let base = s.get("base").float();
        let lrs = s.get("lrs").floats();
        let sched = schedule_of(s, base);
        let got: Vec<f64> = (0..lrs.len()).map(&sched).collect();
        assert_all_close(&format!("schedule {}", s.get("kind").str()), &got, &lrs, 1e-12);
    }
}

#[test]
fn clipping_follows_pytorch() {
    let j = Json::parse(FIXTURE);
    for c in j.get("clip").array() {
        let mut grad = Linear::<3, 2, f64>::ZERO;
        let before = c.get("before").floats();
        grad.weight.as_flattened_mut().copy_from_slice(&before[..6]);
        grad.bias.copy_from_slice(&before[6..]);
        if c.get("kind").str() == "norm" {
            let norm_type = match c.get("norm_type") {
                Json::Str(s) if s == "inf" => f64::INFINITY,
                n => n.float(),
            };
            let total = clip_grad_norm_with(&mut grad, c.get("max_norm").float(), norm_type);
            assert!(
                close(total, c.get("total").float(), 1e-12),
                "norm {norm_type}: {total} vs {}",
                c.get("total").float()
            );
        } else {
            clip_grad_value(&mut grad, c.get("clip_value").float());
        }
        assert_all_close("clipped gradient", &flat(&grad), &c.get("after").floats(), 1e-12);
    }
}

/// Counts the calling thread's allocations, so that tests running in parallel do not
/// disturb each other's counts.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(|c| c.get());
    f();
    ALLOCATIONS.with(|c| c.get()) - before
}

#[test]
fn steps_after_the_first_allocate_nothing() {
    let problem = Problem::load(&Json::parse(FIXTURE));
    let grad = problem.grad(&problem.init);
    fn check(name: &str, mut opt: impl Optimizer<f64>, problem: &Problem, grad: &Linear<3, 2, f64>) {
        let mut model = problem.init.clone();
        // The state is allocated here (which also shows that the counter counts).
        assert!(allocations(|| opt.step(&mut model, grad)) > 0, "{name} allocated no state");
        let n = allocations(|| {
            for _ in 0..5 {
                opt.step(&mut model, grad);
            }
        });
        assert_eq!(n, 0, "{name} allocated after its first step");
    }
    check("Sgd", Sgd::new(0.1).momentum(0.9).nesterov(true), &problem, &grad);
    check("Adam", Adam::new(0.01).amsgrad(true), &problem, &grad);
    check("AdamW", AdamW::new(0.01), &problem, &grad);
    check("RmsProp", RmsProp::new(0.01).momentum(0.5).centered(true), &problem, &grad);
    check("Adagrad", Adagrad::new(0.1), &problem, &grad);
    let warmup_cosine = LinearLr::warmup(0.1, 0.1, 2).then(2, CosineAnnealingLr::new(0.1, 4, 0.0));
    check("Scheduled<Adam>", Scheduled::new(Adam::new(0.0), warmup_cosine), &problem, &grad);
    let mut g = grad.clone();
    let clip = || {
        clip_grad_norm_with(&mut g, 0.1, 2.0);
    };
    assert_eq!(allocations(clip), 0);
}

/// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), written
/// against the public API only:
/// `c = β1 m + (1 - β1) g;  θ ← θ (1 - lr λ) - lr sign(c);  m ← β2 m + (1 - β2) g`.
struct Lion<S> {
    lr: f64,
    betas: (f64, f64),
    weight_decay: f64,
    state: S,
    started: bool,
}

impl<T: Scalar, S: StateStore<T>> Optimizer<T> for Lion<S> {
    fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError> {
        let (lr, b1, b2) = (T::from_f64(self.lr), T::from_f64(self.betas.0), T::from_f64(self.betas.1));
        let decay = T::ONE - lr * T::from_f64(self.weight_decay);
        let state = self.state.take(M::PARAMS, "Lion momentum")?;
        if !self.started {
            state.fill(T::ZERO);
            self.started = true;
        }
        for_each_param(model, grad, |offset, value, grad| {
            let [m] = slots::<1, T>(state, M::PARAMS, offset, value.len());
            for ((p, &g), m) in value.iter_mut().zip(grad).zip(m.iter_mut()) {
                let c = b1 * *m + (T::ONE - b1) * g;
                let sign = if c > T::ZERO {
                    T::ONE
                } else if c < T::ZERO {
                    -T::ONE
                } else {
                    T::ZERO
                };
                *p = *p * decay - lr * sign;
                *m = b2 * *m + (T::ONE - b2) * g;
            }
        });
        Ok(())
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
}

#[test]
fn a_user_defined_optimizer_works_through_the_public_trait() {
    let mut model = Linear::<2, 1, f64> { weight: [[1.0, -1.0]], bias: [0.5] };
    let grad = Linear::<2, 1, f64> { weight: [[0.2, 0.0]], bias: [-3.0] };
    let mut lion = Lion { lr: 0.1, betas: (0.9, 0.99), weight_decay: 0.5, state: Vec::new(), started: false };
    lion.step(&mut model, &grad);
    // Step 1: m = 0, so c = 0.1 g: sign(g); decay 1 - 0.05.
    assert_eq!(model.weight, [[1.0 * 0.95 - 0.1, -0.95]]);
    assert_eq!(model.bias, [0.5 * 0.95 + 0.1]);
    lion.step(&mut model, &grad);
    // Step 2: m = 0.01 g, c = 0.9 · 0.01 g + 0.1 g: still sign(g).
    assert!((model.weight[0][0] - ((0.95 - 0.1) * 0.95 - 0.1)).abs() < 1e-15);

    // It composes with what the library offers: a schedule, and a fixed buffer.
    let mut buf = [0.0f64; 3];
    let fixed = Lion { lr: 0.0, betas: (0.9, 0.99), weight_decay: 0.0, state: &mut buf[..], started: false };
    let mut scheduled = Scheduled::new(fixed, StepLr::new(0.2, 1, 0.5));
    let mut model = Linear::<2, 1, f64> { weight: [[0.0, 0.0]], bias: [0.0] };
    scheduled.step(&mut model, &grad);
    scheduled.step(&mut model, &grad);
    assert_eq!(model.weight[0][0], -0.2 - 0.1);
    assert_eq!(model.bias, [0.2 + 0.1]);
    // A buffer too short for the model is an error, not a panic.
    let mut short = Lion { lr: 0.1, betas: (0.9, 0.99), weight_decay: 0.0, state: [0.0f64; 2], started: false };
    assert!(matches!(short.try_step(&mut model, &grad), Err(OptimError::State(_))));
}

/// Just enough JSON for the fixture: objects, arrays, numbers, strings, booleans, null.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Json {
        let mut p = Parser { s: text.as_bytes(), i: 0 };
        let v = p.value();
        p.ws();
        assert_eq!(p.i, p.s.len(), "trailing characters in the fixture");
        v
    }
    fn try_get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    #[track_caller]
    fn get(&self, key: &str) -> &Json {
        self.try_get(key).unwrap_or_else(|| panic!("fixture: no key {key:?}"))
    }
    #[track_caller]
    fn float(&self) -> f64 {
        match self {
            Json::Num(v) => *v,
            other => panic!("fixture: expected a number, found {other:?}"),
        }
    }
    #[track_caller]
    fn bool(&self) -> bool {
        matches!(self, Json::Bool(true))
    }
    #[track_caller]
    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("fixture: expected a string, found {other:?}"),
        }
    }
    #[track_caller]
    fn array(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            other => panic!("fixture: expected an array, found {other:?}"),
        }
    }
    fn floats(&self) -> Vec<f64> {
        self.array().iter().map(Json::float).collect()
    }
    fn is_null(&self) -> bool {
        *self == Json::Null
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        let hit = self.s.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }
    fn value(&mut self) -> Json {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut kv = Vec::new();
                while !self.eat(b'}') {
                    self.eat(b',');
                    let Json::Str(k) = self.value() else { panic!("fixture: a key must be a string") };
                    assert!(self.eat(b':'), "fixture: expected ':'");
                    kv.push((k, self.value()));
                }
                Json::Obj(kv)
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                while !self.eat(b']') {
                    self.eat(b',');
                    items.push(self.value());
                }
                Json::Arr(items)
            }
            b'"' => {
                let start = self.i + 1;
                let end = start + self.s[start..].iter().position(|&c| c == b'"').expect("fixture: open string");
                self.i = end + 1;
                Json::Str(String::from_utf8(self.s[start..end].to_vec()).expect("utf-8"))
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() && !b",]} \n\r\t".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"true" => Json::Bool(true),
                    b"false" => Json::Bool(false),
                    b"null" => Json::Null,
                    num => Json::Num(std::str::from_utf8(num).unwrap().parse().expect("fixture: a number")),
                }
            }
        }
    }
}
