"""Band power of epoched EEG, by Welch's method or a single windowed FFT (periodogram).

Power is integrated over each band (sum of the power spectral density times the
frequency step) and expressed in µV², optionally relative to the total power over
all bands and optionally as log10.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import RecordingError

_WELCH_CHUNK_BYTES = 8 * 1024 * 1024

#: The classic EEG bands in Hz.
DEFAULT_BANDS: dict[str, list[float]] = {
    "delta": [1.0, 4.0],
    "theta": [4.0, 8.0],
    "alpha": [8.0, 13.0],
    "beta": [13.0, 30.0],
    "gamma": [30.0, 45.0],
}

METHODS = ("welch", "fft")


def welch_segment(n_times: int, sfreq: float, segment_s: float) -> int:
    """Samples per Welch segment: ``segment_s`` seconds, at most the whole epoch.

    Parameters
    ----------
    n_times : int
        Samples per epoch.
    sfreq : float
        Sampling rate in Hz.
    segment_s : float
        Requested segment length in seconds.

    Returns
    -------
    n_per_seg : int
        Samples per segment actually used.
    """
    return min(n_times, max(1, round(segment_s * sfreq)))


def power_spectrum(
    data: np.ndarray, sfreq: float, method: str = "welch", segment_s: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Power spectral density of every epoch and channel.

    Parameters
    ----------
    data : ndarray, shape (n_epochs, n_channels, n_times)
        Epoched signals in volts.
    sfreq : float
        Sampling rate in Hz.
    method : {"welch", "fft"}
        ``"welch"``: averaged Hann-windowed segments of ``segment_s`` seconds with 50 %
        overlap (:func:`mne.time_frequency.psd_array_welch`); ``"fft"``: one
        Hann-windowed FFT of the whole epoch (:func:`scipy.signal.periodogram`).
    segment_s : float
        Welch segment length in seconds; capped at the epoch length, with a warning
        (see :func:`welch_segment`).

    Returns
    -------
    psd : ndarray, shape (n_epochs, n_channels, n_freqs)
        Power spectral density in V²/Hz.
    freqs : ndarray, shape (n_freqs,)
        Frequencies in Hz.
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 3:
        raise ValueError(
            f"expected data of shape (n_epochs, n_channels, n_times), got {data.shape}"
        )
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n_times = data.shape[-1]
    if method == "fft":
        from scipy.signal import periodogram

        freqs, psd = periodogram(data, fs=sfreq, window="hann", axis=-1)
        return psd, freqs
    from mne.time_frequency import psd_array_welch

    n_per_seg = welch_segment(n_times, sfreq, segment_s)
    if n_per_seg < round(segment_s * sfreq):
        warnings.warn(
            f"Welch segments of {segment_s:g} s are longer than an epoch "
            f"({n_times / sfreq:g} s): segments of {n_per_seg / sfreq:g} s used",
            stacklevel=2,
        )
    # psd_array_welch switches to a much slower per-row loop once its input exceeds
    # 10 MB, so long recordings are passed in chunks of epochs below that size.
    per_epoch = max(1, data[:1].nbytes)
    chunk = max(1, _WELCH_CHUNK_BYTES // per_epoch)
    parts = []
    for start in range(0, max(len(data), 1), chunk):
        psd, freqs = psd_array_welch(
            data[start : start + chunk],
            sfreq,
            fmin=0.0,
            fmax=sfreq / 2.0,
            n_fft=n_per_seg,
            n_per_seg=n_per_seg,
            n_overlap=n_per_seg // 2,
            window="hann",
            verbose="error",
        )
        parts.append(psd)
    return np.concatenate(parts), freqs


def band_power(
    data: np.ndarray,
    sfreq: float,
    bands: Mapping[str, Sequence[float]] | None = None,
    *,
    method: str = "welch",
    segment_s: float = 1.0,
    log10: bool = True,
    relative: bool = False,
    ch_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Power of every epoch and channel in each frequency band.

    Parameters
    ----------
    data : ndarray, shape (n_epochs, n_channels, n_times)
        Epoched signals in volts.
    sfreq : float
        Sampling rate in Hz.
    bands : mapping of str to (low, high)
        Band edges in Hz, ``low <= f < high``; default :data:`DEFAULT_BANDS`.
    method : {"welch", "fft"}
        Spectral estimator, see :func:`power_spectrum`.
    segment_s : float
        Welch segment length in seconds.
    log10 : bool
        Return ``log10`` of the power.
    relative : bool
        Divide by the summed power of all bands first.
    ch_names : sequence of str, optional
        Channel names, used to name flat channels in the error message.

    Returns
    -------
    power : ndarray, shape (n_epochs, n_channels, n_bands)
        Band power in µV² (or a fraction when ``relative``), log10 when asked.

    Raises
    ------
    RecordingError
        With stage ``"bandpower"`` when a band lies above Nyquist or contains no
        frequency bin, or when a channel has no power in a band (flat signal) so its
        logarithm is undefined.
    """
    bands = dict(DEFAULT_BANDS if bands is None else bands)
    psd, freqs = power_spectrum(data, sfreq, method, segment_s)
    df = freqs[1] - freqs[0]
    columns = []
    for name, (low, high) in bands.items():
        mask = (freqs >= low) & (freqs < high)
        if high > sfreq / 2.0:
            raise RecordingError(
                "bandpower",
                f"band {name} ({low:g}-{high:g} Hz) reaches above Nyquist "
                f"({sfreq / 2:g} Hz at {sfreq:g} Hz sampling)",
            )
        if not mask.any():
            raise RecordingError(
                "bandpower",
                f"band {name} ({low:g}-{high:g} Hz) holds no frequency bin at {df:g} Hz "
                "resolution; widen the band or lengthen bandpower.segment_s",
            )
        columns.append(psd[..., mask].sum(axis=-1) * df * 1e12)  # V² -> µV²
    power = np.stack(columns, axis=-1)
    if log10 or relative:
        flat = ~(power > 0).all(axis=(0, 2))
        if flat.any():
            names = np.asarray(ch_names)[flat] if ch_names is not None else np.flatnonzero(flat)
            raise RecordingError(
                "bandpower",
                f"channel(s) {', '.join(map(str, names))} have zero power in some band "
                "(flat signal): relative or log10 power is undefined",
            )
    if relative:
        power = power / power.sum(axis=-1, keepdims=True)
    if log10:
        power = np.log10(power)
    return power
