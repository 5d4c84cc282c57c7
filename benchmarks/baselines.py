"""The simple baselines the benchmark scripts compare eegemo's networks with.

Imported by the scripts beside it (``python benchmarks/<script>.py`` puts this folder
on the import path).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def standardize_per_subject(x: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """Z-score each subject's features with that subject's own mean and spread.

    No labels are used, so the same is done for test subjects. NaN entries (e.g. heart
    features of an epoch whose heart signal was unusable) are left out of the
    statistics and become 0, the subject's mean.
    """
    out = np.empty_like(x, dtype=np.float64)
    for s in np.unique(subjects):
        rows = subjects == s
        mean = np.nanmean(x[rows], axis=0)
        std = np.nanstd(x[rows], axis=0)
        out[rows] = (x[rows] - mean) / (np.nan_to_num(std) + 1e-8)
    return np.nan_to_num(out, nan=0.0)


def logistic_regression(x_train, y_train, x_test):
    """Predictions of scaler + balanced logistic regression fitted on the training rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(),
                          LogisticRegression(max_iter=5000, class_weight="balanced"))
    return model.fit(x_train, y_train).predict(x_test)


def manifest_features(root: Path, rows: list[dict], column: str) -> np.ndarray:
    """One feature row per manifest row from the arrays named in ``column`` (NaN if none)."""
    cache: dict[str, np.ndarray] = {}
    out = []
    width = None
    for row in rows:
        rel = row[column]
        if not rel:
            out.append(None)
            continue
        if rel not in cache:
            cache[rel] = np.load(root / rel, allow_pickle=False)
        out.append(cache[rel][int(row["index"])].ravel())
        width = out[-1].size
    return np.asarray([np.full(width, np.nan) if r is None else r for r in out], np.float64)
