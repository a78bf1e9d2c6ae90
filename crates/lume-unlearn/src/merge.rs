//! Model merging: task arithmetic and TIES, to combine an over- and an under-forgetting run
//! (the SemEval-2025 winners' second recipe).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::UnlearnError;

/// How task vectors `τ_i = θ_i − θ_base` are combined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MergeMethod {
    /// `θ_base + λ·Σ τ_i`.
    TaskArithmetic {
        /// Scale λ.
        lambda: f64,
    },
    /// TIES: keep each τ_i's `density` largest magnitudes (per tensor), elect each entry's sign
    /// from the sum, average the entries that agree with it, add `λ·` that to the base.
    Ties {
        /// Fraction of entries kept per task vector and tensor.
        density: f64,
        /// Scale λ.
        lambda: f64,
    },
}

/// Merges one tensor, given flat: `base` and the fine-tuned versions `models`.
///
/// ```
/// use lume_unlearn::{MergeMethod, merge_vectors};
/// let merged = merge_vectors(&[0.0; 4], &[&[1.0, -2.0, 3.0, 0.1], &[2.0, 1.5, -1.0, 0.2]],
///     MergeMethod::Ties { density: 0.5, lambda: 1.0 });
/// assert_eq!(merged, vec![2.0, -2.0, 3.0, 0.0]);
/// ```
pub fn merge_vectors(base: &[f32], models: &[&[f32]], method: MergeMethod) -> Vec<f32> {
    let tasks: Vec<Vec<f64>> = models
        .iter()
        .map(|m| {
            m.iter()
                .zip(base)
                .map(|(t, b)| f64::from(*t) - f64::from(*b))
                .collect()
        })
        .collect();
    let merged: Vec<f64> = match method {
        MergeMethod::TaskArithmetic { lambda } => (0..base.len())
            .map(|i| lambda * tasks.iter().map(|t| t[i]).sum::<f64>())
            .collect(),
        MergeMethod::Ties { density, lambda } => {
            let trimmed: Vec<Vec<f64>> = tasks.iter().map(|t| trim(t, density)).collect();
            (0..base.len())
                .map(|i| {
                    let elected = trimmed.iter().map(|t| t[i]).sum::<f64>().signum();
                    let agreeing: Vec<f64> = trimmed
                        .iter()
                        .map(|t| t[i])
                        .filter(|&x| x != 0.0 && x.signum() == elected)
                        .collect();
                    if agreeing.is_empty() {
                        0.0
                    } else {
                        lambda * agreeing.iter().sum::<f64>() / agreeing.len() as f64
                    }
                })
                .collect()
        }
    };
    base.iter()
        .zip(merged)
        .map(|(b, d)| (f64::from(*b) + d) as f32)
        .collect()
}

/// Zeroes all but the `density` fraction of largest magnitudes (earlier index wins a tie).
fn trim(task: &[f64], density: f64) -> Vec<f64> {
    let keep = ((task.len() as f64) * density.clamp(0.0, 1.0)).round() as usize;
    let mut order: Vec<usize> = (0..task.len()).collect();
    order.sort_by(|&a, &b| task[b].abs().total_cmp(&task[a].abs()).then(a.cmp(&b)));
    let mut out = vec![0.0; task.len()];
    for &i in order.iter().take(keep) {
        out[i] = task[i];
    }
    out
}

/// Every parameter's values in module order, or the first that could not be read back.
#[derive(Default)]
struct Collect {
    values: Vec<Vec<f32>>,
    problem: Option<String>,
}

impl Collect {
    fn of<M: Module>(model: &M) -> Result<Vec<Vec<f32>>, UnlearnError> {
        let mut collect = Collect::default();
        model.visit(&mut collect);
        match collect.problem {
            Some(problem) => Err(UnlearnError::Device(problem)),
            None => Ok(collect.values),
        }
    }
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        match param.val().into_data().try_to_vec::<f32>() {
            Ok(values) => self.values.push(values),
            Err(e) => {
                self.problem
                    .get_or_insert_with(|| format!("reading a parameter back to merge it: {e:?}"));
            }
        }
    }
}

struct Replace<'a> {
    base: &'a [Vec<f32>],
    others: &'a [Vec<Vec<f32>>],
    method: MergeMethod,
    index: usize,
}

impl ModuleMapper for Replace<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let models: Vec<&[f32]> = self
            .others
            .iter()
            .map(|m| m[self.index].as_slice())
            .collect();
        let merged = merge_vectors(&self.base[self.index], &models, self.method);
        self.index += 1;
        let value =
            Tensor::<D>::from_data(TensorData::new(merged, tensor.shape()), &tensor.device());
        Param::from_mapped_value(id, value, mapper)
    }
}

/// Merges `models` (fine-tuned from `base`, same architecture) into a copy of `base`.
pub fn merge_models<M: Module>(
    base: M,
    models: &[&M],
    method: MergeMethod,
) -> Result<M, UnlearnError> {
    let others = models
        .iter()
        .map(|m| Collect::of(*m))
        .collect::<Result<Vec<_>, _>>()?;
    let base_values = Collect::of(&base)?;
    for (i, other) in others.iter().enumerate() {
        let same = other.len() == base_values.len()
            && other
                .iter()
                .zip(&base_values)
                .all(|(a, b)| a.len() == b.len());
        if !same {
            return Err(UnlearnError::Data(format!(
                "model {i} does not have the base model's parameters and shapes"
            )));
        }
    }
    // The base's values, read once: the shape check and the merge both use them.
    Ok(base.map(&mut Replace {
        base: &base_values,
        others: &others,
        method,
        index: 0,
    }))
}
