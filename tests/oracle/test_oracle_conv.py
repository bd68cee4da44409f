"""conv2d, conv_transpose2d, locally_connected2d and the layers against PyTorch, float64."""

import numpy
import pytest

from xpnet import Tensor, nn
from xpnet import functions as F

torch = pytest.importorskip("torch")
RTOL, ATOL = 1e-10, 1e-12

# (N, C, H, W), co, kernel, stride, padding, dilation, groups, bias
MODES = {
    "base": ((2, 2, 5, 5), 3, 3, 1, 0, 1, 1, True),
    "pad1": ((2, 2, 5, 5), 3, 3, 1, 1, 1, 1, True),
    "stride2": ((2, 2, 6, 7), 3, 3, 2, 1, 1, 1, True),
    "stride_2_1_kernel_2x3": ((2, 2, 6, 5), 3, (2, 3), (2, 1), (0, 1), 1, 1, True),
    "groups2": ((2, 4, 5, 5), 4, 3, 1, 1, 1, 2, True),
    "dilation2": ((2, 2, 7, 7), 3, 3, 1, 1, 2, 1, True),
    "no_bias": ((2, 2, 5, 5), 3, 3, 1, 1, 1, 1, False),
    "kernel_equals_input": ((2, 2, 4, 4), 3, 4, 1, 0, 1, 1, True),
    "kernel_equals_padded_input": ((2, 2, 3, 3), 2, 5, 1, 1, 1, 1, True),
    "batch1": ((1, 3, 5, 5), 2, 3, 2, 1, 1, 1, True),
    "everything": ((3, 4, 8, 7), 4, (3, 2), (2, 1), (1, 2), (2, 1), 2, False),
    "alexnet_conv1_like": ((2, 3, 23, 23), 4, 11, 4, 2, 1, 1, True),
}


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _compare(xp_fn, torch_fn, arrays, seed=1):
    """Run both on the same float64 arrays; compare the output and every gradient."""
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    y = xp_fn(*tensors)
    gy = numpy.random.default_rng(seed).standard_normal(y.shape)
    y.backward(gy)
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ty = torch_fn(*tt)
    ty.backward(torch.tensor(gy))
    numpy.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=RTOL, atol=ATOL)
    for i, (a, b) in enumerate(zip(tensors, tt)):
        numpy.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=RTOL, atol=ATOL,
                                      err_msg=f"gradient of input {i}")


def _arrays(mode, transpose):
    shape, co, k, s, p, d, g, bias = MODES[mode]
    kh, kw = _pair(k)
    rng = numpy.random.default_rng(0)
    C = shape[1]
    out = [rng.standard_normal(shape),
           rng.standard_normal((C, co // g, kh, kw) if transpose else (co, C // g, kh, kw))]
    if bias:
        out.append(rng.standard_normal(co))
    return out, dict(stride=s, padding=p, dilation=d, groups=g)


@pytest.mark.parametrize("mode", MODES)
def test_conv2d_matches_torch(mode):
    arrays, kw = _arrays(mode, transpose=False)
    _compare(lambda *t: F.conv2d(*t, **kw),
             lambda *t: torch.nn.functional.conv2d(*t, **kw), arrays)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("output_padding", [0, 1])
def test_conv_transpose2d_matches_torch(mode, output_padding):
    arrays, kw = _arrays(mode, transpose=True)
    if any(output_padding >= max(s, d) for s, d in zip(_pair(kw["stride"]), _pair(kw["dilation"]))):
        pytest.skip("output_padding must be smaller than the stride or the dilation")
    kw["output_padding"] = output_padding
    _compare(lambda *t: F.conv_transpose2d(*t, **kw),
             lambda *t: torch.nn.functional.conv_transpose2d(*t, **kw), arrays)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((2, 1), (0, 2))])
def test_locally_connected2d_matches_torch_unfold(stride, padding):
    """PyTorch has no locally connected op; unfold + a per-position einsum is one."""
    rng = numpy.random.default_rng(0)
    N, C, H, W, co, kh, kw = 2, 3, 7, 6, 4, 3, 2
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    oH, oW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    arrays = [rng.standard_normal((N, C, H, W)), rng.standard_normal((oH, oW, co, C, kh, kw)),
              rng.standard_normal((co, oH, oW))]

    def torch_lc(x, w, b):
        cols = torch.nn.functional.unfold(x, (kh, kw), padding=padding, stride=stride)
        y = torch.einsum("nkl,lok->nol", cols, w.reshape(oH * oW, co, C * kh * kw))
        return y.reshape(N, co, oH, oW) + b

    _compare(lambda *t: F.locally_connected2d(*t, stride=stride, padding=padding),
             torch_lc, arrays)


def test_conv2d_layer_with_torch_weights_float64():
    torch.manual_seed(0)
    tconv = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2).double()
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2).double()
    conv.load_state_dict({k: v.detach().numpy() for k, v in tconv.state_dict().items()})
    x = numpy.random.default_rng(0).standard_normal((3, 4, 9, 9))
    X, tx = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = conv(X), tconv(tx)
    numpy.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=RTOL, atol=ATOL)
    y.sum().backward()
    ty.sum().backward()
    numpy.testing.assert_allclose(X.grad, tx.grad.numpy(), rtol=RTOL, atol=ATOL)
    numpy.testing.assert_allclose(conv.weight.grad, tconv.weight.grad.numpy(), rtol=RTOL)
    numpy.testing.assert_allclose(conv.bias.grad, tconv.bias.grad.numpy(), rtol=RTOL)
