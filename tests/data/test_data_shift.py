"""``transforms.shift``: whole-pixel translation against a loop over pixels."""

import numpy
import pytest

from xpnet.data import transforms as T


def reference(x, dy, dx, fill):
    out = numpy.full_like(x, fill)
    h, w = x.shape[2:]
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[:, :, i, j] = x[:, :, i - dy, j - dx]
    return out


@pytest.mark.parametrize(("dy", "dx"), [(0, 0), (2, 0), (0, -3), (-1, 4), (4, 4), (-6, -1)])
def test_data_shift_matches_a_loop(rng, dy, dx):
    x = rng.standard_normal((3, 2, 7, 8)).astype(numpy.float32)
    out = T.shift(x, dy, dx, fill=-1.0)
    numpy.testing.assert_array_equal(out, reference(x, dy, dx, -1.0))
    assert out.dtype == x.dtype and out is not x


def test_data_shift_there_and_back_keeps_the_inside(rng):
    x = rng.random((2, 1, 6, 6)).astype(numpy.float32)
    back = T.shift(T.shift(x, 2, -1), -2, 1)
    numpy.testing.assert_array_equal(back[:, :, :4, 1:], x[:, :, :4, 1:])
    assert not back[:, :, 4:, :].any() and not back[:, :, :, :1].any()


def test_data_shift_bad_arguments():
    x = numpy.zeros((1, 1, 5, 5), numpy.float32)
    with pytest.raises(ValueError, match=r"\|dy\| must be smaller than the image \(5\)"):
        T.shift(x, 5, 0)
    with pytest.raises(TypeError, match="dx must be an int"):
        T.shift(x, 0, 1.5)
    with pytest.raises(ValueError, match=r"expected x of shape \(B, C, H, W\)"):
        T.shift(numpy.zeros((5, 5)), 1, 1)
