//! `lume tune` end to end at the tiny size of the bench tests.

mod common;

use common::{TINY, lume, read_json, stdout_of};

/// `lume tune` at the tiny size: the same budget for every method, the chosen trial the lowest
/// forget score above the floor, fresh seeds on the leaderboard, and every trial reused on a
/// rerun (a larger budget replays the same trials and adds one).
#[test]
fn tune_gives_every_method_the_same_budget_and_reuses_its_trials() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny.toml");
    std::fs::write(&config, TINY).unwrap();
    let out = dir.path().join("tune");
    let args = [
        "tune",
        "--config",
        config.to_str().unwrap(),
        "--methods",
        "ga,npo",
        "--budget",
        "3",
        "--seeds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ];
    let first = stdout_of(&lume(&args));
    assert!(first.contains("not the runs the search picked"), "{first}");

    let tuned = read_json(&out.join("tune/trials.json"));
    let trials = tuned["trials"].as_array().unwrap();
    let board = read_json(&out.join("leaderboard.json"));
    let rows = board["rows"].as_array().unwrap();
    // The floor is 90 % of the target's retain score (no real MMLU here).
    let target_retain: Vec<f64> = rows[0]["scores"][1]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t.as_array().unwrap().iter().filter_map(|v| v.as_f64()))
        .collect();
    let floor = 0.9 * target_retain.iter().sum::<f64>() / target_retain.len() as f64;
    assert!((tuned["floor"]["retain"].as_f64().unwrap() - floor).abs() < 1e-12);
    assert!(tuned["floor"]["utility"].is_null());
    let chosen_toml: toml::Table =
        toml::from_str(&std::fs::read_to_string(out.join("tune/chosen.toml")).unwrap()).unwrap();
    for method in ["ga", "npo"] {
        let mine: Vec<&serde_json::Value> =
            trials.iter().filter(|t| t["method"] == method).collect();
        assert_eq!(mine.len(), 3, "{method}: the same budget");
        for t in &mine {
            let retain = t["retain"].as_f64().unwrap();
            assert_eq!(t["meets_floor"].as_bool(), Some(retain >= floor), "{t}");
            assert!(t["tokens"].as_u64().unwrap() > 0, "{t}");
            // Checkpoint selection: scored every 8 steps and after the last; the kept step is
            // the lowest forget score above the floor among them.
            let steps = t["steps"].as_u64().unwrap();
            let history = read_json(&out.join(format!(
                "models/{method}-trial{}/train_history.json",
                t["index"]
            )));
            let points = history["selection"].as_array().unwrap();
            let evaluated: Vec<u64> = points.iter().map(|p| p["step"].as_u64().unwrap()).collect();
            let want: Vec<u64> = (1..=steps).filter(|s| s % 8 == 0 || *s == steps).collect();
            assert_eq!(evaluated, want, "{t}");
            let best = points
                .iter()
                .filter(|p| p["retain"].as_f64() >= p["floor"].as_f64())
                .min_by(|a, b| {
                    let f = |p: &&serde_json::Value| p["forget"].as_f64().unwrap();
                    f(a).total_cmp(&f(b)).then(f64::total_cmp(
                        &(a["step"].as_f64().unwrap()),
                        &(b["step"].as_f64().unwrap()),
                    ))
                })
                .map(|p| p["step"].clone());
            assert_eq!(t["selected_step"], best.unwrap_or_default(), "{t}");
            assert_eq!(history["selected_step"], t["selected_step"]);
        }
        let best = mine
            .iter()
            .filter(|t| t["meets_floor"] == true)
            .min_by(|a, b| {
                a["forget"]
                    .as_f64()
                    .unwrap()
                    .total_cmp(&b["forget"].as_f64().unwrap())
            });
        let names: Vec<&str> = rows.iter().map(|r| r["model"].as_str().unwrap()).collect();
        assert!(
            names.contains(&format!("{method}-seed1").as_str()),
            "{names:?}"
        );
        match best {
            Some(best) => {
                assert_eq!(tuned["chosen"][method], best["index"], "{method}");
                let lr = best["values"]["trainer.learning_rate"].as_f64().unwrap();
                assert_eq!(
                    chosen_toml["method"][method]["trainer"]["learning_rate"].as_float(),
                    Some(lr)
                );
                let select = &chosen_toml["method"][method]["trainer"]["select"];
                assert_eq!(select["every"].as_integer(), Some(8));
                assert_eq!(select["retain_floor"].as_float(), Some(0.9));
                let row = rows
                    .iter()
                    .find(|r| r["model"] == format!("{method}-tuned-seed1"))
                    .expect("the chosen setting's row");
                assert_eq!(row["standing"]["seeds"], 2, "{row}");
                assert_eq!(
                    tuned["tuned_minus_default"][method]
                        .as_array()
                        .unwrap()
                        .len(),
                    2
                );
            }
            None => {
                assert!(tuned["chosen"][method].is_null());
                assert!(
                    first.contains(&format!("{method}: no trial meets the floor")),
                    "{first}"
                );
            }
        }
    }
    let frontier = std::fs::read_to_string(out.join("plots/frontier.svg")).unwrap();
    assert!(
        frontier.contains("floor") && frontier.contains(">npo<"),
        "{frontier}"
    );
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        page.contains("ringed: the setting chosen per method"),
        "the report shows the frontier"
    );

    // The same budget again: every trial and every fresh seed is reused.
    let second = stdout_of(&lume(&args));
    assert!(!second.contains(": unlearning"), "{second}");
    for t in 0..3 {
        assert!(second.contains(&format!("ga-trial{t}: reused")), "{second}");
    }
    assert_eq!(
        read_json(&out.join("tune/trials.json"))["trials"],
        tuned["trials"]
    );
    // A larger budget replays the same trials and runs one more per method.
    let mut more = args.to_vec();
    more[6] = "4";
    let third = stdout_of(&lume(&more));
    assert!(third.contains("npo-trial2: reused"), "{third}");
    assert!(third.contains("npo-trial3: unlearning"), "{third}");
}
