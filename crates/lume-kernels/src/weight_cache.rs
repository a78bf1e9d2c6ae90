//! Forms of a weight tensor kept beside it for as long as it lives: bf16 inference's packed
//! weights (`packed.rs`) and the integer codes of a quantized weight (`codes.rs`).
//!
//! An entry is keyed by its tensor's storage and layout and holds a reference to that storage,
//! so the key cannot be reused by another tensor while the entry lives; an entry goes once the
//! cache holds the only reference (the model let go of the weight).

use std::sync::{Arc, Mutex, MutexGuard};

use burn::tensor::Bytes;
use burn_flex::FlexTensor;

struct Entry<T> {
    storage: Arc<Bytes>,
    layout: String,
    transposed: bool,
    value: Arc<T>,
}

/// One kind of derived form, keyed by the tensor it was derived from.
pub(crate) struct WeightCache<T> {
    entries: Mutex<Vec<Entry<T>>>,
}

impl<T> WeightCache<T> {
    pub(crate) const fn new() -> Self {
        WeightCache {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The form of `w` (read as `wᵀ` when `transposed`), if one was stored.
    pub(crate) fn get(&self, w: &FlexTensor, transposed: bool) -> Option<Arc<T>> {
        let (storage, layout) = key(w);
        find(&self.lock(), &storage, &layout, transposed)
    }

    /// The form of `w`, made by `make` on the first call for this tensor.
    pub(crate) fn get_or_insert_with(
        &self,
        w: &FlexTensor,
        transposed: bool,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        let (storage, layout) = key(w);
        if let Some(value) = find(&self.lock(), &storage, &layout, transposed) {
            return value;
        }
        // Made outside the lock: another thread's products go on meanwhile.
        let value = Arc::new(make());
        let mut entries = self.lock();
        if let Some(value) = find(&entries, &storage, &layout, transposed) {
            return value;
        }
        push(
            &mut entries,
            storage,
            layout,
            transposed,
            Arc::clone(&value),
        );
        value
    }

    /// Stores `value` as the form of `w`, replacing an earlier one.
    pub(crate) fn insert(&self, w: &FlexTensor, transposed: bool, value: Arc<T>) {
        let (storage, layout) = key(w);
        let mut entries = self.lock();
        entries.retain(|e| {
            !(Arc::ptr_eq(&e.storage, &storage) && e.layout == layout && e.transposed == transposed)
        });
        push(&mut entries, storage, layout, transposed, value);
    }

    /// The entries, also after a panic elsewhere (they stay consistent: each is pushed whole).
    fn lock(&self) -> MutexGuard<'_, Vec<Entry<T>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn key(w: &FlexTensor) -> (Arc<Bytes>, String) {
    (w.data_arc(), format!("{:?}", w.layout()))
}

fn find<T>(
    entries: &[Entry<T>],
    storage: &Arc<Bytes>,
    layout: &str,
    transposed: bool,
) -> Option<Arc<T>> {
    entries
        .iter()
        .find(|e| {
            Arc::ptr_eq(&e.storage, storage) && e.layout == layout && e.transposed == transposed
        })
        .map(|e| Arc::clone(&e.value))
}

/// Adds an entry after dropping those whose tensor is gone: referenced by the cache's entries
/// alone (a weight read both ways has two).
fn push<T>(
    entries: &mut Vec<Entry<T>>,
    storage: Arc<Bytes>,
    layout: String,
    transposed: bool,
    value: Arc<T>,
) {
    let held: Vec<usize> = entries
        .iter()
        .map(|e| {
            entries
                .iter()
                .filter(|o| Arc::ptr_eq(&o.storage, &e.storage))
                .count()
        })
        .collect();
    let mut held = held.into_iter();
    entries.retain(|e| Arc::strong_count(&e.storage) > held.next().unwrap_or(0));
    entries.push(Entry {
        storage,
        layout,
        transposed,
        value,
    });
}
