#!/usr/bin/env bash
# MLP(10, 10) corrector training: xbar against scikit-learn's MLPClassifier on identical data,
# architecture and hyper-parameters, in one run. Installs scikit-learn into a private venv.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${EPOCHS:-30}"
venv="target/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet scikit-learn numpy
out="target/bench-corrector"
cargo run --release --quiet -- bench corrector --epochs "$epochs" --export "$out"
"$venv/bin/python" scripts/sklearn_corrector.py "$out"
