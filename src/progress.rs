//! Live progress of a run: per-table row counters that the table tasks bump, read by
//! the display (a bar per table when stderr is a terminal, a plain line every few
//! seconds otherwise) and by the downtime-budget projection.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One table's counters.
#[derive(Debug)]
pub struct TableProgress {
    /// The table.
    pub name: String,
    /// Rows expected (the source's estimate; 0 when unknown).
    pub expected: u64,
    rows: AtomicU64,
    done: AtomicBool,
}

impl TableProgress {
    /// Counts rows that left the transform stage.
    pub fn add(&self, rows: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }

    /// Marks the table finished.
    pub fn finish(&self) {
        self.done.store(true, Ordering::Relaxed);
    }

    /// Rows so far.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// Finished.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Relaxed)
    }

    /// This table's fraction done, from rows when the expectation is known.
    fn fraction(&self) -> f64 {
        if self.is_done() {
            1.0
        } else if self.expected > 0 {
            (self.rows() as f64 / self.expected as f64).min(0.99)
        } else {
            0.0
        }
    }
}

/// A run's progress.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    /// Per table, in plan order.
    pub tables: Vec<Arc<TableProgress>>,
}

impl Progress {
    /// Counters for these tables (name, expected rows); the clock starts now.
    pub fn new(tables: impl IntoIterator<Item = (String, u64)>) -> Arc<Progress> {
        Arc::new(Progress {
            started: Instant::now(),
            tables: tables
                .into_iter()
                .map(|(name, expected)| {
                    Arc::new(TableProgress { name, expected, rows: AtomicU64::new(0), done: AtomicBool::new(false) })
                })
                .collect(),
        })
    }

    /// A table's counters.
    pub fn table(&self, name: &str) -> Option<Arc<TableProgress>> {
        self.tables.iter().find(|t| t.name == name).cloned()
    }

    /// The fraction of the data moved: by rows when every table has an estimate, else
    /// by tables finished.
    pub fn fraction_done(&self) -> f64 {
        if self.tables.is_empty() {
            return 1.0;
        }
        let expected: u64 = self.tables.iter().map(|t| t.expected).sum();
        if self.tables.iter().all(|t| t.expected > 0) && expected > 0 {
            let done: f64 = self.tables.iter().map(|t| t.fraction() * t.expected as f64).sum();
            done / expected as f64
        } else {
            self.tables.iter().filter(|t| t.is_done()).count() as f64 / self.tables.len() as f64
        }
    }

    /// Rows moved so far, all tables.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows()).sum()
    }

    /// Time since the counters were made.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// The display of a run's progress; [`Display::stop`] clears it.
pub struct Display {
    stop: Arc<AtomicBool>,
    task: Option<std::thread::JoinHandle<()>>,
}

impl Display {
    /// Starts showing `progress` on stderr: bars on a terminal, a line every 5 s otherwise.
    pub fn start(progress: Arc<Progress>) -> Display {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = if std::io::stderr().is_terminal() {
            std::thread::spawn(move || bars(progress, flag))
        } else {
            std::thread::spawn(move || lines(progress, flag))
        };
        Display { stop, task: Some(task) }
    }

    /// Stops the display (the bars are cleared; the summary follows).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.task.take() {
            let _ = t.join();
        }
    }
}

fn bars(progress: Arc<Progress>, stop: Arc<AtomicBool>) {
    use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
    let width = progress.tables.iter().map(|t| t.name.chars().count()).max().unwrap_or(5).min(32);
    let known = ProgressStyle::with_template(&format!(
        "{{prefix:{width}}} {{bar:30}} {{human_pos:>11}}/{{human_len}} rows {{per_sec:>14}} eta {{eta}}"
    ))
    .expect("a valid template")
    .progress_chars("=> ");
    let unknown =
        ProgressStyle::with_template(&format!("{{prefix:{width}}} {{spinner}} {{human_pos:>11}} rows {{per_sec:>14}}"))
            .expect("a valid template");
    let shown: Vec<ProgressBar> = progress
        .tables
        .iter()
        .map(|t| {
            let b = if t.expected > 0 {
                ProgressBar::new(t.expected).with_style(known.clone())
            } else {
                ProgressBar::new_spinner().with_style(unknown.clone())
            };
            multi.add(b.with_prefix(t.name.clone()))
        })
        .collect();
    while !stop.load(Ordering::Relaxed) {
        for (t, b) in progress.tables.iter().zip(&shown) {
            if b.is_finished() {
                continue;
            }
            let rows = t.rows();
            if t.expected > 0 && rows > b.length().unwrap_or(0) {
                b.set_length(rows);
            }
            b.set_position(rows);
            if t.is_done() {
                b.set_length(rows);
                b.finish();
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = multi.clear();
}

fn lines(progress: Arc<Progress>, stop: Arc<AtomicBool>) {
    let mut last = Instant::now();
    let mut reported = vec![false; progress.tables.len()];
    let report_done = |reported: &mut Vec<bool>| {
        for (i, t) in progress.tables.iter().enumerate() {
            if t.is_done() && !reported[i] {
                reported[i] = true;
                eprintln!("progress: table `{}` done, {} rows", t.name, t.rows());
            }
        }
    };
    loop {
        // Read the flag first: every table finished before the display was stopped.
        let stopping = stop.load(Ordering::Relaxed);
        report_done(&mut reported);
        if stopping {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            let secs = progress.elapsed().as_secs_f64();
            let rows = progress.rows();
            eprintln!(
                "progress: {:.0}% after {:.0}s, {} rows, {:.0} rows/s",
                progress.fraction_done() * 100.0,
                secs,
                rows,
                rows as f64 / secs.max(0.001)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_by_rows_or_by_tables() {
        let p = Progress::new([("a".to_string(), 100), ("b".to_string(), 300)]);
        p.table("a").unwrap().add(100);
        p.table("a").unwrap().finish();
        p.table("b").unwrap().add(150);
        assert!((p.fraction_done() - 250.0 / 400.0).abs() < 1e-9);
        let q = Progress::new([("a".to_string(), 0), ("b".to_string(), 10)]);
        q.table("a").unwrap().finish();
        assert_eq!(q.fraction_done(), 0.5);
    }
}
