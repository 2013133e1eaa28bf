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
}

impl Default for FollowSpec {
    fn default() -> Self {
        FollowSpec { server_id: 4_029_386_211, expected_copy_hours: 24.0, batch_changes: 50_000 }
    }
}
