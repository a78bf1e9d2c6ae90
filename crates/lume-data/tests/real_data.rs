//! Integration tests on the real LUME release and the SemEval-25 parquet folds.

use std::collections::HashMap;

use lume_data::{
    Benchmark, Kind, MiaSet, Split, Stats, Task, scan_parquet, shared::shared_data, validate,
};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

#[test]
#[cfg_attr(
    not(lume_shared),
    ignore = "needs ../shared/data, the LUME release beside the checkout"
)]
fn lume_counts_equal_the_protocol_table() {
    let Some(dir) = shared_data(MANIFEST, "lume") else {
        return;
    };
    let bench = Benchmark::load(&dir).expect("the release validates");
    let stats = Stats::from_records(&bench.records);
    let expected = [
        (Split::Forget, [(243, 243), (250, 1250), (373, 373)]),
        (Split::Retain, [(246, 246), (250, 1250), (371, 371)]),
    ];
    for (split, per_task) in expected {
        for (task, (sc, qa)) in Task::ALL.into_iter().zip(per_task) {
            assert_eq!(
                stats.count(split, task, Kind::SentenceCompletion),
                sc,
                "{split} {task} sc"
            );
            assert_eq!(
                stats.count(split, task, Kind::Question),
                qa,
                "{split} {task} qa"
            );
        }
    }
    assert_eq!(stats.split_total(Split::Forget), 2732);
    assert_eq!(stats.split_total(Split::Retain), 2734);
    let json = stats.to_json();
    assert_eq!(json["forget"]["Task2"]["qa"], 1250);
    assert_eq!(json["total"], 5466);
}

#[test]
#[cfg_attr(
    not(lume_shared),
    ignore = "needs ../shared/data, the LUME release beside the checkout"
)]
fn every_parquet_row_is_in_the_lume_jsonl_with_equal_fields() {
    let (Some(lume), Some(semeval)) = (
        shared_data(MANIFEST, "lume"),
        shared_data(MANIFEST, "semeval25"),
    ) else {
        return;
    };
    let bench = Benchmark::load(&lume).unwrap();
    let by_id: HashMap<&str, _> = bench.records.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut rows = 0;
    for (name, split, count) in [
        ("forget_train-00000-of-00001.parquet", Split::Forget, 1112),
        ("retain_train-00000-of-00001.parquet", Split::Retain, 1136),
    ] {
        let scan = scan_parquet(&semeval.join(name)).unwrap();
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
        assert_eq!(scan.items.len(), count, "{name}");
        for item in &scan.items {
            let row = &item.value;
            assert_eq!(row.split, split, "{}", item.location());
            let original = by_id
                .get(row.id.as_str())
                .unwrap_or_else(|| panic!("{}: id {} not in LUME", item.location(), row.id));
            assert_eq!(*original, row, "{}", item.location());
            rows += 1;
        }
    }
    assert_eq!(rows, 2248);
}

#[test]
#[cfg_attr(
    not(lume_shared),
    ignore = "needs ../shared/data, the LUME release beside the checkout"
)]
fn mia_sets_load_with_150_documents_each() {
    let (Some(mia), Some(lume)) = (
        shared_data(MANIFEST, "semeval25/mia"),
        shared_data(MANIFEST, "lume"),
    ) else {
        return;
    };
    let set = MiaSet::load(&mia).unwrap();
    assert_eq!(set.members.len(), 150);
    assert_eq!(set.nonmembers.len(), 150);
    let bench = Benchmark::load(&lume).unwrap();
    let forget_docs: std::collections::HashSet<&str> = bench
        .split(Split::Forget)
        .map(|r| r.document_id())
        .collect();
    assert!(
        set.members
            .iter()
            .all(|m| forget_docs.contains(m.id.as_str()))
    );
    assert!(
        set.nonmembers
            .iter()
            .all(|m| !forget_docs.contains(m.id.as_str()))
    );
}

#[test]
#[cfg_attr(
    not(lume_shared),
    ignore = "needs ../shared/data, the LUME release beside the checkout"
)]
fn validating_the_whole_release_finds_nothing() {
    let Some(data) = shared_data(MANIFEST, "") else {
        return;
    };
    let v = validate(&[data.join("lume"), data.join("semeval25/mia")]);
    assert!(v.is_clean(), "{:?}", v.problems().collect::<Vec<_>>());
    assert_eq!(v.records.items.len(), 5466);
    assert_eq!(v.mia.items.len(), 300);
}

/// The default fraction of the real-model preset: 1/16 of the release, every cell at least 10
/// rows, and the SemEval membership set reduced to the slice's forget documents.
#[test]
#[cfg_attr(
    not(lume_shared),
    ignore = "needs ../shared/data, the LUME release beside the checkout"
)]
fn a_sixteenth_of_the_release_keeps_every_cell_and_its_members() {
    let (Some(dir), Some(mia_dir)) = (
        shared_data(MANIFEST, "lume"),
        shared_data(MANIFEST, "semeval25/mia"),
    ) else {
        return;
    };
    let bench = Benchmark::load(&dir).expect("the release validates");
    let fraction = lume_data::Fraction {
        fraction: 1.0 / 16.0,
        min_rows_per_cell: 10,
        seed: 0,
    };
    let slice = bench.fraction(&fraction).unwrap();
    let all = Stats::from_records(&bench.records);
    let got = Stats::from_records(&slice.records);
    assert!(got.total() >= 340, "{} rows", got.total());
    for split in Split::ALL {
        for task in Task::ALL {
            for kind in Kind::ALL {
                let (n, k) = (all.count(split, task, kind), got.count(split, task, kind));
                assert!(k >= 10 && k * 16 >= n, "{split} {task} {kind}: {k} of {n}");
                // Task2's five questions per passage overshoot at most by one document.
                assert!(k * 16 <= n + 16 * 5, "{split} {task} {kind}: {k} of {n}");
            }
        }
    }
    let mia = MiaSet::load(&mia_dir).unwrap();
    let kept = mia.following(&slice, 0);
    assert!(!kept.members.is_empty() && kept.members.len() < mia.members.len());
    assert_eq!(kept.members.len(), kept.nonmembers.len());
    eprintln!(
        "1/16: {} rows, {} + {} MIA documents",
        got.total(),
        kept.members.len(),
        kept.nonmembers.len()
    );
}
