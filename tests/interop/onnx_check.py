"""Checks an ONNX model written by `gpu-mlp export` with the reference tools: the
ONNX checker, then onnxruntime on the given inputs at batch 1000 (and batch 1 for
the first rows, so the dynamic batch dimension is exercised), compared with the
logits gpu-mlp computed. Prints one JSON object.

usage: python3 onnx_check.py MODEL.onnx INPUTS.u8 LOGITS.f32 LABELS.u8 FEATURES
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

model_path, inputs_path, logits_path, labels_path, features = sys.argv[1:6]
features = int(features)
model = onnx.load(model_path)
onnx.checker.check_model(model, full_check=True)
x = np.fromfile(inputs_path, dtype=np.uint8).reshape(-1, features).astype(np.float32)
want = np.fromfile(logits_path, dtype=np.float32).reshape(len(x), -1)
labels = np.fromfile(labels_path, dtype=np.uint8)
runtime = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
logits, probs = [], []
for start in range(0, len(x), 1000):
    z, p = runtime.run(["logits", "probabilities"], {"input": x[start:start + 1000]})
    logits.append(z)
    probs.append(p)
logits, probs = np.concatenate(logits), np.concatenate(probs)
single = np.concatenate([runtime.run(["logits"], {"input": x[i:i + 1]})[0] for i in range(50)])
# Relative to each row's largest logit: a logit near zero has no meaningful relative error.
scale = np.maximum(np.abs(want).max(axis=1, keepdims=True), 1e-6)
print(json.dumps({
    "max_rel_err": float((np.abs(logits - want) / scale).max()),
    "max_rel_err_batch1": float((np.abs(single - want[:50]) / scale[:50]).max()),
    "prob_sum_err": float(np.abs(probs.sum(axis=1) - 1).max()),
    "correct": int((logits.argmax(axis=1) == labels).sum()),
    "agree": int((logits.argmax(axis=1) == want.argmax(axis=1)).sum()),
    "opset": int(model.opset_import[0].version),
    "metadata": {p.key: p.value for p in model.metadata_props},
}))
