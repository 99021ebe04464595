//! Dense multi-layer perceptrons for xbar: forward pass, backpropagation, Adam, and the
//! embedded UCI 8x8 handwritten digits.
//!
//! The crate trains the software network that is later mapped onto analog crossbar arrays
//! (by default 64-50-20-8-10 on the digits), and the small "corrector" networks that read a
//! faulty circuit's output voltages.
//!
//! # Model
//!
//! A batch is a matrix `X` with one sample per row. Layer `k` computes
//!
//! ```text
//! Z_k = A_{k-1} W_k + 1 b_k^T        (A_0 = X, W_k is inputs x outputs)
//! A_k = max(Z_k, 0)                  hidden layers (ReLU)
//! A_L = Z_L                          last layer: raw logits
//! ```
//!
//! Prediction is the row-wise argmax of the logits ([`argmax_rows`]: ties go to the lowest
//! index, NaN never wins). Training minimises, per mini-batch `B`,
//!
//! ```text
//! loss = (1/|B|) sum_i [ log sum_c exp(z_ic) - z_{i,y_i} ] + (l2/2) sum_k ||W_k||_F^2
//! ```
//!
//! with gradients `dZ_L = (softmax(Z_L) - onehot(y)) / |B|`, `dW_k = A_{k-1}^T dZ_k + l2 W_k`,
//! `db_k = 1^T dZ_k`, `dZ_{k-1} = (dZ_k W_k^T) * [A_{k-1} > 0]`, and Adam
//! (`m = b1 m + (1-b1) g`, `v = b2 v + (1-b2) g^2`,
//! `p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)`).
//!
//! # Determinism
//!
//! Initialisation, shuffles and splits draw from ChaCha8 streams derived from explicit seeds,
//! and training runs sequentially (faer products with `faer::Par::Seq`), so it gives
//! bit-identical weights on every run and for any thread count. The softmax uses the crate's
//! own `exp` (plain IEEE arithmetic), so the weights do not depend on the libm version either.
//! The promise is bit-identical results on the same machine and build: the crate's own kernels
//! (softmax, and layers at most 32 wide) give the same bits on every CPU, but faer picks its
//! SIMD kernels by CPU, so for networks with wider layers a different CPU may change the last
//! bits.
//!
//! # Performance
//!
//! [`train()`] allocates its buffers once (one mini-batch deep) and runs sequentially; run
//! independent trainings on different threads for parallelism. Narrow layers (like the
//! correctors') run on hand-written four-lane kernels compiled for AVX2 + FMA when the CPU has
//! them, wider ones on faer. Release-build timings on the development machine (2 shared cores,
//! AVX-512), with `examples/train_speed.rs`: the default digits network (1617 images, 80
//! epochs) in about 0.12 s; an MLP(10, 10) corrector on 103,950 samples with mini-batches of
//! 200 in about 13 ms per epoch, 13x faster than scikit-learn's `MLPClassifier` on the same
//! data (`scripts/bench-corrector.sh`).
//!
//! # Example
//!
//! ```
//! use xbar_nn::{TrainConfig, digits, stratified_split, train};
//!
//! let data = digits()?;
//! assert_eq!((data.len(), data.n_features(), data.n_classes), (1797, 64, 10));
//! let split = stratified_split(&data.y, 180, 0)?;
//! let (train_set, test_set) = data.split(&split);
//!
//! // A small, quick network (the study's default is `TrainConfig::digits_default()`).
//! let cfg = TrainConfig { hidden: vec![16], epochs: 5, ..TrainConfig::digits_default() };
//! let report = train(&cfg, &train_set)?;
//! assert_eq!(report.mlp.sizes(), [64, 16, 10]);
//! assert!(report.mlp.accuracy(&test_set) > 0.8);
//! # Ok::<(), xbar_nn::NnError>(())
//! ```

pub mod cache;
pub mod data;
pub mod error;
pub mod graph;
mod kernels;
pub mod mlp;
pub mod mnist;
mod rng;
pub mod split;
pub mod train;

pub use cache::{CacheStatus, cache_key, train_cached, train_cached_status, weights_sha256};
pub use data::{DIGITS_PIXEL_MAX, Dataset, digits, fnv1a64, parse_digits_csv, parse_digits_csv_gz};
pub use error::{NnError, Result};
pub use graph::{Layer, Network, Shape, Windows};
pub use mlp::{Dense, Mlp, argmax_rows};
pub use split::{DIGITS_SPLIT_SEED, DIGITS_TEST_SIZE, Split, stratified_split};
pub use train::{TrainConfig, TrainReport, train};
