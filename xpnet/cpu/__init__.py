"""The CPU engines: threads, compiled kernels, the convolution engines and their choice.

The ops in :mod:`xpnet.functions` hold the maths, written on NumPy/CuPy; for NumPy arrays
each makes one call into this package for its fast path:

- ``threads.py``: the batch split over Python threads with BLAS on one thread inside,
  deterministic (:func:`set_num_threads`, :func:`one_blas_thread`);
- ``settings.py``: :func:`engines`, the scoped override of every engine choice below;
- ``kernels.py``: lazy loading of the compiled (numba) kernels, all optional;
- ``conv/``: the convolution engines (register blocks, direct sums, im2col + GEMM) and
  the choice among them (:func:`conv_engine` tells which one a shape takes);
- ``dense.py``: a dense layer's products over the threads, in the orientation BLAS
  prefers, or by the convolutions' register blocks (``dense_blocks.py``, with the
  register-tile transpose of ``transpose_ir.py``) for small batches;
- ``pooling/``, ``relu.py``, ``lrn.py``, ``optim.py``: the compiled paths of pooling,
  ReLU, LRN and the optimisers' updates;
- ``layout.py``: the channels-last memory the engines hand from op to op;
- ``allocator.py``: :func:`tune_allocator`, glibc's thresholds for a training process
  (an explicit call: importing xpnet changes nothing in the process).

Every threshold an engine choice rests on is measured in docs/benchmarks.md ("Engine
thresholds"); design notes in docs/design.md ("Memory layout and threads on the CPU").

Example:
    >>> import xpnet
    >>> xpnet.cpu.set_num_threads(2)
    >>> xpnet.cpu.conv_engine((128, 1, 28, 28), (6, 1, 5, 5), padding=2)
    'direct'
    >>> with xpnet.cpu.engines(conv="gemm"):
    ...     xpnet.cpu.conv_engine((128, 1, 28, 28), (6, 1, 5, 5), padding=2)
    'gemm'
"""

from xpnet.cpu.allocator import tune_allocator
from xpnet.cpu.conv.select import conv_engine
from xpnet.cpu.settings import Engines, engines
from xpnet.cpu.threads import get_num_threads, one_blas_thread, set_num_threads

__all__ = [
    "Engines",
    "conv_engine",
    "engines",
    "get_num_threads",
    "one_blas_thread",
    "set_num_threads",
    "tune_allocator",
]
