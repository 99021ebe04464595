//! Nodal analysis of one physical array with resistive wires (private machinery of
//! [`crate::wires`]).
//!
//! The unknowns are the node voltages that no ideal source fixes. Every branch is a wire (a
//! linear conductance) or a cell, between two terminals; a terminal is an unknown node, a row
//! driver (a known voltage) or the virtual ground of a column's transimpedance amplifier (0 V,
//! where the column current is counted). Kirchhoff's current law at the unknown nodes,
//!
//! ```text
//! F_k(x) = Σ_{branches b at k} ± i_b(x) = 0,   i_b = g_b ΔV_b (wires),  i_b = G_b f(ΔV_b) (cells)
//! ```
//!
//! is a symmetric positive definite linear system `A x = B u` when the cells are linear, and
//! its Jacobian (cells stamped with `G f'(ΔV) = G cosh(ΔV/V0)`) is SPD for the Stanford cells.
//! Both are factorised by faer's sparse Cholesky (AMD ordering). The topology, the sparsity
//! pattern and the symbolic factorisation depend only on the array's size and wiring, so they
//! are shared (`Arc`) by every set of conductances (every defect scenario) of that array.

use std::sync::Arc;

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::llt::factor::LltRegularization;
use faer::sparse::linalg::cholesky::{
    CholeskySymbolicParams, LltRef, SymbolicCholesky, SymmetricOrdering,
    factorize_symbolic_cholesky,
};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, Mat, MatMut, MatRef, Par, Side};
use xbar_device::{DeviceParams, IvModel};

use crate::CrossbarError;

/// Most ports for which the transfer matrix comes from the factor's trailing block.
const MAX_PORTS: usize = 4096;

/// Sentinel for "no off-diagonal entry" (a branch with a known terminal).
const NONE: usize = usize::MAX;

/// Chord iterations (reusing the linear factorisation) before an image switches to full
/// Newton steps with a fresh Jacobian.
const CHORD_ITERATIONS: usize = 25;
/// An image also switches to Newton as soon as a chord step fails to shrink the update by
/// this factor.
const CONTRACTION: f64 = 0.5;

/// One end of a branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Term {
    /// Unknown node `k`.
    Node(usize),
    /// Output of row driver `j` (a known voltage).
    Drive(usize),
    /// Virtual ground of physical column `c` (0 V; current into it is the column current).
    Tia(usize),
}

/// A wire: a linear conductance between two terminals (current flows from `a` to `b`).
#[derive(Clone, Copy, Debug)]
struct Wire {
    a: Term,
    b: Term,
    /// Conductance, in S.
    g: f64,
}

/// The terminals of a cell: row side `a`, column side `b` (current flows from `a` to `b`).
#[derive(Clone, Copy, Debug)]
struct Cell {
    a: Term,
    b: Term,
}

/// Resistances that define the wiring of one array, all in ohms (0 = ideal).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wiring {
    pub(crate) r_row: f64,
    pub(crate) r_col: f64,
    pub(crate) r_source: f64,
    /// Everything between the last column node and the op-amp's virtual ground that is not
    /// wire: the comparator input resistance plus the finite-gain input resistance
    /// `R_f / (1 + A)` of the transimpedance stage.
    pub(crate) r_term: f64,
}

/// Everything about an array's circuit except its cell conductances.
#[derive(Debug)]
struct Topology {
    /// Number of unknown nodes.
    n: usize,
    /// Row drivers (array rows, bias row included).
    rows: usize,
    /// Physical columns.
    cols: usize,
    wires: Vec<Wire>,
    /// One per cell, index `j * cols + c`.
    cells: Vec<Cell>,
    /// Lower-triangular CSC pattern (diagonal first in every column).
    col_ptr: Vec<usize>,
    row_idx: Vec<usize>,
    diag_pos: Vec<usize>,
    wire_pos: Vec<usize>,
    cell_pos: Vec<usize>,
    symbolic: Option<SymbolicCholesky<usize>>,
    /// The ports (unknown nodes joined to a driver or a virtual ground), ordered last in the
    /// factorisation, in their factor order: the trailing block of the Cholesky factor is the
    /// Schur complement onto them, which gives the transfer matrix without solves. Empty
    /// when there are too many for that to pay (then the transfer is solved for).
    ports: Vec<usize>,
}

/// The nodal system of one array: shared topology plus this array's cell conductances.
#[derive(Debug)]
pub(crate) struct Nodal {
    topo: Arc<Topology>,
    /// Cell conductances, index `j * cols + c`, in S.
    g: Vec<f64>,
    v0: f64,
    sinh: bool,
}

/// Scratch memory that grows on demand.
struct Scratch {
    buf: MemBuffer,
    req: StackReq,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            buf: MemBuffer::new(StackReq::EMPTY),
            req: StackReq::EMPTY,
        }
    }

    fn stack(&mut self, need: StackReq) -> &mut MemStack {
        let grown = self.req.or(need);
        if grown != self.req {
            self.buf = MemBuffer::new(grown);
            self.req = grown;
        }
        MemStack::new(&mut self.buf)
    }
}

/// A numeric Cholesky factor of a nodal matrix.
#[derive(Debug)]
pub(crate) struct Factor {
    values: Vec<f64>,
}

impl Topology {
    fn new(rows: usize, cols: usize, w: Wiring) -> Result<Topology, CrossbarError> {
        let mut n = 0usize;
        let mut wires = Vec::new();
        // Row side: the driver feeds the row from physical column 0 on.
        let row_base = n;
        if w.r_row > 0.0 {
            n += rows * cols;
            for j in 0..rows {
                wires.push(Wire {
                    a: Term::Drive(j),
                    b: Term::Node(row_base + j * cols),
                    g: 1.0 / (w.r_source + w.r_row),
                });
                for c in 1..cols {
                    wires.push(Wire {
                        a: Term::Node(row_base + j * cols + c - 1),
                        b: Term::Node(row_base + j * cols + c),
                        g: 1.0 / w.r_row,
                    });
                }
            }
        } else if w.r_source > 0.0 {
            n += rows;
            for j in 0..rows {
                wires.push(Wire {
                    a: Term::Drive(j),
                    b: Term::Node(row_base + j),
                    g: 1.0 / w.r_source,
                });
            }
        }
        let row_term = |j: usize, c: usize| {
            if w.r_row > 0.0 {
                Term::Node(row_base + j * cols + c)
            } else if w.r_source > 0.0 {
                Term::Node(row_base + j)
            } else {
                Term::Drive(j)
            }
        };
        // Column side: row 0 is the far end, the comparator sits after the last row.
        let col_base = n;
        if w.r_col > 0.0 {
            n += rows * cols;
            for c in 0..cols {
                for j in 0..rows {
                    let (b, r) = if j + 1 < rows {
                        (Term::Node(col_base + (j + 1) * cols + c), w.r_col)
                    } else {
                        (Term::Tia(c), w.r_col + w.r_term)
                    };
                    wires.push(Wire {
                        a: Term::Node(col_base + j * cols + c),
                        b,
                        g: 1.0 / r,
                    });
                }
            }
        } else if w.r_term > 0.0 {
            n += cols;
            for c in 0..cols {
                wires.push(Wire {
                    a: Term::Node(col_base + c),
                    b: Term::Tia(c),
                    g: 1.0 / w.r_term,
                });
            }
        }
        let col_term = |j: usize, c: usize| {
            if w.r_col > 0.0 {
                Term::Node(col_base + j * cols + c)
            } else if w.r_term > 0.0 {
                Term::Node(col_base + c)
            } else {
                Term::Tia(c)
            }
        };
        let mut cells = Vec::with_capacity(rows * cols);
        for j in 0..rows {
            for c in 0..cols {
                cells.push(Cell {
                    a: row_term(j, c),
                    b: col_term(j, c),
                });
            }
        }
        let mut topo = Topology {
            n,
            rows,
            cols,
            wires,
            cells,
            col_ptr: Vec::new(),
            row_idx: Vec::new(),
            diag_pos: Vec::new(),
            wire_pos: Vec::new(),
            cell_pos: Vec::new(),
            symbolic: None,
            ports: Vec::new(),
        };
        topo.build_pattern()?;
        Ok(topo)
    }

    fn build_pattern(&mut self) -> Result<(), CrossbarError> {
        let n = self.n;
        let ends = self
            .wires
            .iter()
            .map(|w| (w.a, w.b))
            .chain(self.cells.iter().map(|c| (c.a, c.b)));
        if n == 0 {
            self.wire_pos = vec![NONE; self.wires.len()];
            self.cell_pos = vec![NONE; self.cells.len()];
            return Ok(());
        }
        // (column, row) pairs of the strictly lower triangle.
        let mut pairs: Vec<(usize, usize)> = ends
            .filter_map(|e| match e {
                (Term::Node(a), Term::Node(b)) => Some((a.min(b), a.max(b))),
                _ => None,
            })
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut col_ptr = vec![0usize; n + 1];
        for &(c, _) in &pairs {
            col_ptr[c + 1] += 1;
        }
        for c in 0..n {
            col_ptr[c + 1] += col_ptr[c] + 1; // + 1: the diagonal
        }
        let mut row_idx = vec![0usize; col_ptr[n]];
        let mut diag_pos = vec![0usize; n];
        let mut next = col_ptr.clone();
        for c in 0..n {
            diag_pos[c] = next[c];
            row_idx[next[c]] = c;
            next[c] += 1;
        }
        for &(c, r) in &pairs {
            row_idx[next[c]] = r;
            next[c] += 1;
        }
        let pos = |a: Term, b: Term| match (a, b) {
            (Term::Node(a), Term::Node(b)) => {
                let (c, r) = (a.min(b), a.max(b));
                let s = &row_idx[col_ptr[c] + 1..col_ptr[c + 1]];
                col_ptr[c] + 1 + s.binary_search(&r).expect("entry is in the pattern")
            }
            _ => NONE,
        };
        self.wire_pos = self.wires.iter().map(|w| pos(w.a, w.b)).collect();
        self.cell_pos = self.cells.iter().map(|c| pos(c.a, c.b)).collect();
        let symbolic = SymbolicSparseColMatRef::new_checked(n, n, &col_ptr, None, &row_idx);
        #[allow(unused_mut)]
        let mut params = CholeskySymbolicParams::default();
        #[cfg(test)]
        if let Some(t) = tests::FACTOR_KIND.get() {
            params.supernodal_flop_ratio_threshold = t;
        }
        let analyse = |ordering| {
            factorize_symbolic_cholesky(symbolic, Side::Lower, ordering, params).map_err(|e| {
                CrossbarError::Solver {
                    what: format!("symbolic factorisation of the nodal matrix failed: {e:?}"),
                }
            })
        };
        let mut sym = analyse(SymmetricOrdering::Amd)?;
        // Ports last (keeping AMD's order within each group), when they are few: a driver
        // or amplifier joins a node only at the ends of the wires, unless a zero-resistance
        // wire lets every cell touch one.
        let mut is_port = vec![false; n];
        for (a, b) in self
            .wires
            .iter()
            .map(|w| (w.a, w.b))
            .chain(self.cells.iter().map(|c| (c.a, c.b)))
        {
            match (a, b) {
                (Term::Node(k), Term::Drive(_) | Term::Tia(_))
                | (Term::Drive(_) | Term::Tia(_), Term::Node(k)) => is_port[k] = true,
                _ => {}
            }
        }
        let p = is_port.iter().filter(|&&x| x).count();
        if p > 0 && p <= MAX_PORTS && 4 * p <= n {
            let fwd: Vec<usize> = match sym.perm() {
                Some(perm) => perm.arrays().0.to_vec(),
                None => (0..n).collect(),
            };
            let mut order: Vec<usize> = fwd.iter().copied().filter(|&k| !is_port[k]).collect();
            order.extend(fwd.iter().copied().filter(|&k| is_port[k]));
            let mut inv = vec![0usize; n];
            for (i, &k) in order.iter().enumerate() {
                inv[k] = i;
            }
            let perm = faer::perm::PermRef::new_checked(&order, &inv, n);
            sym = analyse(SymmetricOrdering::Custom(perm))?;
            self.ports = order[n - p..].to_vec();
        }
        self.symbolic = Some(sym);
        self.col_ptr = col_ptr;
        self.row_idx = row_idx;
        self.diag_pos = diag_pos;
        Ok(())
    }

    fn symbolic(&self) -> &SymbolicCholesky<usize> {
        self.symbolic.as_ref().expect("n > 0 has a symbolic factor")
    }
}

/// The voltage of a terminal for node voltages `x` and driver voltages `u`.
#[inline]
pub(crate) fn volt(x: &[f64], u: &[f64], t: Term) -> f64 {
    match t {
        Term::Node(k) => x[k],
        Term::Drive(j) => u[j],
        Term::Tia(_) => 0.0,
    }
}

impl Nodal {
    /// Builds the circuit of an array with cell conductances `g` (`rows x cols` physical
    /// columns) and the given wiring, with its symbolic factorisation.
    pub(crate) fn new(
        device: &DeviceParams,
        g: MatRef<'_, f64>,
        w: Wiring,
    ) -> Result<Nodal, CrossbarError> {
        let topo = Arc::new(Topology::new(g.nrows(), g.ncols(), w)?);
        Ok(Self::with_topology(topo, device, g))
    }

    /// The same circuit with other cell conductances (same shape): shares the topology and
    /// the symbolic factorisation.
    pub(crate) fn with_cells(&self, device: &DeviceParams, g: MatRef<'_, f64>) -> Nodal {
        assert!(g.nrows() == self.topo.rows && g.ncols() == self.topo.cols);
        Self::with_topology(Arc::clone(&self.topo), device, g)
    }

    fn with_topology(topo: Arc<Topology>, device: &DeviceParams, g: MatRef<'_, f64>) -> Nodal {
        let cols = g.ncols();
        let gv = (0..g.nrows() * cols)
            .map(|k| g[(k / cols, k % cols)])
            .collect();
        Nodal {
            topo,
            g: gv,
            v0: device.v0,
            sinh: device.iv == IvModel::Sinh,
        }
    }

    /// Number of unknown node voltages.
    pub(crate) fn unknowns(&self) -> usize {
        self.topo.n
    }

    /// Whether the cells follow the Stanford sinh law (otherwise they are resistors).
    pub(crate) fn is_sinh(&self) -> bool {
        self.sinh
    }

    /// The terminals of cell `(j, c)`.
    pub(crate) fn cell_terms(&self, j: usize, c: usize) -> (Term, Term) {
        let e = &self.topo.cells[j * self.topo.cols + c];
        (e.a, e.b)
    }

    /// Non-zeros of the lower triangle of the nodal matrix.
    pub(crate) fn nnz(&self) -> usize {
        self.topo.row_idx.len()
    }

    /// Non-zeros of the Cholesky factor.
    pub(crate) fn factor_nnz(&self) -> usize {
        self.topo.symbolic.as_ref().map_or(0, |s| s.len_val())
    }

    /// `f(ΔV)` of a cell: the read law without the conductance.
    #[inline]
    fn f(&self, dv: f64) -> f64 {
        if self.sinh {
            self.v0 * xbar_device::sinh(dv / self.v0)
        } else {
            dv
        }
    }

    /// `f'(ΔV)`: `cosh(ΔV/V0)` or 1.
    #[inline]
    fn df(&self, dv: f64) -> f64 {
        if self.sinh {
            (dv / self.v0).cosh()
        } else {
            1.0
        }
    }

    /// Stamps the matrix: wires with their conductance, cell `k` with `cell_g(k)`.
    fn stamp(&self, vals: &mut [f64], cell_g: impl Fn(usize) -> f64) {
        let t = &*self.topo;
        vals.fill(0.0);
        let mut put = |a: Term, b: Term, g: f64, pos: usize| {
            if let Term::Node(a) = a {
                vals[t.diag_pos[a]] += g;
            }
            if let Term::Node(b) = b {
                vals[t.diag_pos[b]] += g;
            }
            if pos != NONE {
                vals[pos] -= g;
            }
        };
        for (w, &p) in t.wires.iter().zip(&t.wire_pos) {
            put(w.a, w.b, w.g, p);
        }
        for (k, (c, &p)) in t.cells.iter().zip(&t.cell_pos).enumerate() {
            put(c.a, c.b, cell_g(k), p);
        }
    }

    fn factorize_into(
        &self,
        vals: &[f64],
        factor: &mut Factor,
        scratch: &mut Scratch,
    ) -> Result<(), CrossbarError> {
        let t = &*self.topo;
        let s = t.symbolic();
        let sym = SymbolicSparseColMatRef::new_checked(t.n, t.n, &t.col_ptr, None, &t.row_idx);
        let a = SparseColMatRef::new(sym, vals);
        factor.values.resize(s.len_val(), 0.0);
        s.factorize_numeric_llt(
            &mut factor.values,
            a,
            Side::Lower,
            LltRegularization::default(),
            Par::Seq,
            scratch.stack(s.factorize_numeric_llt_scratch::<f64>(Par::Seq, Default::default())),
            Default::default(),
        )
        .map_err(|e| CrossbarError::Solver {
            what: format!("the nodal matrix is not positive definite: {e:?}"),
        })?;
        Ok(())
    }

    /// Factorises the matrix with linear cells (the Jacobian at `ΔV = 0`).
    pub(crate) fn factorize_linear(&self) -> Result<Factor, CrossbarError> {
        let mut vals = vec![0.0; self.nnz()];
        self.stamp(&mut vals, |k| self.g[k]);
        let mut factor = Factor { values: Vec::new() };
        self.factorize_into(&vals, &mut factor, &mut Scratch::new())?;
        Ok(factor)
    }

    /// Solves `A x = rhs` in place (`rhs` is `n x k`).
    fn solve_in_place(&self, factor: &Factor, rhs: MatMut<'_, f64>, scratch: &mut Scratch) {
        let s = self.topo.symbolic();
        let need = s.solve_in_place_scratch::<f64>(rhs.ncols(), Par::Seq);
        LltRef::new(s, &factor.values).solve_in_place_with_conj(
            Conj::No,
            rhs,
            Par::Seq,
            scratch.stack(need),
        );
    }

    /// Current injected into each unknown node by branches to known drivers, with linear
    /// cells: the right-hand side `B u` of the linear system.
    fn linear_rhs(&self, u: &[f64], rhs: &mut [f64]) {
        let t = &*self.topo;
        rhs.fill(0.0);
        let ends = t
            .wires
            .iter()
            .map(|w| (w.a, w.b, w.g))
            .chain(t.cells.iter().zip(&self.g).map(|(c, &g)| (c.a, c.b, g)));
        for (a, b, g) in ends {
            match (a, b) {
                (Term::Drive(j), Term::Node(k)) | (Term::Node(k), Term::Drive(j)) => {
                    rhs[k] += g * u[j];
                }
                _ => {}
            }
        }
    }

    /// KCL residual: the net current leaving every unknown node.
    fn residual(&self, x: &[f64], u: &[f64], out: &mut [f64]) {
        let t = &*self.topo;
        out.fill(0.0);
        let mut put = |a: Term, b: Term, i: f64| {
            if let Term::Node(a) = a {
                out[a] += i;
            }
            if let Term::Node(b) = b {
                out[b] -= i;
            }
        };
        for w in &t.wires {
            put(w.a, w.b, w.g * (volt(x, u, w.a) - volt(x, u, w.b)));
        }
        for (c, &g) in t.cells.iter().zip(&self.g) {
            put(c.a, c.b, g * self.f(volt(x, u, c.a) - volt(x, u, c.b)));
        }
    }

    /// Currents into each column's virtual ground for node voltages `x` and drivers `u`.
    pub(crate) fn column_currents(&self, x: &[f64], u: &[f64], out: &mut [f64]) {
        let t = &*self.topo;
        out.fill(0.0);
        for w in &t.wires {
            if let Term::Tia(c) = w.b {
                out[c] += w.g * volt(x, u, w.a);
            }
        }
        for (c, &g) in t.cells.iter().zip(&self.g) {
            if let Term::Tia(k) = c.b {
                out[k] += g * self.f(volt(x, u, c.a));
            }
        }
    }

    /// Transfer matrix `T` (`cols x rows`) of the array with linear cells: column currents
    /// `I = T u` for driver voltages `u`: from the factor's trailing block when the ports are
    /// ordered last (two dense triangular solves of size `p`), else `min(rows, cols)` solves.
    pub(crate) fn transfer(&self, lin: Option<&Factor>) -> Result<Mat<f64>, CrossbarError> {
        let t = &*self.topo;
        let (rows, cols, n) = (t.rows, t.cols, t.n);
        let ends: Vec<(Term, Term, f64)> = t
            .wires
            .iter()
            .map(|w| (w.a, w.b, w.g))
            .chain(t.cells.iter().zip(&self.g).map(|(c, &g)| (c.a, c.b, g)))
            .collect();
        // D: drivers straight into virtual grounds.
        let mut tm = Mat::<f64>::zeros(cols, rows);
        for &(a, b, g) in &ends {
            if let (Term::Drive(j), Term::Tia(c)) = (a, b) {
                tm[(c, j)] += g;
            }
        }
        let Some(factor) = lin else {
            return Ok(tm);
        };
        // B (n x rows): driver j injects g u_j into node k.  C (cols x n): node k feeds
        // column c through g.
        let mut b_entries = Vec::new();
        let mut c_entries = Vec::new();
        for &(a, b, g) in &ends {
            match (a, b) {
                (Term::Drive(j), Term::Node(k)) | (Term::Node(k), Term::Drive(j)) => {
                    b_entries.push((k, j, g));
                }
                (Term::Node(k), Term::Tia(c)) => c_entries.push((c, k, g)),
                _ => {}
            }
        }
        if !t.ports.is_empty() {
            // Ports last: x_ports = S^-1 B_p u with S = L22 L22^T, the trailing block of the
            // factor (the Schur complement of the interior). Two dense triangular solves of
            // size p instead of min(rows, cols) sparse solves of size n.
            let p = t.ports.len();
            let mut pos = vec![usize::MAX; n];
            for (i, &k) in t.ports.iter().enumerate() {
                pos[k] = i;
            }
            let l22 = self.trailing_block(factor, p);
            let mut z = Mat::<f64>::zeros(p, rows);
            for &(k, j, g) in &b_entries {
                z[(pos[k], j)] += g;
            }
            faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                l22.as_ref(),
                z.as_mut(),
                Par::Seq,
            );
            faer::linalg::triangular_solve::solve_upper_triangular_in_place(
                l22.as_ref().transpose(),
                z.as_mut(),
                Par::Seq,
            );
            for &(c, k, g) in &c_entries {
                for j in 0..rows {
                    tm[(c, j)] += g * z[(pos[k], j)];
                }
            }
            return Ok(tm);
        }
        let mut stack = Scratch::new();
        if rows <= cols {
            let mut x = Mat::<f64>::zeros(n, rows);
            for &(k, j, g) in &b_entries {
                x[(k, j)] += g;
            }
            self.solve_in_place(factor, x.as_mut(), &mut stack);
            for &(c, k, g) in &c_entries {
                for j in 0..rows {
                    tm[(c, j)] += g * x[(k, j)];
                }
            }
        } else {
            let mut y = Mat::<f64>::zeros(n, cols);
            for &(c, k, g) in &c_entries {
                y[(k, c)] += g;
            }
            self.solve_in_place(factor, y.as_mut(), &mut stack);
            for &(k, j, g) in &b_entries {
                for c in 0..cols {
                    tm[(c, j)] += y[(k, c)] * g;
                }
            }
        }
        Ok(tm)
    }

    /// The trailing `p x p` block of the Cholesky factor `L` (lower triangular), in factor
    /// order: with the ports ordered last, `L22 L22^T` is the Schur complement onto them.
    fn trailing_block(&self, factor: &Factor, p: usize) -> Mat<f64> {
        use faer::sparse::linalg::cholesky::SymbolicCholeskyRaw;
        let n = self.topo.n;
        let first = n - p;
        let mut l = Mat::<f64>::zeros(p, p);
        match self.topo.symbolic().raw() {
            SymbolicCholeskyRaw::Supernodal(sym) => {
                let llt = faer::sparse::linalg::cholesky::supernodal::SupernodalLltRef::new(
                    sym,
                    &factor.values,
                );
                for sn in 0..sym.n_supernodes() {
                    let node = llt.supernode(sn);
                    let start = node.start();
                    let val = node.val();
                    let width = val.ncols();
                    if start + width <= first {
                        continue;
                    }
                    // Rows: the diagonal block's columns, then the pattern below it.
                    let row_of = |i: usize| {
                        if i < width {
                            start + i
                        } else {
                            node.pattern()[i - width]
                        }
                    };
                    for c in 0..width {
                        let col = start + c;
                        if col < first {
                            continue;
                        }
                        for i in c..val.nrows() {
                            let row = row_of(i);
                            l[(row - first, col - first)] = val[(i, c)];
                        }
                    }
                }
            }
            SymbolicCholeskyRaw::Simplicial(sym) => {
                let (col_ptr, row_idx) = (sym.col_ptr(), sym.row_idx());
                for col in first..n {
                    let range = col_ptr[col]..col_ptr[col + 1];
                    for (&row, &v) in row_idx[range.clone()].iter().zip(&factor.values[range]) {
                        if row >= col {
                            l[(row - first, col - first)] = v;
                        }
                    }
                }
            }
        }
        l
    }

    /// Solves KCL for a batch of driver-voltage vectors (the columns of `u`, `rows x k`) and
    /// returns the node voltages (`n x k`) and the iterations each column took.
    ///
    /// Start: the solution with linear cells (one multi-column solve with `lin`). Stanford
    /// cells then iterate `x <- x - J^-1 F(x)`, first with `J` = the linear matrix (chord
    /// steps: only a solve per iteration, in one multi-column solve for the batch), then, for
    /// any column not converged after [`CHORD_ITERATIONS`] or whose updates stop shrinking
    /// by [`CONTRACTION`], with the exact Jacobian
    /// `G cosh(ΔV/V0)` refactorised at every step (Newton). A column stops when its largest
    /// update is at most `tol` volts (or stalls at the rounding floor, below `1e3 tol`).
    pub(crate) fn solve_batch(
        &self,
        lin: &Factor,
        u: MatRef<'_, f64>,
        tol: f64,
        max_iter: usize,
    ) -> Result<(Mat<f64>, Vec<usize>), CrossbarError> {
        let n = self.topo.n;
        let k = u.ncols();
        let mut x = Mat::<f64>::zeros(n, k);
        let mut iters = vec![0usize; k];
        let mut stack = Scratch::new();
        let ucol = |c: usize| -> Vec<f64> { (0..u.nrows()).map(|j| u[(j, c)]).collect() };
        let us: Vec<Vec<f64>> = (0..k).map(ucol).collect();
        for (c, uc) in us.iter().enumerate() {
            self.linear_rhs(uc, x.col_as_slice_mut(c));
        }
        self.solve_in_place(lin, x.as_mut(), &mut stack);
        if !self.sinh || n == 0 {
            return Ok((x, iters));
        }
        let mut active: Vec<usize> = (0..k).collect();
        let mut newton: Vec<usize> = Vec::new();
        let mut last = vec![f64::INFINITY; k];
        let mut r = Mat::<f64>::zeros(n, k);
        for _ in 0..CHORD_ITERATIONS.min(max_iter) {
            if active.is_empty() {
                break;
            }
            let a = active.len();
            for (slot, &c) in active.iter().enumerate() {
                self.residual(x.col_as_slice(c), &us[c], r.col_as_slice_mut(slot));
            }
            self.solve_in_place(lin, r.as_mut().subcols_mut(0, a), &mut stack);
            let mut still = Vec::with_capacity(a);
            for (slot, &c) in active.iter().enumerate() {
                let d = r.col_as_slice(slot);
                let step = update(x.col_as_slice_mut(c), d);
                iters[c] += 1;
                if converged(step, last[c], tol) {
                    last[c] = step;
                } else if step.is_finite() && step <= CONTRACTION * last[c] {
                    last[c] = step;
                    still.push(c);
                } else {
                    // The linear Jacobian is too far from the true one here: undo a step
                    // that did not shrink and hand the image to Newton.
                    if step.is_nan() || step > last[c] {
                        for (xi, di) in x.col_as_slice_mut(c).iter_mut().zip(d) {
                            *xi += di;
                        }
                    }
                    newton.push(c);
                }
            }
            active = still;
        }
        newton.extend(active);
        // Newton with a fresh Jacobian for the columns the chord steps did not settle.
        newton.sort_unstable();
        if !newton.is_empty() {
            let mut vals = vec![0.0; self.nnz()];
            let mut factor = Factor { values: Vec::new() };
            let mut fstack = Scratch::new();
            let mut f = vec![0.0; n];
            for &c in &newton {
                let uc = &us[c];
                loop {
                    if iters[c] >= max_iter {
                        return Err(CrossbarError::NoConvergence {
                            iterations: iters[c],
                            step: last[c],
                        });
                    }
                    let xc = x.col_as_slice(c);
                    self.residual(xc, uc, &mut f);
                    self.stamp(&mut vals, |e| {
                        let cell = &self.topo.cells[e];
                        self.g[e] * self.df(volt(xc, uc, cell.a) - volt(xc, uc, cell.b))
                    });
                    self.factorize_into(&vals, &mut factor, &mut fstack)?;
                    self.solve_in_place(
                        &factor,
                        MatMut::from_column_major_slice_mut(&mut f, n, 1),
                        &mut stack,
                    );
                    let step = update(x.col_as_slice_mut(c), &f);
                    iters[c] += 1;
                    if step.is_nan() {
                        return Err(CrossbarError::NoConvergence {
                            iterations: iters[c],
                            step,
                        });
                    }
                    let done = converged(step, last[c], tol);
                    last[c] = step;
                    if done {
                        break;
                    }
                }
            }
        }
        Ok((x, iters))
    }
}

/// `x -= d`; returns `max |d|`.
fn update(x: &mut [f64], d: &[f64]) -> f64 {
    let mut step = 0.0f64;
    for (xi, di) in x.iter_mut().zip(d) {
        *xi -= di;
        step = step.max(di.abs());
    }
    step
}

/// Converged at `tol`, or stalled at the rounding floor of the nodal matrix.
fn converged(step: f64, last: f64, tol: f64) -> bool {
    step <= tol || (step <= 1e3 * tol && step >= last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::sparse::linalg::SupernodalThreshold;
    use faer::sparse::linalg::cholesky::SymbolicCholeskyRaw;

    thread_local! {
        /// Forces the simplicial or the supernodal factor in this thread's tests.
        pub(super) static FACTOR_KIND: std::cell::Cell<Option<SupernodalThreshold>> =
            const { std::cell::Cell::new(None) };
    }

    /// The transfer matrix from the factor's trailing block (ports ordered last) equals the
    /// one solved for, driver by driver, on several wirings; when a zero-resistance row wire
    /// makes every node a port, the solves are used.
    #[test]
    fn schur_transfer_equals_the_solved_one() {
        let d = DeviceParams {
            iv: IvModel::Linear,
            ..DeviceParams::default()
        };
        let cell = |i: usize, j: usize| 1e-6 + 1e-4 * (((i * 7 + j * 13) % 17) as f64 / 17.0);
        // A small array (a simplicial factor) and a 128 x 128-device tile (supernodal).
        let small = Mat::from_fn(13, 10, cell);
        let large = Mat::from_fn(128, 128, cell);
        let wirings = [
            (2.0, 2.0, 0.0, 0.0),
            (1.0, 3.0, 50.0, 20.0),
            (0.5, 0.0, 10.0, 5.0),
            (0.0, 1.0, 0.0, 0.0),
        ];
        let kinds = [
            SupernodalThreshold::FORCE_SIMPLICIAL,
            SupernodalThreshold::FORCE_SUPERNODAL,
        ];
        for (((r_row, r_col, r_source, r_term), g), kind) in wirings
            .into_iter()
            .flat_map(|w| [(w, &small), (w, &large)])
            .flat_map(|c| kinds.map(|k| (c, k)))
        {
            FACTOR_KIND.set(Some(kind));
            let w = Wiring {
                r_row,
                r_col,
                r_source,
                r_term,
            };
            let sys = Nodal::new(&d, g.as_ref(), w).unwrap();
            assert_eq!(
                matches!(
                    sys.topo.symbolic().raw(),
                    SymbolicCholeskyRaw::Supernodal(_)
                ),
                kind.0 == 0.0
            );
            let with_ports = !sys.topo.ports.is_empty();
            assert_eq!(with_ports, r_row > 0.0, "{r_row} {r_col}");
            let f = sys.factorize_linear().unwrap();
            let fast = sys.transfer(Some(&f)).unwrap();
            let mut solved = Nodal::new(&d, g.as_ref(), w).unwrap();
            Arc::get_mut(&mut solved.topo).unwrap().ports.clear();
            let slow = solved.transfer(Some(&f)).unwrap();
            let scale = slow.norm_max();
            for c in 0..fast.nrows() {
                for j in 0..fast.ncols() {
                    let e = (fast[(c, j)] - slow[(c, j)]).abs();
                    assert!(e <= 1e-12 * scale, "{r_row} {r_col}: {e:e} at ({c}, {j})");
                }
            }
        }
    }
}
