//! Sets `cfg(lume_shared)`, `cfg(lume_smollm2)` and `cfg(lume_mmlu)` when the LUME release,
//! SmolLM2's GGUF and MMLU are there (see `lume-resources`), so that the real-model preset's
//! test runs, and shows as ignored (not as passed) when they are absent.

fn main() {
    use lume_resources::Resource;
    lume_resources::declare(&[Resource::Shared, Resource::Smollm2, Resource::Mmlu]);
}
