"""A tiny, fully seeded training run, shared by the training tests.

Imported by tests (``make_run``, ``weights_sha256``) and run as a script by the kill -9
test::

    python train_worker.py RUN_DIR EPOCHS [--resume] [--pause-at EPOCH BATCH]

It prints ``PAUSED`` and sleeps when it reaches (EPOCH, BATCH) (1-based, after that
step's callbacks, checkpoints included), so the parent can kill it there, and prints
``SHA256 <hex>`` of the final weights when it finishes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time

import numpy

from xpnet import nn, optim
from xpnet.data import ArrayDataset, DataLoader
from xpnet.train import Trainer
from xpnet.train.callbacks import Callback

N_TRAIN, N_VAL, FEATURES, CLASSES, BATCH = 384, 128, 20, 4, 32


def make_data(seed: int = 0):
    """A learnable 4-class problem: labels from a random linear teacher."""
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N_TRAIN + N_VAL, 1, 4, 5)).astype(numpy.float32)
    teacher = rng.standard_normal((FEATURES, CLASSES))
    y = (x.reshape(len(x), -1) @ teacher).argmax(axis=1).astype(numpy.int64)
    return x, y


def make_run(seed: int = 0, data=None, lr: float = 0.1, scheduler: str = "step"):
    """(model, optimizer, scheduler, train_loader, val_loader), all from ``seed``."""
    x, y = make_data() if data is None else data
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(FEATURES, 32, rng=numpy.random.default_rng([seed, 1])),
        nn.ReLU(),
        nn.Dropout(0.25, rng=numpy.random.default_rng([seed, 2])),
        nn.Linear(32, CLASSES, rng=numpy.random.default_rng([seed, 3])),
    )
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    if scheduler == "step":
        sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    elif scheduler == "plateau":
        sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    else:
        sched = None
    train = DataLoader(ArrayDataset(x[:N_TRAIN], y[:N_TRAIN]), BATCH, seed=seed + 7)
    val = DataLoader(ArrayDataset(x[N_TRAIN:], y[N_TRAIN:]), 64, shuffle=False)
    return model, opt, sched, train, val


def weights_sha256(model) -> str:
    """SHA-256 over every parameter and buffer's bytes, in name order."""
    h = hashlib.sha256()
    for name, a in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(numpy.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class Pause(Callback):
    """Announce and sleep at (epoch, batch), 1-based: the parent kills us there."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    @property
    def state_key(self) -> str:
        return "Pause"

    def on_batch_end(self, state) -> None:
        if state.epoch + 1 == self.epoch and state.batch == self.batch:
            print("PAUSED", flush=True)
            time.sleep(120)


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("epochs", type=int)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--pause-at", type=int, nargs=2)
    p.add_argument("--every", type=int, default=5)
    args = p.parse_args(argv)
    model, opt, sched, train, val = make_run()
    callbacks = [Pause(*args.pause_at)] if args.pause_at else []
    trainer = Trainer(model, opt, train, val_loader=val, scheduler=sched, callbacks=callbacks,
                      run_dir=args.run_dir, checkpoint_every_steps=args.every)
    trainer.fit(args.epochs, resume=args.resume)
    print("SHA256", weights_sha256(model), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
