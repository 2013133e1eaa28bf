//! `converge bench --cutover` on a tiny dataset: the stage runs end to end — the copy, a
//! follower under steady writes, `verify --online` while writing, `cutover` as soon as
//! the writes stop, a full verify after it — and its report says the online verify and
//! the cut-over passed, with each step of the cut-over. No timing is asserted.

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_cutover_stage_proves_the_target_after_an_online_verify_under_writes() {
    let dir = TempDir::new("bench_cutover");
    let out = Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--json", "bench", "--rows", "2000", "--cutover", "--no-verify", "--mysql", &mysql_base()])
        .args(["--pg", &pg_base()])
        .arg("--work-dir")
        .arg(dir.path())
        .arg("--chart")
        .arg(dir.path().join("chart.svg"))
        .env("CONVERGE_RUN_LOG", dir.path().join("runs.jsonl"))
        .output()
        .expect("converge bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "converge bench failed: {stderr}");
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the bench's JSON");
    let c = &results[0]["cutover"];
    assert!(c.is_object(), "the first scale has the cut-over stage: {results}");
    assert!(c["error"].is_null(), "{c}");

    // Writes went on while the follower ran, and the follower applied them all.
    let written = c["written"].as_u64().unwrap();
    assert!(written > 0 && c["transactions"].as_u64().unwrap() > 0, "{c}");
    assert!(c["applied"].as_u64().unwrap() >= written, "the cut-over drained every change: {c}");

    let online = &c["onlineVerify"];
    assert_eq!(online["passed"], true, "the online verify while writing: {online}");
    assert!(online["position"]["file"].as_str().is_some_and(|f| !f.is_empty()), "compared at a position: {online}");

    let cut = &c["cutover"];
    assert_eq!(cut["passed"], true, "the cut-over: {cut}");
    assert!(cut["failures"].as_array().unwrap().is_empty(), "{cut}");
    assert!(cut["position"]["file"].as_str().is_some_and(|f| !f.is_empty()), "proven at a position: {cut}");
    let steps = cut["steps"].as_array().unwrap();
    assert!(steps.len() >= 3, "the cut-over's steps: {cut}");
    assert!(steps.iter().all(|s| s["name"].as_str().is_some_and(|n| !n.is_empty()) && s["seconds"].as_f64().is_some()));
    assert!(cut["windowSeconds"].as_f64().is_some_and(|w| w > 0.0), "{cut}");

    // Today's window beside it: the copy and a full verify of the equal target.
    assert_eq!(c["verify"]["passed"], true, "{c}");
    let todays = c["todaysWindowSeconds"].as_f64().unwrap();
    let parts = c["copy"]["seconds"].as_f64().unwrap() + c["verify"]["seconds"].as_f64().unwrap();
    assert!(todays > 0.0 && (todays - parts).abs() < 1e-9, "{c}");

    let goals = c["goals"].as_array().unwrap();
    let met = |what: &str| goals.iter().find(|g| g["what"].as_str().unwrap().contains(what)).map(|g| g["met"].clone());
    assert_eq!(goals.len(), 3, "{goals:?}");
    assert_eq!(met("online verify"), Some(serde_json::Value::Bool(true)), "{goals:?}");
    assert_eq!(met("cut-over proved"), Some(serde_json::Value::Bool(true)), "{goals:?}");
}
