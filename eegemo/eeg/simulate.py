"""Synthetic multi-subject EEG recordings with condition-dependent rhythms and heart rate.

Signals are generated at dipole sources below each of the 19 electrodes of the
10-20 system and projected to the scalp through a three-shell spherical head model
(MNE forward solution), so neighbouring channels are correlated as in real EEG.
Each condition has its own mix of rhythms (``rest``: strong occipito-parietal alpha;
``task``: weaker alpha, stronger frontal-midline theta and central beta), on top of
1/f background activity. Subjects differ in peak frequencies, band amplitudes and
spectral slope. Eye blinks (frontal channels and an EOG channel) and power-line
noise are added at the sensors. A single-lead ECG (NeuroKit2's ECGSYN model, McSharry
et al., 2003) is recorded on the same clock; its heart rate depends on the condition
(``rest``: about 70 beats per minute; ``task``: about 85) and on the subject. The data
are meant for tests and demonstrations, where a band-power classifier must be able to
separate the conditions.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import atomic_path
from .channels import load_montage

if TYPE_CHECKING:
    import mne
    import numpy as np

#: The 19 scalp channels of the 10-20 system (modern names), as in the eegmat data set.
EEG_CHANNELS = (
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz",
    "C4", "T8", "P7", "P3", "Pz", "P4", "P8", "O1", "O2",
)  # fmt: skip
#: Vertical electro-oculogram channel.
EOG_CHANNEL = "EOG"
#: Electrocardiogram channel (one lead).
ECG_CHANNEL = "ECG"

# Which sources carry each rhythm, its spectral width (Hz) and its RMS (volts) at the
# electrode above the strongest source for a gain of 1.
_RHYTHMS = {
    "alpha": (("O1", "O2", "Pz", "P3", "P4"), 1.0, 12e-6),
    "theta": (("Fz", "F3", "F4"), 1.2, 7e-6),
    "beta": (("C3", "C4", "F3", "F4", "Cz"), 3.0, 3.5e-6),
}
#: Band gains per condition. Other condition names get reproducible gains derived
#: from the name, so any number of classes can be simulated.
CONDITION_GAINS = {
    "rest": {"alpha": 1.0, "theta": 0.45, "beta": 0.5},
    "task": {"alpha": 0.4, "theta": 1.0, "beta": 1.0},
}
#: Mean heart rate (beats per minute) per condition. Other condition names get a
#: reproducible rate derived from the name.
CONDITION_HEART_RATES = {"rest": 70.0, "task": 85.0}
_HEART_RATE_STD = 2.0  # beat-to-beat variability of the simulated rhythm, beats per minute
_BACKGROUND_RMS = 7e-6  # 1/f activity at each source, at its own electrode
_SENSOR_NOISE_RMS = 0.5e-6
_CONDITION_NAME = re.compile(r"^[a-z]+$")


@functools.lru_cache(maxsize=4)
def _gain_matrix(sfreq: float) -> tuple[mne.Info, np.ndarray]:
    """Info of the simulated channels and the normalised gain of one source per electrode.

    Column ``j`` is the scalp map of a radial dipole below electrode ``j``, 3 cm inside
    the inner skull surface of the spherical head model (fitted to the montage), scaled
    so that its largest entry is 1 (so source amplitudes read as volts at the scalp).
    """
    import mne
    import numpy as np

    info = mne.create_info([*EEG_CHANNELS, EOG_CHANNEL], sfreq, ["eeg"] * 19 + ["eog"])
    info.set_montage(load_montage("standard_1020"), verbose="error")
    eeg_info = mne.pick_info(info, list(range(len(EEG_CHANNELS))))
    sphere = mne.make_sphere_model("auto", "auto", eeg_info, verbose="error")
    r0 = np.asarray(sphere["r0"])
    elec = np.array([ch["loc"][:3] for ch in eeg_info["chs"]])
    direction = (elec - r0) / np.linalg.norm(elec - r0, axis=1, keepdims=True)
    inner_radius = sphere.radius * sphere["layers"][0]["rel_rad"]
    rr = r0 + direction * (inner_radius - 0.03)
    src = mne.setup_volume_source_space(
        pos=dict(rr=rr, nn=direction), sphere=sphere, mindist=0.0, verbose="error"
    )
    fwd = mne.make_forward_solution(
        eeg_info, trans=None, src=src, bem=sphere, eeg=True, meg=False, verbose="error"
    )
    # Free orientation: three columns per source; keep the radial component.
    gain = fwd["sol"]["data"].reshape(len(EEG_CHANNELS), -1, 3)
    gain = np.einsum("csk,sk->cs", gain, direction)
    gain = gain / np.abs(gain).max(axis=0, keepdims=True)
    return info, gain


def _spectral_noise(rng: np.random.Generator, n: int, sfreq: float, shape) -> np.ndarray:
    """Unit-RMS noise whose amplitude spectrum is ``shape(freqs)``."""
    import numpy as np

    freqs = np.fft.rfftfreq(n, 1.0 / sfreq)
    spectrum = np.fft.rfft(rng.standard_normal(n)) * shape(freqs)
    signal = np.fft.irfft(spectrum, n)
    return signal / (signal.std() + 1e-30)


def _narrowband(rng: np.random.Generator, n: int, sfreq: float, freq: float, width: float):
    import numpy as np

    return _spectral_noise(rng, n, sfreq, lambda f: np.exp(-0.5 * ((f - freq) / width) ** 2))


def _pink(rng: np.random.Generator, n: int, sfreq: float, exponent: float):
    import numpy as np

    def shape(f):
        out = np.zeros_like(f)
        out[1:] = np.maximum(f[1:], 0.5) ** (-exponent / 2)  # power ~ 1/f**exponent
        return out

    return _spectral_noise(rng, n, sfreq, shape)


def _condition_gains(condition: str) -> dict[str, float]:
    import numpy as np

    if condition in CONDITION_GAINS:
        return CONDITION_GAINS[condition]
    rng = np.random.default_rng(zlib.crc32(condition.encode()))
    return {band: float(rng.uniform(0.3, 1.0)) for band in _RHYTHMS}


def _condition_heart_rate(condition: str) -> float:
    import numpy as np

    if condition in CONDITION_HEART_RATES:
        return CONDITION_HEART_RATES[condition]
    # Its own stream, not the one of _condition_gains, so each can change alone.
    rng = np.random.default_rng([zlib.crc32(condition.encode()), 1])
    return float(rng.uniform(65.0, 90.0))


def _simulate_ecg(rng: np.random.Generator, n: int, sfreq: float, heart_rate: float) -> np.ndarray:
    """``n`` samples of a single-lead ECG in volts (R-peaks near 1 mV)."""
    import warnings

    import neurokit2 as nk
    import numpy as np

    # ECGSYN draws whole beats and may stop short of the requested length: ask for more.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        millivolts = nk.ecg_simulate(
            duration=n / sfreq + 2.0, sampling_rate=sfreq, heart_rate=heart_rate,
            heart_rate_std=_HEART_RATE_STD, random_state=rng,
        )
    # Releases of neurokit2 differ in the height of ECGSYN's beats (0.46 mV in 0.3.0, above
    # 0.5 mV before): scale the tallest R-peak to 1 mV, a typical lead-II amplitude.
    millivolts = np.asarray(millivolts[:n], dtype=np.float64)
    return 1e-3 * millivolts / np.max(millivolts)


def _check_condition(condition: str) -> None:
    if not isinstance(condition, str) or not _CONDITION_NAME.match(condition):
        raise ValueError(
            f"condition must be lower-case letters only (it becomes part of the file name "
            f"and the label), got {condition!r}"
        )


#: Mains frequency of the simulated line noise (Hz) unless a caller asks otherwise.
SIMULATED_LINE_FREQ = 50.0


def simulate_recording(
    subject: int,
    condition: str,
    duration: float = 60.0,
    sfreq: float = 250.0,
    seed: int | None = None,
    line_freq: float | None = SIMULATED_LINE_FREQ,
    blinks: bool = True,
    ecg: bool = True,
) -> mne.io.RawArray:
    """Simulate one EEG recording (with an ECG) of one subject in one condition.

    Parameters
    ----------
    subject : int
        Subject number (>= 1). Peak frequencies, band amplitudes, 1/f slope, blink
        rate, resting heart rate and ECG amplitude depend on it (and on ``seed``), and
        are shared by all its conditions.
    condition : str
        Lower-case name. ``"rest"`` and ``"task"`` have fixed rhythm profiles and heart
        rates (see :data:`CONDITION_GAINS` and :data:`CONDITION_HEART_RATES`); other names
        get reproducible ones derived from the name.
    duration : float
        Length in seconds.
    sfreq : float
        Sampling frequency in Hz.
    seed : int | None
        Makes the recording reproducible; ``None`` draws fresh noise each call (subject
        traits then derive from ``subject`` alone).
    line_freq : float | None
        Power-line frequency (Hz) of the added line noise; ``None`` or 0 for none.
    blinks : bool
        Add eye blinks every 3-6 s to the frontal channels and the EOG channel.
    ecg : bool
        Add the ECG channel. Its heart rate is the condition's (:data:`CONDITION_HEART_RATES`)
        shifted by up to ±8 beats per minute for the subject and by a little (standard
        deviation 1) for the recording. The EEG and EOG channels are the same with or
        without it.

    Returns
    -------
    raw : mne.io.RawArray
        19 EEG channels with 10-20 positions, one EOG channel and (with ``ecg``) one ECG
        channel, in volts.
    """
    import mne
    import numpy as np

    _check_condition(condition)
    if isinstance(subject, bool) or not isinstance(subject, int) or subject < 1:
        raise ValueError(f"subject must be an integer >= 1, got {subject!r}")
    if not duration > 0 or not sfreq > 0:
        raise ValueError(f"duration and sfreq must be positive, got {duration!r}, {sfreq!r}")
    line_freq = line_freq or None
    if line_freq is not None and not 0 < line_freq < sfreq / 2:
        raise ValueError(f"line_freq {line_freq} Hz must be below sfreq / 2 = {sfreq / 2} Hz")

    traits = np.random.default_rng([0 if seed is None else seed, subject])
    # Separate streams, so that switching blinks, line noise or the ECG off leaves the rest
    # as is.
    entropy = None if seed is None else [seed, subject, zlib.crc32(condition.encode())]
    rng, blink_rng, line_rng, ecg_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(entropy).spawn(4)
    )
    peak = {
        "alpha": traits.uniform(9.0, 11.5),
        "theta": traits.uniform(5.0, 7.0),
        "beta": traits.uniform(17.0, 24.0),
    }
    subject_gain = {band: traits.lognormal(0.0, 0.25) for band in _RHYTHMS}
    scale = traits.lognormal(0.0, 0.2)
    exponent = traits.uniform(1.0, 1.8)
    blink_interval = (traits.uniform(2.5, 3.5), traits.uniform(4.5, 6.5))
    # Drawn after the EEG traits, which therefore stay those of simulations without an ECG.
    heart_offset = traits.uniform(-8.0, 8.0)
    ecg_scale = traits.lognormal(0.0, 0.15)

    info, gain = _gain_matrix(float(sfreq))
    n = round(duration * sfreq)
    index = {name: i for i, name in enumerate(EEG_CHANNELS)}
    sources = np.stack([_pink(rng, n, sfreq, exponent) for _ in EEG_CHANNELS])
    sources *= _BACKGROUND_RMS
    gains = _condition_gains(condition)
    t = np.arange(n) / sfreq
    for band, (where, width, rms) in _RHYTHMS.items():
        shared = _narrowband(rng, n, sfreq, peak[band], width)
        for name in where:
            own = _narrowband(rng, n, sfreq, peak[band], width)
            amplitude = rms * gains[band] * subject_gain[band]
            sources[index[name]] += amplitude * (0.7 * shared + 0.3 * own)
    eeg = scale * gain @ sources

    eog = 0.2 * eeg[index["Fp1"]] + 0.2 * eeg[index["Fp2"]]
    data = np.vstack([eeg, eog[None]])
    data += _SENSOR_NOISE_RMS * rng.standard_normal(data.shape)

    if blinks:
        weights = _blink_weights(info)
        onset = blink_rng.uniform(0.5, blink_interval[1])
        while onset < duration - 0.5:
            width = blink_rng.uniform(0.25, 0.45)
            m = round(width * sfreq)
            start = round(onset * sfreq)
            shape = np.hanning(m)[: n - start] * blink_rng.uniform(80e-6, 160e-6)
            data[:, start : start + len(shape)] += weights[:, None] * shape[None]
            onset += blink_rng.uniform(*blink_interval)
    if line_freq is not None:
        amplitude = line_rng.uniform(1e-6, 4e-6, size=(len(data), 1))
        phase = line_rng.uniform(0, 2 * np.pi, size=(len(data), 1))
        data += amplitude * np.sin(2 * np.pi * line_freq * t[None] + phase)

    raw = mne.io.RawArray(data, info.copy(), verbose="error")
    if ecg:
        heart_rate = _condition_heart_rate(condition) + heart_offset + ecg_rng.normal(0.0, 1.0)
        trace = ecg_scale * _simulate_ecg(ecg_rng, n, sfreq, heart_rate)
        if line_freq is not None:
            phase = ecg_rng.uniform(0, 2 * np.pi)
            trace += ecg_rng.uniform(1e-6, 4e-6) * np.sin(2 * np.pi * line_freq * t + phase)
        ecg_info = mne.create_info([ECG_CHANNEL], sfreq, ["ecg"])
        raw.add_channels([mne.io.RawArray(trace[None], ecg_info, verbose="error")])
    raw.info["line_freq"] = line_freq
    raw.info["subject_info"] = {"his_id": f"sub-{subject:02d}"}
    return raw


def _blink_weights(info: mne.Info) -> np.ndarray:
    """Blink amplitude per channel: 1.5 on the EOG, 1 on Fp1/Fp2, decaying backwards."""
    import numpy as np

    pos = {ch["ch_name"]: ch["loc"][:3] for ch in info["chs"]}
    eyes = [pos["Fp1"] + np.array([0.0, 0.02, -0.03]), pos["Fp2"] + np.array([0.0, 0.02, -0.03])]
    dist = np.array([min(np.linalg.norm(pos[name] - eye) for eye in eyes) for name in EEG_CHANNELS])
    weights = np.exp(-(dist - dist.min()) / 0.03)
    return np.append(weights, 1.5)


def simulate_study(
    out_dir: str | Path,
    n_subjects: int = 6,
    conditions: Sequence[str] = ("rest", "task"),
    duration: float = 60.0,
    sfreq: float = 250.0,
    fmt: str = "edf",
    seed: int = 0,
    ecg: bool = True,
) -> list[Path]:
    """Write one simulated recording per subject and condition.

    Files are named ``sub-XX_<condition>.edf`` (or ``sub-XX_<condition>_raw.fif``) so
    that the patterns ``(?P<subject>sub-\\d+)`` and
    ``_(?P<label>[a-z]+)(_raw)?\\.(edf|fif)$`` assign subject and label. Each file is
    written under a temporary name and renamed into place.

    Parameters
    ----------
    out_dir : path-like
        Folder to write into (created if needed).
    n_subjects : int
        Number of subjects, numbered from 1.
    conditions : sequence of str
        Condition names (lower-case letters), one recording each per subject.
    duration : float
        Length of each recording in seconds.
    sfreq : float
        Sampling frequency in Hz.
    fmt : {"edf", "fif"}
        File format.
    seed : int
        Seed for the whole study.
    ecg : bool
        Record an ECG channel beside the EEG (see :func:`simulate_recording`).

    Returns
    -------
    paths : list of Path
        The files written, subject by subject.
    """
    import mne

    if fmt not in ("edf", "fif"):
        raise ValueError(f"fmt must be 'edf' or 'fif', got {fmt!r}")
    if isinstance(n_subjects, bool) or not isinstance(n_subjects, int) or n_subjects < 1:
        raise ValueError(f"n_subjects must be an integer >= 1, got {n_subjects!r}")
    conditions = list(conditions)
    if not conditions or len(set(conditions)) != len(conditions):
        raise ValueError(f"conditions must be distinct names, got {conditions!r}")
    for condition in conditions:
        _check_condition(condition)

    out_dir = Path(out_dir)
    paths = []
    for subject in range(1, n_subjects + 1):
        for condition in conditions:
            raw = simulate_recording(subject, condition, duration, sfreq, seed=seed, ecg=ecg)
            suffix = ".edf" if fmt == "edf" else "_raw.fif"
            path = out_dir / f"sub-{subject:02d}_{condition}{suffix}"
            with atomic_path(path) as tmp:
                if fmt == "edf":
                    mne.export.export_raw(tmp, raw, fmt="edf", overwrite=True, verbose="error")
                else:
                    raw.save(tmp, overwrite=True, verbose="error")
            paths.append(path)
    return paths
