"""``eegemo train``: train a model on preprocessed EEG topomaps, heart features or faces."""

from __future__ import annotations

import argparse
import os

from .options import (
    add_config_options,
    add_device_option,
    add_progress_option,
    add_resume_option,
)

DESCRIPTION = """\
Train a registered model and write a self-contained run folder: the resolved
config.toml, metrics.jsonl (one line per epoch), checkpoints/best.pt and last.pt,
and report/ (learning curves, confusion matrix, per-class scores, report.md/html).

DATA is a preprocessed EEG folder (with manifest.csv: whole subjects are held out
for validation, data.val_fraction), a FER2013 folder with train/ and val/, or a
FER2013 .csv. Without --config, model = auto lets the data choose the model and its
recipe: for topomaps topo_linear, a logistic regression on regional band power (the
values of pipelines/train-topomap.toml); for faces resnet18 at the CPU recipe's size.
Change any key with --set, e.g. --set epochs=40, or train a network with
--set model=topo_cnn (or topo_resnet).

--inputs chooses what a preprocessed folder with heart features is learnt from:
eeg (the default), physio (heart features alone, model feature_mlp) or eeg+physio
(both in one network, fusion_net; --set data.fusion=late trains one model per
input and averages their calibrated probabilities). A model named with --set
model=... is kept.

--cv loso or --cv K runs cross-validation by subject (EEG): each fold's model is
scored on subjects it never saw, and RUN/cv.json and RUN/cv.md hold every fold
and the mean +- sd. Multi-GPU or multi-process: torchrun --nproc_per_node N -m
eegemo train ... (only rank 0 writes).
"""


def _cv(text: str) -> str | int:
    if text.lower() == "loso":
        return "loso"
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'loso' or a number of folds, got {text!r}"
        ) from None
    if k < 2:
        raise argparse.ArgumentTypeError(f"need at least 2 folds, got {k}")
    return k


def _inputs(text: str) -> list[str]:
    names = [n.strip() for n in text.split("+")]
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"expected modality names joined by '+', such as eeg+physio, got {text!r}"
        )
    return names


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``train`` subcommand."""
    p = sub.add_parser(
        "train",
        help="train a model on EEG topomaps, heart features or face images (one trainer)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", metavar="DATA",
                   help="preprocessed EEG folder (manifest.csv), FER2013 folder or CSV "
                        "(optional with --resume: taken from RUN/run.json)")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    add_config_options(p, "training recipe, e.g. pipelines/fer-cpu.toml (default: the "
                       "built-in topomap defaults)", "optimizer.lr=1e-3")
    p.add_argument("--inputs", type=_inputs, metavar="A+B",
                   help="modalities to learn from together, e.g. eeg+physio or physio "
                        "(sets data.inputs; default: the one the data belong to, eeg for a "
                        "preprocessed folder)")
    p.add_argument("--cv", type=_cv, metavar="loso|K",
                   help="cross-validation by subject: leave-one-subject-out or K folds")
    add_resume_option(p, "RUN from its last checkpoint, with its config.toml and data; "
                      "--set epochs=N above the run's extends it, and only device, threads "
                      "and data.num_workers may change besides")
    add_device_option(p, from_config=True)
    add_progress_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Resolve the config, train, and print where the results are."""
    import json
    from pathlib import Path

    from ..errors import ConfigError
    from ..train.experiment import cv_markdown, train_run
    from ..train.settings import load_train_config

    out = Path(args.out)
    overrides = list(args.overrides)
    if args.device:
        overrides.append(f"device={args.device}")
    if args.inputs:
        overrides.append("data.inputs=[" + ", ".join(f'"{n}"' for n in args.inputs) + "]")
    config_path = args.config
    data = args.data
    if args.resume and (out / "config.toml").is_file():
        if args.config:
            raise ConfigError(f"--resume continues with {out / 'config.toml'}; drop --config")
        config_path = out / "config.toml"
        run_info = out / "run.json"
        if data is None and run_info.is_file():
            data = json.loads(run_info.read_text(encoding="utf-8"))["data"]
        elif data is None:
            folds = sorted(out.glob("fold-*/run.json"))
            if folds:
                data = json.loads(folds[0].read_text(encoding="utf-8"))["data"]
    if data is None:
        raise ConfigError("--data is required (the preprocessed EEG folder or face data)")
    config = load_train_config(config_path, overrides)
    summary = train_run(data, out, config, cv=args.cv, resume=args.resume,
                        progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    if args.cv is not None:
        print(cv_markdown(summary), end="")
        print(f"cross-validation written to {out} (cv.json, cv.md, fold-*/report/)")
        return 0
    for split, m in summary["metrics"].items():
        print(f"{split}: balanced accuracy {m['balanced_accuracy']:.4f}  "
              f"macro-F1 {m['macro_f1']:.4f}  accuracy {m['accuracy']:.4f}  (n = {m['n']})")
    print(f"best epoch {summary['best_epoch']} of {summary['epochs_run']}; "
          f"report: {out / 'report' / 'report.md'}")
    return 0
