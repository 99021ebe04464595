"""Shared helpers of the model scripts: MNIST IDX reading, Adam, ONNX export and checks.

Needs numpy and onnx (onnxruntime for the checks); see docs/own-network.md for the venv.
Pixels are scaled as xbar reads them (byte / 255, row-major, no mean or std normalisation).
"""

import gzip
import os
import struct

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MNIST = os.path.join(REPO, "data", "mnist")
MODELS = os.path.join(REPO, "models")


def read_idx(name):
    """One IDX file of data/mnist as a uint8 array (images N x 28 x 28, labels N)."""
    with gzip.open(os.path.join(MNIST, name), "rb") as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    if magic == 0x0803:
        rows, cols = struct.unpack(">II", raw[8:16])
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, rows, cols)
    if magic == 0x0801:
        return np.frombuffer(raw, np.uint8, offset=8)
    raise ValueError(f"{name}: unknown IDX magic {magic:#x}")


def load_mnist():
    """(x_train, y_train, x_test, y_test): images float32 N x 1 x 28 x 28 in [0, 1]."""
    def images(name):
        return (read_idx(name).astype(np.float32) / 255.0)[:, None, :, :]

    return (
        images("train-images-idx3-ubyte.gz"),
        read_idx("train-labels-idx1-ubyte.gz").astype(np.int64),
        images("t10k-images-idx3-ubyte.gz"),
        read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64),
    )


class Adam:
    """Adam (Kingma and Ba) over a dict of float32 arrays, updated in place."""

    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, b1, b2, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads):
        self.t += 1
        c1, c2 = 1 - self.b1**self.t, 1 - self.b2**self.t
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            self.params[k] -= (self.lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)).astype(
                np.float32
            )


def softmax_xent(logits, y):
    """Mean cross-entropy and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
    p[np.arange(len(y)), y] -= 1.0
    return loss, p / len(y)


def save_model(model, path):
    """Checks the model with the ONNX checker and writes it."""
    import onnx

    onnx.checker.check_model(model, full_check=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)
    print(f"wrote {os.path.relpath(path, REPO)} ({os.path.getsize(path)} bytes)")


def ort_logits(path, x, batch=1000):
    """The model's first output for x (N x 1 x 28 x 28 float32) under onnxruntime (CPU)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)])
