"""Activations: forward against NumPy references, backward against central differences."""

import math
import warnings

import numpy
import pytest

from xpnet import Tensor, cpu
from xpnet import functions as F
from xpnet.testing import away_from, check_op, gradcheck


def ref_sigmoid(x):
    out = numpy.empty_like(x)
    for i, v in enumerate(x.reshape(-1)):
        out.reshape(-1)[i] = 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))
    return out


def ref_softmax(x, axis):
    moved = numpy.moveaxis(x, axis, -1)  # (..., C) classes last, for a row-by-row loop
    out = numpy.empty_like(moved)
    for idx in numpy.ndindex(moved.shape[:-1]):
        row = moved[idx]
        e = numpy.exp(row - row.max())
        out[idx] = e / e.sum()
    return numpy.moveaxis(out, -1, axis)


def ref_log_softmax(x, axis):
    moved = numpy.moveaxis(x, axis, -1)
    out = numpy.empty_like(moved)
    for idx in numpy.ndindex(moved.shape[:-1]):
        row = moved[idx]
        m = row.max()
        out[idx] = row - m - math.log(sum(math.exp(v - m) for v in row))
    return numpy.moveaxis(out, -1, axis)


def test_step_forward_and_zero_backward():
    x = away_from((3, 4), seed=1)
    check_op(F.step, lambda a: (a > 0).astype(a.dtype), x)
    t = Tensor(x, requires_grad=True)
    F.step(t).backward(numpy.ones_like(x))
    assert t.grad.shape == x.shape and not t.grad.any()


def test_step_zero_maps_to_zero():
    assert F.step(Tensor(numpy.array([-0.0, 0.0, 1e-300]))).data.tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_sigmoid(shape):
    check_op(F.sigmoid, ref_sigmoid, numpy.random.default_rng(0).normal(0, 3, shape))


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_tanh(shape):
    check_op(F.tanh, numpy.tanh, numpy.random.default_rng(1).normal(0, 1.5, shape))


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4)])
def test_relu(shape):
    check_op(F.relu, lambda a: numpy.where(a > 0, a, 0.0), away_from(shape, seed=2))


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_softmax_axes(axis):
    x = numpy.random.default_rng(3).normal(0, 2, (2, 3, 4))
    check_op(lambda a: F.softmax(a, axis=axis), lambda a: ref_softmax(a, axis), x)


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_log_softmax_axes(axis):
    x = numpy.random.default_rng(4).normal(0, 2, (2, 3, 4))
    check_op(lambda a: F.log_softmax(a, axis=axis), lambda a: ref_log_softmax(a, axis), x)


def test_softmax_default_axis_is_classes_of_a_batch():
    x = numpy.random.default_rng(5).normal(size=(3, 4))
    y = F.softmax(Tensor(x)).data
    numpy.testing.assert_allclose(y.sum(axis=1), numpy.ones(3), rtol=1e-12)
    check_op(F.softmax, lambda a: ref_softmax(a, 1), x)
    check_op(F.log_softmax, lambda a: ref_log_softmax(a, 1), x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(dtype):
    x = Tensor(numpy.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4))
    for fn in (F.step, F.sigmoid, F.tanh, F.relu, F.softmax, F.log_softmax):
        assert fn(x).dtype == numpy.dtype(dtype), fn.__name__


# ------------------------------------------------------------------ stability
BIG = numpy.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 999.0]])


def test_sigmoid_large_inputs_finite_and_exact():
    # no overflow may even be signalled (underflow to 0 is the right answer)
    with numpy.errstate(over="raise", divide="raise", invalid="raise"):
        y = F.sigmoid(Tensor(BIG)).data
    numpy.testing.assert_array_equal(y, [[1.0, 0.0, 0.5], [0.0, 0.0, 1.0]])
    small = F.sigmoid(Tensor(numpy.array([-50.0]))).data  # keeps relative precision
    numpy.testing.assert_allclose(small, [math.exp(-50)], rtol=1e-14)
    gradcheck(F.sigmoid, numpy.array([-30.0, -5.0, 30.0]))
    t = Tensor(BIG, requires_grad=True)
    F.sigmoid(t).backward(numpy.ones_like(BIG))
    numpy.testing.assert_array_equal(t.grad, [[0.0, 0.0, 0.25], [0.0, 0.0, 0.0]])


def test_sigmoid_emits_no_overflow_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would become an exception
        y32 = F.sigmoid(Tensor(numpy.array([-1e4, -100.0, 100.0], dtype="float32"))).data
        y64 = F.sigmoid(Tensor(numpy.array([-1e4, -100.0, 100.0]))).data
    numpy.testing.assert_array_equal(y32, [0.0, 0.0, 1.0])  # e^100 overflows: subnormal 4e-44 -> 0
    numpy.testing.assert_allclose(y64, [0.0, math.exp(-100), 1.0], rtol=1e-15, atol=0)


def test_softmax_and_log_softmax_large_logits():
    with numpy.errstate(over="raise", divide="raise", invalid="raise"):
        p = F.softmax(Tensor(BIG)).data
        lp = F.log_softmax(Tensor(BIG)).data
    numpy.testing.assert_allclose(p, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], atol=1e-300)
    numpy.testing.assert_allclose(lp, [[0.0, -2000.0, -1000.0], [-1999.0, -1999.0, 0.0]])
    # gradients of both stay finite and match numerics on shifted, still huge logits
    x = BIG + numpy.array([[0.0, 0.5, -0.3], [0.2, -0.4, 0.7]])
    x[0, 2] = 999.2  # two competing large logits, so the gradient is not all zeros
    gradcheck(F.softmax, x)
    gradcheck(F.log_softmax, x)


def test_tanh_large_inputs():
    with numpy.errstate(over="raise", divide="raise", invalid="raise"):
        y = F.tanh(Tensor(BIG)).data
    numpy.testing.assert_array_equal(y, numpy.sign(BIG))


# ---------------------------------------------------------- gradient safety, errors
def test_backward_never_writes_the_incoming_gradient():
    x = away_from((3, 4), seed=7)
    for fn in (F.step, F.sigmoid, F.tanh, F.relu, F.softmax, F.log_softmax):
        t = Tensor(x, requires_grad=True)
        gy = numpy.random.default_rng(0).normal(size=(3, 4))
        keep = gy.copy()
        fn(t).backward(gy)
        numpy.testing.assert_array_equal(gy, keep, err_msg=fn.__name__)


def test_relu_gradient_is_mask():
    x = numpy.array([-1.0, 2.0, -3.0, 4.0])
    t = Tensor(x, requires_grad=True)
    F.relu(t).backward(numpy.array([10.0, 20.0, 30.0, 40.0]))
    numpy.testing.assert_array_equal(t.grad, [0.0, 20.0, 0.0, 40.0])


def test_softmax_bad_axis_names_op_and_shape():
    with pytest.raises(ValueError, match=r"softmax: axis 2 is out of range .*\(3, 4\)"):
        F.softmax(Tensor(numpy.zeros((3, 4))), axis=2)
    with pytest.raises(ValueError, match=r"log_softmax: axis 1 .*\(4,\)"):
        F.log_softmax(Tensor(numpy.zeros(4)))
    with pytest.raises(TypeError, match="softmax: axis must be an int"):
        F.softmax(Tensor(numpy.zeros((3, 4))), axis=1.0)


@pytest.mark.parametrize("fn", [F.step, F.sigmoid, F.tanh, F.softmax, F.log_softmax])
def test_integer_input_refused(fn):
    with pytest.raises(TypeError, match=f"{fn.__name__}: expected a floating input"):
        fn(Tensor(numpy.arange(6).reshape(2, 3)))


def _relu_matches_numpy(x, gy, dtype, threads):
    """F.relu of x and its backward from gy on ``threads`` threads (two: every pass
    split) against NumPy's values, NaN and the sign of zero included; the input Tensor."""
    with cpu.engines(threads=threads, split="always" if threads == 2 else "auto"):
        t = Tensor(x, requires_grad=True)
        y = F.relu(t)
        y.backward(gy)
    want = numpy.maximum(x, 0)
    with numpy.errstate(invalid="ignore"):  # inf * 0 where the unit is off: NaN
        want_gx = gy * (want > 0)
    for got, ref in ((y.data, want), (t.grad, want_gx)):
        assert got.dtype == dtype
        numpy.testing.assert_array_equal(got, ref)  # NaN == NaN here
        assert numpy.array_equal(numpy.signbit(got), numpy.signbit(ref))
    return t


@pytest.mark.parametrize("layout", ["nchw", "nhwc", "strided"])
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_relu_compiled_loops_match_numpy_bit_for_bit(layout, dtype, threads, monkeypatch):
    """The compiled loops (one block of memory, NCHW or NHWC) give NumPy's values, NaN
    and the sign of zero included, forward and backward; other layouts take NumPy's path."""
    kernels = pytest.importorskip("xpnet.cpu.relu_kernels")
    from xpnet.cpu import relu as cpu_relu

    calls = []
    real_fwd, real_bwd = kernels.forward, kernels.backward
    monkeypatch.setattr(kernels, "forward", lambda *a: calls.append("f") or real_fwd(*a))
    monkeypatch.setattr(kernels, "backward", lambda *a: calls.append("b") or real_bwd(*a))
    rng = numpy.random.default_rng(4)
    base = rng.standard_normal((3, 8, 9, 10)).astype(dtype)
    base.flat[:6] = [numpy.nan, -0.0, 0.0, numpy.inf, -numpy.inf, 1.0]
    if layout == "nhwc":
        x = numpy.ascontiguousarray(base.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    elif layout == "strided":
        x = numpy.concatenate([base, base], axis=3)[..., ::2]
    else:
        x = base
    gy = (rng.standard_normal(x.shape) * 3).astype(dtype)
    gy = numpy.ascontiguousarray(gy) if layout != "nhwc" else numpy.ascontiguousarray(
        gy.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    gy.flat[6:8] = [numpy.inf, numpy.nan]
    _relu_matches_numpy(x, gy, dtype, threads)
    # forward: compiled unless x's memory is not one block; backward: y (fresh) and gy
    # share a layout in every case here, so always compiled
    assert ("f" in calls) == (layout != "strided") and "b" in calls
    assert (cpu_relu._flat(x) is None) == (layout == "strided")


@pytest.mark.parametrize("layout", ["nchw", "nhwc", "strided"])
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("split", [False, True])
def test_relu_in_place_pass_matches_numpy_bit_for_bit(layout, dtype, split):
    """``cpu.relu.forward_inplace`` (the inference plans' ReLU): NumPy's
    ``maximum(a, 0)`` in place, NaN and the sign of zero included, on one block of
    memory (NCHW or NHWC), split over two threads or not; a strided array is left alone
    (False: nothing written)."""
    pytest.importorskip("xpnet.cpu.relu_kernels")
    from xpnet.cpu import relu as cpu_relu

    rng = numpy.random.default_rng(9)
    base = rng.standard_normal((3, 8, 9, 10)).astype(dtype)
    base.flat[:6] = [numpy.nan, -0.0, 0.0, numpy.inf, -numpy.inf, -1.0]
    if layout == "nhwc":
        a = numpy.ascontiguousarray(base.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    elif layout == "strided":
        a = numpy.concatenate([base, base], axis=3)[..., ::2]
    else:
        a = base.copy()
    want = numpy.maximum(a, 0)
    before = a.copy()
    with cpu.engines(threads=2, split="always" if split else "auto"):
        ran = cpu_relu.forward_inplace(a, split=split)
    assert ran == (layout != "strided")
    got = a if ran else before
    if ran:
        numpy.testing.assert_array_equal(got, want)  # NaN == NaN here
        assert numpy.array_equal(numpy.signbit(got), numpy.signbit(want))
    else:
        numpy.testing.assert_array_equal(a, before)  # untouched


def test_relu_backward_with_mismatched_layouts_uses_numpy():
    """dE/dy in another memory order than y: NumPy's path, same values."""
    pytest.importorskip("xpnet.cpu.relu_kernels")
    rng = numpy.random.default_rng(5)
    x = rng.standard_normal((2, 4, 5, 6)).astype(numpy.float32)
    gy = numpy.ascontiguousarray(
        rng.standard_normal((2, 5, 6, 4)).astype(numpy.float32)).transpose(0, 3, 1, 2)
    t = Tensor(x, requires_grad=True)
    F.relu(t).backward(gy)
    numpy.testing.assert_array_equal(t.grad, gy * (x > 0))


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(37, 45), (16, 16), (3, 70), (64, 33)])
@pytest.mark.parametrize("y_rows", [False, True])
def test_relu_on_a_transposed_view_is_compiled_and_matches_numpy(dtype, threads, shape,
                                                                 y_rows, monkeypatch):
    """x as a transposed view (a dense layer's blocks output): the forward's one pass
    over the F-order memory; dE/dy in the other layout than y (in rows, or transposed
    when y is in rows) through backward_transposed's register tiles and edges, whole or
    cut over two threads. NumPy's values, NaN, infinities and the sign of zero included,
    and gx in dE/dy's layout."""
    kernels = pytest.importorskip("xpnet.cpu.relu_kernels")
    calls = []
    real_fwd, real_t = kernels.forward, kernels.backward_transposed
    monkeypatch.setattr(kernels, "forward", lambda *a: calls.append("f") or real_fwd(*a))
    monkeypatch.setattr(kernels, "backward_transposed",
                        lambda *a: calls.append("t") or real_t(*a))
    rng = numpy.random.default_rng(11)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[:6] = [numpy.nan, -0.0, 0.0, numpy.inf, -numpy.inf, 1.0]
    gy = (rng.standard_normal(shape) * 3).astype(dtype)
    gy.flat[6:10] = [numpy.inf, numpy.nan, -0.0, -numpy.inf]
    if y_rows:  # y in rows, dE/dy a transposed view
        gy = numpy.ascontiguousarray(gy.T).T
    else:  # y a transposed view, dE/dy in rows
        x = numpy.ascontiguousarray(x.T).T
    t = _relu_matches_numpy(x, gy, dtype, threads)
    assert t.grad.strides == gy.strides  # dE/dx in dE/dy's layout
    assert "t" in calls and "f" in calls


def test_relu_without_compiled_loops_takes_numpy_path():
    """Without the compiled loops (numba missing, or ``engines(compiled=False)``) ReLU
    still works, with the same values."""
    rng = numpy.random.default_rng(8)
    x = rng.standard_normal((4, 3, 5, 5))
    gy = rng.standard_normal(x.shape)
    results = []
    for compiled in (True, False):
        with cpu.engines(compiled=compiled):
            t = Tensor(x, requires_grad=True)
            y = F.relu(t)
            y.backward(gy)
        results.append((y.data, t.grad))
    for a, b in zip(*results):
        numpy.testing.assert_array_equal(a, b)
    check_op(F.relu, lambda a: numpy.where(a > 0, a, 0.0), away_from((3, 4), seed=9))
