//! Planning a run: the source opened, the plan built and, with a PostgreSQL sink, the
//! target introspected and matched, and the tables a per-table rerun can skip
//! (docs/architecture.md, "The flow").

use super::new_migration_id;
use crate::error::{Error, Result};
use crate::pipeline::create;
use crate::pipeline::fit::{audit_fills, fit_targets};
use crate::pipeline::plan::{self, Plan};
use crate::pipeline::source::{self, Opened};
use crate::pipeline::spec::{CreateMode, Pipeline, SinkSpec, TransactionMode};
use crate::pipeline::uuids;
use crate::sink::postgres::create::SchemaDdl;
use crate::sink::postgres::load::{PerTable, PgLoad, Tuning};
use crate::sink::postgres::target::TableTarget;

/// The PostgreSQL side of a run: the open load and each planned table's target.
pub struct Target {
    /// The open connection (no transaction until [`PgLoad::begin`]).
    pub load: PgLoad,
    /// Per planned table, its target (None when it has a problem).
    pub tables: Vec<Option<TableTarget>>,
    /// Every problem of the plan-time check (`table.column: why`).
    pub problems: Vec<String>,
    /// Every narrowing cast (checked value by value during the load).
    pub narrowing: Vec<String>,
    /// What else the plan found worth saying (an export that would not import).
    pub notes: Vec<String>,
    /// Replace rows of non-empty tables.
    pub truncate: bool,
    /// `create = "missing"`: what the load creates before it COPYs.
    pub ddl: Option<SchemaDdl>,
}

/// Opens the source and builds the plan (nothing is read but the schema); with a
/// postgres sink, also introspects the target and checks the plan against it.
pub async fn plan(p: &Pipeline) -> Result<(Opened, Plan, Option<Target>)> {
    let (opened, tables) = source::open(p).await?;
    let planned = async {
        let (mut plan, target) = plan_with_target(p, &opened, tables).await?;
        plan.notes.extend(opened.not_carried().await?);
        Ok::<_, Error>((plan, target))
    };
    match planned.await {
        Ok((plan, target)) => Ok((opened, plan, target)),
        Err(e) => {
            opened.close().await;
            Err(e)
        }
    }
}

async fn plan_with_target(
    p: &Pipeline,
    opened: &Opened,
    tables: Vec<crate::schema::Table>,
) -> Result<(Plan, Option<Target>)> {
    let mut plan = plan::build(p, tables).await?;
    plan::json_reading(&mut plan, opened.json_reading());
    let live = opened.live();
    let uuid_notes = uuids::decide_exports(p, live.as_deref(), &mut plan).await?;
    plan.notes.extend(uuid_notes);
    let Some(sink) = p.postgres() else { return Ok((plan, None)) };
    let url = &sink.url;
    let migration_id = crate::pg::connect::APPLICATION_NAME
        .try_with(|n| n.trim_start_matches("converge/").to_string())
        .unwrap_or_else(|_| new_migration_id(&p.name));
    let per_table =
        (sink.transaction == TransactionMode::Table).then(|| PerTable { pipeline: p.name.clone(), migration_id });
    let schema = sink.schema();
    let tuning = Tuning {
        freeze: sink.freeze.unwrap_or(true),
        defer_indexes: sink.defer_indexes.unwrap_or(sink.transaction == TransactionMode::Run),
        streams: sink.streams.unwrap_or(1),
    };
    let mut load = PgLoad::open(url, schema, sink.existing.clone(), per_table, tuning)
        .await?
        .disable_triggers(sink.triggers == crate::pipeline::spec::TriggerMode::Disable)
        .counters(plan.counters());
    let ddl = match sink.create {
        CreateMode::Missing => Some(create_missing(p, opened, &mut plan, &mut load).await?),
        CreateMode::None => None,
    };
    let (tables, mut check) = fit_targets(&mut plan.tables, &load.tables);
    let load = if sink.audit_defaults {
        let stamp = opened.taken_at().unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        let (fills, answered) = audit_fills(&plan.tables, &load.tables, &p.options.audit_columns, &stamp);
        check.problems.retain(|x| !answered.contains(x));
        load.audit_defaults(fills)
    } else {
        load
    };
    check.notes.extend(export_would_not_import(p, &plan, &load.tables));
    let truncate = sink.truncate.unwrap_or(false);
    let mut target = Target {
        load,
        tables,
        problems: check.problems,
        narrowing: check.narrowing,
        notes: check.notes,
        truncate,
        ddl,
    };
    skip_unchanged(opened, &mut plan, &mut target, schema).await?;
    Ok((plan, Some(target)))
}

/// `create = "missing"`: the planned tables the target lacks get their types decided
/// (by the data, from a live source), their DDL made, proven and introspected; the
/// plan is then matched against the tables as PostgreSQL made them.
async fn create_missing(p: &Pipeline, opened: &Opened, plan: &mut Plan, load: &mut PgLoad) -> Result<SchemaDdl> {
    let missing: Vec<bool> = plan.tables.iter().map(|t| load.tables.iter().all(|x| x.name != t.target)).collect();
    let live = opened.live();
    let decided = create::decide_by_data(live.as_deref(), plan, &missing).await?;
    let taken = load.names_taken().await?;
    let postgis = if create::has_spatial(plan) { load.postgis().await? } else { None };
    let mut ddl = create::ddl(plan, &missing, p.postgres(), taken, postgis);
    ddl.notes.splice(0..0, decided);
    if !ddl.refused.is_empty() {
        return Err(Error::Pipeline {
            file: p.file.clone(),
            at: None,
            message: format!("the target cannot be created as it is:\n  {}", ddl.refused.join("\n  ")),
        });
    }
    if !ddl.is_empty() {
        load.create(&ddl).await?;
        plan.notes.extend(ddl.notes.iter().map(|n| format!("create: {n}")));
    }
    Ok(ddl)
}

/// A pipeline with a CSV sink and a postgres sink, whose CSV leaves out audit columns its
/// own target requires: the export would not import into that target. Said at plan time.
fn export_would_not_import(p: &Pipeline, plan: &Plan, targets: &[crate::pg::introspect::PgTable]) -> Vec<String> {
    if !p.sinks.iter().any(|s| matches!(s, SinkSpec::Csv { .. })) {
        return Vec::new();
    }
    let mut tables = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    for t in &plan.tables {
        let Some(pt) = targets.iter().find(|x| x.name == t.target) else { continue };
        let required: Vec<&String> = t
            .file_excluded
            .iter()
            .filter(|c| pt.column(&t.out_name(c)).is_some_and(|pc| pc.not_null && !pc.has_default))
            .collect();
        if !required.is_empty() {
            tables.push(t.target.clone());
            columns.extend(required.into_iter().filter(|c| !columns.contains(c)).cloned().collect::<Vec<_>>());
        }
    }
    if tables.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "the CSV export would not import into this target as it is: it leaves out the audit columns {} (options.keep_audit_columns = false), which {} tables of the target require (NOT NULL, no default). Set keep_audit_columns = true for a lossless export, or import it with --audit-defaults",
        columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
        tables.len()
    )]
}

/// Per-table mode: each table an earlier run committed is compared with the source in
/// this run's snapshot (count and content digest). Unchanged, it is skipped, and the
/// plan says so; changed, it is loaded again when `truncate` allows, else the run is
/// refused naming it — a target never mixes two snapshots of the source.
async fn skip_unchanged(opened: &Opened, plan: &mut Plan, target: &mut Target, schema: &str) -> Result<()> {
    let mut unchanged = Vec::new();
    let mut changed = Vec::new();
    for c in target.load.committed_earlier().await? {
        let Some(i) = plan.tables.iter().position(|t| t.target == c.table) else { continue };
        let pt = target.load.tables.iter().find(|t| t.name == c.table).cloned();
        let src = opened.live();
        let live = src.is_some();
        let (source, held, same) = match (src, pt) {
            (Some(src), Some(pt)) => {
                let client = target.load.client().await;
                crate::verify::unchanged(&src, &client, schema, &plan.tables[i], &pt).await?
            }
            // A dump or CSV source cannot be compared in place: the table is loaded again.
            _ => (0, c.rows, false),
        };
        if same {
            unchanged.push((c, source));
        } else {
            let why = if live {
                format!("the source now differs: {source} rows in the source, {held} in the target")
            } else {
                "a dump or CSV source cannot be compared with the target in place".to_string()
            };
            changed.push((c.table.clone(), format!("`{}` (committed by run {}; {why})", c.table, c.migration_id)));
        }
    }
    if !changed.is_empty() && !target.truncate {
        let list: Vec<&str> = changed.iter().map(|(_, w)| w.as_str()).collect();
        return Err(Error::other(format!(
            "per-table mode: tables an earlier run committed no longer match the source, and loading the rest now would mix two snapshots: {}. Set truncate = true on the postgres sink to load them again, or empty the target",
            list.join(", ")
        )));
    }
    // A table loaded again is truncated: every committed table referencing it is loaded
    // again with it (TRUNCATE takes them together).
    let mut reload: Vec<String> = changed.iter().map(|(t, _)| t.clone()).collect();
    for (_, what) in &changed {
        tracing::warn!("per-table mode: {what}: loaded again (truncate = true)");
    }
    loop {
        let refers = |t: &str| {
            let table = target.load.tables.iter().find(|x| x.name == t);
            table.is_some_and(|x| x.foreign_keys.iter().any(|fk| reload.contains(&fk.ref_table)))
        };
        let Some(k) = unchanged.iter().position(|(c, _)| refers(&c.table)) else { break };
        let (c, _) = unchanged.remove(k);
        tracing::warn!(
            "per-table mode: `{}` is unchanged but tied by a foreign key to a table loaded again: loaded again too",
            c.table
        );
        reload.push(c.table);
    }
    for (c, source) in unchanged {
        let i = plan.tables.iter().position(|t| t.target == c.table).expect("planned");
        plan.tables.remove(i);
        target.tables.remove(i);
        let why = format!(
            "committed by run {} and unchanged in the source since ({source} rows, content digest equal to the target's): skipped",
            c.migration_id
        );
        plan.excluded.push((c.table, why));
    }
    Ok(())
}

/// The source's name of the table the output (target, export files) calls `output`.
pub(super) fn source_name<'a>(plan: &'a Plan, output: &'a str) -> &'a str {
    plan.tables.iter().find(|t| t.target == output).map_or(output, |t| t.name())
}
