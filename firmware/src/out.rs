//! Printing to the host through semihosting without `core::fmt`: strings, integers and
//! `f32`s written digit by digit, so that a firmware that prints only these links no
//! formatting machinery (scripts/check-firmware.sh checks its symbols).

use cortex_m_semihosting::hio;

/// Writes `s` to the host's standard output (nothing without a debugger attached).
pub fn str(s: &str) {
    bytes(s.as_bytes());
}

fn bytes(b: &[u8]) {
    if let Ok(mut h) = hio::hstdout() {
        let _ = h.write_all(b);
    }
}

/// Writes `v` in decimal.
pub fn u32(v: u32) {
    let mut buf = [0u8; 10];
    let mut v = v;
    let mut len = 0;
    for d in buf.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
        len += 1;
        if v == 0 {
            break;
        }
    }
    bytes(buf.split_at_checked(buf.len() - len).map_or(&buf[..], |(_, digits)| digits));
}

/// Writes `v` in hexadecimal, 8 digits (`f32` bits).
pub fn hex(v: u32) {
    let mut buf = *b"0x00000000";
    let mut v = v;
    for d in buf[2..].iter_mut().rev() {
        let n = (v & 0xf) as u8;
        *d = if n < 10 { b'0' + n } else { b'a' + n - 10 };
        v >>= 4;
    }
    bytes(&buf);
}

/// Writes `v` with six decimals, in `f32` arithmetic (for reading, not for round trips:
/// the checks compare bits; no `f64`, whose software routines would take flash).
pub fn f32(v: f32) {
    if v.is_nan() {
        return str("NaN");
    }
    if v < 0.0 {
        str("-");
    }
    let a = if v < 0.0 { -v } else { v };
    if a >= 4.0e9 {
        return str("inf");
    }
    let whole = a as u32;
    let mut frac = ((a - whole as f32) * 1.0e6 + 0.5) as u32;
    let whole = if frac >= 1_000_000 {
        frac -= 1_000_000;
        whole + 1
    } else {
        whole
    };
    u32(whole);
    let mut buf = *b".000000";
    for d in buf[1..].iter_mut().rev() {
        *d = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    bytes(&buf);
}

/// `name=value` and a space.
pub fn field(name: &str, v: u32) {
    str(name);
    str("=");
    u32(v);
    str(" ");
}
