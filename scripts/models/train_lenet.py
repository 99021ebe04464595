"""Trains a LeNet-style CNN on MNIST with plain NumPy and exports models/mnist-lenet.onnx.

How models/mnist-lenet.onnx was made (python scripts/models/train_lenet.py):
- data: the repository's data/mnist IDX files; the first 30,000 training images (a subset, to
  keep training near 7 minutes on two shared cores), pixels byte / 255;
- network: Conv 1->6 5x5 pad 2 -> BatchNormalization -> ReLU -> MaxPool 2x2 ->
  Conv 6->16 5x5 -> ReLU -> AveragePool 2x2 -> Flatten -> Gemm 400->120 -> ReLU ->
  Gemm 120->84 -> ReLU -> Gemm 84->10 (logits, no softmax);
- training: softmax cross-entropy, Adam (lr 1e-3, betas 0.9 / 0.999, eps 1e-8), mini-batches of
  64, 2 epochs, NumPy seed 0 (He-uniform initialisation, shuffles), float32; convolutions by
  im2col, batch normalisation with batch statistics while training and running averages
  (momentum 0.1, epsilon 1e-5) in the exported model;
- result: 97.97% test accuracy on the 10,000 test images (printed by the script, with the value
  under onnxruntime, which must agree).

The exported BatchNormalization has non-trivial scale, shift, mean and variance, so importers
that fold it into the convolution are exercised; the AveragePool exercises the average path.
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from mnist_common import MODELS, Adam, load_mnist, ort_logits, save_model, softmax_xent  # noqa: E402

SEED = 0
EPOCHS = 2
BATCH = 64
TRAIN_IMAGES = 30000
BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def im2col(x, kh, kw, pad):
    """x: N x C x H x W -> (N * OH * OW) x (C * kh * kw), stride 1; columns ordered (c, ky, kx)."""
    n, c, h, w = x.shape
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, w + 2 * pad - kw + 1
    cols = np.empty((n, oh, ow, c, kh, kw), x.dtype)
    for ky in range(kh):
        for kx in range(kw):
            cols[:, :, :, :, ky, kx] = x[:, :, ky : ky + oh, kx : kx + ow].transpose(0, 2, 3, 1)
    return cols.reshape(n * oh * ow, c * kh * kw), (n, oh, ow)


def col2im(dcols, shape, c, h, w, kh, kw, pad):
    """Adjoint of im2col: sums the patch gradients back into N x C x H x W."""
    n, oh, ow = shape
    dcols = dcols.reshape(n, oh, ow, c, kh, kw)
    dx = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dcols.dtype)
    for ky in range(kh):
        for kx in range(kw):
            dx[:, :, ky : ky + oh, kx : kx + ow] += dcols[:, :, :, :, ky, kx].transpose(0, 3, 1, 2)
    return dx[:, :, pad : pad + h, pad : pad + w] if pad else dx


def conv_fwd(x, w, b, pad):
    m, c, kh, kw = w.shape
    cols, shape = im2col(x, kh, kw, pad)
    y = cols @ w.reshape(m, -1).T + b
    n, oh, ow = shape
    return y.reshape(n, oh, ow, m).transpose(0, 3, 1, 2), (cols, shape, x.shape)


def conv_bwd(dy, w, cache, pad):
    cols, shape, xshape = cache
    m, c, kh, kw = w.shape
    dy2 = dy.transpose(0, 2, 3, 1).reshape(-1, m)
    dw = (dy2.T @ cols).reshape(w.shape)
    db = dy2.sum(axis=0)
    dx = col2im(dy2 @ w.reshape(m, -1), shape, c, xshape[2], xshape[3], kh, kw, pad)
    return dx, dw, db


def pool2_fwd(x, kind):
    n, c, h, w = x.shape
    r = x.reshape(n, c, h // 2, 2, w // 2, 2)
    if kind == "max":
        rr = r.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
        am = rr.argmax(axis=-1)  # one winner per window (the first), as a max has one derivative
        y = np.take_along_axis(rr, am[..., None], axis=-1)[..., 0]
        return y, np.arange(4) == am[..., None]
    return r.mean(axis=(3, 5)), None


def pool2_bwd(dy, win, kind):
    n, c, oh, ow = dy.shape
    if kind == "max":
        d = (win * dy[..., None]).reshape(n, c, oh, ow, 2, 2).transpose(0, 1, 2, 4, 3, 5)
        return d.reshape(n, c, 2 * oh, 2 * ow)
    return np.repeat(np.repeat(dy / 4.0, 2, axis=2), 2, axis=3)


def he(rng, shape, fan_in):
    lim = np.sqrt(6.0 / fan_in)
    return rng.uniform(-lim, lim, shape).astype(np.float32)


def init(rng):
    return {
        "conv1.w": he(rng, (6, 1, 5, 5), 25),
        "conv1.b": np.zeros(6, np.float32),
        "bn1.gamma": np.ones(6, np.float32),
        "bn1.beta": np.zeros(6, np.float32),
        "conv2.w": he(rng, (16, 6, 5, 5), 150),
        "conv2.b": np.zeros(16, np.float32),
        "fc1.w": he(rng, (120, 400), 400),
        "fc1.b": np.zeros(120, np.float32),
        "fc2.w": he(rng, (84, 120), 120),
        "fc2.b": np.zeros(84, np.float32),
        "fc3.w": he(rng, (10, 84), 84),
        "fc3.b": np.zeros(10, np.float32),
    }


def forward(p, stats, x, train):
    c = {}
    z1, c["conv1"] = conv_fwd(x, p["conv1.w"], p["conv1.b"], 2)
    if train:
        mu, var = z1.mean(axis=(0, 2, 3)), z1.var(axis=(0, 2, 3))
        stats["mean"] = (1 - BN_MOMENTUM) * stats["mean"] + BN_MOMENTUM * mu
        n = z1.size / z1.shape[1]
        stats["var"] = (1 - BN_MOMENTUM) * stats["var"] + BN_MOMENTUM * var * n / (n - 1)
    else:
        mu, var = stats["mean"], stats["var"]
    inv = 1.0 / np.sqrt(var + BN_EPS)
    xhat = (z1 - mu[None, :, None, None]) * inv[None, :, None, None]
    c["bn"] = (xhat, inv)
    bn = xhat * p["bn1.gamma"][None, :, None, None] + p["bn1.beta"][None, :, None, None]
    a1 = np.maximum(bn, 0)
    c["a1"] = a1
    p1, c["pool1"] = pool2_fwd(a1, "max")
    z2, c["conv2"] = conv_fwd(p1, p["conv2.w"], p["conv2.b"], 0)
    a2 = np.maximum(z2, 0)
    c["a2"] = a2
    p2, _ = pool2_fwd(a2, "avg")
    f = p2.reshape(len(x), -1)
    c["f"] = f
    h1 = np.maximum(f @ p["fc1.w"].T + p["fc1.b"], 0)
    h2 = np.maximum(h1 @ p["fc2.w"].T + p["fc2.b"], 0)
    c["h1"], c["h2"] = h1, h2
    return h2 @ p["fc3.w"].T + p["fc3.b"], c


def backward(p, c, dz):
    g = {}
    g["fc3.w"], g["fc3.b"] = dz.T @ c["h2"], dz.sum(0)
    d = (dz @ p["fc3.w"]) * (c["h2"] > 0)
    g["fc2.w"], g["fc2.b"] = d.T @ c["h1"], d.sum(0)
    d = (d @ p["fc2.w"]) * (c["h1"] > 0)
    g["fc1.w"], g["fc1.b"] = d.T @ c["f"], d.sum(0)
    d = (d @ p["fc1.w"]).reshape(-1, 16, 5, 5)
    d = pool2_bwd(d, None, "avg") * (c["a2"] > 0)
    d, g["conv2.w"], g["conv2.b"] = conv_bwd(d, p["conv2.w"], c["conv2"], 0)
    d = pool2_bwd(d, c["pool1"], "max") * (c["a1"] > 0)
    xhat, inv = c["bn"]
    g["bn1.gamma"] = (d * xhat).sum(axis=(0, 2, 3))
    g["bn1.beta"] = d.sum(axis=(0, 2, 3))
    dxhat = d * p["bn1.gamma"][None, :, None, None]
    m = d.size / d.shape[1]
    dz1 = (
        inv[None, :, None, None]
        / m
        * (m * dxhat - dxhat.sum(axis=(0, 2, 3), keepdims=True) - xhat * (dxhat * xhat).sum(axis=(0, 2, 3), keepdims=True))
    )
    _, g["conv1.w"], g["conv1.b"] = conv_bwd(dz1.astype(np.float32), p["conv1.w"], c["conv1"], 2)
    return {k: v.astype(np.float32) for k, v in g.items()}


def export(p, stats, path):
    from onnx import TensorProto, helper, numpy_helper

    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    inits = [numpy_helper.from_array(f32(v), k) for k, v in p.items() if not k.startswith("bn1.")]
    inits += [
        numpy_helper.from_array(f32(p["bn1.gamma"]), "bn1.scale"),
        numpy_helper.from_array(f32(p["bn1.beta"]), "bn1.bias"),
        numpy_helper.from_array(f32(stats["mean"]), "bn1.mean"),
        numpy_helper.from_array(f32(stats["var"]), "bn1.var"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "conv1.w", "conv1.b"], ["c1"], name="conv1",
                         kernel_shape=[5, 5], pads=[2, 2, 2, 2], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn1.scale", "bn1.bias", "bn1.mean", "bn1.var"],
                         ["b1"], name="bn1", epsilon=BN_EPS, momentum=1 - BN_MOMENTUM),
        helper.make_node("Relu", ["b1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2.w", "conv2.b"], ["c2"], name="conv2", kernel_shape=[5, 5]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("AveragePool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc1.w", "fc1.b"], ["g1"], name="fc1", transB=1),
        helper.make_node("Relu", ["g1"], ["h1"], name="relu3"),
        helper.make_node("Gemm", ["h1", "fc2.w", "fc2.b"], ["g2"], name="fc2", transB=1),
        helper.make_node("Relu", ["g2"], ["h2"], name="relu4"),
        helper.make_node("Gemm", ["h2", "fc3.w", "fc3.b"], ["logits"], name="fc3", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mnist-lenet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        producer_name="xbar scripts/models/train_lenet.py",
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    model.doc_string = "LeNet-style CNN with BatchNormalization, NumPy Adam, 2 epochs on 30k images, seed 0"
    save_model(model, path)


def main():
    rng = np.random.default_rng(SEED)
    x_train, y_train, x_test, y_test = load_mnist()
    x_train, y_train = x_train[:TRAIN_IMAGES], y_train[:TRAIN_IMAGES]
    p = init(rng)
    stats = {"mean": np.zeros(6, np.float32), "var": np.ones(6, np.float32)}
    opt = Adam(p)
    t0 = time.time()

    def accuracy():
        return np.mean([
            (forward(p, stats, x_test[i : i + 1000], False)[0].argmax(1) == y_test[i : i + 1000]).mean()
            for i in range(0, len(x_test), 1000)
        ])

    for epoch in range(EPOCHS):
        order = rng.permutation(len(x_train))
        total = 0.0
        for s in range(0, len(order), BATCH):
            idx = order[s : s + BATCH]
            logits, cache = forward(p, stats, x_train[idx], True)
            loss, dz = softmax_xent(logits, y_train[idx])
            opt.step(backward(p, cache, dz.astype(np.float32)))
            total += loss * len(idx)
        acc = accuracy()
        print(f"epoch {epoch + 1}: loss {total / len(order):.4f}, test accuracy {acc:.4f} ({time.time() - t0:.0f} s)")
    path = os.path.join(MODELS, "mnist-lenet.onnx")
    export(p, stats, path)
    ort_acc = (ort_logits(path, x_test).argmax(1) == y_test).mean()
    print(f"test accuracy: numpy {acc:.4f}, onnxruntime {ort_acc:.4f}")


if __name__ == "__main__":
    main()
