"""The convolution engines and their choice: which engine a shape takes, forced or not,
and that the engines agree with each other (every mode of every engine against the loop
reference is in tests/functions/test_conv2d.py)."""

import numpy
import pytest

from xpnet import Tensor, cpu
from xpnet import functions as F
from xpnet.cpu.conv import select


def _lenet_conv1_with_spy(monkeypatch, name, seed):
    """LeNet's first layer in float32 (x, w, b), and the calls of ``direct.<name>``."""
    direct = pytest.importorskip("xpnet.cpu.conv.direct")
    calls = []
    real = getattr(direct, name)
    monkeypatch.setattr(direct, name, lambda *a: calls.append(1) or real(*a))
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((8, 1, 28, 28)).astype(numpy.float32)
    w = rng.standard_normal((6, 1, 5, 5)).astype(numpy.float32)
    b = rng.standard_normal(6).astype(numpy.float32)
    return calls, x, w, b


def test_direct_weight_gradient_is_used_for_lenet_conv1(monkeypatch):
    """The direct sum runs on LeNet's first layer and equals the GEMM path in float32."""
    calls, x, w, b = _lenet_conv1_with_spy(monkeypatch, "weight_grad", seed=5)
    grads = []
    for engine in ("auto", "gemm"):
        with cpu.engines(conv=engine):
            tw, tb = Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
            F.conv2d(Tensor(x), tw, tb, padding=2).sum().backward()
        grads.append((tw.grad, tb.grad))
    assert calls == [1]
    for direct_grad, gemm_grad in zip(*grads):
        numpy.testing.assert_allclose(direct_grad, gemm_grad, rtol=1e-4, atol=1e-3)


def test_direct_forward_is_used_for_lenet_conv1(monkeypatch):
    """The direct forward runs on LeNet's first layer (float32, padding 2, bias) and
    equals the GEMM path; a strided or grouped convolution never takes it, even forced."""
    calls, x, w, b = _lenet_conv1_with_spy(monkeypatch, "forward", seed=6)
    outs = []
    for engine in ("auto", "gemm"):
        with cpu.engines(conv=engine):
            outs.append(F.conv2d(Tensor(x), Tensor(w), Tensor(b), padding=2).data)
    assert calls == [1]
    assert outs[0].dtype == numpy.float32
    numpy.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    with cpu.engines(conv="direct"):
        F.conv2d(Tensor(x), Tensor(w), stride=2)
        F.conv2d(Tensor(x[:, [0, 0]]), Tensor(w), groups=2)
    assert calls == [1]


@pytest.fixture
def blocks_spy(monkeypatch):
    """Count the calls of the register-blocked forward and weight-gradient loops."""
    blocks = pytest.importorskip("xpnet.cpu.conv.blocks")
    calls = {"forward": 0, "weight_grad": 0}
    for name in calls:
        real = getattr(blocks, name)

        def spy(*a, _name=name, _real=real):
            calls[_name] += 1
            return _real(*a)

        monkeypatch.setattr(blocks, name, spy)
    return calls


def test_register_blocks_match_gemm_on_the_cifar_conv2(blocks_spy):
    """float32, the CIFAR net's conv2 (32 -> 32 channels, 5x5, padding 2) on 16x16: the
    blocks' y, dE/dx, dE/dw and dE/db equal the im2col + GEMM path's to float32 rounding."""
    rng = numpy.random.default_rng(7)
    x = rng.standard_normal((4, 32, 16, 16), dtype=numpy.float32)
    w = rng.standard_normal((32, 32, 5, 5), dtype=numpy.float32) * 0.05
    b = rng.standard_normal(32, dtype=numpy.float32)
    gy = rng.standard_normal((4, 32, 16, 16), dtype=numpy.float32)
    results = []
    for engine in ("auto", "gemm"):
        with cpu.engines(conv=engine):
            xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
            y = F.conv2d(xt, wt, bt, padding=2)
            (y * Tensor(gy)).sum().backward()
        results.append((y.data, xt.grad, wt.grad, bt.grad))
        if engine == "auto":  # all three products ran on the blocks, then none did
            seen = dict(blocks_spy)
            assert seen["forward"] >= 2 and seen["weight_grad"] >= 1
    assert blocks_spy == seen
    for got, want in zip(*results):
        assert got.dtype == numpy.float32
        numpy.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * numpy.abs(want).max())


@pytest.mark.parametrize(("cin", "co", "size"), [(1, 20, 28), (20, 50, 12)])
def test_register_blocks_match_gemm_on_caffes_lenet(cin, co, size, blocks_spy):
    """float32, Caffe's LeNet's conv1 and conv2 (20 and 50 outputs: a rest of 4 and 18
    channels after whole vectors, three half-width vectors on AMD's Zen cores, a masked
    whole one elsewhere): the blocks' y and dE/dw equal the GEMM path's to float32
    rounding."""
    rng = numpy.random.default_rng(9)
    x = rng.standard_normal((3, cin, size, size), dtype=numpy.float32)
    w = rng.standard_normal((co, cin, 5, 5), dtype=numpy.float32) * 0.1
    b = rng.standard_normal(co, dtype=numpy.float32)
    results = []
    for engine in ("blocks", "gemm"):
        with cpu.engines(conv=engine):
            wt, bt = Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
            y = F.conv2d(Tensor(x), wt, bt)
            (y * y).sum().backward()
        results.append((y.data, wt.grad, bt.grad))
    assert blocks_spy["forward"] >= 1 and blocks_spy["weight_grad"] >= 1
    for got, want in zip(*results):
        numpy.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * numpy.abs(want).max())


def test_register_blocks_apply_only_where_they_fit():
    """Any Og fits the blocks (a last block masked); fewer outputs per map than a block's
    NR never; a forward pass with many blocks half used goes to the GEMM unless the GEMM
    would be narrow; forced, the blocks take every shape they can compute."""
    blocks = pytest.importorskip("xpnet.cpu.conv.blocks")
    vl, nr, f32 = blocks.lanes(numpy.float32), blocks.NR, numpy.float32

    def apply(og, outputs):
        return select.blocks_apply(blocks, og, outputs, f32)

    assert apply(2 * vl, nr) and apply(vl, 64)
    assert apply(vl // 2 * 3, 64)  # 2 VL / 2 + VL / 2
    assert apply(vl // 2 + 1, 64) and apply(3, 64) and apply(2 * vl + 2, 64)  # masked
    assert not apply(2 * vl, nr - 1)
    assert not apply(4 * vl, nr + 1)  # 2 blocks, half used
    assert apply(4 * vl, 4 * nr)
    # a narrow GEMM (at most NARROW_GEMM_VL vectors of outputs) loses even to half-used
    # blocks: AlexNet-64's grouped 3 x 3 maps
    assert apply(select.NARROW_GEMM_VL * vl, nr + 1)
    assert not apply((select.NARROW_GEMM_VL + 1) * vl, nr + 1)
    assert blocks.lanes(numpy.float64) * 2 == vl
    # what they can compute, whatever the measured thresholds
    assert select.blocks_fit(blocks, vl // 2, nr, f32)
    assert select.blocks_fit(blocks, 4 * vl, nr + 1, f32)
    assert select.blocks_fit(blocks, 1, nr, f32)
    assert not select.blocks_fit(blocks, 2 * vl, nr - 1, f32)


def test_direct_sums_go_first_only_for_few_output_channels():
    """Where both run, the direct sums take the forward pass and dE/dw for Og < VL / 2;
    elsewhere the blocks."""
    blocks = pytest.importorskip("xpnet.cpu.conv.blocks")
    vl, f32 = blocks.lanes(numpy.float32), numpy.float32
    assert select.direct_first(blocks, vl // 2 - 1, f32)
    assert not select.direct_first(blocks, vl // 2, f32)
    f64 = numpy.float64  # VL / 2 float64 lanes
    assert select.direct_first(blocks, vl // 4 - 1, f64)
    assert not select.direct_first(blocks, vl // 4, f64)
    # through the choice: Caffe's grey conv1 (20 channels) on the blocks, LeNet-5's (6) not
    for og, want in ((20, "blocks"), (vl // 2 - 2, "direct")):
        for step in ("forward", "weight_grad"):
            assert cpu.conv_engine((128, 1, 28, 28), (og, 1, 5, 5), step=step) == want


# (x shape, w shape, stride, padding, groups): the benchmark nets' layers (bench_conv_ops)
NET_LAYERS = {
    "lenet_conv1": ((128, 1, 28, 28), (6, 1, 5, 5), 1, 2, 1),
    "lenet_conv2": ((128, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1),
    "cifar_conv1": ((128, 3, 32, 32), (32, 3, 5, 5), 1, 2, 1),
    "cifar_conv2": ((128, 32, 16, 16), (32, 32, 5, 5), 1, 2, 1),
    "alexnet64_conv1": ((128, 3, 64, 64), (24, 3, 11, 11), 4, 2, 1),
    "alexnet64_conv3": ((128, 64, 3, 3), (96, 64, 3, 3), 1, 1, 1),
    "alexnet64_conv4": ((128, 96, 3, 3), (96, 48, 3, 3), 1, 1, 2),
    "caffe_conv2": ((128, 20, 12, 12), (50, 20, 5, 5), 1, 0, 1),
    "wide_stride2": ((128, 64, 16, 16), (64, 64, 3, 3), 2, 1, 1),
    "cg8_conv2": ((128, 8, 14, 14), (16, 8, 5, 5), 1, 0, 1),
}


def _ask(layer, step="forward", dtype="float32"):
    x, w, s, p, g = NET_LAYERS[layer]
    return cpu.conv_engine(x, w, stride=s, padding=p, groups=g, dtype=dtype, step=step)


def test_conv_engine_names_the_choice_and_follows_the_override():
    """The measured choice (numba: direct sums for LeNet's grey conv1, not for a strided
    layer; dE/dx by col2im with few channels), and every forced engine where it runs."""
    pytest.importorskip("numba")
    assert _ask("lenet_conv1") == "direct" == _ask("lenet_conv1", "weight_grad")
    assert _ask("alexnet64_conv1") in ("blocks", "gemm")  # stride 4: never the direct sums
    assert _ask("lenet_conv2", "input_grad") == "conv"  # Cg = 6, growth 1.4
    assert _ask("cifar_conv2", "input_grad") == "conv"  # Cg = 32, stride 1, growth 0.93
    assert _ask("alexnet64_conv4", "input_grad") == "conv"
    # a whole vector of dE/dx channels and a full convolution that would do 1.5x the
    # work (or none, stride 2): scattered; 8 channels are half a float32 vector, a
    # whole float64 one
    assert _ask("caffe_conv2", "input_grad") == "scatter"
    assert _ask("wide_stride2", "input_grad") == "scatter"
    assert _ask("cg8_conv2", "input_grad") == "conv"
    assert _ask("cg8_conv2", "input_grad", "float64") == "scatter"
    for layer in NET_LAYERS:
        with cpu.engines(conv="gemm", conv_dx="col2im"):
            assert _ask(layer) == _ask(layer, "weight_grad") == "gemm"
            assert _ask(layer, "input_grad") == "col2im"
        with cpu.engines(conv_dx="scatter"):  # every layer has 8 outputs a map or more
            assert _ask(layer, "input_grad") == "scatter"
        with cpu.engines(conv="direct"):
            simple = layer not in ("alexnet64_conv1", "alexnet64_conv4", "wide_stride2")
            assert _ask(layer) == ("direct" if simple else "gemm")
        with cpu.engines(compiled=False):
            assert _ask(layer) == "gemm" and _ask(layer, "input_grad") in ("conv", "col2im")
        with cpu.engines(conv_dx="fold"):
            assert _ask(layer, "input_grad") == ("col2im" if layer == "alexnet64_conv4"
                                                 else "fold")


def test_conv_engine_refuses_bad_arguments():
    with pytest.raises(ValueError, match="step must be 'forward', 'weight_grad' or"):
        cpu.conv_engine((1, 1, 5, 5), (1, 1, 3, 3), step="backward")
    with pytest.raises(ValueError, match="expected 4-d shapes"):
        cpu.conv_engine((1, 5, 5), (1, 1, 3, 3))


def test_forced_engine_changes_the_route_not_the_result():
    """CIFAR's conv1 in float64 on each engine: the same values to rounding."""
    pytest.importorskip("numba")
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((3, 3, 12, 12))
    w = rng.standard_normal((16, 3, 5, 5))
    b = rng.standard_normal(16)
    results = []
    for engine in ("blocks", "direct", "gemm"):
        with cpu.engines(conv=engine):
            assert cpu.conv_engine(x.shape, w.shape, padding=2, dtype=x.dtype) == engine
            xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
            F.conv2d(xt, wt, bt, padding=2).sum().backward()
        results.append((xt.grad, wt.grad, bt.grad))
    for other in results[1:]:
        for a, ref in zip(other, results[0]):
            numpy.testing.assert_allclose(a, ref, rtol=1e-10, atol=1e-10)


_OTHER_HOST = """
import sys
import llvmlite.binding as llvm
import numpy
real, drop = llvm.get_host_cpu_features, set(sys.argv[1].split(","))
def features():
    f = real()
    for k in list(f.keys()):
        if k in drop or (k.startswith("avx512") and "avx512f" in drop):
            f[k] = False
    return f
llvm.get_host_cpu_features = features
from xpnet import Tensor, cpu
from xpnet import functions as F
from xpnet.cpu.conv import blocks
print(blocks.VECTOR_BYTES, blocks.NR)
calls = []
for name in ("forward", "weight_grad"):
    def spy(*a, _real=getattr(blocks, name), _name=name):
        calls.append(_name)
        return _real(*a)
    setattr(blocks, name, spy)
rng = numpy.random.default_rng(0)
modes = [((2, 8, 9, 10), 12, 3, 1, 1, 1), ((2, 16, 7, 7), 32, 3, 2, 1, 2),
         ((2, 8, 9, 10), 7, 3, 1, 1, 1)]  # 7: a masked last block on every width
for (n, c, h, w), co, k, s, p, g in modes:
    x, wt = rng.standard_normal((n, c, h, w)), rng.standard_normal((co, c // g, k, k))
    outs = []
    for engine in ("blocks", "gemm"):
        with cpu.engines(conv=engine):
            xt, wtt = Tensor(x, requires_grad=True), Tensor(wt, requires_grad=True)
            y = F.conv2d(xt, wtt, stride=s, padding=p, groups=g)
            (y * y).sum().backward()
        outs.append((y.data, xt.grad, wtt.grad))
    for a, b in zip(*outs):
        numpy.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
print("ok" if {"forward", "weight_grad"} <= set(calls) else "blocks not used")
"""


@pytest.mark.parametrize("drop, shape", [("avx512f", "32 6"), ("avx512f,avx2", "16 6")],
                         ids=["avx2", "sse"])
def test_register_blocks_on_other_hosts_shapes(drop, shape, tmp_path):
    """The blocks as numba compiles them for an AVX2 machine (VL 8 float32, NR 6) and an
    SSE one (16-byte vectors), forced by hiding CPU features from llvmlite in a fresh
    process with its own numba cache: y, dE/dx and dE/dw equal the GEMM path's
    (float64), half-width and masked last blocks and strided groups included."""
    pytest.importorskip("numba")
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", _OTHER_HOST, drop], capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [*shape.split(), "ok"]
