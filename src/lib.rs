//! # monograd: neural networks the compiler understands
//!
//! Layer dimensions are types, so a shape mismatch is a compile error; forward and backward
//! passes are plain monomorphized Rust, with no runtime graph; the same code runs on dual
//! numbers for exact forward-mode derivatives; and the core builds without `std` and
//! without a heap, for microcontrollers.
//!
//! This crate is the facade: depend on it alone. It re-exports
//! - [`core`] (`monograd-core`): scalars, [`Dual`](crate::core::Dual) numbers, static
//!   shapes, kernels, primitives and their derivatives, the eager tape;
//! - [`nn`] (`monograd-nn`): layers, losses, optimizers; data loading (`nn::data`) and the
//!   training loop with its progress bar and charts (`nn::train`);
//! - [`prelude`]: what a training program needs in one `use`.
//!
//! ```
//! use monograd::prelude::*;
//!
//! // A dense layer and an activation, run on a batch of two samples.
//! let mut rng = Rng::seed(0);
//! let fc = Linear::<4, 3>::new(&mut rng);
//! let x = [[0.5f32; 4], [-0.5; 4]];
//! let mut h = [[0.0f32; 3]; 2];
//! let mut y = [[0.0f32; 3]; 2];
//! let mut pack = vec![0.0f32; PACK_LEN];
//! let mut ctx = Ctx::new(&mut pack);
//! fc.forward(x.as_flattened(), h.as_flattened_mut(), &mut ctx);
//! Layer::<f32, Rank1<3>, Rank1<3>>::forward(&ReLU, h.as_flattened(), y.as_flattened_mut(), &mut ctx);
//! assert!(y.as_flattened().iter().all(|v| *v >= 0.0));
//! ```
//!
//! ## Features
//! - `std` (default): implies `alloc`; `std` math.
//! - `alloc`: the eager tape and the gradient-check helpers.
//! - `data` (default): IDX/MNIST and CSV readers, splits, normalisation, seeded
//!   mini-batches (`nn::data`); needs `std`.
//! - `train` (default): the training loop, metrics, early stopping, callbacks, a progress
//!   bar and PNG charts (`nn::train`); needs `data`.
//! - neither: `no_std`, no heap, math through `libm`.
//! - `data` (default, implies `std`): data loading, `monograd::nn::data`.
//! - `safetensors` (default, implies `std`): saving and loading models as safetensors
//!   files with PyTorch's names, and checkpoints that resume a run bit-identically,
//!   `monograd::nn::serialize`; docs/FORMATS.md tells the whole story.
//! - `parallel` (default, implies `train`): data-parallel training on threads
//!   (`Trainer::threads`, `monograd::nn::distributed::DataParallel`), asynchronous SGD with
//!   a parameter server, pipelines of networks on threads; docs/DISTRIBUTED.md.
//! - `mpi` (never default, implies `parallel`): data-parallel training across processes
//!   over MPI (`monograd::nn::distributed::mpi`); needs an MPI library and libclang.
//! - `tune` (implies `std`): hyperparameter search, `monograd::tune`: typed search spaces,
//!   grid, random, Gaussian-process and TPE samplers, pruners, resumable studies.
//! - `quant` (default): int8 quantization in TFLite's scheme, `monograd::quant`.
//! - `tflite` (default, implies `quant`): export of quantized networks as `.tflite` files,
//!   `monograd::quant::tflite`; docs/TFLITE.md.
#![no_std]
#![warn(missing_docs)]

pub use monograd_core as core;
pub use monograd_nn as nn;
/// int8 quantization in TFLite's scheme (`monograd-quant`, feature `quant`, default):
/// integer-only kernels that run without a float unit, calibration, export.
#[cfg(feature = "quant")]
pub use monograd_quant as quant;
/// Hyperparameter search (`monograd-tune`, feature `tune`): typed search spaces, samplers,
/// pruners and resumable studies; docs/TUNING.md tells the whole story.
#[cfg(feature = "tune")]
pub use monograd_tune as tune;

pub use monograd_core::Module;
/// Derives [`Module`](trait@Module) for a struct whose fields are layers, nested modules,
/// arrays of modules or raw parameter arrays; the derive and the trait share the name, as
/// serde's do.
///
/// ```
/// use monograd::core::module::{Kind, Path};
/// use monograd::prelude::*;
///
/// #[derive(Clone, Module)]
/// struct Mlp<T: Scalar = f32> {
///     fc1: Linear<4, 8, T>,
///     fc2: Linear<8, 2, T>,
///     /// A raw parameter: one tensor of shape `[2]`, saved but not trained.
///     #[module(freeze)]
///     scale: [T; 2],
///     /// Not a module: neither visited nor counted.
///     #[module(skip)]
///     label: &'static str,
/// }
///
/// let mut rng = Rng::seed(0);
/// let mlp = Mlp { fc1: Linear::new(&mut rng), fc2: Linear::new(&mut rng), scale: [1.0; 2], label: "mlp" };
/// let mut seen = Vec::new();
/// mlp.visit(&Path::ROOT, &mut |t| seen.push(format!("{} {:?} {:?}", t.path, t.shape, t.kind)));
/// assert_eq!(
///     seen,
///     [
///         "fc1.weight [8, 4] Param",
///         "fc1.bias [8] Param",
///         "fc2.weight [2, 8] Param",
///         "fc2.bias [2] Param",
///         "scale [2] Frozen",
///     ]
/// );
/// assert_eq!(<Mlp as Module<f32>>::PARAMS, (4 * 8 + 8) + (8 * 2 + 2) + 2);
///
/// // A gradient is a zeroed copy; skipped fields are copied as they are.
/// let grad = mlp.zeros_like();
/// assert_eq!((grad.fc1.bias, grad.label), ([0.0; 8], "mlp"));
/// ```
///
/// Fields are visited depth first in declaration order, each under its name: array
/// elements as `blocks.2.bias`, tuple fields by index. The scalar is the type parameter
/// bounded by `Scalar`, else `f32`, or `#[module(scalar = f64)]`; `#[module(crate = "...")]`
/// names the path to monograd's core (`"mg::core"` for a facade renamed to `mg`,
/// `"monograd_core"` for a direct dependency). `#[module(config)]` marks an `f64` field as
/// a setting: `visit_config` hands it out by name, so `module::convert` copies it to the
/// module's twin over another scalar.
///
/// ```
/// use monograd::core::module::{convert, Path};
/// use monograd::prelude::*;
///
/// #[derive(Clone, Module)]
/// struct Scaled<T: Scalar = f32> {
///     fc: Linear<2, 2, T>,
///     #[module(config)]
///     factor: f64,
/// }
///
/// let net = Scaled { fc: Linear::<2, 2>::new(&mut Rng::seed(0)), factor: 0.5 };
/// let mut settings = Vec::new();
/// net.visit_config(&Path::ROOT, &mut |s| settings.push((s.path.to_string(), *s.value)));
/// assert_eq!(settings, [("factor".to_string(), 0.5)]);
/// let mut wide = Scaled::<f64> { fc: Linear::default(), factor: 1.0 };
/// convert(&net, &mut wide, f64::from);
/// assert_eq!((wide.factor, wide.fc.bias[0]), (0.5, f64::from(net.fc.bias[0])));
/// ```
pub use monograd_macros::Module;

/// Declares a network: its input shape, its layers, and how they connect. Shapes are
/// checked at compile time, with errors that name the layer and both shapes; forward,
/// training forward and backward are generated as straight-line, monomorphized code.
///
/// ```
/// use monograd::prelude::*;
///
/// network! {
///     /// A two-layer perceptron with a residual connection.
///     pub struct Mlp {
///         input x: [4],
///         fc1: Linear<4, 8>,
///         act: ReLU,                // applied to the previous node
///         fc2: Linear<8, 4>,
///         sum(fc2, x): Add,         // named inputs: a skip connection
///         drop: Dropout(0.1),       // settings after the type
///         head: Linear<4, 2>,
///     }
/// }
///
/// let mut net = Mlp::new(&mut Rng::seed(0));
/// let mut grad = Mlp::default(); // a module is its own gradient type
/// let mut state = Mlp::state::<Heap>();
/// let x = [0.5f32; 3 * 4]; // a batch of 3
/// let y = net.forward_train(&x, &mut state)?.to_vec();
/// assert_eq!(y.len(), 3 * 2);
/// let dy = [1.0f32; 6];
/// net.backward(&x, &dy, &mut grad, &mut state)?;
/// Sgd::new(0.1).step(&mut net, &grad);
/// assert_eq!(Mlp::PARAMS, (4 * 8 + 8) + (8 * 4 + 4) + (4 * 2 + 2));
/// println!("{}", Mlp::summary());
/// # Ok::<(), ShapeError>(())
/// ```
///
/// # Syntax
/// - `input x: [d0, d1, d2]` (or `input: [...]`) first: one sample's shape, 1 to 3
///   dimensions (`[784]`, `[1, 28, 28]`).
/// - `name: Layer<...>`: a new layer, applied to the previous node; it becomes the public
///   field `name`. `name(a): Layer<...>` applies it to node `a`, `name(a, b): Add` joins
///   two nodes.
/// - `name: Layer<...>(settings)`: a layer with settings, positional and/or `name = value`
///   (`drop: Dropout(0.2)`, `act: LeakyReLU(0.1)`, `elu: ELU(alpha = 0.5)`,
///   `bn: BatchNorm2d<16>(eps = 1e-3, momentum = 0.01)`). A built-in layer starts from its
///   `Default`; positional settings are taken in PyTorch's order (`Dropout`: `p`;
///   `LeakyReLU`: `negative_slope`; `ELU`: `alpha`; `BatchNorm1d`/`2d`: `eps`, `momentum`,
///   and `cumulative = true` for PyTorch's `momentum=None`; `LayerNorm`: `eps`) and each
///   becomes a call of the layer's builder of that name (`Dropout::p`, `BatchNorm2d::eps`).
///   An unknown name, too many settings, or a literal out of range (`Dropout(1.5)`) is a
///   compile error on the argument; any other value out of range panics when the network
///   is built. A layer of your own (or a nested network) takes its positional settings
///   through its associated function `configured(..)` (`blk: Block(3, 0.5)` is
///   `Block::configured(3, 0.5)`), and each `name = value` through its method `name(value)`.
///   The settings are part of the generated `Default`, which `new` starts from, so every
///   value of the network has them; [`module::convert`] carries them to another scalar
///   (through `Module::visit_config`, which a layer of your own implements for that), and
///   loading a file keeps them (files hold tensors and counters only).
/// - `name(a) = other`: applies the layer of node `other` again: shared weights, whose
///   gradients add up.
/// - `output name` or `output (a, b)` last: the outputs (default: the last node). The
///   first is the primary output: `forward` computes only what it needs, and
///   `forward_<name>` computes another alone.
/// - The scalar: a type parameter `T: Scalar = f32` is added, and appended to built-in
///   layers that take it (`Linear<784, 128>` is stored as `Linear<784, 128, T>`), so that
///   `Mlp<Dual<f32, 1>>` runs the same network in forward mode.
/// - Another network is a layer too: `block: ResBlock<T>` (written with `<T>` so that it
///   follows this network's scalar), and `blocks: [ResBlock<T>; 4]` applies four copies in
///   sequence (parameters `blocks.0.conv.weight`, ...). Its declared input is checked
///   against the node before it, and the shapes after it follow from its declared output.
/// - Dimensions may be named constants or const expressions (`Linear<784, HIDDEN>`,
///   `Linear<{ 16 * 5 * 5 }, 120>`): the compiler computes them, and a mismatch is a
///   `cargo check` error in words at the layer, as with literals.
/// - A network may be generic over its sizes (`pub struct FullyConv<const H: usize>` with
///   `input: [1, H, H]`): convolutions, pooling, `GlobalAvgPool2d`, `BatchNorm2d`,
///   activations, `Dropout` and `Add` follow such a size (the compiler computes it for each
///   `H`), a mismatch the size does not decide is still a `cargo check` error, and the
///   checks on computed sizes (a kernel larger than the image) stop the build of
///   `FullyConv::<4>` with the same words. Its state needs `Heap` storage.
///
/// Nested, repeated, and used without a state:
///
/// ```
/// use monograd::prelude::*;
///
/// const W: usize = 4;
///
/// network! {
///     pub struct Block {
///         input x: [W],
///         fc: Linear<W, W>,
///         act: Tanh,
///         sum(act, x): Add,
///     }
/// }
///
/// network! {
///     pub struct Net {
///         input: [3],
///         stem: Linear<3, W>,
///         first: Block<T>,
///         rest: [Block<T>; 2],
///         head: Linear<W, 2>,
///     }
/// }
///
/// let net = Net::new(&mut Rng::seed(0)); // `Net<f32>`, with no annotation
/// let y: [f32; 2] = net.predict(&[1.0, 2.0, 3.0])?; // one sample, nothing allocated
/// let ys = net.predict_batch(&[[1.0, 2.0, 3.0], [0.0; 3]])?; // typed arrays in and out
/// assert_eq!(ys[0], y);
/// assert_eq!(Net::PARAMS, (3 * 4 + 4) + 3 * (4 * 4 + 4) + (4 * 2 + 2));
/// assert!(Net::summary().to_string().contains("first.fc")); // nested nodes, by name
/// println!("{net:?}"); // the layers as declared, not their weights
/// # Ok::<(), ShapeError>(())
/// ```
///
/// # What it generates
/// The struct (through `#[derive(Module)]`, so parameters have dotted names such as
/// `fc1.weight`), a `<Name>State<.., S>` with one buffer per node in a storage `S`
/// (`Heap`, or `Fixed<CAP>` with no allocator), `new`, `state`, `forward`,
/// `forward_train`, `backward`, `backward_input`, `summary`, the [`Network`] trait, and
/// the constants `PARAMS`, `PARAM_BYTES`, `MACS`, `ACTIVATION_BYTES`,
/// `PEAK_ACTIVATION_BYTES` for the default `f32`. With `alloc`, also `boxed(&mut rng)`
/// and `boxed_default()`, which build the network on the heap in place: `new` returns it
/// on the stack, which a network of more than about a megabyte of parameters may
/// overflow (see [`core::boxed`]). Before generating code it merges
/// repeated computations, fuses activations into the dense layer that feeds them, and
/// drops what no requested output needs.
///
/// [`Network`]: crate::core::Network
/// [`module::convert`]: crate::core::module::convert
pub use monograd_macros::network;

/// Builds a model from a safetensors file at compile time: the file is read when the crate
/// compiles, every tensor's name, shape and dtype is checked against the model's, and the
/// weights become part of the value, so that a `static` model is in the binary's
/// read-only data (flash, on a microcontroller) and inference allocates and copies
/// nothing.
///
/// ```
/// use monograd::prelude::*;
///
/// network! {
///     /// Trained in PyTorch: `fc1 = nn.Linear(6, 16)`, `bn = nn.BatchNorm1d(16)`, ...
///     pub struct Mlp {
///         input: [6],
///         fc1: Linear<6, 16>,
///         bn: BatchNorm1d<16>,
///         act: ReLU,
///         fc2: Linear<16, 4>,
///     }
/// }
///
/// /// Read, checked and laid out by the compiler.
/// static NET: Mlp = include_weights!(Mlp, "../tests/fixtures/torch/mlp.safetensors");
///
/// let mut state = Mlp::state::<Fixed<1>>(); // no allocator needed
/// let y = NET.forward(&[0.5; 6], &mut state)?;
/// assert_eq!(y.len(), 4);
/// assert_eq!(NET.bn.num_batches_tracked, 3); // int64 buffers too
/// # Ok::<(), ShapeError>(())
/// ```
///
/// # Arguments
/// `include_weights!(Type, "path")`, or `include_weights!(Type, "path", prefix = "name")`
/// for a model stored under `name.` in a larger file. The type must be concrete; the path
/// is relative to the file the macro is called in, as for `include_bytes!`.
///
/// # What is checked
/// Every tensor the model has must be in the file with its shape (PyTorch's layout) and
/// a dtype `f32` holds exactly (`F32`, or `F16` and `BF16`, widened); integer counters
/// (BatchNorm's `num_batches_tracked`) must be `I64` scalars; and every tensor in the file
/// (under the prefix) must be used. Anything else is a compile error that lists each
/// problem with the tensor's name and both shapes:
///
/// ```text
/// error[E0080]: evaluation panicked: the weights in `weights.safetensors` do not fit `Mlp` (2 problems):
///   - `fc1.weight`: the model has shape [16, 6], the file [16, 5]
///   - `fc2.bias` (shape [4]) is in the model but not in the file
/// ```
///
/// The names are the model's own (those [`Module::visit`]
/// gives, PyTorch's for the built-in layers). A file with other names (a
/// `torch.nn.Sequential`'s `0.weight`) loads at run time through a name mapping
/// (`monograd::nn::serialize::names`); saving that model writes a file this macro reads.
///
/// # How
/// The macro reads the file's header and declares a type for the file; the model's
/// [`Embed`](crate::core::embed::Embed) impl (built-in layers, `#[derive(Module)]`
/// structs and `network!` networks have one) builds the value during constant evaluation,
/// each layer finding its tensors by name. The file is an `include_bytes!`, so cargo
/// rebuilds the crate when it changes; the bytes themselves are only read by the compiler
/// and are not in the binary. The model's tensors are ordinary `f32` arrays of the
/// `static`, aligned as `f32`, read in place.
pub use monograd_macros::include_weights;

/// docs/FORMATS.md, whose Rust examples run as doctests.
#[cfg(all(doctest, feature = "safetensors"))]
#[doc = include_str!("../docs/FORMATS.md")]
pub struct FormatsMd;

/// docs/QUANTIZATION.md, whose Rust examples run as doctests.
#[cfg(all(doctest, feature = "quant", feature = "std"))]
#[doc = include_str!("../docs/QUANTIZATION.md")]
pub struct QuantizationMd;

/// docs/TUNING.md, whose Rust examples run as doctests.
#[cfg(all(doctest, feature = "tune"))]
#[doc = include_str!("../docs/TUNING.md")]
pub struct TuningMd;

/// docs/PRUNING.md, whose Rust examples run as doctests.
#[cfg(all(doctest, feature = "std"))]
#[doc = include_str!("../docs/PRUNING.md")]
pub struct PruningMd;
/// A device's memory budget checked by the compiler: `const _: () =
/// assert_budget!(Net::RAM_BYTES <= 4 * 1024);` fails the build with a message naming the
/// figure, its value and the budget (docs/EMBEDDED.md).
pub use monograd_core::assert_budget;

/// Not public API: the paths that code generated by `#[derive(Module)]` names.
#[doc(hidden)]
pub mod __private {
    pub use monograd_core;
    // What `network!`'s `#[quantize(Twin)]` generates names.
    #[cfg(feature = "quant")]
    pub use monograd_quant;
}

/// What a training program needs, in one `use monograd::prelude::*;`.
///
/// With the default features, that includes data sets and the [`Trainer`](crate::nn::train::Trainer):
///
/// ```
/// use monograd::prelude::*;
///
/// network! {
///     pub struct Xor {
///         input: [2],
///         fc1: Linear<2, 16>,
///         act: Tanh,
///         fc2: Linear<16, 2>,
///     }
/// }
///
/// // XOR of the signs of two inputs: not linearly separable.
/// let mut rng = Rng::seed(0);
/// let x: Vec<f32> = (0..2 * 400).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
/// let y: Vec<usize> = x.chunks(2).map(|p| usize::from((p[0] > 0.0) != (p[1] > 0.0))).collect();
/// let (train, val) = Dataset::new(x, y, 2)?.holdout(Holdout::Last(100))?;
///
/// let mut trainer = Trainer::new(Xor::new(&mut rng), Adam::new(0.02), CrossEntropyLoss::new())
///     .epochs(30)
///     .batch_size(32)
///     .schedule(CosineAnnealingLr::new(0.02, 30, 0.0), Every::Epoch)
///     .early_stopping(EarlyStopping::new(5));
/// let history = trainer.fit(&train, Some(&val), &mut ())?; // or &mut Progress::auto()
/// assert!(history.best().unwrap().val.unwrap().accuracy.unwrap() > 0.9, "{history}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod prelude {
    pub use monograd_core::kernels::gemm::PACK_LEN;
    #[cfg(feature = "alloc")]
    pub use monograd_core::storage::Heap;
    pub use monograd_core::storage::{Fixed, Storage};
    pub use monograd_core::Network;
    pub use monograd_core::{Batch, Ctx, Dual, Layer, Module, Rank1, Rank2, Rank3, Rng, Scalar, Shape, ShapeError};
    pub use monograd_macros::{include_weights, network, Module};
    #[cfg(feature = "data")]
    pub use monograd_nn::data::{Dataset, Holdout, Mnist, Normalize};
    #[cfg(feature = "parallel")]
    pub use monograd_nn::distributed::DataParallel;
    pub use monograd_nn::optim::clip::{clip_grad_norm, clip_grad_value};
    pub use monograd_nn::optim::schedule::{CosineAnnealingLr, ExponentialLr, LinearLr, StepLr};
    #[cfg(feature = "train")]
    pub use monograd_nn::train::{
        Callback, Chart, Checks, Control, EarlyStopping, Ema, Event, Every, Monitor, Progress, RandomShift, Trainer,
        Within,
    };
    pub use monograd_nn::{
        Adagrad, Adam, AdamW, BceWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, Loss, MseLoss, NllLoss,
        OptimError, Optimizer, RmsProp, Schedule, Scheduled, Sgd, StepError,
    };
    pub use monograd_nn::{
        Add, AvgPool2d, BatchNorm1d, BatchNorm2d, Concat, Conv1d, Conv2d, DepthwiseConv2d, Dropout, Embedding, Flatten,
        GlobalAvgPool2d, GroupedConv2d, LayerNorm, LeakyReLU, Linear, LinearNoBias, LogSoftmax, MaxPool2d, ReLU,
        Reshape, SeparableConv2d, SiLU, Sigmoid, Softmax, Softplus, Tanh, ELU, GELU,
    };
    pub use monograd_nn::{Permute, Transpose, Unflatten, Upsample, Upsample1d};
}
