"""What every command shares: the program name, usage errors, output, JSON options."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

PROG = "xpnet"
#: Help texts keep their line breaks (the examples).
FORMAT = argparse.RawDescriptionHelpFormatter


class UsageError(Exception):
    """A bad command line (exit status 2)."""


def out(*parts: Any) -> None:
    """A result line, on stdout."""
    print(*parts, flush=True)


def note(text: str) -> None:
    """A progress or diagnostic line, on stderr."""
    print(text, file=sys.stderr, flush=True)


def json_object(text: str, flag: str) -> dict[str, Any]:
    """A JSON object given on the command line (``--model-options``)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise UsageError(f"{flag}: not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag}: expected a JSON object like '{{\"hidden\": [512]}}'")
    return value


def positive(value: int, flag: str) -> int:
    """``value``, or a UsageError when it is not > 0."""
    if value < 1:
        raise UsageError(f"{flag} must be > 0, got {value}")
    return value
