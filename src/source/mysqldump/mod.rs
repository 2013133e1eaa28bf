//! The mysqldump source: a streaming, synchronous reader of `mysqldump` /
//! `mariadb-dump` output (`.sql`, or gzip-compressed, detected by its magic bytes).
//!
//! The dump is read in chunks ([`CHUNK`]) and never held whole: `CREATE TABLE`
//! statements become [`Table`]s ([`read_schema`]), and the rows of `INSERT` statements
//! are scanned byte by byte straight into the shared cell decoder ([`read_data`]), so a
//! dump and the live server it came from give identical batches. Everything else a
//! dump holds (comments, `LOCK TABLES`, `DROP TABLE`, conditional comments, views,
//! triggers under `DELIMITER ;;`) is skipped, except `SET TIME_ZONE` (also inside a
//! versioned comment): TIMESTAMP literals are read in the zone it sets ([`zone`]).

mod column;
mod ddl;
mod feed;
mod input;
mod scan;
#[cfg(test)]
mod tests;
mod tokens;
pub mod zone;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::feed::ReadSpec;
#[cfg(test)]
use crate::feed::{column_plans, ZeroDate};
use crate::schema::Table;
pub use feed::DumpSource;
use input::Input;
use scan::{read_tuples, Scratch, Slots, TableState};
use zone::{Zone, ZoneState};

/// How many bytes are read from the dump at a time.
pub const CHUNK: usize = 1 << 20;

/// Opens a dump, decompressing it when it starts with the gzip magic bytes.
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::with_capacity(64 << 10, file);
    let head = reader.fill_buf().map_err(|e| Error::io(path, e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads only the `CREATE TABLE` statements (a full pass over the file that skips
/// INSERT data quickly), in file order.
pub fn read_schema(path: &Path) -> Result<Vec<Table>> {
    read_schema_from(open(path)?, path, CHUNK)
}

/// The tables, the other objects, and where TIMESTAMP data comes in an unknown zone,
/// with the session's own zone named `zone` (`[source] time_zone`).
pub fn read_dump_schema(path: &Path, zone: Option<Zone>) -> Result<DumpSchema> {
    read_dump_schema_from(open(path)?, path, CHUNK, &ZoneState::initial(zone))
}

/// [`read_schema`] over any reader, in chunks of `chunk` bytes; `file` names it in errors.
pub fn read_schema_from(src: impl Read, file: &Path, chunk: usize) -> Result<Vec<Table>> {
    Ok(read_dump_schema_from(src, file, chunk, &ZoneState::initial(None))?.tables)
}

fn read_dump_schema_from(src: impl Read, file: &Path, chunk: usize, initial: &ZoneState) -> Result<DumpSchema> {
    let mut input = Input::new(Box::new(src), file, chunk);
    let mut schema = DumpSchema::default();
    walk(&mut input, &mut Mode::Schema(&mut schema), initial)?;
    schema.objects.dedup();
    Ok(schema)
}

/// What the schema pass collects.
#[derive(Default)]
pub struct DumpSchema {
    /// The tables, in file order.
    pub tables: Vec<Table>,
    /// The other objects the dump holds (views, triggers, routines, events: `kind
    /// name`), which a run does not carry.
    pub objects: Vec<String>,
    /// Tables whose first INSERT comes while the session's zone is unknown: table,
    /// line, why.
    pub unknown_zone: Vec<(String, u64, String)>,
}

/// The object a dump statement (or its `/*!NNNNN …*/` part) creates, for the listing of
/// what is not carried: mysqldump writes `/*!50001 VIEW`, `/*!50003 TRIGGER`,
/// `/*!50106 EVENT` and `CREATE DEFINER=… PROCEDURE|FUNCTION`.
fn object_at(input: &mut Input) -> Result<Option<String>> {
    const MARKS: [(&[u8], &str); 4] = [
        (b"/*!50001 VIEW ", "view"),
        (b"/*!50003 TRIGGER ", "trigger"),
        (b"/*!50106 EVENT ", "event"),
        (b"CREATE DEFINER=", ""),
    ];
    for (mark, kind) in MARKS {
        if !input.at_bytes(mark)? {
            continue;
        }
        // The next few hundred bytes hold the name.
        let mut head = Vec::new();
        for k in mark.len()..mark.len() + 300 {
            match input.peek_at(k)? {
                Some(b'\n') | None => break,
                Some(b) => head.push(b),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let (kind, rest) = if kind.is_empty() {
            let Some((kind, at)) =
                ["PROCEDURE ", "FUNCTION "].iter().find_map(|k| head.find(k).map(|i| (*k, i + k.len())))
            else {
                return Ok(None);
            };
            (kind.trim().to_lowercase(), head[at..].to_string())
        } else {
            (kind.to_string(), head)
        };
        let rest = rest.trim_start().trim_start_matches("IF NOT EXISTS ").trim_start();
        let name: String = match rest.strip_prefix('`') {
            Some(r) => r.split('`').next().unwrap_or("").to_string(),
            None => {
                rest.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).next().unwrap_or("").to_string()
            }
        };
        return Ok((!name.is_empty()).then(|| format!("{kind} {name}")));
    }
    Ok(None)
}

/// Streams the INSERT data of the selected tables (keyed by table name): calls
/// `emit(table_name, batch)` for every batch of at most `batch_rows` rows (smaller when
/// a batch passes 32 MiB, and at the end of each run of a table's INSERTs), in file
/// order. Tables not selected are skipped quickly. Returns the rows read per selected
/// table (0 for a selected table without data).
pub fn read_data(
    path: &Path,
    tables: &HashMap<String, ReadSpec>,
    batch_rows: usize,
    emit: &mut dyn FnMut(&str, RecordBatch) -> Result<()>,
) -> Result<HashMap<String, u64>> {
    read_data_from(open(path)?, path, CHUNK, tables, batch_rows, emit)
}

/// [`read_data`] with the session's own zone named `zone` (`[source] time_zone`).
pub fn read_data_in_zone(
    path: &Path,
    zone: Option<Zone>,
    tables: &HashMap<String, ReadSpec>,
    batch_rows: usize,
    emit: &mut dyn FnMut(&str, RecordBatch) -> Result<()>,
) -> Result<HashMap<String, u64>> {
    let initial = ZoneState::initial(zone);
    read_data_zoned(open(path)?, path, CHUNK, &initial, tables, batch_rows, emit)
}

/// [`read_data`] over any reader, in chunks of `chunk` bytes; `file` names it in errors.
pub fn read_data_from(
    src: impl Read,
    file: &Path,
    chunk: usize,
    tables: &HashMap<String, ReadSpec>,
    batch_rows: usize,
    emit: &mut dyn FnMut(&str, RecordBatch) -> Result<()>,
) -> Result<HashMap<String, u64>> {
    read_data_zoned(src, file, chunk, &ZoneState::initial(None), tables, batch_rows, emit)
}

fn read_data_zoned(
    src: impl Read,
    file: &Path,
    chunk: usize,
    initial: &ZoneState,
    tables: &HashMap<String, ReadSpec>,
    batch_rows: usize,
    emit: &mut dyn FnMut(&str, RecordBatch) -> Result<()>,
) -> Result<HashMap<String, u64>> {
    let mut input = Input::new(Box::new(src), file, chunk);
    let mut data = Data { tables, batch_rows: batch_rows.max(1), emit, states: HashMap::new(), current: None };
    walk(&mut input, &mut Mode::Data(&mut data), initial)?;
    data.flush_current()?;
    Ok(tables.keys().map(|n| (n.clone(), data.states.get(n).map_or(0, |s| s.rows))).collect())
}

/// The state of a data pass.
struct Data<'a, 'e> {
    tables: &'a HashMap<String, ReadSpec>,
    batch_rows: usize,
    emit: &'e mut dyn FnMut(&str, RecordBatch) -> Result<()>,
    states: HashMap<String, TableState>,
    /// The table whose builder may hold rows.
    current: Option<String>,
}

impl Data<'_, '_> {
    fn flush_current(&mut self) -> Result<()> {
        if let Some(name) = self.current.take() {
            if let Some(st) = self.states.get_mut(&name) {
                if st.builder.rows() > 0 {
                    (self.emit)(&name, st.builder.finish())?;
                }
            }
        }
        Ok(())
    }
}

enum Mode<'m, 'a, 'e> {
    Schema(&'m mut DumpSchema),
    Data(&'m mut Data<'a, 'e>),
}

/// The statement loop shared by both passes; `initial` is the session's zone before
/// the dump sets one.
fn walk(input: &mut Input, mode: &mut Mode, initial: &ZoneState) -> Result<()> {
    let mut zone = initial.clone();
    let mut delim: Vec<u8> = b";".to_vec();
    let mut word = String::new();
    let mut sc = Scratch::default();
    let mut text = Vec::new();
    loop {
        let Some(c) = input.skip_ws()? else { return Ok(()) };
        if let Mode::Schema(schema) = mode {
            if matches!(c, b'/' | b'C') {
                if let Some(o) = object_at(input)? {
                    schema.objects.push(o);
                }
            }
        }
        if c == b'/' && versioned_set(input, &mut text, &mut zone, initial)? {
            continue;
        }
        if input.skip_comment()? {
            continue;
        }
        if c == b';' {
            // An empty statement, or what is left of `;;` after a skipped comment.
            input.pos += 1;
            continue;
        }
        let line = input.line();
        input.read_word(&mut word)?;
        match word.as_str() {
            "" => {
                let shown = if c.is_ascii_graphic() { format!("`{}`", c as char) } else { format!("byte 0x{c:02x}") };
                return Err(input.error_at(line, format!("unexpected {shown} where a statement was expected")));
            }
            "INSERT" | "REPLACE" => insert(input, mode, &mut sc, &delim, line, &zone)?,
            "SET" => {
                text.clear();
                if !input.collect_statement(&mut text, &delim)? {
                    return Err(input.error(format!("the SET on line {line} does not end: the dump is truncated")));
                }
                zone = zone.after_statement(&String::from_utf8_lossy(&text), initial);
            }
            "CREATE" if matches!(mode, Mode::Schema(_)) => {
                input.skip_ws()?;
                if !(input.at_word(b"TABLE")? || input.at_word(b"TEMPORARY")?) {
                    skip_statement(input, &delim, line)?;
                    continue;
                }
                text.clear();
                text.extend_from_slice(b"CREATE ");
                if !input.collect_statement(&mut text, &delim)? {
                    return Err(
                        input.error(format!("the CREATE TABLE on line {line} does not end: the dump is truncated"))
                    );
                }
                let sql = String::from_utf8_lossy(&text);
                let table = ddl::parse_create_table(&sql).map_err(|e| input.error_at(line, e.to_string()))?;
                if let Mode::Schema(schema) = mode {
                    schema.tables.push(table);
                }
            }
            "DELIMITER" => {
                text.clear();
                while let Some(b) = input.next()? {
                    if b == b'\n' {
                        break;
                    }
                    text.push(b);
                }
                let d = String::from_utf8_lossy(&text).trim().as_bytes().to_vec();
                if d.is_empty() {
                    return Err(input.error_at(line, "DELIMITER without a delimiter"));
                }
                delim = d;
            }
            _ => skip_statement(input, &delim, line)?,
        }
    }
}

/// A versioned comment holding a `SET` (`/*!40103 SET TIME_ZONE='+00:00' */`) is code
/// to the server: its assignments apply. False (nothing consumed) for any other comment.
fn versioned_set(input: &mut Input, text: &mut Vec<u8>, zone: &mut ZoneState, initial: &ZoneState) -> Result<bool> {
    let mut k = if input.at_bytes(b"/*!")? {
        3
    } else if input.at_bytes(b"/*M!")? {
        4
    } else {
        return Ok(false);
    };
    while input.peek_at(k)?.is_some_and(|b| b.is_ascii_digit() || b.is_ascii_whitespace()) {
        k += 1;
    }
    let set = (0..3).all(|i| matches!(input.peek_at(k + i), Ok(Some(b)) if b.eq_ignore_ascii_case(&b"SET"[i])))
        && !input.peek_at(k + 3)?.is_some_and(input::is_word_byte);
    if !set {
        return Ok(false);
    }
    let line = input.line();
    input.pos += k + 3;
    text.clear();
    if !input.collect_statement(text, b"*/")? {
        return Err(input.error_at(line, "unterminated /* comment */ at end of file"));
    }
    *zone = zone.after_statement(&String::from_utf8_lossy(text), initial);
    Ok(true)
}

fn skip_statement(input: &mut Input, delim: &[u8], line: u64) -> Result<()> {
    if !input.skip_past(delim, true)? {
        return Err(
            input.error(format!("the statement that starts on line {line} does not end: the dump is truncated"))
        );
    }
    Ok(())
}

/// One INSERT/REPLACE statement, its first keyword consumed.
fn insert(
    input: &mut Input,
    mode: &mut Mode,
    sc: &mut Scratch,
    delim: &[u8],
    line: u64,
    zone: &ZoneState,
) -> Result<()> {
    loop {
        input.skip_ws()?;
        let mut modifier = false;
        for kw in [&b"INTO"[..], b"IGNORE", b"LOW_PRIORITY", b"DELAYED", b"HIGH_PRIORITY"] {
            if input.at_word(kw)? {
                input.pos += kw.len();
                modifier = true;
            }
        }
        if !modifier {
            break;
        }
    }
    let mut ident = Vec::new();
    input.read_ident(&mut ident)?;
    while input.peek()? == Some(b'.') {
        input.pos += 1;
        input.read_ident(&mut ident)?;
    }
    let data = match mode {
        Mode::Data(data) => data,
        Mode::Schema(schema) => {
            if let ZoneState::Unknown(why) = zone {
                let name = String::from_utf8_lossy(&ident).into_owned();
                if !schema.unknown_zone.iter().any(|(t, _, _)| *t == name) {
                    schema.unknown_zone.push((name, line, why.clone()));
                }
            }
            return skip_statement(input, delim, line);
        }
    };
    let name = String::from_utf8_lossy(&ident);
    let Some(dt) = data.tables.get(name.as_ref()) else { return skip_statement(input, delim, line) };
    let name = dt.table.name.as_str();
    if data.current.as_deref() != Some(name) {
        data.flush_current()?;
        data.current = Some(name.to_string());
    }
    if !data.states.contains_key(name) {
        let st = TableState::new(dt, data.batch_rows).map_err(|e| input.error_at(line, e.to_string()))?;
        data.states.insert(name.to_string(), st);
    }
    let st = data.states.get_mut(name).expect("inserted above");

    let mut listed = None;
    if input.skip_ws()? == Some(b'(') {
        input.pos += 1;
        let mut names = Vec::new();
        loop {
            input.skip_ws()?;
            input.read_ident(&mut ident)?;
            names.push(String::from_utf8_lossy(&ident).into_owned());
            match input.skip_ws()? {
                Some(b',') => input.pos += 1,
                Some(b')') => {
                    input.pos += 1;
                    break;
                }
                _ => return Err(input.error(format!("INSERT INTO `{name}`: expected , or ) in the column list"))),
            }
        }
        listed = Some(names);
    }
    input.skip_ws()?;
    if input.at_word(b"VALUES")? {
        input.pos += 6;
    } else if input.at_word(b"VALUE")? {
        input.pos += 5;
    } else {
        return Err(input.error(format!("INSERT INTO `{name}`: only INSERT … VALUES is supported")));
    }
    let slots = match &listed {
        None => std::mem::take(&mut st.default_slots),
        Some(names) => match st.listed.take() {
            Some((prev, slots)) if &prev == names => slots,
            _ => Slots::new(dt, Some(names)).map_err(|e| input.error_at(line, e.to_string()))?,
        },
    };
    let result = read_tuples(input, dt, st, &slots, sc, zone, data.batch_rows, &mut *data.emit);
    match listed {
        None => st.default_slots = slots,
        Some(names) => st.listed = Some((names, slots)),
    }
    result
}
