//! `converge schema` and `converge plan`: the DDL, the plan, the target check, the profile.

use converge::pipeline::{self, Pipeline};
use converge::run;

use super::Cli;

/// `converge schema [--out FILE] [--diff]`: the DDL (or the differences); exit non-zero
/// when a name must be fixed first, or when the target differs.
pub(super) async fn schema_command(
    cli: &Cli,
    pipeline: &std::path::Path,
    out: Option<&std::path::Path>,
    diff: bool,
) -> converge::Result<()> {
    let p = Pipeline::load(pipeline)?;
    let r = converge::ddl::schema(&p, diff).await?;
    let header = format!(
        "PostgreSQL schema for pipeline `{}` from {}, made by converge {}",
        p.name,
        r.source,
        env!("CARGO_PKG_VERSION")
    );
    let script = r.ddl.script(&header);
    if cli.json {
        let j = serde_json::json!({
            "statements": r.ddl.statements(), "notes": r.ddl.notes, "refused": r.ddl.refused,
            "differences": r.differences,
        });
        println!("{j}");
    } else if let Some(diffs) = &r.differences {
        for d in diffs {
            println!("{d}");
        }
        if diffs.is_empty() && !cli.quiet {
            println!("the target matches the schema converge would create");
        }
    } else if out.is_none() {
        print!("{script}");
    }
    if let Some(path) = out {
        std::fs::write(path, &script).map_err(|e| converge::Error::io(path, e))?;
        if !cli.quiet && !cli.json {
            eprintln!(
                "wrote {} ({} statements, {} notes)",
                path.display(),
                r.ddl.statements().len(),
                r.ddl.notes.len()
            );
        }
    }
    if !r.ddl.refused.is_empty() {
        return Err(converge::Error::other(format!(
            "the schema cannot be created as it is:\n  {}",
            r.ddl.refused.join("\n  ")
        )));
    }
    match &r.differences {
        Some(d) if !d.is_empty() => Err(converge::Error::other(format!("the target differs in {} places", d.len()))),
        _ => Ok(()),
    }
}

/// `converge plan [--profile]`: the plan, the target check, the profile; text or JSON;
/// exit non-zero when the target does not fit or a value would stop the run.
pub(super) async fn plan_command(cli: &Cli, pipeline: &std::path::Path, profile: bool) -> converge::Result<()> {
    let p = Pipeline::load(pipeline)?;
    let (opened, plan, target) = run::plan(&p).await?;
    let targets = target.as_ref().map(|t| &t.tables[..]);
    let described = opened.describe();
    let mut text = pipeline::plan::render_with_target(&p, &plan, &described, targets);
    if let Some(t) = &target {
        text.push_str(&pipeline::plan::render_target(&t.problems, &t.narrowing));
        if let Some(ddl) = t.ddl.as_ref().filter(|d| !d.is_empty()) {
            text.push_str("\nThe load creates these tables first (create = \"missing\"), in its transaction:\n");
            text.push_str(&ddl.script("create = \"missing\""));
        }
    }
    let mut findings = None;
    if profile {
        let found = match &opened.live() {
            Some(src) => {
                let targets = target.as_ref().map(|t| (&t.tables[..], &t.load.tables[..]));
                match (&target, targets) {
                    (Some(t), Some(tables)) => {
                        let pg = t.load.client().await;
                        let schema = p.postgres().map_or("public", |s| s.schema());
                        pipeline::profile::profile_into(src, &pg, schema, &plan, tables, t.ddl.as_ref()).await
                    }
                    _ => pipeline::profile::profile(src, &plan, targets).await,
                }
            }
            None => Err(converge::Error::other("--profile reads a live MySQL source")),
        };
        match found {
            Ok(f) => {
                text.push_str(&pipeline::profile::render(&f));
                findings = Some(f);
            }
            Err(e) => {
                opened.close().await;
                return Err(e);
            }
        }
    }
    let follow = pipeline::follow::preflight(&p, &opened, &plan, target.as_ref().map(|t| &t.load.tables[..])).await;
    opened.close().await;
    let follow = follow?;
    if let Some(f) = &follow {
        text.push_str(&pipeline::follow::render(f));
    }
    let refused = follow.as_ref().map_or(0, |f| f.iter().filter(|f| f.refuse).count());
    let problems = target.as_ref().map_or(0, |t| t.problems.len());
    let blocking = findings.as_ref().map_or(0, |f| f.iter().filter(|f| f.blocking()).count());
    if cli.json {
        let mut j = pipeline::plan::json(&plan, targets);
        j["pipeline"] = serde_json::json!(p.name);
        j["source"] = serde_json::json!(described);
        j["problems"] = serde_json::json!(target.as_ref().map(|t| &t.problems));
        j["narrowing"] = serde_json::json!(target.as_ref().map(|t| &t.narrowing));
        let ddl = target.as_ref().and_then(|t| t.ddl.as_ref());
        j["create"] =
            serde_json::json!(ddl.map(|d| serde_json::json!({"statements": d.statements(), "notes": d.notes})));
        j["profile"] = findings.as_deref().map(pipeline::profile::json).unwrap_or(serde_json::Value::Null);
        j["follow"] = follow.as_deref().map(pipeline::follow::json).unwrap_or(serde_json::Value::Null);
        j["ok"] = serde_json::json!(problems == 0 && blocking == 0 && refused == 0);
        println!("{j}");
    } else if !cli.quiet {
        print!("{text}");
    }
    match (problems, blocking) {
        (0, 0) if refused > 0 => {
            Err(converge::Error::other(format!("the follow preflight refused {refused} settings, grants or tables")))
        }
        (0, 0) => Ok(()),
        (0, n) => Err(converge::Error::other(format!("the profile found {n} kinds of values that would stop the run"))),
        _ => Err(converge::Error::other("the target does not fit the source")),
    }
}
