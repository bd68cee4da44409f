"""dropconnect and dropconnect_gaussian: gradients with fixed masks, statistics, errors."""

import importlib
import math

import numpy
import pytest

from xpnet import Tensor
from xpnet.functions import dropconnect, dropconnect_gaussian
from xpnet.testing import check_op

# the module itself (the package re-exports a function of the same name)
dropconnect_module = importlib.import_module("xpnet.functions.noise.dropconnect")

N, IN, OUT = 3, 4, 5


def _data(seed=0):
    rng = numpy.random.default_rng(seed)
    return rng.standard_normal((N, IN)), rng.standard_normal((OUT, IN)), rng.standard_normal(OUT)


def _masks(seed=1, p=0.5):
    rng = numpy.random.default_rng(seed)
    return rng.random((OUT, IN)) >= p, rng.random((N, OUT, IN)) >= p


def _ref_shared(x, w, mask, b=None):
    out = numpy.zeros((x.shape[0], w.shape[0]))
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            out[n, o] = sum(w[o, i] * mask[o, i] * x[n, i] for i in range(x.shape[1]))
    return out if b is None else out + b


def _ref_per_example(x, w, masks, b=None):
    rows = [_ref_shared(x[n : n + 1], w, masks[n]) for n in range(x.shape[0])]
    out = numpy.concatenate(rows)
    return out if b is None else out + b


# ------------------------------------------------------------------ gradient checks
def test_shared_mask_with_bias():
    x, w, b = _data()
    m, _ = _masks()
    fn = lambda x, w, b: dropconnect(x, w, b, 0.5, mask=m)  # noqa: E731
    check_op(fn, lambda x, w, b: _ref_shared(x, w, m, b), x, w, b)


def test_shared_mask_without_bias():
    x, w, _ = _data(1)
    m, _ = _masks(2, p=0.3)
    fn = lambda x, w: dropconnect(x, w, None, 0.3, mask=m)  # noqa: E731
    check_op(fn, lambda x, w: _ref_shared(x, w, m), x, w)


def test_per_example_with_bias():
    x, w, b = _data(2)
    _, me = _masks(3)
    fn = lambda x, w, b: dropconnect(x, w, b, 0.5, per_example=True, mask=me)  # noqa: E731
    check_op(fn, lambda x, w, b: _ref_per_example(x, w, me, b), x, w, b)


def test_per_example_without_bias():
    x, w, _ = _data(3)
    _, me = _masks(4, p=0.6)
    fn = lambda x, w: dropconnect(x, w, p=0.6, per_example=True, mask=me.astype(float))  # noqa: E731
    check_op(fn, lambda x, w: _ref_per_example(x, w, me), x, w)


@pytest.mark.parametrize("bias", [True, False])
def test_inference_mean(bias):
    x, w, b = _data(4)
    ones = numpy.ones((OUT, IN), bool)
    if bias:
        fn = lambda x, w, b: dropconnect(x, w, b, 0.25, training=False)  # noqa: E731
        check_op(fn, lambda x, w, b: _ref_shared(x, 0.75 * w, ones, b), x, w, b)
    else:
        fn = lambda x, w: dropconnect(x, w, p=0.25, training=False)  # noqa: E731
        check_op(fn, lambda x, w: _ref_shared(x, 0.75 * w, ones), x, w)


def test_fixed_rng_is_deterministic_and_unscaled():
    """A random mask from a fixed seed; training output is NOT rescaled (the paper)."""
    x, w, b = _data(5)
    m = numpy.random.default_rng(9).random((OUT, IN), dtype=numpy.float32) >= numpy.float32(0.5)
    assert 0 < m.sum() < m.size
    fn = lambda x, w, b: dropconnect(x, w, b, 0.5, True, numpy.random.default_rng(9))  # noqa: E731
    check_op(fn, lambda x, w, b: _ref_shared(x, w, m, b), x, w, b)


def test_p0_training_is_plain_linear():
    x, w, b = _data(6)
    y = dropconnect(Tensor(x), Tensor(w), Tensor(b), p=0.0, training=True).data
    numpy.testing.assert_allclose(y, x @ w.T + b, rtol=1e-12)


# -------------------------------------------------------------------- statistics
def test_masks_keep_rate_change_per_call_and_average_to_the_mean():
    rng = numpy.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 40)), rng.standard_normal((30, 40)), rng.standard_normal(30)
    p, calls = 0.4, 2000
    ones = Tensor(numpy.eye(40))  # the identity input reads the thinned weights back
    seen = dropconnect(ones, Tensor(w), p=p, rng=rng).data.T  # (30, 40) = W * M
    kept = (seen != 0).mean()
    assert abs(kept - (1 - p)) < 5 * math.sqrt(p * (1 - p) / seen.size)
    ys = [dropconnect(Tensor(x), Tensor(w), Tensor(b), p, rng=rng).data for _ in range(calls)]
    assert (ys[0] != ys[1]).any()  # a new mask per mini-batch
    mean = dropconnect(Tensor(x), Tensor(w), Tensor(b), p, training=False).data
    spread = numpy.std(ys, axis=0) / math.sqrt(calls)
    assert (numpy.abs(numpy.mean(ys, axis=0) - mean) < 5 * spread + 1e-12).all()


def test_per_example_masks_differ_between_examples():
    rng = numpy.random.default_rng(1)
    x = numpy.repeat(rng.standard_normal((1, 20)), 4, axis=0)  # 4 identical examples
    w = rng.standard_normal((6, 20))
    y = dropconnect(Tensor(x), Tensor(w), p=0.5, per_example=True, rng=rng).data
    assert (y[0] != y[1]).any() and (y[2] != y[3]).any()
    shared = dropconnect(Tensor(x), Tensor(w), p=0.5, rng=rng).data
    numpy.testing.assert_array_equal(shared[0], shared[3])


def test_gaussian_without_activation_is_the_mean():
    x, w, b = _data(7)
    g = dropconnect_gaussian(Tensor(x), Tensor(w), Tensor(b), 0.3).data
    mean = dropconnect(Tensor(x), Tensor(w), Tensor(b), 0.3, training=False).data
    numpy.testing.assert_allclose(g, mean, rtol=1e-12)


def test_gaussian_relu_matches_the_closed_form(monkeypatch):
    """E[relu(u)], u ~ N(mu, s^2), is mu Phi(mu/s) + s phi(mu/s); small chunks on purpose."""
    monkeypatch.setattr(dropconnect_module, "_CHUNK", 1000)
    x, w, b = _data(8)
    p = 0.5
    g = dropconnect_gaussian(Tensor(x), Tensor(w), Tensor(b), p, "relu", 40000,
                             numpy.random.default_rng(0)).data
    mu = (1 - p) * x @ w.T + b
    s = numpy.sqrt(p * (1 - p) * (x * x) @ (w * w).T)
    z = mu / s
    cdf = 0.5 * (1 + numpy.vectorize(math.erf)(z / math.sqrt(2)))
    exact = mu * cdf + s * numpy.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    numpy.testing.assert_allclose(g, exact, atol=5 * s.max() / math.sqrt(40000))


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_gaussian_inference_close_to_monte_carlo_over_masks(act):
    """A tiny layer: average a(u) over 20000 random masks vs the paper's inference."""
    rng = numpy.random.default_rng(0)
    n_in, n_out, reps = 30, 4, 20000
    x, b = rng.standard_normal((2, n_in)), 0.3 * rng.standard_normal(n_out)
    w = rng.standard_normal((n_out, n_in)) / math.sqrt(n_in)
    f = {"relu": lambda u: numpy.maximum(u, 0), "tanh": numpy.tanh,
         "sigmoid": lambda u: 1 / (1 + numpy.exp(-u))}[act]
    xr = numpy.repeat(x, reps, axis=0)  # one mask per copy: per_example draws them all at once
    u = dropconnect(Tensor(xr), Tensor(w), Tensor(b), 0.5, per_example=True,
                    rng=numpy.random.default_rng(1)).data
    monte_carlo = f(u).reshape(2, reps, n_out).mean(axis=1)
    g = dropconnect_gaussian(Tensor(x), Tensor(w), Tensor(b), 0.5, act, 20000,
                             numpy.random.default_rng(2)).data
    mean = f(dropconnect(Tensor(x), Tensor(w), Tensor(b), 0.5, training=False).data)
    err_gauss, err_mean = numpy.abs(g - monte_carlo).max(), numpy.abs(mean - monte_carlo).max()
    assert err_gauss < 0.02
    assert err_gauss < 0.5 * err_mean  # better than the weight-scaling mean


def test_gaussian_reproducible_and_float32():
    x, w, b = (a.astype(numpy.float32) for a in _data(9))
    args = (Tensor(x), Tensor(w), Tensor(b), 0.5, "tanh", 50)
    g1 = dropconnect_gaussian(*args, rng=numpy.random.default_rng(3)).data
    g2 = dropconnect_gaussian(*args, rng=numpy.random.default_rng(3)).data
    assert g1.dtype == numpy.float32 and g1.shape == (N, OUT)
    numpy.testing.assert_array_equal(g1, g2)


# ------------------------------------------------------------------------ errors
def test_shape_errors():
    x, w, b = (Tensor(a) for a in _data())
    with pytest.raises(ValueError, match=r"expected weight of shape \(out_features, 4\)"):
        dropconnect(x, Tensor(numpy.ones((5, 3))), p=0.5, training=False)
    with pytest.raises(ValueError, match="expected x of shape"):
        dropconnect(Tensor(numpy.ones(4)), w, p=0.5, training=False)
    with pytest.raises(ValueError, match=r"expected bias of shape \(5,\)"):
        dropconnect(x, w, Tensor(numpy.ones(4)), training=False)
    with pytest.raises(ValueError, match=r"expected a mask of shape \(5, 4\)"):
        dropconnect(x, w, b, mask=numpy.ones((4, 5), bool))
    with pytest.raises(ValueError, match=r"expected a mask of shape \(3, 5, 4\)"):
        dropconnect(x, w, b, per_example=True, mask=numpy.ones((5, 4), bool))
    with pytest.raises(ValueError, match="training=False"):
        dropconnect(x, w, b, training=False, mask=numpy.ones((5, 4), bool))


def test_argument_errors():
    x, w, b = (Tensor(a) for a in _data())
    for p in (1.0, -0.5):
        with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
            dropconnect(x, w, b, p, rng=numpy.random.default_rng(0))
    with pytest.raises(ValueError, match="needs rng"):
        dropconnect(x, w, b, 0.5)
    with pytest.raises(ValueError, match="activation must be one of"):
        dropconnect_gaussian(x, w, b, 0.5, "softplus", rng=numpy.random.default_rng(0))
    with pytest.raises(ValueError, match="samples must be an int >= 1"):
        dropconnect_gaussian(x, w, b, 0.5, "relu", 0, rng=numpy.random.default_rng(0))
    with pytest.raises(ValueError, match="needs rng"):
        dropconnect_gaussian(x, w, b, 0.5, "relu")
