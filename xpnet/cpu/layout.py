"""Channels-last memory: how xpnet's engines hand feature maps from op to op.

conv2d returns an (N, C, H, W)-shaped view of C-contiguous (N, H, W, C) memory (PyTorch's
``channels_last`` format), and the ops after it (pooling, LRN, ReLU, reshape) keep that
layout, so a network never transposes between its layers.
"""

from __future__ import annotations

from typing import Any

from xpnet import backend

__all__ = ["is_channels_last", "to_nhwc"]


def is_channels_last(a: Any) -> bool:
    """Whether ``a`` (N, C, H, W) is an NCHW view of C-contiguous NHWC memory.

    That is what conv2d returns. With one channel, or H = W = 1, both layouts are the
    same memory: then False (the NCHW code reads it as it is).
    """
    return (
        a.ndim == 4 and a.shape[1] > 1 and not a.flags.c_contiguous
        and a.transpose(0, 2, 3, 1).flags.c_contiguous
    )


def to_nhwc(a: Any) -> Any:
    """(N, C, H, W) any strides -> (N, H, W, C) C-contiguous (no copy for NHWC memory)."""
    return backend.get_array_module(a).ascontiguousarray(a.transpose(0, 2, 3, 1))
