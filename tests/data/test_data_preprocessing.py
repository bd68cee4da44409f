"""Pre-processing: the statistics each step promises, fit on train only, state round trips."""

import json

import numpy
import pytest

from xpnet.data import preprocessing as P


def data(rng, n=300, shape=(3, 4, 4)):
    scales = numpy.array([1.0, 5.0, 0.2]).reshape(1, 3, 1, 1)
    return (rng.normal(2.0, 1.0, (n,) + shape) * scales).astype(numpy.float32)


def test_data_standardize_per_channel_and_global(rng):
    x = data(rng)
    z = P.Standardize().fit(x)(x)
    assert z.dtype == numpy.float32
    numpy.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    numpy.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, rtol=1e-4)
    g = P.Standardize(per_channel=False).fit(x)(x)
    numpy.testing.assert_allclose([g.mean(), g.std()], [0, 1], atol=1e-4)
    assert g.std(axis=(0, 2, 3)).std() > 0.1  # channels keep their relative scales
    # fitted on train only: test data is mapped with the training statistics
    step = P.Standardize().fit(x)
    shifted = x + 10
    numpy.testing.assert_allclose(step(shifted), z + 10 / step.std.reshape(1, 3, 1, 1),
                                  rtol=1e-4, atol=1e-4)


def test_data_standardize_chunked_fit_matches_numpy(rng, monkeypatch):
    monkeypatch.setattr(P, "_CHUNK", 7)  # several chunks, the last one short
    x = data(rng, n=50)
    step = P.Standardize().fit(x)
    numpy.testing.assert_allclose(step.mean.ravel(), x.astype(float).mean(axis=(0, 2, 3)))
    numpy.testing.assert_allclose(step.std.ravel(), x.astype(float).std(axis=(0, 2, 3)),
                                  rtol=1e-6)


def test_data_mean_image(rng):
    x = data(rng)
    step = P.MeanImage().fit(x)
    numpy.testing.assert_allclose(step(x).mean(axis=0), 0, atol=1e-5)
    numpy.testing.assert_allclose(step.mean, x.astype(float).mean(axis=0))
    with pytest.raises(ValueError, match="fitted on images"):
        step(x[:, :, :2])


def test_data_gcn_each_image_mean_zero_scaled_norm(rng):
    x = data(rng, n=5)
    z = P.GlobalContrastNormalize(scale=55.0).fit(x)(x).reshape(5, -1)
    numpy.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-4)
    numpy.testing.assert_allclose(z.std(axis=1), 55.0, rtol=1e-5)
    flat = numpy.zeros((1, 1, 2, 2), numpy.float32)
    assert numpy.isfinite(P.GlobalContrastNormalize().fit(flat)(flat)).all()


def test_data_zca_whitens_and_stays_close_to_the_image(rng):
    mixing = rng.normal(size=(12, 12))
    x = (rng.normal(size=(2000, 12)) @ mixing).reshape(2000, 3, 2, 2)
    step = P.ZCAWhitening(eps=1e-8).fit(x)
    z = step(x).reshape(2000, -1)
    numpy.testing.assert_allclose(numpy.cov(z.T, bias=True), numpy.eye(12), atol=1e-4)
    numpy.testing.assert_allclose(step.whiten, step.whiten.T, atol=1e-10)  # ZCA: symmetric W
    numpy.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-8)
    loose = P.ZCAWhitening(eps=1e2).fit(x)(x).reshape(2000, -1)
    assert numpy.cov(loose.T).trace() < 12  # eps shrinks the small directions
    with pytest.raises(ValueError, match="at most 8192"):
        P.ZCAWhitening().fit(numpy.zeros((2, 3, 64, 64)))


def test_data_clip_percentile_and_n_std(rng):
    x = rng.standard_normal((100, 1, 10, 10))
    step = P.Clip(percentile=(1, 99)).fit(x)
    out = step(x)
    assert abs((x < step.low).mean() - 0.01) < 1e-3 and abs((x > step.high).mean() - 0.01) < 1e-3
    assert out.min() == step.low and out.max() == step.high
    numpy.testing.assert_array_equal(out[(x > step.low) & (x < step.high)],
                                     x[(x > step.low) & (x < step.high)])
    s = P.Clip(n_std=2).fit(x)
    numpy.testing.assert_allclose([s.low, s.high], [x.mean() - 2 * x.std(), x.mean() + 2 * x.std()])
    assert P.Clip().percentile == (0.5, 99.5)
    with pytest.raises(ValueError, match="not both"):
        P.Clip(percentile=(1, 99), n_std=3)


def test_data_pipeline_fits_each_step_on_the_previous_output(rng):
    x = data(rng)
    pipe = P.Pipeline([P.MeanImage(), P.Standardize(per_channel=False)]).fit(x)
    by_hand = P.Standardize(per_channel=False).fit(P.MeanImage().fit(x)(x))
    numpy.testing.assert_allclose(pipe(x), by_hand(P.MeanImage().fit(x)(x)), rtol=1e-6)


def check_leaves(state):
    """Leaves are arrays or JSON values, as checkpoints expect."""
    for value in state.values():
        if isinstance(value, dict):
            check_leaves(value)
        elif not isinstance(value, numpy.ndarray):
            json.dumps(value)


def json_round_trip(state):
    return {k: json_round_trip(v) if isinstance(v, dict)
            else v if isinstance(v, numpy.ndarray) else json.loads(json.dumps(v))
            for k, v in state.items()}


STEPS = [
    lambda: P.Standardize(),
    lambda: P.Standardize(per_channel=False),
    lambda: P.MeanImage(),
    lambda: P.GlobalContrastNormalize(scale=2.0, sqrt_bias=0.1),
    lambda: P.ZCAWhitening(eps=0.1),
    lambda: P.Clip(percentile=(2, 98)),
    lambda: P.Clip(n_std=3),
    lambda: P.Pipeline([P.Standardize(), P.ZCAWhitening(), P.Clip(n_std=2.5)]),
]


@pytest.mark.parametrize("make", STEPS)
def test_data_preprocessing_state_round_trip(rng, make):
    x, x_test = data(rng), data(rng, n=7)
    step = make().fit(x)
    state = step.state_dict()
    check_leaves(state)
    state = json_round_trip(state)  # what a checkpoint's JSON side does to the non-arrays
    restored = P.from_state_dict(state)
    assert type(restored) is type(step)
    numpy.testing.assert_array_equal(restored(x_test), step(x_test))
    again = make()
    again.load_state_dict(step.state_dict())
    numpy.testing.assert_array_equal(again(x_test), step(x_test))


def test_data_preprocessing_errors():
    with pytest.raises(RuntimeError, match=r"Standardize: call fit\(x_train\)"):
        P.Standardize()(numpy.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="unknown pre-processing 'whiten'.*standardize"):
        P.from_state_dict({"type": "whiten"})
    with pytest.raises(ValueError, match="state is for 'zca'"):
        P.Standardize().load_state_dict(P.ZCAWhitening().state_dict())
    with pytest.raises(TypeError, match="Pipeline: steps must be"):
        P.Pipeline([lambda x: x])
    assert set(P.PREPROCESSORS) == {"standardize", "mean_image", "gcn", "zca", "clip",
                                    "pipeline"}
