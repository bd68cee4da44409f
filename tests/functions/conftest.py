"""Fixtures of the op tests: how many threads an op splits its batch over (the engine
it runs on, ``impl``, is in tests/conftest.py: the oracle tests use it too)."""

import pytest

from xpnet import cpu


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    """Run the test with the batch unsplit and split over two threads."""
    with cpu.engines(threads=request.param):
        yield request.param
