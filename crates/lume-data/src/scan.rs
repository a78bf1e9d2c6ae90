//! The result of reading a file without stopping at the first problem.

use std::collections::HashMap;

use crate::fields::Located;
use crate::problem::{DataError, Problem, ProblemKind};

/// Everything read from one or more files: good items with their locations, and every problem.
#[derive(Debug, Clone)]
pub struct Scan<T> {
    /// Items that parsed cleanly.
    pub items: Vec<Located<T>>,
    /// Every problem found, in file order.
    pub problems: Vec<Problem>,
}

impl<T> Default for Scan<T> {
    fn default() -> Self {
        Scan {
            items: Vec::new(),
            problems: Vec::new(),
        }
    }
}

impl<T> Scan<T> {
    /// Appends another scan's items and problems.
    pub fn extend(&mut self, other: Scan<T>) {
        self.items.extend(other.items);
        self.problems.extend(other.problems);
    }

    /// The items alone, or [`DataError::Invalid`] with every problem.
    pub fn into_result(self) -> Result<Vec<T>, DataError> {
        if self.problems.is_empty() {
            Ok(self.items.into_iter().map(|l| l.value).collect())
        } else {
            Err(DataError::Invalid(self.problems))
        }
    }

    /// Reports every item whose key was already seen, pointing at the first occurrence.
    pub(crate) fn check_unique_by(&mut self, key: impl Fn(&T) -> String) {
        let mut first: HashMap<String, usize> = HashMap::new();
        for (i, item) in self.items.iter().enumerate() {
            let k = key(&item.value);
            if let Some(&j) = first.get(&k) {
                self.problems.push(Problem::new(
                    &item.file,
                    item.position,
                    Some("id"),
                    ProblemKind::DuplicateId {
                        id: k,
                        first: self.items[j].location(),
                    },
                ));
            } else {
                first.insert(k, i);
            }
        }
    }
}
