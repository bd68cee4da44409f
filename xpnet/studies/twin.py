"""The PyTorch twin of an arm: the same network with the same initial weights, trained on
the same batches in the same order with the same SGD rule, by PyTorch's own layers.

Imported only under ``xpnet study --compare torch``: PyTorch is never a dependency of
xpnet. :func:`to_torch` maps each xpnet layer to PyTorch's (``Linear``, ``Conv2d``, the
pools, ``LocalResponseNorm``, ``Dropout``...) or to a few lines of PyTorch ops where it
has the pieces but not the layer (maxout: a ``Linear`` and a max over each unit's
pieces; a locally connected layer: ``unfold`` and one product per position; L2 pooling:
the square root of an average pool of squares). Fitted pre-processing at the front of a
model is applied to each batch by xpnet's own fitted step (it learns nothing), so both
frameworks train on the same inputs. A network with a layer PyTorch lacks (DropConnect)
raises :class:`NoTwinError`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy
import torch
from torch import nn as tnn
from torch.nn import functional as TF

import xpnet
from xpnet import cpu, nn
from xpnet import functions as xF
from xpnet import optim as xpnet_optim
from xpnet.data.preprocessing import Preprocessor
from xpnet.studies.arms import (
    Budget,
    ErrorWindow,
    Recipe,
    StudyProgress,
    Trained,
    examples_seen,
    make_loader,
    max_weight_difference,
    measured_from,
)
from xpnet.train.callbacks.base import TrainState
from xpnet.train.errors import NonFiniteError

__all__ = ["NoTwinError", "first_step", "to_torch", "train_torch"]


class NoTwinError(ValueError):
    """The network has a layer that PyTorch does not have."""


class Fixed(tnn.Module):
    """A fitted xpnet pre-processing step applied to the batch (nothing to learn)."""

    def __init__(self, step: Preprocessor) -> None:
        super().__init__()
        self.step = step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(numpy.ascontiguousarray(self.step.transform(x.numpy())))


class Maxout(tnn.Module):
    """h_i = max_k z_{i p + k}, z = x W^T + b: xpnet's MaxoutLinear in PyTorch ops."""

    def __init__(self, m: nn.MaxoutLinear) -> None:
        super().__init__()
        self.linear = tnn.Linear(m.in_features, m.out_features * m.pool_size,
                                 bias=m.bias is not None)
        self.units, self.pieces = m.out_features, m.pool_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)  # (N, units * pieces), unit by unit
        return z.view(len(x), self.units, self.pieces).max(dim=2).values  # (N, units)


class LocallyConnected(tnn.Module):
    """y[n, o, l] = sum_k W[l, o, k] cols[n, k, l] + b[o, l]: unshared kernels by unfold."""

    def __init__(self, m: nn.LocallyConnected2d) -> None:
        super().__init__()
        self.weight = tnn.Parameter(torch.from_numpy(m.weight.data.copy()))
        self.bias = None if m.bias is None else tnn.Parameter(
            torch.from_numpy(m.bias.data.copy()))
        self.kernel, self.stride, self.padding = m.kernel_size, m.stride, m.padding
        self.out_size, self.out_channels = m.output_size, m.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cols = TF.unfold(x, self.kernel, padding=self.padding, stride=self.stride)  # (N, K, L)
        oh, ow = self.out_size
        w = self.weight.reshape(oh * ow, self.out_channels, -1)  # (L, O, K)
        y = torch.einsum("lok,nkl->nol", w, cols).reshape(len(x), self.out_channels, oh, ow)
        return y if self.bias is None else y + self.bias


class L2Pool(tnn.Module):
    """sqrt(mean of x^2 over each window); the gradient is 0 where a window is all zero,
    as xpnet defines it (PyTorch's sqrt would give 0 * inf there)."""

    def __init__(self, m: nn.L2Pool2d) -> None:
        super().__init__()
        self.args = (m.kernel_size, m.stride, m.padding, m.ceil_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s, p, ceil = self.args
        mean = TF.avg_pool2d(x * x, k, s, p, ceil_mode=ceil, count_include_pad=True)
        return torch.sqrt(mean.clamp_min(torch.finfo(x.dtype).tiny))


def _layer(m: nn.Module) -> tnn.Module:
    """PyTorch's layer for one xpnet layer (weights copied afterwards)."""
    simple = {nn.ReLU: tnn.ReLU, nn.Tanh: tnn.Tanh, nn.Sigmoid: tnn.Sigmoid,
              nn.Identity: tnn.Identity}
    if isinstance(m, Preprocessor):
        return Fixed(m)
    if isinstance(m, nn.Conv2d):
        return tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                          m.dilation, m.groups, bias=m.bias is not None)
    if isinstance(m, nn.Linear):
        return tnn.Linear(m.weight.shape[1], m.weight.shape[0], bias=m.bias is not None)
    if isinstance(m, nn.MaxPool2d):
        return tnn.MaxPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode)
    if isinstance(m, nn.AvgPool2d):
        return tnn.AvgPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode,
                             count_include_pad=m.count_include_pad)
    if isinstance(m, nn.L2Pool2d):
        return L2Pool(m)
    if isinstance(m, nn.LocalResponseNorm):
        return tnn.LocalResponseNorm(m.size, m.alpha, m.beta, m.k)
    if isinstance(m, nn.Dropout):
        return tnn.Dropout(m.p)
    if isinstance(m, nn.Flatten):
        return tnn.Flatten(m.start_axis)
    if isinstance(m, nn.MaxoutLinear):
        return Maxout(m)
    if isinstance(m, nn.LocallyConnected2d):
        return LocallyConnected(m)
    if type(m) in simple:
        return simple[type(m)]()
    raise NoTwinError(f"PyTorch has no layer for xpnet's {type(m).__name__}")


def to_torch(model: nn.Sequential, dtype: torch.dtype = torch.float32
             ) -> tuple[tnn.Sequential, list[tnn.Parameter]]:
    """A PyTorch copy of an xpnet Sequential, and its parameters in xpnet's order.

    Args:
        model: the network (its parameters are copied, never shared).
        dtype: the copy's float type (the weights are copied after the cast).

    Raises:
        NoTwinError: a layer PyTorch does not have (DropConnect).
    """
    layers, params = [], []
    for m in model:
        t = _layer(m).to(dtype)
        target = t.linear if isinstance(t, Maxout) else t
        if isinstance(target, (tnn.Conv2d, tnn.Linear)):
            with torch.no_grad():
                target.weight.copy_(torch.from_numpy(m.weight.data))
                if m.bias is not None:
                    target.bias.copy_(torch.from_numpy(m.bias.data))
        layers.append(t)
        ours = [id(p) for p in m.parameters()]
        theirs = [p for p in t.parameters()]
        if len(ours) != len(theirs):
            raise NoTwinError(f"{type(m).__name__}: {len(ours)} parameters against {len(theirs)}")
        params.extend(theirs)
    return tnn.Sequential(*layers), params


def first_step(recipe: Recipe, seed: int) -> float:
    """The largest weight difference after one SGD step in float64 from the same weights
    on the arm's first batch: rounding then sits at 1e-16 of the weights, so anything
    larger would be a different computation (float32 trajectories drift further apart
    where training is chaotic, or where a max pool's equal values are told apart by
    rounding)."""
    model = recipe.build(seed).double()
    net, params = to_torch(model, torch.float64)
    batches = iter(make_loader(recipe, seed))
    x, y = next(batches)
    batches.close()  # stops the loader's worker
    x = x.astype(numpy.float64)
    settings = {"lr": recipe.lr, "momentum": recipe.momentum,
                "weight_decay": recipe.weight_decay}
    ours = xpnet_optim.SGD(model.parameters(), **settings)
    ours.zero_grad()
    xF.softmax_cross_entropy(model(xpnet.Tensor(x)), y).backward()
    ours.step()
    theirs = torch.optim.SGD(params, **settings)
    theirs.zero_grad()
    TF.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    theirs.step()
    return max_weight_difference([p.data for p in model.parameters()],
                                 [p.detach().numpy() for p in params])


def _accuracy(net: tnn.Module, x: numpy.ndarray, y: numpy.ndarray) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``net`` in inference mode, in batches of 500."""
    net.eval()
    right, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(x), 500):
            scores = net(torch.from_numpy(x[i:i + 500]))
            target = torch.from_numpy(y[i:i + 500])
            loss += float(TF.cross_entropy(scores, target, reduction="sum"))
            right += int((scores.argmax(1) == target).sum())
    net.train()
    return right / len(x), loss / len(x)


def _epoch(net: tnn.Module, opt: Any, loader: Any, state: TrainState, callbacks: list,
           window: ErrorWindow | None) -> dict[str, Any]:
    """One pass over the loader; the epoch's record (as xpnet's Trainer writes it)."""
    begin, seen, right, loss_sum = time.perf_counter(), 0, 0, 0.0
    for b, (x, y) in enumerate(loader):
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        opt.zero_grad()
        scores = net(xt)
        loss = TF.cross_entropy(scores, yt)
        loss.backward()
        opt.step()
        wrong, value = int((scores.argmax(1) != yt).sum()), loss.item()
        if not math.isfinite(value):
            raise NonFiniteError(f"non-finite training at step {state.step + 1} (epoch "
                                 f"{state.epoch + 1}): loss = {value}", step=state.step + 1,
                                 epoch=state.epoch)
        seen, right, loss_sum = seen + len(y), right + len(y) - wrong, loss_sum + value * len(y)
        state.batch, state.step, state.loss = b + 1, state.step + 1, value
        state.images_per_sec = seen / max(time.perf_counter() - begin, 1e-9)
        if window is not None:
            window.add(wrong, len(y), state.step)
        for c in callbacks:
            c.on_batch_end(state)
    return {"epoch": state.epoch + 1, "step": state.step, "train_loss": loss_sum / seen,
            "train_accuracy": right / seen, "time": time.perf_counter() - begin}


def train_torch(recipe: Recipe, seed: int, ctx: Any) -> Trained:
    """Train the arm's PyTorch twin: the network ``recipe.build(seed)`` copied, the same
    loader, ``torch.optim.SGD`` with the same settings; dropout masks from
    ``torch.manual_seed(seed)``. Returns what :func:`xpnet.studies.arms.train_xpnet`
    returns, measured the same way."""
    torch.manual_seed(seed)
    torch.set_num_threads(cpu.get_num_threads())
    net, params = to_torch(recipe.build(seed))
    opt = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                          weight_decay=recipe.weight_decay)
    schedule = (torch.optim.lr_scheduler.StepLR(opt, recipe.decay_every, 0.1)
                if recipe.decay_every else None)
    loader: Any = make_loader(recipe, seed)
    budget = Budget(loader, recipe.seconds) if recipe.seconds else None
    loader = budget or loader
    window = ErrorWindow(recipe.window, len(loader)) if recipe.window else None
    callbacks = [StudyProgress()] if ctx.progress else []
    state = TrainState(epochs=recipe.epochs, batches_per_epoch=len(loader))
    history, weights = [], None
    for c in callbacks:
        c.on_train_begin(state)
    for epoch in range(recipe.epochs):
        state.epoch = epoch
        loader.set_epoch(epoch)
        net.train()
        record = _epoch(net, opt, loader, state, callbacks, window)
        if recipe.test_each_epoch:
            record["val_accuracy"], record["val_loss"] = _accuracy(net, *recipe.test)
        history.append(record)
        if schedule is not None:
            schedule.step()
        state.metrics = record
        for c in callbacks:
            c.on_epoch_end(state)
        if epoch == 0:
            weights = [p.detach().numpy().copy() for p in params]
        if budget is not None and budget.over:
            break
    for c in callbacks:
        c.on_train_end(state)
    acc, loss = _accuracy(net, *recipe.test)
    seen = examples_seen(len(recipe.train[0]), recipe.batch_size, state.step)
    measured = measured_from(history, {"accuracy": acc, "loss": loss}, seen, window,
                             len(loader))
    return Trained(measured, lambda x, y: _accuracy(net, x, y)[0], net, weights)
