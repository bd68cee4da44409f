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
    rows = xp.clip(rows, -1.0, float(H))
    cols = xp.clip(cols, -1.0, float(W))
    r0, c0 = xp.floor(rows), xp.floor(cols)
    fr = (rows - r0).astype(x.dtype).reshape(B, 1, h * w)  # (B, 1, h*w) weight of row r0+1
    fc = (cols - c0).astype(x.dtype).reshape(B, 1, h * w)  # (B, 1, h*w) weight of col c0+1
    r0 = r0.astype(xp.int32) + 1  # row in the padded image, in [0, H+1]
    c0 = c0.astype(xp.int32) + 1
    # flat index of the top-left neighbour in the whole padded batch: (B, C, h*w)
    first = xp.arange(B * C, dtype=xp.int32).reshape(B, C, 1) * ((H + 2) * (W + 2))
    i00 = (r0 * (W + 2) + c0).reshape(B, 1, h * w) + first
    # steps to the lower / right neighbour; 0 on the last padded row / column (weight 0)
    down = xp.where(r0 < H + 1, W + 2, 0).astype(xp.int32).reshape(B, 1, h * w)
    right = xp.where(c0 < W + 1, 1, 0).astype(xp.int32).reshape(B, 1, h * w)
    flat = padded.reshape(-1)
    g00, g01 = flat.take(i00), flat.take(i00 + right)
    i10 = i00 + down
    g10, g11 = flat.take(i10), flat.take(i10 + right)
    top = g00 + (g01 - g00) * fc
    bottom = g10 + (g11 - g10) * fc
    return (top + (bottom - top) * fr).reshape(B, C, h, w)  # (B, C, h*w) -> (B, C, h, w)
