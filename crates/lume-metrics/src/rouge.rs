//! ROUGE-L and ROUGE-1 exactly as Python's `rouge_score` with `use_stemmer=True`.

use rustc_hash::FxHashMap;
use std::cell::RefCell;

use crate::porter::porter_stem;

/// Precision, recall and F-measure, as `rouge_score.scoring.Score`.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RougeScore {
    /// Matches over prediction tokens.
    pub precision: f64,
    /// Matches over target tokens.
    pub recall: f64,
    /// `2PR/(P+R)`, 0 when both are 0.
    pub fmeasure: f64,
}

impl RougeScore {
    fn from_counts(matches: usize, target_len: usize, prediction_len: usize) -> Self {
        let precision = matches as f64 / prediction_len.max(1) as f64;
        let recall = matches as f64 / target_len.max(1) as f64;
        let fmeasure = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        RougeScore {
            precision,
            recall,
            fmeasure,
        }
    }
}

/// `rouge_score`'s tokenizer without stemming: Python `str.lower()`, every run of characters
/// outside `[a-z0-9]` becomes a separator.
///
/// ```
/// assert_eq!(lume_metrics::rouge_words("Élan, the CAT's 2nd-best!"), ["lan", "the", "cat", "s", "2nd", "best"]);
/// ```
pub fn rouge_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for_each_word(text, |w| words.push(w.to_owned()));
    words
}

/// Calls `each` with every word of the tokenizer, reusing one buffer.
fn for_each_word(text: &str, mut each: impl FnMut(&str)) {
    let mut current = String::new();
    let mut push = |l: char, current: &mut String| {
        if l.is_ascii_lowercase() || l.is_ascii_digit() {
            current.push(l);
        } else if !current.is_empty() {
            each(current);
            current.clear();
        }
    };
    for c in text.chars() {
        if c.is_ascii() {
            push(c.to_ascii_lowercase(), &mut current);
        } else {
            // Python lowercases the whole string first; a few non-ASCII letters lowercase to
            // ASCII ones (the Kelvin sign to `k`), so lowercase before filtering.
            for l in c.to_lowercase() {
                push(l, &mut current);
            }
        }
    }
    if !current.is_empty() {
        each(&current);
    }
}

/// A ROUGE scorer that tokenizes and stems like `RougeScorer(..., use_stemmer=True)`.
/// It remembers stems and interns tokens, so scoring many pairs is cheap.
///
/// ```
/// let scorer = lume_metrics::RougeScorer::default();
/// let s = scorer.rouge_l("The cats were running home.", "the cat runs home");
/// assert_eq!(s.recall, 4.0 / 5.0);
/// assert_eq!(s.precision, 1.0);
/// ```
#[derive(Debug, Default)]
pub struct RougeScorer {
    vocabulary: RefCell<Vocabulary>,
}

#[derive(Debug, Default)]
struct Vocabulary {
    // Fx hashing: these maps are the hot path of scoring, and their keys are not adversarial.
    ids: FxHashMap<String, u32>,
    stems: FxHashMap<String, u32>,
}

impl Vocabulary {
    fn intern(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        let id = self.ids.len() as u32;
        self.ids.insert(token.to_owned(), id);
        id
    }

    /// Words longer than 3 characters are stemmed once, then remembered.
    fn token_id(&mut self, word: &str) -> u32 {
        if word.len() <= 3 {
            return self.intern(word);
        }
        if let Some(&id) = self.stems.get(word) {
            return id;
        }
        let id = self.intern(&porter_stem(word));
        self.stems.insert(word.to_owned(), id);
        id
    }
}

impl RougeScorer {
    /// Stemmed tokens, as `rouge_score.tokenize.tokenize(text, PorterStemmer())`.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        rouge_words(text)
            .into_iter()
            .map(|w| if w.len() > 3 { porter_stem(&w) } else { w })
            .collect()
    }

    fn token_ids(&self, text: &str) -> Vec<u32> {
        let mut vocab = self.vocabulary.borrow_mut();
        let mut ids = Vec::with_capacity(text.len() / 5);
        for_each_word(text, |w| ids.push(vocab.token_id(w)));
        ids
    }

    /// ROUGE-L of `prediction` against `target` (the argument order of `RougeScorer.score`).
    pub fn rouge_l(&self, target: &str, prediction: &str) -> RougeScore {
        let (t, p) = (self.token_ids(target), self.token_ids(prediction));
        if t.is_empty() || p.is_empty() {
            return RougeScore::default();
        }
        RougeScore::from_counts(lcs_len(&t, &p), t.len(), p.len())
    }

    /// ROUGE-1 (unigram overlap with multiplicity) of `prediction` against `target`.
    pub fn rouge_1(&self, target: &str, prediction: &str) -> RougeScore {
        let (t, p) = (self.token_ids(target), self.token_ids(prediction));
        let mut counts: FxHashMap<u32, (usize, usize)> = FxHashMap::default();
        for &id in &t {
            counts.entry(id).or_default().0 += 1;
        }
        for &id in &p {
            counts.entry(id).or_default().1 += 1;
        }
        let matches = counts.values().map(|&(a, b)| a.min(b)).sum();
        RougeScore::from_counts(matches, t.len(), p.len())
    }
}

/// Length of the longest common subsequence, bit-parallel (Allison–Dix, Hyyrö): one pass over
/// the longer sequence, 64 cells of the DP table per machine word.
fn lcs_len(a: &[u32], b: &[u32]) -> usize {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let m = short.len();
    if m == 0 {
        return 0;
    }
    let words = m.div_ceil(64);
    let mut masks: FxHashMap<u32, Vec<u64>> = FxHashMap::default();
    for (i, &token) in short.iter().enumerate() {
        masks.entry(token).or_insert_with(|| vec![0; words])[i / 64] |= 1 << (i % 64);
    }
    let mut v = vec![u64::MAX; words];
    for token in long {
        let Some(mask) = masks.get(token) else {
            continue;
        };
        let mut carry = false;
        for (vw, &mw) in v.iter_mut().zip(mask) {
            let u = *vw & mw;
            let (sum, c1) = vw.overflowing_add(u);
            let (sum, c2) = sum.overflowing_add(u64::from(carry));
            carry = c1 || c2;
            *vw = sum | (*vw & !mw);
        }
    }
    let ones: usize = v
        .iter()
        .enumerate()
        .map(|(w, &bits)| {
            let valid = (m - w * 64).min(64);
            let kept = if valid == 64 {
                bits
            } else {
                bits & ((1u64 << valid) - 1)
            };
            kept.count_ones() as usize
        })
        .sum();
    m - ones
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sides_score_zero() {
        let s = RougeScorer::default();
        assert_eq!(s.rouge_l("", "a b"), RougeScore::default());
        assert_eq!(s.rouge_l("a b", "!!!"), RougeScore::default());
        assert_eq!(s.rouge_1("", ""), RougeScore::default());
    }

    /// The textbook table, to check the bit-parallel version against.
    fn lcs_len_table(a: &[u32], b: &[u32]) -> usize {
        let mut t = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                t[i][j] = if a[i - 1] == b[j - 1] {
                    t[i - 1][j - 1] + 1
                } else {
                    t[i - 1][j].max(t[i][j - 1])
                };
            }
        }
        t[a.len()][b.len()]
    }

    proptest::proptest! {
        #[test]
        fn bit_parallel_lcs_equals_the_table(
            a in proptest::collection::vec(0u32..6, 0..200),
            b in proptest::collection::vec(0u32..6, 0..200),
        ) {
            proptest::prop_assert_eq!(lcs_len(&a, &b), lcs_len_table(&a, &b));
        }
    }

    #[test]
    fn lcs_is_symmetric_and_bounded() {
        assert_eq!(lcs_len(&[1, 2, 3, 4], &[2, 4]), 2);
        assert_eq!(lcs_len(&[2, 4], &[1, 2, 3, 4]), 2);
        assert_eq!(lcs_len(&[1, 2, 3], &[3, 2, 1]), 1);
    }
}
