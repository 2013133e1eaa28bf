//! `plan --profile`'s pass over the data: each table read once in the snapshot and pushed
//! through the run's own decoders, normalisation, `[[transform]]` SQL and COPY encoder —
//! which encodes every value and sends nothing — so the profile and the run share one set
//! of checks. Where the run stops at the first value it refuses, the rehearsal hands each
//! over and goes on with the value as NULL (which no later stage refuses again), so every
//! refused value of a row is listed, not only its first. The changes the run counts (zero
//! dates written as NULL, UUIDs lower-cased, JSON duplicate keys a `json_duplicates` rule
//! resolves, values a `[[column]]` rule lets the target's type change, FLOATs whose
//! shortest text reads as another double) are counted by the same code. A value the run loads as it is is never listed
//! (docs/architecture.md, "No silent change").

use std::collections::BTreeMap;
use std::sync::Mutex;

use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::plan::{Plan, TablePlan};
use super::scratch::{Fill, Scratches};
use crate::error::{Error, Refused, Result, ValueError};
use crate::feed::{render_key, FEED_DEPTH};
use crate::mysql::MySqlSource;
use crate::pg::introspect::PgTable;
use crate::sink::postgres::copy::CopyEncoder;
use crate::sink::postgres::target::TableTarget;
use crate::source::mysql::Scanned;
use crate::transform::normalize::Normalizer;

/// What one check found in one column.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// What the run would do with these values.
    pub what: String,
    /// How many values.
    pub count: u64,
    /// Up to three example keys.
    pub examples: Vec<String>,
}

/// The findings of one table, in the order first met: (column, what) → count, examples.
#[derive(Default)]
struct Found {
    table: String,
    seen: BTreeMap<(String, String), usize>,
    list: Vec<Finding>,
}

impl Found {
    fn add(&mut self, column: &str, what: String, count: u64, example: Option<String>) {
        if count == 0 {
            return;
        }
        let at = *self.seen.entry((column.to_string(), what.clone())).or_insert_with(|| {
            self.list.push(Finding {
                table: self.table.clone(),
                column: column.to_string(),
                what,
                count: 0,
                examples: Vec::new(),
            });
            self.list.len() - 1
        });
        let f = &mut self.list[at];
        f.count += count;
        if f.examples.len() < 3 {
            f.examples.extend(example);
        }
    }

    fn refused(&mut self, v: ValueError) {
        self.add(&v.column, format!("rejected: {}", class(&v.reason)), 1, Some(v.key));
    }
}

/// A refusal's reason without what is particular to the value (its length, what it
/// would become, where its text breaks), so that values refused for one reason are
/// counted together.
fn class(reason: &str) -> String {
    if let Some((_, rest)) = reason.strip_prefix("would become ").and_then(|r| r.split_once(" in the target's ")) {
        return format!("would be changed by the target's {rest}");
    }
    let mut r = reason.to_string();
    if let Some((head, tail)) = r.split_once(" characters long, longer than ") {
        r = format!("{}longer than {tail} characters", head.trim_end_matches(|c: char| c.is_ascii_digit()));
    }
    // A closing parenthesis with a number in it says where or how much (`at byte 3`).
    let particular = r.rfind(" (").filter(|&at| r.ends_with(')') && r[at..].bytes().any(|b| b.is_ascii_digit()));
    if let Some(at) = particular {
        r.truncate(at);
    }
    r
}

/// Rehearses every planned table; `targets`: when the run loads PostgreSQL, the COPY
/// columns per planned table and the target's tables; `scratch`: where the rehearsed rows
/// are copied for the target's whole-table checks (`profile_target`).
pub(super) async fn rehearse(
    src: &MySqlSource,
    plan: &Plan,
    targets: Option<(&[Option<TableTarget>], &[PgTable])>,
    mut scratch: Option<&mut Scratches<'_>>,
) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    for (ti, t) in plan.tables.iter().enumerate() {
        let target = targets.and_then(|(tt, pts)| {
            let tt = tt.get(ti)?.as_ref()?;
            Some((tt, pts.iter().find(|p| p.name == tt.table)))
        });
        let mut fill = match scratch.as_deref_mut() {
            Some(s) => s.open(ti).await?,
            None => None,
        };
        match rehearse_table(src, t, target, fill.as_mut()).await {
            Ok(found) => {
                out.extend(found);
                if let (Some(s), Some(f)) = (scratch.as_deref_mut(), fill) {
                    s.close(ti, f).await?;
                }
            }
            // The run's read fails there too; the connection is not read from again.
            Err(e) if e.packet_too_large() => {
                // The server's own words (the error's display adds the advice TOO_LARGE gives).
                let why = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
                let what = format!("{TOO_LARGE} ({why})");
                out.push(Finding {
                    table: t.name().to_string(),
                    column: String::new(),
                    what,
                    count: 1,
                    examples: Vec::new(),
                });
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// What the profile says of a row the MySQL server will not send: the run's read fails
/// on it too, and the profile reads no further.
pub const TOO_LARGE: &str = "rejected: a row larger than the MySQL server's max_allowed_packet, which the run's read \
                             fails on too (raise max_allowed_packet on the server for the migration); the profile \
                             stopped reading there";

type Target<'a> = Option<(&'a TableTarget, Option<&'a PgTable>)>;

/// A batch on its way to the encoder, and its cells (row, column) an earlier stage
/// refused and left NULL.
type Staged = (RecordBatch, Vec<(usize, usize)>);

type Staging = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Staged>> + Send>>;

async fn rehearse_table(
    src: &MySqlSource,
    t: &TablePlan,
    target: Target<'_>,
    fill: Option<&mut Fill>,
) -> Result<Vec<Finding>> {
    let name = t.name().to_string();
    let found = Mutex::new(Found { table: name.clone(), ..Default::default() });
    let refuse = |v: ValueError| found.lock().expect("not poisoned").refused(v);
    let ctx = crate::transform::session();
    let key = &t.spec.table.primary_key;
    let mut norm = Normalizer::new(&ctx, &name, t.spec.plans.clone(), t.rules.clone(), key)?;
    let norm_schema = norm.schema();
    let (tx, rx) = mpsc::channel(FEED_DEPTH);
    let (ntx, nrx) = mpsc::channel::<Result<Staged>>(FEED_DEPTH);
    let reading = src.scan(&t.spec, tx);
    let normalising = normalise(rx, &mut norm, t, ntx, &refuse);
    let mut batches: Staging = Box::pin(tokio_stream::wrappers::ReceiverStream::new(nrx));
    if let Some(sql) = &t.transform_sql {
        batches = transform(&name, norm_schema, sql, batches).await?;
    }
    let encoding = encode(batches, t, target, &refuse, fill);
    let (zero_dates, (), encoder) = tokio::try_join!(reading, normalising, encoding)?;
    let mut found = found.into_inner().expect("not poisoned");
    for (p, n) in t.spec.plans.iter().zip(zero_dates) {
        found.add(&p.name, "changed: zero date written as NULL (zero_date = \"null\")".into(), n, None);
    }
    for (c, kind, n) in norm.changes() {
        found.add(&c, format!("changed: {}", kind.describe()), n, None);
    }
    if let Some(enc) = &encoder {
        for (c, &n) in enc.columns().iter().zip(enc.changed()) {
            let what = format!("changed (allowed by a [[column]] rule): rounded or padded by the target's {}", c.limit);
            found.add(&c.name, what, n, None);
        }
        for (c, &n) in enc.columns().iter().zip(enc.float_exact()) {
            let what = "counted: FLOAT values loaded into double precision as the float's own value, which their \
                        shortest decimal text reads otherwise";
            found.add(&c.name, what.into(), n, None);
        }
    }
    Ok(found.list)
}

type Refuse<'a> = &'a (dyn Fn(ValueError) + Sync);

/// The run's normalisation of each decoded batch, every refusal handed to `refuse`.
async fn normalise(
    mut rx: mpsc::Receiver<Scanned>,
    norm: &mut Normalizer,
    t: &TablePlan,
    ntx: mpsc::Sender<Result<Staged>>,
    refuse: Refuse<'_>,
) -> Result<()> {
    let column = |name: &str| t.spec.plans.iter().position(|p| p.name == name).unwrap_or(usize::MAX);
    while let Some(s) = rx.recv().await {
        let (b, mut nulled) = match s {
            Scanned::Refused(v) => {
                refuse(v);
                continue;
            }
            Scanned::Batch(b, nulled) => (b, nulled),
        };
        let b = norm.apply_each(&b, &mut |row, v| {
            nulled.push((row, column(&v.column)));
            refuse(v)
        })?;
        if ntx.send(Ok((b, nulled))).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// The table's `[[transform]]` SQL over the normalised batches, as the run applies it
/// (its rows are its own: no cell is known refused in them).
async fn transform(name: &str, schema: arrow::datatypes::SchemaRef, sql: &str, input: Staging) -> Result<Staging> {
    let q = crate::transform::sql::start(name, schema, sql).await?;
    let (tx, mut normalized) = (q.input, input);
    tokio::spawn(async move {
        while let Some(item) = normalized.next().await {
            let item = item.map(|(b, _)| b).map_err(|e| datafusion::common::DataFusionError::External(Box::new(e)));
            if tx.send(item).await.is_err() {
                break;
            }
        }
    });
    let n = name.to_string();
    let out = q.output.map(move |r| {
        r.map(|b| (b, Vec::new())).map_err(|e| Error::datafusion(format!("transform SQL of table `{n}`"), e))
    });
    Ok(Box::pin(out))
}

/// The COPY encoder's checks of every batch (sending nothing), then the target's own;
/// each batch then goes to `fill`, its refused cells NULL. Returns the encoder, which
/// counted the changes a rule allows.
async fn encode(
    mut batches: Staging,
    t: &TablePlan,
    target: Target<'_>,
    refuse: Refuse<'_>,
    mut fill: Option<&mut Fill>,
) -> Result<Option<CopyEncoder>> {
    let key = &t.spec.table.primary_key;
    let (mut encoder, mut rows) = (None::<CopyEncoder>, 0u64);
    while let Some(staged) = batches.next().await {
        let (b, skip) = staged?;
        if let Some((tt, pt)) = target {
            let enc = match &mut encoder {
                Some(e) => e,
                None => encoder.insert(
                    CopyEncoder::new(&b.schema(), tt.columns.clone())
                        .map_err(|m| Error::other(format!("table `{}`: {m}", tt.table)))?,
                ),
            };
            let refused = check_batch(enc, &b, (t, tt, pt), &skip, rows, refuse)?;
            if let Some(f) = fill.as_deref_mut() {
                let keys = (0..b.num_rows()).map(|i| row_key(&b, key, i, rows + i as u64)).collect();
                f.send(&b, &refused, keys).await;
            }
        }
        rows += b.num_rows() as u64;
    }
    Ok(encoder)
}

/// One batch's refusals by the encoder and the target, each handed to `refuse`; returns
/// the cells (row, COPY column) they refused. `skip`: cells refused before (NULL in the
/// batch); `rows`: the table's rows before the batch.
fn check_batch(
    enc: &mut CopyEncoder,
    b: &RecordBatch,
    (t, tt, pt): (&TablePlan, &TableTarget, Option<&PgTable>),
    skip: &[(usize, usize)],
    rows: u64,
    refuse: Refuse<'_>,
) -> Result<Vec<(usize, usize)>> {
    let (name, key) = (t.name(), &t.spec.table.primary_key);
    let column = |r: &Refused| tt.columns.iter().position(|c| c.name == r.column);
    let mut refused = Vec::new();
    let mut each = |r: Refused| {
        let at = row_key(b, key, r.row, rows + r.row as u64);
        refused.extend(column(&r).map(|ci| (r.row, ci)));
        refuse(r.locate(name, at));
    };
    enc.check_each(b, &mut each).map_err(|r| Error::from(r.locate(name, String::new())))?;
    if let Some(pt) = pt {
        let before: Vec<(usize, usize)> = skip.iter().chain(&refused).copied().collect();
        let mut found = Vec::new();
        target_refusals(b, tt, pt, &before, &mut |r| found.push(r));
        for r in found {
            let at = row_key(b, key, r.row, rows + r.row as u64);
            refused.extend(column(&r).map(|ci| (r.row, ci)));
            refuse(r.locate(name, at));
        }
    }
    Ok(refused)
}

/// What the target itself refuses of values the encoder lets through: NULL in a NOT
/// NULL column, text that is no label of the column's enum. Cells in `skip` (row, column)
/// were refused before.
fn target_refusals(
    b: &RecordBatch,
    tt: &TableTarget,
    pt: &PgTable,
    skip: &[(usize, usize)],
    each: &mut dyn FnMut(Refused),
) {
    use arrow::array::{Array, AsArray};
    for (ci, c) in tt.columns.iter().enumerate() {
        let (Some(pc), Some(a)) = (pt.column(&c.name), b.columns().get(ci)) else { continue };
        let mut refuse =
            |row: usize, value: String, reason: String| each(Refused { row, column: c.name.clone(), value, reason });
        if pc.not_null {
            for row in (0..a.len()).filter(|&r| a.is_null(r) && !skip.contains(&(r, ci))) {
                refuse(row, "NULL".into(), "is NULL, bound for a NOT NULL column".into());
            }
        }
        if let (true, Some(text)) = (pc.is_enum, a.as_string_opt::<i32>()) {
            for (row, v) in text.iter().enumerate() {
                let known = |v: &&str| pc.enum_labels.iter().any(|l| l == v) || skip.contains(&(row, ci));
                if let Some(v) = v.filter(|v| !known(v)) {
                    refuse(row, format!("'{v}'"), format!("is not a label of the target enum {}", pc.sql_type));
                }
            }
        }
    }
}

/// Row `i` of `batch`, row `n` (from 0) of its table, named by its key as the run's load
/// names it (`col='value', …`), or by its number when the batch lacks the key.
fn row_key(batch: &RecordBatch, key: &[String], i: usize, n: u64) -> String {
    let cols: Vec<_> = key.iter().filter_map(|k| batch.column_by_name(k)).collect();
    if cols.is_empty() || cols.len() < key.len() {
        return format!("#{}", n + 1);
    }
    let opts = FormatOptions::default();
    let values: Vec<String> = cols
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).map(|f| format!("'{}'", f.value(i))).unwrap_or_default())
        .collect();
    let names: Vec<&str> = key.iter().map(String::as_str).collect();
    render_key(&names, &values, n + 1)
}

#[cfg(test)]
mod tests {
    use super::class;
    use crate::error::Error;

    #[test]
    fn a_row_past_max_allowed_packet_is_told_from_other_read_errors() {
        let server = |code| {
            let e = mysql_async::ServerError { code, message: "m".into(), state: "HY000".into() };
            Error::mysql("reading `t`", mysql_async::Error::Server(e))
        };
        assert!(server(1153).packet_too_large());
        assert!(server(1301).packet_too_large());
        assert!(!server(1062).packet_too_large());
        let driver = mysql_async::Error::Driver(mysql_async::DriverError::PacketTooLarge);
        assert!(Error::mysql("reading `t`", driver).packet_too_large());
        assert!(!Error::other("max_allowed_packet").packet_too_large());
    }

    #[test]
    fn a_class_leaves_out_what_is_particular_to_the_value() {
        let long = "is 25 characters long, longer than the target column's 20";
        assert_eq!(class(long), "is longer than the target column's 20 characters");
        assert_eq!(class("is not valid UTF-8 (at byte 3)"), "is not valid UTF-8");
        assert_eq!(class("is not valid JSON (EOF while parsing at line 1 column 9)"), "is not valid JSON");
        let zero = "is a zero date (set zero_date = \"null\" to load it as NULL)";
        assert_eq!(class(zero), zero);
        let rounded = "would become 1.23 in the target's numeric(8,2); a rule allows it";
        assert_eq!(class(rounded), "would be changed by the target's numeric(8,2); a rule allows it");
        assert_eq!(class("does not fit numeric(6,2): 4 digits"), "does not fit numeric(6,2): 4 digits");
    }
}
