"""Inference plans (xpnet/nn/inference.py): a Sequential under no_grad replays its layers'
Functions on arrays; the results must be the layers' own, bit for bit, and the plan must
follow every change that changes the result (weights, modes, layers, shapes)."""

import numpy
import pytest

import xpnet
from xpnet import Tensor, nn
from xpnet.models import ZOO, build_model
from xpnet.nn import inference


def _both(net, x):
    """(the graph path's output, the plan's output) of ``net`` on array ``x``."""
    graph = net(Tensor(x)).data  # grad enabled: the layers as usual
    with xpnet.no_grad():
        planned = net(Tensor(x)).data
    return graph, planned


@pytest.mark.parametrize("name", sorted(set(ZOO) - {"perceptron"}))
def test_every_zoo_model_gives_the_same_bits_through_its_plan(name):
    """Each zoo model in eval mode (float32 and float64, two batch sizes): the plan's
    output equals the layers' own; the plan was used (one entry per shape)."""
    shape = (3, 67, 67) if name == "alexnet" else ZOO[name].example_shape  # AlexNet, small
    net = build_model(name, shape, seed=0).eval()
    rng = numpy.random.default_rng(0)
    for dtype in (numpy.float32, numpy.float64):
        net.astype(dtype)
        for batch in (1, 3):
            x = rng.standard_normal((batch, *shape)).astype(dtype)
            graph, planned = _both(net, x)
            assert planned.dtype == dtype
            numpy.testing.assert_array_equal(planned, graph)
    assert len(net.__dict__["_inference_plans"]) == 4


def test_a_plan_is_traced_once_per_shape_and_follows_the_weights(monkeypatch):
    traced = []
    real = inference.InferencePlan.trace.__func__
    monkeypatch.setattr(inference.InferencePlan, "trace",
                        classmethod(lambda cls, *a: traced.append(1) or real(cls, *a)))
    net = nn.Sequential(nn.Linear(4, 3, rng=numpy.random.default_rng(0)), nn.ReLU()).eval()
    x = numpy.random.default_rng(1).standard_normal((2, 4)).astype(numpy.float32)
    with xpnet.no_grad():
        first = net(Tensor(x)).data
        net[0].weight.data = net[0].weight.data * 2  # a new array, as an optimiser's step may
        net[0].bias.data[...] = 0  # or in place
        second = net(Tensor(x)).data
        net(Tensor(x[:1]))
    assert traced == [1, 1]  # (2, 4), then (1, 4)
    numpy.testing.assert_array_equal(second, numpy.maximum(x @ net[0].weight.data.T, 0))
    assert not numpy.array_equal(first, second)


def test_a_flatten_with_nothing_to_merge_is_skipped_and_one_that_merges_is_not():
    """Flatten of a 2-d input (an MLP's first layer on rows) is a "same" step; on a 4-d
    input it is replayed; both give the layers' bits, and a ReLU after a skipped Flatten
    first in line still does not write into the caller's array."""
    net = nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Linear(12, 3, rng=numpy.random.default_rng(0)))
    net.eval()
    rng = numpy.random.default_rng(2)
    for shape, kind in (((5, 12), "same"), ((5, 3, 2, 2), "call")):
        x = rng.standard_normal(shape).astype(numpy.float32)
        keep = x.copy()
        graph, planned = _both(net, x)
        numpy.testing.assert_array_equal(planned, graph)
        numpy.testing.assert_array_equal(x, keep)
        with xpnet.no_grad():
            plan = inference.plan_for(net, Tensor(x))
        assert plan.steps[0][0] == kind


def test_relu_clips_in_place_only_what_the_plan_made():
    """A ReLU first in line must not write into the caller's array."""
    x = numpy.array([[-1.0, 2.0, -3.0]], dtype=numpy.float32)
    keep = x.copy()
    with xpnet.no_grad():
        y = nn.Sequential(nn.ReLU(), nn.ReLU())(Tensor(x)).data
    numpy.testing.assert_array_equal(x, keep)
    numpy.testing.assert_array_equal(y, [[0.0, 2.0, 0.0]])


def test_a_plans_relu_clips_by_the_compiled_in_place_pass(monkeypatch):
    """The plan's ReLU after a Linear runs xpnet's in-place pass, with F.relu's bits
    (one thread: the plan runs the steps as traced, not on BLAS's threads)."""
    pytest.importorskip("numba")
    from xpnet.cpu import relu as cpu_relu

    calls = []
    real = cpu_relu.forward_inplace
    monkeypatch.setattr(cpu_relu, "forward_inplace",
                        lambda a, split=True: calls.append(a.shape) or real(a, split))
    rng = numpy.random.default_rng(3)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4)).eval()
    x = rng.standard_normal((7, 6)).astype(numpy.float32)
    with xpnet.no_grad(), xpnet.cpu.engines(threads=1):
        y = net(Tensor(x)).data
    with xpnet.no_grad(), xpnet.cpu.engines(inference="layers"):
        want = net(Tensor(x)).data
    assert calls == [(7, 5)]
    assert y.tobytes() == want.tobytes()


@pytest.mark.parametrize(("batch", "dense"), [(7, "auto"), (7, "w_xt"), (70, "auto")])
def test_an_mlp_plan_adds_the_bias_and_clips_in_one_pass_with_the_layers_bits(monkeypatch,
                                                                                 batch, dense):
    """On BLAS's threads a Linear and the ReLU after it are one step whose bias and ReLU
    are one compiled pass (from W x^T's layout, transposed back on the way, or on x W^T's),
    with the layers' bits (products too small for BLAS to split); a ReLU that follows no
    Linear stays a step of its own; y comes out in rows."""
    pytest.importorskip("numba")
    pytest.importorskip("threadpoolctl")
    from xpnet.cpu import relu_kernels

    calls = []
    for name in ("bias_relu", "bias_relu_transposed"):
        real = getattr(relu_kernels, name)
        monkeypatch.setattr(relu_kernels, name, lambda *a, name=name, real=real:
                            calls.append((name, a[-1])) or real(*a))
    rng = numpy.random.default_rng(3)
    net = nn.Sequential(nn.Linear(6, 120, rng=rng), nn.ReLU(), nn.ReLU(),
                        nn.Linear(120, 4, rng=rng)).eval()
    x = rng.standard_normal((batch, 6)).astype(numpy.float32)
    x[0, :] = numpy.nan  # NaN is kept by the fused ReLU, as by F.relu
    with xpnet.cpu.engines(threads=2, dense=dense):
        graph, planned = _both(net, x)
    (plan,) = net.__dict__["_inference_plans"].values()
    assert [s[0] for s in plan.whole_steps] == ["linear_relu", "relu", "call"]
    first = "bias_relu_transposed" if batch <= 64 else "bias_relu"
    last = "bias_relu_transposed" if dense == "w_xt" else "bias_relu"  # 4 outputs: x W^T
    assert calls == [(first, True), (last, False)]
    assert planned.flags.c_contiguous and numpy.isnan(planned[0]).all()
    assert planned.tobytes() == graph.tobytes()


def test_training_mode_dropout_draws_new_masks_and_eval_mode_is_the_identity():
    net = nn.Sequential(nn.Linear(50, 50, rng=numpy.random.default_rng(0)),
                        nn.Dropout(0.5, rng=numpy.random.default_rng(1)))
    x = numpy.ones((4, 50), dtype=numpy.float32)
    with xpnet.no_grad():
        a, b = net(Tensor(x)).data, net(Tensor(x)).data  # training mode: masks each call
        net.eval()
        c, d = net(Tensor(x)).data, net(Tensor(x)).data
    assert not numpy.array_equal(a, b)
    numpy.testing.assert_array_equal(c, d)
    numpy.testing.assert_array_equal(c, net[0](Tensor(x)).data)


def test_a_replaced_layer_or_a_cast_parameter_is_not_replayed():
    rng = numpy.random.default_rng(2)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, rng=rng), nn.Flatten()).eval()
    x = rng.standard_normal((2, 1, 5, 5)).astype(numpy.float32)
    with xpnet.no_grad():
        net(Tensor(x))
        setattr(net, "0", nn.Conv2d(1, 2, 3, stride=2, rng=rng))  # a new layer, new shape
        assert net(Tensor(x)).shape == (2, 8)
        net.astype(numpy.float64)  # float32 input, float64 weights: the layer's own error
        with pytest.raises(TypeError, match="dtype"):
            net(Tensor(x))


def test_layers_that_do_not_hand_on_one_tensor_run_as_usual():
    """MaxPool2d with its switches returns a tuple: no plan, the layers' own result."""
    net = nn.Sequential(nn.MaxPool2d(2, return_indices=True)).eval()
    x = numpy.arange(16, dtype=numpy.float32).reshape(1, 1, 4, 4)
    with xpnet.no_grad():
        y, idx = net(Tensor(x))
    numpy.testing.assert_array_equal(y.data.reshape(-1), [5, 7, 13, 15])
    assert net.__dict__["_inference_plans"] and inference.plan_for(net, Tensor(x)) is None


def test_nested_sequentials_and_other_layers_run_through_the_plan():
    rng = numpy.random.default_rng(3)
    inner = nn.Sequential(nn.Linear(6, 5, rng=rng), nn.Tanh())
    net = nn.Sequential(nn.Flatten(), inner, nn.Identity(), nn.Linear(5, 2, rng=rng)).eval()
    x = rng.standard_normal((3, 2, 3)).astype(numpy.float32)
    graph, planned = _both(net, x)
    numpy.testing.assert_array_equal(planned, graph)
    kinds = [s[0] for s in next(iter(net.__dict__["_inference_plans"].values())).steps]
    assert kinds == ["call", "module", "same", "call"]


def test_engines_inference_layers_runs_the_layers_as_usual(monkeypatch):
    traced = []
    monkeypatch.setattr(inference.InferencePlan, "trace",
                        classmethod(lambda cls, *a: traced.append(1)))
    net = nn.Sequential(nn.Linear(3, 2, rng=numpy.random.default_rng(0))).eval()
    x = Tensor(numpy.ones((1, 3), dtype=numpy.float32))
    with xpnet.no_grad(), xpnet.cpu.engines(inference="layers"):
        y = net(x)
    assert traced == [] and y.shape == (1, 2)
    with pytest.raises(ValueError, match="inference must be one of 'plan', 'layers'"):
        xpnet.cpu.engines(inference="trace")


@pytest.mark.parametrize("batch", [1, 40, 200])
def test_an_mlp_plan_runs_its_products_whole_on_blas_threads_with_the_same_bits(batch):
    """A plan of dense layers only (dense_only) runs each product as one BLAS call on
    BLAS's threads (both orientations: 1 row and 300 outputs take W x^T, 200 rows
    x W^T; 40 rows, which the register blocks take, under dense="w_xt"): the layers'
    results up to the last bits (BLAS's threads may cut the sums otherwise than one
    thread); a convolutional plan does not take this path; BLAS's thread count is put
    back."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = numpy.random.default_rng(1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(96, 300, rng=rng), nn.ReLU(),
                        nn.Linear(300, 10, rng=rng), nn.Tanh()).eval()
    x = rng.standard_normal((batch, 96)).astype(numpy.float32)
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info()]
    with xpnet.cpu.engines(threads=2, dense="w_xt" if batch == 40 else "auto"):
        graph, planned = _both(net, x)
    numpy.testing.assert_allclose(planned, graph, rtol=1e-5, atol=1e-6)
    assert [i["num_threads"] for i in threadpoolctl.threadpool_info()] == before
    (plan,) = net.__dict__["_inference_plans"].values()
    assert plan.dense_only
    conv = nn.Sequential(nn.Conv2d(1, 2, 3, rng=rng), nn.Flatten(),
                         nn.Linear(8, 3, rng=rng)).eval()
    with xpnet.no_grad():
        conv(Tensor(rng.standard_normal((2, 1, 4, 4)).astype(numpy.float32)))
    assert not next(iter(conv.__dict__["_inference_plans"].values())).dense_only


def test_an_mlp_plan_whose_products_the_blocks_take_stays_on_xpnets_threads(monkeypatch):
    """Where the register blocks take a Linear's product (40 rows, 300 outputs), a
    dense-only plan runs on xpnet's threads, not BLAS's (no blas_threads scope), and so
    gives the layers' bits exactly: the same forward code on the same threads."""
    pytest.importorskip("numba")
    pytest.importorskip("threadpoolctl")
    from xpnet.cpu import dense

    scopes = []
    real = dense.blas_threads
    monkeypatch.setattr(dense, "blas_threads", lambda: scopes.append(1) or real())
    rng = numpy.random.default_rng(2)
    net = nn.Sequential(nn.Linear(96, 300, rng=rng), nn.ReLU(),
                        nn.Linear(300, 10, rng=rng)).eval()
    with xpnet.cpu.engines(threads=2):
        graph, planned = _both(net, rng.standard_normal((40, 96)).astype(numpy.float32))
        assert scopes == []
        numpy.testing.assert_array_equal(planned, graph)
        with xpnet.no_grad():
            net(Tensor(numpy.zeros((1, 96), numpy.float32)))  # one row: BLAS's threads
        assert scopes == [1]


def test_a_max_pool_and_the_relu_after_it_are_one_step_with_the_layers_bits():
    rng = numpy.random.default_rng(12)
    net = nn.Sequential(nn.Conv2d(1, 12, 3, rng=rng), nn.MaxPool2d(2), nn.ReLU(),
                        nn.Conv2d(12, 4, 3, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten()).eval()
    x = rng.standard_normal((3, 1, 14, 14)).astype(numpy.float32)
    graph, planned = _both(net, x)
    assert planned.tobytes() == graph.tobytes()
    kinds = [s[0] for s in next(iter(net.__dict__["_inference_plans"].values())).steps]
    assert kinds == ["call", "pool_relu", "call", "relu", "call", "call"]  # ReLU then pool:
    # the ReLU clips the convolution's output in place, as before
