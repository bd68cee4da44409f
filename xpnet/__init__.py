"""xpnet: deep learning from scratch on NumPy (CPU) and CuPy (GPU).

The maths of every op is written out here, forward and backward, in matrix form so that
the work is BLAS on the CPU and CUDA on the GPU.

The sub-packages are attributes, imported on first use: ``xpnet.nn``, ``xpnet.optim``,
``xpnet.data``, ``xpnet.models``, ``xpnet.train``, ``xpnet.viz``, ``xpnet.cpu``,
``xpnet.init``, ``xpnet.testing``, ``xpnet.onnx`` (export and import) and
``xpnet.interop`` (PyTorch state dicts, also as ``xpnet.save_state_dict`` and
``xpnet.load_state_dict``). Importing xpnet changes nothing in the process (no
environment variable, no allocator setting, no thread count): the CLI and
:class:`xpnet.train.Trainer` tune glibc's allocator for training
(:func:`xpnet.cpu.tune_allocator`), and a script may call it too.

Example:
    >>> import xpnet
    >>> from xpnet import functions as F
    >>> x = xpnet.Tensor([[1.0, -2.0]], requires_grad=True)
    >>> F.relu(x).sum().backward()
    >>> x.grad
    array([[1., 0.]], dtype=float32)
    >>> xpnet.nn.Linear(2, 3).weight.shape
    (3, 2)
"""

import importlib
from typing import Any

from xpnet import backend, functions
from xpnet.cpu import get_num_threads, set_num_threads
from xpnet.function import Function, enable_grad, is_grad_enabled, no_grad
from xpnet.tensor import Tensor

__version__ = "0.2.0"

#: The sub-packages reachable as attributes (``xpnet.nn``), each imported on first use.
SUBPACKAGES = ("cpu", "data", "init", "interop", "models", "nn", "onnx", "optim", "testing",
               "train", "viz")

#: Functions of sub-packages reachable from the root (``xpnet.load_state_dict``), like
#: ``torch.load``: name -> the sub-package that defines it, imported on first use.
SHORTCUTS = {"load_state_dict": "interop", "save_state_dict": "interop"}


def __getattr__(name: str) -> Any:
    if name in SUBPACKAGES:
        module = importlib.import_module(f"xpnet.{name}")
        globals()[name] = module  # the next lookup is a plain attribute
        return module
    if name in SHORTCUTS:
        value = getattr(importlib.import_module(f"xpnet.{SHORTCUTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'xpnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *SUBPACKAGES, *SHORTCUTS})

__all__ = [
    "Function",
    "Tensor",
    "backend",
    "enable_grad",
    "functions",
    "get_num_threads",
    "is_grad_enabled",
    "no_grad",
    "set_num_threads",
    "__version__",
    *SUBPACKAGES,
    *SHORTCUTS,
]
