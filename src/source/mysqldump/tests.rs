//! Tests of the dump reader over small hand-written dumps in the forms mysqldump and
//! mariadb-dump write (extended or not, complete inserts, hex blobs, gzip).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::util::display::array_value_to_string;

use super::*;
use crate::error::Error;

type Rows = HashMap<String, Vec<Vec<String>>>;
/// Tables, rows per table, and (table, rows) of each emitted batch.
type Outcome = (Vec<Table>, Rows, Vec<(String, usize)>);

/// Reads schema and data with `chunk`-byte reads; every table, every column.
fn run_with(sql: &[u8], chunk: usize, batch_rows: usize, select: impl Fn(&Table) -> ReadSpec) -> Result<Outcome> {
    let file = Path::new("test.sql");
    let tables = read_schema_from(sql, file, chunk)?;
    let selected: HashMap<String, ReadSpec> = tables.iter().map(|t| (t.name.clone(), select(t))).collect();
    let mut rows: Rows = HashMap::new();
    let mut batches = Vec::new();
    let counts = read_data_from(sql, file, chunk, &selected, batch_rows, &mut |name, batch| {
        batches.push((name.to_string(), batch.num_rows()));
        let out = rows.entry(name.to_string()).or_default();
        for r in 0..batch.num_rows() {
            out.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| if c.is_null(r) { "NULL".to_string() } else { array_value_to_string(c, r).unwrap() })
                    .collect(),
            );
        }
        Ok(())
    })?;
    for (name, n) in &counts {
        assert_eq!(*n as usize, rows.get(name).map_or(0, Vec::len), "row count of {name}");
    }
    Ok((tables, rows, batches))
}

fn run(sql: &[u8], chunk: usize) -> Result<Rows> {
    Ok(run_with(sql, chunk, 1000, |t| ReadSpec::all_columns(t.clone()))?.1)
}

fn row(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}

const HEADER: &str = "/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19\n--\n/*!40101 SET NAMES utf8mb4 */;\n/*!40103 SET TIME_ZONE='+00:00' */;\n\n";

fn dump(body: &str) -> Vec<u8> {
    format!("{HEADER}{body}\n-- Dump completed\n").into_bytes()
}

const KITCHEN: &str = r#"DROP TABLE IF EXISTS `t`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
CREATE TABLE `t` (
  `id` int(11) NOT NULL,
  `s` varchar(200) DEFAULT NULL,
  `b` blob DEFAULT NULL,
  `bits` bit(8) DEFAULT NULL,
  `d` decimal(10,3) DEFAULT NULL,
  `f` double DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
LOCK TABLES `t` WRITE;
/*!40000 ALTER TABLE `t` DISABLE KEYS */;
INSERT INTO `t` VALUES (1,'a\0b\'c\"d\be\nf\rg\th\Zi\\j\%k\_l''m\qn;),(',_binary 'x\0y',b'101',-1.5,1.5e3),
(2,_utf8mb4'ü€😀',X'00ff41',0x0a,12345.000,-2.5E-3),(3,NULL,X'',NULL,NULL,NULL),(4,'',_binary 0x4142,0b11,0,-0),
(5,"dq ""x"" 'y'",'\0',"\0",+7,.5);
/*!40000 ALTER TABLE `t` ENABLE KEYS */;
UNLOCK TABLES;
"#;

fn kitchen_expected() -> Vec<Vec<String>> {
    vec![
        row(&["1", "a\0b'c\"d\u{8}e\nf\rg\th\u{1a}i\\j\\%k\\_l'mqn;),(", "7800", "5", "-1.500", "1500.0"]),
        row(&["2", "ü€😀", "00ff41", "10", "12345.000", "-0.0025"]),
        row(&["3", "NULL", "", "NULL", "NULL", "NULL"]),
        row(&["4", "", "4142", "3", "0.000", "-0.0"]),
        row(&["5", "dq \"x\" 'y'", "00", "0", "7.000", "0.5"]),
    ]
}

#[test]
fn every_escape_and_literal_form() {
    let sql = dump(KITCHEN);
    let rows = run(&sql, CHUNK).unwrap();
    let mut got = rows["t"].clone();
    // Binary displays as hex; the blob of row 1 is `x\0y`.
    got[0][2] = got[0][2].clone();
    let mut want = kitchen_expected();
    want[0][2] = "780079".into();
    assert_eq!(got, want);
}

#[test]
fn any_chunk_boundary_gives_the_same_rows() {
    let sql = dump(KITCHEN);
    let whole = run(&sql, CHUNK).unwrap();
    for chunk in (1..=16).chain([7, 31, 64, 100]) {
        assert_eq!(run(&sql, chunk).unwrap(), whole, "chunk size {chunk}");
    }
}

const TWO_TABLES: &str = r#"CREATE TABLE `order` (
  `id` int NOT NULL,
  `name` varchar(20) NOT NULL,
  `note` text,
  `at` datetime(6) DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
CREATE TABLE `query-result-cache` (`id` int NOT NULL, `we``ird col` int, PRIMARY KEY (`id`));
INSERT INTO `order` (`name`, `at`, `id`) VALUES ('a','2024-01-15 10:30:00.123456',1),('b',NULL,2);
INSERT INTO `query-result-cache` (`id`,`we``ird col`) VALUES (1,10);
INSERT INTO `order` (`name`, `at`, `id`) VALUES ('c','2024-01-15 10:30:00',3);
INSERT INTO `order` VALUES (4,'d','n','2000-02-29 00:00:00');
INSERT IGNORE INTO `query-result-cache` VALUE (2,NULL);
REPLACE INTO `query-result-cache` VALUES (3,30);
"#;

#[test]
fn complete_insert_lists_in_another_order_and_column_subsets() {
    let sql = dump(TWO_TABLES);
    // Output `at`, `id` of `order` only (in that order); all of the other table.
    let (tables, rows, batches) = run_with(&sql, 5, 1000, |t| {
        if t.name == "order" {
            let columns = vec![3, 0];
            let plans = column_plans(t, &columns, |_| ZeroDate::Error);
            ReadSpec { table: t.clone(), columns, plans }
        } else {
            ReadSpec::all_columns(t.clone())
        }
    })
    .unwrap();
    assert_eq!(tables[1].columns[1].name, "we`ird col");
    assert_eq!(
        rows["order"],
        vec![
            row(&["2024-01-15T10:30:00.123456", "1"]),
            row(&["NULL", "2"]),
            row(&["2024-01-15T10:30:00", "3"]),
            row(&["2000-02-29T00:00:00", "4"])
        ]
    );
    assert_eq!(rows["query-result-cache"], vec![row(&["1", "10"]), row(&["2", "NULL"]), row(&["3", "30"])]);
    // File order: a table's batch is flushed when another table's INSERT starts.
    let order: Vec<_> = batches.iter().map(|(n, r)| (n.as_str(), *r)).collect();
    assert_eq!(order, [("order", 2), ("query-result-cache", 1), ("order", 2), ("query-result-cache", 2)]);
}

#[test]
fn a_column_list_may_leave_columns_out() {
    let sql = dump(
        "CREATE TABLE `t` (`id` int NOT NULL, `g` int, PRIMARY KEY (`id`));\nINSERT INTO `t` (`id`) VALUES (1),(2);\n",
    );
    assert_eq!(run(&sql, CHUNK).unwrap()["t"], vec![row(&["1", "NULL"]), row(&["2", "NULL"])]);
}

#[test]
fn batches_hold_at_most_batch_rows() {
    let mut body = String::from("CREATE TABLE `n` (`id` bigint unsigned NOT NULL, PRIMARY KEY (`id`));\n");
    for i in 0..7 {
        body.push_str(&format!("INSERT INTO `n` VALUES ({});\n", u64::MAX - i));
    }
    let (_, rows, batches) = run_with(&dump(&body), 3, 3, |t| ReadSpec::all_columns(t.clone())).unwrap();
    assert_eq!(batches.iter().map(|b| b.1).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(rows["n"][0], row(&["18446744073709551615"]));
}

#[test]
fn skips_views_triggers_and_other_statements() {
    let body = r#"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `db` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;
USE `db`;
# a hash comment with a quote '
CREATE TABLE `t` (`id` int NOT NULL, PRIMARY KEY (`id`));
INSERT INTO `t` VALUES (1);
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ /*!50003 TRIGGER `tr` BEFORE INSERT ON `t` FOR EACH ROW BEGIN
  SET NEW.id = NEW.id + 1; INSERT INTO `x` VALUES ('a;;b*/c');
END */;;
DELIMITER ;
/*!50001 CREATE VIEW `v` AS SELECT 1 AS `a` */;
CREATE ALGORITHM=UNDEFINED VIEW `v2` AS select 'a;b' AS `x`;
SET @a = 'x;y';
INSERT INTO `t` VALUES (2);
"#;
    let sql = dump(body);
    let rows = run(&sql, 3).unwrap();
    assert_eq!(rows["t"], vec![row(&["1"]), row(&["2"])]);
    assert_eq!(read_schema_from(&sql[..], Path::new("x"), 4).unwrap().len(), 1);
}

fn input_error(sql: &[u8], chunk: usize) -> (u64, String) {
    match run(sql, chunk) {
        Err(Error::Input { line, message, .. }) => (line, message),
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn malformed_dumps_name_the_line() {
    let ddl = "CREATE TABLE `t` (`id` int NOT NULL, `s` text, PRIMARY KEY (`id`));\n";
    let header_lines = HEADER.lines().count() as u64;
    // An unterminated string on line header+2; later lines are swallowed by it.
    let sql = dump(&format!("{ddl}INSERT INTO `t` VALUES (1,'abc),\n(2,NULL);\nUNLOCK TABLES;\n"));
    for chunk in [3, CHUNK] {
        let (line, message) = input_error(&sql, chunk);
        let Err(Error::Input { line: data_line, .. }) =
            read_data_from(&sql[..], Path::new("x"), chunk, &HashMap::new(), 10, &mut |_, _| Ok(()))
        else {
            panic!("skipping data finds the unterminated string too")
        };
        assert_eq!(data_line, line);
        assert_eq!(line, header_lines + 2, "{message}");
        assert!(message.contains("unterminated"), "{message}");
    }
    // A truncated file: the data stops in the middle of a row on line header+3.
    let full = format!("{HEADER}{ddl}INSERT INTO `t` VALUES (1,'a'),\n(2,'b'),\n(3,");
    let (line, message) = input_error(full.as_bytes(), 4);
    assert_eq!(line, header_lines + 4);
    assert!(message.contains("truncated"), "{message}");
    let cut = format!("{HEADER}{ddl}INSERT INTO `t` VALUES (1,'a')");
    assert!(input_error(cut.as_bytes(), 4).1.contains("truncated"));
    // An unexpected byte.
    let sql = dump(&format!("{ddl}INSERT INTO `t` VALUES (1,'a'),\n(2,@x);\n"));
    let (line, message) = input_error(&sql, 5);
    assert_eq!(line, header_lines + 3);
    assert!(message.contains("`@`"), "{message}");
    // A row with too few values.
    let sql = dump(&format!("{ddl}INSERT INTO `t` VALUES (1);\n"));
    assert!(input_error(&sql, CHUNK).1.contains("1 values for 2 columns"));
}

#[test]
fn rejected_values_name_table_key_and_column() {
    let sql = dump("CREATE TABLE `t` (`id` char(36) NOT NULL, `n` tinyint NOT NULL, PRIMARY KEY (`id`));\nINSERT INTO `t` VALUES ('k1',1),('k2',300);\n");
    match run(&sql, CHUNK) {
        Err(Error::Value(v)) => {
            assert_eq!((v.table.as_str(), v.key.as_str(), v.column.as_str()), ("t", "id='k2'", "n"));
            assert_eq!(v.value, "300");
        }
        other => panic!("expected a value error, got {other:?}"),
    }
    // The key may come after the bad value; no key → row number.
    let sql = dump("CREATE TABLE `t` (`n` tinyint, `id` int NOT NULL, PRIMARY KEY (`id`));\nINSERT INTO `t` VALUES ('x',7);\nCREATE TABLE `u` (`n` date);\nINSERT INTO `u` VALUES ('2020-01-01'),('0000-00-00');\n");
    let Err(Error::Value(v)) = run(&sql, CHUNK) else { panic!("expected a value error") };
    assert_eq!(v.key, "id=7");
    let sql = dump("CREATE TABLE `u` (`n` date);\nINSERT INTO `u` VALUES ('2020-01-01'),('0000-00-00');\n");
    let Err(Error::Value(v)) = run(&sql, CHUNK) else { panic!("expected a value error") };
    assert_eq!(v.key, "#2 (no primary key)");
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("converge-dump-test-{}-{name}", std::process::id()))
}

#[test]
fn reads_plain_and_gzip_files() {
    let sql = dump(KITCHEN);
    let plain = temp_path("k.sql");
    std::fs::write(&plain, &sql).unwrap();
    let gz = temp_path("k.sql.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&sql).unwrap();
    enc.finish().unwrap();
    for path in [&plain, &gz] {
        let tables = read_schema(path).unwrap();
        assert_eq!(tables[0].name, "t");
        let selected: HashMap<_, _> = tables.into_iter().map(|t| (t.name.clone(), ReadSpec::all_columns(t))).collect();
        let mut n = 0;
        let counts = read_data(path, &selected, 2, &mut |_, b| {
            n += b.num_rows();
            Ok(())
        })
        .unwrap();
        assert_eq!((counts["t"], n), (5, 5));
    }
    let _ = std::fs::remove_file(plain);
    let _ = std::fs::remove_file(gz);
}
