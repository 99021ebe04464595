"""Writes crates/import/tests/data/ops.onnx and ops-expected.npz: a small model that uses the
operator forms the MNIST models do not (auto_pad VALID, strides, average pooling with
count_include_pad = 1 and padding, asymmetric MaxPool pads, GlobalAveragePool, Identity, a
Constant shape for Reshape, Gemm alpha/beta with transB = 0, weights as float_data, a bias Add
after a Conv), with onnxruntime's output on five random inputs ("x", "logits").
Needs numpy, onnx and onnxruntime.

    python scripts/models/make_op_fixture.py
"""

import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "import", "tests", "data")


def main():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    inits = [
        # float_data rather than raw_data.
        helper.make_tensor("conv.w", TensorProto.FLOAT, w.shape, w.flatten().tolist()),
        numpy_helper.from_array(rng.standard_normal((1, 4, 1, 1)).astype(np.float32), "conv.badd"),
        numpy_helper.from_array(rng.standard_normal((4, 5)).astype(np.float32), "fc.w"),
        numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "fc.b"),
    ]
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 4])
    nodes = [
        helper.make_node("Conv", ["x", "conv.w"], ["c"], name="conv", auto_pad="VALID", strides=[1, 1]),
        helper.make_node("Add", ["c", "conv.badd"], ["cb"], name="bias"),
        helper.make_node("Relu", ["cb"], ["r"], name="relu"),
        helper.make_node("AveragePool", ["r"], ["a"], name="avg", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], count_include_pad=1),
        helper.make_node("MaxPool", ["a"], ["m"], name="max", kernel_shape=[2, 2], pads=[0, 0, 1, 1]),
        helper.make_node("GlobalAveragePool", ["m"], ["g"], name="gap"),
        helper.make_node("Identity", ["g"], ["i"], name="id"),
        helper.make_node("Constant", [], ["shape_c"], name="const", value=shape),
        helper.make_node("Reshape", ["i", "shape_c"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["logits"], name="fc", alpha=0.5, beta=2.0),
    ]
    g = helper.make_graph(
        nodes, "ops",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 9, 9])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 5])],
        initializer=inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    path = os.path.join(OUT, "ops.onnx")
    onnx.save(m, path)
    x = rng.standard_normal((5, 3, 9, 9)).astype(np.float32)
    y = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.savez(os.path.join(OUT, "ops-expected.npz"), x=x.reshape(5, -1), logits=y)
    print(path, os.path.getsize(path), y.shape)


if __name__ == "__main__":
    main()
