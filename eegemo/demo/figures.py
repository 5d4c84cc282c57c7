"""The demo report's own figures: a blink before and after ICA, mean topomaps per condition,
an ECG strip with its detected beats and the heart rate per condition.

Learning curves and confusion matrices come from :mod:`eegemo.train.report`; the
topomap tiles are drawn by :mod:`eegemo.eeg.render`. The plotting functions here write
a PNG atomically and return the numbers they measured, so the report can state them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_path
from ..errors import EegemoError

if TYPE_CHECKING:
    import mne

#: Frontal channels where blinks are largest, in the order they are drawn.
FRONTAL_CHANNELS = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8")


def _blink_peak(raw: mne.io.BaseRaw, margin_s: float) -> tuple[int, str]:
    """Sample of the largest blink and the channel it was found on (EOG, else Fp1/Fp2)."""
    import mne

    eog = [raw.ch_names[i] for i in mne.pick_types(raw.info, eog=True)]
    candidates = eog or [ch for ch in ("Fp1", "Fp2") if ch in raw.ch_names]
    if not candidates:
        raise EegemoError("no EOG, Fp1 or Fp2 channel to find a blink on")
    channel = candidates[0]
    trace = raw.get_data(picks=[channel])[0]
    margin = int(margin_s * raw.info["sfreq"])
    inner = np.abs(trace[margin : len(trace) - margin])
    if inner.size == 0:
        raise EegemoError(f"recording too short ({raw.times[-1]:.1f} s) to show a blink")
    return margin + int(np.argmax(inner)), channel


def plot_ica_blink(
    before: mne.io.BaseRaw,
    after: mne.io.BaseRaw,
    path: str | Path,
    excluded: Sequence[dict[str, Any]],
    title: str,
    window_s: float = 4.0,
    channels: Sequence[str] = FRONTAL_CHANNELS,
) -> dict[str, Any]:
    """Draw frontal EEG around the largest blink, before and after ICA, and save it as PNG.

    Parameters
    ----------
    before, after : mne.io.BaseRaw
        The same recording just before the ICA stage and just after it.
    path : path-like
        Destination ``.png`` (written atomically).
    excluded : sequence of dict
        The components the ICA stage excluded (its ``record["excluded"]``), for the title.
    title : str
        First line of the figure title (e.g. the recording id).
    window_s : float
        Length of the time window shown, centred on the blink.
    channels : sequence of str
        EEG channels to draw (those present), plus the EOG channel when there is one.

    Returns
    -------
    measured : dict
        ``time_s`` of the blink, ``found_on`` (channel), and per drawn EEG channel the
        peak-to-peak amplitude in µV within ±0.3 s of the blink, ``before`` and ``after``.
    """
    import mne
    from matplotlib.figure import Figure

    if before.ch_names != after.ch_names or before.n_times != after.n_times:
        raise EegemoError("before and after ICA must have the same channels and length")
    sfreq = before.info["sfreq"]
    peak, found_on = _blink_peak(before, window_s / 2)
    half = int(window_s / 2 * sfreq)
    start, stop = max(0, peak - half), min(before.n_times, peak + half)
    eeg = [ch for ch in channels if ch in before.ch_names]
    eog = [before.ch_names[i] for i in mne.pick_types(before.info, eog=True)]
    drawn = eeg + eog
    if not eeg:
        raise EegemoError(f"none of the channels {', '.join(channels)} is in the recording")
    data_before = before.get_data(picks=drawn, start=start, stop=stop) * 1e6
    data_after = after.get_data(picks=drawn, start=start, stop=stop) * 1e6
    times = (np.arange(start, stop) - peak) / sfreq

    near = np.abs(times) <= 0.3
    ptp = {
        ch: {
            "before": round(float(np.ptp(data_before[k, near])), 1),
            "after": round(float(np.ptp(data_after[k, near])), 1),
        }
        for k, ch in enumerate(eeg)
    }

    spacing = 1.2 * float(np.max(np.ptp(data_before[: len(eeg)], axis=1)))
    # The EOG channel (not changed by ICA) is shrunk by a whole factor to fit its row.
    names = list(eeg)
    for k, ch in enumerate(eog, start=len(eeg)):
        factor = int(np.ceil(np.ptp(data_before[k]) / spacing))
        if factor > 1:
            data_before[k] /= factor
            data_after[k] /= factor
            ch = f"{ch} ÷{factor}"
        names.append(ch)
    fig = Figure(figsize=(9, 1.0 + 0.75 * len(drawn)), layout="constrained")
    ax = fig.subplots()
    for k in range(len(drawn)):
        offset = -k * spacing
        ax.plot(times, data_before[k] - data_before[k].mean() + offset, color="#d62728",
                lw=1.2, alpha=0.6, label="before ICA" if k == 0 else None)
        ax.plot(times, data_after[k] - data_after[k].mean() + offset, color="black", lw=0.9,
                label="after ICA" if k == 0 else None)
    ax.set_yticks([-k * spacing for k in range(len(drawn))], names)
    ax.set_xlabel("time relative to the blink (s)")
    ax.set_xlim(times[0], times[-1])
    ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    scale = round(spacing / 2, -1) or spacing / 2
    # Scale bar in the free space above the first trace.
    top = 0.9 * spacing
    ax.plot([times[-1] - 0.1] * 2, [top, top - scale], color="black", lw=2)
    ax.text(times[-1] - 0.15, top - scale / 2, f"{scale:.0f} µV", ha="right", va="center",
            fontsize=8)
    ax.set_ylim(-(len(drawn) - 0.5) * spacing, spacing)
    removed = ", ".join(f"{e['component']} ({e['criterion']})" for e in excluded) or "none"
    ax.set_title(f"{title}\nICA components removed: {removed}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return {"time_s": round(peak / sfreq, 3), "found_on": found_on, "peak_to_peak_uv": ptp}


def condition_means(root: str | Path) -> tuple[list[str], np.ndarray, dict[str, int]]:
    """Mean topomap per label over every epoch listed in ``root/manifest.csv``.

    Parameters
    ----------
    root : path-like
        A preprocessed folder (``eegemo preprocess`` output).

    Returns
    -------
    labels : list of str
        Labels in natural order.
    means : ndarray, shape (n_labels, n_bands, H, W)
        Mean over the epochs of each label (NaN outside the head).
    counts : dict
        Epochs averaged per label.
    """
    from ..manifest import read_manifest
    from ..train.data import natural_sort

    manifest = read_manifest(root)
    labels = natural_sort(manifest.labels)
    sums: dict[str, np.ndarray] = {}
    counts = dict.fromkeys(labels, 0)
    for rel in np.unique(manifest.paths):
        rows = manifest.paths == rel
        array = np.load(Path(root) / rel, mmap_mode="r", allow_pickle=False)
        for label in np.unique(manifest.labels[rows]):
            picked = np.asarray(array[manifest.indices[rows & (manifest.labels == label)]])
            sums[label] = sums.get(label, 0.0) + picked.sum(axis=0, dtype=np.float64)
            counts[label] += len(picked)
    means = np.stack([sums[label] / counts[label] for label in labels]).astype(np.float32)
    return labels, means, counts


def plot_condition_topomaps(
    labels: Sequence[str],
    means: np.ndarray,
    bands: Sequence[str],
    path: str | Path,
    geometry: Any = None,
    unit: str = "log10 µV²",
) -> None:
    """Save mean topomaps as a grid: a row per condition plus a difference row, a column per band.

    Each band has one colour range shared by the conditions, so the rows compare
    directly; with two conditions the last row is the second minus the first on a
    symmetric diverging scale.

    Parameters
    ----------
    labels : sequence of str
        Condition names, one per row of ``means``.
    means : ndarray, shape (n_conditions, n_bands, H, W)
        Mean topomap per condition (from :func:`condition_means`).
    bands : sequence of str
        Band names, one per column.
    path : path-like
        Destination ``.png`` (written atomically).
    geometry : TopomapRasterizer, optional
        The rasterizer that made the images, for the exact head outline and sensors.
    unit : str
        What the values are, for the colour bars.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    from ..eeg.render import render_topomap

    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 4 or means.shape[:2] != (len(labels), len(bands)):
        raise EegemoError(
            f"means must have shape ({len(labels)}, {len(bands)}, H, W) for the given labels "
            f"and bands; got {means.shape}"
        )
    rows: list[tuple[str, np.ndarray, str, bool]] = [
        (label, means[i], "viridis", False) for i, label in enumerate(labels)
    ]
    if len(labels) == 2:
        rows.append((f"{labels[1]} − {labels[0]}", means[1] - means[0], "RdBu_r", True))
    fig = Figure(figsize=(2.1 * len(bands) + 0.6, 2.2 * len(rows)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), len(bands)))
    for j, band in enumerate(bands):
        finite = means[:, j][np.isfinite(means[:, j])]
        shared = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        for i, (name, images, cmap, diverging) in enumerate(rows):
            if diverging:
                m = float(np.nanmax(np.abs(images[j]))) or 1.0
                vmin, vmax = -m, m
            else:
                vmin, vmax = shared if shared[1] > shared[0] else (shared[0], shared[0] + 1)
            picture = render_topomap(images[j], vmin, vmax, cmap=cmap, geometry=geometry,
                                     background=(255, 255, 255), scale=4)
            ax = axes[i, j]
            ax.imshow(picture)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if i == 0:
                ax.set_title(band)
            if j == 0:
                ax.set_ylabel(name, fontsize=11)
            if diverging or i == len(labels) - 1:
                label = f"Δ {unit}" if diverging else unit
                fig.colorbar(ScalarMappable(Normalize(vmin, vmax), cmap), ax=ax,
                             shrink=0.8, label=label if j == len(bands) - 1 else None)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")


def plot_ecg_strips(
    strips: Sequence[tuple[str, np.ndarray, float]],
    path: str | Path,
    start_s: float = 5.0,
    window_s: float = 8.0,
) -> dict[str, dict[str, Any]]:
    """Draw a few seconds of ECG per recording with the beats eegemo detects, and save as PNG.

    Beats are found on the whole signal with :func:`eegemo.physio.heart.detect_beats`,
    as the heart features are.

    Parameters
    ----------
    strips : sequence of (str, ndarray, float)
        A title, the ECG in volts and its sampling rate, one per row of the figure.
    path : path-like
        Destination ``.png`` (written atomically).
    start_s, window_s : float
        Where the drawn window starts and how long it is, in seconds.

    Returns
    -------
    measured : dict
        Per title: ``beats`` (over the whole recording), ``heart_rate_bpm`` (from their
        mean R-R interval), ``beats_shown`` and ``inverted`` (the lead was upside down).
    """
    from matplotlib.figure import Figure

    from ..physio.heart import detect_beats

    if not strips:
        raise EegemoError("no ECG to draw")
    measured, drawn = {}, []
    for title, signal, sfreq in strips:
        peaks, _, inverted, _ = detect_beats(signal, sfreq)
        if len(peaks) < 2:
            raise EegemoError(f"{title}: fewer than two heartbeats found in the ECG")
        first = min(round(start_s * sfreq), max(0, len(signal) - round(window_s * sfreq)))
        last = min(len(signal), first + round(window_s * sfreq))
        shown = peaks[(peaks >= first) & (peaks < last)]
        rate = 60.0 * sfreq / float(np.mean(np.diff(peaks)))
        millivolts = np.asarray(signal, dtype=np.float64)[first:last] * 1e3
        drawn.append((np.arange(first, last) / sfreq, millivolts, shown / sfreq,
                      millivolts[shown - first]))
        measured[title] = {
            "beats": len(peaks),
            "heart_rate_bpm": round(rate, 1),
            "beats_shown": len(shown),
            "inverted": inverted,
        }
    low = min(float(trace.min()) for _, trace, _, _ in drawn)
    high = max(float(trace.max()) for _, trace, _, _ in drawn)
    lift = 0.12 * (high - low)  # the beat markers float just above the R-peaks
    fig = Figure(figsize=(9, 0.6 + 1.6 * len(strips)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(strips), 1, sharex=True, sharey=True))
    for ax, title, (times, trace, beat_times, beat_values) in zip(
        axes, measured, drawn, strict=True
    ):
        ax.plot(times, trace, color="black", lw=0.8)
        ax.plot(beat_times, beat_values + lift, "v", color="#d62728", ms=6)
        m = measured[title]
        ax.set_title(f"{title}: {m['beats']} beats detected, {m['heart_rate_bpm']:.0f} beats "
                     "per minute", fontsize=10, loc="left")
        ax.set_ylabel("ECG (mV)")
    axes[0].set_ylim(low - lift, high + 2.5 * lift)
    axes[-1].set_xlabel("time (s)")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return measured


def epoch_heart_rates(roots: Sequence[str | Path]) -> dict[str, np.ndarray]:
    """Heart rate around every epoch with a usable heart signal, from preprocessed folders.

    The rates are the ``hr`` column (the rate over the heart-feature window centred on
    the epoch) of the arrays named by the ``physio_path`` column of each
    ``manifest.csv``.

    Parameters
    ----------
    roots : sequence of path-like
        Preprocessed folders (``eegemo preprocess`` outputs).

    Returns
    -------
    rates : dict
        Parallel arrays ``subject``, ``label`` and ``bpm``, one entry per usable epoch;
        ``unusable``: the number of epochs whose heart signal could not be used, per label.

    Raises
    ------
    EegemoError
        If no epoch has heart features.
    """
    from ..manifest import read_manifest
    from ..physio.heart import FEATURES

    column = FEATURES.index("hr")
    subjects, labels, bpm = [], [], []
    unusable: dict[str, int] = {}
    for root in roots:
        manifest = read_manifest(root)
        for rel in np.unique(manifest.physio_paths[manifest.physio_paths != ""]):
            rows = manifest.physio_paths == rel
            values = np.load(Path(root) / rel, allow_pickle=False)[manifest.indices[rows], column]
            usable = np.isfinite(values)
            for label in manifest.labels[rows][~usable]:
                unusable[label] = unusable.get(label, 0) + 1
            subjects += list(manifest.subjects[rows][usable])
            labels += list(manifest.labels[rows][usable])
            bpm += list(values[usable])
    if not bpm:
        raise EegemoError(
            f"no epoch of {', '.join(map(str, roots))} has a usable heart rate (physio_path)"
        )
    return {
        "subject": np.array(subjects, dtype=str),
        "label": np.array(labels, dtype=str),
        "bpm": np.array(bpm, dtype=np.float64),
        "unusable": unusable,
    }


def plot_heart_rates(rates: dict[str, np.ndarray], path: str | Path) -> None:
    """Save the heart rate per condition: every epoch, and each subject's mean joined by a line.

    Parameters
    ----------
    rates : dict
        As returned by :func:`epoch_heart_rates`.
    path : path-like
        Destination ``.png`` (written atomically).
    """
    from matplotlib.figure import Figure

    from ..train.data import natural_sort

    labels = natural_sort(set(rates["label"]))
    subjects = natural_sort(set(rates["subject"]))
    fig = Figure(figsize=(1.6 + 1.6 * len(labels), 4.2), layout="constrained")
    ax = fig.subplots()
    jitter = np.random.default_rng(0)
    for x, label in enumerate(labels):
        bpm = rates["bpm"][rates["label"] == label]
        ax.plot(x + jitter.uniform(-0.18, 0.18, len(bpm)), bpm, ".", color="0.6", ms=3,
                label="epoch" if x == 0 else None)
    for k, subject in enumerate(subjects):
        mine = rates["subject"] == subject
        xs = [x for x, label in enumerate(labels) if (mine & (rates["label"] == label)).any()]
        means = [rates["bpm"][mine & (rates["label"] == labels[x])].mean() for x in xs]
        ax.plot(xs, means, "o-", color="#1f77b4", lw=1, ms=5, alpha=0.8,
                label="subject mean" if k == 0 else None)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_ylabel("heart rate (beats per minute)")
    ax.set_title(f"Heart rate per condition ({len(subjects)} subjects)", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
