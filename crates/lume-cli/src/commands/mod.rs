//! One module per `lume` subcommand.

pub mod data;
pub mod score;
