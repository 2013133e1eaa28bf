//! The run's sinks: the one place a `[[sink]] kind` becomes a [`Sink`]
//! (docs/architecture.md, "Seams"), and the export directories the file sinks share.

use std::sync::Arc;

use crate::error::Result;
use crate::pipeline::spec::{Pipeline, SinkSpec};
use crate::sink::csv::CsvSink;
use crate::sink::export_dir::ExportDir;
use crate::sink::null::NullSink;
use crate::sink::parquet::ParquetSink;
use crate::sink::postgres::load::PgLoad;
use crate::sink::postgres::sink::PgSink;
use crate::sink::postgres::target::TableTarget;
use crate::sink::Sink;

/// A sink of the run, and the export directory it writes into (an index into the
/// run's directories), if it writes files.
#[derive(Clone)]
pub(super) struct RunSink {
    pub(super) dir: Option<usize>,
    pub(super) sink: Arc<dyn Sink>,
}

/// An export directory of the run, by the sink `dir` it was made under.
pub(super) type Dir = (String, ExportDir);

/// The run's sinks (file sinks in the pipeline's order, then PostgreSQL), and its export directories: one per distinct
/// `dir` (csv and parquet may share one). Each `[[sink]]` kind is built here.
pub(super) fn open_sinks(
    p: &Pipeline,
    target: Option<&(Arc<PgLoad>, Vec<Option<TableTarget>>)>,
    migration_id: &str,
) -> Result<(Vec<RunSink>, Vec<Dir>)> {
    let mut dirs: Vec<Dir> = Vec::new();
    let mut sinks = Vec::new();
    for s in &p.sinks {
        let mut dir = None;
        let sink: Arc<dyn Sink> = match s {
            SinkSpec::Csv { dir: base } => {
                let i = *dir.insert(export_dir(&mut dirs, base, migration_id)?);
                Arc::new(CsvSink { dir: dirs[i].1.path.clone() })
            }
            SinkSpec::Parquet { dir: base, max_file_mb } => {
                let i = *dir.insert(export_dir(&mut dirs, base, migration_id)?);
                Arc::new(ParquetSink {
                    dir: dirs[i].1.path.clone(),
                    max_file_bytes: max_file_mb << 20,
                    budget: Default::default(),
                })
            }
            SinkSpec::Postgres(_) => match target {
                Some((load, tables)) => Arc::new(PgSink::new(load.clone(), tables.iter().flatten().cloned())),
                None => continue,
            },
            SinkSpec::Null => Arc::new(NullSink),
        };
        sinks.push(RunSink { dir, sink });
    }
    // File sinks first, then the target: the ledger lists what each wrote in this order.
    sinks.sort_by_key(|s| s.dir.is_none());
    Ok((sinks, dirs))
}

/// The run's folder under `base` (sinks that share a base share it): its index in `dirs`.
fn export_dir(dirs: &mut Vec<Dir>, base: &str, migration_id: &str) -> Result<usize> {
    if let Some(i) = dirs.iter().position(|(b, _)| b == base) {
        return Ok(i);
    }
    dirs.push((base.to_string(), ExportDir::create(std::path::Path::new(base), migration_id)?));
    Ok(dirs.len() - 1)
}
