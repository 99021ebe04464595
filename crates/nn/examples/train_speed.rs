//! Times `train` on the digits network (7 runs, median and minimum) and, given a directory
//! written by `xbar bench corrector --export DIR`, on the corrector benchmark's data
//! (standardised like `xbar_correct`, batch 200, Adam 1e-3, L2 1e-4).
//!
//! ```sh
//! cargo run --release -p xbar-nn --example train_speed -- [DIR [EPOCHS]]
//! ```
//!
//! Environment: `SKIP_DIGITS=1` times only the corrector, `REPS=n` repeats it `n` times
//! (default 3), `HIDDEN=32,64` changes its hidden widths (default `10,10`).
#![allow(clippy::print_stdout)]

use std::time::Instant;

use faer::Mat;
use xbar_nn::{
    DIGITS_SPLIT_SEED, DIGITS_TEST_SIZE, Dataset, TrainConfig, digits, stratified_split, train,
};

fn read_csv(path: &str) -> (Vec<Vec<f64>>, Vec<u8>) {
    let text = std::fs::read_to_string(path).expect("readable CSV");
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut v: Vec<f64> = line
            .split(',')
            .map(|s| s.parse().expect("number"))
            .collect();
        let y = v.pop().expect("label");
        labels.push(y as u8);
        rows.push(v);
    }
    (rows, labels)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time_digits() {
    let data = digits().expect("embedded digits");
    let split = stratified_split(&data.y, DIGITS_TEST_SIZE, DIGITS_SPLIT_SEED).expect("split");
    let (tr, te) = data.split(&split);
    let cfg = TrainConfig::digits_default();
    let mut times = Vec::new();
    let mut acc = 0.0;
    for _ in 0..7 {
        let t = Instant::now();
        let r = train(&cfg, &tr).expect("training");
        times.push(t.elapsed().as_secs_f64());
        acc = r.mlp.accuracy(&te);
    }
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "digits 64-50-20-8-10, 80 epochs: median {:.1} ms (min {:.1}), test {:.2} % ({}/180)",
        1e3 * median(times),
        1e3 * min,
        100.0 * acc,
        (acc * 180.0).round()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os("SKIP_DIGITS").is_none() {
        time_digits();
    }
    let Some(dir) = args.first() else { return };
    let epochs: u32 = args.get(1).map_or(30, |e| e.parse().expect("epochs"));
    let (xtr, ytr) = read_csv(&format!("{dir}/train.csv"));
    let (xte, yte) = read_csv(&format!("{dir}/test.csv"));
    let d = xtr[0].len();
    let n = xtr.len() as f64;
    let mean: Vec<f64> = (0..d)
        .map(|j| xtr.iter().map(|r| r[j]).sum::<f64>() / n)
        .collect();
    let std: Vec<f64> = (0..d)
        .map(|j| {
            let var = xtr.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n;
            if var > 0.0 { var.sqrt() } else { 1.0 }
        })
        .collect();
    let to_set = |x: &[Vec<f64>], y: &[u8]| {
        let m = Mat::from_fn(x.len(), d, |i, j| (x[i][j] - mean[j]) / std[j]);
        Dataset::new(m, y.to_vec(), 10).expect("dataset")
    };
    let (tr, te) = (to_set(&xtr, &ytr), to_set(&xte, &yte));
    let cfg = TrainConfig {
        hidden: std::env::var("HIDDEN").map_or(vec![10, 10], |h| {
            h.split(',').map(|v| v.parse().expect("width")).collect()
        }),
        epochs,
        batch_size: 200,
        learning_rate: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        l2: 1e-4,
        seed: 0,
    };
    let reps: usize = std::env::var("REPS").map_or(3, |v| v.parse().expect("REPS"));
    for _ in 0..reps {
        let t = Instant::now();
        let r = train(&cfg, &tr).expect("training");
        let s = t.elapsed().as_secs_f64();
        println!(
            "corrector hidden {:?}, {} samples, {epochs} epochs: {:.3} s, loss {:.5}, test {:.2} %",
            cfg.hidden,
            tr.len(),
            s,
            r.final_loss,
            100.0 * r.mlp.accuracy(&te)
        );
    }
}
