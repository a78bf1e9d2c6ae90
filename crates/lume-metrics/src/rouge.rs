//! ROUGE-L and ROUGE-1 exactly as Python's `rouge_score` with `use_stemmer=True`.

use std::cell::RefCell;
use std::collections::HashMap;

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
    let mut current = String::new();
    for c in text.chars() {
        // Python lowercases the whole string first; a few non-ASCII letters lowercase to
        // ASCII ones (the Kelvin sign to `k`), so lowercase before filtering.
        for l in c.to_lowercase() {
            if l.is_ascii_lowercase() || l.is_ascii_digit() {
                current.push(l);
            } else if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
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
    ids: HashMap<String, u32>,
    stems: HashMap<String, u32>,
}

impl Vocabulary {
    fn intern(&mut self, token: String) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(token).or_insert(next)
    }

    fn token_id(&mut self, word: String) -> u32 {
        if word.len() <= 3 {
            return self.intern(word);
        }
        if let Some(&id) = self.stems.get(&word) {
            return id;
        }
        let id = self.intern(porter_stem(&word));
        self.stems.insert(word, id);
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
        rouge_words(text)
            .into_iter()
            .map(|w| vocab.token_id(w))
            .collect()
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
        let mut counts: HashMap<u32, (usize, usize)> = HashMap::new();
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

/// Length of the longest common subsequence, one DP row at a time.
fn lcs_len(a: &[u32], b: &[u32]) -> usize {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut row = vec![0u32; short.len() + 1];
    for &x in long {
        let mut diagonal = 0;
        for (j, &y) in short.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if x == y {
                diagonal + 1
            } else {
                above.max(row[j])
            };
            diagonal = above;
        }
    }
    row[short.len()] as usize
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

    #[test]
    fn lcs_is_symmetric_and_bounded() {
        assert_eq!(lcs_len(&[1, 2, 3, 4], &[2, 4]), 2);
        assert_eq!(lcs_len(&[2, 4], &[1, 2, 3, 4]), 2);
        assert_eq!(lcs_len(&[1, 2, 3], &[3, 2, 1]), 1);
    }
}
