"""Learning-rate schedules: sequences by hand, state dicts, argument checks."""

import math

import numpy
import pytest

import xpnet
from xpnet import optim
from xpnet.optim import lr_scheduler as S


def _opt(lr=1.0):
    return optim.SGD([xpnet.Tensor(numpy.zeros(2), requires_grad=True)], lr=lr)


def _lrs(sched, n, metrics=None):
    out = []
    for i in range(n):
        sched.step() if metrics is None else sched.step(metrics[i])
        out.append(sched.optimizer.lr)
        assert sched.get_last_lr() == sched.optimizer.lr
    return out


def test_step_lr():
    lrs = _lrs(S.StepLR(_opt(1.0), step_size=3, gamma=0.5), 7)
    numpy.testing.assert_allclose(lrs, [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25], rtol=1e-15)


def test_exponential_lr():
    lrs = _lrs(S.ExponentialLR(_opt(0.1), gamma=0.9), 4)
    numpy.testing.assert_allclose(lrs, [0.1 * 0.9 ** k for k in range(1, 5)], rtol=1e-14)


def test_plateau_divides_by_ten_after_patience():
    opt = _opt(0.01)
    sched = S.ReduceLROnPlateau(opt, factor=0.1, patience=2)
    errors = [0.5, 0.4, 0.4, 0.4, 0.4, 0.3, 0.3, 0.3, 0.3]
    lrs = _lrs(sched, len(errors), errors)
    # 3 epochs without improvement (> patience 2) trigger a division
    numpy.testing.assert_allclose(lrs, [0.01] * 4 + [0.001] * 4 + [0.0001], rtol=1e-12)


def test_plateau_max_mode_threshold_cooldown_and_min_lr():
    opt = _opt(1.0)
    sched = S.ReduceLROnPlateau(
        opt, mode="max", factor=0.5, patience=0, threshold=0.1, threshold_mode="abs",
        cooldown=1, min_lr=0.3,
    )
    acc = [0.5, 0.55, 0.7, 0.7, 0.7, 0.7]
    lrs = _lrs(sched, len(acc), acc)
    # epoch 2: +0.05 is below the threshold, a bad epoch > patience 0: halve, cooldown 1;
    # epoch 3 improves (and uses up the cooldown); epoch 4 is bad: 0.25, clipped to min_lr
    assert lrs == [1.0, 0.5, 0.5, 0.3, 0.3, 0.3]


def test_scheduler_state_round_trip():
    opt = _opt(1.0)
    sched = S.ReduceLROnPlateau(opt, patience=1)
    assert sched.state_dict()["best"] is None  # no inf in JSON
    _lrs(sched, 3, [1.0, 2.0, 2.0])
    state = sched.state_dict()
    other = S.ReduceLROnPlateau(_opt(1.0), patience=7)
    other.load_state_dict(state)
    assert other.patience == 1 and other.best == 1.0 and other.last_epoch == 3
    assert other.num_bad_epochs == sched.num_bad_epochs

    step = S.StepLR(_opt(1.0), step_size=2)
    _lrs(step, 3)
    fresh = S.StepLR(_opt(0.5), step_size=9)
    fresh.load_state_dict(step.state_dict())
    assert fresh.step_size == 2 and fresh.last_epoch == 3 and fresh.get_last_lr() == 0.1
    with pytest.raises(KeyError, match="missing"):
        fresh.load_state_dict({"last_epoch": 1})


def test_scheduler_argument_errors():
    with pytest.raises(TypeError, match="Optimizer"):
        S.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="step_size must be an int >= 1"):
        S.StepLR(_opt(), step_size=0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        S.ReduceLROnPlateau(_opt(), mode="up")
    with pytest.raises(ValueError, match="factor must be in"):
        S.ReduceLROnPlateau(_opt(), factor=1.0)
    with pytest.raises(ValueError, match="patience"):
        S.ReduceLROnPlateau(_opt(), patience=-1)
    assert math.isinf(S.ReduceLROnPlateau(_opt()).best)
