//! Runnable examples of lume's libraries: `cargo run -p lume-examples --example <name>`.
//!
//! - `score_outputs`: generate LUME-style data, fake an engine's outputs, and score them with
//!   the benchmark's protocol.
