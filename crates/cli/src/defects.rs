//! `xbar defects`: the teaching views (paper Fig. 2 and Fig. 3).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use faer::Mat;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use xbar_crossbar::{FaultLevel, LayerFaults, StuckState};
use xbar_experiment::{NoProgress, expand, prepare, scenario_rng};
use xbar_report::{ColorScale, Heatmap, HeatmapGrid, render_heatmaps};

use crate::run::{cache_dir, load_sweeps};

#[allow(
    clippy::too_many_arguments,
    reason = "one argument per command-line flag"
)]
pub(crate) fn defects(
    file: Option<&Path>,
    layer: usize,
    out: Option<PathBuf>,
    image: usize,
    columns: &[usize],
    shape: &str,
    cache: Option<PathBuf>,
    quiet: bool,
) -> Result<()> {
    let exp = load_sweeps(file)?;
    let n_layers = exp.network.sizes.len() - 1;
    if layer >= n_layers {
        bail!(
            "--layer {layer}: expected a layer index in 0..={} (the network has {n_layers} arrays)",
            n_layers - 1
        );
    }
    let out = out.unwrap_or_else(|| PathBuf::from("results").join(&exp.name).join("defects"));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    let cache = cache_dir(cache, out.parent().unwrap_or(&out));
    let prep = prepare(&exp, Some(&cache), &NoProgress)?;
    if image >= prep.data.len() {
        bail!(
            "--image {image}: expected an image index in 0..{}",
            prep.data.len()
        );
    }
    let net = &prep.net;
    let arr = &net.layers[layer];
    let (rows, cols) = (arr.rows(), arr.cols());
    let device = net.device;
    let grid = expand(&exp);

    // Fig. 2: G+ conductance maps with each geometry's smallest and largest size (stuck-off).
    let mut panels = vec![Heatmap {
        title: "healthy".into(),
        rows,
        cols,
        values: mat_values(&arr.g_plus),
        scale: ColorScale::Sequential,
        log10: true,
        colorbar_label: "G+ (S)".into(),
        x_label: "column (output)".into(),
        y_label: "row (input, bias last)".into(),
        col_names: Vec::new(),
        row_names: Vec::new(),
        outline: None,
        annotations: vec![format!("layer {layer}: {rows} x {cols} pairs")],
    }];
    let mut seen: Vec<(String, Option<f64>)> = Vec::new();
    for sweep in &exp.sweeps {
        let picks: Vec<_> = match sweep.shapes.len() {
            0 => vec![],
            1 => vec![&sweep.shapes[0]],
            n => vec![&sweep.shapes[0], &sweep.shapes[n - 1]],
        };
        for sized in picks {
            if seen.contains(&(sweep.kind.clone(), sized.size)) {
                continue;
            }
            seen.push((sweep.kind.clone(), sized.size));
            let sc = grid
                .iter()
                .find(|s| s.shape == sized.shape && s.layers.contains(&layer));
            let mut rng = match sc {
                Some(s) => scenario_rng(exp.seed, s),
                None => ChaCha8Rng::seed_from_u64(exp.seed),
            };
            let mask = sized.shape.mask(rows, cols, &mut rng)?;
            let faults = LayerFaults::from_mask(&mask, StuckState::Off, FaultLevel::Pair, &mut rng);
            let (gp, _) = arr.faulty_conductances(&device, &faults);
            let size = sized.size.map_or(String::new(), |v| format!(" {v}"));
            panels.push(Heatmap {
                title: format!("{}{size}", sweep.kind),
                rows,
                cols,
                values: mat_values(&gp),
                scale: ColorScale::Sequential,
                log10: true,
                colorbar_label: "G+ (S)".into(),
                x_label: "column".into(),
                y_label: "row".into(),
                col_names: Vec::new(),
                row_names: Vec::new(),
                outline: Some(mask.cells.clone()),
                annotations: vec![format!(
                    "{} pairs stuck-off ({:.1} %)",
                    mask.count(),
                    100.0 * mask.coverage()
                )],
            });
        }
    }
    let cell_px = (480 / cols.max(rows)).clamp(4, 40) as u32;
    let mut written = render_heatmaps(
        &HeatmapGrid {
            title: format!(
                "{}: defect geometries on layer {layer} (stuck cells outlined)",
                exp.name
            ),
            panels,
            columns: 4,
            cell_px,
        },
        &out.join(format!("masks-layer{layer}")),
    )?;

    // Fig. 3: per-cell differential current contributions f(V_j) (G+ - G-) of chosen columns.
    let label = prep.data.y[image] as usize;
    let cols_sel: Vec<usize> = if columns.is_empty() {
        let c = if layer + 1 == n_layers {
            label
        } else {
            cols / 2
        };
        [c.saturating_sub(1), c, (c + 1).min(cols - 1)]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    } else {
        columns.to_vec()
    };
    if let Some(&bad) = cols_sel.iter().find(|&&c| c >= cols) {
        bail!("--columns {bad}: expected column indices in 0..{cols} for layer {layer}");
    }
    let sweep = exp
        .sweeps
        .iter()
        .find(|s| s.kind == shape)
        .with_context(|| {
            format!(
                "--shape {shape}: the experiment sweeps no such shape (it has: {})",
                exp.sweeps
                    .iter()
                    .map(|s| s.kind.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    // Read transfers at this layer's inputs for the image (healthy upstream layers).
    let v_img = Mat::from_fn(1, prep.v_in.ncols(), |_, j| prep.v_in[(image, j)]);
    let outs = net.forward_all(v_img.as_ref());
    let v_layer: Vec<f64> = if layer == 0 {
        (0..v_img.ncols()).map(|j| v_img[(0, j)]).collect()
    } else {
        (0..outs[layer - 1].ncols())
            .map(|j| outs[layer - 1][(0, j)])
            .collect()
    };
    let f_in: Vec<f64> = v_layer
        .iter()
        .map(|&v| device.read_transfer(v))
        .chain(std::iter::once(net.bias_transfer()))
        .collect();
    let mut cur_panels = Vec::new();
    let mut variants: Vec<(String, Option<xbar_crossbar::Shape>)> = vec![("healthy".into(), None)];
    for sized in &sweep.shapes {
        variants.push((
            format!(
                "{shape} {}",
                sized.size.map_or(String::new(), |v| v.to_string())
            ),
            Some(sized.shape.clone()),
        ));
    }
    for (title, shape_opt) in variants {
        let (faults, mask) = match &shape_opt {
            Some(sh) => {
                let sc = grid
                    .iter()
                    .find(|s| &s.shape == sh && s.layers.contains(&layer));
                let mut rng = sc.map_or_else(
                    || ChaCha8Rng::seed_from_u64(exp.seed),
                    |s| scenario_rng(exp.seed, s),
                );
                let m = sh.mask(rows, cols, &mut rng)?;
                (
                    LayerFaults::from_mask(&m, StuckState::Off, FaultLevel::Pair, &mut rng),
                    Some(m),
                )
            }
            None => (LayerFaults::default(), None),
        };
        let gd = arr.faulty_gdiff(&device, &faults);
        let mut faulty = net.clone();
        let (gp, gm) = arr.faulty_conductances(&device, &faults);
        faulty.layers[layer].g_plus = gp;
        faulty.layers[layer].g_minus = gm;
        let v_out = faulty.forward(v_img.as_ref());
        let pred =
            (0..v_out.ncols()).fold(0, |b, j| if v_out[(0, j)] > v_out[(0, b)] { j } else { b });
        let mut values = Vec::with_capacity(rows * cols_sel.len());
        let mut outline = Vec::with_capacity(rows * cols_sel.len());
        for (j, f) in f_in.iter().enumerate() {
            for &c in &cols_sel {
                values.push(f * gd[(j, c)] * 1e6);
                outline.push(mask.as_ref().is_some_and(|m| m.get(j, c)));
            }
        }
        let totals: Vec<String> = cols_sel
            .iter()
            .map(|&c| {
                format!(
                    "I{c} {:+.2} uA",
                    1e6 * f_in
                        .iter()
                        .enumerate()
                        .map(|(j, f)| f * gd[(j, c)])
                        .sum::<f64>()
                )
            })
            .collect();
        cur_panels.push(Heatmap {
            title,
            rows,
            cols: cols_sel.len(),
            values,
            scale: ColorScale::Diverging,
            log10: false,
            colorbar_label: "current (uA)".into(),
            x_label: "column (output)".into(),
            y_label: "row (input)".into(),
            col_names: cols_sel.iter().map(ToString::to_string).collect(),
            row_names: Vec::new(),
            outline: mask.map(|_| outline),
            annotations: vec![format!("true {label}, predicted {pred}"), totals.join(", ")],
        });
    }
    let cell_px = (360 / rows).clamp(6, 40) as u32;
    written.extend(render_heatmaps(
        &HeatmapGrid {
            title: format!("image {image} (label {label}): current contributions f(V_j)(G+ - G-) in layer {layer}, {shape} defects"),
            panels: cur_panels,
            columns: 5,
            cell_px,
        },
        &out.join(format!("currents-layer{layer}")),
    )?);
    if !quiet {
        for w in &written {
            errln!("  wrote {}", w.display());
        }
    }
    Ok(())
}

fn mat_values(m: &Mat<f64>) -> Vec<f64> {
    (0..m.nrows())
        .flat_map(|i| (0..m.ncols()).map(move |j| m[(i, j)]))
        .collect()
}
