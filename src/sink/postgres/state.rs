//! The per-table load's memory: which tables were committed and with how many rows,
//! kept in a file beside the pipeline so a rerun skips them.

use std::path::Path;

use crate::error::{Error, Result};

/// The tables a per-table load committed, kept beside the pipeline so a rerun skips them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct LoadState {
    /// Table → rows committed.
    pub tables: std::collections::BTreeMap<String, u64>,
}

impl LoadState {
    /// Reads a state file (empty when there is none).
    pub fn read(path: &Path) -> Result<LoadState> {
        match std::fs::read_to_string(path) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| Error::Input {
                file: path.to_path_buf(),
                line: e.line() as u64,
                column: None,
                message: format!("not a load state: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LoadState::default()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Writes it atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::other(e.to_string()))?;
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }
}
