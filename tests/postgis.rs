//! Spatial columns into a PostGIS target: created (`create = "missing"`, `converge
//! schema`) as `geometry(<kind>)` and loaded as EWKB, or loaded into a schema-first
//! target's `geometry` columns; every value equal by WKB and SRID to MariaDB's own
//! answer, `verify` passing, and failing on one changed geometry naming table, key and
//! column. A `geometry(<kind>, <SRID>)` column refuses values of another SRID or kind
//! naming the row, and counts an SRID-0 value given its SRID only when a rule allows it.
//! Each test creates the extension in its own PostgreSQL database only.

mod common;

use common::*;
use converge::verify::digest::RowDiff;
use mysql_async::prelude::*;

/// Every kind MariaDB has, SRID 0 and 4326 (and 3857 in a plain `geometry`), a polygon
/// with a hole, nested and empty collections, coordinates at a double's edges, NULLs.
const SHAPES: &str = r#"
CREATE TABLE shapes (id int PRIMARY KEY, g geometry NULL, p point NULL, l linestring NULL, a polygon NULL,
  mp multipoint NULL, ml multilinestring NULL, ma multipolygon NULL, gc geometrycollection NULL);
INSERT INTO shapes VALUES (1, ST_GeomFromText('POINT(1 2)'), ST_GeomFromText('POINT(-71.0603 42.3583)'),
  ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0.5)'),
  ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0), (2 2, 2 4, 4 4, 4 2, 2 2))'),
  ST_GeomFromText('MULTIPOINT(1 1, 2 2, -3 0.1)'), ST_GeomFromText('MULTILINESTRING((0 0, 1 1), (2 2, 3 3, 4 2))'),
  ST_GeomFromText('MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5), (5.2 5.1, 5.8 5.1, 5.8 5.7, 5.2 5.1)))'),
  ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1), LINESTRING(0 0, 1 1), POLYGON((0 0, 1 0, 1 1, 0 0)))'));
INSERT INTO shapes VALUES (2, ST_GeomFromText('GEOMETRYCOLLECTION(MULTIPOINT(1 1, 2 2), GEOMETRYCOLLECTION(POINT(3 3)))', 4326),
  ST_GeomFromText('POINT(13.4050 52.5200)', 4326), ST_GeomFromText('LINESTRING(13.4 52.5, 2.35 48.86)', 4326),
  ST_GeomFromText('POLYGON((0 0, 0 1, 1 1, 1 0, 0 0), (0.2 0.2, 0.4 0.2, 0.4 0.4, 0.2 0.2))', 4326),
  ST_GeomFromText('MULTIPOINT(13.4 52.5)', 4326), ST_GeomFromText('MULTILINESTRING((0 0, 1 1))', 4326),
  ST_GeomFromText('MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)))', 4326), ST_GeomFromText('GEOMETRYCOLLECTION EMPTY', 4326));
INSERT INTO shapes VALUES (3, ST_GeomFromText('POLYGON((1e300 -1e300, 1e300 1e300, -1e300 1e300, 1e300 -1e300))', 3857),
  ST_GeomFromText('POINT(-0.000000000000000000001 123456789.123456789)'), NULL, NULL, NULL, NULL, NULL,
  ST_GeomFromText('GEOMETRYCOLLECTION EMPTY'));
INSERT INTO shapes (id) VALUES (4)
"#;

const COLUMNS: [&str; 8] = ["g", "p", "l", "a", "mp", "ml", "ma", "gc"];

fn pipeline_for(my: &MyDb, pg: &PgDb, rules: &str, sink: &str) -> converge::Pipeline {
    let text = format!(
        "name = \"postgis\"\n[source]\nkind = \"mysql\"\nurl = \"${{MYSQL_URL}}\"\n{rules}\n\
         [[sink]]\nkind = \"postgres\"\nurl = \"${{PG_URL}}\"\n{sink}\n"
    );
    pipeline(&text, &[("MYSQL_URL", &my.url), ("PG_URL", &pg.url)])
}

/// A throw-away PostgreSQL database with PostGIS (created in it alone).
async fn postgis_db(prefix: &str) -> PgDb {
    let pg = PgDb::create(prefix).await;
    pg.client.batch_execute("CREATE EXTENSION postgis").await.unwrap();
    pg
}

/// Per row (by id) and column: `SRID:WKB hex` as MariaDB answers it (`ST_SRID`,
/// `ST_AsBinary`), NULL as `None`.
async fn mariadb_shapes(my: &MyDb) -> Vec<Vec<Option<String>>> {
    let cols: Vec<String> =
        COLUMNS.iter().map(|c| format!("CONCAT(ST_SRID(`{c}`), ':', LOWER(HEX(ST_AsBinary(`{c}`))))")).collect();
    let sql = format!("SELECT {} FROM shapes ORDER BY id", cols.join(", "));
    let rows: Vec<mysql_async::Row> = my.conn().await.query(sql).await.unwrap();
    rows.into_iter().map(|r| (0..COLUMNS.len()).map(|i| r.get::<Option<String>, _>(i).flatten()).collect()).collect()
}

/// The same as PostGIS answers it (`ST_SRID`, little-endian `ST_AsBinary`).
async fn postgis_shapes(pg: &PgDb) -> Vec<Vec<Option<String>>> {
    let cols: Vec<String> =
        COLUMNS.iter().map(|c| format!("ST_SRID({c}) || ':' || encode(ST_AsBinary({c}, 'NDR'), 'hex')")).collect();
    pg_rows(pg, &format!("SELECT {} FROM shapes ORDER BY id", cols.join(", "))).await
}

async fn assert_every_shape_equal(my: &MyDb, pg: &PgDb) {
    let (theirs, ours) = (mariadb_shapes(my).await, postgis_shapes(pg).await);
    assert_eq!(theirs.len(), 4);
    assert!(theirs[1][7].as_deref().is_some_and(|v| v.starts_with("4326:010700000000000000")), "{:?}", theirs[1]);
    assert_eq!(ours, theirs);
}

/// `column type` of each column of `shapes`, in order.
async fn shape_types(pg: &PgDb) -> Vec<String> {
    let sql = "SELECT attname || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute \
               WHERE attrelid = 'shapes'::regclass AND attnum > 1 AND NOT attisdropped ORDER BY attnum";
    pg_rows(pg, sql).await.into_iter().map(|r| r[0].clone().unwrap()).collect()
}

async fn verify(p: &converge::Pipeline) -> converge::verify::report::Report {
    converge::verify::verify(p, converge::verify::Depth::Full).await.unwrap()
}

/// One changed geometry (a coordinate, then only the SRID) fails verify naming the
/// table, the row's key and the column; undone, it passes again.
async fn each_change_is_named(pg: &PgDb, p: &converge::Pipeline) {
    for (fault, undo, key, column) in [
        (
            "UPDATE shapes SET l = ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0.5000001)') WHERE id = 1",
            "UPDATE shapes SET l = ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0.5)') WHERE id = 1",
            "id='1'",
            "l",
        ),
        (
            "UPDATE shapes SET p = ST_SetSRID(p, 3857) WHERE id = 2",
            "UPDATE shapes SET p = ST_SetSRID(p, 4326) WHERE id = 2",
            "id='2'",
            "p",
        ),
    ] {
        pg.client.batch_execute(fault).await.unwrap();
        let r = verify(p).await;
        assert!(!r.passed(), "verify passed after {fault}");
        let diffs = &r.tables.iter().find(|(t, _)| t == "shapes").expect("shapes compared").1.diffs;
        assert_eq!(
            diffs,
            &[RowDiff::Changed {
                key: key.into(),
                values: vec![key["id='".len()..key.len() - 1].into()],
                columns: vec![column.into()]
            }],
            "{}",
            r.text()
        );
        pg.client.batch_execute(undo).await.unwrap();
        assert!(verify(p).await.passed(), "undone: {fault}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spatial_zoo_is_created_as_geometry_loaded_and_verified_by_wkb_and_srid() {
    let my = MyDb::create("gzoo").await;
    my.exec(SHAPES).await;
    let pg = postgis_db("gzoo").await;
    let p = pipeline_for(&my, &pg, "", "create = \"missing\"");
    let schema = converge::ddl::schema(&p, false).await.unwrap().ddl;
    assert!(!schema.notes.iter().any(|n| n.contains("bytea")), "{:?}", schema.notes);
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let expected = [
        "g geometry",
        "p geometry(Point)",
        "l geometry(LineString)",
        "a geometry(Polygon)",
        "mp geometry(MultiPoint)",
        "ml geometry(MultiLineString)",
        "ma geometry(MultiPolygon)",
        "gc geometry(GeometryCollection)",
    ];
    assert_eq!(shape_types(&pg).await, expected);
    assert_every_shape_equal(&my, &pg).await;
    let r = verify(&p).await;
    assert!(r.passed(), "{}", r.text());
    each_change_is_named(&pg, &p).await;
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spatial_zoo_loads_into_a_schema_first_geometry_target() {
    let my = MyDb::create("gfirst").await;
    my.exec(SHAPES).await;
    let pg = postgis_db("gfirst").await;
    pg.client
        .batch_execute(
            "CREATE TABLE shapes (id int PRIMARY KEY, g geometry, p geometry(Point), l geometry, a geometry(Polygon), \
             mp geometry, ml geometry(MultiLineString), ma geometry, gc geometry(GeometryCollection))",
        )
        .await
        .unwrap();
    let p = pipeline_for(&my, &pg, "", "");
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_every_shape_equal(&my, &pg).await;
    let r = verify(&p).await;
    assert!(r.passed(), "{}", r.text());
    each_change_is_named(&pg, &p).await;
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_geometry_column_with_an_srid_refuses_other_srids_and_kinds_naming_the_row() {
    let my = MyDb::create("gsrid").await;
    let pg = postgis_db("gsrid").await;
    pg.client.batch_execute("CREATE TABLE pins (id int PRIMARY KEY, p geometry(Point, 4326))").await.unwrap();
    let table = |ty: &str| format!("CREATE TABLE pins (id int PRIMARY KEY, p {ty})");
    let allow = "[[column]]\ntable = \"pins\"\ncolumn = \"p\"\nallow_change = true";
    let count = "SELECT count(*) FROM pins";
    // SRID 0 would silently become 4326 in PostGIS: refused, or counted when allowed.
    my.exec(&table("point")).await;
    my.exec("INSERT INTO pins VALUES (1, ST_GeomFromText('POINT(1 2)', 4326)), (2, ST_GeomFromText('POINT(3 4)'))")
        .await;
    let err = converge::run::run(&pipeline_for(&my, &pg, "", ""), &Default::default()).await.unwrap_err().to_string();
    assert!(
        err.contains("table `pins`") && err.contains("column `p`") && err.contains("SRID 4326 instead of 0"),
        "{err}"
    );
    assert_eq!(pg_rows(&pg, count).await[0][0].as_deref(), Some("0"));
    let report = converge::run::run(&pipeline_for(&my, &pg, allow, ""), &Default::default()).await.unwrap();
    let text = converge::report::run_text(&report);
    assert!(text.contains("changed: 1 values of pins.p rounded, padded or given an SRID"), "{text}");
    assert_eq!(report.load.unwrap().changed, vec![("pins".to_string(), "p".to_string(), 1)]);
    let srids = pg_rows(&pg, "SELECT id || ':' || ST_SRID(p) || ':' || ST_AsText(p) FROM pins ORDER BY id").await;
    assert_eq!(srids, [[Some("1:4326:POINT(1 2)".to_string())], [Some("2:4326:POINT(3 4)".into())]]);
    // Another SRID, or another kind, is refused even when changes are allowed.
    pg.client.batch_execute("TRUNCATE pins").await.unwrap();
    my.exec("DROP TABLE pins").await;
    my.exec(&table("geometry")).await;
    for (value, why) in [
        ("ST_GeomFromText('POINT(1 2)', 3857)", "has SRID 3857, the target column is geometry(Point, 4326)"),
        (
            "ST_GeomFromText('LINESTRING(0 0, 1 1)', 4326)",
            "is a LineString, the target column is geometry(Point, 4326)",
        ),
    ] {
        my.exec(&format!(
            "DELETE FROM pins; INSERT INTO pins VALUES (1, ST_GeomFromText('POINT(5 6)', 4326)), (7, {value})"
        ))
        .await;
        let err =
            converge::run::run(&pipeline_for(&my, &pg, allow, ""), &Default::default()).await.unwrap_err().to_string();
        assert!(err.contains("table `pins`") && err.contains("column `p`") && err.contains(why), "{err}");
        assert_eq!(pg_rows(&pg, count).await[0][0].as_deref(), Some("0"));
    }
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_spatial_columns_go_into_geometry_and_without_postgis_they_stay_bytea() {
    let my = MyDb::create("gonly").await;
    my.exec("CREATE TABLE t (id int PRIMARY KEY, b blob, g point); INSERT INTO t VALUES (1, X'0102', ST_GeomFromText('POINT(1 2)'))")
        .await;
    let pg = postgis_db("gonly").await;
    pg.client.batch_execute("CREATE TABLE t (id int PRIMARY KEY, b geometry, g geometry)").await.unwrap();
    let err = converge::run::run(&pipeline_for(&my, &pg, "", ""), &Default::default()).await.unwrap_err().to_string();
    assert!(err.contains("t.b") && err.contains("only a MySQL spatial column goes into geometry"), "{err}");
    // No PostGIS in the target: bytea holding MySQL's bytes, and the note says so.
    let plain = PgDb::create("gonly").await;
    let p = pipeline_for(&my, &plain, "", "create = \"missing\"");
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let text = converge::report::run_text(&report);
    assert!(text.contains("`t`.`g`: a MySQL point column, created as bytea") && text.contains("no PostGIS"), "{text}");
    let g = pg_rows(
        &plain,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'g'",
    )
    .await;
    assert_eq!(g[0][0].as_deref(), Some("bytea"));
    assert!(verify(&p).await.passed());
    plain.drop_db().await;
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spatial_index_becomes_a_gist_index_with_postgis_and_a_note_without() {
    let my = MyDb::create("ggist").await;
    my.exec(
        "CREATE TABLE places (id int PRIMARY KEY, pos point NOT NULL, SPATIAL KEY sp_pos (pos));\n\
         INSERT INTO places VALUES (1, ST_GeomFromText('POINT(13.4 52.5)', 4326)), (2, ST_GeomFromText('POINT(2.35 48.86)'))",
    )
    .await;
    let pg = postgis_db("ggist").await;
    let p = pipeline_for(&my, &pg, "", "create = \"missing\"");
    let report = converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let text = converge::report::run_text(&report);
    assert!(!text.contains("SPATIAL KEY"), "{text}");
    let def = pg_rows(&pg, "SELECT indexdef FROM pg_indexes WHERE tablename = 'places' AND indexname = 'sp_pos'").await;
    assert_eq!(def.len(), 1, "{def:?}");
    assert!(def[0][0].as_deref().unwrap().ends_with("USING gist (pos)"), "{def:?}");
    let found = pg_rows(&pg, "SELECT id FROM places WHERE pos && ST_MakeEnvelope(13, 52, 14, 53, 4326)").await;
    assert_eq!(found, [[Some("1".to_string())]]);
    assert!(verify(&p).await.passed());
    // Without PostGIS the index is not created, and the note says what to do.
    let plain = PgDb::create("ggist").await;
    let schema = converge::ddl::schema(&pipeline_for(&my, &plain, "", ""), false).await.unwrap().ddl;
    let notes = schema.notes.join("\n");
    assert!(notes.contains("index `sp_pos` of `places` is not created: SPATIAL KEY"), "{notes}");
    assert!(!schema.statements().iter().any(|s| s.contains("gist")));
    plain.drop_db().await;
    pg.drop_db().await;
    my.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_of_the_spatial_zoo_loads_into_postgis_as_the_live_source_does() {
    let my = MyDb::create("gdump").await;
    my.exec(SHAPES).await;
    let dir = TempDir::new("gdump");
    for flags in [&["--hex-blob"][..], &[][..]] {
        let file = dir.path().join("shapes.sql");
        mariadb_dump(&my.name, &file, flags);
        let pg = postgis_db("gdump").await;
        let text = "name = \"gdump\"\n[source]\nkind = \"mysqldump\"\npath = \"${DUMP}\"\n\
                    [[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\ncreate = \"missing\"\n";
        let p = pipeline(text, &[("DUMP", file.to_str().unwrap()), ("PG_URL", &pg.url)]);
        converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{flags:?}: {e}"));
        assert_eq!(shape_types(&pg).await[1], "p geometry(Point)", "{flags:?}");
        assert_every_shape_equal(&my, &pg).await;
        pg.drop_db().await;
    }
    my.drop_db().await;
}

/// A MySQL 8 dump's column `SRID n` (which MySQL enforces) becomes the created
/// column's SRID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql8_dump_column_srid_is_created_as_the_geometry_srid() {
    let dir = TempDir::new("gsrid8");
    let file = dir.path().join("pins.sql");
    let point = |srid: u32, x: f64, y: f64| {
        let mut v = srid.to_le_bytes().to_vec();
        v.extend_from_slice(&[1, 1, 0, 0, 0]);
        v.extend_from_slice(&x.to_le_bytes());
        v.extend_from_slice(&y.to_le_bytes());
        format!("0x{}", v.iter().map(|b| format!("{b:02X}")).collect::<String>())
    };
    let dump = format!(
        "/*!40103 SET TIME_ZONE='+00:00' */;\n\
         CREATE TABLE `pins` (\n  `id` int NOT NULL,\n  `p` point NOT NULL /*!80003 SRID 4326 */,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\
         INSERT INTO `pins` VALUES (1,{}),(2,{});\n",
        point(4326, 10.5, 20.25),
        point(4326, -71.0603, 42.3583)
    );
    std::fs::write(&file, dump).unwrap();
    let pg = postgis_db("gsrid8").await;
    let text = "name = \"gsrid8\"\n[source]\nkind = \"mysqldump\"\npath = \"${DUMP}\"\n\
                [[sink]]\nkind = \"postgres\"\nurl = \"${PG_URL}\"\ncreate = \"missing\"\n";
    let p = pipeline(text, &[("DUMP", file.to_str().unwrap()), ("PG_URL", &pg.url)]);
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let sql =
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'pins'::regclass AND attname = 'p'";
    assert_eq!(pg_rows(&pg, sql).await[0][0].as_deref(), Some("geometry(Point,4326)"));
    let rows = pg_rows(&pg, "SELECT ST_SRID(p) || ' ' || ST_AsText(p) FROM pins ORDER BY id").await;
    assert_eq!(rows, [[Some("4326 POINT(10.5 20.25)".to_string())], [Some("4326 POINT(-71.0603 42.3583)".into())]]);
    pg.drop_db().await;
}

/// The CSV export keeps MySQL's bytes; `converge import` of it into a schema-first
/// PostGIS target loads the same geometries as the direct run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imports_into_geometry_columns() {
    let my = MyDb::create("gimport").await;
    my.exec(SHAPES).await;
    let dir = TempDir::new("gimport");
    let out = dir.path().join("out");
    let text = "name = \"gexport\"\n[source]\nkind = \"mysql\"\nurl = \"${MYSQL_URL}\"\n[[sink]]\nkind = \"csv\"\ndir = \"${OUT}\"\n";
    let p = pipeline(text, &[("MYSQL_URL", &my.url), ("OUT", out.to_str().unwrap())]);
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let csv = std::fs::read_to_string(out.join("latest").join("shapes.csv")).unwrap();
    assert!(csv.contains("\\x000000000101000000000000000000f03f0000000000000040"), "MySQL's bytes: {csv}");
    let pg = postgis_db("gimport").await;
    pg.client
        .batch_execute(
            "CREATE TABLE shapes (id int PRIMARY KEY, g geometry, p geometry(Point), l geometry, a geometry, \
             mp geometry, ml geometry, ma geometry(MultiPolygon), gc geometry)",
        )
        .await
        .unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(["--quiet", "import"])
        .arg(out.join("latest"))
        .args(["--to", &pg.url])
        .env("CONVERGE_RUN_LOG", dir.path().join("runs.jsonl"))
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_every_shape_equal(&my, &pg).await;
    pg.drop_db().await;
    my.drop_db().await;
}

/// A SPATIAL index that the load created as a GiST index is compared like any other:
/// verify passes with no index warning; with the GiST index dropped it warns naming the
/// table, index and column (a performance finding), and `--strict` fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_expects_a_gist_index_for_a_spatial_index_into_geometry() {
    let my = MyDb::create("gvix").await;
    my.exec(
        "CREATE TABLE places (id int PRIMARY KEY, pos point NOT NULL, SPATIAL KEY sp_pos (pos));\n\
         INSERT INTO places VALUES (1, ST_GeomFromText('POINT(13.4 52.5)', 4326)), (2, ST_GeomFromText('POINT(2.35 48.86)'))",
    )
    .await;
    let pg = postgis_db("gvix").await;
    let p = pipeline_for(&my, &pg, "", "create = \"missing\"");
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let r = verify(&p).await;
    assert!(r.passed_strict(), "{}", r.text());
    let ix = r.checks.iter().find(|c| c.subject == "places.sp_pos").expect("the SPATIAL index is checked");
    assert_eq!(ix.outcome, converge::verify::report::Outcome::Pass, "{}", r.text());
    pg.client.batch_execute("DROP INDEX sp_pos").await.unwrap();
    let r = verify(&p).await;
    assert!(r.passed(), "a missing GiST index is a warning, not a failure: {}", r.text());
    assert!(!r.passed_strict(), "{}", r.text());
    let warned: Vec<String> = r.warnings().iter().map(|c| format!("{} {}", c.subject, c.evidence)).collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].starts_with("places.sp_pos ") && warned[0].contains("(pos)"), "{warned:?}");
    assert!(warned[0].contains("GiST"), "{warned:?}");
    // Into bytea (no PostGIS) the SPATIAL index stays skipped, as before.
    let plain = PgDb::create("gvix").await;
    let q = pipeline_for(&my, &plain, "", "create = \"missing\"");
    converge::run::run(&q, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let r = verify(&q).await;
    assert!(r.passed_strict(), "{}", r.text());
    let ix = r.checks.iter().find(|c| c.subject == "places.sp_pos").expect("the SPATIAL index is listed");
    assert_eq!(ix.outcome, converge::verify::report::Outcome::Skip, "{}", r.text());
    plain.drop_db().await;
    pg.drop_db().await;
    my.drop_db().await;
}

/// PostGIS installed in a schema that is not on the search path: the load creates and
/// fills `gis.geometry` columns, and verify reaches PostGIS's functions through that schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_postgis_in_a_schema_off_the_search_path() {
    let my = MyDb::create("gschema").await;
    my.exec(SHAPES).await;
    let pg = PgDb::create("gschema").await;
    pg.client.batch_execute("CREATE SCHEMA gis; CREATE EXTENSION postgis SCHEMA gis").await.unwrap();
    let path = pg_rows(&pg, "SELECT current_setting('search_path')").await;
    assert!(!path[0][0].as_deref().unwrap().contains("gis"), "{path:?}");
    let p = pipeline_for(&my, &pg, "", "create = \"missing\"");
    converge::run::run(&p, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let types = pg_rows(
        &pg,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                              WHERE attrelid = 'shapes'::regclass AND attname = 'p'",
    )
    .await;
    assert_eq!(types[0][0].as_deref(), Some("gis.geometry(Point)"));
    let r = converge::verify::verify(&p, converge::verify::Depth::Full).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(r.passed(), "{}", r.text());
    pg.client
        .batch_execute("UPDATE shapes SET l = gis.ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0.5000001)') WHERE id = 1")
        .await
        .unwrap();
    let r = verify(&p).await;
    let diffs = &r.tables.iter().find(|(t, _)| t == "shapes").expect("shapes compared").1.diffs;
    assert_eq!(
        diffs,
        &[RowDiff::Changed { key: "id='1'".into(), values: vec!["1".into()], columns: vec!["l".into()] }],
        "{}",
        r.text()
    );
    pg.drop_db().await;
    my.drop_db().await;
}
