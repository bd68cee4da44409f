"""Module and Parameter: layers that own weights, found by walking attributes in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy

from xpnet import backend
from xpnet.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a learnable weight of a Module (always ``requires_grad``).

    Args:
        data: the initial array (kept, not copied).
    """

    def __init__(self, data: Any) -> None:
        super().__init__(data, requires_grad=True)

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__()[len("Tensor(") :]


class Module:
    """Base class of every layer and network.

    A subclass sets its Parameters, sub-Modules and buffers (non-learned arrays, such as
    a fitted mean) as attributes in ``__init__`` and writes ``forward``. Calling the module
    calls ``forward``. Parameters are found by walking the attributes in the order they
    were set, so names are stable (``"0.weight"``, ``"conv1.bias"``) and match PyTorch's.

    Attributes:
        training: True in training mode (dropout active), False after ``eval()``.
    """

    def __init__(self) -> None:
        self.training = True
        self._buffers: list[str] = []

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the module's output; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ walking
    def register_buffer(self, name: str, value: Any) -> None:
        """Store a non-learned array under ``name``, saved in ``state_dict``."""
        if "_buffers" not in self.__dict__:
            raise RuntimeError("call Module.__init__() before register_buffer")
        setattr(self, name, value)
        if name not in self._buffers:
            self._buffers.append(name)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules with their attribute names, in order."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        """Direct sub-modules, in order."""
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, with dotted names (this one is ``""``)."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant."""
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every Parameter with its dotted name, in attribute order, each once."""
        seen: set[int] = set()
        for mod_name, module in self.named_modules(prefix):
            for name, value in vars(module).items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{mod_name}.{name}" if mod_name else name), value

    def parameters(self) -> Iterator[Parameter]:
        """Every Parameter, in attribute order."""
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self) -> Iterator[tuple[str, Any]]:
        """Every buffer array with its dotted name."""
        for mod_name, module in self.named_modules():
            for name in module._buffers:
                value = getattr(module, name)
                if value is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), value

    def num_parameters(self) -> int:
        """Total number of learnable scalars."""
        return sum(p.numel() for p in self.parameters())

    # -------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Name -> array for every Parameter and buffer (the arrays themselves, not copies)."""
        state = {name: p.data for name, p in self.named_parameters()}
        state.update(self.named_buffers())
        return state

    def _declared_buffers(self) -> dict[str, tuple[Module, str]]:
        """Every registered buffer name, set or still None, -> (its module, attribute)."""
        return {(f"{mod_name}.{name}" if mod_name else name): (module, name)
                for mod_name, module in self.named_modules() for name in module._buffers}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy arrays into the Parameters and buffers of the same names.

        Arrays are moved to each Parameter's device and cast to its dtype. A buffer that
        is registered but still None (a pre-processing step not fitted yet) takes the
        state's array as it is; a state may also leave such a buffer out.

        Raises:
            KeyError: with ``strict``, names missing from ``state`` or unknown to the model.
            ValueError: a shape differs from the model's.
        """
        own = dict(self.named_parameters())
        declared = self._declared_buffers()
        expected = set(own) | {n for n, (m, a) in declared.items() if getattr(m, a) is not None}
        if strict:
            missing = sorted(expected - set(state))
            unexpected = sorted(set(state) - set(own) - set(declared))
            if missing or unexpected:
                raise KeyError(f"load_state_dict: missing {missing}, unexpected {unexpected}")
        for name, value in state.items():
            if name in own:
                own[name].data = self._fitted(name, value, own[name].data)
            elif name in declared:
                module, attr = declared[name]
                target = getattr(module, attr)
                setattr(module, attr, value if target is None else
                        self._fitted(name, value, target))

    @staticmethod
    def _fitted(name: str, value: Any, target: Any) -> Any:
        """``value`` on ``target``'s device and dtype, after checking that the shapes agree."""
        if tuple(value.shape) != tuple(target.shape):
            raise ValueError(
                f"load_state_dict: {name} has shape {tuple(value.shape)} in the state, "
                f"{tuple(target.shape)} in the model"
            )
        return backend.to_device(value, backend.device_of(target)).astype(target.dtype)

    # ------------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and its descendants; returns self."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        """Set inference mode (dropout off); returns self."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every Parameter's gradient."""
        for p in self.parameters():
            p.grad = None

    def to(self, device: str) -> Module:
        """Move every Parameter, gradient and buffer to ``device`` in place; returns self."""
        backend.check_device(device)
        for p in self.parameters():
            p.data = backend.to_device(p.data, device)
            if p.grad is not None:
                p.grad = backend.to_device(p.grad, device)
        for m in self.modules():
            for name in m._buffers:
                value = getattr(m, name)
                if value is not None:
                    setattr(m, name, backend.to_device(value, device))
        return self

    def astype(self, dtype: Any) -> Module:
        """Cast every Parameter and floating buffer to ``dtype`` in place; returns self."""
        dt = backend.float_dtype(dtype)
        for p in self.parameters():
            p.data = p.data.astype(dt)
            p.grad = None
        for m in self.modules():
            for name in m._buffers:
                value = getattr(m, name)
                if value is not None and value.dtype.kind == "f":
                    setattr(m, name, value.astype(dt))
        return self

    def double(self) -> Module:
        """Cast to float64 (for gradient checks); returns self."""
        return self.astype(numpy.float64)

    def float(self) -> Module:
        """Cast to float32; returns self."""
        return self.astype(numpy.float32)

    # -------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The arguments shown between the parentheses of ``repr``; layers override it."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        lines.append(")")
        return "\n".join(lines)
