//! The follow stage's writes (docs/architecture.md, "Change capture"): a seeded mix of
//! source transactions — about 50 % updates, 30 % inserts, 20 % deletes by rows, each
//! transaction one statement of 1 to `max_rows` rows — over the dataset's largest
//! tables (`post`, `activity`), keeping track of which keys exist so that every update
//! and delete meets a row, and rendered as the SQL a client sends (multi-row `INSERT`,
//! `UPDATE … WHERE id IN (…)`, `DELETE … WHERE id IN (…)`).

/// What a transaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `UPDATE … WHERE id IN (…)`.
    Update,
    /// A multi-row `INSERT`.
    Insert,
    /// `DELETE … WHERE id IN (…)`.
    Delete,
}

/// The tables written, in the order of [`Workload::new`]'s keys.
pub const TABLES: [&str; 2] = ["post", "activity"];

/// One source transaction: one statement of `keys.len()` rows of table `TABLES[table]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Txn {
    /// Index into [`TABLES`].
    pub table: usize,
    /// What it does.
    pub kind: Kind,
    /// The rows it touches, as key numbers (see [`Workload::key_sql`]).
    pub keys: Vec<u64>,
}

/// Rows per kind in a list of transactions: (updates, inserts, deletes).
pub fn counts(txns: &[Txn]) -> (u64, u64, u64) {
    let mut c = (0, 0, 0);
    for t in txns {
        let n = t.keys.len() as u64;
        match t.kind {
            Kind::Update => c.0 += n,
            Kind::Insert => c.1 += n,
            Kind::Delete => c.2 += n,
        }
    }
    c
}

/// A small seeded generator (SplitMix64): the mix is the same for a seed on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The keys of one table: those the dataset holds (SQL literals, read from the source)
/// and those the workload inserted (made from their number).
struct Keys {
    existing: Vec<String>,
    /// Key numbers of the rows that exist now.
    live: Vec<u64>,
    /// The next key number an insert takes.
    next: u64,
    /// The first new `activity` id (the source's largest id + 1).
    first_new_id: u64,
}

/// The writer's view of the source: which rows exist, and the generator's state.
pub struct Workload {
    keys: Vec<Keys>,
    rng: Rng,
    /// Transactions made so far (numbers the values an update writes).
    pub made: u64,
}

impl Workload {
    /// `existing[i]`: the keys of `TABLES[i]` as SQL literals (`'uuid'`, `123`), and the
    /// table's largest integer id (0 for `post`).
    pub fn new(existing: Vec<(Vec<String>, u64)>, seed: u64) -> Workload {
        let keys = existing
            .into_iter()
            .map(|(existing, max_id)| {
                let n = existing.len() as u64;
                Keys { existing, live: (0..n).collect(), next: n, first_new_id: max_id + 1 }
            })
            .collect();
        Workload { keys, rng: Rng(seed ^ 0x5EED_F011_0000_0000), made: 0 }
    }

    /// Rows that exist now in `TABLES[table]`.
    pub fn live(&self, table: usize) -> usize {
        self.keys[table].live.len()
    }

    /// Transactions of about `changes` row changes in all (the last one is cut to end
    /// there), each of 1 to `max_rows` rows.
    pub fn plan(&mut self, changes: u64, max_rows: usize) -> Vec<Txn> {
        let mut out = Vec::new();
        let mut total = 0u64;
        while total < changes {
            let t = self.next(max_rows, changes - total);
            total += t.keys.len() as u64;
            out.push(t);
        }
        out
    }

    /// The next transaction of a plan: 1 to `max_rows` rows, at most `left` (> 0). A
    /// writer that goes on until it is stopped takes them one at a time.
    pub fn next(&mut self, max_rows: usize, left: u64) -> Txn {
        let want = (1 + self.rng.below(max_rows.max(1) as u64)).min(left) as usize;
        self.txn(want)
    }

    /// One transaction of `n` rows: the kind drawn 50 / 30 / 20, the table in
    /// proportion to its rows (an update or delete of a table without rows inserts).
    pub fn txn(&mut self, n: usize) -> Txn {
        self.made += 1;
        let kind = match self.rng.below(10) {
            0..=4 => Kind::Update,
            5..=7 => Kind::Insert,
            _ => Kind::Delete,
        };
        let total: u64 = self.keys.iter().map(|k| k.live.len() as u64).sum();
        let table = if total == 0 {
            0
        } else {
            let mut at = self.rng.below(total);
            self.keys
                .iter()
                .position(|k| {
                    let l = k.live.len() as u64;
                    let here = at < l;
                    at = at.saturating_sub(l);
                    here
                })
                .unwrap_or(0)
        };
        let k = &mut self.keys[table];
        let kind = if kind != Kind::Insert && k.live.len() < n { Kind::Insert } else { kind };
        let keys = match kind {
            Kind::Insert => {
                k.live.extend(k.next..k.next + n as u64);
                k.next += n as u64;
                (k.next - n as u64..k.next).collect()
            }
            // Distinct rows: the last n of a partial shuffle of the live keys (a delete
            // then cuts them off the end).
            _ => {
                let len = k.live.len();
                for i in 0..n {
                    let j = self.rng.below((len - i) as u64) as usize;
                    k.live.swap(j, len - 1 - i);
                }
                let picked: Vec<u64> = k.live[len - n..].to_vec();
                if kind == Kind::Delete {
                    k.live.truncate(len - n);
                }
                picked
            }
        };
        Txn { table, kind, keys }
    }

    /// The SQL literal of key number `k` of `TABLES[table]`.
    pub fn key_sql(&self, table: usize, k: u64) -> String {
        let keys = &self.keys[table];
        match keys.existing.get(k as usize) {
            Some(s) => s.clone(),
            None if TABLES[table] == "post" => format!("'00000000-0000-4000-8000-{k:012x}'"),
            None => (keys.first_new_id + k - keys.existing.len() as u64).to_string(),
        }
    }

    /// The statement of a transaction (one statement: one source transaction under
    /// autocommit). `n` numbers the values an update writes, so every update changes
    /// its rows.
    pub fn sql(&self, t: &Txn, n: u64) -> String {
        let ids: Vec<String> = t.keys.iter().map(|k| self.key_sql(t.table, *k)).collect();
        let list = ids.join(",");
        match (TABLES[t.table], t.kind) {
            ("post", Kind::Update) => format!(
                "UPDATE post SET score = MOD(COALESCE(score, 0) + 1.25, 1000000), \
                 updated = TIMESTAMP'2024-01-01 00:00:00' + INTERVAL {n} SECOND, \
                 meta = JSON_OBJECT('edit', {n}) WHERE id IN ({list})"
            ),
            ("activity", Kind::Update) => format!(
                "UPDATE activity SET amount = COALESCE(amount, 0) + 1, \
                 kind = ELT(1 + (id + {n}) % 4, 'view', 'like', 'comment', 'share') WHERE id IN ({list})"
            ),
            (table, Kind::Delete) => format!("DELETE FROM {} WHERE id IN ({list})", crate::ident::mysql(table)),
            ("post", Kind::Insert) => {
                let rows: Vec<String> = ids.iter().zip(&t.keys).map(|(id, k)| post_row(id, *k)).collect();
                format!(
                    "INSERT INTO post (id, accountId, title, body, created, updated, spent, score, views, meta) VALUES {}",
                    rows.join(",")
                )
            }
            (_, Kind::Insert) => {
                let rows: Vec<String> = ids.iter().zip(&t.keys).map(|(id, k)| activity_row(id, *k)).collect();
                format!("INSERT INTO activity (id, postId, kind, at, payload, amount) VALUES {}", rows.join(","))
            }
            (table, kind) => unreachable!("no statement for {kind:?} of {table}"),
        }
    }
}

fn post_row(id: &str, k: u64) -> String {
    format!(
        "({id}, '00000000-0000-4000-8000-{a:012x}', 'Follow {k} — ünïcødé', 'Body {k}\\nwith a newline,\\ttab and 🚀', \
         TIMESTAMP'2024-01-01 00:00:00' + INTERVAL {k} SECOND, NULL, '{h}:{m:02}:{s:02}.250000', {k} % 100000 / 100, \
         {views}, JSON_OBJECT('k', {k}, 'lang', 'en'))",
        a = k % 1000,
        h = k % 800,
        m = k % 60,
        s = k % 59,
        views = if k.is_multiple_of(3) { "NULL".to_string() } else { (u64::MAX - k).to_string() }
    )
}

fn activity_row(id: &str, k: u64) -> String {
    format!(
        "({id}, '00000000-0000-4000-8000-{p:012x}', '{kind}', TIMESTAMP'2024-06-01 00:00:00.123456' + INTERVAL {k} SECOND, \
         {payload}, {k} / 1000003)",
        p = k % 5000,
        kind = ["view", "like", "comment", "share"][(k % 4) as usize],
        payload = if k.is_multiple_of(2) { "NULL".to_string() } else { format!("JSON_OBJECT('ip', '10.1.{}.{}')", k % 256, k % 7) }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(seed: u64) -> Workload {
        let posts = (1..=1800).map(|n| format!("'p{n}'")).collect();
        let activity = (1..=900).map(|n| n.to_string()).collect();
        Workload::new(vec![(posts, 0), (activity, 900)], seed)
    }

    #[test]
    fn the_backlog_mix_is_half_updates_three_tenths_inserts_one_fifth_deletes_in_transactions_of_1_to_100_rows() {
        let mut w = workload(42);
        let txns = w.plan(1_000_000, 100);
        let (u, i, d) = counts(&txns);
        let total = (u + i + d) as f64;
        assert_eq!(u + i + d, 1_000_000);
        let share = |x: u64| x as f64 / total;
        assert!((share(u) - 0.5).abs() < 0.03, "updates {u} of {total}");
        assert!((share(i) - 0.3).abs() < 0.03, "inserts {i} of {total}");
        assert!((share(d) - 0.2).abs() < 0.03, "deletes {d} of {total}");
        assert!(txns.iter().all(|t| (1..=100).contains(&t.keys.len())));
        let sizes: std::collections::BTreeSet<usize> = txns.iter().map(|t| t.keys.len()).collect();
        assert!(sizes.contains(&1) && sizes.contains(&100) && sizes.len() == 100, "every size from 1 to 100");
        assert!(txns.iter().any(|t| t.table == 0) && txns.iter().any(|t| t.table == 1), "both tables are written");
        // The same seed, the same mix; another seed, another.
        assert_eq!(workload(42).plan(10_000, 100), workload(42).plan(10_000, 100));
        assert_ne!(workload(42).plan(10_000, 100), workload(7).plan(10_000, 100));
    }

    #[test]
    fn updates_and_deletes_meet_rows_that_exist_and_each_transaction_touches_a_row_once() {
        let mut w = workload(1);
        let mut live: Vec<std::collections::HashSet<u64>> = vec![(0..1800).collect(), (0..900).collect()];
        for t in w.plan(200_000, 100) {
            let distinct: std::collections::HashSet<u64> = t.keys.iter().copied().collect();
            assert_eq!(distinct.len(), t.keys.len(), "{t:?}");
            for k in &t.keys {
                match t.kind {
                    Kind::Insert => assert!(live[t.table].insert(*k), "inserted twice: {t:?}"),
                    Kind::Update => assert!(live[t.table].contains(k), "updates a missing row: {t:?}"),
                    Kind::Delete => assert!(live[t.table].remove(k), "deletes a missing row: {t:?}"),
                }
            }
        }
        assert_eq!((w.live(0), w.live(1)), (live[0].len(), live[1].len()));
        let single = w.plan(500, 1);
        assert!(single.len() == 500 && single.iter().all(|t| t.keys.len() == 1));
    }

    #[test]
    fn keys_and_statements_name_existing_and_new_rows() {
        let mut w = workload(3);
        assert_eq!(w.key_sql(0, 0), "'p1'");
        assert_eq!(w.key_sql(0, 1800), "'00000000-0000-4000-8000-000000000708'");
        assert_eq!(w.key_sql(1, 900), "901");
        let t = Txn { table: 1, kind: Kind::Delete, keys: vec![0, 901] };
        assert_eq!(w.sql(&t, 5), "DELETE FROM `activity` WHERE id IN (1,902)");
        let insert = loop {
            let t = w.txn(3);
            if t.kind == Kind::Insert {
                break t;
            }
        };
        let sql = w.sql(&insert, 9);
        assert!(sql.starts_with("INSERT INTO ") && sql.matches("JSON_OBJECT").count() >= 1, "{sql}");
    }
}
