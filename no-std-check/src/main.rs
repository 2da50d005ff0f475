//! The host-target runner of the no_std proof (x86-64 Linux).
//!
//! No `std`, no `alloc`, no global allocator, no C runtime (`-nostartfiles`, from
//! `build.rs`): `_start` aligns the stack and calls [`entry`], which runs the library's
//! checks, prints one line per check through the `write` system call, and leaves through
//! `exit_group` with 0 or the first failing check's code (101 on a panic).
//!
//! That this links at all is half the proof: `std` in the graph brings a second
//! `#[panic_handler]` (duplicate lang item `panic_impl`), `alloc` fails with "no global
//! memory allocator found".
#![no_std]
#![no_main]

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!(
    "the no-std-check runner is written for x86-64 Linux; on other targets build the \
     library alone: `cargo build --lib --target <target>`"
);

use core::arch::asm;
use core::fmt::{self, Write};

/// The process entry point. The kernel starts a process with `rsp` 16-byte aligned and no
/// return address, while Rust functions expect `rsp + 8` aligned (just after a `call`), so
/// `_start` is a naked function that aligns the stack and calls [`entry`].
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    core::arch::naked_asm!("xor ebp, ebp", "and rsp, -16", "call {entry}", "ud2", entry = sym entry)
}

/// Runs the checks and exits with their status.
extern "C" fn entry() -> ! {
    let mut out = Fd(1);
    let result = no_std_check::run_reporting(|name, result| {
        let _ = match result {
            Ok(()) => writeln!(out, "no-std-check: ok      {name}"),
            Err(code) => writeln!(out, "no-std-check: FAILED  {name} (exit code {code})"),
        };
    });
    match result {
        Ok(()) => {
            // For the comparison with the std build of the same steps (check-no-std.sh).
            if let Ok(l) = no_std_check::train::train() {
                let _ = writeln!(out, "no-std-check: training losses initial={} final={}", l.initial, l.last);
            }
            if let Ok((mlp, cnn)) = no_std_check::embedded::outputs() {
                let _ = write!(out, "no-std-check: embedded outputs");
                for v in mlp.iter().chain(&cnn) {
                    let _ = write!(out, " {v}");
                }
                let _ = writeln!(out);
            }
            let _ = writeln!(out, "no-std-check: all {} checks passed", no_std_check::CHECKS.len());
            exit(0)
        }
        Err(code) => exit(code.max(1)),
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let _ = writeln!(Fd(2), "no-std-check: panicked: {info}");
    exit(101)
}

/// Referenced by the unwinding tables of the precompiled `core` in debug builds; with
/// `panic = "abort"` nothing ever unwinds, so it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// A file descriptor written through the `write` system call.
struct Fd(usize);

impl Write for Fd {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            let ret: isize;
            // SAFETY: write(2) reads `len` bytes from a valid slice; the kernel clobbers
            // only rcx and r11 besides the return register.
            unsafe {
                asm!(
                    "syscall",
                    inlateout("rax") 1isize => ret,
                    in("rdi") self.0,
                    in("rsi") bytes.as_ptr(),
                    in("rdx") bytes.len(),
                    lateout("rcx") _,
                    lateout("r11") _,
                    options(nostack),
                );
            }
            if ret <= 0 {
                return Err(fmt::Error);
            }
            bytes = &bytes[ret as usize..];
        }
        Ok(())
    }
}

/// The memory functions the compiler calls for copies and fills (`memcpy` and friends).
///
/// On a `-linux-gnu` target, `compiler_builtins` leaves them to the C library, which this
/// binary does not link (debug builds fail with "undefined symbol: memset" otherwise). They
/// are written with string instructions and volatile reads so that the optimizer cannot turn
/// their bodies back into calls to themselves.
mod mem {
    use core::arch::asm;

    /// # Safety
    /// The C contract: `n` bytes valid at both, not overlapping.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the caller's contract; the direction flag is clear per the ABI.
        unsafe {
            asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _, options(nostack, preserves_flags));
        }
        dst
    }

    /// # Safety
    /// The C contract: `n` bytes valid at both; they may overlap.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        if (dst as usize).wrapping_sub(src as usize) >= n {
            // dst before src, or no overlap: copying forwards is safe.
            // SAFETY: as for memcpy.
            unsafe { memcpy(dst, src, n) }
        } else {
            // dst inside [src, src + n): copy backwards, from the last byte.
            // SAFETY: the caller's contract; the direction flag is restored to clear.
            unsafe {
                asm!(
                    "std",
                    "rep movsb",
                    "cld",
                    inout("rcx") n => _,
                    inout("rdi") dst.add(n - 1) => _,
                    inout("rsi") src.add(n - 1) => _,
                    options(nostack),
                );
            }
            dst
        }
    }

    /// # Safety
    /// The C contract: `n` bytes valid at `dst`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
        // SAFETY: the caller's contract; the direction flag is clear per the ABI.
        unsafe {
            asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") c as u8, options(nostack, preserves_flags));
        }
        dst
    }

    /// # Safety
    /// The C contract: `n` bytes valid at both.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        for i in 0..n {
            // SAFETY: i < n, within both buffers by the caller's contract.
            let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
            if x != y {
                return i32::from(x) - i32::from(y);
            }
        }
        0
    }

    /// # Safety
    /// The C contract: `n` bytes valid at both.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: forwarded contract.
        unsafe { memcmp(a, b, n) }
    }
}

/// Ends the process with `code` through the `exit_group` system call.
fn exit(code: u8) -> ! {
    // SAFETY: exit_group(2) does not return.
    unsafe { asm!("syscall", in("rax") 231usize, in("rdi") code as usize, options(noreturn, nostack)) }
}
