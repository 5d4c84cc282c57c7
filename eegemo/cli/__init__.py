"""The ``eegemo`` command line: a thin layer that parses arguments and calls the library.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``; the
parser built here is also what ``docs/cli.md`` is generated from.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import ConfigError, EegemoError, first_line

#: Subcommand modules, in the order ``eegemo --help`` lists them.
SUBCOMMANDS = (
    "demo", "preprocess", "train", "evaluate", "distill", "predict", "export", "models",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the full ``eegemo`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="eegemo",
        description=(
            "Emotion recognition research toolkit: preprocess EEG into band-power "
            "topomaps, train and evaluate models on them, and train, distill and run "
            "facial-expression models."
        ),
    )
    parser.add_argument("--version", action="version", version=f"eegemo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def _os_error(exc: OSError) -> str:
    """``path: reason`` for a file-system error, e.g. ``out/run.json: Read-only file system``."""
    reason = exc.strerror or first_line(exc)
    if exc.filename is None:
        return reason
    if exc.filename2 is not None:
        return f"{exc.filename} -> {exc.filename2}: {reason}"
    return f"{exc.filename}: {reason}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status.

    Exit status: 0 success, 1 some work failed (the rest was done) or a file could not
    be read or written, 2 usage or configuration error, 130 interrupted. Errors meant
    for the user, file-system errors included, are printed as one line.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"eegemo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except EegemoError as exc:
        print(f"eegemo {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if getattr(args, "on_error", None) == "debug":
            raise  # for the debugger, as every other exception
        print(f"eegemo {args.command}: error: {_os_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"eegemo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
