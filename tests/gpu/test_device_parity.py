"""Every op, layer, optimiser and the training loop give the same numbers on the GPU as
on the CPU.

Each test runs the same computation on host arrays and on arrays moved to ``device``,
then compares values and gradients (float64: to 1e-9 relative; float32 where a test says
so). ``device`` is "cpu" everywhere, which checks this suite itself (the same maths on
copies must agree exactly), and "cuda" where CuPy sees a GPU; without one those cases
skip. ``bash scripts/device_check.sh`` runs this file on a GPU machine.
"""

import numpy
import pytest

import xpnet
from xpnet import Tensor, backend, nn, optim
from xpnet import functions as F

TARGETS = ["cpu", "cuda"]
RTOL = {numpy.float64: 1e-9, numpy.float32: 2e-4}


@pytest.fixture(params=TARGETS)
def target(request):
    if request.param == "cuda" and not backend.cuda_available():
        pytest.skip("no CUDA device")
    return request.param


def run(fn, arrays, device, wrt, seed=0):
    """fn on Tensors of ``arrays`` moved to ``device``; its output and the gradients of
    the inputs in ``wrt`` for a fixed upstream gradient, as host arrays."""
    xs = [Tensor(backend.to_device(a, device), requires_grad=i in wrt)
          for i, a in enumerate(arrays)]
    y = fn(*xs)
    gy = numpy.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)
    y.backward(backend.to_device(gy, device))
    return backend.to_numpy(y.data), [backend.to_numpy(xs[i].grad) for i in wrt]


def same(fn, *arrays, target, wrt=(0,), dtype=numpy.float64):
    """fn agrees on the host and on ``target``, output and gradients."""
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    y0, g0 = run(fn, arrays, "cpu", wrt)
    y1, g1 = run(fn, arrays, target, wrt)
    rtol = RTOL[dtype]
    numpy.testing.assert_allclose(y1, y0, rtol=rtol, atol=rtol * 1e-3, err_msg="output")
    for i, (a, b) in enumerate(zip(g1, g0, strict=True)):
        numpy.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2, err_msg=f"grad {i}")


R = numpy.random.default_rng(0)
X = R.standard_normal((3, 4, 9, 9))  # (N, C, H, W)
W = R.standard_normal((6, 4, 3, 3))  # (O, C, kh, kw)
B = R.standard_normal(6)


# ------------------------------------------------------------------ connections
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@pytest.mark.parametrize("opts", [
    {}, {"stride": 2}, {"padding": 1}, {"dilation": 2}, {"stride": 2, "padding": 2},
], ids=["plain", "stride", "pad", "dilation", "stride-pad"])
def test_conv2d(target, opts, dtype):
    same(lambda x, w, b: F.conv2d(x, w, b, **opts), X, W, B, target=target,
         wrt=(0, 1, 2), dtype=dtype)


def test_conv2d_groups_and_wide_channels(target):
    x = R.standard_normal((2, 8, 7, 7))
    w = R.standard_normal((32, 4, 3, 3))  # 2 groups, 16 outputs each
    same(lambda x, w: F.conv2d(x, w, padding=1, groups=2), x, w, target=target, wrt=(0, 1))


def test_conv_transpose2d(target):
    w = R.standard_normal((4, 3, 3, 3))  # (C_in, C_out, kh, kw)
    same(lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1),
         X, w, target=target, wrt=(0, 1))


def test_locally_connected2d(target):
    x = R.standard_normal((2, 3, 6, 6))
    w = R.standard_normal((4, 4, 5, 3, 3, 3))  # (oH, oW, O, C, kh, kw)
    same(lambda x, w: F.locally_connected2d(x, w), x, w, target=target, wrt=(0, 1))


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_linear_and_matmul(target, dtype):
    x, w, b = R.standard_normal((5, 300)), R.standard_normal((260, 300)), R.standard_normal(260)
    same(F.linear, x, w, b, target=target, wrt=(0, 1, 2), dtype=dtype)
    same(F.matmul, R.standard_normal((2, 3, 4)), R.standard_normal((4, 5)), target=target,
         wrt=(0, 1))


# ------------------------------------------------------------------ pooling and friends
@pytest.mark.parametrize("pool", ["max", "avg", "l2"])
@pytest.mark.parametrize("opts", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2},
                                  {"kernel_size": 3, "stride": 2, "ceil_mode": True}],
                         ids=["2x2", "overlapping", "ceil"])
def test_pooling(target, pool, opts):
    fn = {"max": F.max_pool2d, "avg": F.avg_pool2d, "l2": F.l2_pool2d}[pool]
    x = X + numpy.arange(X.size).reshape(X.shape) * 1e-3  # no ties in a window
    same(lambda x: fn(x, **opts), x, target=target)


def test_max_unpool2d_at_the_switches(target):
    x = X + numpy.arange(X.size).reshape(X.shape) * 1e-3

    def fn(x):
        y, idx = F.max_pool2d(x, 3, stride=2, return_indices=True)
        return F.max_unpool2d(y, idx, 3, stride=2, output_size=x.shape[2:])

    same(fn, x, target=target)


def test_maxout_and_lrn(target):
    same(lambda x: F.maxout(x, 2), X, target=target)
    same(lambda x: F.local_response_norm(x, 3), numpy.abs(X) + 0.1, target=target)


# ------------------------------------------------------------------ units and costs
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "step"])
def test_units(target, name):
    x = X + 0.05 * numpy.sign(X)  # away from the kink of ReLU and step
    same(getattr(F, name), x, target=target)


def test_softmaxes_and_costs(target):
    z = R.standard_normal((6, 5))
    same(lambda z: F.softmax(z, axis=1), z, target=target)
    same(lambda z: F.log_softmax(z, axis=1), z, target=target)
    labels = numpy.array([0, 4, 2, 2, 1, 3])
    same(lambda z, t: F.softmax_cross_entropy(z, t), z, labels, target=target)
    d = R.standard_normal((6, 5))
    same(lambda y, d: F.squared_error(y, d, reduction="mean"), z, d, target=target, wrt=(0, 1))
    t = R.random((6, 5))
    same(lambda z, t: F.sigmoid_cross_entropy(z, t), z, t, target=target, wrt=(0, 1))


def test_dropout_and_dropconnect_with_a_given_mask(target):
    """Masks are drawn on each device from its own generator; given the same mask (a raw
    array on the input's device), both devices compute the same thing."""
    mask = R.random(X.shape) > 0.5
    x, w, b = R.standard_normal((4, 7)), R.standard_normal((3, 7)), R.standard_normal(3)
    wmask = R.random(w.shape) > 0.5
    for device in ("cpu", target):
        m, wm = backend.to_device(mask, device), backend.to_device(wmask, device)
        out = [run(lambda x, m=m: F.dropout(x, 0.5, mask=m), [X], device, (0,)),
               run(lambda x, w, b, wm=wm: F.dropconnect(x, w, b, 0.5, mask=wm), [x, w, b],
                   device, (0, 1, 2))]
        if device == "cpu":
            host = out
    for (y0, g0), (y1, g1) in zip(host, out, strict=True):
        numpy.testing.assert_allclose(y1, y0, rtol=1e-12)
        for a, b in zip(g1, g0, strict=True):
            numpy.testing.assert_allclose(a, b, rtol=1e-12)


# ------------------------------------------------------------------ layers, nets, training
def _lenet_grads(device, dtype):
    from xpnet.models.lenet import lenet5

    net = lenet5(seed=0)
    for p in net.parameters():
        p.data = p.data.astype(dtype)
    net.to(device)
    x = numpy.random.default_rng(1).random((4, 1, 28, 28)).astype(dtype)
    loss = F.softmax_cross_entropy(net(Tensor(backend.to_device(x, device))),
                                   backend.to_device(numpy.array([1, 7, 3, 0]), device))
    loss.backward()
    return float(loss.item()), [backend.to_numpy(p.grad) for p in net.parameters()]


def test_lenet_loss_and_gradients(target):
    loss0, g0 = _lenet_grads("cpu", numpy.float64)
    loss1, g1 = _lenet_grads(target, numpy.float64)
    assert loss1 == pytest.approx(loss0, rel=1e-10)
    for a, b in zip(g1, g0, strict=True):
        numpy.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("opt", ["sgd", "nesterov", "alexnet"])
def test_optimiser_steps(target, opt):
    def steps(device):
        rng = numpy.random.default_rng(2)
        p = Tensor(backend.to_device(rng.standard_normal((5, 4)), device), requires_grad=True)
        o = {"sgd": lambda: optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01),
             "nesterov": lambda: optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True),
             "alexnet": lambda: optim.AlexNetSGD([p], lr=0.1)}[opt]()
        for k in range(3):
            p.grad = backend.to_device(rng.standard_normal((5, 4)) * (k + 1), device)
            o.step()
        return backend.to_numpy(p.data)

    numpy.testing.assert_allclose(steps(target), steps("cpu"), rtol=1e-12)


def test_fit_on_the_device_then_load_on_the_host(target, tmp_path):
    from xpnet.data import DataLoader
    from xpnet.models import mlp
    from xpnet.train import fit, load_weights

    rng = numpy.random.default_rng(3)
    x = rng.random((64, 1, 4, 4)).astype(numpy.float32)
    y = (x.reshape(64, -1).sum(axis=1) > 8).astype(numpy.int64)
    net = mlp((16, 8, 2), rng=numpy.random.default_rng(0))
    history = fit(net, optim.SGD(net.parameters(), lr=0.5, momentum=0.9),
                  DataLoader((x, y), 16, seed=0, prefetch=0), 6, device=target,
                  run_dir=tmp_path / "run")
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    host = mlp((16, 8, 2), rng=numpy.random.default_rng(9))
    load_weights(host, tmp_path / "run" / "last")  # saved from the device, read on the host
    for a, b in zip(host.parameters(), net.parameters(), strict=True):
        numpy.testing.assert_array_equal(a.data, backend.to_numpy(b.data))


@pytest.mark.parametrize("method", ["autoencoder", "rbm"])
def test_layerwise_pretraining_runs_on_the_device(target, method):
    from xpnet.models import mlp
    from xpnet.train import pretrain_layers

    rng = numpy.random.default_rng(4)
    x = rng.random((96, 16)).astype(numpy.float32)
    net = mlp((16, 12, 3), activation="sigmoid", rng=rng).to(target)
    history = pretrain_layers(net, [(x[i:i + 32], None) for i in range(0, 96, 32)], method,
                              epochs=4, lr=0.1, corruption=0.2 if method == "autoencoder"
                              else 0.0, rng=numpy.random.default_rng(5))
    assert history[-1]["loss"] < history[0]["loss"]
    assert backend.device_of(net[1].weight.data).startswith(target)


def test_saliency_on_the_device(target):
    from xpnet.models.lenet import lenet5
    from xpnet.viz.saliency import saliency

    x = numpy.random.default_rng(6).random((2, 1, 28, 28)).astype(numpy.float32)
    host = saliency(lenet5(seed=0), x)
    moved = saliency(lenet5(seed=0).to(target), x)
    numpy.testing.assert_allclose(backend.to_numpy(moved), backend.to_numpy(host),
                                  rtol=1e-3, atol=1e-6)


def test_layer_modules_move_with_their_state(target):
    layer = nn.Conv2d(4, 6, 3, rng=numpy.random.default_rng(7)).to(target)
    assert backend.device_of(layer.weight.data).startswith(target)
    y = layer(Tensor(backend.to_device(X.astype(numpy.float32), target)))
    assert backend.device_of(y.data).startswith(target) and y.shape == (3, 6, 7, 7)
    assert xpnet.get_num_threads() >= 1
