"""Math and array ops against PyTorch (the oracle), forward and gradients, in float64."""

import numpy
import pytest

import xpnet
from xpnet import functions as F

torch = pytest.importorskip("torch")

RTOL = 1e-10


def _normal(shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


def compare(ours, theirs, *arrays, seed=1):
    """Run ``ours`` on Tensors and ``theirs`` on torch tensors; compare y and every dE/dx."""
    xs = [xpnet.Tensor(a.copy(), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    y, t = ours(*xs), theirs(*ts)
    assert y.shape == tuple(t.shape)
    numpy.testing.assert_allclose(y.data, t.detach().numpy(), rtol=RTOL, atol=1e-12)
    gy = numpy.random.default_rng(seed).standard_normal(y.shape)
    y.backward(gy)
    t.backward(torch.tensor(gy))
    for i, (x, tx) in enumerate(zip(xs, ts, strict=True)):
        expected = numpy.zeros(x.shape) if tx.grad is None else tx.grad.numpy()
        got = numpy.zeros(x.shape) if x.grad is None else x.grad
        numpy.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-12, err_msg=f"input {i}")


SHAPES = [((2, 3), (2, 3)), ((4, 1, 3), (2, 1)), ((2, 3), ()), ((), (3,))]


@pytest.mark.parametrize("sa, sb", SHAPES)
@pytest.mark.parametrize(
    "ours, theirs",
    [(F.add, torch.add), (F.sub, torch.sub), (F.mul, torch.mul), (F.div, torch.div)],
)
def test_binary(ours, theirs, sa, sb):
    b = _normal(sb, 1)
    b += numpy.sign(b) * 0.5  # away from 0 for div
    compare(ours, theirs, _normal(sa, 0), b)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (F.neg, torch.neg),
        (F.exp, torch.exp),
        (F.log, torch.log),
        (lambda x: F.pow(x, 3), lambda x: torch.pow(x, 3)),
        (lambda x: F.pow(x, -0.7), lambda x: torch.pow(x, -0.7)),
        (lambda x: x**2, lambda x: x**2),
    ],
)
def test_unary(ours, theirs):
    compare(ours, theirs, numpy.abs(_normal((3, 4))) + 0.2)


@pytest.mark.parametrize(
    "sa, sb",
    [
        ((3, 4), (4, 2)),
        ((4,), (4,)),
        ((4,), (4, 2)),
        ((3, 4), (4,)),
        ((2, 3, 4), (4, 2)),
        ((3, 4), (2, 4, 5)),
        ((2, 1, 3, 4), (3, 4, 2)),
        ((4,), (2, 4, 3)),
        ((2, 3, 4), (4,)),
    ],
)
def test_matmul(sa, sb):
    compare(F.matmul, torch.matmul, _normal(sa, 0), _normal(sb, 1))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 1, -1, (0, 2)])
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_mean(name, axis, keepdims):
    def theirs(x):
        if axis is None:
            y = getattr(torch, name)(x)
            return y.reshape((1,) * x.ndim) if keepdims else y
        return getattr(torch, name)(x, dim=axis, keepdim=keepdims)

    compare(lambda x: getattr(F, name)(x, axis=axis, keepdims=keepdims), theirs, _normal((2, 3, 4)))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
def test_max(axis, keepdims):
    def theirs(x):
        if axis is None:
            y = torch.amax(x)
            return y.reshape((1,) * x.ndim) if keepdims else y
        return torch.amax(x, dim=axis, keepdim=keepdims)

    x = numpy.random.default_rng(0).permutation(24).reshape(2, 3, 4) * 0.1  # no ties
    compare(lambda t: F.max(t, axis=axis, keepdims=keepdims), theirs, x)


def test_max_with_ties_goes_to_the_first_maximum_like_torch_max_along_a_dim():
    x = numpy.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    compare(lambda t: F.max(t, axis=1), lambda t: torch.max(t, dim=1).values, x)


@pytest.mark.parametrize("shape", [(6, 4), (-1,), (4, -1, 2)])
def test_reshape(shape):
    compare(lambda x: F.reshape(x, shape), lambda x: x.reshape(shape), _normal((2, 3, 4)))


@pytest.mark.parametrize("axes", [None, (1, 0, 2), (2, 0, 1)])
def test_transpose(axes):
    def theirs(x):
        return x.permute(*(axes or (2, 1, 0)))

    compare(lambda x: F.transpose(x, axes), theirs, _normal((2, 3, 4)))


@pytest.mark.parametrize(
    "index",
    [
        1,
        (slice(None), 2),
        (slice(None, None, 2), slice(1, 3)),
        numpy.array([2, 0, 2, 2]),
        (numpy.array([0, 1, 1]), numpy.array([3, 0, 0])),
        numpy.array([True, False, True]),
    ],
)
def test_getitem(index):
    def theirs(x):
        if isinstance(index, tuple):
            return x[
                tuple(torch.as_tensor(i) if isinstance(i, numpy.ndarray) else i for i in index)
            ]
        return x[torch.as_tensor(index) if isinstance(index, numpy.ndarray) else index]

    compare(lambda x: F.getitem(x, index), theirs, _normal((3, 4)))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis):
    shapes = [(2, 2), (2, 2), (2, 2)]
    if axis == 0:
        shapes = [(1, 2), (3, 2), (2, 2)]
    compare(
        lambda *xs: F.concat(xs, axis=axis),
        lambda *xs: torch.cat(xs, dim=axis),
        *[_normal(s, i) for i, s in enumerate(shapes)],
    )


def test_broadcast_to():
    compare(lambda x: F.broadcast_to(x, (2, 3, 4)), lambda x: x.expand(2, 3, 4), _normal((3, 1)))


@pytest.mark.parametrize("start", [0, 1, 2])
def test_flatten(start):
    compare(
        lambda x: F.flatten(x, start),
        lambda x: torch.flatten(x, start_dim=start),
        _normal((2, 3, 2, 2)),
    )


def test_astype():
    compare(
        lambda x: F.astype(x, numpy.float32).astype(numpy.float64),
        lambda x: x.to(torch.float32).to(torch.float64),
        _normal((2, 3)),
    )


@pytest.mark.parametrize("widths", [(1, 2), (2, 0, 1, 1), (1, 1, 0, 2, 1, 0)])
@pytest.mark.parametrize("value", [0.0, 2.5])
def test_pad(widths, value):
    compare(
        lambda x: F.pad(x, widths, value),
        lambda x: torch.nn.functional.pad(x, widths, mode="constant", value=value),
        _normal((2, 3, 2)),
    )
