//! Opening the files a user names: regular files only, read with a size limit.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{ImportError, Result};

/// Largest model file read (ONNX or NPZ weights), in bytes: 1 GiB.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;

/// Largest data set file read, and largest decompressed content of one, in bytes: 4 GiB.
pub const MAX_DATA_BYTES: u64 = 4 << 30;

/// What a non-regular file is, in words.
fn describe(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_char_device() || ft.is_block_device() {
            return "a device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Reads the whole of `path`, which must be a regular file (symbolic links are followed) of at
/// most `limit` bytes.
///
/// The type is checked before opening and again on the open handle; on Unix the file is
/// opened non-blocking, so a FIFO put in its place in between cannot hang the reader. The read
/// itself is bounded by `limit + 1` bytes, whatever the file system reports.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let p = dir.path().join("a.bin");
/// std::fs::write(&p, b"abc")?;
/// assert_eq!(xbar_import::read_regular(&p, 10)?, b"abc");
/// assert!(xbar_import::read_regular(&p, 2).is_err());
/// assert!(xbar_import::read_regular(dir.path(), 10).unwrap_err().to_string().contains("directory"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_file = |ft| ImportError::NotAFile {
        path: path.to_path_buf(),
        kind: describe(ft),
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(not_file(meta.file_type()));
    }
    let file = open_nonblocking(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(not_file(meta.file_type()));
    }
    if meta.len() > limit {
        return Err(ImportError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ImportError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// Gzip-decompresses `bytes` (read from `path`) with a limit on the output size.
pub(crate) fn gunzip(bytes: &[u8], path: &Path, limit: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| ImportError::File {
            path: path.to_path_buf(),
            what: format!("gzip decoding failed ({e}); the file is truncated or corrupt"),
        })?;
    if out.len() as u64 > limit {
        return Err(ImportError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(out)
}

/// True when `bytes` start with the gzip magic number.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}
