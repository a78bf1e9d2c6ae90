//! Property tests: id round-trips, generator output, loss masks and defect reporting.

use std::collections::BTreeMap;

use lume_data::{
    Batch, ByteEncoder, IGNORE_INDEX, Kind, PaddingSide, PairedSampler, PairingConfig, ProblemKind,
    RecordId, Split, SynthConfig, TrainingExample, synthesize, validate,
};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::SentenceCompletion), Just(Kind::Question)]
}

proptest! {
    #[test]
    fn id_parsing_round_trips(doc in "\\PC{1,40}", kind in kind(), index in 0u32..100_000) {
        let id = RecordId::new(&doc, kind, index).unwrap();
        prop_assert_eq!(id.document_id(), doc.as_str());
        prop_assert_eq!(id.kind(), kind);
        prop_assert_eq!(id.index(), index);
        let reparsed: RecordId = id.to_string().parse().unwrap();
        prop_assert_eq!(reparsed, id);
    }

    #[test]
    fn a_batch_masks_exactly_the_prompt_tokens(
        rows in prop::collection::vec(("\\PC{0,30}", "\\PC{1,30}"), 1..6),
        max_len in prop::option::of(1usize..80),
        left in any::<bool>(),
    ) {
        let enc = ByteEncoder { offset: 3 };
        let examples: Vec<_> = rows
            .iter()
            .map(|(p, a)| TrainingExample::prompt_answer(&enc, p, a, max_len).unwrap())
            .collect();
        let side = if left { PaddingSide::Left } else { PaddingSide::Right };
        let refs: Vec<_> = examples.iter().collect();
        let batch = Batch::collate(&refs, 0, side);
        for (row, ((prompt, answer), ex)) in rows.iter().zip(&examples).enumerate() {
            let full = prompt.len() + answer.len();
            let len = max_len.map_or(full, |m| full.min(m));
            let masked_prompt = prompt.len().min(len);
            prop_assert_eq!(ex.len(), len);
            prop_assert_eq!(ex.answer_tokens(), len - masked_prompt);
            let labels = &batch.labels[row * batch.seq_len..(row + 1) * batch.seq_len];
            let ids = &batch.input_ids[row * batch.seq_len..(row + 1) * batch.seq_len];
            let mask = &batch.attention_mask[row * batch.seq_len..(row + 1) * batch.seq_len];
            let start = if left { batch.seq_len - len } else { 0 };
            for (j, ((&label, &id), &real)) in labels.iter().zip(ids).zip(mask).enumerate() {
                let inside = j >= start && j < start + len;
                prop_assert_eq!(real, inside);
                let is_prompt = inside && j - start < masked_prompt;
                if inside && !is_prompt {
                    prop_assert_eq!(label, i64::from(id));
                } else {
                    prop_assert_eq!(label, IGNORE_INDEX);
                }
            }
        }
    }

    #[test]
    fn the_sampler_covers_each_forget_example_once_per_epoch(
        forget in 1usize..40, retain in 0usize..40, size in 1usize..9, ratio in 0usize..4, seed in any::<u64>()
    ) {
        let config = PairingConfig { forget_batch_size: size, retain_per_forget: ratio, seed, ..Default::default() };
        let mut a = PairedSampler::new(forget, retain, config);
        let mut b = PairedSampler::new(forget, retain, config);
        for _ in 0..2 {
            let epoch = a.next_epoch();
            prop_assert_eq!(&epoch, &b.next_epoch());
            let mut seen: Vec<usize> = epoch.iter().flat_map(|p| p.forget.clone()).collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..forget).collect::<Vec<_>>());
            for batch in &epoch {
                let want = if retain == 0 { 0 } else { batch.forget.len() * ratio };
                prop_assert_eq!(batch.retain.len(), want);
                prop_assert!(batch.retain.iter().all(|&r| r < retain));
            }
        }
    }

    #[test]
    fn grouping_by_length_pads_no_more_and_keeps_every_example(
        lengths in prop::collection::vec(1usize..300, 1..400), size in 1usize..9, seed in any::<u64>(), drop_last in any::<bool>()
    ) {
        let n = lengths.len();
        let config = PairingConfig { forget_batch_size: size, retain_per_forget: 1, seed, drop_last, ..Default::default() };
        let mut plain = PairedSampler::new(n, 5, config);
        let mut grouped = PairedSampler::new(n, 5, config).grouped_by_length(lengths.clone());
        let padded = |epoch: &[lume_data::PairedBatch]| -> usize {
            epoch.iter().map(|b| b.forget.len() * b.forget.iter().map(|&i| lengths[i]).max().unwrap_or(0)).sum()
        };
        for _ in 0..2 {
            let (p, g) = (plain.next_epoch(), grouped.next_epoch());
            // The same examples (the same shuffle, regrouped), in batches of the same sizes.
            let sorted = |e: &[lume_data::PairedBatch]| {
                let mut v: Vec<usize> = e.iter().flat_map(|b| b.forget.clone()).collect();
                v.sort_unstable();
                v
            };
            prop_assert_eq!(sorted(&p), sorted(&g));
            let sizes = |e: &[lume_data::PairedBatch]| {
                let mut v = e.iter().map(|b| b.forget.len()).collect::<Vec<_>>();
                v.sort_unstable();
                v
            };
            prop_assert_eq!(sizes(&p), sizes(&g));
            prop_assert!(g.iter().all(|b| b.retain.len() == b.forget.len()));
            prop_assert!(padded(&g) <= padded(&p), "{} > {}", padded(&g), padded(&p));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn synthetic_output_always_validates(seed in any::<u64>(), docs in 2usize..10) {
        let dir = tempfile::tempdir().unwrap();
        let data = synthesize(SynthConfig { seed, docs_per_task: docs });
        data.write(dir.path()).unwrap();
        let v = validate(&[dir.path().to_path_buf()]);
        prop_assert!(v.is_clean(), "{:?}", v.problems().collect::<Vec<_>>());
        let docs_of = |split| {
            v.records.items.iter().filter(|r| r.value.split == split)
                .map(|r| r.value.document_id().to_owned()).collect::<std::collections::BTreeSet<_>>()
        };
        let (forget, retain) = (docs_of(Split::Forget), docs_of(Split::Retain));
        prop_assert_eq!(forget.len(), 3 * (docs / 2));
        prop_assert!(retain.len() >= forget.len());
        if docs % 2 == 0 {
            prop_assert_eq!(retain.len(), forget.len());
        }
        prop_assert_eq!(data.members.len(), forget.len());
        for n in &data.nonmembers {
            prop_assert!(!forget.contains(&n.id) && !retain.contains(&n.id));
            prop_assert!(data.members.iter().all(|m| m.document != n.document));
        }
        let again = tempfile::tempdir().unwrap();
        synthesize(SynthConfig { seed, docs_per_task: docs }).write(again.path()).unwrap();
        for file in ["forget.jsonl", "retain.jsonl", "mia/member.jsonl", "mia/nonmember.jsonl"] {
            prop_assert_eq!(
                std::fs::read(dir.path().join(file)).unwrap(),
                std::fs::read(again.path().join(file)).unwrap()
            );
        }
    }
}

/// The defects a line can be given, with the field the report must name.
const DEFECTS: [(&str, Option<&str>); 8] = [
    ("malformed", None),
    ("missing", Some("output")),
    ("not-string", Some("task")),
    ("unknown-task", Some("task")),
    ("bad-id", Some("id")),
    ("empty-input", Some("input")),
    ("duplicate", Some("id")),
    ("not-object", None),
];

fn inject(line: &str, defect: &str, previous_id: &str) -> String {
    let mut obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
    match defect {
        "malformed" => return line[..line.len() / 2].to_owned(),
        "not-object" => return "[1, 2, 3]".into(),
        "missing" => {
            obj.remove("output");
        }
        "not-string" => {
            obj.insert("task".into(), 7.into());
        }
        "unknown-task" => {
            obj.insert("task".into(), "Task9".into());
        }
        "bad-id" => {
            obj.insert("id".into(), "no-suffix-here".into());
        }
        "empty-input" => {
            obj.insert("input".into(), "   ".into());
        }
        "duplicate" => {
            obj.insert("id".into(), previous_id.into());
        }
        _ => unreachable!(),
    }
    serde_json::to_string(&obj).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn validation_reports_every_injected_defect_on_its_line(
        seed in any::<u64>(),
        picks in prop::collection::btree_map(1usize..60, 0usize..DEFECTS.len(), 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        synthesize(SynthConfig { seed, docs_per_task: 8 }).write(dir.path()).unwrap();
        let path = dir.path().join("forget.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let original = lines.clone();
        // Line numbers are 1-based; a duplicate copies the id of the (clean) first line.
        let first_id: String = serde_json::from_str::<serde_json::Value>(&original[0]).unwrap()["id"]
            .as_str().unwrap().to_owned();
        let injected: BTreeMap<usize, usize> =
            picks.into_iter().filter(|(l, _)| *l < lines.len()).collect();
        for (&line, &d) in &injected {
            lines[line] = inject(&original[line], DEFECTS[d].0, &first_id);
        }
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let v = validate(std::slice::from_ref(&path));
        for (&line, &d) in &injected {
            let (name, field) = DEFECTS[d];
            let found = v.problems().any(|p| p.line() == Some(line + 1) && p.field == field && p.file == path);
            prop_assert!(found, "defect {} on line {} not reported: {:?}", name, line + 1, v.problems().collect::<Vec<_>>());
        }
        for p in v.problems() {
            let line = p.line().expect("every problem here sits on a line") - 1;
            prop_assert!(injected.contains_key(&line), "spurious {}", p);
        }
        let duplicates = v.problems().filter(|p| matches!(p.kind, ProblemKind::DuplicateId { .. })).count();
        prop_assert_eq!(duplicates, injected.values().filter(|&&d| DEFECTS[d].0 == "duplicate").count());
    }
}

#[test]
fn a_document_in_both_splits_is_reported_at_the_retain_line() {
    let dir = tempfile::tempdir().unwrap();
    synthesize(SynthConfig {
        seed: 5,
        docs_per_task: 4,
    })
    .write(dir.path())
    .unwrap();
    let forget = std::fs::read_to_string(dir.path().join("forget.jsonl")).unwrap();
    let retain_path = dir.path().join("retain.jsonl");
    let mut retain = std::fs::read_to_string(&retain_path).unwrap();
    // Move the forget set's first document's sc row into retain, under a fresh index.
    let first: serde_json::Value = serde_json::from_str(forget.lines().next().unwrap()).unwrap();
    let moved = first["id"].as_str().unwrap().replace("sc1", "sc2");
    let line = serde_json::json!({"id": moved, "input": "x", "output": "y", "task": first["task"]});
    retain.push_str(&format!("{line}\n"));
    std::fs::write(&retain_path, &retain).unwrap();
    let v = validate(&[dir.path().to_path_buf()]);
    let problems: Vec<_> = v.problems().collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].file, retain_path);
    assert_eq!(problems[0].line(), Some(retain.lines().count()));
    assert!(
        matches!(&problems[0].kind, ProblemKind::DocumentInBothSplits { other, .. } if other.ends_with("forget.jsonl:1"))
    );
}

#[test]
fn problems_print_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forget.jsonl");
    std::fs::write(
        &path,
        "{\"id\":\"docsc1\",\"input\":\"a\",\"output\":\"b\",\"task\":\"Task4\"}\n",
    )
    .unwrap();
    let v = validate(std::slice::from_ref(&path));
    let shown: Vec<String> = v.problems().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![format!(
            "{}:1: field `task`: unknown task \"Task4\" (expected \"Task1\", \"Task2\" or \"Task3\")",
            path.display()
        )]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn loaders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400), json_lines in prop::collection::vec("\\PC{0,80}", 0..6)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("forget.jsonl"), &bytes).unwrap();
        std::fs::write(dir.path().join("retain.jsonl"), json_lines.join("\n")).unwrap();
        std::fs::write(dir.path().join("train.parquet"), &bytes).unwrap();
        std::fs::create_dir(dir.path().join("mia")).unwrap();
        std::fs::write(dir.path().join("mia/member.jsonl"), &bytes).unwrap();
        std::fs::write(dir.path().join("mia/nonmember.jsonl"), json_lines.join("\n")).unwrap();
        let v = validate(&[dir.path().to_path_buf()]);
        // Whatever was found is reported with a file; nothing panicked.
        for p in v.problems() {
            prop_assert!(p.file.starts_with(dir.path()));
        }
        let _ = lume_data::Benchmark::load(dir.path());
        let _ = lume_data::MiaSet::load(dir.path());
    }
}

#[test]
fn the_quiz_asks_retain_facts_with_four_distinct_options() {
    let data = lume_data::synthesize(lume_data::SynthConfig {
        seed: 3,
        docs_per_task: 8,
    });
    let quiz = &data.quiz;
    assert_eq!(quiz.dev.len(), 5);
    assert!(quiz.test.len() >= 12, "{} test items", quiz.test.len());
    for item in quiz.dev.iter().chain(&quiz.test) {
        let mut options = item.options.to_vec();
        options.sort();
        options.dedup();
        assert_eq!(options.len(), 4, "{item:?}");
    }
    for item in &quiz.test {
        let record = data
            .retain
            .iter()
            .find(|r| r.input == item.question)
            .unwrap_or_else(|| panic!("{} is no retain question", item.question));
        assert_eq!(record.output, item.options[item.answer]);
    }
    let dir = tempfile::tempdir().unwrap();
    data.write(dir.path()).unwrap();
    let test = std::fs::read_to_string(dir.path().join("mmlu/test/lume_quiz_test.csv")).unwrap();
    assert_eq!(test.lines().count(), quiz.test.len());
    assert!(dir.path().join("mmlu/dev/lume_quiz_dev.csv").is_file());
}

proptest! {
    /// Retain batches grouped by length: every retain row still drawn once per pass, and (when
    /// the batches line up with the pass) no more padding than without grouping.
    #[test]
    fn grouping_the_retain_stream_keeps_its_passes_and_pads_no_more(
        batches in 1usize..12, size in 1usize..6, ratio in 1usize..4, extra in 0usize..4,
        seed in any::<u64>(), lengths in prop::collection::vec(1usize..300, 400),
    ) {
        let forget = batches * size;
        let retain = (batches + extra) * size * ratio;
        let lengths = &lengths[..retain];
        let config = PairingConfig { forget_batch_size: size, retain_per_forget: ratio, seed, ..Default::default() };
        let mut plain = PairedSampler::new(forget, retain, config);
        let mut grouped = PairedSampler::new(forget, retain, config).retain_grouped_by_length(lengths.to_vec());
        let (p, g) = (plain.next_epoch(), grouped.next_epoch());
        let padded = |epoch: &[lume_data::PairedBatch]| -> usize {
            epoch.iter().map(|b| b.retain.len() * b.retain.iter().map(|&i| lengths[i]).max().unwrap_or(0)).sum()
        };
        if extra == 0 {
            // The epoch draws the whole pass: the same rows, sorted into pieces.
            prop_assert!(padded(&g) <= padded(&p), "{} > {}", padded(&g), padded(&p));
        }
        // One whole pass, drawn over however many epochs it takes: each row once.
        let mut sampler = PairedSampler::new(forget, retain, config).retain_grouped_by_length(lengths.to_vec());
        let mut drawn: Vec<usize> = Vec::new();
        while drawn.len() < retain {
            drawn.extend(sampler.next_epoch().into_iter().flat_map(|b| b.retain));
        }
        drawn.truncate(retain);
        drawn.sort_unstable();
        prop_assert_eq!(drawn, (0..retain).collect::<Vec<_>>());
    }
}
