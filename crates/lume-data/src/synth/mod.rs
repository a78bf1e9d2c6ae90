//! A seeded generator of LUME-style data: the embedded default of `lume`.
//!
//! Same seed, same bytes: every draw comes from one ChaCha8 stream, in a fixed order.

mod documents;
mod quiz;
mod words;

use std::collections::HashSet;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::jsonl::{write_jsonl, write_mia};
use crate::problem::DataError;
use crate::record::{Kind, MiaDocument, Record, RecordId, Split, Task};

pub use documents::Document;
pub use quiz::{QUIZ_SUBJECT, Quiz, QuizItem};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SynthConfig {
    /// Seed of every draw.
    pub seed: u64,
    /// Documents per task, forget and retain together (split 1:1; an odd one goes to retain).
    pub docs_per_task: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 0,
            docs_per_task: 16,
        }
    }
}

/// A generated benchmark: records and membership-inference sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthData {
    /// Forget records, document by document.
    pub forget: Vec<Record>,
    /// Retain records.
    pub retain: Vec<Record>,
    /// Every forget document, whole.
    pub members: Vec<MiaDocument>,
    /// As many fresh documents, never in forget or retain.
    pub nonmembers: Vec<MiaDocument>,
    /// A multiple-choice quiz about retain facts, in the MMLU layout (the utility stand-in).
    pub quiz: Quiz,
}

impl SynthData {
    /// Writes `forget.jsonl`, `retain.jsonl`, `mia/member.jsonl`, `mia/nonmember.jsonl` and
    /// the quiz under `mmlu/` (`dev/`, `test/`).
    pub fn write(&self, dir: &Path) -> Result<(), DataError> {
        write_jsonl(&dir.join("forget.jsonl"), &self.forget)?;
        write_jsonl(&dir.join("retain.jsonl"), &self.retain)?;
        write_mia(&dir.join("mia").join("member.jsonl"), &self.members)?;
        write_mia(&dir.join("mia").join("nonmember.jsonl"), &self.nonmembers)?;
        self.quiz.write(&dir.join("mmlu"))
    }
}

/// Draws names, places and ids that are never used twice in one dataset.
pub(crate) struct Generator {
    pub(crate) rng: ChaCha8Rng,
    used: HashSet<String>,
}

impl Generator {
    fn new(seed: u64) -> Self {
        Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            used: HashSet::new(),
        }
    }

    pub(crate) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    /// A value from `draw` not returned before.
    pub(crate) fn fresh(&mut self, mut draw: impl FnMut(&mut Self) -> String) -> String {
        loop {
            let value = draw(self);
            if self.used.insert(value.clone()) {
                return value;
            }
        }
    }

    /// An invented word of 2–3 syllables, capitalised.
    pub(crate) fn invented(&mut self, syllables: usize) -> String {
        let mut w: String = (0..syllables)
            .map(|_| self.pick(words::SYLLABLES))
            .collect();
        if let Some(first) = w.get(0..1) {
            let upper = first.to_uppercase();
            w.replace_range(0..1, &upper);
        }
        w
    }

    /// `First Last`, unique in the dataset; surnames are invented once the lists run short.
    pub(crate) fn full_name(&mut self) -> (String, String) {
        let name = self.fresh(|g| {
            let first = g.pick(words::FIRST_NAMES);
            let last = if g.rng.random_bool(0.7) {
                g.pick(words::LAST_NAMES).to_owned()
            } else {
                let n = g.rng.random_range(2..4);
                g.invented(n)
            };
            format!("{first} {last}")
        });
        let (first, last) = name.split_once(' ').unwrap_or((&name, ""));
        (first.to_owned(), last.to_owned())
    }

    pub(crate) fn uuid(&mut self) -> String {
        self.fresh(|g| {
            let b: [u8; 16] = g.rng.random();
            format!(
                "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                u16::from_be_bytes([b[4], b[5]]),
                u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
                8 + (b[8] & 0x3),
                u16::from_be_bytes([b[9], b[10]]) & 0x0fff,
                u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]]),
            )
        })
    }

    pub(crate) fn numeric_id(&mut self) -> String {
        self.fresh(|g| g.rng.random_range(1_000_000..70_000_000u32).to_string())
    }
}

fn records_of(doc: &Document, split: Split) -> Vec<Record> {
    let make = |kind, index, input: &str, output: &str| Record {
        id: RecordId::new(&doc.id, kind, index).expect("generated ids carry a valid suffix"),
        input: input.to_owned(),
        output: output.to_owned(),
        task: doc.task,
        split,
    };
    let mut records = vec![make(
        Kind::SentenceCompletion,
        1,
        &doc.completion.0,
        &doc.completion.1,
    )];
    for (i, (q, a)) in doc.questions.iter().enumerate() {
        records.push(make(Kind::Question, i as u32, q, a));
    }
    records
}

/// Generates a dataset. Task1 stories, Task2 PII biographies and Task3 encyclopedic
/// biographies, `docs_per_task` of each, alternately forget and retain; members are all forget
/// documents, non-members as many fresh documents.
///
/// ```
/// use lume_data::{synthesize, SynthConfig};
/// let a = synthesize(SynthConfig { seed: 7, docs_per_task: 4 });
/// assert_eq!(a, synthesize(SynthConfig { seed: 7, docs_per_task: 4 }));
/// assert_eq!(a.members.len(), a.nonmembers.len());
/// ```
pub fn synthesize(config: SynthConfig) -> SynthData {
    let mut g = Generator::new(config.seed);
    let mut data = SynthData {
        forget: Vec::new(),
        retain: Vec::new(),
        members: Vec::new(),
        nonmembers: Vec::new(),
        quiz: Quiz::default(),
    };
    let (mut seen, mut retained, mut unseen) = (Vec::new(), Vec::new(), Vec::new());
    for task in Task::ALL {
        for i in 0..config.docs_per_task {
            let doc = Document::generate(&mut g, task);
            // Even positions forget, odd retain; with an odd count the extra one is retain.
            let forget = i % 2 == 0 && i + 1 < config.docs_per_task;
            if forget {
                data.forget.extend(records_of(&doc, Split::Forget));
                data.members.push(doc.mia_document());
                // Each non-member is drawn right after its member, so that both come from the
                // same state of the name pools (later draws invent more surnames, which would
                // make non-members easy to tell apart).
                let twin = Document::generate(&mut g, task);
                data.nonmembers.push(twin.mia_document());
                unseen.push(twin);
            } else {
                data.retain.extend(records_of(&doc, Split::Retain));
                retained.push(seen.len());
            }
            seen.push(doc);
        }
    }
    let retain_docs: Vec<&Document> = retained.iter().map(|&i| &seen[i]).collect();
    let unseen_docs: Vec<&Document> = unseen.iter().collect();
    let all: Vec<&Document> = seen.iter().chain(&unseen).collect();
    data.quiz = Quiz::build(&retain_docs, &unseen_docs, &all, config.seed);
    data
}
