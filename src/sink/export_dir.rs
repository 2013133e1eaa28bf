//! One export directory per run: created owner-only, filled with data files, and made
//! complete only by the manifest, which is written last and atomically. A failed run
//! leaves a `FAILED` note and no manifest, so it is never mistaken for a whole export.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::{Manifest, MANIFEST_FILE};

/// The directory of one run's export.
#[derive(Debug, Clone)]
pub struct ExportDir {
    /// `<sink dir>/<migrationId>`.
    pub path: PathBuf,
}

/// Creates a file readable and writable by its owner only; it must not exist yet.
pub fn create_private(path: &Path) -> Result<File> {
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| Error::io(path, e))
}

/// Writes `bytes` to `path` (replacing it), owner-only (0600): reports hold keys and
/// table contents' shape.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))
}

/// The file name for a table's data, refusing names that would leave the directory.
pub fn data_file_name(table: &str, ext: &str) -> Result<String> {
    if table.is_empty() || table.contains('/') || table.contains('\0') || table == "." || table == ".." {
        return Err(Error::other(format!("table name `{table}` cannot be a file name")));
    }
    Ok(format!("{table}.{ext}"))
}

impl ExportDir {
    /// Creates `<base>/<migration_id>` (and `base` if needed), owner-only.
    pub fn create(base: &Path, migration_id: &str) -> Result<ExportDir> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(base).map_err(|e| Error::io(base, e))?;
        let path = base.join(migration_id);
        fs::DirBuilder::new().mode(0o700).create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(ExportDir { path })
    }

    /// Writes the manifest atomically (temporary file, fsync, rename, fsync of the
    /// directory), then points `<base>/latest` at this export.
    pub fn complete(&self, manifest: &Manifest) -> Result<PathBuf> {
        let tmp = self.path.join(format!(".{MANIFEST_FILE}.tmp"));
        let final_path = self.path.join(MANIFEST_FILE);
        let mut f = create_private(&tmp)?;
        let text = serde_json::to_vec_pretty(manifest).map_err(|e| Error::other(format!("manifest: {e}")))?;
        f.write_all(&text)
            .and_then(|_| f.write_all(b"\n"))
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, &final_path).map_err(|e| Error::io(&final_path, e))?;
        File::open(&self.path).and_then(|d| d.sync_all()).map_err(|e| Error::io(&self.path, e))?;
        if let (Some(base), Some(name)) = (self.path.parent(), self.path.file_name()) {
            let link = base.join("latest");
            let tmp_link = base.join(format!(".latest.{}", std::process::id()));
            let _ = fs::remove_file(&tmp_link);
            if std::os::unix::fs::symlink(name, &tmp_link).is_ok() {
                let _ = fs::rename(&tmp_link, &link);
            }
        }
        Ok(final_path)
    }

    /// Leaves a note that this export is incomplete and why.
    pub fn mark_failed(&self, message: &str) {
        let path = self.path.join("FAILED");
        if let Ok(mut f) = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path) {
            let _ = writeln!(f, "this export is incomplete: {message}");
        }
    }
}
