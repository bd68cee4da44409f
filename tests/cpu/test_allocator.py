"""xpnet.cpu.tune_allocator: glibc's thresholds set by an explicit call, never by import."""

import os
import platform
import subprocess
import sys

from xpnet import cpu

ON_GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def test_tune_allocator_applies_on_glibc_and_can_be_undone():
    try:
        assert cpu.tune_allocator() is ON_GLIBC
    finally:
        assert cpu.tune_allocator(keep_freed=False) is ON_GLIBC  # glibc's 128 KiB again


_IMPORT_ONLY = """
import sys
looked_up = []  # mallopt looked up in a C library: the only way to the thresholds
sys.addaudithook(lambda event, args: looked_up.append(args[1])
                 if event == "ctypes.dlsym" and args[1] == "mallopt" else None)
import xpnet
import xpnet.cpu, xpnet.nn, xpnet.optim, xpnet.train
from xpnet import Tensor, functions as F
F.relu(F.max_pool2d(Tensor([[[[1.0, -1.0], [2.0, 0.5]]]]), 2))
print(len(looked_up))
print(xpnet.cpu.tune_allocator(), len(looked_up))
"""


def test_importing_xpnet_leaves_the_allocator_alone():
    """In a fresh process: importing xpnet (and running ops) never looks up glibc's
    mallopt; the explicit call does (where the C library is glibc)."""
    done = subprocess.run([sys.executable, "-c", _IMPORT_ONLY], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == (["0", "True", "1"] if ON_GLIBC else ["0", "False", "0"])
