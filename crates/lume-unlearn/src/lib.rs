//! # lume-unlearn
//!
//! Unlearning methods and their trainer for the LUME benchmark. Not implemented yet: this
//! crate reserves the place of the method trait, the method registry and the trainer in the
//! workspace (see its README for what is planned).
