//! Weights of bf16 inference packed once, for as long as their tensor lives.
//!
//! With `Precision::Bf16`, inference stores the weights in bf16 and never changes them, yet
//! every product would pack its weight again: on a scoring batch of a few hundred tokens,
//! packing SmolLM2's weights cost as much as multiplying them. Training's weights are f32 and
//! change every step: they are packed per product and never cached.

use std::sync::Arc;

use burn_flex::FlexTensor;

use super::bf16::PackedB;
use super::weight_cache::WeightCache;

static PACKED: WeightCache<PackedB> = WeightCache::new();

/// The packed form of `w` (read as `wᵀ` when `transposed`), made by `pack` on the first call for
/// this tensor.
pub(crate) fn packed_weight(
    w: &FlexTensor,
    transposed: bool,
    pack: impl FnOnce() -> PackedB,
) -> Arc<PackedB> {
    PACKED.get_or_insert_with(w, transposed, pack)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use burn::tensor::TensorData;
    use burn_flex::FlexTensor;

    use super::packed_weight;
    use crate::bf16::PackedB;
    use crate::product::Operand;

    fn weight(seed: f32) -> FlexTensor {
        let values: Vec<f32> = (0..6 * 5).map(|i| i as f32 * seed).collect();
        FlexTensor::from_data(TensorData::new(values, [6, 5]))
    }

    fn pack(w: &FlexTensor, counter: &mut usize) -> Arc<PackedB> {
        packed_weight(w, false, || {
            *counter += 1;
            PackedB::new(Operand::rows(w.as_slice::<f32>().unwrap(), 5), 6, 5)
        })
    }

    #[test]
    fn a_weight_is_packed_once_and_released_with_its_tensor() {
        let (w, mut packs) = (weight(0.5), 0);
        let first = pack(&w, &mut packs);
        let again = pack(&w.clone(), &mut packs);
        assert_eq!(packs, 1, "the same storage is packed once");
        assert!(Arc::ptr_eq(&first, &again));
        let transposed = packed_weight(&w, true, || {
            packs += 1;
            PackedB::new(Operand::transposed(w.as_slice::<f32>().unwrap(), 6), 6, 5)
        });
        assert_eq!(packs, 2, "read transposed, it is another packing");
        assert!(!Arc::ptr_eq(&first, &transposed));
        let storage = Arc::downgrade(&w.data_arc());
        drop(w);
        // The next insertion drops the entries whose tensor is gone.
        let other = weight(0.25);
        pack(&other, &mut packs);
        assert!(
            storage.upgrade().is_none(),
            "the cache kept a dropped weight alive"
        );
        assert_eq!(first.bytes(), again.bytes());
    }
}
