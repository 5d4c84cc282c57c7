"""Options shared by several subcommands, each declared (and its help written) once."""

from __future__ import annotations

import argparse


def add_config_options(parser: argparse.ArgumentParser, recipe: str, example: str) -> None:
    """Add ``--config FILE`` and the repeatable ``--set KEY=VALUE`` (into ``args.overrides``).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    recipe : str
        What the file holds and what applies without it, e.g. ``"TOML pipeline such as
        pipelines/default.toml (default: the built-in classic chain)"``.
    example : str
        A typical override of this subcommand, e.g. ``"epochs.length_s=4"``.
    """
    parser.add_argument("--config", metavar="FILE", help=f"{recipe}; a bare name such as "
                        "eegmat or fer-cpu reads the recipe of that name shipped with eegemo")
    add_set_option(parser, example)


def add_set_option(parser: argparse.ArgumentParser, example: str) -> None:
    """Add the repeatable ``--set KEY=VALUE`` (into ``args.overrides``) alone.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    example : str
        A typical override of this subcommand, e.g. ``"epochs.length_s=4"``.
    """
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help=f"override one config key (repeatable), e.g. --set {example}; dotted keys for "
        "tables, an entry of a list of tables by its name or, when names repeat, by its "
        "position from 0 (stages.2.l_freq); keys in docs/config-reference.md",
    )


def add_device_option(parser: argparse.ArgumentParser, from_config: bool) -> None:
    """Add ``--device``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    from_config : bool
        Whether the subcommand's configuration has a ``device`` key that ``--device``
        overrides (``args.device`` is then None when not given) rather than a plain
        default of ``"auto"``.
    """
    what = "override the config's device" if from_config else "where to run the model"
    parser.add_argument(
        "--device", type=_device, default=None if from_config else "auto",
        metavar="{auto,cpu,cuda,cuda:N,mps}",
        help=f"{what} (default: auto: CUDA, then MPS, then CPU; cuda:N: the N-th GPU)",
    )


def _device(name: str) -> str:
    from ..errors import ConfigError
    from ..train.device import check_device_name

    try:
        return check_device_name(name)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_resume_option(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--resume``; ``what`` says what is kept and continued."""
    parser.add_argument(
        "--resume", action="store_true", help=f"continue an interrupted run: {what}"
    )


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-progress``."""
    parser.add_argument("--no-progress", action="store_true", help="no progress messages or bars")
