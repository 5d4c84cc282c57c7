"""``eegemo models``: list the model registry with sizes."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``models`` subcommand."""
    p = sub.add_parser(
        "models",
        help="list every registered model with its parameter count and MACs",
        description="List every registered model (EEG and face) with parameter count and MACs "
        "for its default input size.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON array instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the registry."""
    import json

    from ..models import list_models

    rows = list_models(with_size=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<22}{'family':<10}{'params (M)':>12}{'MACs (M)':>12}  description")
    for r in rows:
        print(
            f"{r['name']:<22}{r['family']:<10}{r['params'] / 1e6:>12.2f}"
            f"{r['macs'] / 1e6:>12.1f}  {r['description']}"
        )
    return 0
