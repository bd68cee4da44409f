"""Which engine takes a convolution: by shape, from measured thresholds, or as forced.

The engines (``xpnet.cpu.engines(conv=...)`` forces one):

- the register blocks (:mod:`~xpnet.cpu.conv.blocks`): any Og (the last block masked
  where Og is not a multiple of half the SIMD width VL), at least NR outputs per map; for
  the forward pass few outputs recomputed by the last block (:data:`MIN_BLOCK_USE`)
  unless the GEMM would be narrow (:data:`NARROW_GEMM_VL`);
- the direct sums (:mod:`~xpnet.cpu.conv.direct`): stride 1, one group, at most
  :data:`DIRECT_MAX_TAPS` inputs per output and few weights (:data:`DIRECT_FWD_MAX`,
  :data:`DIRECT_WGRAD_MAX`); where both could run, the direct sums are taken only for
  the few output channels on which a block's one vector would stand mostly empty
  (:func:`direct_first`);
- im2col + GEMM (:mod:`~xpnet.cpu.conv.gemm`): every shape, every array module; its
  columns as im2row's layout up to :data:`ROWS_MAX_CG` channels per group.

dE/dx is scattered by the register blocks (:func:`~xpnet.cpu.conv.blocks.input_grad`:
each pixel of dE/dy times each tap's weights, then a fold) for at least a whole SIMD
vector of channels per group where the full convolution would sum much padding
(:data:`DX_SCATTER_MIN_GROWTH`) or cannot run (stride > 1); else the full convolution
of dE/dy (any engine above) for stride 1, at least :data:`DX_BY_CONV_MIN_CG` channels
per group (or more than one group) and a border of zeros that adds little work
(:data:`DX_BY_CONV_MAX_GROWTH`); else col2im: one GEMM and the direct module's compiled
fold for one group, or kh kw NumPy products. A forced engine takes every convolution it
can compute, whatever the thresholds; the others go to the GEMM.
Every threshold's measurement: docs/benchmarks.md, "Engine thresholds"
(``python bench/bench_conv_ops.py --paths`` re-measures them on the machine at hand,
``--dx`` the dE/dx methods).
"""

from __future__ import annotations

import math
from typing import Any

import numpy

from xpnet.cpu.conv.geometry import Geometry, full_conv_geometry, out_size
from xpnet.cpu.kernels import load
from xpnet.cpu.settings import current

__all__ = ["conv_engine", "engine", "input_grad_method", "use_rows"]

#: The direct sums take the forward pass up to this many weights, dE/dw up to
#: DIRECT_WGRAD_MAX, when each output reads at most DIRECT_MAX_TAPS inputs (C kh kw: a
#: short column, on which the GEMM path's im2col copy costs the most).
DIRECT_FWD_MAX = 1024
DIRECT_WGRAD_MAX = 4096
DIRECT_MAX_TAPS = 80

#: The least share of a map's block outputs that are not recomputed: the last block is
#: shifted back over its neighbour, so 3 x 3 outputs take 2 blocks of 8 (9 / 16 = 0.56),
#: 5 x 5 take 4 (0.78), 4 x 4 and 6 x 6 none extra.
MIN_BLOCK_USE = 0.75

#: ... but only where the GEMM is wide: with at most this many VL of outputs per group
#: the GEMM's columns are few and it loses even to half-used blocks.
NARROW_GEMM_VL = 3

#: At or below this many channels per group, im2row's layout (taps as rows, copied a
#: whole output row at a time) replaces im2col's (taps as columns, copied Cg values at a
#: time): 6x faster for one channel, 2.5x for three.
ROWS_MAX_CG = 2

#: dE/dx by the full convolution gives Cg outputs per group; below this many, one GEMM
#: and the compiled fold are faster (`python bench/bench_conv_ops.py --dx --batch 128`,
#: ms full convolution / fold: LeNet-5's conv2, Cg 6, 1.45 / 1.72; the narrow LeNet's,
#: 0.78 / 1.51; Cg 3, 1.48 / 1.13; Cg 1, 7.19 / 3.55).
DX_BY_CONV_MIN_CG = 6

#: ... and the full convolution sums over dE/dy padded by kh - 1 - ph rows (likewise
#: columns) of zeros; its blocks skip the window rows that hold zeros alone
#: (:func:`xpnet.cpu.conv.blocks.forward`), not the columns. Its work over the true
#: dE/dx's (:func:`full_conv_growth`) may be at most this: Caffe's LeNet conv2 (12 x 12
#: from 8 x 8, 5 x 5: 1.5; 2.25 before the rows were skipped) trains 3.5-7% faster by
#: the full convolution than by the fold at batch 32 and 128 (`python bench/ab_race.py
#: --model lenet_caffe --mode train --batch 128 --variant '{}' --variant '{"conv_dx":
#: "fold"}'`, two runs each); the wide LeNet's conv2 (32 -> 64 channels, 14 x 14 from
#: 10 x 10: 1.4, 1.96 before) had trained 3.5-4% faster by it already. (Both layers now
#: take the scatter below, faster still: DX_SCATTER_MIN_GROWTH.)
DX_BY_CONV_MAX_GROWTH = 2.0

#: dE/dx by scattering (:func:`xpnet.cpu.conv.blocks.input_grad`, for Cg of at least
#: one SIMD vector) where the full convolution would do at least this much more work
#: than the true one, or cannot run. `python bench/bench_conv_ops.py --dx --batch 128`,
#: ms full convolution / scatter: the wide LeNet's conv2 (Cg 32, growth 1.4) 9.64 /
#: 7.98, Caffe's LeNet's (Cg 20, 1.5) 4.36 / 3.42, 32 channels 3 x 3 on 10 x 10 (1.25)
#: 1.62 / 1.51; the CIFAR net's conv2 (0.93) 8.26 / 11.45; Cg 8 (1.4, half a float32
#: vector) 1.35 / 1.45. Stride 2, against the fold: 64 channels 3 x 3 on 16 x 16 6.65 /
#: 4.17, 32 on 15 x 15 5.30 / 5.60.
DX_SCATTER_MIN_GROWTH = 1.2


def blocks_fit(blocks: Any, og: int, outputs: int, dtype: Any) -> bool:
    """Whether the register blocks can compute Og outputs per group on maps of
    ``outputs`` positions: any Og (a last block masked where it is not a multiple of
    VL / 2), at least NR outputs per map."""
    return og > 0 and outputs >= blocks.NR


def blocks_apply(blocks: Any, og: int, outputs: int, dtype: Any) -> bool:
    """Whether the register blocks are chosen for a forward pass: they fit, and few
    outputs are recomputed by a map's last block (``MIN_BLOCK_USE``) unless Og is at most
    ``NARROW_GEMM_VL`` VL (a narrow GEMM loses even to half-used blocks)."""
    vl = blocks.lanes(dtype)
    if not blocks_fit(blocks, og, outputs, dtype):
        return False
    if og <= NARROW_GEMM_VL * vl:
        return True
    n_blocks = -(-outputs // blocks.NR)
    return outputs >= MIN_BLOCK_USE * n_blocks * blocks.NR


def direct_first(blocks: Any, og: int, dtype: Any) -> bool:
    """Where both the direct sums and the register blocks can run: whether the direct
    sums are faster, for the forward pass and dE/dw alike: Og < VL / 2, a block's one
    vector mostly empty (``python bench/bench_conv_ops.py --paths --net extra``, a grey
    5 x 5 layer, batch 128, AVX-512: 4 channels, forward 0.46 ms against 0.85, dE/dw
    0.42 against 0.57; 8 channels, forward 0.83 against 0.89, dE/dw 0.78 against 0.44)."""
    return og < blocks.lanes(dtype) // 2


def _blocks(x: Any, geo: Geometry, og: int, wgrad: bool, forced: bool) -> Any:
    """The register blocks module if it takes this convolution, else None (dE/dw: on
    every map they fit; measured faster than the GEMM on every layer, 3 x 3 maps too)."""
    blocks = load("conv.blocks", x)
    if blocks is None:
        return None
    outputs = geo.oh * geo.ow
    if forced or wgrad:
        return blocks if blocks_fit(blocks, og, outputs, x.dtype) else None
    return blocks if blocks_apply(blocks, og, outputs, x.dtype) else None


def _direct(x: Any, geo: Geometry, cg: int, og: int, limit: int, forced: bool) -> Any:
    """The direct sums module if it takes this convolution (stride 1, one group; unless
    ``forced``, at most DIRECT_MAX_TAPS inputs per output and ``limit`` weights)."""
    if (geo.sh, geo.sw, geo.groups) != (1, 1, 1):
        return None
    taps = cg * geo.kh * geo.kw  # inputs read by one output
    if not forced and (taps > DIRECT_MAX_TAPS or taps * og > limit):
        return None
    return load("conv.direct", x)


def engine(x: Any, geo: Geometry, cg: int, og: int, step: str) -> tuple[str, Any]:
    """(name, module) of the engine for the forward pass (``step="forward"``) or dE/dw
    (``"weight_grad"``) of a convolution of input ``x`` with Cg inputs and Og outputs per
    group: ``("blocks", blocks)``, ``("direct", direct)`` or ``("gemm", None)``."""
    choice = current().conv
    wgrad = step == "weight_grad"
    limit = DIRECT_WGRAD_MAX if wgrad else DIRECT_FWD_MAX
    if choice == "auto":
        blocks = _blocks(x, geo, og, wgrad, False)
        direct = _direct(x, geo, cg, og, limit, False)
        if direct is not None and (
                blocks is None or direct_first(blocks, og, x.dtype)):
            return "direct", direct
        return ("blocks", blocks) if blocks is not None else ("gemm", None)
    if choice == "blocks":
        module = _blocks(x, geo, og, wgrad, True)
        if module is not None:
            return "blocks", module
    if choice == "direct":
        module = _direct(x, geo, cg, og, limit, True)
        if module is not None:
            return "direct", module
    return "gemm", None


def use_rows(cg: int) -> bool:
    """Whether the GEMM builds its columns as im2row's layout, for Cg channels per group."""
    choice = current().conv_columns
    return choice == "im2row" or (choice == "auto" and cg <= ROWS_MAX_CG)


def input_grad_method(cg: int, gy: Any, geo: Geometry) -> tuple[str, Any]:
    """How dE/dx is computed from dE/dy ``gy``: ``("scatter", blocks)`` (the register
    blocks over dE/dy's pixels), ``("conv", None)`` (the full convolution),
    ``("fold", direct)`` (one GEMM and the compiled fold) or ``("col2im", None)``."""
    choice = current().conv_dx
    full = full_conv_geometry(geo) is not None
    growth = full_conv_growth(geo) if full else math.inf
    if choice in ("auto", "scatter"):
        blocks = load("conv.blocks", gy)
        if (blocks is not None and geo.oh * geo.ow >= blocks.NR
                and (choice == "scatter" or (cg >= blocks.lanes(gy.dtype)
                                             and growth >= DX_SCATTER_MIN_GROWTH))):
            return "scatter", blocks
    # groups > 1 have no fold, and col2im's NumPy products lose to the full convolution
    # also with few channels (AlexNet-64 at width 1/8, conv2's 6 per group: 4.2 ms
    # against 5.9)
    wide = cg >= DX_BY_CONV_MIN_CG or geo.groups > 1
    if full and (choice == "conv" or (choice == "auto" and wide
                                      and growth <= DX_BY_CONV_MAX_GROWTH)):
        return "conv", None
    if choice != "col2im" and geo.groups == 1:
        fold = load("conv.direct", gy)
        if fold is not None:
            return "fold", fold
    return "col2im", None


def full_conv_growth(geo: Geometry) -> float:
    """The full convolution's multiply-adds for dE/dx over the true ones (those of the
    forward pass): its H W outputs, each summing the window rows that reach dE/dy's oH
    rows (the others hold padding alone and are skipped), kw columns each (padding
    included), against oH oW outputs of kh kw taps: W sum_i rows(i) / (oH oW kh)."""
    pad = geo.dh * (geo.kh - 1) - geo.ph  # the full convolution's rows of zeros above
    rows = sum(sum(1 for r in range(geo.kh) if 0 <= i + r * geo.dh - pad < geo.oh)
               for i in range(geo.H))
    return geo.W * rows / (geo.oh * geo.ow * geo.kh)


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_engine(
    x_shape: tuple[int, int, int, int],
    w_shape: tuple[int, int, int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    dtype: Any = "float32",
    step: str = "forward",
) -> str:
    """The engine ``conv2d`` takes for these shapes on the CPU, under the current settings.

    Answers for NumPy arrays of ``dtype`` inside the caller's ``xpnet.cpu.engines``
    block (CuPy arrays always take the GEMM). A transposed convolution runs the engines
    of the convolution it transposes: its forward pass is that one's ``"input_grad"``.

    Args:
        x_shape: (N, C, H, W); w_shape: (O, C / groups, kh, kw).
        stride, padding, dilation, groups: as for ``conv2d``.
        dtype: float32 or float64.
        step: ``"forward"``, ``"weight_grad"`` (dE/dw) or ``"input_grad"`` (dE/dx).

    Returns:
        For ``"forward"`` and ``"weight_grad"``: ``"blocks"``, ``"direct"`` or ``"gemm"``;
        for ``"input_grad"``: ``"scatter"``, ``"conv"`` (the full convolution, itself
        on the engine its own forward pass takes), ``"fold"`` or ``"col2im"``: the values of
        ``engines(conv=...)`` and ``engines(conv_dx=...)``.

    Raises:
        ValueError: an unknown ``step`` or shapes that are not 4-d.

    Example:
        >>> xpnet.cpu.conv_engine((128, 1, 28, 28), (6, 1, 5, 5), padding=2)
        'direct'
    """
    if step not in ("forward", "weight_grad", "input_grad"):
        raise ValueError(f"conv_engine: step must be 'forward', 'weight_grad' or "
                         f"'input_grad', got {step!r}")
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"conv_engine: expected 4-d shapes, got {x_shape} and {w_shape}")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    _, C, H, W = x_shape
    co, cg, kh, kw = w_shape
    geo = Geometry(kh, kw, sh, sw, ph, pw, dh, dw, groups, H, W,
                   out_size(H, kh, sh, ph, dh), out_size(W, kw, sw, pw, dw))
    probe = numpy.empty(0, dtype=dtype)  # all the choice reads of an array: type and dtype
    if step == "input_grad":
        return input_grad_method(cg, probe, geo)[0]
    return engine(probe, geo, cg, co // groups, step)[0]
