"""Greedy layer-wise pre-training: which layers, the autoencoder's and the RBM's updates
(against hand-written NumPy), progress on data, and the errors."""

import copy

import numpy
import pytest

from xpnet import functions as F
from xpnet import nn
from xpnet.models import mlp
from xpnet.train import pretrain_layers
from xpnet.train.pretrain import find_units


def data(n=240, d=16, seed=0):
    """Inputs in [0, 1] with structure to learn: sigmoid of a rank-3 map."""
    rng = numpy.random.default_rng(seed)
    z = rng.standard_normal((n, 3))
    return (1 / (1 + numpy.exp(-2 * z @ rng.standard_normal((3, d))))).astype(numpy.float32)


def batches(x, size=40):
    return [(x[i:i + size], numpy.zeros(len(x[i:i + size]), numpy.int64))
            for i in range(0, len(x), size)]


def as_float64(net):
    for p in net.parameters():
        p.data = p.data.astype(numpy.float64)
    return net


def sigmoid(u):
    return 1 / (1 + numpy.exp(-u))


# ------------------------------------------------------------------ which layers
def test_hidden_layers_are_found_bottom_up_without_the_output_layer():
    net = mlp((16, 8, 6, 3), activation="sigmoid", output_activation="sigmoid",
              rng=numpy.random.default_rng(0))
    assert [u.index for u in find_units(net)] == [1, 3]  # Flatten at 0; Linear 5 is output
    assert [u.index for u in find_units(net, layers=[3])] == [3]


def test_layer_choice_and_model_errors():
    net = mlp((16, 8, 3), rng=numpy.random.default_rng(0))
    with pytest.raises(ValueError, match=r"layers must be indices of Linear layers .*: \[1\]; "
                                         r"got \[3\]"):
        find_units(net, layers=[3])
    with pytest.raises(ValueError, match="no hidden dense layer"):
        find_units(nn.Sequential(nn.Linear(4, 2)))
    with pytest.raises(TypeError, match="model must be an nn.Sequential.*got Linear"):
        find_units(nn.Linear(4, 2))


# ------------------------------------------------------------------ autoencoder
def test_autoencoder_step_is_sgd_on_the_tied_reconstruction_cost():
    """One step from the first batch: W <- W - lr dE/dW, dE/dW by central differences
    of E = mean_n sigmoid-CE(W^T sigmoid(W v + b) + c, v) with c = 0."""
    rng = numpy.random.default_rng(1)
    net = as_float64(mlp((16, 5, 3), activation="sigmoid", rng=rng))
    W0, b0 = net[1].weight.data.copy(), net[1].bias.data.copy()
    v = data(8).astype(numpy.float64)

    def cost(W, b):
        z = sigmoid(v @ W.T + b) @ W
        return numpy.mean(numpy.sum(numpy.logaddexp(0, z) - v * z, axis=1))

    def numeric(f, a, eps=1e-6):
        g = numpy.zeros_like(a)
        for i in numpy.ndindex(a.shape):
            d = numpy.zeros_like(a)
            d[i] = eps
            g[i] = (f(a + d) - f(a - d)) / (2 * eps)
        return g

    gW = numeric(lambda W: cost(W, b0), W0)
    gb = numeric(lambda b: cost(W0, b), b0)
    history = pretrain_layers(net, [(v, None)], epochs=1, lr=0.5, momentum=0.0)
    numpy.testing.assert_allclose(net[1].weight.data, W0 - 0.5 * gW, rtol=1e-7, atol=1e-9)
    numpy.testing.assert_allclose(net[1].bias.data, b0 - 0.5 * gb, rtol=1e-7, atol=1e-9)
    assert history == [{"layer": 1, "method": "autoencoder", "epoch": 1,
                        "loss": pytest.approx(cost(W0, b0)), "visible": "logistic"}]
    assert net[1].weight.grad is None  # no stale gradient handed to fine-tuning


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("corruption", [0.0, 0.25])
def test_autoencoder_learns_each_layer(tied, corruption):
    rng = numpy.random.default_rng(2)
    net = mlp((16, 12, 8, 3), activation="sigmoid", rng=rng)
    out_w = net[5].weight.data.copy()
    n_params = len(list(net.parameters()))
    seen = []
    history = pretrain_layers(net, batches(data()), epochs=8, lr=0.5, tied=tied,
                              corruption=corruption, rng=rng, log=seen.append)
    assert seen == history and [(r["layer"], r["epoch"]) for r in history] == [
        (layer, e) for layer in (1, 3) for e in range(1, 9)]
    for layer in (1, 3):
        losses = [r["loss"] for r in history if r["layer"] == layer]
        assert losses[-1] < 0.9 * losses[0], losses
    numpy.testing.assert_array_equal(net[5].weight.data, out_w)  # output layer untouched
    assert len(list(net.parameters())) == n_params  # decoders were not added to the model


def test_reconstruction_follows_the_inputs_range():
    """Pixels in [0, 1] and logistic codes: sigmoid + cross-entropy; tanh codes: linear +
    squared error (reconstruction="auto")."""
    rng = numpy.random.default_rng(3)
    net = nn.Sequential(nn.Linear(16, 8, rng=rng), nn.Tanh(), nn.Linear(8, 6, rng=rng),
                        nn.Sigmoid(), nn.Linear(6, 3, rng=rng))
    history = pretrain_layers(net, batches(data()), epochs=1)
    assert [r["visible"] for r in history] == ["logistic", "linear"]
    history = pretrain_layers(net, batches(data()), epochs=1, reconstruction="linear")
    assert [r["visible"] for r in history] == ["linear", "linear"]


def test_frozen_layers_below_run_in_eval_mode_and_the_mode_is_restored():
    rng = numpy.random.default_rng(4)
    net = nn.Sequential(nn.Linear(16, 8, rng=rng), nn.Sigmoid(), nn.Dropout(0.5),
                        nn.Linear(8, 6, rng=rng), nn.Sigmoid(), nn.Linear(6, 3, rng=rng))
    a, b = copy.deepcopy(net), copy.deepcopy(net)
    pretrain_layers(a, batches(data()), epochs=2, layers=[3])
    pretrain_layers(b, batches(data()), epochs=2, layers=[3])
    # dropout drew nothing (no rng anywhere): both runs give the same weights
    numpy.testing.assert_array_equal(a[3].weight.data, b[3].weight.data)
    assert a.training and all(m.training for m in a.modules())


def test_same_seed_same_weights():
    def run():
        rng = numpy.random.default_rng(5)
        net = mlp((16, 8, 3), activation="sigmoid", rng=rng)
        pretrain_layers(net, batches(data()), epochs=2, corruption=0.3, rng=rng)
        return net[1].weight.data

    numpy.testing.assert_array_equal(run(), run())


# ------------------------------------------------------------------ RBM
def test_rbm_cd1_update_equals_the_equations():
    rng = numpy.random.default_rng(6)
    net = as_float64(mlp((16, 5, 3), activation="sigmoid", rng=rng))
    W, b = net[1].weight.data.copy(), net[1].bias.data.copy()
    v0 = data(10).astype(numpy.float64)
    draws = copy.deepcopy(rng)  # the same stream the RBM samples from
    pretrain_layers(net, [v0], method="rbm", epochs=1, lr=0.3, momentum=0.0,
                    weight_decay=0.01, rng=rng)
    p0 = sigmoid(v0 @ W.T + b)
    h0 = (draws.random(p0.shape, dtype=numpy.float32) < p0).astype(numpy.float64)
    v1 = sigmoid(h0 @ W)  # visible bias c starts at 0
    p1 = sigmoid(v1 @ W.T + b)
    n = len(v0)
    numpy.testing.assert_allclose(
        net[1].weight.data, W + 0.3 * ((p0.T @ v0 - p1.T @ v1) / n - 0.01 * W), rtol=1e-12)
    numpy.testing.assert_allclose(net[1].bias.data, b + 0.3 * (p0 - p1).mean(axis=0),
                                  rtol=1e-12)


@pytest.mark.parametrize("cd_steps", [1, 3])
def test_rbm_reconstruction_error_falls(cd_steps):
    rng = numpy.random.default_rng(7)
    net = mlp((16, 12, 8, 3), activation="sigmoid", rng=rng)
    history = pretrain_layers(net, batches(data()), method="rbm", epochs=10, lr=0.3,
                              momentum=0.5, cd_steps=cd_steps, rng=rng)
    for layer in (1, 3):
        losses = [r["loss"] for r in history if r["layer"] == layer]
        assert losses[-1] < 0.7 * losses[0], losses


def test_gaussian_visible_units_for_inputs_outside_unit_range():
    rng = numpy.random.default_rng(8)
    x = (data() - 0.5) * 4  # standardised-like inputs
    net = mlp((16, 8, 3), activation="sigmoid", rng=rng)
    history = pretrain_layers(net, batches(x), method="rbm", epochs=10, lr=0.01,
                              momentum=0.5, rng=rng)
    assert {r["visible"] for r in history} == {"linear"}
    assert history[-1]["loss"] < history[0]["loss"]
    assert numpy.isfinite(net[1].weight.data).all()


# ------------------------------------------------------------------ errors
def test_setting_errors_name_what_was_wrong():
    net = mlp((16, 8, 3), activation="tanh", rng=numpy.random.default_rng(9))
    loader = batches(data())
    with pytest.raises(ValueError, match="method='rbm' needs logistic hidden units, but "
                                         "layer 1 is followed by Tanh"):
        pretrain_layers(net, loader, method="rbm", rng=numpy.random.default_rng(0))
    with pytest.raises(ValueError, match="pass rng, a numpy.random.Generator; got None"):
        pretrain_layers(net, loader, corruption=0.2)
    with pytest.raises(ValueError, match="method must be one of"):
        pretrain_layers(net, loader, method="dbm")
    with pytest.raises(ValueError, match=r"corruption must be in \[0.0, 1.0\), got 1"):
        pretrain_layers(net, loader, corruption=1, rng=numpy.random.default_rng(0))
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got 0"):
        pretrain_layers(net, loader, epochs=0)
    with pytest.raises(TypeError, match="lr must be a number, got 'fast'"):
        pretrain_layers(net, loader, lr="fast")
    with pytest.raises(ValueError, match="the loader gave no batch"):
        pretrain_layers(net, [])


def test_cross_entropy_cost_is_the_library_op():
    """The autoencoder's logistic cost is F.sigmoid_cross_entropy's, per example."""
    v = data(4).astype(numpy.float64)
    z = numpy.random.default_rng(10).standard_normal(v.shape)
    e = F.sigmoid_cross_entropy(z, v, reduction="mean").item()
    assert e == pytest.approx(numpy.mean(numpy.sum(numpy.logaddexp(0, z) - v * z, axis=1)))


@pytest.mark.parametrize("method", ["autoencoder", "rbm"])
def test_a_diverging_layer_stops_with_a_clear_error(method):
    from xpnet.train import NonFiniteError

    rng = numpy.random.default_rng(11)
    x = (data() - 0.5) * 50  # large linear inputs, a huge rate: the weights blow up
    net = mlp((16, 8, 3), activation="sigmoid", rng=rng)
    with numpy.errstate(all="ignore"), pytest.raises(
            NonFiniteError, match=r"the cost of layer 1 became (nan|inf) at epoch \d+, batch "
                                  r"\d+: the weights diverged \(lr 1000.0 is too large"):
        pretrain_layers(net, batches(x), method=method, epochs=50, lr=1e3, momentum=0.9,
                        reconstruction="linear", rng=rng)
