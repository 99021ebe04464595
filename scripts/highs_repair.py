"""Solve the exact L1 repair LP that xbar exported, with HiGHS (scipy), and compare timings.

Reads DIR/meta.json, DIR/M_rowmajor_f64le.bin (p x N, row-major), DIR/sigma_f64le.bin,
DIR/e0_f64le.bin (raw little-endian f64; written by `xbar bench repair --export DIR`) and
DIR/xbar.json (xbar's timings of each decoder on the same instance). Solves the split form

    min 1'(u + v)  s.t.  [M, -M] [u; v] = sigma,  u, v >= 0,   e = u - v

with scipy.optimize.linprog(method="highs"), timed as the median of several runs, each
including the construction of the LP (the hstack of [M, -M] and the cost vector), and prints
the time, the error ||e - e0||, and HiGHS time / xbar time for every xbar decoder.

Usage: python scripts/highs_repair.py DIR [RUNS]
"""
import json
import statistics
import sys
import time

import numpy as np
import scipy
from scipy.optimize import linprog

d = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
meta = json.load(open(f"{d}/meta.json"))
p, n = meta["p"], meta["n"]
M = np.fromfile(f"{d}/{meta['M']}", dtype="<f8").reshape(p, n)
sigma = np.fromfile(f"{d}/{meta['sigma']}", dtype="<f8")
e0 = np.fromfile(f"{d}/{meta['e0']}", dtype="<f8")
xbar = json.load(open(f"{d}/xbar.json"))


def solve(method):
    a_eq = np.hstack([M, -M])
    c = np.ones(2 * n)
    res = linprog(c, A_eq=a_eq, b_eq=sigma, bounds=(0, None), method=method)
    return res


times = {}
results = {}
for method in ["highs", "highs-ipm"]:
    t = []
    res = None
    for _ in range(runs):
        t0 = time.perf_counter()
        res = solve(method)
        t.append(time.perf_counter() - t0)
    times[method] = statistics.median(t)
    results[method] = res

print(
    f"LP: p = {p} checks, N = {n} unknowns, s = {meta['s']} errors (seed {meta['seed']}); "
    f"scipy {scipy.__version__}, numpy {np.__version__}; median of {runs} runs incl. setup"
)
for method, res in results.items():
    e = res.x[:n] - res.x[n:]
    err = float(np.linalg.norm(e - e0))
    ok = err <= 1e-4 * max(1.0, float(np.linalg.norm(e0)))
    iters = getattr(res, "nit", "?")
    print(
        f"  HiGHS {method:<10}: {1e3 * times[method]:9.2f} ms   status {res.status}, "
        f"{iters} iterations, ||e - e0|| = {err:.2e} ({'recovered' if ok else 'FAILED'})"
    )
highs = times["highs"]
print("  xbar on the same instance (median of its runs) and HiGHS time / xbar time:")
for name, r in xbar["decoders"].items():
    t = r["instance0_seconds"]
    ok = "recovered" if r["instance0_success"] else "FAILED"
    print(
        f"    {name:<14}: {1e3 * t:10.2f} ms  ({ok})   HiGHS / xbar = {highs / t:8.2f}x"
    )
