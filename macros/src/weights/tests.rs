//! The macro's file checks and the run-time loader's accept and reject the same files:
//! one corpus of good and bad headers, all for a `BatchNorm1d<2>` (its four `F32 [2]`
//! tensors and the `I64` counter `num_batches_tracked`), through both.
//!
//! Every file of the corpus holds exactly the model's names, so that what differs between
//! the two is only what each checks of the file itself (the macro matches names and
//! shapes later, in constant evaluation; the loader is strict here).

use monograd_nn::serialize::safetensors::{load_bytes, LoadOptions};
use monograd_nn::BatchNorm1d;

use super::model::check;

/// One entry: name, dtype, shape, offsets; the header's JSON is written by hand so that
/// it can be wrong.
type Entry<'a> = (&'a str, &'a str, &'a str, (usize, usize));

fn file_from(header: &str, data: &[u8]) -> Vec<u8> {
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(data);
    f
}

fn header_of(entries: &[Entry<'_>], metadata: &str) -> String {
    let mut h = String::from("{");
    h.push_str(metadata);
    for (i, (name, dtype, shape, (b, e))) in entries.iter().enumerate() {
        if i > 0 || !metadata.is_empty() {
            h.push(',');
        }
        h.push_str(&format!(r#""{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{b},{e}]}}"#));
    }
    h.push('}');
    h
}

/// The good file's entries: counter first, then the four vectors, tiled.
fn good_entries() -> Vec<Entry<'static>> {
    vec![
        ("num_batches_tracked", "I64", "[]", (0, 8)),
        ("bias", "F32", "[2]", (8, 16)),
        ("running_mean", "F32", "[2]", (16, 24)),
        ("running_var", "F32", "[2]", (24, 32)),
        ("weight", "F32", "[2]", (32, 40)),
    ]
}

fn data(counter: i64) -> Vec<u8> {
    let mut d = counter.to_le_bytes().to_vec();
    for v in [0.5f32, -0.5, 0.0, 0.0, 1.0, 1.0, 2.0, 3.0] {
        d.extend_from_slice(&v.to_le_bytes());
    }
    d
}

/// (what, file, whether it is valid).
fn corpus() -> Vec<(&'static str, Vec<u8>, bool)> {
    let good = good_entries();
    let with = |f: &dyn Fn(&mut Vec<Entry<'static>>)| {
        let mut e = good_entries();
        f(&mut e);
        e
    };
    let mut c = vec![
        ("valid", file_from(&header_of(&good, ""), &data(5)), true),
        ("valid, metadata", file_from(&header_of(&good, r#""__metadata__":{"format":"pt"}"#), &data(0)), true),
        ("valid, largest count", file_from(&header_of(&good, ""), &data(i64::MAX)), true),
        ("valid, header padded with spaces", file_from(&(header_of(&good, "") + "   "), &data(1)), true),
        (
            "valid, F16 weight",
            {
                let e = with(&|e| e[4] = ("weight", "F16", "[2]", (32, 36)));
                let mut d = data(2);
                d.truncate(36);
                file_from(&header_of(&e, ""), &d)
            },
            true,
        ),
        ("negative counter", file_from(&header_of(&good, ""), &data(-3)), false),
        ("most negative counter", file_from(&header_of(&good, ""), &data(i64::MIN)), false),
        (
            "a name twice",
            {
                let e = with(&|e| e.push(("weight", "F32", "[2]", (40, 48))));
                let mut d = data(1);
                d.extend_from_slice(&[0; 8]);
                file_from(&header_of(&e, ""), &d)
            },
            false,
        ),
        (
            "the counter twice",
            {
                let e = with(&|e| e.push(("num_batches_tracked", "I64", "[]", (40, 48))));
                let mut d = data(1);
                d.extend_from_slice(&1i64.to_le_bytes());
                file_from(&header_of(&e, ""), &d)
            },
            false,
        ),
        (
            "overlapping offsets",
            file_from(&header_of(&with(&|e| e[2] = ("running_mean", "F32", "[2]", (12, 20))), ""), &data(1)),
            false,
        ),
        (
            "a gap",
            {
                let e = with(&|e| e[4] = ("weight", "F32", "[2]", (36, 44)));
                let mut d = data(1);
                d.extend_from_slice(&[0; 4]);
                file_from(&header_of(&e, ""), &d)
            },
            false,
        ),
        (
            "offsets that do not match the shape",
            file_from(&header_of(&with(&|e| e[4] = ("weight", "F32", "[3]", (32, 40))), ""), &data(1)),
            false,
        ),
        (
            "offsets backwards",
            file_from(&header_of(&with(&|e| e[4] = ("weight", "F32", "[2]", (40, 32))), ""), &data(1)),
            false,
        ),
        (
            "a shape whose size overflows",
            file_from(
                &header_of(&with(&|e| e[4] = ("weight", "F32", "[18446744073709551615,2]", (32, 40))), ""),
                &data(1),
            ),
            false,
        ),
        (
            "an unknown dtype",
            file_from(&header_of(&with(&|e| e[4] = ("weight", "X32", "[2]", (32, 40))), ""), &data(1)),
            false,
        ),
        (
            "a trailing byte",
            {
                let mut f = file_from(&header_of(&good, ""), &data(1));
                f.push(0);
                f
            },
            false,
        ),
        (
            "data cut short",
            {
                let mut f = file_from(&header_of(&good, ""), &data(1));
                f.pop();
                f
            },
            false,
        ),
        ("bad JSON", file_from(&header_of(&good, "").replace("]}", "]"), &data(1)), false),
        ("not a map", file_from("[1,2,3]", &data(1)), false),
        (
            "metadata twice",
            file_from(&header_of(&good, r#""__metadata__":{"a":"b"},"__metadata__":{"c":"d"}"#), &data(1)),
            false,
        ),
        ("metadata not strings", file_from(&header_of(&good, r#""__metadata__":{"a":1}"#), &data(1)), false),
        ("shorter than 8 bytes", vec![1, 0, 0], false),
    ];
    let mut claims_more = file_from(&header_of(&good, ""), &data(1));
    let n = claims_more.len() as u64;
    claims_more[..8].copy_from_slice(&n.to_le_bytes());
    c.push(("a header length past the file", claims_more, false));
    let mut claims_less = file_from(&header_of(&good, ""), &data(1));
    claims_less[..8].copy_from_slice(&10u64.to_le_bytes());
    c.push(("a header length inside the JSON", claims_less, false));
    c
}

#[test]
fn the_macro_and_the_run_time_loader_accept_and_reject_the_same_files() {
    let (mut rejected, mut accepted) = (0, 0);
    for (what, bytes, valid) in corpus() {
        let by_macro = check(&bytes, "corpus.safetensors");
        let mut bn = BatchNorm1d::<2, f32>::new();
        let at_run_time = load_bytes(&mut bn, &bytes, &LoadOptions::strict());
        assert_eq!(by_macro.is_ok(), valid, "{what}: the macro says {:?}", by_macro.err());
        assert_eq!(
            at_run_time.is_ok(),
            valid,
            "{what}: the loader says {:?}",
            at_run_time.err().map(|e| e.to_string())
        );
        if let (Err(m), Err(r)) = (&by_macro, &at_run_time) {
            rejected += 1;
            // Both say what is wrong; where the problem is the header's, in the same words.
            println!("{what}:\n  macro:  {m}\n  loader: {r}");
        }
        if valid {
            accepted += 1;
            let tensors = by_macro.unwrap();
            let counter = tensors.iter().find(|t| t.name == "num_batches_tracked").unwrap();
            assert_eq!(
                bn.num_batches_tracked,
                u64::from_le_bytes(bytes[counter.start..counter.end].try_into().unwrap())
            );
        }
    }
    assert_eq!((accepted, rejected), (5, 19));
}

#[test]
fn problems_in_the_header_read_as_the_loader_words_them() {
    let bytes = corpus().into_iter().find(|c| c.0 == "negative counter").unwrap().1;
    assert_eq!(
        check(&bytes, "w.safetensors").unwrap_err(),
        "`w.safetensors`: counter `num_batches_tracked` is -3, not a count"
    );
    let bytes = corpus().into_iter().find(|c| c.0 == "a name twice").unwrap().1;
    assert_eq!(
        check(&bytes, "w.safetensors").unwrap_err(),
        "`w.safetensors`: corrupt header: tensor `weight` appears twice"
    );
    let bytes = corpus().into_iter().find(|c| c.0 == "overlapping offsets").unwrap().1;
    assert_eq!(
        check(&bytes, "w.safetensors").unwrap_err(),
        "`w.safetensors`: corrupt header: tensor offsets overlap at byte 12"
    );
}
