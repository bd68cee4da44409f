import numpy
import pytest

from xpnet import backend


def test_numpy_is_the_module_for_host_arrays():
    assert backend.get_array_module(numpy.zeros(2), None, 3.0) is numpy


def test_bad_device_names_are_refused():
    with pytest.raises(ValueError, match="unknown device"):
        backend.check_device("tpu")
    with pytest.raises(ValueError, match="no index"):
        backend.check_device("cpu:1")


@pytest.mark.skipif(backend.cuda_available(), reason="only meaningful without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA device"):
        backend.check_device("cuda")


def test_to_device_round_trip(device):
    x = numpy.arange(6.0).reshape(2, 3)
    y = backend.to_device(x, device)
    assert backend.device_of(y).startswith(device)
    numpy.testing.assert_array_equal(backend.to_numpy(y), x)


def test_float_dtype_refuses_integers():
    assert backend.float_dtype(None) == numpy.float32
    with pytest.raises(TypeError, match="floating"):
        backend.float_dtype(numpy.int32)
