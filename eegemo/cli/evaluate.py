"""``eegemo evaluate``: score a trained model on data it has never seen."""

from __future__ import annotations

import argparse

from .options import add_device_option, add_set_option

DESCRIPTION = """\
Score a trained model (a run folder, whose best checkpoint is used, or a .pt file)
on DATA, which must not have been used for training or model selection.

EEG: DATA is a preprocessed folder with manifest.csv, prepared exactly as in
training (with subject-wise normalisation, each new subject is standardised with
its own statistics; no labels are used for that). Labels are matched to the
model's classes by name; an unknown label is an error.
Faces: DATA is a folder whose subfolders are the classes, a FER2013 root (choose
train/val/test with --split) or the Kaggle CSV (--split picks the usage).

Prints accuracy, balanced accuracy, macro-F1, per-class scores and the confusion
matrix; --json prints one JSON object instead, which for EEG and heart-feature data
also holds per_subject: the balanced accuracy, macro-F1, accuracy and n of each
subject. --predictions FILE.csv writes one row per item: subject, recording, index
(the epoch's row in its recording), label (true), predicted and p_<class> for every
class (faces: subject and recording empty, index the item's position).

--set KEY=VALUE changes a key of the configuration recorded with the run for this
evaluation only, such as face.decode_jobs=8 or face.cache_dir=DIR (where decoded
faces are cached); a key that shapes the model's input (face.img_size,
data.normalization) is honoured too, at the user's risk.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``evaluate`` subcommand."""
    p = sub.add_parser(
        "evaluate",
        help="score a trained model on held-out data (accuracy, balanced accuracy, macro-F1)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="RUN", help="run folder (its best checkpoint) or .pt file")
    p.add_argument("data", metavar="DATA", help="held-out data (EEG folder or face data)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (with per_subject scores for EEG data)")
    p.add_argument("--predictions", metavar="FILE",
                   help="also write every item's true and predicted label and class "
                   "probabilities to FILE (CSV)")
    p.add_argument("--split", metavar="NAME",
                   help="face data: split folder or CSV usage (train, val, test, PublicTest...)")
    p.add_argument("--tta", action="store_true",
                   help="also report test-time augmentation separately, where the model's modality "
                   "defines it (faces: flips and crops; not EEG, where a flip swaps hemispheres)")
    add_set_option(p, "face.decode_jobs=8")
    add_device_option(p, from_config=False)
    p.add_argument("--batch-size", type=int, default=256, help="evaluation batch size")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the metrics."""
    import json

    from ..errors import ConfigError
    from ..train.experiment import evaluate_checkpoint, metrics_table

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    metrics = evaluate_checkpoint(args.model, args.data, split=args.split, device=args.device,
                                  batch_size=args.batch_size, tta=args.tta,
                                  predictions=args.predictions, overrides=args.overrides)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(metrics_table(metrics))
    return 0
