//! One module per `lume` subcommand.

pub mod bench;
pub mod compare;
pub mod convert;
pub mod data;
pub mod eval;
pub mod perf;
pub mod progress;
pub mod report;
pub mod score;
pub mod unlearn;
