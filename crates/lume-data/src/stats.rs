//! Counts of records by split, task and kind.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::record::{Kind, Record, Split, Task};

/// Record counts by split × task × kind.
///
/// ```
/// use lume_data::{Kind, Split, Stats, Task};
/// let stats = Stats::from_records(&[]);
/// assert_eq!(stats.count(Split::Forget, Task::Task1, Kind::Question), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    counts: BTreeMap<(Split, Task, Kind), usize>,
}

impl Stats {
    /// Counts the given records.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a Record>) -> Self {
        let mut counts = BTreeMap::new();
        for r in records {
            *counts.entry((r.split, r.task, r.kind())).or_insert(0) += 1;
        }
        Stats { counts }
    }

    /// How many records of this split, task and kind.
    pub fn count(&self, split: Split, task: Task, kind: Kind) -> usize {
        self.counts.get(&(split, task, kind)).copied().unwrap_or(0)
    }

    /// How many records in a split.
    pub fn split_total(&self, split: Split) -> usize {
        self.counts
            .iter()
            .filter(|((s, _, _), _)| *s == split)
            .map(|(_, n)| n)
            .sum()
    }

    /// How many records in all.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// The JSON form: `{"forget": {"Task1": {"sc": n, "qa": n}, …, "total": n}, …, "total": n}`.
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct KindCounts {
            sc: usize,
            qa: usize,
        }
        let mut out = serde_json::Map::new();
        for split in Split::ALL {
            let mut per_task = serde_json::Map::new();
            for task in Task::ALL {
                let counts = KindCounts {
                    sc: self.count(split, task, Kind::SentenceCompletion),
                    qa: self.count(split, task, Kind::Question),
                };
                per_task.insert(task.to_string(), serde_json::json!(counts));
            }
            per_task.insert("total".into(), self.split_total(split).into());
            out.insert(split.to_string(), per_task.into());
        }
        out.insert("total".into(), self.total().into());
        out.into()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
            "split",
            "Task1 sc",
            "Task1 qa",
            "Task2 sc",
            "Task2 qa",
            "Task3 sc",
            "Task3 qa",
            "total"
        )?;
        for split in Split::ALL {
            write!(f, "{:<8}", split.as_str())?;
            for task in Task::ALL {
                for kind in Kind::ALL {
                    write!(f, " {:>10}", self.count(split, task, kind))?;
                }
            }
            writeln!(f, " {:>8}", self.split_total(split))?;
        }
        write!(f, "{:<8} {:>75}", "all", self.total())
    }
}
