"""Fixtures of the op tests: the engine an op runs on (``xpnet.cpu.engines``)."""

import pytest

from xpnet import cpu

#: The paths of pooling and LRN: the NumPy/CuPy reference ("xp") and the compiled kernels
#: on NCHW planes ("numba") or on channels-last memory ("numba_cl"), whatever the input's.
IMPL_ENGINES = {
    "xp": {"compiled": False},
    "numba": {"layout": "nchw"},
    "numba_cl": {"layout": "nhwc"},
}


@pytest.fixture(params=list(IMPL_ENGINES))
def impl(request):
    """Run the test on one path (parametrize with ``indirect=True`` to pick a few)."""
    if request.param != "xp":
        pytest.importorskip("numba")
    with cpu.engines(**IMPL_ENGINES[request.param]):
        yield request.param


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    """Run the test with the batch unsplit and split over two threads."""
    with cpu.engines(threads=request.param):
        yield request.param
