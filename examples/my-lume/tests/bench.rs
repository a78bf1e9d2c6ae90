//! This program's `bench` on lume's embedded benchmark at a tiny size: the method runs beside
//! GA, and the metric is a leaderboard column with its interval.

use std::process::Command;

const TINY: &str = "tests/tiny.toml";

#[test]
fn bench_runs_the_method_and_shows_the_metric_with_its_interval() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_my-lume"))
        .args(["bench", "--config", TINY, "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("| log-ascent |"), "{stdout}");
    assert!(stdout.contains("retain prob."), "{stdout}");

    let csv = std::fs::read_to_string(out.path().join("leaderboard.csv")).unwrap();
    assert!(
        csv.lines().next().unwrap().contains(",retain_probability,"),
        "{csv}"
    );
    let board: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("leaderboard.json")).unwrap(),
    )
    .unwrap();
    let rows = board["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["model"].as_str().unwrap()).collect();
    assert_eq!(names, ["target", "gold", "ga", "log-ascent"]);
    for row in rows {
        let value = row["retain_probability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&value), "{row}");
        let interval = &row["metric_intervals"]["retain_probability"];
        let (low, high) = (
            interval["low"].as_f64().unwrap(),
            interval["high"].as_f64().unwrap(),
        );
        assert!(low <= value && value <= high, "{interval}");
    }
    assert!(
        board["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["key"] == "retain_probability")
    );

    // The method's hyperparameters are in the resolved configuration.
    let config = Command::new(env!("CARGO_BIN_EXE_my-lume"))
        .args(["bench", "--config", TINY, "--print-config"])
        .output()
        .unwrap();
    let config = String::from_utf8_lossy(&config.stdout);
    assert!(
        config.contains("[method.log-ascent]\nalpha = 1.0"),
        "{config}"
    );
}
