"""The ``rnnkit`` command. It parses, validates and calls library functions; nothing more.

Each group of sub-commands lives in its own module with a ``register(subparsers)`` function.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import deploy, diagnose, forecast, lm

COMMAND_MODULES = [lm, deploy, forecast, diagnose]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description="Recurrent neural networks from their equations.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..data.text import CorpusError
    from ..io.checkpoint import CheckpointError

    try:
        return args.func(args)
    except (CorpusError, CheckpointError, ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"rnnkit {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
