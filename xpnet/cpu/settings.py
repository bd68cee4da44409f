"""The scoped choice of CPU engines: ``with xpnet.cpu.engines(conv="gemm"): ...``.

Every op picks its engine by itself, from the shapes and the thresholds measured for it
(docs/benchmarks.md, "Engine thresholds"). :func:`engines` overrides that choice for the
code run inside a ``with`` block, to compare engines (benchmarks), to exercise each one
on every mode (tests) or to run the NumPy reference paths alone (``compiled=False``).

How the override is held: one :class:`contextvars.ContextVar` of :class:`Engines`, so a
setting belongs to the thread (and asyncio task) that made it, never to the process;
scopes nest (an inner ``with`` inherits what it does not set) and the enclosing settings
come back on exit, exception or not. The engine is chosen in the calling thread before
any work is split; the worker threads of :func:`xpnet.cpu.threads.parallel_slices` run
in a copy of the caller's context all the same, so that they read the same settings.

Example:
    >>> with xpnet.cpu.engines(conv="gemm", threads=1):
    ...     y = F.conv2d(x, w)          # im2col + GEMM, the batch unsplit
    >>> with xpnet.cpu.engines(compiled=False):
    ...     y = F.max_pool2d(x, 2)      # the NumPy views path, the reference
"""

from __future__ import annotations

import contextvars
import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["Engines", "current", "engines"]


@dataclass(frozen=True)
class Engines:
    """The engine settings in force; every field's default is the op's own choice.

    Attributes:
        compiled: False runs no compiled (numba) kernel anywhere: every op takes its
            NumPy/BLAS path, the reference the kernels are tested against.
        conv: the convolutions' engine for the forward pass and dE/dw: ``"auto"`` (by
            shape), ``"blocks"`` (register blocks), ``"direct"`` (direct sums) or
            ``"gemm"`` (im2col + GEMM). A forced engine takes every convolution it can
            compute, whatever the thresholds; the others go to the GEMM.
        conv_columns: the GEMM's column matrix: ``"auto"``, ``"im2col"`` (taps as
            columns) or ``"im2row"`` (taps as rows).
        conv_dx: a convolution's dE/dx: ``"auto"``, ``"conv"`` (the full convolution
            with the flipped kernels, stride 1 only), ``"scatter"`` (register blocks over
            dE/dy's pixels and a compiled fold, at least NR outputs per map),
            ``"fold"`` (one GEMM and a compiled fold, one group only) or ``"col2im"``
            (kh kw NumPy products); where the forced one cannot run, the automatic
            choice among the others.
        dense: a dense layer's forward product: ``"auto"``, ``"x_wt"`` (y = x W^T),
            ``"w_xt"`` (y^T = W x^T by BLAS, transposed back) or ``"blocks"`` (y^T =
            W x^T by the register blocks, :mod:`xpnet.cpu.dense_blocks`).
        inference: how a Sequential runs under ``no_grad`` on NumPy arrays: ``"plan"``
            (its layers' Functions replayed on arrays, :mod:`xpnet.nn.inference`) or
            ``"layers"`` (each layer called as in training, without a graph).
        layout: the memory the compiled pooling and LRN kernels work on: ``"auto"``
            (the input's), ``"nchw"`` (planes) or ``"nhwc"`` (channels-last).
        split: ``"auto"`` cuts work over the threads from the sizes where that pays;
            ``"always"`` cuts any work, however small.
        threads: the thread count inside the scope (over :func:`set_num_threads`'s), or
            None for the process's.
    """

    compiled: bool = True
    conv: str = "auto"
    conv_columns: str = "auto"
    conv_dx: str = "auto"
    dense: str = "auto"
    inference: str = "plan"
    layout: str = "auto"
    split: str = "auto"
    threads: int | None = None


#: The values each string setting takes.
CHOICES = {
    "conv": ("auto", "blocks", "direct", "gemm"),
    "conv_columns": ("auto", "im2col", "im2row"),
    "conv_dx": ("auto", "conv", "scatter", "fold", "col2im"),
    "dense": ("auto", "x_wt", "w_xt", "blocks"),
    "inference": ("plan", "layers"),
    "layout": ("auto", "nchw", "nhwc"),
    "split": ("auto", "always"),
}

_DEFAULT = Engines()
_current: contextvars.ContextVar[Engines] = contextvars.ContextVar("xpnet_cpu_engines",
                                                                  default=_DEFAULT)


#: ``current()``: the :class:`Engines` in force in this thread (the defaults outside any
#: ``engines`` block). The ContextVar's own ``get``, with no Python frame of its own:
#: every op reads it, some several times a call.
current = _current.get


def _check(settings: Engines) -> Engines:
    """``settings`` itself, or a ValueError naming the setting, what it takes and what came."""
    for name, allowed in CHOICES.items():
        value = getattr(settings, name)
        if value not in allowed:
            raise ValueError(f"engines: {name} must be one of {', '.join(map(repr, allowed))}"
                             f", got {value!r}")
    if not isinstance(settings.compiled, bool):
        raise ValueError(f"engines: compiled must be True or False, got {settings.compiled!r}")
    n = settings.threads
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"engines: threads must be an int >= 1 or None, got {n!r}")
    if not settings.compiled:
        wants = [f"{name}={getattr(settings, name)!r}" for name, needs in
                 (("conv", ("blocks", "direct")), ("conv_dx", ("scatter", "fold")),
                  ("dense", ("blocks",)),
                  ("layout", ("nchw", "nhwc"))) if getattr(settings, name) in needs]
        if wants:
            raise ValueError(f"engines: {', '.join(wants)} needs the compiled kernels, "
                             "but compiled=False")
    return settings


class _Scope:
    """What :func:`engines` returns: a context manager that holds its settings while open."""

    def __init__(self, changes: dict[str, Any]) -> None:
        self.changes = changes
        _check(dataclasses.replace(current(), **changes))  # a bad value fails at the call
        self.token: contextvars.Token | None = None

    def __enter__(self) -> Engines:
        if self.token is not None:
            raise RuntimeError("engines: this scope is already open; call engines() again")
        settings = _check(dataclasses.replace(current(), **self.changes))
        self.token = _current.set(settings)
        return settings

    def __exit__(self, *exc: object) -> None:
        _current.reset(self.token)
        self.token = None


def engines(
    *,
    compiled: bool | None = None,
    conv: str | None = None,
    conv_columns: str | None = None,
    conv_dx: str | None = None,
    dense: str | None = None,
    inference: str | None = None,
    layout: str | None = None,
    split: str | None = None,
    threads: int | None = None,
) -> _Scope:
    """Override the CPU engines' choice inside a ``with`` block, in this thread only.

    A keyword left at None keeps the enclosing setting (the op's own choice outside any
    block); see :class:`Engines` for what each one does. Results stay deterministic
    under any setting; engines that sum in another order may differ in the last bits.

    Args:
        compiled: False for the NumPy/BLAS reference paths everywhere.
        conv: ``"auto"``, ``"blocks"``, ``"direct"`` or ``"gemm"``.
        conv_columns: ``"auto"``, ``"im2col"`` or ``"im2row"``.
        conv_dx: ``"auto"``, ``"conv"``, ``"scatter"``, ``"fold"`` or ``"col2im"``.
        dense: ``"auto"``, ``"x_wt"`` or ``"w_xt"``.
        inference: ``"plan"`` or ``"layers"``.
        layout: ``"auto"``, ``"nchw"`` or ``"nhwc"``.
        split: ``"auto"`` or ``"always"``.
        threads: an int >= 1.

    Returns:
        A context manager; ``with engines(...) as e`` binds the :class:`Engines` in force.

    Raises:
        ValueError: a value not listed above, or a compiled engine forced together with
            ``compiled=False`` (here or in an enclosing block), at the call.

    Example:
        >>> with xpnet.cpu.engines(conv="direct"):
        ...     with xpnet.cpu.engines(threads=1) as e:   # conv="direct" still holds
        ...         e.conv, e.threads
        ('direct', 1)
    """
    given = dict(compiled=compiled, conv=conv, conv_columns=conv_columns, conv_dx=conv_dx,
                 dense=dense, inference=inference, layout=layout, split=split,
                 threads=threads)
    return _Scope({k: v for k, v in given.items() if v is not None})
