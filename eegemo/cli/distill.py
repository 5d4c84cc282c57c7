"""``eegemo distill``: knowledge distillation from a trained teacher, over generations."""

from __future__ import annotations

import argparse

from .options import (
    add_config_options,
    add_device_option,
    add_progress_option,
    add_resume_option,
)

DESCRIPTION = """\
Train student models (config key `model`) that learn from a trained teacher as well
as from the labels, on the same data and with the same trainer as `eegemo train`.
The config is a training recipe (any `eegemo train` key) plus a [distill] table:

  [distill]
  generations = 3        # each student becomes the next teacher (born-again networks)
  loss = "soft"          # soft: tempered KL to the teacher; hard: the teacher's class
  temperature = 4.0
  alpha = 0.5            # weight of the teacher term (1 - alpha: the true labels)
  attention_beta = 0.0   # > 0 adds attention transfer between CNN stages (paper: 1000)
  feature_gamma = 0.0    # > 0 matches each CNN stage's features (same architecture)
  baseline = false       # also train the student without a teacher, for comparison

A DeiT student (model = "deit") learns the teacher through its distillation token
and head, the class head learning the labels (DeiT's hard distillation with
loss = "hard").

OUT gets one run folder per model (student/, gen-01/, gen-02/, ...) and the table
comparing teacher, student and each generation on the validation set
(accuracy, balanced accuracy, macro-F1) in OUT/distill.md and OUT/distill.json.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``distill`` subcommand."""
    p = sub.add_parser(
        "distill",
        help="knowledge distillation from a trained teacher, repeated over generations",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--teacher", required=True, metavar="RUN",
                   help="run folder (best checkpoint) or .pt file of the first teacher")
    p.add_argument("--data", required=True, metavar="DATA",
                   help="training data, as for `eegemo train` (e.g. a FER2013 folder or CSV)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_config_options(p, "student recipe with a [distill] table, e.g. "
                       "pipelines/fer-distill.toml (default: the training defaults and "
                       "one soft-target generation)", "distill.temperature=2")
    p.add_argument("--generations", type=int, metavar="N",
                   help="number of generations (overrides distill.generations)")
    add_resume_option(p, "the generations finished in DIR are kept")
    add_device_option(p, from_config=True)
    add_progress_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Distil and print the generations' table."""
    from ..train.distill import DistillRunConfig, distill_markdown, distill_run
    from ..train.settings import load_train_config

    overrides = list(args.overrides)
    if args.generations is not None:
        overrides.append(f"distill.generations={args.generations}")
    if args.device:
        overrides.append(f"device={args.device}")
    config = load_train_config(args.config, overrides, DistillRunConfig)
    rows = distill_run(args.teacher, args.data, args.out, config, resume=args.resume,
                       progress=not args.no_progress)
    print(distill_markdown(rows), end="")
    print(f"table written to {args.out}/distill.md and distill.json")
    return 0
