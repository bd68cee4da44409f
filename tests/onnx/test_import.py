"""ONNX import: networks built in PyTorch and written by ``torch.onnx.export`` load into
xpnet and give PyTorch's outputs; xpnet's own exports load back; a loaded network
fine-tunes and works with the visualisation tools; what is not supported is one line."""

import warnings

import numpy
import pytest
from ort_helpers import onnx, rgb

from xpnet import Tensor, nn, no_grad, optim
from xpnet import functions as F
from xpnet.models.zoo import ZOO, build_model
from xpnet.onnx import OnnxImportError, export, load
from xpnet.onnx import importer as onnx_importer
from xpnet.onnx.layers import OnnxGraph, ScaledL2Pool

torch = pytest.importorskip("torch")
tnn = torch.nn


def lenet():
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10))


def alexnet_style():
    """AlexNet's pattern at 32x32: LRN after ReLU, overlapping pools, a grouped conv."""
    return tnn.Sequential(
        tnn.Conv2d(3, 16, 5, stride=2, padding=2), tnn.ReLU(),
        tnn.LocalResponseNorm(5, 1e-3, 0.75, 2.0), tnn.MaxPool2d(3, 2),
        tnn.Conv2d(16, 32, 3, padding=1, groups=2), tnn.ReLU(),
        tnn.LocalResponseNorm(5, 1e-3, 0.75, 2.0), tnn.MaxPool2d(3, 2, ceil_mode=True),
        tnn.Flatten(), tnn.Linear(32 * 3 * 3, 10))


def pooling_net():
    """Max, average and L2 pooling (LPPool2d p=2) in one network."""
    return tnn.Sequential(
        tnn.Conv2d(3, 8, 3, padding=1), tnn.MaxPool2d(3, 2, 1), tnn.Tanh(),
        tnn.AvgPool2d(2, 2, ceil_mode=True), tnn.LPPool2d(2, 2, 1), tnn.Sigmoid(),
        tnn.Flatten(), tnn.Linear(8 * 2 * 2, 5))


NETS = {"lenet5": (lenet, (1, 28, 28)), "alexnet_style": (alexnet_style, (3, 32, 32)),
        "pooling": (pooling_net, (3, 12, 12))}


def _torch_file(name, path, batch=2):
    factory, shape = NETS[name]
    torch.manual_seed(0)
    net = factory().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
        torch.onnx.export(net, (torch.zeros(batch, *shape),), str(path), dynamo=False,
                          input_names=["x"], output_names=["y"])
    return net


def _images(name, digits):
    shape = NETS[name][1]
    if shape[0] == 1:
        return digits
    return rgb(digits, 32)[:, :, :shape[1], :shape[2]].copy()


def _ours(model, x):
    with no_grad():
        return model.eval()(Tensor(x)).data


@pytest.mark.parametrize("name", list(NETS))
def test_pytorch_networks_load_and_match(name, digits, tmp_path):
    net = _torch_file(name, tmp_path / "t.onnx")
    model = load(tmp_path / "t.onnx")
    assert isinstance(model, nn.Sequential)  # a chain of standard layers
    x = _images(name, digits)  # 16 images through a file traced with 2
    want = net(torch.from_numpy(x)).detach().numpy()
    numpy.testing.assert_allclose(_ours(model, x), want, rtol=0, atol=1e-5)


def test_pytorch_sub_graphs_become_layers(tmp_path):
    _torch_file("alexnet_style", tmp_path / "a.onnx")
    kinds = [type(m).__name__ for m in load(tmp_path / "a.onnx")]
    assert kinds.count("LocalResponseNorm") == 2 and "Conv2d" in kinds
    _torch_file("pooling", tmp_path / "p.onnx")
    assert any(isinstance(m, ScaledL2Pool) for m in load(tmp_path / "p.onnx"))


@pytest.mark.parametrize("name", ["alexnet_style", "pooling"])
def test_unrecognised_sub_graphs_run_as_general_ops(name, monkeypatch, tmp_path):
    """LRN's and LPPool's sub-graphs (Pad, AveragePool over 5-D, Reshape, Pow, Sign, Abs,
    ...) evaluated operator by operator, with the shape arithmetic folded."""
    monkeypatch.setattr(onnx_importer, "recognise", lambda program, ctx, make: program)
    net = _torch_file(name, tmp_path / "g.onnx")
    model = load(tmp_path / "g.onnx")
    assert isinstance(model, OnnxGraph)
    x = numpy.random.default_rng(1).standard_normal((2, *NETS[name][1])).astype("float32")
    numpy.testing.assert_allclose(_ours(model, x), net(torch.from_numpy(x)).detach().numpy(),
                                  rtol=0, atol=1e-5)


@pytest.mark.needs_data("mnist5k")
def test_fine_tuning_a_loaded_network_lowers_the_loss(tmp_path):
    from xpnet.data import open_dataset  # noqa: PLC0415

    net = _torch_file("lenet5", tmp_path / "l.onnx")
    model = load(tmp_path / "l.onnx")
    params = list(model.parameters())
    assert len(params) == 10 and all(p.requires_grad for p in params)
    x, y = open_dataset("mnist5k", split="train").get_batch(numpy.arange(64))
    x = numpy.asarray(x, numpy.float32)
    opt = optim.SGD(params, lr=0.1, momentum=0.9)

    def loss():
        return F.softmax_cross_entropy(model(Tensor(x)), y)

    before = float(loss().data)
    # the first gradients are PyTorch's (same file, same batch)
    tloss = tnn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y).long())
    tloss.backward()
    for _ in range(12):
        opt.zero_grad()
        loss().backward()
        if _ == 0:
            for p, t in zip(params, net.parameters()):
                numpy.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-4, atol=1e-6)
        opt.step()
    assert float(loss().data) < before - 0.05


def test_loaded_network_works_with_the_visualisations(digits, tmp_path):
    from xpnet.viz.feature_maps import feature_maps  # noqa: PLC0415
    from xpnet.viz.filters import conv_layers, filters_image  # noqa: PLC0415
    from xpnet.viz.saliency import saliency  # noqa: PLC0415

    _torch_file("lenet5", tmp_path / "l.onnx")
    model = load(tmp_path / "l.onnx").eval()
    assert conv_layers(model) == [0, 3]
    assert filters_image(model, 0).ndim == 3
    assert feature_maps(model, digits[:1], 2).shape == (1, 6, 14, 14)
    assert saliency(model, digits[:2]).shape == (2, 1, 28, 28)


@pytest.mark.parametrize("name", list(ZOO))
def test_xpnet_exports_load_back(name, tmp_path):
    shape = {"alexnet": (3, 64, 64)}.get(name, ZOO[name].example_shape)
    model = build_model(name, shape, 10, seed=0)
    x = numpy.random.default_rng(2).random((3, *shape)).astype(numpy.float32)
    export(model, x[:1], tmp_path / "m.onnx")
    numpy.testing.assert_allclose(_ours(load(tmp_path / "m.onnx"), x), _ours(model, x),
                                  rtol=0, atol=1e-5)


# ------------------------------------------------------------------------- errors
def _graph(tmp_path, op, attrs=None, extra_inputs=(), initializers=(), inputs=("x",),
           opset=17):
    h = onnx.helper
    nodes = [h.make_node(op, [*inputs, *extra_inputs], ["y"], name="the_node", **(attrs or {}))]
    vis = [h.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [1, 2, 6, 6]) for n in inputs]
    out = h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)
    model = h.make_model(h.make_graph(nodes, "g", vis, [out], list(initializers)),
                         opset_imports=[h.make_opsetid("", opset)])
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    return path


def _weight(name, shape):
    return onnx.numpy_helper.from_array(numpy.ones(shape, numpy.float32), name)


@pytest.mark.parametrize("case, message", [
    (("Erf",), r"node 'the_node' \(operator Erf\): operator not supported"),
    (("LpPool", {"kernel_shape": [2, 2], "p": 3}),
     r"node 'the_node' \(operator LpPool\): unsupported attribute p=3"),
    (("Conv", {"auto_pad": "SAME_UPPER"}, ["w"], [_weight("w", (3, 2, 3, 3))]),
     r"\(operator Conv\): unsupported attribute auto_pad='SAME_UPPER'"),
    (("MaxPool", {"kernel_shape": [2, 2], "unknown_thing": 1}),
     r"\(operator MaxPool\): unsupported attribute unknown_thing=1"),
    (("LRN", {"size": 4}), r"\(operator LRN\): unsupported attribute size=4"),
    (("Add", None, (), (), ("x", "z")), "the graph has 2 inputs"),
])
def test_unsupported_graphs_are_one_clear_line(case, message, tmp_path):
    path = _graph(tmp_path, *case)
    with pytest.raises(OnnxImportError, match=message) as info:
        load(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_missing_file_and_garbage_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "none.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00not a model" * 10)
    with pytest.raises(OnnxImportError, match="not an ONNX model"):
        load(tmp_path / "junk.onnx")
