//! Block sizes from the cache sizes this CPU reports.
//!
//! The packed loop nest packs a `kc x nc` block of `B`, then for each `mc x kc` block of
//! `A` runs every `MR`-row panel of `A` against every `NR`-column panel of the `B` block.
//! One `A` panel stays in L1 while the `B` panels stream past it from L2, and the tiles
//! of `C` are visited along its rows (in row-major `C`, a tile's rows then stay in the
//! same pages: walking down the columns of `C` instead cost 15-20% at n = 1024 on the
//! AVX-512 Xeon of docs/BENCHMARKS.md, in TLB misses). So, with `s` the size of one
//! element:
//!
//! - `kc = L1d / ((MR + NR) s)`: one `A` panel and the `B` panel in flight fill L1;
//! - `nc = L2 / 2 / (kc s)`: the `B` block takes half of L2;
//! - `mc = L3 / 2 / (kc s)`, with `L3` this core's share of it (its size over the number
//!   of logical processors sharing it): an `A` block is read from L3 once per `B` block;
//!
//! each rounded down to whole register tiles and kept within `[KC_MIN, KC]`, `[MR, MC]`
//! and `[NR, NC]`, the bounds [`PACK_LEN`](super::PACK_LEN) is sized for. Where no sizes
//! are known, the blocks are `kc = 256`, `mc = 96`, `nc = 1024`.

use super::packed::{round_down, Blocks};
use super::{KC, MC, NC};

/// The shallowest block the cache rule may choose: below this, the loop over `k` is too
/// short to hide the tile's load and store.
const KC_MIN: usize = 64;

/// The blocks used when the caches are unknown.
const FIXED: Blocks = Blocks { kc: 256, mc: 96, nc: 1024 };

/// Cache sizes in bytes: L1 data, L2, and this core's share of L3 (0 when there is none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Caches {
    pub(super) l1d: usize,
    pub(super) l2: usize,
    pub(super) l3: usize,
}

/// The blocks the caches ask for, for elements of `T` and an `MR x NR` register tile.
#[inline]
pub(super) fn target<T, const MR: usize, const NR: usize>() -> Blocks {
    match caches() {
        Some(c) => from_caches(c, core::mem::size_of::<T>(), MR, NR),
        None => FIXED,
    }
}

/// The rule above, for elements of `size` bytes and an `mr x nr` tile.
pub(super) fn from_caches(c: Caches, size: usize, mr: usize, nr: usize) -> Blocks {
    let kc = round_down(c.l1d / ((mr + nr) * size), 8).clamp(KC_MIN, KC);
    let nc = round_down(c.l2 / 2 / (kc * size), nr).clamp(nr, round_down(NC, nr).max(nr));
    let mc_max = round_down(MC, mr).max(mr);
    // No L3 reported: A's block comes from memory whatever its size, so the largest.
    let mc = if c.l3 == 0 { mc_max } else { round_down(c.l3 / 2 / (kc * size), mr).clamp(mr, mc_max) };
    Blocks { kc, mc, nc }
}

/// The cache sizes, read once per process.
#[cfg(feature = "std")]
pub(super) fn caches() -> Option<Caches> {
    static CACHES: std::sync::OnceLock<Option<Caches>> = std::sync::OnceLock::new();
    *CACHES.get_or_init(detect)
}

/// Without `std` there is nowhere to keep what was read (and CPUID can cost a trip to the
/// hypervisor), so the fixed blocks are used.
#[cfg(not(feature = "std"))]
pub(super) fn caches() -> Option<Caches> {
    None
}

#[cfg(feature = "std")]
fn detect() -> Option<Caches> {
    #[cfg(target_arch = "x86_64")]
    if let Some(c) = cpuid() {
        return Some(c);
    }
    #[cfg(target_os = "linux")]
    if let Some(c) = sysfs() {
        return Some(c);
    }
    None
}

/// The deterministic cache parameters of CPUID: leaf 4 on Intel, leaf 0x8000_001D (the
/// same layout) on AMD.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn cpuid() -> Option<Caches> {
    use core::arch::x86_64::__cpuid_count;
    let vendor = __cpuid_count(0, 0);
    let max_leaf = vendor.eax;
    let leaf = if (vendor.ebx, vendor.edx, vendor.ecx) == (0x756e_6547, 0x4965_6e69, 0x6c65_746e) {
        // "GenuineIntel"
        if max_leaf < 4 {
            return None;
        }
        4
    } else if (vendor.ebx, vendor.edx, vendor.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163) {
        // "AuthenticAMD": the leaf exists when the topology extensions are reported.
        let ext = __cpuid_count(0x8000_0000, 0).eax;
        if ext < 0x8000_001d || __cpuid_count(0x8000_0001, 0).ecx & (1 << 22) == 0 {
            return None;
        }
        0x8000_001d
    } else {
        return None;
    };
    let mut c = Caches { l1d: 0, l2: 0, l3: 0 };
    for sub in 0..16 {
        let r = __cpuid_count(leaf, sub);
        let kind = r.eax & 0x1f; // 0: no more caches, 1: data, 2: instruction, 3: unified
        if kind == 0 {
            break;
        }
        if kind == 2 {
            continue;
        }
        let level = (r.eax >> 5) & 0x7;
        let sharing = ((r.eax >> 14) & 0xfff) as usize + 1;
        let ways = (r.ebx >> 22) as usize + 1;
        let partitions = ((r.ebx >> 12) & 0x3ff) as usize + 1;
        let line = (r.ebx & 0xfff) as usize + 1;
        let sets = r.ecx as usize + 1;
        let size = ways * partitions * line * sets;
        match level {
            1 => c.l1d = size,
            2 => c.l2 = size,
            3 => c.l3 = size / sharing,
            _ => {}
        }
    }
    (c.l1d > 0 && c.l2 > 0).then_some(c)
}

/// `/sys/devices/system/cpu/cpu0/cache/index*/`: level, type, size (`48K`) and the list
/// of CPUs sharing each cache (`0-1,4`).
#[cfg(all(feature = "std", target_os = "linux"))]
fn sysfs() -> Option<Caches> {
    use std::format;
    use std::fs::read_to_string;
    let mut c = Caches { l1d: 0, l2: 0, l3: 0 };
    for i in 0..16 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let Ok(level) = read_to_string(format!("{dir}/level")) else { break };
        let kind = read_to_string(format!("{dir}/type")).unwrap_or_default();
        if kind.trim() == "Instruction" {
            continue;
        }
        let size = read_to_string(format!("{dir}/size")).ok().and_then(|s| parse_size(s.trim()));
        let sharing = read_to_string(format!("{dir}/shared_cpu_list")).map_or(1, |s| count_cpus(s.trim()));
        match (level.trim(), size) {
            ("1", Some(s)) => c.l1d = s,
            ("2", Some(s)) => c.l2 = s,
            ("3", Some(s)) => c.l3 = s / sharing.max(1),
            _ => {}
        }
    }
    (c.l1d > 0 && c.l2 > 0).then_some(c)
}

/// `48K`, `2048K`, `480M` or a plain number of bytes.
#[cfg(any(test, all(feature = "std", target_os = "linux")))]
fn parse_size(s: &str) -> Option<usize> {
    let (digits, unit) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1 << 10),
        b'M' => (&s[..s.len() - 1], 1 << 20),
        b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    digits.parse::<usize>().ok()?.checked_mul(unit)
}

/// The number of CPUs in a list such as `0-3,8,10-11`.
#[cfg(any(test, all(feature = "std", target_os = "linux")))]
fn count_cpus(list: &str) -> usize {
    list.split(',')
        .filter_map(|r| match r.split_once('-') {
            Some((a, b)) => Some(b.parse::<usize>().ok()?.checked_sub(a.parse::<usize>().ok()?)? + 1),
            None => r.parse::<usize>().ok().map(|_| 1),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_on_known_machines() {
        // A Zen 3 core (32 KiB L1d, 512 KiB L2, 32 MiB L3 over 8 cores), AVX2 f32 6x16:
        // 32 KiB / 88 B = 372 -> kc capped at 256; nc = 256 KiB / 1 KiB.
        let zen3 = Caches { l1d: 32 << 10, l2: 512 << 10, l3: 4 << 20 };
        assert_eq!(from_caches(zen3, 4, 6, 16), Blocks { kc: 256, mc: 192, nc: 256 });
        // A Xeon with 48 KiB L1d and 2 MiB L2, AVX-512 f32 12x32: 48 KiB / 176 B = 279
        // -> 256; nc = 1 MiB / 1 KiB.
        let xeon = Caches { l1d: 48 << 10, l2: 2 << 20, l3: 0 };
        assert_eq!(from_caches(xeon, 4, 12, 32), Blocks { kc: 256, mc: 192, nc: 1024 });
        // f64 4x8 on the same: kc = 48 KiB / 96 B = 512 -> 256; nc = 1 MiB / 2 KiB.
        assert_eq!(from_caches(xeon, 8, 4, 8), Blocks { kc: 256, mc: 192, nc: 512 });
        // Tiny caches clamp to the smallest blocks.
        let tiny = Caches { l1d: 1024, l2: 4096, l3: 8192 };
        assert_eq!(from_caches(tiny, 4, 12, 32), Blocks { kc: KC_MIN, mc: 12, nc: 32 });
        // A small L3 share limits mc: 256 KiB / 2 / (256 * 4 B) = 128, in whole 6-row panels.
        let small_l3 = Caches { l3: 256 << 10, ..zen3 };
        assert_eq!(from_caches(small_l3, 4, 6, 16).mc, 126);
    }

    #[test]
    fn blocks_stay_within_the_packing_bounds() {
        for l1d in [0, 1 << 10, 32 << 10, 48 << 10, 1 << 20] {
            for l2 in [0, 256 << 10, 2 << 20, 64 << 20] {
                for l3 in [0, 1 << 20, 1 << 30] {
                    for (size, mr, nr) in [(4, 12, 32), (4, 6, 16), (8, 4, 8), (4, 3, 5), (4, 4, 4)] {
                        let b = from_caches(Caches { l1d, l2, l3 }, size, mr, nr);
                        assert!((KC_MIN..=KC).contains(&b.kc), "{b:?}");
                        assert!(b.mc >= mr && b.mc <= MC.max(mr) && b.mc.is_multiple_of(mr), "{b:?}");
                        assert!(b.nc >= nr && b.nc <= NC.max(nr) && b.nc.is_multiple_of(nr), "{b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn sizes_and_cpu_lists_parse() {
        assert_eq!(parse_size("48K"), Some(48 << 10));
        assert_eq!(parse_size("480M"), Some(480 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("K"), None);
        assert_eq!(count_cpus("0"), 1);
        assert_eq!(count_cpus("0-1"), 2);
        assert_eq!(count_cpus("0-3,8,10-11"), 7);
    }

    /// What this machine reports, when it reports anything: sizes in a plausible range,
    /// and the blocks the rule derives from them.
    #[cfg(feature = "std")]
    #[test]
    fn this_machine_reports_plausible_caches() {
        extern crate std;
        let Some(c) = caches() else {
            std::println!("no cache sizes reported: fixed blocks {FIXED:?}");
            return;
        };
        assert!((4 << 10..=4 << 20).contains(&c.l1d), "{c:?}");
        assert!(c.l2 >= c.l1d && c.l2 <= 1 << 30, "{c:?}");
        std::println!("{c:?}: f32 12x32 {:?}, 6x16 {:?}", target::<f32, 12, 32>(), target::<f32, 6, 16>());
    }
}
