//! Shape arithmetic and shape checks that the compiler evaluates.
//!
//! `network!` computes every shape it can from the literals it is given. Where it cannot
//! read the numbers (a named constant such as `HIDDEN`, a const expression such as
//! `{16 * 5 * 5}`, the output of a nested network or of a layer of the user's own), it
//! writes the same arithmetic as calls of these `const fn`s, and each check as a constant
//! item that panics with the message it would have given, numbers included. Rust evaluates
//! such items during `cargo check`, so the error reads like the macro's own, spanned on
//! the layer:
//!
//! ```text
//! error[E0080]: evaluation panicked: `fc2`: `Linear<128, 10>` expects 128 inputs, but `fc1` yields 64
//!   |         fc2: Linear<128, 10>,
//!   |              ^^^^^^^^^^^^^^^ evaluation of `_` failed here
//! ```
//!
//! ```
//! use monograd_core::shape::check::{conv_out, dim, Msg};
//! use monograd_core::Rank3;
//! assert_eq!(conv_out(28, 5, 1, 0, 1), 24);
//! assert_eq!(conv_out(3, 5, 1, 0, 1), 0); // does not fit
//! assert_eq!(dim::<Rank3<6, 24, 24>>(0), 6);
//! let m = Msg::new().text("`fc2` expects ").num(128).text(", got ").dims(&[16, 4, 4]);
//! assert_eq!(m.as_str(), "`fc2` expects 128, got [16, 4, 4]");
//! ```

use super::Shape;

/// Dimension `i` of `S`, or 0 when `S` has fewer dimensions (a check on the rank reports
/// that; arithmetic on the missing dimension must not fail first).
pub const fn dim<S: Shape>(i: usize) -> usize {
    if i < S::DIMS.len() {
        S::DIMS[i]
    } else {
        0
    }
}

/// The number of dimensions of `S`.
pub const fn rank<S: Shape>() -> usize {
    S::DIMS.len()
}

/// The number of values in a sample of dimensions `dims`.
pub const fn numel(dims: &[usize]) -> usize {
    let mut n = 1;
    let mut i = 0;
    while i < dims.len() {
        n *= dims[i];
        i += 1;
    }
    n
}

/// A convolution's or pooling window's output size along one dimension,
/// `(input + 2p - d(k - 1) - 1) / s + 1`, or 0 when the kernel does not fit (or a size,
/// stride or dilation is 0).
pub const fn conv_out(input: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    if k == 0 || s == 0 || d == 0 {
        return 0;
    }
    let span = d * (k - 1) + 1;
    let padded = input + 2 * p;
    if span > padded {
        return 0;
    }
    (padded - span) / s + 1
}

/// Whether two dimensions are equal (a function rather than `==`, so that a check of
/// `HIDDEN` against `HIDDEN` in generated code is no lint of the user's).
pub const fn equal(a: usize, b: usize) -> bool {
    a == b
}

/// Whether two shapes have the same dimensions.
pub const fn same_dims(a: &[usize], b: &[usize]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A message built during constant evaluation: text, numbers and shapes, in a fixed
/// buffer (longer messages are cut with `...`).
#[derive(Clone, Copy, Debug)]
pub struct Msg {
    buf: [u8; Msg::CAP],
    len: usize,
}

impl Msg {
    const CAP: usize = 480;

    /// An empty message.
    pub const fn new() -> Msg {
        Msg { buf: [0; Msg::CAP], len: 0 }
    }

    /// Appends `s`.
    pub const fn text(mut self, s: &str) -> Msg {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            self = self.byte(b[i]);
            i += 1;
        }
        self
    }

    /// Appends `v` in decimal.
    pub const fn num(mut self, v: usize) -> Msg {
        let mut digits = [0u8; 20];
        let (mut n, mut k) = (v, 0);
        loop {
            digits[k] = b'0' + (n % 10) as u8;
            k += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        while k > 0 {
            k -= 1;
            self = self.byte(digits[k]);
        }
        self
    }

    /// Appends a shape as `[16, 4, 4]`.
    pub const fn dims(mut self, d: &[usize]) -> Msg {
        self = self.byte(b'[');
        let mut i = 0;
        while i < d.len() {
            if i > 0 {
                self = self.text(", ");
            }
            self = self.num(d[i]);
            i += 1;
        }
        self.byte(b']')
    }

    const fn byte(mut self, b: u8) -> Msg {
        if self.len < Msg::CAP {
            self.buf[self.len] = b;
            self.len += 1;
        } else {
            // Cut on a character boundary: only ASCII is ever cut here, since every
            // multi-byte character is appended whole or not at all below this point.
            self.buf[Msg::CAP - 3] = b'.';
            self.buf[Msg::CAP - 2] = b'.';
            self.buf[Msg::CAP - 1] = b'.';
        }
        self
    }

    /// The text so far.
    pub const fn as_str(&self) -> &str {
        let (bytes, _) = self.buf.split_at(self.len);
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(_) => "(a shape check failed; its message was cut inside a character)",
        }
    }
}

impl Default for Msg {
    fn default() -> Self {
        Msg::new()
    }
}

/// Stops constant evaluation with `msg`: the compiler prints it as the error.
#[track_caller]
pub const fn fail(msg: &Msg) {
    panic!("{}", msg.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Rank1, Rank2};

    #[test]
    fn arithmetic_matches_the_macros_rules() {
        assert_eq!(conv_out(28, 5, 1, 0, 1), 24);
        assert_eq!(conv_out(7, 3, 2, 1, 1), 4);
        assert_eq!(conv_out(9, 3, 1, 0, 3), 3);
        assert_eq!(conv_out(6, 3, 1, 0, 3), 0);
        assert_eq!(conv_out(6, 0, 1, 0, 1), 0);
        assert_eq!(numel(&[16, 5, 5]), 400);
        assert_eq!(rank::<Rank2<3, 4>>(), 2);
        assert_eq!(dim::<Rank1<7>>(1), 0);
        assert!(same_dims(&[1, 2], &[1, 2]) && !same_dims(&[1, 2], &[1, 3]) && !same_dims(&[1], &[1, 1]));
    }

    #[test]
    fn messages_hold_text_numbers_and_shapes_and_are_cut_when_long() {
        // The largest `usize` has fewer digits on 32-bit targets (wasm32).
        let m = Msg::new().text("a ").num(0).text(" b ").num(usize::MAX).dims(&[]);
        let max = if cfg!(target_pointer_width = "64") { "18446744073709551615" } else { "4294967295" };
        assert_eq!(m.as_str().strip_prefix("a 0 b ").and_then(|s| s.strip_suffix("[]")), Some(max));
        let mut long = Msg::new();
        let mut i = 0;
        while i < 100 {
            long = long.text("abcdefgh");
            i += 1;
        }
        assert_eq!(long.as_str().len(), Msg::CAP);
        assert!(long.as_str().ends_with("..."));
    }

    #[test]
    #[should_panic(expected = "`fc` expects 3")]
    fn fail_panics_with_the_message() {
        fail(&Msg::new().text("`fc` expects ").num(3));
    }
}
