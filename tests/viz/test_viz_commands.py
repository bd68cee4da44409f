"""visualize KIND RUN and the HTML report, on a tiny run folder trained through the CLI."""

import base64
import re

import numpy
import pytest

from xpnet.viz.commands import KINDS, visualize, write_report

pytestmark = [pytest.mark.slow, pytest.mark.needs_data("mnist5k")]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """LeNet-5 trained 2 epochs on 300 MNIST-5k digits (a few seconds)."""
    from xpnet.cli import main

    path = tmp_path_factory.mktemp("runs") / "tiny"
    status = main(["train", "--epochs", "2", "--limit-train", "300", "--limit-test", "60",
                   "--log-every", "2", "--no-tensorboard", "--run-dir", str(path)])
    assert status == 0
    return path


def _is_png(path):
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_writes_pngs(run_dir, kind):
    if kind in ("curves", "confusion"):
        pytest.importorskip("matplotlib")
    options = {"maximize": dict(steps=5, max_channels=3), "top": dict(limit=40, k=4),
               "deconv": dict(limit=40, k=4, channel=2)}.get(kind, {})
    paths = visualize(kind, run_dir, **options)
    assert paths and all(_is_png(p) for p in paths)
    assert all(p.parent == run_dir / "viz" for p in paths)


def test_options_layer_names_and_out_dir(run_dir, tmp_path):
    # layer 0 is the run's pre-processing; LeNet's two convolutions are 1 and 4
    paths = visualize("filters", run_dir, out_dir=tmp_path, layer="4")
    assert [p.name for p in paths] == ["filters_4.png"]
    assert [p.name for p in visualize("filters", run_dir, out_dir=tmp_path)] == [
        "filters_1.png", "filters_4.png"]
    p = visualize("maps", run_dir, out_dir=tmp_path, layer=2, image=5)
    assert p[0].name == "maps_2_img5.png"
    p = visualize("saliency", run_dir, out_dir=tmp_path, image=3)
    assert p[0].name == "saliency_img3.png"
    p = visualize("occlusion", run_dir, out_dir=tmp_path, image=2, size=7, stride=7)
    assert _is_png(p[0])


def test_bad_kind_option_and_values(run_dir, tmp_path):
    with pytest.raises(ValueError, match="kind must be one of"):
        visualize("weights", run_dir)
    with pytest.raises(ValueError, match=r"unknown option\(s\) chanel; options are layer"):
        visualize("top", run_dir, chanel=3)
    with pytest.raises(ValueError, match="no layer 'fc9'"):
        visualize("filters", run_dir, out_dir=tmp_path, layer="fc9")
    with pytest.raises(ValueError, match="channel 99 outside"):
        visualize("top", run_dir, out_dir=tmp_path, channel=99, limit=10)
    with pytest.raises(ValueError, match="image 60 outside"):
        visualize("saliency", run_dir, out_dir=tmp_path, image=60)
    with pytest.raises(ValueError, match="need 1 <= size <= image side.*got size 0"):
        visualize("occlusion", run_dir, out_dir=tmp_path, size=0)  # 0 is not the default


def test_option_types_are_checked_before_any_work(tmp_path):
    missing = tmp_path / "no-run"
    with pytest.raises(ValueError, match="option k must be an integer, got str 'abc'"):
        visualize("top", missing, k="abc")
    with pytest.raises(ValueError, match="option lr must be a number, got bool True"):
        visualize("maximize", missing, lr=True)
    with pytest.raises(ValueError, match="option limit must be an integer, got float 1.5"):
        visualize("deconv", missing, limit=1.5)
    assert not missing.exists()


def test_a_missing_run_folder_is_not_created(tmp_path):
    missing = tmp_path / "typo"
    with pytest.raises(FileNotFoundError, match="typo: no such run folder"):
        visualize("top", missing, k=numpy.int64(3))  # a NumPy integer is an integer
    with pytest.raises(FileNotFoundError, match="typo: no such run folder"):
        visualize("curves", missing)
    assert not missing.exists()
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="is not an xpnet run folder"):
        visualize("filters", tmp_path / "plain")
    assert not (tmp_path / "plain" / "viz").exists()


def test_report_is_one_self_contained_readable_page(run_dir):
    path = write_report(run_dir, limit=60)
    assert path == run_dir / "report.html"
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)  # nothing outside the page
    sources = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(sources) == page.count("<img") >= 6
    for s in sources:
        assert base64.b64decode(s)[:8] == b"\x89PNG\r\n\x1a\n"
    for heading in ("Training curves", "Filters", "Top inputs and their deconvnet",
                    "Saliency and guided", "Occlusion", "Confusion"):
        assert heading in page
    assert page.count("<figcaption>") == page.count("<img")
    assert "lenet5" in page and "Layer 3" in page and "Layer 6" in page
    assert "0: Standardize" in page  # the layer list shows the pre-processing


def test_report_without_history(run_dir, tmp_path):
    import shutil

    copy = tmp_path / "nohistory"
    shutil.copytree(run_dir, copy)
    (copy / "history.jsonl").unlink()
    page = write_report(copy, limit=20).read_text(encoding="utf-8")
    assert "has no history.jsonl" in page
    assert numpy.char.count(page, "<img") > 0


def test_an_mlp_runs_filters_are_its_first_layer_as_images(tmp_path):
    """Pre-trained through the CLI, then its hidden units' weights as 28x28 pictures, in
    the command and in the report."""
    from xpnet.cli import main

    path = tmp_path / "mlp"
    status = main(["train", "--model", "mlp", "--model-options",
                   '{"activation": "sigmoid", "hidden": [20]}', "--pretrain", "rbm",
                   "--pretrain-epochs", "1", "--epochs", "1", "--limit-train", "200",
                   "--limit-test", "40", "--no-tensorboard", "--no-curves",
                   "--run-dir", str(path)])
    assert status == 0
    (png,) = visualize("filters", path)
    assert png.name == "filters_2.png" and _is_png(png)
    page = write_report(path, limit=40).read_text(encoding="utf-8")
    assert "The weights of the first 20 of the 20 units of the first dense layer" in page
    assert re.search(r"rbm, 1 epoch per layer, lr 0.01; layer 2 \(linear visible units\) "
                     r"reconstruction error [0-9.]+ -&gt; [0-9.]+", page)
