//! `migration_manifest.json`: what an export directory holds. Written last and
//! atomically by the run, read by `import` and `query`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::feed::Normalized;

/// The manifest's file name inside an export directory.
pub const MANIFEST_FILE: &str = "migration_manifest.json";

/// The whole manifest. Field names follow the operator guide (camelCase).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The run's id; every artefact of the run carries it.
    pub migration_id: String,
    /// `mysql` (with the database name, never the URL).
    pub source_database: String,
    /// `postgres`, or the sinks the export was written for.
    pub target_database: String,
    /// When the snapshot was taken, ISO 8601 UTC.
    pub export_timestamp: String,
    /// `converge` version that wrote it.
    pub tool_version: String,
    /// The pipeline name.
    pub pipeline: String,
    /// One entry per table, in load order.
    pub tables: Vec<ManifestTable>,
    /// The source's binlog position at the snapshot, when its binary log is on: where a
    /// follower continues this copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_position: Option<BinlogPosition>,
}

/// A position in the source's binary log: the snapshot's, taken with it
/// (docs/architecture.md, "Change capture").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BinlogPosition {
    /// The binlog file (`binlog.000003`).
    pub file: String,
    /// The byte offset in it: every change after the snapshot is logged from here on.
    pub position: u64,
    /// The GTID of that position, for display (MariaDB `0-1-42`, MySQL `uuid:1-42`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
}

impl BinlogPosition {
    /// The binlog file's number, the numeric suffix of its name (`mariadb-bin.000012` →
    /// 12; 0 when the name has none): files are numbered in order, so `(file_number,
    /// position)` orders positions across a rotation.
    pub fn file_number(&self) -> u64 {
        self.file.rsplit('.').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0)
    }
}

impl std::fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.position)?;
        match &self.gtid {
            Some(g) => write!(f, " (GTID {g})"),
            None => Ok(()),
        }
    }
}

/// One exported table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManifestTable {
    /// Table name.
    pub name: String,
    /// Rows in the file(s).
    pub row_count: u64,
    /// The CSV file name (relative to the directory); absent when no CSV was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// sha256 of the CSV file, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Bytes of the CSV file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Parquet files of the table (relative), when a parquet sink ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parquet: Vec<ManifestFile>,
    /// Primary key columns.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// The columns, in file order.
    pub columns: Vec<ManifestColumn>,
}

/// A data file with its checksum.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManifestFile {
    /// File name, relative to the directory.
    pub file: String,
    /// Rows in it.
    pub row_count: u64,
    /// sha256, hex.
    pub sha256: String,
}

/// One column of an exported table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ManifestColumn {
    /// Column name.
    pub name: String,
    /// The MySQL column type (`char(36)`, `datetime(6)`, …).
    pub mysql_type: String,
    /// The logical type ([`crate::types::Logical::name`]): how to read the file back.
    pub logical_type: String,
    /// The Arrow type.
    pub arrow_type: String,
    /// NULL allowed in the source.
    pub nullable: bool,
    /// UUIDs the export lower-cased (a column of UUIDs only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uuids_lowercased: u64,
    /// JSON values whose duplicate keys a `json_duplicates` rule resolved.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub json_duplicates_resolved: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ManifestColumn {
    /// Counts `n` values the normalisation changed as `kind`.
    pub fn count(&mut self, kind: Normalized, n: u64) {
        match kind {
            Normalized::UuidLowercased => self.uuids_lowercased += n,
            Normalized::JsonDuplicates(_) => self.json_duplicates_resolved += n,
        }
    }
}

impl Manifest {
    /// Reads and parses `dir/migration_manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Input {
            file: path.clone(),
            line: e.line() as u64,
            column: None,
            message: format!("not a valid manifest: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::BinlogPosition;

    #[test]
    fn a_binlog_files_number_is_its_numeric_suffix() {
        let at = |file: &str| BinlogPosition { file: file.into(), position: 4, gtid: None };
        assert_eq!(at("mariadb-bin.000012").file_number(), 12);
        assert_eq!(at("binlog.1000000").file_number(), 1_000_000);
        assert_eq!(at("no-number").file_number(), 0);
    }
}
