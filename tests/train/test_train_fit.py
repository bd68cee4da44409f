"""The fit loop: reproducibility, resume, history, best checkpoint, guard, evaluation."""

import json

import numpy
import pytest
from train_worker import make_run, weights_sha256

import xpnet
from xpnet import nn
from xpnet.function import Function
from xpnet.train import (
    CheckpointError,
    NonFiniteError,
    Trainer,
    evaluate,
    fit,
    load_checkpoint,
    load_state,
    load_weights,
)
from xpnet.train.callbacks import Callback, EarlyStopping, LRLogger, read_history


def _fit(epochs, run_dir=None, resume=False, seed=0, callbacks=(), every=None, log=50, **kw):
    model, opt, sched, train, val = make_run(seed, **kw)
    trainer = Trainer(model, opt, train, val_loader=val, scheduler=sched, run_dir=run_dir,
                      callbacks=callbacks, checkpoint_every_steps=every, log_every_steps=log)
    history = trainer.fit(epochs, resume=resume)
    return model, history, trainer


def _strip(records):
    """Records without the wall-clock fields, which differ between runs."""
    return [{k: v for k, v in r.items() if k not in ("time", "images_per_sec")}
            for r in records]


def test_same_seed_twice_gives_bit_identical_weights():
    a, ha, _ = _fit(3)
    b, hb, _ = _fit(3)
    c, _, _ = _fit(3, seed=1)
    assert weights_sha256(a) == weights_sha256(b)
    assert _strip(ha) == _strip(hb)
    assert weights_sha256(a) != weights_sha256(c)
    assert ha[-1]["val_accuracy"] > 0.8  # it learns
    assert [r["lr"] for r in ha] == [0.1, 0.1, 0.05]  # StepLR(2, 0.5), recorded per epoch


def test_resume_after_epoch_two_is_bit_identical(tmp_path):
    full, h_full, _ = _fit(3, tmp_path / "full")
    _fit(2, tmp_path / "cut")
    resumed, h_res, trainer = _fit(3, tmp_path / "cut", resume=True)
    assert weights_sha256(resumed) == weights_sha256(full)
    assert _strip(h_res) == _strip(h_full)
    assert trainer.step == 36 and trainer.epoch == 3
    on_disk = _strip(read_history(tmp_path / "cut" / "history.jsonl"))
    assert on_disk == _strip(read_history(tmp_path / "full" / "history.jsonl"))


class _Crash(Callback):
    """Raise in the middle of an epoch, as a crash would (after the step's checkpoint)."""

    def __init__(self, epoch, batch):
        self.at = (epoch, batch)

    def on_batch_end(self, state):
        if (state.epoch + 1, state.batch) == self.at:
            raise KeyboardInterrupt


def test_resume_mid_epoch_is_bit_identical(tmp_path):
    full, _, _ = _fit(3, tmp_path / "full", every=4, log=3)
    with pytest.raises(KeyboardInterrupt):
        _fit(3, tmp_path / "cut", every=4, log=3, callbacks=[_Crash(3, 7)])
    meta = load_checkpoint(tmp_path / "cut" / "last")[1]
    assert (meta["epoch"], meta["step"]) == (2, 28)  # epoch 3 (0-based 2), batch 4 of 12
    # the step-30 record was written after that checkpoint: the resume must drop it
    assert read_history(tmp_path / "cut" / "history.jsonl")[-1]["step"] == 30
    resumed, _, _ = _fit(3, tmp_path / "cut", every=4, log=3, resume=True)
    assert weights_sha256(resumed) == weights_sha256(full)
    assert _strip(read_history(tmp_path / "cut" / "history.jsonl")) == _strip(
        read_history(tmp_path / "full" / "history.jsonl"))


def test_checkpoint_holds_everything(tmp_path):
    model, _, trainer = _fit(2, tmp_path)
    state, meta = load_state(tmp_path / "last")
    assert set(state) >= {"model", "optimizer", "scheduler", "train_loader", "rng",
                          "progress", "history", "callbacks"}
    assert set(state["rng"]) == {"model.3.rng", "trainer.rng"}  # the Dropout's and ours
    assert state["rng"]["model.3.rng"] == model[3].rng.bit_generator.state
    assert state["progress"] == {"epoch": 2, "batch": 0, "step": 24}
    assert state["optimizer"]["state"]["0"]["momentum_buffer"].shape == (32, 20)
    assert state["train_loader"]["epoch"] == 2
    assert meta["epoch"] == 2 and meta["metrics"]["epoch"] == 2
    for name, a in model.state_dict().items():
        numpy.testing.assert_array_equal(state["model"][name], a)


def test_resume_refuses_missing_or_damaged_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        _fit(1, tmp_path / "empty", resume=True)
    _fit(1, tmp_path / "run")
    path = tmp_path / "run" / "last.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError):
        _fit(2, tmp_path / "run", resume=True)


def test_history_file_has_epoch_and_step_records(tmp_path):
    model, opt, sched, train, val = make_run()
    fit(model, opt, train, 2, val_loader=val, scheduler=sched, run_dir=tmp_path,
        log_every_steps=5)
    records = read_history(tmp_path / "history.jsonl")
    epochs = [r for r in records if r["kind"] == "epoch"]
    steps = [r for r in records if r["kind"] == "step"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert [r["step"] for r in steps] == [5, 10, 15, 20]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"} <= set(epochs[0])
    assert "val_top5" not in epochs[0]  # 4 classes: top-5 only above 10
    assert all(set(r) == {"kind", "epoch", "step", "loss", "lr"} for r in steps)
    assert all(json.loads(line) for line in (tmp_path / "history.jsonl").open())


def test_best_checkpoint_follows_the_lowest_validation_loss(tmp_path):
    _, history, trainer = _fit(4, tmp_path)
    losses = [r["val_loss"] for r in history]
    best_epoch = min(range(4), key=lambda i: (losses[i], i)) + 1  # the first of equal bests
    assert load_checkpoint(tmp_path / "best")[1]["epoch"] == best_epoch
    ckpt_cb = next(c for c in trainer.callbacks if type(c).__name__ == "Checkpoint")
    assert trainer.monitor == ckpt_cb.monitor == "val_loss"  # the default
    assert ckpt_cb.best == min(losses) and ckpt_cb.best_epoch == best_epoch


def test_best_checkpoint_can_follow_the_validation_accuracy(tmp_path):
    model, opt, sched, train, val = make_run()
    trainer = Trainer(model, opt, train, val_loader=val, scheduler=sched, run_dir=tmp_path,
                      monitor="val_accuracy")
    history = trainer.fit(4)
    accs = [r["val_accuracy"] for r in history]
    best_epoch = max(range(4), key=lambda i: (accs[i], -i)) + 1  # the first of equal bests
    assert load_checkpoint(tmp_path / "best")[1]["epoch"] == best_epoch


def test_top5_is_reported_above_ten_classes():
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((64, 1, 2, 3)).astype(numpy.float32)
    y = rng.integers(0, 12, 64)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 12, rng=rng))
    from xpnet.data import ArrayDataset, DataLoader

    r = evaluate(model, DataLoader(ArrayDataset(x, y), 16, shuffle=False))
    assert {"loss", "accuracy", "top5", "confusion", "count"} <= set(r)
    assert r["count"] == 64 and r["confusion"].shape == (12, 12)
    assert r["confusion"].sum() == 64 and r["top5"] >= r["accuracy"]
    scores = model(xpnet.Tensor(x)).data
    assert r["accuracy"] == float((scores.argmax(1) == y).mean())
    assert numpy.trace(r["confusion"]) == int((scores.argmax(1) == y).sum())


def test_evaluate_uses_eval_mode_and_restores_it():
    model, _, _, _, val = make_run()
    model.train()
    a, b = evaluate(model, val), evaluate(model, val)
    assert a["loss"] == b["loss"]  # dropout off: deterministic
    assert model.training and all(m.training for m in model.modules())


def test_early_stopping_and_lr_logging(tmp_path):
    import io

    out = io.StringIO()
    stop = EarlyStopping(patience=2, monitor="val_loss")
    _, history, _ = _fit(10, callbacks=[stop, LRLogger(out)], lr=0.0, scheduler="plateau")
    assert len(history) == 3  # epoch 1 sets the best; 2 and 3 do not improve: stop
    assert stop.stopped_epoch == 3
    assert "epoch 1: learning rate 0 -> 0" not in out.getvalue()


def test_plateau_schedule_gets_the_validation_loss(tmp_path):
    _, history, trainer = _fit(3, scheduler="plateau", lr=5.0)  # diverging: no improvement
    assert trainer.scheduler.last_epoch == 3
    lrs = [r["lr"] for r in history]
    assert lrs[0] == 5.0 and all(b <= a for a, b in zip(lrs, lrs[1:], strict=False))


# ------------------------------------------------------------------------------ guard
class _Inject:
    """A loader around another that puts a NaN into the batch of one chosen step."""

    def __init__(self, loader, step):
        self.loader, self.step, self.armed = loader, step, False

    def __len__(self):
        return len(self.loader)

    def set_epoch(self, epoch):
        self.loader.set_epoch(epoch)

    def __iter__(self):
        for x, y in self.loader:
            if self.armed:
                x = x.copy()
                x[3, 0, 1, 1] = numpy.nan
            yield x, y


class _Arm(Callback):
    def __init__(self, inject):
        self.inject = inject

    def on_batch_end(self, state):
        self.inject.armed = state.step == self.inject.step - 1


def test_nan_in_the_data_is_reported_at_its_step(tmp_path):
    model, opt, sched, train, val = make_run()
    inject = _Inject(train, 17)
    trainer = Trainer(model, opt, inject, val_loader=val, scheduler=sched, run_dir=tmp_path,
                      callbacks=[_Arm(inject)])
    with pytest.raises(NonFiniteError) as info:
        trainer.fit(3)
    err = info.value
    assert err.step == 17 and err.epoch == 1  # batch 5 of epoch 2
    assert "step 17 (epoch 2, batch 5)" in str(err) and "loss = nan" in str(err)
    assert err.parameter == "1.weight"  # the first parameter; every gradient is NaN
    assert err.op == "SoftmaxCrossEntropy"  # the first backward to produce NaN
    tensors, meta = load_checkpoint(tmp_path / "last")  # the epoch-1 checkpoint, intact
    assert meta["epoch"] == 1 and meta["step"] == 12
    assert all(numpy.isfinite(t).all() for t in tensors.values() if t.dtype.kind == "f")


class _NaNGrad(Function):
    """Identity forward; a NaN gradient backward (the op the guard must name)."""

    def forward(self, x):
        return x

    def backward(self, gy):
        return gy * numpy.nan


class _Poison(nn.Module):
    """Adds w to its input; once armed, w's gradient goes through _NaNGrad."""

    def __init__(self, n):
        super().__init__()
        self.w = nn.Parameter(numpy.zeros(n, numpy.float32))
        self.armed = False

    def forward(self, x):
        return x + (_NaNGrad()(self.w) if self.armed else self.w)


def test_nan_gradient_names_the_parameter_and_the_op():
    model, opt, _, train, _ = make_run(scheduler=None)
    poison = _Poison(4)
    model.append(poison)
    opt = type(opt)(model.parameters(), lr=0.1)

    class Arm(Callback):
        def on_batch_end(self, state):
            poison.armed = state.step == 6  # step 7 is poisoned

    with pytest.raises(NonFiniteError) as info:
        Trainer(model, opt, train, callbacks=[Arm()]).fit(2)
    err = info.value
    assert (err.step, err.parameter, err.op) == (7, "5.w", "_NaNGrad")
    assert "parameter '5.w'" in str(err) and "_NaNGrad" in str(err)
    assert numpy.isfinite(model[1].weight.data).all()  # the bad step was not applied


def test_guard_can_be_turned_off():
    model, opt, _, train, _ = make_run(scheduler=None)
    inject = _Inject(train, 2)
    trainer = Trainer(model, opt, inject, guard=False, callbacks=[_Arm(inject)])
    trainer.fit(1)  # no error: the NaN flows into the weights
    assert not numpy.isfinite(model[1].weight.data).all()


def test_bad_arguments():
    model, opt, _, train, _ = make_run()
    with pytest.raises(ValueError, match="unknown metrics"):
        Trainer(model, opt, train, metrics=("f1",))
    with pytest.raises(ValueError, match="epochs"):
        Trainer(model, opt, train).fit(0)
    with pytest.raises(ValueError, match="resume=True needs a run_dir"):
        Trainer(model, opt, train).fit(1, resume=True)


def test_a_second_fit_call_continues_the_run(tmp_path):
    model, opt, sched, train, val = make_run()
    trainer = Trainer(model, opt, train, val_loader=val, scheduler=sched, run_dir=tmp_path)
    trainer.fit(2)
    trainer.fit(3)
    full, _, _ = _fit(3)
    assert weights_sha256(model) == weights_sha256(full)
    assert [r["epoch"] for r in read_history(tmp_path / "history.jsonl")] == [1, 2, 3]


def test_load_weights_for_evaluation(tmp_path):
    trained, history, _ = _fit(2, tmp_path)
    fresh, _, _, _, val = make_run(seed=5)
    meta = load_weights(fresh, tmp_path / "last")
    assert meta["epoch"] == 2 and weights_sha256(fresh) == weights_sha256(trained)
    assert evaluate(fresh, val)["accuracy"] == history[-1]["val_accuracy"]


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_an_update_that_overflows_a_weight_stops_before_anything_is_saved(tmp_path):
    model, opt, _, train, _ = make_run(scheduler=None, lr=1e39)  # finite in float64 only
    with pytest.raises(NonFiniteError) as info:
        Trainer(model, opt, train, run_dir=tmp_path, checkpoint_every_steps=1).fit(1)
    err = info.value
    assert (err.step, err.epoch, err.parameter) == (1, 0, "1.weight")
    assert str(err).startswith("non-finite weights after the update at step 1 (epoch 1, "
                               "batch 1): parameter '1.weight' holds NaN/inf although the loss (")
    assert str(err).endswith(") and the gradients were finite (the step overflowed: lower the "
                             "learning rate); training stopped; no checkpoint had been saved")
    assert not list(tmp_path.glob("*.safetensors"))


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_the_guard_names_the_checkpoint_it_keeps_and_it_is_finite(tmp_path):
    model, opt, _, train, _ = make_run(scheduler=None)

    class Blow(Callback):  # after step 3, a learning rate no float32 weight survives
        def on_batch_end(self, state):
            if state.step == 3:
                opt.lr = 1e39

    with pytest.raises(NonFiniteError) as info:
        Trainer(model, opt, train, run_dir=tmp_path, checkpoint_every_steps=1,
                callbacks=[Blow()]).fit(1)
    assert info.value.step == 4
    assert str(info.value).endswith("training stopped; the last checkpoint, saved at step 3 "
                                    f"with finite weights, is kept: {tmp_path / 'last'}"
                                    ".safetensors")
    tensors, meta = load_checkpoint(tmp_path / "last")
    assert meta["step"] == 3
    assert all(numpy.isfinite(t).all() for t in tensors.values() if t.dtype.kind == "f")


def test_a_saved_state_that_does_not_fit_is_one_error_naming_the_file(tmp_path):
    _fit(1, tmp_path)
    state, _ = load_state(tmp_path / "last")
    state["optimizer"]["state"]["0"] = {"momentum_buffer": numpy.zeros((2, 2), numpy.float32)}
    model, opt, sched, train, val = make_run()
    with pytest.raises(CheckpointError) as info:
        Trainer(model, opt, train, val_loader=val, scheduler=sched,
                run_dir=tmp_path).fit(2, resume=state)
    assert str(info.value).startswith(f"{tmp_path / 'last.safetensors'}: the saved state does "
                                      "not fit this run (SGD.load_state_dict: ")
