//! Train/test protocols and the same-defect / cross-defect evaluation.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::{Architecture, CircuitSamples, CorrectError, Corrector, CorrectorConfig};

/// How samples are split into corrector training and test sets, per defect type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Protocol {
    /// The paper's (section II.C): pool every size and layer of a type; per configuration block
    /// (one size, all layers: 4 x 1797 = 7188 samples) hold out `holdout` samples for
    /// cross-validation and split the rest `train_fraction` / rest into training and internal
    /// test. The same image appears in training and test (through other defect sizes and
    /// layers), and the software network was trained on most images.
    Paper {
        /// Samples per block held out for cross-validation (the paper: 1000).
        holdout: usize,
        /// Share of the remaining samples used for training (the paper: 0.8).
        train_fraction: f64,
    },
    /// Split by image: the corrector trains on samples of the software network's training
    /// images and is tested on the held-out test images only, which neither network saw.
    ByImage,
}

impl Protocol {
    /// Short name used in results (`paper`, `by-image`).
    pub fn name(&self) -> &'static str {
        match self {
            Protocol::Paper { .. } => "paper",
            Protocol::ByImage => "by-image",
        }
    }
}

/// Sample indices of one defect type.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TypeSplit {
    /// Corrector training samples.
    pub train: Vec<u32>,
    /// Test samples (the paper's internal test set, or the test images).
    pub test: Vec<u32>,
    /// Cross-validation samples (paper protocol only).
    pub validation: Vec<u32>,
}

/// Splits per defect type, in order of first appearance.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Splits {
    /// `(defect type, split)`.
    pub per_type: Vec<(String, TypeSplit)>,
}

/// Splits `samples` per defect type. `is_test_image[i]` marks the software network's held-out
/// images (used by [`Protocol::ByImage`]). Deterministic from `seed`.
pub fn split(
    samples: &CircuitSamples,
    protocol: &Protocol,
    is_test_image: &[bool],
    seed: u64,
) -> Result<Splits, CorrectError> {
    let mut per_type = Vec::new();
    for (t, ty) in samples.defect_types().into_iter().enumerate() {
        let mut s = TypeSplit::default();
        match protocol {
            Protocol::ByImage => {
                for i in 0..samples.len() {
                    if samples.configs[samples.config[i] as usize].defect != ty {
                        continue;
                    }
                    let img = samples.image[i] as usize;
                    if img >= is_test_image.len() {
                        return Err(CorrectError::Invalid {
                            what: format!("image {img} has no train/test flag"),
                        });
                    }
                    if is_test_image[img] {
                        s.test.push(i as u32)
                    } else {
                        s.train.push(i as u32)
                    }
                }
            }
            Protocol::Paper {
                holdout,
                train_fraction,
            } => {
                // Blocks: one per (type, size), pooling layers.
                let mut blocks: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
                for i in 0..samples.len() {
                    let c = &samples.configs[samples.config[i] as usize];
                    if c.defect == ty {
                        blocks
                            .entry(c.size.map_or(u64::MAX, f64::to_bits))
                            .or_default()
                            .push(i as u32);
                    }
                }
                for (b, (_, mut idx)) in blocks.into_iter().enumerate() {
                    if idx.len() < 2 * holdout.max(&1) {
                        return Err(CorrectError::Invalid {
                            what: format!(
                                "{ty}: a configuration block has {} samples, fewer than twice the hold-out {holdout}",
                                idx.len()
                            ),
                        });
                    }
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    rng.set_stream(((t as u64) << 32) | b as u64);
                    idx.shuffle(&mut rng);
                    let rest = idx.split_off(*holdout);
                    let n_train = (rest.len() as f64 * train_fraction).floor() as usize;
                    s.validation.extend(idx);
                    s.train.extend_from_slice(&rest[..n_train]);
                    s.test.extend_from_slice(&rest[n_train..]);
                }
                s.train.sort_unstable();
                s.test.sort_unstable();
                s.validation.sort_unstable();
            }
        }
        per_type.push((ty, s));
    }
    Ok(Splits { per_type })
}

/// One row of the correction results.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct CorrectionRecord {
    /// `paper` or `by-image`.
    pub protocol: String,
    /// Corrector name, e.g. `MLP(10, 10)`.
    pub architecture: String,
    /// Its parameter count.
    pub parameters: u32,
    /// Defect type the corrector was trained on.
    pub train_type: String,
    /// Defect type it is tested on.
    pub test_type: String,
    /// Size parameter of the test configuration.
    pub size: Option<f64>,
    /// Injected layers of the test configuration, ascending.
    pub layers: Vec<u32>,
    /// Coverage of the test configuration.
    pub coverage: f64,
    /// Test samples in this configuration.
    pub n_test: u32,
    /// Accuracy of the uncorrected circuit on them.
    pub faulty_accuracy: f64,
    /// Accuracy after the corrector.
    pub corrected_accuracy: f64,
    /// `corrected - faulty`, in accuracy fraction (x100 for percentage points).
    pub gain: f64,
    /// The corrector's final training loss.
    pub train_loss: f64,
}

/// The test samples of every (type, configuration), in configuration order: built once per
/// split and shared by every corrector job.
#[derive(Clone, Debug)]
pub struct TestIndex(Vec<Vec<(u32, Vec<u32>)>>);

impl TestIndex {
    /// Groups the test samples of each type of `splits` by their configuration.
    pub fn new(samples: &CircuitSamples, splits: &Splits) -> TestIndex {
        TestIndex(
            splits
                .per_type
                .iter()
                .map(|(_, s)| {
                    let mut m: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
                    for &i in &s.test {
                        m.entry(samples.config[i as usize]).or_default().push(i);
                    }
                    m.into_iter().collect()
                })
                .collect(),
        )
    }
}

/// One corrector job: trains `arch` on training type `t` of `splits` and tests it on every
/// test type (`cross`) or its own type only, per test configuration. Sequential and seeded:
/// the records do not depend on which thread runs it.
#[allow(
    clippy::too_many_arguments,
    reason = "the data, the split, and the job's coordinates"
)]
pub fn evaluate_job(
    samples: &CircuitSamples,
    splits: &Splits,
    index: &TestIndex,
    protocol: &Protocol,
    arch: &Architecture,
    t: usize,
    cfg: &CorrectorConfig,
    cross: bool,
) -> Result<Vec<CorrectionRecord>, CorrectError> {
    let (train_type, s) = &splits.per_type[t];
    let corrector = Corrector::train(arch, cfg, samples, &s.train)?;
    let mut out = Vec::new();
    for (t2, (test_type, _)) in splits.per_type.iter().enumerate() {
        if !cross && t2 != t {
            continue;
        }
        for (c, idx) in &index.0[t2] {
            let pred = corrector.predict(samples, idx);
            let hits = |p: &mut dyn Iterator<Item = (usize, u8)>| {
                p.filter(|&(i, y)| samples.label[i] == y).count()
            };
            let n = idx.len();
            let faulty = hits(
                &mut idx
                    .iter()
                    .map(|&i| (i as usize, samples.faulty_prediction(i as usize))),
            );
            let corrected = hits(&mut idx.iter().zip(&pred).map(|(&i, &p)| (i as usize, p)));
            let info = &samples.configs[*c as usize];
            let (fa, ca) = (faulty as f64 / n as f64, corrected as f64 / n as f64);
            out.push(CorrectionRecord {
                protocol: protocol.name().to_string(),
                architecture: arch.name(),
                parameters: arch.param_count() as u32,
                train_type: train_type.clone(),
                test_type: test_type.clone(),
                size: info.size,
                layers: info.layers.clone(),
                coverage: info.coverage,
                n_test: n as u32,
                faulty_accuracy: fa,
                corrected_accuracy: ca,
                gain: ca - fa,
                train_loss: corrector.final_loss,
            });
        }
    }
    Ok(out)
}

/// Trains one corrector per (architecture, training type) on the training split and tests it
/// on every test type (`cross`) or its own type only, per test configuration, with
/// [`evaluate_job`] in parallel on the current rayon pool (architecture-major order). The
/// records are identical for any thread count. `on_done` is called after each corrector.
pub fn evaluate(
    samples: &CircuitSamples,
    splits: &Splits,
    protocol: &Protocol,
    archs: &[Architecture],
    cfg: &CorrectorConfig,
    cross: bool,
    on_done: &(dyn Fn() + Sync),
) -> Result<Vec<CorrectionRecord>, CorrectError> {
    let index = TestIndex::new(samples, splits);
    let types = splits.per_type.len();
    let jobs: Vec<(usize, usize)> = (0..archs.len())
        .flat_map(|a| (0..types).map(move |t| (a, t)))
        .collect();
    let results: Vec<Result<Vec<CorrectionRecord>, CorrectError>> = jobs
        .par_iter()
        .map(|&(a, t)| {
            let r = evaluate_job(samples, splits, &index, protocol, &archs[a], t, cfg, cross);
            on_done();
            r
        })
        .collect();
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConfigInfo;
    use faer::Mat;

    fn toy(n_img: usize) -> CircuitSamples {
        let labels: Vec<u8> = (0..n_img).map(|i| (i % 10) as u8).collect();
        let mut blocks = Vec::new();
        for (d, defect) in ["circle", "ring"].iter().enumerate() {
            for (s, size) in [0.1, 0.2].iter().enumerate() {
                for layer in 0..2 {
                    let info = ConfigInfo {
                        defect: defect.to_string(),
                        size: Some(*size),
                        layers: vec![layer as u32],
                        coverage: *size,
                    };
                    // A fault that rotates the classes by `shift` and scales the peak by
                    // 1 + shift: argmax is wrong unless shift = 0, but the voltages still
                    // determine the label, so a corrector can learn to undo it.
                    let shift = (d + s + layer) % 10;
                    let peak = 1.0 + shift as f64;
                    let v = Mat::from_fn(n_img, 10, |i, j| {
                        if j == (labels[i] as usize + shift) % 10 {
                            peak
                        } else {
                            0.0
                        }
                    });
                    blocks.push((info, v));
                }
            }
        }
        CircuitSamples::from_blocks(blocks, &labels).unwrap()
    }

    #[test]
    fn paper_split_sizes_follow_the_block_rule() {
        let s = toy(500); // blocks of 2 layers x 500 = 1000 samples
        let sp = split(
            &s,
            &Protocol::Paper {
                holdout: 100,
                train_fraction: 0.8,
            },
            &[],
            1,
        )
        .unwrap();
        assert_eq!(sp.per_type.len(), 2);
        for (_, t) in &sp.per_type {
            assert_eq!(t.validation.len(), 200);
            assert_eq!(t.train.len(), 2 * 720);
            assert_eq!(t.test.len(), 2 * 180);
            let mut all: Vec<u32> = t
                .train
                .iter()
                .chain(&t.test)
                .chain(&t.validation)
                .copied()
                .collect();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), 2000);
        }
        // The paper's numbers: 7188-sample blocks, 1000 held out, 80/20 -> 4950 / 1238.
        let n_train = ((7188 - 1000) as f64 * 0.8).floor() as usize;
        assert_eq!((n_train, 7188 - 1000 - n_train), (4950, 1238));
        assert_eq!(
            sp,
            split(
                &s,
                &Protocol::Paper {
                    holdout: 100,
                    train_fraction: 0.8
                },
                &[],
                1
            )
            .unwrap()
        );
    }

    #[test]
    fn by_image_split_never_tests_on_training_images() {
        let s = toy(200);
        let is_test: Vec<bool> = (0..200).map(|i| i % 10 == 3).collect();
        let sp = split(&s, &Protocol::ByImage, &is_test, 0).unwrap();
        for (_, t) in &sp.per_type {
            assert!(
                t.test
                    .iter()
                    .all(|&i| is_test[s.image[i as usize] as usize])
            );
            assert!(
                t.train
                    .iter()
                    .all(|&i| !is_test[s.image[i as usize] as usize])
            );
            assert_eq!(t.test.len(), 20 * 4);
        }
    }

    #[test]
    fn a_corrector_undoes_a_learnable_fault_and_is_deterministic() {
        let s = toy(300);
        let p = Protocol::Paper {
            holdout: 50,
            train_fraction: 0.8,
        };
        let sp = split(&s, &p, &[], 0).unwrap();
        let cfg = CorrectorConfig {
            epochs: 60,
            ..CorrectorConfig::default()
        };
        let archs = [Architecture::new(&[16, 16])];
        let r = evaluate(&s, &sp, &p, &archs, &cfg, true, &|| {}).unwrap();
        assert_eq!(r.len(), 2 * 2 * 4);
        let same: Vec<_> = r.iter().filter(|x| x.train_type == x.test_type).collect();
        assert!(same.iter().all(|x| x.corrected_accuracy > 0.9), "{same:?}");
        assert!(same.iter().any(|x| x.faulty_accuracy < 0.5));
        let again = evaluate(&s, &sp, &p, &archs, &cfg, true, &|| {}).unwrap();
        assert_eq!(r, again);
    }
}
