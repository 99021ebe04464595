//! `xbar netlist`: export a programmed (optionally defective) layer or network as an ngspice
//! netlist for one image, and optionally run ngspice and compare with the emulator.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use faer::Mat;
use xbar_crossbar::netlist::{NetlistOptions, NetlistSpec, run_ngspice, write_netlist};
use xbar_crossbar::{FaultLevel, LayerFaults, StuckState, WireConfig, WiredNetwork};
use xbar_experiment::{NoProgress, expand, prepare, scenario_rng};

use crate::run::{cache_dir, load_sweeps};

/// Arguments of `xbar netlist`.
#[derive(clap::Args, Debug)]
pub(crate) struct NetlistArgs {
    /// Experiment whose network to export. Default: the built-in study.
    file: Option<PathBuf>,
    /// Array (layer) to export; omit for the whole network.
    #[arg(long)]
    layer: Option<usize>,
    /// Image index whose input voltages drive the rows.
    #[arg(long, default_value_t = 0)]
    image: usize,
    /// Output file. Default: results/NAME/netlist-layerL-imageN.cir (or netlist-network-imageN.cir).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Apply a defect from the experiment's sweeps (shape or sweep label) to the layer.
    #[arg(long)]
    shape: Option<String>,
    /// Size of that defect (one of the sweep's sizes; default its largest).
    #[arg(long)]
    size: Option<f64>,
    /// Stuck-on instead of stuck-off.
    #[arg(long)]
    on: bool,
    /// Device-level faults (one device of a pair) instead of pair level.
    #[arg(long)]
    device_level: bool,
    /// Wire resistance per row and column segment, in ohms (0: ideal wires).
    #[arg(long, default_value_t = 0.0)]
    wire_ohms: f64,
    /// Run ngspice on it and print its outputs beside the emulator's.
    #[arg(long)]
    run: bool,
}

pub(crate) fn netlist(a: NetlistArgs, quiet: bool) -> Result<()> {
    let exp = load_sweeps(a.file.as_deref())?;
    let n_layers = exp.network.sizes.len() - 1;
    let layer = a.layer.unwrap_or(0);
    if layer >= n_layers {
        bail!(
            "--layer {layer}: expected a layer index in 0..={} (the network has {n_layers} arrays)",
            n_layers - 1
        );
    }
    if !(a.wire_ohms.is_finite() && (0.0..=1e3).contains(&a.wire_ohms)) {
        bail!(
            "--wire-ohms {}: expected a finite resistance in [0, 1000] ohms per segment",
            a.wire_ohms
        );
    }
    let cache = cache_dir(None, &PathBuf::from("results").join(&exp.name));
    let prep = prepare(&exp, Some(&cache), &NoProgress)?;
    if a.image >= prep.data.len() {
        bail!(
            "--image {}: expected an image index in 0..{}",
            a.image,
            prep.data.len()
        );
    }
    let mut net = prep.net.clone();
    let mut what = "healthy".to_string();
    if let Some(shape) = &a.shape {
        let sweep = exp
            .sweeps
            .iter()
            .find(|s| &s.kind == shape || &s.label == shape)
            .with_context(|| {
                format!(
                    "--shape {shape}: the experiment sweeps no such shape (it has: {})",
                    exp.sweeps
                        .iter()
                        .map(|s| s.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        let sized = match a.size {
            Some(v) => sweep
                .shapes
                .iter()
                .find(|s| s.size == Some(v))
                .with_context(|| {
                    format!(
                        "--size {v}: not one of the sweep's sizes {:?}",
                        sweep.shapes.iter().map(|s| s.size).collect::<Vec<_>>()
                    )
                })?,
            None => sweep.shapes.last().context("the sweep has no sizes")?,
        };
        let grid = expand(&exp);
        let mut rng = match grid
            .iter()
            .find(|s| s.shape == sized.shape && s.layers == [layer])
        {
            Some(s) => scenario_rng(exp.seed, s),
            None => scenario_rng(exp.seed, &grid[0]),
        };
        let arr = &net.layers[layer];
        let mask = sized.shape.mask(arr.rows(), arr.cols(), &mut rng)?;
        let state = if a.on {
            StuckState::On
        } else {
            StuckState::Off
        };
        let level = if a.device_level {
            FaultLevel::Device
        } else {
            FaultLevel::Pair
        };
        let faults = LayerFaults::from_mask(&mask, state, level, &mut rng);
        let (p, m) = arr.faulty_conductances(&net.device, &faults);
        net.layers[layer].g_plus = p;
        net.layers[layer].g_minus = m;
        what = format!(
            "{shape} {:?}, {} pairs stuck-{}",
            sized.size,
            faults.len(),
            state.label()
        );
    }
    let wires = WireConfig {
        r_row: a.wire_ohms,
        r_col: a.wire_ohms,
        ..WireConfig::default()
    };
    let v_img = Mat::from_fn(1, prep.v_in.ncols(), |_, j| prep.v_in[(a.image, j)]);
    // Emulator outputs of every layer (with the same wires).
    let outs = if wires.is_ideal() {
        net.forward_all(v_img.as_ref())
    } else {
        WiredNetwork::new(&net, &wires)?.forward_all(v_img.as_ref())?
    };
    let whole = a.layer.is_none();
    let inputs: Vec<f64> = if whole || layer == 0 {
        (0..v_img.ncols()).map(|j| v_img[(0, j)]).collect()
    } else {
        let o = &outs[layer - 1];
        (0..o.ncols()).map(|j| o[(0, j)]).collect()
    };
    let spec = if whole {
        NetlistSpec::for_network(&net, &inputs, wires)?
    } else {
        NetlistSpec::for_layer(&net, layer, &inputs, wires)?
    };
    let opts = NetlistOptions {
        title: format!(
            "xbar {} image {} ({}), {}, wires {} ohm",
            exp.name, a.image, prep.data.y[a.image], what, a.wire_ohms
        ),
        ..NetlistOptions::default()
    };
    let nl = write_netlist(&spec, &opts)?;
    let scope = if whole {
        "network".to_string()
    } else {
        format!("layer{layer}")
    };
    let out = a.out.unwrap_or_else(|| {
        PathBuf::from("results")
            .join(&exp.name)
            .join(format!("netlist-{scope}-image{}.cir", a.image))
    });
    xbar_report::write_atomic(&out, nl.text.as_bytes())?;
    if !quiet {
        errln!(
            "wrote {} ({} lines): run it with `ngspice -b {}`",
            out.display(),
            nl.text.lines().count(),
            out.display()
        );
    }
    if a.run {
        let stdout = run_ngspice(&nl.text)?;
        let spice = nl.read_outputs(&stdout)?;
        let spice_last = spice.last().context("ngspice printed no outputs")?;
        let emu = if whole {
            outs.last().expect("layers")
        } else {
            &outs[layer]
        };
        outln!("output   ngspice (V)        xbar (V)           relative difference");
        let scale = spice_last
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()))
            .max(1e-30);
        for (i, s) in spice_last.iter().enumerate() {
            let e = emu[(0, i)];
            outln!(
                "{i:>6}   {s:>+.10e}   {e:>+.10e}   {:.2e}",
                (s - e).abs() / scale
            );
        }
    }
    Ok(())
}
