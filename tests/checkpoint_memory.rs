//! Loading a checkpoint never takes more memory than the file's size plus the model's and
//! the optimizer state's, whatever the header claims: a counting allocator measures the
//! peak of every load, from files with absurd header lengths, tensors of claimed
//! terabytes, metadata strings that run on past the header, and valid checkpoints (with a
//! megabyte of metadata of their own, or 20,000 entries of it, each of which may take up
//! to `PER_USER_ENTRY` bytes more than its text: the run's map returns them).
//!
//! One test in its own binary, so that no other test allocates while it measures.

use monograd::nn::serialize::checkpoint::{self, RunState};
use monograd::prelude::*;

mod common;

#[global_allocator]
static ALLOCATOR: common::Counting = common::Counting;

network! {
    /// About 280 KB of weights, with every kind of checkpointed state.
    pub struct Net {
        input: [256],
        fc: Linear<256, 256>,
        bn: BatchNorm1d<256>,
        act: ReLU,
        drop: Dropout,
        head: Linear<256, 10>,
    }
}

type Optim = Adam<f32, Vec<f32>>;

/// Bytes of bookkeeping a load may use beyond the file, the model and the optimizer's
/// state: names and shapes of the wanted entries, the offsets of every tensor, the run's
/// metadata, the error.
const SLACK: usize = 32 * 1024;

/// What an entry of your own (`user.KEY`) may take beyond its text in the file: its place
/// in the list of the header's metadata and in the map [`RunState::metadata`] returns it in.
const PER_USER_ENTRY: usize = 128;

/// Adam's two moments, which a fresh optimizer allocates on load.
const OPTIMIZER_BYTES: usize = 2 * <Net as Module<f32>>::PARAMS * 4;

/// The peak memory of loading `bytes` from a file into a fresh model and Adam, above what
/// was in use before; and whether it loaded.
fn peak_of_load(path: &std::path::Path, bytes: &[u8], net: &mut Net) -> (usize, bool) {
    std::fs::write(path, bytes).unwrap();
    let mut adam: Optim = Adam::new(0.0);
    let (peak, loaded) = common::peak_of(|| checkpoint::load(net, &mut adam, path));
    if let Err(e) = &loaded {
        eprintln!("  {e}");
    }
    (peak, loaded.is_ok())
}

/// The same from the bytes in memory.
fn peak_of_load_bytes(bytes: &[u8], net: &mut Net) -> (usize, bool) {
    let mut adam: Optim = Adam::new(0.0);
    let (peak, loaded) = common::peak_of(|| checkpoint::load_bytes(net, &mut adam, bytes));
    (peak, loaded.is_ok())
}

fn file(header: &str, data_len: usize) -> Vec<u8> {
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.resize(f.len() + data_len, 0);
    f
}

/// The length of a header's longest string (these headers have no escapes), or of one
/// that runs to the header's end.
fn longest_string(bytes: &[u8]) -> usize {
    let n = bytes.get(..8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()) as usize);
    let header = bytes.get(8..).map_or(&[][..], |h| &h[..n.min(h.len())]);
    header.split(|&b| b == b'"').skip(1).step_by(2).map(<[u8]>::len).max().unwrap_or(0)
}

/// A checkpoint of a trained model and Adam, with `run`.
fn valid(run: &RunState) -> Vec<u8> {
    let mut net: Box<Net> = Box::new(Net::new(&mut Rng::seed(0)));
    let mut adam: Optim = Adam::new(1e-3);
    let grad: Box<Net> = Box::new(Net::new(&mut Rng::seed(1)));
    adam.step(&mut *net, &*grad);
    checkpoint::to_bytes(&*net, &adam, run).unwrap()
}

#[test]
fn loading_a_checkpoint_takes_at_most_the_file_plus_the_model_and_optimizer_whatever_the_header_claims() {
    // A debug build moves the model by value more than a test thread's stack holds.
    let run = std::thread::Builder::new().stack_size(64 << 20).spawn(measure).unwrap();
    run.join().unwrap();
}

fn measure() {
    let dir = std::env::temp_dir().join(format!("monograd-ckpt-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.ckpt.safetensors");
    let mut net = Box::new(Net::new(&mut Rng::seed(42)));
    let model_bytes = std::mem::size_of::<Net>();
    // A checkpoint's metadata, with `more` entries of its own.
    let meta_with = |more: &str| {
        format!(
            r#""__metadata__":{{"format":"pt","monograd.checkpoint":"1","optimizer.kind":"Adam","optimizer.lr":"0.001","run.step":"1","run.epoch":"0","run.position":"0","run.shuffle_seed":"0"{more}"#
        )
    };
    let meta = meta_with("}");

    let absurd_length = |n: u64| {
        let mut f = n.to_le_bytes().to_vec();
        f.extend_from_slice(&[b' '; 56]);
        f
    };
    let good = valid(&RunState::default());
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let note = "x".repeat(1 << 20);
    let many = 20_000;
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("a header length of 2^64 - 1", absurd_length(u64::MAX), false),
        ("a header length of 2^40", absurd_length(1 << 40), false),
        ("a header length of 99 MB", absurd_length(99_000_000), false),
        (
            "a weight of claimed 4 TB",
            file(
                &format!(
                    r#"{{{meta},"fc.weight":{{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4398046511104]}}}}"#
                ),
                64,
            ),
            false,
        ),
        (
            "Adam's moment of claimed 4 TB",
            file(
                &format!(
                    r#"{{{meta},"optimizer.exp_avg.fc.weight":{{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4398046511104]}}}}"#
                ),
                64,
            ),
            false,
        ),
        ("a valid header, its data cut short", good[..8 + header_len + 100].to_vec(), false),
        (
            "a metadata string claimed past a header of 99 MB",
            {
                let mut f = file(&format!(r#"{{"__metadata__":{{"user.note":"{}"#, &note[..1000]), 0);
                f[..8].copy_from_slice(&99_000_000u64.to_le_bytes());
                f
            },
            false,
        ),
        (
            "a metadata string of 1 MB that never ends",
            file(&format!("{{{}", meta_with(&format!(r#","user.note":"{note}"#))), 0),
            false,
        ),
        (
            "a metadata value of 1 MB that is not a string",
            file(&format!("{{{}}}", meta_with(&format!(r#","user.note":[{}0]}}"#, "0,".repeat(1 << 19)))), 0),
            false,
        ),
        ("a valid checkpoint", good.clone(), true),
        (
            "a valid checkpoint with 1 MB of metadata of its own",
            valid(&RunState { metadata: [("note".to_owned(), note.clone())].into(), ..RunState::default() }),
            true,
        ),
        (
            "a valid checkpoint with 20,000 metadata entries of its own",
            valid(&RunState {
                metadata: (0..many).map(|i| (format!("k{i}"), String::new())).collect(),
                ..RunState::default()
            }),
            true,
        ),
    ];
    for (i, (what, bytes, loads)) in cases.iter().enumerate() {
        let entries = if i + 1 == cases.len() { many } else { 0 };
        let bound = bytes.len() + model_bytes + OPTIMIZER_BYTES + SLACK + entries * PER_USER_ENTRY;
        // Parsing from a file, serde_json gathers each string in a buffer that grows by
        // doubling: up to twice the longest.
        let longest = longest_string(bytes);
        let (peak, ok) = peak_of_load(&path, bytes, &mut net);
        assert_eq!(ok, *loads, "{what}");
        let file_bound = bound + 2 * longest;
        eprintln!("{what}: peak {peak} bytes from a file of {} bytes (bound {file_bound})", bytes.len());
        assert!(peak <= file_bound, "{what}: peak {peak} bytes, more than {file_bound}");
        let (peak, ok) = peak_of_load_bytes(bytes, &mut net);
        assert_eq!(ok, *loads, "{what}");
        eprintln!("{what}: peak {peak} bytes from memory (bound {bound})");
        assert!(peak <= bound, "{what}, from memory: peak {peak} bytes, more than {bound}");
        // Garbage claims cost nothing like the model: nothing is allocated for them.
        if bytes.len() < 1024 {
            assert!(peak <= SLACK, "{what}: peak {peak}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
