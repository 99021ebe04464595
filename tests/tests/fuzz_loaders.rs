#![allow(
    clippy::print_stderr,
    reason = "the fuzz test reports how many inputs it ran"
)]
//! Property-style fuzzing of every loader that reads user input: seeded mutations of valid
//! files (bit flips, byte insertions and deletions, truncation, duplicated and swapped lines,
//! spliced keys and values) plus random bytes. The property: a loader returns `Ok` or `Err`,
//! never panics. Seeds are fixed, so any failure reproduces; raise XBAR_FUZZ_CASES for a longer
//! run (the default keeps the test to a few seconds).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn cases() -> usize {
    std::env::var("XBAR_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

const SPLICES: &[&str] = &[
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "1e308",
    "-0.0",
    "\"\"",
    "[]",
    "[[]]",
    "{}",
    "true",
    "\"circle\"",
    "sizes = [",
    "layers = [99]",
    "[[sweep]]",
    "[device]",
    "[correction]",
    "card = \"x.toml\"",
    "=",
    "\u{0}",
    "é",
    "\"\\u0000\"",
    "18446744073709551616",
    "1,2,3",
    "\n",
    "#",
    "[circuit]\nr-load = [1.0]",
    "[wires]\nsegment-ohms = [0.0, 1.0]",
    "op-amp-gain = 1e4",
];

fn mutate(rng: &mut ChaCha8Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..rng.random_range(1..4u32) {
        let len = v.len().max(1);
        match rng.random_range(0..8u32) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] ^= 1 << rng.random_range(0..8u32);
            }
            1 => {
                let i = rng.random_range(0..=v.len());
                v.insert(i, rng.random::<u8>());
            }
            2 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                let j = (i + rng.random_range(1..40usize)).min(v.len());
                v.drain(i..j);
            }
            3 => v.truncate(rng.random_range(0..len)),
            4 | 5 => {
                let s = SPLICES[rng.random_range(0..SPLICES.len())].as_bytes();
                let i = rng.random_range(0..=v.len());
                v.splice(i..i, s.iter().copied());
            }
            6 => {
                let text = String::from_utf8_lossy(&v).into_owned();
                let mut lines: Vec<&str> = text.lines().collect();
                if lines.len() > 1 {
                    let (a, b) = (
                        rng.random_range(0..lines.len()),
                        rng.random_range(0..lines.len()),
                    );
                    lines.swap(a, b);
                    let dup = lines[rng.random_range(0..lines.len())];
                    lines.push(dup);
                }
                v = lines.join("\n").into_bytes();
            }
            _ => {
                let n = rng.random_range(0..64usize);
                v = (0..n).map(|_| rng.random::<u8>()).collect();
            }
        }
    }
    v
}

fn fuzz(name: &str, seed: u64, bases: &[&[u8]], mut f: impl FnMut(&[u8])) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = cases();
    for k in 0..n {
        let input = mutate(&mut rng, bases[k % bases.len()]);
        f(&input);
    }
    eprintln!("fuzz {name}: {n} inputs, no panic");
    n
}

#[test]
fn experiment_loader_never_panics() {
    let files: Vec<String> = [
        "sawal2025/layer-sensitivity.toml",
        "sawal2025/cross-defect.toml",
        "sawal2025/stuck-states.toml",
        "teaching/beyond-the-paper.toml",
        "fidelity/wire-resistance.toml",
        "fidelity/pair-vs-device.toml",
    ]
    .iter()
    .map(|f| {
        std::fs::read_to_string(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../experiments/").to_string() + f,
        )
        .unwrap()
    })
    .collect();
    let bases: Vec<&[u8]> = files.iter().map(|s| s.as_bytes()).collect();
    let base_dir = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../experiments/teaching"
    ));
    let mut valid = 0;
    fuzz("experiment TOML", 1, &bases, |b| {
        let text = String::from_utf8_lossy(b);
        if let Ok(exp) =
            xbar_experiment::Experiment::from_toml_str(&text, "fuzz.toml", Some(base_dir))
        {
            // Whatever validates must also expand, to the count it announced.
            assert_eq!(xbar_experiment::expand(&exp).len(), exp.scenario_count());
            valid += 1;
        }
    });
    eprintln!("  of which {valid} still validated");
}

#[test]
fn device_card_loader_never_panics() {
    let base = xbar_device::DEFAULT_CARD_TOML.as_bytes();
    fuzz(
        "device card",
        2,
        &[base, xbar_device::LINEAR_CARD_TOML.as_bytes()],
        |b| {
            let _ =
                xbar_device::DeviceCard::from_toml_str(&String::from_utf8_lossy(b), "fuzz.toml");
        },
    );
}

#[test]
fn dataset_and_mask_loaders_never_panic() {
    let digits_gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/nn/data/digits.csv.gz"
    ))
    .unwrap();
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&digits_gz[..]), &mut text)
        .unwrap();
    let head: Vec<u8> = text
        .split(|&c| c == b'\n')
        .take(40)
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect();
    fuzz("digits CSV", 3, &[&head], |b| {
        let _ = xbar_nn::parse_digits_csv(b);
    });
    fuzz("digits CSV.gz", 4, &[&digits_gz[..2000]], |b| {
        let _ = xbar_nn::parse_digits_csv_gz(b);
    });
    let mask = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../experiments/teaching/masks/wafer-spot.csv"
    ))
    .unwrap();
    fuzz("mask CSV", 5, &[&mask[..600], b"1,0\n0,1\n"], |b| {
        if let Ok(m) = xbar_crossbar::parse_mask_csv(&String::from_utf8_lossy(b), "fuzz.csv", true)
        {
            let shape = xbar_crossbar::Shape::File(std::sync::Arc::new(m));
            let _ = shape.mask(9, 10, &mut ChaCha8Rng::seed_from_u64(0));
        }
    });
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, 4, 3);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()
            .unwrap()
            .write_image_data(&[0, 255, 0, 255, 255, 0, 255, 0, 0, 0, 255, 255])
            .unwrap();
    }
    fuzz("mask PNG", 6, &[&png], |b| {
        let _ = xbar_crossbar::parse_mask_png(b, "fuzz.png", false);
    });
}
