"""AlexNet's update rule: momentum 0.9 and weight decay 0.0005 inside the velocity."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy

from xpnet import backend
from xpnet.cpu.optim import run_update, update_kernels
from xpnet.optim.optimizer import Optimizer, _check_number
from xpnet.tensor import Tensor

__all__ = ["AlexNetSGD"]


class AlexNetSGD(Optimizer):
    """Krizhevsky, Sutskever & Hinton (2012), section 5, word for word::

        v_{i+1} = 0.9 v_i - 0.0005 eps w_i - eps <dL/dw | w_i>_{D_i}
        w_{i+1} = w_i + v_{i+1}

    with v the momentum variable (zero at the start), eps the learning rate ``lr`` and
    <dL/dw>_{D_i} the gradient averaged over the i-th batch D_i. The paper notes that the
    small weight decay "is not merely a regularizer: it reduces the model's training
    error".

    How it differs from :class:`xpnet.optim.SGD` with the same numbers: there the
    learning rate multiplies the buffer at each step (w <- w - lr b, b <- 0.9 b + g + wd w);
    here it multiplies each gradient as it enters v. With a constant lr both give the same
    trajectory (v = -lr b), but when a schedule divides lr by 10 the old velocity keeps its
    size here and is scaled down at once in SGD.

    Args:
        params: the Tensors to train.
        lr: eps, the learning rate (AlexNet started at 0.01).
        momentum: the factor on v (0.9).
        weight_decay: the factor on w (0.0005).

    Example:
        >>> opt = AlexNetSGD(model.parameters(), lr=0.01)
        >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    hyperparameters = ("momentum", "weight_decay")

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0005,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _check_number(momentum, "momentum", "AlexNetSGD")
        self.weight_decay = _check_number(weight_decay, "weight_decay", "AlexNetSGD")

    def update(self, i: int, p: Tensor, g: Any) -> None:
        v = self.state.get(i, {}).get("velocity")
        kernels = update_kernels(p.data, g, *(() if v is None else (v,)))
        if kernels is not None:  # one compiled pass, bit-identical to the path below
            if v is None:
                v = self.state.setdefault(i, {})["velocity"] = numpy.zeros_like(p.data)
            scalar = p.data.dtype.type
            run_update(  # in slices over the threads for a large parameter
                kernels.alexnet_update, (p.data.reshape(-1), g.reshape(-1), v.reshape(-1)),
                scalar(self.lr), scalar(self.momentum), scalar(self.weight_decay * self.lr))
            return
        xp = backend.get_array_module(p.data)
        w = p.data
        state = self.state.setdefault(i, {})
        v = state.get("velocity")
        if v is None:
            v = state["velocity"] = xp.zeros_like(w)
        else:
            v *= self.momentum  # 0.9 v
        tmp = xp.multiply(g, self.lr)  # eps g
        v -= tmp
        if self.weight_decay:
            xp.multiply(w, self.weight_decay * self.lr, out=tmp)  # 0.0005 eps w
            v -= tmp
        w += v
