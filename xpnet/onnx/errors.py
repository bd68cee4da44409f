"""The errors of ONNX export and import: one line that names the layer or the node."""

from __future__ import annotations

__all__ = ["ExportError", "OnnxImportError", "require_onnx"]


class ExportError(ValueError):
    """A model that cannot be written as ONNX: the message names the layer and why."""


class OnnxImportError(ValueError):
    """An ONNX graph that xpnet cannot load: the message names the node, its operator
    and the attribute (or input) that is not supported."""


def require_onnx() -> object:
    """The ``onnx`` package, or an ImportError saying how to install it."""
    try:
        import onnx  # noqa: PLC0415  (optional: only export and import need it)
    except ImportError:
        raise ImportError("ONNX export and import need the onnx package: "
                          "pip install 'xpnet[onnx]'") from None
    return onnx
