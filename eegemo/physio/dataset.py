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

import csv
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import EegemoError, first_line
from ..train.data import DataBundle, natural_sort
from ..train.modality import SubjectSplit

MANIFEST_NAME = "manifest.csv"
#: The columns heart features are read from.
COLUMNS = ("subject", "recording", "label", "index", "physio_path")
#: Smallest standard deviation, relative to the feature's mean, that a subject's feature
#: is divided by (a feature constant within a subject becomes 0, not infinity).
_STD_FLOOR = 1e-3


@dataclasses.dataclass(frozen=True)
class PhysioTable:
    """The epochs of ``manifest.csv`` with heart features, as parallel arrays.

    Attributes
    ----------
    root : Path
        The folder holding ``manifest.csv``; ``paths`` are relative to it.
    subjects, recordings, labels, paths : ndarray of str
        ``paths``: the ``physio_path`` of each epoch.
    indices : ndarray of int64
        Row of each epoch in its file.
    lines : ndarray of int64
        Line of ``manifest.csv`` each row was read from (the header is line 1).
    """

    root: Path
    subjects: np.ndarray
    recordings: np.ndarray
    labels: np.ndarray
    paths: np.ndarray
    indices: np.ndarray
    lines: np.ndarray

    def __len__(self) -> int:
        return len(self.subjects)

    def of_subjects(self, subjects: Sequence[str]) -> PhysioTable:
        """The rows of the given subjects."""
        keep = np.isin(self.subjects, np.asarray(list(subjects), dtype=str))
        return dataclasses.replace(
            self, **{f.name: getattr(self, f.name)[keep]
                     for f in dataclasses.fields(self) if f.name != "root"}
        )


def has_physio(path: str | Path) -> bool:
    """True if ``path/manifest.csv`` names heart features (a non-empty ``physio_path``)."""
    manifest = Path(path) / MANIFEST_NAME
    if not manifest.is_file():
        return False
    try:
        with open(manifest, newline="", encoding="utf-8") as fh:
            return any(row.get("physio_path") for row in csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return False


def read_physio_table(root: str | Path) -> PhysioTable:
    """Read the rows of ``root/manifest.csv`` that have heart features.

    Parameters
    ----------
    root : path-like
        The output folder of ``eegemo preprocess``.

    Returns
    -------
    table : PhysioTable

    Raises
    ------
    EegemoError
        When the file is missing or lacks a column, no row has heart features, or a
        row's ``index`` is not a whole number >= 0 or its ``physio_path`` is absolute or
        leads outside ``root`` (the message names the line).
    """
    root = Path(root)
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise EegemoError(f"{root}: no {MANIFEST_NAME} (run `eegemo preprocess` to create it)")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise EegemoError(f"{path}: missing column(s) {', '.join(missing)}, so no heart "
                              "features")
        rows, lines = [], []
        for row in reader:
            if row["physio_path"]:
                rows.append(row)
                lines.append(reader.line_num)
    if not rows:
        raise EegemoError(f"{path}: no epoch has heart features (physio_path is empty)")
    inside = root.resolve()
    checked: set[str] = set()
    for row, line in zip(rows, lines, strict=True):
        if row["physio_path"] not in checked:
            _check_path(row["physio_path"], inside, path, line)
            checked.add(row["physio_path"])
    return PhysioTable(
        root=root,
        subjects=np.array([r["subject"] for r in rows], dtype=str),
        recordings=np.array([r["recording"] for r in rows], dtype=str),
        labels=np.array([r["label"] for r in rows], dtype=str),
        paths=np.array([r["physio_path"] for r in rows], dtype=str),
        indices=np.array([_index(r["index"], path, n) for r, n in zip(rows, lines, strict=True)],
                         dtype=np.int64),
        lines=np.array(lines, dtype=np.int64),
    )


def _index(text: str | None, manifest: Path, line: int) -> int:
    try:
        index = int(text or "")
    except ValueError:
        index = -1
    if index < 0:
        raise EegemoError(
            f"{manifest}, line {line}: index must be a whole number >= 0, got {text!r}"
        )
    return index


def _check_path(rel: str, inside: Path, manifest: Path, line: int) -> None:
    """Refuse a ``physio_path`` that does not name a file inside the data folder ``inside``."""
    where = f"{manifest}, line {line}: physio_path {rel!r}"
    if Path(rel).is_absolute():
        raise EegemoError(f"{where} is absolute; paths are relative to the data folder {inside}")
    try:
        target = (inside / rel).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte, a loop of links
        raise EegemoError(f"{where} cannot be resolved: {first_line(exc)}") from None
    if not target.is_relative_to(inside):
        raise EegemoError(f"{where} leads outside the data folder {inside}")


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


def read_features(table: PhysioTable) -> np.ndarray:
    """The features of every epoch of ``table``, float64 ``(n, n_features)``, NaN kept.

    Raises
    ------
    EegemoError
        When an ``index`` is beyond its file's epochs (naming the line) or the files
        differ in their number of features.
    """
    out: np.ndarray | None = None
    first = ""
    for rel in natural_sort(table.paths):
        arr = _read_features(table.root / rel)
        if out is None:
            out, first = np.full((len(table), arr.shape[1]), np.nan), rel
        elif arr.shape[1] != out.shape[1]:
            raise EegemoError(f"{table.root / rel}: {arr.shape[1]} heart features per epoch, "
                              f"but {first} has {out.shape[1]}; preprocess every recording alike")
        rows = np.flatnonzero(table.paths == rel)
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
    """Heart features of the epochs of a :class:`PhysioTable`, prepared for a model.

    Parameters
    ----------
    table : PhysioTable
        The epochs served (often a subject subset of :func:`read_physio_table`).
    classes : sequence of str
        Label names in class-index order; a label outside them is an error.

    Notes
    -----
    Items are ``(x, y)``: ``x`` a float32 tensor ``(n_features + 1,)`` prepared as
    :func:`prepare_features` says, ``y`` the class index.
    """

    def __init__(self, table: PhysioTable, classes: Sequence[str]):
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
    table: PhysioTable, split: SubjectSplit, classes: Sequence[str] | None = None
) -> DataBundle:
    """Training, validation and test heart-feature datasets from disjoint subject lists.

    Parameters
    ----------
    table : PhysioTable
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
    groups = {"train": list(split.train), "val": list(split.val), "test": list(split.test)}
    train_table = table.of_subjects(groups["train"])
    if len(train_table) == 0:
        raise EegemoError(f"{table.root}: no training epochs with heart features")
    classes = list(classes) if classes is not None else natural_sort(train_table.labels)

    def make(subs: list[str]) -> PhysioDataset | None:
        part = table.of_subjects(subs)
        return PhysioDataset(part, classes) if subs and len(part) else None

    sets = {name: make(subs) for name, subs in groups.items()}
    bundle = DataBundle(train=sets["train"], val=sets["val"], test=sets["test"],
                        classes=classes, meta=sets["train"].data_meta())
    bundle.description = {
        name: {"subjects": groups[name], "epochs": len(ds),
               "epochs_without_heart_signal": ds.n_unusable}
        for name, ds in sets.items() if ds is not None
    }
    return bundle
