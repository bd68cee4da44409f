"""Crops: random crop with padding (training), centre crop and AlexNet's ten-crop (testing)."""

from __future__ import annotations

import numpy

from xpnet import backend


def _pair(size, name: str) -> tuple[int, int]:
    h, w = (size, size) if numpy.isscalar(size) else size
    if int(h) < 1 or int(w) < 1:
        raise ValueError(f"{name}: crop size must be positive, got {size}")
    return int(h), int(w)


def _check(x, h: int, w: int, name: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{name}: expected x of shape (B, C, H, W), got {x.shape}")
    if h > x.shape[2] or w > x.shape[3]:
        raise ValueError(f"{name}: crop {h}x{w} is larger than the images "
                         f"{x.shape[2]}x{x.shape[3]}")


def random_crop(x, rng: numpy.random.Generator, size, padding: int = 0):
    """Crop each image at its own random position, after zero-padding by ``padding``.

    Offsets ``oy ~ U{0..H+2p-h}``, ``ox ~ U{0..W+2p-w}`` per image;
    ``out[b] = pad(x[b])[:, oy:oy+h, ox:ox+w]``. One gather from a strided view of all
    windows, no loop over images.

    Args:
        x: images ``(B, C, H, W)``.
        rng: the batch's Generator.
        size: ``h`` or ``(h, w)``.
        padding: zeros added on every side first (CIFAR's 32 + 2*4 -> random 32x32).

    Returns:
        A new ``(B, C, h, w)`` array.

    Example:
        >>> x = numpy.arange(16, dtype=numpy.float32).reshape(1, 1, 4, 4)
        >>> random_crop(x, numpy.random.default_rng(0), 2).shape
        (1, 1, 2, 2)
    """
    xp = backend.get_array_module(x)
    h, w = _pair(size, "random_crop")
    if padding < 0:
        raise ValueError(f"random_crop: padding must be >= 0, got {padding}")
    if padding:
        x = xp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    _check(x, h, w, "random_crop")
    B, C, H, W = x.shape
    oy = xp.asarray(rng.integers(0, H - h + 1, B))
    ox = xp.asarray(rng.integers(0, W - w + 1, B))
    x = xp.ascontiguousarray(x)
    sb, sc, sh, sw = x.strides
    # every h x w window as a view: (B, C, H-h+1, W-w+1, h, w), nothing copied yet
    windows = xp.lib.stride_tricks.as_strided(
        x, (B, C, H - h + 1, W - w + 1, h, w), (sb, sc, sh, sw, sh, sw))
    return windows[xp.arange(B), :, oy, ox]  # (B, C, h, w): one window per image, copied


def center_crop(x, size, rng: numpy.random.Generator | None = None):
    """The central ``h x w`` window of each image (top-left offset ``(H-h)//2, (W-w)//2``).

    Args:
        x: images ``(B, C, H, W)``.
        size: ``h`` or ``(h, w)``.
        rng: unused (deterministic); accepted so it fits ``fn(x, rng)``.

    Returns:
        A ``(B, C, h, w)`` view of x.

    Example:
        >>> x = numpy.arange(16).reshape(1, 1, 4, 4)
        >>> center_crop(x, 2)[0, 0].tolist()
        [[5, 6], [9, 10]]
    """
    h, w = _pair(size, "center_crop")
    _check(x, h, w, "center_crop")
    top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
    return x[:, :, top:top + h, left:left + w]


def ten_crop(x, size):
    """AlexNet's test-time crops: four corners and the centre, and the same of the mirror.

    Order along the first axis: top-left, top-right, bottom-left, bottom-right, centre of
    x, then the same five of ``x[..., ::-1]`` (torchvision's TenCrop order). To evaluate,
    run the model on ``crops.reshape(10 * B, C, h, w)`` and average the predictions over
    ``reshape(10, B, K).mean(0)``.

    Args:
        x: images ``(B, C, H, W)``.
        size: ``h`` or ``(h, w)``.

    Returns:
        ``(10, B, C, h, w)``.

    Example:
        >>> x = numpy.arange(9).reshape(1, 1, 3, 3)
        >>> ten_crop(x, 2)[:, 0, 0, 0, 0].tolist()
        [0, 1, 3, 4, 0, 2, 1, 5, 4, 2]
    """
    xp = backend.get_array_module(x)
    h, w = _pair(size, "ten_crop")
    _check(x, h, w, "ten_crop")
    H, W = x.shape[2:]
    crops = []
    for image in (x, x[..., ::-1]):
        crops += [image[:, :, :h, :w], image[:, :, :h, W - w:], image[:, :, H - h:, :w],
                  image[:, :, H - h:, W - w:], center_crop(image, (h, w))]
    return xp.stack(crops)  # (10, B, C, h, w)


class RandomCrop:
    """``random_crop`` with its parameters bound.

    Args:
        size: ``h`` or ``(h, w)``.
        padding: zeros added on every side first.

    Example:
        >>> RandomCrop(24)(numpy.zeros((2, 3, 32, 32)), numpy.random.default_rng(0)).shape
        (2, 3, 24, 24)
    """

    def __init__(self, size, padding: int = 0) -> None:
        self.size = _pair(size, "RandomCrop")
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.padding = int(padding)

    def __call__(self, x, rng: numpy.random.Generator):
        return random_crop(x, rng, self.size, self.padding)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class CenterCrop:
    """``center_crop`` with its size bound.

    Args:
        size: ``h`` or ``(h, w)``.

    Example:
        >>> CenterCrop(2)(numpy.zeros((1, 1, 4, 4))).shape
        (1, 1, 2, 2)
    """

    def __init__(self, size) -> None:
        self.size = _pair(size, "CenterCrop")

    def __call__(self, x, rng: numpy.random.Generator | None = None):
        return center_crop(x, self.size)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class TenCrop:
    """``ten_crop`` with its size bound; returns ``(10, B, C, h, w)``.

    Args:
        size: ``h`` or ``(h, w)``.

    Example:
        >>> TenCrop(224)(numpy.zeros((2, 3, 256, 256), numpy.float32)).shape
        (10, 2, 3, 224, 224)
    """

    def __init__(self, size) -> None:
        self.size = _pair(size, "TenCrop")

    def __call__(self, x, rng: numpy.random.Generator | None = None):
        return ten_crop(x, self.size)

    def __repr__(self) -> str:
        return f"TenCrop(size={self.size})"
