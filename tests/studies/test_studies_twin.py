"""The PyTorch twins of xpnet's layers compute the same outputs and gradients, including
the ones PyTorch has no layer for (maxout, locally connected, L2 pooling) and a fitted
pre-processing step in front."""

import numpy
import pytest

import xpnet
from xpnet import functions as F
from xpnet import nn
from xpnet.data.preprocessing import Standardize

torch = pytest.importorskip("torch")
twin = pytest.importorskip("xpnet.studies.twin")


def _nets(rng):
    x = rng.standard_normal((40, 1, 12, 12)).astype(numpy.float32)
    pre = Standardize().fit(x * 3 + 1)
    return {
        "maxout": [nn.Flatten(), nn.MaxoutLinear(144, 6, 3, rng=rng), nn.Linear(6, 4, rng=rng)],
        "locally connected": [nn.LocallyConnected2d(1, 3, (12, 12), 3, stride=2, padding=1,
                                                    rng=rng), nn.Tanh(), nn.Flatten(),
                              nn.Linear(3 * 6 * 6, 4, rng=rng)],
        "L2 pooling after ReLU": [nn.Conv2d(1, 3, 3, rng=rng), nn.ReLU(), nn.L2Pool2d(3, 2, 1),
                                  nn.Flatten(), nn.Linear(3 * 5 * 5, 4, rng=rng)],
        "pre-processing, pools, LRN": [pre, nn.Conv2d(1, 4, 3, padding=1, rng=rng),
                                       nn.MaxPool2d(3, 2, 1), nn.ReLU(),
                                       nn.LocalResponseNorm(3, 1.5e-4, 0.75, 1.0),
                                       nn.AvgPool2d(2), nn.Sigmoid(), nn.Flatten(),
                                       nn.Linear(4 * 3 * 3, 4, rng=rng)],
    }


@pytest.mark.parametrize("name", list(_nets(numpy.random.default_rng(0))))
def test_twin_matches_outputs_and_gradients(name):
    rng = numpy.random.default_rng(1)
    net = nn.Sequential(*_nets(numpy.random.default_rng(0))[name])
    theirs, params = twin.to_torch(net)
    x = rng.standard_normal((5, 1, 12, 12)).astype(numpy.float32)
    x[0, 0, :6, :6] = 0  # whole zero windows for the L2 pool after ReLU
    y = numpy.array([0, 1, 2, 3, 0])
    loss = F.softmax_cross_entropy(net(xpnet.Tensor(x)), y)
    loss.backward()
    tloss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
    tloss.backward()
    assert abs(loss.item() - tloss.item()) < 1e-5
    ours = list(net.parameters())
    assert len(ours) == len(params) > 0
    for p, t in zip(ours, params, strict=True):
        assert p.shape == tuple(t.shape)
        scale = max(1e-3, float(numpy.abs(p.grad).max()))
        assert numpy.abs(p.grad - t.grad.numpy()).max() / scale < 1e-4, name


def test_a_layer_pytorch_lacks_is_named():
    net = nn.Sequential(nn.Flatten(), nn.DropConnectLinear(4, 2, rng=numpy.random.default_rng(0)))
    with pytest.raises(twin.NoTwinError, match="PyTorch has no layer for xpnet's "
                                               "DropConnectLinear"):
        twin.to_torch(net)
