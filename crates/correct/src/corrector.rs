//! The MLP post-corrector: standardised output voltages in, digit out.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use xbar_nn::{Dataset, Mlp, TrainConfig, argmax_rows, train};

use crate::{CircuitSamples, CorrectError};

/// Hidden layer widths of a corrector (input and output are the 10 voltages and 10 digits).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Architecture {
    /// Hidden widths, e.g. `[10, 10]`.
    pub hidden: Vec<usize>,
}

impl Architecture {
    /// An architecture from its hidden widths.
    pub fn new(hidden: &[usize]) -> Architecture {
        Architecture {
            hidden: hidden.to_vec(),
        }
    }

    /// Trainable parameters for 10 inputs and 10 classes (weights and biases).
    pub fn param_count(&self) -> usize {
        let mut sizes = vec![10];
        sizes.extend(&self.hidden);
        sizes.push(10);
        sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    /// Name in the paper's notation: `MLP(10, 10)`, `MLP(10,)`.
    pub fn name(&self) -> String {
        match self.hidden.as_slice() {
            [h] => format!("MLP({h},)"),
            hs => format!(
                "MLP({})",
                hs.iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The architectures of the paper's Table II, plus (4, 4) from its section VI.
    pub fn paper_table() -> Vec<Architecture> {
        [
            &[100, 200][..],
            &[32, 64],
            &[32, 32],
            &[16, 32],
            &[16, 16],
            &[12, 12],
            &[10, 10],
            &[10],
            &[6, 6],
            &[6],
            &[4, 4],
            &[1],
        ]
        .iter()
        .map(|h| Architecture::new(h))
        .collect()
    }
}

/// Per-feature standardisation `z = (v - mean) / std`, fitted on a training set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Feature means.
    pub mean: Vec<f64>,
    /// Feature standard deviations (1 where a feature is constant).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits on the rows `idx` of `v`.
    pub fn fit(v: MatRef<'_, f64>, idx: &[u32]) -> Standardizer {
        let d = v.ncols();
        let n = idx.len().max(1) as f64;
        let mut mean = vec![0.0; d];
        let mut std = vec![0.0; d];
        for j in 0..d {
            let m = idx.iter().map(|&i| v[(i as usize, j)]).sum::<f64>() / n;
            let var = idx
                .iter()
                .map(|&i| (v[(i as usize, j)] - m).powi(2))
                .sum::<f64>()
                / n;
            mean[j] = m;
            std[j] = if var > 0.0 { var.sqrt() } else { 1.0 };
        }
        Standardizer { mean, std }
    }

    /// Standardised copy of the rows `idx` of `v`.
    pub fn apply(&self, v: MatRef<'_, f64>, idx: &[u32]) -> Mat<f64> {
        Mat::from_fn(idx.len(), v.ncols(), |r, j| {
            (v[(idx[r] as usize, j)] - self.mean[j]) / self.std[j]
        })
    }
}

/// Training settings of a corrector (the architecture is separate).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorrectorConfig {
    /// Passes over the training samples.
    pub epochs: u32,
    /// Mini-batch size.
    pub batch_size: u32,
    /// Adam step size.
    pub learning_rate: f64,
    /// L2 penalty on weights.
    pub l2: f64,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
}

impl Default for CorrectorConfig {
    /// 40 epochs of mini-batches of 64, Adam at 3e-3, L2 1e-5, seed 0: enough for the loss of
    /// MLP(10, 10) on ~20k samples to flatten (see docs/reproduction.md).
    fn default() -> Self {
        CorrectorConfig {
            epochs: 40,
            batch_size: 64,
            learning_rate: 3e-3,
            l2: 1e-5,
            seed: 0,
        }
    }
}

/// A trained corrector.
#[derive(Clone, Debug)]
pub struct Corrector {
    /// Input standardisation.
    pub standardizer: Standardizer,
    /// The network.
    pub mlp: Mlp,
    /// Mean training cross-entropy at the end.
    pub final_loss: f64,
}

impl Corrector {
    /// Trains on the samples `idx`.
    pub fn train(
        arch: &Architecture,
        cfg: &CorrectorConfig,
        samples: &CircuitSamples,
        idx: &[u32],
    ) -> Result<Corrector, CorrectError> {
        if idx.is_empty() {
            return Err(CorrectError::Invalid {
                what: "no training samples".into(),
            });
        }
        let standardizer = Standardizer::fit(samples.v.as_ref(), idx);
        let x = standardizer.apply(samples.v.as_ref(), idx);
        let y: Vec<u8> = idx.iter().map(|&i| samples.label[i as usize]).collect();
        let data = Dataset {
            x,
            y,
            n_classes: samples.v.ncols(),
        };
        let tc = TrainConfig {
            hidden: arch.hidden.clone(),
            epochs: cfg.epochs,
            batch_size: cfg.batch_size,
            learning_rate: cfg.learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            l2: cfg.l2,
            seed: cfg.seed,
        };
        let report = train(&tc, &data)?;
        Ok(Corrector {
            standardizer,
            mlp: report.mlp,
            final_loss: report.final_loss,
        })
    }

    /// Corrected predictions for the samples `idx`.
    pub fn predict(&self, samples: &CircuitSamples, idx: &[u32]) -> Vec<u8> {
        if idx.is_empty() {
            return Vec::new();
        }
        let x = self.standardizer.apply(samples.v.as_ref(), idx);
        argmax_rows(self.mlp.forward(x.as_ref()).as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_match_the_papers_table_ii() {
        let expect = [
            (&[100, 200][..], 23_310),
            (&[32, 64], 3_114),
            (&[32, 32], 1_738),
            (&[16, 32], 1_050),
            (&[16, 16], 618),
            (&[12, 12], 418),
            (&[10, 10], 330),
            (&[10], 220),
            (&[6, 6], 178),
            (&[6], 136),
            (&[1], 31),
        ];
        for (h, n) in expect {
            assert_eq!(Architecture::new(h).param_count(), n, "{h:?}");
            let mut sizes = vec![10];
            sizes.extend(h);
            sizes.push(10);
            assert_eq!(Mlp::new_he(&sizes, 0).param_count(), n);
        }
        // The paper's section VI calls (4, 4) a 126-parameter model; the formula gives 114.
        assert_eq!(Architecture::new(&[4, 4]).param_count(), 114);
        assert_eq!(Architecture::paper_table().len(), 12);
        assert_eq!(Architecture::new(&[10]).name(), "MLP(10,)");
        assert_eq!(Architecture::new(&[10, 10]).name(), "MLP(10, 10)");
    }

    #[test]
    fn standardizer_centres_and_scales() {
        let v = Mat::from_fn(4, 2, |i, j| if j == 0 { i as f64 } else { 5.0 });
        let s = Standardizer::fit(v.as_ref(), &[0, 1, 2, 3]);
        assert_eq!(s.mean, vec![1.5, 5.0]);
        assert_eq!(s.std[1], 1.0);
        let z = s.apply(v.as_ref(), &[0, 3]);
        assert!((z[(0, 0)] + z[(1, 0)]).abs() < 1e-12);
        assert_eq!(z[(0, 1)], 0.0);
    }
}
