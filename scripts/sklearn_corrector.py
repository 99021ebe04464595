"""Train scikit-learn's MLPClassifier on the exact data xbar used and compare.

Reads DIR/train.csv, DIR/test.csv (10 voltages then the label per line) and DIR/xbar.json
(written by `xbar bench corrector --export DIR`), trains MLPClassifier with the same
architecture, epochs, batch size, learning rate and L2, on inputs standardised with the
training set's statistics (as xbar does), and prints both timings, both accuracies and the ratio.
"""
import json
import sys
import time

import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

d = sys.argv[1]
meta = json.load(open(f"{d}/xbar.json"))
tr = np.loadtxt(f"{d}/train.csv", delimiter=",")
te = np.loadtxt(f"{d}/test.csv", delimiter=",")
xtr, ytr = tr[:, :10], tr[:, 10].astype(int)
xte, yte = te[:, :10], te[:, 10].astype(int)

t0 = time.perf_counter()
scaler = StandardScaler().fit(xtr)
clf = MLPClassifier(
    hidden_layer_sizes=tuple(meta["architecture"]),
    solver="adam",
    batch_size=meta["batch_size"],
    learning_rate_init=meta["learning_rate"],
    alpha=meta["l2"],
    max_iter=meta["epochs"],
    tol=0.0,
    n_iter_no_change=10**9,
    shuffle=True,
    random_state=0,
)
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is the epoch budget on purpose
    clf.fit(scaler.transform(xtr), ytr)
sk_s = time.perf_counter() - t0
sk_acc = float((clf.predict(scaler.transform(xte)) == yte).mean())

print(f"samples: {len(ytr)} train, {len(yte)} test; MLP{tuple(meta['architecture'])}, {meta['epochs']} epochs, batch {meta['batch_size']}")
print(f"  xbar         : {meta['train_seconds']:8.3f} s   test accuracy {100 * meta['test_accuracy']:.2f} %")
print(f"  scikit-learn : {sk_s:8.3f} s   test accuracy {100 * sk_acc:.2f} %   ({clf.n_iter_} epochs)")
print(f"  faulty circuit (no corrector): {100 * meta['faulty_accuracy']:.2f} %")
print(f"  speed-up xbar / scikit-learn : {sk_s / meta['train_seconds']:.1f}x  (target >= 10x at equal accuracy)")
