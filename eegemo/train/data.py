"""Training data in the core: the bundle a modality hands the trainer, and subject-wise splits.

Which data a path holds, and how they become datasets, is the business of the
modality that recognises them (:mod:`eegemo.train.modality`); this module only
dispatches to it. Splits are always by subject: no subject contributes items to two
of the training, validation and test sets.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EegemoError
from .modality import SubjectSplit, input_modalities, modality_of


def natural_sort(names: Sequence[str]) -> list[str]:
    """Sort so that ``"2"`` comes before ``"10"`` and ``"S2"`` before ``"S10"``."""
    def key(name: str) -> list:
        return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name)]

    return sorted({str(n) for n in names}, key=key)


# ---------------------------------------------------------------- subject-wise splits


def subject_split(
    subjects: Sequence[str], val_fraction: float, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Hold out whole subjects for validation.

    Parameters
    ----------
    subjects : sequence of str
        Subject of every epoch (or the unique subjects).
    val_fraction : float
        Fraction of subjects held out, rounded, at least one when above 0.
    seed : int
        The same seed gives the same split.

    Returns
    -------
    train_subjects, val_subjects : list of str
        Disjoint, naturally sorted.
    """
    unique = natural_sort(subjects)
    if val_fraction <= 0:
        return unique, []
    if len(unique) < 2:
        raise EegemoError(
            f"subject-wise validation needs at least 2 subjects, got {len(unique)}; "
            "set data.val_fraction=0 to train without validation"
        )
    n_val = min(len(unique) - 1, max(1, round(val_fraction * len(unique))))
    order = np.random.default_rng(seed).permutation(len(unique))
    val = {unique[i] for i in order[:n_val]}
    return [s for s in unique if s not in val], [s for s in unique if s in val]


def subject_folds(subjects: Sequence[str], cv: str | int, seed: int = 0) -> list[list[str]]:
    """Test subjects of each cross-validation fold (GroupKFold-like, deterministic).

    Parameters
    ----------
    subjects : sequence of str
        Subject of every epoch (or the unique subjects).
    cv : "loso" or int
        ``"loso"``: one fold per subject; ``K``: subjects shuffled with ``seed`` and
        dealt round-robin into K folds whose sizes differ by at most one.
    seed : int
        Shuffling seed for K folds.

    Returns
    -------
    folds : list of list of str
        Disjoint test-subject lists covering every subject once.
    """
    unique = natural_sort(subjects)
    if cv == "loso":
        return [[s] for s in unique]
    k = int(cv)
    if k < 2 or k > len(unique):
        raise EegemoError(f"--cv {k}: need 2 <= K <= number of subjects ({len(unique)})")
    order = np.random.default_rng(seed).permutation(len(unique))
    folds: list[list[str]] = [[] for _ in range(k)]
    for rank, i in enumerate(order):
        folds[rank % k].append(unique[i])
    return [natural_sort(f) for f in folds]


def cross_validation_splits(
    subjects: Sequence[str], cv: str | int, val_fraction: float, seed: int = 0
) -> list[SubjectSplit]:
    """The subject sets of every cross-validation fold.

    Each fold's test subjects come from :func:`subject_folds`; the remaining
    subjects are split by :func:`subject_split` into training and validation
    (model selection) subjects.

    Parameters
    ----------
    subjects : sequence of str
        Subject of every item (or the unique subjects).
    cv : "loso" or int
        As for :func:`subject_folds`.
    val_fraction : float
        Fraction of each fold's training subjects held out for validation.
    seed : int
        The same seed gives the same folds.

    Returns
    -------
    splits : list of SubjectSplit
    """
    unique = natural_sort(subjects)
    splits = []
    for test in subject_folds(unique, cv, seed):
        held_out = set(test)
        train, val = subject_split([s for s in unique if s not in held_out], val_fraction, seed)
        splits.append(SubjectSplit(tuple(train), tuple(val), tuple(test)))
    return splits


@dataclasses.dataclass
class DataBundle:
    """Datasets for one training run.

    Attributes
    ----------
    train, val : Dataset
        ``val`` is None when training without validation.
    classes : list of str
    meta : dict
        Stored in checkpoints under ``data`` (modality, normalisation...).
    test : Dataset | None
        Held-out subjects of a cross-validation fold, reported after training.
    description : dict
        Subjects of each split and sizes, for the run folder and the terminal.
    """

    train: Any
    val: Any
    classes: list[str]
    meta: dict
    test: Any = None
    description: dict = dataclasses.field(default_factory=dict)


def validation_split(subjects: Sequence[str], config) -> SubjectSplit:
    """The run's own split: ``config.data.val_fraction`` of the subjects held out for validation.

    Parameters
    ----------
    subjects : sequence of str
        Subject of every item (or the unique subjects).
    config : TrainConfig
        Supplies ``data.val_fraction`` and ``seed``.

    Returns
    -------
    split : SubjectSplit
        Training and validation subjects, no test subjects.
    """
    train, val = subject_split(subjects, config.data.val_fraction, config.seed)
    return SubjectSplit(tuple(train), tuple(val))


def subject_bundle(
    split: SubjectSplit,
    classes: Sequence[str],
    make: Callable[[list[str]], Any],
    describe: Callable[[Any], dict] | None = None,
) -> DataBundle:
    """The datasets of every set of a subject split, with their description.

    Parameters
    ----------
    split : SubjectSplit
        Subjects of each set; an empty set has no dataset.
    classes : sequence of str
        Class names in index order.
    make : callable
        ``make(subjects) -> dataset or None``: the items of those subjects; the
        training dataset supplies the bundle's ``meta`` (``data_meta()``).
    describe : callable, optional
        ``describe(dataset) -> dict``: more facts about each set for its description
        (besides its subjects and number of epochs).

    Returns
    -------
    DataBundle
    """
    sets = {name: make(list(subjects)) if subjects else None
            for name, subjects in (("train", split.train), ("val", split.val),
                                   ("test", split.test))}
    bundle = DataBundle(train=sets["train"], val=sets["val"], test=sets["test"],
                        classes=list(classes), meta=sets["train"].data_meta())
    bundle.description = {
        name: {"subjects": list(getattr(split, name)), "epochs": len(ds),
               **(describe(ds) if describe is not None else {})}
        for name, ds in sets.items() if ds is not None
    }
    return bundle


def load_datasets(path: str | Path, config, split: SubjectSplit | None = None) -> DataBundle:
    """Training and validation data of ``eegemo train --data PATH``.

    Parameters
    ----------
    path : path-like
        Data of a registered modality (a preprocessed EEG folder, FER2013, ...).
    config : TrainConfig
        The run's configuration (each modality reads its own section;
        ``data.inputs`` names the modalities learnt from, zipped by
        :mod:`eegemo.train.fusion` when there are several).
    split : SubjectSplit, optional
        Subjects of each set (cross-validation); by default the modality splits.

    Returns
    -------
    DataBundle
    """
    path = Path(path)
    modalities = input_modalities(path, config.data.inputs)
    if len(modalities) > 1:
        from .fusion import load_train

        bundle = load_train(path, config, split, modalities)
    else:
        bundle = modalities[0].load_train(path, config, split)
    if bundle.train is None or len(bundle.train) == 0:
        raise EegemoError(f"{path}: no training items")
    return bundle


def load_eval_dataset(path: str | Path, meta: dict, split: str | None = None):
    """The data of ``eegemo evaluate CHECKPOINT DATA``, prepared as the model expects.

    Parameters
    ----------
    path : path-like
        Data never seen in training, of the modality the model was trained on.
    meta : dict
        The checkpoint metadata from :func:`eegemo.train.checkpoint.load_model`
        (``classes``, ``data``, ``config``).
    split : str, optional
        A named part of the data (face data: the CSV usage or split folder).

    Returns
    -------
    dataset
        Items ``(x, y)`` with ``y`` indexing ``meta["classes"]`` (labels mapped by
        name; a label the model does not know is an error).
    """
    return modality_of(meta).load_eval(Path(path), meta, split)
