"""max_pool2d: forward vs a loop reference, gradients, switches, ties, NaN, errors.

Every mode runs on both implementations: the NumPy/CuPy strided views (the reference
path) and, where numba is installed, the compiled CPU kernel.
"""

import math

import numpy
import pytest

from xpnet import Tensor, cpu, no_grad
from xpnet import functions as F
from xpnet.functions.pooling._window import geometry
from xpnet.functions.pooling.max_pool2d import MaxPool2dFunction
from xpnet.testing import check_op, distinct

#: As the ``impl`` fixture (conftest.py): the reference, then the compiled kernels on NCHW
#: planes and on channels-last memory.
IMPL_ENGINES = {"xp": {"compiled": False}, "numba": {"layout": "nchw"},
                "numba_cl": {"layout": "nhwc"}}


# (shape, kernel, stride, padding, ceil_mode)
MODES = {
    "lenet_2x2s2": ((2, 3, 6, 6), 2, None, 0, False),
    "overlap_3x3s2": ((2, 2, 7, 7), 3, 2, 0, False),
    "stride1_pad1": ((2, 2, 5, 5), 3, 1, 1, False),
    "pad1_ceil": ((2, 2, 6, 7), 3, 2, 1, True),
    "ceil_partial_window": ((1, 2, 5, 5), 2, 2, 0, True),
    "ceil_last_window_dropped": ((1, 1, 5, 5), 2, 2, 1, True),
    "kernel_equals_input": ((2, 3, 4, 4), 4, None, 0, False),
    "batch1_nonsquare": ((1, 2, 5, 7), (2, 3), (1, 2), (1, 1), False),
    "nonsquare_ceil": ((2, 1, 6, 5), (3, 2), (2, 3), (1, 0), True),
}


def _size(n, k, s, p, ceil):
    """Output size, written independently of the library: PyTorch's formula."""
    f = math.ceil if ceil else math.floor
    out = f((n + 2 * p - k) / s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pairs(kernel, stride, padding):
    k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    s = k if stride is None else stride if isinstance(stride, tuple) else (stride, stride)
    p = padding if isinstance(padding, tuple) else (padding, padding)
    return k, s, p


def reference(x, kernel, stride, padding, ceil):
    """Loops: max of each window over the positions inside the input, and its flat index."""
    (kh, kw), (sh, sw), (ph, pw) = _pairs(kernel, stride, padding)
    n, c, h, w = x.shape
    oh, ow = _size(h, kh, sh, ph, ceil), _size(w, kw, sw, pw, ceil)
    y = numpy.empty((n, c, oh, ow))
    idx = numpy.empty((n, c, oh, ow), dtype=numpy.int64)
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    best, where = -numpy.inf, None
                    for r in range(i * sh - ph, i * sh - ph + kh):
                        for q in range(j * sw - pw, j * sw - pw + kw):
                            if 0 <= r < h and 0 <= q < w and x[b, ch, r, q] > best:
                                best, where = x[b, ch, r, q], r * w + q
                    y[b, ch, i, j], idx[b, ch, i, j] = best, where
    return y, idx


def _op(shape, kernel, stride, padding, ceil, want_indices=False):
    g = geometry("max_pool2d", shape, kernel, stride, padding, ceil)
    return lambda t: MaxPool2dFunction(g, want_indices)(t)


@pytest.mark.parametrize("mode", list(MODES))
def test_forward_and_gradient(mode, impl):
    shape, kernel, stride, padding, ceil = MODES[mode]
    x = distinct(shape, seed=1)
    check_op(
        _op(shape, kernel, stride, padding, ceil),
        lambda a: reference(a, kernel, stride, padding, ceil)[0],
        x,
    )


@pytest.mark.parametrize("mode", list(MODES))
def test_indices_match_reference(mode, impl):
    shape, kernel, stride, padding, ceil = MODES[mode]
    x = distinct(shape, seed=2)
    g = geometry("max_pool2d", shape, kernel, stride, padding, ceil)
    fn = MaxPool2dFunction(g, True)
    y = fn(Tensor(x))
    ref_y, ref_idx = reference(x, kernel, stride, padding, ceil)
    numpy.testing.assert_array_equal(y.data, ref_y)
    assert fn.indices.dtype == numpy.int64
    numpy.testing.assert_array_equal(fn.indices, ref_idx)


def test_public_function_returns_indices_tensor():
    x = distinct((2, 3, 6, 6), seed=3)
    y, idx = F.max_pool2d(Tensor(x, requires_grad=True), 3, 2, 1, return_indices=True)
    assert isinstance(idx, Tensor) and not idx.requires_grad and idx.dtype == numpy.int64
    numpy.testing.assert_array_equal(idx.data, reference(x, 3, 2, 1, False)[1])
    assert y.requires_grad


def test_error_flows_only_to_the_selected_neuron(impl):
    x = numpy.zeros((1, 1, 4, 4))
    x[0, 0, 1, 2] = 5.0  # the max of the top-right 2x2 window
    t = Tensor(x, requires_grad=True)
    y = _op(x.shape, 2, 2, 0, False)(t)
    y.backward(numpy.full((1, 1, 2, 2), 3.0))
    expected = numpy.zeros_like(x)
    expected[0, 0, 1, 2] = 3.0  # top-right window: only its max
    expected[0, 0, 0, 0] = expected[0, 0, 2, 0] = expected[0, 0, 2, 2] = 3.0  # ties: first
    numpy.testing.assert_array_equal(t.grad, expected)


def test_overlapping_windows_sum_their_errors(impl):
    x = distinct((1, 1, 5, 5), seed=4)
    x[0, 0, 2, 2] = 100.0  # the max of all four overlapping 3x3/2 windows
    t = Tensor(x, requires_grad=True)
    _op(x.shape, 3, 2, 0, False)(t).backward(numpy.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert t.grad[0, 0, 2, 2] == 10.0
    assert numpy.count_nonzero(t.grad) == 1


def test_ties_go_to_first_in_row_major_order(impl):
    x = numpy.ones((1, 1, 3, 3))
    t = Tensor(x, requires_grad=True)
    fn = MaxPool2dFunction(geometry("max_pool2d", x.shape, 3, 1, 1, False), True)
    y = fn(t)
    idx = fn.indices
    y.backward(numpy.ones(y.shape))
    # window (0, 0) covers rows/cols -1..1: its first input position is (0, 0)
    assert idx[0, 0, 0, 0] == 0 and idx[0, 0, 1, 1] == 0 and idx[0, 0, 2, 2] == 4
    assert t.grad.sum() == 9.0


def test_nan_is_selected_and_propagates(impl):
    x = distinct((1, 1, 4, 4), seed=5)
    x[0, 0, 0, 1] = numpy.nan
    fn = MaxPool2dFunction(geometry("max_pool2d", x.shape, 2, 2, 0, False), True)
    y = fn(Tensor(x)).data
    assert numpy.isnan(y[0, 0, 0, 0]) and fn.indices[0, 0, 0, 0] == 1
    assert not numpy.isnan(y[0, 0, 1, 1])


@pytest.mark.parametrize("channels", [5, 12])  # the channels-last kernel for few / many
@pytest.mark.parametrize("window", [(2, 2, 0), (3, 2, 1)], ids=["2x2s2", "3x3s2p1"])
def test_channels_last_kernels_let_a_nan_win_and_hand_over_to_the_views(channels, window):
    """The channels-last kernels check y, not x, for NaN: a window holding one gives NaN
    and the op takes the views path (PyTorch's rule, switches included); a NaN that no
    window reads (a 2 x 2 pool's dropped last row) keeps the kernels, with the views'
    results."""
    pytest.importorskip("numba")
    rng = numpy.random.default_rng(10)
    x = rng.standard_normal((2, channels, 7, 7)).astype(numpy.float32)
    k, s, p = window
    for where, read in [((1, channels - 1, 2, 3), True), ((0, 1, 6, 3), k == 3)]:
        xn = x.copy()
        xn[where] = numpy.nan
        results = {}
        for impl in ("xp", "numba_cl"):
            fn = MaxPool2dFunction(geometry("max_pool2d", xn.shape, k, s, p, False), True)
            with cpu.engines(**IMPL_ENGINES[impl]):
                y = fn(Tensor(xn)).data
            results[impl] = (y, fn.indices, fn.plan)
        (y0, i0, _), (y1, i1, plan) = results["xp"], results["numba_cl"]
        assert (plan is None) == read  # the views path exactly when a window read the NaN
        assert numpy.isnan(y0).any() == read
        numpy.testing.assert_array_equal(y0, y1)  # NaN where NaN
        numpy.testing.assert_array_equal(i0, i1)


@pytest.mark.parametrize("channels", [5, 12])  # the channels-last kernel for few / many
@pytest.mark.parametrize("window", [(2, 2, 0), (3, 2, 1)], ids=["2x2s2", "3x3s2p1"])
@pytest.mark.parametrize("impl", ["xp", "numba", "numba_cl"])
def test_forward_relu_has_the_bits_of_the_pool_then_numpys_maximum(impl, window, channels):
    """An inference plan's fused pool + ReLU: -0 becomes +0, a window of -inf gives +0, a
    NaN stays NaN (through the views path), whichever path pools."""
    rng = numpy.random.default_rng(11)
    x = rng.standard_normal((2, 7, 7, channels)).astype(numpy.float32)
    x[0, :3, :3, 0] = -0.0  # a window of -0 (with every path's window at the corner)
    x[1, :3, :3, 1] = -numpy.inf
    x = x.transpose(0, 3, 1, 2)  # (N, C, H, W) view of NHWC memory, as conv2d returns
    k, s, p = window
    for data in (x, numpy.where(numpy.arange(7) == 4, numpy.nan, x).astype(numpy.float32)):
        with cpu.engines(**IMPL_ENGINES[impl]):
            fn = MaxPool2dFunction(geometry("max_pool2d", data.shape, k, s, p, False))
            fn.needs_input_grad = (False,)
            fused = fn.forward_relu(data)
            expected = numpy.maximum(fn.forward(data), 0)
        assert fused.tobytes() == numpy.ascontiguousarray(expected).tobytes()
        assert not numpy.signbit(fused[0, 0, 0, 0]) and fused[1, 1, 0, 0] == 0
    kept = MaxPool2dFunction(geometry("max_pool2d", x.shape, k, s, p, False), True)
    with pytest.raises(RuntimeError, match="keeps no switches"):
        kept.forward_relu(x)


def test_float32_stays_float32(impl):
    x = Tensor(distinct((2, 3, 7, 7)).astype(numpy.float32), requires_grad=True)
    y = _op(x.shape, 3, 2, 1, True)(x)
    y.backward(numpy.ones(y.shape, numpy.float32))
    assert y.dtype == numpy.float32 and x.grad.dtype == numpy.float32


# (kernel, stride, padding, ceil mode): overlapping and padded; 2x2/2 (the unrolled path
# of the few-channels kernel); 2x2/2 in ceil mode on odd sizes (edge windows partly out)
WINDOWS = [(3, 2, 1, True), (2, 2, 0, False), (2, 2, 0, True)]


@pytest.mark.parametrize("window", WINDOWS, ids=["3x3s2p1_ceil", "2x2s2", "2x2s2_ceil"])
@pytest.mark.parametrize("data", ["normal", "ties_and_infinities"])
@pytest.mark.parametrize("channels", [5, 12])  # the channels-last kernel for few / many
@pytest.mark.parametrize("split", [False, True])
def test_numba_matches_views_on_a_batch(split, channels, data, window):
    kernels = pytest.importorskip("xpnet.cpu.pooling.kernels")
    assert (channels < kernels.FEW_CHANNELS) == (channels == 5)
    rng = numpy.random.default_rng(6)
    if data == "normal":
        x = rng.standard_normal((4, channels, 13, 11)).astype(numpy.float32)
    else:  # few distinct values: many ties; infinities pass the fast NaN test's doubt
        x = rng.integers(-2, 2, (4, channels, 13, 11)).astype(numpy.float32)
        x[rng.random(x.shape) < 0.05] = -numpy.inf
        x[0, 0, 0, 0] = x[1, -1, 3, 4] = numpy.inf
    gy = None
    results = []
    for impl in ("xp", "numba", "numba_cl"):
        t = Tensor(x, requires_grad=True)
        fn = MaxPool2dFunction(geometry("max_pool2d", x.shape, *window), True)
        with cpu.engines(**IMPL_ENGINES[impl], threads=2 if split else 1,
                         split="always" if split else "auto"):
            y = fn(t)
        assert (fn.plan is None) == (impl == "xp")  # infinities are not sent to the views
        gy = rng.standard_normal(y.shape).astype(numpy.float32) if gy is None else gy
        indices = fn.indices
        y.backward(gy)
        results.append((y.data, indices, t.grad))
    (y0, i0, g0), *compiled = results
    for y1, i1, g1 in compiled:
        numpy.testing.assert_array_equal(y0, y1)
        numpy.testing.assert_array_equal(i0, i1)
        # an input chosen by several windows sums its errors in another order: rounding
        numpy.testing.assert_allclose(g0, g1, rtol=1e-6, atol=1e-6)
    # both compiled layouts add in the same order: bit for bit the same
    numpy.testing.assert_array_equal(compiled[0][2], compiled[1][2])


def test_has_nan_fast_test_and_exact_answer():
    """The fast test doubts infinities; the answer is exact all the same."""
    kernels = pytest.importorskip("xpnet.cpu.pooling.kernels")
    for dtype in (numpy.float32, numpy.float64):
        x = numpy.arange(10_000, dtype=dtype).reshape(100, 100)
        assert not kernels.has_nan(x)
        x[7, 9] = numpy.inf
        x[8, 1] = -numpy.inf
        assert kernels._maybe_nan(x) and not kernels.has_nan(x)
        x[99, 99] = numpy.nan
        assert kernels.has_nan(x)


def test_channels_last_input_stays_channels_last():
    """conv2d's NHWC memory goes through pooling and back without a layout change."""
    pytest.importorskip("numba")
    rng = numpy.random.default_rng(7)
    x = rng.standard_normal((3, 8, 9, 9)).astype(numpy.float32)
    x_cl = numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    g = geometry("max_pool2d", x.shape, 3, 2, 0, False)
    t, t_cl = Tensor(x, requires_grad=True), Tensor(x_cl, requires_grad=True)
    fn, fn_cl = MaxPool2dFunction(g, True), MaxPool2dFunction(g, True)
    y, y_cl = fn(t), fn_cl(t_cl)
    assert fn_cl.plan.nhwc and not fn.plan.nhwc
    assert y_cl.data.transpose(0, 2, 3, 1).flags.c_contiguous
    numpy.testing.assert_array_equal(y.data, y_cl.data)
    numpy.testing.assert_array_equal(fn.indices, fn_cl.indices)
    gy = rng.standard_normal(y.shape).astype(numpy.float32)
    gy_cl = numpy.ascontiguousarray(gy.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y.backward(gy)
    y_cl.backward(gy_cl)
    assert t_cl.grad.transpose(0, 2, 3, 1).flags.c_contiguous
    numpy.testing.assert_array_equal(t.grad, t_cl.grad)


@pytest.mark.parametrize("split", [False, True])
def test_channels_last_inference_on_many_channels(split):
    """No switches kept: each thread's positions go to its own scratch, results unchanged."""
    pytest.importorskip("xpnet.cpu.pooling.kernels")
    x = distinct((4, 12, 9, 9), seed=8).astype(numpy.float32)
    x_cl = numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    with no_grad(), cpu.engines(threads=2 if split else 1, split="always" if split else "auto"):
        y = F.max_pool2d(Tensor(x_cl), 3, 2, 1)
    numpy.testing.assert_array_equal(y.data, reference(x, 3, 2, 1, False)[0])


def test_inference_without_graph(impl):
    x = distinct((2, 2, 6, 6))
    with no_grad():
        y = _op(x.shape, 2, 2, 0, False)(Tensor(x))
    numpy.testing.assert_array_equal(y.data, reference(x, 2, 2, 0, False)[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kernel_size": 5}, ValueError, "larger than the padded input"),
        ({"kernel_size": 3, "padding": 2}, ValueError, "at most half the kernel"),
        ({"kernel_size": 0}, ValueError, "kernel_size must be >= 1"),
        ({"kernel_size": 2, "stride": 0}, ValueError, "stride must be >= 1"),
        ({"kernel_size": 2.0}, TypeError, "kernel_size must be an int"),
        ({"kernel_size": 2, "ceil_mode": 1}, TypeError, "ceil_mode must be a bool"),
        ({"kernel_size": 2, "return_indices": "yes"}, TypeError, "return_indices"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        F.max_pool2d(Tensor(numpy.zeros((1, 1, 4, 4))), **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"4-d input \(N, C, H, W\), got shape \(4, 4\)"):
        F.max_pool2d(Tensor(numpy.zeros((4, 4))), 2)
    with pytest.raises(TypeError, match="floating"):
        F.max_pool2d(numpy.zeros((1, 1, 4, 4), dtype=numpy.int64), 2)
    with pytest.raises(TypeError, match="Tensor or an array"):
        F.max_pool2d([[[[1.0]]]], 1)
