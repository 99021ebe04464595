//! The crossbar repair study (`[crossbar-repair]`): a real-number code on each scenario's
//! injected array, its stuck pairs repaired by L1 decoding (blind) or erasure decoding (the
//! defect map known).
//!
//! For every injected layer `l`, a copy of the trained network gets a code on layer `l`
//! (`[W; b]` in array layout, bias row last, groups of rows, `K` Gaussian checks and one
//! column-sum check per row of a group), projected fine-tuning, and its own programmed
//! circuit. A scenario draws its defect exactly as the sweep does (same stream, same mask,
//! same stuck devices) on the coded circuit. A faulty pair holds the effective weight
//! `(G+ - G-) / k` (divided by the bias factor on the bias row); minus the coded weight it is
//! the memory error `E` the code sees. The stuck cells cannot be re-written, so a repair is a
//! digital sparse term subtracted after the array, `y -= E_hat x`: the same as computing with
//! `W~ - E_hat`, which is how it is evaluated (the term acts on the inputs as the array reads
//! them, `f(V)`; with the linear card that is `x` itself).

use faer::Mat;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use xbar_correct::repair::{Decoder, Status, decode_with, erasure, trial_success};
use xbar_crossbar::{AnalogNetwork, Evaluator, FaultLevel, LayerFaults};
use xbar_ecc::rnecc::{CodeConfig, FinetuneConfig, Type2, WeightCode, finetune, project_layer};
use xbar_nn::{Mlp, argmax_rows};

use crate::runner::accuracy;
use crate::{
    CrossbarRepairSpec, ExperimentError, Prepared, Progress, Scenario, ScenarioRecord, Study,
    scenario_rng, soft_layers,
};

/// What coding one layer cost, before any defect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodedLayerInfo {
    /// The coded layer.
    pub layer: u32,
    /// Array rows (inputs + bias).
    pub rows: u32,
    /// Array columns.
    pub cols: u32,
    /// Code groups.
    pub groups: u32,
    /// Rows per group (the last may have fewer).
    pub group_rows: u32,
    /// Gaussian checks per group.
    pub type1_per_group: u32,
    /// All constraints of the layer.
    pub constraints: u32,
    /// Code rate (free weights / weights).
    pub rate: f64,
    /// `||H_coded - H|| / ||H||` right after projection.
    pub projection_change: f64,
    /// Software accuracy (test images) of the coded, fine-tuned network.
    pub software_test: f64,
    /// Healthy coded circuit, all images.
    pub analog_all: f64,
    /// Healthy coded circuit, test images.
    pub analog_test: f64,
}

/// A network with one coded layer, programmed.
pub struct CodedNetwork {
    /// Its code.
    pub code: WeightCode,
    /// `M_g` of every group.
    pub group_m: Vec<Mat<f64>>,
    /// The coded software network.
    pub mlp: Mlp,
    /// Its healthy circuit.
    pub net: AnalogNetwork,
    /// Summary numbers.
    pub info: CodedLayerInfo,
}

/// Codes, fine-tunes and programs one network per injected layer (in parallel).
pub fn prepare_crossbar_repair(
    prep: &Prepared,
    spec: &CrossbarRepairSpec,
    progress: &dyn Progress,
) -> Result<Vec<CodedNetwork>, ExperimentError> {
    let exp = &prep.exp;
    let train = prep.data.select(&prep.split.train);
    let test = prep.data.select(&prep.split.test);
    progress.begin("code", spec.codes.len() as u64);
    let out: Vec<Result<CodedNetwork, ExperimentError>> = spec
        .codes
        .par_iter()
        .map(|lc| {
            let ecc = |e: xbar_ecc::EccError| ExperimentError::Ecc(e.to_string());
            let code = WeightCode::new(
                lc.rows,
                lc.cols,
                &CodeConfig {
                    group_rows: lc.group_rows,
                    type1_per_group: lc.type1_per_group,
                    type2: Type2::AllOnes,
                    seed: exp.seed,
                },
            )
            .map_err(ecc)?;
            let mut mlp = prep.mlp().clone();
            let change = project_layer(&mut mlp, lc.layer, &code).map_err(ecc)?;
            if spec.finetune_epochs > 0 {
                let ft = FinetuneConfig {
                    epochs: spec.finetune_epochs,
                    seed: exp.seed,
                    ..FinetuneConfig::digits_default()
                };
                finetune(&mut mlp, lc.layer, &code, &train, &ft).map_err(ecc)?;
            }
            let mut rng = ChaCha8Rng::seed_from_u64(exp.seed);
            rng.set_stream(crate::fnv1a64(b"healthy-network"));
            let net = AnalogNetwork::program(
                exp.device.params,
                &soft_layers(&mlp),
                &exp.circuit,
                Some(train.x.as_ref()),
                &exp.variability,
                &mut rng,
            )?;
            let pred = argmax_rows(net.forward(prep.v_in.as_ref()).as_ref());
            let group_m = (0..code.groups())
                .map(|g| code.constraint_matrix(g))
                .collect();
            let info = CodedLayerInfo {
                layer: lc.layer as u32,
                rows: lc.rows as u32,
                cols: lc.cols as u32,
                groups: code.groups() as u32,
                group_rows: lc.group_rows as u32,
                type1_per_group: lc.type1_per_group as u32,
                constraints: code.constraint_count() as u32,
                rate: code.rate(),
                projection_change: change,
                software_test: mlp.accuracy(&test),
                analog_all: accuracy(&pred, &prep.data.y, None),
                analog_test: accuracy(&pred, &prep.data.y, Some((&prep.is_test, true))),
            };
            progress.advance(1);
            Ok(CodedNetwork {
                code,
                group_m,
                mlp,
                net,
                info,
            })
        })
        .collect();
    progress.end();
    out.into_iter().collect()
}

/// One row of `repair.csv`: a scenario on its coded array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepairRow {
    /// Scenario index (as in `results.csv`).
    pub scenario: u32,
    /// Sweep label (defect geometry).
    pub label: String,
    /// Size parameter.
    pub size: Option<f64>,
    /// The coded, injected layer.
    pub layer: u32,
    /// Stuck state.
    pub state: String,
    /// `pair` or `device`.
    pub level: String,
    /// Repetition.
    pub repeat: u32,
    /// Faulty pairs.
    pub defective_pairs: u32,
    /// Pairs of the array.
    pub array_pairs: u32,
    /// `defective_pairs / array_pairs`.
    pub coverage: f64,
    /// Faulty pairs whose effective weight differs from the coded weight.
    pub weight_errors: u32,
    /// Code groups of the array.
    pub groups: u32,
    /// Groups with at least one weight error.
    pub groups_with_errors: u32,
    /// The uncoded network's circuit under the same defect (from `results.csv`), all images.
    pub accuracy_uncoded_faulty: f64,
    /// The healthy coded circuit, all images.
    pub accuracy_healthy: f64,
    /// The faulty coded circuit, no repair, all images.
    pub accuracy_faulty: f64,
    /// Blind L1 repair (certified groups only), all images.
    pub accuracy_lp: f64,
    /// Erasure repair with the defect map known (certified groups only), all images.
    pub accuracy_erasure: f64,
    /// Groups the blind decoder certified (repaired).
    pub lp_recovered: u32,
    /// Groups with a best-effort, unapplied answer.
    pub lp_partial: u32,
    /// Groups the blind decoder gave up on.
    pub lp_uncorrectable: u32,
    /// Certified groups whose correction was nevertheless wrong.
    pub lp_miscorrected: u32,
    /// Certified by the single-error decoder.
    pub lp_single_error: u32,
    /// Certified by orthogonal matching pursuit.
    pub lp_omp: u32,
    /// Certified by the L1 homotopy.
    pub lp_homotopy: u32,
    /// Certified by Clarabel.
    pub lp_clarabel: u32,
    /// Weight errors left after the blind repair.
    pub lp_errors_left: u32,
    /// Groups the erasure decoder repaired.
    pub erasure_recovered: u32,
    /// Groups with an unapplied erasure answer.
    pub erasure_partial: u32,
    /// Groups beyond erasure decoding (more defects than checks, or dependent columns).
    pub erasure_uncorrectable: u32,
    /// Weight errors left after the erasure repair.
    pub erasure_errors_left: u32,
    /// The scenario's ChaCha stream id (hex).
    pub stream: String,
}

fn left(e: &[f64], fix: Option<&[f64]>) -> u32 {
    e.iter()
        .enumerate()
        .filter(|&(i, &v)| {
            let r = v - fix.map_or(0.0, |f| f[i]);
            r.abs() > 1e-6 * v.abs().max(1.0)
        })
        .count() as u32
}

/// The crossbar repair study as a [`Study`]: one job per scenario, run on the coded network
/// of its layer; rows come in scenario order and are identical for any thread count.
pub struct CrossbarRepairStudy<'a> {
    prep: &'a Prepared,
    spec: &'a CrossbarRepairSpec,
    coded: &'a [CodedNetwork],
    scenarios: &'a [Scenario],
    /// The uncoded faulty circuit's accuracy per scenario (`None`: not known, e.g. in a
    /// shard that did not run that sweep scenario; the job evaluates it).
    uncoded: Vec<Option<f64>>,
    evals: Vec<(Evaluator<'a>, Vec<u8>)>,
}

impl<'a> CrossbarRepairStudy<'a> {
    /// The study of `scenarios` (with the sweep's `records`, for the uncoded accuracy) on
    /// the coded networks from [`prepare_crossbar_repair`].
    pub fn new(
        prep: &'a Prepared,
        spec: &'a CrossbarRepairSpec,
        coded: &'a [CodedNetwork],
        scenarios: &'a [Scenario],
        records: &'a [ScenarioRecord],
    ) -> CrossbarRepairStudy<'a> {
        let by_index: std::collections::HashMap<u32, f64> =
            records.iter().map(|r| (r.scenario, r.accuracy)).collect();
        let uncoded = scenarios
            .iter()
            .map(|sc| by_index.get(&sc.index).copied())
            .collect();
        Self::with_uncoded(prep, spec, coded, scenarios, uncoded)
    }

    /// [`CrossbarRepairStudy::new`] with the sweep's records by scenario position, some
    /// missing (a sharded run): a job whose record is missing evaluates its scenario itself.
    pub fn with_partial(
        prep: &'a Prepared,
        spec: &'a CrossbarRepairSpec,
        coded: &'a [CodedNetwork],
        scenarios: &'a [Scenario],
        records: &[Option<ScenarioRecord>],
    ) -> CrossbarRepairStudy<'a> {
        let uncoded = records
            .iter()
            .map(|r| r.as_ref().map(|r| r.accuracy))
            .collect();
        Self::with_uncoded(prep, spec, coded, scenarios, uncoded)
    }

    fn with_uncoded(
        prep: &'a Prepared,
        spec: &'a CrossbarRepairSpec,
        coded: &'a [CodedNetwork],
        scenarios: &'a [Scenario],
        uncoded: Vec<Option<f64>>,
    ) -> CrossbarRepairStudy<'a> {
        let evals = coded
            .iter()
            .map(|c| {
                let e = Evaluator::new(&c.net, prep.v_in.as_ref());
                let mut ws = e.workspace();
                let n = c.net.layers.len();
                let pred = argmax_rows(e.run(&vec![None; n], &mut ws));
                (e, pred)
            })
            .collect();
        CrossbarRepairStudy {
            prep,
            spec,
            coded,
            scenarios,
            uncoded,
            evals,
        }
    }
}

impl Study for CrossbarRepairStudy<'_> {
    type Job = usize;
    type Output = RepairRow;
    type Scratch = ();

    fn name(&self) -> &'static str {
        "crossbar-repair"
    }
    fn jobs(&self) -> Vec<usize> {
        (0..self.scenarios.len()).collect()
    }
    fn key(&self, &i: &usize) -> u64 {
        self.scenarios[i].key()
    }
    fn class(&self, &i: &usize) -> u64 {
        u64::from(self.scenarios[i].sweep)
    }
    fn scratch(&self) {}
    fn run(&self, &i: &usize, _: &mut ()) -> Result<RepairRow, ExperimentError> {
        let (prep, spec, coded) = (self.prep, self.spec, self.coded);
        let uncoded = match self.uncoded.get(i).copied().flatten() {
            Some(a) => a,
            None => {
                let sweep = crate::SweepStudy::new(prep, self.scenarios);
                let mut ws = sweep.scratch();
                sweep.run(&i, &mut ws)?.accuracy
            }
        };
        let sc = &self.scenarios[i];
        let exp = &prep.exp;
        let evals = &self.evals;
        let (method, cfg) = spec.decoder.repair_config(spec.design_errors);
        let l = sc.layers[0];
        let ci = spec
            .codes
            .iter()
            .position(|c| c.layer == l)
            .ok_or_else(|| ExperimentError::Ecc(format!("layer {l} has no code")))?;
        let lc = &spec.codes[ci];
        let cn = &coded[ci];
        let (eval, healthy_pred) = &evals[ci];
        let net = &cn.net;
        let layer = &net.layers[l];
        let mut rng = scenario_rng(exp.seed, sc);
        let mask = sc.shape.mask(layer.rows(), layer.cols(), &mut rng)?;
        let faults = LayerFaults::from_mask(&mask, sc.state, sc.level, &mut rng);
        let gdiff_f = layer.faulty_gdiff(&net.device, &faults);
        let n_in = layer.rows() - 1;
        let bias_factor = layer.input_scale / net.circuit.v_bias;
        let f_row = |i: usize| if i < n_in { 1.0 } else { bias_factor };
        let healthy = &eval.healthy_gdiff()[l];
        let cols = layer.cols();
        // Per group: the memory errors (local index, value) and the defect map.
        let mut e_groups: Vec<Vec<f64>> = (0..lc.groups)
            .map(|g| vec![0.0; lc.rows_of(g) * cols])
            .collect();
        let mut known: Vec<Vec<usize>> = vec![Vec::new(); lc.groups];
        let mut weight_errors = 0u32;
        for c in &faults.cells {
            let (i, j) = (c.row as usize, c.col as usize);
            let g = i / lc.group_rows;
            let local = (i - g * lc.group_rows) * cols + j;
            // (G+ - G-)/k of the faulty pair minus that of the healthy pair, which holds the
            // coded weight (to the rounding of the mapping): exactly 0 when the stuck
            // device sits where it was programmed.
            let e = (gdiff_f[(i, j)] - healthy[(i, j)]) / (layer.k * f_row(i));
            e_groups[g][local] = e;
            known[g].push(local);
            weight_errors += u32::from(e != 0.0);
        }
        let mut row = RepairRow {
            scenario: sc.index,
            label: sc.label.clone(),
            size: sc.size,
            layer: l as u32,
            state: sc.state.label(),
            level: match sc.level {
                FaultLevel::Pair => "pair".into(),
                FaultLevel::Device => "device".into(),
            },
            repeat: sc.repeat,
            defective_pairs: faults.len() as u32,
            array_pairs: (layer.rows() * cols) as u32,
            coverage: faults.len() as f64 / (layer.rows() * cols) as f64,
            weight_errors,
            groups: lc.groups as u32,
            groups_with_errors: 0,
            accuracy_uncoded_faulty: uncoded,
            accuracy_healthy: accuracy(healthy_pred, &prep.data.y, None),
            accuracy_faulty: 0.0,
            accuracy_lp: 0.0,
            accuracy_erasure: 0.0,
            lp_recovered: 0,
            lp_partial: 0,
            lp_uncorrectable: 0,
            lp_miscorrected: 0,
            lp_single_error: 0,
            lp_omp: 0,
            lp_homotopy: 0,
            lp_clarabel: 0,
            lp_errors_left: 0,
            erasure_recovered: 0,
            erasure_partial: 0,
            erasure_uncorrectable: 0,
            erasure_errors_left: 0,
            stream: format!("{:016x}", sc.stream),
        };
        let mut g_lp = gdiff_f.clone();
        let mut g_er = gdiff_f.clone();
        for g in 0..lc.groups {
            let e = &e_groups[g];
            if e.iter().all(|&v| v == 0.0) {
                continue;
            }
            row.groups_with_errors += 1;
            let m = &cn.group_m[g];
            let mut sigma = vec![0.0; m.nrows()];
            for (local, &v) in e.iter().enumerate() {
                if v != 0.0 {
                    for (s, &a) in sigma.iter_mut().zip(m.col_as_slice(local)) {
                        *s += a * v;
                    }
                }
            }
            let apply = |target: &mut Mat<f64>, fix: &[f64]| {
                for (local, &v) in fix.iter().enumerate() {
                    if v != 0.0 {
                        let (i, j) = (g * lc.group_rows + local / cols, local % cols);
                        target[(i, j)] -= layer.k * f_row(i) * v;
                    }
                }
            };
            let d = decode_with(method, m.as_ref(), &sigma, &cfg)?;
            match d.status {
                Status::Recovered => {
                    row.lp_recovered += 1;
                    match d.decoder {
                        Decoder::SingleError => row.lp_single_error += 1,
                        Decoder::Omp => row.lp_omp += 1,
                        Decoder::Homotopy => row.lp_homotopy += 1,
                        Decoder::Clarabel => row.lp_clarabel += 1,
                        Decoder::Erasure => {}
                    }
                    if !trial_success(&d.e, e) {
                        row.lp_miscorrected += 1;
                    }
                }
                Status::Partial => row.lp_partial += 1,
                Status::Uncorrectable => row.lp_uncorrectable += 1,
            }
            if let Some(fix) = d.correction() {
                apply(&mut g_lp, fix);
            }
            row.lp_errors_left += left(e, d.correction());
            let d = erasure(m.as_ref(), &sigma, &known[g], &cfg)?;
            match d.status {
                Status::Recovered => row.erasure_recovered += 1,
                Status::Partial => row.erasure_partial += 1,
                Status::Uncorrectable => row.erasure_uncorrectable += 1,
            }
            if let Some(fix) = d.correction() {
                apply(&mut g_er, fix);
            }
            row.erasure_errors_left += left(e, d.correction());
        }
        let n_layers = net.layers.len();
        let mut ws = eval.workspace();
        let mut run = |g: Mat<f64>| {
            let mut gd: Vec<Option<Mat<f64>>> = vec![None; n_layers];
            gd[l] = Some(g);
            let pred = argmax_rows(eval.run(&gd, &mut ws));
            accuracy(&pred, &prep.data.y, None)
        };
        row.accuracy_faulty = run(gdiff_f);
        row.accuracy_lp = run(g_lp);
        row.accuracy_erasure = run(g_er);
        Ok(row)
    }
}
