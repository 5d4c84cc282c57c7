"""Heart signals (ECG) around EEG epochs: beats, heart rate and time-domain HRV per epoch.

:func:`heart_features` cleans a single-lead ECG with NeuroKit2 (``ecg_clean``),
rights an inverted lead (``ecg_invert``), finds the R-peaks (``ecg_peaks`` with
artifact correction) and their quality (``ecg_quality``, template-matching score in
[0, 1]), and then describes every epoch by

* ``hr_epoch``: heart rate (beats per minute) from the R-R intervals inside the epoch
  (the window's rate when the epoch holds fewer than two beats);
* ``hr``, ``mean_rr``, ``rmssd``, ``sdnn``, ``pnn50``: heart rate and the standard
  time-domain HRV measures (Task Force of the ESC and NASPE, 1996) over a window of
  ``window_s`` seconds centred on the epoch (R-R intervals in milliseconds);
* frequency-domain HRV only where the window is long enough for the band's slowest
  rhythm to be estimated, as the Task Force recommends: ``hf`` (0.15-0.4 Hz power,
  NeuroKit2 ``hrv_frequency``) from a 60-s window, ``lf`` (0.04-0.15 Hz) and
  ``lf_hf`` from a 120-s window. :func:`feature_names` lists the columns a
  configuration gives.

An epoch whose heart signal cannot be trusted is flagged, never filled in: its
features are NaN and its reason is one of ``"flat"`` (no signal: lead off or
disconnected), ``"few beats"`` (fewer beats than ``min_beats`` in the window),
``"implausible beats"`` (R-R intervals outside 0.3-2 s: not a heart rhythm),
``"noise"`` (the cleaned lead is no more peaked than noise: kurtosis below
``min_kurtosis``, the kSQI of Li, Clark & Clifford, 2008) or ``"poor quality"`` (mean
R-peak quality below ``min_quality``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np

from ..config import option
from ..errors import ConfigError

#: Time-domain features, always computed, in column order.
FEATURES = ("hr_epoch", "hr", "mean_rr", "rmssd", "sdnn", "pnn50")
#: Frequency-domain features and the shortest window (seconds) that allows each.
FREQUENCY_FEATURES = {"hf": 60.0, "lf": 120.0, "lf_hf": 120.0}
#: Plausible R-R intervals in seconds (200 to 30 beats per minute).
RR_RANGE_S = (0.3, 2.0)
#: Standard deviation (volts) below which the lead carries no signal.
FLAT_STD_V = 1e-7


@dataclasses.dataclass
class HeartConfig:
    """How heart features are computed around each epoch."""

    window_s: float = option(
        10.0, "window centred on each epoch for heart rate and HRV, in seconds"
    )
    min_beats: int = option(
        5, "fewest R-peaks in the window for its features to be trusted"
    )
    min_quality: float = option(
        0.5, "lowest mean R-peak quality (NeuroKit2 averageQRS, 0-1) in the window"
    )
    max_implausible: float = option(
        0.2, "largest fraction of R-R intervals outside 0.3-2 s in the window"
    )
    min_kurtosis: float = option(
        3.5,
        "lowest kurtosis of the cleaned lead in the window (Gaussian noise: 3; an ECG, with "
        "its sharp R-peaks: about 4 to 10)",
    )

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise ConfigError(f"window_s: expected > 0 seconds, got {self.window_s}")
        if self.min_beats < 2:
            raise ConfigError(f"min_beats: expected at least 2, got {self.min_beats}")
        if not 0.0 <= self.min_quality <= 1.0:
            raise ConfigError(f"min_quality: expected a value in [0, 1], got {self.min_quality}")
        if not 0.0 <= self.max_implausible < 1.0:
            raise ConfigError(
                f"max_implausible: expected a value in [0, 1), got {self.max_implausible}"
            )


@dataclasses.dataclass
class HeartFeatures:
    """Heart features of a recording's epochs.

    Attributes
    ----------
    values : ndarray of float32, shape (n_epochs, len(names))
        NaN in every column of an unusable epoch.
    reasons : list of str or None
        Why each epoch is unusable (None where usable).
    beats_s : ndarray of float64
        Times of the R-peaks in seconds from the start of the signal.
    inverted : bool
        The lead was upside down and was flipped before peak detection.
    quality : float
        Mean R-peak quality over the recording (NaN without beats).
    names : tuple of str
        Column names of ``values`` (see :func:`feature_names`).
    """

    values: np.ndarray
    reasons: list[str | None]
    beats_s: np.ndarray
    inverted: bool
    quality: float

    names: tuple[str, ...] = FEATURES

    def summary(self) -> dict:
        """Counts for a provenance record: usable epochs and each reason for the others."""
        counts: dict[str, int] = {}
        for reason in self.reasons:
            if reason is not None:
                counts[reason] = counts.get(reason, 0) + 1
        return {
            "features": list(self.names),
            "epochs": len(self.reasons),
            "usable": sum(r is None for r in self.reasons),
            "unusable": counts,
            "beats": len(self.beats_s),
            "inverted": self.inverted,
            "quality": None if np.isnan(self.quality) else round(float(self.quality), 4),
        }


def feature_names(config: HeartConfig) -> tuple[str, ...]:
    """The feature columns ``config`` gives: time domain, then what the window allows."""
    extra = tuple(n for n, needs in FREQUENCY_FEATURES.items() if config.window_s >= needs)
    return FEATURES + extra


def _frequency_domain(beats_s: np.ndarray, names: Sequence[str]) -> list[float]:
    """Frequency-domain HRV of the beats in one window, for the given feature names."""
    import neurokit2 as nk

    rate = 1000.0
    peaks = np.round((beats_s - beats_s[0]) * rate).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = nk.hrv_frequency(peaks, sampling_rate=rate)
    column = {"hf": "HRV_HF", "lf": "HRV_LF", "lf_hf": "HRV_LFHF"}
    return [float(table[column[n]].iloc[0]) for n in names]


def detect_beats(
    signal: np.ndarray, sfreq: float
) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray]:
    """R-peaks of a single-lead ECG and the quality of each.

    Parameters
    ----------
    signal : ndarray, shape (n_times,)
        The ECG in volts.
    sfreq : float
        Sampling rate in Hz.

    Returns
    -------
    peaks : ndarray of int
        Sample index of each R-peak.
    quality : ndarray of float
        Quality of the signal at each R-peak, in [0, 1].
    inverted : bool
        Whether the lead was flipped before detection.
    cleaned : ndarray, shape (n_times,)
        The cleaned (band-passed, upright) lead; the input itself when flat or short.
    """
    import neurokit2 as nk

    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"expected a 1-D ECG signal, got shape {signal.shape}")
    if np.nanstd(signal) < FLAT_STD_V or len(signal) < 2 * sfreq:
        return np.zeros(0, int), np.zeros(0), False, signal
    with warnings.catch_warnings():  # NeuroKit2 warns about short or noisy stretches
        warnings.simplefilter("ignore")
        signal, inverted = nk.ecg_invert(signal, sampling_rate=sfreq)
        cleaned = np.asarray(nk.ecg_clean(signal, sampling_rate=sfreq))
        _, info = nk.ecg_peaks(cleaned, sampling_rate=sfreq, correct_artifacts=True)
        peaks = np.asarray(info["ECG_R_Peaks"], dtype=int)
        if len(peaks) < 2:
            return peaks, np.zeros(len(peaks)), bool(inverted), cleaned
        quality = np.asarray(nk.ecg_quality(cleaned, rpeaks=peaks, sampling_rate=sfreq))
    return peaks, quality[peaks], bool(inverted), cleaned


def _time_domain(rr_s: np.ndarray) -> tuple[float, float, float, float, float]:
    """Heart rate (bpm), mean R-R, RMSSD, SDNN (ms) and pNN50 (%) of R-R intervals."""
    rr = rr_s * 1000.0
    diff = np.diff(rr)
    return (
        60000.0 / rr.mean(),
        rr.mean(),
        float(np.sqrt(np.mean(diff**2))) if len(diff) else np.nan,
        float(rr.std(ddof=1)) if len(rr) > 1 else np.nan,
        float(100.0 * np.mean(np.abs(diff) > 50.0)) if len(diff) else np.nan,
    )


def heart_features(
    signal: np.ndarray,
    sfreq: float,
    onsets_s: Sequence[float],
    length_s: float,
    config: HeartConfig | None = None,
) -> HeartFeatures:
    """Heart rate and HRV around each epoch of a recording.

    Parameters
    ----------
    signal : ndarray, shape (n_times,)
        Single-lead ECG in volts, on the same clock as the epochs.
    sfreq : float
        Sampling rate in Hz.
    onsets_s : sequence of float
        Start of each epoch in seconds from the start of ``signal``.
    length_s : float
        Epoch length in seconds.
    config : HeartConfig, optional
        Window and quality thresholds.

    Returns
    -------
    features : HeartFeatures
        One row per epoch (see :func:`feature_names`), NaN where unusable.
    """
    from scipy.stats import kurtosis

    config = config or HeartConfig()
    signal = np.asarray(signal, dtype=np.float64)
    peaks, quality, inverted, cleaned = detect_beats(signal, sfreq)
    beats = peaks / sfreq
    names = feature_names(config)
    frequency = names[len(FEATURES):]
    values = np.full((len(onsets_s), len(names)), np.nan)
    reasons: list[str | None] = []
    for i, onset in enumerate(onsets_s):
        centre = onset + length_s / 2
        lo, hi = centre - config.window_s / 2, centre + config.window_s / 2
        start, stop = (max(0, round(t * sfreq)) for t in (lo, hi))
        segment = signal[start:stop]
        in_window = (beats >= lo) & (beats < hi)
        rr = np.diff(beats[in_window])
        implausible = ((rr < RR_RANGE_S[0]) | (rr > RR_RANGE_S[1])).mean() if len(rr) else 1.0
        if len(segment) == 0 or np.std(segment) < FLAT_STD_V:
            reasons.append("flat")
        elif kurtosis(cleaned[start:stop], fisher=False) < config.min_kurtosis:
            reasons.append("noise")
        elif in_window.sum() < config.min_beats:
            reasons.append("few beats")
        elif implausible > config.max_implausible:
            reasons.append("implausible beats")
        elif quality[in_window].mean() < config.min_quality:
            reasons.append("poor quality")
        else:
            reasons.append(None)
            rr = rr[(rr >= RR_RANGE_S[0]) & (rr <= RR_RANGE_S[1])]
            in_epoch = beats[(beats >= onset) & (beats < onset + length_s)]
            epoch_rr = np.diff(in_epoch)
            values[i, 0] = 60.0 / epoch_rr.mean() if len(epoch_rr) else 60.0 / rr.mean()
            values[i, 1:len(FEATURES)] = _time_domain(rr)
            if frequency:
                values[i, len(FEATURES):] = _frequency_domain(beats[in_window], frequency)
    return HeartFeatures(
        values=values.astype(np.float32),
        reasons=reasons,
        beats_s=beats,
        inverted=inverted,
        quality=float(quality.mean()) if len(quality) else float("nan"),
        names=names,
    )
