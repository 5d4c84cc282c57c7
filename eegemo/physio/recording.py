"""The heart channel of a cleaned recording and its features for every epoch.

``eegemo preprocess`` keeps ECG channels (MNE type ``ecg``) and PPG channels beside
the EEG. MNE has no PPG type: eegemo gives PPG channels the type ``bio`` and keeps no
other ``bio`` channel, so in a cleaned recording every ``bio`` channel is a PPG.
:func:`epoch_features` picks the heart channel with the most usable epochs and
describes each epoch with :func:`~eegemo.physio.heart.heart_features`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .heart import HeartConfig, HeartFeatures, heart_features

if TYPE_CHECKING:
    import mne

#: The MNE channel type eegemo gives PPG (photoplethysmogram, blood volume pulse) channels.
PPG_TYPE = "bio"
#: MNE channel type -> heart signal kind, in order of preference.
HEART_TYPES = {"ecg": "ecg", PPG_TYPE: "ppg"}


def heart_channels(raw: mne.io.BaseRaw) -> list[tuple[str, str]]:
    """The heart channels of a recording with their kind, ECG first.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        A recording after channel hygiene.

    Returns
    -------
    channels : list of (str, str)
        Channel name and ``"ecg"`` or ``"ppg"``, ECG channels first, each kind in
        recording order.
    """
    types = raw.get_channel_types()
    return [
        (name, kind)
        for mne_type, kind in HEART_TYPES.items()
        for name, ch_type in zip(raw.ch_names, types, strict=True)
        if ch_type == mne_type
    ]


@dataclasses.dataclass
class PhysioResult:
    """Heart features of a recording's epochs and their provenance record.

    Attributes
    ----------
    values : ndarray of float32, shape (n_epochs, n_features)
        One row per epoch, NaN where the heart signal is unusable.
    record : dict
        ``channel``, ``type``, ``window_s``, ``features``, the counts of
        :meth:`~eegemo.physio.heart.HeartFeatures.summary`, ``epoch_reasons`` (why each
        epoch is unusable, None where usable), ``candidates`` (every heart channel with
        its usable epochs, when there were several) and ``note``, one line for the user,
        when epochs are unusable or the lead was inverted.
    """

    values: np.ndarray
    record: dict[str, Any]


def _note(channel: str, kind: str, features: HeartFeatures) -> str | None:
    summary = features.summary()
    parts = []
    unusable = summary["epochs"] - summary["usable"]
    if unusable:
        reasons = ", ".join(f"{reason} {n}" for reason, n in summary["unusable"].items())
        parts.append(
            f"{unusable} of {summary['epochs']} epochs "
            + ("has" if unusable == 1 else "have")
            + f" no usable heart signal ({reasons}): NaN in "
            + ("its" if unusable == 1 else "their")
            + " physio row"
        )
    if features.inverted and summary["usable"]:
        parts.append("the lead is inverted and was flipped before R-peak detection")
    if not parts:
        return None
    return f"heart channel {channel} ({kind.upper()}): " + "; ".join(parts)


def epoch_features(
    raw: mne.io.BaseRaw,
    onsets_s: Sequence[float],
    length_s: float,
    config: HeartConfig,
) -> PhysioResult | None:
    """Heart rate and HRV around every epoch, from the recording's best heart channel.

    Every heart channel (:func:`heart_channels`) is analysed; the one with the most
    usable epochs is kept (the first, ECG before PPG, on a tie).

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The cleaned recording (preloaded or not): the epochs' clock.
    onsets_s : sequence of float
        Start of each epoch in seconds from the first sample of ``raw``.
    length_s : float
        Epoch length in seconds.
    config : HeartConfig
        Window and quality thresholds (a ``PhysioConfig`` is one).

    Returns
    -------
    result : PhysioResult | None
        ``None`` when the recording has no heart channel.
    """
    best = None
    candidates: dict[str, int] = {}
    for name, kind in heart_channels(raw):
        signal = raw.get_data(picks=[name])[0]
        features = heart_features(signal, raw.info["sfreq"], onsets_s, length_s, config, kind)
        usable = features.summary()["usable"]
        candidates[name] = usable
        if best is None or usable > best[2].summary()["usable"]:
            best = (name, kind, features)
    if best is None:
        return None
    name, kind, features = best
    record = {
        "channel": name,
        "type": kind,
        "window_s": config.window_s,
        **features.summary(),
        "epoch_reasons": list(features.reasons),
    }
    if len(candidates) > 1:
        record["candidates"] = candidates
    note = _note(name, kind, features)
    if note is not None:
        record["note"] = note
    return PhysioResult(features.values, record)
