"""Squared error E = 1/2 sum (y - d)^2: the cost of back-propagation (Rumelhart et al. 1986)."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.loss._checks import batch_scale


class SquaredError(Function):
    """E = scale * 1/2 sum_i (y_i - d_i)^2 with scale 1 ("sum") or 1/N ("mean").

    dE/dy = scale (y - d), dE/dd = -scale (y - d).
    """

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def forward(self, y: Any, d: Any) -> Any:
        xp = backend.get_array_module(y)
        # (same shape as y) the error y - d in y's dtype, the only thing backward needs
        diff = xp.subtract(y, d, dtype=y.dtype)
        flat = diff.reshape(-1)  # view: diff is fresh and contiguous
        sq = flat @ flat  # sum of squares in one BLAS dot, no squared temporary
        self.diff = diff
        self.d_dtype = d.dtype  # dE/dd is returned in d's own dtype
        return xp.asarray(sq * (0.5 * self.scale), dtype=diff.dtype)

    def backward(self, gE: Any) -> tuple[Any, Any]:
        gy = self.diff * (gE * self.scale)  # scale * (y - d) * dE_total/dE
        gd = None
        if self.needs_input_grad[1]:
            xp = backend.get_array_module(gy)
            gd = xp.negative(gy) if self.needs_input_grad[0] else xp.negative(gy, out=gy)
            gd = gd.astype(self.d_dtype, copy=False)
        return (gy if self.needs_input_grad[0] else None), gd


def squared_error(y: Any, d: Any, reduction: str = "sum") -> Any:
    """The cost E = 1/2 sum_i (y_i - d_i)^2 of Rumelhart et al. 1986, y the output, d the
    label.

    ``reduction="sum"`` sums over every element of the batch; ``"mean"`` divides that sum
    by the batch size N = y.shape[0] (the mini-batch average of each example's E). Its
    gradient is dE/dy = y - d (times 1/N for "mean"): the output-layer error of
    back-propagation, dE/dh_i = (y_i - d_i) f'(h_i), with the factor f'(h_i) applied
    afterwards by the backward of the activation that produced y.

    Relation to PyTorch's ``nn.MSELoss``: ``MSELoss(reduction="sum")(y, d) = 2 E_sum``,
    and ``MSELoss(reduction="mean")`` averages over all N * K elements without the 1/2,
    so ``MSELoss()(y, d) = 2 E_sum / y.numel()`` (= 2 E_mean / K for y of shape (N, K)).

    Args:
        y: the network's output, floating, shape (N, ...).
        d: the desired output, same shape as y.
        reduction: "sum" or "mean" (over the first axis).

    Returns:
        Scalar Tensor (shape ()) of y's dtype.

    Shape:
        y, d: (N, *) -> E: ().

    Example:
        >>> squared_error(Tensor([[1.0, 2.0]]), Tensor([[0.0, 4.0]])).item()
        2.5
    """
    return SquaredError(batch_scale("squared_error", ("y", "d"), y, d, reduction))(y, d)
