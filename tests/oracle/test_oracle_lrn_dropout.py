"""PyTorch as the oracle: local_response_norm, dropout semantics, DropConnect as linear."""

import numpy
import pytest

from xpnet import Tensor, nn
from xpnet.functions import dropconnect, dropout, local_response_norm

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _ours_and_grad(fn, x, gy):
    t = Tensor(x.copy(), requires_grad=True)
    y = fn(t)
    y.backward(gy)
    return y.data, t.grad


def _torch_and_grad(fn, x, gy):
    t = torch.tensor(x, requires_grad=True)
    y = fn(t)
    y.backward(torch.tensor(gy))
    return y.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("shape", [(2, 7, 3, 4), (3, 6, 5)])
def test_lrn_matches_torch(size, shape):
    rng = numpy.random.default_rng(size)
    x, gy = rng.standard_normal(shape) * 3, rng.standard_normal(shape)
    args = (size, 0.3, 0.75, 1.2)
    y, gx = _ours_and_grad(lambda t: local_response_norm(t, *args), x, gy)
    y_t, gx_t = _torch_and_grad(lambda t: TF.local_response_norm(t, *args), x, gy)
    numpy.testing.assert_allclose(y, y_t, rtol=1e-10, atol=1e-14)
    numpy.testing.assert_allclose(gx, gx_t, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    "kwargs", [{"k": 2.0}, {"alpha": 0.01, "beta": 0.5, "k": 1.0}, {"alpha": 5e-4, "k": 2.0}]
)
def test_lrn_alexnet_and_generic_beta_match_torch(kwargs):
    rng = numpy.random.default_rng(0)
    x, gy = rng.standard_normal((2, 16, 4, 4)) * 20, rng.standard_normal((2, 16, 4, 4))
    y, gx = _ours_and_grad(lambda t: local_response_norm(t, 5, **kwargs), x, gy)
    y_t, gx_t = _torch_and_grad(lambda t: TF.local_response_norm(t, 5, **kwargs), x, gy)
    numpy.testing.assert_allclose(y, y_t, rtol=1e-10)
    numpy.testing.assert_allclose(gx, gx_t, rtol=1e-10, atol=1e-14)


def test_lrn_default_k_is_the_papers_not_torchs():
    """Our default k = 2 is AlexNet's; PyTorch's default is k = 1 (pass k to agree)."""
    x = numpy.random.default_rng(6).standard_normal((1, 6, 2, 2)) * 10
    ours = local_response_norm(Tensor(x), 5).data
    numpy.testing.assert_allclose(
        ours, TF.local_response_norm(torch.tensor(x), 5, k=2.0).numpy(), rtol=1e-10
    )
    assert not numpy.allclose(ours, TF.local_response_norm(torch.tensor(x), 5).numpy())


def test_lrn_2d_input_is_torch_on_a_length_one_axis():
    """PyTorch needs 3 axes; (N, C) is (N, C, 1) there."""
    rng = numpy.random.default_rng(1)
    x, gy = rng.standard_normal((4, 9)), rng.standard_normal((4, 9))
    y, gx = _ours_and_grad(lambda t: local_response_norm(t, 3, 0.5, 0.75, 2.0), x, gy)
    y_t, gx_t = _torch_and_grad(
        lambda t: TF.local_response_norm(t[:, :, None], 3, 0.5, 0.75, 2.0)[:, :, 0], x, gy
    )
    numpy.testing.assert_allclose(y, y_t, rtol=1e-10)
    numpy.testing.assert_allclose(gx, gx_t, rtol=1e-10, atol=1e-14)


def test_lrn_layer_matches_torch_layer():
    x = numpy.random.default_rng(2).standard_normal((1, 8, 5, 5)).astype(numpy.float32)
    ours = nn.LocalResponseNorm(5, alpha=1e-3, beta=0.75, k=2.0)(Tensor(x)).data
    ref = torch.nn.LocalResponseNorm(5, alpha=1e-3, beta=0.75, k=2.0)(torch.tensor(x)).numpy()
    numpy.testing.assert_allclose(ours, ref, rtol=1e-6)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_same_mask_same_values_and_gradient(p):
    """Given torch's own mask (its zeros), ours scales the kept units exactly as torch."""
    rng = numpy.random.default_rng(3)
    x = rng.uniform(0.5, 2.0, (20, 30))  # no zeros, so torch's zeros are its mask
    gy = rng.standard_normal((20, 30))
    torch.manual_seed(0)
    y_t, gx_t = _torch_and_grad(lambda t: TF.dropout(t, p, training=True), x, gy)
    mask = y_t != 0
    assert 0 < mask.sum() < mask.size
    y, gx = _ours_and_grad(lambda t: dropout(t, p, mask=mask), x, gy)
    numpy.testing.assert_allclose(y, y_t, rtol=1e-10, atol=0)
    numpy.testing.assert_allclose(gx, gx_t, rtol=1e-10, atol=0)


def test_dropout2d_same_mask_as_torch():
    rng = numpy.random.default_rng(4)
    x, gy = rng.uniform(0.5, 2.0, (6, 8, 3, 3)), rng.standard_normal((6, 8, 3, 3))
    torch.manual_seed(0)
    y_t, gx_t = _torch_and_grad(lambda t: TF.dropout2d(t, 0.4, training=True), x, gy)
    mask = y_t[:, :, :1, :1] != 0  # (N, C, 1, 1): torch drops whole maps too
    assert ((y_t != 0) == mask).all()
    y, gx = _ours_and_grad(lambda t: dropout(t, 0.4, mask=mask), x, gy)
    numpy.testing.assert_allclose(y, y_t, rtol=1e-10, atol=0)
    numpy.testing.assert_allclose(gx, gx_t, rtol=1e-10, atol=0)


@pytest.mark.parametrize("p", [0.2, 0.7])
def test_dropout_eval_identity_and_statistics_like_torch(p):
    x = numpy.ones((400, 500))
    assert numpy.array_equal(TF.dropout(torch.tensor(x), p, training=False).numpy(), x)
    assert numpy.array_equal(dropout(Tensor(x), p, training=False).data, x)
    assert numpy.array_equal(nn.Dropout(p).eval()(Tensor(x)).data, x)
    torch.manual_seed(0)
    y_t = TF.dropout(torch.tensor(x), p, training=True).numpy()
    y = dropout(Tensor(x), p, rng=numpy.random.default_rng(0)).data
    assert set(numpy.unique(y).tolist()) == set(numpy.unique(y_t).tolist()) == {0.0, 1 / (1 - p)}
    sd = numpy.sqrt(p * (1 - p) / x.size)
    assert abs((y != 0).mean() - (y_t != 0).mean()) < 7 * sd


@pytest.mark.parametrize("per_example", [False, True])
def test_dropconnect_is_torch_linear_with_thinned_weights(per_example):
    rng = numpy.random.default_rng(5)
    x, w, b = rng.standard_normal((4, 6)), rng.standard_normal((3, 6)), rng.standard_normal(3)
    gy = rng.standard_normal((4, 3))
    mask = rng.random((4,) * per_example + (3, 6)) >= 0.5
    ours = [Tensor(a.copy(), requires_grad=True) for a in (x, w, b)]
    y = dropconnect(*ours, p=0.5, per_example=per_example, mask=mask)
    y.backward(gy)
    ref = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    m = torch.tensor(mask, dtype=torch.float64)
    if per_example:
        y_t = torch.einsum("noi,ni->no", ref[1] * m, ref[0]) + ref[2]
    else:
        y_t = TF.linear(ref[0], ref[1] * m, ref[2])
    y_t.backward(torch.tensor(gy))
    numpy.testing.assert_allclose(y.data, y_t.detach().numpy(), rtol=1e-10, atol=1e-14)
    for a, t in zip(ours, ref, strict=True):
        numpy.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-10, atol=1e-14)
