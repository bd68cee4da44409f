"""Bilinear sampling of a batch at per-pixel source coordinates (shared by elastic, affine)."""

from __future__ import annotations

from xpnet import backend


def bilinear_sample(x, rows, cols):
    """Sample every image of ``x`` at its own source coordinates, bilinearly, zero outside.

    ``out[b, c, i, j] = sum over the 4 neighbours (r, s) of (rows[b,i,j], cols[b,i,j]) of
    (1 - |rows - r|)(1 - |cols - s|) x[b, c, r, s]``, with ``x = 0`` outside the image.
    Integer coordinates return the pixels exactly.

    Args:
        x: images ``(B, C, H, W)`` (NumPy or CuPy).
        rows: source row of each output pixel ``(B, h, w)``.
        cols: source column of each output pixel ``(B, h, w)``.

    Returns:
        ``(B, C, h, w)`` array of x's dtype.
    """
    xp = backend.get_array_module(x)
    B, C, H, W = x.shape
    h, w = rows.shape[1:]
    # one ring of zeros around each image: neighbours just outside read 0; coordinates
    # further out are clipped onto the ring, where both neighbours are 0 or weight 0
    padded = xp.zeros((B, C, H + 2, W + 2), dtype=x.dtype)
    padded[:, :, 1:-1, 1:-1] = x
    flat = padded.reshape(B, C, (H + 2) * (W + 2))  # (B, C, (H+2)(W+2))
    rows = xp.clip(rows, -1.0, float(H))
    cols = xp.clip(cols, -1.0, float(W))
    r0, c0 = xp.floor(rows), xp.floor(cols)
    fr = (rows - r0).astype(x.dtype).reshape(B, 1, h * w)  # (B, 1, h*w) weight of row r0+1
    fc = (cols - c0).astype(x.dtype).reshape(B, 1, h * w)
    r0 = r0.astype(xp.int64) + 1  # index in the padded image, in [0, H+1]
    c0 = c0.astype(xp.int64) + 1
    r1 = xp.minimum(r0 + 1, H + 1)
    c1 = xp.minimum(c0 + 1, W + 1)

    def gather(r, c):
        index = (r * (W + 2) + c).reshape(B, 1, h * w)  # (B, 1, h*w) flat pixel index
        return xp.take_along_axis(flat, index, axis=2)  # (B, C, h*w)

    top = gather(r0, c0) * (1 - fc) + gather(r0, c1) * fc
    bottom = gather(r1, c0) * (1 - fc) + gather(r1, c1) * fc
    out = top * (1 - fr) + bottom * fr
    return out.reshape(B, C, h, w)  # (B, C, h*w) -> (B, C, h, w)
