"""Helpers of the ONNX tests: run a graph in onnxruntime, RGB pictures from digits."""

import numpy
import pytest

onnx = pytest.importorskip("onnx", reason="the ONNX tests need onnx: pip install 'xpnet[onnx]'")
ort = pytest.importorskip("onnxruntime",
                          reason="the ONNX tests need onnxruntime: pip install 'xpnet[onnx]'")


def run_onnx(path, x, input_name="input"):
    """The graph's first output on x, computed by onnxruntime on the CPU."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {input_name: x})[0]


def rgb(digits, size):
    """Real pictures for the RGB models: each digit in three tinted channels, padded
    to size x size."""
    pad = (size - 28) // 2
    grey = numpy.pad(digits, ((0, 0), (0, 0), (pad, size - 28 - pad), (pad, size - 28 - pad)))
    return numpy.concatenate([grey, 0.5 * grey, 1.0 - grey], axis=1).astype(numpy.float32)
