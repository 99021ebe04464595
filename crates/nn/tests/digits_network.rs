//! The default software network of the digits study and training determinism.

use xbar_nn::{
    DIGITS_SPLIT_SEED, DIGITS_TEST_SIZE, Dataset, Mlp, TrainConfig, TrainReport, digits,
    stratified_split, train,
};

fn default_sets() -> (Dataset, Dataset) {
    let data = digits().unwrap();
    let split = stratified_split(&data.y, DIGITS_TEST_SIZE, DIGITS_SPLIT_SEED).unwrap();
    data.split(&split)
}

fn weight_bits(mlp: &Mlp) -> Vec<u64> {
    let mut bits = Vec::new();
    for l in &mlp.layers {
        for i in 0..l.inputs() {
            for j in 0..l.outputs() {
                bits.push(l.w[(i, j)].to_bits());
            }
        }
        bits.extend(l.b.iter().map(|b| b.to_bits()));
    }
    bits
}

fn assert_identical(a: &TrainReport, b: &TrainReport) {
    assert_eq!(a.final_loss.to_bits(), b.final_loss.to_bits());
    assert_eq!(a.epochs, b.epochs);
    assert_eq!(weight_bits(&a.mlp), weight_bits(&b.mlp));
}

#[test]
fn default_network_reaches_96_percent_deterministically() {
    let (train_set, test_set) = default_sets();
    assert_eq!((train_set.len(), test_set.len()), (1617, 180));
    let cfg = TrainConfig::digits_default();
    assert_eq!(cfg.hidden, [50, 20, 8]);
    let first = train(&cfg, &train_set).unwrap();
    assert_eq!(first.mlp.sizes(), [64, 50, 20, 8, 10]);
    assert_eq!(first.mlp.param_count(), 4528);
    let acc = first.mlp.accuracy(&test_set);
    assert!(acc >= 0.96, "test accuracy {acc} < 0.96");
    // The documented number: 176 of 180.
    assert_eq!((acc * 180.0).round(), 176.0);
    assert!(first.mlp.accuracy(&train_set) > 0.99);
    assert!(
        first.final_loss.is_finite() && first.final_loss < 0.1,
        "{}",
        first.final_loss
    );

    let second = train(&cfg, &train_set).unwrap();
    assert_identical(&first, &second);
}

#[test]
fn training_is_identical_across_threads() {
    let (train_set, _) = default_sets();
    let cfg = TrainConfig {
        hidden: vec![12],
        epochs: 3,
        ..TrainConfig::digits_default()
    };
    let reference = train(&cfg, &train_set).unwrap();
    let others: Vec<TrainReport> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| train(&cfg, &train_set).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for other in &others {
        assert_identical(&reference, other);
    }
}

#[test]
fn predictions_use_the_shared_argmax() {
    let (train_set, test_set) = default_sets();
    let cfg = TrainConfig {
        hidden: vec![8],
        epochs: 2,
        ..TrainConfig::digits_default()
    };
    let mlp = train(&cfg, &train_set).unwrap().mlp;
    let logits = mlp.forward(test_set.x.as_ref());
    assert_eq!(
        mlp.predict(test_set.x.as_ref()),
        xbar_nn::argmax_rows(logits.as_ref())
    );
    let layers = mlp.forward_layers(test_set.x.as_ref());
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[1], logits);
    assert!((0..8).all(|j| (0..180).all(|i| layers[0][(i, j)] >= 0.0)));
}
