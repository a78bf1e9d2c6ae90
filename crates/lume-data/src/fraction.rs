//! A stratified, seeded fraction of a benchmark: every split × task × kind in proportion,
//! whole documents kept together, and the membership-inference set that follows it.

use std::collections::{BTreeMap, HashSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::benchmark::{Benchmark, MiaSet};
use crate::record::{Kind, Split, Task};

/// How much of a benchmark a run uses.
///
/// Documents are drawn per split and task in an order fixed by `seed`, and a document comes
/// in with all its rows, until each of the stratum's kinds holds `ceil(fraction × rows)` rows
/// and at least `min_rows_per_cell` (or all it has). A document that adds only to kinds
/// already served is passed over, so a task whose documents carry five questions and one
/// passage (LUME's Task2) is not filled with questions.
///
/// ```
/// use lume_data::{synthesize, Benchmark, Fraction, Kind, Split, Stats, SynthConfig, Task};
///
/// let synth = synthesize(SynthConfig { seed: 1, docs_per_task: 40 });
/// let bench = Benchmark { records: synth.forget.into_iter().chain(synth.retain).collect() };
/// let slice = bench.fraction(&Fraction { fraction: 0.25, min_rows_per_cell: 3, seed: 7 })?;
/// let stats = Stats::from_records(&slice.records);
/// assert_eq!(stats.count(Split::Forget, Task::Task1, Kind::SentenceCompletion), 5);
/// # Ok::<(), lume_data::FractionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fraction {
    /// Share of every cell's rows, in (0, 1]; 1 keeps the whole benchmark.
    pub fraction: f64,
    /// The fewest rows a cell keeps (when it has them).
    pub min_rows_per_cell: usize,
    /// Seed of the document order.
    pub seed: u64,
}

impl Default for Fraction {
    fn default() -> Self {
        Fraction {
            fraction: 1.0,
            min_rows_per_cell: 10,
            seed: 0,
        }
    }
}

/// A [`Fraction`] that cannot be drawn.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FractionError {
    /// The fraction is not in (0, 1].
    #[error("fraction = {0}: must be in (0, 1]")]
    OutOfRange(f64),
}

impl Fraction {
    /// Whether this fraction keeps every row.
    pub fn is_whole(&self) -> bool {
        self.fraction >= 1.0
    }

    fn check(&self) -> Result<(), FractionError> {
        if self.fraction > 0.0 && self.fraction <= 1.0 {
            Ok(())
        } else {
            Err(FractionError::OutOfRange(self.fraction))
        }
    }
}

impl Benchmark {
    /// The rows of the documents `fraction` draws, in file order (see [`Fraction`]).
    pub fn fraction(&self, fraction: &Fraction) -> Result<Benchmark, FractionError> {
        fraction.check()?;
        if fraction.is_whole() {
            return Ok(self.clone());
        }
        // Per stratum: each document's rows per kind, in order of first appearance.
        type Stratum<'a> = BTreeMap<&'a str, [usize; 2]>;
        let mut strata: BTreeMap<(Split, Task), (Vec<&str>, Stratum)> = BTreeMap::new();
        for record in &self.records {
            let (order, rows) = strata.entry((record.split, record.task)).or_default();
            let doc = record.document_id();
            let counts = rows.entry(doc).or_insert_with(|| {
                order.push(doc);
                [0, 0]
            });
            counts[kind_index(record.kind())] += 1;
        }
        let mut chosen: HashSet<(Split, &str)> = HashSet::new();
        for (&(split, task), (order, rows)) in &strata {
            let mut totals = [0usize; 2];
            for counts in rows.values() {
                totals[0] += counts[0];
                totals[1] += counts[1];
            }
            let target = totals.map(|n| {
                let share = (fraction.fraction * n as f64).ceil() as usize;
                share.max(fraction.min_rows_per_cell).min(n)
            });
            let mut rng = ChaCha8Rng::seed_from_u64(fraction.seed);
            rng.set_stream(stratum_stream(split, task));
            let mut order = order.clone();
            order.shuffle(&mut rng);
            let mut have = [0usize; 2];
            for doc in order {
                if have[0] >= target[0] && have[1] >= target[1] {
                    break;
                }
                let counts = rows[doc];
                let serves = (0..2).any(|k| counts[k] > 0 && have[k] < target[k]);
                if serves {
                    have[0] += counts[0];
                    have[1] += counts[1];
                    chosen.insert((split, doc));
                }
            }
        }
        Ok(Benchmark {
            records: self
                .records
                .iter()
                .filter(|r| chosen.contains(&(r.split, r.document_id())))
                .cloned()
                .collect(),
        })
    }
}

impl MiaSet {
    /// The membership-inference set of a benchmark drawn with `seed` from a larger one: the
    /// members whose document is among `bench`'s forget documents (SemEval's members are
    /// forget documents, and a model fine-tuned on the slice has seen no other), and as many
    /// non-members, drawn with `seed`, in file order.
    ///
    /// ```
    /// use lume_data::{synthesize, Benchmark, Fraction, SynthConfig};
    ///
    /// let synth = synthesize(SynthConfig { seed: 1, docs_per_task: 40 });
    /// let mia = lume_data::MiaSet { members: synth.members, nonmembers: synth.nonmembers };
    /// let bench = Benchmark { records: synth.forget.into_iter().chain(synth.retain).collect() };
    /// let slice = bench.fraction(&Fraction { fraction: 0.25, min_rows_per_cell: 1, seed: 7 })?;
    /// let kept = mia.following(&slice, 7);
    /// assert!(kept.members.len() < mia.members.len());
    /// assert_eq!(kept.members.len(), kept.nonmembers.len());
    /// # Ok::<(), lume_data::FractionError>(())
    /// ```
    pub fn following(&self, bench: &Benchmark, seed: u64) -> MiaSet {
        let forget: HashSet<&str> = bench
            .split(Split::Forget)
            .map(|r| r.document_id())
            .collect();
        let members: Vec<_> = self
            .members
            .iter()
            .filter(|d| forget.contains(d.id.as_str()))
            .cloned()
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(NONMEMBER_STREAM);
        let mut picked: Vec<usize> = (0..self.nonmembers.len()).collect();
        picked.shuffle(&mut rng);
        picked.truncate(members.len());
        picked.sort_unstable();
        MiaSet {
            members,
            nonmembers: picked
                .into_iter()
                .map(|i| self.nonmembers[i].clone())
                .collect(),
        }
    }
}

fn kind_index(kind: Kind) -> usize {
    match kind {
        Kind::SentenceCompletion => 0,
        Kind::Question => 1,
    }
}

/// One random stream per stratum, so a stratum's documents do not depend on the others'.
fn stratum_stream(split: Split, task: Task) -> u64 {
    let split = match split {
        Split::Forget => 0,
        Split::Retain => 1,
    };
    split * Task::ALL.len() as u64 + task.index() as u64
}

const NONMEMBER_STREAM: u64 = 1 << 32;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Stats;
    use crate::synth::{SynthConfig, synthesize};
    use proptest::prelude::*;

    fn bench(docs_per_task: usize) -> (Benchmark, MiaSet) {
        let synth = synthesize(SynthConfig {
            seed: 3,
            docs_per_task,
        });
        let mia = MiaSet {
            members: synth.members,
            nonmembers: synth.nonmembers,
        };
        let records = synth.forget.into_iter().chain(synth.retain).collect();
        (Benchmark { records }, mia)
    }

    fn rows_per_document(
        b: &Benchmark,
        split: Split,
        task: Task,
        kind: Kind,
    ) -> BTreeMap<&str, usize> {
        let mut rows = BTreeMap::new();
        for r in b.select(split, task, kind) {
            *rows.entry(r.document_id()).or_default() += 1;
        }
        rows
    }

    #[test]
    fn out_of_range_fractions_are_refused() {
        let (b, _) = bench(4);
        for f in [0.0, -0.5, 1.5, f64::NAN] {
            let fraction = Fraction {
                fraction: f,
                ..Fraction::default()
            };
            assert!(b.fraction(&fraction).is_err(), "{f}");
        }
    }

    #[test]
    fn the_whole_benchmark_is_kept_at_one() {
        let (b, _) = bench(4);
        let slice = b.fraction(&Fraction::default()).unwrap();
        assert_eq!(slice.records, b.records);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn cells_are_filled_in_proportion_with_whole_documents(
            docs in 4usize..30,
            fraction in 0.05f64..1.0,
            min_rows in 0usize..8,
            seed in 0u64..1000,
        ) {
            let (b, mia) = bench(docs);
            let f = Fraction { fraction, min_rows_per_cell: min_rows, seed };
            let slice = b.fraction(&f).unwrap();
            prop_assert_eq!(&slice.records, &b.fraction(&f).unwrap().records);
            let all = Stats::from_records(&b.records);
            let got = Stats::from_records(&slice.records);
            for split in Split::ALL {
                for task in Task::ALL {
                    let mut docs_taken = 0;
                    let mut bound = 0;
                    for kind in Kind::ALL {
                        let n = all.count(split, task, kind);
                        let want = ((fraction * n as f64).ceil() as usize).max(min_rows).min(n);
                        let have = got.count(split, task, kind);
                        prop_assert!(have >= want, "{split} {task} {kind}: {have} < {want}");
                        // The fewest rows of this kind a document has: no more documents are
                        // taken than the cell that needs most of them asks for.
                        let per_doc = rows_per_document(&b, split, task, kind);
                        if let Some(r) = per_doc.values().min() {
                            bound = bound.max(want.div_ceil(*r));
                        }
                        docs_taken = rows_per_document(&slice, split, task, kind).len().max(docs_taken);
                    }
                    prop_assert!(docs_taken <= bound, "{split} {task}: {docs_taken} documents > {bound}");
                }
            }
            // Whole documents: a kept document keeps every row it had.
            let kept: HashSet<(Split, &str)> =
                slice.records.iter().map(|r| (r.split, r.document_id())).collect();
            let whole = b.records.iter().filter(|r| kept.contains(&(r.split, r.document_id()))).count();
            prop_assert_eq!(whole, slice.records.len());
            let m = mia.following(&slice, seed);
            prop_assert_eq!(m.members.len(), m.nonmembers.len());
            let forget: HashSet<&str> = slice.split(Split::Forget).map(|r| r.document_id()).collect();
            prop_assert!(m.members.iter().all(|d| forget.contains(d.id.as_str())));
            let everyone = mia.members.iter().filter(|d| forget.contains(d.id.as_str())).count();
            prop_assert_eq!(m.members.len(), everyone);
        }
    }
}
