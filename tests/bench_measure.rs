//! The bench's child measurement (`bench::measure`) reports a child's own peak memory,
//! not the bench's: Linux's `ru_maxrss` for a child starts at the parent's peak.

use std::process::Command;

use converge::bench::measure;

#[test]
fn a_child_is_measured_by_its_own_peak_memory_not_the_parents() {
    // First, while this process is small: a child that takes 1 GiB is measured at it.
    let mut dd = Command::new("dd");
    dd.args(["if=/dev/zero", "of=/dev/null", "bs=1G", "count=1"]);
    let big = measure::child(dd, "dd").unwrap();
    assert!(big.peak_rss_mb >= 1000.0, "dd with a 1 GiB buffer: {} MB", big.peak_rss_mb);

    // Then this process grows to 600 MB: a child that takes almost nothing is still small.
    let mut held = vec![0u8; 600 << 20];
    for i in (0..held.len()).step_by(4096) {
        held[i] = 1;
    }
    let mut sleep = Command::new("sleep");
    sleep.arg("0.2");
    let small = measure::child(sleep, "sleep").unwrap();
    assert!(std::hint::black_box(&held)[4096] == 1);
    assert!(small.peak_rss_mb > 0.0 && small.peak_rss_mb < 50.0, "sleep: {} MB", small.peak_rss_mb);
}
