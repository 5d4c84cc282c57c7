"""Subject-independent accuracy on eegmat: topomap networks vs logistic regression, same run.

Cross-validation by subject (default 6 folds over the preprocessed subjects, the same
deterministic folds as ``eegemo train --cv 6``). In every fold each method is fitted on
the training subjects only and scored on the test subjects:

* ``lr_plain``: scikit-learn ``StandardScaler`` + ``LogisticRegression`` on the log10
  band power the preprocessing wrote (``bandpower_path``: 19 channels x 5 bands), the
  scaler fitted on the training subjects;
* ``lr_subject``: the same after standardising each subject's features with that
  subject's own mean and spread (no labels used; also done for the test subjects);
* ``net:<model>:<normalization>``: the shared :class:`~eegemo.train.trainer.Trainer`
  with the training config (default: the built-in topomap defaults, i.e.
  ``pipelines/train-topomap.toml``) on the topomaps of the same epochs; its own
  validation subjects are held out of the training subjects for model selection.

Both logistic regressions use ``class_weight="balanced"`` like the network's
class-weighted loss. Prints one JSON object: per method the balanced accuracy,
macro-F1 and accuracy of every fold with mean and sd, the training time, and the
ratio of each network's mean balanced accuracy to each regression's.

Run (after ``eegemo preprocess ../shared/data/eegmat OUT --config pipelines/eegmat.toml``)::

    python benchmarks/eegmat_accuracy.py OUT [--folds 6] [--config FILE] [--set key=value]
        [--models topo_resnet,topo_cnn] [--normalizations subject,global]

The figures in the report came from (about 20 minutes on two busy CPU cores)::

    python benchmarks/eegmat_accuracy.py OUT --models topo_cnn,topo_resnet \
        --normalizations subject,global --set threads=1
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from baselines import logistic_regression, manifest_features, standardize_per_subject


def load_bandpower(manifest) -> np.ndarray:
    """Log band power ``(n_epochs, n_channels * n_bands)`` of every manifest row."""
    import csv

    with open(manifest.root / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "bandpower_path" not in rows[0]:
        raise SystemExit(f"{manifest.root}/manifest.csv has no bandpower_path column")
    return manifest_features(manifest.root, rows, "bandpower_path")


def main() -> None:
    """Parse arguments, run every method on every fold, print the JSON summary."""
    from eegemo.manifest import read_manifest
    from eegemo.train.data import cross_validation_splits, natural_sort
    from eegemo.train.experiment import train_on_split
    from eegemo.train.metrics import classification_metrics, summarize
    from eegemo.train.modality import section
    from eegemo.train.settings import load_train_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="preprocessed eegmat folder (manifest.csv)")
    parser.add_argument("--folds", default="6", help="number of subject folds or 'loso'")
    parser.add_argument("--config", type=Path, help="training config for the networks")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="config override for the networks (repeatable)")
    parser.add_argument("--models", default="", help="comma-separated networks "
                        "(default: the config's model; 'none' for regressions only)")
    parser.add_argument("--normalizations", default="",
                        help="comma-separated topomap normalisations for the networks "
                             "(default: the config's)")
    parser.add_argument("--out", type=Path, help="keep the network runs here")
    args = parser.parse_args()

    base = load_train_config(args.config, args.overrides)
    models = [m for m in (args.models or base.model).split(",") if m and m != "none"]
    norms = [n for n in (args.normalizations or section(base, "eeg").normalization).split(",")
             if n]
    manifest = read_manifest(args.data)
    classes = natural_sort(manifest.labels)
    y = np.array([classes.index(label) for label in manifest.labels])
    features = load_bandpower(manifest)
    features_subject = standardize_per_subject(features, manifest.subjects)
    splits = cross_validation_splits(manifest.subjects, args.folds if args.folds == "loso"
                                     else int(args.folds), base.data.val_fraction, base.seed)

    scores: dict[str, list[dict]] = {}
    seconds: dict[str, float] = {}
    out_root = args.out or Path(tempfile.mkdtemp(prefix="eegmat-bench-"))
    for k, split in enumerate(splits, start=1):
        test = np.isin(manifest.subjects, split.test)
        for name, x in (("lr_plain", features), ("lr_subject", features_subject)):
            start = time.perf_counter()
            pred = logistic_regression(x[~test], y[~test], x[test])
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
            scores.setdefault(name, []).append(classification_metrics(y[test], pred, classes))
        for model in models:
            for norm in norms:
                name = f"net:{model}:{norm}"
                config = load_train_config(args.config, [*args.overrides, f"model={model}",
                                                         f"eeg.normalization={norm}"])
                start = time.perf_counter()
                run_dir = out_root / name.replace(":", "_") / f"fold-{k:02d}"
                result, _ = train_on_split(args.data, run_dir, config, split, progress=False)
                metrics = result.report["test"]
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
                scores.setdefault(name, []).append(metrics)
        done = {n: round(s[-1]["balanced_accuracy"], 4) for n, s in scores.items()}
        print(f"fold {k}/{len(splits)} balanced accuracy: {done}", file=sys.stderr, flush=True)

    methods = {}
    for name, fold_metrics in scores.items():
        methods[name] = {m: summarize([f[m] for f in fold_metrics])
                         for m in ("balanced_accuracy", "macro_f1", "accuracy")}
        methods[name]["train_seconds"] = round(seconds[name], 1)
    ratios = {
        f"{net} / {lr}": methods[net]["balanced_accuracy"]["mean"]
        / methods[lr]["balanced_accuracy"]["mean"]
        for net in methods if net.startswith("net:")
        for lr in ("lr_plain", "lr_subject")
    }
    print(json.dumps({
        "data": str(args.data),
        "n_subjects": len(set(manifest.subjects)),
        "n_epochs": len(manifest),
        "classes": classes,
        "class_counts": np.bincount(y).tolist(),
        "folds": [list(split.test) for split in splits],
        "config_overrides": args.overrides,
        "methods": methods,
        "ratio_balanced_accuracy": ratios,
        "python": platform.python_version(),
    }, indent=2))


if __name__ == "__main__":
    main()
