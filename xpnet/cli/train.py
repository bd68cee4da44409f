"""``xpnet train``: options from the RunConfig schema, then :func:`xpnet.train.train_run`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from xpnet.cli.common import FORMAT, PROG, UsageError, json_object, note, out

#: What MPI launchers put in each process's environment: the number of processes.
#: MPICH / Intel MPI / Slurm (PMI), Open MPI, MVAPICH.
_JOB_SIZE = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")

_EXAMPLES = """\
examples:
  xpnet train                                  LeNet-5 on MNIST-5k (about 97%)
  xpnet train --model mlp --data digits --epochs 20 --lr 0.1
  xpnet train --model perceptron               Rosenblatt's rule, one unit per class
  xpnet train --model cifar_convnet --data ~/data/cifar-10-batches-bin \\
              --augment crop-flip --schedule plateau --device cuda
  xpnet train --config run.toml --epochs 3     a TOML file, overridden by options
  xpnet train --resume runs/lenet5-mnist5k-20250101-120000
  mpiexec -n 2 xpnet train --model cifar_convnet --data DIR   data parallel: 2 x 64 a step
  mpiexec -n 2 xpnet train --model alexnet --data DIR --parallel towers

The run folder gets config.json, history.jsonl, last/best checkpoints, curves.png and
tensorboard/. The last lines printed are 'test accuracy: NN.NN%' (the best checkpoint,
the one of lowest validation loss, on the test split) and the run folder. Ctrl-C keeps
the last checkpoint; --resume continues it to the same weights as a run never stopped.

Each model may bring its own defaults: the perceptron trains with --batch-size 1
--momentum 0 --weight-decay 0 --schedule none --loss perceptron (Rosenblatt's rule).

A TOML config uses the option names (batch_size or batch-size), e.g.:
  model = "mlp"
  data = "digits"
  epochs = 20
  augment = ["affine"]
  [model_options]
  hidden = [512, 256]
"""


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``train``, its options made from :func:`xpnet.train.config.settings`."""
    from xpnet.train.config import settings  # noqa: PLC0415

    p = sub.add_parser("train", parents=[common], formatter_class=FORMAT,
                       help="train a network (LeNet-5 on MNIST-5k by default)",
                       description="Train a model of the zoo on a data set.", epilog=_EXAMPLES)
    for s in settings():
        flag = "--" + s.name.replace("_", "-")
        default = ",".join(s.default) if isinstance(s.default, list) else s.default
        text = s.help if s.default is None else f"{s.help} (default: {default})"
        if s.kind == "bool":
            p.add_argument(flag, dest=s.name, action=argparse.BooleanOptionalAction,
                           default=None, help=text)
            continue
        metavar = {"names": "NAMES", "table": "JSON"}.get(s.kind, s.name.upper())
        p.add_argument(flag, dest=s.name, type={"int": int, "float": float}.get(s.kind, str),
                       default=None, metavar=metavar, help=text)
    p.add_argument("--run-dir", dest="run_dir", metavar="DIR",
                   help="the run folder (default runs/MODEL-DATA-TIMESTAMP)")
    p.add_argument("--config", metavar="FILE.toml", help="read settings from a TOML file; "
                   "options given on the command line override it")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from "
                   "its last checkpoint, with its saved config (--epochs may raise the total)")
    p.set_defaults(func=cmd_train)


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (the JSON ones parsed)."""
    from xpnet.train.config import settings  # noqa: PLC0415

    given = {s.name: getattr(args, s.name) for s in settings()
             if getattr(args, s.name, None) is not None}
    if "model_options" in given:
        given["model_options"] = json_object(given["model_options"], "--model-options")
    return given


def _new_config(args: argparse.Namespace) -> tuple[Any, Path]:
    """The config of a new run and its folder: defaults, the TOML file, the options."""
    from xpnet.train import RunConfig  # noqa: PLC0415
    from xpnet.train.config import read_toml  # noqa: PLC0415
    from xpnet.train.recipe import default_run_dir  # noqa: PLC0415

    layers, sources, run_dir = [], [], args.run_dir
    if args.config:
        toml = read_toml(args.config, extra=("run_dir",))
        run_dir = run_dir or toml.pop("run_dir", None)
        layers.append(toml)
        sources.append(args.config)
    config = RunConfig.resolve(*layers, _given(args), sources=(*sources, "--"))
    return config, Path(run_dir) if run_dir else default_run_dir(config)


def _final_lines(result: Any) -> None:
    if result.converged:
        note("converged: an epoch without errors (the classes are linearly separable)")
    metrics = result.best.get("metrics", {})
    parts = [f"val loss {metrics['val_loss']:.4f}"] if "val_loss" in metrics else []
    if "val_accuracy" in metrics:
        parts.append(f"val accuracy {100 * metrics['val_accuracy']:.2f}%")
    picked = ", ".join(parts) or "no validation set: chosen on the training set"
    out(f"best checkpoint: epoch {result.best.get('epoch')} ({picked}), evaluated on the "
        f"{result.test['count']} test images")
    if "top5" in result.test:
        out(f"test top-5 accuracy: {100 * result.test['top5']:.2f}%")
    out(f"test accuracy: {100 * result.test['accuracy']:.2f}%")
    out(f"run folder: {result.run_dir}")


def _interrupted(run_dir: Path) -> None:
    from xpnet.train import checkpoint  # noqa: PLC0415

    if checkpoint.checkpoint_exists(run_dir / "last"):
        note(f"\nxpnet: interrupted; the last checkpoint is kept in {run_dir}/last.safetensors."
             f" Continue with: xpnet train --resume {run_dir}")
    else:
        note(f"\nxpnet: interrupted before the first checkpoint; {run_dir} has nothing to "
             "resume")


def _job_size() -> int:
    """How many processes the MPI launcher started (1 when none did)."""
    sizes = [os.environ.get(name, "") for name in _JOB_SIZE]
    return max([int(v) for v in sizes if v.strip().isdigit()] or [1])


def _communicator() -> Any:
    """The job's communicator under ``mpiexec -n R`` (R > 1), else None: one process
    trains exactly as without MPI."""
    size = _job_size()
    if size == 1:
        return None
    from xpnet import distributed  # noqa: PLC0415

    comm = distributed.init(abort_on_error=True)
    if comm.size != size:
        raise UsageError(f"started as one of {size} processes, but mpi4py is not installed, "
                         "so each would train alone: pip install -e '.[mpi]'")
    return comm


def _share_cores(comm: Any, args: argparse.Namespace) -> None:
    """Without --threads, the processes on one machine split its cores between them."""
    if getattr(args, "threads", None) is None:
        from xpnet import cpu  # noqa: PLC0415

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
        cpu.set_num_threads(max(1, min(cpu.get_num_threads(), cores // comm.local_size())))


def cmd_train(args: argparse.Namespace) -> int:
    """``xpnet train``: a new run, or ``--resume RUN_DIR``; under ``mpiexec -n R``, one of
    R processes training together (every rank runs this; rank 0 alone prints and writes)."""
    comm = _communicator()
    if comm is None:
        return _train(args, None)
    try:
        _share_cores(comm, args)
        return _train(args, comm)
    except BaseException as e:  # noqa: BLE001 (one rank failing must end the whole job)
        from xpnet.train import ConfigError, RunExistsError  # noqa: PLC0415

        code = 2 if isinstance(e, (UsageError, ConfigError, RunExistsError)) else 1
        text = " ".join((str(e) or type(e).__name__).split())
        message = f"{PROG}: error: process {comm.rank} of {comm.size}: {text}\n"
        if getattr(args, "debug", False):
            import traceback  # noqa: PLC0415

            message += traceback.format_exc()
        comm.abort(code, message)  # written in one piece, read by the launcher, then abort
        raise


def _train(args: argparse.Namespace, comm: Any) -> int:
    from xpnet import cpu  # noqa: PLC0415
    from xpnet.train import resume_run, train_run  # noqa: PLC0415

    cpu.tune_allocator()  # reuse freed host arrays between steps (see its docstring)
    first = comm is None or comm.rank == 0
    options = {"log": out if first else None, "progress": first, "comm": comm}
    if args.resume:
        changed = [k for k in _given(args) if k not in ("epochs", "device")]
        if changed or args.config or args.run_dir:
            what = ", ".join("--" + k.replace("_", "-") for k in changed) or (
                "--config" if args.config else "--run-dir")
            raise UsageError(f"--resume continues a run with its saved config; {what} "
                             "cannot change (only --epochs and --device can)")
        from xpnet.train.config import check_setting  # noqa: PLC0415

        changes = {k: check_setting(k, getattr(args, k), "--" + k)
                   for k in ("epochs", "device") if getattr(args, k) is not None}
        run_dir = Path(args.resume)
        try:
            result = resume_run(run_dir, **changes, **options)
        except KeyboardInterrupt:
            return _stopped(run_dir, comm)
    else:
        config, run_dir = _new_config(args)
        try:
            result = train_run(config, run_dir, **options)
        except KeyboardInterrupt:
            return _stopped(run_dir, comm)
    if first:
        _final_lines(result)
    return 0


def _stopped(run_dir: Path, comm: Any) -> int:
    """Ctrl-C: rank 0 says what is kept; in a job, every rank ends at once."""
    if comm is None or comm.rank == 0:
        _interrupted(run_dir)
    if comm is not None:
        comm.abort(130)
    return 130
