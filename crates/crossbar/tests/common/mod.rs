//! Helpers shared by the crossbar integration tests: random networks and inputs.

use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use xbar_crossbar::{AnalogNetwork, CircuitConfig, SoftLayer};
use xbar_device::{DeviceParams, IvModel, Variability};

/// A network of layer widths `sizes` with uniform random weights in [-1, 1) and small
/// biases, programmed with `circuit` and `variability` (gains calibrated on 40 random images
/// when `circuit` asks for it); everything is drawn from one ChaCha8 stream seeded by `seed`.
pub(crate) fn random_network(
    sizes: &[usize],
    iv: IvModel,
    circuit: &CircuitConfig,
    variability: &Variability,
    seed: u64,
) -> AnalogNetwork {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ws: Vec<Mat<f64>> = sizes
        .windows(2)
        .map(|s| Mat::from_fn(s[0], s[1], |_, _| rng.random::<f64>() * 2.0 - 1.0))
        .collect();
    let bs: Vec<Vec<f64>> = sizes[1..]
        .iter()
        .map(|&n| (0..n).map(|_| 0.2 * (rng.random::<f64>() - 0.4)).collect())
        .collect();
    let soft: Vec<SoftLayer<'_>> = ws
        .iter()
        .zip(&bs)
        .map(|(w, b)| SoftLayer { w: w.as_ref(), b })
        .collect();
    let calib = Mat::from_fn(40, sizes[0], |_, _| rng.random::<f64>());
    let device = DeviceParams {
        iv,
        ..DeviceParams::default()
    };
    AnalogNetwork::program(
        device,
        &soft,
        circuit,
        Some(calib.as_ref()),
        variability,
        &mut rng,
    )
    .expect("network")
}

/// `n x d` row voltages uniform in [0, 0.1) V.
pub(crate) fn inputs(n: usize, d: usize, seed: u64) -> Mat<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Mat::from_fn(n, d, |_, _| 0.1 * rng.random::<f64>())
}
