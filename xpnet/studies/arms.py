"""One arm of a study: a network, data and a training budget, trained by xpnet and, with
``--compare torch``, by its PyTorch twin from the same weights on the same batches.

:class:`Recipe` says what to train; :func:`fit_arm` trains it with
:class:`xpnet.train.Trainer` (and :func:`xpnet.studies.twin.train_torch`) and returns
what each framework measured, plus the largest weight difference after the first epoch
where the two should agree step for step. Both read their batches from a
:class:`~xpnet.data.DataLoader` made by :func:`make_loader` with the arm's seed, whose
order and augmentation are functions of (seed, epoch, batch) only: the two frameworks
see the same images in the same order.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy

from xpnet import nn, optim
from xpnet.data import DataLoader
from xpnet.optim.lr_scheduler import StepLR
from xpnet.studies.base import WEIGHT_DIFFS
from xpnet.train import Trainer
from xpnet.train import builders as B
from xpnet.train.callbacks import Callback, ProgressBar
from xpnet.train.callbacks.progress import epoch_summary
from xpnet.train.errors import NonFiniteError
from xpnet.train.evaluate import evaluate

__all__ = ["Budget", "ErrorWindow", "Recipe", "StudyProgress", "Trained", "carry_differences",
           "examples_seen", "fit_arm", "make_loader", "max_weight_difference"]

Arrays = tuple[numpy.ndarray, numpy.ndarray]
#: The fields of a Recipe that a study's budget gives (decay_every may be left out).
BUDGET_FIELDS = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "decay_every")


@dataclass(frozen=True)
class Recipe:
    """What one arm trains: a classifier by SGD on the softmax cross-entropy.

    Attributes:
        build: ``build(seed) -> nn.Sequential``, the network with its initial weights
            drawn from the seed (and any fitted pre-processing at its front).
        train, test: ``(x, y)`` arrays, x float32 (N, C, H, W), y int64 (N,).
        epochs: passes over ``train`` (the most, when ``seconds`` is set).
        batch_size: examples per step (len(train): full batch; 1: online).
        lr, momentum, weight_decay: SGD's (PyTorch's rule in both frameworks).
        decay_every: multiply the rate by 0.1 after every this many epochs (PyTorch's
            StepLR, in both), or None for a constant rate.
        augment: a batch transform ``fn(x, rng) -> x`` (drawn from the loader's
            per-batch generator, so both frameworks get the same images), or None.
        seconds: a wall-time budget: training stops at the first step past it.
        window: > 0: a curve ``window_error`` of the training error over the last
            ``window`` batches, after every batch.
        test_each_epoch: a ``test_error`` curve (the test set after every epoch).
        random: the network draws during training (dropout, DropConnect), so the two
            frameworks cannot agree step for step: no weight difference is reported.
        twin: whether PyTorch has the network's pieces.
    """

    build: Callable[[int], nn.Sequential]
    train: Arrays
    test: Arrays
    epochs: int
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    decay_every: int | None = None
    augment: Callable | None = None
    seconds: float | None = None
    window: int = 0
    test_each_epoch: bool = True
    random: bool = False
    twin: bool = True

    @classmethod
    def from_budget(cls, build: Callable[[int], nn.Sequential], train: Arrays, test: Arrays,
                    budget: dict[str, Any], **changes: Any) -> Recipe:
        """A recipe whose epochs, batch size, SGD settings and rate decay are the budget's.

        Args:
            build, train, test: as the attributes.
            budget: the study's budget (its other entries are ignored).
            changes: fields to set or to take instead of the budget's (``lr=0.01``,
                ``test_each_epoch=False``).

        Raises:
            ValueError: neither the budget nor ``changes`` give one of epochs, batch_size,
                lr, momentum and weight_decay (no default is taken for them).
        """
        fields = {k: budget[k] for k in BUDGET_FIELDS if k in budget} | changes
        missing = [k for k in BUDGET_FIELDS[:-1] if k not in fields]
        if missing:
            raise ValueError(f"Recipe.from_budget: the budget lacks {', '.join(missing)}")
        return cls(build, train, test, **fields)


@dataclass
class Trained:
    """A trained arm in one framework.

    Attributes:
        measured: ``test_accuracy``, ``test_loss``, ``train_accuracy``, ``train_loss``
            (the last epoch's running values, in training mode), ``seconds`` (training
            only), ``images_per_sec``, ``steps``, ``epochs`` and ``curves``.
        accuracy: ``accuracy(x, y) -> float``: the trained network in inference mode.
        model: the trained network (xpnet's or PyTorch's).
        weights: its parameters after the first epoch (NumPy arrays, in xpnet's order).
    """

    measured: dict[str, Any]
    accuracy: Callable[[numpy.ndarray, numpy.ndarray], float]
    model: Any
    weights: list[numpy.ndarray] | None


def make_loader(recipe: Recipe, seed: int) -> DataLoader:
    """The arm's training batches: shuffled and augmented from ``seed``; prepared on a
    background thread only when there is augmentation to prepare (otherwise the thread
    would only compete with the training threads for the cores)."""
    return DataLoader(recipe.train, recipe.batch_size, seed=seed, transform=recipe.augment,
                      prefetch=2 if recipe.augment is not None else 0)


class Budget:
    """A loader that ends its pass after the first step that ends past ``seconds``.

    Wraps a DataLoader for a time budget (full batch against online descent at equal
    wall time): the clock starts at the first batch, the time is read after each step,
    and :attr:`over` tells the loop to stop at the end of the pass. The time spent
    inside the loop counts, the evaluation after it does not.

    Args:
        loader: the DataLoader.
        seconds: the budget.
        clock: the time source.
    """

    def __init__(self, loader: DataLoader, seconds: float,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.loader, self.seconds, self.clock = loader, float(seconds), clock
        self.start: float | None = None
        self.over = False

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        """Passed on to the loader."""
        self.loader.set_epoch(epoch)

    def __iter__(self):
        for batch in self.loader:
            if self.start is None:
                self.start = self.clock()
            yield batch
            if self.clock() - self.start >= self.seconds:  # after the step on this batch
                self.over = True
                return


class ErrorWindow:
    """The training error over the last ``size`` batches, as a curve over epochs.

    Args:
        size: batches in the window (a point is recorded once the window is full).
        per_epoch: batches per epoch, to put the points on an epoch axis.
    """

    def __init__(self, size: int, per_epoch: int) -> None:
        self.batches: deque = deque(maxlen=size)
        self.per_epoch = per_epoch
        self.x: list[float] = []
        self.y: list[float] = []

    def add(self, wrong: int, count: int, step: int) -> None:
        """One batch: ``wrong`` of ``count`` examples misclassified, at ``step``."""
        self.batches.append((wrong, count))
        if len(self.batches) == self.batches.maxlen:
            self.x.append(step / self.per_epoch)
            self.y.append(sum(w for w, _ in self.batches) / sum(n for _, n in self.batches))

    def curve(self) -> dict[str, list[float]]:
        """``{"x": epochs, "y": error rates}``."""
        return {"x": self.x, "y": self.y}


class StudyProgress(ProgressBar):
    """:class:`~xpnet.train.callbacks.ProgressBar` kept to one line per arm: on a terminal
    each epoch's summary overwrites the last, and the line is cleared at the end (the
    study prints the arm's result instead); in a log, a plain line every few seconds."""

    def on_epoch_end(self, state: Any) -> None:
        if self.tty:
            line = epoch_summary(state.metrics, state.epochs).replace("val ", "test ")
            self.stream.write("\r" + line[:79].ljust(79))
            self.stream.flush()
            self._drawn = True

    def on_train_end(self, state: Any) -> None:
        if self.tty and self._drawn:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()


class _Track(Callback):
    """xpnet's side of the measurements: the error window and the first epoch's weights."""

    def __init__(self, model: nn.Module, window: ErrorWindow | None, budget: Budget | None):
        self.model, self.window, self.budget = model, window, budget
        self.weights: list[numpy.ndarray] | None = None
        self._seen = (0, 0)

    def on_epoch_begin(self, state: Any) -> None:
        self._seen = (0, 0)  # the trainer starts a fresh accumulator every epoch

    def on_batch_end(self, state: Any) -> None:
        if self.window is not None:
            acc = state.trainer.train_acc
            correct, count = acc.correct - self._seen[0], acc.count - self._seen[1]
            self._seen = (acc.correct, acc.count)
            self.window.add(count - correct, count, state.step)

    def on_epoch_end(self, state: Any) -> None:
        if state.epoch == 0:
            self.weights = [p.data.copy() for p in self.model.parameters()]
        if self.budget is not None and self.budget.over:
            state.stop_training = True


def measured_from(history: list[dict[str, Any]], final: dict[str, Any], examples: int,
                  window: ErrorWindow | None, per_epoch: int) -> dict[str, Any]:
    """The common measurements of a finished arm, from its epoch records."""
    seconds = sum(r["time"] for r in history)
    steps = history[-1]["step"]
    curves = {"train_error": {"x": [r["epoch"] for r in history],
                              "y": [1 - r["train_accuracy"] for r in history]}}
    if "val_accuracy" in history[0]:
        curves["test_error"] = {"x": [r["epoch"] for r in history],
                                "y": [1 - r["val_accuracy"] for r in history]}
    if window is not None:
        curves["window_error"] = window.curve()
    return {"test_accuracy": final["accuracy"], "test_loss": final["loss"],
            "train_accuracy": history[-1]["train_accuracy"],
            "train_loss": history[-1]["train_loss"], "seconds": seconds,
            "images_per_sec": examples / max(seconds, 1e-9), "steps": steps,
            "epochs": steps / per_epoch, "curves": curves}


def _test_loader(test: Arrays) -> DataLoader:
    return DataLoader(test, 500, shuffle=False, prefetch=0)


def train_xpnet(recipe: Recipe, seed: int, ctx: Any) -> Trained:
    """Train the arm with :class:`xpnet.train.Trainer`; see :class:`Trained`."""
    model = recipe.build(seed)
    loader: Any = make_loader(recipe, seed)
    budget = Budget(loader, recipe.seconds) if recipe.seconds else None
    loader = budget or loader
    window = ErrorWindow(recipe.window, len(loader)) if recipe.window else None
    track = _Track(model, window, budget)
    callbacks: list[Callback] = [track] + ([StudyProgress()] if ctx.progress else [])
    opt = optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                    weight_decay=recipe.weight_decay)
    schedule = StepLR(opt, recipe.decay_every, 0.1) if recipe.decay_every else None
    trainer = Trainer(model, opt, loader, B.LOSSES["cross_entropy"], callbacks=callbacks,
                      val_loader=_test_loader(recipe.test) if recipe.test_each_epoch else None,
                      scheduler=schedule, seed=seed)
    history = trainer.fit(recipe.epochs)
    if recipe.test_each_epoch:
        final = {"accuracy": history[-1]["val_accuracy"], "loss": history[-1]["val_loss"]}
    else:
        final = evaluate(model, _test_loader(recipe.test), confusion=False)
    seen = examples_seen(len(recipe.train[0]), recipe.batch_size, history[-1]["step"])
    measured = measured_from(history, final, seen, window, len(loader))

    def accuracy(x: numpy.ndarray, y: numpy.ndarray) -> float:
        return evaluate(model, _test_loader((x, y)), confusion=False)["accuracy"]

    return Trained(measured, accuracy, model, track.weights)


def examples_seen(n: int, batch_size: int, steps: int) -> int:
    """Examples trained on in ``steps`` steps over ``n`` examples (the last batch of an
    epoch may be short)."""
    full, rest = divmod(steps, -(-n // batch_size))
    return full * n + min(rest * batch_size, n)


def max_weight_difference(a: list[numpy.ndarray], b: list[numpy.ndarray]) -> float:
    """max |a_i - b_i| over every parameter (the two lists in the same order)."""
    if len(a) != len(b):
        raise ValueError(f"max_weight_difference: {len(a)} parameters against {len(b)}")
    return max(float(numpy.abs(numpy.asarray(x, numpy.float64) - y).max())
               for x, y in zip(a, b, strict=True))


def carry_differences(into: dict[str, Any], found: dict[str, Any]) -> None:
    """Keep in ``into`` the largest of its weight differences and those of ``found``: an
    arm made of several trainings (several sizes, two budgets) reports its worst."""
    for key in WEIGHT_DIFFS:
        if key in found:
            into[key] = max(found[key], into.get(key, 0.0))


def _say_result(ctx: Any, arm: str, seed: int, name: str, measured: dict[str, Any]) -> None:
    """The arm's line once trained (on a terminal its progress line has been cleared)."""
    if "test_accuracy" in measured:
        ctx.say(f"  {arm}, seed {seed}: {name}: test accuracy "
                f"{100 * measured['test_accuracy']:.2f}% ({measured['seconds']:.1f} s)")


def _with(trained: Trained, extra: Callable[[Trained], dict[str, Any]] | None
          ) -> dict[str, Any]:
    """The measurements and the extra ones (their curves joined to the others)."""
    more = dict(extra(trained)) if extra else {}
    curves = {**trained.measured["curves"], **more.pop("curves", {})}
    return {**trained.measured, **more, "curves": curves}


def fit_arm(ctx: Any, arm: str, recipe: Recipe, seed: int,
            extra: Callable[[Trained], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Train one arm for one seed in xpnet (and its PyTorch twin under --compare torch).

    Args:
        ctx: the study's :class:`~xpnet.studies.base.Context`.
        arm: the arm's name (for progress lines).
        recipe: what to train.
        seed: the seed of the initial weights, the batch order and the augmentation.
        extra: ``extra(trained) -> {metric: value}``, more measurements of the trained
            network (accuracy on shifted digits, ...), made in each framework.

    Returns:
        ``{"xpnet": measured, "torch": measured, "weight_diff": float, "step_diff":
        float}`` ("torch" and the differences only where they apply: the largest weight
        difference after the first epoch in float32, and after one step in float64,
        :func:`xpnet.studies.twin.first_step`); a framework whose training diverged (NaN
        or inf) measured ``{"diverged": 1.0}`` only.
    """
    ctx.say(f"  {arm}, seed {seed}: xpnet")
    result: dict[str, Any] = {}
    try:
        ours = train_xpnet(recipe, seed, ctx)
        result["xpnet"] = _with(ours, extra)
        _say_result(ctx, arm, seed, "xpnet", result["xpnet"])
    except NonFiniteError as e:  # a result of the arm, reported in the table
        ctx.say(f"  {arm}, seed {seed}: xpnet diverged ({e})")
        ours, result["xpnet"] = None, {"diverged": 1.0, "curves": {}}
    if ctx.compare == "torch" and recipe.twin:
        from xpnet.studies import twin  # noqa: PLC0415 (PyTorch only on this path)

        ctx.say(f"  {arm}, seed {seed}: PyTorch")
        try:
            theirs = twin.train_torch(recipe, seed, ctx)
            result["torch"] = _with(theirs, extra)
            _say_result(ctx, arm, seed, "PyTorch", result["torch"])
        except NonFiniteError as e:
            ctx.say(f"  {arm}, seed {seed}: PyTorch diverged ({e})")
            theirs, result["torch"] = None, {"diverged": 1.0, "curves": {}}
        if not recipe.random and ours is not None and theirs is not None and \
                ours.weights is not None and theirs.weights is not None:
            result["weight_diff"] = max_weight_difference(ours.weights, theirs.weights)
        if not recipe.random:
            result["step_diff"] = twin.first_step(recipe, seed)
    return result
