//! Vectorizable row math for the CPU kernels (`exp`, max, sums written with explicit lanes so
//! that LLVM vectorizes them without reassociating floats itself), and the one place that picks
//! the widest SIMD the machine has at run time.
//!
//! libm's `expf` is a scalar call per element; softmax and cross-entropy over an 8k vocabulary
//! spend most of their time there. Cephes' `expf` (range reduction by ln 2, a degree-5
//! polynomial) is branch-free, so LLVM vectorizes loops over it; its error is within 2 ulp of
//! the exact value, below what the f32 sums around it lose anyway.

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// `e^x`; 0 below −87.3 (where `e^x` would be subnormal), about 2e38 above 88.3.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let underflow = x < -87.3;
    let x = x.clamp(-87.3, 88.3);
    let n = (x * LOG2E + 0.5).floor();
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let r2 = r * r;
    let p = 1.987_569_1e-4_f32
        .mul_add(r, 1.398_2e-3)
        .mul_add(r, 8.333_452e-3)
        .mul_add(r, 4.166_579_6e-2)
        .mul_add(r, 1.666_666_5e-1)
        .mul_add(r, 0.5);
    let y = p.mul_add(r2, r) + 1.0;
    let y = y * f32::from_bits(((n as i32 + 127) as u32) << 23);
    if underflow { 0.0 } else { y }
}

const LANES: usize = 16;

/// The largest element (−∞ for an empty row).
#[inline(always)]
pub(crate) fn max(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            *m = m.max(x);
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    lanes.into_iter().fold(tail, f32::max)
}

/// `Σ exp(x − shift)` over the row.
#[inline(always)]
pub(crate) fn sum_exp(row: &[f32], shift: f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (s, &x) in lanes.iter_mut().zip(chunk) {
            *s += exp(x - shift);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&x| exp(x - shift)).sum();
    lanes.into_iter().sum::<f32>() + tail
}

/// Replaces each `x` by `exp(x − shift)` and returns their sum.
#[inline(always)]
pub(crate) fn exp_in_place(row: &mut [f32], shift: f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (s, x) in lanes.iter_mut().zip(chunk) {
            *x = exp(*x - shift);
            *s += *x;
        }
    }
    let mut tail = 0.0;
    for x in chunks.into_remainder() {
        *x = exp(*x - shift);
        tail += *x;
    }
    lanes.into_iter().sum::<f32>() + tail
}

/// `Σ a·b`.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for ((s, &x), &y) in lanes.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    lanes.into_iter().sum::<f32>() + tail
}

/// Defines a function whose body is compiled for the widest x86 SIMD found at run time
/// (AVX-512, then AVX2 + FMA) and as plain code elsewhere, then picked on each call:
///
/// ```text
/// simd_dispatch! {
///     fn scale(values: &mut [f32], by: f32) {
///         for v in values { *v *= by; }
///     }
/// }
/// ```
///
/// The body becomes an `#[inline(always)]` function compiled again inside each variant (a
/// closure would not be). `fn name(args) => kernel;` does the same for an existing
/// `#[inline(always)]` function, e.g. one instance of a generic kernel.
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[allow(clippy::too_many_arguments)]
            #[inline(always)]
            fn kernel($($arg: $ty),*) $(-> $ret)? $body
            $crate::simd::simd_dispatch!(@variants kernel; $($arg: $ty),*; $($ret)?)
        }
    };
    ($vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $kernel:path;) => {
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            $crate::simd::simd_dispatch!(@variants $kernel; $($arg: $ty),*; $($ret)?)
        }
    };
    (@variants $kernel:path; $($arg:ident: $ty:ty),*; $($ret:ty)?) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                $kernel($($arg),*)
            }
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                $kernel($($arg),*)
            }
            match $crate::simd::simd_path() {
                // SAFETY: `simd_path` detected the variant's features on this CPU.
                "avx512" => return unsafe { avx512($($arg),*) },
                // SAFETY: as above.
                "avx2" => return unsafe { avx2($($arg),*) },
                _ => {}
            }
        }
        $kernel($($arg),*)
    }};
}
pub(crate) use simd_dispatch;

/// The environment variable that forces the portable kernels: `LUME_KERNELS=portable` (CI runs
/// the kernel tests both ways on any machine); unset or `auto`, the widest the CPU has.
pub const KERNELS_VAR: &str = "LUME_KERNELS";

/// A value of [`KERNELS_VAR`] other than `auto` or `portable`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{KERNELS_VAR}={0:?}: expected `auto` or `portable`")]
pub struct UnknownKernels(pub String);

/// Whether [`KERNELS_VAR`] forces the portable kernels; an unknown value is an error (the CLI
/// reports it before any work; the kernels then detect the CPU as with `auto`).
pub fn portable_forced() -> Result<bool, UnknownKernels> {
    match std::env::var(KERNELS_VAR) {
        Err(_) => Ok(false),
        Ok(v) if v.is_empty() || v == "auto" => Ok(false),
        Ok(v) if v == "portable" => Ok(true),
        Ok(v) => Err(UnknownKernels(v)),
    }
}

/// Whether the portable path is forced, read once.
fn forced() -> bool {
    static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| portable_forced().unwrap_or(false))
}

/// The SIMD path [`simd_dispatch!`] takes on this CPU: `avx512`, `avx2` or `portable`.
pub(crate) fn simd_path() -> &'static str {
    static PATH: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if !forced() {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                return "avx512";
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return "avx2";
            }
        }
        "portable"
    })
}

/// The tile that runs bf16 products (`Precision::Bf16`, `bf16.rs`); every path gives the same
/// numbers (up to how the hardware flushes subnormals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bf16Path {
    /// AVX512-BF16's `vdpbf16ps`: 32 multiply-adds an instruction.
    Dot,
    /// AVX-512F FMAs on the bf16 operands widened in registers: 16 multiply-adds an
    /// instruction, but two instructions a cycle where `vdpbf16ps` issues one every two.
    Fma,
    /// Plain Rust, vectorized for the CPU's SIMD path.
    Portable,
}

impl Bf16Path {
    /// The name recorded in `Numerics`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Bf16Path::Dot => "avx512_bf16",
            Bf16Path::Fma => "avx512_fma",
            Bf16Path::Portable => "portable",
        }
    }
}

/// The path of bf16 products on this CPU. AVX512-BF16 only where its dot product is the
/// faster: on Intel's cores (Cooper Lake to Sapphire Rapids) `vdpbf16ps` issues once every
/// two cycles, half the multiply-adds of two FMAs a cycle (measured on a 2-core Intel Xeon
/// with AVX512-BF16 and AVX512-FP16: 85 GFLOP/s a core in `vdpbf16ps` against 175 in FMAs),
/// while AMD's Zen 4 and 5 issue it at the FMA rate with twice the work. Elsewhere with
/// AVX-512F, FMAs; without it, the portable tile.
pub(crate) fn bf16_path() -> Bf16Path {
    static PATH: std::sync::OnceLock<Bf16Path> = std::sync::OnceLock::new();
    *PATH.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if !forced() && std::arch::is_x86_feature_detected!("avx512f") {
            if std::arch::is_x86_feature_detected!("avx512bf16") && cpu_vendor() == *b"AuthenticAMD"
            {
                return Bf16Path::Dot;
            }
            return Bf16Path::Fma;
        }
        Bf16Path::Portable
    })
}

/// The CPU vendor's twelve-byte name (`GenuineIntel`, `AuthenticAMD`).
#[cfg(target_arch = "x86_64")]
fn cpu_vendor() -> [u8; 12] {
    let id = std::arch::x86_64::__cpuid(0);
    let mut vendor = [0u8; 12];
    for (chunk, register) in vendor.chunks_exact_mut(4).zip([id.ebx, id.edx, id.ecx]) {
        chunk.copy_from_slice(&register.to_le_bytes());
    }
    vendor
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn lane_sums_match_plain_sums(row in proptest::collection::vec(-20.0f32..20.0, 0..70)) {
            let plain_max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            prop_assert_eq!(super::max(&row), plain_max);
            let shift = if row.is_empty() { 0.0 } else { plain_max };
            let plain: f64 = row.iter().map(|&x| (f64::from(x) - f64::from(shift)).exp()).sum();
            prop_assert!((f64::from(super::sum_exp(&row, shift)) - plain).abs() <= 1e-5 * plain.max(1.0));
            let mut copy = row.clone();
            prop_assert!((f64::from(super::exp_in_place(&mut copy, shift)) - plain).abs() <= 1e-5 * plain.max(1.0));
            let dot: f64 = row.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            prop_assert!((f64::from(super::dot(&row, &row)) - dot).abs() <= 1e-5 * dot.max(1.0));
        }
    }

    proptest! {
        #[test]
        fn close_to_libm(x in -87.0f32..88.3) {
            let (ours, libm) = (super::exp(x), x.exp());
            prop_assert!(((ours - libm) / libm).abs() < 3e-7, "exp({x}) = {ours}, libm {libm}");
        }
    }

    #[test]
    fn limits_stay_finite() {
        assert_eq!(super::exp(-1e4), 0.0);
        assert_eq!(super::exp(f32::MIN), 0.0);
        assert!(super::exp(1e4).is_finite());
        assert_eq!(super::exp(0.0), 1.0);
    }
}
