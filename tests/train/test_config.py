"""RunConfig: one schema for every setting, its checks, choices from the registries, the
order in which defaults are resolved, TOML files and run folders' config.json."""

import dataclasses
import math

import pytest

from xpnet.data.preprocessing import PREPROCESSORS
from xpnet.models.zoo import ZOO
from xpnet.train import ConfigError, RunConfig
from xpnet.train import builders as B
from xpnet.train.config import check_setting, read_toml, settings
from xpnet.train.pretrain import METHODS


def test_defaults_are_the_schemas_and_types_come_from_the_annotations():
    config = RunConfig()
    by_name = {s.name: s for s in settings()}
    assert [s.name for s in settings()] == [f.name for f in dataclasses.fields(RunConfig)]
    for f in dataclasses.fields(RunConfig):
        assert getattr(config, f.name) == by_name[f.name].default
    assert (by_name["epochs"].kind, by_name["epochs"].optional) == ("int", False)
    assert (by_name["gamma"].kind, by_name["gamma"].optional) == ("float", True)
    assert by_name["augment"].kind == "names" and by_name["model_options"].kind == "table"
    assert all(s.help for s in settings())


def test_choices_come_from_the_registries_that_build_them():
    by_name = {s.name: s for s in settings()}
    assert by_name["model"].choices == tuple(ZOO)
    assert by_name["optimizer"].choices == tuple(B.OPTIMIZERS)
    assert by_name["schedule"].choices == tuple(B.SCHEDULES)
    assert by_name["augment"].choices == tuple(B.AUGMENTATIONS)
    assert by_name["loss"].choices == tuple(B.LOSSES)
    assert by_name["preprocess"].choices == ("none", *PREPROCESSORS)
    assert by_name["pretrain"].choices == ("none", *METHODS)


@pytest.mark.parametrize("name, value, message", [
    ("epochs", 0, "RunConfig.epochs must be > 0, got 0"),
    ("epochs", 1.5, "RunConfig.epochs must be an integer, got a number (1.5)"),
    ("seed", 1.5, "must be an integer"),
    ("seed", True, "must be an integer, got a boolean"),
    ("lr", -0.1, "must be > 0"),
    ("lr", math.nan, "must be a finite number, got nan"),
    ("val_fraction", -0.5, "must be >= 0"),
    ("val_fraction", math.inf, "must be a finite number"),
    ("limit_train", -5, "must be > 0"),
    ("tensorboard", "no", "must be true or false, got a string ('no')"),
    ("optimizer", "adam", "unknown optimizer 'adam'; expected one of sgd, alexnet"),
    ("augment", ["flip", "spin"], "unknown augment 'spin'; expected some of none, elastic"),
    ("model", "resnet", "unknown model 'resnet'"),
    ("model_options", {"x": math.nan}, "JSON values only"),
    ("momentum", 1.5, "must be <= 0.999"),
])
def test_bad_values_are_refused_with_the_setting_named(name, value, message):
    with pytest.raises(ConfigError) as info:
        RunConfig(**{name: value})
    assert message in str(info.value)


def test_values_are_normalised():
    config = RunConfig(lr=1, augment="crop, flip", preprocess=" ", momentum=0)
    assert config.lr == 1.0 and isinstance(config.lr, float)
    assert config.augment == ["crop", "flip"] and config.preprocess == ["none"]
    assert check_setting("batch_size", 32, "--batch-size") == 32
    with pytest.raises(ConfigError, match="--batch-size must be > 0"):
        check_setting("batch_size", 0, "--batch-size")


def test_resolve_order_schema_then_model_then_layers():
    perceptron = RunConfig.resolve({"model": "perceptron"})
    assert (perceptron.batch_size, perceptron.momentum, perceptron.loss) == (1, 0.0, "perceptron")
    assert perceptron.monitor == "val_accuracy"
    mine = RunConfig.resolve({"model": "perceptron", "batch_size": 8}, {"lr": 0.5, "seed": None})
    assert (mine.batch_size, mine.lr, mine.seed) == (8, 0.5, 0)  # None: not given
    assert RunConfig.resolve({"batch-size": 7}).batch_size == 7  # TOML spelling
    with pytest.raises(ConfigError, match=r"--lr must be > 0, got -1.0"):
        RunConfig.resolve({"lr": -1.0}, sources=("--",))
    with pytest.raises(ConfigError, match=r"run.toml: lr must be > 0"):
        RunConfig.resolve({"lr": -1.0}, sources=("run.toml",))
    with pytest.raises(ConfigError, match="unknown setting 'colour'; known: .*batch_size"):
        RunConfig.resolve({"colour": 1})


def test_json_round_trip_and_tampered_files_are_refused():
    config = RunConfig.resolve({"model": "mlp", "augment": "affine", "gamma": 0.5})
    again = RunConfig.from_json({**config.to_dict(), "input_shape": [1, 8, 8]}, "c.json")
    assert again == config
    for key, bad in (("seed", 1.5), ("val_fraction", -0.5), ("limit_train", -5),
                     ("tensorboard", "no")):
        with pytest.raises(ConfigError, match=f"c.json: {key}"):
            RunConfig.from_json({**config.to_dict(), key: bad}, "c.json")


def test_read_toml(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('model = "mlp"\nbatch-size = 32\nrun_dir = "runs/x"\n'
                    '[model_options]\nhidden = [16]\n')
    values = read_toml(str(path), extra=("run_dir",))
    assert values == {"model": "mlp", "batch_size": 32, "run_dir": "runs/x",
                      "model_options": {"hidden": [16]}}
    path.write_text("lr = 'fast'\n")
    with pytest.raises(ConfigError, match="run.toml: lr must be a number, got a string"):
        read_toml(str(path))
    path.write_text("lr = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_toml(str(path))
    with pytest.raises(ConfigError, match="No such file"):
        read_toml(str(tmp_path / "missing.toml"))


def _run_folder(tmp_path, **values):
    """A run folder whose config.json holds ``values`` over a valid config (as text)."""
    from xpnet.train.builders import DataInfo
    from xpnet.train.runfolder import write_config

    run = tmp_path / "run"
    write_config(run, RunConfig(model="mlp", data="digits"),
                 DataInfo((1, 8, 8), tuple("0123456789")))
    text = (run / "config.json").read_text()
    for key, raw in values.items():
        old = next(line for line in text.splitlines() if line.startswith(f'  "{key}": '))
        text = text.replace(old, f'  "{key}": {raw}' + ("," if old.endswith(",") else ""))
    (run / "config.json").write_text(text)
    return run


@pytest.mark.parametrize("key, raw, message", [
    ("seed", "1.5", "seed must be an integer, got a number (1.5)"),
    ("val_fraction", "-0.5", "val_fraction must be >= 0, got -0.5"),
    ("limit_train", "-5", "limit_train must be > 0, got -5"),
    ("tensorboard", '"no"', "tensorboard must be true or false, got a string ('no')"),
    ("val_fraction", "NaN", "val_fraction must be a finite number, got nan"),  # bare NaN
    ("pretrain_corruption", "Infinity", "pretrain_corruption must be a finite number, got inf"),
])
def test_a_tampered_config_json_is_refused_naming_the_file_and_the_setting(tmp_path, key, raw,
                                                                           message):
    from xpnet.train.runfolder import read_config

    run = _run_folder(tmp_path, **{key: raw})
    with pytest.raises(ValueError) as info:
        read_config(run)
    assert str(info.value) == f"{run / 'config.json'}: {message}"


def test_a_deeply_nested_or_binary_config_is_one_error(tmp_path):
    from xpnet.train.runfolder import read_config

    run = _run_folder(tmp_path, model_options="[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON \(maximum recursion"):
        read_config(run)
    (run / "config.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON \('utf-8' codec"):
        read_config(run)
    toml = tmp_path / "binary.toml"
    toml.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ConfigError) as info:
        read_toml(str(toml))
    assert str(info.value).startswith(f"{toml}: not a UTF-8 text file, so not TOML ('utf-8' "
                                      "codec can't decode byte 0x89")


@pytest.mark.parametrize("flag", ["--val-fraction", "--pretrain-corruption", "--lr"])
def test_nan_on_the_command_line_is_refused(flag):
    name = flag[2:].replace("-", "_")
    with pytest.raises(ConfigError) as info:
        RunConfig.resolve({name: math.nan}, sources=("--",))
    assert str(info.value) == f"{flag} must be a finite number, got nan"
