//! Sets `cfg(lume_shared)` when the LUME release lies beside the checkout and
//! `cfg(lume_smollm2)` when SmolLM2's GGUF has been fetched (see `lume-resources`), so that the
//! tests that need them run, and show as ignored (not as passed) when they are absent.
//! `cfg(lume_bf16_cpu)` marks a building CPU with AVX512-BF16.

fn main() {
    use lume_resources::Resource;
    lume_resources::declare(&[Resource::Shared, Resource::Smollm2]);
    println!("cargo::rustc-check-cfg=cfg(lume_bf16_cpu)");
    // The bf16 kernel test that compares the native tile with the portable one runs where the
    // building CPU has AVX512-BF16 (tests run where they are built) and shows as ignored
    // elsewhere.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|flags| flags.split_whitespace().any(|f| f == "avx512_bf16"))
    {
        println!("cargo::rustc-cfg=lume_bf16_cpu");
    }
}
