//! # lume-model
//!
//! The engine of `lume`: Llama-style decoders on Burn. This crate is being built up; today it
//! holds device selection — Burn's `flex` CPU backend by default, `wgpu` and `cuda` behind cargo
//! features of the same names — so that every crate and the CLI name devices the same way.
//!
//! ```
//! let device = lume_model::DeviceSpec::Cpu.device()?;
//! let x = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &device);
//! assert_eq!(x.sum().into_scalar::<f32>(), 3.0);
//! # Ok::<(), lume_model::DeviceError>(())
//! ```

mod device;

pub use device::{DeviceError, DeviceSpec};
