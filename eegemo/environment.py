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


#: Optional libraries: module -> (distribution on the package index, eegemo extra).
OPTIONAL = {
    "cv2": ("opencv-python-headless", "face"),
    "timm": ("timm", "face"),
    "facenet_pytorch": ("facenet-pytorch", "mtcnn"),
}


def import_optional(module: str, purpose: str):
    """Import a library of an eegemo extra, or say in one line how to install it.

    Parameters
    ----------
    module : str
        A module of a library of :data:`OPTIONAL` (``"cv2"``, ``"timm.layers"``).
    purpose : str
        What needs it, for the message (``"face detection"``).

    Returns
    -------
    module : module

    Raises
    ------
    EegemoError
        When the library is not installed.
    """
    from .errors import EegemoError

    try:
        return importlib.import_module(module)
    except ImportError:
        package, extra = OPTIONAL[module.split(".")[0]]
        raise EegemoError(
            f"{purpose}: {package} is not installed (pip install 'eegemo[{extra}]')"
        ) from None
