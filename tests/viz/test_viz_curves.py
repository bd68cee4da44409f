"""Training curves PNG from a history file."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib")

from xpnet.viz.curves import plot_training_curves  # noqa: E402


def _history(path, with_accuracy=True):
    lines = []
    for epoch in range(1, 5):
        for s in range(1, 11):
            step = (epoch - 1) * 10 + s
            lines.append({"kind": "step", "epoch": epoch, "step": step,
                          "loss": 2.0 / step, "lr": 0.1 / 10 ** (epoch // 3)})
        rec = {"kind": "epoch", "epoch": epoch, "step": epoch * 10, "train_loss": 1.0 / epoch,
               "val_loss": 1.2 / epoch, "lr": 0.1 / 10 ** (epoch // 3)}
        if with_accuracy:
            rec.update(train_accuracy=1 - 0.5 / epoch, val_accuracy=1 - 0.6 / epoch,
                       val_top5=1 - 0.1 / epoch)
        lines.append(rec)
    text = "\n".join(json.dumps(r) for r in lines) + '\n{"kind": "ste'  # a torn last line
    path.write_text(text)
    return path


@pytest.mark.parametrize("with_accuracy", [True, False])
def test_png_is_written_and_not_empty(tmp_path, with_accuracy):
    out = plot_training_curves(_history(tmp_path / "history.jsonl", with_accuracy))
    assert out == tmp_path / "curves.png"
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    # panels stack vertically: the height in the IHDR chunk grows with the accuracy panel
    height = int.from_bytes(data[20:24], "big")
    assert height == (780 if with_accuracy else 520)


def test_explicit_output_path_and_empty_history(tmp_path):
    out = plot_training_curves(_history(tmp_path / "h.jsonl"), tmp_path / "sub" / "c.png")
    assert out.exists()
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="holds no records"):
        plot_training_curves(tmp_path / "empty.jsonl")


def test_importing_train_or_viz_does_not_import_matplotlib():
    code = ("import sys, xpnet.train, xpnet.viz; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'; "
            "assert 'xpnet.viz' not in sys.modules or 'xpnet.viz.curves' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
