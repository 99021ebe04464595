//! Atomic file output (plain bytes, CSV, JSON).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{ReportError, Result};

/// Per-process counter that keeps temp names unique across threads.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically.
///
/// The data goes to a temporary file in the same directory (named
/// `.<file name>.<pid>.<counter>.tmp`), is flushed to disk with `fsync`, and is then
/// renamed over `path`, so readers see either the old or the new content, never a
/// partial file. Missing parent directories are created. On any error the temporary
/// file is removed and the previous content of `path` (if any) is left untouched.
///
/// # Errors
/// [`ReportError::Io`] if the directory cannot be created or the file cannot be
/// written or renamed, or if `path` has no file name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let file_name = path.file_name().ok_or_else(|| ReportError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name"),
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(io_err(dir))?;

    let (tmp_path, file) = create_temp(dir, file_name)?;
    let result = write_and_sync(file, bytes)
        .and_then(|()| fs::rename(&tmp_path, path))
        .map_err(io_err(path));
    if result.is_err() {
        // Best effort: the original error is the interesting one.
        let _ = fs::remove_file(&tmp_path);
        return result;
    }
    sync_dir(dir);
    Ok(())
}

/// Creates a fresh temp file next to the target, retrying on name collisions.
fn create_temp(dir: &Path, file_name: &std::ffi::OsStr) -> Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut last_err = None;
    for _ in 0..16 {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut name = std::ffi::OsString::from(".");
        name.push(file_name);
        name.push(format!(".{pid}.{n}.tmp"));
        let tmp = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(io_err(&tmp)(e)),
        }
    }
    Err(ReportError::Io {
        path: dir.to_path_buf(),
        source: last_err.unwrap_or_else(|| std::io::Error::other("no free temp file name")),
    })
}

fn write_and_sync(mut file: File, bytes: &[u8]) -> std::io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes the rename durable where the platform allows it (ignored elsewhere).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Serialises `rows` as CSV (with a header row) and writes it with [`write_atomic`].
///
/// The header comes from the field names of `T` (via `serde`), so the column order is
/// the struct's field order and stays stable. A field holding a sequence of scalars is one
/// cell, `[0, 3]` (the `csv` crate alone rejects it). An empty slice produces an empty file
/// (the `csv` crate derives the header from the first record).
///
/// # Errors
/// [`ReportError::Csv`] if a row cannot be serialised (e.g. nested structs),
/// [`ReportError::Io`] if writing fails.
pub fn write_csv_atomic<T: serde::Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let bytes = csv_bytes(rows).map_err(|source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, &bytes)
}

/// The CSV text of `rows` (a header from the first row's field names, then one line each).
pub(crate) fn csv_bytes<T: serde::Serialize>(
    rows: &[T],
) -> std::result::Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(64 * rows.len() + 64));
    for (k, value) in rows.iter().enumerate() {
        let row =
            crate::csv_row::row(value).map_err(|e| csv::Error::from(std::io::Error::other(e)))?;
        if k == 0 {
            writer.write_record(&row.names)?;
        }
        writer.write_record(&row.cells)?;
    }
    writer
        .into_inner()
        .map_err(|e| csv::Error::from(std::io::Error::other(e.to_string())))
}

/// Serialises `value` as pretty-printed JSON followed by a newline and writes it with
/// [`write_atomic`].
///
/// # Errors
/// [`ReportError::Json`] if the value cannot be serialised (e.g. a map with non-string
/// keys), [`ReportError::Io`] if writing fails.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}
