"""Content hashes: how eegemo tells that a file is the one it wrote or read before."""

from __future__ import annotations

import hashlib
import os


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Return the hexadecimal SHA-256 of a file's bytes.

    Parameters
    ----------
    path : path-like
        The file.
    chunk : int
        Bytes read at a time.

    Returns
    -------
    digest : str
        64 hexadecimal characters.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
