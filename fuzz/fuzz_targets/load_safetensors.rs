//! Any bytes given to the safetensors loader: it must return `Ok` or `Err`, never panic,
//! never read or allocate beyond what the bytes hold, and never change the model when it
//! returns `Err`. When it loads, saving and loading again must give the same values, bit
//! for bit.
//!
//! The model has what the loader treats differently: several layers, a BatchNorm (an
//! int64 counter), a raw scalar parameter (shape `[]`) and a matrix; it is loaded as
//! `f32` and `f64`, strictly and leniently (with `F64` narrowing), and through
//! `torch.nn.Sequential` index names. The seed corpus (fuzz/corpus/load_safetensors/)
//! holds valid files of it, so the fuzzer starts from inputs that load.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monograd_core::module::Path;
use monograd_core::{Module, Scalar};
use monograd_nn::serialize::names::{NameMap, SameNames, Sequential};
use monograd_nn::serialize::safetensors::{self, Element, LoadOptions, SaveOptions};
use monograd_nn::{BatchNorm1d, Linear};

#[derive(Clone, Debug, PartialEq, monograd_macros::Module)]
#[module(crate = "monograd_core")]
struct Model<T: Scalar> {
    fc: Linear<3, 2, T>,
    bn: BatchNorm1d<2, T>,
    scale: T,
    table: [[T; 2]; 2],
}

fn empty<T: Scalar>() -> Model<T> {
    Model { fc: Linear::ZERO, bn: BatchNorm1d::new(), scale: T::ONE, table: [[T::ZERO; 2]; 2] }
}

/// Every tensor's values as bits, then the counters, in the model's order: equality that
/// NaN does not break. (Values only: the order is the model's, fixed, so the names would
/// add nothing but their cost, a string per tensor.)
fn fingerprint<T: Scalar, M: Module<T>>(m: &M) -> Vec<u64> {
    let mut out = Vec::new();
    m.visit(&Path::ROOT, &mut |t| out.extend(t.values.iter().map(|v| v.to_f64().to_bits())));
    m.visit_counters(&Path::ROOT, &mut |c| out.push(*c.value));
    out
}

fn check<T: Element>(data: &[u8], options: &LoadOptions<'_>, save: &SaveOptions<'_>) {
    let mut model = empty::<T>();
    let before = fingerprint(&model);
    match safetensors::load_bytes(&mut model, data, options) {
        Ok(_) => {
            let bytes = safetensors::to_bytes(&model, save).expect("a loaded model saves");
            let mut again = empty::<T>();
            safetensors::load_bytes(&mut again, &bytes, options).expect("a saved model loads");
            assert_eq!(fingerprint(&again), fingerprint(&model));
        }
        Err(e) => {
            assert_eq!(fingerprint(&model), before, "a failed load changed the model: {e}");
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let seq = Sequential::new(["fc", "bn", "scale", "table"]);
    let maps: [&dyn NameMap; 2] = [&SameNames, &seq];
    for names in maps {
        let save = SaveOptions::new().names(names);
        check::<f32>(data, &LoadOptions::strict().names(names), &save);
        check::<f32>(data, &LoadOptions::lenient().narrowing(true).names(names), &save);
        check::<f64>(data, &LoadOptions::strict().names(names), &save);
    }
});
