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
    let out = TempDir::new("alkemio");
    let p = load(
        "pipelines/alkemio.toml",
        &[("MYSQL_URL", my.url.clone()), ("EXPORT_DIR", out.path().display().to_string())],
    );

    let (opened, plan, _) = converge::pipeline::run::plan(&p).await.unwrap();
    let text = converge::pipeline::plan::render(&p, &plan, &opened.describe());
    opened.close().await;
    assert!(!text.contains(&my.url), "the plan must not print the source URL");
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

    let report = converge::pipeline::run(&p, &Default::default()).await.unwrap();
    assert_eq!(report.validations.len(), 2);
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
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kratos_pipeline_plans_and_runs() {
    let my = fixture("kratos").await;
    let out = TempDir::new("kratos");
    let p = load(
        "pipelines/kratos.toml",
        &[("KRATOS_MYSQL_URL", my.url.clone()), ("EXPORT_DIR", out.path().display().to_string())],
    );
    let (opened, plan, _) = converge::pipeline::run::plan(&p).await.unwrap();
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

    let report = converge::pipeline::run(&p, &Default::default()).await.unwrap();
    let m = Manifest::read(&report.exports[0]).unwrap();
    for t in &m.tables {
        assert_eq!(t.row_count, my.count(&t.name).await, "{}", t.name);
    }
    let creds = std::fs::read_to_string(report.exports[0].join("identity_credentials.csv")).unwrap();
    assert!(creds.contains("\"{\"\"hashed_password\"\":"), "{creds}");
    let msgs = std::fs::read_to_string(report.exports[0].join("courier_messages.csv")).unwrap();
    assert!(msgs.contains(",\\x7b22636f6465223a22313233343536227d00,"), "blob as hex: {msgs}");
    my.drop_db().await;
}
