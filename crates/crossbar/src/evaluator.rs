//! The fast path for sweeps: one fixed input batch, many faulty variants of one network.

use std::borrow::Cow;

use faer::{Accum, Mat, MatMut, MatRef, Par, RowRef};
use xbar_device::{IvModel, SINH_SERIES_MAX, sinh, sinh_series};

use crate::{AnalogNetwork, StageScratch};

/// Evaluates faulty variants of a network on a fixed batch of images.
///
/// A defect in layer `L` leaves layers `0..L` untouched, so their read transfers `f(V)` for the
/// batch are computed once here and every scenario starts at its first faulty layer. This is an
/// exact shortcut (the same arithmetic in the same order as [`AnalogNetwork::forward`]), and it
/// is why a full sweep costs little more than the faulty layers' matrix products.
///
/// ```
/// # use faer::Mat;
/// # use xbar_crossbar::*;
/// # use xbar_device::{DeviceParams, Variability};
/// # use rand::SeedableRng;
/// let w = Mat::from_fn(3, 2, |i, j| (i as f64 - j as f64) * 0.3);
/// let b = [0.1, -0.2];
/// let layers = [SoftLayer { w: w.as_ref(), b: &b }];
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let circuit = CircuitConfig { r_load: RLoad::Unity, ..CircuitConfig::default() };
/// let net = AnalogNetwork::program(DeviceParams::default(), &layers, &circuit, None, &Default::default(), &mut rng)?;
/// let x = Mat::from_fn(4, 3, |i, j| ((i + j) % 3) as f64 / 2.0);
/// let v_in = net.input_voltages(x.as_ref());
/// let eval = Evaluator::new(&net, v_in.as_ref());
/// let mut ws = eval.workspace();
/// let out = eval.run(&[None], &mut ws).to_owned();
/// assert_eq!(out, net.forward(v_in.as_ref()));
/// # Ok::<(), CrossbarError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Evaluator<'a> {
    net: &'a AnalogNetwork,
    h: Cow<'a, Healthy>,
}

/// What an [`Evaluator`] precomputes for one network and batch: the healthy conductances and
/// the read transfers of every layer's healthy inputs. Build it once ([`Healthy::new`]) and
/// evaluate many sweeps on it with [`Evaluator::with`].
#[derive(Clone, Debug)]
pub struct Healthy {
    /// `prefix[l]`: read transfers of the healthy inputs of layer `l` (`n x in_l`).
    prefix: Vec<Mat<f64>>,
    healthy: Vec<Mat<f64>>,
    n: usize,
    /// Images per chunk on the general (convolution, pooling, ADC) path; `None`: the dense path,
    /// whole batch per layer with the fused epilogue.
    chunk: Option<usize>,
}

impl Healthy {
    /// The healthy state of `net` for row voltages `v_in`: one forward pass.
    pub fn new(net: &AnalogNetwork, v_in: MatRef<'_, f64>) -> Healthy {
        let healthy: Vec<Mat<f64>> = net.layers.iter().map(|l| l.healthy_gdiff()).collect();
        let mut outs = net.forward_all(v_in);
        outs.pop();
        let mut prefix = Vec::with_capacity(net.layers.len());
        prefix.push(net.transfer(v_in));
        prefix.extend(outs.iter().map(|v| net.transfer(v.as_ref())));
        let n = v_in.nrows();
        // The fused epilogue models one analog sum per column: converters take the general
        // path.
        let dense = net.layers.iter().all(|l| l.is_dense() && l.adc.is_none());
        Healthy {
            prefix,
            healthy,
            n,
            chunk: (!dense).then(|| net.chunk_rows(n)),
        }
    }
}

/// Reusable buffers for [`Evaluator::run`]; one per thread.
#[derive(Clone, Debug)]
pub struct Workspace {
    out: Mat<f64>,
    f: Mat<f64>,
    /// General path: the next stage's input transfers for one chunk.
    cur: Mat<f64>,
    /// General path: per-stage buffers.
    stages: Vec<StageScratch>,
}

impl<'a> Evaluator<'a> {
    /// Precomputes the healthy read transfers of every layer's inputs for `v_in`.
    pub fn new(net: &'a AnalogNetwork, v_in: MatRef<'_, f64>) -> Evaluator<'a> {
        Evaluator {
            net,
            h: Cow::Owned(Healthy::new(net, v_in)),
        }
    }

    /// An evaluator on a healthy state computed before (for the same `net`).
    pub fn with(net: &'a AnalogNetwork, healthy: &'a Healthy) -> Evaluator<'a> {
        Evaluator {
            net,
            h: Cow::Borrowed(healthy),
        }
    }

    /// Buffers sized for this network and batch.
    pub fn workspace(&self) -> Workspace {
        let layers = &self.net.layers;
        match self.h.chunk {
            None => {
                let w = layers.iter().map(|l| l.cols()).max().unwrap_or(0);
                Workspace {
                    out: Mat::zeros(self.h.n, w),
                    f: Mat::zeros(self.h.n, w),
                    cur: Mat::zeros(0, 0),
                    stages: Vec::new(),
                }
            }
            Some(chunk) => {
                let w = layers.iter().map(|l| l.output_len()).max().unwrap_or(0);
                let last = layers.last().map_or(0, |l| l.output_len());
                Workspace {
                    out: Mat::zeros(self.h.n, last),
                    f: Mat::zeros(chunk, w),
                    cur: Mat::zeros(chunk, w),
                    stages: layers.iter().map(|l| l.scratch(chunk)).collect(),
                }
            }
        }
    }

    /// Number of images in the batch.
    pub fn batch_len(&self) -> usize {
        self.h.n
    }

    /// The healthy differential conductances, per layer.
    pub fn healthy_gdiff(&self) -> &[Mat<f64>] {
        &self.h.healthy
    }

    /// Output voltages of the last layer (`n x out`) when layer `l` uses `gdiff[l]` instead of
    /// its healthy conductances (`None` = healthy). No allocation.
    pub fn run<'w>(&self, gdiff: &[Option<Mat<f64>>], ws: &'w mut Workspace) -> MatRef<'w, f64> {
        let layers = &self.net.layers;
        let first = gdiff
            .iter()
            .position(Option::is_some)
            .unwrap_or(layers.len() - 1)
            .min(layers.len() - 1);
        if let Some(chunk) = self.h.chunk {
            return self.run_chunked(gdiff, first, chunk, ws);
        }
        let f_bias = self.net.bias_transfer();
        let rail = self.net.circuit.rail;
        let device = &self.net.device;
        let n = self.h.n;
        for (l, layer) in layers.iter().enumerate().skip(first) {
            let cols = layer.cols();
            let g = gdiff
                .get(l)
                .and_then(Option::as_ref)
                .unwrap_or(&self.h.healthy[l]);
            let n_in = g.nrows() - 1;
            let fin = if l == first {
                self.h.prefix[l].as_ref()
            } else {
                ws.f.as_ref().subcols(0, n_in)
            };
            let out = ws.out.as_mut().subcols_mut(0, cols);
            faer::linalg::matmul::matmul(
                out,
                Accum::Replace,
                fin,
                g.as_ref().subrows(0, n_in),
                1.0,
                Par::Seq,
            );
            let hi = rail.unwrap_or(f64::INFINITY);
            let epilogue = Epilogue {
                out: ws.out.as_mut().subcols_mut(0, cols).subrows_mut(0, n),
                next: (l + 1 < layers.len())
                    .then(|| ws.f.as_mut().subcols_mut(0, cols).subrows_mut(0, n)),
                bias: g.as_ref().row(n_in),
                f_bias,
                r_load: layer.r_load,
                lo: if layer.rectify { 0.0 } else { -hi },
                hi,
                read: match device.iv {
                    IvModel::Sinh => Some(device.v0),
                    IvModel::Linear => None,
                },
            };
            epilogue.run();
        }
        ws.out.as_ref().subcols(0, layers[layers.len() - 1].cols())
    }
}

impl Evaluator<'_> {
    /// The general path (convolutions, pooling): chunks of images go through every stage from
    /// `first` on ([`crate::ProgrammedLayer::stage_into`]), so no buffer grows with the batch
    /// beyond the output voltages.
    fn run_chunked<'w>(
        &self,
        gdiff: &[Option<Mat<f64>>],
        first: usize,
        chunk: usize,
        ws: &'w mut Workspace,
    ) -> MatRef<'w, f64> {
        let layers = &self.net.layers;
        let last = layers.len() - 1;
        let f_bias = self.net.bias_transfer();
        let rail = self.net.circuit.rail;
        let device = &self.net.device;
        let Workspace {
            out,
            f,
            cur,
            stages,
        } = ws;
        let mut start = 0;
        while start < self.h.n {
            let rows = chunk.min(self.h.n - start);
            for (l, layer) in layers.iter().enumerate().skip(first) {
                let g = gdiff
                    .get(l)
                    .and_then(Option::as_ref)
                    .unwrap_or(&self.h.healthy[l]);
                let fin = if l == first {
                    self.h.prefix[l].as_ref().subrows(start, rows)
                } else {
                    cur.as_ref().submatrix(0, 0, rows, layer.input_len())
                };
                let width = layer.output_len();
                if l == last {
                    let dst = out.as_mut().submatrix_mut(start, 0, rows, width);
                    layer.stage_into(g.as_ref(), f_bias, rail, fin, &mut stages[l], dst);
                } else {
                    let mut dst = f.as_mut().submatrix_mut(0, 0, rows, width);
                    layer.stage_into(g.as_ref(), f_bias, rail, fin, &mut stages[l], dst.as_mut());
                    let mut next = cur.as_mut().submatrix_mut(0, 0, rows, width);
                    for j in 0..width {
                        let src = dst.as_ref();
                        for (d, v) in next.as_mut().col_mut(j).iter_mut().zip(src.col(j).iter()) {
                            *d = device.read_transfer(*v);
                        }
                    }
                }
            }
            start += rows;
        }
        out.as_ref()
    }
}

/// One layer's work after its matrix product: bias row, comparator, rectifier/rails and the
/// next layer's read transfer, column by column, with the same operations in the same order
/// as [`currents`] + [`periphery`] + [`AnalogNetwork::transfer`] (so the same bits).
///
/// Written as plain loops without branches or calls in the common path: the read law is
/// resolved once per layer (not matched per element), and the sinh series runs over every
/// entry before the rare `|x| > 0.5` entries are redone with the exponential. On the 2-core
/// AVX2 development machine this took the default sweep from 56 to 49 ms of one-thread CPU
/// (`xbar bench --threads 1`, medians of 5 alternating runs). The same loops compiled for AVX2
/// through pulp's dispatch (faer's SIMD layer) were slower there (73 ms) and are not used.
struct Epilogue<'a> {
    /// The product on entry, the layer's output voltages on return (`n x cols`).
    out: MatMut<'a, f64>,
    /// The next layer's read transfers of `out` (`None` for the last layer).
    next: Option<MatMut<'a, f64>>,
    /// The bias row of the conductances.
    bias: RowRef<'a, f64>,
    f_bias: f64,
    r_load: f64,
    lo: f64,
    hi: f64,
    /// `Some(V0)` for sinh reads, `None` for linear ones.
    read: Option<f64>,
}

impl Epilogue<'_> {
    /// Does the work in place.
    #[inline]
    fn run(self) {
        let Epilogue {
            mut out,
            mut next,
            bias,
            f_bias,
            r_load,
            lo,
            hi,
            read,
        } = self;
        for j in 0..out.ncols() {
            let b = f_bias * bias[j];
            let o = out
                .as_mut()
                .col_mut(j)
                .try_as_col_major_mut()
                .expect("contiguous")
                .as_slice_mut();
            for x in o.iter_mut() {
                *x = ((*x + b) * r_load).max(lo).min(hi);
            }
            let Some(next) = next.as_mut() else { continue };
            let d = next
                .as_mut()
                .col_mut(j)
                .try_as_col_major_mut()
                .expect("contiguous")
                .as_slice_mut();
            match read {
                None => d.copy_from_slice(o),
                Some(v0) => {
                    for (d, s) in d.iter_mut().zip(o.iter()) {
                        *d = v0 * sinh_series(*s / v0);
                    }
                    for (d, s) in d.iter_mut().zip(o.iter()) {
                        let x = *s / v0;
                        if x.abs() > SINH_SERIES_MAX {
                            *d = v0 * sinh(x);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use faer::Mat;
    use rand::SeedableRng;
    use xbar_device::{DeviceParams, IvModel, Variability};

    use super::*;
    use crate::{CircuitConfig, RLoad, SoftLayer, currents, periphery};
    use xbar_nn::Dense;
    use xbar_nn::graph::{Conv2d, Layer, Network, Pool, Shape};

    /// A small conv net: conv 2->3 (3x3, pad 1), ReLU, 2x2 max pool, conv 3->2 (2x2, stride
    /// 2), ReLU, global average pool, dense 2->4.
    fn conv_net() -> Network {
        let val = |i: usize| ((i * 7919 + 13) % 101) as f64 / 50.0 - 1.0;
        let c1: Vec<f64> = (0..3 * 2 * 9).map(val).collect();
        let c2: Vec<f64> = (0..2 * 3 * 4).map(|i| val(i + 500)).collect();
        Network {
            input: Shape::Image {
                channels: 2,
                height: 6,
                width: 5,
            },
            layers: vec![
                Layer::Conv2d(
                    Conv2d::from_mckk(&c1, 3, 2, [3, 3], vec![0.1, -0.2, 0.05], [1, 1], [1; 4])
                        .unwrap(),
                ),
                Layer::Relu,
                Layer::MaxPool(Pool {
                    kernel: [2, 2],
                    stride: [2, 2],
                    pads: [0; 4],
                }),
                Layer::Conv2d(
                    Conv2d::from_mckk(&c2, 2, 3, [2, 2], vec![0.0, 0.1], [1, 1], [0; 4]).unwrap(),
                ),
                Layer::Relu,
                Layer::GlobalAvgPool,
                Layer::Flatten,
                Layer::Dense(Dense {
                    w: Mat::from_fn(2, 4, |i, j| val(i * 4 + j + 900)),
                    b: vec![0.0, 0.1, -0.1, 0.2],
                }),
            ],
            softmax_output: false,
        }
    }

    /// Pooling before the first array has no circuit: refused by the same function that
    /// programming uses (so a configuration check sees it), naming the layer.
    #[test]
    fn pooling_before_any_array_is_refused() {
        let mut net = conv_net();
        net.input = Shape::Image {
            channels: 2,
            height: 12,
            width: 10,
        };
        net.layers.insert(
            0,
            Layer::MaxPool(Pool {
                kernel: [2, 2],
                stride: [2, 2],
                pads: [0; 4],
            }),
        );
        let e = crate::array_stages(&net).unwrap_err().to_string();
        assert!(e.contains("layer 0 (max-pool)"), "{e}");
        let stages = crate::array_stages(&conv_net()).unwrap();
        assert_eq!(
            stages
                .iter()
                .map(|s| (s.layer, s.rectify, s.post.len()))
                .collect::<Vec<_>>(),
            [(0, true, 1), (3, true, 1), (7, false, 0)]
        );
    }

    /// Convolutions and pooling: with linear cells and unity gains the circuit gives
    /// `v_in_max` times the software logits; the chunked evaluator gives the network's own
    /// forward pass bit for bit, healthy and with a changed array (checked against a copy of
    /// the network holding those conductances); chunks do not change the bits.
    #[test]
    fn convolutions_map_onto_arrays_and_the_chunked_evaluator_matches_forward() {
        let soft = conv_net();
        let x = Mat::from_fn(300, 60, |i, j| ((i * 13 + j * 7) % 17) as f64 / 16.0);
        let logits = soft.forward(x.as_ref()).unwrap();
        for iv in [IvModel::Linear, IvModel::Sinh] {
            let device = DeviceParams {
                iv,
                ..DeviceParams::default()
            };
            let circuit = CircuitConfig {
                r_load: if iv == IvModel::Linear {
                    RLoad::Unity
                } else {
                    RLoad::Calibrated
                },
                ..CircuitConfig::default()
            };
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            let net = AnalogNetwork::program_graph(
                device,
                &soft,
                &circuit,
                Some(x.as_ref()),
                &Variability::default(),
                &mut rng,
            )
            .unwrap();
            assert_eq!(net.array_shapes(), [(19, 3), (13, 2), (3, 4)]);
            assert!(net.layers[0].rectify && net.layers[1].rectify && !net.layers[2].rectify);
            assert_eq!(net.layers[0].post.len(), 1);
            let v_in = net.input_voltages(x.as_ref());
            let healthy = net.forward(v_in.as_ref());
            if iv == IvModel::Linear {
                for i in 0..300 {
                    for j in 0..4 {
                        let want = 0.1 * logits[(i, j)];
                        assert!((healthy[(i, j)] - want).abs() < 1e-12, "{i} {j}");
                    }
                }
            }
            let eval = Evaluator::new(&net, v_in.as_ref());
            assert!(eval.h.chunk.is_some());
            let mut ws = eval.workspace();
            assert_eq!(eval.run(&[None, None, None], &mut ws).to_owned(), healthy);
            // Chunks of 7 images (the last one short) give the same bits.
            let mut small = eval.clone();
            small.h.to_mut().chunk = Some(7);
            let mut ws7 = small.workspace();
            assert_eq!(small.run(&[None, None, None], &mut ws7).to_owned(), healthy);
            for l in 0..3 {
                let mut g = eval.healthy_gdiff()[l].clone();
                g[(1, 0)] = 0.0;
                g[(0, 1)] *= -2.0;
                let mut gd = vec![None; 3];
                gd[l] = Some(g.clone());
                let got = eval.run(&gd, &mut ws).to_owned();
                let mut copy = net.clone();
                let gp = copy.layers[l].g_plus.clone();
                copy.layers[l].g_minus =
                    Mat::from_fn(g.nrows(), g.ncols(), |i, j| gp[(i, j)] - g[(i, j)]);
                let want = copy.forward(v_in.as_ref());
                assert_ne!(want, healthy, "{iv:?} layer {l}: the change should matter");
                for i in 0..300 {
                    for j in 0..4 {
                        let (a, b) = (got[(i, j)], want[(i, j)]);
                        assert!(
                            (a - b).abs() <= 1e-15 * b.abs().max(1e-3),
                            "{iv:?} layer {l}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    /// The epilogue against the reference currents + periphery + transfer, bit for bit, for both read
    /// laws, with hidden voltages on both sides of the sinh series' range (|V/V0| up to ~2).
    #[test]
    fn the_fused_epilogue_gives_the_reference_bits() {
        let w0 = Mat::from_fn(6, 5, |i, j| ((i * 5 + j) % 7) as f64 / 3.5 - 1.0);
        let w1 = Mat::from_fn(5, 3, |i, j| ((i + 2 * j) % 5) as f64 / 2.5 - 1.0);
        let (b0, b1) = ([0.1, -0.2, 0.3, 0.0, -0.1], [0.05, -0.05, 0.0]);
        let layers = [
            SoftLayer {
                w: w0.as_ref(),
                b: &b0,
            },
            SoftLayer {
                w: w1.as_ref(),
                b: &b1,
            },
        ];
        let x = Mat::from_fn(37, 6, |i, j| ((i * 3 + j * 7) % 11) as f64 / 10.0);
        for iv in [IvModel::Sinh, IvModel::Linear] {
            for r in [1.0, 2e5] {
                let circuit = CircuitConfig {
                    r_load: RLoad::Ohms(vec![r, r]),
                    ..CircuitConfig::default()
                };
                let device = DeviceParams {
                    iv,
                    ..DeviceParams::default()
                };
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
                let net = AnalogNetwork::program(
                    device,
                    &layers,
                    &circuit,
                    None,
                    &Variability::default(),
                    &mut rng,
                )
                .unwrap();
                let v_in = net.input_voltages(x.as_ref());
                let hidden = &net.forward_all(v_in.as_ref())[0];
                let big = (0..hidden.nrows())
                    .any(|i| (0..hidden.ncols()).any(|j| hidden[(i, j)].abs() > 0.5 * device.v0));
                assert_eq!(
                    big,
                    r > 1e4,
                    "{iv:?} r = {r}: test voltages not where intended"
                );
                let eval = Evaluator::new(&net, v_in.as_ref());
                let mut ws = eval.workspace();
                // Layer 0 faulty (a changed copy) so every layer runs through the epilogue.
                let mut g0 = eval.healthy_gdiff()[0].clone();
                g0[(0, 0)] *= 0.5;
                let got = eval.run(&[Some(g0.clone()), None], &mut ws).to_owned();
                let want = {
                    let f = net.transfer(v_in.as_ref());
                    let mut v = Mat::<f64>::zeros(37, 5);
                    currents(f.as_ref(), g0.as_ref(), net.bias_transfer(), v.as_mut());
                    periphery(
                        v.as_mut(),
                        net.layers[0].r_load,
                        net.layers[0].rectify,
                        None,
                    );
                    let f = net.transfer(v.as_ref());
                    let mut o = Mat::<f64>::zeros(37, 3);
                    let g1 = net.layers[1].healthy_gdiff();
                    currents(f.as_ref(), g1.as_ref(), net.bias_transfer(), o.as_mut());
                    periphery(
                        o.as_mut(),
                        net.layers[1].r_load,
                        net.layers[1].rectify,
                        None,
                    );
                    o
                };
                assert_eq!(got, want, "{iv:?} r = {r}");
            }
        }
    }
}
