"""The communicators' own promises that need no second process: an abort's last words."""

import os
import subprocess
import sys

import pytest

from xpnet.distributed import LocalCommunicator

_PIPE_READER = """
import os, sys
from xpnet.distributed.comm import _last_words
_last_words("x" * 200000 + "\\n", patience=float(sys.argv[1]))
print("returned", file=sys.stdout, flush=True)
"""


def test_abort_writes_its_message_then_exits_with_the_code(capfd):
    with pytest.raises(SystemExit) as stop:
        LocalCommunicator().abort(3, "xpnet: rank 0 of 1 failed\n")
    assert stop.value.code == 3
    assert capfd.readouterr().err == "xpnet: rank 0 of 1 failed\n"


def test_last_words_wait_until_the_reader_has_the_message_or_patience_runs_out():
    """A message larger than the pipe's buffer is written whole (the reader drains it),
    and a reader that never reads holds the writer back only ``patience`` seconds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", _PIPE_READER, "5"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.stderr == "x" * 200000 + "\n" and done.stdout == "returned\n"
    read, write = os.pipe()  # nobody reads: the bytes stay in the pipe
    try:
        small = subprocess.run([sys.executable, "-c", _PIPE_READER.replace("200000", "10"),
                                "0.2"], stderr=write,
                               stdout=subprocess.PIPE, text=True, timeout=60, env=env)
    finally:
        os.close(write)
        os.close(read)
    assert small.stdout == "returned\n"
