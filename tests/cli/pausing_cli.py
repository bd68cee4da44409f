"""``python pausing_cli.py STEP ARGS...``: ``xpnet ARGS``, but after step STEP (its
checkpoint saved) it prints ``PAUSED`` and waits, so that a test can kill it there.

The pause is a callback handed to :func:`xpnet.train.train_run` through its
``callbacks`` parameter; the command line itself has no such hook.
"""

import sys
import time

import xpnet.train
from xpnet.cli import main
from xpnet.train.callbacks import Callback


class Pause(Callback):
    order = 200  # after the Checkpoint callback

    def __init__(self, step):
        self.step = step

    def on_batch_end(self, state):
        if state.step == self.step:
            print("PAUSED", flush=True)
            while True:
                time.sleep(1)


def _with_pause(train_run, step):
    def run(*args, **options):
        options["callbacks"] = [*options.get("callbacks", ()), Pause(step)]
        return train_run(*args, **options)
    return run


if __name__ == "__main__":
    xpnet.train.train_run = _with_pause(xpnet.train.train_run, int(sys.argv[1]))
    del sys.argv[1]  # the step; the rest is xpnet's command line, read as the program reads it
    sys.exit(main())
