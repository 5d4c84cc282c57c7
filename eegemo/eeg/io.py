"""Find EEG recordings, assign each a subject and a label, and read them with MNE.

:func:`discover` turns a file, a folder or a BIDS dataset into :class:`Recording`
objects; files whose subject or label cannot be determined are returned separately
with the reason, so that one badly named file does not stop a batch.
:func:`read_raw` reads any format MNE reads (a file of a BIDS dataset through mne-bids
where it is installed, see :mod:`eegemo.eeg.bids`) and turns every reader failure into a
:class:`~eegemo.errors.RecordingError` with a message a user can act on.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import errno
import hashlib
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import option
from ..errors import ConfigError, EegemoError, RecordingError, first_line
from .ratings import (
    RatingsConfig,
    RatingsTable,
    Row,
    Trial,
    is_trial_table,
    label_trials,
    read_ratings,
    rows_for,
)

if TYPE_CHECKING:
    import mne

#: File endings of recordings (lower case). Side files (``.vmrk``, ``.eeg``, ``.fdt``,
#: ``.json``, ``.tsv``) belong to one of these and are never recordings themselves.
RECORDING_EXTENSIONS = (".edf", ".bdf", ".gdf", ".vhdr", ".set", ".fif", ".fif.gz", ".cnt")

#: Folders of a BIDS dataset that hold no raw recordings.
_BIDS_SKIP_DIRS = {"derivatives", "sourcedata", "code", "stimuli"}
_BIDS_ENTITY = re.compile(r"(?:^|_)(sub|ses|task|acq|run)-([A-Za-z0-9]+)")
# Continuation parts of a split FIF file (MNE: x_raw-1.fif, BIDS: x_split-02_eeg.fif) are
# read together with the first part, which must sit beside them.
_MNE_SPLIT = re.compile(r"-[1-9]\d*(\.fif(?:\.gz)?)$", re.IGNORECASE)
_BIDS_SPLIT = re.compile(r"_split-(\d+)_")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclasses.dataclass(frozen=True)
class Recording:
    """One recording file and what it is about.

    Parameters
    ----------
    path : Path
        The recording file (for BrainVision the ``.vhdr`` header, for EEGLAB the ``.set``).
    id : str
        Unique, filesystem-safe identifier within the batch: the file stem when stems
        are unique, else the path relative to the searched folder, without extension,
        with ``/`` replaced by ``__``. Characters other than letters, digits, ``.``,
        ``_`` and ``-`` become ``_``; files whose ids would then be the same (also when
        they differ only in case) get ``-`` and 8 hexadecimal characters of a hash of
        their relative path.
    subject : str
        Subject identifier (filesystem-safe), used for subject-wise splits; different
        subjects whose names become the same once made safe are told apart like ids.
    label : str | None
        Recording-level label (condition), or ``None`` when not known.
    notes : tuple of str
        Why the id or the subject carries a hash suffix: the files or subjects it was
        told apart from.
    trials : tuple of Trial
        The rated trials of a per-trial labels CSV (:mod:`eegemo.eeg.ratings`): each
        epoch takes the label of the trial it falls in. Empty without such a table.
    """

    path: Path
    id: str
    subject: str
    label: str | None
    notes: tuple[str, ...] = ()
    trials: tuple[Trial, ...] = ()


@dataclasses.dataclass
class DiscoveryConfig:
    """How recordings are found and how subjects and labels are assigned to them."""

    subject_pattern: str | None = option(
        None,
        help="Regular expression with a (?P<subject>...) group, searched in each file name; "
        "default: BIDS sub- entity, else one subject per file (the file stem).",
    )
    label_pattern: str | None = option(
        None,
        help="Regular expression with a (?P<label>...) group, searched in each file name; "
        "default: BIDS task- entity, else no label.",
    )
    label_map: dict[str, str] = option(
        {},
        help='Rename raw label strings, e.g. {"1" = "rest", "2" = "task"}; when given, '
        "a label not listed is reported as a failure for that recording.",
    )
    labels_csv: str | None = option(
        None,
        help="CSV file with columns recording (file name, relative path or stem), subject, "
        "label; its values take precedence over the patterns. With an event or onset/offset "
        "column it is a table of rated trials instead (see ratings).",
    )
    ratings: RatingsConfig = option(
        RatingsConfig(), help="Labels of the trials of a per-trial labels CSV."
    )
    bids: bool | None = option(
        None,
        help="Treat RAW as a BIDS dataset (sub-/ses-/task-/run- entities in file names); "
        "default: auto-detect from dataset_description.json.",
    )

    def __post_init__(self) -> None:
        compile_patterns(self)


def compile_patterns(config: DiscoveryConfig) -> tuple[re.Pattern | None, re.Pattern | None]:
    """Compile and check the subject and label patterns of ``config``.

    Parameters
    ----------
    config : DiscoveryConfig
        The discovery configuration.

    Returns
    -------
    subject_re, label_re : re.Pattern | None
        The compiled patterns (``None`` where not given).

    Raises
    ------
    ConfigError
        If a pattern is not a valid regular expression or lacks its named group.
    """

    def check(text: str | None, group: str, key: str) -> re.Pattern | None:
        if text is None:
            return None
        if not isinstance(text, str):
            raise ConfigError(f"{key}: expected a regular expression string, got {text!r}")
        try:
            pattern = re.compile(text)
        except re.error as exc:
            raise ConfigError(f"{key}: {text!r} is not a valid regular expression: {exc}") from None
        if group not in pattern.groupindex:
            raise ConfigError(
                f"{key}: {text!r} needs a named group (?P<{group}>...) marking the {group}, "
                f"e.g. '(?P<{group}>sub-\\d+)'"
            )
        return pattern

    return (
        check(config.subject_pattern, "subject", "subject_pattern"),
        check(config.label_pattern, "label", "label_pattern"),
    )


def recording_extension(path: str | Path) -> str | None:
    """Return the recording extension of ``path`` (e.g. ``".fif.gz"``), or ``None``.

    Parameters
    ----------
    path : path-like
        A file name or path.

    Returns
    -------
    ext : str | None
        The matching entry of :data:`RECORDING_EXTENSIONS` (longest match), or
        ``None`` if the file is not a recording.
    """
    name = Path(path).name.lower()
    matches = [ext for ext in RECORDING_EXTENSIONS if name.endswith(ext) and name != ext]
    return max(matches, key=len) if matches else None


def _strip_extension(path: Path) -> str:
    ext = recording_extension(path) or path.suffix
    return path.name[: len(path.name) - len(ext)]


def _safe(text: str) -> str:
    # Ids and subjects become file and folder names under OUT: one plain path component,
    # never hidden, never "." or "..".
    return _UNSAFE.sub("_", text).lstrip("._").rstrip("_") or "_"


def read_labels_csv(path: str | Path) -> dict[str, dict[str, str]]:
    """Read a labels table with columns ``recording``, ``subject`` and/or ``label``.

    Parameters
    ----------
    path : path-like
        CSV file (UTF-8, header row). ``recording`` holds a file name, a path relative
        to RAW, or a file stem; empty cells mean "not given".

    Returns
    -------
    rows : dict
        ``{recording: {"subject": ..., "label": ...}}`` with only the non-empty cells.

    Raises
    ------
    ConfigError
        If the file is missing, lacks the columns, or lists a recording twice.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"labels_csv: file not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if "recording" not in columns or not {"subject", "label"} & set(columns):
            raise ConfigError(
                f"{path}: labels CSV needs a 'recording' column and a 'subject' and/or 'label' "
                f"column; found columns: {', '.join(columns) or '(none)'}"
            )
        rows: dict[str, dict[str, str]] = {}
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            key = row["recording"].replace("\\", "/")
            if not key:
                continue
            if key in rows:
                raise ConfigError(f"{path}:{line}: recording {key!r} is listed twice")
            rows[key] = {k: row[k] for k in ("subject", "label") if row.get(k)}
    return rows


def _is_bids(root: Path, config: DiscoveryConfig) -> bool:
    if config.bids is not None:
        return config.bids
    return root.is_dir() and (root / "dataset_description.json").is_file()


def _is_split_continuation(path: Path) -> bool:
    if recording_extension(path) not in (".fif", ".fif.gz"):
        return False
    first = _MNE_SPLIT.sub(r"\1", path.name)
    bids = _BIDS_SPLIT.search(path.name)
    if bids and int(bids.group(1)) > 1:
        first = _BIDS_SPLIT.sub(f"_split-{1:0{len(bids.group(1))}d}_", path.name)
    return first != path.name and (path.parent / first).is_file()


def _broken_link(path: Path) -> str | None:
    """Why the symbolic link ``path`` cannot be followed, or ``None`` when it can."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop: it cannot be opened"
        return f"symbolic link to a missing file ({os.readlink(path)}): it cannot be opened"
    return None


def _find_files(raw: Path, bids: bool) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The recordings under ``raw`` in path order, and the files skipped with the reason.

    Symbolic links to folders are followed, except one leading back to a folder on its
    own path (a loop), which is reported with a warning. A file reached several ways
    is listed once, under its own path when RAW holds it, else under its first path;
    the others are reported, and so are folders that cannot be searched.
    """
    if raw.is_file():
        return ([raw] if recording_extension(raw) else []), []
    found: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    real_dirs: dict[Path, str] = {}

    def unreadable(exc: OSError) -> None:
        folder = Path(exc.filename)
        rel = folder.relative_to(raw).as_posix()
        skipped.append((folder, f"{rel}: cannot search the folder ({exc.strerror})"))

    for folder, dirs, files in os.walk(raw, onerror=unreadable, followlinks=True):
        here = Path(folder)
        real_dirs[here] = os.path.realpath(here)
        rel = here.relative_to(raw)
        on_path = {real_dirs[p] for p in (here, *here.parents) if p in real_dirs}
        keep = []
        for name in sorted(dirs):
            sub = here / name
            if name.startswith("."):
                continue  # hidden folders
            if bids and not rel.parts and (name in _BIDS_SKIP_DIRS or not name.startswith("sub-")):
                continue
            if os.path.realpath(sub) in on_path:
                target = Path(os.path.relpath(os.path.realpath(sub), os.path.realpath(raw)))
                warnings.warn(
                    f"{(rel / name).as_posix()}: symbolic link loop (leads back to "
                    f"{target.as_posix()}), not followed",
                    stacklevel=2,
                )
                continue
            keep.append(name)
        dirs[:] = keep
        for name in files:
            path = here / name
            if name.startswith(".") or recording_extension(path) is None:
                continue  # hidden files and temporaries of interrupted writes
            if bids and not rel.parts and not name.startswith("sub-"):
                continue
            broken = _broken_link(path)
            if broken is not None:
                skipped.append((path, f"{(rel / name).as_posix()}: {broken}"))
            elif path.is_file() and not _is_split_continuation(path):
                found.append(path)
    # A file reached several ways is read once: under its own path when RAW holds it,
    # else under its first path in sorted order.
    root = os.path.realpath(raw)
    by_file: dict[str, list[Path]] = collections.defaultdict(list)
    for path in found:
        by_file[os.path.realpath(path)].append(path)
    unique = []
    for real, paths in by_file.items():
        first = min(paths, key=lambda p: (str(Path(root, p.relative_to(raw))) != real, p))
        unique.append(first)
        skipped += [
            (
                p,
                f"{p.relative_to(raw).as_posix()}: the same file as "
                f"{first.relative_to(raw).as_posix()} (through a symbolic link), read once",
            )
            for p in paths
            if p != first
        ]
    unique.sort()
    return unique, sorted(skipped)


def _names(path: Path, rel: str) -> tuple[str, ...]:
    """The names a labels CSV may give a recording: relative path, without extension, name, stem."""
    stem = _strip_extension(path)
    return (rel, rel[: len(rel) - len(path.name)] + stem, path.name, stem)


def _rated_trials(
    assigned: list[tuple[Path, str, str | None]],
    root: Path,
    table: RatingsTable,
    config: RatingsConfig,
) -> tuple[
    list[tuple[Path, str, str | None]], list[tuple[Trial, ...]], list[tuple[Path, str]]
]:
    """Give each recording the labelled trials of a per-trial labels CSV.

    A recording without rows, or sharing its rows with another recording (a table by
    subject without the session or run telling them apart), is returned as a failure.

    Returns
    -------
    assigned, trials, failures
        The recordings with rows, the trials of each, and the others with the reason.
    """
    found: list[tuple[Path, str, str | None, list[Row]]] = []
    failures: list[tuple[Path, str]] = []
    for path, subject, label in assigned:
        rel = path.relative_to(root).as_posix()
        rows = rows_for(table, _names(path, rel), subject, path.name)
        if rows is None:
            failures.append((path, f"{rel}: no rows in ratings CSV {table.path}"))
        else:
            found.append((path, subject, label, rows))
    sharing = collections.defaultdict(list)
    for path, *_, rows in found:
        sharing[id(rows)].append(path.relative_to(root).as_posix())
    kept = []
    for path, subject, label, rows in found:
        others = sharing[id(rows)]
        if len(others) > 1:
            failures.append(
                (
                    path,
                    f"{path.relative_to(root).as_posix()}: the rows of subject {subject!r} in "
                    f"{table.path} match several recordings ({', '.join(others)}); add a "
                    "session or run column, or a recording column",
                )
            )
        else:
            kept.append((path, subject, label, rows))
    by_subject: dict[str, list[int]] = collections.defaultdict(list)
    for i, (_, subject, _, _) in enumerate(kept):
        by_subject[subject].append(i)
    labelled = label_trials({s: [kept[i][3] for i in idx] for s, idx in by_subject.items()}, config)
    trials: dict[int, tuple[Trial, ...]] = {}
    for idx, per_recording in zip(by_subject.values(), labelled, strict=True):
        trials.update({i: tuple(t) for i, t in zip(idx, per_recording, strict=True)})
    return [k[:3] for k in kept], [trials[i] for i in range(len(kept))], failures


def _assign(
    path: Path,
    rel: str,
    config: DiscoveryConfig,
    patterns: tuple[re.Pattern | None, re.Pattern | None],
    bids: bool,
    table: Mapping[str, Mapping[str, str]] | None,
) -> tuple[str, str | None]:
    """Return ``(subject, label)`` for one file; raise RecordingError("discover") if impossible.

    The subject is returned as found; :func:`discover` makes it filesystem-safe.
    """
    subject_re, label_re = patterns
    stem = _strip_extension(path)
    row: Mapping[str, str] = {}
    if table is not None:
        row = next((table[k] for k in _names(path, rel) if k in table), None)
        if row is None:
            raise RecordingError("discover", f"{rel}: not listed in labels CSV {config.labels_csv}")
    entities = dict(_BIDS_ENTITY.findall(path.name)) if bids else {}
    if bids and "sub" not in entities and "subject" not in row:
        raise RecordingError("discover", f"{rel}: BIDS file name has no sub- entity")

    subject = row.get("subject")
    if subject is None and subject_re is not None:
        match = subject_re.search(path.name)
        if match is None or not match.group("subject"):
            raise RecordingError(
                "discover",
                f"{rel}: file name does not match subject_pattern {subject_re.pattern!r}",
            )
        subject = match.group("subject")
    if subject is None:
        subject = f"sub-{entities['sub']}" if "sub" in entities else stem

    label = row.get("label")
    if label is None and label_re is not None:
        match = label_re.search(path.name)
        if match is None or not match.group("label"):
            raise RecordingError(
                "discover", f"{rel}: file name does not match label_pattern {label_re.pattern!r}"
            )
        label = match.group("label")
    if label is None:
        label = entities.get("task")
    if label is not None and config.label_map:
        if label not in config.label_map:
            raise RecordingError(
                "discover",
                f"{rel}: label {label!r} is not in label_map "
                f"(known: {', '.join(sorted(config.label_map))})",
            )
        label = config.label_map[label]
    return subject, label


def _ids(paths: list[Path], root: Path) -> list[str]:
    """The id of each file, before ids that clash once made safe are told apart."""
    stems = [_safe(_strip_extension(p)) for p in paths]
    counts = collections.Counter(s.lower() for s in stems)
    ids = []
    for p, stem in zip(paths, stems, strict=True):
        rel = p.relative_to(root)
        long_id = _safe("__".join([*rel.parts[:-1], _strip_extension(p)]))
        ids.append(stem if counts[stem.lower()] == 1 else long_id)
    return ids


def _tell_apart(what: str, names: list[str], keys: list[str]) -> tuple[list[str], list[str]]:
    """Make safe ``names`` that stand for different ``keys`` different, saying why.

    Names shared (case-insensitively: some file systems ignore case) by different keys,
    whose original names differ only in characters a file name under OUT cannot hold
    (``rec 1.edf`` and ``rec_1.edf``, ``Sübject`` and ``Säbject``), all get ``-`` and
    the first 8 hexadecimal characters of the SHA-1 of their key: the same in every
    run, whatever the order files are found in.

    Returns
    -------
    names : list of str
        The names, unique per key.
    notes : list of str
        One line per name that was changed ("" for the others).
    """
    groups: dict[str, set[str]] = collections.defaultdict(set)
    for name, key in zip(names, keys, strict=True):
        groups[name.lower()].add(key)
    unique, notes = [], []
    for name, key in zip(names, keys, strict=True):
        clash = groups[name.lower()]
        if len(clash) == 1:
            unique.append(name)
            notes.append("")
            continue
        unique.append(f"{name}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:8]}")
        others = ", ".join(repr(k) for k in sorted(clash) if k != key)
        notes.append(
            f"{what} {unique[-1]} for {key!r}, which would otherwise share the {what} "
            f"{name!r} with {others}"
        )
    return unique, notes


def discover(
    raw: str | Path, config: DiscoveryConfig | None = None
) -> tuple[list[Recording], list[tuple[Path, str]]]:
    """Find the recordings under ``raw`` and assign each a subject and a label.

    Parameters
    ----------
    raw : path-like
        A recording file, a folder searched recursively (in sorted order, following
        symbolic links to folders except those that loop), or a BIDS dataset (detected
        by its ``dataset_description.json``). Hidden files and continuation parts of
        split FIF files are skipped.
    config : DiscoveryConfig | None
        Patterns, label map and labels CSV; defaults to :class:`DiscoveryConfig()`.

    Returns
    -------
    recordings : list of Recording
        The recordings whose subject and label could be determined, in path order.
    failures : list of (Path, str)
        Files that could not be assigned (name does not match a pattern, not in the
        labels CSV or without rows in a per-trial one, label not in the label map),
        symbolic links that cannot be opened (a loop, a missing target) and files
        reached a second time through a link, with the reason.

    Warns
    -----
    UserWarning
        For each recording whose id was told apart from another's (see
        :attr:`Recording.id`), and for each symbolic link loop not followed.

    Raises
    ------
    EegemoError
        If ``raw`` does not exist or contains no recordings.
    ConfigError
        If a pattern or the labels CSV is invalid.
    """
    config = config if config is not None else DiscoveryConfig()
    patterns = compile_patterns(config)
    raw = Path(raw)
    supported = " ".join(RECORDING_EXTENSIONS)
    if not raw.exists():
        raise EegemoError(f"{raw}: no such file or folder")
    bids = _is_bids(raw, config)
    paths, failures = _find_files(raw, bids)
    if not paths and not failures:
        what = "is not a recording" if raw.is_file() else "contains no recordings"
        raise EegemoError(f"{raw} {what} (supported file types: {supported})")
    ratings = table = None
    if config.labels_csv and is_trial_table(config.labels_csv):
        ratings = read_ratings(config.labels_csv, config.ratings)
    elif config.labels_csv:
        table = read_labels_csv(config.labels_csv)
    root = raw.parent if raw.is_file() else raw

    assigned: list[tuple[Path, str, str | None]] = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        try:
            subject, label = _assign(path, rel, config, patterns, bids, table)
        except RecordingError as exc:
            failures.append((path, exc.message))
            continue
        assigned.append((path, subject, label))
    trials: list[tuple[Trial, ...]] = [()] * len(assigned)
    if ratings is not None:
        assigned, trials, unrated = _rated_trials(assigned, root, ratings, config.ratings)
        failures += unrated
    rels = [a[0].relative_to(root).as_posix() for a in assigned]
    ids, id_notes = _tell_apart("id", _ids([a[0] for a in assigned], root), rels)
    raw_subjects = [a[1] for a in assigned]
    subjects, subject_notes = _tell_apart("subject", [_safe(s) for s in raw_subjects], raw_subjects)
    clashing = [rid for rid, n in collections.Counter(i.lower() for i in ids).items() if n > 1]
    if clashing:  # a hashed id equal to another file's own name: never by accident
        names = [rel for rel, rid in zip(rels, ids, strict=True) if rid.lower() in clashing]
        raise EegemoError(f"{raw}: cannot give {', '.join(names)} distinct ids; rename one")
    recordings = []
    for (path, _, label), rid, subject, rated, *notes in zip(
        assigned, ids, subjects, trials, id_notes, subject_notes, strict=True
    ):
        recordings.append(
            Recording(path, rid, subject, label, tuple(filter(None, notes)), rated)
        )
    for note in dict.fromkeys(n for rec in recordings for n in rec.notes):
        warnings.warn(note, stacklevel=2)
    if bids and recordings:
        from .bids import MISSING_NOTE, bids_root, have_mne_bids

        if not have_mne_bids() and bids_root(recordings[0].path) is not None:
            warnings.warn(f"{raw}: {MISSING_NOTE}", stacklevel=2)
    return recordings, failures


def _short(exc: BaseException, limit: int = 160) -> str:
    return first_line(exc, limit)


def _check_edf_length(path: Path) -> None:
    """Raise if an EDF/BDF file holds fewer data records than its header announces.

    MNE reads such a file silently up to where it ends; a recording cut short by a
    crashed acquisition or an interrupted copy must not pass as complete.
    """
    bytes_per_sample = 3 if path.suffix.lower() == ".bdf" else 2
    with open(path, "rb") as fh:
        fixed = fh.read(256)
        try:
            n_records = int(fixed[236:244].decode("ascii").strip())
            n_signals = int(fixed[252:256].decode("ascii").strip())
            header_bytes = 256 * (n_signals + 1)
            fh.seek(256 + 216 * n_signals)
            per_record = sum(int(fh.read(8).decode("ascii").strip() or 0) for _ in range(n_signals))
        except (ValueError, UnicodeDecodeError):
            return  # malformed header: the reader reports it
    if n_records <= 0 or per_record <= 0:
        return
    record_bytes = per_record * bytes_per_sample
    complete = (path.stat().st_size - header_bytes) // record_bytes
    if complete < n_records:
        raise RecordingError(
            "read",
            f"cannot read {path.name}: file is truncated (header announces {n_records} data "
            f"records, the file holds {max(complete, 0)})",
        )


def read_raw(path: str | Path) -> mne.io.BaseRaw:
    """Read a recording in any format MNE reads, with every failure made specific.

    Parameters
    ----------
    path : path-like
        The recording file.

    Returns
    -------
    raw : mne.io.BaseRaw
        The data, preloaded.

    Raises
    ------
    RecordingError
        With stage ``"read"`` if the file is missing, of an unsupported type, truncated
        (EDF/BDF holding fewer data records than announced) or corrupt, refers to a
        missing side file, or holds no samples.
    """
    import mne

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise RecordingError("read", f"{path}: file not found")
    if recording_extension(path) is None:
        raise RecordingError(
            "read",
            f"{name}: unsupported file type (supported: {' '.join(RECORDING_EXTENSIONS)})",
        )
    if path.stat().st_size == 0:
        raise RecordingError("read", f"cannot read {name}: file is empty (0 bytes)")
    if recording_extension(path) in (".edf", ".bdf"):
        _check_edf_length(path)
    from .bids import bids_root, have_mne_bids, read_bids

    root = bids_root(path)
    raw = read_bids(path, root) if root is not None and have_mne_bids() else None
    if raw is not None:
        _check_not_empty(raw, name)
        return raw
    try:
        raw = mne.io.read_raw(path, preload=True, verbose="error")
    except FileNotFoundError as exc:
        raise RecordingError(
            "read", f"cannot read {name}: a file it refers to is missing ({_short(exc)})"
        ) from None
    except MemoryError:
        raise RecordingError("read", f"cannot read {name}: not enough memory") from None
    except Exception as exc:  # readers raise anything from ValueError to struct.error
        raise RecordingError(
            "read", f"cannot read {name}: file is truncated or corrupt ({_short(exc)})"
        ) from None
    _check_not_empty(raw, name)
    return raw


def _check_not_empty(raw: mne.io.BaseRaw, name: str) -> None:
    if raw.n_times == 0 or len(raw.ch_names) == 0:
        raise RecordingError(
            "read",
            f"{name}: recording holds no data ({len(raw.ch_names)} channels, "
            f"{raw.n_times} samples)",
        )
