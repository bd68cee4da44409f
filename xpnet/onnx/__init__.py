"""ONNX export and import (the ``onnx`` extra: ``pip install 'xpnet[onnx]'``).

- :func:`export` writes a model's eval-mode forward pass as an ONNX graph (a run's model
  with its fitted pre-processing: the file takes raw pixels); ``xpnet export RUN``.
- :func:`load` reads an ONNX graph (xpnet's, or PyTorch's ``torch.onnx.export``) as an
  xpnet Module that evaluates and fine-tunes.

Importing this package does not import ``onnx``; the functions do, and say how to
install it when it is missing.
"""

from __future__ import annotations

from xpnet.onnx.errors import ExportError, OnnxImportError
from xpnet.onnx.exporter import DEFAULT_OPSET, export
from xpnet.onnx.importer import load

__all__ = ["DEFAULT_OPSET", "ExportError", "OnnxImportError", "export", "load"]
