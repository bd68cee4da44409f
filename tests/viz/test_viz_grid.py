"""Image grids, colour maps and the zlib PNG encoder of xpnet.viz.grid."""

import io
import zlib

import numpy
import pytest

from xpnet.viz.grid import (
    colorize,
    make_grid,
    normalize,
    png_bytes,
    require_matplotlib,
    side_by_side,
    upscale,
    write_png,
)


def _decode_png(data: bytes) -> numpy.ndarray:
    """Minimal decoder for the encoder's output (8-bit RGB, filter 0 on every row)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 4], "big")
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        crc = int.from_bytes(data[pos + 8 + n : pos + 12 + n], "big")
        assert zlib.crc32(tag + body) == crc
        if tag == b"IHDR":
            size = (int.from_bytes(body[4:8], "big"), int.from_bytes(body[:4], "big"))
            assert body[8:10] == b"\x08\x02"
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    h, w = size
    rows = numpy.frombuffer(zlib.decompress(idat), numpy.uint8).reshape(h, 1 + 3 * w)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(h, w, 3)


def test_png_round_trip_exact(rng):
    img = rng.integers(0, 256, (7, 5, 3)).astype(numpy.uint8)
    numpy.testing.assert_array_equal(_decode_png(png_bytes(img)), img)


def test_png_floats_are_clipped_and_rounded():
    img = numpy.array([[[-1.0, 0.5, 2.0]]])
    numpy.testing.assert_array_equal(_decode_png(png_bytes(img)), [[[0, 128, 255]]])


def test_png_readable_by_pillow(tmp_path, rng):
    image_mod = pytest.importorskip("PIL.Image")
    img = rng.random((9, 4, 3))
    path = write_png(img, tmp_path / "sub" / "a.png")
    with image_mod.open(io.BytesIO(path.read_bytes())) as im:
        assert im.size == (4, 9) and im.mode == "RGB"
        numpy.testing.assert_array_equal(numpy.asarray(im), numpy.round(img * 255))


def test_png_rejects_bad_shape():
    with pytest.raises(ValueError, match="H, W, 3"):
        png_bytes(numpy.zeros((2, 2, 4)))


def test_normalize_per_image_and_symmetric():
    a = numpy.array([[1.0, 3.0], [-2.0, 2.0], [5.0, 5.0]])
    numpy.testing.assert_allclose(normalize(a), [[0, 1], [0, 1], [0.5, 0.5]])
    numpy.testing.assert_allclose(normalize(a, symmetric=True)[1], [0.0, 1.0])
    numpy.testing.assert_allclose(normalize(numpy.array([[-1.0, 0.5]]), symmetric=True),
                                  [[0.0, 0.75]])
    numpy.testing.assert_allclose(normalize(a, per_image=False)[0], [3 / 7, 5 / 7])


def test_make_grid_layout():
    imgs = numpy.stack([numpy.full((1, 2, 3), v) for v in (0.0, 0.25, 0.5, 0.75, 1.0)])
    g = make_grid(imgs, ncol=2, pad=1, pad_value=1.0)
    assert g.shape == (3 * 3 + 1, 2 * 4 + 1, 3)
    assert (g[1:3, 1:4] == 0.0).all() and (g[1:3, 5:8] == 0.25).all()
    assert (g[7:9, 1:4] == 1.0).all() and (g[7:9, 5:8] == 1.0).all()  # empty slot: padding
    assert (g[4:6, 5:8] == 0.75).all()
    assert make_grid(imgs, ncol=2, scale=3).shape == (30, 27, 3)


def test_make_grid_colour_and_channels_last():
    rgb = numpy.zeros((2, 3, 2, 2))
    rgb[:, 0] = 1.0  # red
    g = make_grid(rgb, pad=0)
    assert g.shape == (2, 4, 3) and (g[..., 0] == 1).all() and (g[..., 1:] == 0).all()
    tiles = numpy.zeros((4, 1, 3, 3))  # channels-last RGB tiles whose height is 1
    assert make_grid(tiles, ncol=4, pad=0, channels_last=True).shape == (1, 12, 3)
    with pytest.raises(ValueError, match="4-D"):
        make_grid(numpy.zeros((2, 2, 2)))


def test_colorize_endpoints_and_errors():
    c = colorize(numpy.array([0.0, 1.0, 2.0]), "gray")
    numpy.testing.assert_allclose(c, [[0, 0, 0], [1, 1, 1], [1, 1, 1]])
    mid = colorize(numpy.array(0.5), "bwr")
    assert mid.shape == (3,) and (mid > 0.95).all()
    with pytest.raises(ValueError, match="cmap"):
        colorize(numpy.zeros(2), "jet")


def test_upscale_and_side_by_side():
    a = numpy.arange(4.0).reshape(2, 2)
    numpy.testing.assert_array_equal(upscale(a, 2)[:2, :2], [[0, 0], [0, 0]])
    assert upscale(a, 2)[3, 3] == 3
    s = side_by_side(numpy.zeros((2, 3, 3)), numpy.zeros((4, 1, 3)), gap=2)
    assert s.shape == (4, 6, 3) and (s[2:, :3] == 1).all() and (s[:, 3:5] == 1).all()


def test_require_matplotlib_gives_figure():
    pytest.importorskip("matplotlib")
    figure = require_matplotlib()
    assert figure.__name__ == "Figure"
