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
    cfg.validate()?;
    let Some(dir) = cache_dir else {
        return Ok((train(cfg, data)?, false));
    };
    let key = cache_key(cfg, data);
    let path = cache_path(dir, &key);
    if let Some(report) = read_cache(&path, &key, cfg, data) {
        return Ok((report, true));
    }
    let report = train(cfg, data)?;
    if is_finite(&report) {
        write_cache(dir, &path, &key, &report)?;
    }
    Ok((report, false))
}

fn is_finite(report: &TrainReport) -> bool {
    report.final_loss.is_finite()
        && report.mlp.layers.iter().all(|l| {
            l.b.iter().all(|v| v.is_finite())
                && (0..l.outputs()).all(|j| l.w.col_as_slice(j).iter().all(|v| v.is_finite()))
        })
}

/// The cached report, or `None` for anything short of a valid, matching file.
fn read_cache(path: &Path, key: &str, cfg: &TrainConfig, data: &Dataset) -> Option<TrainReport> {
    let text = fs::read_to_string(path).ok()?;
    let file: CacheFile = serde_json::from_str(&text).ok()?;
    if file.format != CACHE_FORMAT
        || file.version != CACHE_FORMAT_VERSION
        || file.key != key
        || file.epochs != cfg.epochs
    {
        return None;
    }
    let mlp = Mlp::from_file(file.mlp).ok()?;
    (mlp.sizes() == cfg.sizes_for(data)).then_some(TrainReport {
        mlp,
        final_loss: file.final_loss,
        epochs: file.epochs,
    })
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
    let file = CacheFile {
        format: CACHE_FORMAT.into(),
        version: CACHE_FORMAT_VERSION,
        key: key.into(),
        epochs: report.epochs,
        final_loss: report.final_loss,
        mlp: report.mlp.to_file(),
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
