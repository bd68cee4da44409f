"""A dense layer's products on xpnet's threads: matmul_split, matmul_pair, F.linear on them."""

import numpy
import pytest

from xpnet import cpu
from xpnet import functions as F
from xpnet.cpu import dense
from xpnet.testing import check_op


@pytest.fixture
def threads(request):
    """Split over ``request.param`` threads, whatever the size of the work."""
    pytest.importorskip("threadpoolctl")
    with cpu.engines(threads=request.param, split="always"):
        yield request.param


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
@pytest.mark.parametrize(("m", "k", "p"), [(40, 7, 3), (3, 7, 40)])  # rows / columns cut
def test_matmul_split_equals_the_product(threads, m, k, p):
    rng = numpy.random.default_rng(0)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, p))
    out = numpy.full((m, p), numpy.nan)
    assert dense.matmul_split(a, b, out) is out
    numpy.testing.assert_allclose(out, a @ b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_matmul_split_takes_transposed_views(threads):
    rng = numpy.random.default_rng(1)
    a, b = rng.standard_normal((9, 30)), rng.standard_normal((9, 5))
    out = numpy.empty((30, 5))
    dense.matmul_split(a.T, b, out)  # dE/dW = dE/dy^T x: a transposed view
    numpy.testing.assert_allclose(out, a.T @ b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
@pytest.mark.parametrize(("n", "i", "o"), [(12, 3, 4), (2, 3, 13)])  # rows / columns cut
def test_linear_split_over_threads_gradient_checked(threads, n, i, o):
    rng = numpy.random.default_rng(2)
    x, w, b = rng.standard_normal((n, i)), rng.standard_normal((o, i)), rng.standard_normal(o)
    check_op(F.linear, lambda x, w, b: x @ w.T + b, x, w, b)


@pytest.mark.parametrize("threads", [2, 3, 4], indirect=True)
def test_matmul_pair_equals_both_products(threads):
    rng = numpy.random.default_rng(4)
    gy, w, x = (rng.standard_normal(s) for s in ((6, 5), (5, 7), (6, 7)))
    gx, gw = numpy.full((6, 7), numpy.nan), numpy.full((5, 7), numpy.nan)
    assert dense.matmul_pair(gy, w, gx, gy.T, x, gw) == (gx, gw)
    numpy.testing.assert_allclose(gx, gy @ w, rtol=1e-13, atol=1e-13)
    numpy.testing.assert_allclose(gw, gy.T @ x, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("threads", [2, 4], indirect=True)
def test_matmul_pair_runs_one_split_of_whole_parts(threads, monkeypatch):
    calls = []
    real = dense.parallel_slices

    def spy(n, fn, xp=numpy, work=None):
        calls.append(n)
        return real(n, fn, xp, work)

    monkeypatch.setattr(dense, "parallel_slices", spy)
    rng = numpy.random.default_rng(5)
    a1, b1, a2, b2 = (rng.standard_normal(s) for s in ((8, 3), (3, 4), (4, 8), (8, 3)))
    out1, out2 = numpy.empty((8, 4)), numpy.empty((4, 3))
    dense.matmul_pair(a1, b1, out1, a2, b2, out2)
    assert calls == [threads]  # one hand-off; k // 2 parts of each product
    numpy.testing.assert_allclose(out1, a1 @ b1, rtol=1e-13)
    numpy.testing.assert_allclose(out2, a2 @ b2, rtol=1e-13)


def test_matmul_pair_with_one_thread_runs_both():
    with cpu.engines(threads=1):
        a, b = numpy.arange(6.0).reshape(2, 3), numpy.arange(12.0).reshape(3, 4)
        out1, out2 = numpy.empty((2, 4)), numpy.empty((4, 2))
        dense.matmul_pair(a, b, out1, b.T, a.T, out2)
        numpy.testing.assert_array_equal(out1, a @ b)
        numpy.testing.assert_array_equal(out2, b.T @ a.T)
