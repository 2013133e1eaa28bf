//! A run's closing steps, once every table has streamed: the ledger filled, the
//! manifests written, the files recounted, the validations run (docs/architecture.md,
//! "The flow").

use std::collections::HashMap;

use super::prepare::source_name;
use super::Run;
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::manifest::{Manifest, ManifestFile, ManifestTable};
use crate::sink::Written;
use crate::transform::validate::Outcome;

use super::table::TableOutcome;

/// The row-count ledger from what the source counted and read, the transform stage
/// passed on and each sink kept.
pub(super) fn fill_ledger(run: &Run<'_>, outcomes: &[TableOutcome]) -> Ledger {
    let Run { plan, sinks, .. } = *run;
    let mut ledger = Ledger::default();
    for (t, o) in plan.tables.iter().zip(outcomes) {
        let row = ledger.row(&o.table);
        row.source = o.stats.source_count;
        row.read = Some(o.stats.rows_read);
        row.transformed = Some(o.transformed);
        row.transform_sql = t.transform_sql.is_some();
        for (s, w) in sinks.iter().zip(&o.written) {
            if let Some(n) = w.kept_rows() {
                row.written.push((s.sink.label().to_string(), n));
            }
        }
    }
    ledger
}

/// The manifests, one per export directory, from what the sinks wrote.
pub(super) fn manifests(
    run: &Run<'_>,
    migration_id: &str,
    export_timestamp: &str,
    outcomes: &[TableOutcome],
) -> Vec<Manifest> {
    let Run { p, opened, plan, sinks, dirs, .. } = *run;
    let by_name: HashMap<&str, usize> = plan.tables.iter().enumerate().map(|(i, t)| (t.name(), i)).collect();
    let mut manifests: Vec<Manifest> = dirs
        .iter()
        .map(|_| Manifest {
            migration_id: migration_id.to_string(),
            source_database: opened.database_name(),
            target_database: p.sinks.iter().map(|s| s.kind()).collect::<Vec<_>>().join("+"),
            export_timestamp: export_timestamp.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            pipeline: p.name.clone(),
            tables: Vec::new(),
            binlog_position: opened.binlog_position(),
        })
        .collect();
    for o in outcomes {
        for (di, m) in manifests.iter_mut().enumerate() {
            let mut entry = ManifestTable {
                name: plan.tables[by_name[o.table.as_str()]].target.clone(),
                row_count: o.transformed,
                file: None,
                sha256: None,
                bytes: None,
                parquet: Vec::new(),
                primary_key: plan.tables[by_name[o.table.as_str()]].spec.table.primary_key.clone(),
                columns: o.columns.clone(),
            };
            for (s, w) in sinks.iter().zip(&o.written) {
                if s.dir != Some(di) {
                    continue;
                }
                match w {
                    Written::File(f) => {
                        entry.file = Some(f.file.clone());
                        entry.sha256 = Some(f.sha256.clone());
                        entry.bytes = Some(f.bytes);
                    }
                    Written::Parts(files) => entry.parquet.extend(files.iter().map(|f| ManifestFile {
                        file: f.file.clone(),
                        row_count: f.rows,
                        sha256: f.sha256.clone(),
                    })),
                    Written::Rows(_) | Written::Dropped(_) => {}
                }
            }
            m.tables.push(entry);
        }
    }
    manifests
}

/// The ledger's manifest column: the files counted back from disk (the manifest's
/// counts are what the files hold), or the manifest's own counts.
pub(super) fn recount(run: &Run<'_>, manifests: &[Manifest], ledger: &mut Ledger) -> Result<()> {
    let Run { p, plan, dirs, .. } = *run;
    if p.options.recount_files {
        for ((_, d), m) in dirs.iter().zip(manifests) {
            for t in &m.tables {
                let on_disk = tokio::task::block_in_place(|| crate::query::count_table_files(&d.path, t))?;
                ledger.row(source_name(plan, &t.name)).manifest = Some(on_disk);
            }
        }
    } else if let Some(m) = manifests.first() {
        for t in &m.tables {
            ledger.row(source_name(plan, &t.name)).manifest = Some(t.row_count);
        }
    }
    Ok(())
}

/// The pipeline's `[[validate]]` queries over the first export; the first that fails
/// stops the run.
pub(super) async fn validate(run: &Run<'_>, manifests: &[Manifest]) -> Result<Vec<Outcome>> {
    let Run { p, dirs, .. } = *run;
    let mut validations = Vec::new();
    if !p.validations.is_empty() {
        let (_, d) = &dirs[0];
        let ctx = crate::transform::session();
        crate::query::register_manifest(&ctx, &d.path, &manifests[0], None, crate::query::TableFiles::Auto).await?;
        validations = crate::transform::validate::run(&ctx, &p.validations).await?;
        if let Some(f) = validations.iter().find(|v| !v.passed()) {
            return Err(Error::Validation { name: f.name.clone(), expected: f.expected.clone(), got: f.got.clone() });
        }
    }
    Ok(validations)
}
