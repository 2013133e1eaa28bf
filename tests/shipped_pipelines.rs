//! `plan` and `run` of the shipped pipelines (application and Kratos) against fixture
//! databases with the shapes of those schemas.

mod common;

use std::path::Path;

use common::*;
use converge::manifest::Manifest;

fn load(file: &str, vars: &[(&str, String)]) -> converge::Pipeline {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let vars = vars.to_vec();
    let vars: Vec<(String, String)> = vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    converge::Pipeline::parse(&text, &path, move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap()
}

async fn target(name: &str) -> PgDb {
    let db = PgDb::create(name).await;
    let sql =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(format!("{name}_pg.sql")))
            .unwrap();
    db.client.batch_execute(&sql).await.unwrap();
    db
}

async fn pg_count(pg: &PgDb, table: &str) -> u64 {
    let row = pg.client.query_one(&format!("SELECT count(*) FROM \"{table}\""), &[]).await.unwrap();
    row.get::<_, i64>(0) as u64
}

async fn fixture(name: &str) -> MyDb {
    let db = MyDb::create(name).await;
    let sql =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(format!("{name}.sql")))
            .unwrap();
    db.exec(&sql).await;
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_pipeline_plans_and_runs() {
    let my = fixture("alkemio").await;
    let pg = target("alkemio").await;
    let out = TempDir::new("alkemio");
    let p = load(
        "pipelines/alkemio.toml",
        &[("MYSQL_URL", my.url.clone()), ("PG_URL", pg.url.clone()), ("EXPORT_DIR", out.path().display().to_string())],
    );

    let (opened, plan, check) = converge::run::plan(&p).await.unwrap();
    let text = converge::pipeline::plan::render(&p, &plan, &opened.describe());
    opened.close().await;
    assert!(!text.contains(&my.url), "the plan must not print the source URL");
    assert_eq!(check.unwrap().problems, Vec::<String>::new());
    let order: Vec<&str> = plan.tables.iter().map(|t| t.name()).collect();
    let pos = |t: &str| order.iter().position(|x| *x == t).unwrap_or_else(|| panic!("{t} not planned"));
    assert!(pos("authorization_policy") < pos("profile") && pos("profile") < pos("user"));
    assert!(pos("space") < pos("space_member") && pos("user") < pos("space_member"));
    assert!(pos("callout") < pos("post") && pos("post") < pos("comment"));
    assert!(!order.contains(&"migrations_typeorm") && !order.contains(&"query-result-cache"));
    assert!(text.contains("- migrations_typeorm: excluded by `migrations_typeorm`"), "{text}");
    assert!(text.contains("- query-result-cache: excluded by `query-result-cache`"), "{text}");
    assert!(text.contains("- createdDate: audit column"), "{text}");
    assert!(text.contains("char(36)") && text.contains("lowercase uuid"), "{text}");
    assert!(text.contains("serviceProfile") && text.contains("Boolean (bool)"), "{text}");

    let report = converge::run::run(&p, &Default::default()).await.unwrap();
    assert_eq!(report.validations.len(), 2);
    // `[verify]`: after the commit, the guide's checklist ran and passed, critical tables included.
    let v = report.verify.as_ref().expect("the pipeline verifies after the load");
    assert!(v.passed(), "{}", v.text());
    let critical = v.checks.iter().filter(|c| c.section == converge::verify::report::Section::CriticalTables).count();
    assert_eq!(critical, 12);
    assert_eq!(report.phases.last().map(|(n, _)| n.as_str()), Some("verify"));
    let dir = &report.exports[0];
    let m = Manifest::read(dir).unwrap();
    for t in &m.tables {
        assert_eq!(t.row_count, my.count(&t.name).await, "{}", t.name);
        assert!(t.columns.iter().all(|c| !["createdDate", "updatedDate", "version"].contains(&c.name.as_str())));
    }
    let user = std::fs::read_to_string(dir.join("user.csv")).unwrap();
    assert!(
        user.starts_with(
            "id,nameID,firstName,lastName,email,phone,accountUpn,serviceProfile,settings,profileId,authorizationId\n"
        ),
        "{user}"
    );
    assert!(user.contains("0b5e1c2a-4444-4a44-8a44-000000000001,ada,"), "upper-case keys are lower-cased: {user}");
    let space = std::fs::read_to_string(dir.join("space.csv")).unwrap();
    assert!(space.contains(",\"\",\"{"), "'' in char(36) stays an empty string: {space}");
    // The same read loaded PostgreSQL, audit columns included.
    for t in &m.tables {
        assert_eq!(pg_count(&pg, &t.name).await, t.row_count, "{}", t.name);
    }
    let row = pg
        .client
        .query_one(
            "SELECT version, \"serviceProfile\", \"createdDate\"::text FROM \"user\" WHERE \"nameID\" = 'grace'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i32>(0), row.get::<_, bool>(1), row.get::<_, String>(2)),
        (1, true, "2024-01-15 11:00:00".to_string())
    );
    let cred =
        pg.client.query_one("SELECT \"resourceID\" FROM credential WHERE type = 'space-admin'", &[]).await.unwrap();
    assert_eq!(
        cred.get::<_, String>(0),
        "0B5E1C2A-2222-4A22-8A22-000000000001",
        "a char(36) bound for varchar keeps its value"
    );
    assert_eq!(pg_count(&pg, "migrations_typeorm").await, 1, "the target's own migration history is untouched");
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kratos_pipeline_plans_and_runs() {
    let my = fixture("kratos").await;
    let pg = target("kratos").await;
    let out = TempDir::new("kratos");
    let p = load(
        "pipelines/kratos.toml",
        &[
            ("KRATOS_MYSQL_URL", my.url.clone()),
            ("KRATOS_PG_URL", pg.url.clone()),
            ("EXPORT_DIR", out.path().display().to_string()),
        ],
    );
    let (opened, plan, check) = converge::run::plan(&p).await.unwrap();
    assert_eq!(check.unwrap().problems, Vec::<String>::new());
    let text = converge::pipeline::plan::render(&p, &plan, &opened.describe());
    opened.close().await;
    assert!(text.contains("- schema_migration: excluded by `schema_migration`"), "{text}");
    for t in [
        "identities",
        "identity_credentials",
        "identity_credential_identifiers",
        "identity_verifiable_addresses",
        "identity_recovery_addresses",
        "sessions",
        "session_devices",
        "courier_messages",
    ] {
        assert!(plan.tables.iter().any(|x| x.name() == t), "{t} is planned");
    }
    let traits = plan.tables.iter().find(|t| t.name() == "identities").unwrap();
    assert!(
        traits.spec.plans.iter().any(|c| c.name == "traits" && c.logical == converge::types::Logical::Json),
        "MariaDB json is detected"
    );

    let report = converge::run::run(&p, &Default::default()).await.unwrap();
    let v = report.verify.as_ref().expect("the pipeline verifies after the load");
    assert!(v.passed(), "{}", v.text());
    // JSON (traits, credentials config) compared by meaning, row by row.
    assert!(v
        .checks
        .iter()
        .any(|c| c.subject == "identities" && c.evidence.contains("rows digested on both sides: equal")));
    let m = Manifest::read(&report.exports[0]).unwrap();
    for t in &m.tables {
        assert_eq!(t.row_count, my.count(&t.name).await, "{}", t.name);
    }
    let creds = std::fs::read_to_string(report.exports[0].join("identity_credentials.csv")).unwrap();
    assert!(creds.contains("\"{\"\"hashed_password\"\":"), "{creds}");
    let msgs = std::fs::read_to_string(report.exports[0].join("courier_messages.csv")).unwrap();
    assert!(msgs.contains(",\\x7b22636f6465223a22313233343536227d00,"), "blob as hex: {msgs}");
    for t in &m.tables {
        assert_eq!(pg_count(&pg, &t.name).await, t.row_count, "{}", t.name);
    }
    assert_eq!(pg_count(&pg, "schema_migration").await, 2, "Kratos' own bookkeeping is untouched");
    pg.drop_db().await;

    // A credential type that differs from the target's own rows fails the run.
    let pg = target("kratos").await;
    pg.client
        .batch_execute("UPDATE identity_credential_types SET name = 'passkey' WHERE name = 'webauthn'")
        .await
        .unwrap();
    let p = load(
        "pipelines/kratos.toml",
        &[
            ("KRATOS_MYSQL_URL", my.url.clone()),
            ("KRATOS_PG_URL", pg.url.clone()),
            ("EXPORT_DIR", out.path().display().to_string()),
        ],
    );
    let err = converge::run::run(&p, &Default::default()).await.err().unwrap().to_string();
    assert!(err.contains("`identity_credential_types` is filled by the target's own migrations and differs"), "{err}");
    assert_eq!(pg_count(&pg, "identities").await, 0);
    pg.drop_db().await;
    my.drop_db().await;
}

/// `converge import` of an export directory, as the CLI runs it.
fn import_cmd(dir: &Path, url: &str, extra: &[&str], log: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .arg("import")
        .arg(dir)
        .args(["--to", url])
        .args(extra)
        .env("CONVERGE_RUN_LOG", log)
        .output()
        .unwrap()
}

/// Verifies the target against the source, leaving out the given columns.
async fn verify_except(my: &MyDb, pg: &PgDb, except: &[&str]) -> converge::verify::report::Report {
    let mut text = format!(
        "name = \"check\"\n[source]\nkind = \"mysql\"\nurl = \"{}\"\nexclude = [\"migrations_typeorm\", \"query-result-cache\"]\n\
         [[column]]\ntable = \"user\"\ncolumn = \"serviceProfile\"\ntype = \"boolean\"\n[[sink]]\nkind = \"postgres\"\nurl = \"{}\"\n",
        my.url, pg.url
    );
    for c in except {
        text.push_str(&format!("[[column]]\ntable = \"*\"\ncolumn = \"{c}\"\nexclude = true\n"));
    }
    let p = converge::Pipeline::parse(&text, Path::new("check.toml"), |_| None).unwrap();
    converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_export_imports_with_audit_defaults_or_when_kept() {
    let my = fixture("alkemio").await;
    let out = TempDir::new("alk_import");
    let scratch = target("alkemio").await;
    let vars = |keep: bool, pg: &PgDb| {
        vec![
            ("MYSQL_URL", my.url.clone()),
            ("PG_URL", pg.url.clone()),
            ("EXPORT_DIR", out.path().join(if keep { "kept" } else { "spec" }).display().to_string()),
        ]
    };
    // plan says the spec export would not import into the pipeline's own target.
    let p = load("pipelines/alkemio.toml", &vars(false, &scratch));
    let (opened, _, check) = converge::run::plan(&p).await.unwrap();
    opened.close().await;
    let notes = check.unwrap().notes.join("\n");
    assert!(
        notes.contains("would not import") && notes.contains("`version`") && notes.contains("--audit-defaults"),
        "{notes}"
    );
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let export = report.exports[0].clone();
    let log = out.path().join("runs.jsonl");

    // Refused by default, the same cause told once with the tables it concerns and the fix.
    let pg = target("alkemio").await;
    let refused = import_cmd(&export, &pg.url, &[], &log);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{err}");
    assert!(
        err.contains("`version` in ") && err.contains("keep_audit_columns = true") && err.contains("--audit-defaults"),
        "{err}"
    );
    assert_eq!(err.matches("`version` in ").count(), 1, "one line for the cause: {err}");
    assert!(err.lines().count() < 12, "grouped, not one line per table: {err}");

    // --audit-defaults: loaded, the audit columns filled and counted, every other value verified.
    let filled = import_cmd(&export, &pg.url, &["--audit-defaults"], &log);
    let stdout = String::from_utf8_lossy(&filled.stdout);
    assert!(filled.status.success(), "{}", String::from_utf8_lossy(&filled.stderr));
    assert!(stdout.contains("audit defaults:") && stdout.contains("version = 1"), "{stdout}");
    let m = Manifest::read(&export).unwrap();
    let row = pg.client.query_one("SELECT version, \"createdDate\"::text FROM \"user\" LIMIT 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    assert_eq!(row.get::<_, String>(1), m.export_timestamp.trim_end_matches('Z').replace('T', " "));
    let v = verify_except(&my, &pg, &["version", "createdDate", "updatedDate"]).await;
    assert!(v.passed(), "{}", v.text());
    // The target's own defaults are as they were: none on version.
    let defaults = pg
        .client
        .query_one("SELECT count(*) FROM information_schema.columns WHERE column_name = 'version' AND column_default IS NOT NULL", &[])
        .await
        .unwrap();
    assert_eq!(defaults.get::<_, i64>(0), 0);
    let own = pg
        .client
        .query_one("SELECT column_default FROM information_schema.columns WHERE table_name = 'user' AND column_name = 'createdDate'", &[])
        .await
        .unwrap();
    assert_eq!(own.get::<_, Option<String>>(0).as_deref(), Some("now()"), "the target's own default is back");

    // keep_audit_columns = true: a lossless export, imported as it is and verified whole.
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/alkemio.toml"))
        .unwrap()
        .replace("keep_audit_columns = false", "keep_audit_columns = true");
    let scratch2 = target("alkemio").await;
    let kept_vars = vars(true, &scratch2);
    let p = converge::Pipeline::parse(&text, Path::new("alkemio.toml"), |k| {
        kept_vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .unwrap();
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let whole = target("alkemio").await;
    let kept = import_cmd(&report.exports[0], &whole.url, &[], &log);
    assert!(kept.status.success(), "{}", String::from_utf8_lossy(&kept.stderr));
    let v = verify_except(&my, &whole, &[]).await;
    assert!(v.passed(), "{}", v.text());
    whole.drop_db().await;
    pg.drop_db().await;
    scratch2.drop_db().await;
    scratch.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kratos_export_imports_into_a_migrated_target_with_existing() {
    let my = fixture("kratos").await;
    let out = TempDir::new("kratos_import");
    let scratch = target("kratos").await;
    let p = load(
        "pipelines/kratos.toml",
        &[
            ("KRATOS_MYSQL_URL", my.url.clone()),
            ("KRATOS_PG_URL", scratch.url.clone()),
            ("EXPORT_DIR", out.path().display().to_string()),
        ],
    );
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let export = report.exports[0].clone();
    let log = out.path().join("runs.jsonl");
    // The target's own migrations filled identity_credential_types.
    let pg = target("kratos").await;
    let refused = import_cmd(&export, &pg.url, &[], &log);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && err.contains("identity_credential_types"), "{err}");
    let ok = import_cmd(&export, &pg.url, &["--existing", "identity_credential_types"], &log);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    for t in &Manifest::read(&export).unwrap().tables {
        assert_eq!(pg_count(&pg, &t.name).await, t.row_count, "{}", t.name);
    }
    pg.drop_db().await;
    scratch.drop_db().await;
    my.drop_db().await;
}
