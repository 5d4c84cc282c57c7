"""EEG topomaps as training data: lazily read epochs, normalisation, subject-wise bundles.

The epochs are those listed in ``OUT/manifest.csv`` (see :mod:`eegemo.manifest`):
float32 arrays ``(n_epochs, n_bands, H, W)`` with NaN outside the head.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import option
from ..errors import EegemoError, first_line
from ..manifest import Manifest
from ..train.data import DataBundle, natural_sort, subject_bundle
from ..train.modality import SubjectSplit

NORMALIZATIONS = ("subject", "global", "none")
#: Floor of a standard deviation, relative to the band's typical spread, so that a
#: constant pixel does not blow up to infinity.
_STD_FLOOR = 1e-3


@dataclasses.dataclass
class EegDataConfig:
    """How EEG topomaps are normalised for training (the ``[eeg]`` section)."""

    normalization: str = option(
        "subject",
        "'subject' standardises each pixel of each band with the subject's own mean and "
        "spread (no labels needed, also applied to new subjects); 'global' uses per-band "
        "statistics of the training subjects; 'none' leaves the values as they are",
        choices=NORMALIZATIONS,
    )


@dataclasses.dataclass
class BandStats:
    """Per-band mean and standard deviation over inside-head pixels."""

    mean: np.ndarray
    std: np.ndarray

    def to_meta(self) -> dict:
        """Plain lists for a checkpoint."""
        return {"band_mean": self.mean.tolist(), "band_std": self.std.tolist()}


class _ArrayCache:
    """Memory-mapped topomap files of a manifest, opened once per process.

    Opening a file checks that every row of the manifest pointing at it has an
    ``index`` within its epochs.
    """

    def __init__(self, manifest: Manifest):
        self.manifest = manifest
        self._arrays: dict[str, np.ndarray] = {}

    def __call__(self, rel: str) -> np.ndarray:
        arr = self._arrays.get(rel)
        if arr is None:
            arr = _open_topomaps(self.manifest.root / rel)
            self.manifest.check_length(rel, arr.shape[0])
            self._arrays[rel] = arr
        return arr

    def __getstate__(self) -> dict:  # DataLoader workers reopen the files themselves
        return {"manifest": self.manifest, "_arrays": {}}


def _open_topomaps(path: Path) -> np.ndarray:
    """Memory-map a ``(n_epochs, n_bands, H, W)`` array, or say in one line why not."""
    try:
        with open(path, "rb") as fh:
            is_npy = fh.read(6) == b"\x93NUMPY"
        if not is_npy:
            raise EegemoError(f"{path}: cannot read topomaps: not a NumPy .npy file")
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except OSError as exc:
        raise EegemoError(f"{path}: cannot read topomaps: {exc.strerror or exc}") from None
    except ValueError as exc:  # a damaged header, or Python objects that are never loaded
        raise EegemoError(f"{path}: cannot read topomaps: {first_line(exc)}") from None
    if arr.ndim != 4:
        raise EegemoError(
            f"{path}: expected (n_epochs, n_bands, H, W) topomaps, got shape {arr.shape}"
        )
    return arr


def _read_epochs(manifest: Manifest, cache: _ArrayCache) -> np.ndarray:
    """All epochs of ``manifest`` as one float64 array (used for statistics)."""
    out = []
    for rel in np.unique(manifest.paths):
        rows = manifest.indices[manifest.paths == rel]
        out.append(np.asarray(cache(rel)[np.sort(rows)], dtype=np.float64))
    return np.concatenate(out)


def _floored(std: np.ndarray, typical: np.ndarray) -> np.ndarray:
    return np.maximum(np.nan_to_num(std), _STD_FLOOR * typical + 1e-12)


def fit_band_stats(manifest: Manifest) -> BandStats:
    """Per-band mean/std over the inside-head (non-NaN) pixels of every epoch in ``manifest``."""
    cache = _ArrayCache(manifest)
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
    cache = _ArrayCache(manifest)
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
        The epochs served (often a subject subset of ``read_manifest(OUT)``); rows
        without topomaps (a heart signal processed alone) are left out.
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
        manifest = manifest.with_topomaps()
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
        self._cache = _ArrayCache(manifest)
        self.subject_stats = fit_subject_stats(manifest) if normalization == "subject" else {}
        # every file opened (and its rows checked) now, not in the middle of training
        files = [str(rel) for rel in np.unique(manifest.paths)]
        arrays = [self._cache(rel) for rel in files]
        self.shape = tuple(arrays[0].shape[1:]) if arrays else None
        for rel, arr in zip(files, arrays, strict=True):
            if arr.shape[1:] != self.shape:
                raise EegemoError(
                    f"{manifest.root / rel}: topomaps of shape {arr.shape[1:]}, but "
                    f"{files[0]} has {self.shape}; preprocess every recording the same way"
                )

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

    @property
    def item_keys(self) -> list[tuple[str, int]]:
        """``(recording, index)`` of every item: the epoch, as other inputs name it."""
        return list(zip(self.manifest.recordings.tolist(), self.manifest.indices.tolist(),
                        strict=True))

    def data_meta(self) -> dict:
        """What a checkpoint needs to prepare new data the same way."""
        meta: dict[str, Any] = {"modality": "eeg", "normalization": self.normalization}
        if self.band_stats is not None:
            meta.update(self.band_stats.to_meta())
        if self.shape is not None:
            meta["n_bands"], meta["img_size"] = int(self.shape[0]), int(self.shape[1])
        return meta


def topomap_bundle(
    manifest: Manifest,
    split: SubjectSplit,
    normalization: str,
    classes: Sequence[str] | None = None,
) -> DataBundle:
    """Build training, validation and test topomap datasets from disjoint subject lists.

    Parameters
    ----------
    manifest : Manifest
        Every epoch available; rows without topomaps are left out.
    split : SubjectSplit
        Subjects of each set (validation and test may be empty).
    normalization : {"subject", "global", "none"}
        See :class:`TopomapDataset`; global statistics are fitted on the training
        subjects only.
    classes : sequence of str, optional
        Class names in index order (default: the training labels, naturally sorted).

    Returns
    -------
    DataBundle
    """
    manifest = manifest.with_topomaps()
    train_manifest = manifest.of_subjects(split.train)
    if len(train_manifest) == 0:
        raise EegemoError(f"{manifest.root}: no training epochs")
    classes = list(classes) if classes is not None else natural_sort(train_manifest.labels)
    stats = fit_band_stats(train_manifest) if normalization == "global" else None
    return subject_bundle(
        split,
        classes,
        lambda subjects: TopomapDataset(manifest.of_subjects(subjects), classes, normalization,
                                        stats),
    )


def eval_dataset(manifest: Manifest, meta: dict) -> TopomapDataset:
    """The epochs of ``manifest`` normalised as the model of ``meta`` was trained.

    With subject-wise normalisation each new subject is standardised with its own
    statistics; with global normalisation, with the training statistics stored in
    the checkpoint.

    Parameters
    ----------
    manifest : Manifest
        The epochs, with labels among the model's classes.
    meta : dict
        Checkpoint metadata (``classes``, ``model``, ``data``).

    Raises
    ------
    EegemoError
        When the topomaps do not fit the model's input.
    """
    from ..train.checkpoint import input_shape_of

    data_meta = meta.get("data", {})
    normalization = data_meta.get("normalization", "none")
    stats = None
    if normalization == "global":
        stats = BandStats(np.asarray(data_meta["band_mean"], dtype=np.float32),
                          np.asarray(data_meta["band_std"], dtype=np.float32))
    dataset = TopomapDataset(manifest, meta["classes"], normalization, stats)
    expected = input_shape_of(meta["model"])
    if dataset.shape != expected:
        raise EegemoError(
            f"{manifest.root}: topomaps are {dataset.shape} (bands, H, W) but the model "
            f"expects {expected}; preprocess with the bands and topomap.res of its training"
        )
    return dataset
