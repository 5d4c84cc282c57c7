"""``OUT/manifest.csv``: the one definition of the table that links preprocessing to training.

``eegemo preprocess`` writes one row per kept epoch; training and evaluation read it.
Columns:

========================  ==================================================================
``subject``               subject the epoch belongs to (splits are made by subject)
``recording``             id of the recording (unique within OUT)
``label``                 the epoch's class label (empty when the recording has none)
``path``                  topomap array ``(n_epochs, n_bands, H, W)``, relative to OUT
``index``                 the epoch's row in that array
``bandpower_path``        band-power array ``(n_epochs, n_channels, n_bands)``, relative to OUT
``onset_s``               start of the epoch in seconds from the start of the recording
========================  ==================================================================
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_open
from ..errors import EegemoError

#: Every column, in file order.
MANIFEST_COLUMNS = ("subject", "recording", "label", "path", "index", "bandpower_path", "onset_s")
#: The columns a reader needs (older manifests lack the others).
REQUIRED_COLUMNS = ("subject", "recording", "label", "path", "index")
MANIFEST_NAME = "manifest.csv"


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


def has_manifest(path: str | Path) -> bool:
    """True if ``path`` is a preprocessed folder (holds ``manifest.csv``)."""
    return (Path(path) / MANIFEST_NAME).is_file()


def read_manifest(root: str | Path) -> Manifest:
    """Read ``root/manifest.csv``.

    Parameters
    ----------
    root : path-like
        The output folder of ``eegemo preprocess``.

    Returns
    -------
    manifest : Manifest

    Raises
    ------
    EegemoError
        When the file is missing, lacks a column, is empty, or has a bad ``index``.
    """
    root = Path(root)
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise EegemoError(f"{root}: no {MANIFEST_NAME} (run `eegemo preprocess` to create it)")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
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


def write_manifest(out_dir: str | Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``out_dir/manifest.csv`` atomically.

    Parameters
    ----------
    out_dir : path-like
        The output folder.
    rows : iterable of mapping
        One mapping per epoch with every key of :data:`MANIFEST_COLUMNS`.

    Returns
    -------
    path : Path
        The file written.
    """
    path = Path(out_dir) / MANIFEST_NAME
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
