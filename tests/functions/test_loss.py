"""Losses: squared error and fused softmax cross-entropy, every reduction and target kind."""

import math

import numpy
import pytest

from xpnet import Tensor, cpu
from xpnet import functions as F
from xpnet.testing import check_op, gradcheck


def ref_squared_error(y, d, reduction):
    e = 0.5 * sum((a - b) ** 2 for a, b in zip(y.reshape(-1), d.reshape(-1), strict=True))
    return numpy.asarray(e / y.shape[0] if reduction == "mean" else e)


def ref_cross_entropy(x, t, reduction):
    """-sum_c t_c log softmax(x)_c per row, by loops; t indices or rows of weights."""
    losses = []
    for n, row in enumerate(x):
        m = max(row)
        lse = m + math.log(sum(math.exp(v - m) for v in row))
        weights = numpy.eye(len(row))[t[n]] if t.ndim == 1 else t[n]
        losses.append(-sum(w * (v - lse) for w, v in zip(weights, row, strict=True)))
    losses = numpy.array(losses)
    if reduction == "none":
        return losses
    return numpy.asarray(losses.mean() if reduction == "mean" else losses.sum())


RNG = numpy.random.default_rng(0)
X = RNG.normal(0, 2, (4, 5))
T_INDEX = numpy.array([0, 3, 4, 3])
T_ONEHOT = numpy.eye(5)[T_INDEX]
T_PROB = RNG.dirichlet(numpy.ones(5), size=4)


# ------------------------------------------------------------------ squared error
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 2), (5,)])
def test_squared_error(reduction, shape):
    rng = numpy.random.default_rng(1)
    y, d = rng.standard_normal(shape), rng.standard_normal(shape)
    check_op(
        lambda a, b: F.squared_error(a, b, reduction=reduction),
        lambda a, b: ref_squared_error(a, b, reduction),
        y,
        d,
    )


def test_squared_error_gradient_is_the_output_error():
    """dE/dy = y - d (back-propagation's output-layer error before f'), / N for "mean"."""
    y, d = numpy.array([[1.0, 2.0], [3.0, -1.0]]), numpy.array([[0.0, 4.0], [3.5, 1.0]])
    for reduction, scale in (("sum", 1.0), ("mean", 0.5)):
        t = Tensor(y, requires_grad=True)
        e = F.squared_error(t, Tensor(d), reduction=reduction)
        assert e.shape == () and e.dtype == numpy.float64
        assert e.item() == pytest.approx(0.5 * scale * (1 + 4 + 0.25 + 4))
        e.backward()
        numpy.testing.assert_array_equal(t.grad, scale * (y - d))


def test_squared_error_float32_and_only_target_gradient():
    y = numpy.array([[1.0, 2.0]], dtype=numpy.float32)
    d = Tensor(numpy.array([[0.5, 2.5]], dtype=numpy.float32), requires_grad=True)
    e = F.squared_error(Tensor(y), d)
    assert e.dtype == numpy.float32
    e.backward()
    numpy.testing.assert_array_equal(d.grad, [[-0.5, 0.5]])
    assert d.grad.dtype == numpy.float32


def test_squared_error_errors():
    y = Tensor(numpy.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"squared_error: y and d must have the same shape, "
                       r"got \(2, 3\) and \(3, 2\)"):
        F.squared_error(y, Tensor(numpy.zeros((3, 2))))
    with pytest.raises(ValueError, match="squared_error: reduction must be one of"):
        F.squared_error(y, y, reduction="none")
    with pytest.raises(TypeError, match="squared_error: y must be floating, got dtype int64"):
        F.squared_error(Tensor(numpy.zeros((2, 3), dtype=numpy.int64)), y)


# ----------------------------------------------------------- softmax cross-entropy
TARGETS = {"index": T_INDEX, "onehot": T_ONEHOT, "prob": T_PROB}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", ["index", "onehot", "prob"])
def test_softmax_cross_entropy(reduction, kind):
    check_op(
        lambda x, t: F.softmax_cross_entropy(x, t, reduction=reduction),
        lambda x, t: ref_cross_entropy(x, t, reduction),
        X,
        TARGETS[kind],
    )


def test_cross_entropy_index_and_onehot_agree():
    grads = []
    for t in (T_INDEX, T_ONEHOT):
        x = Tensor(X, requires_grad=True)
        loss = F.softmax_cross_entropy(x, t)
        loss.backward()
        grads.append((loss.item(), x.grad))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-14)
    numpy.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-14, atol=1e-17)
    # and the gradient is (softmax(x) - onehot) / N
    p = numpy.exp(X - X.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    numpy.testing.assert_allclose(grads[0][1], (p - T_ONEHOT) / 4, rtol=1e-12)


def test_cross_entropy_unnormalised_weights_gradient():
    """Rows of t that do not sum to 1: dl/dx = p sum(t) - t, checked numerically."""
    t = numpy.abs(RNG.normal(size=(3, 4)))
    gradcheck(lambda x, w: F.softmax_cross_entropy(x, w, reduction="sum"), X[:3, :4], t)


def test_cross_entropy_large_logits_finite():
    x = numpy.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    t = numpy.array([1, 2])
    with numpy.errstate(over="raise", divide="raise", invalid="raise"):
        loss = F.softmax_cross_entropy(Tensor(x), t, reduction="none").data
    numpy.testing.assert_allclose(loss, [2000.0, 1.0 + math.log1p(math.exp(-1))], rtol=1e-14)
    check_op(
        lambda a, b: F.softmax_cross_entropy(a, b, reduction="sum"),
        lambda a, b: ref_cross_entropy(a, b, "sum"),
        x,
        t,
    )
    check_op(
        lambda a, b: F.softmax_cross_entropy(a, b),
        lambda a, b: ref_cross_entropy(a, b, "mean"),
        x,
        numpy.array([[0.0, 0.3, 0.7], [0.5, 0.25, 0.25]]),
    )


def test_cross_entropy_float32_output_and_list_targets():
    x = Tensor(X.astype(numpy.float32), requires_grad=True)
    loss = F.softmax_cross_entropy(x, T_INDEX.tolist())
    assert loss.dtype == numpy.float32 and loss.shape == ()
    loss.backward()
    assert x.grad.dtype == numpy.float32


def test_cross_entropy_does_not_modify_inputs_or_incoming_gradient():
    x, t = X.copy(), T_PROB.copy()
    xt, tt = Tensor(x, requires_grad=True), Tensor(t, requires_grad=True)
    gy = numpy.ones(4)
    F.softmax_cross_entropy(xt, tt, reduction="none").backward(gy)
    numpy.testing.assert_array_equal(x, X)
    numpy.testing.assert_array_equal(t, T_PROB)
    numpy.testing.assert_array_equal(gy, numpy.ones(4))


@pytest.mark.parametrize(
    ("logits", "targets", "error", "message"),
    [
        (numpy.zeros(5), numpy.array([0]), ValueError,
         r"softmax_cross_entropy: logits must be 2-d \(N, C\), got shape \(5,\)"),
        (numpy.zeros((2, 3, 4)), numpy.array([0, 1]), ValueError, r"got shape \(2, 3, 4\)"),
        (numpy.zeros((2, 3)), numpy.array([0, 3]), ValueError,
         r"softmax_cross_entropy: targets must be class indices in \[0, 2\] for 3 classes, "
         r"got values in \[0, 3\]"),
        (numpy.zeros((2, 3)), numpy.array([-1, 0]), ValueError, r"got values in \[-1, 0\]"),
        (numpy.zeros((2, 3)), numpy.array([0, 1, 2]), ValueError,
         r"class-index targets must have shape \(2,\) for logits of shape \(2, 3\), got \(3,\)"),
        (numpy.zeros((2, 3)), numpy.zeros((2, 4)), ValueError,
         r"probability targets must have the logits' shape \(2, 3\), got \(2, 4\)"),
        (numpy.zeros((2, 3)), numpy.zeros((2, 3), dtype=numpy.float32), TypeError,
         "probability targets must have the logits' dtype float64, got float32"),
        (numpy.zeros((2, 3)), numpy.zeros(2, dtype=bool), TypeError,
         "targets must be integer class indices"),
        (numpy.zeros((2, 3), dtype=numpy.int64), numpy.array([0, 1]), TypeError,
         "logits must be floating"),
    ],
)
def test_cross_entropy_errors(logits, targets, error, message):
    with pytest.raises(error, match=message):
        F.softmax_cross_entropy(Tensor(logits), targets)


def test_cross_entropy_bad_reduction():
    with pytest.raises(ValueError, match="softmax_cross_entropy: reduction must be one of"):
        F.softmax_cross_entropy(Tensor(X), T_INDEX, reduction="avg")


def _cross_entropy_both_paths(x, t, reduction):
    """(loss, dE/dx) of softmax_cross_entropy with the compiled pass, then without."""
    out = []
    for compiled in (True, False):
        with cpu.engines(compiled=compiled):
            xt = Tensor(x.copy(), requires_grad=True)
            loss = F.softmax_cross_entropy(xt, t, reduction=reduction)
            loss.backward()
        out.append((loss.data, xt.grad))
    return out


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_compiled_pass_matches_numpy(dtype, reduction):
    pytest.importorskip("numba")
    rng = numpy.random.default_rng(3)
    x = (rng.normal(0, 4, (37, 10)) + [[300.0] + [0.0] * 9]).astype(dtype)  # large logits
    t = rng.integers(0, 10, 37).astype(numpy.uint8)  # any integer dtype
    (loss_c, gx_c), (loss_n, gx_n) = _cross_entropy_both_paths(x, t, reduction)
    assert loss_c.dtype == loss_n.dtype == dtype and gx_c.dtype == dtype
    rtol = 1e-6 if dtype == numpy.float32 else 1e-13
    numpy.testing.assert_allclose(loss_c, loss_n, rtol=rtol)
    numpy.testing.assert_allclose(gx_c, gx_n, rtol=rtol, atol=rtol * 1e-3)
    numpy.testing.assert_allclose(gx_n, ref_cross_entropy_grad(x, t, reduction), rtol=1e-4,
                                  atol=1e-7)


def ref_cross_entropy_grad(x, t, reduction):
    """(softmax(x) - onehot(t)), divided by N for "mean", in float64."""
    z = x.astype(numpy.float64)
    p = numpy.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = p - numpy.eye(x.shape[1])[t]
    return g / x.shape[0] if reduction == "mean" else g


def test_cross_entropy_compiled_pass_keeps_nan_and_checks_range():
    pytest.importorskip("numba")
    x = numpy.zeros((3, 4), dtype=numpy.float32)
    x[1, 2] = numpy.nan  # not the first logit: the row's maximum must still be NaN
    (loss_c, gx_c), (loss_n, gx_n) = _cross_entropy_both_paths(x, numpy.array([0, 1, 3]),
                                                               "sum")
    assert numpy.isnan(loss_c) and numpy.isnan(loss_n)
    numpy.testing.assert_array_equal(numpy.isnan(gx_c), numpy.isnan(gx_n))
    assert numpy.isnan(gx_c[1]).all() and not numpy.isnan(gx_c[[0, 2]]).any()
    for compiled in (True, False):
        with cpu.engines(compiled=compiled), pytest.raises(
                ValueError, match=r"class indices in \[0, 3\] for 4 classes, got values in "
                                  r"\[0, 7\]"):
            F.softmax_cross_entropy(Tensor(x), numpy.array([0, 7, 1]))


# ---------------------------------------------------------- sigmoid cross-entropy
def ref_sigmoid_cross_entropy(z, t, reduction):
    """-sum [t log s + (1 - t) log(1 - s)], s = 1 / (1 + exp(-z)), by a loop."""
    e = 0.0
    for a, b in zip(z.reshape(-1), t.reshape(-1), strict=True):
        s = 1.0 / (1.0 + math.exp(-a))
        e -= b * math.log(s) + (1.0 - b) * math.log(1.0 - s)
    return numpy.asarray(e / z.shape[0] if reduction == "mean" else e)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 2), (5,)])
def test_sigmoid_cross_entropy(reduction, shape):
    rng = numpy.random.default_rng(2)
    z, t = rng.normal(0, 2, shape), rng.random(shape)
    check_op(
        lambda a, b: F.sigmoid_cross_entropy(a, b, reduction=reduction),
        lambda a, b: ref_sigmoid_cross_entropy(a, b, reduction),
        z,
        t,
    )


def test_sigmoid_cross_entropy_gradient_is_the_output_error():
    z, t = numpy.array([[0.5, -2.0], [3.0, 0.0]]), numpy.array([[1.0, 0.0], [0.25, 1.0]])
    for reduction, scale in (("sum", 1.0), ("mean", 0.5)):
        x = Tensor(z, requires_grad=True)
        F.sigmoid_cross_entropy(x, Tensor(t), reduction=reduction).backward()
        numpy.testing.assert_allclose(x.grad, scale * (1 / (1 + numpy.exp(-z)) - t),
                                      rtol=1e-14)


def test_sigmoid_cross_entropy_is_finite_for_huge_logits():
    z = numpy.array([[1000.0, -1000.0, 40.0, -40.0]])
    t = numpy.array([[1.0, 0.0, 0.0, 1.0]])
    x = Tensor(z, requires_grad=True)
    e = F.sigmoid_cross_entropy(x, Tensor(t))
    # the two confident right answers cost ~0, the wrong ones |z| each
    assert e.item() == pytest.approx(80.0, rel=1e-12)
    e.backward()
    numpy.testing.assert_allclose(x.grad, [[0.0, 0.0, 1.0, -1.0]], atol=1e-15)


def test_sigmoid_cross_entropy_keeps_float32_and_takes_int_targets():
    z = Tensor(numpy.zeros((2, 3), numpy.float32), requires_grad=True)
    e = F.sigmoid_cross_entropy(z, numpy.array([[1, 0, 1], [0, 0, 1]]), reduction="mean")
    assert e.dtype == numpy.float32
    assert e.item() == pytest.approx(3 * math.log(2), rel=1e-6)
    e.backward()
    assert z.grad.dtype == numpy.float32


def test_sigmoid_cross_entropy_errors():
    z = Tensor(numpy.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"sigmoid_cross_entropy: z and t must have the same "
                                         r"shape, got \(2, 3\) and \(3, 2\)"):
        F.sigmoid_cross_entropy(z, numpy.zeros((3, 2)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.sigmoid_cross_entropy(z, numpy.zeros((2, 3)), reduction="none")
    with pytest.raises(TypeError, match=r"z \(logits\) must be floating, got dtype int64"):
        F.sigmoid_cross_entropy(numpy.zeros((2, 3), numpy.int64), numpy.zeros((2, 3)))
    with pytest.raises(TypeError, match="t must be a Tensor or an array, got list"):
        F.sigmoid_cross_entropy(z, [[0.0] * 3] * 2)
