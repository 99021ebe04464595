#!/usr/bin/env bash
# L1 repair of one 256x14 group of the paper's code at the recovery threshold: xbar's decoders
# (OMP, exact homotopy, cascade, Clarabel) against HiGHS (scipy.optimize.linprog) on the
# identical LP, in one run. Installs scipy and numpy into a private venv (target/bench-venv).
# S="10 20" (default) chooses the error counts; RUNS (default 5) the HiGHS repetitions.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="target/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet scipy numpy
cargo build --release --quiet -p xbar-cli
for s in ${S:-10 20}; do
    out="target/bench-repair/s$s"
    echo "=== s = $s ==="
    ./target/release/xbar bench repair --s "$s" --export "$out"
    "$venv/bin/python" scripts/highs_repair.py "$out" "${RUNS:-5}"
done
