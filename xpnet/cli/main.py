"""The ``xpnet`` parser, the dispatch to a command, and how errors end.

Errors a user can cause (an unknown model, a missing file, a negative learning rate, a
wrong type in a TOML file, ``cuda`` without a GPU, a model that does not fit the data)
end with ONE line on stderr, ``xpnet: error: ...``, and a non-zero exit status; ``--debug``
shows the traceback instead. Warnings are one line too (``xpnet: warning: ...``), and a
second Ctrl-C while the first one shuts the run down is ignored (exit status 130).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Sequence
from typing import Any

from xpnet.cli import export, runs, study, train, viz, zoo
from xpnet.cli.common import PROG, UsageError, note

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (raised, printed by :func:`main`)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _thread_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


#: The command groups, each a module with ``add_commands(subparsers, common)``; a new
#: command goes into one of them (or a new module listed here).
COMMANDS = (train, runs, export, zoo, viz, study)


def build_parser() -> argparse.ArgumentParser:
    """The ``xpnet`` argument parser with its subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error")
    common.add_argument("--threads", type=_thread_count, default=None, metavar="N",
                        help="CPU threads for xpnet's ops (default: the usable CPUs, at "
                             "most 4); 1 for one process per core")
    parser = _Parser(prog=PROG, parents=[common],
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="xpnet: deep learning from scratch on NumPy and CuPy.",
                     epilog="examples:\n  xpnet train\n  xpnet models\n"
                            "  xpnet summary lenet5\n  xpnet evaluate RUN\n"
                            "  xpnet predict RUN digit.png\n  xpnet visualize filters RUN\n"
                            "  xpnet report RUN\n\n'xpnet COMMAND --help' shows a command's "
                            "options and examples.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for group in COMMANDS:
        group.add_commands(sub, common)
    return parser


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    elif isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean a bad command line or configuration (exit status 2)."""
    from xpnet.train import ConfigError, RunExistsError  # noqa: PLC0415 (keeps --help fast)

    return UsageError, ConfigError, RunExistsError


def _warning_line(message: Any, category: type, filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """A warning as one line on stderr, ``xpnet: warning: ...`` (no source line)."""
    note(f"{PROG}: warning: {' '.join(str(message).split())}")


class _InterruptOnce:
    """Ctrl-C stops the command (KeyboardInterrupt) once; a second Ctrl-C while it shuts
    down (callbacks closing files, the final curves, the loader's thread) is ignored, so
    the shutdown still ends cleanly with status 130 instead of a traceback or a death by
    signal. Outside the main thread (where signals cannot be handled) it does nothing.
    """

    def __init__(self, restore: bool) -> None:
        self.restore = restore  # False for the program itself: it exits right after
        self.previous: Any = None
        self.fired = False

    def _handler(self, signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.fired = True
        raise KeyboardInterrupt

    def __enter__(self) -> _InterruptOnce:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.previous is not None and (self.restore or not self.fired):
            signal.signal(signal.SIGINT, self.previous)


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
    as_program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings(), _InterruptOnce(restore=not as_program):
        warnings.showwarning = _warning_line
        # Pillow warns of large images before xpnet refuses them in one line of its own;
        # NumPy warns of NaN and inf that the guard and evaluate/predict report precisely
        warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")
        warnings.filterwarnings("ignore", category=RuntimeWarning,
                                message=r"(invalid value|overflow|divide by zero) encountered")
        return _run(argv)


def _run(argv: list[str]) -> int:
    """Parse ``argv``, run the command, and end every error in one line."""
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return 2
        if getattr(args, "threads", None) is not None:
            from xpnet import cpu  # noqa: PLC0415

            cpu.set_num_threads(args.threads)
        return int(args.func(args))
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        note("\nxpnet: interrupted")
        return 130
    except (UsageError, ValueError, TypeError, KeyError, OSError, ImportError,
            FloatingPointError, MemoryError, RecursionError) as e:
        if debug:
            traceback.print_exc()
        note(f"{PROG}: error: {_one_line(e)}")
        return 2 if isinstance(e, _usage_errors()) else 1

