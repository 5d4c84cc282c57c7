"""Heart features as training data: the epochs of ``OUT/manifest.csv`` that have them.

``eegemo preprocess`` writes the heart features of each recording with a heart
channel to ``<subject>/<id>_physio.npy``: float32 ``(n_epochs, n_features)``, NaN in
every column of an epoch whose heart signal was unusable. The ``physio_path`` column
of ``manifest.csv`` names that file (empty for a recording without a heart
channel) and ``index`` is the epoch's row in it, as in the topomaps.

Preparation uses no labels, so new subjects are prepared exactly alike:

* each feature is standardised with the subject's own mean and standard deviation
  over the subject's usable epochs (subject-wise normalisation, as for EEG);
* a missing value is then set to 0 (the subject's mean), and one more input, the
  fraction of the epoch's features that were missing (1 for an epoch whose heart
  signal was unusable), tells the model so. The arrays on disk keep their NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import EegemoError, first_line
from ..manifest import MANIFEST_NAME, Manifest, has_manifest, read_manifest
from ..train.data import DataBundle, natural_sort, subject_bundle
from ..train.modality import SubjectSplit

#: Smallest standard deviation, relative to the feature's mean, that a subject's feature
#: is divided by (a feature constant within a subject becomes 0, not infinity).
_STD_FLOOR = 1e-3


def with_physio(manifest: Manifest) -> Manifest:
    """The rows of a manifest that have heart features (a non-empty ``physio_path``)."""
    return manifest.select(manifest.physio_paths != "")


def has_physio(path: str | Path) -> bool:
    """True if ``path/manifest.csv`` is readable and names heart features."""
    if not has_manifest(path):
        return False
    try:
        return len(with_physio(read_manifest(path))) > 0
    except EegemoError:
        return False


def read_physio_table(root: str | Path) -> Manifest:
    """The epochs of ``root/manifest.csv`` that have heart features.

    Raises
    ------
    EegemoError
        As :func:`eegemo.manifest.read_manifest` does, or when no epoch has heart
        features.
    """
    table = with_physio(read_manifest(root))
    if len(table) == 0:
        raise EegemoError(
            f"{Path(root) / MANIFEST_NAME}: no epoch has heart features (physio_path is empty)"
        )
    return table


def _read_features(path: Path) -> np.ndarray:
    """A ``(n_epochs, n_features)`` array, or say in one line why not."""
    try:
        with open(path, "rb") as fh:
            if fh.read(6) != b"\x93NUMPY":
                raise EegemoError(f"{path}: cannot read heart features: not a NumPy .npy file")
        arr = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise EegemoError(f"{path}: cannot read heart features: {exc.strerror or exc}") from None
    except ValueError as exc:  # a damaged header, or Python objects that are never loaded
        raise EegemoError(f"{path}: cannot read heart features: {first_line(exc)}") from None
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
        raise EegemoError(f"{path}: expected float (n_epochs, n_features) heart features, got "
                          f"{arr.dtype} of shape {arr.shape}")
    return arr


def read_features(table: Manifest) -> np.ndarray:
    """The features of every epoch of ``table``, float64 ``(n, n_features)``, NaN kept.

    Raises
    ------
    EegemoError
        When an ``index`` is beyond its file's epochs (naming the line) or the files
        differ in their number of features.
    """
    out: np.ndarray | None = None
    first = ""
    for rel in natural_sort(table.physio_paths):
        arr = _read_features(table.root / rel)
        if out is None:
            out, first = np.full((len(table), arr.shape[1]), np.nan), rel
        elif arr.shape[1] != out.shape[1]:
            raise EegemoError(f"{table.root / rel}: {arr.shape[1]} heart features per epoch, "
                              f"but {first} has {out.shape[1]}; preprocess every recording alike")
        rows = np.flatnonzero(table.physio_paths == rel)
        beyond = rows[table.indices[rows] >= arr.shape[0]]
        if beyond.size:
            i = beyond[0]
            raise EegemoError(f"{table.root / MANIFEST_NAME}, line {table.lines[i]}: index "
                              f"{table.indices[i]} is beyond the {arr.shape[0]} epochs of {rel}")
        out[rows] = arr[table.indices[rows]]
    return out


def prepare_features(features: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """Standardise within each subject, fill the gaps, add the fraction missing.

    Parameters
    ----------
    features : ndarray, shape (n, n_features)
        Raw features with NaN where missing.
    subjects : ndarray of str, shape (n,)
        Subject of every row; each subject is standardised with the mean and standard
        deviation of its own finite values (no labels are used).

    Returns
    -------
    prepared : ndarray, shape (n, n_features + 1), float32
        Standardised features, 0 where missing, and in the last column the fraction
        of the row's features that were missing.
    """
    x = np.asarray(features, dtype=np.float64)
    usable = np.isfinite(x)
    out = np.zeros_like(x)
    for subject in np.unique(subjects):
        rows = subjects == subject
        block, ok = x[rows], usable[rows]
        count = ok.sum(axis=0)
        mean = np.where(ok, block, 0.0).sum(axis=0) / np.maximum(count, 1)
        spread = np.where(ok, block - mean, 0.0) ** 2
        std = np.sqrt(spread.sum(axis=0) / np.maximum(count, 1))
        std = np.where(count > 0, np.maximum(std, _STD_FLOOR * np.abs(mean) + 1e-12), 1.0)
        out[rows] = np.where(ok, (block - mean) / std, 0.0)
    fraction = 1.0 - usable.mean(axis=1, keepdims=True)
    return np.concatenate([out, fraction], axis=1).astype(np.float32)


class PhysioDataset:
    """Heart features of the epochs of a :class:`Manifest`, prepared for a model.

    Parameters
    ----------
    table : Manifest
        The epochs served (often a subject subset of :func:`read_physio_table`).
    classes : sequence of str
        Label names in class-index order; a label outside them is an error.

    Notes
    -----
    Items are ``(x, y)``: ``x`` a float32 tensor ``(n_features + 1,)`` prepared as
    :func:`prepare_features` says, ``y`` the class index.
    """

    def __init__(self, table: Manifest, classes: Sequence[str]):
        import torch

        self.table = table
        self.classes = [str(c) for c in classes]
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = natural_sort(set(table.labels) - set(index))
        if unknown:
            raise EegemoError(
                f"{table.root / MANIFEST_NAME}: label(s) {', '.join(map(repr, unknown))} "
                f"are not classes of the model ({', '.join(self.classes)})"
            )
        self.targets = np.array([index[lab] for lab in table.labels], dtype=np.int64)
        raw = read_features(table)
        self.n_features = raw.shape[1]
        #: Epochs whose heart signal was unusable (every feature missing).
        self.n_unusable = int((~np.isfinite(raw)).all(axis=1).sum())
        self.x = torch.from_numpy(prepare_features(raw, table.subjects))
        self.shape = (self.n_features + 1,)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return self.x[i], int(self.targets[i])

    @property
    def subjects(self) -> np.ndarray:
        """Subject of every item."""
        return self.table.subjects

    @property
    def item_keys(self) -> list[tuple[str, int]]:
        """``(recording, index)`` of every item: the epoch, as other inputs name it."""
        return list(zip(self.table.recordings.tolist(), self.table.indices.tolist(),
                        strict=True))

    def data_meta(self) -> dict:
        """What a checkpoint needs to prepare new data the same way."""
        return {"modality": "physio", "normalization": "subject",
                "n_features": int(self.n_features), "missing": "fraction"}


def physio_bundle(
    table: Manifest, split: SubjectSplit, classes: Sequence[str] | None = None
) -> DataBundle:
    """Training, validation and test heart-feature datasets from disjoint subject lists.

    Parameters
    ----------
    table : Manifest
        Every epoch with heart features.
    split : SubjectSplit
        Subjects of each set (validation and test may be empty).
    classes : sequence of str, optional
        Class names in index order (default: the training labels, naturally sorted).

    Returns
    -------
    DataBundle
        Its ``description`` gives each set's subjects, epochs and epochs without a
        usable heart signal.
    """
    train_table = table.of_subjects(split.train)
    if len(train_table) == 0:
        raise EegemoError(f"{table.root}: no training epochs with heart features")
    classes = list(classes) if classes is not None else natural_sort(train_table.labels)

    def make(subjects: list[str]) -> PhysioDataset | None:
        part = table.of_subjects(subjects)
        return PhysioDataset(part, classes) if len(part) else None

    return subject_bundle(
        split, classes, make,
        describe=lambda ds: {"epochs_without_heart_signal": ds.n_unusable},
    )
