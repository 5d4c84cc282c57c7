"""Classification metrics from a confusion matrix: accuracy, balanced accuracy, macro-F1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Count matrix with true classes as rows and predicted classes as columns.

    Parameters
    ----------
    y_true, y_pred : sequence of int
        Class indices in ``[0, n_classes)``.
    n_classes : int
        Number of classes.

    Returns
    -------
    cm : ndarray of int64, shape (n_classes, n_classes)
    """
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} items but y_pred has {p.size}")
    for name, arr in (("y_true", t), ("y_pred", p)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(f"{name} holds a class index outside [0, {n_classes})")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def metrics_from_confusion(cm: np.ndarray, classes: Sequence[str]) -> dict:
    """Accuracy, balanced accuracy, macro-F1 and per-class precision/recall/F1.

    As in scikit-learn, balanced accuracy averages the recall of the classes present
    in the true labels (a class with no examples has no recall), and macro-F1 averages
    the F1 of the classes present in the true labels or in the predictions: a class
    the model predicts but that never occurs counts with F1 = 0, so inventing classes
    is not rewarded. Classes absent from both do not count.

    Parameters
    ----------
    cm : ndarray, shape (n_classes, n_classes)
        Confusion matrix (rows true, columns predicted).
    classes : sequence of str
        Class names, in index order.

    Returns
    -------
    metrics : dict
        ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``n``, ``classes``,
        ``confusion_matrix`` (nested lists) and ``per_class`` (name ->
        precision, recall, f1, support).
    """
    cm = np.asarray(cm, dtype=np.int64)
    if cm.shape != (len(classes), len(classes)):
        raise ValueError(f"confusion matrix shape {cm.shape} does not match {len(classes)} classes")
    n = int(cm.sum())
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / support, 0.0)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    present = support > 0
    seen = present | (predicted > 0)
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[seen].mean()) if seen.any() else 0.0,
        "classes": list(classes),
        "confusion_matrix": cm.tolist(),
        "per_class": {
            c: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
    }


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]
) -> dict:
    """Shortcut: :func:`metrics_from_confusion` of :func:`confusion_matrix`."""
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, len(classes)), classes)


def summarize(values: Sequence[float]) -> dict:
    """Mean and sample standard deviation of fold scores (``sd`` is 0 for one value)."""
    arr = np.asarray(values, dtype=float)
    return {
        "mean": float(arr.mean()) if arr.size else float("nan"),
        "sd": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        "values": [float(v) for v in arr],
    }
