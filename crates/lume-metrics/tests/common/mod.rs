//! Helpers shared by the fixture tests: reading fixtures and rebuilding recipe strings.

#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn lume_rows() -> Option<Vec<Value>> {
    let dir = lume_data::shared::shared_data(env!("CARGO_MANIFEST_DIR"), "lume")?;
    let mut rows = Vec::new();
    for name in ["forget.jsonl", "retain.jsonl"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        rows.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap()),
        );
    }
    Some(rows)
}

fn chars_slice(s: &str, a: usize, b: usize) -> String {
    s.chars().skip(a).take(b.saturating_sub(a)).collect()
}

/// Mirrors `apply` in make_fixtures.py (Python slices count code points).
pub fn build(rows: &[Value], spec: &Value) -> String {
    let mut text = match spec.get("row") {
        Some(row) => rows[row.as_u64().unwrap() as usize][spec["field"].as_str().unwrap()]
            .as_str()
            .unwrap()
            .to_owned(),
        None => spec["text"].as_str().unwrap().to_owned(),
    };
    for op in spec
        .get("ops")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let op = op.as_array().unwrap();
        let int = |i: usize| op[i].as_u64().unwrap() as usize;
        let string = |i: usize| op[i].as_str().unwrap();
        text = match op[0].as_str().unwrap() {
            "slice" => chars_slice(&text, int(1), int(2)),
            "words" => {
                let words: Vec<&str> = text.split(' ').collect();
                op[1]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| words[i.as_u64().unwrap() as usize])
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            "upper" => text.to_uppercase(),
            "lower" => text.to_lowercase(),
            "insert" => {
                let at = int(1);
                format!(
                    "{}{}{}",
                    chars_slice(&text, 0, at),
                    string(2),
                    text.chars().skip(at).collect::<String>()
                )
            }
            "replace" => text.replace(string(1), string(2)),
            "repeat" => text.repeat(int(1)),
            "append_row" => format!("{text} {}", rows[int(1)][string(2)].as_str().unwrap()),
            other => panic!("unknown op {other}"),
        };
    }
    text
}

/// A JSON array of numbers.
pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
