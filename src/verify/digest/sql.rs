//! The SQL a table's comparison sends to each side: its canonical key and row-hash
//! expressions, key ranges as predicates, key lists (see `docs/architecture.md`,
//! "Verification").

use super::{Range, Side, TableCmp};
use crate::verify::canon::{self, ColumnCanon};
use crate::verify::row_hash;

impl TableCmp {
    pub(super) fn keys(&self) -> Vec<&ColumnCanon> {
        self.key.iter().map(|&i| &self.columns[i]).collect()
    }

    pub(super) fn server_cols(&self) -> Vec<&ColumnCanon> {
        self.columns.iter().filter(|c| c.client.is_none()).collect()
    }

    pub(super) fn client_cols(&self) -> Vec<&ColumnCanon> {
        self.columns.iter().filter(|c| c.client.is_some()).collect()
    }

    pub(super) fn from(&self, side: Side) -> String {
        match side {
            Side::My => crate::ident::mysql(&self.name),
            Side::Pg => self.pg_table.clone(),
        }
    }

    pub(super) fn expr(side: Side, c: &ColumnCanon) -> &str {
        match side {
            Side::My => &c.mysql,
            Side::Pg => &c.pg,
        }
    }

    /// The canonical key columns, as select-list expressions.
    pub(super) fn key_select(&self, side: Side) -> Vec<String> {
        self.keys().iter().map(|c| Self::expr(side, c).to_string()).collect()
    }

    pub(super) fn order_parts(&self, side: Side) -> Vec<String> {
        self.keys()
            .iter()
            .map(|c| match side {
                Side::My => canon::mysql_key_order(c),
                Side::Pg => canon::pg_key_order(c),
            })
            .collect()
    }

    pub(super) fn order_tuple(&self, side: Side) -> String {
        tuple(&self.order_parts(side))
    }

    pub(super) fn bound_tuple(&self, side: Side, values: &[String]) -> String {
        let parts: Vec<String> = self
            .keys()
            .iter()
            .zip(values)
            .map(|(c, v)| match side {
                Side::My => canon::mysql_bound(c, v),
                Side::Pg => canon::pg_bound(c, v),
            })
            .collect();
        tuple(&parts)
    }

    pub(super) fn predicate(&self, side: Side, r: &Range) -> String {
        let mut p = Vec::new();
        let order = self.order_tuple(side);
        if let Some(lo) = &r.lo {
            p.push(format!("{order} >= {}", self.bound_tuple(side, lo)));
        }
        if let Some(hi) = &r.hi {
            p.push(format!("{order} < {}", self.bound_tuple(side, hi)));
        }
        if p.is_empty() {
            "TRUE".into()
        } else {
            p.join(" AND ")
        }
    }

    pub(super) fn in_keys(&self, side: Side, keys: &[Vec<String>]) -> String {
        if keys.is_empty() {
            return "FALSE".into();
        }
        let list: Vec<String> = keys.iter().map(|k| self.bound_tuple(side, k)).collect();
        format!("{} IN ({})", self.order_tuple(side), list.join(", "))
    }

    /// The source's rows of `keys` (canonical key values), as a MySQL `WHERE` condition
    /// over the table's own columns.
    pub fn source_in_keys(&self, keys: &[Vec<String>]) -> String {
        self.in_keys(Side::My, keys)
    }

    /// The canonical key values of the target's rows, as PostgreSQL select-list
    /// expressions over the table's own (unqualified) columns, and those columns'
    /// target names.
    pub fn target_key_select(&self) -> (Vec<String>, Vec<String>) {
        let names = self.keys().iter().map(|c| c.pg_name.clone()).collect();
        (self.key_select(Side::Pg), names)
    }

    /// The target's rows of `keys`, as a PostgreSQL `WHERE` condition over the table's
    /// own (unqualified) columns.
    pub fn target_in_keys(&self, keys: &[Vec<String>]) -> String {
        self.in_keys(Side::Pg, keys)
    }

    pub(super) fn row_hash(&self, side: Side) -> String {
        let cols = self.server_cols();
        match side {
            Side::My => row_hash::mysql_row_hash(&cols),
            Side::Pg => row_hash::pg_row_hash(&cols),
        }
    }

    /// Each row's hash as it is shipped: hex ([`row_hash::parse_row_hash`]).
    pub(super) fn row_hash_hex(&self, side: Side) -> String {
        let cols = self.server_cols();
        match side {
            Side::My => row_hash::mysql_row_hash_hex(&cols),
            Side::Pg => row_hash::pg_row_hash_hex(&cols),
        }
    }

    /// Renders a key for reports: `id='…', nid='…'`.
    pub fn show_key(&self, values: &[String]) -> String {
        self.keys()
            .iter()
            .zip(values)
            .map(|(c, v)| format!("{}='{}'", c.name, crate::error::shorten(v, 80)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn tuple(parts: &[String]) -> String {
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("({})", parts.join(", "))
    }
}
