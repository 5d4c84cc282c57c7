"""Read recordings of a BIDS dataset through mne-bids, honouring its sidecar files.

With `mne-bids <https://mne.tools/mne-bids>`_ installed, a recording inside a BIDS
dataset is read with :func:`mne_bids.read_raw_bids`: channel types and bad channels
from ``channels.tsv``, electrode positions from ``electrodes.tsv``, annotations from
``events.tsv`` (``trial_type``), the line frequency from ``PowerLineFrequency`` in
``*_eeg.json`` and the subject's row of ``participants.tsv``. What was taken from the
sidecars is kept on the recording as :data:`ATTRIBUTE` (a dict) for
:func:`~eegemo.eeg.channels.prepare_channels`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RecordingError, first_line

if TYPE_CHECKING:
    import mne

#: Name of the attribute of a recording read through mne-bids holding its sidecar facts.
ATTRIBUTE = "_eegemo_bids"

#: Said once when a BIDS dataset is read without mne-bids.
MISSING_NOTE = (
    "BIDS dataset read as plain files: install mne-bids (pip install 'eegemo[bids]') to "
    "honour channels.tsv, electrodes.tsv, events.tsv and PowerLineFrequency"
)


def have_mne_bids() -> bool:
    """Whether mne-bids can be imported."""
    return importlib.util.find_spec("mne_bids") is not None


def bids_root(path: str | Path) -> Path | None:
    """The BIDS dataset holding ``path``: the nearest folder above it with a
    ``dataset_description.json`` and ``path`` below a ``sub-*`` folder; else ``None``.

    Parameters
    ----------
    path : path-like
        A recording file.

    Returns
    -------
    root : Path | None
        The dataset's root folder.
    """
    path = Path(path).absolute()
    for parent in path.parents:
        if (parent / "dataset_description.json").is_file():
            rel = path.relative_to(parent).parts
            return parent if len(rel) > 1 and rel[0].startswith("sub-") else None
    return None


def participant(root: Path, subject: str) -> dict[str, str] | None:
    """The subject's row of the dataset's ``participants.tsv``, or ``None``.

    Parameters
    ----------
    root : Path
        The BIDS root.
    subject : str
        The subject label, without ``sub-``.

    Returns
    -------
    row : dict | None
        Column -> value as written (``"n/a"`` included), without ``participant_id``;
        ``None`` when the file or the subject's row is missing.
    """
    import csv

    path = root / "participants.tsv"
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row.get("participant_id") == f"sub-{subject}":
                return {k: v for k, v in row.items() if k and k != "participant_id"}
    return None


def sidecar_facts(raw: mne.io.BaseRaw) -> dict[str, Any] | None:
    """The sidecar facts of a recording read by :func:`read_bids`, or ``None``."""
    return getattr(raw, ATTRIBUTE, None)


def read_bids(path: Path, root: Path) -> mne.io.BaseRaw | None:
    """Read one recording of a BIDS dataset with :func:`mne_bids.read_raw_bids`.

    Parameters
    ----------
    path : Path
        The recording file (below ``root``).
    root : Path
        The BIDS root.

    Returns
    -------
    raw : mne.io.BaseRaw | None
        ``None`` when the file name is not a BIDS name (no ``sub-`` entity or no
        suffix such as ``_eeg``). Else the data, preloaded, with :data:`ATTRIBUTE`
        set to a dict with ``root``, ``subject``, ``session``, ``run``, ``task``,
        ``bads`` (from channels.tsv), ``line_freq`` (PowerLineFrequency, or None),
        ``electrodes`` (whether electrodes.tsv gave the positions), ``events``
        (whether events.tsv was read) and ``participant`` (see :func:`participant`).

    Raises
    ------
    RecordingError
        With stage ``"read"`` if mne-bids cannot read the recording or its sidecars.
    """
    import mne_bids

    name = path.name
    try:
        bids_path = mne_bids.get_bids_path_from_fname(path)
        bids_path.update(root=root)
    except Exception:  # not a BIDS file name: the caller reads it as a plain file
        return None
    if bids_path.subject is None or bids_path.suffix is None:
        return None
    try:
        raw = mne_bids.read_raw_bids(bids_path, verbose="error")
        raw.load_data(verbose="error")
    except MemoryError:
        raise RecordingError("read", f"cannot read {name}: not enough memory") from None
    except Exception as exc:  # mne-bids raises anything from ValueError to RuntimeError
        raise RecordingError(
            "read", f"cannot read {name} with mne-bids: {first_line(exc, 160)}"
        ) from None
    electrodes = any(path.parent.glob(f"sub-{bids_path.subject}*_electrodes.tsv"))
    events = bids_path.copy().update(suffix="events", extension=".tsv")
    line_freq = raw.info["line_freq"]
    setattr(
        raw,
        ATTRIBUTE,
        {
            "root": str(root),
            "subject": bids_path.subject,
            "session": bids_path.session,
            "run": bids_path.run,
            "task": bids_path.task,
            "bads": list(raw.info["bads"]),
            "line_freq": float(line_freq) if line_freq else None,
            "electrodes": electrodes,
            "events": Path(str(events.fpath)).is_file(),
            "participant": participant(root, bids_path.subject),
        },
    )
    return raw
