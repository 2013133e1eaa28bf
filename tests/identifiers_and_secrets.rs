//! Identifiers are quoted everywhere (tables called `user`, `order`, `query-result-cache`,
//! names with a quote, a backtick and a space), and a password in a URL appears in no
//! artefact of a run: not in the plan, the files, the manifest, the run log or an error.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_names_survive_export_and_load() {
    let my = MyDb::create("names").await;
    my.exec(
        "CREATE TABLE `order` (`select` int PRIMARY KEY, `from` varchar(10));\n\
         CREATE TABLE `query-result-cache` (`id` int PRIMARY KEY, `user` varchar(10), `order` int REFERENCES `order`(`select`));\n\
         CREATE TABLE `we\"ird na``me` (`col \"q\"` int PRIMARY KEY, `back``tick` varchar(10));\n\
         INSERT INTO `order` VALUES (1, 'a'), (2, 'b');\n\
         INSERT INTO `query-result-cache` VALUES (1, 'u', 2);\n\
         INSERT INTO `we\"ird na``me` VALUES (7, 'x')",
    )
    .await;
    let pg = PgDb::create("names").await;
    pg.client
        .batch_execute(
            "CREATE TABLE \"order\" (\"select\" int PRIMARY KEY, \"from\" varchar(10));\n\
             CREATE TABLE \"query-result-cache\" (id serial PRIMARY KEY, \"user\" varchar(10), \"order\" int REFERENCES \"order\"(\"select\"));\n\
             CREATE TABLE \"we\"\"ird na`me\" (\"col \"\"q\"\"\" int PRIMARY KEY, \"back`tick\" varchar(10))",
        )
        .await
        .unwrap();
    let out = TempDir::new("names");
    let text = format!("{}[[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\n", export_pipeline(""));
    let p = pipeline(&text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url), ("OUT", out.path().to_str().unwrap())]);
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let dir = &report.exports[0];
    assert_eq!(std::fs::read_to_string(dir.join("we\"ird na`me.csv")).unwrap(), "\"col \"\"q\"\"\",back`tick\n7,x\n");
    assert_eq!(std::fs::read_to_string(dir.join("query-result-cache.csv")).unwrap(), "id,user,order\n1,u,2\n");
    let row = pg
        .client
        .query_one("SELECT \"back`tick\" FROM \"we\"\"ird na`me\" WHERE \"col \"\"q\"\"\" = 7", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "x");
    let next = pg
        .client
        .query_one("INSERT INTO \"query-result-cache\" (\"user\") VALUES ('v') RETURNING id", &[])
        .await
        .unwrap();
    assert_eq!(next.get::<_, i32>(0), 2, "the serial of a hyphenated table was moved past the loaded maximum");
    pg.drop_db().await;
    my.drop_db().await;
}

fn files_below(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_below(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_appears_in_no_artefact() {
    const PASSWORD: &str = "Sup3r-S3cret-pw";
    let my = MyDb::create("secret").await;
    let user = format!("u{}", &my.name[my.name.len() - 8..]);
    my.exec(&format!(
        "CREATE TABLE `t` (id int PRIMARY KEY, v varchar(10));\nINSERT INTO t VALUES (1, 'a');\n\
         CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}';\nGRANT ALL ON `{}`.* TO '{user}'@'%'",
        my.name
    ))
    .await;
    let url = format!("mysql://{user}:{PASSWORD}@127.0.0.1:3306/{}", my.name);
    let out = TempDir::new("secret");
    let log = out.path().join("runs.jsonl");
    let pipeline_file = out.path().join("p.toml");
    std::fs::write(
        &pipeline_file,
        export_pipeline("[[validate]]\nname = \"one row\"\nsql = \"SELECT count(*) FROM t\"\nexpect = 1\n"),
    )
    .unwrap();
    let converge = |args: &[&str], mysql_url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
            .args(args)
            .arg(&pipeline_file)
            .env("MYSQL_URL", mysql_url)
            .env("OUT", out.path().join("exports"))
            .env("CONVERGE_RUN_LOG", &log)
            .output()
            .unwrap()
    };
    let plan = converge(&["plan"], &url);
    let run = converge(&["run"], &url);
    assert!(plan.status.success() && run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    // A failing run: the server refuses a wrong password; the error must not echo the URL.
    let bad = converge(&["run"], &url.replace(PASSWORD, &format!("{PASSWORD}x")));
    assert!(!bad.status.success());
    let mut texts: Vec<(String, Vec<u8>)> = Vec::new();
    for (what, o) in [("plan", &plan), ("run", &run), ("failed run", &bad)] {
        texts.push((format!("{what} stdout"), o.stdout.clone()));
        texts.push((format!("{what} stderr"), o.stderr.clone()));
    }
    let mut files = Vec::new();
    files_below(out.path(), &mut files);
    assert!(files.iter().any(|f| f.ends_with("migration_manifest.json")) && log.exists());
    for f in files.iter().filter(|f| **f != pipeline_file) {
        texts.push((f.display().to_string(), std::fs::read(f).unwrap()));
    }
    for (what, bytes) in &texts {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(PASSWORD), "{what} holds the password:\n{text}");
    }
    assert!(String::from_utf8_lossy(&bad.stderr).contains("error:"));
    my.exec(&format!("DROP USER '{user}'@'%'")).await;
    my.drop_db().await;
}
