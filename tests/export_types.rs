//! Every type family of the mapping, with its edge values: MariaDB → converge CSV
//! export → PostgreSQL's own `COPY … (FORMAT csv, HEADER, NULL '\N')` → every cell
//! compared with the source.

mod common;

use common::*;
use futures::SinkExt;
use mysql_async::prelude::*;

/// (column, MySQL type, PostgreSQL type, canonical kind)
type Col = (&'static str, &'static str, &'static str, &'static str);

struct Family {
    table: &'static str,
    charset: &'static str,
    columns: &'static [Col],
    rows: &'static [&'static str],
}

const FAMILIES: &[Family] = &[
    Family {
        table: "ints",
        charset: "utf8mb4",
        columns: &[
            ("ti", "tinyint", "smallint", "int"),
            ("tiu", "tinyint unsigned", "smallint", "int"),
            ("si", "smallint", "smallint", "int"),
            ("siu", "smallint unsigned", "integer", "int"),
            ("mi", "mediumint", "integer", "int"),
            ("miu", "mediumint unsigned", "integer", "int"),
            ("i", "int", "integer", "int"),
            ("iu", "int unsigned", "bigint", "int"),
            ("bi", "bigint", "bigint", "int"),
            ("biu", "bigint unsigned", "numeric(20)", "int"),
        ],
        rows: &[
            "(1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0)",
            "(2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615)",
            "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        ],
    },
    Family {
        table: "bools",
        charset: "utf8mb4",
        columns: &[("b", "tinyint(1)", "boolean", "bool"), ("bit1", "bit(1)", "boolean", "bool")],
        rows: &["(1, 0, b'0')", "(2, 1, b'1')", "(3, NULL, NULL)"],
    },
    Family {
        table: "decimals",
        charset: "utf8mb4",
        columns: &[("d", "decimal(65,30)", "numeric(65,30)", "text"), ("m", "decimal(10,2)", "numeric(10,2)", "text"), ("du", "decimal(20,0) unsigned", "numeric(20,0)", "text")],
        rows: &[
            "(1, 99999999999999999999999999999999999.999999999999999999999999999999, 99999999.99, 99999999999999999999)",
            "(2, -99999999999999999999999999999999999.999999999999999999999999999999, -0.01, 0)",
            "(3, 0.000000000000000000000000000001, 0, NULL)",
            "(4, NULL, NULL, 1)",
        ],
    },
    Family {
        table: "floats",
        charset: "utf8mb4",
        columns: &[("f", "float", "real", "float4"), ("d", "double", "double precision", "float8")],
        rows: &[
            "(1, 3.40282e38, 1.7976931348623157e308)",
            "(2, -3.40282e38, -1.7976931348623157e308)",
            "(3, 1.17549e-38, 2.2250738585072014e-308)",
            "(4, 0.1, 0.1)",
            "(5, -1.5, 4.9406564584124654e-324)",
            "(6, NULL, NULL)",
        ],
    },
    Family {
        table: "dates",
        charset: "utf8mb4",
        columns: &[
            ("d", "date", "date", "date"),
            ("dt", "datetime", "timestamp(0)", "datetime"),
            ("dt6", "datetime(6)", "timestamp(6)", "datetime"),
            ("ts6", "timestamp(6) NULL", "timestamptz(6)", "datetime"),
            ("y", "year", "smallint", "int"),
        ],
        rows: &[
            "(1, '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000', 1901)",
            "(2, '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', 2155)",
            "(3, '2024-02-29', '2024-02-29 12:00:00', '2024-01-15 10:30:00.123456', '2024-01-15 10:30:00.000001', 2024)",
            "(4, NULL, NULL, NULL, NULL, NULL)",
        ],
    },
    Family {
        table: "times",
        charset: "utf8mb4",
        columns: &[("t", "time", "interval", "time"), ("t6", "time(6)", "interval", "time")],
        rows: &[
            "(1, '-838:59:59', '-838:59:59.000000')",
            "(2, '838:59:59', '838:59:59.000000')",
            "(3, '00:00:00', '-00:00:00.000001')",
            "(4, '25:00:01', '00:00:00.5')",
            "(5, NULL, NULL)",
        ],
    },
    Family {
        table: "texts",
        charset: "utf8mb4",
        columns: &[
            ("c", "char(10)", "varchar(10)", "text"),
            ("v", "varchar(255)", "varchar(255)", "text"),
            ("t", "text", "text", "text"),
            ("mt", "mediumtext", "text", "text"),
        ],
        rows: &[
            "(1, 'abc', 'emoji 😀🎉 and 漢字 and العربية', 'line1\\nline2\\r\\nline3', 'tab\\there \"quoted\" \\\\ backslash')",
            "(2, '', '\\\\N', 'a,b,\"c\"', '')",
            "(3, NULL, 'NULL', '\\\\', 'ends with newline\\n')",
            "(4, 'ÿ', 'ℕ𝕆 ℤ𝔼ℝ𝕆', ' leading and trailing spaces ', 'x')",
        ],
    },
    Family {
        table: "latin",
        charset: "latin1",
        columns: &[("v", "varchar(50)", "varchar(50)", "text"), ("t", "text", "text", "text")],
        rows: &[
            "(1, 'café naïve £ ÿ', 'Ångström ©')",
            "(2, CONVERT(X'80818D8F909D9EFF' USING latin1), CONVERT(X'78DA0B492D2E01FF' USING latin1))",
        ],
    },
    Family {
        table: "uuids",
        charset: "utf8mb4",
        columns: &[("u", "char(36)", "uuid", "uuid"), ("loose", "char(36)", "varchar(36)", "uuid"), ("b16", "binary(16)", "bytea", "bytes")],
        rows: &[
            "(1, '0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D', '', X'0A1B2C3D4E5F4A6B8C7D9E0F1A2B3C4D')",
            "(2, 'ffffffff-ffff-4fff-bfff-ffffffffffff', 'not-a-uuid', X'00000000000000000000000000000000')",
            "(3, NULL, NULL, NULL)",
        ],
    },
    Family {
        table: "blobs",
        charset: "utf8mb4",
        columns: &[("b", "blob", "bytea", "bytes"), ("vb", "varbinary(20)", "bytea", "bytes"), ("lb", "longblob", "bytea", "bytes")],
        rows: &["(1, X'00FF00', X'', X'0000')", "(2, X'5C4E', X'22272C0A0D', NULL)"],
    },
    Family {
        table: "jsons",
        charset: "utf8mb4",
        columns: &[("j", "json", "jsonb", "json")],
        rows: &[
            "(1, '{\"a\": [1, 2.5, null, true], \"s\": \"quote \\\\\" and newline \\\\n and 😀\"}')",
            "(2, '[]')",
            "(3, '\"just a string\"')",
            "(4, NULL)",
        ],
    },
    Family {
        table: "enums",
        charset: "utf8mb4",
        columns: &[("e", "enum('small','large','it''s')", "text", "text"), ("s", "set('a','b','c')", "text", "text")],
        rows: &["(1, 'small', 'a,c')", "(2, 'it''s', '')", "(3, NULL, NULL)"],
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_family_round_trips_through_csv_into_postgres() {
    let my = MyDb::create("types").await;
    let pg = PgDb::create("types").await;
    let out = TempDir::new("types");
    for f in FAMILIES {
        let cols: Vec<String> = f.columns.iter().map(|(n, t, _, _)| format!("`{n}` {t}")).collect();
        my.exec(&format!(
            "CREATE TABLE `{}` (id int PRIMARY KEY, {}) CHARACTER SET {}",
            f.table,
            cols.join(", "),
            f.charset
        ))
        .await;
        my.exec(&format!("INSERT INTO `{}` VALUES {}", f.table, f.rows.join(", "))).await;
        let pg_cols: Vec<String> = f.columns.iter().map(|(n, _, t, _)| format!("\"{n}\" {t}")).collect();
        pg.client
            .batch_execute(&format!("CREATE TABLE \"{}\" (id int PRIMARY KEY, {})", f.table, pg_cols.join(", ")))
            .await
            .unwrap();
    }

    let p = pipeline(&export_pipeline(""), &[("MYSQL_URL", &my.url), ("OUT", out.path().to_str().unwrap())]);
    let report = converge::run::run(&p, &Default::default()).await.expect("the export succeeds");
    let dir = &report.exports[0];

    for f in FAMILIES {
        // PostgreSQL's own CSV reader loads the file as it is.
        let bytes = std::fs::read(dir.join(format!("{}.csv", f.table))).unwrap();
        let sink = pg
            .client
            .copy_in(&format!("COPY \"{}\" FROM STDIN (FORMAT csv, HEADER, NULL '\\N')", f.table))
            .await
            .unwrap();
        futures::pin_mut!(sink);
        sink.send(bytes::Bytes::from(bytes)).await.unwrap();
        let copied = sink.finish().await.unwrap_or_else(|e| panic!("COPY {}: {e:?}", f.table));
        assert_eq!(copied, f.rows.len() as u64, "{}", f.table);

        // Every cell equal to the source.
        let names: Vec<String> = f.columns.iter().map(|c| c.0.to_string()).collect();
        let mut conn = my.conn().await;
        let my_rows: Vec<mysql_async::Row> = conn
            .exec(
                format!(
                    "SELECT {} FROM `{}` ORDER BY id",
                    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                    f.table
                ),
                (),
            )
            .await
            .unwrap();
        let pg_rows = pg
            .client
            .simple_query(&format!(
                "SELECT {} FROM \"{}\" ORDER BY id",
                names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", "),
                f.table
            ))
            .await
            .unwrap();
        let pg_rows: Vec<_> = pg_rows
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(my_rows.len(), pg_rows.len());
        for (r, (m, p)) in my_rows.iter().zip(&pg_rows).enumerate() {
            for (i, (name, _, _, kind)) in f.columns.iter().enumerate() {
                let mv = my_canon(m.as_ref(i).unwrap(), kind);
                let pv = pg_canon(p.get(i), kind);
                assert_eq!(mv, pv, "table {} row {} column {name}", f.table, r + 1);
            }
        }
    }
    pg.drop_db().await;
    my.drop_db().await;
}
