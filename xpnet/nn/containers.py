"""Containers: Sequential (a chain of layers) and ModuleList (a list of layers)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from xpnet.function import is_grad_enabled
from xpnet.nn import inference
from xpnet.nn.module import Module
from xpnet.tensor import Tensor

__all__ = ["ModuleList", "Sequential"]


def _check_module(m: Any, container: str, index: int) -> Module:
    if not isinstance(m, Module):
        raise TypeError(f"{container}: item {index} must be a Module, got {type(m).__name__}")
    return m


class ModuleList(Module):
    """A list of Modules whose parameters the container owns.

    The items are stored as attributes named ``"0"``, ``"1"``, ... so that parameter names
    read ``"2.weight"`` as in PyTorch.

    Args:
        modules: the initial items.

    Example:
        >>> blocks = ModuleList([Linear(4, 4) for _ in range(3)])
        >>> len(blocks), len(list(blocks.parameters()))
        (3, 6)
    """

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self._size = 0
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self."""
        setattr(self, str(self._size), _check_module(module, type(self).__name__, self._size))
        self._size += 1
        return self

    def _index(self, i: int) -> int:
        if not -self._size <= i < self._size:
            name = type(self).__name__
            raise IndexError(f"{name}: index {i} out of range for {self._size} items")
        return i % self._size

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return type(self)(list(self)[i])
        return getattr(self, str(self._index(i)))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Module]:
        return (getattr(self, str(i)) for i in range(self._size))


class Sequential(ModuleList):
    """Layers applied one after the other: y = f_k(... f_2(f_1(x))).

    Args:
        *modules: the layers, in order; children are named ``"0"``, ``"1"``, ...

    Shape:
        the first layer's input -> the last layer's output.

    Example:
        >>> net = Sequential(Flatten(), Linear(784, 256), ReLU(), Linear(256, 10))
        >>> [name for name, _ in net.named_parameters()]
        ['1.weight', '1.bias', '3.weight', '3.bias']
    """

    def __init__(self, *modules: Module) -> None:
        if len(modules) == 1 and isinstance(modules[0], (list, tuple)):
            modules = tuple(modules[0])  # Sequential([a, b]) as well as Sequential(a, b)
        super().__init__(modules)

    def forward(self, x: Any) -> Any:
        if not is_grad_enabled():  # inference: a traced plan of the layers, replayed on
            plan = inference.plan_for(self, x)  # arrays (xpnet.nn.inference)
            if plan is not None:
                return Tensor(plan(x.data))
        for m in self:
            x = m(x)
        return x
