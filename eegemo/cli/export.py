"""``eegemo export``: a compact copy of a trained model for inference and sharing."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Write the model of RUN (a run folder's best checkpoint, or a .pt file) to OUT.pt
without its training state (optimiser, schedule, random-number states), so it can
be shared and used with `eegemo predict --model OUT.pt` or `eegemo evaluate OUT.pt
DATA`, but not resumed. --weights int8 stores weight matrices and kernels as
8-bit integers with one scale per output channel (about a quarter of the float32
size); float16 halves them. Loading restores float32 weights; check the copy with
`eegemo evaluate` before sharing it. Prints the file's size and SHA-256.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``export`` subcommand."""
    p = sub.add_parser(
        "export",
        help="write a compact inference copy of a trained model (float16 or int8 weights)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", metavar="RUN", help="run folder (its best checkpoint) or .pt file")
    p.add_argument("out", metavar="OUT.pt", help="file to write (must not exist)")
    p.add_argument("--weights", choices=("int8", "float16", "float32"), default="int8",
                   help="storage of the weights (default: int8)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: path, weights, bytes, sha256")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and report size and hash."""
    import json
    from pathlib import Path

    from ..errors import ConfigError
    from ..train.checkpoint import export_checkpoint

    out = Path(args.out)
    if out.exists():
        raise ConfigError(f"{out}: already exists; choose a new file name")
    if out.suffix != ".pt":
        raise ConfigError(f"{out}: expected a file name ending in .pt")
    info = export_checkpoint(args.run, out, weights=args.weights)
    if args.json:
        print(json.dumps(info))
    else:
        print(f"{info['path']}: {info['weights']} weights, {info['bytes'] / 1e6:.2f} MB, "
              f"sha256 {info['sha256']}")
    return 0
