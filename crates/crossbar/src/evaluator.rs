//! The fast path for sweeps: one fixed input batch, many faulty variants of one network.

use faer::{Mat, MatRef};

use faer::{Accum, Par};

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
            // Bias row, comparator, rectifier/rails and the next layer's read transfer in one
            // pass: the same operations, in the same order, as `currents` + `periphery`.
            let hi = rail.unwrap_or(f64::INFINITY);
            let lo = if layer.rectify { 0.0 } else { -hi };
            let last = l + 1 == layers.len();
            for j in 0..cols {
                let b = f_bias * g[(n_in, j)];
                let o = &mut ws.out.col_as_slice_mut(j)[..n];
                for x in o.iter_mut() {
                    *x = ((*x + b) * layer.r_load).max(lo).min(hi);
                }
                if !last {
                    let src = &ws.out.col_as_slice(j)[..n];
                    let dst = &mut ws.f.col_as_slice_mut(j)[..n];
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d = device.read_transfer(*s);
                    }
                }
            }
        }
        ws.out.as_ref().subcols(0, layers[layers.len() - 1].cols())
    }
}
