//! The KV cache of generation: each layer's keys and values after RoPE, grown in place.

use burn::tensor::{Int, Tensor, TensorData};

/// Keys and values of one layer after RoPE, `[batch, capacity, kv_heads, head_dim]` of which
/// the first `len` positions are filled. Appending writes in place (the buffers grow by
/// doubling), where concatenating would copy the whole cache for every token.
#[derive(Debug, Clone, Default)]
pub struct LayerCache {
    buffers: Option<(Tensor<4>, Tensor<4>)>,
    len: usize,
}

impl LayerCache {
    pub(super) fn append(&mut self, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let [b, t, _, _] = k.dims();
        let len = self.len + t;
        let (mut keys, mut values) = self.reserve(b, len, &k);
        keys = keys.slice_assign([0..b, self.len..len], k);
        values = values.slice_assign([0..b, self.len..len], v);
        self.len = len;
        let filled = (
            keys.clone().slice([0..b, 0..len]),
            values.clone().slice([0..b, 0..len]),
        );
        self.buffers = Some((keys, values));
        filled
    }
}

/// Positions a fresh cache makes room for.
const MIN_CACHE_CAPACITY: usize = 64;

/// The key/value cache of incremental decoding: one entry per layer, plus how many positions
/// it holds.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    pub(super) layers: Vec<LayerCache>,
    pub(super) len: usize,
    pub(super) rows: usize,
}

impl LayerCache {
    /// The buffers with room for `len` positions, created like `like` (`[_, _, kv, d]`) for
    /// `rows` rows when there are none yet.
    fn reserve(&mut self, rows: usize, len: usize, like: &Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let [_, _, heads, d] = like.dims();
        match self.buffers.take() {
            Some((k, v)) if k.dims()[1] >= len => (k, v),
            previous => {
                let capacity = (2 * len).max(MIN_CACHE_CAPACITY);
                let fresh = |old: Option<Tensor<4>>| {
                    let zeros = Tensor::<4>::zeros(
                        [rows, capacity, heads, d],
                        (&like.device(), like.dtype()),
                    );
                    match old {
                        Some(old) if self.len > 0 => zeros.slice_assign(
                            [0..rows, 0..self.len],
                            old.slice([0..rows, 0..self.len]),
                        ),
                        _ => zeros,
                    }
                };
                let (k, v) = previous.unzip();
                (fresh(k), fresh(v))
            }
        }
    }
}

impl KvCache {
    /// A cache of `rows` rows, empty; its buffers are created by the first
    /// [`write_row`](Self::write_row) or forward pass.
    pub fn with_rows(rows: usize) -> Self {
        KvCache {
            layers: Vec::new(),
            len: 0,
            rows,
        }
    }

    /// One empty layer entry per decoder layer, at the cache's current length, when there are
    /// none yet.
    pub(super) fn ensure_layers(&mut self, layers: usize) {
        if self.layers.is_empty() {
            let empty = LayerCache {
                buffers: None,
                len: self.len,
            };
            self.layers = vec![empty; layers];
        }
    }

    /// Rows (batch entries) the cache holds, once known.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Grows every row to `len` positions; the new positions hold zeros, which the caller's key
    /// mask must mark as not real.
    pub fn pad_to(&mut self, len: usize) {
        if len <= self.len {
            return;
        }
        let rows = self.rows;
        for layer in &mut self.layers {
            if let Some((k, v)) = layer.buffers.take() {
                let like = k.clone();
                layer.buffers = Some((k, v));
                let (k, v) = layer.reserve(rows, len, &like);
                layer.buffers = Some((k, v));
            }
            layer.len = len;
        }
        self.len = len;
    }

    /// Copies the first `n` positions of row `from_row` of `source` into the last `n` positions
    /// of row `row` (right-aligned, so the row's next key lands at position [`len`](Self::len)).
    ///
    /// # Panics
    /// When `n` exceeds either cache's length or the caches have different layer counts.
    pub fn write_row(&mut self, row: usize, source: &KvCache, from_row: usize, n: usize) {
        assert!(
            n <= self.len && n <= source.len && row < self.rows,
            "write_row: {n} positions into row {row} of a cache of {} rows × {} positions from one of {}",
            self.rows,
            self.len,
            source.len
        );
        self.ensure_layers(source.layers.len());
        assert_eq!(
            self.layers.len(),
            source.layers.len(),
            "write_row: layer counts differ"
        );
        let (rows, len) = (self.rows, self.len);
        for (layer, src) in self.layers.iter_mut().zip(&source.layers) {
            let Some((sk, sv)) = &src.buffers else {
                continue;
            };
            let (k, v) = layer.reserve(rows, len, sk);
            let take = |t: &Tensor<4>| t.clone().slice([from_row..from_row + 1, 0..n]);
            let k = k.slice_assign([row..row + 1, len - n..len], take(sk));
            let v = v.slice_assign([row..row + 1, len - n..len], take(sv));
            layer.buffers = Some((k, v));
        }
    }

    /// Drops the first `n` positions of every row (positions that no row's mask marks real any
    /// more), so that attention stops reading them.
    pub fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        let (rows, len) = (self.rows, self.len - n);
        for layer in &mut self.layers {
            if let Some((k, v)) = layer.buffers.take() {
                let like = k.clone();
                let keep = |t: Tensor<4>| t.slice([0..rows, n..n + len]);
                let (k, v) = (keep(k), keep(v));
                let mut fresh = LayerCache {
                    buffers: None,
                    len: 0,
                };
                let (fk, fv) = fresh.reserve(rows, len, &like);
                layer.buffers = Some((
                    fk.slice_assign([0..rows, 0..len], k),
                    fv.slice_assign([0..rows, 0..len], v),
                ));
            }
            layer.len = len;
        }
        self.len = len;
    }

    /// Keeps only the rows `keep`, in that order.
    pub fn select_rows(&mut self, keep: &[usize]) {
        for layer in &mut self.layers {
            if let Some((k, v)) = layer.buffers.take() {
                let device = k.device();
                let index = Tensor::<1, Int>::from_data(
                    TensorData::new(
                        keep.iter().map(|&r| r as i64).collect::<Vec<_>>(),
                        [keep.len()],
                    ),
                    &device,
                );
                layer.buffers = Some((k.select(0, index.clone()), v.select(0, index)));
            }
        }
        self.rows = keep.len();
    }

    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
