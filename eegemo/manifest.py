"""``OUT/manifest.csv``: the one definition of the table that links preprocessing to training.

``eegemo preprocess`` writes one row per kept epoch; training and evaluation read it.
Columns:

========================  ==================================================================
``subject``               subject the epoch belongs to (splits are made by subject)
``recording``             id of the recording (unique within OUT)
``label``                 the epoch's class label (empty when the recording has none)
``path``                  topomap array ``(n_epochs, n_bands, H, W)``, relative to OUT
                          (it must lie inside OUT, symbolic links resolved); empty for a
                          recording processed for its heart signal alone
``index``                 the epoch's row in that array, and in the other arrays of the
                          row (0 for the first)
``bandpower_path``        band-power array ``(n_epochs, n_channels, n_bands)``, relative to
                          OUT; empty for a heart signal alone
``onset_s``               start of the epoch in seconds from the start of the recording
``physio_path``           heart features ``(n_epochs, n_features)``, NaN where the heart
                          signal is unusable, relative to OUT; empty when the recording has
                          no heart channel
========================  ==================================================================

Every row has a ``path`` or a ``physio_path``, or both.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_csv
from .errors import EegemoError, first_line

#: Every column, in file order.
MANIFEST_COLUMNS = (
    "subject", "recording", "label", "path", "index", "bandpower_path", "onset_s", "physio_path"
)  # fmt: skip
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
        ``paths`` is empty where a recording has no topomaps (a heart signal alone).
    indices : ndarray of int64
    lines : ndarray of int64
        Line of ``manifest.csv`` each row was read from (the header is line 1).
    physio_paths : ndarray of str
        Heart-feature arrays, relative to ``root``; empty where the recording has none
        (and in every row of a manifest without the column).
    """

    root: Path
    subjects: np.ndarray
    recordings: np.ndarray
    labels: np.ndarray
    paths: np.ndarray
    indices: np.ndarray
    lines: np.ndarray
    physio_paths: np.ndarray

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
            lines=self.lines[mask],
            physio_paths=self.physio_paths[mask],
        )

    def with_topomaps(self) -> Manifest:
        """The rows that have topomaps (not those of a heart signal processed alone)."""
        return self.select(self.paths != "")

    def of_subjects(self, subjects: Sequence[str]) -> Manifest:
        """The rows of the given subjects."""
        return self.select(np.isin(self.subjects, np.asarray(list(subjects), dtype=str)))

    def check_length(self, path: str, n_epochs: int) -> None:
        """Refuse rows of ``path`` whose ``index`` is beyond its ``n_epochs`` epochs.

        Raises
        ------
        EegemoError
            Naming the first such line of ``manifest.csv``.
        """
        beyond = np.flatnonzero((self.paths == path) & (self.indices >= n_epochs))
        if beyond.size:
            i = beyond[0]
            raise EegemoError(
                f"{self.root / MANIFEST_NAME}, line {self.lines[i]}: index {self.indices[i]} is "
                f"beyond the {n_epochs} epochs of {path}"
            )


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
        When the file is missing, lacks a column or is empty, or a row has an ``index``
        that is not a non-negative integer, neither a ``path`` nor a ``physio_path``, or
        one that is absolute or leads outside ``root`` (the message names the line).
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
        rows, lines = [], []
        for row in reader:
            rows.append(row)
            lines.append(reader.line_num)
    if not rows:
        raise EegemoError(f"{path}: no epochs listed")
    indices = np.array([_index(r["index"], path, n) for r, n in zip(rows, lines, strict=True)],
                       dtype=np.int64)
    inside = root.resolve()
    first_line_of: dict[tuple[str, str], int] = {}
    for r, n in zip(rows, lines, strict=True):
        if not r["path"] and not r.get("physio_path"):
            raise EegemoError(
                f"{path}, line {n}: path {r['path']!r} is empty and so is physio_path; "
                f"expected a .npy file relative to {inside}"
            )
        for column in ("path", "physio_path"):
            if r.get(column):
                first_line_of.setdefault((column, r[column]), n)
    for (column, rel), n in first_line_of.items():
        _check_path(column, rel, inside, path, n)
    return Manifest(
        root=root,
        subjects=np.array([r["subject"] for r in rows], dtype=str),
        recordings=np.array([r["recording"] for r in rows], dtype=str),
        labels=np.array([r["label"] for r in rows], dtype=str),
        paths=np.array([r["path"] or "" for r in rows], dtype=str),
        indices=indices,
        lines=np.array(lines, dtype=np.int64),
        physio_paths=np.array([r.get("physio_path") or "" for r in rows], dtype=str),
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


def _check_path(column: str, rel: str, inside: Path, manifest: Path, line: int) -> None:
    """Refuse a ``column`` value that does not name a file inside the data folder ``inside``."""
    where = f"{manifest}, line {line}: {column} {rel!r}"
    if Path(rel).is_absolute():
        raise EegemoError(f"{where} is absolute; paths are relative to the data folder {inside}")
    try:
        target = (inside / rel).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte, a loop of links
        raise EegemoError(f"{where} cannot be resolved: {first_line(exc)}") from None
    if not target.is_relative_to(inside):
        raise EegemoError(f"{where} leads outside the data folder {inside}")


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
    write_csv(path, MANIFEST_COLUMNS, rows)
    return path
