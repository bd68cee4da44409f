"""Saliency, guided back-propagation and the deconvnet against captum on the same weights.

captum implements the three as PyTorch autograd with hooks on ``torch.nn.ReLU`` (guided:
relu of the ReLU's input gradient; deconvolution: relu of its output gradient), so an
agreement checks our explicit layer rules (unpooling at switches, transposed filters)
against a second, independent implementation.
"""

import numpy
import pytest

torch = pytest.importorskip("torch")
captum_attr = pytest.importorskip("captum.attr")

from xpnet import nn  # noqa: E402
from xpnet.viz.deconvnet import deconvnet  # noqa: E402
from xpnet.viz.saliency import guided_backprop, input_gradient, saliency  # noqa: E402

# captum announces its ReLU hooks and the inputs it makes require a gradient
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _pair(dtype, seed=0):
    """An xpnet LeNet-like net with overlapping pooling and a strided padded conv, and the
    same network in torch with the weights copied."""
    rng = numpy.random.default_rng(seed)
    ours = nn.Sequential(
        nn.Conv2d(3, 5, 5, padding=2, rng=rng), nn.MaxPool2d(3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(5, 6, 3, stride=2, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(6 * 2 * 2, 8, rng=rng), nn.ReLU(), nn.Linear(8, 4, rng=rng),
    ).astype(dtype).eval()
    tn = torch.nn
    theirs = tn.Sequential(
        tn.Conv2d(3, 5, 5, padding=2), tn.MaxPool2d(3, stride=2, padding=1), tn.ReLU(),
        tn.Conv2d(5, 6, 3, stride=2, padding=1), tn.ReLU(), tn.MaxPool2d(2),
        tn.Flatten(), tn.Linear(6 * 2 * 2, 8), tn.ReLU(), tn.Linear(8, 4),
    ).to(getattr(torch, numpy.dtype(dtype).name)).eval()
    params = dict(theirs.named_parameters())
    with torch.no_grad():
        for name, p in ours.named_parameters():
            params.pop(name).copy_(torch.from_numpy(numpy.array(p.data)))
    assert not params
    x = rng.standard_normal((3, 3, 16, 16)).astype(dtype)
    return ours, theirs, x


TOL = {numpy.float64: dict(rtol=1e-10, atol=1e-12), numpy.float32: dict(rtol=1e-5, atol=1e-6)}


def _check(got, want, dtype):
    want = want.detach().numpy()
    scale = numpy.abs(want).max()
    assert scale > 0
    tol = TOL[dtype]
    numpy.testing.assert_allclose(got / scale, want / scale, rtol=tol["rtol"], atol=tol["atol"])


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_saliency_matches_captum(dtype):
    ours, theirs, x = _pair(dtype)
    target = [0, 3, 1]
    want = captum_attr.Saliency(theirs).attribute(
        torch.from_numpy(x), target=target, abs=False)
    _check(saliency(ours, x, numpy.array(target)), want, dtype)
    absolute = captum_attr.Saliency(theirs).attribute(torch.from_numpy(x), target=target)
    _check(numpy.abs(saliency(ours, x, numpy.array(target))), absolute, dtype)


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_guided_backprop_matches_captum(dtype):
    ours, theirs, x = _pair(dtype, seed=1)
    target = [2, 2, 0]
    want = captum_attr.GuidedBackprop(theirs).attribute(torch.from_numpy(x), target=target)
    _check(guided_backprop(ours, x, numpy.array(target)), want, dtype)


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_deconvnet_matches_captum_deconvolution(dtype):
    ours, theirs, x = _pair(dtype, seed=2)
    target = [1, 0, 3]
    want = captum_attr.Deconvolution(theirs).attribute(torch.from_numpy(x), target=target)
    _check(deconvnet(ours, x, -1, numpy.array(target), None, value=1.0), want, dtype)
    _check(input_gradient(ours, x, numpy.array(target), "deconv"), want, dtype)


@pytest.mark.parametrize("layer,neuron", [(2, (3, 4, 5)), (5, (4, 1, 0)), (7, (6,))])
def test_neuron_deconvolution_and_guided_match_captum(layer, neuron):
    ours, theirs, x = _pair(numpy.float64, seed=3)
    xt = torch.from_numpy(x)
    position = neuron[1:] if len(neuron) == 3 else None
    want = captum_attr.NeuronDeconvolution(theirs, theirs[layer]).attribute(
        xt, neuron_selector=neuron)
    _check(deconvnet(ours, x, layer, neuron[0], position, value=1.0), want, numpy.float64)
    want = captum_attr.NeuronGuidedBackprop(theirs, theirs[layer]).attribute(
        xt, neuron_selector=neuron)
    _check(guided_backprop(ours, x, neuron[0], layer=layer, position=position), want,
           numpy.float64)
