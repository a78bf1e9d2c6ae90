//! Sets `cfg(lume_transformers)` when Python with torch and transformers is there
//! (`LUME_PYTHON`, default `python3`), so that the test comparing a `lume train` checkpoint
//! with transformers runs, and shows as ignored (not as passed) without them.

use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lume_transformers)");
    println!("cargo::rerun-if-env-changed=LUME_PYTHON");
    let python = std::env::var("LUME_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = Command::new(&python)
        .args(["-c", "import torch, transformers"])
        .output()
        .is_ok_and(|out| out.status.success());
    if found {
        println!("cargo::rustc-cfg=lume_transformers");
    }
}
