"""EEG, heart and both: logistic regression against eegemo's networks on the same subject folds.

Cross-validation by subject (default 6 folds, the folds of ``eegemo train --cv 6``) on a
folder preprocessed with heart features (``physio_path`` in ``manifest.csv``). In
every fold each method is fitted on the training subjects only and scored on the
test subjects:

* ``lr:eeg``, ``lr:physio``, ``lr:eeg+physio``: scikit-learn ``StandardScaler`` +
  ``LogisticRegression(class_weight="balanced")`` on the log10 band power
  (channels x bands), on the heart features, and on both concatenated. Every
  feature is first standardised within each subject with that subject's own mean
  and spread (no labels; the same for test subjects); a heart feature of an
  unusable epoch (NaN) is then 0, with one more column flagging those epochs;
* ``net:eeg``, ``net:physio``, ``net:eeg+physio``: ``eegemo train --inputs ...`` with the
  training config (default: the built-in defaults), its own validation subjects held
  out of the training subjects for model selection.

Prints one JSON object: per method the balanced accuracy, macro-F1 and accuracy of
every fold with mean and sd, and the fit time.

Run (after ``eegemo preprocess path/to/eegmat OUT --config eegmat``)::

    python benchmarks/multimodal.py OUT [--folds 6] [--config FILE] [--set key=value]
        [--inputs eeg,physio,eeg+physio] [--no-networks]
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
from baselines import (
    logistic_regression,
    manifest_features,
    read_manifest_rows,
    standardize_per_subject,
    summarize_method,
)


def main() -> None:
    """Parse arguments, run every method on every fold, print the JSON summary."""
    from eegemo.train.data import cross_validation_splits, natural_sort
    from eegemo.train.experiment import train_on_split
    from eegemo.train.fusion import resolve_config
    from eegemo.train.metrics import classification_metrics
    from eegemo.train.settings import load_train_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="preprocessed folder with heart features")
    parser.add_argument("--folds", default="6", help="number of subject folds or 'loso'")
    parser.add_argument("--config", type=Path, help="training config for the networks")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="config override for the networks (repeatable)")
    parser.add_argument("--inputs", default="eeg,physio,eeg+physio",
                        help="comma-separated input sets for the networks")
    parser.add_argument("--no-networks", action="store_true", help="regressions only")
    parser.add_argument("--out", type=Path, help="keep the network runs here")
    args = parser.parse_args()

    rows = read_manifest_rows(args.data, ("bandpower_path", "physio_path"),
                              "preprocess with heart features")
    both = np.array([bool(r["path"]) and bool(r["physio_path"]) for r in rows])
    rows = [r for r, keep in zip(rows, both, strict=True) if keep]
    subjects = np.array([r["subject"] for r in rows])
    classes = natural_sort({r["label"] for r in rows})
    y = np.array([classes.index(r["label"]) for r in rows])
    eeg = standardize_per_subject(manifest_features(args.data, rows, "bandpower_path"), subjects)
    raw_physio = manifest_features(args.data, rows, "physio_path")
    unusable = np.isnan(raw_physio).any(axis=1, keepdims=True).astype(np.float64)
    physio = np.hstack([standardize_per_subject(raw_physio, subjects), unusable])
    features = {"eeg": eeg, "physio": physio, "eeg+physio": np.hstack([eeg, physio])}

    base = load_train_config(args.config, args.overrides)
    cv = args.folds if args.folds == "loso" else int(args.folds)
    splits = cross_validation_splits(subjects, cv, base.data.val_fraction, base.seed)
    scores: dict[str, list[dict]] = {}
    seconds: dict[str, float] = {}
    out_root = args.out or Path(tempfile.mkdtemp(prefix="multimodal-bench-"))
    inputs = [] if args.no_networks else [i for i in args.inputs.split(",") if i]
    for k, split in enumerate(splits, start=1):
        test = np.isin(subjects, split.test)
        for name, x in features.items():
            start = time.perf_counter()
            pred = logistic_regression(x[~test], y[~test], x[test])
            seconds[f"lr:{name}"] = seconds.get(f"lr:{name}", 0.0) + time.perf_counter() - start
            scores.setdefault(f"lr:{name}", []).append(
                classification_metrics(y[test], pred, classes))
        for name in inputs:
            config = resolve_config(args.data, load_train_config(
                args.config, [*args.overrides, f"data.inputs={json.dumps(name.split('+'))}"]))
            # the same test subjects; the validation subjects as the input's recipe says
            fold = cross_validation_splits(subjects, cv, config.data.val_fraction,
                                           config.seed)[k - 1]
            start = time.perf_counter()
            run_dir = out_root / name.replace("+", "_") / f"fold-{k:02d}"
            result, _ = train_on_split(args.data, run_dir, config, fold, progress=False)
            seconds[f"net:{name}"] = seconds.get(f"net:{name}", 0.0) + time.perf_counter() - start
            scores.setdefault(f"net:{name}", []).append(result.report["test"])
        done = {n: round(s[-1]["balanced_accuracy"], 4) for n, s in scores.items()}
        print(f"fold {k}/{len(splits)} balanced accuracy: {done}", file=sys.stderr, flush=True)

    methods = {name: summarize_method(fold_metrics, seconds[name])
               for name, fold_metrics in scores.items()}
    print(json.dumps({
        "data": str(args.data),
        "n_subjects": len(set(subjects)),
        "n_epochs": len(rows),
        "epochs_without_usable_heart": int(unusable.sum()),
        "classes": classes,
        "folds": [list(split.test) for split in splits],
        "config_overrides": args.overrides,
        "methods": methods,
        "python": platform.python_version(),
    }, indent=2))


if __name__ == "__main__":
    main()
