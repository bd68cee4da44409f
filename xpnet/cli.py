"""The ``xpnet`` command: train, evaluate, predict, list, summarise and visualise networks.

The only module of xpnet that reads argv, configuration files or the environment. It is a
thin layer over the library: :func:`xpnet.train.fit` trains, :mod:`xpnet.train.runfolder`
writes and reads run folders, :mod:`xpnet.viz.commands` draws.

Errors a user can cause (an unknown model, a missing file, a negative learning rate, a
wrong type in a TOML file, ``cuda`` without a GPU, a model that does not fit the data)
end with ONE line on stderr, ``xpnet: error: ...``, and a non-zero exit status; ``--debug``
shows the traceback instead.

Example:
    $ xpnet train                       # LeNet-5 on MNIST-5k, ~97.5% in 15-90 s
    $ xpnet train --model mlp --data digits --epochs 5 --lr 0.1
    $ xpnet evaluate runs/lenet5-mnist5k-20250101-120000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy

__all__ = ["main"]

PROG = "xpnet"


class UsageError(Exception):
    """A bad command line or configuration file (exit status 2)."""


# ============================================================== settings of `xpnet train`
@dataclass(frozen=True)
class Setting:
    """One setting of ``xpnet train``: its type, default, limits and help.

    ``kind`` is one of ``int``, ``float``, ``str``, ``bool``, ``names`` (a list of names,
    or one comma-separated string) and ``table`` (a TOML table / JSON object).
    """

    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    low: float | None = None  # smallest allowed value
    positive: bool = False  # must be > 0
    high: float | None = None  # largest allowed value
    optional: bool = False  # None (TOML: leave it out) allowed


_OPTIMIZERS = ("sgd", "alexnet")
_SCHEDULES = ("none", "step", "exp", "plateau")
_AUGMENTS = ("none", "elastic", "crop", "flip", "crop-flip", "affine", "lighting")
_PREPROCESSORS = ("none", "standardize", "mean_image", "gcn", "zca", "clip")
_PRETRAIN = ("none", "autoencoder", "rbm")

# The defaults train LeNet-5 on MNIST-5k to ~97.5% test accuracy in 15-90 s on 2 cores.
SETTINGS: dict[str, Setting] = {
    "model": Setting("str", "lenet5", "model of the zoo (xpnet models lists them)"),
    "model_options": Setting("table", {}, "options of the model's builder, as JSON "
                             "(e.g. '{\"hidden\": [512]}' for mlp)"),
    "data": Setting("str", "mnist5k", "mnist5k, digits, or a path: a folder of IDX files, "
                    "a folder of CIFAR binary batches, a class-per-folder image tree, an .npz"),
    "epochs": Setting("int", 15, "epochs to train (in total, when resuming)", positive=True),
    "batch_size": Setting("int", 64, "examples per mini-batch", positive=True),
    "optimizer": Setting("str", "sgd", "sgd (PyTorch's rule) or alexnet (the paper's)",
                         choices=_OPTIMIZERS),
    "lr": Setting("float", 0.05, "learning rate (the perceptron's eta)", positive=True),
    "momentum": Setting("float", 0.9, "momentum", low=0.0),
    "weight_decay": Setting("float", 5e-4, "L2 weight decay", low=0.0),
    "schedule": Setting("str", "step", "learning-rate schedule: none, step (x gamma every "
                        "step-size epochs), exp (x gamma every epoch), plateau (x factor "
                        "when the validation loss stalls: AlexNet's divide-by-10)",
                        choices=_SCHEDULES),
    "step_size": Setting("int", 6, "epochs between two decays of the step schedule",
                         positive=True),
    "gamma": Setting("float", None, "decay factor of step (0.1) and exp (0.95) schedules",
                     positive=True, optional=True),
    "patience": Setting("int", 2, "epochs without improvement before plateau decays",
                        low=0),
    "factor": Setting("float", 0.1, "the plateau schedule's multiplier", positive=True,
                      high=0.999),
    "augment": Setting("names", None, "augmentation, comma-separated: none, elastic, "
                       "crop, flip, crop-flip, affine, lighting (default: elastic for 28x28 "
                       "grey images, none for others)", choices=_AUGMENTS, optional=True),
    "preprocess": Setting("names", ["standardize"], "pre-processing fitted on the training "
                          "split, comma-separated: none, standardize, mean_image, gcn, zca, "
                          "clip", choices=_PREPROCESSORS),
    "pretrain": Setting("str", "none", "greedy layer-wise pre-training of the hidden dense "
                        "layers before training: none, autoencoder (denoising, tied "
                        "weights), rbm (contrastive divergence; logistic units only, e.g. "
                        "--model mlp --model-options '{\"activation\": \"sigmoid\"}')",
                        choices=_PRETRAIN),
    "pretrain_epochs": Setting("int", 5, "pre-training epochs per hidden layer",
                               positive=True),
    "pretrain_lr": Setting("float", 0.01, "pre-training learning rate (standardised inputs "
                           "need about 0.01; 0.05 saturates the first layer)", positive=True),
    "pretrain_corruption": Setting("float", 0.2, "the autoencoders' masking noise: share of "
                                   "inputs set to 0", low=0.0, high=0.95),
    "seed": Setting("int", 0, "seed of the weights, the splits, the order and augmentation",
                    low=0),
    "device": Setting("str", "cpu", "cpu or cuda (cuda:N)"),
    "val_fraction": Setting("float", 0.1, "share of the training set held out for "
                            "validation (best checkpoint, plateau schedule)", low=0.0,
                            high=0.9),
    "limit_train": Setting("int", None, "use only N examples of the training set (train + "
                           "validation), for quick trials", positive=True, optional=True),
    "limit_test": Setting("int", None, "use only the first N test examples", positive=True,
                          optional=True),
    "checkpoint_every": Setting("int", 200, "also save last every N steps (besides every "
                                "epoch)", positive=True, optional=True),
    "log_every": Setting("int", 20, "a step record in history.jsonl every N steps",
                         positive=True),
    "tensorboard": Setting("bool", True, "write TensorBoard event files (run_dir/tensorboard)"),
    "curves": Setting("bool", True, "draw curves.png during the run, at most every 30 s, and "
                      "at its end (when matplotlib is installed)"),
    "run_dir": Setting("str", None, "the run folder (default runs/MODEL-DATA-TIMESTAMP)",
                       optional=True),
}
_TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string",
               "bool": "true or false", "names": "a list of names or a comma-separated string",
               "table": "a table"}


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)
    return f"{kind} ({value!r})"


def _check_type(key: str, value: Any, s: Setting, source: str) -> Any:
    ok = {"int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, (int, float)) and not isinstance(value, bool),
          "str": isinstance(value, str),
          "bool": isinstance(value, bool),
          "names": isinstance(value, str) or (isinstance(value, list) and all(
              isinstance(v, str) for v in value)),
          "table": isinstance(value, dict)}[s.kind]
    if not ok:
        raise UsageError(f"{source}: {key} must be {_TYPE_NAMES[s.kind]}, "
                         f"got {_describe(value)}")
    if s.kind == "float":
        return float(value)
    if s.kind == "names":
        names = value.split(",") if isinstance(value, str) else value
        return [n.strip() for n in names if n.strip()] or ["none"]
    return value


def check_setting(key: str, value: Any, source: str) -> Any:
    """Validate one setting of ``xpnet train``; return it normalised.

    Args:
        key: a key of :data:`SETTINGS`.
        value: the value given.
        source: where it came from (``--lr``, ``run.toml``), for the message.

    Raises:
        UsageError: wrong type, out of range, or not among the choices.
    """
    s = SETTINGS[key]
    if value is None:
        if s.optional:
            return None
        raise UsageError(f"{source}: {key} needs a value")
    value = _check_type(key, value, s, source)
    if s.kind in ("int", "float"):
        if s.positive and not value > 0:
            raise UsageError(f"{source}: {key} must be > 0, got {value}")
        if s.low is not None and value < s.low:
            raise UsageError(f"{source}: {key} must be >= {s.low:g}, got {value}")
        if s.high is not None and value > s.high:
            raise UsageError(f"{source}: {key} must be <= {s.high:g}, got {value}")
    names = value if s.kind == "names" else [value] if s.choices else []
    for name in names:
        if name not in (s.choices or ()):
            raise UsageError(f"{source}: unknown {key} {name!r}; expected "
                             f"{'some' if s.kind == 'names' else 'one'} of "
                             f"{', '.join(s.choices or ())}")
    if key == "model":
        from xpnet.models.zoo import ZOO  # noqa: PLC0415 (keeps `xpnet --help` fast)

        if value not in ZOO:
            raise UsageError(f"{source}: unknown model {value!r}; the zoo has: "
                             f"{', '.join(ZOO)}")
    return value


def read_toml(path: str) -> dict[str, Any]:
    """Read a TOML file of ``xpnet train`` settings (tomllib, or tomli before 3.11).

    Keys are the long options without dashes (``batch_size`` or ``batch-size``);
    ``[model_options]`` is a table. Unknown keys and wrong types are refused.

    Raises:
        UsageError: unreadable file, bad TOML, unknown key, wrong type.
    """
    try:
        import tomllib  # noqa: PLC0415
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # noqa: PLC0415
        except ImportError:
            raise UsageError("reading a TOML config needs Python 3.11 or the tomli "
                             "package on Python 3.10 (pip install tomli)") from None
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise UsageError(f"--config {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from None
    out = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in SETTINGS:
            raise UsageError(f"{path}: unknown setting {key!r}; known: "
                             f"{', '.join(sorted(SETTINGS))}")
        out[name] = check_setting(name, value, path)
    return out


def _json_option(text: str, flag: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise UsageError(f"{flag}: not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag}: expected a JSON object like '{{\"hidden\": [512]}}'")
    return value


def resolve_config(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults, then the TOML file, then the command line: the run's settings."""
    config = {k: s.default for k, s in SETTINGS.items()}
    if args.config:
        config.update(read_toml(args.config))
    for key in SETTINGS:
        value = getattr(args, key, None)
        if value is None:
            continue
        if key == "model_options":
            value = _json_option(value, "--model-options")
        config[key] = check_setting(key, value, "--" + key.replace("_", "-"))
    return config


# ======================================================================= argparse setup
class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (raised, printed by :func:`main`)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


_FORMAT = argparse.RawDescriptionHelpFormatter

_TRAIN_EXAMPLES = """\
examples:
  xpnet train                                  LeNet-5 on MNIST-5k (~97.5%, 15-90 s on 2 cores)
  xpnet train --model mlp --data digits --epochs 20 --lr 0.1
  xpnet train --model perceptron               Rosenblatt's rule, one unit per class
  xpnet train --model cifar_convnet --data ~/data/cifar-10-batches-bin \\
              --augment crop-flip --schedule plateau --device cuda
  xpnet train --config run.toml --epochs 3     a TOML file, overridden by options
  xpnet train --resume runs/lenet5-mnist5k-20250101-120000

The run folder gets config.json, history.jsonl, last/best checkpoints, curves.png and
tensorboard/. The last lines printed are 'test accuracy: NN.NN%' (the best checkpoint,
the one of lowest validation loss, on the test split) and the run folder. Ctrl-C keeps
the last checkpoint; --resume continues it to the same weights as a run never stopped.

A TOML config uses the option names (batch_size or batch-size), e.g.:
  model = "mlp"
  data = "digits"
  epochs = 20
  augment = ["affine"]
  [model_options]
  hidden = [512, 256]
"""


def _add_train(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("train", parents=[common], formatter_class=_FORMAT,
                       help="train a network (LeNet-5 on MNIST-5k by default)",
                       description="Train a model of the zoo on a data set.",
                       epilog=_TRAIN_EXAMPLES)
    for key, s in SETTINGS.items():
        flag = "--" + key.replace("_", "-")
        default = s.default if not isinstance(s.default, list) else ",".join(s.default)
        text = s.help if s.default is None else f"{s.help} (default: {default})"
        if s.kind == "bool":
            p.add_argument(flag, dest=key, action=argparse.BooleanOptionalAction,
                           default=None, help=text)
        else:
            kind = {"int": int, "float": float}.get(s.kind, str)
            metavar = key.upper() if s.kind not in ("names", "table") else (
                "NAMES" if s.kind == "names" else "JSON")
            p.add_argument(flag, dest=key, type=kind, default=None, metavar=metavar,
                           help=text)
    p.add_argument("--config", metavar="FILE.toml", help="read settings from a TOML file; "
                   "options given on the command line override it")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from "
                   "its last checkpoint, with its saved config (--epochs may raise the total)")
    p.add_argument("--pause-at-step", dest="pause_at_step", type=int, default=None,
                   help=argparse.SUPPRESS)  # tests: print PAUSED and wait to be killed
    p.set_defaults(func=cmd_train)


def _add_run_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "evaluate", parents=[common], formatter_class=_FORMAT,
        help="accuracy and confusion matrix of a trained run",
        description="Evaluate a run's checkpoint on its test split (or another split).",
        epilog="examples:\n  xpnet evaluate runs/lenet5-mnist5k-20250101-120000\n"
               "  xpnet evaluate RUN --checkpoint last --split val\n"
               "  xpnet evaluate RUN --ten-crop      average over crops (corners, centre; "
               "mirrored too\n                                     for runs trained with flips)")
    p.add_argument("run", metavar="RUN", help="a run folder written by xpnet train")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--split", choices=("test", "val", "train"), default="test")
    p.add_argument("--ten-crop", action="store_true", help="average the softmax over the "
                   "four corner and the centre crops of the padded image, and their mirrors "
                   "(AlexNet's ten crops); padded by H/8 when the run was trained with "
                   "random crops, else 1 pixel; mirrors only when it was trained with flips")
    p.add_argument("--batch-size", type=int, default=256, metavar="B")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "predict", parents=[common], formatter_class=_FORMAT,
        help="classify image files with a trained run",
        description="Classify images (PNG/JPEG through Pillow, or .npy arrays): each is "
                    "converted to the model's input shape and pre-processing.",
        epilog="examples:\n  xpnet predict runs/lenet5-mnist5k-20250101-120000 seven.png\n"
               "  xpnet predict RUN a.png b.jpg c.npy --top 5")
    p.add_argument("run", metavar="RUN")
    p.add_argument("images", metavar="IMAGE", nargs="+")
    p.add_argument("--top", type=int, default=3, help="classes shown per image (default 3)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.set_defaults(func=cmd_predict)


def _add_zoo_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("models", parents=[common], formatter_class=_FORMAT,
                       help="list the model zoo with parameter counts",
                       description="The models of the zoo, each built for its example "
                                   "input shape with 10 classes.",
                       epilog="example:\n  xpnet models")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("summary", parents=[common], formatter_class=_FORMAT,
                       help="layers, output shapes, parameters and FLOPs of a model",
                       description="Tabulate a zoo model layer by layer.",
                       epilog="examples:\n  xpnet summary lenet5\n"
                              "  xpnet summary alexnet --input-shape 3 64 64 --classes 100")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"))
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--model-options", metavar="JSON", help="builder options as JSON")
    p.set_defaults(func=cmd_summary)


_VIZ_KINDS = ("filters", "maps", "top", "deconv", "saliency", "guided", "maximize",
              "occlusion", "curves", "confusion")


def _add_viz_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "visualize", parents=[common], formatter_class=_FORMAT,
        help="draw what a trained network learned (PNGs)",
        description="Write PNGs of a run: " + ", ".join(_VIZ_KINDS) + ".",
        epilog="examples:\n  xpnet visualize filters RUN\n"
               "  xpnet visualize top RUN --layer 0 --channel 3 --set k=9\n"
               "  xpnet visualize saliency RUN --image 7 --out /tmp/sal\n"
               "  xpnet visualize curves RUN\n"
               "Options of each kind beyond the named ones go through --set KEY=VALUE "
               "(VALUE read as JSON when it parses, else as a string).")
    p.add_argument("kind", choices=_VIZ_KINDS, metavar="KIND",
                   help="one of " + ", ".join(_VIZ_KINDS))
    p.add_argument("run", metavar="RUN")
    p.add_argument("--out", metavar="DIR", help="where the PNGs go (default RUN/viz)")
    p.add_argument("--layer", help="layer index or name")
    p.add_argument("--channel", type=int, help="channel (unit) of the layer")
    p.add_argument("--image", type=int, help="index of the test image")
    p.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="another option of the kind (repeatable)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.set_defaults(func=cmd_visualize)

    p = sub.add_parser("report", parents=[common], formatter_class=_FORMAT,
                       help="write RUN/report.html: curves, filters, top inputs, saliency",
                       description="One self-contained HTML page about a run.",
                       epilog="example:\n  xpnet report runs/lenet5-mnist5k-20250101-120000")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.set_defaults(func=cmd_report)


def _thread_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``xpnet`` argument parser with its subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error")
    common.add_argument("--threads", type=_thread_count, default=None, metavar="N",
                        help="CPU threads for xpnet's ops (default: the usable CPUs, at "
                             "most 4); 1 for one process per core")
    parser = _Parser(prog=PROG, parents=[common], formatter_class=_FORMAT,
                     description="xpnet: deep learning from scratch on NumPy and CuPy.",
                     epilog="examples:\n  xpnet train\n  xpnet models\n"
                            "  xpnet summary lenet5\n  xpnet evaluate RUN\n"
                            "  xpnet predict RUN digit.png\n  xpnet visualize filters RUN\n"
                            "  xpnet report RUN\n\n'xpnet COMMAND --help' shows a command's "
                            "options and examples.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_train(sub, common)
    _add_run_commands(sub, common)
    _add_zoo_commands(sub, common)
    _add_viz_commands(sub, common)
    return parser


# ================================================================================ train
def _out(*parts: Any) -> None:
    print(*parts, flush=True)


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _default_run_dir(config: dict[str, Any]) -> Path:
    data = Path(str(config["data"])).expanduser()
    name = data.stem if data.suffix else data.name or "data"
    base = Path("runs") / f"{config['model']}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _prepare(config: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Open the data, complete the config with its shape and classes, build the model."""
    from xpnet import backend  # noqa: PLC0415
    from xpnet.train import runfolder  # noqa: PLC0415

    config["device"] = backend.check_device(config["device"])
    sets = runfolder.split_datasets(config)
    train = sets["train"]
    config["input_shape"] = list(train.shape)
    config["num_classes"] = int(train.num_classes)
    config["classes"] = [str(c) for c in train.classes]
    if config["model"] == "perceptron":
        if config.get("pretrain", "none") != "none":
            raise UsageError("--model perceptron has no hidden layer to pre-train: no "
                             "--pretrain")
        if config["augment"] not in (None, ["none"]):
            raise UsageError("--model perceptron trains by Rosenblatt's rule on the "
                             "training set as it is: no --augment")
        config["augment"] = ["none"]
    if config["augment"] is None:  # Simard's distortions are for 28x28 digits
        config["augment"] = ["elastic"] if tuple(train.shape) == (1, 28, 28) else ["none"]
    model = runfolder.build_run_model(config)
    _probe(model, config)
    return model, sets


def _probe(model: Any, config: dict[str, Any]) -> None:
    """One example through the model now, so a shape mismatch is reported before training."""
    from xpnet import Tensor, no_grad  # noqa: PLC0415

    shape = tuple(config["input_shape"])
    model.eval()
    try:
        with no_grad():
            out = model(Tensor(numpy.zeros((1, *shape), numpy.float32)))
    except ValueError as e:
        raise ValueError(f"model {config['model']} does not fit the data {config['data']} "
                         f"(images {shape}): {e}") from None
    finally:
        model.train()
    if tuple(out.shape) != (1, config["num_classes"]):
        raise ValueError(f"model {config['model']} gives outputs {tuple(out.shape[1:])} for "
                         f"{config['num_classes']} classes")


def _callbacks(config: dict[str, Any], run_dir: Path, pause_at: int | None) -> list:
    import importlib.util  # noqa: PLC0415

    from xpnet.train import callbacks as C  # noqa: PLC0415

    # History first: the curves are drawn from the file it has just written
    found = [C.History(run_dir / "history.jsonl", every_steps=config["log_every"])]
    if config["tensorboard"]:
        found.append(C.TensorBoard(run_dir / "tensorboard", every_steps=config["log_every"]))
    if config["curves"] and importlib.util.find_spec("matplotlib") is not None:
        found.append(C.CurvesPlot(run_dir))
    found.append(C.ProgressBar())
    if pause_at is not None:
        found.append(_pause_callback(pause_at))
    return found


def _make_trainer(config: dict[str, Any], model: Any, sets: dict[str, Any], run_dir: Path,
                  pause_at: int | None = None) -> Any:
    from xpnet.data import DataLoader  # noqa: PLC0415
    from xpnet.train import Trainer  # noqa: PLC0415
    from xpnet.train import runfolder as R  # noqa: PLC0415

    seed, train = config["seed"], sets["train"]
    optimizer = R.build_optimizer(config, model.parameters())
    loader = DataLoader(train, config["batch_size"], seed=seed,
                        transform=R.build_augment(config, train))
    val = sets["val"]
    val_loader = None if val is None else DataLoader(val, 256, shuffle=False)
    metrics = ("accuracy", "top5") if config["num_classes"] > 10 else ("accuracy",)
    return Trainer(model, optimizer, loader, val_loader=val_loader,
                   scheduler=R.build_schedule(config, optimizer),
                   callbacks=_callbacks(config, run_dir, pause_at), device=config["device"],
                   run_dir=run_dir, seed=seed, metrics=metrics,
                   preprocess=R.build_preprocess(config, train),
                   checkpoint_every_steps=config["checkpoint_every"],
                   log_every_steps=config["log_every"],
                   # the loss, not the accuracy: on a few hundred validation images many
                   # epochs tie in accuracy, and the first of them is rarely the best
                   monitor="val_loss")


def _header(config: dict[str, Any], sets: dict[str, Any], run_dir: Path) -> None:
    val = sets["val"]
    _out(f"training {config['model']} on {config['data']}: {len(sets['train'])} train / "
         f"{0 if val is None else len(val)} val / {len(sets['test'])} test images "
         f"{tuple(config['input_shape'])}, {config['num_classes']} classes, "
         f"{config['epochs']} epochs on {config['device']}")
    _out(f"run folder: {run_dir}")


def cmd_train(args: argparse.Namespace) -> int:
    """``xpnet train``: a new run, or ``--resume RUN_DIR``."""
    from xpnet.train import runfolder  # noqa: PLC0415

    if args.resume:
        config, run_dir = _resume_config(args)
    else:
        config = resolve_config(args)
        run_dir = Path(config.pop("run_dir") or _default_run_dir(config))
        if (run_dir / runfolder.CONFIG_FILE).exists():
            raise UsageError(f"{run_dir} already holds a run; continue it with 'xpnet train "
                             f"--resume {run_dir}' or choose another --run-dir")
    model, sets = _prepare(config)
    runfolder.write_config(run_dir, config)
    _header(config, sets, run_dir)
    if args.resume:
        _out(_resume_point(run_dir))
    try:
        if config["model"] == "perceptron":
            _train_perceptron(config, model, sets, run_dir, bool(args.resume))
        else:
            trainer = _make_trainer(config, model, sets, run_dir, args.pause_at_step)
            if config.get("pretrain", "none") != "none" and not args.resume:
                _pretrain(config, trainer, run_dir)
            trainer.fit(config["epochs"], resume=bool(args.resume))
    except KeyboardInterrupt:
        _interrupted(run_dir)
        return 130
    return _final_test(run_dir, config["device"])


def _pretrain(config: dict[str, Any], trainer: Any, run_dir: Path) -> None:
    """Layer-wise pre-training (``--pretrain``), one line per layer and epoch."""
    from xpnet.train import runfolder  # noqa: PLC0415
    from xpnet.train.pretrain import LOSS_NAMES  # noqa: PLC0415

    what = LOSS_NAMES[config["pretrain"]]

    def show(r: dict[str, Any]) -> None:
        _out(f"pre-training layer {r['layer']} ({r['method']}, {r['visible']} visible "
             f"units) epoch {r['epoch']}/{config['pretrain_epochs']}: {what} "
             f"{r['loss']:.4f}")

    runfolder.pretrain_run(config, trainer, run_dir, log=show)
    _out(f"pre-training done: {run_dir / 'pretrain.jsonl'}; fine-tuning the whole network")


def _resume_config(args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    from xpnet.train import checkpoint, runfolder  # noqa: PLC0415

    run_dir = Path(args.resume)
    config = runfolder.read_config(run_dir)
    if not checkpoint.checkpoint_exists(run_dir / "last"):
        raise FileNotFoundError(f"{run_dir}: nothing to resume, no last.safetensors there")
    given = [k for k in SETTINGS if getattr(args, k, None) is not None]
    changed = [k for k in given if k not in ("epochs", "device")]
    if changed or args.config:
        what = ", ".join("--" + k.replace("_", "-") for k in changed) or "--config"
        raise UsageError(f"--resume continues a run with its saved config; {what} cannot "
                         "change (only --epochs and --device can)")
    config.pop("xpnet_version", None)
    for key in ("epochs", "device"):
        if getattr(args, key) is not None:
            config[key] = check_setting(key, getattr(args, key), "--" + key)
    return config, run_dir


def _resume_point(run_dir: Path) -> str:
    """"resuming from ... (epoch E, batch B)" read from last.json (informative only)."""
    try:
        meta = json.loads((run_dir / "last.json").read_text(encoding="utf-8"))["meta"]
        progress = meta["state"]["progress"] if "progress" in meta.get("state", {}) else {}
        where = f"epoch {progress.get('epoch', meta['epoch']) + 1}"
        if progress.get("batch"):
            where += f", batch {progress['batch'] + 1}"
        return f"resuming from {run_dir / 'last.safetensors'} at step {meta['step']} ({where})"
    except (OSError, ValueError, KeyError, TypeError):
        return f"resuming from {run_dir / 'last.safetensors'}"


def _interrupted(run_dir: Path) -> None:
    from xpnet.train import checkpoint  # noqa: PLC0415

    if checkpoint.checkpoint_exists(run_dir / "last"):
        _note(f"\nxpnet: interrupted; the last checkpoint is kept in {run_dir}/last.safetensors."
              f" Continue with: xpnet train --resume {run_dir}")
    else:
        _note(f"\nxpnet: interrupted before the first checkpoint; {run_dir} has nothing to "
              "resume")


def _final_test(run_dir: Path, device: str) -> int:
    """Evaluate the best checkpoint on the test split; the run's last two lines."""
    from xpnet.data import DataLoader  # noqa: PLC0415
    from xpnet.train import evaluate  # noqa: PLC0415
    from xpnet.train.runfolder import load_run  # noqa: PLC0415

    run = load_run(run_dir, "best", device=device)
    test = run.dataset("test")
    result = evaluate(run.model, DataLoader(test, 256, shuffle=False), device=device,
                      preprocess=run.preprocess, num_classes=run.num_classes,
                      confusion=False)
    metrics = run.meta.get("metrics", {})
    parts = [f"val loss {metrics['val_loss']:.4f}"] if "val_loss" in metrics else []
    if "val_accuracy" in metrics:
        parts.append(f"val accuracy {100 * metrics['val_accuracy']:.2f}%")
    picked = ", ".join(parts) or "no validation set: chosen on the training set"
    _out(f"best checkpoint: epoch {run.meta.get('epoch')} ({picked}), evaluated on the "
         f"{len(test)} test images")
    if "top5" in result:
        _out(f"test top-5 accuracy: {100 * result['top5']:.2f}%")
    _out(f"test accuracy: {100 * result['accuracy']:.2f}%")
    _out(f"run folder: {run_dir}")
    return 0


def _pause_callback(step: int) -> Any:
    """Test hook (hidden ``--pause-at-step N``): after step N is saved, say PAUSED and wait
    (the kill -9 test kills the process there)."""
    from xpnet.train.callbacks import Callback  # noqa: PLC0415

    class PauseAt(Callback):
        order = 200  # after the Checkpoint callback

        def on_batch_end(self, state: Any) -> None:
            if state.step == step:
                print("PAUSED", flush=True)
                while True:
                    time.sleep(1)

    return PauseAt()


# =========================================================================== perceptron
def _train_perceptron(config: dict[str, Any], model: Any, sets: dict[str, Any],
                      run_dir: Path, resume: bool) -> None:
    """Rosenblatt's rule epoch by epoch, with the run folder's history and checkpoints."""
    from xpnet.data import preprocessing  # noqa: PLC0415
    from xpnet.train import checkpoint as ckpt  # noqa: PLC0415
    from xpnet.train import runfolder  # noqa: PLC0415

    x, y = sets["train"].arrays()
    history: list[dict[str, Any]] = []
    start, best = 0, None
    if resume:
        state, _ = ckpt.load_state(run_dir / "last")
        model.load_state_dict(state["model"])
        pre = preprocessing.from_state_dict(state["preprocess"]) if state["preprocess"] else None
        start, history = state["progress"]["epoch"], list(state["history"])
        best = state.get("best")
    else:
        pre = runfolder.build_preprocess(config, sets["train"])
    x = pre(x) if pre is not None else x
    xv, yv = sets["val"].arrays() if sets["val"] is not None else (None, None)
    xv = pre(xv) if pre is not None and xv is not None else xv
    mode = "w" if not resume else "a"
    _keep_history(run_dir / "history.jsonl", start, resume)
    with open(run_dir / "history.jsonl", mode, encoding="utf-8") as log:
        for epoch in range(start, config["epochs"]):
            begin = time.perf_counter()
            order = numpy.random.default_rng([config["seed"], epoch]).permutation(len(x))
            errors = model.train_epoch(x, y, order, eta=config["lr"])
            record = {"kind": "epoch", "epoch": epoch + 1, "step": (epoch + 1) * len(x),
                      "train_errors": errors, "train_loss": errors / len(x),
                      "train_accuracy": float((model.predict(x) == y).mean()),
                      "lr": config["lr"], "time": time.perf_counter() - begin}
            if xv is not None:
                record["val_accuracy"] = float((model.predict(xv) == yv).mean())
            history.append(record)
            log.write(json.dumps(record) + "\n")
            log.flush()
            score = record.get("val_accuracy", record["train_accuracy"])
            improved = best is None or score > best
            best = score if improved else best
            state = {"model": model.state_dict(), "progress": {"epoch": epoch + 1},
                     "preprocess": pre.state_dict() if pre is not None else None,
                     "history": history, "best": best}
            meta = {"epoch": epoch + 1, "step": record["step"],
                    "model": "MulticlassPerceptron", "metrics": record}
            ckpt.save_state(run_dir / "last", state, meta)
            if improved:
                ckpt.save_state(run_dir / "best", state, meta)
            _note(f"epoch {epoch + 1}/{config['epochs']}  errors {errors}/{len(x)}  "
                  f"train acc {100 * record['train_accuracy']:.2f}%" + (
                      f"  val acc {100 * record['val_accuracy']:.2f}%" if xv is not None
                      else ""))
            if errors == 0:
                _note("converged: an epoch without errors (the classes are linearly separable)")
                break


def _keep_history(path: Path, epochs_done: int, resume: bool) -> None:
    """On resume, drop history records written after the checkpoint."""
    if not resume or not path.exists():
        return
    from xpnet.train.callbacks import read_history  # noqa: PLC0415

    kept = [r for r in read_history(path) if r.get("epoch", 0) <= epochs_done]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")


# ======================================================================== other commands
def crop_plan(config: dict[str, Any]) -> tuple[int, bool]:
    """(padding, mirror) of ``--ten-crop`` for a run: test-time crops like training's.

    Crops of the image zero-padded by H/8 (the shifts ``RandomCrop`` taught the network)
    when it was trained with random crops, else by 1 pixel; mirrored crops only when it
    was trained with flips (a mirrored digit is another symbol). AlexNet's ten crops are
    the case with both: four corners and the centre, and their mirrors.
    """
    augment = config.get("augment") or []
    h = int(config["input_shape"][1])
    pad = max(1, h // 8) if {"crop", "crop-flip"} & set(augment) else 1
    return pad, bool({"flip", "crop-flip"} & set(augment))


def _ten_crop_scores(model: Any, x: Any, preprocess: Any, device: str, pad: int,
                     mirror: bool) -> Any:
    """Mean softmax over the corner and centre crops of x padded by ``pad`` (so crops keep
    x's size), and of its mirror when ``mirror``: (B, K)."""
    from xpnet import Tensor, backend, no_grad  # noqa: PLC0415
    from xpnet import functions as F  # noqa: PLC0415
    from xpnet.data.transforms import ten_crop  # noqa: PLC0415

    h, w = x.shape[2:]
    padded = numpy.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (B, C, H+2p, W+2p)
    crops = ten_crop(padded, (h, w))  # (10, B, C, H, W): 5 crops, then 5 of the mirror
    crops = crops if mirror else crops[:5]
    total = None
    with no_grad():
        for crop in crops:  # each (B, C, H, W)
            crop = preprocess(crop) if preprocess is not None else crop
            probs = F.softmax(model(Tensor(backend.to_device(crop, device))), axis=1).data
            total = probs if total is None else total + probs
    return total / len(crops)


def _evaluate_ten_crop(run: Any, loader: Any, device: str) -> dict[str, Any]:
    from xpnet import backend  # noqa: PLC0415
    from xpnet.train.metrics import Accumulator  # noqa: PLC0415

    pad, mirror = crop_plan(run.config)
    acc = Accumulator(run.num_classes, confusion=True)
    for x, y in loader:
        scores = _ten_crop_scores(run.model, x, run.preprocess, device, pad, mirror)
        probs = backend.to_numpy(scores)
        picked = probs[numpy.arange(len(y)), y]
        loss = float(-numpy.log(numpy.maximum(picked, 1e-12)).mean())
        acc.update(probs, y, loss)
    result = acc.result()
    result["count"] = acc.count
    result["crops"] = f"{10 if mirror else 5} crops, padding {pad}" + (
        "" if mirror else ", no mirrors: trained without flips")
    return result


def _confusion_text(matrix: numpy.ndarray, classes: list[str]) -> str:
    labels = [c[:8] for c in classes]
    width = max(max(len(s) for s in labels), len(str(int(matrix.max()))), 3) + 1
    lines = [" " * width + "".join(s.rjust(width) for s in labels)]
    for label, row in zip(labels, matrix):
        lines.append(label.rjust(width) + "".join(str(int(v)).rjust(width) for v in row))
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``xpnet evaluate RUN``: accuracy (top-5 over 10 classes), loss, confusion matrix."""
    from xpnet import backend  # noqa: PLC0415
    from xpnet.data import DataLoader  # noqa: PLC0415
    from xpnet.train import evaluate  # noqa: PLC0415
    from xpnet.train.runfolder import load_run  # noqa: PLC0415

    device = backend.check_device(args.device)
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be > 0, got {args.batch_size}")
    run = load_run(args.run, args.checkpoint, device=device)
    data = run.dataset(args.split)
    loader = DataLoader(data, args.batch_size, shuffle=False)
    if args.ten_crop:
        result = _evaluate_ten_crop(run, loader, device)
    else:
        result = evaluate(run.model, loader, device=device, preprocess=run.preprocess,
                          num_classes=run.num_classes)
    _out(f"run: {run.run_dir}  checkpoint: {run.checkpoint} (epoch {run.meta.get('epoch')})")
    _out(f"{args.split} set: {result['count']} images, {run.num_classes} classes"
         + (f", test-time crops ({result['crops']})" if args.ten_crop else ""))
    _out(f"loss: {result['loss']:.4f}")
    if "top5" in result:
        _out(f"top-5 accuracy: {100 * result['top5']:.2f}%")
    _out(f"accuracy: {100 * result['accuracy']:.2f}%")
    matrix = result["confusion"]
    if run.num_classes <= 20:
        _out("confusion matrix (rows: true class, columns: predicted class):")
        _out(_confusion_text(matrix, run.classes))
    else:
        path = run.run_dir / f"confusion-{run.checkpoint}-{args.split}.csv"
        numpy.savetxt(path, matrix, fmt="%d", delimiter=",")
        _out(f"confusion matrix ({run.num_classes}x{run.num_classes}) written to {path}")
    return 0


def load_image(path: str, shape: Sequence[int]) -> numpy.ndarray:
    """Read an image file or a .npy array as float32 (C, H, W) of the model's ``shape``.

    PNG/JPEG/... (Pillow) are converted to grey (C = 1) or RGB (C = 3), resized to H x W
    and scaled to [0, 1], as the data sets deliver images. A ``.npy`` array of shape
    (H, W), (C, H, W) or (H, W, C) must already have the size; uint8 is scaled by 1/255.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an array of the wrong shape, or a file Pillow cannot read.
    """
    c, h, w = (int(n) for n in shape)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if p.suffix.lower() == ".npy":
        a = numpy.load(p, allow_pickle=False)
        if a.ndim == 2:
            a = a[None]  # (H, W) -> (1, H, W)
        elif a.ndim == 3 and a.shape[0] != c and a.shape[2] == c:
            a = a.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
        if a.shape != (c, h, w):
            raise ValueError(f"{path}: an array of shape {a.shape}; the model takes {(c, h, w)}")
        return (a.astype(numpy.float32) / 255.0 if a.dtype == numpy.uint8
                else a.astype(numpy.float32))
    try:
        from PIL import Image, UnidentifiedImageError  # noqa: PLC0415
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install 'xpnet[images]'") from None
    if c not in (1, 3):
        raise ValueError(f"{path}: the model takes {c}-channel inputs; give a .npy array")
    try:
        with Image.open(p) as im:
            im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
            a = numpy.asarray(im, dtype=numpy.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: not an image Pillow can read ({e})") from None
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (H, W[, C]) -> (C, H, W)
    return a.astype(numpy.float32) / 255.0


def cmd_predict(args: argparse.Namespace) -> int:
    """``xpnet predict RUN IMAGE...``: the top classes of each image with probabilities."""
    from xpnet import Tensor, backend, no_grad  # noqa: PLC0415
    from xpnet import functions as F  # noqa: PLC0415
    from xpnet.train.runfolder import load_run  # noqa: PLC0415

    if args.top < 1:
        raise UsageError(f"--top must be > 0, got {args.top}")
    run = load_run(args.run, args.checkpoint)
    x = numpy.stack([load_image(p, run.input_shape) for p in args.images])  # (N, C, H, W)
    if run.preprocess is not None:
        x = run.preprocess(x)
    with no_grad():
        probs = backend.to_numpy(F.softmax(run.model(Tensor(x.astype(numpy.float32))),
                                           axis=1).data)
    k = min(args.top, run.num_classes)
    for path, p in zip(args.images, probs):
        best = numpy.argsort(-p, kind="stable")[:k]
        _out(f"{path}: {run.classes[best[0]]}")
        for j in best:
            _out(f"  {run.classes[j]:>12}  {100 * p[j]:6.2f}%")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """``xpnet models``: every zoo entry with its example shape and parameter count."""
    from xpnet.models.zoo import ZOO, build_model  # noqa: PLC0415

    rows = []
    for name, entry in ZOO.items():
        params = build_model(name, entry.example_shape, 10, seed=0).num_parameters()
        shape = "x".join(str(n) for n in entry.example_shape)
        rows.append((name, shape, f"{params:,}", entry.description))
    head = ("model", "input", "params", "description")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    for r in [head, *rows]:
        _out(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """``xpnet summary MODEL``: the layer table of a zoo model."""
    from xpnet.models.summary import summary  # noqa: PLC0415
    from xpnet.models.zoo import ZOO, build_model  # noqa: PLC0415

    check_setting("model", args.model, "summary")
    if args.classes < 1:
        raise UsageError(f"--classes must be > 0, got {args.classes}")
    shape = tuple(args.input_shape) if args.input_shape else ZOO[args.model].example_shape
    if any(n < 1 for n in shape):
        raise UsageError(f"--input-shape must be positive, got {shape}")
    options = _json_option(args.model_options, "--model-options") if args.model_options else {}
    model = build_model(args.model, shape, args.classes, seed=0, **options)
    _out(f"{args.model} for inputs {shape}, {args.classes} classes")
    _out(str(summary(model, shape)))
    return 0


def _viz_commands() -> Any:
    try:
        from xpnet.viz import commands  # noqa: PLC0415
    except ImportError as e:
        if getattr(e, "name", None) == "xpnet.viz.commands":
            raise ImportError("this xpnet has no xpnet.viz.commands yet: visualize and "
                              "report are not available") from None
        raise
    return commands


def _parse_set(items: list[str]) -> dict[str, Any]:
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        options[key.strip().replace("-", "_")] = value
    return options


def cmd_visualize(args: argparse.Namespace) -> int:
    """``xpnet visualize KIND RUN``: PNGs through :func:`xpnet.viz.commands.visualize`."""
    options = _parse_set(args.options)
    for key in ("layer", "channel", "image"):
        value = getattr(args, key)
        if value is not None:
            options[key] = int(value) if key == "layer" and value.lstrip("-").isdigit() \
                else value
    paths = _viz_commands().visualize(args.kind, Path(args.run),
                                      out_dir=Path(args.out) if args.out else None,
                                      checkpoint=args.checkpoint, **options)
    for path in paths:
        _out(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``xpnet report RUN``: RUN/report.html through :func:`xpnet.viz.commands.write_report`."""
    _out(_viz_commands().write_report(Path(args.run), checkpoint=args.checkpoint))
    return 0


# ================================================================================= main
def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    elif isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xpnet`` command line; returns the exit status.

    Args:
        argv: the arguments after the program name (default ``sys.argv[1:]``).

    Returns:
        0 on success, 1 for an error while running, 2 for a bad command line or
        configuration, 130 when interrupted (Ctrl-C).

    Example:
        >>> main(["summary", "lenet5"])   # doctest: +SKIP
        0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return 2
        if getattr(args, "threads", None) is not None:
            import xpnet  # noqa: PLC0415

            xpnet.set_num_threads(args.threads)
        return int(args.func(args))
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        _note("\nxpnet: interrupted")
        return 130
    except (UsageError, ValueError, TypeError, KeyError, OSError, ImportError,
            FloatingPointError, MemoryError) as e:
        if debug:
            traceback.print_exc()
        _note(f"{PROG}: error: {_one_line(e)}")
        return 2 if isinstance(e, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
