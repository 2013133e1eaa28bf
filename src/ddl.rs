//! `converge schema PIPELINE [--out FILE] [--diff]`: the PostgreSQL schema `converge`
//! would create from the source (docs/architecture.md, "Creating the target"), and
//! how an existing schema-first target differs from it.

use crate::error::{Error, Result};
use crate::pg::connect::connect;
use crate::pg::introspect;
use crate::pipeline::spec::{Pipeline, PostgresSink};
use crate::pipeline::{create, plan, source};
use crate::sink::postgres::create::diff;
use crate::sink::postgres::create::{IndexNames, LongNames, SchemaDdl};

/// What `schema` found.
#[derive(Debug, Clone)]
pub struct SchemaReport {
    /// The DDL for every planned table.
    pub ddl: SchemaDdl,
    /// With `--diff`: every difference between the target and the DDL.
    pub differences: Option<Vec<String>>,
    /// The source, described (no secrets).
    pub source: String,
}

/// The DDL for every table the pipeline plans; with `diff`, compared with the postgres
/// sink's target schema (the sink's naming options for creation then do not apply).
pub async fn schema(p: &Pipeline, diff: bool) -> Result<SchemaReport> {
    let (opened, tables) = source::open(p).await?;
    let made = async {
        let mut plan = plan::build(p, tables).await?;
        let all = vec![true; plan.tables.len()];
        let live = opened.live();
        let decided = create::decide_by_data(live.as_deref(), &mut plan, &all).await?;
        let (postgis, asked) = postgis(p, &plan).await;
        // A comparison needs no names for what it would create: long names are
        // shortened and clashing index names prefixed, whatever the sink says.
        let sink = p.postgres().map(|s| match diff {
            true => PostgresSink { long_names: LongNames::Shorten, index_names: IndexNames::Prefix, ..s.clone() },
            false => s.clone(),
        });
        let mut ddl = create::ddl(&plan, &all, sink.as_ref(), Vec::new(), postgis);
        ddl.notes.splice(0..0, decided);
        ddl.notes.extend(asked);
        ddl.notes.extend(opened.not_carried().await?);
        ddl.objects = opened.object_definitions().await?;
        Ok::<_, Error>(ddl)
    }
    .await;
    let source = opened.describe();
    opened.close().await;
    let ddl = made?;
    let differences = match diff {
        false => None,
        true => Some(compare(p, &ddl).await?),
    };
    Ok(SchemaReport { ddl, differences, source })
}

/// Whether the postgres sink's target has PostGIS (then spatial columns are shown as
/// `geometry`): asked only when the plan has a spatial column. A target that cannot be
/// asked leaves them `bytea`, with a note saying why.
async fn postgis(p: &Pipeline, plan: &plan::Plan) -> (Option<String>, Option<String>) {
    let Some(sink) = p.postgres().filter(|_| create::has_spatial(plan)) else { return (None, None) };
    let asked = match connect(&sink.url).await {
        Ok(client) => introspect::postgis_schema(&client).await,
        Err(e) => Err(e),
    };
    match asked {
        Ok(schema) => (schema, None),
        Err(e) => (
            None,
            Some(format!(
                "spatial columns are shown as bytea: whether the target has PostGIS (then they are geometry) could not be asked ({e})"
            )),
        ),
    }
}

/// The target's schema against the DDL, created for the comparison in a scratch schema
/// inside a transaction that is rolled back.
async fn compare(p: &Pipeline, ddl: &SchemaDdl) -> Result<Vec<String>> {
    let sink = p.postgres().ok_or_else(|| Error::other("--diff compares with the pipeline's postgres sink"))?;
    if !ddl.refused.is_empty() {
        return Err(Error::other(format!("the schema cannot be created as it is:\n  {}", ddl.refused.join("\n  "))));
    }
    let client = connect(&sink.url).await?;
    diff::against(&client, ddl, sink.schema()).await
}
