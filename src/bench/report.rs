//! The benchmark's results for people: a table per scale with the ratios against the
//! issue's bars, how time grows with rows, and the SVG chart of throughput per stage.

use super::activity::Activity;
use super::follow::{CutoverResult, FollowResult, VerifyRun};
use super::{Pair, ScaleResult, E2E, E2E_KEPT, PG_COPY, RAW, VERIFY};

/// The results as text: a table per scale, the ratios against the bars, and —
/// with two or more scales — how time grows with rows.
pub fn text(results: &[ScaleResult]) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    for r in results {
        let _ = writeln!(
            o,
            "\n{} rows, {:.1} MB as spec CSV, {:.1} MB as a dump{}",
            r.rows,
            r.csv_bytes as f64 / 1e6,
            r.dump_bytes as f64 / 1e6,
            if r.generate_seconds > 0.0 {
                format!(" (generated in {:.1}s)", r.generate_seconds)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            o,
            "{:<66} {:>9} {:>11} {:>9} {:>8} {:>10}",
            "stage", "seconds", "rows/s", "MB/s", "CPU s", "peak MB"
        );
        for s in &r.stages {
            let _ = writeln!(
                o,
                "{:<66} {:>9.2} {:>11.0} {:>9.1} {:>8.2} {:>10.1}",
                format!(
                    "{}{}{}",
                    s.name,
                    if s.reference { " [ref]" } else { "" },
                    if s.runs > 1 { format!(" (median of {})", s.runs) } else { String::new() }
                ),
                s.measured.seconds,
                s.rows_per_sec(),
                s.mb_per_sec(),
                s.measured.cpu_seconds,
                s.measured.peak_rss_mb
            );
        }
        for (what, v, target, met) in r.ratios() {
            let _ = writeln!(o, "  {what}: {v:.2} (target {target}) {}", if met { "met" } else { "NOT met" });
        }
        o.push_str(&pairs(&r.pairs));
        if !r.queries.is_empty() {
            let _ = writeln!(o, "  converge query over the CSV + Parquet export (seconds, whole command):");
            for q in &r.queries {
                let _ = writeln!(
                    o,
                    "    {:<10} parquet {:>6.2}  csv {:>6.2}  peak MB {:>6.1} / {:>6.1}  {}",
                    q.name,
                    q.parquet.seconds,
                    q.csv.seconds,
                    q.parquet.peak_rss_mb,
                    q.csv.peak_rss_mb,
                    if q.same_answer { "same answer" } else { "ANSWERS DIFFER" }
                );
            }
        }
        if let Some(v) = r.verified {
            let _ = writeln!(o, "  verify of the loaded target: {}", if v { "passed" } else { "FAILED" });
        }
        if let Some(f) = &r.follow {
            o.push_str(&follow(f));
        }
        if let Some(c) = &r.cutover {
            o.push_str(&cutover(c));
        }
    }
    for l in linearity(results) {
        let _ = writeln!(
            o,
            "\nlinearity, {}: {:.1}× the rows took {:.2}× the time (target ≤ {:.1}×){}",
            l.stage,
            l.rows_factor,
            l.time_factor,
            l.rows_factor * 1.1,
            if l.reference { " [ref]" } else { "" }
        );
    }
    o
}

/// The follow stage: each catch-up, the lag under steady writes, the bars.
fn follow(f: &FollowResult) -> String {
    use std::fmt::Write;
    let verdict = |v: Option<bool>, e: &Option<String>| match (v, e) {
        (Some(true), _) => "passed".to_string(),
        (Some(false), Some(e)) => format!("FAILED: {e}"),
        (Some(false), None) => "FAILED".to_string(),
        (None, _) => "-".to_string(),
    };
    let mut o = format!(
        "  follow stage ({}): {} rows copied by a [follow] pipeline in {:.1}s, then followed:\n    \
         {:<26} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>10} {:>10} {:>7} {:>8}  verify\n",
        f.server,
        f.rows,
        f.copy.seconds,
        "catch-up",
        "txns",
        "updates",
        "inserts",
        "deletes",
        "write s",
        "changes",
        "follow s",
        "changes/s",
        "busy ch/s",
        "CPU s",
        "peak MB"
    );
    for c in [&f.backlog, &f.single_row, &f.big_transaction] {
        if let Some(e) = &c.error {
            let _ = writeln!(o, "    {:<26} {:>6} FAILED: {e}", c.name, c.transactions);
            continue;
        }
        let busy = if c.busy_seconds > 0.0 { c.changes as f64 / c.busy_seconds } else { 0.0 };
        let _ = writeln!(
            o,
            "    {:<26} {:>6} {:>8} {:>8} {:>8} {:>8.1} {:>8} {:>9.2} {:>10.0} {:>10.0} {:>7.2} {:>8.1}  {}",
            c.name,
            c.transactions,
            c.updates,
            c.inserts,
            c.deletes,
            c.write_seconds,
            c.changes,
            c.measured.seconds,
            c.changes_per_sec(),
            busy,
            c.measured.cpu_seconds,
            c.measured.peak_rss_mb,
            verdict(c.verified, &c.verify_error)
        );
    }
    let l = &f.lag;
    if let Some(e) = &l.error {
        let _ = writeln!(o, "    lag under steady writes: FAILED: {e}");
    } else {
        lag(&mut o, l);
    }
    for (what, v, target, met) in f.goals() {
        let _ = writeln!(o, "  {what}: {v:.2} (target {target}) {}", if met { "met" } else { "NOT met" });
    }
    o
}

/// The cut-over stage: the writes, the online verify, the cut-over's window step by
/// step, today's window beside it, the goals.
fn cutover(c: &CutoverResult) -> String {
    use std::fmt::Write;
    let mut o = format!(
        "  cut-over stage ({}): {} rows copied by a [follow] pipeline in {:.1}s; a follower ran while {:.0} changes/s \
         were written ({} changes in {} transactions over {:.1}s: {} updated, {} inserted, {} deleted)\n",
        c.server,
        c.rows,
        c.copy.seconds,
        c.rate,
        c.written,
        c.transactions,
        c.write_seconds,
        c.updates,
        c.inserts,
        c.deletes
    );
    if let Some(e) = &c.error {
        let _ = writeln!(o, "    FAILED before the cut-over: {e}");
    }
    let v = &c.online_verify;
    let _ = writeln!(
        o,
        "    online verify while writing: {:.2}s ({:.2}s its own, {} changes written meanwhile, {} rows read){}: {}",
        v.measured.seconds,
        v.report_seconds,
        c.changes_during_verify,
        v.rows_read,
        v.position.as_ref().map(|p| format!(" at {p}")).unwrap_or_default(),
        verify_verdict(v)
    );
    let k = &c.cutover;
    let _ = writeln!(
        o,
        "    cutover: {} in a window of {:.2}s (the command {:.2}s, CPU {:.2}s, peak {:.1} MB){}{}",
        if k.passed { "PROVEN" } else { "FAILED" },
        k.window_seconds,
        k.measured.seconds,
        k.measured.cpu_seconds,
        k.measured.peak_rss_mb,
        k.position.as_ref().map(|p| format!(" at {p}")).unwrap_or_default(),
        k.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
    );
    for s in &k.steps {
        let _ = writeln!(o, "      {:>7.2}s  {:<32} {}", s.seconds, s.name, s.detail);
    }
    for f in &k.failures {
        let _ = writeln!(o, "      ✗ {f}");
    }
    let _ = writeln!(
        o,
        "    today's window (copy + full verify, writes stopped): {:.2}s + {:.2}s = {:.2}s; full verify {}",
        c.copy.seconds,
        c.verify.measured.seconds,
        c.todays_window_seconds,
        verify_verdict(&c.verify)
    );
    let _ = writeln!(
        o,
        "    follower: {} changes applied, CPU {:.2}s, peak {:.1} MB",
        c.applied, c.follower.cpu_seconds, c.follower.peak_rss_mb
    );
    for g in &c.goals {
        let value = g.value.map(|v| format!(": {v:.2}")).unwrap_or_default();
        let _ = writeln!(o, "  {}{value} (target {}) {}", g.what, g.target, if g.met { "met" } else { "NOT met" });
    }
    o
}

/// "passed", or "FAILED" and why.
fn verify_verdict(v: &VerifyRun) -> String {
    match (v.passed, &v.error) {
        (true, _) => "passed".into(),
        (false, Some(e)) => format!("FAILED: {e}"),
        (false, None) if v.failures.is_empty() => "FAILED".into(),
        (false, None) => format!("FAILED: {}", v.failures.join("; ")),
    }
}

/// The lag line of the follow stage.
fn lag(o: &mut String, l: &super::follow::Lag) {
    use std::fmt::Write;
    let verdict = |v: Option<bool>, e: &Option<String>| match (v, e) {
        (Some(true), _) => "passed".to_string(),
        (Some(false), Some(e)) => format!("FAILED: {e}"),
        _ => "FAILED".to_string(),
    };
    let _ = writeln!(
        o,
        "    lag under {:.0} changes/s for {:.1}s ({} changes in {} transactions, {} applied): max {:.2}s, p95 {:.2}s \
         over {} samples (age of the oldest unapplied change); applied_at − source_commit_at max {:.2}s, p95 {:.2}s; \
         the follower's own max {:.2}s; follower CPU {:.2}s, peak {:.1} MB; verify {}",
        l.rate,
        l.write_seconds,
        l.written,
        l.transactions,
        l.changes,
        l.max_seconds,
        l.p95_seconds,
        l.samples,
        l.state_max_seconds,
        l.state_p95_seconds,
        l.follower_max_lag_seconds,
        l.follower.cpu_seconds,
        l.follower.peak_rss_mb,
        verdict(l.verified, &l.verify_error)
    );
}

/// The interleaved pairs, each load with what the servers and the host did meanwhile:
/// where the time went when one was slow.
fn pairs(pairs: &[Pair]) -> String {
    use std::fmt::Write;
    if pairs.is_empty() {
        return String::new();
    }
    let mut o = String::from(
        "  interleaved pairs, the target settled (CHECKPOINT + sync) before each load:\n    \
         pair load       seconds ratio ckpts ckpt MB bknd MB  WAL MB temp MB iowait s steal s PG CPU s DB CPU s dirty MB  waits\n",
    );
    for (i, p) in pairs.iter().enumerate() {
        let ratio = if p.copy > 0.0 { format!("{:.2}", p.converge / p.copy) } else { "-".into() };
        let (n, a) = ((i + 1).to_string(), &p.converge_activity);
        let _ = writeln!(o, "    {n:>4} converge  {:>8.2} {ratio:>5} {}", p.converge, activity_columns(a));
        let _ = writeln!(o, "         COPY      {:>8.2}       {}", p.copy, activity_columns(&p.copy_activity));
    }
    let all = pairs.iter().flat_map(|p| [&p.converge_activity, &p.copy_activity]);
    if all.filter(|a| a.postgres.is_some()).any(|a| !a.settled) {
        o.push_str("    (ckpts marked !: the role may not CHECKPOINT, so that load did not start settled)\n");
    }
    o
}

/// One load's activity as the pairs table's columns ("-" for what could not be read).
fn activity_columns(a: &Activity) -> String {
    let pg = match &a.postgres {
        Some(p) => format!(
            "{:>4}{} {:>7.0} {:>7.0} {:>7.0} {:>7.0}",
            p.checkpoints,
            if a.settled { " " } else { "!" },
            p.checkpoint_mb,
            p.backend_mb,
            p.wal_mb,
            p.temp_mb
        ),
        None => format!("{:>5} {:>7} {:>7} {:>7} {:>7}", "-", "-", "-", "-", "-"),
    };
    let host = match &a.host {
        Some(h) => format!("{:>8.1} {:>7.1} {:>8.1} {:>8.1}", h.iowait_s, h.steal_s, h.postgres_cpu_s, h.mariadb_cpu_s),
        None => format!("{:>8} {:>7} {:>8} {:>8}", "-", "-", "-", "-"),
    };
    let waits: Vec<String> = a.waits.iter().map(|(w, share)| format!("{w} {:.0}%", share * 100.0)).collect();
    format!("{pg} {host} {:>8.0}  {}", a.dirty_peak_mb, waits.join(", "))
}

/// How one stage's time grew between two consecutive scales.
#[derive(Debug, Clone, PartialEq)]
pub struct Linearity {
    /// The stage's name.
    pub stage: String,
    /// Whether it is one of the servers' own tools (shown so the converge stages can be
    /// compared with how the servers themselves scale on this machine).
    pub reference: bool,
    /// Rows at the larger scale ÷ rows at the smaller.
    pub rows_factor: f64,
    /// Seconds at the larger scale ÷ seconds at the smaller.
    pub time_factor: f64,
}

/// Time growth against row growth, for both end-to-end configurations and the two
/// references they are compared with, between each pair of consecutive scales.
pub fn linearity(results: &[ScaleResult]) -> Vec<Linearity> {
    let mut out = Vec::new();
    for w in results.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        for name in [E2E, E2E_KEPT, PG_COPY, RAW] {
            if let (Some(x), Some(y)) = (a.stage(name), b.stage(name)) {
                out.push(Linearity {
                    stage: name.to_string(),
                    reference: y.reference,
                    rows_factor: b.rows as f64 / a.rows.max(1) as f64,
                    time_factor: y.measured.seconds / x.measured.seconds.max(1e-9),
                });
            }
        }
    }
    out
}

/// The chart of every stage at every scale.
pub fn chart(results: &[ScaleResult]) -> String {
    let mut bars = Vec::new();
    for r in results {
        for s in &r.stages {
            if s.name == VERIFY {
                continue;
            }
            bars.push(super::chart::Bar {
                label: format!("{} ({} rows)", s.name, r.rows),
                value: s.mb_per_sec(),
                reference: s.reference,
            });
        }
    }
    super::chart::svg("converge bench: throughput per stage (MB/s)", &bars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measure::Measured;
    use crate::bench::{Stage, CSV, DUMP};

    fn stage(name: &str, reference: bool, seconds: f64, cpu: f64, rss: f64, bytes: u64) -> Stage {
        Stage {
            name: name.into(),
            reference,
            rows: 0,
            bytes,
            measured: Measured { seconds, cpu_seconds: cpu, peak_rss_mb: rss },
            runs: 1,
        }
    }

    fn scale(rows: u64, e2e: f64, kept: f64, copy: f64, rss: f64) -> ScaleResult {
        ScaleResult {
            rows,
            csv_bytes: 0,
            dump_bytes: 0,
            generate_seconds: 0.0,
            stages: vec![
                stage(RAW, true, 10.0, 1.0, 30.0, 0),
                stage(CSV, false, 13.0, 5.0, 120.0, 0),
                stage(E2E, false, e2e, 5.0, rss, 0),
                stage(E2E_KEPT, false, kept, 5.0, 100.0, 0),
                stage(PG_COPY, true, copy, 0.0, 900.0, 0),
                stage(DUMP, false, 1.0, 2.0, 50.0, 300_000_000),
            ],
            verified: Some(true),
            pairs: Vec::new(),
            queries: Vec::new(),
            follow: None,
            cutover: None,
        }
    }

    #[test]
    fn verify_is_set_beside_the_copy_and_the_pairs_give_median_and_spread() {
        let mut s = scale(1000, 14.0, 12.0, 10.0, 100.0);
        assert!(!s.ratios().iter().any(|r| r.0.contains("verify") || r.0.contains("pairs")), "not measured: not shown");
        s.stages.push(stage(VERIFY, false, 21.0, 9.0, 80.0, 0));
        s.pairs = [(14.0, 10.0), (9.0, 10.0), (20.0, 10.0), (11.0, 10.0)].map(|(e, c)| pair(e, c)).to_vec();
        let r = s.ratios();
        let verify = r.iter().find(|x| x.0 == "full verify ÷ end-to-end copy").expect("the verify ratio");
        assert!((verify.1 - 1.5).abs() < 1e-9 && !verify.3, "{verify:?}");
        let pairs = r.iter().find(|x| x.0.contains("each of 4 interleaved pairs")).expect("the pairs");
        assert!((pairs.1 - 1.25).abs() < 1e-9 && !pairs.3, "median of 0.9, 1.1, 1.4, 2.0: {pairs:?}");
        assert!(pairs.0.contains("spread 0.90–2.00"), "{pairs:?}");
    }

    fn pair(converge: f64, copy: f64) -> Pair {
        Pair { converge, copy, converge_activity: Activity::default(), copy_activity: Activity::default() }
    }

    #[test]
    fn each_pair_is_shown_with_what_the_servers_and_the_host_did_during_each_load() {
        use crate::bench::activity::{HostDelta, PgDelta};
        let mut p = pair(30.0, 20.0);
        p.converge_activity = Activity {
            settled: true,
            postgres: Some(PgDelta {
                checkpoints: 2,
                checkpoint_mb: 812.4,
                backend_mb: 3.0,
                wal_mb: 1510.0,
                temp_mb: 96.0,
            }),
            host: Some(HostDelta { iowait_s: 12.3, steal_s: 0.5, postgres_cpu_s: 21.0, mariadb_cpu_s: 9.0 }),
            dirty_peak_mb: 1490.0,
            waits: vec![("CPU".into(), 0.5), ("IO:WALSync".into(), 0.25)],
        };
        let mut s = scale(1000, 14.0, 12.0, 10.0, 100.0);
        s.pairs = vec![p];
        let text = text(&[s]);
        let lines: Vec<&str> = text.lines().collect();
        let at = lines.iter().position(|l| l.contains("interleaved pairs, the target settled")).expect(&text);
        let converge: Vec<&str> = lines[at + 2].split_whitespace().collect();
        assert_eq!(&converge[..6], ["1", "converge", "30.00", "1.50", "2", "812"], "{text}");
        assert_eq!(&converge[6..14], ["3", "1510", "96", "12.3", "0.5", "21.0", "9.0", "1490"], "{text}");
        assert!(lines[at + 2].ends_with("CPU 50%, IO:WALSync 25%"), "{text}");
        // Nothing read, and no CHECKPOINT allowed: shown as such, not as zeros.
        let copy: Vec<&str> = lines[at + 3].split_whitespace().collect();
        assert_eq!(&copy[..3], ["COPY", "20.00", "-"], "{text}");
        assert!(copy[2..11].iter().all(|c| *c == "-") && copy.len() == 12, "{text}");
        assert!(!text.contains("may not CHECKPOINT"), "every load with statistics was settled: {text}");
        let mut s = scale(1000, 14.0, 12.0, 10.0, 100.0);
        let mut p = pair(30.0, 20.0);
        p.copy_activity.postgres = Some(PgDelta::default());
        s.pairs = vec![p];
        let text = super::text(&[s]);
        assert!(text.contains("   0!       0") && text.contains("may not CHECKPOINT"), "{text}");
    }

    #[test]
    fn the_follow_stage_is_shown_with_each_catch_up_the_lag_and_the_bars() {
        use crate::bench::follow::{CatchUp, FollowResult, Lag};
        let catch_up = |name: &str, changes: u64, seconds: f64, rss: f64| CatchUp {
            name: name.into(),
            transactions: 10,
            changes,
            measured: Measured { seconds, cpu_seconds: 1.0, peak_rss_mb: rss },
            verified: Some(true),
            ..CatchUp::default()
        };
        let f = FollowResult {
            rows: 300_000,
            backlog: catch_up("mixed backlog", 1_000_000, 40.0, 120.0),
            single_row: catch_up("single-row transactions", 100_000, 10.0, 90.0),
            big_transaction: catch_up("one 1 M-row transaction", 1_000_000, 50.0, 310.0),
            lag: Lag { rate: 1000.0, max_seconds: 1.5, p95_seconds: 0.9, verified: Some(false), ..Lag::default() },
            ..FollowResult::default()
        };
        let goals = f.goals();
        assert!((goals[0].1 - 25_000.0).abs() < 1e-9 && goals[0].3, "{goals:?}");
        assert!(goals[1].3 && !goals[2].3 && !goals[3].3, "{goals:?}");
        let mut s = scale(1000, 14.0, 12.0, 10.0, 100.0);
        s.follow = Some(f);
        let t = text(&[s]);
        let line = t.lines().find(|l| l.trim_start().starts_with("mixed backlog")).expect(&t);
        assert!(line.contains(" 25000 ") && line.ends_with("passed"), "{t}");
        assert!(t.contains("max 1.50s, p95 0.90s") && t.contains("verify FAILED"), "{t}");
        assert!(
            t.contains("follow catch-up of the mixed backlog, row changes/s: 25000.00 (target ≥ 20000) met"),
            "{t}"
        );
        assert!(t.contains("1 M-row source transaction, MB: 310.00 (target ≤ 300) NOT met"), "{t}");
    }

    #[test]
    fn the_cut_over_stage_is_shown_with_its_steps_beside_todays_window_and_the_goals() {
        use crate::bench::follow::{CutoverResult, CutoverRun, CutoverStep, VerifyRun};
        let step = |name: &str, seconds: f64| CutoverStep { name: name.into(), seconds, detail: "ok".into() };
        let mut c = CutoverResult {
            rows: 3000,
            rate: 500.0,
            copy: Measured { seconds: 40.0, ..Measured::default() },
            online_verify: VerifyRun { passed: true, ..VerifyRun::default() },
            cutover: CutoverRun {
                passed: true,
                window_seconds: 3.5,
                steps: vec![step("hold the follower", 0.25), step("count rows", 1.5)],
                ..CutoverRun::default()
            },
            verify: VerifyRun {
                measured: Measured { seconds: 30.0, ..Measured::default() },
                passed: false,
                failures: vec!["post: 1 row differs".into()],
                ..VerifyRun::default()
            },
            todays_window_seconds: 70.0,
            ..CutoverResult::default()
        };
        c.goals = c.judge();
        let mut s = scale(1000, 14.0, 12.0, 10.0, 100.0);
        s.cutover = Some(c);
        let t = text(&[s]);
        assert!(t.contains("cutover: PROVEN in a window of 3.50s"), "{t}");
        assert!(t.contains("   1.50s  count rows"), "{t}");
        assert!(t.contains("40.00s + 30.00s = 70.00s; full verify FAILED: post: 1 row differs"), "{t}");
        assert!(t.contains("cut-over window (writes stopped → proven), seconds: 3.50 (target ≤ 10) met"), "{t}");
        assert!(t.contains("online verify while writing 500 changes/s passed (target passed) met"), "{t}");
    }

    #[test]
    fn ratios_compare_each_stage_with_its_reference_and_the_bars() {
        let r = scale(1000, 14.0, 12.0, 10.0, 310.0).ratios();
        let find = |w: &str| r.iter().find(|x| x.0 == w).unwrap_or_else(|| panic!("{w} missing: {r:?}")).clone();
        let e2e = find("end-to-end ÷ PostgreSQL COPY FROM file");
        assert!((e2e.1 - 1.4).abs() < 1e-9 && !e2e.3, "{e2e:?}");
        let kept = find("end-to-end, indexes kept during the load ÷ PostgreSQL COPY FROM file");
        assert!((kept.1 - 1.2).abs() < 1e-9 && kept.3, "{kept:?}");
        let csv = find("CSV export ÷ server raw read");
        assert!((csv.1 - 1.3).abs() < 1e-9 && !csv.3, "{csv:?}");
        let dump = find("dump source, MB of dump per CPU-second");
        assert!((dump.1 - 150.0).abs() < 1e-9 && dump.3, "{dump:?}");
        // The references' memory (900 MB here) is not converge's: only converge stages count.
        let peak = find("peak RSS of any converge stage, MB");
        assert!((peak.1 - 310.0).abs() < 1e-9 && !peak.3, "{peak:?}");
    }

    #[test]
    fn linearity_covers_both_end_to_end_stages_and_the_references_between_consecutive_scales() {
        let results = [scale(300, 2.0, 1.5, 1.0, 100.0), scale(3000, 25.0, 15.0, 12.0, 100.0)];
        let l = linearity(&results);
        let names: Vec<&str> = l.iter().map(|x| x.stage.as_str()).collect();
        assert_eq!(names, [E2E, E2E_KEPT, PG_COPY, RAW]);
        assert!(l.iter().all(|x| (x.rows_factor - 10.0).abs() < 1e-9));
        assert!((l[0].time_factor - 12.5).abs() < 1e-9 && !l[0].reference);
        assert!((l[1].time_factor - 10.0).abs() < 1e-9);
        assert!(l[2].reference && (l[2].time_factor - 12.0).abs() < 1e-9);
        let t = text(&results);
        assert!(t.contains("linearity, converge MySQL → PostgreSQL: 10.0× the rows took 12.50× the time"), "{t}");
        assert!(linearity(&results[..1]).is_empty());
    }
}
