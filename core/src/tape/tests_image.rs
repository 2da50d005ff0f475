//! The tape's image, sequence and layout ops through the gradient-check helper (reverse
//! mode against finite differences and against forward mode on a tape of dual numbers),
//! and their errors.

use alloc::string::ToString;
use alloc::vec;

use super::testing::{check, Case, Recorder};
use super::*;
use crate::gradcheck::GradCase;
use crate::ops::pool::tests::distinct;
use crate::ops::testing::gradcheck;
use crate::ops::unary::Tanh;

struct Conv2d(ConvOptions, bool);
impl Recorder for Conv2d {
    fn record<T: Scalar>(&self, t: &mut Tape<T>, v: &[Var]) -> Result<Var, ShapeError> {
        t.conv2d(v[0], v[1], self.1.then(|| v[2]), self.0)
    }
}

struct Conv1d(ConvOptions);
impl Recorder for Conv1d {
    fn record<T: Scalar>(&self, t: &mut Tape<T>, v: &[Var]) -> Result<Var, ShapeError> {
        t.conv1d(v[0], v[1], Some(v[2]), self.0)
    }
}

#[test]
fn convolutions_pass_the_gradient_check() {
    let o = ConvOptions::default();
    // Grouped, strided, padded, dilated, a rectangular kernel, with bias.
    let grouped = o.groups(2).stride(2).padding(1).dilation(2);
    check(&Case::new("tape/conv2d/grouped", &[&[2, 4, 5, 6], &[6, 2, 3, 2], &[6]], Conv2d(grouped, true)), 201);
    // Plain, without bias: im2col and GEMM.
    check(&Case::new("tape/conv2d", &[&[2, 3, 6, 5], &[4, 3, 3, 3]], Conv2d(o, false)), 202);
    // Depthwise: one channel per group, padding 1.
    let dw = o.groups(3).padding(1);
    check(&Case::new("tape/conv2d/depthwise", &[&[2, 3, 4, 4], &[3, 1, 3, 3], &[3]], Conv2d(dw, true)), 203);
    // A 1x1 kernel reads the input as its column matrix.
    check(&Case::new("tape/conv2d/pointwise", &[&[2, 3, 2, 3], &[2, 3, 1, 1], &[2]], Conv2d(o, true)), 204);
    let line = o.stride(2).padding(1).dilation(2);
    check(&Case::new("tape/conv1d", &[&[2, 2, 9], &[3, 2, 3], &[3]], Conv1d(line)), 205);
}

struct Pool(&'static str, usize, usize);
impl Recorder for Pool {
    fn record<T: Scalar>(&self, t: &mut Tape<T>, v: &[Var]) -> Result<Var, ShapeError> {
        match self.0 {
            "max" => t.max_pool2d(v[0], self.1, self.2),
            "avg" => t.avg_pool2d(v[0], self.1, self.2),
            _ => t.global_avg_pool2d(v[0]),
        }
    }
}

#[test]
fn poolings_pass_the_gradient_check() {
    // Max pooling on distinct values, so that no maximum changes place within a step.
    for (i, (k, s)) in [(2, 2), (3, 2)].into_iter().enumerate() {
        let case = Case::new("tape/max_pool2d", &[&[2, 2, 7, 5]], Pool("max", k, s));
        gradcheck(&case, &distinct(210 + i as u64, case.input_len()), 210 + i as u64);
    }
    check(&Case::new("tape/avg_pool2d", &[&[2, 2, 4, 6]], Pool("avg", 2, 2)), 212);
    check(&Case::new("tape/avg_pool2d/overlapping", &[&[2, 2, 5, 5]], Pool("avg", 3, 1)), 213);
    check(&Case::new("tape/global_avg_pool2d", &[&[2, 3, 4, 5]], Pool("global", 0, 0)), 214);
}

/// Concatenates `a` and `b` by channels, flattens, reshapes and squashes: every layout op.
struct Layout;
impl Recorder for Layout {
    fn record<T: Scalar>(&self, t: &mut Tape<T>, v: &[Var]) -> Result<Var, ShapeError> {
        let c = t.concat(v[0], v[1])?;
        let f = t.flatten(c);
        let r = t.reshape(f, [4, 6])?;
        let s = t.unary(Tanh, r);
        let back = t.reshape(s, [2, 12])?;
        t.concat(back, v[2])
    }
}

#[test]
fn layout_ops_pass_the_gradient_check() {
    check(&Case::new("tape/layout", &[&[2, 1, 2, 2], &[2, 2, 2, 2], &[2, 3]], Layout), 220);
}

#[test]
fn layout_ops_keep_the_values() {
    let mut t = Tape::<f64>::new();
    let a = t.leaf(vec![1.0, 2.0, 3.0, 4.0], [2, 1, 1, 2]).unwrap();
    let b = t.leaf(vec![5.0, 6.0, 7.0, 8.0], [2, 1, 1, 2]).unwrap();
    let c = t.concat(a, b).unwrap();
    assert_eq!(t.shape(c), [2, 2, 1, 2]);
    assert_eq!(t.value(c), [1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 8.0]);
    let f = t.flatten(c);
    assert_eq!((t.shape(f), t.value(f)), (&[2, 4][..], t.value(c)));
}

/// A small convolutional network recorded with every image op, checked on a tape of
/// duals against finite differences and reverse mode, as the LeNet test checks a larger
/// one against the generated code.
struct SmallCnn;
impl Recorder for SmallCnn {
    fn record<T: Scalar>(&self, t: &mut Tape<T>, v: &[Var]) -> Result<Var, ShapeError> {
        let [x, w1, b1, w2, w3, b3] = [v[0], v[1], v[2], v[3], v[4], v[5]];
        let o = ConvOptions::default();
        let h = t.conv2d(x, w1, Some(b1), o.padding(1))?;
        let h = t.unary(Tanh, h);
        let h = t.avg_pool2d(h, 2, 2)?;
        let h = t.conv2d(h, w2, None, o.groups(3).padding(1))?;
        let g = t.global_avg_pool2d(h)?;
        let flat = t.flatten(h);
        let z = t.linear(flat, w3, Some(b3))?;
        let z = t.concat(z, g)?;
        t.cross_entropy(z, &[1, 4])
    }
}

#[test]
fn a_small_convolutional_network_passes_the_gradient_check() {
    let shapes: [&[usize]; 6] = [&[2, 2, 6, 6], &[3, 2, 3, 3], &[3], &[3, 1, 3, 3], &[2, 27], &[2]];
    check(&Case::new("tape/small_cnn", &shapes, SmallCnn), 230);
}

#[test]
fn bad_image_shapes_and_settings_are_errors_not_panics() {
    let mut t = Tape::<f64>::new();
    let x = t.leaf(vec![0.0; 2 * 4 * 5 * 5], [2, 4, 5, 5]).unwrap();
    let flat = t.leaf(vec![0.0; 8], [2, 4]).unwrap();
    let w = t.leaf(vec![0.0; 6 * 2 * 3 * 3], [6, 2, 3, 3]).unwrap();
    let b5 = t.leaf(vec![0.0; 5], [5]).unwrap();
    let o = ConvOptions::default();
    let before = t.len();

    assert_eq!(
        t.conv2d(flat, w, None, o).unwrap_err(),
        ShapeError::Rank { what: "Tape::conv2d input", expected: 4, found: 2 }
    );
    // Four input channels against weights for two: only two groups fit.
    let e = t.conv2d(x, w, None, o).unwrap_err();
    assert_eq!(e.to_string(), "Tape convolution weight (input channels per group): dimension 1 is 2, expected 4");
    assert!(t.conv2d(x, w, None, o.groups(2)).is_ok());
    let e = t.conv2d(x, w, None, o.groups(3)).unwrap_err();
    assert_eq!(
        e,
        ShapeError::Setting { what: "Tape convolution: the groups must divide the input channels", found: 3 }
    );
    assert!(matches!(t.conv2d(x, w, None, o.groups(0)), Err(ShapeError::Setting { found: 0, .. })));
    assert!(matches!(t.conv2d(x, w, None, o.groups(2).stride(0)), Err(ShapeError::Setting { .. })));
    assert!(matches!(t.conv2d(x, w, None, o.groups(2).dilation(0)), Err(ShapeError::Setting { .. })));
    // A 3-tap kernel at dilation 3 spans 7 > 5.
    let e = t.conv2d(x, w, None, o.groups(2).dilation(3)).unwrap_err();
    assert_eq!(
        e,
        ShapeError::Dim {
            what: "Tape convolution input (too small for the dilated kernel)",
            axis: 2,
            expected: 7,
            found: 5
        }
    );
    assert!(t.conv2d(x, w, None, o.groups(2).dilation(3).padding(1)).is_ok());
    let e = t.conv2d(x, w, Some(b5), o.groups(2)).unwrap_err();
    assert_eq!(e, ShapeError::Length { what: "Tape::conv bias", expected: 6, found: 5 });
    assert!(matches!(t.conv1d(x, w, None, o), Err(ShapeError::Rank { expected: 3, .. })));

    assert!(matches!(t.max_pool2d(flat, 2, 2), Err(ShapeError::Rank { .. })));
    assert!(matches!(t.max_pool2d(x, 0, 2), Err(ShapeError::Setting { found: 0, .. })));
    assert!(matches!(t.avg_pool2d(x, 2, 0), Err(ShapeError::Setting { found: 0, .. })));
    assert!(matches!(t.avg_pool2d(x, 6, 1), Err(ShapeError::Dim { axis: 2, expected: 6, found: 5, .. })));
    assert!(matches!(t.global_avg_pool2d(flat), Err(ShapeError::Rank { .. })));

    assert!(matches!(t.reshape(x, [3, 3]), Err(ShapeError::Length { .. })));
    assert!(matches!(t.concat(x, flat), Err(ShapeError::Rank { expected: 4, found: 2, .. })));
    let other = t.leaf(vec![0.0; 2 * 4 * 5 * 4], [2, 4, 5, 4]).unwrap();
    assert_eq!(
        t.concat(x, other).unwrap_err(),
        ShapeError::Dim { what: "Tape::concat", axis: 3, expected: 5, found: 4 }
    );
    let v = t.leaf(vec![0.0; 3], [3]).unwrap();
    assert!(matches!(t.concat(v, v), Err(ShapeError::Rank { expected: 2, found: 1, .. })));
    // Matrix ops refuse images, elementwise ops other shapes.
    assert!(matches!(t.linear(x, flat, None), Err(ShapeError::Rank { what: "Tape::linear x", .. })));
    assert!(matches!(t.add(x, other), Err(ShapeError::Dim { axis: 3, .. })));
    assert!(matches!(t.cross_entropy(x, &[0, 0]), Err(ShapeError::Rank { .. })));
    // The successful calls above and the two leaves added each recorded one node.
    assert_eq!(t.len(), before + 4);
}

#[test]
fn empty_batches_with_enormous_dimensions_are_errors_or_empty_not_panics() {
    let big = usize::MAX / 2;
    let mut t = Tape::<f64>::new();
    let x = t.leaf(vec![], [0, big, big, 3]).unwrap();
    assert!(matches!(t.global_avg_pool2d(x), Err(ShapeError::Setting { .. })));
    assert!(matches!(t.max_pool2d(x, 2, 2), Err(ShapeError::Setting { .. })));
    let w = t.leaf(vec![], [0, big, 1, 1]).unwrap();
    assert!(t.conv2d(x, w, None, ConvOptions::default()).is_err());
    let huge = t.leaf(vec![], [0, usize::MAX, 2]).unwrap();
    assert!(matches!(t.concat(huge, huge), Err(ShapeError::Setting { .. })));
    let f = t.flatten(x);
    assert_eq!(t.shape(f), [0, usize::MAX]);
    // An empty batch of ordinary images goes through every op.
    let e = t.leaf(vec![], [0, 2, 4, 4]).unwrap();
    let k = t.leaf(vec![0.0; 3 * 2 * 3 * 3], [3, 2, 3, 3]).unwrap();
    let y = t.conv2d(e, k, None, ConvOptions::default()).unwrap();
    assert_eq!(t.shape(y), [0, 3, 2, 2]);
    let p = t.max_pool2d(y, 2, 2).unwrap();
    let g = t.global_avg_pool2d(p).unwrap();
    assert_eq!(t.shape(g), [0, 3]);
    // An empty batch of enormous images allocates nothing for them (2^40 values a channel:
    // a size only a 64-bit target can even describe).
    #[cfg(target_pointer_width = "64")]
    {
        let vast = t.leaf(vec![], [0, 1, 1 << 20, 1 << 20]).unwrap();
        let k1 = t.leaf(vec![1.0; 9], [1, 1, 3, 3]).unwrap();
        let y = t.conv2d(vast, k1, None, ConvOptions::default()).unwrap();
        let s = t.sum(y);
        assert_eq!(t.backward(s).unwrap().get(k1), Some(&[0.0; 9][..]));
        // No output channels is an error, not a panic.
        let none = t.leaf(vec![], [0, 2, 3, 3]).unwrap();
        let x1 = t.leaf(vec![1.0; 2 * 16], [1, 2, 4, 4]).unwrap();
        assert_eq!(
            t.conv2d(x1, none, None, ConvOptions::default()).unwrap_err(),
            ShapeError::Setting { what: "Tape convolution: the output channels must be positive", found: 0 }
        );
    }
}
