//! SPICE netlists of programmed arrays and networks, and reading ngspice's results back.
//!
//! [`write_netlist`] writes the circuit that [`crate::wires`] solves, element by element, so
//! that any SPICE simulator can check the emulator:
//!
//! * one device per cell: a resistor `1/G` (linear read) or an instance of the subcircuit
//!   `rram`, a behavioural current source `I = I0 exp(-gap/g0) sinh(V/V0)` with the cell's
//!   gap `g0 ln(I0/(V0 G))` (the Stanford model's read law);
//! * a DC source per row (the image's voltages, the bias row at `v_bias`), behind the driver
//!   resistance;
//! * wire resistors per row and column segment, the comparator input resistance;
//! * per physical column a transimpedance stage: a VCVS op-amp of gain `A` with feedback
//!   `R_load`, so `V_c = -A/(1+A) R_load I_c`;
//! * per output a unity difference stage `V_d = V_c- - V_c+ = A/(1+A) R_load (I+ - I-)`, then
//!   on hidden layers a rectifier `max(0, V_d)` (clamped to the rail, if any), which drives the
//!   next array's rows directly;
//! * a `.control` block that runs the operating point and `print`s every output.
//!
//! Segments of zero resistance are not written (their nodes are merged), exactly as the
//! nodal solver merges them. Every number is written in shortest round-trip form; numbers
//! inside behavioural expressions go through `.param`/subcircuit parameters because ngspice 39
//! truncates literal numbers in B-source expressions to 11 significant digits.
//!
//! Node names: `l{L}_in{j}` row drivers of array `L` (for `L > 0` the previous array's
//! outputs), `l{L}_s{j}` after the driver resistance, `l{L}_r{j}_{c}` row nodes,
//! `l{L}_c{j}_{c}` column nodes, `l{L}_t{c}` column ends, `l{L}_n{c}` op-amp inputs,
//! `l{L}_o{c}` transimpedance outputs, `l{L}_d{i}` differences, `l{L}_y{i}` rectified outputs.
//! Physical column `2i` holds output `i`'s `G+` devices and `2i+1` its `G-` devices.
//!
//! ```
//! use faer::Mat;
//! use xbar_crossbar::netlist::{ArrayCircuit, NetlistOptions, NetlistSpec, write_netlist};
//! use xbar_crossbar::WireConfig;
//! use xbar_device::{DeviceParams, IvModel};
//! let gp = Mat::from_fn(3, 2, |i, j| 1e-4 * (1 + i + j) as f64);
//! let gm = Mat::from_fn(3, 2, |_, _| 1e-5);
//! let spec = NetlistSpec {
//!     device: DeviceParams { iv: IvModel::Linear, ..DeviceParams::default() },
//!     arrays: vec![ArrayCircuit { g_plus: gp.as_ref(), g_minus: gm.as_ref(), r_load: 1e3, rectify: false }],
//!     inputs: vec![0.05, 0.1],
//!     v_bias: 0.1,
//!     rail: None,
//!     wires: WireConfig { r_row: 1.0, r_col: 1.0, ..WireConfig::default() },
//! };
//! let net = write_netlist(&spec, &NetlistOptions::default())?;
//! assert!(net.text.contains(".control") && net.text.ends_with(".end\n"));
//! assert_eq!(net.outputs, vec![vec!["v(l0_d0)".to_string(), "v(l0_d1)".to_string()]]);
//! // ngspice's batch output, read back:
//! let v = net.read_outputs("v(l0_d0) = 1.5e-02\nv(l0_d1) = -2.0e-03\n")?;
//! assert_eq!(v, vec![vec![1.5e-2, -2.0e-3]]);
//! # Ok::<(), xbar_crossbar::CrossbarError>(())
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use faer::MatRef;
use xbar_device::{DeviceParams, Issues, IvModel};

use crate::wires::physical_column;
use crate::{AnalogNetwork, CrossbarError, ProgrammedLayer, WireConfig};

/// One array of a netlist: its devices and its comparators.
#[derive(Clone, Copy, Debug)]
pub struct ArrayCircuit<'a> {
    /// Conductances of the positive devices, in S, `N x M` (bias row last).
    pub g_plus: MatRef<'a, f64>,
    /// Conductances of the negative devices, in S, `N x M`.
    pub g_minus: MatRef<'a, f64>,
    /// Feedback resistance of every transimpedance stage, in ohms.
    pub r_load: f64,
    /// Whether a rectifier follows the difference stage.
    pub rectify: bool,
}

impl<'a> ArrayCircuit<'a> {
    /// The healthy array of a programmed layer.
    pub fn from_layer(layer: &'a ProgrammedLayer) -> ArrayCircuit<'a> {
        ArrayCircuit {
            g_plus: layer.g_plus.as_ref(),
            g_minus: layer.g_minus.as_ref(),
            r_load: layer.r_load,
            rectify: layer.rectify,
        }
    }
}

/// What to write: arrays in signal order, the image, and the circuit settings.
#[derive(Clone, Debug)]
pub struct NetlistSpec<'a> {
    /// Device parameters (the read law and the constants of the `rram` subcircuit).
    pub device: DeviceParams,
    /// The arrays; array `L+1` has one row per output of array `L`, plus the bias row.
    pub arrays: Vec<ArrayCircuit<'a>>,
    /// Row voltages of the first array, in V, without the bias row.
    pub inputs: Vec<f64>,
    /// Voltage of every bias row, in V.
    pub v_bias: f64,
    /// Output rail in V (hidden outputs clamped to `[0, rail]`, the last to
    /// `[-rail, rail]`); `None`: no clamp.
    pub rail: Option<f64>,
    /// Wire, driver and comparator resistances and the op-amp gain.
    pub wires: WireConfig,
}

impl<'a> NetlistSpec<'a> {
    /// Array `layer` of `net` alone (healthy conductances), driven by `inputs` (that array's
    /// row voltages without the bias row, e.g. the previous layer's outputs from
    /// [`AnalogNetwork::forward_all`]). Replace `arrays[0]` to write a faulty array.
    pub fn for_layer(
        net: &'a AnalogNetwork,
        layer: usize,
        inputs: &[f64],
        wires: WireConfig,
    ) -> Result<Self, CrossbarError> {
        let l = net.layers.get(layer).ok_or_else(|| CrossbarError::Shape {
            what: format!(
                "layer {layer} of a network with {} layers",
                net.layers.len()
            ),
        })?;
        net.require_single_tile("a netlist", layer)?;
        if l.wiring != crate::Wiring::Dense {
            return Err(CrossbarError::Unsupported {
                what: format!(
                    "a netlist of array {layer}: it is a convolution (dense arrays only)"
                ),
            });
        }
        Ok(NetlistSpec {
            device: net.device,
            arrays: vec![ArrayCircuit::from_layer(l)],
            inputs: inputs.to_vec(),
            v_bias: net.circuit.v_bias,
            rail: net.circuit.rail,
            wires,
        })
    }

    /// The whole network `net` (healthy conductances) for one image's row voltages. Replace
    /// entries of `arrays` to write faulty arrays. Only chains of dense arrays are written
    /// (convolutions read an array once per window and pooling has no netlist here).
    pub fn for_network(
        net: &'a AnalogNetwork,
        inputs: &[f64],
        wires: WireConfig,
    ) -> Result<Self, CrossbarError> {
        net.require_dense("a whole-network netlist")?;
        for l in 0..net.layers.len() {
            net.require_single_tile("a whole-network netlist", l)?;
        }
        Ok(NetlistSpec {
            device: net.device,
            arrays: net.layers.iter().map(ArrayCircuit::from_layer).collect(),
            inputs: inputs.to_vec(),
            v_bias: net.circuit.v_bias,
            rail: net.circuit.rail,
            wires,
        })
    }
}

/// SPICE-side settings of a netlist.
#[derive(Clone, Debug, PartialEq)]
pub struct NetlistOptions {
    /// Op-amp gain written when the wires have an ideal op-amp (`op_amp_gain = None`): SPICE
    /// needs a finite one. Default 1e9 (the virtual ground then sits at `V_out / 1e9`).
    pub spice_gain: f64,
    /// ngspice `reltol`. Default 1e-7.
    pub reltol: f64,
    /// ngspice `abstol`, in A. Default 1e-16.
    pub abstol: f64,
    /// ngspice `vntol`, in V. Default 1e-10.
    pub vntol: f64,
    /// Also print every transimpedance output `v(l{L}_o{c})`.
    pub print_columns: bool,
    /// Title (first line of the file).
    pub title: String,
}

impl Default for NetlistOptions {
    fn default() -> Self {
        Self {
            spice_gain: 1e9,
            reltol: 1e-7,
            abstol: 1e-16,
            vntol: 1e-10,
            print_columns: false,
            title: "xbar crossbar netlist".into(),
        }
    }
}

/// A written netlist and the names of the vectors its `print` statements produce.
#[derive(Clone, Debug, PartialEq)]
pub struct Netlist {
    /// The netlist, ready for `ngspice -b`.
    pub text: String,
    /// Per array, per output: the printed vector (`v(l{L}_y{i})` or `v(l{L}_d{i})`).
    pub outputs: Vec<Vec<String>>,
    /// Per array, per physical column: the transimpedance output vector (printed only with
    /// [`NetlistOptions::print_columns`]).
    pub columns: Vec<Vec<String>>,
}

impl Netlist {
    /// Reads every array's output voltages from ngspice's batch output.
    pub fn read_outputs(&self, stdout: &str) -> Result<Vec<Vec<f64>>, CrossbarError> {
        lookup(&self.outputs, stdout)
    }

    /// Reads every transimpedance output from ngspice's batch output (needs
    /// [`NetlistOptions::print_columns`]).
    pub fn read_columns(&self, stdout: &str) -> Result<Vec<Vec<f64>>, CrossbarError> {
        lookup(&self.columns, stdout)
    }
}

fn lookup(names: &[Vec<String>], stdout: &str) -> Result<Vec<Vec<f64>>, CrossbarError> {
    let values: std::collections::HashMap<String, f64> = parse_print(stdout).into_iter().collect();
    names
        .iter()
        .map(|layer| {
            layer
                .iter()
                .map(|n| {
                    values.get(n).copied().ok_or_else(|| {
                        let tail: Vec<&str> = stdout.lines().rev().take(8).collect();
                        let tail: Vec<&str> = tail.into_iter().rev().collect();
                        CrossbarError::Spice {
                            what: format!(
                                "`{n}` is not in the simulator output; its last lines were:\n{}",
                                tail.join("\n")
                            ),
                        }
                    })
                })
                .collect()
        })
        .collect()
}

/// Parses the `name = value` lines that ngspice's `print` writes in batch mode (one scalar
/// per line after an operating point). Names are lower-cased; other lines are skipped.
///
/// ```
/// let out = "Circuit: * x\nDoing analysis at TEMP = 27.000000 and TNOM = 27.000000\n\
///            v(l0_y0) = 5.5779999913e-02\nv(l0_y1) = 0.000000000e+00\n";
/// let v = xbar_crossbar::netlist::parse_print(out);
/// assert_eq!(v, vec![("v(l0_y0)".to_string(), 5.5779999913e-02), ("v(l0_y1)".to_string(), 0.0)]);
/// ```
pub fn parse_print(stdout: &str) -> Vec<(String, f64)> {
    stdout
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(" = ")?;
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return None;
            }
            let value: f64 = value.trim().parse().ok()?;
            Some((name.to_ascii_lowercase(), value))
        })
        .collect()
}

/// Runs `ngspice -b` on a netlist (fed on standard input) and returns its standard output.
/// Fails when ngspice is not on the `PATH` or exits with an error.
///
/// ```no_run
/// # use xbar_crossbar::netlist::{Netlist, run_ngspice};
/// # fn f(nl: &Netlist) -> Result<(), xbar_crossbar::CrossbarError> {
/// let volts = nl.read_outputs(&run_ngspice(&nl.text)?)?; // per array, per output
/// # Ok(()) }
/// ```
pub fn run_ngspice(netlist: &str) -> Result<String, CrossbarError> {
    let mut child = Command::new("ngspice")
        .arg("-b")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CrossbarError::Spice {
            what: format!("cannot start ngspice: {e}"),
        })?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let text = netlist.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().map_err(|e| CrossbarError::Spice {
        what: format!("ngspice failed: {e}"),
    })?;
    let written = writer.join().map_err(|_| CrossbarError::Spice {
        what: "writing the netlist to ngspice panicked".into(),
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || written.is_err() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(CrossbarError::Spice {
            what: format!(
                "ngspice exited with {} ({}):\n{}",
                out.status,
                written.err().map_or_else(String::new, |e| e.to_string()),
                stderr.lines().take(20).collect::<Vec<_>>().join("\n")
            ),
        });
    }
    Ok(stdout)
}

/// The first line of `ngspice -v` that names the version (e.g. `ngspice-39 : Circuit level
/// simulation program`), or `None` when ngspice cannot be run.
pub fn ngspice_version() -> Option<String> {
    let out = Command::new("ngspice")
        .arg("-v")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .map(|l| l.trim_matches(|c: char| c == '*' || c.is_whitespace()))
        .find(|l| l.starts_with("ngspice-"))
        .map(str::to_string)
}

/// Shortest round-trip form with an explicit exponent (never mistaken for a SPICE scale
/// suffix).
fn num(x: f64) -> String {
    format!("{x:e}")
}

/// Writes the netlist of `spec`. See the module documentation for the circuit.
pub fn write_netlist(
    spec: &NetlistSpec<'_>,
    opts: &NetlistOptions,
) -> Result<Netlist, CrossbarError> {
    validate(spec, opts)?;
    let d = &spec.device;
    let sinh = d.iv == IvModel::Sinh;
    let w = &spec.wires;
    let gain = w.op_amp_gain.unwrap_or(opts.spice_gain);
    let mut t = String::new();
    let mut outputs = Vec::with_capacity(spec.arrays.len());
    let mut columns = Vec::with_capacity(spec.arrays.len());
    // Writing to a String cannot fail.
    let _ = writeln!(t, "* {}", opts.title.replace('\n', " "));
    let _ = writeln!(
        t,
        "* xbar-crossbar: {} array(s), {} read, r_row={} r_col={} r_source={} r_in={} ohm, op-amp gain {}",
        spec.arrays.len(),
        if sinh { "Stanford sinh" } else { "linear" },
        num(w.r_row),
        num(w.r_col),
        num(w.r_source),
        num(w.r_in),
        num(gain)
    );
    let _ = writeln!(
        t,
        "* physical column 2i = G+ of output i, 2i+1 = G- of output i; row 0 is the far end of every column"
    );
    if sinh {
        let _ = writeln!(
            t,
            ".param i0={} g0={} v0={}",
            num(d.i0),
            num(d.g0),
            num(d.v0)
        );
        let _ = writeln!(t, ".subckt rram te be gap=1e-9");
        let _ = writeln!(
            t,
            "B1 te be I = {{i0}}*exp(-{{gap}}/{{g0}})*sinh(V(te,be)/{{v0}})"
        );
        let _ = writeln!(t, ".ends rram");
    }
    if let Some(r) = spec.rail {
        let _ = writeln!(t, ".param rail={}", num(r));
    }
    for (l, a) in spec.arrays.iter().enumerate() {
        let (rows, outs) = (a.g_plus.nrows(), a.g_plus.ncols());
        let p = 2 * outs;
        let _ = writeln!(
            t,
            "\n* ---- array {l}: {rows} rows (bias last) x {outs} outputs ({p} physical columns), R_load = {} ohm",
            num(a.r_load)
        );
        // Drivers.
        let input_node = |j: usize| -> String {
            if l == 0 || j + 1 == rows {
                format!("l{l}_in{j}")
            } else {
                spec_output_node(spec, l - 1, j)
            }
        };
        for j in 0..rows {
            if j + 1 == rows {
                let _ = writeln!(t, "VL{l}_BIAS l{l}_in{j} 0 DC {}", num(spec.v_bias));
            } else if l == 0 {
                let _ = writeln!(t, "VL{l}_IN{j} l{l}_in{j} 0 DC {}", num(spec.inputs[j]));
            }
        }
        // Row side.
        let driver_out = |j: usize| -> String {
            if w.r_source > 0.0 {
                format!("l{l}_s{j}")
            } else {
                input_node(j)
            }
        };
        if w.r_source > 0.0 {
            let _ = writeln!(t, "* driver resistances");
            for j in 0..rows {
                let _ = writeln!(
                    t,
                    "RL{l}_S{j} {} l{l}_s{j} {}",
                    input_node(j),
                    num(w.r_source)
                );
            }
        }
        let row_node = |j: usize, c: usize| -> String {
            if w.r_row > 0.0 {
                format!("l{l}_r{j}_{c}")
            } else {
                driver_out(j)
            }
        };
        if w.r_row > 0.0 {
            let _ = writeln!(t, "* row wires, from the driver along the row");
            for j in 0..rows {
                for c in 0..p {
                    let from = if c == 0 {
                        driver_out(j)
                    } else {
                        row_node(j, c - 1)
                    };
                    let _ = writeln!(
                        t,
                        "RL{l}_R{j}_{c} {from} {} {}",
                        row_node(j, c),
                        num(w.r_row)
                    );
                }
            }
        }
        // Column side.
        let col_end = |c: usize| -> String {
            if w.r_in > 0.0 {
                format!("l{l}_t{c}")
            } else {
                format!("l{l}_n{c}")
            }
        };
        let col_node = |j: usize, c: usize| -> String {
            if w.r_col > 0.0 {
                format!("l{l}_c{j}_{c}")
            } else {
                col_end(c)
            }
        };
        // Cells.
        let _ = writeln!(
            t,
            "* devices: {}",
            if sinh {
                "rram instances with their gaps (m)"
            } else {
                "resistors 1/G (ohm)"
            }
        );
        for j in 0..rows {
            for i in 0..outs {
                for plus in [true, false] {
                    let c = physical_column(i, plus);
                    let g = if plus {
                        a.g_plus[(j, i)]
                    } else {
                        a.g_minus[(j, i)]
                    };
                    if g == 0.0 {
                        let _ = writeln!(t, "* cell {j},{c}: G = 0 (open)");
                        continue;
                    }
                    let s = if plus { 'P' } else { 'M' };
                    let (rn, cn) = (row_node(j, c), col_node(j, c));
                    if sinh {
                        let gap = d.gap_for_conductance(g);
                        let _ = writeln!(t, "XL{l}{s}{j}_{i} {rn} {cn} rram gap={}", num(gap));
                    } else {
                        let _ = writeln!(t, "RL{l}{s}{j}_{i} {rn} {cn} {}", num(1.0 / g));
                    }
                }
            }
        }
        if w.r_col > 0.0 {
            let _ = writeln!(t, "* column wires, down to the comparator");
            for c in 0..p {
                for j in 0..rows {
                    let to = if j + 1 < rows {
                        col_node(j + 1, c)
                    } else {
                        col_end(c)
                    };
                    let _ = writeln!(t, "RL{l}_C{j}_{c} {} {to} {}", col_node(j, c), num(w.r_col));
                }
            }
        }
        if w.r_in > 0.0 {
            let _ = writeln!(t, "* comparator input resistances");
            for c in 0..p {
                let _ = writeln!(t, "RL{l}_IN{c} l{l}_t{c} l{l}_n{c} {}", num(w.r_in));
            }
        }
        let _ = writeln!(
            t,
            "* transimpedance stages: V(o) = -A V(n), feedback R_load"
        );
        for c in 0..p {
            let _ = writeln!(t, "EL{l}_A{c} l{l}_o{c} 0 0 l{l}_n{c} {}", num(gain));
            let _ = writeln!(t, "RL{l}_F{c} l{l}_n{c} l{l}_o{c} {}", num(a.r_load));
        }
        let _ = writeln!(
            t,
            "* difference stages: V(d_i) = V(o_2i+1) - V(o_2i) = R_load (I+ - I-)"
        );
        for i in 0..outs {
            let _ = writeln!(
                t,
                "EL{l}_D{i} l{l}_d{i} 0 l{l}_o{} l{l}_o{} 1",
                physical_column(i, false),
                physical_column(i, true)
            );
        }
        if a.rectify || spec.rail.is_some() {
            let _ = writeln!(t, "* output stages");
            for i in 0..outs {
                let e = match (a.rectify, spec.rail.is_some()) {
                    (true, false) => format!("max(0, V(l{l}_d{i}))"),
                    (true, true) => format!("min(max(0, V(l{l}_d{i})), {{rail}})"),
                    _ => format!("min(max(-{{rail}}, V(l{l}_d{i})), {{rail}})"),
                };
                let _ = writeln!(t, "BL{l}_Y{i} l{l}_y{i} 0 V = {e}");
            }
        }
        outputs.push(
            (0..outs)
                .map(|i| format!("v({})", spec_output_node(spec, l, i)))
                .collect::<Vec<_>>(),
        );
        columns.push((0..p).map(|c| format!("v(l{l}_o{c})")).collect::<Vec<_>>());
    }
    let _ = writeln!(
        t,
        "\n.options reltol={} abstol={} vntol={}",
        num(opts.reltol),
        num(opts.abstol),
        num(opts.vntol)
    );
    let _ = writeln!(t, ".control\nset numdgt=15\nop");
    let mut printed: Vec<&String> = outputs.iter().flatten().collect();
    if opts.print_columns {
        printed.extend(columns.iter().flatten());
    }
    for chunk in printed.chunks(8) {
        let names: Vec<&str> = chunk.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(t, "print {}", names.join(" "));
    }
    let _ = writeln!(t, "quit 0\n.endc\n.end");
    Ok(Netlist {
        text: t,
        outputs,
        columns,
    })
}

/// The node carrying array `l`'s output `i` (what the next array's row `i` is driven by).
fn spec_output_node(spec: &NetlistSpec<'_>, l: usize, i: usize) -> String {
    if spec.arrays[l].rectify || spec.rail.is_some() {
        format!("l{l}_y{i}")
    } else {
        format!("l{l}_d{i}")
    }
}

fn validate(spec: &NetlistSpec<'_>, opts: &NetlistOptions) -> Result<(), CrossbarError> {
    if spec.arrays.is_empty() {
        return Err(CrossbarError::Shape {
            what: "a netlist needs at least one array".into(),
        });
    }
    for (l, a) in spec.arrays.iter().enumerate() {
        if a.g_plus.nrows() != a.g_minus.nrows() || a.g_plus.ncols() != a.g_minus.ncols() {
            return Err(CrossbarError::Shape {
                what: format!("array {l}: G+ and G- differ in shape"),
            });
        }
        if a.g_plus.nrows() < 1 || a.g_plus.ncols() < 1 {
            return Err(CrossbarError::Shape {
                what: format!("array {l} is empty"),
            });
        }
        let want = if l == 0 {
            spec.inputs.len() + 1
        } else {
            spec.arrays[l - 1].g_plus.ncols() + 1
        };
        if a.g_plus.nrows() != want {
            return Err(CrossbarError::Shape {
                what: format!(
                    "array {l} has {} rows but {} inputs + 1 bias row drive it",
                    a.g_plus.nrows(),
                    want - 1
                ),
            });
        }
    }
    let mut i = Issues::default();
    if let Err(e) = spec.wires.validate() {
        i.extend_prefixed("", e);
    }
    i.check_range("spice-gain", opts.spice_gain, 1.0, 1e15, false);
    i.check_positive("reltol", opts.reltol);
    i.check_positive("abstol", opts.abstol);
    i.check_positive("vntol", opts.vntol);
    i.check_range("v-bias", spec.v_bias, -10.0, 10.0, false);
    if let Some(r) = spec.rail {
        i.check_positive("rail-volts", r);
    }
    for (k, v) in spec.inputs.iter().enumerate() {
        i.check_range(&format!("inputs[{k}]"), *v, -10.0, 10.0, false);
    }
    for (l, a) in spec.arrays.iter().enumerate() {
        i.check_range(&format!("arrays[{l}].r-load"), a.r_load, 0.0, 1e9, true);
        let mut bad = 0usize;
        for (name, g) in [("g-plus", a.g_plus), ("g-minus", a.g_minus)] {
            for r in 0..g.nrows() {
                for c in 0..g.ncols() {
                    let v = g[(r, c)];
                    if !(v.is_finite() && v >= 0.0) {
                        if bad < 8 {
                            i.push(
                                format!("arrays[{l}].{name}[{r},{c}]"),
                                xbar_device::fmt_f64(v),
                                "a finite conductance >= 0 S",
                            );
                        }
                        bad += 1;
                    }
                }
            }
        }
    }
    i.into_result()
        .map_err(|issues| CrossbarError::InvalidCircuit { issues })
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    fn spec<'a>(
        gp: &'a Mat<f64>,
        gm: &'a Mat<f64>,
        wires: WireConfig,
        sinh: bool,
    ) -> NetlistSpec<'a> {
        NetlistSpec {
            device: DeviceParams {
                iv: if sinh { IvModel::Sinh } else { IvModel::Linear },
                ..DeviceParams::default()
            },
            arrays: vec![ArrayCircuit {
                g_plus: gp.as_ref(),
                g_minus: gm.as_ref(),
                r_load: 557.8,
                rectify: true,
            }],
            inputs: vec![0.1, 0.05],
            v_bias: 0.1,
            rail: Some(0.3),
            wires,
        }
    }

    fn count(text: &str, prefix: &str) -> usize {
        text.lines().filter(|l| l.starts_with(prefix)).count()
    }

    #[test]
    fn element_counts_follow_the_wiring() {
        let gp = Mat::from_fn(3, 2, |i, j| 1e-4 * (1 + i + j) as f64);
        let gm = Mat::from_fn(3, 2, |_, _| 1e-5);
        let ideal = write_netlist(
            &spec(&gp, &gm, WireConfig::default(), false),
            &NetlistOptions::default(),
        )
        .unwrap();
        assert_eq!(count(&ideal.text, "RL0P"), 6);
        assert_eq!(count(&ideal.text, "RL0M"), 6);
        assert_eq!(count(&ideal.text, "RL0_R"), 0);
        assert_eq!(count(&ideal.text, "EL0_A"), 4);
        assert_eq!(count(&ideal.text, "BL0_Y"), 2);
        assert!(ideal.text.contains("EL0_A0 l0_o0 0 0 l0_n0 1e9"));
        let wires = WireConfig {
            r_row: 1.0,
            r_col: 2.0,
            r_source: 3.0,
            r_in: 4.0,
            op_amp_gain: Some(1e6),
        };
        let wired =
            write_netlist(&spec(&gp, &gm, wires, true), &NetlistOptions::default()).unwrap();
        assert_eq!(count(&wired.text, "XL0P"), 6);
        assert_eq!(count(&wired.text, "RL0_R"), 12);
        assert_eq!(count(&wired.text, "RL0_C"), 12);
        assert_eq!(count(&wired.text, "RL0_S"), 3);
        assert_eq!(count(&wired.text, "RL0_IN"), 4);
        assert!(wired.text.contains("EL0_A0 l0_o0 0 0 l0_n0 1e6"));
        assert!(wired.text.contains("RL0_C2_3 l0_c2_3 l0_t3 2e0"));
        assert!(wired.text.contains("min(max(0, V(l0_d1)), {rail})"));
        assert_eq!(wired.outputs[0], ["v(l0_y0)", "v(l0_y1)"]);
    }

    #[test]
    fn invalid_specs_are_rejected() {
        let gp = Mat::from_fn(3, 2, |_, _| f64::NAN);
        let gm = Mat::from_fn(3, 2, |_, _| 1e-5);
        let e = write_netlist(
            &spec(&gp, &gm, WireConfig::default(), false),
            &NetlistOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("g-plus[0,0]"), "{e}");
        let gp = Mat::from_fn(4, 2, |_, _| 1e-5);
        let e = write_netlist(
            &spec(&gp, &gm, WireConfig::default(), false),
            &NetlistOptions::default(),
        );
        assert!(matches!(e, Err(CrossbarError::Shape { .. })));
    }

    #[test]
    fn one_layer_of_a_network() {
        use crate::{CircuitConfig, RLoad, SoftLayer};
        use rand::SeedableRng;
        let w0 = Mat::from_fn(3, 4, |i, j| (i as f64 - j as f64) * 0.2);
        let w1 = Mat::from_fn(4, 2, |i, j| (i + j) as f64 * 0.1 - 0.3);
        let (b0, b1) = ([0.1; 4], [0.0, 0.05]);
        let layers = [
            SoftLayer {
                w: w0.as_ref(),
                b: &b0,
            },
            SoftLayer {
                w: w1.as_ref(),
                b: &b1,
            },
        ];
        let circuit = CircuitConfig {
            r_load: RLoad::Unity,
            ..CircuitConfig::default()
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let net = AnalogNetwork::program(
            DeviceParams::default(),
            &layers,
            &circuit,
            None,
            &Default::default(),
            &mut rng,
        )
        .unwrap();
        let spec =
            NetlistSpec::for_layer(&net, 1, &[0.01, 0.02, 0.03, 0.04], WireConfig::default())
                .unwrap();
        let nl = write_netlist(&spec, &NetlistOptions::default()).unwrap();
        assert_eq!(count(&nl.text, "VL0_IN"), 4);
        assert_eq!(count(&nl.text, "XL0P"), 10);
        assert_eq!(nl.outputs, vec![vec!["v(l0_d0)", "v(l0_d1)"]]);
        assert!(NetlistSpec::for_layer(&net, 2, &[], WireConfig::default()).is_err());
        let whole = write_netlist(
            &NetlistSpec::for_network(&net, &[0.1, 0.0, 0.05], WireConfig::default()).unwrap(),
            &NetlistOptions::default(),
        )
        .unwrap();
        // Array 1 is driven by array 0's rectified outputs.
        assert!(whole.text.contains("XL1P0_0 l0_y0 l1_n0 rram"));
        assert_eq!(whole.outputs[0][3], "v(l0_y3)");
    }

    #[test]
    fn missing_vectors_are_reported() {
        let gp = Mat::from_fn(3, 2, |_, _| 1e-5);
        let net = write_netlist(
            &spec(&gp, &gp, WireConfig::default(), false),
            &NetlistOptions::default(),
        )
        .unwrap();
        let e = net
            .read_outputs("v(l0_y0) = 1\nError: something broke\n")
            .unwrap_err();
        assert!(e.to_string().contains("v(l0_y1)") && e.to_string().contains("something broke"));
    }
}
