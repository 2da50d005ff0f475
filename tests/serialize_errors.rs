//! Nothing lost, nothing crashes: saves replace files atomically (a failure injected at
//! each stage leaves the previous file byte-identical), and hand-made bad files give
//! errors that say what is wrong (a missing or unexpected tensor, a wrong shape or type, a
//! truncated file, a corrupt header, an absurd header length), never a panic, and never
//! change the model.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use monograd::nn::serialize::atomic::{self, Stage};
use monograd::nn::serialize::safetensors::{self, LoadOptions, SaveOptions};
use monograd::nn::serialize::SerializeError;
use monograd::prelude::*;

#[derive(Clone, Debug, PartialEq, Module)]
struct Small {
    fc: Linear<3, 2>,
    bn: BatchNorm1d<2>,
}

fn small(seed: u64) -> Small {
    let mut bn = BatchNorm1d::new();
    bn.num_batches_tracked = seed;
    bn.running_mean = [seed as f32, -1.0];
    Small { fc: Linear::new(&mut Rng::seed(seed)), bn }
}

fn empty() -> Small {
    Small { fc: Linear::ZERO, bn: BatchNorm1d::ZERO }
}

/// A safetensors file from its header and data, as written by hand.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(data);
    f
}

/// Loads leaving the model unchanged on error, and returns the error.
fn load_err(bytes: &[u8], options: &LoadOptions) -> SerializeError {
    let mut m = small(1);
    let before = m.clone();
    let err = safetensors::load_bytes(&mut m, bytes, options).expect_err("a bad file must not load");
    assert_eq!(m, before, "a failed load changed the model ({err})");
    err
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("monograd-errors-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// The names in the directory, sorted.
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(&self.0).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_save_that_fails_at_any_stage_leaves_the_previous_file_byte_identical() {
    let dir = TempDir::new("stages");
    let path = dir.0.join("model.safetensors");
    safetensors::save(&small(1), &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let new = safetensors::to_bytes(&small(2), &SaveOptions::new()).unwrap();
    assert_ne!(before, new);

    for stage in Stage::ALL {
        // An error, as a full disk or a failing device would give.
        let mut seen = Vec::new();
        let err = atomic::write_with(&path, &new, |s| {
            seen.push(s);
            if s == stage {
                Err(io::Error::other(format!("injected at {s:?}")))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert!(err.to_string().contains("injected"), "{err}");
        assert_eq!(seen.last(), Some(&stage));
        assert_eq!(std::fs::read(&path).unwrap(), before, "after a failure at {stage:?}");
        assert_eq!(dir.entries(), ["model.safetensors"], "the temporary file is removed ({stage:?})");

        // A panic in the middle of a save (unwinding) does no more harm.
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            atomic::write_with(&path, &new, |s| if s == stage { panic!("crash at {s:?}") } else { Ok(()) })
        }));
        assert!(panicked.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before, "after a panic at {stage:?}");
        assert_eq!(dir.entries(), ["model.safetensors"]);
    }
    let mut m = empty();
    safetensors::load(&mut m, &path, &LoadOptions::strict()).unwrap();
    assert_eq!(m, small(1));

    // Without a failure, the new file replaces the old one, and nothing else is left.
    safetensors::save(&small(2), &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), new);
    assert_eq!(dir.entries(), ["model.safetensors"]);
}

#[test]
fn a_save_the_file_system_refuses_changes_nothing() {
    let dir = TempDir::new("refused");
    // The target is a directory: the rename fails, and the temporary file goes.
    let target = dir.0.join("taken");
    std::fs::create_dir(&target).unwrap();
    let err = safetensors::save(&small(1), &target).unwrap_err();
    assert!(matches!(&err, SerializeError::Io { path, .. } if path == &target), "{err}");
    assert_eq!(dir.entries(), ["taken"]);
    // A directory that does not exist.
    let err = safetensors::save(&small(1), dir.0.join("no/such/dir/model.safetensors")).unwrap_err();
    assert!(matches!(err, SerializeError::Io { .. }), "{err}");
    assert!(safetensors::save(&small(1), Path::new("/")).is_err());
}

#[cfg(unix)]
#[test]
fn a_save_keeps_the_permissions_of_the_file_it_replaces() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("perms");
    let path = dir.0.join("model.safetensors");
    safetensors::save(&small(1), &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    safetensors::save(&small(2), &path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
}

#[test]
fn saving_twice_gives_the_same_bytes() {
    let a = safetensors::to_bytes(&small(3), &SaveOptions::new()).unwrap();
    let b = safetensors::to_bytes(&small(3), &SaveOptions::new()).unwrap();
    assert_eq!(a, b);
    // Every tensor starts at a multiple of its element size.
    let n = u64::from_le_bytes(a[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "the header is padded to 8 bytes");
}

#[test]
fn a_missing_tensor_is_named_with_what_the_file_has_instead() {
    let valid = safetensors::to_bytes(&small(1), &SaveOptions::new()).unwrap();
    // Saved from a model without `bn`: the file lacks four tensors and the counter.
    let fc_only = safetensors::to_bytes(&small(1).fc, &SaveOptions::new().names(&|n: &str| format!("fc.{n}"))).unwrap();
    let err = load_err(&fc_only, &LoadOptions::strict());
    let SerializeError::Missing { names, unexpected, .. } = &err else { panic!("{err}") };
    assert_eq!(names, &["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]);
    assert!(unexpected.is_empty());
    assert_eq!(
        err.to_string(),
        "<memory>: 5 tensors missing from the file: `bn.weight`, `bn.bias`, `bn.running_mean`, \
         `bn.running_var`, `bn.num_batches_tracked`"
    );
    // Under other names: the error lists them, which is what a name map needs.
    let err = load_err(&valid, &LoadOptions::lenient().names(&|n: &str| format!("model.{n}")));
    let SerializeError::Missing { names, unexpected, .. } = &err else { panic!("{err}") };
    assert_eq!((names.len(), unexpected.len()), (7, 7));
    assert!(err.to_string().contains("; the file has instead `"), "{err}");
}

#[test]
fn an_unexpected_tensor_is_an_error_when_strict_and_listed_when_lenient() {
    let header = r#"{"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},"extra.scale":{"dtype":"F32","shape":[1],"data_offsets":[32,36]}}"#;
    let data: Vec<u8> = (0..9).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let bytes = file(header, &data);
    let mut fc = Linear::<3, 2>::ZERO;
    let err = safetensors::load_bytes(&mut fc, &bytes, &LoadOptions::strict()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<memory>: 1 tensor in the file that the model does not have: `extra.scale` (load leniently to ignore them)"
    );
    assert_eq!(fc, Linear::ZERO);
    let report = safetensors::load_bytes(&mut fc, &bytes, &LoadOptions::lenient()).unwrap();
    assert_eq!(report.ignored, ["extra.scale"]);
    assert_eq!(report.loaded, ["weight", "bias"]);
    assert_eq!(fc.weight, [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]);
    assert_eq!(fc.bias, [6.0, 7.0]);
}

#[test]
fn a_shape_mismatch_names_the_tensor_and_both_shapes() {
    let bytes = safetensors::to_bytes(&Linear::<4, 2>::new(&mut Rng::seed(0)), &SaveOptions::new()).unwrap();
    let mut fc = Linear::<3, 2>::ZERO;
    let err = safetensors::load_bytes(&mut fc, &bytes, &LoadOptions::strict()).unwrap_err();
    assert!(matches!(&err, SerializeError::Shape { name, expected, found, .. }
        if name == "weight" && expected == &[2, 3] && found == &[2, 4]));
    assert_eq!(err.to_string(), "<memory>: tensor `weight`: the model has shape [2, 3], the file [2, 4]");
    // The same element count in another shape is still a mismatch.
    let header = r#"{"weight":{"dtype":"F32","shape":[6],"data_offsets":[0,24]},"bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}"#;
    let err = safetensors::load_bytes(&mut fc, &file(header, &[0; 32]), &LoadOptions::strict()).unwrap_err();
    assert_eq!(err.to_string(), "<memory>: tensor `weight`: the model has shape [2, 3], the file [6]");
    // A counter is a scalar, shape [].
    let header = r#"{"num_batches_tracked":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"weight":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},"running_mean":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},"running_var":{"dtype":"F32","shape":[2],"data_offsets":[32,40]}}"#;
    let mut bn = BatchNorm1d::<2>::ZERO;
    let err = safetensors::load_bytes(&mut bn, &file(header, &[0; 40]), &LoadOptions::strict()).unwrap_err();
    assert_eq!(err.to_string(), "<memory>: tensor `num_batches_tracked`: the model has shape [], the file [1]");
}

#[test]
fn a_dtype_mismatch_says_what_was_expected() {
    let header = r#"{"weight":{"dtype":"I32","shape":[2,3],"data_offsets":[0,24]},"bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}"#;
    let bytes = file(header, &[0; 32]);
    let mut fc = Linear::<3, 2>::ZERO;
    let err = safetensors::load_bytes(&mut fc, &bytes, &LoadOptions::strict()).unwrap_err();
    assert_eq!(err.to_string(), "<memory>: tensor `weight`: expected F32 (or F16, BF16), the file has I32");
    let mut fc64 = Linear::<3, 2, f64>::ZERO;
    let err = safetensors::load_bytes(&mut fc64, &bytes, &LoadOptions::strict()).unwrap_err();
    assert_eq!(err.to_string(), "<memory>: tensor `weight`: expected F64 (or F32, F16, BF16), the file has I32");

    // A float counter; a negative one.
    let bn = |dtype: &str, count: [u8; 8]| {
        let header = format!(
            r#"{{"num_batches_tracked":{{"dtype":"{dtype}","shape":[],"data_offsets":[0,8]}},"weight":{{"dtype":"F32","shape":[2],"data_offsets":[8,16]}},"bias":{{"dtype":"F32","shape":[2],"data_offsets":[16,24]}},"running_mean":{{"dtype":"F32","shape":[2],"data_offsets":[24,32]}},"running_var":{{"dtype":"F32","shape":[2],"data_offsets":[32,40]}}}}"#
        );
        let mut data = count.to_vec();
        data.extend([0; 32]);
        file(&header, &data)
    };
    let mut layer = BatchNorm1d::<2>::new();
    let err = safetensors::load_bytes(&mut layer, &bn("F64", 1f64.to_le_bytes()), &LoadOptions::strict()).unwrap_err();
    assert_eq!(err.to_string(), "<memory>: tensor `num_batches_tracked`: expected I64, the file has F64");
    let err =
        safetensors::load_bytes(&mut layer, &bn("I64", (-3i64).to_le_bytes()), &LoadOptions::strict()).unwrap_err();
    assert_eq!(err.to_string(), "<memory>: counter `num_batches_tracked` is -3, not a count");
    assert_eq!(layer, BatchNorm1d::new());
    safetensors::load_bytes(&mut layer, &bn("I64", 42i64.to_le_bytes()), &LoadOptions::strict()).unwrap();
    assert_eq!(layer.num_batches_tracked, 42);
}

#[test]
fn truncated_files_are_errors_at_every_length() {
    let valid = safetensors::to_bytes(&small(1), &SaveOptions::new()).unwrap();
    let n = u64::from_le_bytes(valid[..8].try_into().unwrap());
    for len in 0..valid.len() {
        let err = load_err(&valid[..len], &LoadOptions::strict());
        match len {
            0..8 => assert!(matches!(err, SerializeError::Truncated { expected: 8, .. }), "{len}: {err}"),
            // The header's length is checked against the file before the header is read.
            _ if (len as u64) < 8 + n => {
                assert!(matches!(err, SerializeError::HeaderLength { claimed, .. } if claimed == n), "{len}: {err}")
            }
            _ => assert!(
                matches!(err, SerializeError::Truncated { expected, found, .. }
                    if expected == valid.len() as u64 && found == len as u64),
                "{len}: {err}"
            ),
        }
    }
    let err = load_err(&valid[..valid.len() - 3], &LoadOptions::strict());
    assert_eq!(
        err.to_string(),
        format!("<memory>: truncated: the header describes {} bytes, the file holds {}", valid.len(), valid.len() - 3)
    );
    let mut longer = valid.clone();
    longer.push(0);
    let err = load_err(&longer, &LoadOptions::strict());
    assert!(matches!(err, SerializeError::TrailingData { .. }), "{err}");
}

#[test]
fn an_absurd_header_length_is_refused_before_anything_is_read() {
    for claimed in [u64::MAX, 1 << 62, 1 << 40, 100_000_001, 1_000] {
        let mut bytes = claimed.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        let err = load_err(&bytes, &LoadOptions::strict());
        assert!(matches!(err, SerializeError::HeaderLength { claimed: c, limit: 2, .. } if c == claimed), "{err}");
    }
    let err = load_err(&(1u64 << 40).to_le_bytes(), &LoadOptions::strict());
    assert_eq!(
        err.to_string(),
        "<memory>: not a safetensors file: its header length is 1099511627776 bytes, more than the 0 possible"
    );
}

#[test]
fn a_corrupt_header_is_an_error_that_says_why() {
    let cases: &[(&[u8], &str)] = &[
        (b"\xff\xfe{}", "expected value"),
        (b"{\"w\xffx\": {}}", "invalid unicode"),
        (b"", "EOF while parsing"),
        (b"{\"weight\":", "EOF while parsing"),
        (b"[1, 2, 3]", "invalid type"),
        (b"{\"weight\": {\"dtype\": \"F33\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "unknown variant `F33`"),
        (b"{\"weight\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", "invalid value"),
        // Offsets that leave a gap, overlap, or do not match the shape.
        (b"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", "offsets leave a gap at byte 0"),
        (
            b"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
            "offsets overlap at byte 4",
        ),
        (b"{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", "which takes 12 bytes"),
        // Sizes that overflow.
        (
            b"{\"a\": {\"dtype\": \"F64\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 8]}}",
            "overflows",
        ),
        (b"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 18446744073709551615]}}", "which takes 4 bytes"),
        // A name twice; sub-byte types that end inside a byte.
        (
            b"{\"fc.bias\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}, \"fc.bias\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}",
            "appears twice",
        ),
        (b"{\"a\": {\"dtype\": \"F4\", \"shape\": [3], \"data_offsets\": [0, 2]}}", "not whole bytes"),
        (b"{\"__metadata__\": {}, \"__metadata__\": {}}", "appears twice"),
        (b"{\"__metadata__\": {\"format\": 1}}", "invalid type"),
    ];
    for (header, why) in cases {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        let err = load_err(&bytes, &LoadOptions::strict());
        let SerializeError::CorruptHeader { reason, .. } = &err else {
            panic!("{}: {err}", String::from_utf8_lossy(header))
        };
        assert!(reason.contains(why), "{}: {reason}", String::from_utf8_lossy(header));
        assert!(err.to_string().starts_with("<memory>: corrupt header: "));
    }
    // A header that claims more data than the file has: truncated, nothing allocated for it.
    let header = r#"{"weight":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}}"#;
    let err = load_err(&file(header, &[0; 16]), &LoadOptions::strict());
    assert!(matches!(err, SerializeError::Truncated { expected, .. } if expected > 1 << 42), "{err}");
}

#[test]
fn every_single_bit_flip_of_a_valid_file_loads_or_errs_without_panicking() {
    let valid = safetensors::to_bytes(&small(1), &SaveOptions::new()).unwrap();
    let (mut loaded, mut failed) = (0, 0);
    for i in 0..valid.len() {
        for bit in 0..8 {
            let mut bytes = valid.clone();
            bytes[i] ^= 1 << bit;
            for options in [LoadOptions::strict(), LoadOptions::lenient().narrowing(true)] {
                let mut m = small(5);
                let before = m.clone();
                match safetensors::load_bytes(&mut m, &bytes, &options) {
                    Ok(_) => loaded += 1,
                    Err(_) => {
                        assert_eq!(m, before);
                        failed += 1
                    }
                }
            }
        }
    }
    // Flips in the data load (other values); most flips in the header do not.
    assert!(loaded > 0 && failed > 0, "{loaded} {failed}");
}

#[test]
fn two_names_mapped_to_one_are_refused_both_ways() {
    let collide = |n: &str| if n.starts_with("bn.running") { "bn.stats".to_string() } else { n.to_string() };
    let err = safetensors::to_bytes(&small(1), &SaveOptions::new().names(&collide)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<memory>: the model's `bn.running_mean` and `bn.running_var` both map to `bn.stats` in the file"
    );
    let valid = safetensors::to_bytes(&small(1), &SaveOptions::new()).unwrap();
    let err = load_err(&valid, &LoadOptions::lenient().names(&collide));
    assert!(matches!(err, SerializeError::DuplicateName { .. }), "{err}");
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let mut m = empty();
    let err = safetensors::load(&mut m, "no/such/model.safetensors", &LoadOptions::strict()).unwrap_err();
    assert!(err.to_string().starts_with("no/such/model.safetensors: "), "{err}");
    assert!(matches!(&err, SerializeError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound));
}

/// The model of the fuzz target (fuzz/fuzz_targets/load_safetensors.rs).
#[derive(Clone, Debug, PartialEq, Module)]
struct FuzzModel<T: Scalar> {
    fc: Linear<3, 2, T>,
    bn: BatchNorm1d<2, T>,
    scale: T,
    table: [[T; 2]; 2],
}

#[test]
fn the_fuzz_seeds_load_so_the_fuzzer_starts_from_valid_files() {
    use monograd::nn::serialize::names::Sequential;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/load_safetensors");
    let seq = Sequential::new(["fc", "bn", "scale", "table"]);
    for (file, options) in [
        ("f32.safetensors", LoadOptions::strict()),
        ("f64.safetensors", LoadOptions::strict().narrowing(true)),
        ("f16.safetensors", LoadOptions::strict()),
        ("sequential.safetensors", LoadOptions::strict().names(&seq)),
        ("extra.safetensors", LoadOptions::lenient()),
    ] {
        let mut m = FuzzModel { fc: Linear::ZERO, bn: BatchNorm1d::ZERO, scale: 0.0f32, table: [[0.0; 2]; 2] };
        safetensors::load(&mut m, dir.join(file), &options).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((m.scale, m.bn.num_batches_tracked), (1.5, 3), "{file}");
    }
}
