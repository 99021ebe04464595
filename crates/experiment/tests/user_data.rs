//! `[dataset]` without a model file: xbar trains its MLP on the user's training samples and
//! evaluates the circuit on their test samples (no re-split).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use xbar_experiment::{Experiment, NoProgress, expand, prepare, run_scenarios};
use xbar_import::{NpyArray, NpyData, npz_bytes};

/// Four Gaussian classes in 20 features, scaled to [0, ~60] (so `input-max` matters).
fn blobs(n: usize, seed: u64) -> (Vec<f64>, Vec<i64>) {
    let mut centre = ChaCha8Rng::seed_from_u64(99);
    let centres: Vec<Vec<f64>> = (0..4)
        .map(|_| {
            (0..20)
                .map(|_| 10.0 + 40.0 * centre.random::<f64>())
                .collect()
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = i % 4;
        for m in &centres[c] {
            let noise: f64 = (0..4).map(|_| rng.random::<f64>() - 0.5).sum();
            x.push((m + 12.0 * noise).max(0.0));
        }
        y.push(c as i64);
    }
    (x, y)
}

fn write_data(dir: &std::path::Path, with_train: bool) -> std::path::PathBuf {
    let (xt, yt) = blobs(400, 1);
    let mut arrays = vec![
        NpyArray {
            name: "x_test".into(),
            shape: vec![400, 20],
            data: NpyData::F64(xt),
        },
        NpyArray {
            name: "y_test".into(),
            shape: vec![400],
            data: NpyData::I64(yt),
        },
    ];
    if with_train {
        let (x, y) = blobs(800, 2);
        arrays.push(NpyArray {
            name: "x_train".into(),
            shape: vec![800, 20],
            data: NpyData::F64(x),
        });
        arrays.push(NpyArray {
            name: "y_train".into(),
            shape: vec![800],
            data: NpyData::I64(y),
        });
    }
    let path = dir.join(if with_train {
        "data.npz"
    } else {
        "test-only.npz"
    });
    std::fs::write(&path, npz_bytes(&arrays).unwrap()).unwrap();
    path
}

fn text(data: &std::path::Path, extra: &str) -> String {
    format!(
        "name = \"user\"\n[network]\nhidden = [16]\nepochs = 30\n{extra}\n[dataset]\nnpz = {:?}\n\
         [[sweep]]\nshape = \"circle\"\nsizes = [0.45]\nlayers = [0]\n",
        data.display().to_string()
    )
}

#[test]
fn the_in_tool_mlp_trains_on_the_users_data_and_keeps_their_test_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), true);
    let exp = Experiment::from_toml_str(&text(&data, ""), "user.toml", None).unwrap();
    assert_eq!(exp.network.sizes, [20, 16, 4]);
    let u = exp.network.user_data.as_ref().unwrap();
    assert_eq!((u.data.train_samples, u.data.test_samples), (800, 400));
    assert_eq!(u.data.input_max_from, "train");
    // Features are divided by the training data's largest value: all in [0, 1].
    let c = &u.content;
    let max = c
        .train
        .x
        .col_iter()
        .flat_map(|c| c.iter().copied())
        .fold(0.0f64, f64::max);
    assert_eq!(max, 1.0);
    assert!(
        c.test
            .x
            .col_iter()
            .flat_map(|c| c.iter().copied())
            .all(|v| (0.0..=1.5).contains(&v))
    );

    let cache = tempfile::tempdir().unwrap();
    let prep = prepare(&exp, Some(cache.path()), &NoProgress).unwrap();
    // Every test sample is evaluated, nothing of the training set.
    assert_eq!(prep.data.len(), 400);
    let b = &prep.baseline;
    assert!(!b.weights_from_cache);
    assert!(b.software_test > 0.9, "software {}", b.software_test);
    assert_eq!(b.software_test, b.software_all);
    assert!(
        (b.analog_test - b.software_test).abs() < 0.05,
        "analog {} vs software {}",
        b.analog_test,
        b.software_test
    );
    let recs = run_scenarios(&prep, &expand(&exp), &NoProgress).unwrap();
    assert!(recs[0].accuracy < b.analog_all, "{recs:?}");
    // The second preparation loads the weights the first one cached.
    let again = prepare(&exp, Some(cache.path()), &NoProgress).unwrap();
    assert!(again.baseline.weights_from_cache);
    assert_eq!(again.baseline.weights_sha256, b.weights_sha256);
}

#[test]
fn user_data_problems_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), true);
    let invalid = |text: &str| match Experiment::from_toml_str(text, "bad.toml", None) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    };
    let test_only = write_data(dir.path(), false);
    let e = invalid(&text(&test_only, ""));
    assert!(
        e.contains("x_train") && e.contains("no training samples"),
        "{e}"
    );
    let e = invalid(&text(&data, "test-size = 50"));
    assert!(
        e.contains("network.test-size") && e.contains("no re-split"),
        "{e}"
    );
    let e = invalid(&format!("{}[correction]\n", text(&data, "")));
    assert!(
        e.contains("correction") && e.contains("in-tool digits MLP"),
        "{e}"
    );
}
