"""Fused, numerically stable sigmoid (binary) cross-entropy on logits."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.loss._checks import batch_scale


class SigmoidCrossEntropy(Function):
    """E = scale sum_i [max(z_i, 0) - t_i z_i + log(1 + exp(-|z_i|))], scale 1 or 1/N.

    That is -sum_i [t_i log s_i + (1 - t_i) log(1 - s_i)] with s = sigmoid(z), written
    so that no exp overflows and no log sees 0. dE/dz = scale (s - t), dE/dt = -scale z.
    """

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def forward(self, z: Any, t: Any) -> Any:
        xp = backend.get_array_module(z)
        t = t.astype(z.dtype, copy=False)  # (same shape as z) targets in z's dtype
        e = xp.exp(-xp.abs(z))  # (same shape) exp(-|z|) in (0, 1]: never overflows
        loss = xp.maximum(z, 0) - t * z + xp.log1p(e)  # softplus(z) - t z, per element
        one = z.dtype.type(1)
        # sigmoid(z) from the same e: 1 / (1 + e) for z >= 0, e / (1 + e) below
        self.s = xp.where(z >= 0, one, e) / (one + e)  # (same shape) s = sigmoid(z)
        self.t = t  # (same shape) the targets, for dE/dz = s - t
        if self.needs_input_grad[1]:
            self.z = z  # (same shape) for dE/dt = -z
        return xp.asarray(loss.sum() * self.scale, dtype=z.dtype)

    def backward(self, gE: Any) -> tuple[Any, Any]:
        k = gE * self.scale
        gz = (self.s - self.t) * k if self.needs_input_grad[0] else None
        gt = -self.z * k if self.needs_input_grad[1] else None
        return gz, gt


def sigmoid_cross_entropy(z: Any, t: Any, reduction: str = "sum") -> Any:
    """Cross-entropy of independent Bernoulli outputs s = sigmoid(z) against targets t.

    E = -sum_i [t_i log s_i + (1 - t_i) log(1 - s_i)], computed from the logits z as
    sum_i [max(z_i, 0) - t_i z_i + log(1 + exp(-|z_i|))], which never overflows and is
    exact where s rounds to 0 or 1. The cost of an autoencoder that reconstructs inputs
    in [0, 1] (pixel intensities) through logistic output units, and of multi-label
    outputs. Its gradient is dE/dz = s - t: like the squared error's y - d, the output
    error, here with the logistic unit's f'(h) already cancelled.

    ``reduction="sum"`` sums over every element; ``"mean"`` divides that sum by the batch
    size N = z.shape[0] (each example's E, averaged over the mini-batch). Relation to
    PyTorch: ``binary_cross_entropy_with_logits(z, t, reduction="sum")`` is E_sum; its
    ``"mean"`` divides by every element, z.numel(), not by N.

    Args:
        z: logits, floating, shape (N, ...).
        t: targets in [0, 1] (not checked: other values give a finite but meaningless
            cost, as in PyTorch), same shape as z; cast to z's dtype.
        reduction: "sum" or "mean" (over the first axis).

    Returns:
        Scalar Tensor (shape ()) of z's dtype.

    Shape:
        z, t: (N, *) -> E: ().

    Example:
        >>> round(sigmoid_cross_entropy(Tensor([[0.0, 0.0]]), Tensor([[1.0, 0.0]])).item(), 4)
        1.3863
    """
    op = "sigmoid_cross_entropy"
    scale = batch_scale(op, ("z", "t"), z, t, reduction, floating="z (logits)")
    if t.dtype.kind not in "fiub":
        raise TypeError(f"{op}: t (targets) must be numeric, got dtype {t.dtype}")
    return SigmoidCrossEntropy(scale)(z, t)
