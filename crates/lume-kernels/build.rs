//! `cfg(lume_bf16_cpu)` and `cfg(lume_avx512_cpu)` mark a building CPU with AVX512-BF16 and
//! AVX-512F: the kernel tests that compare the native tiles with the portable one run where the
//! building CPU has their instructions (tests run where they are built) and show as ignored
//! elsewhere.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(lume_bf16_cpu)");
    println!("cargo::rustc-check-cfg=cfg(lume_avx512_cpu)");
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let has = |flag: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|flags| flags.split_whitespace().any(|f| f == flag))
    };
    if has("avx512_bf16") {
        println!("cargo::rustc-cfg=lume_bf16_cpu");
    }
    if has("avx512f") {
        println!("cargo::rustc-cfg=lume_avx512_cpu");
    }
}
