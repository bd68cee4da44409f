"""Shared fixtures: seeded rngs and the array modules to run on (CuPy only with a GPU)."""

import numpy
import pytest

from xpnet import backend

DEVICES = ["cpu"] + (["cuda"] if backend.cuda_available() else [])


@pytest.fixture
def rng():
    """A fresh, seeded numpy Generator per test."""
    return numpy.random.default_rng(0)


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """Each test using it runs on the CPU and, where a GPU is usable, on CUDA."""
    if request.param == "cuda" and not backend.cuda_available():
        pytest.skip("no CUDA device")
    return request.param
