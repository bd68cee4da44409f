"""The batch split: slices, the small-work path, matmul_split and the dense layer on it."""

import numpy
import pytest

import xpnet
from xpnet import Tensor
from xpnet import functions as F
from xpnet.functions import _parallel
from xpnet.testing import check_op


@pytest.fixture
def threads(request, monkeypatch):
    """Split over ``request.param`` threads, whatever the size of the work."""
    pytest.importorskip("threadpoolctl")
    before = _parallel._settings.num_threads
    _parallel.set_num_threads(request.param)
    monkeypatch.setattr(_parallel, "SPLIT_MIN_WORK", 0)
    yield request.param
    _parallel.set_num_threads(before)


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
def test_parallel_slices_cuts_in_order(threads):
    parts = _parallel.parallel_slices(10, lambda lo, hi: (lo, hi))
    assert parts == _parallel.slices(10, threads)


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_small_work_runs_in_one_call(threads, monkeypatch):
    monkeypatch.setattr(_parallel, "SPLIT_MIN_WORK", 1000)
    assert _parallel.parallel_slices(10, lambda lo, hi: (lo, hi), work=999) == [(0, 10)]
    assert len(_parallel.parallel_slices(10, lambda lo, hi: (lo, hi), work=1000)) == 2


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
@pytest.mark.parametrize(("m", "k", "p"), [(40, 7, 3), (3, 7, 40)])  # rows / columns cut
def test_matmul_split_equals_the_product(threads, m, k, p):
    rng = numpy.random.default_rng(0)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, p))
    out = numpy.full((m, p), numpy.nan)
    assert _parallel.matmul_split(a, b, out) is out
    numpy.testing.assert_allclose(out, a @ b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_matmul_split_takes_transposed_views(threads):
    rng = numpy.random.default_rng(1)
    a, b = rng.standard_normal((9, 30)), rng.standard_normal((9, 5))
    out = numpy.empty((30, 5))
    _parallel.matmul_split(a.T, b, out)  # dE/dW = dE/dy^T x: a transposed view
    numpy.testing.assert_allclose(out, a.T @ b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
@pytest.mark.parametrize(("n", "i", "o"), [(12, 3, 4), (2, 3, 13)])  # rows / columns cut
def test_linear_split_over_threads_gradient_checked(threads, n, i, o):
    rng = numpy.random.default_rng(2)
    x, w, b = rng.standard_normal((n, i)), rng.standard_normal((o, i)), rng.standard_normal(o)
    check_op(F.linear, lambda x, w, b: x @ w.T + b, x, w, b)


def test_one_blas_thread_is_a_context():
    with _parallel.one_blas_thread():
        y = F.linear(Tensor(numpy.ones((2, 3))), Tensor(numpy.ones((4, 3))))
    numpy.testing.assert_array_equal(y.data, numpy.full((2, 4), 3.0))


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
def test_relu_split_over_threads_keeps_values_and_layout(threads, monkeypatch):
    monkeypatch.setattr(_parallel, "ELEMENTWISE_MIN_SIZE", 0)
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((5, 4, 3, 6)).astype(numpy.float32)
    x_cl = numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    t = Tensor(x_cl, requires_grad=True)
    y = F.relu(t)
    assert y.data.transpose(0, 2, 3, 1).flags.c_contiguous  # conv2d's layout, kept
    numpy.testing.assert_array_equal(y.data, numpy.maximum(x, 0))
    gy = rng.standard_normal(x.shape).astype(numpy.float32)
    y.backward(gy)
    numpy.testing.assert_array_equal(t.grad, gy * (x > 0))


def test_relu_of_a_scalar():
    t = Tensor(numpy.float64(-2.0), requires_grad=True)
    y = F.relu(t)
    y.backward()
    assert y.data == 0.0 and t.grad == 0.0


def test_thread_count_is_public_and_validated():
    before = _parallel._settings.num_threads
    try:
        xpnet.set_num_threads(3)
        assert xpnet.get_num_threads() == 3 == _parallel.get_num_threads()
        with pytest.raises(ValueError, match="set_num_threads: expected an int >= 1"):
            xpnet.set_num_threads(0)
        with pytest.raises(ValueError, match="got True"):
            xpnet.set_num_threads(True)
    finally:
        xpnet.set_num_threads(before)


@pytest.mark.parametrize("threads", [2, 3, 4], indirect=True)
def test_matmul_pair_equals_both_products(threads):
    rng = numpy.random.default_rng(4)
    gy, w, x = (rng.standard_normal(s) for s in ((6, 5), (5, 7), (6, 7)))
    gx, gw = numpy.full((6, 7), numpy.nan), numpy.full((5, 7), numpy.nan)
    assert _parallel.matmul_pair(gy, w, gx, gy.T, x, gw) == (gx, gw)
    numpy.testing.assert_allclose(gx, gy @ w, rtol=1e-13, atol=1e-13)
    numpy.testing.assert_allclose(gw, gy.T @ x, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("threads", [2, 4], indirect=True)
def test_matmul_pair_runs_one_split_of_whole_parts(threads, monkeypatch):
    calls = []
    real = _parallel.parallel_slices

    def spy(n, fn, xp=numpy, work=None):
        calls.append(n)
        return real(n, fn, xp, work)

    monkeypatch.setattr(_parallel, "parallel_slices", spy)
    rng = numpy.random.default_rng(5)
    a1, b1, a2, b2 = (rng.standard_normal(s) for s in ((8, 3), (3, 4), (4, 8), (8, 3)))
    out1, out2 = numpy.empty((8, 4)), numpy.empty((4, 3))
    _parallel.matmul_pair(a1, b1, out1, a2, b2, out2)
    assert calls == [threads]  # one hand-off; k // 2 parts of each product
    numpy.testing.assert_allclose(out1, a1 @ b1, rtol=1e-13)
    numpy.testing.assert_allclose(out2, a2 @ b2, rtol=1e-13)


def test_matmul_pair_with_one_thread_runs_both():
    before = _parallel._settings.num_threads
    _parallel.set_num_threads(1)
    try:
        a, b = numpy.arange(6.0).reshape(2, 3), numpy.arange(12.0).reshape(3, 4)
        out1, out2 = numpy.empty((2, 4)), numpy.empty((4, 2))
        _parallel.matmul_pair(a, b, out1, b.T, a.T, out2)
        numpy.testing.assert_array_equal(out1, a @ b)
        numpy.testing.assert_array_equal(out2, b.T @ a.T)
    finally:
        _parallel.set_num_threads(before)


def test_one_blas_thread_holds_blas_at_one_and_restores_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    controller = _parallel._blas_controller()
    if controller is None:
        pytest.skip("no BLAS library that threadpoolctl can control")

    def counts():  # of the libraries the controller found (loaded before its first use)
        return [lib.get_num_threads() for lib in controller.lib_controllers]

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = counts()
        with _parallel._OneBlasThread(controller):
            assert counts() == [1] * len(before)
        assert counts() == before
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            calls = []
            for lib in controller.lib_controllers:
                real = lib.set_num_threads
                lib.set_num_threads = lambda n, _real=real: (calls.append(n), _real(n))
            try:
                with _parallel._OneBlasThread(controller):
                    pass
            finally:
                for lib in controller.lib_controllers:
                    del lib.set_num_threads
            assert calls == []  # already at one thread: nothing set, nothing restored
