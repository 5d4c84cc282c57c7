"""Epoch rejection with local, per-channel thresholds learnt by autoreject.

autoreject (Jas et al., "Autoreject: Automated artifact rejection for MEG and EEG
data", NeuroImage 159, 2017) learns one peak-to-peak threshold per channel by
cross-validation. In each epoch the channels above their threshold are bad: when at
least a learnt fraction (the consensus) of the channels are bad the epoch is dropped,
otherwise its worst bad channels, up to a learnt number, are interpolated with
spherical splines. It is an optional dependency: :func:`require_autoreject` says how
to install it.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, RecordingError, first_line

if TYPE_CHECKING:
    import mne

#: What to do when autoreject is missing.
INSTALL_HINT = "pip install autoreject"


def require_autoreject(key: str = "epochs.reject.method") -> None:
    """Check that autoreject can be imported.

    Parameters
    ----------
    key : str
        The configuration key that asks for autoreject, which the message starts with
        (``"method"`` inside :class:`~eegemo.eeg.settings.RejectConfig`, whose loader
        prefixes the section).

    Raises
    ------
    ConfigError
        When it cannot, with the command that installs it.
    """
    if importlib.util.find_spec("autoreject") is None:
        raise ConfigError(f'{key}: "autoreject" needs the autoreject package ({INSTALL_HINT})')


def autoreject_epochs(
    epochs: mne.BaseEpochs, *, cv: int = 10, random_state: int = 97, n_jobs: int = 1
) -> tuple[mne.BaseEpochs, dict[str, Any]]:
    """Drop or repair the bad epochs of ``epochs`` with autoreject's local thresholds.

    Parameters
    ----------
    epochs : mne.BaseEpochs
        Preloaded EEG epochs with electrode positions (channels of other types are left
        as they are).
    cv : int
        Folds of the cross-validation that chooses the thresholds, the consensus and
        the number of channels to interpolate; at most the number of epochs.
    random_state : int
        Seed of the threshold search, so that results are reproducible.
    n_jobs : int
        Parallel jobs of the threshold search.

    Returns
    -------
    clean : mne.BaseEpochs
        A copy of the kept epochs, their bad channels interpolated; its ``drop_log``
        gives ``"AUTOREJECT"`` for the epochs dropped.
    record : dict
        ``method`` ("autoreject"), ``version`` (of autoreject), ``rule`` (in words),
        ``thresholds_uv`` {channel: peak-to-peak threshold in µV}, ``consensus``
        (fraction of channels), ``n_interpolate``, ``dropped`` (indices, in ``epochs``,
        of the epochs dropped) and ``interpolated`` (number of channels interpolated,
        summed over the kept epochs).

    Raises
    ------
    ConfigError
        When autoreject is not installed.
    RecordingError
        Stage ``"epochs"`` when there are fewer than 2 epochs, or autoreject cannot
        clean them (fewer than 4 EEG channels, every epoch bad).
    """
    require_autoreject()
    import mne
    import numpy as np
    from autoreject import AutoReject, __version__

    n = len(epochs)
    if n < 2:
        raise RecordingError(
            "epochs", f"autoreject needs at least 2 epochs to cross-validate, got {n}"
        )
    folds = min(cv, n)
    model = AutoReject(
        cv=folds, picks="eeg", random_state=random_state, n_jobs=n_jobs, verbose=False
    )
    try:
        # autoreject averages empty cross-validation slices on the way (numpy warns).
        with mne.utils.use_log_level("error"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            clean, log = model.fit_transform(epochs, return_log=True)
    except ValueError as exc:  # too few channels, every epoch bad, ...
        raise RecordingError(
            "epochs", f"autoreject could not clean the {n} epochs: {first_line(exc)}"
        ) from None
    consensus = round(float(model.consensus_["eeg"]), 6)
    n_interpolate = int(model.n_interpolate_["eeg"])
    kept = ~np.asarray(log.bad_epochs, bool)
    record = {
        "method": "autoreject",
        "version": __version__,
        "rule": (
            f"autoreject ({folds}-fold cross-validation): per-channel peak-to-peak "
            f"thresholds; an epoch is dropped when at least {consensus:.0%} of its "
            f"channels exceed theirs, otherwise up to {n_interpolate} of those are "
            "interpolated"
        ),
        "thresholds_uv": {ch: round(float(t) * 1e6, 3) for ch, t in model.threshes_.items()},
        "consensus": consensus,
        "n_interpolate": n_interpolate,
        "dropped": [int(i) for i in np.flatnonzero(~kept)],
        "interpolated": int(np.sum(log.labels[kept] == 2)),
    }
    return clean, record
