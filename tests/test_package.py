"""``import xpnet``: the sub-packages as attributes, imported on first use, and no
process-wide side effects."""

import json
import subprocess
import sys

import pytest

import xpnet


def _fresh(code):
    """Run ``code`` in a new interpreter; return what it prints as JSON."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


def test_importing_xpnet_loads_no_subpackage_and_sets_nothing():
    seen = _fresh(
        "import json, os, sys; env = dict(os.environ); import xpnet; "
        "print(json.dumps({'mods': sorted(m for m in sys.modules if m.split('.')[0] in "
        "('matplotlib', 'numba', 'threadpoolctl', 'torch') or m in ('xpnet.train', "
        "'xpnet.viz', 'xpnet.models', 'xpnet.data')), 'env': sorted(set(os.environ) ^ "
        "set(env))}))")
    assert seen == {"mods": [], "env": []}


def test_subpackages_are_attributes():
    seen = _fresh(
        "import json, xpnet; "
        "print(json.dumps([xpnet.nn.Linear.__module__, xpnet.train.RunConfig.__name__, "
        "xpnet.data.DataLoader.__name__, xpnet.optim.SGD.__name__, "
        "type(xpnet.models).__name__, 'viz' in dir(xpnet)]))")
    assert seen == ["xpnet.nn.linear", "RunConfig", "DataLoader", "SGD", "module", True]


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'xpnet' has no attribute 'tensorflow'"):
        xpnet.tensorflow  # noqa: B018
    assert set(xpnet.SUBPACKAGES) <= set(xpnet.__all__)


def test_the_state_dict_functions_are_reachable_from_the_root():
    from xpnet import interop

    assert xpnet.load_state_dict is interop.load_state_dict
    assert xpnet.save_state_dict is interop.save_state_dict
    assert {"load_state_dict", "save_state_dict"} <= set(xpnet.__all__) & set(dir(xpnet))


def test_the_run_errors_and_warnings_are_exported_by_train():
    from xpnet import train
    from xpnet.train import errors

    assert train.RunLockedError is errors.RunLockedError
    assert train.CheckpointWarning is errors.CheckpointWarning
