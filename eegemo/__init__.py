"""eegemo: emotion recognition research toolkit for EEG topomaps and facial expressions.

The entry points a notebook needs are available from the package itself, imported
when first used, so that ``import eegemo`` stays light (no MNE, no PyTorch):

========================  =========================================================
``preprocess_raw``        one recording (an ``mne.io.Raw`` or a file) to MNE objects
``PreprocessResult``      what it returns: cleaned Raw, ICA, Epochs, arrays, provenance
``PreprocessConfig``      the preprocessing configuration (a ``pipelines/*.toml`` file)
``load_config``           read a TOML configuration with ``key=value`` overrides
``preprocess``            a whole folder to OUT, in parallel (``eegemo preprocess``)
``simulate_recording``    a simulated EEG recording (with EOG and ECG) as ``mne.io.Raw``
``load_train_config``     a training configuration (``eegemo train --config``)
``train_run``             train and write a run folder (``eegemo train``)
``evaluate_checkpoint``   score a trained model on new data (``eegemo evaluate``)
``load_model``            a trained model and its metadata from a run folder
========================  =========================================================
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> module defining it, imported on first access.
_LAZY = {
    "preprocess_raw": "eegemo.eeg.api",
    "PreprocessResult": "eegemo.eeg.api",
    "PreprocessConfig": "eegemo.eeg.settings",
    "load_config": "eegemo.config",
    "preprocess": "eegemo.eeg.batch",
    "simulate_recording": "eegemo.eeg.simulate",
    "load_train_config": "eegemo.train.settings",
    "train_run": "eegemo.train.experiment",
    "evaluate_checkpoint": "eegemo.train.experiment",
    "load_model": "eegemo.train.checkpoint",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import the entry point ``name`` from its module on first access."""
    if name not in _LAZY:
        raise AttributeError(f"module 'eegemo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the entry points not yet imported included."""
    return sorted({*globals(), *_LAZY})
