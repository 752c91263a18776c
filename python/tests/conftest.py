"""Shared pieces of the package's tests: real small data sets, and the
``gpu-mlp`` binary the checkpoint tests run."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def iris():
    return load_iris(return_X_y=True)


@pytest.fixture(scope="session")
def cancer():
    return load_breast_cancer(return_X_y=True)


@pytest.fixture(scope="session")
def diabetes():
    return load_diabetes(return_X_y=True)


@pytest.fixture(scope="session")
def digits_u8():
    """scikit-learn's 8×8 digits (pixel values 0–16) as bytes 0–255: images."""
    X, y = load_digits(return_X_y=True)
    return (X * 255 / 16).round().astype(np.uint8), y


@pytest.fixture(scope="session")
def gpu_mlp_bin():
    """The command-line program: $GPU_MLP_BIN, else the release build in the
    repository, else `gpu-mlp` on PATH; the tests that need it fail without it."""
    for candidate in (
        os.environ.get("GPU_MLP_BIN"),
        REPO / "target" / "release" / "gpu-mlp",
        shutil.which("gpu-mlp"),
    ):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail("no gpu-mlp binary: cargo build --release, or set GPU_MLP_BIN")


def gpu_or_skip():
    """The GPU device; without an adapter the test fails, unless
    GPU_MLP_SKIP_GPU_TESTS is set, which skips it and says so."""
    import gpu_mlp

    if gpu_mlp.adapters():
        return "gpu"
    if os.environ.get("GPU_MLP_SKIP_GPU_TESTS"):
        print("SKIPPED: no GPU adapter (GPU_MLP_SKIP_GPU_TESTS is set)")
        pytest.skip("no GPU adapter and GPU_MLP_SKIP_GPU_TESTS is set")
    pytest.fail(
        "no GPU adapter (install mesa-vulkan-drivers for lavapipe, or set "
        "GPU_MLP_SKIP_GPU_TESTS=1 to skip the GPU tests)"
    )
