//! Circuit samples: the faulty circuit's output voltages with their coordinates.

use faer::Mat;
use serde::Serialize;

use crate::CorrectError;

/// One defect configuration (a scenario): every image run through the same faulty circuit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConfigInfo {
    /// Defect type (the sweep label, e.g. `circle`).
    pub defect: String,
    /// Size parameter (`None` for fixed patterns).
    pub size: Option<f64>,
    /// Injected layers, ascending.
    pub layers: Vec<u32>,
    /// Coverage of the injected arrays.
    pub coverage: f64,
}

/// Output voltages of faulty circuits, one row per (configuration, image).
///
/// ```
/// use faer::Mat;
/// use xbar_correct::{CircuitSamples, ConfigInfo};
/// let info = ConfigInfo { defect: "circle".into(), size: Some(0.1), layers: vec![0], coverage: 0.02 };
/// let v = Mat::from_fn(3, 10, |i, j| if j == i { 1.0 } else { 0.0 });
/// let s = CircuitSamples::from_blocks(vec![(info, v)], &[0, 1, 2])?;
/// assert_eq!(s.len(), 3);
/// assert_eq!(s.faulty_prediction(1), 1);
/// # Ok::<(), xbar_correct::CorrectError>(())
/// ```
#[derive(Clone, Debug)]
pub struct CircuitSamples {
    /// `n x classes` output voltages (V).
    pub v: Mat<f64>,
    /// True label per sample.
    pub label: Vec<u8>,
    /// Configuration index per sample (into `configs`).
    pub config: Vec<u32>,
    /// Image index per sample (into the dataset).
    pub image: Vec<u32>,
    /// The configurations.
    pub configs: Vec<ConfigInfo>,
}

impl CircuitSamples {
    /// Stacks per-configuration voltage blocks (`images x classes`, image `i` in row `i`) with the
    /// dataset's labels.
    pub fn from_blocks(
        blocks: Vec<(ConfigInfo, Mat<f64>)>,
        labels: &[u8],
    ) -> Result<CircuitSamples, CorrectError> {
        let classes = blocks.first().map_or(0, |b| b.1.ncols());
        for (k, (_, v)) in blocks.iter().enumerate() {
            if v.nrows() != labels.len() || v.ncols() != classes {
                return Err(CorrectError::Invalid {
                    what: format!(
                        "block {k} is {}x{}, expected {}x{classes}",
                        v.nrows(),
                        v.ncols(),
                        labels.len()
                    ),
                });
            }
        }
        let n = blocks.len() * labels.len();
        let mut v = Mat::<f64>::zeros(n, classes);
        let (mut label, mut config, mut image) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut configs = Vec::with_capacity(blocks.len());
        for (k, (info, block)) in blocks.into_iter().enumerate() {
            let base = k * labels.len();
            for j in 0..classes {
                for i in 0..labels.len() {
                    v[(base + i, j)] = block[(i, j)];
                }
            }
            label.extend_from_slice(labels);
            config.extend(std::iter::repeat_n(k as u32, labels.len()));
            image.extend(0..labels.len() as u32);
            configs.push(info);
        }
        Ok(CircuitSamples {
            v,
            label,
            config,
            image,
            configs,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.label.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.label.is_empty()
    }

    /// The uncorrected circuit's prediction for sample `i`: argmax of its voltages (ties to the
    /// lowest index, as [`xbar_nn::argmax_rows`]).
    pub fn faulty_prediction(&self, i: usize) -> u8 {
        let mut best = 0;
        for j in 1..self.v.ncols() {
            if self.v[(i, j)] > self.v[(i, best)] {
                best = j;
            }
        }
        best as u8
    }

    /// Defect type names in order of first appearance.
    pub fn defect_types(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.configs {
            if !out.contains(&c.defect) {
                out.push(c.defect.clone());
            }
        }
        out
    }
}
