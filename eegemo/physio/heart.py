"""Heart signals (ECG, PPG) around EEG epochs: beats, heart rate and time-domain HRV per epoch.

:func:`heart_features` cleans a single-lead ECG with NeuroKit2 (``ecg_clean``),
rights an inverted lead (``ecg_invert``), finds the R-peaks (``ecg_peaks`` with
artifact correction) and their quality (``ecg_quality``, template-matching score in
[0, 1]); a photoplethysmogram (PPG, blood volume pulse) is cleaned with ``ppg_clean``
and its systolic peaks found with ``ppg_peaks`` (artifact correction too), their quality
with ``ppg_quality`` (the same template matching). Every epoch is then described by

* ``hr_epoch``: heart rate (beats per minute) from the R-R intervals inside the epoch
  (the window's rate when the epoch holds fewer than two beats);
* ``hr``, ``mean_rr``, ``rmssd``, ``sdnn``, ``pnn50``: heart rate and the standard
  time-domain HRV measures (Task Force of the ESC and NASPE, 1996) over a window of
  ``window_s`` seconds centred on the epoch (R-R intervals in milliseconds; from a PPG,
  the intervals between pulses);
* frequency-domain HRV only where the window is long enough for the band's slowest
  rhythm to be estimated, as the Task Force recommends: ``hf`` (0.15-0.4 Hz power,
  NeuroKit2 ``hrv_frequency``) from a 60-s window, ``lf`` (0.04-0.15 Hz) and
  ``lf_hf`` from a 120-s window. :func:`feature_names` lists the columns a
  configuration gives.

An epoch whose heart signal cannot be trusted is flagged, never filled in: its
features are NaN and its reason is one of ``"flat"`` (no signal: lead off or
disconnected), ``"few beats"`` (fewer beats than ``min_beats`` in the window),
``"implausible beats"`` (R-R intervals outside 0.3-2 s: not a heart rhythm),
``"noise"`` (an ECG no more peaked than noise: kurtosis of the cleaned lead below
``min_kurtosis``, the kSQI of Li, Mark & Clifford, 2008; a PPG whose pulses
correlate with the recording's average pulse by less than 0.86 on average, the
threshold of Orphanidou et al., 2015) or ``"poor quality"`` (mean beat quality below
``min_quality``).
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
#: The heart signals understood: electrocardiogram and photoplethysmogram.
KINDS = ("ecg", "ppg")
#: Lowest mean correlation of a PPG's pulses with its average pulse (Orphanidou et al., 2015).
PPG_MIN_TEMPLATE = 0.86


@dataclasses.dataclass
class HeartConfig:
    """How heart features are computed around each epoch."""

    window_s: float = option(
        10.0, "window centred on each epoch for heart rate and HRV, in seconds"
    )
    min_beats: int = option(
        5, "fewest beats (R-peaks, PPG pulses) in the window for its features to be trusted"
    )
    min_quality: float = option(
        0.5,
        "lowest mean beat quality in the window (0-1: NeuroKit2 averageQRS for an ECG, "
        "template matching for a PPG)",
    )
    max_implausible: float = option(
        0.2, "largest fraction of beat intervals outside 0.3-2 s in the window"
    )
    min_kurtosis: float = option(
        3.5,
        "ECG: lowest kurtosis of the cleaned lead in the window (Gaussian noise: 3; an ECG, "
        "with its sharp R-peaks: about 4 to 10)",
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
        Times of the beats (R-peaks, or PPG systolic peaks) in seconds from the start of
        the signal.
    inverted : bool
        The ECG lead was upside down and was flipped before peak detection.
    quality : float
        Mean beat quality over the recording (NaN without beats).
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
    signal: np.ndarray, sfreq: float, kind: str = "ecg"
) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray]:
    """Heartbeats of a single-lead ECG (R-peaks) or a PPG (systolic peaks), with their quality.

    Parameters
    ----------
    signal : ndarray, shape (n_times,)
        The ECG in volts, or the PPG.
    sfreq : float
        Sampling rate in Hz.
    kind : {"ecg", "ppg"}
        What ``signal`` is.

    Returns
    -------
    peaks : ndarray of int
        Sample index of each beat.
    quality : ndarray of float
        Quality of the signal at each beat, in [0, 1].
    inverted : bool
        Whether an ECG lead was flipped before detection (never for a PPG).
    cleaned : ndarray, shape (n_times,)
        The cleaned (band-passed, upright) signal; the input itself when flat or short.
    """
    import neurokit2 as nk

    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"expected a 1-D heart signal, got shape {signal.shape}")
    if np.nanstd(signal) < FLAT_STD_V or len(signal) < 2 * sfreq:
        return np.zeros(0, int), np.zeros(0), False, signal
    inverted = False
    with warnings.catch_warnings():  # NeuroKit2 warns about short or noisy stretches
        warnings.simplefilter("ignore")
        if kind == "ecg":
            signal, inverted = nk.ecg_invert(signal, sampling_rate=sfreq)
            cleaned = np.asarray(nk.ecg_clean(signal, sampling_rate=sfreq))
            _, info = nk.ecg_peaks(cleaned, sampling_rate=sfreq, correct_artifacts=True)
            peaks = np.asarray(info["ECG_R_Peaks"], dtype=int)
        else:
            cleaned = np.asarray(nk.ppg_clean(signal, sampling_rate=sfreq))
            _, info = nk.ppg_peaks(cleaned, sampling_rate=sfreq, correct_artifacts=True)
            peaks = np.asarray(info["PPG_Peaks"], dtype=int)
        if len(peaks) < 2:
            return peaks, np.zeros(len(peaks)), bool(inverted), cleaned
        assess = nk.ecg_quality if kind == "ecg" else nk.ppg_quality
        quality = np.asarray(assess(cleaned, peaks, sampling_rate=sfreq))
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


def _noisy(kind: str, cleaned: np.ndarray, quality: np.ndarray, config: HeartConfig) -> bool:
    """Whether a window of an ECG (by kurtosis) or a PPG (by pulse shape) is noise."""
    if kind == "ecg":
        centred = cleaned - cleaned.mean()
        power = np.mean(centred**2)
        kurtosis = np.mean(centred**4) / power**2 if power > 0 else 0.0  # Pearson's, 3 for noise
        return bool(kurtosis < config.min_kurtosis)
    return bool(len(quality) and quality.mean() < PPG_MIN_TEMPLATE)


def heart_features(
    signal: np.ndarray,
    sfreq: float,
    onsets_s: Sequence[float],
    length_s: float,
    config: HeartConfig | None = None,
    kind: str = "ecg",
) -> HeartFeatures:
    """Heart rate and HRV around each epoch of a recording.

    Parameters
    ----------
    signal : ndarray, shape (n_times,)
        Single-lead ECG in volts, or a PPG, on the same clock as the epochs.
    sfreq : float
        Sampling rate in Hz.
    onsets_s : sequence of float
        Start of each epoch in seconds from the start of ``signal``.
    length_s : float
        Epoch length in seconds.
    config : HeartConfig, optional
        Window and quality thresholds.
    kind : {"ecg", "ppg"}
        What ``signal`` is (see :func:`detect_beats`).

    Returns
    -------
    features : HeartFeatures
        One row per epoch (see :func:`feature_names`), NaN where unusable.
    """
    config = config or HeartConfig()
    signal = np.asarray(signal, dtype=np.float64)
    peaks, quality, inverted, cleaned = detect_beats(signal, sfreq, kind)
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
        elif _noisy(kind, cleaned[start:stop], quality[in_window], config):
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
