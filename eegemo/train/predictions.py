"""What a model said about each item: probabilities, per-subject scores and a CSV table.

Shared by ``eegemo evaluate`` (``per_subject`` and ``--predictions``) and
``eegemo predict`` on EEG recordings (:mod:`eegemo.eeg.predict`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_csv
from ..errors import EegemoError


@dataclasses.dataclass
class ItemNames:
    """Subject, recording and index (row in its recording) of every item of a dataset."""

    subjects: np.ndarray
    recordings: np.ndarray
    indices: np.ndarray


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities of each row of ``logits`` (also right for log-probabilities).

    Parameters
    ----------
    logits : ndarray, shape (n, n_classes)

    Returns
    -------
    probabilities : ndarray of float64, shape (n, n_classes)
        Each row sums to 1.
    """
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def item_names(dataset: Any) -> ItemNames | None:
    """How the items of ``dataset`` are named, or None where they are not.

    EEG topomaps and heart features name each item (an epoch) by subject, recording
    and index; a fused dataset by its first input's names. Face data do not.

    Parameters
    ----------
    dataset
        A dataset as :func:`eegemo.train.data.load_eval_dataset` returns it.

    Returns
    -------
    names : ItemNames or None
    """
    from .fusion import FusedDataset

    rows = None
    if isinstance(dataset, FusedDataset):
        dataset, rows = dataset.parts[0], dataset.rows[0]
    subjects = getattr(dataset, "subjects", None)
    keys = getattr(dataset, "item_keys", None)
    if subjects is None or keys is None:
        return None
    names = ItemNames(
        subjects=np.asarray(subjects, dtype=str),
        recordings=np.array([k[0] for k in keys], dtype=str),
        indices=np.array([k[1] for k in keys], dtype=np.int64),
    )
    if rows is None:
        return names
    return ItemNames(names.subjects[rows], names.recordings[rows], names.indices[rows])


def per_subject_metrics(
    targets: np.ndarray, predicted: np.ndarray, subjects: np.ndarray, classes: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Balanced accuracy, macro-F1, accuracy and ``n`` of each subject's items.

    Each subject is scored as :func:`~eegemo.train.metrics.metrics_from_confusion`
    scores a whole set (scikit-learn's definitions: macro-F1 over the classes present
    in the subject's true or predicted labels).

    Parameters
    ----------
    targets, predicted : ndarray of int
        True and predicted class index of every item.
    subjects : ndarray of str
        Subject of every item.
    classes : sequence of str
        Class names in index order.

    Returns
    -------
    scores : dict
        Subject (in natural order) -> ``balanced_accuracy``, ``macro_f1``,
        ``accuracy``, ``n``.
    """
    from .data import natural_sort
    from .metrics import classification_metrics

    out = {}
    for subject in natural_sort(set(subjects.tolist())):
        mine = subjects == subject
        m = classification_metrics(targets[mine], predicted[mine], classes)
        out[subject] = {k: m[k] for k in ("balanced_accuracy", "macro_f1", "accuracy", "n")}
    return out


def check_output(output: str | os.PathLike, data: str | os.PathLike, option: str) -> None:
    """Refuse an output file that would replace an input: ``data`` itself or a file in it.

    Parameters
    ----------
    output : path-like
        The file to be written.
    data : path-like
        The input (a file or a folder).
    option : str
        The command-line option naming ``output``, for the message.

    Raises
    ------
    EegemoError
        When ``output`` is ``data``, or an existing file inside the folder ``data``.
    """
    out, source = Path(output).resolve(), Path(data).resolve()
    if out == source or (out.is_relative_to(source) and out.exists()):
        raise EegemoError(f"{output}: {option} would overwrite the input {data}; write the "
                          "table elsewhere")


def probability_cells(probabilities: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """``p_<class>`` -> probability, rounded to 6 decimals (the columns of every table)."""
    return {f"p_{c}": round(float(p), 6) for c, p in zip(classes, probabilities, strict=True)}


def write_evaluation_table(
    path: str | os.PathLike,
    logits: np.ndarray,
    targets: np.ndarray,
    classes: Sequence[str],
    names: ItemNames | None,
) -> None:
    """Write the per-item predictions of ``eegemo evaluate --predictions``.

    Columns: ``subject``, ``recording``, ``index`` (the epoch's row in its recording;
    for data that do not name their items, such as faces, subject and recording are
    empty and ``index`` is the item's position in the data), ``label`` (true),
    ``predicted`` and ``p_<class>`` for every class.

    Parameters
    ----------
    path : path-like
        The CSV file.
    logits : ndarray, shape (n, n_classes)
        The model's outputs.
    targets : ndarray of int
        True class index of every item.
    classes : sequence of str
        Class names in index order.
    names : ItemNames or None
        From :func:`item_names`.
    """
    probs = softmax(logits)
    rows = []
    for i, (target, p) in enumerate(zip(targets, probs, strict=True)):
        row: dict[str, Any] = {"index": i}
        if names is not None:
            row = {"subject": names.subjects[i], "recording": names.recordings[i],
                   "index": int(names.indices[i])}
        row.update({"label": classes[int(target)], "predicted": classes[int(p.argmax())]})
        row.update(probability_cells(p, classes))
        rows.append(row)
    columns = ["subject", "recording", "index", "label", "predicted",
               *(f"p_{c}" for c in classes)]
    write_csv(path, columns, rows)
