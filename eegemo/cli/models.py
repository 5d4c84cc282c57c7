"""``eegemo models``: list the model registry with sizes."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``models`` subcommand."""
    p = sub.add_parser(
        "models",
        help="list every registered model with its parameter count and MACs",
        description="List every registered model (EEG and face) with parameter count and MACs "
        "for its default input size (stored with eegemo, so the list appears at once). Models "
        "registered from Python with eegemo.models.register_model appear in "
        "eegemo.models.list_models(), not here.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON array instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the registry."""
    import json

    from ..models.catalogue import read

    rows = read()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    shapes = {r["name"]: _shape(r["input_shape"]) for r in rows}
    width = max(len("input"), *map(len, shapes.values())) + 2
    print(f"{'name':<20}{'family':<10}{'input':<{width}}{'params (M)':>11}{'MACs (M)':>10}"
          "  description")
    for r in rows:
        print(
            f"{r['name']:<20}{r['family']:<10}{shapes[r['name']]:<{width}}"
            f"{r['params'] / 1e6:>11.2f}{r['macs'] / 1e6:>10.1f}  {r['description']}"
        )
    return 0


def _shape(shape: list) -> str:
    """``[5, 32, 32]`` as ``5x32x32``; several inputs joined with ``+``."""
    if shape and isinstance(shape[0], list):
        return "+".join(_shape(part) for part in shape)
    return "x".join(str(n) for n in shape)
