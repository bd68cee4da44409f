"""The sizes of one convolution, as every engine sees them.

Notation: input x (N, C, H, W), weight w (O, C/g, kh, kw), g groups (Cg = C/g, Og = O/g),
stride (sh, sw), zero padding (ph, pw), dilation (dh, dw), output (N, O, oH, oW) with
oH = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1 (likewise oW), L = oH oW, M = N L,
Kg = kh kw Cg.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Geometry", "full_conv_geometry", "out_size"]


def out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    """PyTorch's output size: floor((size + 2p - d(k - 1) - 1) / s) + 1."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@dataclass(frozen=True)
class Geometry:
    """Sizes of one convolution, seen from the forward (im2col) side.

    ``H, W`` is the (unpadded) input of the convolution, ``oH, oW`` its output; for a
    transposed convolution they are its output and input respectively.

    Example:
        >>> Geometry(5, 5, 1, 1, 2, 2, 1, 1, 1, 28, 28, 28, 28)   # LeNet-5's conv1
    """

    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int
    groups: int
    H: int
    W: int
    oh: int
    ow: int

    @property
    def padded(self) -> tuple[int, int]:
        """(Hp, Wp): the input size with its zero border."""
        return self.H + 2 * self.ph, self.W + 2 * self.pw

    @property
    def steps(self) -> tuple[int, int, int, int, int, int]:
        """(sh, sw, ph, pw, dh, dw): the compiled loops' view of a geometry."""
        return (self.sh, self.sw, self.ph, self.pw, self.dh, self.dw)

    def window(self, i: int, j: int) -> tuple[slice, slice]:
        """Rows and columns of the padded input read by kernel offset (i, j)."""
        r0, c0 = i * self.dh, j * self.dw
        return (
            slice(r0, r0 + self.sh * (self.oh - 1) + 1, self.sh),
            slice(c0, c0 + self.sw * (self.ow - 1) + 1, self.sw),
        )


def full_conv_geometry(geo: Geometry) -> Geometry | None:
    """For stride 1, dE/dx is the "full" convolution of dE/dy with the flipped kernels.

    Padding dE/dy by d (k - 1) - p on each side gives an output of exactly H: H + 2p -
    d (k - 1) = oH, so oH + 2 (d (k - 1) - p) - d (k - 1) = H. None when the stride is
    not 1, the padding exceeds d (k - 1) or the sizes do not close up that way (then
    col2im is used).
    """
    ph, pw = geo.dh * (geo.kh - 1) - geo.ph, geo.dw * (geo.kw - 1) - geo.pw
    if geo.sh != 1 or geo.sw != 1 or ph < 0 or pw < 0:
        return None
    if (out_size(geo.oh, geo.kh, 1, ph, geo.dh), out_size(geo.ow, geo.kw, 1, pw, geo.dw)) != (
        geo.H, geo.W
    ):
        return None  # a transposed convolution's output_padding: rows no window reaches
    return Geometry(geo.kh, geo.kw, 1, 1, ph, pw, geo.dh, geo.dw, geo.groups,
                    geo.oh, geo.ow, geo.H, geo.W)
