//! What a sampled pass proves: `verify --sample n` compares n rows drawn at random
//! (without replacement) from a table of N. If D of the N rows differ, the sample misses
//! every one of them with probability C(N−D, n) / C(N, n) = Π (N−D−i)/(N−i) for i < n.
//! A passing sample therefore says, with 95% confidence, that fewer than the smallest D
//! whose miss probability is at most 5% differ — and nothing about fewer than that.
//! (Rows missing from the target are not sampled, which draws from the target; the exact
//! counts catch them unless as many extra rows hide them.)

/// The confidence the report states.
pub const CONFIDENCE: f64 = 0.95;

/// The probability that `n` rows drawn without replacement from `total` miss all of
/// `differing` rows.
pub fn miss_probability(total: u64, differing: u64, n: u64) -> f64 {
    if differing == 0 {
        return 1.0;
    }
    if n + differing > total {
        return 0.0;
    }
    let (t, d) = (total as f64, differing as f64);
    // In logs: n can be a million.
    let log: f64 = (0..n).map(|i| ((t - d - i as f64) / (t - i as f64)).ln()).sum();
    log.exp()
}

/// The fewest differing rows a passing sample of `n` from `total` would have found
/// with [`CONFIDENCE`]: the smallest D with a miss probability of at most 5%.
pub fn detectable(total: u64, n: u64) -> u64 {
    if n == 0 || total == 0 {
        return total.max(1);
    }
    let (mut lo, mut hi) = (1u64, total);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if miss_probability(total, mid, n) <= 1.0 - CONFIDENCE {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// The report's words for a passing sample of `n` rows from a table of `total`.
pub fn describe(total: u64, n: u64) -> String {
    if n >= total {
        return "the sample is the whole table".into();
    }
    let d = detectable(total, n);
    let share = 100.0 * d as f64 / total as f64;
    format!(
        "with {:.0}% confidence fewer than {d} of {total} rows ({}) differ; fewer differing rows can pass unseen (a full verify proves every row)",
        CONFIDENCE * 100.0,
        percent(share)
    )
}

fn percent(p: f64) -> String {
    if p >= 1.0 {
        format!("{p:.1}%")
    } else if p >= 0.01 {
        format!("{p:.2}%")
    } else {
        format!("{p:.4}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miss_probability_is_the_hypergeometric_zero_term() {
        // 10 rows, 1 differs, 1 drawn: missed 9 times in 10.
        assert!((miss_probability(10, 1, 1) - 0.9).abs() < 1e-12);
        // 10 rows, 2 differ, 2 drawn: (8/10)(7/9).
        assert!((miss_probability(10, 2, 2) - 56.0 / 90.0).abs() < 1e-12);
        assert_eq!(miss_probability(10, 5, 6), 0.0, "6 of 10 must hit one of 5");
        assert_eq!(miss_probability(10, 0, 3), 1.0);
    }

    #[test]
    fn detectable_is_the_smallest_count_found_with_95_percent() {
        // The rule of three: about 3/n of the rows for a large table.
        let d = detectable(1_000_000, 1000);
        assert!((2990..=3000).contains(&d), "{d}");
        assert!(miss_probability(1_000_000, d, 1000) <= 0.05);
        assert!(miss_probability(1_000_000, d - 1, 1000) > 0.05);
        // Sampling half of a small table: few differing rows suffice.
        assert_eq!(detectable(100, 50), 5);
        assert!(describe(100, 100).contains("whole table"));
        assert!(
            describe(1_000_000, 1000).contains("fewer than 2990 of 1000000 rows (0.30%)"),
            "{}",
            describe(1_000_000, 1000)
        );
    }
}
