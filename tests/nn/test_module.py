"""Module, Parameter and the containers: naming, state, modes, repr."""

import numpy
import pytest

import xpnet
from xpnet import nn


def _net(seed=0):
    rng = numpy.random.default_rng(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(6, 4, rng=rng), nn.ReLU(), nn.Linear(4, 3, rng=rng)
    )


def test_sequential_names_match_pytorch():
    net = _net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["1.weight", "1.bias", "3.weight", "3.bias"]
    assert net.num_parameters() == 6 * 4 + 4 + 4 * 3 + 3
    assert [type(m).__name__ for m in net] == ["Flatten", "Linear", "ReLU", "Linear"]


def test_sequential_indexing_and_slicing():
    net = _net()
    assert len(net) == 4
    assert net[-1] is net[3]
    head = net[1:3]
    assert isinstance(head, nn.Sequential) and len(head) == 2
    assert head[0] is net[1]
    with pytest.raises(IndexError, match="out of range"):
        net[4]


def test_sequential_accepts_a_list_and_rejects_non_modules():
    assert len(nn.Sequential([nn.ReLU(), nn.Tanh()])) == 2
    with pytest.raises(TypeError, match="item 1 must be a Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_sequential_forward_chains_layers():
    net = _net()
    x = numpy.random.default_rng(1).standard_normal((5, 2, 3)).astype(numpy.float32)
    y = net(xpnet.Tensor(x)).data
    w1, b1 = net[1].weight.data, net[1].bias.data
    w2, b2 = net[3].weight.data, net[3].bias.data
    expected = numpy.maximum(x.reshape(5, 6) @ w1.T + b1, 0) @ w2.T + b2
    numpy.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_module_list_appends_and_owns_parameters():
    blocks = nn.ModuleList([nn.Linear(3, 3, rng=numpy.random.default_rng(i)) for i in range(3)])
    blocks.append(nn.Linear(3, 2, rng=numpy.random.default_rng(9)))
    assert len(blocks) == 4
    assert [n for n, _ in blocks.named_parameters()][-2:] == ["3.weight", "3.bias"]
    assert len(list(blocks.parameters())) == 8


def test_state_dict_round_trip_copies_values():
    a, b = _net(0), _net(1)
    state = {k: v.copy() for k, v in a.state_dict().items()}
    assert set(state) == {"1.weight", "1.bias", "3.weight", "3.bias"}
    b.load_state_dict(state)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert na == nb
        numpy.testing.assert_array_equal(pa.data, pb.data)


def test_load_state_dict_errors_name_the_key():
    net = _net()
    state = net.state_dict()
    with pytest.raises(KeyError, match="missing"):
        net.load_state_dict({k: v for k, v in state.items() if k != "1.bias"})
    bad = dict(state, **{"1.bias": numpy.zeros(5, numpy.float32)})
    with pytest.raises(ValueError, match="1.bias"):
        net.load_state_dict(bad)


def test_train_eval_reach_every_module():
    net = _net()
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_double():
    net = _net()
    loss = net(xpnet.Tensor(numpy.ones((2, 6), numpy.float32))).sum()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.double()
    assert all(p.dtype == numpy.float64 for p in net.parameters())


def test_repr_is_readable():
    text = repr(_net())
    assert "(1): Linear(in_features=6, out_features=4, bias=True)" in text
    assert "(0): Flatten(start_axis=1)" in text
    assert text.startswith("Sequential(") and text.endswith(")")


def test_to_cpu_keeps_arrays():
    net = _net()
    w = net[1].weight.data
    assert net.to("cpu") is net
    assert net[1].weight.data is w
