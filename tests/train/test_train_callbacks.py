"""Callbacks: progress output, best-only-on-improvement, TensorBoard, curves, early stop."""

import io

import pytest
from train_worker import make_run

from xpnet.train import Trainer
from xpnet.train.callbacks import (
    Checkpoint,
    CurvesPlot,
    EarlyStopping,
    ProgressBar,
    TensorBoard,
    TrainState,
)


class _Clock:
    """A fake clock: each reading advances by ``tick`` seconds."""

    def __init__(self, tick):
        self.t, self.tick = 0.0, tick

    def __call__(self):
        self.t += self.tick
        return self.t


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def _train(callbacks, epochs=2, **kw):
    model, opt, sched, train, val = make_run()
    trainer = Trainer(model, opt, train, val_loader=val, scheduler=sched, callbacks=callbacks,
                      **kw)
    return trainer.fit(epochs)


def test_progress_in_a_log_is_a_few_plain_lines():
    out = _Stream(tty=False)
    # each clock reading is 0.5 s later: about one line per 5 s of (fake) time
    _train([ProgressBar(out, interval=5.0, clock=_Clock(0.5))], epochs=2)
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert 4 <= len(lines) <= 10  # 24 steps, ~12 s: 2 progress lines + 2 epoch lines + done
    progress = [ln for ln in lines if " step " in ln]
    assert progress and all(
        "epoch" in ln and "loss" in ln and "img/s" in ln and "eta" in ln for ln in progress
    )
    assert sum(ln.startswith("epoch 1/2  train loss") for ln in lines) == 1
    assert lines[-1].startswith("done: 2 epochs, 24 steps")


def test_progress_on_a_terminal_redraws_one_line():
    out = _Stream(tty=True)
    _train([ProgressBar(out, redraw=0.0, clock=_Clock(0.01))], epochs=1)
    text = out.getvalue()
    assert text.count("\r") >= 12  # one redraw per step
    assert text.count("\n") == 2  # the epoch summary and the final line
    assert "[" in text and "100%" in text


def test_progress_in_a_real_log_file(tmp_path):
    with open(tmp_path / "log.txt", "w") as f:  # not a TTY
        _train([ProgressBar(f, interval=3600.0)], epochs=2)
    text = (tmp_path / "log.txt").read_text()
    assert "\r" not in text and len(text.splitlines()) == 3  # 2 epoch lines + done


class _FakeTrainer:
    def __init__(self):
        self.saved = []

    def save_checkpoint(self, path):
        self.saved.append((path.name, self.epoch))


def test_best_checkpoint_only_on_improvement(tmp_path):
    cb = Checkpoint(tmp_path, monitor="val_accuracy")
    trainer = _FakeTrainer()
    state = TrainState(epochs=5, batches_per_epoch=3, trainer=trainer)
    for epoch, acc in enumerate([0.5, 0.6, 0.55, 0.6, 0.7], 1):
        trainer.epoch = epoch
        state.metrics = {"epoch": epoch, "val_accuracy": acc, "val_loss": 1 / acc}
        cb.on_epoch_end(state)
    assert [e for name, e in trainer.saved if name == "best"] == [1, 2, 5]
    assert [e for name, e in trainer.saved if name == "last"] == [1, 2, 3, 4, 5]
    assert cb.state_dict() == {"best": 0.7, "best_epoch": 5}
    by_loss = Checkpoint(tmp_path, monitor="val_loss")
    assert by_loss.mode == "min"


def test_checkpoint_every_n_steps(tmp_path):
    cb = Checkpoint(tmp_path, every_steps=4)
    trainer = _FakeTrainer()
    trainer.epoch = 0
    state = TrainState(epochs=1, batches_per_epoch=12, trainer=trainer)
    for step in range(1, 13):
        state.step = state.batch = step
        cb.on_batch_end(state)
    assert len(trainer.saved) == 2  # steps 4 and 8; the epoch end saves step 12


def test_early_stopping_rules():
    stop = EarlyStopping(patience=2, monitor="val_accuracy")
    state = TrainState(epochs=10, batches_per_epoch=1)
    for epoch, acc in enumerate([0.5, 0.7, 0.7, 0.69], 1):
        state.metrics = {"epoch": epoch, "val_accuracy": acc}
        stop.on_epoch_end(state)
    assert state.stop_training and stop.stopped_epoch == 4
    with pytest.raises(KeyError, match="no metric 'val_f1'"):
        EarlyStopping(monitor="val_f1").on_epoch_end(state)


def test_early_stopping_at_a_threshold_without_patience():
    stop = EarlyStopping(patience=None, monitor="train_accuracy", stopping_threshold=1.0)
    state = TrainState(epochs=10, batches_per_epoch=1)
    for epoch, acc in enumerate([0.5, 0.5, 0.5, 0.5, 0.9], 1):  # no improvement: go on
        state.metrics = {"epoch": epoch, "train_accuracy": acc}
        stop.on_epoch_end(state)
        assert not state.stop_training
    state.metrics = {"epoch": 6, "train_accuracy": 1.0}
    stop.on_epoch_end(state)
    assert state.stop_training and stop.stopped_epoch == 6
    low = EarlyStopping(patience=None, monitor="val_loss", stopping_threshold=0.1)
    state = TrainState(epochs=10, batches_per_epoch=1, metrics={"epoch": 1, "val_loss": 0.1})
    low.on_epoch_end(state)
    assert state.stop_training  # "min" metrics stop at or below the threshold
    with pytest.raises(ValueError, match="a patience, a stopping_threshold or both"):
        EarlyStopping(patience=None)


def test_tensorboard_event_files(tmp_path):
    pytest.importorskip("tensorboardX")  # its protobuf classes decode our file
    _train([TensorBoard(tmp_path / "tb", every_steps=5)], epochs=2)
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    scalars = _read_events(events[0])
    assert {"step/loss", "step/lr", "loss/train", "loss/val", "accuracy/val", "lr"} <= set(scalars)
    assert [step for step, _ in scalars["loss/val"]] == [12, 24]
    assert [step for step, _ in scalars["step/loss"]] == [5, 10, 15, 20]


def _read_events(path):
    """tag -> [(step, value)] from a TFRecord event file (length, crc, Event proto, crc)."""
    import struct

    from tensorboardX.proto import event_pb2

    data, pos, out = path.read_bytes(), 0, {}
    while pos < len(data):
        (n,) = struct.unpack("<Q", data[pos : pos + 8])
        event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + n])
        pos += 12 + n + 4
        for v in event.summary.value:
            out.setdefault(v.tag, []).append((event.step, v.simple_value))
    return out


def test_curves_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    _train([CurvesPlot(tmp_path)], epochs=2, run_dir=tmp_path, log_every_steps=3)
    png = (tmp_path / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


@pytest.mark.parametrize(("min_seconds", "tick", "draws"), [
    (0.0, 1.0, 3),     # after every epoch; nothing left for the end
    (30.0, 1.0, 1),    # a short run: once, when training ends
    (30.0, 20.0, 2),   # long epochs: when 30 s have passed, then the rest at the end
])
def test_curves_are_redrawn_at_most_every_min_seconds(tmp_path, monkeypatch, min_seconds,
                                                      tick, draws):
    import xpnet.viz.curves

    calls = []
    monkeypatch.setattr(xpnet.viz.curves, "plot_training_curves",
                        lambda history, out: calls.append(out) or out)
    now = [0.0]

    def clock():  # every reading is ``tick`` seconds later (a few readings per epoch)
        now[0] += tick
        return now[0]

    _train([CurvesPlot(tmp_path, min_seconds=min_seconds, clock=clock)], epochs=3,
           run_dir=tmp_path)
    assert len(calls) == draws


def test_a_resumed_run_purges_what_followed_its_checkpoint(tmp_path):
    """The resumed file starts with a SessionLog START at the checkpoint's step + 1, so
    TensorBoard drops the stopped run's later events."""
    import struct

    event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
    from xpnet.train.callbacks.base import TrainState

    cb = TensorBoard(tmp_path / "tb")
    state = TrainState.__new__(TrainState)
    state.step, state.resumed = 40, True
    cb.on_train_begin(state)
    cb.on_train_end(state)
    (path,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    data = path.read_bytes()
    first = 12 + int.from_bytes(data[:8], "little") + 4  # skip the file_version record
    (n,) = struct.unpack("<Q", data[first:first + 8])
    event = event_pb2.Event.FromString(data[first + 12:first + 12 + n])
    assert event.step == 41 and event.session_log.status == event_pb2.SessionLog.START
