//! Finding the benchmark's real files beside a checkout (`../shared/data`), for tests,
//! benchmarks and examples. The crates' build scripts set `cfg(lume_shared)` when the folder is
//! there, so the tests that read it are `ignored` without it rather than passing.

use std::path::{Path, PathBuf};

/// The environment variable that turns a missing `shared/data` from a skip into a failure.
pub const REQUIRE_SHARED: &str = lume_resources::REQUIRE;

/// `../shared/data/<relative>` seen from the workspace that holds `manifest_dir`, if it exists.
///
/// Walks up from `manifest_dir` (pass `env!("CARGO_MANIFEST_DIR")`) looking for a `shared/data`
/// folder beside an ancestor. When absent: panics if `LUME_REQUIRE_SHARED=1`, else prints why
/// the caller skips and returns `None`.
pub fn shared_data(manifest_dir: &str, relative: &str) -> Option<PathBuf> {
    let found = Path::new(manifest_dir)
        .ancestors()
        .map(|dir| dir.join("shared").join("data").join(relative))
        .find(|p| p.exists());
    match found {
        Some(path) => Some(path),
        None if lume_resources::required() => {
            panic!("shared/data/{relative} is missing and {REQUIRE_SHARED}=1")
        }
        None => {
            eprintln!("skipped: shared/data/{relative} not found beside this checkout");
            None
        }
    }
}
