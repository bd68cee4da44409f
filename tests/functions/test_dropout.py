"""dropout and dropout2d: gradient with a fixed mask, statistics of the masks, errors."""

import numpy
import pytest

from xpnet import Tensor
from xpnet.functions import dropout, dropout2d
from xpnet.testing import check_op


def _mask(seed, shape, p):
    """The keep mask dropout draws from default_rng(seed) (float32 uniforms >= p)."""
    return numpy.random.default_rng(seed).random(shape, dtype=numpy.float32) >= numpy.float32(p)


# ------------------------------------------------------------------ gradient checks
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_explicit_mask(p):
    x = numpy.random.default_rng(0).standard_normal((3, 4))
    mask = numpy.random.default_rng(1).random((3, 4)) >= p
    check_op(lambda t: dropout(t, p, mask=mask), lambda a: a * mask / (1 - p), x)


def test_dropout_broadcast_mask():
    x = numpy.random.default_rng(0).standard_normal((3, 4))
    mask = numpy.array([[1.0, 0.0, 1.0, 1.0]])  # (1, 4): a 0/1 float mask, one per column
    check_op(lambda t: dropout(t, 0.25, mask=mask), lambda a: a * mask / 0.75, x)


def test_dropout_fixed_rng():
    """A fresh generator with the same seed on every call gives the same mask."""
    x = numpy.random.default_rng(2).standard_normal((2, 3, 4))
    m = _mask(7, x.shape, 0.4)
    assert 0 < m.sum() < m.size  # the check covers kept and dropped units
    fn = lambda t: dropout(t, 0.4, True, numpy.random.default_rng(7))  # noqa: E731
    check_op(fn, lambda a: a * m / 0.6, x)


def test_dropout2d_fixed_rng():
    x = numpy.random.default_rng(3).standard_normal((2, 5, 2, 3))
    m = _mask(11, (2, 5, 1, 1), 0.5)
    assert 0 < m.sum() < m.size
    fn = lambda t: dropout2d(t, 0.5, True, numpy.random.default_rng(11))  # noqa: E731
    check_op(fn, lambda a: a * m / 0.5, x)


def test_dropout_backward_is_the_scaled_mask():
    x = Tensor(numpy.ones((4, 5)), requires_grad=True)
    y = dropout(x, 0.5, rng=numpy.random.default_rng(0))
    y.backward(numpy.ones((4, 5)))
    numpy.testing.assert_array_equal(x.grad, y.data)  # both are m / (1 - p)


# -------------------------------------------------------------------- statistics
def test_dropout_keep_rate_and_mean():
    p, n = 0.3, 1_000_000
    y = dropout(Tensor(numpy.ones(n, numpy.float32)), p, rng=numpy.random.default_rng(0)).data
    assert y.dtype == numpy.float32
    kept = y != 0
    assert set(numpy.unique(y).tolist()) == {0.0, numpy.float32(1 / (1 - p))}
    sd = numpy.sqrt(p * (1 - p) / n)
    assert abs(kept.mean() - (1 - p)) < 5 * sd
    assert abs(y.mean() - 1.0) < 5 * sd / (1 - p)  # inverted scaling keeps E[y] = x


def test_dropout_new_mask_each_call_and_reproducible():
    x = Tensor(numpy.ones((64, 64)))
    rng = numpy.random.default_rng(5)
    a, b = dropout(x, 0.5, rng=rng).data, dropout(x, 0.5, rng=rng).data
    assert (a != b).any()
    again = dropout(x, 0.5, rng=numpy.random.default_rng(5)).data
    numpy.testing.assert_array_equal(a, again)


def test_dropout2d_drops_whole_channels():
    p = 0.5
    y = dropout2d(Tensor(numpy.ones((100, 50, 3, 3))), p, rng=numpy.random.default_rng(0)).data
    per_map = y.reshape(100, 50, 9)
    assert (per_map.min(axis=2) == per_map.max(axis=2)).all()  # each map all 0 or all 2
    kept = per_map[:, :, 0] != 0
    assert abs(kept.mean() - (1 - p)) < 5 * numpy.sqrt(p * (1 - p) / kept.size)


@pytest.mark.parametrize("fn", [dropout, dropout2d])
def test_eval_and_p0_are_the_identity(fn):
    x = Tensor(numpy.random.default_rng(0).standard_normal((2, 3, 4, 4)))
    assert fn(x, 0.5, training=False) is x
    assert fn(x, 0.0, training=True) is x
    y = fn(x.data, 0.5, training=False)  # an array comes back wrapped, unchanged
    assert isinstance(y, Tensor) and y.data is x.data


# ------------------------------------------------------------------------ errors
@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
@pytest.mark.parametrize("fn", [dropout, dropout2d])
def test_p_out_of_range(fn, p):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        fn(Tensor(numpy.ones((2, 2, 2, 2))), p, rng=numpy.random.default_rng(0))


def test_p_not_a_number():
    with pytest.raises(TypeError, match="dropout: p"):
        dropout(Tensor(numpy.ones(3)), "0.5", rng=numpy.random.default_rng(0))


@pytest.mark.parametrize("fn", [dropout, dropout2d])
def test_rng_required_and_checked(fn):
    x = Tensor(numpy.ones((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="needs rng"):
        fn(x, 0.5)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        fn(x, 0.5, rng=numpy.random.RandomState(0))


def test_bad_inputs():
    with pytest.raises(ValueError, match="dropout2d: expected a 4-d input"):
        dropout2d(Tensor(numpy.ones((2, 3))), 0.5, rng=numpy.random.default_rng(0))
    with pytest.raises(TypeError, match="floating"):
        dropout(Tensor(numpy.ones(3, dtype=numpy.int64)), 0.5, rng=numpy.random.default_rng(0))
    with pytest.raises(ValueError, match="does not broadcast"):
        dropout(Tensor(numpy.ones((2, 3))), 0.5, mask=numpy.ones((3, 3), bool))
    with pytest.raises(ValueError, match="training=False"):
        dropout(Tensor(numpy.ones(3)), 0.5, training=False, mask=numpy.ones(3, bool))
