//! Before `converge query` reads an export, every file it may read is checked against
//! the manifest (its sha256, and a CSV file's row count), as `converge import` checks
//! the same directory (docs/architecture.md, "SQL over exports and the target").

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::TableFiles;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::source::csv::count_and_hash;

/// The sha256 of a file, hex.
fn file_sha256(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

fn changed(path: &Path, message: String) -> Error {
    Error::Input { file: path.to_path_buf(), line: 0, column: None, message }
}

/// Checks the files of the export in `dir` that a query reads (`files` chooses them, as
/// the tables are registered): a file whose sha256 (or CSV row count) is not the
/// manifest's changed after the export. A missing file is left to the registration,
/// which names what is missing.
pub fn check_files(dir: &Path, manifest: &Manifest, files: TableFiles) -> Result<()> {
    for t in &manifest.tables {
        let parquet = match files {
            TableFiles::Auto => !t.parquet.is_empty(),
            TableFiles::Parquet => true,
            TableFiles::Csv => false,
        };
        let csv = t.file.as_ref().filter(|_| !parquet);
        if let Some(file) = csv {
            let path = dir.join(file);
            if !path.exists() {
                continue;
            }
            let (rows, sha) = count_and_hash(&path)?;
            if let Some(expected) = t.sha256.as_ref().filter(|e| **e != sha) {
                let m = format!("sha256 is {sha}, the manifest says {expected}: the file changed after the export");
                return Err(changed(&path, m));
            }
            if rows != t.row_count {
                return Err(changed(&path, format!("holds {rows} rows, the manifest says {}", t.row_count)));
            }
        }
        for f in t.parquet.iter().filter(|_| parquet) {
            let path = dir.join(&f.file);
            if !path.exists() {
                continue;
            }
            let sha = file_sha256(&path)?;
            if sha != f.sha256 {
                let m = format!("sha256 is {sha}, the manifest says {}: the file changed after the export", f.sha256);
                return Err(changed(&path, m));
            }
        }
    }
    Ok(())
}
