//! The on-disk training cache.

use std::fs;

use xbar_nn::cache::cache_path;
use xbar_nn::{Dataset, Mlp, TrainConfig, cache_key, digits, train, train_cached};

fn small_setup() -> (TrainConfig, Dataset) {
    let data = digits().unwrap().select(&(0..300).collect::<Vec<u32>>());
    let cfg = TrainConfig {
        hidden: vec![10],
        epochs: 2,
        ..TrainConfig::digits_default()
    };
    (cfg, data)
}

#[test]
fn second_call_comes_from_cache_with_identical_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, data) = small_setup();
    let (first, cached) = train_cached(&cfg, &data, Some(dir.path())).unwrap();
    assert!(!cached);
    let path = cache_path(dir.path(), &cache_key(&cfg, &data));
    assert!(path.is_file());
    let (second, cached) = train_cached(&cfg, &data, Some(dir.path())).unwrap();
    assert!(cached);
    assert_eq!(second, first);
    assert_eq!(second.final_loss.to_bits(), first.final_loss.to_bits());
    assert_eq!(first, train(&cfg, &data).unwrap());
    // Only the cache file is left (no temporary files).
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn corrupt_or_mismatched_cache_file_is_retrained_and_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, data) = small_setup();
    let path = cache_path(dir.path(), &cache_key(&cfg, &data));
    let (reference, _) = train_cached(&cfg, &data, Some(dir.path())).unwrap();
    let good = fs::read_to_string(&path).unwrap();

    let other_net = Mlp::new_he(&[64, 3, 10], 1).to_json();
    for corrupt in [
        "",
        "{",
        "not json at all",
        &good[..good.len() / 2],
        &other_net,
    ] {
        fs::write(&path, corrupt).unwrap();
        let (report, cached) = train_cached(&cfg, &data, Some(dir.path())).unwrap();
        assert!(
            !cached,
            "corrupt content {:?} was accepted",
            &corrupt[..corrupt.len().min(20)]
        );
        assert_eq!(report, reference);
        assert_eq!(fs::read_to_string(&path).unwrap(), good);
    }
    // A well-formed file under the wrong key is not trusted either.
    let other_cfg = TrainConfig {
        seed: 42,
        ..cfg.clone()
    };
    fs::write(&path, &good).unwrap();
    fs::copy(&path, cache_path(dir.path(), &cache_key(&other_cfg, &data))).unwrap();
    let (_, cached) = train_cached(&other_cfg, &data, Some(dir.path())).unwrap();
    assert!(!cached);
}

#[test]
fn no_cache_dir_means_plain_training_and_missing_dir_is_created() {
    let (cfg, data) = small_setup();
    let (report, cached) = train_cached(&cfg, &data, None).unwrap();
    assert!(!cached);
    assert_eq!(report, train(&cfg, &data).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a").join("b");
    let (_, cached) = train_cached(&cfg, &data, Some(&nested)).unwrap();
    assert!(!cached);
    assert!(train_cached(&cfg, &data, Some(&nested)).unwrap().1);
}

#[test]
fn invalid_config_is_an_error_not_a_cache_miss() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, data) = small_setup();
    let bad = TrainConfig { epochs: 0, ..cfg };
    assert!(train_cached(&bad, &data, Some(dir.path())).is_err());
}

#[test]
fn cache_key_covers_every_input() {
    let (cfg, data) = small_setup();
    let key = cache_key(&cfg, &data);
    assert_eq!(key.len(), 16);
    assert!(
        key.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(key, cache_key(&cfg.clone(), &data.clone()));
    let variants = [
        TrainConfig {
            hidden: vec![10, 1],
            ..cfg.clone()
        },
        TrainConfig {
            hidden: vec![11],
            ..cfg.clone()
        },
        TrainConfig {
            epochs: 3,
            ..cfg.clone()
        },
        TrainConfig {
            batch_size: 33,
            ..cfg.clone()
        },
        TrainConfig {
            learning_rate: 1e-3,
            ..cfg.clone()
        },
        TrainConfig {
            beta1: 0.8,
            ..cfg.clone()
        },
        TrainConfig {
            beta2: 0.99,
            ..cfg.clone()
        },
        TrainConfig {
            epsilon: 1e-7,
            ..cfg.clone()
        },
        TrainConfig {
            l2: 0.0,
            ..cfg.clone()
        },
        TrainConfig {
            seed: 1,
            ..cfg.clone()
        },
    ];
    let mut keys: Vec<String> = variants.iter().map(|c| cache_key(c, &data)).collect();
    keys.push(key.clone());
    let mut other = data.clone();
    other.y[0] = (other.y[0] + 1) % 10;
    keys.push(cache_key(&cfg, &other));
    let mut wider = data.clone();
    wider.n_classes = 11;
    keys.push(cache_key(&cfg, &wider));
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "two different inputs share a key");
}

#[test]
fn an_edited_weight_fails_the_checksum_and_is_retrained() {
    use xbar_nn::{CacheStatus, train_cached_status};
    let dir = tempfile::tempdir().unwrap();
    let (cfg, data) = small_setup();
    let path = cache_path(dir.path(), &cache_key(&cfg, &data));
    let (reference, status) = train_cached_status(&cfg, &data, Some(dir.path())).unwrap();
    assert_eq!(status, CacheStatus::Trained);
    let good = fs::read_to_string(&path).unwrap();
    // One digit of one weight changed: still valid JSON of the right shape.
    let at = good.find("\"w\"").expect("weights in the file");
    let digit = good[at..]
        .char_indices()
        .find(|(_, c)| ('1'..='8').contains(c))
        .map(|(i, _)| at + i)
        .unwrap();
    let mut edited = good.clone().into_bytes();
    edited[digit] += 1;
    fs::write(&path, &edited).unwrap();
    let (report, status) = train_cached_status(&cfg, &data, Some(dir.path())).unwrap();
    match status {
        CacheStatus::Replaced { reason, .. } => assert!(reason.contains("checksum"), "{reason}"),
        other => panic!("an edited entry was {other:?}"),
    }
    assert_eq!(report, reference, "retrained, not read");
    assert_eq!(fs::read_to_string(&path).unwrap(), good, "and replaced");
    assert_eq!(
        train_cached_status(&cfg, &data, Some(dir.path()))
            .unwrap()
            .1,
        CacheStatus::Cached
    );
}
