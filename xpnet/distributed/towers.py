"""AlexNet's two towers on two ranks: model parallelism as Krizhevsky et al. (2012) ran it.

The paper trained its network on two GPUs, each holding half of the kernels of every
layer (a "tower"); the GPUs exchanged activations only where a layer reads both halves:
conv3 and the dense layers. xpnet's :func:`~xpnet.models.alexnet` computes the same
maths on one device with ``groups=2``; :class:`TowerModel` splits it for real. Rank r
(of R = groups) holds:

=========  ===========================================  =================================
layer      rank r holds                                  exchange before it (forward)
=========  ===========================================  =================================
conv1      output channels r (c1/R of them)              none: every rank reads the image
LRN 1, 2   its channels                                  halo: n//2 channels each side
conv2      group r (its input is rank r's conv1)         none
conv3      output channels r, reading ALL of pool2       all-gather of pool2
conv4, 5   group r                                       none
fc6        output units r, reading all of pool5          all-gather of pool5
fc7, fc8   output units r                                all-gather of the layer below
scores     every rank, after an all-gather of fc8        all-gather (gradient: own slice)
=========  ===========================================  =================================

The paper's towers normalised (LRN) within each GPU; xpnet's grouped AlexNet normalises
across all channels, so the channels next to the cut also read n//2 channels of the
other tower: the halo exchange, small (2 maps of each side per image) and needed for the
towers to compute exactly what the grouped model computes. Dropout after fc6 and fc7
runs on the gathered vector with the same generator state on every rank, so the masks
are the grouped model's. Pre-processing layers at the front are computed by every rank.

On the way back each exchange runs in reverse (see :mod:`xpnet.distributed.exchange`):
a reduce-scatter of the gathered gradient, the halos' gradients sent back. Every rank
holds the same scores and loss; the parameter gradients of rank r are the rows of the
grouped model's gradients that its tower holds.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy

from xpnet import backend, nn
from xpnet.distributed.comm import Communicator
from xpnet.distributed.exchange import ExchangeMeter, all_gather, halo_exchange
from xpnet.function import no_grad
from xpnet.tensor import Tensor

__all__ = ["TowerModel", "split_sizes"]

#: The layer types of the zoo's AlexNet after its pre-processing, in order.
_PATTERN = (nn.Conv2d, nn.ReLU, nn.LocalResponseNorm, nn.MaxPool2d,
            nn.Conv2d, nn.ReLU, nn.LocalResponseNorm, nn.MaxPool2d,
            nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.MaxPool2d,
            nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout,
            nn.Linear)
_NAMES = ("conv1", "relu1", "lrn1", "pool1", "conv2", "relu2", "lrn2", "pool2", "conv3",
          "relu3", "conv4", "relu4", "conv5", "relu5", "pool5", "flatten", "fc6", "relu6",
          "drop6", "fc7", "relu7", "drop7", "fc8")
#: Before which layers the ranks all-gather, and the exchange's name.
_GATHER = {"conv3": "pool2 -> conv3", "flatten": "pool5 -> fc6", "drop6": "fc6 -> fc7",
           "drop7": "fc7 -> fc8"}


def split_sizes(n: int, parts: int) -> list[int]:
    """``n`` rows cut into ``parts`` runs, the larger first: ``split_sizes(10, 3) == [4, 3, 3]``."""
    return [n // parts + (r < n % parts) for r in range(parts)]


class _Gather(nn.Module):
    """An all-gather step of the tower along axis 1 (no parameters)."""

    def __init__(self, comm: Communicator, meter: ExchangeMeter, name: str, counts: list[int],
                 mode: str, plane: int) -> None:
        super().__init__()
        self.comm, self.meter, self.name, self.counts, self.mode = comm, meter, name, counts, mode
        self.plane = plane  # elements per channel (H W), or 1 for features

    def forward(self, x: Any) -> Any:
        return all_gather(x, self.comm, self.counts, 1, self.mode, self.meter, self.name)

    def sent(self) -> tuple[int, int]:
        """Elements this rank sends per example: (forward, backward)."""
        r, size = self.comm.rank, self.comm.size
        own, total = self.counts[r] * self.plane, sum(self.counts) * self.plane
        return own * (size - 1), 0 if self.mode == "slice" else total - own

    def extra_repr(self) -> str:
        return f"{self.name!r}, counts={self.counts}, backward={self.mode}"


class _HaloLRN(nn.Module):
    """Local response normalisation of this rank's channels, with the neighbours' halos."""

    def __init__(self, comm: Communicator, meter: ExchangeMeter, lrn: nn.LocalResponseNorm,
                 name: str, plane: int) -> None:
        super().__init__()
        self.comm, self.meter, self.lrn, self.name, self.plane = comm, meter, lrn, name, plane
        self.before, self.after = lrn.size // 2, (lrn.size - 1) // 2

    def forward(self, x: Any) -> Any:
        y = self.lrn(halo_exchange(x, self.comm, self.before, self.after, self.meter,
                                   self.name))
        start = self.before if self.comm.rank > 0 else 0
        return y[:, start:start + x.shape[1]]  # (N, C_r, H, W): its own channels again

    def sent(self) -> tuple[int, int]:
        """Elements this rank sends per example: (forward, backward)."""
        right, left = self.comm.rank < self.comm.size - 1, self.comm.rank > 0
        forward = self.before * right + self.after * left  # my boundary channels
        backward = self.after * right + self.before * left  # the halos' gradients
        return forward * self.plane, backward * self.plane


class TowerModel(nn.Module):
    """One rank's tower of a grouped AlexNet; the R ranks together compute that network.

    Build it on every rank from the same grouped model (the zoo's ``alexnet`` or
    ``alexnet_small``, possibly with pre-processing layers in front, as a run's model).
    Its :meth:`state_dict` is the GROUPED model's, gathered from the ranks (a collective:
    every rank calls it), and :meth:`load_state_dict` takes one, so checkpoints load into
    the one-process model and back.

    Args:
        grouped: the grouped :class:`~xpnet.nn.Sequential`; its groups must equal R.
        comm: the job's communicator (R ranks).
        input_shape: one example's (C, H, W).
        meter: counts the bytes this rank sends (a new one by default).

    Attributes:
        steps: the tower's layers and exchanges, in order.
        meter: the :class:`~xpnet.distributed.exchange.ExchangeMeter`.

    Shape:
        (N, C, H, W) on every rank -> (N, K) on every rank.

    Raises:
        ValueError: a model that is not the zoo's AlexNet, or groups != R.

    Example:
        >>> tower = TowerModel(models.alexnet_small(seed=0), comm, (3, 64, 64))  # 2 ranks
        >>> print(tower.summary(batch_size=128))
    """

    def __init__(self, grouped: nn.Sequential, comm: Communicator,
                 input_shape: tuple[int, ...], meter: ExchangeMeter | None = None) -> None:
        super().__init__()
        self.comm, self.meter = comm, meter if meter is not None else ExchangeMeter()
        layers = list(grouped)
        start = _network_start(layers)
        shapes = _layer_shapes(layers, input_shape)  # each layer's output, one example
        if layers[start + 4].groups != comm.size:
            raise ValueError(f"towers: the model has groups={layers[start + 4].groups}, the "
                             f"job {comm.size} ranks; run it with mpiexec -n "
                             f"{layers[start + 4].groups}")
        self._prefix = [(str(i), copy.deepcopy(m)) for i, m in enumerate(layers[:start])]
        steps: list[nn.Module] = [m for _, m in self._prefix]
        rows: list[list[int]] = []  # per parameter: each rank's rows
        self._held: list[tuple[str, tuple[int, ...], int]] = []  # summary rows
        counts: list[int] = []  # each rank's channels (or features) of the activation
        previous = shapes[start - 1] if start else tuple(input_shape)
        for name, layer, shape in zip(_NAMES, layers[start:], shapes[start:]):
            plane = int(numpy.prod(previous[1:], dtype=numpy.int64))  # per channel
            if name in _GATHER:
                steps.append(_Gather(comm, self.meter, _GATHER[name], counts, "sum", plane))
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                grouped_input = isinstance(layer, nn.Conv2d) and layer.groups > 1
                part = _split_layer(layer, comm, counts if grouped_input else None)
                counts = split_sizes(_outputs(layer), comm.size)
                rows.extend([counts] * len(list(layer.parameters())))
                steps.append(part)
            elif isinstance(layer, nn.LocalResponseNorm):
                steps.append(_HaloLRN(comm, self.meter, copy.copy(layer), f"halo {name}",
                                      plane))
            else:
                steps.append(copy.deepcopy(layer))  # ReLU, pools, Flatten, Dropout (its rng)
            own = shape if name in ("flatten", "drop6", "drop7") else (counts[comm.rank],
                                                                        *shape[1:])
            self._held.append((name, own, sum(p.numel() for p in steps[-1].parameters())))
            previous = shape
        steps.append(_Gather(comm, self.meter, "fc8 -> scores", counts, "slice", 1))
        self.steps = nn.ModuleList(steps)
        names = [n for n, _ in grouped.named_parameters()]
        self._layout = list(zip(names, self.steps.parameters(), rows))  # (name, param, rows)

    def forward(self, x: Any) -> Any:
        for step in self.steps:
            x = step(x)
        return x

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """The grouped model's state (parameters gathered from every rank): a collective."""
        state = {g: self.comm.allgather(p.data, 0) for g, p, _ in self._layout}
        for i, m in self._prefix:
            state.update({f"{i}.{k}": v for k, v in m.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Take this rank's rows of a grouped model's state (and the shared layers').

        Raises:
            KeyError: with ``strict``, names missing or unknown (as Module's).
            ValueError: an array whose shape is not the grouped model's.
        """
        expected = {g for g, _, _ in self._layout}
        expected |= {f"{i}.{k}" for i, m in self._prefix for k in m._declared_buffers()}
        missing = sorted({g for g, _, _ in self._layout} - set(state))
        unexpected = sorted(set(state) - expected)
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing {missing}, unexpected {unexpected}")
        for i, (g, p, _) in enumerate(self._layout):
            if g in state:
                p.data = nn.Module._fitted(g, self.own_rows(i, state[g]), p.data)
        for i, m in self._prefix:
            own = {k[len(i) + 1:]: v for k, v in state.items() if k.startswith(f"{i}.")}
            m.load_state_dict(own, strict=strict)

    def own_rows(self, i: int, full: Any) -> Any:
        """This rank's rows of parameter ``i``'s full (grouped) array (``i`` counts the
        grouped model's parameters, which are the tower's in the same order)."""
        rows = self._layout[i][2]
        begin = sum(rows[: self.comm.rank])
        if full.shape[0] != sum(rows):
            raise ValueError(f"towers: {self._layout[i][0]} has {full.shape[0]} rows in the "
                             f"state, the grouped model {sum(rows)}")
        return full[begin:begin + rows[self.comm.rank]]

    def replicated_state(self) -> dict[str, Any]:
        """What every rank must hold identically: the shared layers' buffers and the
        dropout layers' generator states."""
        out: dict[str, Any] = {f"{i}.{k}": v for i, m in self._prefix
                               for k, v in m.state_dict().items()}
        for j, step in enumerate(self.steps):
            if isinstance(step, nn.Dropout):
                out[f"steps.{j}.rng"] = repr(step.rng.bit_generator.state)
        return out

    # ------------------------------------------------------------------- summary
    def exchange_bytes(self, batch_size: int) -> list[tuple[str, int, int]]:
        """(exchange, forward bytes, backward bytes) that THIS rank sends in one step of
        ``batch_size`` examples, from the layer shapes and the parameters' dtype."""
        item = numpy.dtype(self._layout[0][1].data.dtype).itemsize
        return [(s.name, *(n * item * batch_size for n in s.sent())) for s in self.steps
                if isinstance(s, (_Gather, _HaloLRN))]

    def summary(self, batch_size: int) -> str:
        """Which layers live where and the bytes exchanged per step, as a text table."""
        r = self.comm.rank
        lines = [f"towers: rank {r} of {self.comm.size} holds one tower",
                 f"  {'layer':<8} {'rank ' + str(r) + ' computes (one image)':<28} "
                 f"{'parameters':>11}"]
        for name, shape, params in self._held:
            where = "x".join(map(str, shape)) + (" (gathered)" if name in (
                "flatten", "drop6", "drop7") else "")
            lines.append(f"  {name:<8} {where:<28} {params:>11,}")
        lines.append(f"  exchanges, bytes rank {r} sends per step of {batch_size} images:")
        total = 0
        for name, fwd, back in self.exchange_bytes(batch_size):
            lines.append(f"    {name:<15} forward {fwd:>13,}   backward {back:>13,}")
            total += fwd + back
        lines.append(f"    {'total':<15} {total:>13,} bytes ({total / 2**20:.2f} MiB)")
        return "\n".join(lines)


def _network_start(layers: list[nn.Module]) -> int:
    """Where the AlexNet layers begin after the pre-processing ones; checks the pattern."""
    start = next((i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d)), None)
    net = layers[start:] if start is not None else []
    if len(net) != len(_PATTERN) or not all(type(m) is t for m, t in zip(net, _PATTERN)):
        raise ValueError("towers: the model is not the zoo's AlexNet (alexnet, alexnet_small)"
                         "; only its two towers can be split over ranks")
    return start


def _outputs(layer: Any) -> int:
    return layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features


def _split_layer(layer: Any, comm: Communicator, inputs: list[int] | None) -> Any:
    """This rank's rows (output channels or units) of a Conv2d or Linear, as a new layer
    (for a grouped convolution, rank r's rows are group r, reading rank r's channels)."""
    rows = split_sizes(_outputs(layer), comm.size)
    begin = sum(rows[: comm.rank])
    part = copy.copy(layer)
    part.weight = nn.Parameter(layer.weight.data[begin:begin + rows[comm.rank]].copy())
    if layer.bias is not None:
        part.bias = nn.Parameter(layer.bias.data[begin:begin + rows[comm.rank]].copy())
    if isinstance(layer, nn.Conv2d):
        part.out_channels = rows[comm.rank]
        part.in_channels = inputs[comm.rank] if inputs is not None else layer.in_channels
        part.groups = 1
    else:
        part.out_features = rows[comm.rank]
    return part


def _layer_shapes(layers: list[nn.Module], input_shape: tuple[int, ...]) -> list[tuple]:
    """Each layer's output shape for one example, by a pass of the grouped model on zeros."""
    dtype = next(p for m in layers for p in m.parameters()).data.dtype
    x = Tensor(backend.to_device(numpy.zeros((1, *input_shape), dtype),
                                 backend.device_of(next(layers[-1].parameters()).data)))
    shapes = []
    was = [m.training for m in layers]
    with no_grad():
        for m in layers:
            m.eval()
            x = m(x)
            shapes.append(tuple(x.shape[1:]))
    for m, t in zip(layers, was):
        m.train(t)
    return shapes
