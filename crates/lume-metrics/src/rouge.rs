//! ROUGE-L and ROUGE-1 exactly as Python's `rouge_score` with `use_stemmer=True`.

use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::ops::Range;

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
    for_each_word(text, |w, _| words.push(w.to_owned()));
    words
}

/// Calls `each` with every word of the tokenizer and the bytes of `text` it came from, reusing
/// one buffer.
fn for_each_word(text: &str, mut each: impl FnMut(&str, Range<usize>)) {
    let mut current = String::new();
    let mut span = 0..0;
    for (at, c) in text.char_indices() {
        let end = at + c.len_utf8();
        let mut push = |l: char| {
            if l.is_ascii_lowercase() || l.is_ascii_digit() {
                if current.is_empty() {
                    span.start = at;
                }
                current.push(l);
                span.end = end;
            } else if !current.is_empty() {
                each(&current, span.clone());
                current.clear();
            }
        };
        if c.is_ascii() {
            push(c.to_ascii_lowercase());
        } else {
            // Python lowercases the whole string first; a few non-ASCII letters lowercase to
            // ASCII ones (the Kelvin sign to `k`), so lowercase before filtering.
            for l in c.to_lowercase() {
                push(l);
            }
        }
    }
    if !current.is_empty() {
        each(&current, span);
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
        for_each_word(text, |w, _| ids.push(vocab.token_id(w)));
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

    /// The words of `prediction` that ROUGE-L matches in `target`: the byte range of each word
    /// on one longest common subsequence of their stemmed tokens, in order. There are as many
    /// as ROUGE-L's recall counts (`recall × target tokens`); where several subsequences are
    /// longest, the one ending latest in `prediction` is taken.
    ///
    /// ```
    /// let scorer = lume_metrics::RougeScorer::default();
    /// let text = "A cat, running home!";
    /// let words: Vec<&str> = scorer
    ///     .recalled_words("the cats were running home", text)
    ///     .into_iter()
    ///     .map(|r| &text[r])
    ///     .collect();
    /// assert_eq!(words, ["cat", "running", "home"]);
    /// ```
    pub fn recalled_words(&self, target: &str, prediction: &str) -> Vec<Range<usize>> {
        let t = self.token_ids(target);
        let mut p = Vec::new();
        let mut spans = Vec::new();
        {
            let mut vocab = self.vocabulary.borrow_mut();
            for_each_word(prediction, |w, span| {
                p.push(vocab.token_id(w));
                spans.push(span);
            });
        }
        // The textbook table: answers are a few hundred words, and the walk back needs it. A
        // pair too long for it (over 16 MB of table) is left unmarked rather than allocated.
        let width = p.len() + 1;
        if (t.len() + 1).saturating_mul(width) > MAX_RECALL_TABLE {
            return Vec::new();
        }
        let mut table = vec![0u32; (t.len() + 1) * width];
        for i in 1..=t.len() {
            for j in 1..=p.len() {
                table[i * width + j] = if t[i - 1] == p[j - 1] {
                    table[(i - 1) * width + j - 1] + 1
                } else {
                    table[(i - 1) * width + j].max(table[i * width + j - 1])
                };
            }
        }
        let (mut i, mut j) = (t.len(), p.len());
        let mut kept = Vec::new();
        while i > 0 && j > 0 {
            if t[i - 1] == p[j - 1] {
                kept.push(spans[j - 1].clone());
                i -= 1;
                j -= 1;
            } else if table[(i - 1) * width + j] >= table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
        }
        kept.reverse();
        kept
    }
}

/// Cells of the table [`RougeScorer::recalled_words`] fills at most (4 bytes each).
const MAX_RECALL_TABLE: usize = 1 << 22;

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

    proptest::proptest! {
        /// The recalled words are as many as ROUGE-L counts, in order, each one word of the
        /// prediction, and their tokens a subsequence of the target's.
        #[test]
        fn recalled_words_are_the_longest_common_subsequence(
            target in proptest::collection::vec(0usize..8, 0..40),
            prediction in proptest::collection::vec(0usize..8, 0..40),
            separators in proptest::collection::vec(0usize..4, 40),
        ) {
            const WORDS: [&str; 8] = ["cat", "Cats", "running", "run", "home", "Élan", "2nd", "K"];
            const SEPARATORS: [&str; 4] = [" ", ", ", " — ", "'"];
            let text = |words: &[usize]| {
                words
                    .iter()
                    .zip(&separators)
                    .map(|(&w, &s)| format!("{}{}", WORDS[w], SEPARATORS[s]))
                    .collect::<String>()
            };
            let (target, prediction) = (text(&target), text(&prediction));
            let scorer = RougeScorer::default();
            let spans = scorer.recalled_words(&target, &prediction);
            let (t, p) = (scorer.token_ids(&target), scorer.token_ids(&prediction));
            proptest::prop_assert_eq!(spans.len(), lcs_len(&t, &p));
            proptest::prop_assert!(spans.windows(2).all(|w| w[0].end <= w[1].start));
            let mut rest = t.iter();
            for span in &spans {
                let ids = scorer.token_ids(&prediction[span.clone()]);
                proptest::prop_assert_eq!(ids.len(), 1);
                proptest::prop_assert!(rest.any(|&id| id == ids[0]));
            }
        }
    }

    #[test]
    fn lcs_is_symmetric_and_bounded() {
        assert_eq!(lcs_len(&[1, 2, 3, 4], &[2, 4]), 2);
        assert_eq!(lcs_len(&[2, 4], &[1, 2, 3, 4]), 2);
        assert_eq!(lcs_len(&[1, 2, 3], &[3, 2, 1]), 1);
    }
}
