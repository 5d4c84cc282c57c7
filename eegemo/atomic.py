"""Write files under a temporary name and rename them into place.

A killed process therefore never leaves a half-written file that looks finished:
either the old file (or none) is there, or the complete new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

#: Marker in the name of every temporary file eegemo writes; only files carrying it are
#: ever removed as left-overs of an interrupted run.
TEMP_MARKER = "tmp-eegemo"

# .<final name>.tmp-eegemo-<pid>-<8 hex><final suffix>
_TEMP_NAME = re.compile(rf"^\..+\.{TEMP_MARKER}-\d+-[0-9a-f]{{8}}(\.[^.]+)?$")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : path-like
        Final destination. Its parent folder is created if needed.

    Yields
    ------
    tmp : Path
        Where to write. Removed if the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    tmp = path.with_name(f".{path.name}.{TEMP_MARKER}-{token}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file for writing; rename it onto ``path`` when closed cleanly."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")


def write_csv(
    path: str | os.PathLike, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> None:
    """Write ``rows`` as a CSV table with a header of ``columns``, atomically.

    Lines end in ``\n``; a column missing from a row is an empty cell.
    """
    import csv

    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_npy(path: str | os.PathLike, array: Any) -> None:
    """Save a numpy array to ``path`` atomically (no pickled objects allowed)."""
    import numpy as np

    with atomic_open(path, "wb") as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a temporary file written by :func:`atomic_path`."""
    return _TEMP_NAME.match(Path(path).name) is not None


def remove_stale_temporaries(*folders: str | os.PathLike) -> int:
    """Delete the temporary files a killed run of eegemo left in ``folders``.

    Only files directly inside the given folders (not in their subfolders) whose name
    carries eegemo's marker (:func:`is_temporary`) are removed: whatever else the user
    keeps there, hidden or not, stays. Missing folders are skipped.

    Parameters
    ----------
    *folders : path-like
        The folders eegemo writes into.

    Returns
    -------
    n : int
        How many files were removed.
    """
    n = 0
    for folder in folders:
        if not Path(folder).is_dir():
            continue
        for tmp in Path(folder).iterdir():
            if is_temporary(tmp) and tmp.is_file() and not tmp.is_symlink():
                tmp.unlink()
                n += 1
    return n
