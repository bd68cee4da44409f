"""Greedy layer-wise pre-training of a network's dense layers (Hinton et al. 2006).

Before back-propagation trains the whole network, each hidden dense layer h = f(W v + b)
is trained alone, bottom up, to model its own input v: the codes that the layers below
it (already pre-trained, now frozen) give for the training images. Labels are not used.
Then :func:`xpnet.train.fit` fine-tunes everything from these weights. Two ways to train
one layer:

- ``"autoencoder"`` (Bengio et al. 2007; denoising: Vincent et al. 2008): the layer
  encodes a (corrupted) input and a decoder with the transposed weights reconstructs the
  clean one, z = W^T h + c (``tied``; or a decoder matrix of its own). The cost is the
  sigmoid cross-entropy of z against v when v lies in [0, 1] (pixel intensities,
  logistic codes), else the squared error 1/2 ||z - v||^2, both averaged over the
  mini-batch, minimised by SGD with momentum through the library's autograd.
- ``"rbm"`` (Hinton, Osindero & Teh 2006): the layer and a visible bias c form a
  restricted Boltzmann machine with logistic hidden units, p(h_j = 1 | v) =
  sigmoid(W v + b)_j, and visible units that are logistic, p(v_i = 1 | h) =
  sigmoid(W^T h + c)_i (inputs in [0, 1]), or Gaussian of unit variance with mean
  W^T h + c (other inputs: standardise them first). It is trained by contrastive
  divergence CD-k: from v0 = the data, sample h0 ~ p(h | v0), then k times take the
  visible means v ~ E[v | h] and sample h ~ p(h | v); with p0 = p(h | v0) and pk =
  p(h | vk), the update is

      dW = (p0^T v0 - pk^T vk) / N,  db = mean(p0 - pk),  dc = mean(v0 - vk),
      u <- momentum u + lr (dW - weight_decay W),  W <- W + u   (likewise b, c).

  Its reported loss is the reconstruction error 1/2 ||v0 - vk||^2 per example, a
  progress signal, not the objective that CD follows.

Only the network's encoder weights W, b are kept; c and a separate decoder are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy

from xpnet import backend, nn, no_grad
from xpnet import functions as F
from xpnet.functions.noise.masks import generator_on, keep_mask
from xpnet.optim import SGD
from xpnet.tensor import Tensor
from xpnet.train.errors import NonFiniteError

__all__ = ["LOSS_NAMES", "METHODS", "check_units", "pretrain_layers"]

#: The ways to pre-train one layer.
METHODS = ("autoencoder", "rbm")
#: What each method's records call their "loss" (for progress lines and reports).
LOSS_NAMES = {"autoencoder": "cost", "rbm": "reconstruction error"}
_ACTIVATIONS = (nn.Sigmoid, nn.Tanh, nn.ReLU)
_RECONSTRUCTIONS = ("auto", "sigmoid", "linear")


@dataclass
class _Unit:
    """One hidden layer to pre-train: ``model[index]`` (a Linear), then its activation."""

    index: int
    linear: nn.Linear
    activation: nn.Module
    below: list  # the modules model[0:index], whose output is the layer's input v


def find_units(model: nn.Sequential, layers: Sequence[int] | None = None) -> list[_Unit]:
    """The dense layers of ``model`` that pre-training trains, bottom up.

    By default every Linear that is followed by a Sigmoid, Tanh or ReLU, except the
    network's last Linear (the output layer is left to fine-tuning). ``layers`` names
    them by their index in the Sequential instead.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(
            f"pretrain_layers: model must be an nn.Sequential (its layers are pre-trained "
            f"in order), got {type(model).__name__}"
        )
    mods = list(model)
    linears = [i for i, m in enumerate(mods) if isinstance(m, nn.Linear)]
    hidden = [i for i in linears[:-1]
              if i + 1 < len(mods) and isinstance(mods[i + 1], _ACTIVATIONS)]
    if layers is None:
        chosen = hidden
    else:
        chosen = sorted(set(layers))
        bad = [i for i in chosen if not isinstance(i, int) or i not in hidden]
        if bad:
            raise ValueError(
                f"pretrain_layers: layers must be indices of Linear layers followed by an "
                f"activation (Sigmoid, Tanh, ReLU), not the last one: {hidden}; got {bad}"
            )
    if not chosen:
        raise ValueError(
            "pretrain_layers: the model has no hidden dense layer to pre-train (a Linear "
            "followed by Sigmoid, Tanh or ReLU, before the output layer)"
        )
    return [_Unit(i, mods[i], mods[i + 1], mods[:i]) for i in chosen]


def check_units(model: nn.Sequential, method: str,
                layers: Sequence[int] | None = None) -> list[_Unit]:
    """The layers :func:`pretrain_layers` would train with ``method``, checked before any
    work (a run checks them before it writes anything).

    Raises:
        TypeError: a model that is not an ``nn.Sequential``.
        ValueError: no hidden dense layer, or ``"rbm"`` on a layer whose units are not
            logistic.
    """
    units = find_units(model, layers)
    for unit in units:
        if method == "rbm" and not isinstance(unit.activation, nn.Sigmoid):
            raise ValueError(
                f"pretrain_layers: method='rbm' needs logistic hidden units, but layer "
                f"{unit.index} is followed by {type(unit.activation).__name__} (use Sigmoid, "
                f"or method='autoencoder')"
            )
    return units


def _inputs(unit: _Unit, x: Any, device: str, dtype: Any) -> Any:
    """v: the batch through the frozen layers below ``unit``, a raw array on ``device``."""
    x = backend.to_device(x if backend.is_array(x) else numpy.asarray(x), device)
    v = Tensor(backend.get_array_module(x).asarray(x, dtype=dtype))
    with no_grad():
        for m in unit.below:
            v = m(v)
    return v.data.reshape(v.shape[0], -1)  # (N, in) as the Linear sees it


def _batches(loader: Iterable, epoch: int) -> Iterable[Any]:
    """The inputs x of one epoch of ``loader`` (batches ``(x, y)`` or bare x)."""
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    for batch in loader:
        yield batch[0] if isinstance(batch, (tuple, list)) else batch


def _in_unit_range(v: Any) -> bool:
    xp = backend.get_array_module(v)
    return bool(xp.all((v >= 0) & (v <= 1)))


def _logistic_visible(reconstruction: str, v: Any) -> bool:
    """Whether the layer's reconstruction is logistic (sigmoid) rather than linear."""
    if reconstruction != "auto":
        return reconstruction == "sigmoid"
    return _in_unit_range(v)


def _autoencoder_layer(unit: _Unit, loader: Iterable, args: dict, log: Callable) -> None:
    """Train ``unit`` as the encoder of a (denoising) autoencoder; see the module notes."""
    lin, act = unit.linear, unit.activation
    W, b = lin.weight, lin.bias
    xp, device, dtype = backend.get_array_module(W.data), backend.device_of(W.data), W.dtype
    c = Tensor(xp.zeros(W.shape[1], dtype=dtype), requires_grad=True)  # (in,) decoder bias
    params = [W, c] + ([] if b is None else [b])
    Wd = None
    if not args["tied"]:  # (in, out) a decoder matrix of its own, from W^T
        Wd = Tensor(xp.ascontiguousarray(W.data.T), requires_grad=True)
        params.append(Wd)
    opt = SGD(params, lr=args["lr"], momentum=args["momentum"],
              weight_decay=args["weight_decay"])
    rng, p, logistic = args["rng"], args["corruption"], None
    for epoch in range(args["epochs"]):
        total, count = 0.0, 0
        for batch, x in enumerate(_batches(loader, epoch)):
            v = _inputs(unit, x, device, dtype)  # (N, in)
            if logistic is None:  # decided once, on the layer's first batch
                logistic = _logistic_visible(args["reconstruction"], v)
            v_in = v if p == 0 else v * keep_mask(xp, rng, v.shape, p)  # masking noise
            h = act(F.linear(Tensor(v_in), W, b))  # (N, out) the code
            z = (F.matmul(h, W) if Wd is None else F.matmul(h, F.transpose(Wd))) + c
            cost = (F.sigmoid_cross_entropy(z, v, reduction="mean") if logistic
                    else F.squared_error(z, v, reduction="mean"))  # (N, in) vs (N, in)
            value = _finite(float(cost.item()), unit, epoch, batch, args["lr"])
            opt.zero_grad()
            cost.backward()
            opt.step()
            total, count = total + value * v.shape[0], count + v.shape[0]
        log(_record(unit, "autoencoder", epoch, total, count, logistic))
    for t in params:
        t.grad = None  # the model's weights leave with no stale gradient


def _sigmoid(u: Any) -> Any:
    with no_grad():
        return F.sigmoid(Tensor(u)).data


def _rbm_layer(unit: _Unit, loader: Iterable, args: dict, log: Callable) -> None:
    """Train ``unit`` as an RBM by contrastive divergence CD-k; see the module notes."""
    W = unit.linear.weight.data  # (out, in), updated in place
    bias = unit.linear.bias
    b = bias.data if bias is not None else None  # (out,) hidden bias
    xp, device = backend.get_array_module(W), backend.device_of(W)
    c = xp.zeros(W.shape[1], dtype=W.dtype)  # (in,) visible bias
    uW, ub, uc = xp.zeros_like(W), xp.zeros(W.shape[0], dtype=W.dtype), xp.zeros_like(c)
    gen = generator_on(xp, args["rng"])
    lr, mom, wd, logistic = args["lr"], args["momentum"], args["weight_decay"], None
    for epoch in range(args["epochs"]):
        total, count = 0.0, 0
        for batch, x in enumerate(_batches(loader, epoch)):
            v0 = _inputs(unit, x, device, W.dtype)  # (N, in) the data
            if logistic is None:
                logistic = _logistic_visible(args["reconstruction"], v0)
            p0 = _hidden(v0, W, b)  # (N, out) p(h = 1 | v0)
            pk, vk = p0, v0
            for _ in range(args["cd_steps"]):
                h = (gen.random(pk.shape, dtype=numpy.float32) < pk).astype(W.dtype)
                mean = h @ W + c  # (N, in) W^T h + c, one row per example
                vk = _sigmoid(mean) if logistic else mean  # visible means
                pk = _hidden(vk, W, b)  # (N, out) p(h = 1 | vk)
            err = vk - v0  # checked before the update: a NaN never reaches W
            value = _finite(0.5 * float((err * err).sum()), unit, epoch, batch, lr)
            n = v0.shape[0]
            uW *= mom
            uW += (lr / n) * (p0.T @ v0 - pk.T @ vk) - (lr * wd) * W  # (out, in)
            W += uW
            if b is not None:
                ub *= mom
                ub += (lr / n) * (p0 - pk).sum(axis=0)
                b += ub
            uc *= mom
            uc += (lr / n) * (v0 - vk).sum(axis=0)
            c += uc
            total, count = total + value, count + n
        log(_record(unit, "rbm", epoch, total, count, logistic))


def _hidden(v: Any, W: Any, b: Any) -> Any:
    """p(h = 1 | v) = sigmoid(v W^T + b), (N, out)."""
    u = v @ W.T
    if b is not None:
        u += b
    return _sigmoid(u)


def _finite(value: float, unit: _Unit, epoch: int, batch: int, lr: float) -> float:
    """``value`` (a batch's cost), or NonFiniteError naming the layer and where."""
    if not math.isfinite(value):
        raise NonFiniteError(
            f"pretrain_layers: the cost of layer {unit.index} became {value} at epoch "
            f"{epoch + 1}, batch {batch + 1}: the weights diverged (lr {lr} is too large "
            "for these inputs; linear visible units need a smaller one)",
            step=batch + 1, epoch=epoch)
    return value


def _record(unit: _Unit, method: str, epoch: int, total: float, count: int,
            logistic: bool | None) -> dict[str, Any]:
    if count == 0:
        raise ValueError("pretrain_layers: the loader gave no batch")
    return {"layer": unit.index, "method": method, "epoch": epoch + 1,
            "loss": total / count, "visible": "logistic" if logistic else "linear"}


def _check(name: str, value: Any, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"pretrain_layers: {name} must be a number, got {value!r}")
    if value < low or (high is not None and value >= high):
        bound = f">= {low}" if high is None else f"in [{low}, {high})"
        raise ValueError(f"pretrain_layers: {name} must be {bound}, got {value!r}")
    return float(value)


def pretrain_layers(
    model: nn.Sequential,
    loader: Iterable,
    method: str = "autoencoder",
    epochs: int = 5,
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    corruption: float = 0.0,
    tied: bool = True,
    cd_steps: int = 1,
    reconstruction: str = "auto",
    layers: Sequence[int] | None = None,
    rng: numpy.random.Generator | None = None,
    log: Callable[[dict], None] | None = None,
) -> list[dict[str, Any]]:
    """Pre-train a network's hidden dense layers one by one, bottom up (module notes).

    Each chosen layer trains for ``epochs`` passes over ``loader`` while the layers below
    it, already pre-trained, are frozen and run in eval mode; its weight and bias are
    changed in place. Afterwards, fine-tune the whole model with
    :func:`xpnet.train.fit`.

    Args:
        model: an :class:`xpnet.nn.Sequential`, e.g. ``models.mlp(..., "sigmoid")``.
        loader: re-iterable batches ``(x, y)`` (y is ignored) or bare x, NumPy arrays;
            its ``set_epoch(e)`` is called when it has one (:class:`xpnet.data.DataLoader`).
        method: ``"autoencoder"`` or ``"rbm"`` (logistic hidden units only).
        epochs: passes over the data per layer (>= 1).
        lr, momentum, weight_decay: the SGD settings of each layer's training. Linear
            (Gaussian) visible units need a smaller rate than logistic ones (Hinton's
            guide: one to two orders of magnitude): on standardised MNIST, lr 0.05 with
            momentum 0.9 saturates every hidden unit of the first layer, 0.01 trains it.
        corruption: the autoencoder's masking noise: the share of inputs set to 0 before
            encoding, in [0, 1) (0: a plain autoencoder; Vincent et al. used 0.1-0.4).
        tied: the autoencoder decodes with W^T (True) or a matrix of its own.
        cd_steps: k of CD-k, Gibbs steps per update (>= 1).
        reconstruction: ``"auto"``, ``"sigmoid"`` or ``"linear"``: the decoder's output
            units (cost: sigmoid cross-entropy or squared error; RBM: logistic or
            Gaussian visible units). ``"auto"`` takes sigmoid when the layer's first
            batch of inputs lies in [0, 1].
        layers: indices in ``model`` of the Linear layers to pre-train; None: every one
            followed by Sigmoid/Tanh/ReLU except the last Linear.
        rng: the generator of the RBM's samples and the corruption masks (needed for
            method ``"rbm"`` or ``corruption > 0``).
        log: called after each layer's epoch with its record (for progress).

    Returns:
        One record per layer and epoch: ``{"layer": index, "method", "epoch": 1.., "loss":
        mean cost per example, "visible": "logistic" | "linear"}``.

    Raises:
        TypeError, ValueError: a model without hidden dense layers, a bad setting, an
            RBM over non-logistic units, an empty loader; each names what was wrong.
        NonFiniteError: a layer's cost became NaN or inf (the rate is too large); that
            layer keeps its weights from before the failing batch's update, the layers
            below their pre-trained ones.

    Example:
        >>> net = models.mlp((784, 500, 500, 10), activation="sigmoid", rng=rng)
        >>> pretrain_layers(net, loader, "rbm", epochs=5, rng=rng)
        >>> fit(net, SGD(net.parameters(), lr=0.1), loader, epochs=10)
    """
    if method not in METHODS:
        raise ValueError(f"pretrain_layers: method must be one of {METHODS}, got {method!r}")
    if reconstruction not in _RECONSTRUCTIONS:
        raise ValueError(f"pretrain_layers: reconstruction must be one of {_RECONSTRUCTIONS}, "
                         f"got {reconstruction!r}")
    for name, n in (("epochs", epochs), ("cd_steps", cd_steps)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"pretrain_layers: {name} must be an int >= 1, got {n!r}")
    args = {"epochs": epochs, "lr": _check("lr", lr, 0.0),
            "momentum": _check("momentum", momentum, 0.0),
            "weight_decay": _check("weight_decay", weight_decay, 0.0),
            "corruption": _check("corruption", corruption, 0.0, 1.0), "tied": bool(tied),
            "cd_steps": cd_steps, "reconstruction": reconstruction, "rng": rng}
    if (method == "rbm" or args["corruption"] > 0) and not isinstance(
            rng, numpy.random.Generator):
        raise ValueError(
            "pretrain_layers: method='rbm' and corruption > 0 draw random numbers: pass rng, "
            f"a numpy.random.Generator; got {rng!r}"
        )
    units = check_units(model, method, layers)
    history: list[dict[str, Any]] = []

    def record(entry: dict[str, Any]) -> None:
        history.append(entry)
        if log is not None:
            log(entry)

    was_training = model.training
    model.eval()  # the frozen layers below run without dropout
    try:
        for unit in units:
            (_rbm_layer if method == "rbm" else _autoencoder_layer)(unit, loader, args, record)
    finally:
        model.train(was_training)
    return history
