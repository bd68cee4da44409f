"""LocalResponseNorm layer: same maths as the op, arguments checked, no parameters."""

import numpy
import pytest

from xpnet import Tensor, nn
from xpnet.functions import local_response_norm
from xpnet.testing import check_op


def test_lrn_layer_matches_the_op_and_has_no_parameters():
    x = numpy.random.default_rng(0).standard_normal((2, 7, 3, 3))
    layer = nn.LocalResponseNorm(5, alpha=0.5, beta=0.7, k=1.5)
    expected = local_response_norm(Tensor(x), 5, 0.5, 0.7, 1.5).data
    numpy.testing.assert_array_equal(layer(Tensor(x)).data, expected)
    assert list(layer.parameters()) == []
    assert layer.eval()(Tensor(x)).shape == x.shape  # no mode dependence


def test_lrn_layer_gradient():
    layer = nn.LocalResponseNorm(4, alpha=1.0, beta=0.75, k=1.0)
    x = numpy.random.default_rng(1).standard_normal((2, 5, 2, 2))
    check_op(layer, None, x)


def test_lrn_layer_paper_constants_repr():
    assert repr(nn.LocalResponseNorm(5, alpha=5e-4)) == (
        "LocalResponseNorm(5, alpha=0.0005, beta=0.75, k=2.0)"
    )


@pytest.mark.parametrize("size", [0, 2.5, None])
def test_lrn_layer_bad_size(size):
    with pytest.raises(ValueError, match="LocalResponseNorm: size must be an int >= 1"):
        nn.LocalResponseNorm(size)
