"""Checks the task head of an ONNX model written by `gpu-mlp export`: the ONNX
checker, then onnxruntime's named output on float32 feature rows, compared with
what gpu-mlp answers for them. Prints one JSON object.

usage: python3 onnx_answer.py MODEL.onnx INPUTS.f32 WANT.f32 FEATURES OUTPUT
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

model_path, inputs_path, want_path, features, output = sys.argv[1:6]
model = onnx.load(model_path)
onnx.checker.check_model(model, full_check=True)
x = np.fromfile(inputs_path, dtype=np.float32).reshape(-1, int(features))
want = np.fromfile(want_path, dtype=np.float32).reshape(len(x), -1)
runtime = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
got = runtime.run([output], {"input": x})[0]
# Relative to each row's largest value: one near zero has no meaningful relative error.
scale = np.maximum(np.abs(want).max(axis=1, keepdims=True), 1e-6)
print(json.dumps({
    "shape": list(got.shape),
    "max_rel_err": float((np.abs(got - want) / scale).max()),
    "metadata": {p.key: p.value for p in model.metadata_props},
}))
