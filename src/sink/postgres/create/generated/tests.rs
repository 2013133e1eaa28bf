use super::*;
use crate::schema::{ColumnFacts, MySqlType};
use crate::types::classify;

/// A column of MySQL type `ty`, under `collation`.
fn col(name: &str, ty: &str, collation: Option<&str>) -> Column {
    let mysql = MySqlType::parse(ty);
    let logical = classify(&mysql);
    let facts = ColumnFacts { collation: collation.map(str::to_string), ..Default::default() };
    Column { name: name.into(), mysql, nullable: true, logical, facts }
}

fn columns() -> Vec<Column> {
    vec![
        col("a", "int(11)", None),
        col("c", "int(11)", None),
        col("u", "int(10) unsigned", None),
        col("s", "varchar(10)", Some("utf8mb4_general_ci")),
        col("p", "varchar(10)", Some("utf8mb4_bin")),
        col("sb", "varchar(10)", Some("utf8mb4_nopad_bin")),
        col("b", "tinyint(1)", None),
        col("d", "double", None),
        col("dc", "decimal(10,2)", None),
        col("ub", "bigint(20) unsigned", None),
        col("l", "varchar(10)", Some("latin1_bin")),
        col("d1", "date", None),
        col("d2", "date", None),
        col("w1", "datetime", None),
        col("t1", "timestamp", None),
    ]
}

/// Translates `expr` for a generated column of MySQL type `into`.
fn t(expr: &str, into: &str) -> Result<String, String> {
    let cols = columns();
    let operand = |n: &str| {
        let c = cols.iter().find(|c| c.name == n).ok_or_else(|| format!("column `{n}` is not carried"))?;
        Ok(Typed { sql: ident::pg(n), ty: column_type(c.logical, c) })
    };
    let target = col("g", into, Some("utf8mb4_general_ci"));
    translate(expr, &operand, &target, target.logical)
}

#[test]
fn integer_arithmetic_is_computed_in_bigint_as_mysql_does() {
    assert_eq!(t("`a` * `c`", "bigint(20)").unwrap(), "(CAST(\"a\" AS bigint) * CAST(\"c\" AS bigint))");
    assert_eq!(
        t("`a` + 1 - `c`", "bigint(20)").unwrap(),
        "((CAST(\"a\" AS bigint) + CAST(1 AS bigint)) - CAST(\"c\" AS bigint))"
    );
    assert_eq!(t("`a` MOD 3", "int(11)").unwrap(), "mod(CAST(\"a\" AS bigint), 3)");
    assert_eq!(t("-`a`", "bigint(20)").unwrap(), "(- CAST(\"a\" AS bigint))");
    assert_eq!(t("`dc` * 2", "decimal(12,2)").unwrap(), "(\"dc\" * 2)");
    assert_eq!(t("`d` * 2.5e0", "double").unwrap(), "(\"d\" * CAST('2.5e0' AS double precision))");
}

#[test]
fn text_compares_only_under_a_binary_collation_and_pad_space_only_for_equality() {
    assert_eq!(t("`sb` = 'abc'", "int(11)").unwrap(), "CAST(((\"sb\") COLLATE \"C\" = 'abc') AS integer)");
    assert_eq!(t("`sb` like 'a%'", "tinyint(1)").unwrap(), "((\"sb\") COLLATE \"C\" LIKE 'a%')");
    assert_eq!(t("`sb` in (_utf8mb4'x','y')", "tinyint(1)").unwrap(), "((\"sb\") COLLATE \"C\" IN ('x', 'y'))");
    assert_eq!(
        t("`sb` between 'a' and 'b' and `a` > 1", "tinyint(1)").unwrap(),
        "(((\"sb\") COLLATE \"C\" BETWEEN 'a' AND 'b') AND (\"a\" > 1))"
    );
    for e in ["`s` = 'abc'", "`s` like 'a%'", "`s` <> ''", "`s` > 'b'"] {
        let why = t(e, "tinyint(1)").unwrap_err();
        assert!(why.contains("utf8mb4_general_ci") && why.contains("case"), "{e}: {why}");
    }
    // utf8mb4_bin ignores trailing spaces (PAD SPACE): equality without them; no order.
    assert_eq!(t("`p` = 'abc'", "tinyint(1)").unwrap(), "((rtrim(\"p\", ' ')) COLLATE \"C\" = rtrim('abc', ' '))");
    assert_eq!(
        t("`p` not in ('a','b ')", "tinyint(1)").unwrap(),
        "((rtrim(\"p\", ' ')) COLLATE \"C\" NOT IN (rtrim('a', ' '), rtrim('b ', ' ')))"
    );
    assert_eq!(t("`p` like 'a%'", "tinyint(1)").unwrap(), "((\"p\") COLLATE \"C\" LIKE 'a%')");
    assert!(t("`p` > 'b'", "tinyint(1)").unwrap_err().contains("PAD SPACE"));
    assert!(t("`p` between 'a' and 'b'", "tinyint(1)").unwrap_err().contains("PAD SPACE"));
    assert!(t("`p` = `sb`", "tinyint(1)").unwrap_err().contains("two different collations"));
    assert!(t("'a' = 'A'", "tinyint(1)").unwrap_err().contains("literals"));
}

#[test]
fn nothing_is_cast_to_text_that_mysql_prints_its_own_way() {
    assert!(t("concat('b=',`b`)", "varchar(20)").unwrap_err().contains("1/0"));
    assert!(t("concat('d=',`d`)", "varchar(40)").unwrap_err().contains("1e+20"));
    assert!(t("concat('x',`sb` = 'a')", "varchar(40)").unwrap_err().contains("1/0"));
    assert_eq!(t("concat(`sb`,'-',`a`)", "varchar(30)").unwrap(), "(\"sb\" || '-' || CAST(\"a\" AS text))");
    assert!(t("`a` + 1", "varchar(30)").unwrap_err().contains("converts an integer"));
}

#[test]
fn what_differs_is_refused_with_the_reason() {
    assert!(t("`a` / 2", "int(11)").unwrap_err().contains("division"));
    assert!(t("`a` DIV 2", "int(11)").unwrap_err().contains("division"));
    assert!(t("`a` MOD `c`", "int(11)").unwrap_err().contains("literal"));
    assert!(t("`b` + 1", "int(11)").unwrap_err().contains("tinyint(1)"));
    assert!(t("`u` - 1", "bigint(20)").unwrap_err().contains("unsigned"));
    assert!(t("`a` * 2", "int(10) unsigned").unwrap_err().contains("unsigned"));
    assert!(t("upper(`sb`)", "varchar(10)").unwrap_err().contains("case"));
    assert!(t("greatest(`a`,`c`)", "int(11)").unwrap_err().contains("greatest"));
    assert!(t("`a` and `c`", "int(11)").unwrap_err().contains("truth value"));
    assert!(t("`dc` + `d`", "double").unwrap_err().contains("decimal"));
    assert!(t("`d` * 2", "int(11)").unwrap_err().contains("a double"));
    assert!(t("concat(`sb`,' ')", "char(10)").unwrap_err().contains("char(n)"));
    assert!(t("`gone` + 1", "int(11)").unwrap_err().contains("not carried"));
    assert!(t("`a` || `c`", "int(11)").unwrap_err().contains("OR"));
}

#[test]
fn functions_on_the_whitelist_keep_their_meaning() {
    assert_eq!(t("char_length(`s`)", "int(11)").unwrap(), "char_length(\"s\")");
    assert_eq!(t("ifnull(`a`,0)", "bigint(20)").unwrap(), "coalesce(CAST(\"a\" AS bigint), CAST(0 AS bigint))");
    assert_eq!(t("`a` is null", "tinyint(1)").unwrap(), "(\"a\" IS NULL)");
    assert_eq!(t("trim(`sb`)", "varchar(10)").unwrap(), "trim(\"sb\")");
    assert!(t("nullif(`s`,'x')", "varchar(10)").is_err());
    // A bigint unsigned (numeric(20,0) in the target) is not narrowed to bigint.
    assert_eq!(t("ifnull(`ub`,0) > 5", "tinyint(1)").unwrap(), "(coalesce(\"ub\", CAST(0 AS bigint)) > 5)");
    // latin1_bin orders by byte (cp1252), not by code point.
    assert!(t("`l` = 'x'", "tinyint(1)").unwrap_err().contains("latin1_bin"));
}

/// Translates the CHECK `clause` over `columns()` and a `char(5)` column `ch`.
fn check(clause: &str) -> Result<String, String> {
    let mut cols = columns();
    cols.push(col("ch", "char(5)", Some("utf8mb4_nopad_bin")));
    let operand = |n: &str| {
        let c = cols.iter().find(|c| c.name == n).ok_or_else(|| format!("column `{n}` is not carried"))?;
        let sql = if c.mysql.data_type == "char" { format!("rtrim({}, ' ')", ident::pg(n)) } else { ident::pg(n) };
        Ok(Typed { sql, ty: column_type(c.logical, c) })
    };
    condition(clause, &operand)
}

#[test]
fn a_check_is_a_truth_value_through_the_same_whitelist() {
    assert_eq!(check("`sb` = 'abc'").unwrap(), "((\"sb\") COLLATE \"C\" = 'abc')");
    assert_eq!(
        check("`p` in ('a','b')").unwrap(),
        "((rtrim(\"p\", ' ')) COLLATE \"C\" IN (rtrim('a', ' '), rtrim('b', ' ')))"
    );
    assert_eq!(check("`a` * `c` < 100").unwrap(), "((CAST(\"a\" AS bigint) * CAST(\"c\" AS bigint)) < 100)");
    assert_eq!(check("`b`").unwrap(), "\"b\"");
    assert_eq!(check("`ch` like 'a%'").unwrap(), "((rtrim(\"ch\", ' ')) COLLATE \"C\" LIKE 'a%')");
    for e in ["`s` = 'abc'", "`s` in ('a','b')", "`s` <> ''", "`s` like 'a%'", "`s` > 'b'"] {
        let why = check(e).unwrap_err();
        assert!(why.contains("utf8mb4_general_ci") && why.contains("case"), "{e}: {why}");
    }
    assert!(check("`p` > 'b'").unwrap_err().contains("PAD SPACE"));
    assert!(check("`a`").unwrap_err().contains("as a number"));
    assert!(check("`a` + 1").unwrap_err().contains("as a number"));
    assert!(check("`a` / 2 > 1").unwrap_err().contains("division"));
    assert!(check("`a` || `c`").unwrap_err().contains("OR"));
    assert!(check("`a` regexp 'x'").unwrap_err().contains("regexp"));
    assert!(check("upper(`sb`) = 'A'").unwrap_err().contains("case"));
    // Dates, wall-clock times and instants compare alike only with their own kind.
    assert_eq!(check("`d1` <= `d2`").unwrap(), "(\"d1\" <= \"d2\")");
    assert_eq!(check("coalesce(`d1`,`d2`) <= `d2`").unwrap(), "(coalesce(\"d1\", \"d2\") <= \"d2\")");
    assert!(check("`w1` < `t1`").unwrap_err().contains("a datetime"));
    assert!(check("`d1` > '2020-01-01'").unwrap_err().contains("converts one"));
    assert!(check("`d1` + 1 > `d2`").is_err());
    assert!(t("coalesce(`d1`,`d2`)", "date").is_err());
}

#[test]
fn a_default_gives_the_same_value_and_reads_no_column() {
    let d = |e: &str, into: &str| {
        let c = col("x", into, Some("utf8mb4_general_ci"));
        default(e, &c, c.logical)
    };
    assert_eq!(d("1 + 2", "int(11)").unwrap(), "(CAST(1 AS bigint) + CAST(2 AS bigint))");
    assert_eq!(d("uuid()", "char(36)").unwrap(), "gen_random_uuid()");
    assert_eq!(d("(uuid())", "varchar(40)").unwrap(), "gen_random_uuid()");
    assert!(d("uuid()", "varchar(10)").is_err());
    assert_eq!(d("curdate()", "date").unwrap(), "CURRENT_DATE");
    assert!(d("`a` + 1", "int(11)").unwrap_err().contains("reads the column `a`"));
    assert!(d("1 / 2", "decimal(5,4)").unwrap_err().contains("division"));
    assert!(d("1 + 2", "varchar(10)").unwrap_err().contains("converts an integer"));
    assert!(d("concat('a', 1.5)", "varchar(10)").is_err());
}
