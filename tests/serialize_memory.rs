//! Loading never takes more memory than the file's size plus the model's, whatever the
//! header claims: a counting allocator measures the peak of every load, from files with
//! absurd header lengths, tensors of claimed terabytes, and a valid 4 MB file.
//!
//! One test in its own binary, so that no other test allocates while it measures.

use monograd::nn::serialize::safetensors::{self, LoadOptions, SaveOptions};
use monograd::prelude::*;

mod common;

#[global_allocator]
static ALLOCATOR: common::Counting = common::Counting;

/// Bytes of bookkeeping a load may use beyond the file and the model: names, the parsed
/// header's maps, the error.
const SLACK: usize = 16 * 1024;

type Big = Linear<512, 512>;

/// The peak memory of loading `bytes` from a file into `model`, above what was in use
/// before; and whether it loaded.
fn peak_of_load<M: Module<f32>>(
    path: &std::path::Path,
    bytes: &[u8],
    model: &mut M,
    options: &LoadOptions,
) -> (usize, bool) {
    std::fs::write(path, bytes).unwrap();
    let (peak, loaded) = common::peak_of(|| safetensors::load(model, path, options));
    (peak, loaded.is_ok())
}

/// A `Big` of zeros straight on the heap (1 MB would not fit a test thread's stack in a
/// debug build).
fn zeroed() -> Box<Big> {
    // SAFETY: `Linear` is two arrays of f32, for which all-zero bits are 0.0.
    unsafe { Box::<Big>::new_zeroed().assume_init() }
}

fn file(header: &str, data_len: usize) -> Vec<u8> {
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.resize(f.len() + data_len, 0);
    f
}

#[test]
fn loading_takes_at_most_the_file_plus_the_model_whatever_the_header_claims() {
    let dir = std::env::temp_dir().join(format!("monograd-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let mut model = zeroed();
    let model_bytes = std::mem::size_of::<Big>();

    let absurd_length = |n: u64| {
        let mut f = n.to_le_bytes().to_vec();
        f.extend_from_slice(&[b' '; 56]);
        f
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a header length of 2^64 - 1", absurd_length(u64::MAX)),
        ("a header length of 2^40", absurd_length(1 << 40)),
        ("a header length of 99 MB", absurd_length(99_000_000)),
        (
            "a weight of claimed 4 TB",
            file(r#"{"weight":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4398046511104]}}"#, 64),
        ),
        (
            "the model's shapes, data cut short",
            file(
                r#"{"weight":{"dtype":"F32","shape":[512,512],"data_offsets":[0,1048576]},"bias":{"dtype":"F32","shape":[512],"data_offsets":[1048576,1050624]}}"#,
                100,
            ),
        ),
        ("a header of 10,000 tiny tensors", {
            let body: Vec<String> = (0..10_000)
                .map(|i| format!(r#""t{i}":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{}]}}"#, i + 1))
                .collect();
            file(&format!("{{{}}}", body.join(",")), 10_000)
        }),
    ];
    for (what, bytes) in &cases {
        let (peak, ok) = peak_of_load(&path, bytes, &mut *model, &LoadOptions::strict());
        assert!(!ok, "{what} must not load");
        assert!(
            peak <= bytes.len() + model_bytes + SLACK,
            "{what}: peak {peak} bytes for a file of {} bytes and a model of {model_bytes}",
            bytes.len()
        );
        eprintln!("{what}: peak {peak} bytes, file {} bytes", bytes.len());
        // Garbage claims cost nothing like the model: nothing is allocated for them.
        if bytes.len() < 1024 {
            assert!(peak <= SLACK, "{what}: peak {peak}");
        }
    }

    // Loaded leniently, a file of 10,000 tiny tensors besides a small model's: the names of
    // the ignored ones are the report, and still take less than the file.
    let fc = Linear::<2, 2>::new(&mut Rng::seed(1));
    let mut bytes = safetensors::to_bytes(&fc, &SaveOptions::new()).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let data = bytes.split_off(8 + n);
    let header = std::str::from_utf8(&bytes[8..]).unwrap().trim_end();
    let extra: Vec<String> = (0..10_000)
        .map(|i| {
            format!(r#""t{i}":{{"dtype":"U8","shape":[1],"data_offsets":[{},{}]}}"#, data.len() + i, data.len() + i + 1)
        })
        .collect();
    let mut f = file(&format!("{},{}}}", &header[..header.len() - 1], extra.join(",")), 0);
    f.extend_from_slice(&data);
    f.resize(f.len() + 10_000, 7);
    let mut small = Linear::<2, 2>::ZERO;
    let (peak, ok) = peak_of_load(&path, &f, &mut small, &LoadOptions::lenient());
    assert!(ok && small == fc);
    assert!(peak <= f.len() + SLACK, "lenient: peak {peak} bytes for a file of {} bytes", f.len());
    eprintln!("lenient, 10,000 ignored tensors: peak {peak} bytes, file {} bytes", f.len());

    // A valid file of the model's size: one copy of the values and one tensor's bytes.
    let mut trained = zeroed();
    trained.init(&mut Rng::seed(0));
    let bytes = safetensors::to_bytes(&*trained, &SaveOptions::new()).unwrap();
    let (peak, ok) = peak_of_load(&path, &bytes, &mut *model, &LoadOptions::strict());
    assert!(ok);
    assert!(model.weight == trained.weight && model.bias == trained.bias);
    assert!(
        peak <= bytes.len() + model_bytes + SLACK,
        "peak {peak} bytes for a file of {} bytes and a model of {model_bytes}",
        bytes.len()
    );
    eprintln!("valid: peak {peak} bytes, file {} bytes, model {model_bytes} bytes", bytes.len());
    std::fs::remove_dir_all(&dir).unwrap();
}
