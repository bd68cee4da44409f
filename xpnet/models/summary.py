"""summary(): a table of layers, output shapes, parameters and FLOPs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy

from xpnet.function import no_grad
from xpnet.nn.containers import Sequential
from xpnet.nn.module import Module
from xpnet.tensor import Tensor

__all__ = ["LayerInfo", "ModelSummary", "summary"]


@dataclass
class LayerInfo:
    """One row of a summary: the layer's name, its repr, output shape, parameters, FLOPs."""

    name: str
    layer: str
    output_shape: tuple[int, ...]
    parameters: int
    flops: int


@dataclass
class ModelSummary:
    """What :func:`summary` returns: the rows and their totals; ``str()`` is the table."""

    input_shape: tuple[int, ...]
    rows: list[LayerInfo] = field(default_factory=list)

    @property
    def total_parameters(self) -> int:
        """Learnable scalars of the whole model."""
        return sum(r.parameters for r in self.rows)

    @property
    def total_flops(self) -> int:
        """Floating-point operations of one forward pass of one example."""
        return sum(r.flops for r in self.rows)

    def __str__(self) -> str:
        head = ("layer", "type", "output shape", "params", "FLOPs")
        body = [
            (r.name, r.layer, str(r.output_shape), f"{r.parameters:,}", f"{r.flops:,}")
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(5)]
        fmt = "  ".join(f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths))
        lines = [f"input {self.input_shape}", fmt.format(*head), "-" * (sum(widths) + 8)]
        lines += [fmt.format(*row) for row in body]
        lines.append("-" * (sum(widths) + 8))
        lines.append(f"total parameters: {self.total_parameters:,}")
        lines.append(f"total FLOPs per example (forward): {self.total_flops:,}")
        return "\n".join(lines)


def _leaves(module: Module, prefix: str = "") -> list[tuple[str, Module]]:
    """The layers of nested Sequentials, flattened, with dotted names."""
    if not isinstance(module, Sequential):
        return [(prefix or type(module).__name__, module)]
    out = []
    for name, child in module.named_children():
        out += _leaves(child, f"{prefix}.{name}" if prefix else name)
    return out


def _flops(layer: Module, out_shape: tuple[int, ...]) -> int:
    """2 x multiply-adds of a layer's weights for one example (0 for weight-free layers).

    A shared-kernel layer (4-D weight, 4-D output) applies every weight at each of the
    oH x oW positions; a dense or locally connected weight is used once per example.
    """
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, Tensor):
        return 0
    macs = weight.numel()
    if weight.ndim == 4 and len(out_shape) == 4:
        macs *= out_shape[2] * out_shape[3]
    return 2 * macs


def summary(
    model: Module, input_shape: tuple[int, ...], dtype: Any = numpy.float32
) -> ModelSummary:
    """Run one zero batch through ``model`` and tabulate every layer.

    Args:
        model: a Module; the layers of (nested) Sequentials get a row each, any other
            module is one row.
        input_shape: one example's shape, without the batch axis, e.g. (1, 28, 28).
        dtype: the dtype of the probe batch.

    Returns:
        A :class:`ModelSummary`; ``print(summary(...))`` shows the table. FLOPs count
        2 x the multiply-adds of the weighted layers for one example's forward pass.

    Raises:
        ValueError: the input shape does not fit the model (the failing layer is named).

    Example:
        >>> print(summary(lenet5(seed=0), (1, 28, 28)))   # doctest: +SKIP
    """
    input_shape = tuple(int(n) for n in input_shape)
    result = ModelSummary(input_shape)
    was_training = model.training
    model.eval()
    try:
        x = Tensor(numpy.zeros((1, *input_shape), dtype=dtype))
        with no_grad():
            for name, layer in _leaves(model):
                try:
                    x = layer(x)
                except ValueError as err:
                    raise ValueError(f"summary: layer {name} ({type(layer).__name__}) refused "
                                     f"input of shape {x.shape}: {err}") from None
                shape = tuple(x.shape[1:])
                params = sum(p.numel() for p in layer.parameters())
                result.rows.append(LayerInfo(name, type(layer).__name__, shape, params,
                                             _flops(layer, x.shape)))
    finally:
        model.train(was_training)
    return result
