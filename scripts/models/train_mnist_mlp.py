"""Trains a 784-256-128-10 MLP on MNIST with plain NumPy and exports models/mnist-mlp.onnx.

How models/mnist-mlp.onnx was made (python scripts/models/train_mnist_mlp.py):
- data: the repository's data/mnist IDX files, all 60,000 training images, pixels byte / 255;
- network: 784-256-128-10, ReLU, He-uniform initialisation, softmax cross-entropy;
- optimiser: Adam (lr 1e-3, betas 0.9 / 0.999, eps 1e-8), mini-batches of 128, 4 epochs,
  NumPy seed 0 (initialisation and shuffles), float32 throughout;
- result: 97.66% test accuracy on the 10,000 test images (printed by the script; the value
  under onnxruntime is printed too and must agree).

The graph deliberately mixes the export styles of the common frameworks, so that the importer is
exercised on each: input [N, 1, 28, 28] -> Reshape [0, -1] -> Gemm (transB = 1, the PyTorch
layout) -> Relu -> Dropout (inference no-op) -> MatMul + Add (the Keras/TF layout) -> Relu ->
Gemm (transB = 0) -> Softmax. The output "probabilities" is the softmax; xbar records that and
compares logits.
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from mnist_common import MODELS, Adam, load_mnist, ort_logits, save_model, softmax_xent  # noqa: E402

SEED = 0
EPOCHS = 4
BATCH = 128
SIZES = [784, 256, 128, 10]


def init(rng):
    p = {}
    for k, (fi, fo) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        lim = np.sqrt(6.0 / fi)
        p[f"w{k}"] = rng.uniform(-lim, lim, (fi, fo)).astype(np.float32)
        p[f"b{k}"] = np.zeros(fo, np.float32)
    return p


def forward(p, x):
    acts = [x]
    for k in range(len(SIZES) - 1):
        z = acts[-1] @ p[f"w{k}"] + p[f"b{k}"]
        acts.append(np.maximum(z, 0) if k < len(SIZES) - 2 else z)
    return acts


def backward(p, acts, dz):
    g = {}
    for k in reversed(range(len(SIZES) - 1)):
        g[f"w{k}"] = acts[k].T @ dz
        g[f"b{k}"] = dz.sum(axis=0)
        if k > 0:
            dz = (dz @ p[f"w{k}"].T) * (acts[k] > 0)
    return g


def export(p, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [
        # Gemm with transB = 1 wants the PyTorch layout [out, in].
        numpy_helper.from_array(np.ascontiguousarray(p["w0"].T), "fc1.weight"),
        numpy_helper.from_array(p["b0"], "fc1.bias"),
        numpy_helper.from_array(p["w1"], "fc2.kernel"),
        numpy_helper.from_array(p["b1"], "fc2.bias"),
        numpy_helper.from_array(p["w2"], "fc3.weight_in_out"),
        numpy_helper.from_array(p["b2"], "fc3.bias"),
        numpy_helper.from_array(np.array([0, -1], np.int64), "flat_shape"),
    ]
    nodes = [
        helper.make_node("Reshape", ["image", "flat_shape"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["h1"], name="fc1", transB=1),
        helper.make_node("Relu", ["h1"], ["a1"], name="relu1"),
        helper.make_node("Dropout", ["a1"], ["d1"], name="dropout1"),
        helper.make_node("MatMul", ["d1", "fc2.kernel"], ["h2_mm"], name="fc2_matmul"),
        helper.make_node("Add", ["h2_mm", "fc2.bias"], ["h2"], name="fc2_add"),
        helper.make_node("Relu", ["h2"], ["a2"], name="relu2"),
        helper.make_node("Gemm", ["a2", "fc3.weight_in_out", "fc3.bias"], ["logits"], name="fc3"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mnist-mlp",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        producer_name="xbar scripts/models/train_mnist_mlp.py",
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    model.doc_string = "784-256-128-10 MLP, NumPy Adam, 4 epochs, seed 0"
    save_model(model, path)


def main():
    rng = np.random.default_rng(SEED)
    x_train, y_train, x_test, y_test = load_mnist()
    xtr = x_train.reshape(len(x_train), -1)
    xte = x_test.reshape(len(x_test), -1)
    p = init(rng)
    opt = Adam(p)
    t0 = time.time()
    for epoch in range(EPOCHS):
        order = rng.permutation(len(xtr))
        total = 0.0
        for s in range(0, len(order), BATCH):
            idx = order[s : s + BATCH]
            acts = forward(p, xtr[idx])
            loss, dz = softmax_xent(acts[-1], y_train[idx])
            opt.step(backward(p, acts, dz.astype(np.float32)))
            total += loss * len(idx)
        acc = (forward(p, xte)[-1].argmax(1) == y_test).mean()
        print(f"epoch {epoch + 1}: loss {total / len(order):.4f}, test accuracy {acc:.4f} ({time.time() - t0:.0f} s)")
    path = os.path.join(MODELS, "mnist-mlp.onnx")
    export(p, path)
    probs = ort_logits(path, x_test)
    ort_acc = (probs.argmax(1) == y_test).mean()
    print(f"test accuracy: numpy {acc:.4f}, onnxruntime {ort_acc:.4f}")


if __name__ == "__main__":
    main()
