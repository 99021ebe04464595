//! Dense layers and multi-layer perceptrons: forward pass, prediction, JSON storage.

use faer::{Accum, Mat, MatRef, Par};
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{NnError, Result};
use crate::rng;

/// One fully connected layer: `out = x * w + b` for a batch `x` (one sample per row).
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// Weights, `inputs x outputs`.
    pub w: Mat<f64>,
    /// Biases, one per output.
    pub b: Vec<f64>,
}

impl Dense {
    /// Number of inputs (rows of `w`).
    pub fn inputs(&self) -> usize {
        self.w.nrows()
    }

    /// Number of outputs (columns of `w`).
    pub fn outputs(&self) -> usize {
        self.w.ncols()
    }

    /// Computes `input * w + b` into the first `rows` rows of `out` (with ReLU if `relu`),
    /// without allocating. `input` must have exactly `rows` rows.
    pub(crate) fn forward_into(&self, input: MatRef<'_, f64>, out: &mut Mat<f64>, relu: bool) {
        let rows = input.nrows();
        faer::linalg::matmul::matmul(
            out.as_mut().subrows_mut(0, rows),
            Accum::Replace,
            input,
            self.w.as_ref(),
            1.0,
            Par::Seq,
        );
        for (j, &b) in self.b.iter().enumerate() {
            for v in &mut out.col_as_slice_mut(j)[..rows] {
                *v += b;
                // `<` keeps NaN visible (f64::max would turn it into 0).
                if relu && *v < 0.0 {
                    *v = 0.0;
                }
            }
        }
    }
}

/// A multi-layer perceptron: dense layers with ReLU after every layer but the last, whose
/// outputs are the raw logits (softmax is applied only inside the training loss).
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    /// The layers, input side first.
    pub layers: Vec<Dense>,
}

/// Format tag written into MLP JSON files.
const MLP_FORMAT: &str = "xbar-nn/mlp";
/// Version of the MLP JSON layout.
const MLP_FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MlpFile {
    format: String,
    version: u32,
    layers: Vec<LayerFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerFile {
    inputs: usize,
    outputs: usize,
    /// Row-major `inputs x outputs`.
    w: Vec<f64>,
    b: Vec<f64>,
}

impl Mlp {
    /// A new network with He-uniform weights and zero biases.
    ///
    /// `sizes` lists every layer width including input and output, e.g. `[64, 50, 20, 8, 10]`.
    /// Weight `(i, j)` of a layer with `fan_in` inputs is uniform in
    /// `[-sqrt(6 / fan_in), sqrt(6 / fan_in))`, drawn from ChaCha8 seeded with `seed`
    /// (stream 0), layer by layer, row-major within a layer. Same seed, same weights, on every
    /// platform.
    ///
    /// # Panics
    /// If `sizes` has fewer than two entries or contains a zero.
    pub fn new_he(sizes: &[usize], seed: u64) -> Mlp {
        assert!(
            sizes.len() >= 2,
            "Mlp::new_he: need at least input and output sizes, got {sizes:?}"
        );
        assert!(
            !sizes.contains(&0),
            "Mlp::new_he: layer sizes must be positive, got {sizes:?}"
        );
        let mut rng = rng::chacha(seed, rng::STREAM_INIT);
        let layers = sizes
            .windows(2)
            .map(|pair| {
                let (fan_in, fan_out) = (pair[0], pair[1]);
                let limit = (6.0 / fan_in as f64).sqrt();
                let mut w = Mat::<f64>::zeros(fan_in, fan_out);
                for i in 0..fan_in {
                    for j in 0..fan_out {
                        w[(i, j)] = (2.0 * rng::unit_f64(&mut rng) - 1.0) * limit;
                    }
                }
                Dense {
                    w,
                    b: vec![0.0; fan_out],
                }
            })
            .collect();
        Mlp { layers }
    }

    /// Layer widths including input and output (empty for a network without layers).
    pub fn sizes(&self) -> Vec<usize> {
        match self.layers.first() {
            None => Vec::new(),
            Some(first) => std::iter::once(first.inputs())
                .chain(self.layers.iter().map(Dense::outputs))
                .collect(),
        }
    }

    /// Number of inputs of the first layer (0 without layers).
    pub fn n_inputs(&self) -> usize {
        self.layers.first().map_or(0, Dense::inputs)
    }

    /// Number of outputs of the last layer (0 without layers).
    pub fn n_outputs(&self) -> usize {
        self.layers.last().map_or(0, Dense::outputs)
    }

    /// Number of weights plus biases, e.g. 4528 for `[64, 50, 20, 8, 10]`.
    pub fn param_count(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.w.nrows() * l.w.ncols() + l.b.len())
            .sum()
    }

    /// Checks the structure: at least one layer, one bias per output, and each layer's inputs
    /// equal to the previous layer's outputs.
    pub fn validate(&self) -> Result<()> {
        if self.layers.is_empty() {
            return Err(NnError::Model {
                what: "the network has no layers".into(),
            });
        }
        for (k, layer) in self.layers.iter().enumerate() {
            if layer.b.len() != layer.outputs() {
                return Err(NnError::ShapeMismatch {
                    what: format!("layer {k} biases"),
                    expected: layer.outputs(),
                    got: layer.b.len(),
                });
            }
            if k > 0 && layer.inputs() != self.layers[k - 1].outputs() {
                return Err(NnError::ShapeMismatch {
                    what: format!("layer {k} inputs (outputs of layer {})", k - 1),
                    expected: self.layers[k - 1].outputs(),
                    got: layer.inputs(),
                });
            }
        }
        Ok(())
    }

    /// Logits for a batch `x` (`n x inputs`, one sample per row): `n x outputs`.
    ///
    /// Sequential (`Par::Seq`) and deterministic.
    ///
    /// # Panics
    /// If `x.ncols()` differs from the network's input size, or the network has no layers.
    pub fn forward(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        self.forward_layers(x)
            .pop()
            .expect("Mlp::forward: the network has no layers")
    }

    /// The output of every layer for a batch `x`: after ReLU for hidden layers, raw logits for
    /// the last one. The result has one matrix per layer.
    ///
    /// # Panics
    /// If `x.ncols()` differs from the network's input size.
    pub fn forward_layers(&self, x: MatRef<'_, f64>) -> Vec<Mat<f64>> {
        assert_eq!(
            x.ncols(),
            self.n_inputs(),
            "Mlp::forward: input has {} columns, the network expects {}",
            x.ncols(),
            self.n_inputs()
        );
        let last = self.layers.len().saturating_sub(1);
        let mut outs: Vec<Mat<f64>> = Vec::with_capacity(self.layers.len());
        for (k, layer) in self.layers.iter().enumerate() {
            let mut out = Mat::<f64>::zeros(x.nrows(), layer.outputs());
            let input = if k == 0 { x } else { outs[k - 1].as_ref() };
            layer.forward_into(input, &mut out, k != last);
            outs.push(out);
        }
        outs
    }

    /// Predicted class of every row of `x`: [`argmax_rows`] of the logits.
    ///
    /// # Panics
    /// As [`Mlp::forward`], or if the network has more than 256 outputs.
    pub fn predict(&self, x: MatRef<'_, f64>) -> Vec<u8> {
        argmax_rows(self.forward(x).as_ref())
    }

    /// Fraction of `data` classified correctly, in `[0, 1]` (0 for an empty data set).
    ///
    /// # Panics
    /// As [`Mlp::predict`].
    pub fn accuracy(&self, data: &Dataset) -> f64 {
        if data.is_empty() {
            return 0.0;
        }
        let pred = self.predict(data.x.as_ref());
        let correct = pred.iter().zip(&data.y).filter(|(p, y)| p == y).count();
        correct as f64 / data.len() as f64
    }

    /// The network as JSON: a format tag, a version, and per layer its sizes, the weights in
    /// row-major order and the biases. Numbers are written so that [`Mlp::from_json`] restores
    /// them bit for bit. Non-finite numbers cannot be represented in JSON (they are written as
    /// `null`, which `from_json` rejects).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.to_file()).expect("serialising plain numbers cannot fail")
    }

    /// Reads a network written by [`Mlp::to_json`], checking the format tag, the version and
    /// every shape.
    pub fn from_json(s: &str) -> Result<Mlp> {
        let file: MlpFile = serde_json::from_str(s).map_err(|source| NnError::Json {
            context: "MLP",
            source,
        })?;
        Mlp::from_file(file)
    }

    pub(crate) fn to_file(&self) -> MlpFile {
        let layers = self
            .layers
            .iter()
            .map(|l| LayerFile {
                inputs: l.inputs(),
                outputs: l.outputs(),
                w: (0..l.inputs())
                    .flat_map(|i| (0..l.outputs()).map(move |j| l.w[(i, j)]))
                    .collect(),
                b: l.b.clone(),
            })
            .collect();
        MlpFile {
            format: MLP_FORMAT.into(),
            version: MLP_FORMAT_VERSION,
            layers,
        }
    }

    pub(crate) fn from_file(file: MlpFile) -> Result<Mlp> {
        if file.format != MLP_FORMAT {
            return Err(NnError::Model {
                what: format!("format tag {:?}, expected {MLP_FORMAT:?}", file.format),
            });
        }
        if file.version != MLP_FORMAT_VERSION {
            return Err(NnError::Model {
                what: format!(
                    "format version {}, supported {MLP_FORMAT_VERSION}",
                    file.version
                ),
            });
        }
        let mut layers = Vec::with_capacity(file.layers.len());
        for (k, l) in file.layers.into_iter().enumerate() {
            let expected = l
                .inputs
                .checked_mul(l.outputs)
                .ok_or_else(|| NnError::Model {
                    what: format!("layer {k} size {} x {} overflows", l.inputs, l.outputs),
                })?;
            if l.w.len() != expected {
                return Err(NnError::ShapeMismatch {
                    what: format!("layer {k} weight count ({} x {})", l.inputs, l.outputs),
                    expected,
                    got: l.w.len(),
                });
            }
            let w = Mat::from_fn(l.inputs, l.outputs, |i, j| l.w[i * l.outputs + j]);
            layers.push(Dense { w, b: l.b });
        }
        let mlp = Mlp { layers };
        mlp.validate()?;
        Ok(mlp)
    }
}

/// Index of the largest entry of every row; ties go to the lowest index and NaN never wins
/// (a row with no non-NaN entry, or a matrix without columns, gives 0).
///
/// This is the one argmax rule of the project: software and analog predictions use it.
///
/// # Panics
/// If `m` has more than 256 columns (labels are `u8`).
pub fn argmax_rows(m: MatRef<'_, f64>) -> Vec<u8> {
    assert!(
        m.ncols() <= 256,
        "argmax_rows: {} columns do not fit u8 labels",
        m.ncols()
    );
    let mut best = vec![f64::NAN; m.nrows()];
    let mut arg = vec![0u8; m.nrows()];
    for j in 0..m.ncols() {
        let col = m.col(j);
        for i in 0..m.nrows() {
            let v = col[i];
            if !v.is_nan() && (best[i].is_nan() || v > best[i]) {
                best[i] = v;
                arg[i] = j as u8;
            }
        }
    }
    arg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_counts() {
        assert_eq!(Mlp::new_he(&[64, 50, 20, 8, 10], 0).param_count(), 4528);
        assert_eq!(Mlp::new_he(&[10, 10, 10, 10], 0).param_count(), 330);
        assert_eq!(Mlp::new_he(&[10, 100, 200, 10], 0).param_count(), 23310);
        assert_eq!(Mlp::new_he(&[10, 1, 10], 0).param_count(), 31);
        assert_eq!(
            Mlp::new_he(&[64, 50, 20, 8, 10], 0).sizes(),
            [64, 50, 20, 8, 10]
        );
    }

    #[test]
    fn init_is_seeded_and_bounded() {
        let a = Mlp::new_he(&[5, 7, 3], 11);
        assert_eq!(a, Mlp::new_he(&[5, 7, 3], 11));
        assert_ne!(a, Mlp::new_he(&[5, 7, 3], 12));
        let limit = (6.0f64 / 5.0).sqrt();
        for i in 0..5 {
            for j in 0..7 {
                assert!(a.layers[0].w[(i, j)].abs() < limit);
            }
        }
        assert!(a.layers.iter().all(|l| l.b.iter().all(|&b| b == 0.0)));
    }

    #[test]
    fn forward_matches_hand_computation() {
        let mlp = Mlp {
            layers: vec![
                Dense {
                    w: Mat::from_fn(2, 2, |i, j| [[1.0, -1.0], [2.0, 0.5]][i][j]),
                    b: vec![0.5, -3.0],
                },
                Dense {
                    w: Mat::from_fn(2, 1, |i, _| [2.0, -1.0][i]),
                    b: vec![0.25],
                },
            ],
        };
        let x = Mat::from_fn(2, 2, |i, j| [[1.0, 1.0], [-1.0, 0.0]][i][j]);
        let outs = mlp.forward_layers(x.as_ref());
        // Row 0: h = relu([1+2+0.5, -1+0.5-3]) = [3.5, 0]; y = 7.25.
        // Row 1: h = relu([-1+0.5, 1-3]) = [0, 0]; y = 0.25.
        assert_eq!(outs[0][(0, 0)], 3.5);
        assert_eq!(outs[0][(0, 1)], 0.0);
        assert_eq!(outs[0][(1, 0)], 0.0);
        assert_eq!(outs[1][(0, 0)], 7.25);
        assert_eq!(outs[1][(1, 0)], 0.25);
        assert_eq!(mlp.forward(x.as_ref()), outs[1]);
    }

    #[test]
    fn argmax_ties_and_nan() {
        let rows = [
            [1.0, 3.0, 3.0],
            [f64::NAN, -1.0, -2.0],
            [f64::NAN, f64::NAN, f64::NAN],
            [f64::NEG_INFINITY, f64::NEG_INFINITY, f64::NAN],
            [0.0, f64::NAN, 5.0],
        ];
        let m = Mat::from_fn(rows.len(), 3, |i, j| rows[i][j]);
        assert_eq!(argmax_rows(m.as_ref()), [1, 1, 0, 0, 2]);
        assert_eq!(argmax_rows(Mat::<f64>::zeros(2, 0).as_ref()), [0, 0]);
    }

    #[test]
    fn json_round_trip_is_exact() {
        let mut mlp = Mlp::new_he(&[6, 5, 4], 3);
        mlp.layers[1].b = vec![0.1, -1e-300, 1.0 / 3.0, f64::MAX];
        mlp.layers[0].w[(2, 3)] = f64::MIN_POSITIVE / 8.0;
        let back = Mlp::from_json(&mlp.to_json()).unwrap();
        for (a, b) in mlp.layers.iter().zip(&back.layers) {
            assert_eq!(
                a.b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            for i in 0..a.inputs() {
                for j in 0..a.outputs() {
                    assert_eq!(a.w[(i, j)].to_bits(), b.w[(i, j)].to_bits());
                }
            }
        }
        assert_eq!(back, mlp);
    }

    #[test]
    fn from_json_rejects_bad_input() {
        let good = Mlp::new_he(&[3, 2], 0).to_json();
        assert!(matches!(Mlp::from_json("{"), Err(NnError::Json { .. })));
        let bad_w = good.replacen("\"w\":[", "\"w\":[1.0,", 1);
        assert!(matches!(
            Mlp::from_json(&bad_w),
            Err(NnError::ShapeMismatch { .. })
        ));
        let bad_tag = good.replace("xbar-nn/mlp", "other");
        assert!(matches!(
            Mlp::from_json(&bad_tag),
            Err(NnError::Model { .. })
        ));
        let mut two = Mlp::new_he(&[3, 2, 2], 0);
        two.layers[1] = Dense {
            w: Mat::zeros(3, 2),
            b: vec![0.0; 2],
        };
        assert!(Mlp::from_json(&two.to_json()).is_err());
        let nan = Mlp {
            layers: vec![Dense {
                w: Mat::zeros(1, 1),
                b: vec![f64::NAN],
            }],
        };
        assert!(Mlp::from_json(&nan.to_json()).is_err());
    }
}
