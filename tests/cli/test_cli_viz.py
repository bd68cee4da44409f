"""``xpnet visualize KIND RUN`` and ``xpnet report RUN``: thin calls into
:mod:`xpnet.viz.commands` (skipped until that module exists)."""

import importlib.util
import subprocess
import sys

import pytest

from xpnet.cli import main

pytestmark = pytest.mark.needs_data("mnist5k")

HAS_COMMANDS = importlib.util.find_spec("xpnet.viz.commands") is not None
needs_commands = pytest.mark.skipif(not HAS_COMMANDS, reason="xpnet.viz.commands not there yet")


def xpnet(*args, timeout=180):
    """Run ``python -m xpnet ARGS`` and return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "xpnet", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """LeNet-5 trained one epoch on 600 MNIST-5k images (conv filters to draw)."""
    path = tmp_path_factory.mktemp("viz") / "lenet"
    done = xpnet("train", "--data", "mnist5k", "--epochs", "1", "--limit-train", "600",
                 "--limit-test", "100", "--run-dir", path, "--no-tensorboard")
    assert done.returncode == 0, done.stderr
    return path


@needs_commands
def test_visualize_filters_writes_pngs_into_run_viz(run):
    done = xpnet("visualize", "filters", run)
    assert done.returncode == 0, done.stderr
    paths = done.stdout.split()
    assert paths and all(p.endswith(".png") and p.startswith(str(run / "viz")) for p in paths)


@needs_commands
def test_visualize_curves_to_another_folder(run, tmp_path):
    done = xpnet("visualize", "curves", run, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "out").glob("*.png"))


@needs_commands
def test_report_writes_one_html_page(run):
    done = xpnet("report", run)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(run / "report.html")
    assert (run / "report.html").read_text().lstrip().lower().startswith("<!doctype html")


def test_visualize_rejects_an_unknown_kind_in_one_line(capsys):
    assert main(["visualize", "colours", "somewhere"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'colours'" in err


@pytest.mark.skipif(HAS_COMMANDS, reason="xpnet.viz.commands is there")
def test_without_viz_commands_the_error_is_one_line(capsys, tmp_path):
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == ("xpnet: error: this xpnet has no xpnet.viz.commands yet: visualize and "
                   "report are not available\n")


@needs_commands
def test_a_mistyped_run_folder_is_one_line_and_not_created(tmp_path):
    missing = tmp_path / "typo"
    done = xpnet("visualize", "top", missing)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == f"xpnet: error: {missing}: no such run folder\n"
    assert not missing.exists()  # RUN/viz is made only for a run folder


@needs_commands
def test_a_set_value_of_the_wrong_type_is_one_line(capsys, tmp_path):
    assert main(["visualize", "top", str(tmp_path), "--set", "k=abc"]) == 1
    err = capsys.readouterr().err
    assert err == "xpnet: error: visualize top: option k must be an integer, got str 'abc'\n"
