"""The machine and the library versions a result was computed with."""

from __future__ import annotations

import importlib
import os
import platform

#: Libraries whose versions shape eegemo's numbers, recorded in provenance and run folders.
VERSIONED = ("mne", "numpy", "scipy", "torch")


def available_cores() -> int:
    """CPU cores this process may run on (respects affinity masks and containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def versions(*libraries: str) -> dict[str, str]:
    """Versions of eegemo, Python and the given libraries.

    Parameters
    ----------
    *libraries : str
        Importable module names (``"mne"``, ``"torch"``, ...); every name of
        :data:`VERSIONED` when none is given. A library that is not installed is
        reported as ``"not installed"``.

    Returns
    -------
    versions : dict
        ``{"eegemo": ..., <library>: ..., "python": ...}``.
    """
    from . import __version__

    found = {"eegemo": __version__}
    for name in libraries or VERSIONED:
        try:
            found[name] = str(importlib.import_module(name).__version__)
        except ImportError:
            found[name] = "not installed"
    found["python"] = platform.python_version()
    return found
