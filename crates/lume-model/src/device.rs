//! Choosing where tensors live: `cpu`, `wgpu[:N]` or `cuda[:N]`, parsed once at the edge.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// A compute device named on the command line or in a config.
///
/// ```
/// use lume_model::DeviceSpec;
/// assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
/// assert_eq!("cuda:1".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(1));
/// assert_eq!("wgpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Wgpu(None));
/// assert!("tpu".parse::<DeviceSpec>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// Burn's `flex` CPU backend, always compiled in.
    #[default]
    Cpu,
    /// A `wgpu` adapter: the best one, or the N-th discrete GPU (needs the `wgpu` feature).
    Wgpu(Option<usize>),
    /// The N-th CUDA GPU (needs the `cuda` feature).
    Cuda(usize),
}

/// A device that cannot be named or used in this build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The text is not `cpu`, `wgpu[:N]` or `cuda[:N]`.
    #[error("unknown device {0:?}: expected cpu, wgpu, wgpu:N, cuda or cuda:N")]
    Unknown(String),
    /// The backend exists but this binary was built without its cargo feature.
    #[error("device {device} needs lume built with the `{feature}` cargo feature")]
    NotCompiled {
        /// The device asked for.
        device: String,
        /// The feature that enables it.
        feature: &'static str,
    },
    /// Reading a result back from the device failed.
    #[error("reading {what} back from the device: {message}")]
    Read {
        /// What was read.
        what: &'static str,
        /// What the backend said.
        message: String,
    },
}

impl DeviceError {
    /// A failed read of `what`, for `map_err`.
    pub fn read<E: fmt::Debug>(what: &'static str) -> impl FnOnce(E) -> DeviceError {
        move |e| DeviceError::Read {
            what,
            message: format!("{e:?}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || DeviceError::Unknown(s.to_owned());
        let (name, index) = match s.split_once(':') {
            Some((name, index)) => (name, Some(index.parse::<usize>().map_err(|_| unknown())?)),
            None => (s, None),
        };
        match (name, index) {
            ("cpu", None) => Ok(DeviceSpec::Cpu),
            ("wgpu", index) => Ok(DeviceSpec::Wgpu(index)),
            ("cuda", index) => Ok(DeviceSpec::Cuda(index.unwrap_or(0))),
            _ => Err(unknown()),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Wgpu(None) => f.write_str("wgpu"),
            DeviceSpec::Wgpu(Some(i)) => write!(f, "wgpu:{i}"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl DeviceSpec {
    /// The device named by the environment variable `var` (`cpu`, `wgpu[:N]`, `cuda[:N]`), or
    /// the CPU when it is unset or empty: how the test suite picks its device
    /// (`LUME_TEST_DEVICE=wgpu cargo test --features lume-model/wgpu`).
    ///
    /// ```
    /// use lume_model::DeviceSpec;
    /// assert_eq!(DeviceSpec::from_env("LUME_SURELY_UNSET_VARIABLE").unwrap(), DeviceSpec::Cpu);
    /// ```
    pub fn from_env(var: &str) -> Result<DeviceSpec, DeviceError> {
        match std::env::var(var) {
            Ok(name) if !name.trim().is_empty() => name.trim().parse(),
            _ => Ok(DeviceSpec::Cpu),
        }
    }

    /// The Burn device for inference (no autodiff).
    pub fn device(self) -> Result<Device, DeviceError> {
        match self {
            DeviceSpec::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            DeviceSpec::Wgpu(index) => Ok(Device::wgpu(match index {
                None => burn::tensor::DeviceKind::DefaultDevice,
                Some(i) => burn::tensor::DeviceKind::DiscreteGpu(i),
            })),
            #[cfg(feature = "cuda")]
            DeviceSpec::Cuda(i) => Ok(Device::cuda(i)),
            #[allow(unreachable_patterns)]
            other => Err(DeviceError::NotCompiled {
                device: other.to_string(),
                feature: match other {
                    DeviceSpec::Cuda(_) => "cuda",
                    _ => "wgpu",
                },
            }),
        }
    }

    /// The same device with autodiff, for training.
    pub fn training_device(self) -> Result<Device, DeviceError> {
        Ok(self.device()?.autodiff())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;

    #[test]
    fn display_round_trips() {
        for s in ["cpu", "wgpu", "wgpu:2", "cuda:0", "cuda:3"] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap().to_string(), s);
        }
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        for bad in ["", "cpu:1", "cuda:x", "gpu", "wgpu:-1"] {
            assert!(bad.parse::<DeviceSpec>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_cpu_device_computes_and_differentiates() {
        let device = DeviceSpec::Cpu.training_device().unwrap();
        let x = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device).require_grad();
        let y = (x.clone() * x.clone()).sum();
        assert_eq!(y.clone().into_scalar::<f32>(), 14.0);
        let grads = y.backward();
        let g = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(g, vec![2.0, 4.0, 6.0]);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_backend_left_out_of_the_build_is_a_clear_error() {
        let err = DeviceSpec::Cuda(0).device().unwrap_err();
        assert_eq!(
            err.to_string(),
            "device cuda:0 needs lume built with the `cuda` cargo feature"
        );
    }
}
