//! The preflight of a followed copy (docs/architecture.md, "Change capture"): before any
//! data moves, the source is asked whether its binlog can carry every later change of
//! the copied tables, row by row. Each finding names the setting and the fix; the plan
//! layer prints them, and a run refuses to start on any refusal.

use std::collections::HashMap;

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

use crate::error::{Error, Result};
use crate::mysql::column;
use crate::mysql::MySqlSource;
use crate::schema::Table;

/// One thing the preflight found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The run refuses to start (else: a warning).
    pub refuse: bool,
    /// The setting, grant or table it is about.
    pub setting: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// A table the follower would follow.
pub struct Followed<'a> {
    /// The table as the source describes it.
    pub table: &'a Table,
    /// A `[[transform]]` rewrites it.
    pub transformed: bool,
}

/// What the follower will be: its server id, and the time the copy is expected to take.
pub struct Follower {
    /// The follower's `server_id`.
    pub server_id: u32,
    /// Hours the copy is expected to take.
    pub expected_copy_hours: f64,
    /// A table with a cascading foreign key is followed when the target carries the
    /// same action (`follow.cascades = "target"`; the plan checks that against the
    /// target): not refused here.
    pub cascades_on_target: bool,
}

fn refuse(setting: &str, message: String) -> Finding {
    Finding { refuse: true, setting: setting.to_string(), message }
}

/// Runs every check on a snapshot connection.
pub async fn preflight(src: &MySqlSource, tables: &[Followed<'_>], follower: &Follower) -> Result<Vec<Finding>> {
    let mut conn = src.acquire().await;
    let r = server_checks(&mut conn, follower).await;
    src.release(conn).await;
    let mut out = r?;
    out.extend(table_checks(tables, follower.cascades_on_target));
    Ok(out)
}

async fn rows(conn: &mut Conn, sql: &str) -> Result<Vec<Row>> {
    conn.query(sql).await.map_err(|e| Error::mysql(format!("the follow preflight ({sql})"), e))
}

async fn server_checks(conn: &mut Conn, follower: &Follower) -> Result<Vec<Finding>> {
    let vars = rows(
        conn,
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'binlog_row_image', \
         'log_bin_compress', 'binlog_row_value_options', 'expire_logs_days', 'binlog_expire_logs_seconds', \
         'server_id', 'version')",
    )
    .await?
    .iter()
    .filter_map(|r| Some((column(r, "Variable_name")?.to_ascii_lowercase(), column(r, "Value").unwrap_or_default())))
    .collect();
    let var = Vars(vars);
    let version = var.get("version");
    let mariadb = version.to_ascii_lowercase().contains("mariadb");
    let mut out = settings(&var, mariadb);
    out.extend(retention(&var, follower.expected_copy_hours));
    let grants: Vec<String> =
        rows(conn, "SHOW GRANTS").await?.iter().filter_map(|r| r.get_opt::<String, usize>(0)?.ok()).collect();
    out.extend(missing_grants(&grants, mariadb, version));
    out.extend(server_id(conn, var.get("server_id"), follower.server_id, mariadb).await);
    Ok(out)
}

/// The server's global variables, by lower-case name ("" when the server has none).
struct Vars(HashMap<String, String>);

impl Vars {
    fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }
}

/// The binlog's own settings.
fn settings(vars: &Vars, mariadb: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let set = |name: &str, value: &str| {
        format!(
            "set `{name} = {value}` in the server's configuration ([mysqld] section) and restart it, or \
             `SET GLOBAL {name} = '{value}'` (new sessions only)"
        )
    };
    if !vars.get("log_bin").eq_ignore_ascii_case("ON") && vars.get("log_bin") != "1" {
        out.push(refuse(
            "log_bin",
            "the binary log is off, so there is no change stream to follow: start the server with `log_bin` \
             (e.g. `--log-bin`) and a `server_id`"
                .into(),
        ));
    }
    if !vars.get("binlog_format").eq_ignore_ascii_case("ROW") {
        out.push(refuse(
            "binlog_format",
            format!(
                "is {}: the follower reads row events, which only ROW logs for every change; {}",
                vars.get("binlog_format"),
                set("binlog_format", "ROW")
            ),
        ));
    }
    if !vars.get("binlog_row_image").eq_ignore_ascii_case("FULL") {
        out.push(refuse(
            "binlog_row_image",
            format!(
                "is {}: the follower needs every column before and after each change; {}",
                vars.get("binlog_row_image"),
                set("binlog_row_image", "FULL")
            ),
        ));
    }
    if mariadb && vars.get("log_bin_compress").eq_ignore_ascii_case("ON") {
        out.push(refuse(
            "log_bin_compress",
            format!(
                "is ON: compressed row events cannot be read by the follower and would be lost; {}",
                set("log_bin_compress", "OFF")
            ),
        ));
    }
    if !mariadb && vars.get("binlog_row_value_options").to_ascii_uppercase().contains("PARTIAL_JSON") {
        out.push(refuse(
            "binlog_row_value_options",
            format!(
                "holds PARTIAL_JSON: JSON updates would be logged as partial diffs the follower does not apply; {}",
                set("binlog_row_value_options", "")
            ),
        ));
    }
    out
}

/// How long the server keeps its binlog, against the copy's expected duration.
fn retention(vars: &Vars, expected_hours: f64) -> Option<Finding> {
    let seconds: f64 = vars.get("binlog_expire_logs_seconds").parse().unwrap_or(0.0);
    let days: f64 = vars.get("expire_logs_days").parse().unwrap_or(0.0);
    let kept = if seconds > 0.0 { seconds } else { days * 86_400.0 };
    let (setting, value) =
        if seconds > 0.0 { ("binlog_expire_logs_seconds", seconds) } else { ("expire_logs_days", days) };
    (kept > 0.0 && kept < expected_hours * 3600.0).then(|| Finding {
        refuse: false,
        setting: setting.to_string(),
        message: format!(
            "is {value}: the server keeps its binlog {:.1} hours, less than the copy's expected {expected_hours} \
             hours (follow.expected_copy_hours); the position taken with the snapshot could be purged before \
             the follower starts: raise `{setting}` for the copy",
            kept / 3600.0
        ),
    })
}

/// The global privileges the follower needs, from `SHOW GRANTS` (granted directly;
/// privileges held only through a role are not seen and are reported missing).
fn missing_grants(grants: &[String], mariadb: bool, version: &str) -> Vec<Finding> {
    let global: Vec<String> =
        grants.iter().filter(|g| g.contains(" ON *.* ")).map(|g| g.to_ascii_uppercase()).collect();
    let has = |p: &str| global.iter().any(|g| g.contains("ALL PRIVILEGES") || g.contains(p));
    let (major, minor) = {
        let mut it = version.split(['.', '-']).map(|n| n.parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    };
    let mut needed = vec![("REPLICATION SLAVE", "to read the binlog")];
    if mariadb && (major, minor) >= (10, 5) {
        needed.push(("BINLOG MONITOR", "to read the binlog position and list the binlog files"));
    } else {
        needed.push(("REPLICATION CLIENT", "to read the binlog position and list the binlog files"));
    }
    if !mariadb {
        needed.push(("RELOAD", "for the brief FLUSH TABLES WITH READ LOCK that takes the binlog position"));
    }
    needed
        .into_iter()
        .filter(|(p, _)| !has(p))
        .map(|(p, why)| {
            refuse(p, format!("the source user lacks the {p} privilege, needed {why}: `GRANT {p} ON *.* TO <user>`"))
        })
        .collect()
}

/// The host name a converge follower registers with (`SHOW SLAVE HOSTS` lists it).
pub const FOLLOWER_HOST: &str = "converge";

/// The follower's server id must be neither the source's own nor a replica's.
async fn server_id(conn: &mut Conn, own: &str, wanted: u32, mariadb: bool) -> Vec<Finding> {
    let fix = "choose another with follow.server_id";
    if own.parse::<u32>().ok() == Some(wanted) {
        return vec![refuse("follow.server_id", format!("{wanted} is the source server's own server_id; {fix}"))];
    }
    let listed = match rows(conn, if mariadb { "SHOW SLAVE HOSTS" } else { "SHOW REPLICAS" }).await {
        Ok(r) => Ok(r),
        Err(_) if !mariadb => rows(conn, "SHOW SLAVE HOSTS").await,
        Err(e) => Err(e),
    };
    let ours = |r: &mysql_async::Row| column(r, "Host").is_some_and(|h| h == FOLLOWER_HOST);
    match listed {
        Ok(r) => match r.iter().find(|r| column(r, "Server_id").and_then(|v| v.parse().ok()) == Some(wanted)) {
            // A converge follower (this pipeline's, stopped or still running, or another's):
            // the server hands the id over to the newest; the target's lock keeps one
            // follower per pipeline.
            Some(r) if ours(r) => vec![Finding {
                refuse: false,
                setting: "follow.server_id".into(),
                message: format!(
                    "{wanted} is registered by a converge follower: this pipeline's earlier one, or another \
                     pipeline's, which the server would disconnect (then {fix})"
                ),
            }],
            Some(_) => {
                vec![refuse("follow.server_id", format!("{wanted} is already used by a replica of the source; {fix}"))]
            }
            None => Vec::new(),
        },
        Err(e) => vec![Finding {
            refuse: false,
            setting: "follow.server_id".into(),
            message: format!("the source's replicas could not be listed, so {wanted} is not checked against them: {e}"),
        }],
    }
}

/// Per table: a key every change can be applied by, no transform, and no cascading key
/// unless the target is to run it.
fn table_checks(tables: &[Followed<'_>], cascades_on_target: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in tables {
        let t = f.table;
        if !has_row_key(t) {
            out.push(refuse(
                &format!("table `{}`", t.name),
                "has neither a primary key nor a unique key on NOT NULL columns, so a change cannot be applied to \
                 exactly one row: add a primary key, or exclude the table (source.exclude)"
                    .into(),
            ));
        }
        if f.transformed {
            out.push(refuse(
                &format!("table `{}`", t.name),
                "has a [[transform]]: a query over the table does not map onto its row changes: remove the \
                 transform or exclude the table"
                    .into(),
            ));
        }
        if cascades_on_target {
            continue;
        }
        for fk in &t.foreign_keys {
            for (clause, action) in [("ON DELETE", &fk.on_delete), ("ON UPDATE", &fk.on_update)] {
                if cascading(action) {
                    out.push(refuse(
                        &format!("table `{}`", t.name),
                        format!(
                            "foreign key `{}` ({clause} {action}) changes rows the binlog does not log (the server \
                             applies cascades without row events), so the target would miss them: set \
                             follow.cascades = \"target\" to let the target's own key, with the same action, run \
                             it, or exclude the table",
                            fk.name
                        ),
                    ));
                }
            }
        }
    }
    out
}

/// A MySQL foreign-key action that changes the referencing rows.
pub fn cascading(action: &str) -> bool {
    matches!(action, "CASCADE" | "SET NULL" | "SET DEFAULT")
}

/// A primary key, or a unique key whose columns are all NOT NULL and whole (no prefix,
/// no expression).
fn has_row_key(t: &Table) -> bool {
    if !t.primary_key.is_empty() {
        return true;
    }
    t.indexes.iter().any(|i| {
        i.unique
            && i.parts
                .iter()
                .all(|p| p.prefix.is_none() && t.column_index(&p.column).is_some_and(|c| !t.columns[c].nullable))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_read_from_global_grants_only() {
        let root = vec!["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION".to_string()];
        assert!(missing_grants(&root, true, "10.11.6-MariaDB").is_empty());
        let db_only = vec!["GRANT ALL PRIVILEGES ON `app`.* TO `u`@`%`".to_string()];
        let missing: Vec<String> =
            missing_grants(&db_only, true, "10.11.6-MariaDB").into_iter().map(|f| f.setting).collect();
        assert_eq!(missing, ["REPLICATION SLAVE", "BINLOG MONITOR"]);
        let mysql = vec!["GRANT SELECT, REPLICATION SLAVE ON *.* TO `u`@`%`".to_string()];
        let missing: Vec<String> = missing_grants(&mysql, false, "8.4.0").into_iter().map(|f| f.setting).collect();
        assert_eq!(missing, ["REPLICATION CLIENT", "RELOAD"]);
    }

    #[test]
    fn retention_warns_only_when_shorter_than_the_copy() {
        let v = |s: &str, d: &str| {
            Vars(HashMap::from([
                ("binlog_expire_logs_seconds".to_string(), s.to_string()),
                ("expire_logs_days".to_string(), d.to_string()),
            ]))
        };
        assert!(retention(&v("0", "0.000000"), 24.0).is_none(), "0 keeps the binlog forever");
        assert!(retention(&v("0", "2.000000"), 24.0).is_none());
        assert!(retention(&v("3600", "0"), 24.0).is_some_and(|f| !f.refuse));
    }
}
