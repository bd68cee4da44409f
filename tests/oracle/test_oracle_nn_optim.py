"""Layers, optimisers and schedules compared with PyTorch (float64)."""

import numpy
import pytest

import xpnet
from xpnet import functions as F
from xpnet import nn, optim
from xpnet.models import mlp
from xpnet.optim import lr_scheduler as S

torch = pytest.importorskip("torch")


def _grads(seed, shapes, steps):
    rng = numpy.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"momentum": 0.9},
        {"momentum": 0.9, "dampening": 0.25},
        {"momentum": 0.9, "nesterov": True},
        {"weight_decay": 5e-4},
        {"momentum": 0.9, "weight_decay": 5e-4},
        {"momentum": 0.8, "weight_decay": 1e-2, "nesterov": True},
        {"momentum": 0.7, "weight_decay": 1e-2, "dampening": 0.5},
    ],
)
def test_sgd_matches_torch(kw):
    shapes = [(4, 3), (4,)]
    rng = numpy.random.default_rng(0)
    init = [rng.standard_normal(s) for s in shapes]
    ours = [xpnet.Tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = optim.SGD(ours, lr=0.05, **kw)
    topt = torch.optim.SGD(theirs, lr=0.05, **kw)
    for step, grads in enumerate(_grads(1, shapes, 6)):
        if step == 3:  # a schedule changing lr mid-way
            opt.lr = 0.02
            topt.param_groups[0]["lr"] = 0.02
        for p, t, g in zip(ours, theirs, grads, strict=True):
            p.grad = g
            t.grad = torch.tensor(g)
        opt.step()
        topt.step()
    for p, t in zip(ours, theirs, strict=True):
        numpy.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-15)
    if kw.get("momentum"):
        for i, t in enumerate(theirs):
            numpy.testing.assert_allclose(
                opt.state[i]["momentum_buffer"], topt.state[t]["momentum_buffer"].numpy(),
                rtol=1e-12,
            )


def test_alexnet_sgd_equals_torch_sgd_at_constant_lr():
    # v = -lr * b: the paper's rule and PyTorch's give one trajectory while lr is fixed
    rng = numpy.random.default_rng(3)
    w0 = rng.standard_normal((5, 2))
    p = xpnet.Tensor(w0.copy(), requires_grad=True)
    t = torch.tensor(w0.copy(), requires_grad=True)
    opt = optim.AlexNetSGD([p], lr=0.01)
    topt = torch.optim.SGD([t], lr=0.01, momentum=0.9, weight_decay=0.0005)
    for (g,) in _grads(4, [(5, 2)], 5):
        p.grad, t.grad = g, torch.tensor(g)
        opt.step()
        topt.step()
    numpy.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12)


def _torch_lrs(make, n, metrics=None):
    t = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([t], lr=0.1)
    sched = make(topt)
    out = []
    for i in range(n):
        topt.step()
        sched.step() if metrics is None else sched.step(metrics[i])
        out.append(topt.param_groups[0]["lr"])
    return out


def _our_lrs(make, n, metrics=None):
    opt = optim.SGD([xpnet.Tensor(numpy.zeros(1), requires_grad=True)], lr=0.1)
    sched = make(opt)
    out = []
    for i in range(n):
        sched.step() if metrics is None else sched.step(metrics[i])
        out.append(opt.lr)
    return out


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda o: S.StepLR(o, 3), lambda o: torch.optim.lr_scheduler.StepLR(o, 3)),
        (
            lambda o: S.StepLR(o, 2, gamma=0.5),
            lambda o: torch.optim.lr_scheduler.StepLR(o, 2, gamma=0.5),
        ),
        (
            lambda o: S.ExponentialLR(o, 0.9),
            lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9),
        ),
    ],
)
def test_epoch_schedules_match_torch(ours, theirs):
    numpy.testing.assert_allclose(_our_lrs(ours, 12), _torch_lrs(theirs, 12), rtol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        {"patience": 2},
        {"patience": 0, "factor": 0.5, "cooldown": 2, "min_lr": 0.01},
        {"mode": "max", "patience": 1, "threshold": 0.05, "threshold_mode": "abs"},
        {"mode": "max", "patience": 1, "threshold": 0.05},
    ],
)
def test_plateau_matches_torch(kw):
    rng = numpy.random.default_rng(5)
    metrics = list(numpy.round(1.0 - numpy.cumsum(rng.uniform(-0.02, 0.05, 30)), 3))
    ours = _our_lrs(lambda o: S.ReduceLROnPlateau(o, **kw), 30, metrics)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kw), 30, metrics)
    numpy.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert len(set(theirs)) > 1  # the test does exercise a reduction


def _copy_into_torch(net, tnet):
    state = {k: torch.tensor(v) for k, v in net.state_dict().items()}
    assert list(state) == list(tnet.state_dict())  # same parameter names, same order
    tnet.load_state_dict(state)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_mlp_forward_backward_match_torch(activation):
    net = mlp((12, 7, 5, 3), activation=activation, rng=numpy.random.default_rng(0)).double()
    act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}[activation]
    tnet = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(12, 7), act(), torch.nn.Linear(7, 5), act(),
        torch.nn.Linear(5, 3),
    ).double()
    _copy_into_torch(net, tnet)
    rng = numpy.random.default_rng(1)
    x = rng.standard_normal((6, 3, 4))
    y = rng.integers(0, 3, 6)
    loss = F.softmax_cross_entropy(net(xpnet.Tensor(x)), y)
    loss.backward()
    tloss = torch.nn.functional.cross_entropy(tnet(torch.tensor(x)), torch.tensor(y))
    tloss.backward()
    numpy.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    tparams = dict(tnet.named_parameters())
    for name, p in net.named_parameters():
        numpy.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), rtol=1e-10, atol=1e-14)


def test_training_steps_match_torch():
    """Three SGD-momentum steps of a whole MLP: the same weights afterwards."""
    net = mlp((8, 6, 3), rng=numpy.random.default_rng(2)).double()
    tnet = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)
    ).double()
    _copy_into_torch(net, tnet)
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    rng = numpy.random.default_rng(3)
    for _ in range(3):
        x, y = rng.standard_normal((10, 8)), rng.integers(0, 3, 10)
        opt.zero_grad()
        F.softmax_cross_entropy(net(xpnet.Tensor(x)), y).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tnet(torch.tensor(x)), torch.tensor(y)).backward()
        topt.step()
    tparams = dict(tnet.named_parameters())
    for name, p in net.named_parameters():
        numpy.testing.assert_allclose(p.data, tparams[name].detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (nn.Softmax(axis=1), torch.nn.Softmax(dim=1)),
        (nn.LogSoftmax(axis=1), torch.nn.LogSoftmax(dim=1)),
        (nn.Sigmoid(), torch.nn.Sigmoid()),
        (nn.Tanh(), torch.nn.Tanh()),
    ],
)
def test_activation_modules_match_torch(ours, theirs):
    x = numpy.random.default_rng(0).standard_normal((4, 5))
    numpy.testing.assert_allclose(
        ours(xpnet.Tensor(x)).data, theirs(torch.tensor(x)).numpy(), rtol=1e-10
    )
