//! `follow.cascades`: MariaDB applies a foreign key's `ON DELETE` / `ON UPDATE` action
//! without row events. By default a followed table with such a key is refused, naming
//! the key and the setting that opts in; with `cascades = "target"` it is followed when
//! the target carries the same key and action — checked both ways, a target key without
//! the action (or with one the source lacks) refused by name — and the apply lets
//! PostgreSQL run the action: after parents are deleted (a chain of cascades, a SET NULL,
//! a child inserted just before its parent's delete, a key deleted and inserted again)
//! and a parent key changed (ON UPDATE CASCADE), `converge verify` passes, no orphan is
//! left, converge's ON UPDATE CURRENT_TIMESTAMP trigger leaves the cascaded rows as
//! MariaDB did, and `converge.follow_changed` marks the child tables as changed whole.

mod common;

use common::follow::*;
use common::*;

/// Beside the shared schema: space ← callout (CASCADE) ← post (CASCADE), space ← link
/// (SET NULL on delete, CASCADE on update, with an ON UPDATE CURRENT_TIMESTAMP column).
/// Space 4 has links only (its callouts' key would refuse its key change).
const CASCADING: &str = "CREATE TABLE app.space (id int PRIMARY KEY, name varchar(20) NOT NULL);
CREATE TABLE app.callout (id int PRIMARY KEY, space_id int NOT NULL, title varchar(20),
  CONSTRAINT callout_space FOREIGN KEY (space_id) REFERENCES app.space (id) ON DELETE CASCADE);
CREATE TABLE app.post (id int PRIMARY KEY, callout_id int NOT NULL,
  CONSTRAINT post_callout FOREIGN KEY (callout_id) REFERENCES app.callout (id) ON DELETE CASCADE);
CREATE TABLE app.link (id int PRIMARY KEY, space_id int NULL, url varchar(40),
  updated timestamp(6) NOT NULL DEFAULT '2001-02-03 04:05:06' ON UPDATE CURRENT_TIMESTAMP(6),
  CONSTRAINT link_space FOREIGN KEY (space_id) REFERENCES app.space (id) ON DELETE SET NULL ON UPDATE CASCADE);
INSERT INTO app.space VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four'), (5, 'five');
INSERT INTO app.callout VALUES (11, 1, 'a'), (12, 1, 'b'), (21, 2, 'c'), (31, 3, 'd'), (51, 5, 'e');
INSERT INTO app.post VALUES (111, 11), (112, 11), (121, 12), (211, 21), (311, 31), (511, 51);
INSERT INTO app.link (id, space_id, url) VALUES (1, 1, 'x'), (2, 2, 'y'), (3, 4, 'z'), (4, 5, 'w'), (5, NULL, 'v')";

/// Rows of the target whose parent is gone.
async fn orphans(s: &Setup) -> Vec<Vec<Option<String>>> {
    pg_rows(
        &s.pg,
        "SELECT 'callout', c.id::text FROM callout c LEFT JOIN space p ON p.id = c.space_id WHERE p.id IS NULL
         UNION ALL SELECT 'post', c.id::text FROM post c LEFT JOIN callout p ON p.id = c.callout_id WHERE p.id IS NULL
         UNION ALL SELECT 'link', c.id::text FROM link c LEFT JOIN space p ON p.id = c.space_id
                   WHERE c.space_id IS NOT NULL AND p.id IS NULL",
    )
    .await
}

/// The tables `converge.follow_changed` marks as changed whole.
async fn whole(s: &Setup) -> Vec<String> {
    let rows = pg_rows(&s.pg, "SELECT table_name FROM converge.follow_changed WHERE key = '{}' ORDER BY 1").await;
    rows.into_iter().map(|r| r[0].clone().unwrap()).collect()
}

/// A drain of the follower; its report.
async fn drain(s: &Setup) -> serde_json::Value {
    let out = s.converge(&["follow", "--until-caught-up", "--json"]).await;
    assert!(out.status.success(), "drain: {}", said(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascading_keys_are_refused_by_default_and_run_by_the_target_when_asked() {
    let s = Setup::new("follow_cascade").await;
    s.my.exec(CASCADING).await;

    // The default refuses each table with a cascading key, naming the key and the setting.
    let plan = s.converge(&["plan"]).await;
    let text = said(&plan);
    assert!(!plan.status.success(), "{text}");
    for (table, key) in [
        ("callout", "`callout_space` (ON DELETE CASCADE)"),
        ("post", "`post_callout` (ON DELETE CASCADE)"),
        ("link", "`link_space` (ON DELETE SET NULL)"),
        ("link", "`link_space` (ON UPDATE CASCADE)"),
    ] {
        let line = text.lines().find(|l| l.contains(&format!("REFUSED table `{table}`")) && l.contains(key));
        assert!(line.is_some_and(|l| l.contains("follow.cascades = \"target\"")), "{table} / {key}: {text}");
    }
    let run = s.converge(&["run"]).await;
    assert!(!run.status.success() && said(&run).contains("nothing was moved"), "{}", said(&run));

    // Opted in: the created target carries the actions, the copy and the follower run.
    let opted = std::fs::read_to_string(&s.file).unwrap().replace("[follow]\n", "[follow]\ncascades = \"target\"\n");
    std::fs::write(&s.file, opted).unwrap();
    let run = s.converge(&["run"]).await;
    assert!(run.status.success(), "the copy: {}", said(&run));
    let defs = pg_rows(
        &s.pg,
        "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f'
          AND conrelid::regclass::text IN ('callout', 'post', 'link') ORDER BY 1",
    )
    .await;
    let def = |name: &str| defs.iter().find(|r| r[0].as_deref() == Some(name)).and_then(|r| r[1].clone()).unwrap();
    assert!(def("callout_space").contains("ON DELETE CASCADE"), "{defs:?}");
    assert!(def("link_space").contains("ON UPDATE CASCADE ON DELETE SET NULL"), "{defs:?}");
    // A proof first: from it on, the follower records what changed for the cut-over.
    let proof = s.converge(&["verify", "--online"]).await;
    assert!(proof.status.success(), "online verify: {}", said(&proof));

    // Only parent rows change: a delete, and a key deleted and inserted again in one
    // transaction (its children went on the source). Applied set-based.
    s.my.exec(
        "DELETE FROM app.space WHERE id = 1;\n\
         START TRANSACTION;\nDELETE FROM app.space WHERE id = 3;\nINSERT INTO app.space VALUES (3, 'again');\nCOMMIT",
    )
    .await;
    let report = drain(&s).await;
    assert_eq!(report["stats"]["replayed"], 0, "set-based: no child changed with its parent: {report}");
    assert!(orphans(&s).await.is_empty(), "{:?}", orphans(&s).await);
    let callouts = pg_rows(&s.pg, "SELECT id::text FROM callout ORDER BY id").await;
    assert_eq!(callouts, [[Some("21".to_string())], [Some("51".into())]], "1's and 3's callouts went");
    verify_passes(&s).await;
    assert_eq!(whole(&s).await, ["callout", "link", "post"], "the children, on through post, changed whole");

    // A callout inserted just before its space is deleted (source order counts), a space
    // whose key changes (its links follow it), another link set to NULL.
    s.my.exec(
        "START TRANSACTION;\nINSERT INTO app.callout VALUES (22, 2, 'new');\nINSERT INTO app.post VALUES (221, 22);\n\
         DELETE FROM app.space WHERE id = 2;\nCOMMIT;\n\
         UPDATE app.space SET id = 40 WHERE id = 4;\n\
         DELETE FROM app.space WHERE id = 5",
    )
    .await;
    let report = drain(&s).await;
    assert!(orphans(&s).await.is_empty(), "{:?}", orphans(&s).await);
    assert!(report["stats"]["replayed"].as_u64().unwrap() >= 1, "replayed in source order: {report}");
    let links =
        pg_rows(&s.pg, "SELECT id::text, space_id::text, extract(epoch FROM updated)::text FROM link ORDER BY id")
            .await;
    // 2001-02-03 04:05:06 UTC, the default every link was inserted with.
    let link = |id: &str, space: Option<&str>| {
        vec![Some(id.to_string()), space.map(str::to_string), Some("981173106.000000".to_string())]
    };
    assert_eq!(
        links,
        [link("1", None), link("2", None), link("3", Some("40")), link("4", None), link("5", None)],
        "SET NULL and ON UPDATE CASCADE ran; the ON UPDATE CURRENT_TIMESTAMP column kept, as MariaDB keeps it"
    );
    assert_eq!(pg_rows(&s.pg, "SELECT count(*) FROM callout").await, [[Some("0".to_string())]]);
    verify_passes(&s).await;
    assert_eq!(whole(&s).await, ["callout", "link", "post"]);
    s.pg.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_key_without_the_action_or_with_one_the_source_lacks_is_refused_by_name() {
    let s = Setup::with("follow_cascade_target", "cascades = \"target\"").await;
    s.my.exec(
        "CREATE TABLE app.space (id int PRIMARY KEY);\n\
         CREATE TABLE app.callout (id int PRIMARY KEY, space_id int NOT NULL,\n\
           CONSTRAINT callout_space FOREIGN KEY (space_id) REFERENCES app.space (id) ON DELETE CASCADE);\n\
         CREATE TABLE app.member (id int PRIMARY KEY, space_id int NOT NULL,\n\
           CONSTRAINT member_space FOREIGN KEY (space_id) REFERENCES app.space (id))",
    )
    .await;
    // The target's callout key has no action; its member key cascades where MariaDB's does not.
    s.pg.client
        .batch_execute(
            "CREATE TABLE space (id int PRIMARY KEY);
             CREATE TABLE callout (id int PRIMARY KEY, space_id int NOT NULL,
               CONSTRAINT callout_space FOREIGN KEY (space_id) REFERENCES space (id));
             CREATE TABLE member (id int PRIMARY KEY, space_id int NOT NULL,
               CONSTRAINT member_space FOREIGN KEY (space_id) REFERENCES space (id) ON DELETE CASCADE)",
        )
        .await
        .unwrap();
    let plan = s.converge(&["plan"]).await;
    let text = said(&plan);
    assert!(!plan.status.success(), "{text}");
    let refused: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("REFUSED")).collect();
    assert_eq!(refused.len(), 2, "{text}");
    assert!(
        refused[0].contains("table `callout`")
            && refused[0].contains("`callout_space` (ON DELETE CASCADE)")
            && refused[0].contains("is ON DELETE NO ACTION ON UPDATE NO ACTION"),
        "what the target has is named: {text}"
    );
    assert!(
        refused[1].contains("target table `member`")
            && refused[1].contains("`member_space`")
            && refused[1].contains("ON DELETE CASCADE")
            && refused[1].contains("ON DELETE RESTRICT"),
        "a target action the source lacks: {text}"
    );
    let run = s.converge(&["run"]).await;
    assert!(!run.status.success() && said(&run).contains("callout_space"), "{}", said(&run));
    let created = pg_rows(&s.pg, "SELECT tablename::text FROM pg_tables WHERE tablename = 'users'").await;
    assert!(created.is_empty(), "nothing was created or loaded");

    // Given the source's actions, the same target is followed.
    s.pg.client
        .batch_execute(
            "ALTER TABLE callout DROP CONSTRAINT callout_space, ADD CONSTRAINT callout_space
               FOREIGN KEY (space_id) REFERENCES space (id) ON DELETE CASCADE;
             ALTER TABLE member DROP CONSTRAINT member_space, ADD CONSTRAINT member_space
               FOREIGN KEY (space_id) REFERENCES space (id) ON DELETE RESTRICT",
        )
        .await
        .unwrap();
    let plan = s.converge(&["plan"]).await;
    assert!(plan.status.success() && !said(&plan).contains("REFUSED"), "{}", said(&plan));
    s.pg.drop_db().await;
}
