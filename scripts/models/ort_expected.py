"""Runs onnxruntime on MNIST test images and writes the logits as an NPZ, for xbar's tests.

    python scripts/models/ort_expected.py MODEL.onnx OUT.npz [--count N] [--offset K]

The images are the repository's data/mnist test set (t10k), images offset .. offset+count-1,
pixels byte / 255, shape N x 1 x 28 x 28 float32. The tensor named "logits" is exposed as an
extra graph output when the model's own output is something else (a final Softmax), so the
NPZ always holds pre-softmax logits: key "logits" (float32, count x classes), "offset" and
"count" (int64). The committed fixtures crates/import/tests/data/*-expected.npz were made with
--count 256 (numpy 2.4.6, onnx 1.23.2, onnxruntime 1.32.0); xbar's live test calls this script
with XBAR_PYTHON on more images.
"""

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from mnist_common import load_mnist, ort_logits  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=256)
    ap.add_argument("--offset", type=int, default=0)
    a = ap.parse_args()

    import onnx
    from onnx import helper

    model = onnx.load(a.model)
    if model.graph.output[0].name != "logits":
        model.graph.output.insert(0, helper.make_empty_tensor_value_info("logits"))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.onnx")
        onnx.save(model, path)
        _, _, x_test, _ = load_mnist()
        logits = ort_logits(path, x_test[a.offset : a.offset + a.count])
    np.savez_compressed(
        a.out,
        logits=logits.astype(np.float32),
        offset=np.array(a.offset, np.int64),
        count=np.array(len(logits), np.int64),
    )
    print(f"wrote {a.out}: logits {logits.shape}")


if __name__ == "__main__":
    main()
