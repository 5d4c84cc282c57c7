"""The step cache of ``eegemo preprocess``: a key per step and the cleaned recordings.

Each step of a recording has its own key, a hash of what that step depends on and
of the key of the step before it::

    clean       the input files' bytes (size and SHA-256, not their location), line_freq,
                [channels], [[stages]] and the eegemo version
    epochs      the clean key, [epochs], the recording's label and its rated trials
    bandpower   the epochs key and [bandpower]
    topomap     the bandpower key and [topomap] (png included)
    physio      the epochs key and [physio]
    outputs     the topomap and physio keys, the recording's id and subject (they name
                the files)

Discovery settings and execution settings (jobs, backend, on-error) are in no key:
a moved labels table that gives the same labels changes nothing.

The ``clean`` step, the expensive one (reading, filtering, ICA), is kept on disk::

    OUT/clean/<id>_raw.fif    the cleaned recording, all channels, float64
    OUT/clean/<id>-ica.fif    its fitted ICA (when the pipeline has an ica stage)
    OUT/clean/<id>.json       the clean key, the files with their SHA-256, the channel
                              and stage records; written last, it marks the step complete

Beside them, ``OUT/clean/<id>-epo.fif`` holds the kept epochs when asked for
(``save_epochs``): an output of the recording, listed in its provenance, not part of
this cache.

Epochs, band power, topomaps and heart features are derived from the saved file, so
whether it was computed in this run or an earlier one, the outputs are the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..atomic import atomic_path, write_json
from ..config import to_dict
from ..integrity import sha256_file
from .bids import bids_root
from .io import Recording

if TYPE_CHECKING:
    import mne

    from .settings import PreprocessConfig

#: Side files whose bytes belong to a recording (they hold its data or events).
SIDE_SUFFIXES = {".vhdr": (".eeg", ".vmrk"), ".set": (".fdt",)}

#: The steps with a key, in order; ``outputs`` names the files of the last one.
STEPS = ("clean", "epochs", "bandpower", "topomap", "physio", "outputs")

#: Folder under OUT holding the cleaned recordings.
CLEAN_DIR = "clean"


def input_files(path: str | Path) -> list[Path]:
    """The recording file and the side files beside it that hold its data.

    Parameters
    ----------
    path : path-like
        The recording (for BrainVision the ``.vhdr``, for EEGLAB the ``.set``).

    Returns
    -------
    files : list of Path
        ``path`` first, then existing side files with the same stem (``.eeg``,
        ``.vmrk``, ``.fdt``), then, for a BIDS recording (``sub-<label>[_ses-<label>]_...
        _eeg.<ext>``), the ``.tsv`` and ``.json`` sidecars beside it of the same subject
        and session (``channels.tsv``, ``events.tsv``, ``electrodes.tsv``, ...), whose
        bad channels, events and positions are read with the recording, and the
        dataset's ``participants.tsv``, whose row is kept in the provenance.
    """
    path = Path(path)
    files = [path]
    for suffix in SIDE_SUFFIXES.get(path.suffix.lower(), ()):
        for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
            if candidate.is_file():
                files.append(candidate)
                break
    bids = _BIDS_PREFIX.match(path.name)
    if bids is not None:
        files += sorted(
            f for f in path.parent.glob(f"{bids.group(0)}*")
            if f.suffix.lower() in (".tsv", ".json") and f.is_file() and f not in files
        )
        root = bids_root(path)
        if root is not None and (root / "participants.tsv").is_file():
            files.append(root / "participants.tsv")
    return files


# The subject (and session) entities a BIDS recording's sidecars share with it.
_BIDS_PREFIX = re.compile(r"sub-[A-Za-z0-9]+(_ses-[A-Za-z0-9]+)?(?=_.*_eeg\.)")


def describe_inputs(recording: Recording) -> list[dict[str, Any]]:
    """Name, size and SHA-256 of every file of ``recording`` (see :func:`input_files`)."""
    return [
        {"path": str(f), "size": f.stat().st_size, "sha256": sha256_file(f)}
        for f in input_files(recording.path)
    ]


def _digest(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def step_keys(
    recording: Recording, config: PreprocessConfig, inputs: list[dict[str, Any]] | None = None
) -> dict[str, str]:
    """The key of every step of ``recording`` (see the module description).

    Parameters
    ----------
    recording : Recording
        The recording.
    config : PreprocessConfig
        The preprocessing configuration.
    inputs : list of dict, optional
        Output of :func:`describe_inputs`, to avoid hashing the files twice.

    Returns
    -------
    keys : dict
        Step name (:data:`STEPS`) -> 64 hexadecimal characters.
    """
    inputs = inputs if inputs is not None else describe_inputs(recording)
    sections = to_dict(config)
    keys = {
        "clean": _digest(
            {
                "eegemo": __version__,
                "inputs": [{"size": f["size"], "sha256": f["sha256"]} for f in inputs],
                **{name: sections[name] for name in ("line_freq", "channels", "stages")},
            }
        )
    }
    epochs = {"clean": keys["clean"], "epochs": sections["epochs"], "label": recording.label}
    if recording.trials:  # the rated trials, by their bounds or events and labels
        epochs["trials"] = [[t.event, t.onset_s, t.offset_s, t.label] for t in recording.trials]
    keys["epochs"] = _digest(epochs)
    # the digest sorts keys, and the order of the bands is the order of the arrays
    keys["bandpower"] = _digest({"epochs": keys["epochs"], "bandpower": sections["bandpower"],
                                 "band_order": list(config.bandpower.bands)})
    keys["topomap"] = _digest({"bandpower": keys["bandpower"], "topomap": sections["topomap"]})
    keys["physio"] = _digest({"epochs": keys["epochs"], "physio": sections["physio"]})
    keys["outputs"] = _digest(
        {
            "topomap": keys["topomap"],
            "physio": keys["physio"],
            "id": recording.id,
            "subject": recording.subject,
        }
    )
    return keys


def cache_key(
    recording: Recording, config: PreprocessConfig, inputs: list[dict[str, Any]] | None = None
) -> str:
    """Hash of everything that determines a recording's outputs: its ``outputs`` step key.

    Parameters
    ----------
    recording, config, inputs
        As for :func:`step_keys`.

    Returns
    -------
    key : str
        64 hexadecimal characters.
    """
    return step_keys(recording, config, inputs)["outputs"]


def clean_paths(recording_id: str) -> dict[str, str]:
    """Paths of a recording's cleaned files relative to OUT (POSIX), by kind."""
    base = f"{CLEAN_DIR}/{recording_id}"
    return {"raw": f"{base}_raw.fif", "ica": f"{base}-ica.fif", "record": f"{base}.json"}


def read_clean(out_dir: str | Path, recording_id: str, key: str) -> dict[str, Any] | None:
    """The record of a cleaned recording stored for ``key``, if it is there and intact.

    Parameters
    ----------
    out_dir : path-like
        The output folder (``OUT``).
    recording_id : str
        The recording's id.
    key : str
        Its current ``clean`` step key.

    Returns
    -------
    record : dict | None
        What :func:`write_clean` stored; ``None`` when the record is missing, was made
        for another key, or a file it lists is missing or changed.
    """
    out_dir = Path(out_dir)
    try:
        with open(out_dir / clean_paths(recording_id)["record"], encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return None
    if record.get("key") != key:
        return None
    for entry in record["files"].values():
        path = out_dir / entry["path"]
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            return None
    return record


def write_clean(
    out_dir: str | Path,
    recording_id: str,
    key: str,
    raw: mne.io.BaseRaw,
    ica: Any,
    record: dict[str, Any],
) -> dict[str, Any]:
    """Save a cleaned recording, its ICA and its record under ``OUT/clean/``, atomically.

    Any earlier record of the recording is removed first and the new one written
    last, so a killed run never leaves a record pointing at other files.

    Parameters
    ----------
    out_dir : path-like
        The output folder (``OUT``).
    recording_id : str
        The recording's id.
    key : str
        Its ``clean`` step key.
    raw : mne.io.BaseRaw
        The cleaned recording, saved in double precision so reading it back gives the
        same numbers.
    ica : mne.preprocessing.ICA | None
        The fitted ICA, or ``None`` when the pipeline has no ica stage.
    record : dict
        JSON-compatible facts to keep with it (channel and stage records, warnings).

    Returns
    -------
    record : dict
        ``record`` with ``key`` and ``files`` (path relative to OUT and SHA-256 of each
        file) added, as written.
    """
    out_dir = Path(out_dir)
    paths = clean_paths(recording_id)
    (out_dir / paths["record"]).unlink(missing_ok=True)
    (out_dir / paths["ica"]).unlink(missing_ok=True)
    with atomic_path(out_dir / paths["raw"]) as tmp:
        raw.save(tmp, fmt="double", verbose="error")
    files = {"raw": paths["raw"]}
    if ica is not None:
        with atomic_path(out_dir / paths["ica"]) as tmp:
            ica.save(tmp, verbose="error")
        files["ica"] = paths["ica"]
    record = {
        **record,
        "key": key,
        "files": {
            kind: {"path": path, "sha256": sha256_file(out_dir / path)}
            for kind, path in files.items()
        },
    }
    write_json(out_dir / paths["record"], record)
    return record


def remove_clean(out_dir: str | Path, recording_id: str) -> None:
    """Delete a recording's cleaned files (its record first)."""
    paths = clean_paths(recording_id)
    for kind in ("record", "raw", "ica"):
        (Path(out_dir) / paths[kind]).unlink(missing_ok=True)
