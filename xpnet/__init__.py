"""xpnet: deep learning from scratch on NumPy (CPU) and CuPy (GPU).

The maths of every op is written out here, forward and backward, in matrix form so that
the work is BLAS on the CPU and CUDA on the GPU.

Example:
    >>> import xpnet
    >>> from xpnet import functions as F
    >>> x = xpnet.Tensor([[1.0, -2.0]], requires_grad=True)
    >>> F.relu(x).sum().backward()
    >>> x.grad
    array([[1., 0.]], dtype=float32)
"""

from xpnet import backend, functions
from xpnet.function import Function, enable_grad, is_grad_enabled, no_grad
from xpnet.functions._parallel import get_num_threads, set_num_threads
from xpnet.tensor import Tensor

__version__ = "0.1.0"

backend.tune_host_allocator()  # reuse freed host arrays: see its docstring

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
]
