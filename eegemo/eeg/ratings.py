"""Labels from a table of ratings per trial (DEAP, DREAMER, SEED, ...).

A ratings table is a CSV file with a header row and one row per trial:

* which recording: a ``recording`` column (file name, path relative to RAW or file
  stem), or else a ``subject`` column with, optionally, ``session`` and/or ``run``
  (matched against the subject discovery assigns and the ``ses-``/``run-`` entities
  of the file name; numbers match whatever their leading zeros: ``1`` is ``01``);
* which trial: an ``event`` column (an annotation description or event code, for
  ``epochs.source = "annotations"`` or ``"events"``), or ``onset`` and ``offset``
  columns in seconds from the start of the recording;
* the rating columns, one of them chosen by ``discovery.ratings.column``.

Column names are matched case-insensitively. :func:`read_ratings` reads and checks the
table, :func:`label_trials` turns the chosen rating into a class name per trial
(``threshold``, the subject's ``median``, or ``none``: already a class name).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..config import option
from ..errors import ConfigError

#: Columns that make a labels CSV a table of trials rather than one row per recording.
TRIAL_COLUMNS = ("event", "onset")


@dataclasses.dataclass
class RatingsConfig:
    """How a rating column of a per-trial labels CSV becomes a class label."""

    column: str = option(
        "label",
        help='Rating column of a per-trial labels CSV (one with an "event" or "onset"/"offset" '
        'column) giving each trial its label, e.g. "valence" (case-insensitive).',
    )
    binarize: str = option(
        "none",
        help='"none": the cell is the class name; "threshold": names[1] when the rating is '
        '> threshold, else names[0]; "median": the same with each subject\'s own median '
        "of the rated trials of its recordings as the threshold.",
        choices=("none", "threshold", "median"),
    )
    threshold: float = option(
        5.0, help='Threshold of binarize = "threshold" (5.0: the middle of a 1-9 scale).'
    )
    names: list[str] = option(
        ["low", "high"], help="Class names of ratings at or below / above the threshold."
    )

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column.strip():
            raise ConfigError(f"column: expected a column name, got {self.column!r}")
        if not math.isfinite(self.threshold):
            raise ConfigError(f"threshold: expected a finite number, got {self.threshold}")
        if (
            len(self.names) != 2
            or len(set(self.names)) != 2
            or not all(isinstance(n, str) and n for n in self.names)
        ):
            raise ConfigError(f"names: expected two different class names, got {self.names!r}")


@dataclasses.dataclass(frozen=True)
class Trial:
    """One rated trial of a recording.

    Parameters
    ----------
    label : str
        The trial's class label.
    event : str | None
        Annotation description or event code marking the trial (``None``: by time).
    onset_s, offset_s : float | None
        Start and end of the trial in seconds from the start of the recording.
    line : int
        Line of the ratings CSV the trial comes from.
    """

    label: str
    event: str | None = None
    onset_s: float | None = None
    offset_s: float | None = None
    line: int = 0


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of a ratings table: which recording and trial, and its raw rating."""

    line: int
    event: str | None
    onset_s: float | None
    offset_s: float | None
    value: str


@dataclasses.dataclass
class RatingsTable:
    """A per-trial labels CSV, read and checked (see :func:`read_ratings`).

    Attributes
    ----------
    path : Path
        The CSV file.
    by : tuple of str
        The columns naming the recording: ``("recording",)`` or ``("subject", ...)``.
    groups : dict
        Key (the values of ``by``) -> that recording's rows, in file order.
    """

    path: Path
    by: tuple[str, ...]
    groups: dict[tuple[str, ...], list[Row]]


def is_trial_table(path: str | Path) -> bool:
    """Whether the CSV at ``path`` has an ``event`` or ``onset`` column (a per-trial table)."""
    if not Path(path).is_file():
        return False
    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    return bool({c.strip().lower() for c in header} & set(TRIAL_COLUMNS))


def _number(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"{where}: {what} {text!r} is not a number")
    return value


def _same(a: str, b: str) -> bool:
    """Names equal, or numbers equal whatever their leading zeros (``1`` and ``01``)."""
    return a == b or (a.isdigit() and b.isdigit() and int(a) == int(b))


def read_ratings(path: str | Path, config: RatingsConfig) -> RatingsTable:
    """Read a per-trial ratings table and check it.

    Parameters
    ----------
    path : path-like
        The CSV file (UTF-8, header row); see the module description for its columns.
    config : RatingsConfig
        The rating column and how it is binarised.

    Returns
    -------
    table : RatingsTable
        The rows grouped by recording.

    Raises
    ------
    ConfigError
        Naming the file and line: a missing column, an empty or non-numeric onset or
        offset, an offset not after its onset, a non-numeric rating where it is
        binarised, a trial listed twice or overlapping another of the same recording.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"labels_csv: file not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [c.strip().lower() for c in next(reader, [])]
        found = ", ".join(header) or "(none)"
        by = ("recording",) if "recording" in header else (
            ("subject", *(c for c in ("session", "run") if c in header))
            if "subject" in header
            else ()
        )
        timed = "event" not in header
        column = config.column.strip().lower()
        needed = {
            "a recording or subject column": bool(by),
            "an offset column beside onset": not timed or "offset" in header,
            f"the rating column {config.column!r} (discovery.ratings.column)": column in header,
        }
        for what, ok in needed.items():
            if not ok:
                raise ConfigError(f"{path}:1: ratings CSV lacks {what}; found columns: {found}")
        groups: dict[tuple[str, ...], list[Row]] = {}
        for line, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            row = dict(zip(header, (c.strip() for c in cells), strict=False))
            where = f"{path}:{line}"
            key = tuple(row.get(c, "").replace("\\", "/") for c in by)
            if not all(key):
                raise ConfigError(f"{where}: empty {' / '.join(by)} cell")
            value = row.get(column, "")
            if config.binarize != "none":
                _number(value, config.column, where)
            elif not value:
                raise ConfigError(f"{where}: empty {config.column} cell")
            if timed:
                onset = _number(row.get("onset", ""), "onset", where)
                offset = _number(row.get("offset", ""), "offset", where)
                if offset <= onset:
                    raise ConfigError(
                        f"{where}: offset {offset:g} s is not after onset {onset:g} s"
                    )
                parsed = Row(line, None, onset, offset, value)
            else:
                event = row.get("event", "")
                if not event:
                    raise ConfigError(f"{where}: empty event cell")
                parsed = Row(line, event, None, None, value)
            groups.setdefault(key, []).append(parsed)
    for rows in groups.values():
        _check_trials(rows, path)
    return RatingsTable(path, by, groups)


def _check_trials(rows: list[Row], path: Path) -> None:
    """Raise for a trial listed twice or overlapping another of the same recording."""
    if rows[0].event is not None:
        seen: dict[str, int] = {}
        for row in rows:
            if row.event in seen:
                raise ConfigError(
                    f"{path}:{row.line}: event {row.event!r} is listed twice for the same "
                    f"recording (first on line {seen[row.event]})"
                )
            seen[row.event] = row.line
        return
    ordered = sorted(rows, key=lambda r: (r.onset_s, r.line))
    for before, after in itertools.pairwise(ordered):
        if after.onset_s < before.offset_s:
            raise ConfigError(
                f"{path}:{max(before.line, after.line)}: trial {after.onset_s:g}-"
                f"{after.offset_s:g} s overlaps the trial {before.onset_s:g}-"
                f"{before.offset_s:g} s on line {min(before.line, after.line)}"
            )


_ENTITY = re.compile(r"(?:^|_)(ses|run)-([A-Za-z0-9]+)")


def rows_for(
    table: RatingsTable, names: Sequence[str], subject: str, file_name: str
) -> list[Row] | None:
    """The rows of one recording, or ``None`` when the table lists none.

    Parameters
    ----------
    table : RatingsTable
        The ratings table.
    names : sequence of str
        The recording's relative path, path without extension, file name and stem.
    subject : str
        The subject discovery assigned (before it is made filesystem-safe).
    file_name : str
        The file name, for its ``ses-`` and ``run-`` entities.
    """
    if table.by == ("recording",):
        return next((table.groups[(n,)] for n in names if (n,) in table.groups), None)
    entities = dict(_ENTITY.findall(file_name))
    mine = (subject, *(entities.get(c[:3], "") for c in table.by[1:]))
    for key, rows in table.groups.items():
        if all(_same(a, b) for a, b in zip(key, mine, strict=True)):
            return rows
    return None


def label_trials(
    rows_by_subject: Mapping[str, Sequence[Sequence[Row]]], config: RatingsConfig
) -> list[list[list[Trial]]]:
    """Give each row its class label, binarising as ``config`` says.

    Parameters
    ----------
    rows_by_subject : mapping
        Subject -> the rows of each of its recordings; with ``binarize = "median"`` the
        subject's threshold is the median of all these rows' ratings.
    config : RatingsConfig
        How ratings become labels.

    Returns
    -------
    trials : list
        For each subject (in mapping order), for each recording, its trials.
    """
    low, high = config.names
    result = []
    for recordings in rows_by_subject.values():
        threshold = config.threshold
        if config.binarize == "median":
            threshold = statistics.median(float(r.value) for rows in recordings for r in rows)
        result.append(
            [
                [
                    Trial(
                        r.value
                        if config.binarize == "none"
                        else (high if float(r.value) > threshold else low),
                        r.event,
                        r.onset_s,
                        r.offset_s,
                        r.line,
                    )
                    for r in rows
                ]
                for rows in recordings
            ]
        )
    return result
