"""clip, global contrast normalisation and the perceptron criterion: forward against loop
references, backward against central differences in float64, every mode."""

import math

import numpy
import pytest

from xpnet import Tensor
from xpnet import functions as F
from xpnet.testing import away_from, check_op


# ------------------------------------------------------------------------------ clip
@pytest.mark.parametrize("low, high", [(-0.5, 0.7), (None, 0.3), (-0.2, None)])
def test_clip(low, high):
    # values kept away from both bounds: the gradient jumps there
    x = away_from((3, 4, 5), kinks=[b for b in (low, high) if b is not None], margin=0.05)

    def ref(a):
        out = a.copy()
        for i, v in enumerate(a.reshape(-1)):
            lo = v if low is None else max(v, low)
            out.reshape(-1)[i] = lo if high is None else min(lo, high)
        return out

    check_op(lambda a: F.clip(a, low, high), ref, x)


def test_clip_passes_the_gradient_on_a_bound_and_keeps_the_dtype():
    x = Tensor(numpy.array([0.0, 0.5, 1.0, 2.0], numpy.float32), requires_grad=True)
    y = F.clip(x, numpy.float32(0.5), 1.0)
    assert y.dtype == numpy.float32
    y.backward(numpy.ones(4, numpy.float32))
    numpy.testing.assert_array_equal(y.data, [0.5, 0.5, 1.0, 1.0])
    numpy.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 0.0])  # inclusive bounds


def test_clip_errors():
    with pytest.raises(ValueError, match="give low, high or both"):
        F.clip(Tensor([1.0]))
    with pytest.raises(ValueError, match="low 2.0 is greater than high 1.0"):
        F.clip(Tensor([1.0]), 2.0, 1.0)
    with pytest.raises(TypeError, match="clip: x must be a floating"):
        F.clip(numpy.arange(3), 0, 1)


# --------------------------------------------------------------------------- GCN
def ref_gcn(x, scale, sqrt_bias, eps):
    out = numpy.empty_like(x)
    for n in range(len(x)):
        v = x[n].reshape(-1)
        mean = sum(v) / len(v)
        var = sum((a - mean) ** 2 for a in v) / len(v)
        d = max(eps, math.sqrt(sqrt_bias + var))
        out[n] = (scale * (x[n] - mean) / d)
    return out


@pytest.mark.parametrize("scale, sqrt_bias, eps", [(1.0, 0.0, 1e-8), (55.0, 10.0, 1e-8),
                                                   (2.0, 0.5, 1e-8)])
@pytest.mark.parametrize("shape", [(3, 2, 3, 3), (4, 7)])
def test_global_contrast_normalize(shape, scale, sqrt_bias, eps):
    x = numpy.random.default_rng(1).normal(2.0, 1.5, shape)
    check_op(lambda a: F.global_contrast_normalize(a, scale, sqrt_bias, eps),
             lambda a: ref_gcn(a, scale, sqrt_bias, eps), x)


def test_global_contrast_normalize_on_a_flat_image_divides_by_eps():
    # a constant example: its contrast is below eps, so eps divides and the gradient
    # only goes through the centring
    x = numpy.vstack([numpy.full((1, 6), 3.0), numpy.random.default_rng(2).normal(size=(1, 6))])
    check_op(lambda a: F.global_contrast_normalize(a, 1.0, 0.0, 0.1),
             lambda a: ref_gcn(a, 1.0, 0.0, 0.1), x)


def test_global_contrast_normalize_errors():
    with pytest.raises(ValueError, match="expected a floating batch"):
        F.global_contrast_normalize(Tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="scale > 0"):
        F.global_contrast_normalize(Tensor([[1.0, 2.0]]), scale=0.0)


# ------------------------------------------------------------------ perceptron loss
def ref_perceptron(s, t, reduction):
    losses = numpy.array([max(row) - row[t[n]] for n, row in enumerate(s)])
    if reduction == "none":
        return losses
    return numpy.asarray(losses.mean() if reduction == "mean" else losses.sum())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_perceptron_loss(reduction):
    s = numpy.random.default_rng(3).permutation(20).reshape(5, 4) * 0.1  # no ties
    t = numpy.array([0, 3, 1, 1, 2])
    check_op(lambda a, b: F.perceptron_loss(a, b, reduction),
             lambda a, b: ref_perceptron(a, b, reduction), s, t, wrt=[0])


def test_perceptron_loss_gradient_is_rosenblatts_rule():
    """One SGD step of rate eta on one example: w_t += eta x, w_k* -= eta x."""
    x = numpy.array([[2.0, 1.0, -1.0]])
    w = numpy.zeros((4, 3))
    w[2] = [1.0, 0.0, 0.0]  # class 2 wins
    wt = Tensor(w, requires_grad=True)
    F.perceptron_loss(F.matmul(Tensor(x), F.transpose(wt)), numpy.array([1])).backward()
    expected = numpy.zeros((4, 3))
    expected[1], expected[2] = -x[0], x[0]  # the step -eta g moves w_1 to x, w_2 away
    numpy.testing.assert_array_equal(wt.grad, expected)


def test_perceptron_loss_ties_go_to_the_first_class_as_argmax():
    s = Tensor(numpy.zeros((1, 3)), requires_grad=True)
    loss = F.perceptron_loss(s, numpy.array([2]))
    loss.backward()
    assert loss.item() == 0.0  # a tie costs nothing ...
    numpy.testing.assert_array_equal(s.grad, [[1.0, 0.0, -1.0]])  # ... but argmax is wrong


def test_perceptron_loss_errors():
    s = Tensor(numpy.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"classes in \[0, 2\]"):
        F.perceptron_loss(s, numpy.array([0, 3]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        F.perceptron_loss(s, numpy.array([0]))
    with pytest.raises(TypeError, match="integer classes"):
        F.perceptron_loss(s, numpy.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.perceptron_loss(s, numpy.array([0, 1]), reduction="max")
