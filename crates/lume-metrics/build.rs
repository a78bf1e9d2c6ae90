//! Sets `cfg(lume_shared)` when the LUME release lies beside the checkout (`../shared/data`),
//! so that the tests that read it run, and show as ignored (not as passed) when it does not.
//! `LUME_REQUIRE_SHARED=1` (CI) makes its absence a build error.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lume_shared)");
    println!("cargo::rerun-if-env-changed=LUME_REQUIRE_SHARED");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let found = std::path::Path::new(&manifest)
        .ancestors()
        .map(|dir| dir.join("shared/data/lume/forget.jsonl"))
        .find(|p| p.is_file());
    match found {
        Some(path) => {
            println!("cargo::rustc-cfg=lume_shared");
            println!("cargo::rerun-if-changed={}", path.display());
        }
        None if std::env::var("LUME_REQUIRE_SHARED").is_ok_and(|v| v == "1") => {
            panic!("../shared/data is missing and LUME_REQUIRE_SHARED=1")
        }
        None => {}
    }
}
