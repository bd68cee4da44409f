"""The benchmarks in bench/ still run (tiny settings; nothing here is timed or compared)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _run(script, *args):
    done = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_bench_mlp_prints_both_rates_the_ratio_and_the_phases():
    pytest.importorskip("torch")
    out = _run("bench_mlp.py", "--nets", "mlp", "--rounds", "1", "--steps", "2", "--warmup",
               "1", "--cooldown", "0", "--batches", "16", "--phases")
    assert "ratio xpnet/torch" in out
    assert "xpnet ms per step: forward" in out and "torch ms per step: forward" in out
    assert "xpnet's products (M x K x P" in out and "16x784x1024" in out
    assert "16x1024x1024 & 1024x16x1024" in out  # a hidden layer's backward pair


def _quick(*extra):
    return ("--rounds", "1", "--inner", "1", "--cooldown", "0", "--warm", "0", "--timed", "0",
            "--peak", "100", *extra)


def test_bench_mlp_sweeps_nets_batches_and_modes():
    """One row per (net, batch, mode), each with both rates, the ratio and the share of
    the given peak; then the Markdown table and the rows below 1.0."""
    pytest.importorskip("torch")
    out = _run("bench_mlp.py", "--nets", "mlp100,mlp500", "--batches", "1,8", *_quick())
    rows = [line.split() for line in out.splitlines() if line.startswith("mlp")]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (n, m, b) for n in ("mlp100", "mlp500") for b in ("b1", "b8") for m in ("train", "infer")]
    assert all("ratio" in r and "peak" in r for r in rows)
    table = [line for line in out.splitlines() if line.startswith("| mlp")]
    assert len(table) == 8 and "rows below 1.0:" in out


def test_bench_cnn_races_both_torch_layouts_at_every_batch():
    """Each row has xpnet, torch NCHW and channels_last, the ratio to the better layout
    and the share of the peak; Caffe's LeNet widths are a network of the race."""
    pytest.importorskip("torch")
    out = _run("bench_cnn.py", "--models", "lenet5,lenet_caffe", "--batches", "1,8",
               *_quick())
    rows = [line for line in out.splitlines() if line.startswith("lenet")]
    assert len(rows) == 8
    assert rows[0].startswith("lenet5         train b1") and "lenet_caffe    infer b8" in rows[7]
    for row in rows:
        assert "torch_cl" in row and "ratio" in row and "(vs torch" in row
        assert "% of peak" in row
    assert out.count("| lenet") == 8 and "rows below 1.0:" in out


def test_peak_measures_a_positive_rate():
    pytest.importorskip("numba")
    out = _run("peak.py", "--threads", "1", "--repeats", "1")
    assert float(out.split(":")[1].split()[0]) > 1.0


def test_bench_cnn_memory_sees_the_step_peak():
    """The children undo xpnet's allocator tuning; with it, the resident size would not
    move during the step and xpnet's peak would read as 0.0 MiB. (The resident peak is
    below tracemalloc's: small blocks are reused from glibc's heap without new pages;
    LeNet-5 at b128: 3.9 against 7.9 MiB.)"""
    pytest.importorskip("torch")
    out = _run("bench_cnn.py", "--models", "lenet5", "--memory-only")
    line = next(x for x in out.splitlines() if "peak step memory" in x)
    xpnet_mib = float(line.split("xpnet")[1].split()[0])
    traced = float(line.split("tracemalloc")[1].split(")")[0])
    assert xpnet_mib > 0.25 * traced > 0


def test_bench_conv_ops_paths_times_every_engine_that_takes_a_layer():
    """--paths needs numba only (xpnet against itself). The register blocks take any
    number of output channels (a last block masked) and the direct sums both of LeNet's
    layers (stride 1, one group); the choice (``*``): the direct sums for conv1 (6
    output channels, a block's vector mostly empty), the blocks for conv2 (150 >
    DIRECT_MAX_TAPS inputs per output)."""
    pytest.importorskip("numba")
    pytest.importorskip("torch")  # the script sets PyTorch's threads first
    out = _run("bench_conv_ops.py", "--paths", "--net", "lenet5", "--rounds", "1",
               "--batch", "4")
    rows = [line.split() for line in out.splitlines() if line.startswith("lenet5")]
    assert [r[1] for r in rows] == ["conv1", "conv2"]
    assert [r[2] for r in rows] == ["150", "2400"]
    cells = [r[3:9] for r in rows]  # fwd direct, blocks, gemm; dw direct, blocks, gemm
    assert all(v != "-" for c in cells for v in c)
    chosen = [[v.endswith("*") for v in c] for c in cells]
    assert chosen == [[True, False, False] * 2, [False, True, False] * 2]
    assert all(float(v.rstrip("*")) > 0 for c in cells for v in c)


def test_ab_settings_times_each_variant_and_rejects_unknown_settings():
    out = _run("ab_settings.py", "--model", "lenet5", "--rounds", "1", "--batch", "4",
               "--variant", "{}", "--variant", '{"conv": "gemm"}')
    rows = [line for line in out.splitlines() if "median" in line]
    assert len(rows) == 2 and rows[1].startswith('{"conv": "gemm"}')
    for variant, message in (('{"NO_SUCH": 1}', "unexpected keyword argument 'NO_SUCH'"),
                             ('{"conv": "fast"}', "conv must be one of")):
        done = subprocess.run([sys.executable, str(BENCH / "ab_settings.py"), "--variant",
                               variant], capture_output=True, text=True, timeout=300)
        assert done.returncode != 0 and message in done.stderr


def test_bench_dense_ops_times_every_engine_and_marks_the_blocks_where_chosen():
    """Every engine runs (checked against a float64 product inside the script); the
    blocks are marked for 32 examples and 300 outputs, not for one example."""
    pytest.importorskip("numba")
    out = _run("bench_dense_ops.py", "--batches", "1,32", "--layers", "20x300",
               "--reps", "1")
    lines = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    one, many = (line.split() for line in lines)  # M x in x out, then the engines
    assert not one[5].endswith("*") and many[5].endswith("*")  # the blocks' column
    assert all(float(v.rstrip("*")) > 0 for v in many[5:9])


def test_bench_dense_ops_backward_times_blocks_and_blas():
    """--backward: both timings positive; the blocks marked at 32 examples and 300
    outputs (90,000 weights), not at 10 outputs; a batch of one has no block."""
    pytest.importorskip("numba")
    out = _run("bench_dense_ops.py", "--backward", "--batches", "1,32", "--layers",
               "300x300,300x10", "--reps", "1")
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[5] for r in rows][::2] == ["-", "-"]  # one example: fewer than NR rows
    wide, narrow = rows[1], rows[3]
    assert wide[5].endswith("*") and not narrow[5].endswith("*")
    assert all(float(r[5].rstrip("*")) > 0 and float(r[6]) > 0 for r in (wide, narrow))


def test_bench_dense_ops_train_marks_the_rows_path_where_taken():
    """--train: xpnet's choice and BLAS both timed > 0 (checked against a float64
    product and for rows inside the script); the blocks' rows path marked at 128
    examples and 300 outputs, not at 32 examples (the blocks' own range) or 10 outputs."""
    pytest.importorskip("numba")
    pytest.importorskip("threadpoolctl")
    out = _run("bench_dense_ops.py", "--train", "--batches", "32,128", "--layers",
               "20x300,20x10", "--reps", "1")
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [(r[0], r[4]) for r in rows] == [("32", "300"), ("128", "300"), ("32", "10"),
                                           ("128", "10")]
    assert [r[5].endswith("*") for r in rows] == [False, True, False, False]
    assert all(float(r[5].rstrip("*")) > 0 and float(r[6]) > 0 for r in rows)


def test_bench_pool_ops_races_channels_last_pools():
    """--channels-last with --net: the net's two pools and its total, each timed > 0."""
    pytest.importorskip("torch")
    out = _run("bench_pool_ops.py", "--net", "lenet_caffe", "--channels-last", "--rounds",
               "1", "--batch", "4")
    assert "channels-last" in out.splitlines()[0]
    rows = [line.split() for line in out.splitlines() if line.startswith("lenet_caffe")]
    assert [r[1] for r in rows] == ["pool1", "pool2", "total"]
    assert all(float(v) > 0 for r in rows for v in r[-6:])


def test_bench_dense_ops_transpose_times_numpy_and_the_tiles():
    """--transpose: per (M, in) NumPy's copy and the register tiles (checked equal inside
    the script), both timed > 0."""
    pytest.importorskip("numba")
    out = _run("bench_dense_ops.py", "--transpose", "--batches", "8,33", "--layers", "20x1",
               "--reps", "1")
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [(r[0], r[2]) for r in rows] == [("8", "20"), ("33", "20")]
    assert all(float(v) > 0 for r in rows for v in r[3:6])


def test_bench_dense_ops_ab_races_a_constant_both_ways():
    """--ab NAME=VALUE: per product both times > 0, their ratio, and whether the bits
    matched (ALIGN moves no product to another engine: the same bits); an unknown name,
    a value that is not a number, or the constant's own value is refused in one line."""
    pytest.importorskip("numba")
    from xpnet.cpu import dense

    out = _run("bench_dense_ops.py", "--ab", "ALIGN=0", "--batches", "200", "--layers",
               "30x300", "--reps", "1")
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [(r[0], r[2], r[4]) for r in rows] == [("200", "30", "300")]
    a, c, ratio = (float(v) for v in rows[0][5:8])
    assert a > 0 and c > 0 and abs(ratio - a / c) < 0.01 * ratio
    assert rows[0][8] == "same"
    for wrong in ("NOPE=1", "ALIGN=abc", f"ALIGN={dense.ALIGN}"):  # no such name, no
        bad = subprocess.run(  # number, the value it has: one clear line each
            [sys.executable, str(BENCH / "bench_dense_ops.py"), "--ab", wrong],
            capture_output=True, text=True, timeout=120)
        assert bad.returncode != 0 and bad.stderr.strip().startswith(f"--ab {wrong}:")


def test_ab_race_times_variants_constants_and_torch():
    """Engine keywords, a module constant, unsignalled splits and PyTorch each get a row;
    an unknown constant is refused before the race."""
    pytest.importorskip("torch")
    out = _run("ab_race.py", "--model", "mlp100", "--mode", "infer", "--batch", "16",
               "--rounds", "1", "--torch", "--variant", "{}", "--variant",
               '{"xpnet.cpu.dense.BLOCKS_MAX_INFER_ROWS": 8, "signalled": false}')
    rows = [line.split() for line in out.splitlines() if line.endswith(tuple("0123456789"))
            and " ms " in line]
    assert [r[0] for r in rows] == ["{}", '{"xpnet.cpu.dense.BLOCKS_MAX_INFER_ROWS":', "torch"]
    assert rows[0][-1] == "1.000" and all(float(r[-3]) > 0 for r in rows)
    done = subprocess.run([sys.executable, str(BENCH / "ab_race.py"), "--rounds", "1",
                           "--variant", '{"xpnet.cpu.dense.NO_SUCH": 1}'],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "has no NO_SUCH" in done.stderr


def test_ab_revision_times_an_older_module_against_the_tree():
    pytest.importorskip("torch")
    pytest.importorskip("numba")
    inside = subprocess.run(["git", "rev-parse", "HEAD"], cwd=BENCH, capture_output=True)
    if inside.returncode != 0:
        pytest.skip("not a git checkout: no older revision to read")
    for module, attr in [("xpnet.cpu.conv.blocks", "run_forward"),
                         ("xpnet.cpu.pooling", "max_forward")]:  # a module, a package
        out = _run("ab_revision.py", "--module", module, "--rev", "HEAD", "--attrs", attr,
                   "--model", "lenet_caffe", "--batch", "4", "--rounds", "1")
        last = out.splitlines()[-1].split()
        assert last[0] == "old" and last[3] == "new"
        assert float(last[1]) > 0 and float(last[4]) > 0


def test_bench_split_times_joined_signalled_and_unsignalled_splits():
    pytest.importorskip("numba")
    pytest.importorskip("threadpoolctl")
    out = _run("bench_split.py", "--work", "5", "--gaps", "0", "--rounds", "3")
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("0 ")]
    assert [r[1] for r in rows] == ["joined", "signalled", "unsignalled"]
    assert all(float(v) > 0 for r in rows for v in r[2:5])


def test_bench_cnn_and_mlp_combine_sweeps_into_median_ratios():
    """--sweeps 2: each row once more in a table of medians with both sweeps' ratios."""
    pytest.importorskip("torch")
    out = _run("bench_cnn.py", "--models", "lenet5", "--batches", "2", "--modes", "infer",
               "--sweeps", "2", *_quick())
    assert out.count("sweep ") >= 2 and "ratio per sweep" in out
    row = next(line for line in out.splitlines() if line.startswith("| lenet5 | infer"))
    median, each = row.split("|")[7:9]
    ratios = [float(v) for v in each.split(",")]
    assert len(ratios) == 2 and float(median) == pytest.approx(sum(ratios) / 2, abs=0.006)
    out = _run("bench_mlp.py", "--nets", "mlp100", "--batches", "2", "--modes", "infer",
               "--sweeps", "2", *_quick())
    assert "all 2 sweeps" in out
    row = [line for line in out.splitlines() if line.startswith("| mlp100 | infer")][-1]
    assert len(row.split("|")[7].split(",")) == 2


def test_ab_plan_times_plans_with_and_without_the_fusion():
    out = _run("ab_plan.py", "--models", "lenet5,alexnet_small", "--batch", "2", "--rounds",
               "1", "--turn", "0.01")
    rows = [line.split() for line in out.splitlines() if line.startswith(("lenet5", "alex"))]
    assert [r[0] for r in rows] == ["lenet5", "alexnet_small"]
    fused = {r[0]: int(r[r.index("fused") + 1]) for r in rows}
    assert fused["lenet5"] >= 1 and fused["alexnet_small"] == 0  # a ReLU after a pool or not
    assert all(float(r[-1]) > 0 for r in rows)


def test_bench_loss_prints_one_row_per_shape():
    """Both xpnet paths (and torch where installed) per shape; a bad shape is refused."""
    out = _run("bench_loss.py", "--shapes", "2x3,4x5", "--number", "2", "--repeat", "1")
    rows = [line for line in out.splitlines() if line.startswith("| 2 x 3") or
            line.startswith("| 4 x 5")]
    assert len(rows) == 2 and all(len(r.split("|")) == 6 for r in rows)
    done = subprocess.run([sys.executable, str(BENCH / "bench_loss.py"), "--shapes", "3"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "expected N x C" in done.stderr
