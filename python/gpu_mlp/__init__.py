"""gpu-mlp from Python: scikit-learn's ``MLPClassifier`` and ``MLPRegressor``,
trained by gpu-mlp's WGSL compute shaders on any GPU (through wgpu) or by its
CPU path.

>>> from gpu_mlp import MLPClassifier
>>> clf = MLPClassifier(hidden_layer_sizes=(128,), device="cpu").fit(X, y)  # doctest: +SKIP

``set_threads(n)`` (or ``GPU_MLP_THREADS`` in the environment) sets the CPU
path's threads for the whole process, before its first use; ``adapters()``
lists the GPU adapters a ``device`` can name.
"""

import os as _os

from ._core import Net, __version__, adapters, set_threads, threads
from ._estimators import MLPClassifier, MLPRegressor

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "Net",
    "adapters",
    "load",
    "set_threads",
    "threads",
    "__version__",
]

if _os.environ.get("GPU_MLP_THREADS"):
    try:
        set_threads(int(_os.environ["GPU_MLP_THREADS"]))
    except ValueError as e:
        raise ImportError(f"$GPU_MLP_THREADS: {e}") from None


def load(path):
    """An estimator fitted from a checkpoint file (``gpu-mlp train --save``,
    ``estimator.save``): an ``MLPClassifier`` for a model of classes or labels,
    an ``MLPRegressor`` for one of values."""
    from ._estimators import _from_net

    return _from_net(Net.load(str(path)))
