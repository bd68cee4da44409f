"""Smoke test of examples/elastic_demo.py: it writes a PNG grid (matplotlib or Pillow)."""

import builtins
import importlib.util
from pathlib import Path

import numpy
import pytest

pytestmark = pytest.mark.needs_data("mnist5k")

DEMO = Path(__file__).resolve().parents[2] / "examples" / "elastic_demo.py"


def load_demo():
    spec = importlib.util.spec_from_file_location("elastic_demo", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_data_elastic_demo_writes_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = load_demo().main(["--out", str(tmp_path / "grid.png"), "--digits", "4",
                            "--draws", "2"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "matplotlib" in capsys.readouterr().out


def test_data_elastic_demo_grid_and_pillow_fallback(tmp_path, monkeypatch, capsys):
    Image = pytest.importorskip("PIL.Image")
    demo = load_demo()
    grid = demo.make_grid(3, 2, 34.0, 4.0, seed=0)
    assert grid.shape == (3 * 30, 3 * 30) and 0 <= grid.min() and grid.max() <= 1
    assert not numpy.array_equal(grid[:30], grid[30:60])  # distorted rows differ
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    out = demo.main(["--out", str(tmp_path / "g.png"), "--digits", "3", "--draws", "1"])
    assert "Pillow" in capsys.readouterr().out
    assert Image.open(out).size == (3 * 30 * 3, 2 * 30 * 3)
