//! `yizhan backup`: a consistent copy of the SQLite store that appears complete or not at all,
//! next to nothing it could clobber unless asked.

use crate::store::sqlite::backup::{vacuum_into, BackupSummary};
use crate::store::StoreError;
use std::path::{Path, PathBuf};

/// What to do instead on PostGIS, where the database server owns the files.
pub const POSTGIS_HINT: &str = "yizhan backup copies the SQLite/GeoPackage store; \
     for PostGIS use the server's own tool, online and consistent: \
     pg_dump -Fc -d \"$DATABASE_URL\" -f yizhan.dump \
     (restore into a new database: createdb NEW && pg_restore --no-owner --exit-on-error -d NEW_URL yizhan.dump; \
     see README, Backups)";

/// Why a backup was not written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target exists and `--force` was not given.
    #[error("{0} already exists; pass --force to replace it")]
    Exists(PathBuf),
    /// Writing, syncing or moving the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The store could not be read or the copy did not check out.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copies the store file `db` into `out`: the copy is written under a temporary name in
/// `out`'s directory, synced, then moved into place (replacing an existing `out` only with
/// `force`, and never racing another writer of `out` without it) and the directory synced, so
/// a crash leaves either no backup or a whole one. The file keeps the private permissions of a
/// temporary file (0600 on Unix): it holds password and session hashes.
pub async fn write_backup(
    db: &Path,
    out: &Path,
    force: bool,
) -> Result<BackupSummary, BackupError> {
    if !force && out.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(out.to_path_buf()));
    }
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::Io { path, source }
    };
    let tmp = tempfile::Builder::new()
        .prefix(".yizhan-backup-")
        .suffix(".part")
        .tempfile_in(&dir)
        .map_err(io_err(&dir))?;
    let summary = vacuum_into(db, tmp.path()).await?;
    tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
    let persisted = if force {
        tmp.persist(out)
    } else {
        tmp.persist_noclobber(out)
    };
    match persisted {
        Ok(_) => {}
        Err(e) if !force && e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BackupError::Exists(out.to_path_buf()));
        }
        // The temporary file is removed when `e` drops.
        Err(e) => {
            return Err(BackupError::Io {
                path: out.to_path_buf(),
                source: e.error,
            })
        }
    }
    // The rename is durable once the directory is.
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(&dir))?;
    Ok(summary)
}
