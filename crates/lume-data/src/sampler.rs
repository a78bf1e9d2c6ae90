//! Seeded shuffling and the sampler that pairs forget batches with retain batches.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// `0..n` in an order fixed by `seed` and `epoch`.
///
/// ```
/// let a = lume_data::shuffled_indices(10, 42, 0);
/// assert_eq!(a, lume_data::shuffled_indices(10, 42, 0));
/// assert_ne!(a, lume_data::shuffled_indices(10, 42, 1));
/// ```
pub fn shuffled_indices(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    order
}

/// How to draw paired batches.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairingConfig {
    /// Forget examples per batch.
    pub forget_batch_size: usize,
    /// Retain examples drawn for each forget example (0: no retain batch).
    pub retain_per_forget: usize,
    /// Shuffle the forget set each epoch (and the retain stream each pass).
    pub shuffle: bool,
    /// Drop a last forget batch smaller than `forget_batch_size`.
    pub drop_last: bool,
    /// Seed of every shuffle.
    pub seed: u64,
}

impl Default for PairingConfig {
    fn default() -> Self {
        PairingConfig {
            forget_batch_size: 4,
            retain_per_forget: 1,
            shuffle: true,
            drop_last: false,
            seed: 0,
        }
    }
}

/// Indices of one forget batch and of the retain batch paired with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedBatch {
    /// Indices into the forget examples.
    pub forget: Vec<usize>,
    /// Indices into the retain examples.
    pub retain: Vec<usize>,
}

/// Walks the forget set an epoch at a time; the retain set is an endless, reshuffled stream,
/// so every retain example is used before any repeats.
///
/// ```
/// use lume_data::{PairedSampler, PairingConfig};
/// let config = PairingConfig { forget_batch_size: 2, retain_per_forget: 3, ..Default::default() };
/// let mut sampler = PairedSampler::new(5, 100, config);
/// let epoch = sampler.next_epoch();
/// assert_eq!(epoch.len(), 3);
/// assert_eq!(epoch[0].retain.len(), 6);
/// assert_eq!(epoch[2].retain.len(), 3); // the last forget batch holds one example
/// ```
#[derive(Debug, Clone)]
pub struct PairedSampler {
    forget_len: usize,
    retain_len: usize,
    config: PairingConfig,
    epoch: u64,
    retain_pass: u64,
    retain_order: Vec<usize>,
    retain_cursor: usize,
    /// Each forget example's length, when batches are grouped by it.
    lengths: Option<Vec<usize>>,
    /// Each retain example's length, when the retain stream is grouped by it.
    retain_lengths: Option<Vec<usize>>,
}

impl PairedSampler {
    /// A sampler over `forget_len` forget and `retain_len` retain examples.
    pub fn new(forget_len: usize, retain_len: usize, config: PairingConfig) -> Self {
        PairedSampler {
            forget_len,
            retain_len,
            config,
            epoch: 0,
            retain_pass: 0,
            retain_order: Vec::new(),
            retain_cursor: 0,
            lengths: None,
            retain_lengths: None,
        }
    }

    /// Retain batches of examples of like length too: each pass over the retain set is cut
    /// into groups as [`grouped_by_length`](Self::grouped_by_length) does, each group sorted
    /// by length, cut into pieces of `forget_batch_size × retain_per_forget` and the pieces
    /// shuffled, so that the consecutive draws of one retain batch are alike.
    ///
    /// # Panics
    /// When `lengths` does not hold one length per retain example.
    pub fn retain_grouped_by_length(mut self, lengths: Vec<usize>) -> Self {
        assert_eq!(
            lengths.len(),
            self.retain_len,
            "one length per retain example"
        );
        self.retain_lengths = Some(lengths);
        self
    }

    /// Forget batches of examples of like length (`lengths[i]`: example `i`'s tokens), so a
    /// padded batch is mostly real tokens: each epoch's shuffled order is cut into groups of
    /// 50 batches (`LENGTH_GROUP_BATCHES`), each group sorted by length and cut into batches, and
    /// the batches shuffled (Hugging Face's `group_by_length`, with a shuffled batch order).
    ///
    /// ```
    /// use lume_data::{PairedSampler, PairingConfig};
    /// let lengths = vec![5, 200, 7, 180, 6, 190, 4, 210];
    /// let config = PairingConfig { forget_batch_size: 4, retain_per_forget: 0, ..Default::default() };
    /// let mut sampler = PairedSampler::new(8, 0, config).grouped_by_length(lengths.clone());
    /// for batch in sampler.next_epoch() {
    ///     let long = batch.forget.iter().filter(|&&i| lengths[i] > 100).count();
    ///     assert!(long == 0 || long == 4);
    /// }
    /// ```
    ///
    /// # Panics
    /// When `lengths` does not hold one length per forget example.
    pub fn grouped_by_length(mut self, lengths: Vec<usize>) -> Self {
        assert_eq!(
            lengths.len(),
            self.forget_len,
            "one length per forget example"
        );
        self.lengths = Some(lengths);
        self
    }

    fn order(&self, n: usize, stream: u64) -> Vec<usize> {
        if self.config.shuffle {
            shuffled_indices(n, self.config.seed, stream)
        } else {
            (0..n).collect()
        }
    }

    fn next_retain(&mut self) -> Option<usize> {
        if self.retain_len == 0 {
            return None;
        }
        if self.retain_cursor == self.retain_order.len() {
            // Retain passes use odd streams, forget epochs even ones: never the same order.
            let stream = 2 * self.retain_pass + 1;
            self.retain_order = self.order(self.retain_len, stream);
            if let (Some(lengths), true) = (&self.retain_lengths, self.config.shuffle) {
                let piece = (self.config.forget_batch_size * self.config.retain_per_forget).max(1);
                let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
                rng.set_stream(LENGTH_STREAM + stream);
                self.retain_order = group_by_length(&self.retain_order, lengths, piece, &mut rng)
                    .into_iter()
                    .flatten()
                    .collect();
            }
            self.retain_pass += 1;
            self.retain_cursor = 0;
        }
        self.retain_cursor += 1;
        Some(self.retain_order[self.retain_cursor - 1])
    }

    /// The batches of the next epoch.
    pub fn next_epoch(&mut self) -> Vec<PairedBatch> {
        let size = self.config.forget_batch_size.max(1);
        let order = self.order(self.forget_len, 2 * self.epoch);
        let chunks: Vec<Vec<usize>> = match &self.lengths {
            Some(lengths) if self.config.shuffle => {
                let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
                rng.set_stream(LENGTH_STREAM + 2 * self.epoch);
                // The rows `drop_last` drops are those it drops unsorted, not the longest; then no
                // batch is short.
                let kept = if self.config.drop_last {
                    order.len() - order.len() % size
                } else {
                    order.len()
                };
                group_by_length(&order[..kept], lengths, size, &mut rng)
            }
            _ => order.chunks(size).map(<[usize]>::to_vec).collect(),
        };
        self.epoch += 1;
        let mut batches = Vec::new();
        for chunk in chunks {
            if self.config.drop_last && chunk.len() < size {
                break;
            }
            let retain = (0..chunk.len() * self.config.retain_per_forget)
                .filter_map(|_| self.next_retain())
                .collect();
            batches.push(PairedBatch {
                forget: chunk,
                retain,
            });
        }
        batches
    }

    /// Epochs started so far.
    pub fn epochs_done(&self) -> u64 {
        self.epoch
    }
}

/// Batches per group sorted by length in [`PairedSampler::grouped_by_length`] (Hugging Face's
/// `mega_batch_mult`): enough for like lengths to meet, few enough that an epoch still mixes.
pub const LENGTH_GROUP_BATCHES: usize = 50;

/// Length grouping's batch shuffles: streams far from the epochs' (even) and retain passes' (odd).
const LENGTH_STREAM: u64 = 1 << 40;

fn group_by_length(
    order: &[usize],
    lengths: &[usize],
    size: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<usize>> {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for group in order.chunks(size * LENGTH_GROUP_BATCHES) {
        let mut group = group.to_vec();
        // Stable: ties keep the shuffled order.
        group.sort_by_key(|&i| lengths[i]);
        let short = group.len() % size;
        if short == 0 {
            batches.extend(group.chunks(size).map(<[usize]>::to_vec));
            continue;
        }
        // A short batch goes where it pads least: among the sorted rows, consecutive batches
        // of `size` with the short one as the k-th.
        let full = group.len() / size;
        let cost = |k: usize| -> usize {
            let mut at = 0;
            (0..=full)
                .map(|b| {
                    let n = if b == k { short } else { size };
                    at += n;
                    n * lengths[group[at - 1]]
                })
                .sum()
        };
        let best = (0..=full)
            .min_by_key(|&k| (cost(k), std::cmp::Reverse(k)))
            .unwrap_or(full);
        let mut at = 0;
        for b in 0..=full {
            let n = if b == best { short } else { size };
            batches.push(group[at..at + n].to_vec());
            at += n;
        }
    }
    batches.shuffle(rng);
    batches
}
