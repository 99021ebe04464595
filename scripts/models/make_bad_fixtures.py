"""Writes the small bad-input fixtures of crates/import/tests/data/bad/ (each a few hundred
bytes), for the tests that check xbar's error messages, and the small good fixture
crates/import/tests/data/tiny-weights.npz (a conv + batch-norm + pool + dense network's weights
in PyTorch and Keras layouts, three inputs "x" and their float64 outputs "expected" computed here
with plain NumPy loops). Needs numpy and onnx.

    python scripts/models/make_bad_fixtures.py
"""

import io
import os
import struct
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "import", "tests", "data", "bad")


def model(nodes, inits, in_shape, out_shape, name):
    g = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def save(m, name):
    path = os.path.join(OUT, name)
    onnx.save(m, path)
    return path


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(3, np.float32), "b")
    # A valid tiny model, then the same bytes cut in the middle.
    tiny = model([helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)], [w, b], ["N", 4], ["N", 3], "tiny")
    data = tiny.SerializeToString()
    with open(os.path.join(OUT, "truncated.onnx"), "wb") as f:
        f.write(data[: len(data) * 2 // 3])
    with open(os.path.join(OUT, "not-onnx.onnx"), "wb") as f:
        f.write(b"label,feature\n1,2\nthis is a CSV file, not an ONNX model\n")
    save(model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1),
                helper.make_node("Tanh", ["h"], ["y"], name="act")], [w, b], ["N", 4], ["N", 3], "tanh"), "tanh.onnx")
    cw = numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "cw")
    save(model([helper.make_node("Conv", ["x", "cw"], ["y"], name="grouped", kernel_shape=[3, 3], group=2)],
               [cw], ["N", 2, 5, 5], ["N", 4, 3, 3], "group"), "conv-group2.onnx")
    save(model([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                helper.make_node("Gemm", ["r", "w", "b"], ["g"], name="fc", transB=1),
                helper.make_node("Gemm", ["x", "w", "b"], ["s"], name="skip", transB=1),
                helper.make_node("Add", ["g", "s"], ["y"], name="sum")], [w, b], ["N", 4], ["N", 3], "branch"), "branch.onnx")

    # Data sets.
    np.savez(os.path.join(OUT, "rows-mismatch.npz"), x_test=np.zeros((10, 4), np.float32), y_test=np.zeros(9, np.int64))
    y = np.arange(10, dtype=np.int32) % 10
    y[7] = 12
    np.savez(os.path.join(OUT, "label-range.npz"), x_test=np.zeros((10, 4), np.uint8), y_test=y)
    # An .npy whose header claims 10^9 x 784 float32 values but holds 16 bytes.
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 784), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\x00" * 16
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("x_test.npy", npy)
        labels = io.BytesIO()
        np.save(labels, np.zeros(4, np.int64))
        z.writestr("y_test.npy", labels.getvalue())
    with open(os.path.join(OUT, "huge-dim.npz"), "wb") as f:
        f.write(buf.getvalue())
    # An IDX image file claiming 2^31 images of 28 x 28 with 784 bytes present.
    with open(os.path.join(OUT, "huge-dim.idx"), "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", 2**31, 28, 28) + bytes(784))
    tiny_weights(rng)
    for n in sorted(os.listdir(OUT)):
        print(n, os.path.getsize(os.path.join(OUT, n)))


def tiny_weights(rng):
    """Conv 1->2 3x3 pad 1, BN, ReLU, MaxPool 2, Flatten, Dense 18->3 ([out, in]), ReLU,
    Dense 3->2 ([in, out], no bias), on 1 x 6 x 6 inputs."""
    f = lambda *s: rng.standard_normal(s)  # noqa: E731
    p = {"conv.w": f(2, 1, 3, 3), "conv.b": f(2), "bn.g": f(2), "bn.b": f(2), "bn.m": f(2),
         "bn.v": rng.uniform(0.5, 2.0, 2), "fc1.w": f(3, 18), "fc1.b": f(3), "fc2.w": f(3, 2)}
    x = f(3, 1, 6, 6)
    out = []
    for s in x:
        pad = np.pad(s[0], 1)
        conv = np.array([[[(pad[i : i + 3, j : j + 3] * p["conv.w"][m, 0]).sum() + p["conv.b"][m]
                           for j in range(6)] for i in range(6)] for m in range(2)])
        bn = (conv - p["bn.m"][:, None, None]) / np.sqrt(p["bn.v"][:, None, None] + 1e-5)
        bn = bn * p["bn.g"][:, None, None] + p["bn.b"][:, None, None]
        r = np.maximum(bn, 0)
        pool = r.reshape(2, 3, 2, 3, 2).max(axis=(2, 4))
        h = np.maximum(p["fc1.w"] @ pool.reshape(-1) + p["fc1.b"], 0)
        out.append(h @ p["fc2.w"])
    np.savez(os.path.join(OUT, "..", "tiny-weights.npz"), x=x.reshape(3, -1), expected=np.array(out), **p)


if __name__ == "__main__":
    main()
