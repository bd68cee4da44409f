"""Pre-processing: the statistics each step promises, fit on train only, state round trips
through a model's state_dict, gradients through each step."""

import numpy
import pytest

from xpnet import Tensor, nn
from xpnet.data import preprocessing as P
from xpnet.testing import gradcheck


def data(rng, n=300, shape=(3, 4, 4)):
    scales = numpy.array([1.0, 5.0, 0.2]).reshape(1, 3, 1, 1)
    return (rng.normal(2.0, 1.0, (n,) + shape) * scales).astype(numpy.float32)


def test_data_standardize_per_channel_and_global(rng):
    x = data(rng)
    z = P.Standardize().fit(x).transform(x)
    assert z.dtype == numpy.float32
    numpy.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    numpy.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, rtol=1e-4)
    g = P.Standardize(per_channel=False).fit(x).transform(x)
    numpy.testing.assert_allclose([g.mean(), g.std()], [0, 1], atol=1e-4)
    assert g.std(axis=(0, 2, 3)).std() > 0.1  # channels keep their relative scales
    # fitted on train only: test data is mapped with the training statistics
    step = P.Standardize().fit(x)
    shifted = x + 10
    numpy.testing.assert_allclose(step.transform(shifted), z + 10 / step.std.reshape(1, 3, 1, 1),
                                  rtol=1e-4, atol=1e-4)


def test_data_standardize_chunked_fit_matches_numpy(rng, monkeypatch):
    monkeypatch.setattr(P, "_CHUNK", 7)  # several chunks, the last one short
    x = data(rng, n=50)
    step = P.Standardize().fit(x)
    numpy.testing.assert_allclose(step.mean.ravel(), x.astype(float).mean(axis=(0, 2, 3)),
                                  rtol=1e-6)  # kept as float32
    numpy.testing.assert_allclose(step.std.ravel(), x.astype(float).std(axis=(0, 2, 3)),
                                  rtol=1e-6)


def test_data_mean_image(rng):
    x = data(rng)
    step = P.MeanImage().fit(x)
    numpy.testing.assert_allclose(step.transform(x).mean(axis=0), 0, atol=1e-5)
    numpy.testing.assert_allclose(step.mean, x.astype(float).mean(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="fitted on images"):
        step.transform(x[:, :, :2])


def test_data_gcn_each_image_mean_zero_scaled_norm(rng):
    x = data(rng, n=5)
    z = P.GlobalContrastNormalize(scale=55.0).fit(x).transform(x).reshape(5, -1)
    numpy.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-4)
    numpy.testing.assert_allclose(z.std(axis=1), 55.0, rtol=1e-5)
    flat = numpy.zeros((1, 1, 2, 2), numpy.float32)
    assert numpy.isfinite(P.GlobalContrastNormalize().fit(flat).transform(flat)).all()


def test_data_zca_whitens_and_stays_close_to_the_image(rng):
    mixing = rng.normal(size=(12, 12))
    x = (rng.normal(size=(2000, 12)) @ mixing).reshape(2000, 3, 2, 2)
    step = P.ZCAWhitening(eps=1e-8).fit(x)
    z = step.double().transform(x).reshape(2000, -1)  # float64 buffers, float64 data
    numpy.testing.assert_allclose(numpy.cov(z.T, bias=True), numpy.eye(12), atol=1e-3)
    numpy.testing.assert_allclose(step.whiten, step.whiten.T, atol=1e-6)  # ZCA: symmetric W
    numpy.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    loose = P.ZCAWhitening(eps=1e2).fit(x).transform(x).reshape(2000, -1)
    assert numpy.cov(loose.T).trace() < 12  # eps shrinks the small directions
    with pytest.raises(ValueError, match="at most 8192"):
        P.ZCAWhitening().fit(numpy.zeros((2, 3, 64, 64)))


def test_data_clip_percentile_and_n_std(rng):
    x = rng.standard_normal((100, 1, 10, 10))
    step = P.Clip(percentile=(1, 99)).fit(x)
    out = step.transform(x)
    assert abs((x < step.low).mean() - 0.01) < 1e-3 and abs((x > step.high).mean() - 0.01) < 1e-3
    assert out.min() == step.low and out.max() == step.high
    numpy.testing.assert_array_equal(out[(x > step.low) & (x < step.high)],
                                     x[(x > step.low) & (x < step.high)])
    s = P.Clip(n_std=2).fit(x)
    numpy.testing.assert_allclose([s.low, s.high], [x.mean() - 2 * x.std(), x.mean() + 2 * x.std()],
                                  rtol=1e-6)
    assert P.Clip().percentile == (0.5, 99.5)
    with pytest.raises(ValueError, match="not both"):
        P.Clip(percentile=(1, 99), n_std=3)


def test_data_pipeline_fits_each_step_on_the_previous_output(rng):
    x = data(rng)
    pipe = P.Pipeline([P.MeanImage(), P.Standardize(per_channel=False)]).fit(x)
    by_hand = P.Standardize(per_channel=False).fit(P.MeanImage().fit(x)(x))
    numpy.testing.assert_allclose(pipe.transform(x),
                                  by_hand.transform(P.MeanImage().fit(x).transform(x)), rtol=1e-6)


STEPS = [
    lambda: P.Standardize(),
    lambda: P.Standardize(per_channel=False),
    lambda: P.MeanImage(),
    lambda: P.GlobalContrastNormalize(scale=2.0, sqrt_bias=0.1),
    lambda: P.ZCAWhitening(eps=0.1),
    lambda: P.Clip(percentile=(2, 98)),
    lambda: P.Clip(n_std=3),
]


@pytest.mark.parametrize("make", STEPS)
def test_data_preprocessing_state_round_trip_in_a_model(rng, make):
    """A fitted step's statistics are buffers: a model built with the unfitted step
    takes them from the state_dict, and then maps inputs exactly as the fitted one."""
    x, x_test = data(rng), data(rng, n=7)
    fitted = nn.Sequential(make().fit(x), nn.Flatten())
    fresh = nn.Sequential(make(), nn.Flatten())
    state = {k: numpy.array(v) for k, v in fitted.state_dict().items()}
    assert all(k.startswith("0.") for k in state)
    fresh.load_state_dict(state)
    assert fresh[0].fitted
    numpy.testing.assert_array_equal(fresh(Tensor(x_test)).data, fitted(Tensor(x_test)).data)


@pytest.mark.parametrize("make", STEPS)
def test_data_preprocessing_gradient_reaches_the_raw_input(make):
    """Every step is differentiable: dE/dx through it against central differences."""
    rng = numpy.random.default_rng(1)
    x = rng.normal(1.0, 2.0, (40, 3, 2, 2))
    step = make().fit(x).double()
    if isinstance(step, P.Clip):  # keep values away from the bounds' kinks
        x = numpy.clip(x, step.low + 0.1, step.high - 0.1)
    gradcheck(lambda t: step(t), x[:3])


def test_data_preprocessing_casts_with_the_model_and_moves_nothing_unfitted(rng):
    step = P.Standardize().fit(data(rng))
    assert step.mean.dtype == numpy.float32  # kept as the model's default dtype
    net = nn.Sequential(step, nn.Flatten()).double()
    assert step.mean.dtype == numpy.float64 and step.std.dtype == numpy.float64
    assert list(nn.Sequential(P.Standardize()).state_dict()) == []  # nothing to save yet
    assert net(Tensor(data(rng, n=2).astype(numpy.float64))).dtype == numpy.float64


def test_data_preprocessing_takes_raw_uint8_pixels(rng):
    x = (rng.random((20, 1, 3, 3)) * 255).astype(numpy.uint8)
    step = P.Standardize().fit(x)
    z = step.transform(x)
    assert z.dtype == numpy.float32
    numpy.testing.assert_allclose(z, (x - step.mean) / step.std, rtol=1e-5)


def test_data_preprocessing_errors():
    with pytest.raises(RuntimeError, match=r"Standardize: call fit\(x_train\)"):
        P.Standardize().transform(numpy.zeros((1, 1, 2, 2)))
    with pytest.raises(TypeError, match="Pipeline: steps must be"):
        P.Pipeline([lambda x: x])
    with pytest.raises(ValueError, match="expected a non-empty batch"):
        P.Standardize().fit(numpy.zeros((0, 1, 2, 2)))
    assert set(P.PREPROCESSORS) == {"standardize", "mean_image", "gcn", "zca", "clip"}
