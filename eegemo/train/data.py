"""Training data: band-power topomaps read lazily, subject-wise splits, and the data dispatch.

``OUT/manifest.csv`` (written by ``eegemo preprocess``) has one row per epoch with
the columns ``subject, recording, label, path, index``: ``path`` (relative to OUT)
is a float32 ``.npy`` array ``(n_epochs, n_bands, H, W)`` with NaN outside the head
and ``index`` the epoch's row in it.

Splits are always by subject: no subject contributes epochs to two of the
training, validation and test sets.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EegemoError

MANIFEST_COLUMNS = ("subject", "recording", "label", "path", "index")
NORMALIZATIONS = ("subject", "global", "none")
#: Floor of a standard deviation, relative to the band's typical spread, so that a
#: constant pixel does not blow up to infinity.
_STD_FLOOR = 1e-3


@dataclasses.dataclass(frozen=True)
class Manifest:
    """The epochs listed in ``OUT/manifest.csv``, as parallel arrays.

    Attributes
    ----------
    root : Path
        The folder holding ``manifest.csv``; ``paths`` are relative to it.
    subjects, recordings, labels, paths : ndarray of str
    indices : ndarray of int64
    """

    root: Path
    subjects: np.ndarray
    recordings: np.ndarray
    labels: np.ndarray
    paths: np.ndarray
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.subjects)

    def select(self, mask: np.ndarray) -> Manifest:
        """The rows where ``mask`` is true."""
        return dataclasses.replace(
            self,
            subjects=self.subjects[mask],
            recordings=self.recordings[mask],
            labels=self.labels[mask],
            paths=self.paths[mask],
            indices=self.indices[mask],
        )

    def of_subjects(self, subjects: Sequence[str]) -> Manifest:
        """The rows of the given subjects."""
        return self.select(np.isin(self.subjects, np.asarray(list(subjects), dtype=str)))


def read_manifest(root: str | Path) -> Manifest:
    """Read ``root/manifest.csv``.

    Raises
    ------
    EegemoError
        When the file is missing, lacks a column, is empty, or has a bad ``index``.
    """
    root = Path(root)
    path = root / "manifest.csv"
    if not path.is_file():
        raise EegemoError(f"{root}: no manifest.csv (run `eegemo preprocess` to create it)")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise EegemoError(
                f"{path}: missing column(s) {', '.join(missing)} "
                f"(expected {', '.join(MANIFEST_COLUMNS)})"
            )
        rows = list(reader)
    if not rows:
        raise EegemoError(f"{path}: no epochs listed")
    try:
        indices = np.array([int(r["index"]) for r in rows], dtype=np.int64)
    except ValueError:
        raise EegemoError(f"{path}: the index column must hold integers") from None
    return Manifest(
        root=root,
        subjects=np.array([r["subject"] for r in rows], dtype=str),
        recordings=np.array([r["recording"] for r in rows], dtype=str),
        labels=np.array([r["label"] for r in rows], dtype=str),
        paths=np.array([r["path"] for r in rows], dtype=str),
        indices=indices,
    )


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


# ---------------------------------------------------------------- normalisation


@dataclasses.dataclass
class BandStats:
    """Per-band mean and standard deviation over inside-head pixels."""

    mean: np.ndarray
    std: np.ndarray

    def to_meta(self) -> dict:
        """Plain lists for a checkpoint."""
        return {"band_mean": self.mean.tolist(), "band_std": self.std.tolist()}


class _ArrayCache:
    """Memory-mapped topomap files, opened once per process."""

    def __init__(self, root: Path):
        self.root = root
        self._arrays: dict[str, np.ndarray] = {}

    def __call__(self, rel: str) -> np.ndarray:
        arr = self._arrays.get(rel)
        if arr is None:
            path = self.root / rel
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise EegemoError(f"{path}: cannot read topomaps: {exc}") from None
            if arr.ndim != 4:
                raise EegemoError(
                    f"{path}: expected (n_epochs, n_bands, H, W) topomaps, got shape {arr.shape}"
                )
            self._arrays[rel] = arr
        return arr

    def __getstate__(self) -> dict:  # DataLoader workers reopen the files themselves
        return {"root": self.root, "_arrays": {}}


def _read_epochs(manifest: Manifest, cache: _ArrayCache) -> np.ndarray:
    """All epochs of ``manifest`` as one float64 array (used for statistics)."""
    out = []
    for rel in np.unique(manifest.paths):
        rows = manifest.indices[manifest.paths == rel]
        arr = cache(rel)
        if rows.max() >= arr.shape[0]:
            raise EegemoError(
                f"{manifest.root / rel}: manifest index {rows.max()} is beyond its "
                f"{arr.shape[0]} epochs"
            )
        out.append(np.asarray(arr[np.sort(rows)], dtype=np.float64))
    return np.concatenate(out)


def _floored(std: np.ndarray, typical: np.ndarray) -> np.ndarray:
    return np.maximum(np.nan_to_num(std), _STD_FLOOR * typical + 1e-12)


def fit_band_stats(manifest: Manifest) -> BandStats:
    """Per-band mean/std over the inside-head (non-NaN) pixels of every epoch in ``manifest``."""
    cache = _ArrayCache(manifest.root)
    total = count = sq = None
    for rel in np.unique(manifest.paths):
        rows = np.sort(manifest.indices[manifest.paths == rel])
        block = np.asarray(cache(rel)[rows], dtype=np.float64)
        inside = ~np.isnan(block)
        values = np.where(inside, block, 0.0)
        s, q, c = values.sum((0, 2, 3)), (values**2).sum((0, 2, 3)), inside.sum((0, 2, 3))
        total, sq, count = (s, q, c) if total is None else (total + s, sq + q, count + c)
    if count is None or (count == 0).any():
        raise EegemoError(f"{manifest.root}: a band has no finite pixel in the training epochs")
    mean = total / count
    std = np.sqrt(np.maximum(sq / count - mean**2, 0.0))
    return BandStats(mean.astype(np.float32), _floored(std, std).astype(np.float32))


def fit_subject_stats(manifest: Manifest) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-subject, per-band, per-pixel mean and std maps, from the subject's own epochs.

    No labels are used: at evaluation time the same is computed on new subjects.
    """
    cache = _ArrayCache(manifest.root)
    stats = {}
    for subject in natural_sort(manifest.subjects):
        data = _read_epochs(manifest.select(manifest.subjects == subject), cache)
        with warnings.catch_warnings():  # pixels outside the head are NaN in every epoch
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(data, axis=0)
            std = np.nanstd(data, axis=0)
            typical = np.nanmean(std, axis=(1, 2), keepdims=True)
        stats[subject] = (
            mean.astype(np.float32),
            _floored(std, np.nan_to_num(typical, nan=1.0)).astype(np.float32),
        )
    return stats


# ---------------------------------------------------------------- the dataset


class TopomapDataset:
    """Topomap epochs of a manifest, read lazily from memory-mapped ``.npy`` files.

    Parameters
    ----------
    manifest : Manifest
        The epochs served (often a subject subset of ``read_manifest(OUT)``).
    classes : sequence of str
        Label names in class-index order; a label outside them is an error.
    normalization : {"subject", "global", "none"}
        ``"subject"``: each subject's epochs are standardised per band and pixel with
        that subject's own mean/std maps (computed here, no labels used);
        ``"global"``: per band with ``band_stats`` (fitted on training data only);
        ``"none"``: values as stored.
    band_stats : BandStats, optional
        Required for ``"global"``.

    Notes
    -----
    Pixels outside the head (NaN) become 0 after normalisation. Items are
    ``(x, y)``: ``x`` a float32 tensor ``(n_bands, H, W)`` and ``y`` the class index.
    """

    def __init__(
        self,
        manifest: Manifest,
        classes: Sequence[str],
        normalization: str = "subject",
        band_stats: BandStats | None = None,
    ):
        if normalization not in NORMALIZATIONS:
            raise EegemoError(
                f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}"
            )
        if normalization == "global" and band_stats is None:
            raise EegemoError("global normalisation needs band statistics of the training data")
        self.manifest = manifest
        self.classes = [str(c) for c in classes]
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = natural_sort(set(manifest.labels) - set(index))
        if unknown:
            raise EegemoError(
                f"{manifest.root / 'manifest.csv'}: label(s) {', '.join(map(repr, unknown))} "
                f"are not classes of the model ({', '.join(self.classes)})"
            )
        self.targets = np.array([index[lab] for lab in manifest.labels], dtype=np.int64)
        self.normalization = normalization
        self.band_stats = band_stats
        self._cache = _ArrayCache(manifest.root)
        self.subject_stats = fit_subject_stats(manifest) if normalization == "subject" else {}
        first = self._cache(str(manifest.paths[0])) if len(manifest) else None
        self.shape = tuple(first.shape[1:]) if first is not None else None

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        import torch

        x = np.array(self._cache(str(self.manifest.paths[i]))[self.manifest.indices[i]],
                     dtype=np.float32)
        if self.normalization == "subject":
            mean, std = self.subject_stats[str(self.manifest.subjects[i])]
            x = (x - mean) / std
        elif self.normalization == "global":
            x = (x - self.band_stats.mean[:, None, None]) / self.band_stats.std[:, None, None]
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        return torch.from_numpy(x), int(self.targets[i])

    @property
    def subjects(self) -> np.ndarray:
        """Subject of every item."""
        return self.manifest.subjects

    def data_meta(self) -> dict:
        """What a checkpoint needs to prepare new data the same way."""
        meta: dict[str, Any] = {"modality": "eeg", "normalization": self.normalization}
        if self.band_stats is not None:
            meta.update(self.band_stats.to_meta())
        if self.shape is not None:
            meta["n_bands"], meta["img_size"] = int(self.shape[0]), int(self.shape[1])
        return meta


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


def topomap_bundle(
    manifest: Manifest,
    train_subjects: Sequence[str],
    val_subjects: Sequence[str],
    normalization: str,
    test_subjects: Sequence[str] = (),
    classes: Sequence[str] | None = None,
) -> DataBundle:
    """Build training/validation(/test) topomap datasets from disjoint subject lists.

    Global normalisation statistics are fitted on the training subjects only.
    """
    groups = {"train": list(train_subjects), "val": list(val_subjects),
              "test": list(test_subjects)}
    seen: dict[str, str] = {}
    for name, subs in groups.items():
        for s in subs:
            if s in seen:
                raise EegemoError(f"subject {s!r} is in both the {seen[s]} and {name} sets")
            seen[s] = name
    train_manifest = manifest.of_subjects(groups["train"])
    if len(train_manifest) == 0:
        raise EegemoError(f"{manifest.root}: no training epochs")
    classes = list(classes) if classes is not None else natural_sort(train_manifest.labels)
    stats = fit_band_stats(train_manifest) if normalization == "global" else None

    def make(subs: list[str]) -> TopomapDataset | None:
        if not subs:
            return None
        return TopomapDataset(manifest.of_subjects(subs), classes, normalization, stats)

    train = make(groups["train"])
    bundle = DataBundle(
        train=train,
        val=make(groups["val"]),
        test=make(groups["test"]),
        classes=classes,
        meta=train.data_meta(),
    )
    bundle.description = {
        name: {"subjects": subs, "epochs": len(ds)}
        for name, subs, ds in (
            ("train", groups["train"], bundle.train),
            ("val", groups["val"], bundle.val),
            ("test", groups["test"], bundle.test),
        )
        if ds is not None
    }
    return bundle


def is_topomap_data(path: str | Path) -> bool:
    """True if ``path`` is a preprocessed EEG folder (holds ``manifest.csv``)."""
    return (Path(path) / "manifest.csv").is_file()


def load_datasets(path: str | Path, config) -> DataBundle:
    """Training and validation data of ``eegemo train --data PATH``.

    Parameters
    ----------
    path : path-like
        A preprocessed EEG folder with ``manifest.csv`` (split by subject with
        ``config.data.val_fraction``), or FER2013 as a folder with ``train/`` and
        ``val/`` or a Kaggle CSV (read by :func:`eegemo.face.data.load_fer_splits`).
    config : TrainConfig
        The run's configuration.

    Returns
    -------
    DataBundle
    """
    path = Path(path)
    if is_topomap_data(path):
        manifest = read_manifest(path)
        train_s, val_s = subject_split(manifest.subjects, config.data.val_fraction, config.seed)
        return topomap_bundle(manifest, train_s, val_s, config.data.normalization)
    from ..face.data import is_face_data, load_fer_splits

    if is_face_data(path):
        train, val, classes = load_fer_splits(path, config.face)
        return DataBundle(
            train=train,
            val=val,
            classes=list(classes),
            meta={"modality": "face"},
            description={"train": {"images": len(train)}, "val": {"images": len(val)}},
        )
    raise EegemoError(
        f"{path}: expected a preprocessed EEG folder with manifest.csv, a FER2013 folder with "
        "train/ and val/, or a FER2013 .csv file"
    )


def load_eval_dataset(path: str | Path, meta: dict, split: str | None = None):
    """The data of ``eegemo evaluate CHECKPOINT DATA``, prepared as the model expects.

    Parameters
    ----------
    path : path-like
        Data never seen in training: a preprocessed EEG folder, or face data.
    meta : dict
        The checkpoint metadata from :func:`eegemo.train.checkpoint.load_model`
        (``classes``, ``data``, ``config``).
    split : str, optional
        Face data only: the CSV usage or split folder.

    Returns
    -------
    dataset
        Items ``(x, y)`` with ``y`` indexing ``meta["classes"]`` (labels mapped by
        name; a label the model does not know is an error).
    """
    from ..config import from_dict

    path = Path(path)
    data_meta = meta.get("data", {})
    modality = data_meta.get("modality", "eeg")
    if modality == "eeg":
        if split is not None:
            raise EegemoError("--split applies to face data; an EEG folder is evaluated whole")
        if not is_topomap_data(path):
            raise EegemoError(f"{path}: the model was trained on EEG topomaps but this folder "
                              "has no manifest.csv")
        normalization = data_meta.get("normalization", "none")
        stats = None
        if normalization == "global":
            stats = BandStats(np.asarray(data_meta["band_mean"], dtype=np.float32),
                              np.asarray(data_meta["band_std"], dtype=np.float32))
        dataset = TopomapDataset(read_manifest(path), meta["classes"], normalization, stats)
        expected = (meta["model"]["in_chans"], meta["model"]["img_size"], meta["model"]["img_size"])
        if dataset.shape != expected:
            raise EegemoError(
                f"{path}: topomaps are {dataset.shape} (bands, H, W) but the model expects "
                f"{expected}; preprocess with the same bands and topomap.res"
            )
        return dataset
    from ..face.data import FaceDataConfig, load_fer_eval

    face_config = from_dict(FaceDataConfig, meta.get("config", {}).get("face", {}), "face")
    return load_fer_eval(path, split, meta["classes"], face_config)
