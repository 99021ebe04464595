//! The fast path for sweeps: one fixed input batch, many faulty variants of one network.

use faer::{Accum, Mat, MatMut, MatRef, Par, RowRef};
use xbar_device::{IvModel, SINH_SERIES_MAX, sinh, sinh_series};

use crate::{AnalogNetwork, currents, periphery};

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
    /// `prefix[l]`: read transfers of the healthy inputs of layer `l` (`n x in_l`).
    prefix: Vec<Mat<f64>>,
    healthy: Vec<Mat<f64>>,
    n: usize,
}

/// Reusable buffers for [`Evaluator::run`]; one per thread.
#[derive(Clone, Debug)]
pub struct Workspace {
    out: Mat<f64>,
    f: Mat<f64>,
}

impl<'a> Evaluator<'a> {
    /// Precomputes the healthy read transfers of every layer's inputs for `v_in`.
    pub fn new(net: &'a AnalogNetwork, v_in: MatRef<'_, f64>) -> Evaluator<'a> {
        let healthy: Vec<Mat<f64>> = net.layers.iter().map(|l| l.healthy_gdiff()).collect();
        let mut prefix = Vec::with_capacity(net.layers.len());
        let mut f = net.transfer(v_in);
        for (l, layer) in net.layers.iter().enumerate() {
            let mut v = Mat::<f64>::zeros(v_in.nrows(), layer.cols());
            currents(
                f.as_ref(),
                healthy[l].as_ref(),
                net.bias_transfer(),
                v.as_mut(),
            );
            periphery(v.as_mut(), layer.r_load, layer.rectify, net.circuit.rail);
            let next = net.transfer(v.as_ref());
            prefix.push(f);
            f = next;
        }
        Evaluator {
            net,
            prefix,
            healthy,
            n: v_in.nrows(),
        }
    }

    /// Buffers sized for this network and batch.
    pub fn workspace(&self) -> Workspace {
        let w = self.net.layers.iter().map(|l| l.cols()).max().unwrap_or(0);
        Workspace {
            out: Mat::zeros(self.n, w),
            f: Mat::zeros(self.n, w),
        }
    }

    /// Number of images in the batch.
    pub fn batch_len(&self) -> usize {
        self.n
    }

    /// The healthy differential conductances, per layer.
    pub fn healthy_gdiff(&self) -> &[Mat<f64>] {
        &self.healthy
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
        let f_bias = self.net.bias_transfer();
        let rail = self.net.circuit.rail;
        let device = &self.net.device;
        let n = self.n;
        for (l, layer) in layers.iter().enumerate().skip(first) {
            let cols = layer.cols();
            let g = gdiff
                .get(l)
                .and_then(Option::as_ref)
                .unwrap_or(&self.healthy[l]);
            let n_in = g.nrows() - 1;
            let fin = if l == first {
                self.prefix[l].as_ref()
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
    use crate::{CircuitConfig, RLoad, SoftLayer};

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
