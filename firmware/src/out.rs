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
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    bytes(&buf[i..]);
}

/// Writes `v` in hexadecimal, 8 digits (`f32` bits).
pub fn hex(v: u32) {
    let mut buf = *b"0x00000000";
    for k in 0..8 {
        let d = (v >> (28 - 4 * k)) & 0xf;
        buf[2 + k] = if d < 10 { b'0' + d as u8 } else { b'a' + (d - 10) as u8 };
    }
    bytes(&buf);
}

/// Writes `v` with six decimals (for reading, not for round trips: the checks compare bits).
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
    let micros = (a as f64 * 1e6 + 0.5) as u64;
    u32((micros / 1_000_000) as u32);
    str(".");
    let frac = (micros % 1_000_000) as u32;
    let mut buf = [b'0'; 6];
    let mut f = frac;
    for k in (0..6).rev() {
        buf[k] = b'0' + (f % 10) as u8;
        f /= 10;
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
