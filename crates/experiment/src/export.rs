//! `export = [...]`: the data another simulator needs to redo a run, as NumPy `.npz` files
//! (`numpy.load("exports/masks.npz")`). Everything is recomputed from the scenarios' own
//! streams, so an export is the same bytes for any thread count or resume.

use serde::Serialize;
use xbar_crossbar::AnalogNetwork;
use xbar_device::Stuck;
use xbar_import::{NpyArray, NpyData};

use crate::{ExperimentError, Prepared, Progress, Scenario, SweepStudy};

/// What a run can export.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Export {
    /// `conductances.npz`: the healthy programmed `G+` and `G-` of every array (`L<l>_g_plus`,
    /// `L<l>_g_minus`, in S, bias row last) and, with a `[chip]`, of every tile
    /// (`L<l>_r<row>c<col>_g_plus`, ...); `k_siemens` and `r_load_ohms` per layer.
    Conductances,
    /// `masks.npz`: every scenario's stuck devices, `s<n>_L<l>_plus` and `s<n>_L<l>_minus`
    /// (int8, the array's shape: 0 healthy, 1 stuck off, 2 stuck on).
    Masks,
    /// `predictions.npz`: every scenario's output voltages `s<n>_volts` (images x classes)
    /// and predictions `s<n>_pred`, with the healthy circuit's (`healthy_volts`,
    /// `healthy_pred`) and the labels.
    Predictions,
    /// `split.npz`: the image indices of the training and test sets and every label.
    Split,
}

impl Export {
    /// The file stem (`conductances`, `masks`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Export::Conductances => "conductances",
            Export::Masks => "masks",
            Export::Predictions => "predictions",
            Export::Split => "split",
        }
    }
}

fn matrix(name: String, m: faer::MatRef<'_, f64>) -> NpyArray {
    let (r, c) = (m.nrows(), m.ncols());
    let mut v = Vec::with_capacity(r * c);
    for i in 0..r {
        for j in 0..c {
            v.push(m[(i, j)]);
        }
    }
    NpyArray {
        name,
        shape: vec![r, c],
        data: NpyData::F64(v),
    }
}

fn ints(name: &str, v: impl Iterator<Item = i64>) -> NpyArray {
    let v: Vec<i64> = v.collect();
    NpyArray {
        name: name.into(),
        shape: vec![v.len()],
        data: NpyData::I64(v),
    }
}

fn conductances(prep: &Prepared, net: &AnalogNetwork) -> Vec<NpyArray> {
    let mut out = Vec::new();
    for (l, layer) in net.layers.iter().enumerate() {
        out.push(matrix(format!("L{l}_g_plus"), layer.g_plus.as_ref()));
        out.push(matrix(format!("L{l}_g_minus"), layer.g_minus.as_ref()));
        if let Some(fp) = &prep.floorplan {
            for t in fp.layer_tiles(l) {
                let stem = format!("L{l}_r{}c{}", t.grid_row, t.grid_col);
                for (side, g) in [("plus", &layer.g_plus), ("minus", &layer.g_minus)] {
                    let block = g.as_ref().submatrix(t.row0, t.col0, t.rows, t.cols);
                    out.push(matrix(format!("{stem}_g_{side}"), block));
                }
            }
        }
    }
    let per_layer = |name: &str, f: fn(&xbar_crossbar::ProgrammedLayer) -> f64| NpyArray {
        name: name.into(),
        shape: vec![net.layers.len()],
        data: NpyData::F64(net.layers.iter().map(f).collect()),
    };
    out.push(per_layer("k_siemens", |l| l.k));
    out.push(per_layer("r_load_ohms", |l| l.r_load));
    out
}

fn code(s: Option<Stuck>) -> i8 {
    match s {
        None => 0,
        Some(Stuck::Off) => 1,
        Some(Stuck::On) => 2,
    }
}

fn masks(sweep: &SweepStudy<'_>, scenarios: &[Scenario]) -> Result<Vec<NpyArray>, ExperimentError> {
    let mut out = Vec::new();
    for sc in scenarios {
        let d = sweep.draw(sc)?;
        let net = d.fresh.as_ref().unwrap_or(&sweep.prepared().net);
        for (l, f) in &d.faults {
            let (rows, cols) = (net.layers[*l].rows(), net.layers[*l].cols());
            let (mut plus, mut minus) = (vec![0i8; rows * cols], vec![0i8; rows * cols]);
            for c in &f.cells {
                let k = c.row as usize * cols + c.col as usize;
                plus[k] = code(c.plus);
                minus[k] = code(c.minus);
            }
            for (side, v) in [("plus", plus), ("minus", minus)] {
                out.push(NpyArray {
                    name: format!("s{}_L{l}_{side}", sc.index),
                    shape: vec![rows, cols],
                    data: NpyData::I8(v),
                });
            }
        }
    }
    Ok(out)
}

/// The arrays of every requested export, as `(file stem, arrays)`.
///
/// # Errors
/// Drawing or running a scenario failed.
pub fn exports(
    sweep: &SweepStudy<'_>,
    scenarios: &[Scenario],
    kinds: &[Export],
    progress: &dyn Progress,
) -> Result<Vec<(String, Vec<NpyArray>)>, ExperimentError> {
    let prep = sweep.prepared();
    let labels = || ints("labels", prep.data.y.iter().map(|&y| i64::from(y)));
    let mut files = Vec::new();
    for &k in kinds {
        let arrays = match k {
            Export::Conductances => conductances(prep, &prep.net),
            Export::Masks => masks(sweep, scenarios)?,
            Export::Split => vec![
                ints("train", prep.split.train.iter().map(|&i| i64::from(i))),
                ints("test", prep.split.test.iter().map(|&i| i64::from(i))),
                labels(),
            ],
            Export::Predictions => {
                let healthy = {
                    let eval = xbar_crossbar::Evaluator::with(&prep.net, &prep.healthy);
                    let mut ws = eval.workspace();
                    eval.run(&vec![None; prep.net.layers.len()], &mut ws)
                        .to_owned()
                };
                let mut v = vec![
                    labels(),
                    matrix("healthy_volts".into(), healthy.as_ref()),
                    ints(
                        "healthy_pred",
                        prep.healthy_pred.iter().map(|&p| i64::from(p)),
                    ),
                ];
                for (rec, volts) in sweep.outputs(progress)? {
                    let pred = xbar_nn::argmax_rows(volts.as_ref());
                    v.push(matrix(format!("s{}_volts", rec.scenario), volts.as_ref()));
                    v.push(ints(
                        &format!("s{}_pred", rec.scenario),
                        pred.into_iter().map(i64::from),
                    ));
                }
                v
            }
        };
        files.push((k.name().to_string(), arrays));
    }
    Ok(files)
}
