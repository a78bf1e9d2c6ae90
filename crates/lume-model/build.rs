//! Sets `cfg(lume_shared)` when the LUME release lies beside the checkout and
//! `cfg(lume_smollm2)` when SmolLM2's GGUF has been fetched (see `lume-resources`), so that the
//! tests that need them run, and show as ignored (not as passed) when they are absent.

fn main() {
    use lume_resources::Resource;
    lume_resources::declare(&[Resource::Shared, Resource::Smollm2]);
}
