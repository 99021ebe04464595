//! # xbar-ecc: error-detecting and -correcting codes on crossbar arrays
//!
//! Three families of codes for the analog layers of xbar (`DESIGN.md` section 3.5; the maths
//! is in `reference/ecc-math.md`, the results in `docs/ecc.md`):
//!
//! - [`rnecc`]: a **real-number code embedded in the weights** (Li, Cho, Jin, Xu, arXiv
//!   2602.00076). Type-1 constraints `<A_k, W_g> = 0` with Gaussian `A_k` per group of inputs,
//!   type-2 constraints `c^T W = 0`; trained weights are projected onto all of them with one
//!   thin QR per group and fine-tuned with projected steps; the online check is `c^T y = 0`
//!   with a threshold from the noise model ([`NoiseModel`]), the offline check the syndrome.
//!   No extra columns.
//! - [`abft`]: **checksum codes built from additions only** (Tao, Hartmann, Han, IEEE TPDS
//!   1996): check matrices with entries `0, ±1` of distance 3 (lengthened Hamming) and 4
//!   (SEC/DED) built by enumeration for any `k`, programmed as `r` extra columns; real-syndrome
//!   decoding with a noise threshold; the weighted checksums of Jou-Abraham and Luk-Park as
//!   baselines; the paper's Tables 2 and 3 and operation counts.
//! - [`an`]: **AN codes** (`x_c = A x`; the fast decoder of Kolditz et al., SIGMOD 2018): the
//!   classic and the improved (inverse, range test) decoders for 8- to 64-bit data, arithmetic
//!   inside the code, the super-A search, and [`an::array`]: integer weights times `A`
//!   programmed as conductance levels, bit-serial inputs, an ADC, residue checks and a residue
//!   correction table (Feinberg, Wang, Ipek, HPCA 2018).
//!
//! The detection protocol that runs every code on one faulty array (detection, correction,
//! miss and false-alarm rates) is a study, not a code: it lives in
//! `xbar_experiment::detection_protocol`.
//!
//! Determinism: every random draw comes from ChaCha8 streams of explicit seeds, every matrix
//! product and the QR run sequentially (`faer::Par::Seq`), and no kernel uses fused
//! multiply-add, so results are bit-identical for any thread count on one machine.
//!
//! # Example
//!
//! Code a layer, program it, and catch a stuck device with the online check `1^T y`:
//!
//! ```
//! use faer::Mat;
//! use rand::SeedableRng;
//! use xbar_crossbar::{AnalogNetwork, CellFault, CircuitConfig, LayerFaults, RLoad, SoftLayer, currents};
//! use xbar_device::{DeviceParams, Stuck, Variability};
//! use xbar_ecc::NoiseModel;
//! use xbar_ecc::rnecc::{CodeConfig, OutputCheck, Type2, WeightCode};
//!
//! // A 6-input, 4-output layer in array layout (bias row last), projected onto the code.
//! let cfg = CodeConfig { group_rows: 0, type1_per_group: 5, type2: Type2::AllOnes, seed: 7 };
//! let code = WeightCode::new(7, 4, &cfg)?;
//! let mut h = Mat::from_fn(7, 4, |i, j| ((3 * i + 5 * j) % 7) as f64 / 7.0 - 0.4);
//! code.project(h.as_mut());
//! assert!(code.max_relative_residual(h.as_ref()) < 1e-12);
//!
//! // Program it (ideal devices) and read it with 0.1 mV of noise in the threshold.
//! let (w, b) = (h.as_ref().subrows(0, 6).to_owned(), (0..4).map(|j| h[(6, j)]).collect::<Vec<_>>());
//! let circuit = CircuitConfig { r_load: RLoad::Unity, ..CircuitConfig::default() };
//! let device = DeviceParams::default();
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let net = AnalogNetwork::program(device, &[SoftLayer { w: w.as_ref(), b: &b }], &circuit,
//!     None, &Variability::default(), &mut rng)?;
//! let layer = &net.layers[0];
//! let noise = NoiseModel { sigma_read: 1e-4, ..NoiseModel::default() };
//! let check = OutputCheck::new(code.checks(), layer, &noise)?;
//!
//! let x = Mat::from_fn(3, 6, |i, j| ((i + j) % 3) as f64 / 2.0 + 0.1);
//! let f_in = net.transfer(net.input_voltages(x.as_ref()).as_ref());
//! let read = |g: &Mat<f64>| {
//!     let mut y = Mat::<f64>::zeros(3, 4);
//!     currents(f_in.as_ref(), g.as_ref(), net.bias_transfer(), y.as_mut());
//!     Mat::from_fn(3, 4, |i, j| y[(i, j)] * layer.r_load)
//! };
//! let clean = check.check(read(&layer.healthy_gdiff()).as_ref(), f_in.as_ref(), net.bias_transfer());
//! assert!(clean.flagged.iter().all(|f| !f));
//!
//! // One device stuck on: every input that drives its row is flagged.
//! let faults = LayerFaults { cells: vec![CellFault { row: 2, col: 1, plus: Some(Stuck::On), minus: None }] };
//! let bad = check.check(read(&layer.faulty_gdiff(&device, &faults)).as_ref(), f_in.as_ref(), net.bias_transfer());
//! assert!(bad.flagged.iter().all(|&f| f));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod abft;
pub mod an;
mod error;
mod noise;
pub mod rnecc;

pub use error::{EccError, Result, invalid};
pub use noise::NoiseModel;
