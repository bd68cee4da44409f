"""State dicts both ways between xpnet and PyTorch through safetensors files: every zoo
model and its PyTorch twin (built in ``torch_twin``) load each other's weights and then
compute the same outputs; a mismatch is one error listing the keys."""

import numpy
import pytest
from torch_twin import twin

from xpnet import Tensor, no_grad
from xpnet.interop import StateDictError, load_state_dict, save_state_dict
from xpnet.models.zoo import ZOO, build_model

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

SHAPES = {"alexnet": (3, 64, 64)}


def _model(name, seed):
    shape = SHAPES.get(name, ZOO[name].example_shape)
    return build_model(name, shape, 10, seed=seed).eval(), shape


def _same_outputs(model, net, shape):
    x = numpy.random.default_rng(0).random((4, *shape)).astype(numpy.float32)
    with no_grad(), torch.no_grad():
        numpy.testing.assert_allclose(model(Tensor(x)).data, net(torch.from_numpy(x)).numpy(),
                                      rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", list(ZOO))
def test_pytorch_loads_xpnet_weights(name, tmp_path):
    model, shape = _model(name, seed=1)
    path = save_state_dict(model, tmp_path / "w.safetensors")
    net = twin(model).eval()
    net.load_state_dict(safetensors_torch.load_file(str(path)))  # strict: every name fits
    _same_outputs(model, net, shape)


@pytest.mark.parametrize("name", list(ZOO))
def test_xpnet_loads_pytorch_weights(name, tmp_path):
    model, shape = _model(name, seed=2)
    net = twin(model).eval()
    torch.manual_seed(3)
    for p in net.parameters():  # weights unlike xpnet's own
        torch.nn.init.normal_(p, 0.0, 0.05)
    safetensors_torch.save_file(net.state_dict(), str(tmp_path / "t.safetensors"))
    assert load_state_dict(model, tmp_path / "t.safetensors") is model
    _same_outputs(model, net, shape)


def test_a_mismatch_lists_the_keys(tmp_path):
    lenet, _ = _model("lenet5", 0)
    save_state_dict(_model("mlp", 0)[0], tmp_path / "mlp.safetensors")
    with pytest.raises(StateDictError) as info:
        load_state_dict(lenet, tmp_path / "mlp.safetensors")
    text = str(info.value)
    assert "missing keys ['0.bias', '0.weight', '11.bias'" in text
    assert "unexpected keys ['1.bias', '1.weight']" in text
    assert "shapes differ: 3.bias (10,) in the file, (16,) in the model" in text
    assert "\n" not in text
    before = lenet.state_dict()["0.weight"].copy()
    numpy.testing.assert_array_equal(lenet.state_dict()["0.weight"], before)  # untouched


def test_a_shape_mismatch_names_the_tensor(tmp_path):
    small = build_model("mlp", (1, 28, 28), 10, seed=0, hidden=[32])
    save_state_dict(build_model("mlp", (1, 28, 28), 10, seed=0, hidden=[64]),
                    tmp_path / "w.safetensors")
    with pytest.raises(StateDictError, match=r"shapes differ: 1\.bias \(64,\) in the file, "
                                             r"\(32,\) in the model; 1\.weight"):
        load_state_dict(small, tmp_path / "w.safetensors")
