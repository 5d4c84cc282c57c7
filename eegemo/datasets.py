"""Fetch public data sets that have a plain public download address.

Only PhysioNet's mental-arithmetic set (``eegmat``) is downloadable without an
account; the others in ``data/README.md`` need a licence agreement and are placed
by hand. Nothing here is run by the tests (there is no network there).
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

from .atomic import atomic_path
from .errors import EegemoError
from .integrity import sha256_file

EEGMAT_URL = "https://physionet.org/files/eegmat/1.0.0/"


def fetch_eegmat(dest: str | Path, base_url: str = EEGMAT_URL) -> list[Path]:
    """Download the PhysioNet ``eegmat`` 1.0.0 recordings and verify their checksums.

    Files already present with the right SHA-256 are kept; each download is
    written under a temporary name and renamed, so an interrupted fetch resumes.

    Parameters
    ----------
    dest : path-like
        Folder to place ``SubjectNN_1.edf``, ``SubjectNN_2.edf`` and
        ``subject-info.csv`` in.
    base_url : str
        Mirror of the PhysioNet folder (must serve ``SHA256SUMS.txt``).

    Returns
    -------
    paths : list of Path
        The verified files.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(base_url + "SHA256SUMS.txt", timeout=60) as resp:
            sums = resp.read().decode()
    except OSError as exc:
        raise EegemoError(f"cannot reach {base_url}: {exc}") from None
    paths = []
    for line in sums.splitlines():
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")
        if not (name.endswith(".edf") or name == "subject-info.csv"):
            continue
        target = dest / name
        if not (target.exists() and sha256_file(target) == digest):
            with atomic_path(target) as tmp:
                urllib.request.urlretrieve(base_url + name, tmp)
                if sha256_file(tmp) != digest:
                    raise EegemoError(f"{name}: checksum mismatch after download from {base_url}")
        paths.append(target)
    return paths
