//! One module per `lume` subcommand.

pub(crate) mod bench;
pub(crate) mod compare;
pub(crate) mod convert;
pub(crate) mod data;
pub(crate) mod eval;
pub(crate) mod perf;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod score;
pub(crate) mod tune;
pub(crate) mod unlearn;
