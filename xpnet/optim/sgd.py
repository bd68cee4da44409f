"""Stochastic gradient descent with momentum, dampening, weight decay and Nesterov."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy

from xpnet import backend
from xpnet.cpu.optim import run_update, update_kernels
from xpnet.optim.optimizer import Optimizer, _check_number
from xpnet.tensor import Tensor

__all__ = ["SGD"]


class SGD(Optimizer):
    """Steepest descent, w <- w - lr dE/dw, with PyTorch's momentum and weight decay.

    For each parameter w with gradient g, one step is (exactly PyTorch's ``torch.optim.SGD``)::

        g <- g + weight_decay * w                                  (if weight_decay)
        b <- g                              on the first step      (if momentum)
        b <- momentum * b + (1 - dampening) * g   afterwards
        g <- g + momentum * b  if nesterov, else  g <- b
        w <- w - lr * g

    Full-batch, online and mini-batch descent are this same rule: only the number of
    examples averaged into g changes (N, 1 or B). The update runs in place on ``w`` and
    the buffer b, through ``out=`` forms, with at most one temporary array per parameter.
    AlexNet's variant, where the learning rate multiplies inside the momentum, is
    :class:`xpnet.optim.AlexNetSGD`.

    Args:
        params: the Tensors to train.
        lr: learning rate (>= 0).
        momentum: momentum factor (>= 0).
        dampening: dampening of the gradient added to the buffer.
        weight_decay: L2 penalty coefficient (>= 0).
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0).

    Example:
        >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    hyperparameters = ("momentum", "dampening", "weight_decay", "nesterov")

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _check_number(momentum, "momentum", "SGD")
        self.dampening = _check_number(dampening, "dampening", "SGD")
        self.weight_decay = _check_number(weight_decay, "weight_decay", "SGD")
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(
                f"SGD: nesterov needs momentum > 0 and dampening 0, got momentum="
                f"{self.momentum}, dampening={self.dampening}"
            )

    def update(self, i: int, p: Tensor, g: Any) -> None:
        if self._update_compiled(i, p.data, g):
            return
        xp = backend.get_array_module(p.data)
        w = p.data
        tmp = None  # the one scratch array this update may allocate
        if self.weight_decay:
            tmp = xp.multiply(w, self.weight_decay)
            tmp += g  # g + weight_decay * w, without touching the (shared) gradient
            g = tmp
        if self.momentum:
            state = self.state.setdefault(i, {})
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy() if g is not tmp else g
                tmp = None if g is tmp else tmp  # tmp now belongs to the state
            else:
                buf *= self.momentum
                if self.dampening:
                    tmp = xp.multiply(g, 1.0 - self.dampening, out=tmp)
                    buf += tmp
                else:
                    buf += g
            if self.nesterov:
                tmp = xp.multiply(buf, self.momentum, out=tmp if tmp is not g else None)
                tmp += g
                g = tmp
            else:
                g = buf
        # w <- w - lr * g
        if tmp is None:
            tmp = xp.multiply(g, self.lr)
        else:
            xp.multiply(g, self.lr, out=tmp)
        w -= tmp

    def _update_compiled(self, i: int, w: Any, g: Any) -> bool:
        """The same update in one compiled pass (see :mod:`xpnet.cpu.optim_kernels`), if it
        can: when :func:`xpnet.cpu.optim.update_kernels` accepts ``w``, ``g`` and the
        momentum buffer; returns False (nothing done) otherwise.
        """
        buf = self.state.get(i, {}).get("momentum_buffer") if self.momentum else None
        kernels = update_kernels(w, g, *(() if buf is None else (buf,)))
        if kernels is None:
            return False
        first = self.momentum and buf is None
        if first:
            buf = self.state.setdefault(i, {})["momentum_buffer"] = numpy.empty_like(w)
        elif buf is None:
            buf = w  # without momentum the kernel does not touch the buffer
        scalar = w.dtype.type
        run_update(  # in slices over the threads for a large w: the same bits
            kernels.sgd_update, (w.reshape(-1), g.reshape(-1), buf.reshape(-1)),
            scalar(self.lr), scalar(self.momentum), scalar(1.0 - self.dampening),
            scalar(self.weight_decay), self.nesterov, bool(first),
        )
        return True
