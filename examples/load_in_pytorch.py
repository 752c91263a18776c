#!/usr/bin/env python3
"""Loads a gpu-mlp checkpoint into PyTorch: an nn.Sequential of nn.Linear layers
(at even indices) with the checkpoint's activation between them, the input
normalization it was trained with, and its task's answer.

    pip install torch safetensors numpy
    python3 examples/load_in_pytorch.py model.safetensors [inputs.npy]

inputs.npy: raw examples (pixels 0-255, or a table's values), [N, inputs].
"""
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file

path = sys.argv[1]
meta = safe_open(path, "pt").metadata()
tensors = load_file(path)

sizes = [int(s) for s in meta["layers"].split(",")]
act = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}[meta["activation"]]
layers = sum(([nn.Linear(i, o), act()] for i, o in zip(sizes, sizes[1:])), [])[:-1]
model = nn.Sequential(*layers)
# layers.{l}.weight / .bias → the l-th Linear, at index 2·l of the Sequential.
model.load_state_dict({
    f"{2 * int(k.split('.')[1])}.{k.split('.')[2]}": v
    for k, v in tensors.items() if k.startswith("layers.")
})


def numbers(key):
    return torch.tensor([float(v) for v in meta[key].split(",")])


def answer(raw):
    """What `gpu-mlp predict` answers for raw examples, by the model's task."""
    x = torch.as_tensor(np.asarray(raw), dtype=torch.float32)
    if "input.shift" in tensors:
        x = (x - tensors["input.shift"]) * tensors["input.scale"]
    elif meta.get("input_dtype", "u8") == "u8" and meta.get("normalize", "unit") == "unit":
        x = x / 255
    with torch.no_grad():
        z = model(x)
    task = meta.get("task", "classify")  # files from before tasks are classifiers
    if task == "classify":
        return z.softmax(1).argmax(1)
    if task == "binary":
        return (torch.sigmoid(z[:, 0]) > float(meta.get("threshold", "0.5"))).long()
    if task == "multilabel":
        return (torch.sigmoid(z) > float(meta.get("threshold", "0.5"))).long()
    if "target_scale" in meta:  # regress: back to the targets' units
        return z * numbers("target_scale") + numbers("target_shift")
    return z


inputs = np.load(sys.argv[2]) if len(sys.argv) > 2 else np.zeros((1, sizes[0]), np.float32)
print(model)
print(meta.get("task", "classify"), "answers:", answer(inputs[:10]).tolist())
