//! On-disk cache of trained networks, keyed by everything that determines the weights.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Fnv64};
use crate::error::{NnError, Result};
use crate::mlp::{Mlp, MlpFile};
use crate::train::{TrainConfig, TrainReport, train};

/// Version of the training algorithm and cache layout. Bump it whenever a change (to `train`,
/// the initialisation, the shuffles or the file layout) would produce different weights or
/// files for the same inputs, so that stale entries are never read.
pub const CACHE_FORMAT_VERSION: u32 = 2;

const CACHE_FORMAT: &str = "xbar-nn/train-cache";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    format: String,
    version: u32,
    key: String,
    epochs: u32,
    final_loss: f64,
    mlp: MlpFile,
    /// SHA-256 of everything above ([`content_digest`]): a file edited or damaged after it
    /// was written is not trusted.
    checksum: String,
}

/// SHA-256 (hex) of a cache entry's content: key, epochs, final loss and weights.
fn content_digest(key: &str, epochs: u32, final_loss: f64, mlp: &MlpFile) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update(epochs.to_le_bytes());
    h.update(final_loss.to_bits().to_le_bytes());
    h.update(serde_json::to_vec(mlp).expect("plain numbers serialise"));
    format!("{:x}", h.finalize())
}

/// SHA-256 (hex) of a network's weights, as its cache file stores them: what the manifest
/// records of the weights a run used.
pub fn weights_sha256(mlp: &Mlp) -> String {
    use sha2::{Digest, Sha256};
    let bytes = serde_json::to_vec(&mlp.to_file()).expect("plain numbers serialise");
    format!("{:x}", Sha256::digest(bytes))
}

/// Where trained weights came from (see [`train_cached_status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheStatus {
    /// Trained now (no cache folder, or no entry for this key).
    Trained,
    /// Read from the cache.
    Cached,
    /// The entry for this key failed its checksum or did not parse: retrained and replaced.
    Replaced {
        /// The entry's path.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
}

/// The cache key of training `cfg` on `data`: 16 lower-case hex digits.
///
/// FNV-1a (64-bit) over a fixed little-endian encoding of [`CACHE_FORMAT_VERSION`], every
/// field of `cfg` (floats by their bit patterns, `hidden` with its length), the data's
/// [`Dataset::fingerprint`], `n_features` and `n_classes`. Stable across platforms and runs.
pub fn cache_key(cfg: &TrainConfig, data: &Dataset) -> String {
    let mut h = Fnv64::new();
    h.write(CACHE_FORMAT.as_bytes());
    h.write_u64(u64::from(CACHE_FORMAT_VERSION));
    h.write_u64(cfg.hidden.len() as u64);
    for &w in &cfg.hidden {
        h.write_u64(w as u64);
    }
    h.write_u64(u64::from(cfg.epochs));
    h.write_u64(u64::from(cfg.batch_size));
    for v in [cfg.learning_rate, cfg.beta1, cfg.beta2, cfg.epsilon, cfg.l2] {
        h.write_u64(v.to_bits());
    }
    h.write_u64(cfg.seed);
    h.write_u64(data.fingerprint());
    h.write_u64(data.n_features() as u64);
    h.write_u64(data.n_classes as u64);
    format!("{:016x}", h.finish())
}

/// The cache file for `key` in `dir`: `<dir>/mlp-<key>.json`.
pub fn cache_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("mlp-{key}.json"))
}

/// [`train`] with an optional on-disk cache; the flag is true when the report came from it.
///
/// With `Some(dir)`, the report is read from `<dir>/mlp-<key>.json` (key from [`cache_key`])
/// if that file exists and is valid; a missing, unreadable, corrupt or mismatched file is
/// ignored, the network is trained and the file is (over)written. The write is atomic: a
/// temporary file in `dir` renamed over the target, so concurrent readers never see a partial
/// file. `dir` is created if needed. A report whose loss or weights are not finite is returned
/// but not stored (JSON cannot hold it). With `None`, this is [`train`].
///
/// Errors: those of [`train`], and [`NnError::Io`] if the folder or file cannot be written.
pub fn train_cached(
    cfg: &TrainConfig,
    data: &Dataset,
    cache_dir: Option<&Path>,
) -> Result<(TrainReport, bool)> {
    let (report, status) = train_cached_status(cfg, data, cache_dir)?;
    Ok((report, status == CacheStatus::Cached))
}

/// [`train_cached`], saying where the weights came from: trained, cached, or retrained
/// because the cached entry was damaged (its checksum did not match its content).
pub fn train_cached_status(
    cfg: &TrainConfig,
    data: &Dataset,
    cache_dir: Option<&Path>,
) -> Result<(TrainReport, CacheStatus)> {
    cfg.validate()?;
    let Some(dir) = cache_dir else {
        return Ok((train(cfg, data)?, CacheStatus::Trained));
    };
    let key = cache_key(cfg, data);
    let path = cache_path(dir, &key);
    let status = match read_cache(&path, &key, cfg, data) {
        Ok(Some(report)) => return Ok((report, CacheStatus::Cached)),
        Ok(None) => CacheStatus::Trained,
        Err(reason) => CacheStatus::Replaced {
            path: path.clone(),
            reason,
        },
    };
    let report = train(cfg, data)?;
    if is_finite(&report) {
        write_cache(dir, &path, &key, &report)?;
    }
    Ok((report, status))
}

fn is_finite(report: &TrainReport) -> bool {
    report.final_loss.is_finite()
        && report.mlp.layers.iter().all(|l| {
            l.b.iter().all(|v| v.is_finite())
                && (0..l.outputs()).all(|j| l.w.col_as_slice(j).iter().all(|v| v.is_finite()))
        })
}

/// Largest cache entry read: far above any network xbar trains.
const MAX_CACHE_BYTES: u64 = 256 << 20;

/// The cached report; `Ok(None)` when there is no entry (or one of an older layout, which is
/// replaced quietly); `Err(why)` for an entry that is damaged or does not match its key.
fn read_cache(
    path: &Path,
    key: &str,
    cfg: &TrainConfig,
    data: &Dataset,
) -> std::result::Result<Option<TrainReport>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_bounded(path).map_err(|e| format!("unreadable: {e}"))?;
    #[derive(Deserialize)]
    struct Head {
        format: String,
        version: u32,
        checksum: Option<String>,
    }
    match serde_json::from_slice::<Head>(&bytes) {
        Ok(h)
            if h.format == CACHE_FORMAT
                && h.version == CACHE_FORMAT_VERSION
                && h.checksum.is_some() => {}
        // Another layout (an older xbar): not damage, just stale.
        Ok(_) => return Ok(None),
        Err(e) => return Err(format!("not a cache entry: {e}")),
    }
    let file: CacheFile =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a cache entry: {e}"))?;
    if content_digest(&file.key, file.epochs, file.final_loss, &file.mlp) != file.checksum {
        return Err("its checksum does not match its content (edited or damaged)".into());
    }
    if file.key != key || file.epochs != cfg.epochs {
        return Err(format!(
            "it holds key {} but is stored under {key}",
            file.key
        ));
    }
    let mlp = Mlp::from_file(file.mlp).map_err(|e| format!("invalid weights: {e}"))?;
    if mlp.sizes() != cfg.sizes_for(data) {
        return Err("its layer sizes do not match the configuration".into());
    }
    Ok(Some(TrainReport {
        mlp,
        final_loss: file.final_loss,
        epochs: file.epochs,
    }))
}

/// A regular file of at most [`MAX_CACHE_BYTES`].
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let meta = fs::metadata(path)?;
    if !meta.is_file() || meta.len() > MAX_CACHE_BYTES {
        return Err(std::io::Error::other(format!(
            "not a regular file of at most {MAX_CACHE_BYTES} bytes"
        )));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    fs::File::open(path)?
        .take(MAX_CACHE_BYTES + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NnError + '_ {
    move |source| NnError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_cache(dir: &Path, path: &Path, key: &str, report: &TrainReport) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mlp = report.mlp.to_file();
    let file = CacheFile {
        format: CACHE_FORMAT.into(),
        version: CACHE_FORMAT_VERSION,
        key: key.into(),
        epochs: report.epochs,
        final_loss: report.final_loss,
        checksum: content_digest(key, report.epochs, report.final_loss, &mlp),
        mlp,
    };
    let text = serde_json::to_string(&file).expect("serialising plain numbers cannot fail");
    let tmp = dir.join(format!(
        ".mlp-{key}.json.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .map_err(io(&tmp))
        .and_then(|()| fs::rename(&tmp, path).map_err(io(path)));
    if written.is_err() {
        // Best effort: the temporary file is useless now; the original error is what matters.
        let _ = fs::remove_file(&tmp);
    }
    written
}
