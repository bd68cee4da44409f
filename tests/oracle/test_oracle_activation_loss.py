"""Activations, linear and losses against PyTorch, in float64, to 1e-10 relative."""

import numpy
import pytest

from xpnet import Tensor
from xpnet import functions as F
from xpnet.testing import away_from

torch = pytest.importorskip("torch")

RTOL = 1e-10


def both(fn_x, fn_t, *arrays, wrt=(0,), seed=0):
    """Run xpnet and torch on the same float64 inputs and upstream gradient; compare."""
    xs = [Tensor(a.copy(), requires_grad=i in wrt and a.dtype.kind == "f")
          for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i in wrt and a.dtype.kind == "f")
          for i, a in enumerate(arrays)]
    y, ty = fn_x(*xs), fn_t(*ts)
    numpy.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=RTOL, atol=1e-300)
    gy = numpy.random.default_rng(seed).standard_normal(y.shape)
    y.backward(gy)
    ty.backward(torch.tensor(gy))
    for i in wrt:
        numpy.testing.assert_allclose(
            xs[i].grad, ts[i].grad.numpy(), rtol=RTOL, atol=1e-14, err_msg=f"input {i}"
        )


X = numpy.random.default_rng(0).normal(0, 3, (4, 6))
BIG = numpy.array([[1000.0, -1000.0, 0.0, 999.5], [-1000.0, -999.0, 998.0, 30.0]])


@pytest.mark.parametrize("x", [X, BIG], ids=["normal", "big"])
def test_sigmoid_tanh(x):
    both(F.sigmoid, torch.sigmoid, x)
    both(F.tanh, torch.tanh, x)


def test_relu():
    both(F.relu, torch.relu, away_from((4, 6), seed=3))


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("x", [X, BIG], ids=["normal", "big"])
def test_softmax_log_softmax(x, axis):
    both(lambda a: F.softmax(a, axis=axis), lambda a: torch.softmax(a, dim=axis), x)
    both(lambda a: F.log_softmax(a, axis=axis), lambda a: torch.log_softmax(a, dim=axis), x)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape_x", [(5, 4), (2, 3, 4)])
def test_linear(shape_x, bias):
    rng = numpy.random.default_rng(1)
    arrays = [rng.standard_normal(shape_x), rng.standard_normal((3, 4))]
    if bias:
        arrays.append(rng.standard_normal(3))
    both(F.linear, torch.nn.functional.linear, *arrays, wrt=range(len(arrays)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("logits", [X, BIG], ids=["normal", "big"])
def test_cross_entropy_indices(logits, reduction):
    t = numpy.arange(len(logits)) % logits.shape[1]
    both(
        lambda a, b: F.softmax_cross_entropy(a, b, reduction=reduction),
        lambda a, b: torch.nn.functional.cross_entropy(a, b, reduction=reduction),
        logits,
        t,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("logits", [X, BIG], ids=["normal", "big"])
def test_cross_entropy_probabilities(logits, reduction):
    t = numpy.random.default_rng(2).dirichlet(numpy.ones(logits.shape[1]), size=len(logits))
    both(
        lambda a, b: F.softmax_cross_entropy(a, b, reduction=reduction),
        lambda a, b: torch.nn.functional.cross_entropy(a, b, reduction=reduction),
        logits,
        t,
        wrt=(0, 1),
    )


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_squared_error_relation_to_mse_loss(reduction):
    """MSELoss(sum) = 2 E_sum; MSELoss(mean) = 2 E_sum / numel; E_mean = E_sum / N."""
    rng = numpy.random.default_rng(4)
    y, d = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    n, numel = y.shape[0], y.size
    torch_scale = 0.5 if reduction == "sum" else 0.5 * numel / n  # E = torch_scale * MSE
    both(
        lambda a, b: F.squared_error(a, b, reduction=reduction),
        lambda a, b: torch_scale * torch.nn.MSELoss(reduction=reduction)(a, b),
        y,
        d,
        wrt=(0, 1),
    )
    e_sum = F.squared_error(Tensor(y), Tensor(d)).item()
    mse_sum = torch.nn.MSELoss(reduction="sum")(torch.tensor(y), torch.tensor(d)).item()
    mse_mean = torch.nn.MSELoss()(torch.tensor(y), torch.tensor(d)).item()
    assert mse_sum == pytest.approx(2 * e_sum, rel=RTOL)
    assert mse_mean == pytest.approx(2 * e_sum / numel, rel=RTOL)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_sigmoid_cross_entropy_vs_bce_with_logits(reduction):
    """E_sum = BCEWithLogits(sum); E_mean = E_sum / N, torch's mean divides by numel."""
    rng = numpy.random.default_rng(5)
    z, t = rng.normal(0, 4, (5, 3)), rng.random((5, 3))
    z[0, :2] = [60.0, -60.0]  # saturated units, both ways
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    scale = 1.0 if reduction == "sum" else z.size / z.shape[0]
    both(
        lambda a, b: F.sigmoid_cross_entropy(a, b, reduction=reduction),
        lambda a, b: scale * bce(a, b, reduction=reduction),
        z,
        t,
        wrt=(0, 1),
    )
