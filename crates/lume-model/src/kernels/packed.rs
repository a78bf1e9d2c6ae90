//! Weights of bf16 inference packed once, for as long as their tensor lives.
//!
//! With `Precision::Bf16`, inference stores the weights in bf16 and never changes them, yet
//! every product would pack its weight again: on a scoring batch of a few hundred tokens,
//! packing SmolLM2's weights cost as much as multiplying them. The cache keys a packed weight by
//! its tensor's storage and layout and holds a reference to that storage, so the key cannot be
//! reused by another tensor while the entry lives; an entry goes once the cache holds the only
//! reference (the model let go of the weight). Training's weights are f32 and change every
//! step: they are packed per product and never cached.

use std::sync::{Arc, Mutex};

use burn_flex::FlexTensor;

use super::bf16::PackedB;

struct Entry {
    storage: Arc<burn::tensor::Bytes>,
    layout: String,
    transposed: bool,
    packed: Arc<PackedB>,
}

static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// The packed form of `w` (read as `wᵀ` when `transposed`), made by `pack` on the first call for
/// this tensor.
pub(crate) fn packed_weight(
    w: &FlexTensor,
    transposed: bool,
    pack: impl FnOnce() -> PackedB,
) -> Arc<PackedB> {
    let storage = w.data_arc();
    let layout = format!("{:?}", w.layout());
    let found = |cache: &[Entry]| {
        cache
            .iter()
            .find(|e| {
                Arc::ptr_eq(&e.storage, &storage)
                    && e.layout == layout
                    && e.transposed == transposed
            })
            .map(|e| Arc::clone(&e.packed))
    };
    if let Some(packed) = found(&lock()) {
        return packed;
    }
    // Packed outside the lock: another thread's products go on meanwhile.
    let packed = Arc::new(pack());
    let mut cache = lock();
    if let Some(packed) = found(&cache) {
        return packed;
    }
    // An entry whose tensor is gone is referenced by the cache's entries alone (a weight read
    // both ways has two).
    let held: Vec<usize> = cache
        .iter()
        .map(|e| {
            cache
                .iter()
                .filter(|o| Arc::ptr_eq(&o.storage, &e.storage))
                .count()
        })
        .collect();
    let mut held = held.into_iter();
    cache.retain(|e| Arc::strong_count(&e.storage) > held.next().unwrap_or(0));
    cache.push(Entry {
        storage,
        layout,
        transposed,
        packed: Arc::clone(&packed),
    });
    packed
}

/// The cache, also after a panic elsewhere (its entries stay consistent: each is pushed whole).
fn lock() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use burn::tensor::TensorData;
    use burn_flex::FlexTensor;

    use super::packed_weight;
    use crate::kernels::bf16::PackedB;
    use crate::kernels::product::Operand;

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
