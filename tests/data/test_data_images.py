"""read_image (what ``xpnet predict`` reads): images and .npy arrays of the model's shape;
every bad file is one ValueError naming it, decided from its header before its data is
read."""

import warnings

import numpy
import pytest

from xpnet.data.images import read_image


def test_images_npy_of_each_layout_and_png(tmp_path, rng):
    a = rng.integers(0, 256, (8, 8, 3), dtype=numpy.uint8)
    numpy.save(tmp_path / "hwc.npy", a)
    numpy.save(tmp_path / "fortran.npy", numpy.asfortranarray(a.transpose(2, 0, 1)))
    want = a.transpose(2, 0, 1) / numpy.float32(255)
    numpy.testing.assert_allclose(read_image(tmp_path / "hwc.npy", (3, 8, 8)), want, rtol=1e-6)
    numpy.testing.assert_allclose(read_image(tmp_path / "fortran.npy", (3, 8, 8)), want,
                                  rtol=1e-6)
    Image = pytest.importorskip("PIL.Image")
    Image.fromarray(a).save(tmp_path / "a.png")
    numpy.testing.assert_allclose(read_image(tmp_path / "a.png", (3, 8, 8)), want, rtol=1e-6)


def _refused(path, shape=(1, 8, 8)):
    with pytest.raises(ValueError) as info:
        read_image(path, shape)
    return str(info.value)


def test_images_bad_npy_files_are_one_line_each(tmp_path):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    assert _refused(empty) == f"{empty}: an empty file, not a .npy array"
    npz = tmp_path / "arrays.npy"
    numpy.savez(tmp_path / "arrays.npz", x=numpy.zeros((8, 8)))
    npz.write_bytes((tmp_path / "arrays.npz").read_bytes())
    assert _refused(npz) == (f"{npz}: an .npz archive named .npy; give each input as one "
                             ".npy array (numpy.save)")
    text = tmp_path / "text.npy"
    text.write_text("hello, world")
    assert _refused(text).startswith(f"{text}: not a .npy array (the magic string is not "
                                     "correct")
    short = tmp_path / "short.npy"
    numpy.save(short, numpy.zeros((8, 8), numpy.float32))
    short.write_bytes(short.read_bytes()[:-1])
    assert _refused(short) == (f"{short}: truncated or padded: {short.stat().st_size} bytes do "
                               "not hold the (8, 8) array its header announces")
    nan = tmp_path / "nan.npy"
    numpy.save(nan, numpy.full((8, 8), numpy.nan, numpy.float32))
    assert _refused(nan) == f"{nan}: the array holds NaN or inf values"
    objects = tmp_path / "objects.npy"
    numpy.save(objects, numpy.array([{}] * 64, dtype=object).reshape(8, 8), allow_pickle=True)
    assert _refused(objects) == (f"{objects}: holds Python objects (pickles), which xpnet "
                                 "never loads; save numbers")


def test_images_a_huge_announced_shape_is_refused_from_the_header(tmp_path):
    huge = tmp_path / "huge.npy"
    with open(huge, "wb") as f:  # announces 10^12 bytes, holds 64
        numpy.lib.format.write_array_header_1_0(
            f, {"descr": "|u1", "fortran_order": False, "shape": (10**6, 10**6)})
        f.write(bytes(64))
    assert _refused(huge) == (f"{huge}: an array of shape (1, 1000000, 1000000); the model "
                              "takes (1, 8, 8)")


def test_images_decompression_bombs_are_refused(tmp_path, monkeypatch):
    Image = pytest.importorskip("PIL.Image")
    from xpnet.data.datasets import limits

    Image.fromarray(numpy.zeros((30, 40), numpy.uint8)).save(tmp_path / "b.png")
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 1000)
    assert _refused(tmp_path / "b.png") == (
        f"{tmp_path / 'b.png'}: an image of 40x30 = 1,200 pixels, more than the 1,000 xpnet "
        "decodes (a decompression bomb?); refused before decoding")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow would warn (1x-2x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # xpnet's one line only, no Pillow warning printed
        assert _refused(tmp_path / "b.png").endswith("refused before decoding")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert "decompression bomb" in _refused(tmp_path / "b.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    assert _refused(tmp_path / "broken.png").startswith(
        f"{tmp_path / 'broken.png'}: not an image Pillow can read: ")
