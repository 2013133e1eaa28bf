//! Proving while live (docs/architecture.md, "Proving while live"): with a workload
//! writing throughout, `converge verify --online` compares the source's snapshot with the
//! target at exactly the snapshot's position, which the follower applies up to and
//! exports; a row changed behind the follower's back is named by key and column.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::follow::*;

/// A user the workload never touches (its updates pick ids below the orders' first id).
const UNTOUCHED: i64 = 5_000_000;

async fn untouched_user(s: &Setup) {
    s.my.exec(&format!(
        "INSERT INTO app.users (id, email, name, balance) VALUES ({UNTOUCHED}, 'still@x', 'Still', 1.00)"
    ))
    .await;
}

/// Waits until the copy of `run --follow` committed (its position is recorded): a
/// source change made after this is the follower's to apply.
async fn copy_committed(s: &Setup) {
    for _ in 0..600 {
        if s.pg.client.query("SELECT 1 FROM converge.follow_state", &[]).await.is_ok_and(|r| !r.is_empty()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the copy recorded no followed position within a minute");
}

/// A source of `users` users and the untouched one, copied by `run --follow`, whose
/// follower has applied a change made after the copy.
async fn copied_and_following(name: &str, users: u32) -> (Setup, std::process::Child) {
    let s = Setup::new(name).await;
    seed(&s.my, users).await;
    untouched_user(&s).await;
    let mut follower = s.spawn(&["run", "--follow"]);
    copy_committed(&s).await;
    s.my.exec("UPDATE app.users SET balance = 2.00 WHERE id = 1").await;
    following(&s, &mut follower).await;
    (s, follower)
}

/// Waits until the follower has applied something (the copy is done and it follows).
async fn following(s: &Setup, follower: &mut std::process::Child) {
    for _ in 0..600 {
        if s.applied().await > 0 {
            return;
        }
        if follower.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = follower.kill();
    let mut out = String::new();
    if let Some(mut e) = follower.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut out).unwrap();
    }
    panic!("the follower applied nothing within a minute: {out}");
}

fn report(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", said(out)))
}

/// The failed checks of a verify report, as `subject: evidence [keys]`.
fn failures(r: &serde_json::Value) -> Vec<String> {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .map(|c| format!("{}: {} {}", c["subject"], c["evidence"], c["keys"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_verify_proves_the_live_copy_and_names_a_row_changed_behind_the_followers_back() {
    let s = Setup::new("online_verify").await;
    seed(&s.my, 100).await;
    untouched_user(&s).await;
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(Made::default());
    let writer = tokio::spawn(workload(s.my.url("app"), 5, 100_000, stop.clone(), made.clone()));
    let mut follower = s.spawn(&["run", "--follow"]);
    following(&s, &mut follower).await;

    let first = s.converge(&["--json", "verify", "--online"]).await;
    let r = report(&first);
    assert!(first.status.success(), "online verify while writes go on: {:?}\n{}", failures(&r), said(&first));
    let at = &r["position"];
    assert!(at["file"].as_str().is_some_and(|f| !f.is_empty()) && at["position"].as_u64() > Some(0), "{at}");
    let before = made.changes.load(Ordering::SeqCst);

    s.pg.client.execute(&format!("UPDATE users SET name = 'Tampered' WHERE id = {UNTOUCHED}"), &[]).await.unwrap();
    let second = s.converge(&["--json", "verify", "--online"]).await;
    assert!(!second.status.success(), "a row changed behind the follower's back fails the online verify");
    let failed = failures(&report(&second));
    assert!(
        failed.len() == 1 && failed[0].contains(&format!("id='{UNTOUCHED}'")) && failed[0].contains("name"),
        "only the tampered row, by key and column: {failed:?}"
    );
    assert!(made.changes.load(Ordering::SeqCst) > before, "the workload wrote between the two verifies");

    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    signal(&follower, "INT");
    let out = wait(follower).await;
    assert!(out.status.success(), "the follower went on through both verifies: {}", said(&out));
    s.pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_verify_without_a_follower_follows_for_itself() {
    let s = Setup::copied("online_own", 20).await;
    // Changes the target has not seen: the verify's own follower applies them first.
    s.my.exec("UPDATE app.users SET balance = balance + 1 WHERE id <= 10; DELETE FROM app.orders WHERE id = 3").await;
    let v = s.converge(&["--json", "verify", "--online"]).await;
    let r = report(&v);
    assert!(v.status.success(), "{:?}\n{}", failures(&r), said(&v));
    assert!(s.applied().await >= 11, "the verify's follower applied the 11 changes");
    s.pg.drop_db().await;
}

/// Waits until the target's row of `UNTOUCHED` has this balance (the follower applied it).
async fn applied_balance(s: &Setup, balance: &str) {
    let q = format!("SELECT balance::text FROM users WHERE id = {UNTOUCHED}");
    for _ in 0..600 {
        let r = s.pg.client.query_opt(q.as_str(), &[]).await.unwrap();
        if r.is_some_and(|r| r.get::<_, String>(0) == balance) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the follower did not apply the balance {balance}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_verify_repair_then_cutover_under_a_workload() {
    let s = Setup::new("online_cut").await;
    seed(&s.my, 100).await;
    untouched_user(&s).await;
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(Made::default());
    let writer = tokio::spawn(workload(s.my.url("app"), 13, 100_000, stop.clone(), made.clone()));
    let mut follower = s.spawn(&["run", "--follow"]);
    following(&s, &mut follower).await;

    s.pg.client.execute(&format!("UPDATE users SET name = 'Tampered' WHERE id = {UNTOUCHED}"), &[]).await.unwrap();
    let failed = s.converge(&["--json", "verify", "--online"]).await;
    assert!(!failed.status.success(), "the tampered row fails the online verify");
    let path = s.dir.path().join("verify.json");
    std::fs::write(&path, &failed.stdout).unwrap();
    let repair = s.converge(&["--json", "repair", "--from", path.to_str().unwrap()]).await;
    let r = report(&repair);
    assert!(repair.status.success(), "repair: {}", said(&repair));
    assert_eq!(r["tables"][0]["keys"], 1, "one key repaired: {r}");
    assert!(r["position"]["file"].is_string(), "re-read at a known position, the follower held there: {r}");
    let again = s.converge(&["--json", "verify", "--online"]).await;
    assert!(again.status.success(), "after the repair: {:?}", failures(&report(&again)));

    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let cut = s.converge(&["--json", "cutover"]).await;
    let c = report(&cut);
    assert!(cut.status.success(), "cutover: {}", said(&cut));
    let steps: Vec<&str> = c["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        steps,
        [
            "hold the follower",
            "source snapshot",
            "drain the follower",
            "no writes after it",
            "sequences",
            "verify what changed",
            "count rows"
        ]
    );
    assert!(c["steps"].as_array().unwrap().iter().all(|s| s["seconds"].as_f64().is_some()), "{c}");
    assert!(c["windowSeconds"].as_f64().unwrap() > 0.0 && c["position"]["file"].is_string(), "{c}");
    assert!(c["rollback"].as_str().unwrap().contains(c["position"]["file"].as_str().unwrap()), "{c}");
    let out = wait(follower).await;
    assert!(out.status.success(), "the follower stops at the cut-over: {}", said(&out));
    assert!(said(&out).contains("stopped by the cut-over"), "{}", said(&out));
    let log = std::fs::read_to_string(s.dir.path().join("runs.jsonl")).unwrap();
    assert!(log.lines().any(|l| l.contains("\"completed\"") && l.contains("cutover")), "{log}");
    let restart = s.converge(&["follow", "--until-caught-up"]).await;
    assert!(!restart.status.success() && said(&restart).contains("was cut over"), "{}", said(&restart));
    s.pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_killed_after_an_online_verify_loses_no_changed_key_for_the_cutover() {
    let (s, follower) = copied_and_following("online_kill", 30).await;
    let v = s.converge(&["--json", "verify", "--online"]).await;
    assert!(v.status.success(), "{:?}", failures(&report(&v)));
    // A change after the proof, applied, then the follower killed and started again.
    s.my.exec(&format!("UPDATE app.users SET balance = 7.00 WHERE id = {UNTOUCHED}")).await;
    applied_balance(&s, "7.00").await;
    signal(&follower, "KILL");
    let _ = wait(follower).await;
    let follower = s.spawn(&["follow"]);
    // The changed row is altered behind the follower's back: only the changed keys are
    // verified now, and this one must be among them.
    s.pg.client.execute(&format!("UPDATE users SET name = 'Tampered' WHERE id = {UNTOUCHED}"), &[]).await.unwrap();
    let cut = s.converge(&["--json", "cutover"]).await;
    let c = report(&cut);
    assert!(!cut.status.success(), "the cut-over checks the key changed before the kill: {c}");
    let verified = c["steps"].as_array().unwrap().iter().find(|s| s["name"] == "verify what changed").unwrap();
    assert!(verified["detail"].as_str().unwrap().contains("changed since the online verify"), "{verified}");
    let failures = c["failures"].to_string();
    assert!(failures.contains(&format!("id='{UNTOUCHED}'")) && failures.contains("name"), "{failures}");
    signal(&follower, "INT");
    let out = wait(follower).await;
    assert!(out.status.success(), "a failed cut-over leaves the follower following: {}", said(&out));
    s.pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_online_repair_fixes_what_it_finds_and_verifies_again() {
    let s = Setup::copied("online_fix", 20).await;
    s.pg.client.execute("UPDATE users SET balance = 0 WHERE id = 7", &[]).await.unwrap();
    s.pg.client.execute("DELETE FROM orders WHERE id = 8", &[]).await.unwrap();
    let out = s.converge(&["--json", "verify", "--online", "--repair"]).await;
    let r = report(&out);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(r["verify"]["passed"], false, "the first verify found the two rows: {r}");
    let keys: u64 = r["repair"]["tables"].as_array().unwrap().iter().map(|t| t["keys"].as_u64().unwrap()).sum();
    assert_eq!(keys, 2, "{r}");
    assert_eq!(r["reverify"]["passed"], true, "{r}");
    s.pg.drop_db().await;
}

/// A table truncated since the proof is compared whole by the cut-over (its rows' keys
/// are not all known): a row added behind the follower's back is found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_truncated_since_the_proof_is_compared_whole_at_the_cutover() {
    let s = Setup::new("online_whole").await;
    seed(&s.my, 10).await;
    s.my.exec("INSERT INTO app.`query-result-cache` VALUES ('a', '1'), ('b', '2')").await;
    let run = s.converge(&["run"]).await;
    assert!(run.status.success(), "the copy: {}", said(&run));
    let v = s.converge(&["--json", "verify", "--online"]).await;
    assert!(v.status.success(), "{:?}", failures(&report(&v)));
    s.my.exec("TRUNCATE app.`query-result-cache`; INSERT INTO app.`query-result-cache` VALUES ('c', '3')").await;
    let drain = s.converge(&["follow", "--until-caught-up"]).await;
    assert!(drain.status.success(), "{}", said(&drain));
    s.pg.client.execute("INSERT INTO \"query-result-cache\" VALUES ('zzz', 'behind its back')", &[]).await.unwrap();
    let cut = s.converge(&["--json", "cutover"]).await;
    let c = report(&cut);
    assert!(!cut.status.success(), "{c}");
    let verified = c["steps"].as_array().unwrap().iter().find(|s| s["name"] == "verify what changed").unwrap();
    assert!(verified["detail"].as_str().unwrap().contains("compared whole"), "{verified}");
    let failures = c["failures"].to_string();
    assert!(failures.contains("query-result-cache") && failures.contains("zzz"), "{failures}");
    s.pg.drop_db().await;
}

/// A follower that did not hear of the cut-over (it lost the request) applies nothing
/// after it: the apply transaction that would move the position rolls back instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_missed_the_cutover_applies_nothing_after_it() {
    let (s, follower) = copied_and_following("online_missed", 10).await;
    s.pg.client.execute("UPDATE converge.follow_state SET cut_over_at = now()", &[]).await.unwrap();
    s.my.exec(&format!("UPDATE app.users SET balance = 9.00 WHERE id = {UNTOUCHED}")).await;
    let out = wait(follower).await;
    assert!(!out.status.success() && said(&out).contains("cut over"), "{}", said(&out));
    let q = format!("SELECT balance::text FROM users WHERE id = {UNTOUCHED}");
    let balance: String = s.pg.client.query_one(q.as_str(), &[]).await.unwrap().get(0);
    assert_eq!(balance, "1.00", "the change after the cut-over was not applied");
    s.pg.drop_db().await;
}

/// A row added to the target of a table nothing changed in since the proof is found by
/// the cut-over's counts (the changed keys' comparison does not look there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cutover_counts_find_a_row_added_where_nothing_changed() {
    let s = Setup::copied("online_count", 10).await;
    let v = s.converge(&["--json", "verify", "--online"]).await;
    assert!(v.status.success(), "{:?}", failures(&report(&v)));
    s.my.exec("UPDATE app.users SET balance = 3.00 WHERE id = 2").await;
    s.pg.client.execute("INSERT INTO \"query-result-cache\" VALUES ('extra', 'behind its back')", &[]).await.unwrap();
    let cut = s.converge(&["--json", "cutover"]).await;
    let c = report(&cut);
    assert!(!cut.status.success(), "{c}");
    let step = |name: &str| c["steps"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap().clone();
    assert!(step("verify what changed")["detail"].as_str().unwrap().contains("1 keys in 1 tables"), "{c}");
    assert!(step("count rows")["detail"].as_str().unwrap().contains("1 differ"), "{c}");
    let failures = c["failures"].to_string();
    assert!(failures.contains("`query-result-cache`: 0 rows in the source, 1 in the target"), "{failures}");
    s.pg.drop_db().await;
}
