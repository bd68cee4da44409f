"""Inference plans: a Sequential's layers replayed on arrays, with no graph and no Tensors.

Why: at small batches a network's inference is mostly the cost of calling its ops, not
their arithmetic. Each layer call goes through the Module, the op's argument checks, a
new :class:`~xpnet.function.Function` and a Tensor for its output (LeNet-5 on one
image: 235 us, of which its convolutions' sums are about 30). Under ``no_grad`` a
:class:`~xpnet.nn.Sequential` whose layers are all in eval mode instead replays a plan
traced once for the input's shape: each layer's Function, already set up, runs its
``forward`` on the previous layer's array (94 us for that LeNet-5).

Tracing: the layers run once on a probe Tensor of the input's shape with the graph
recorded; a layer whose output was made by one Function from exactly its input and its
own parameters becomes a step that calls that Function's ``forward`` again (with no
input needing a gradient, so it saves nothing), reading the parameters' arrays at every
run, so that updated weights are seen. A ReLU becomes a step that clips the previous
step's output in place when the plan made that array (a fused bias + activation at no
extra allocation; by xpnet's compiled in-place pass, :func:`xpnet.cpu.relu.forward_inplace`,
at 15 times NumPy's speed), or, after a max pool, part of the pool's step: the pool's kernels
clip its output as they store it, one pass over it saved; any other layer becomes a
step that calls the layer on a Tensor as usual. The results are those of the layers'
own path, bit for bit (the same forward code on the same arrays, the fused ReLU with
NumPy's rules for -0 and NaN); the tests compare every zoo model both ways. One exception:
a plan made only of dense and element-wise layers (an MLP) runs each Linear's product
as one BLAS call on BLAS's own threads (:func:`xpnet.cpu.dense.blas_threads`: nothing
in it splits over xpnet's threads, whose hand-offs cost more than BLAS's), and BLAS's
threads may cut a product's sums otherwise than one thread does: its results can then
differ from the layers' in the last bit (at most 1.4e-7 on the MLPs of
bench/bench_mlp.py). There a Linear's bias and the ReLU after it are one compiled pass
over the product (:func:`xpnet.cpu.dense.forward_whole`), with the add's and the ReLU's
bits. Not where the register blocks take one of its products (8 to 256
examples without gradients, :func:`xpnet.cpu.dense.blocks_take`): such a plan runs on
xpnet's threads, the layers' own path, bit for bit.

A plan belongs to its Sequential and is keyed on the input's shape, dtype and strides
and on the identity of each layer; it assumes, like the rest of xpnet, that a layer's
settings (stride, padding, ...) are fixed at construction. NumPy arrays only: on the
GPU the layers run as usual, and so they do inside
``xpnet.cpu.engines(inference="layers")``.

Example:
    >>> net.eval()
    >>> with xpnet.no_grad():
    ...     y = net(x)        # traced on the first call for x's shape, replayed after
"""

from __future__ import annotations

from typing import Any

import numpy

from xpnet.cpu import dense
from xpnet.cpu import relu as cpu_relu
from xpnet.cpu.kernels import load
from xpnet.cpu.settings import current
from xpnet.function import enable_grad
from xpnet.nn.module import Module
from xpnet.tensor import Tensor

__all__ = ["InferencePlan", "plan_for"]

#: Plans kept per Sequential (one per input shape; an epoch's last, smaller batch is
#: a second shape).
MAX_PLANS = 4


class InferencePlan:
    """The steps of one Sequential for inputs of one shape, dtype and layout.

    Steps (``kind``, ...): ``("call", fn, params, kinds, m, linear, view)``:
    ``fn.forward(a, *params' arrays)`` while the parameters' array types and dtypes are
    those of the trace (``kinds``; else the layer ``m`` as usual), a Linear's
    (``linear``) as one BLAS call on BLAS's threads in a plan of dense layers only
    (:attr:`dense_only`); ``view``: its output may share its input's memory (Flatten's
    reshape), so it is the plan's own only where the input was;
    ``("linear_relu", ...)``: a Linear's call step and the ReLU after it, in
    :attr:`whole_steps` only (the ReLU in the bias's pass on BLAS's threads);
    ``("relu",)``: max(a, 0), in place on arrays the plan made; ``("pool_relu", fn,
    m)``: a max pool and the ReLU after it in one pass (:func:`_fuse_pool_relu`);
    ``("same",)``: the layer
    returns its input (Identity, Dropout in eval mode) or a view of it of the same shape
    (Flatten with nothing to merge); ``("module", m)``:
    ``m(Tensor(a)).data``, for every layer not listed in :func:`_replayable`.
    """

    def __init__(self, steps: list[tuple], layers: tuple = ()) -> None:
        self.steps = steps
        self.layers = layers  # held, so that no layer's id is reused while the plan lives
        # Only dense products and element-wise layers: nothing splits over xpnet's
        # threads, so the products run whole on BLAS's threads (cpu.dense.blas_threads)
        self.dense_only = bool(layers) and all(isinstance(m, _dense_only()) for m in layers)
        # each Linear's outputs: where the register blocks take one of its products, a
        # dense-only plan runs on xpnet's threads, not BLAS's (cpu.dense.blocks_take)
        self.linear_outs = tuple(step[2][0].shape[0] for step in steps
                                 if step[0] == "call" and step[5])
        # the steps on BLAS's threads: a Linear and the ReLU after it as one
        # ("linear_relu", ...) step, the ReLU in the bias's pass (cpu.dense.forward_whole)
        self.whole_steps = _fuse_linear_relu(steps) if self.dense_only else steps

    @classmethod
    def trace(cls, layers: list[Any], x: Any) -> InferencePlan | None:
        """Trace ``layers`` on a probe of float array ``x`` (module docstring); None when
        a layer does not hand on one float Tensor."""
        steps: list[tuple] = []
        with enable_grad():
            h = Tensor(x, requires_grad=True)
            for m in layers:
                out = m(h)
                if not isinstance(out, Tensor) or out.data.dtype.kind != "f":
                    return None
                steps.append(_step(m, h, out))
                h = out if out.requires_grad else Tensor(out.data, requires_grad=True)
        return cls(_fuse_pool_relu(steps), tuple(layers))

    def __call__(self, a: Any) -> Any:
        """Run the plan on array ``a``; returns the last layer's array."""
        scope = dense.blas_threads() if self.dense_only and not self._on_blocks(a) else None
        if scope is None:
            return self._run(a, False)
        with scope:
            return self._run(a, True)

    def _on_blocks(self, a: Any) -> bool:
        """Whether the register blocks take a Linear's product for input ``a``: then
        the products run on xpnet's threads (the blocks' W x^T on two threads beat
        OpenBLAS's on its own: the MLP 784-1024-1024-10 at batch 32, 0.74-0.88 against
        1.01-1.09 ms, separate processes), and none on BLAS's."""
        m = a.shape[0] if a.ndim else 1
        return (any(dense.blocks_take(m, out, grad=False) for out in self.linear_outs)
                and load("dense_blocks", a) is not None)

    def _run(self, a: Any, whole: bool) -> Any:
        """The steps on ``a``; ``whole``: a Linear's product as one BLAS call
        (:func:`xpnet.cpu.dense.forward_whole`), on the threads BLAS has, with the ReLU
        after it in the bias's pass (:attr:`whole_steps`)."""
        owned = False  # whether a is an array this plan made (free to clip in place)
        for step in self.whole_steps if whole else self.steps:
            kind = step[0]
            if kind == "call" or kind == "linear_relu":
                arrays = [p.data for p in step[2]]
                for v, (t, d) in zip(arrays, step[3]):
                    if type(v) is not t or v.dtype != d:  # a parameter moved or was cast
                        a = step[4](Tensor(a)).data  # since the trace: the layer's path
                        owned = False
                        break
                else:
                    if whole and step[5] and a.ndim == 2:
                        a = dense.forward_whole(a, *arrays, relu=kind == "linear_relu")
                        owned = True
                        continue
                    a = step[1].forward(a, *arrays)
                    owned = owned or not step[6]  # a view of the caller's array is not ours
                if kind == "linear_relu":
                    a, owned = _relu(a, owned, whole)
            elif kind == "relu":
                a, owned = _relu(a, owned, whole)
            elif kind == "pool_relu":
                a = step[1].forward_relu(a)  # max(max pool(a), 0), the ReLU fused
                owned = True
            elif kind == "module":
                a = step[1](Tensor(a)).data
                owned = False  # a layer may hand back (a view of) something it keeps
        return a


def _relu(a: Any, owned: bool, whole: bool) -> tuple[Any, bool]:
    """(max(a, 0), True): in place where the plan made ``a`` (``owned``), by the
    compiled pass (on this thread where ``whole``: among BLAS's threads), else NumPy's,
    with the bits of F.relu either way."""
    if owned and a.flags.writeable:
        if not cpu_relu.forward_inplace(a, split=not whole):
            numpy.maximum(a, 0, out=a)
        return a, True
    return numpy.maximum(a, 0), True


def _replayable() -> tuple[type, ...]:
    """Layers whose forward is one Function of (input, their parameters), the same in
    training and eval mode."""
    from xpnet import nn  # noqa: PLC0415  (nn imports this module)

    return (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.LocallyConnected2d, nn.MaxPool2d,
            nn.AvgPool2d, nn.L2Pool2d, nn.LocalResponseNorm, nn.Flatten, nn.Sigmoid,
            nn.Tanh)


def _step(m: Any, h: Tensor, out: Tensor) -> tuple:
    """The step that replays layer ``m``, which made ``out`` from ``h`` in the trace."""
    from xpnet import nn  # noqa: PLC0415

    if isinstance(m, nn.ReLU):
        return ("relu",)
    if isinstance(m, (nn.Identity, nn.Dropout)) and out is h:
        return ("same",)  # Dropout: eval mode (the plan's key holds the mode)
    if isinstance(m, nn.Flatten) and out.shape == h.shape:
        return ("same",)  # nothing to merge (an MLP's 2-d input): 1.4 us saved a call
    fn = out.creator
    params = list(m.parameters())
    if (isinstance(m, _replayable()) and fn is not None and len(fn.outputs) == 1
            and fn.outputs[0]() is out and len(fn.inputs) == 1 + len(params)
            and fn.inputs[0] is h and all(t is p for t, p in zip(fn.inputs[1:], params))):
        fn.needs_input_grad = (False,) * len(fn.inputs)  # forward saves nothing now
        del fn.inputs, fn.outputs  # the probe's graph is not kept
        kinds = [(type(p.data), p.data.dtype) for p in params]
        # whether the output may be a view of the input (Flatten): fixed for the plan's
        # key (shape and strides), so read once here
        view = bool(numpy.may_share_memory(out.data, h.data))
        return ("call", fn, params, kinds, m, isinstance(m, nn.Linear), view)
    return ("module", m)


def _fuse_relus(steps: list[tuple], merge: Any) -> list[tuple]:
    """``steps`` with each ReLU step merged into the step before it where
    ``merge(that step)`` gives the merged step (None: the ReLU stays a step)."""
    fused: list[tuple] = []
    for step in steps:
        merged = merge(fused[-1]) if step[0] == "relu" and fused else None
        if merged is None:
            fused.append(step)
        else:
            fused[-1] = merged
    return fused


def _fuse_pool_relu(steps: list[tuple]) -> list[tuple]:
    """``steps`` with each max pool followed by a ReLU as one ``("pool_relu", fn, m)``
    step: the pool's kernels clip y as they store it
    (:meth:`~xpnet.functions.pooling.max_pool2d.MaxPool2dFunction.forward_relu`), which
    saves the ReLU's pass over the pool's output (the wide LeNet's first at batch 256:
    6.4 MB, 0.74 ms on one thread; docs/benchmarks.md)."""
    from xpnet import nn  # noqa: PLC0415

    def merge(last: tuple) -> tuple | None:
        if (last[0] == "call" and isinstance(last[4], nn.MaxPool2d)
                and hasattr(last[1], "forward_relu") and not last[1].want_indices):
            return ("pool_relu", last[1], last[4])
        return None

    return _fuse_relus(steps, merge)


def _fuse_linear_relu(steps: list[tuple]) -> list[tuple]:
    """``steps`` with each Linear's call step followed by a ReLU as one ``("linear_relu",
    ...)`` step (the call step's fields): :func:`xpnet.cpu.dense.forward_whole` clips y
    in the pass that adds the bias, one pass over y saved (MLP 784-100-10's first
    layer at batch 32: 1.4 against 4.2-4.4 us for NumPy's transposing add and the
    in-place ReLU; docs/benchmarks.md)."""
    return _fuse_relus(steps, lambda last: ("linear_relu", *last[1:])
                       if last[0] == "call" and last[5] else None)


def _dense_only() -> tuple[type, ...]:
    """Layers that never split their work over xpnet's threads in a plan (ReLU clips
    in place on one thread in such a plan; Sigmoid and Tanh are one NumPy pass)."""
    from xpnet import nn  # noqa: PLC0415

    return (nn.Linear, nn.Flatten, nn.ReLU, nn.Identity, nn.Dropout, nn.Sigmoid, nn.Tanh)


_NO_PLAN = InferencePlan([])  # cached for keys that cannot be planned


def plan_for(seq: Any, x: Any) -> InferencePlan | None:
    """The plan that runs Sequential ``seq`` on ``x``, traced if new; None where the
    layers must run as usual (``x`` not a Tensor of a float NumPy array, a layer that
    does not hand on one float Tensor, or ``xpnet.cpu.engines(inference="layers")``)."""
    if (not isinstance(x, Tensor) or type(x.data) is not numpy.ndarray
            or current().inference != "plan"):
        return None
    a = x.data
    if a.dtype.kind != "f":
        return None
    plans = seq.__dict__.get("_inference_plans")
    if plans is None:
        plans = seq.__dict__["_inference_plans"] = {}
    # the layers, as the Sequential's children in order (its attributes "0", "1", ...:
    # read from its __dict__, 1.1 against 2.6 us through its iterator on four layers)
    layers = [m for m in seq.__dict__.values() if isinstance(m, Module)]
    key = (a.shape, a.dtype.str, a.strides, tuple([(id(m), m.training) for m in layers]))
    plan = plans.get(key)
    if plan is None:
        if len(plans) >= MAX_PLANS:
            plans.pop(next(iter(plans)))
        plan = plans[key] = InferencePlan.trace(list(seq), a) or _NO_PLAN
    return None if plan is _NO_PLAN else plan
