//! Sets `cfg(lume_shared)` when the LUME release lies beside the checkout (see
//! `lume-resources`), so that the tests that read it run, and show as ignored (not as passed)
//! when it does not.

fn main() {
    lume_resources::declare(&[lume_resources::Resource::Shared]);
}
