//! `[follow]`: the keys of a pipeline whose copy a binlog follower continues.

use serde::Deserialize;

/// `[follow]`: the copy is followed by the source's binlog (docs/architecture.md,
/// "Change capture"); `plan` and `run` check the source first.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FollowSpec {
    /// The server id the follower will connect with: no replica of the source may use it.
    pub server_id: u32,
    /// How long the copy is expected to take, in hours: binlog retention shorter than
    /// this is warned about (the follower's start position could be purged).
    pub expected_copy_hours: f64,
    /// Row changes gathered into one apply transaction before it commits (at the next
    /// source commit; it also commits after half a second, or when the source pauses).
    pub batch_changes: u64,
    /// What becomes of a followed table with a cascading foreign key (`ON DELETE` or `ON
    /// UPDATE` `CASCADE`, `SET NULL`, `SET DEFAULT`), whose effects the binlog does not
    /// carry.
    pub cascades: Cascades,
}

/// `follow.cascades`: MySQL (≤ 8.4) and MariaDB apply a foreign key's cascading action
/// without logging its row changes.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Cascades {
    /// The table is refused (the follower could not see what the action changes).
    #[default]
    Refuse,
    /// The target's own foreign key, with the same action, runs it: the table is
    /// followed only when the target carries the same key, and the apply lets
    /// PostgreSQL run the action for the parent's deletes and key changes.
    Target,
}

impl Default for FollowSpec {
    fn default() -> Self {
        FollowSpec {
            server_id: 4_029_386_211,
            expected_copy_hours: 24.0,
            batch_changes: 50_000,
            cascades: Cascades::Refuse,
        }
    }
}
