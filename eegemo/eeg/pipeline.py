"""One recording from raw file to topomaps, band power and a provenance record.

:func:`process_recording` runs read → channels → stages → epochs → band power →
topomaps, and heart features when the recording has an ECG or PPG channel, reusing
the steps whose key has not changed (:mod:`eegemo.eeg.cache`), and writes, each file
atomically::

    OUT/clean/<id>_raw.fif             the cleaned recording (and <id>-ica.fif, <id>.json)
    OUT/clean/<id>-epo.fif             the kept epochs, on request (``save_epochs``)
    OUT/<subject>/<id>_topomaps.npy    float32 (n_epochs, n_bands, res, res), NaN outside head
    OUT/<subject>/<id>_bandpower.npy   float32 (n_epochs, n_channels, n_bands)
    OUT/<subject>/<id>_physio.npy      float32 (n_epochs, n_features), NaN where unusable
    OUT/<subject>/png/<id>.png         optional panel of the mean topomap per band
    OUT/provenance/<id>.json           written last: marks the recording complete

A recording without usable EEG but with a heart channel is processed for its heart
signal alone: epochs cut on its clock, heart features only.

Every failure is a :class:`~eegemo.errors.RecordingError` naming the step that failed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import time
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_path, write_json, write_npy
from ..config import to_dict
from ..environment import versions
from ..errors import EegemoError, RecordingError, first_line
from ..integrity import sha256_file
from ..physio.recording import HEART_TYPES, PhysioResult, epoch_features, heart_channels
from .cache import CLEAN_DIR, describe_inputs, read_clean, remove_clean, step_keys, write_clean
from .io import Recording
from .ratings import Trial
from .rejection import autoreject_epochs
from .settings import EpochsConfig, PreprocessConfig, RejectConfig, TopomapConfig
from .spectral import band_power
from .stages import StageContext

if TYPE_CHECKING:
    import mne

#: Folder under OUT holding one provenance JSON per complete recording.
PROVENANCE_DIR = "provenance"


@contextlib.contextmanager
def step(name: str, timings: dict[str, float] | None = None) -> Iterator[None]:
    """Run a block as pipeline step ``name``: time it and tag any failure with it.

    A :class:`~eegemo.errors.RecordingError` raised inside keeps its own stage; any
    other exception becomes ``RecordingError(name, "<Type>: <message>")``.

    Parameters
    ----------
    name : str
        Step name recorded in failures and timings.
    timings : dict, optional
        Receives ``{name: seconds}``.
    """
    start = time.perf_counter()
    try:
        yield
    except RecordingError:
        raise
    except EegemoError as exc:
        raise RecordingError(name, str(exc)) from exc
    except MemoryError:
        raise RecordingError(name, "not enough memory") from None
    except Exception as exc:
        text = first_line(exc) if str(exc).strip() else ""
        raise RecordingError(name, f"{type(exc).__name__}: {text}".rstrip(": ")) from exc
    finally:
        if timings is not None:
            timings[name] = round(time.perf_counter() - start, 3)


def output_paths(recording: Recording, png: bool = False) -> dict[str, str]:
    """Paths of a recording's outputs relative to OUT (POSIX), by kind.

    ``epochs`` (the kept epochs as FIF, named as MNE expects: ``<id>-epo.fif``) sits
    beside the cleaned recording in ``OUT/clean/``; it is written on request only.
    """
    base = f"{recording.subject}/{recording.id}"
    paths = {
        "topomaps": f"{base}_topomaps.npy",
        "bandpower": f"{base}_bandpower.npy",
        "physio": f"{base}_physio.npy",
        "epochs": f"{CLEAN_DIR}/{recording.id}-epo.fif",
    }
    if png:
        paths["png"] = f"{recording.subject}/png/{recording.id}.png"
    return paths


def provenance_path(out_dir: str | Path, recording_id: str) -> Path:
    """Where the provenance record of a recording lives."""
    return Path(out_dir) / PROVENANCE_DIR / f"{recording_id}.json"


def read_provenance(out_dir: str | Path, recording_id: str) -> dict[str, Any] | None:
    """The provenance record of a recording, or ``None`` when absent or unreadable."""
    try:
        with open(provenance_path(out_dir, recording_id), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def recorded_band_order(record: dict[str, Any]) -> list[str]:
    """The bands of a provenance record in the order of its arrays.

    JSON records keep no key order, so the order is recorded in ``band_order``;
    records written before it existed hold the bands by increasing frequency (low
    edge, then high), as eegemo's defaults and pipelines list them.

    Parameters
    ----------
    record : dict
        A provenance record (:func:`read_provenance`).

    Returns
    -------
    names : list of str
    """
    bands = record["config"]["bandpower"]["bands"]
    return record.get("band_order") or sorted(bands, key=lambda name: tuple(bands[name]))


# --------------------------------------------------------------------------- epochs


@dataclasses.dataclass
class EpochSet:
    """Epochs kept after rejection, with what is needed to describe them.

    Attributes
    ----------
    epochs : mne.Epochs
        The kept epochs as MNE holds them: ``drop_log`` gives the reason each dropped
        window was dropped, ``event_id`` maps each epoch label to its event code.
    data : ndarray, shape (n_epochs, n_channels, n_times)
        EEG of the kept epochs in volts (the heart channels for a recording without
        EEG): the data of ``epochs``, not a copy.
    ch_names : list of str
        The EEG (or heart) channels, in data order.
    info : mne.Info
        Measurement info of those channels (positions for the topomaps).
    onsets_s : list of float
        Start of each kept epoch in seconds from the start of the recording.
    labels : list of str or None
        Label of each kept epoch.
    report : dict
        Counts of candidate, rejected and kept epochs and the reasons; with
        ``method = "autoreject"`` also ``autoreject``, what it learnt and did.
    """

    epochs: Any
    data: np.ndarray
    ch_names: list[str]
    info: Any
    onsets_s: list[float]
    labels: list[str | None]
    report: dict[str, Any]
    baselines: np.ndarray | None = None
    baseline_of: np.ndarray | None = None


def _window_events(
    raw: mne.io.BaseRaw, config: EpochsConfig
) -> tuple[np.ndarray, list[str] | None, np.ndarray | None]:
    """Sample of each candidate epoch start, its annotation or event (``None``: fixed),
    and the onset in seconds of that annotation or event (``None``: fixed)."""
    import mne

    sfreq = raw.info["sfreq"]
    length = config.length_s
    step_s = length - config.overlap_s
    wanted = config.labels

    def windows(start: float, stop: float) -> list[float]:
        n = int(np.floor((stop - start - length) / step_s + 1e-9)) + 1
        return [start + k * step_s for k in range(max(n, 0))]

    if config.source == "fixed":
        starts = windows(0.0, raw.n_times / sfreq)
        return np.round(np.asarray(starts) * sfreq).astype(int), None, None

    starts, keys, onsets = [], [], []
    if config.source == "annotations":
        found = sorted({a["description"] for a in raw.annotations})
        for ann in raw.annotations:
            desc = ann["description"]
            if desc.upper().startswith(("BAD", "EDGE")) or (wanted and desc not in wanted):
                continue
            # Raw annotations count from meas_date (or, without one, from sample 0 of the
            # original recording): both put the first sample at raw.first_time.
            onset = ann["onset"] - raw.first_time
            spans = windows(onset, onset + max(ann["duration"], length))
            starts += spans
            keys += [desc] * len(spans)
            onsets += [onset] * len(spans)
        what = "annotation"
    else:
        stim = mne.pick_types(raw.info, stim=True)
        if len(stim):
            events = mne.find_events(raw, shortest_event=1, verbose="error")
            codes = [str(int(c)) for c in events[:, 2]]
        else:
            events, mapping = mne.events_from_annotations(raw, verbose="error")
            names = {v: k for k, v in mapping.items()}
            codes = [names[int(c)] for c in events[:, 2]]
        found = sorted(set(codes))
        for sample, code in zip(events[:, 0], codes, strict=True):
            if wanted and code not in wanted:
                continue
            starts.append((sample - raw.first_samp) / sfreq + config.tmin_s)
            keys.append(code)
            onsets.append((sample - raw.first_samp) / sfreq)
        what = "event"
    if not starts:
        listed = f" listed in epochs.labels ({', '.join(wanted)})" if wanted else ""
        raise RecordingError(
            "epochs",
            f"no {what}s{listed} to epoch around; found: {', '.join(found) or 'none'}",
        )
    samples = np.round(np.asarray(starts) * sfreq).astype(int)
    # One epoch per start sample, in time order (mne.Epochs needs unique events).
    samples, first = np.unique(samples, return_index=True)
    return samples, [keys[i] for i in first], np.asarray(onsets)[first]


def _reject(data: np.ndarray, config: RejectConfig) -> tuple[np.ndarray, str]:
    """Boolean mask of epochs to drop, and the rule applied, from EEG data in volts."""
    ptp = (data.max(axis=-1) - data.min(axis=-1)) * 1e6  # (n_epochs, n_channels), µV
    if config.method == "none":
        return np.zeros(len(data), bool), "none"
    if config.method == "ptp":
        return (ptp > config.ptp_uv).any(axis=1), f"peak-to-peak > {config.ptp_uv:g} µV"
    high = np.percentile(ptp, config.percentile, axis=0)
    low = np.percentile(ptp, 100.0 - config.percentile, axis=0)
    threshold = high + config.factor * (high - low)
    bad_fraction = (ptp > threshold).mean(axis=1)
    rule = (
        f"more than {config.max_bad_fraction:g} of channels above their "
        f"P{config.percentile:g} + {config.factor:g} x spread"
    )
    return bad_fraction > config.max_bad_fraction, rule


def check_duration(raw: mne.io.BaseRaw, config: EpochsConfig) -> None:
    """Raise ``RecordingError("epochs")`` when ``raw`` is shorter than one epoch."""
    duration = raw.n_times / raw.info["sfreq"]
    if duration < config.length_s:
        raise RecordingError(
            "epochs",
            f"recording lasts {duration:.2f} s, shorter than one epoch "
            f"(epochs.length_s = {config.length_s:g} s)",
        )


def event_code(label: str) -> int:
    """The event code standing for an epoch label, the same in every recording.

    Epochs of different recordings and studies can therefore be concatenated
    (:func:`mne.concatenate_epochs`) and classified by their codes.

    Parameters
    ----------
    label : str
        The epoch label.

    Returns
    -------
    code : int
        A label that is a positive integer (an event code such as ``"2"``) keeps that
        number; any other label gets ``1 + CRC-32 of its UTF-8 text modulo 2**31 - 1``.
    """
    if label.isascii() and label.isdigit() and 0 < int(label) < 2**31:
        return int(label)
    return 1 + zlib.crc32(label.encode()) % (2**31 - 1)


def _event_codes(labels: list[str | None]) -> tuple[np.ndarray, dict[str, int] | None]:
    """Event code of each epoch label (:func:`event_code`), and the label -> code map.

    Without labels (all ``None``) every epoch gets code 1 and the map is ``None``, MNE's
    default (``{"1": 1}``).
    """
    if all(name is None for name in labels):
        return np.ones(len(labels), int), None
    event_id = {name: event_code(name) for name in sorted(set(labels))}
    return np.array([event_id[name] for name in labels], int), event_id


def _trial_labels(
    starts_s: np.ndarray, keys: list[str] | None, trials: tuple[Trial, ...], length_s: float
) -> list[str | None]:
    """The label of the rated trial each window falls in (``None``: in none).

    A trial named by its event takes the windows of that annotation or event; a trial
    given by onset and offset the windows lying wholly between them.
    """
    if trials[0].event is not None:
        if keys is None:
            raise RecordingError(
                "epochs",
                'trials named by event need epochs.source = "annotations" or "events"',
            )
        by_event = {t.event: t.label for t in trials}
        return [by_event.get(k) for k in keys]
    eps = 1e-6
    labels: list[str | None] = []
    for start in starts_s:
        inside = [t for t in trials if t.onset_s - eps <= start <= t.offset_s - length_s + eps]
        labels.append(inside[0].label if inside else None)
    return labels


def make_epochs(
    raw: mne.io.BaseRaw,
    config: EpochsConfig,
    label: str | None,
    trials: tuple[Trial, ...] = (),
) -> EpochSet:
    """Cut a cleaned recording into epochs and drop the bad ones.

    Windows overlapping a ``BAD``/``EDGE`` annotation or reaching past the end are
    dropped first, then the rejection rule of ``config.reject`` is applied to the
    EEG channels; the drop log of the :class:`mne.Epochs` returned records both, the
    rule's text being the reason of the epochs it dropped (``"AUTOREJECT"`` for
    ``method = "autoreject"``, whose kept epochs have their bad channels interpolated,
    see :func:`~eegemo.eeg.rejection.autoreject_epochs`). A recording without EEG (a
    heart signal processed alone) is cut the same way on its heart channels, without
    the rejection rule. Each epoch's event code stands for its label (``event_id``, see
    :func:`event_code`: the same in every recording).

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The processed recording.
    config : EpochsConfig
        Epoch length, overlap, source and rejection.
    label : str | None
        The recording's label, given to every epoch of ``source = "fixed"``.
    trials : tuple of Trial
        Rated trials (:attr:`Recording.trials <eegemo.eeg.io.Recording.trials>`): when
        given, each window takes the label of the trial it falls in, and windows in no
        trial are left out (``outside_trials`` in the report).

    Returns
    -------
    epochs : EpochSet
        The kept epochs.

    Raises
    ------
    RecordingError
        Stage ``"epochs"`` when the recording is shorter than one epoch, no
        annotation/event matches, no window falls in a rated trial, or every epoch is
        rejected.
    """
    import mne

    sfreq = raw.info["sfreq"]
    check_duration(raw, config)
    starts, keys, trial_onsets = _window_events(raw, config)
    if keys is None:
        labels: list[str | None] = [label] * len(starts)
    else:
        labels = [config.labels.get(k, k) for k in keys]
    outside = 0
    if trials:
        labels = _trial_labels(starts / sfreq, keys, trials, config.length_s)
        rated = np.array([lab is not None for lab in labels], bool)
        outside = int((~rated).sum())
        if not rated.any():
            raise RecordingError(
                "epochs",
                f"none of the {len(starts)} windows falls in a rated trial "
                f"({len(trials)} trials in the labels CSV)",
            )
        starts, labels = starts[rated], [lab for lab in labels if lab is not None]
        if trial_onsets is not None:
            trial_onsets = trial_onsets[rated]
    codes, event_id = _event_codes(labels)
    n_samples = round(config.length_s * sfreq)
    events = np.column_stack([starts + raw.first_samp, np.zeros(len(starts), int), codes])
    has_eeg = "eeg" in raw.get_channel_types()
    epochs = mne.Epochs(
        raw.copy().pick("eeg" if has_eeg else list(HEART_TYPES)),
        events,
        event_id=event_id,
        tmin=0.0,
        tmax=(n_samples - 1) / sfreq,
        baseline=None,
        preload=True,
        reject_by_annotation=True,
        verbose="error",
    )
    total = len(starts)
    dropped_annotation = total - len(epochs)
    data = epochs.get_data(copy=False)
    if len(data) == 0:
        raise RecordingError(
            "epochs",
            f"all {total} epochs overlap bad segments or the end of the recording",
        )
    baselines = baseline_of = None
    no_baseline = 0
    if config.baseline_s and has_eeg:
        baselines, baseline_of = _baseline_segments(
            raw, epochs.ch_names, trial_onsets[epochs.selection], config.baseline_s
        )
        missing = baseline_of < 0
        no_baseline = int(missing.sum())
        if missing.all():
            raise RecordingError(
                "epochs",
                f"no epoch has a full {config.baseline_s:g}-s baseline before its annotation "
                "or event (cut by the recording's start or a bad segment)",
            )
        if no_baseline:
            epochs.drop(np.flatnonzero(missing), reason="NO BASELINE", verbose="error")
            baseline_of = baseline_of[~missing]
        data = epochs.get_data(copy=False)
    learnt: dict[str, Any] | None = None  # what autoreject learnt and did
    if not has_eeg:
        drop, rule = np.zeros(len(data), bool), "none (no EEG: heart signal alone)"
    elif config.reject.method == "autoreject":
        windows = np.asarray(epochs.selection, dtype=int)
        # A copy, bad channels interpolated, bad epochs dropped through MNE ("AUTOREJECT").
        epochs, record = autoreject_epochs(epochs)
        drop, rule = np.isin(np.arange(len(data)), record["dropped"]), record["rule"]
        learnt = {k: v for k, v in record.items() if k not in ("method", "rule")}
        learnt["dropped"] = [int(w) for w in windows[drop]]  # windows, as in the drop log
    else:
        drop, rule = _reject(data, config.reject)
    keep = ~drop
    if not keep.any():
        raise RecordingError(
            "epochs",
            f"all {total} epochs rejected ({rule}); loosen epochs.reject or check the data",
        )
    if learnt is None:
        epochs.drop(np.flatnonzero(drop), reason=rule, verbose="error")
    if baseline_of is not None:
        baseline_of = baseline_of[keep]
    kept_idx = np.asarray(epochs.selection, dtype=int)
    onsets = [round(float(s) / sfreq, 6) for s in starts[kept_idx]]
    report = {
        "source": config.source,
        "length_s": config.length_s,
        "overlap_s": config.overlap_s,
        "sfreq": float(sfreq),
        "total": total,
        "rejected": int(total - keep.sum()),
        "rejected_bad_segments": int(dropped_annotation),
        **({"baseline_s": config.baseline_s, "rejected_no_baseline": no_baseline}
           if baselines is not None else {}),
        "rejected_by_rule": int(drop.sum()),
        "rule": rule,
        "kept": int(keep.sum()),
    }
    if trials:
        report["outside_trials"] = outside
    if learnt is not None:
        report["autoreject"] = learnt
    return EpochSet(
        epochs=epochs,
        data=epochs.get_data(copy=False),
        ch_names=list(epochs.ch_names),
        info=epochs.info,
        onsets_s=onsets,
        labels=[labels[i] for i in kept_idx],
        report=report,
        baselines=baselines,
        baseline_of=baseline_of,
    )


def _baseline_segments(
    raw: mne.io.BaseRaw, ch_names: list[str], onsets_s: np.ndarray, baseline_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """The ``baseline_s`` seconds before each distinct onset, and each epoch's segment.

    Returns
    -------
    segments : ndarray, shape (n_segments, n_channels, n_times)
        The channels ``ch_names`` before each onset that has a full, clean segment.
    index : ndarray of int, shape (n_epochs,)
        Row of ``segments`` of each epoch, -1 where its segment starts before the
        recording or overlaps a ``BAD`` annotation.
    """
    sfreq = raw.info["sfreq"]
    n = round(baseline_s * sfreq)
    picks = [raw.ch_names.index(ch) for ch in ch_names]
    segments, row_of = [], {}
    for onset in np.unique(onsets_s):
        stop = round(onset * sfreq)
        if stop - n < 0:
            continue
        segment = raw.get_data(picks=picks, start=stop - n, stop=stop,
                               reject_by_annotation="NaN", verbose="error")
        if segment.shape[1] == n and not np.isnan(segment).any():
            row_of[float(onset)] = len(segments)
            segments.append(segment)
    index = np.array([row_of.get(float(o), -1) for o in onsets_s], int)
    shape = (0, len(picks), n)
    return (np.stack(segments) if segments else np.zeros(shape)), index


# --------------------------------------------------------------------------- topomaps

_RASTERIZERS: dict[tuple, Any] = {}


def rasterizer_for(info: mne.Info, config: TopomapConfig) -> Any:
    """Return a :class:`~eegemo.eeg.topomap.TopomapRasterizer`, cached per montage.

    Building one solves for the interpolation matrix; every recording with the same
    channels, positions and options (in this process) reuses it. The positions are
    taken in single precision, as FIF files store them, so that a recording in memory
    and the same recording saved and read back give the same bytes.
    """
    from .topomap import TopomapRasterizer

    info = info.copy()
    for ch in info["chs"]:
        ch["loc"][:] = ch["loc"].astype(np.float32)
    positions = np.array([ch["loc"][:3] for ch in info["chs"]])
    key = (
        tuple(info["ch_names"]),
        positions.tobytes(),
        config.res,
        config.extrapolate,
        config.image_interp,
        config.sphere,
        config.border,
    )
    if key not in _RASTERIZERS:
        _RASTERIZERS[key] = TopomapRasterizer(
            info,
            res=config.res,
            sphere=config.sphere,
            extrapolate=config.extrapolate,
            border=config.border,
            image_interp=config.image_interp,
        )
    return _RASTERIZERS[key]


def _write_png(
    path: Path, images: np.ndarray, bands: list[str], title: str, rasterizer: Any
) -> None:
    """Write the mean topomap of each band over all epochs as one panel, atomically."""
    from .render import save_band_panel_png

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of the all-NaN outside
        mean = np.nanmean(images, axis=0)
    save_band_panel_png(path, mean, bands, title=title, geometry=rasterizer)


# --------------------------------------------------------------------------- driver


def _one_line(text: str) -> str:
    return " ".join(text.split())


@contextlib.contextmanager
def _warnings_into(found: list[str]) -> Iterator[None]:
    """Add the distinct warnings raised inside the block to ``found``, one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    found.extend(sorted({_one_line(str(w.message)) for w in caught} - set(found)))


#: Stages that work on the EEG alone: skipped for a heart signal processed alone.
EEG_STAGES = ("rereference", "ica")
#: Stages that filter the EEG, EOG, ECG and EMG: skipped when there is none (a PPG alone).
FILTER_STAGES = ("bandpass", "notch")


def _skip_reason(name: str, raw: mne.io.BaseRaw) -> str | None:
    """Why stage ``name`` has nothing to do in ``raw`` (a recording without EEG), if so."""
    types = set(raw.get_channel_types())
    if "eeg" in types:
        return None
    if name in EEG_STAGES:
        return "no EEG: heart signal alone"
    if name in FILTER_STAGES and not types & {"eog", "ecg", "emg"}:
        return "no EEG, EOG, ECG or EMG channel to filter"
    return None


def apply_stages(
    raw: mne.io.BaseRaw, config: PreprocessConfig, timings: dict[str, float] | None = None
) -> Iterator[tuple[str, mne.io.BaseRaw, StageContext]]:
    """Apply the configured stages to a recording in order, yielding after each one.

    Each stage runs as pipeline step ``name`` (see :func:`step`): timed, and any
    failure raised as :class:`~eegemo.errors.RecordingError` naming it. Stages may work
    in place: copy a yielded recording to keep it as it was at that point. In a
    recording without EEG (a heart signal processed alone) the stages of
    :data:`EEG_STAGES`, and those of :data:`FILTER_STAGES` when nothing is left to
    filter, are skipped: their record says why.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording after channel hygiene
        (:func:`~eegemo.eeg.channels.prepare_channels`).
    config : PreprocessConfig
        The preprocessing configuration (its ``stages`` and ``line_freq``).
    timings : dict, optional
        Receives ``{stage name: seconds}``.

    Yields
    ------
    name : str
        The stage just applied.
    raw : mne.io.BaseRaw
        The recording after it.
    context : StageContext
        What the stage recorded (``context.record``) and kept (``context.artifacts``,
        e.g. the fitted ICA).
    """
    line_freq, source = config.recording_line_freq(raw)
    for stage in config.build_stages():
        context = StageContext(line_freq=line_freq, line_freq_source=source)
        skip = _skip_reason(stage.name, raw)
        if skip is not None:
            context.record["skipped"] = skip
        else:
            with step(stage.name, timings):
                raw = stage.apply(raw, context)
        yield stage.name, raw, context


@dataclasses.dataclass
class CleanRecording:
    """A recording after channel hygiene and every stage (see :func:`clean_recording`).

    Attributes
    ----------
    raw : mne.io.BaseRaw
        The cleaned recording.
    channels : dict
        Channel report of :func:`~eegemo.eeg.channels.prepare_channels`.
    stages : list of dict
        One record per stage: its name and what it did.
    ica : mne.preprocessing.ICA | None
        The ICA fitted by the (last) ica stage, ``None`` without one.
    """

    raw: Any
    channels: dict[str, Any]
    stages: list[dict[str, Any]]
    ica: Any


def clean_recording(
    recording: Recording,
    config: PreprocessConfig,
    timings: dict[str, float] | None = None,
    raw: mne.io.BaseRaw | None = None,
) -> CleanRecording:
    """Read a recording, fix its channels and apply the configured stages, in memory.

    Parameters
    ----------
    recording : Recording
        What to clean.
    config : PreprocessConfig
        The preprocessing configuration.
    timings : dict, optional
        Receives seconds per step (``read``, ``channels``, one per stage).
    raw : mne.io.BaseRaw, optional
        The recording already read and preloaded, used instead of reading
        ``recording.path``; modified in place.

    Returns
    -------
    clean : CleanRecording
        The cleaned recording with its channel and stage records and its ICA.

    Raises
    ------
    RecordingError
        When the recording cannot be read or cleaned; ``stage`` names the step.
    """
    from .channels import prepare_channels
    from .io import read_raw

    if raw is None:
        with step("read", timings):
            raw = read_raw(recording.path)
    with step("channels", timings):
        raw, channel_report = prepare_channels(raw, config.channels)
        # Fail short recordings before the stages, whose own errors would be obscure.
        check_duration(raw, config.epochs)
    records, ica = [], None
    for name, after, context in apply_stages(raw, config, timings):
        raw = after
        records.append({"name": name, **context.record})
        if "ica" in context.artifacts:
            ica = context.artifacts["ica"]
            # Marked as MNE users expect: ica.apply(raw) then removes the same components.
            ica.exclude = [e["component"] for e in context.record.get("excluded", [])]
    return CleanRecording(raw=raw, channels=channel_report, stages=records, ica=ica)


def _band_power(
    epochs: EpochSet, config: PreprocessConfig, timings: dict[str, float]
) -> np.ndarray:
    settings = config.bandpower
    power_of = functools.partial(
        band_power,
        sfreq=epochs.info["sfreq"],
        bands=settings.bands,
        method=settings.method,
        segment_s=settings.segment_s,
        log10=settings.log10,
        relative=settings.relative,
        ch_names=epochs.ch_names,
    )
    with step("bandpower", timings):
        power = power_of(epochs.data)
        if epochs.baselines is not None:
            base = power_of(epochs.baselines)[epochs.baseline_of]
            power = power - base if settings.log10 else power / base
    return power.astype(np.float32)


def bandpower_record(config: PreprocessConfig, sfreq: float) -> dict[str, Any]:
    """How band power is computed from epochs at ``sfreq``, for the provenance.

    Returns
    -------
    record : dict
        ``method``; for Welch also ``segment_s``, the segment length actually used,
        and, when ``bandpower.segment_s`` was longer than an epoch and so capped,
        ``segment_s_requested`` and a ``note`` saying so.
    """
    from .spectral import welch_segment

    method, requested = config.bandpower.method, config.bandpower.segment_s
    if method != "welch":
        return {"method": method}
    n_per_seg = welch_segment(round(config.epochs.length_s * sfreq), sfreq, requested)
    used = n_per_seg / sfreq
    record: dict[str, Any] = {"method": method, "segment_s": round(used, 6)}
    if n_per_seg < round(requested * sfreq):
        record["segment_s_requested"] = requested
        record["note"] = (
            f"bandpower.segment_s = {requested:g} s is longer than an epoch "
            f"(epochs.length_s = {config.epochs.length_s:g} s): Welch segments of "
            f"{used:g} s used"
        )
    return record


def _topomaps(
    power: np.ndarray, info: mne.Info, config: PreprocessConfig, timings: dict[str, float]
) -> np.ndarray:
    with step("topomap", timings):
        # From the float32 band power as stored, so that maps made later from the
        # saved band power are the same bytes.
        return rasterizer_for(info, config.topomap).transform(power.transpose(0, 2, 1))


def _check_heart_alone(
    recording: Recording, channels: dict[str, Any], config: PreprocessConfig
) -> None:
    """Refuse a recording without usable EEG when its heart channel is not to be used."""
    if channels["n_eeg"] == 0 and not config.physio.enabled:
        raise RecordingError(
            "channels",
            f"{recording.path.name}: {channels.get('eeg_unusable')}; its heart channel is "
            "not used either, as physio.enabled = false",
        )


def _physio(
    raw: mne.io.BaseRaw,
    onsets_s: list[float],
    config: PreprocessConfig,
    timings: dict[str, float],
) -> PhysioResult | None:
    """Heart features of the epochs (None without a heart channel or with physio off).

    A recording processed for its heart signal alone fails (stage ``physio``) when no
    epoch has a usable heart signal: there would be nothing to keep.
    """
    if not config.physio.enabled or not heart_channels(raw):
        return None
    alone = "eeg" not in raw.get_channel_types()
    with step("physio", timings):
        result = epoch_features(raw, onsets_s, config.epochs.length_s, config.physio)
    result.record["alone"] = alone
    record = result.record
    if alone and record["usable"] == 0:
        reasons = ", ".join(f"{reason} {n}" for reason, n in record["unusable"].items())
        raise RecordingError(
            "physio",
            f"no EEG, and none of the {record['epochs']} epochs has a usable heart signal "
            f"in {record['channel']} ({reasons}): nothing to keep",
        )
    return result


@dataclasses.dataclass
class RecordingResult:
    """What :func:`compute_recording` produced for one recording, in memory.

    Attributes
    ----------
    raw : mne.io.BaseRaw
        The cleaned recording (every channel kept by the channel hygiene).
    ica : mne.preprocessing.ICA | None
        The fitted ICA with ``exclude`` set to the removed components; ``None``
        without an ica stage (or without EEG).
    epochs : EpochSet
        The kept epochs.
    bandpower : ndarray of float32, shape (n_epochs, n_channels, n_bands) | None
        Band power; None for a heart signal processed alone.
    topomaps : ndarray of float32, shape (n_epochs, n_bands, res, res) | None
        Band-power images, NaN outside the head; None for a heart signal alone.
    physio : PhysioResult | None
        Heart features of the epochs and their record; None without a heart channel
        (or with ``physio.enabled = false``).
    channels : dict
        Channel report of :func:`~eegemo.eeg.channels.prepare_channels`.
    stages : list of dict
        One record per stage: its name and what it did.
    warnings : list of str
        Distinct warnings raised by MNE and others while processing.
    timings_s : dict
        Seconds per step.
    """

    raw: Any
    ica: Any
    epochs: EpochSet
    bandpower: np.ndarray | None
    topomaps: np.ndarray | None
    physio: PhysioResult | None
    channels: dict[str, Any]
    stages: list[dict[str, Any]]
    warnings: list[str]
    timings_s: dict[str, float]


def compute_recording(
    recording: Recording, config: PreprocessConfig, raw: mne.io.BaseRaw | None = None
) -> RecordingResult:
    """Run read → channels → stages → epochs → band power → topomaps → heart in memory.

    The epochs, band power, topomaps and heart features are the same bytes as those
    :func:`process_recording` writes when both run with the same number of BLAS
    threads (its workers use one).

    Parameters
    ----------
    recording : Recording
        What to process.
    config : PreprocessConfig
        The preprocessing configuration.
    raw : mne.io.BaseRaw, optional
        The recording already read and preloaded, used instead of reading
        ``recording.path``; modified in place.

    Returns
    -------
    result : RecordingResult
        Arrays and records; see :func:`process_recording` to also write them.

    Raises
    ------
    RecordingError
        When the recording cannot be processed; ``stage`` names the step that failed.
    """
    timings: dict[str, float] = {}
    found: list[str] = []
    power = images = None
    with _warnings_into(found):
        clean = clean_recording(recording, config, timings, raw)
        _check_heart_alone(recording, clean.channels, config)
        with step("epochs", timings):
            epochs = make_epochs(clean.raw, config.epochs, recording.label, recording.trials)
        if clean.channels["n_eeg"]:
            power = _band_power(epochs, config, timings)
            images = _topomaps(power, epochs.info, config, timings)
        physio = _physio(clean.raw, epochs.onsets_s, config, timings)
    return RecordingResult(
        raw=clean.raw,
        ica=clean.ica,
        epochs=epochs,
        bandpower=power,
        topomaps=images,
        physio=physio,
        channels=clean.channels,
        stages=clean.stages,
        warnings=found,
        timings_s=timings,
    )


def provenance_record(
    recording: Recording,
    config: PreprocessConfig,
    clean: dict[str, Any],
    epochs: dict[str, Any],
    used: list[str],
    physio: dict[str, Any] | None,
    found: list[str],
    sfreq: float,
) -> dict[str, Any]:
    """What was done to a recording and why: the provenance shared by every entry point.

    Parameters
    ----------
    recording : Recording
        The recording.
    config : PreprocessConfig
        The preprocessing configuration.
    clean : dict
        ``channels`` (report of :func:`~eegemo.eeg.channels.prepare_channels`) and
        ``stages`` (one record per stage).
    epochs : dict
        The epochs' report with ``onsets_s`` and ``labels``.
    used : list of str
        The EEG channels of the band power and topomaps (empty without EEG).
    physio : dict | None
        The heart features' record, None without them.
    found : list of str
        Distinct warnings raised while processing.
    sfreq : float
        Sampling frequency of the epochs in Hz.

    Returns
    -------
    provenance : dict
        ``versions``, ``config``, ``recording``, ``channels``, ``stages``,
        ``ica_excluded``, ``epochs``, ``bandpower``, ``bands``, ``physio``, ``warnings``
        and ``notes`` (what the user should know although nothing failed).
    """
    has_eeg = clean["channels"]["n_eeg"] > 0
    bandpower = bandpower_record(config, sfreq) if has_eeg else None
    return {
        "versions": versions("mne", "numpy", "scipy"),
        "config": to_dict(config),
        "recording": {
            "id": recording.id,
            "subject": recording.subject,
            "label": recording.label,
            "path": str(recording.path),
            "notes": list(recording.notes),
        },
        "channels": {**clean["channels"], "used": used, "n_used": len(used)},
        "stages": clean["stages"],
        "ica_excluded": [
            e for r in clean["stages"] if r["name"] == "ica" for e in r.get("excluded", [])
        ],
        "epochs": epochs,
        "bandpower": bandpower,
        "bands": (
            {name: list(edges) for name, edges in config.bandpower.bands.items()}
            if has_eeg
            else None
        ),
        # JSON records keep no key order: the order of the bands in the arrays
        "band_order": list(config.bandpower.bands) if has_eeg else None,
        "physio": physio,
        "warnings": sorted(set(found)),
        "notes": [
            *clean["channels"].get("notes", []),
            *filter(None, [(bandpower or {}).get("note"), (physio or {}).get("note")]),
        ],
    }


def write_epochs(path: str | Path, epochs: mne.BaseEpochs) -> None:
    """Save epochs as FIF in double precision, atomically.

    Parameters
    ----------
    path : path-like
        The file, named as MNE expects (ending in ``-epo.fif``).
    epochs : mne.BaseEpochs
        The epochs; :func:`mne.read_epochs` reads back the same data and drop log.
    """
    with atomic_path(path) as tmp:
        epochs.save(tmp, fmt="double", overwrite=True, verbose="error")


#: Steps whose output a later run keeps when their key is unchanged (``epochs``: the
#: epochs file written on request).
REUSABLE = ("epochs", "bandpower", "physio")


def _forget_previous(
    out_dir: Path, recording: Recording, rel: dict[str, str], keys: dict[str, str]
) -> tuple[dict[str, Any] | None, set[str]]:
    """Remove a recording's provenance, then its outputs except those still valid.

    The output of a step of :data:`REUSABLE` is kept when the previous provenance shows
    the same key for that step and the file is intact at the same path (for ``physio``
    also when there was none to write: a recording without a heart channel).

    Returns
    -------
    previous : dict | None
        The previous provenance.
    reusable : set of str
        The steps of :data:`REUSABLE` whose results can be reused.
    """
    previous = read_provenance(out_dir, recording.id)
    provenance_path(out_dir, recording.id).unlink(missing_ok=True)
    if previous is None:
        return None, set()
    outputs = previous.get("outputs", {})
    reusable = set()
    for name in REUSABLE:
        if previous.get("steps", {}).get(name, {}).get("key") != keys[name]:
            continue
        entry, path = outputs.get(name), out_dir / rel[name]
        if entry is None:
            if name == "physio" and previous.get("physio", False) is None:
                reusable.add(name)
        elif (
            entry.get("path") == rel[name]
            and path.is_file()
            and sha256_file(path) == entry.get("sha256")
        ):
            reusable.add(name)
    root = out_dir.resolve()
    for kind, entry in outputs.items():
        target = (out_dir / entry.get("path", "")).resolve()
        if kind not in reusable and target.is_file() and target.is_relative_to(root):
            target.unlink()
    return previous, reusable


def process_recording(
    recording: Recording,
    config: PreprocessConfig,
    out_dir: str | Path,
    inputs: list[dict[str, Any]] | None = None,
    keep_clean: bool = True,
    save_epochs: bool = False,
) -> dict[str, Any]:
    """Preprocess one recording and write its outputs under ``out_dir``.

    Steps whose key (:func:`~eegemo.eeg.cache.step_keys`) has not changed are not run
    again: the cleaned recording is read from ``OUT/clean/`` when it is there for the
    same key, and the band power, heart features and epochs file are kept when the
    previous provenance shows the same step key and the file is intact. Epochs, band
    power, topomaps and heart features are always derived from the saved cleaned
    recording, so the outputs are the same bytes whichever steps were reused.

    Parameters
    ----------
    recording : Recording
        What to process (from :func:`eegemo.eeg.io.discover`).
    config : PreprocessConfig
        The preprocessing configuration.
    out_dir : path-like
        The output folder (``OUT``).
    inputs : list of dict, optional
        The recording's :func:`~eegemo.eeg.cache.describe_inputs`, when the caller has
        already hashed its files.
    keep_clean : bool
        Keep the cleaned recording in ``OUT/clean/`` for later runs. With ``False`` it
        is deleted once the recording is done, and a later change of configuration
        recomputes everything.
    save_epochs : bool
        Also write the kept epochs to ``OUT/clean/<id>-epo.fif`` (double precision,
        with their drop log), for :func:`mne.read_epochs`. An epochs file written
        earlier is kept, without this, as long as the epochs it holds are unchanged.

    Returns
    -------
    provenance : dict
        The provenance record, also written to ``OUT/provenance/<id>.json`` (last,
        after every output file is in place, so it marks the recording complete).
        Its ``steps`` give each step's key and whether it was reused; ``physio`` the
        heart channel used and the counts of usable and unusable epochs (None without
        a heart channel); ``outputs`` every file written with its SHA-256 (``epochs``
        the epochs file), ``cleaned`` the cleaned recording and ICA kept in
        ``OUT/clean/``.

    Raises
    ------
    RecordingError
        When the recording cannot be processed; ``stage`` names the step that failed.
    """
    import mne

    started = time.perf_counter()
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    with step("read"):
        inputs = inputs if inputs is not None else describe_inputs(recording)
    keys = step_keys(recording, config, inputs)
    rel = output_paths(recording, png=config.topomap.png)
    previous, reusable = _forget_previous(out_dir, recording, rel, keys)
    kept = "bandpower" in reusable  # the band power, and with it the epochs' record
    make = not kept or (save_epochs and "epochs" not in reusable)  # the epochs, again
    found: dict[str, list[str]] = {
        name: [] for name in ("clean", "epochs", "bandpower", "topomap", "physio")
    }
    try:
        clean = read_clean(out_dir, recording.id, keys["clean"])
        reused = {
            "clean": clean is not None,
            "epochs": not make,
            "bandpower": kept,
            "topomap": False,
            "physio": "physio" in reusable,
        }
        if clean is None:
            with _warnings_into(found["clean"]):
                cleaned = clean_recording(recording, config, timings)
            record = {"channels": cleaned.channels, "stages": cleaned.stages}
            with step("write_clean", timings):
                clean = write_clean(
                    out_dir,
                    recording.id,
                    keys["clean"],
                    cleaned.raw,
                    cleaned.ica,
                    {**record, "warnings": found["clean"]},
                )
            del cleaned
        found["clean"] = clean["warnings"]
        _check_heart_alone(recording, clean["channels"], config)
        has_eeg = clean["channels"]["n_eeg"] > 0
        with step("read_clean", timings):
            raw = mne.io.read_raw_fif(
                out_dir / clean["files"]["raw"]["path"], preload=not kept, verbose="error"
            )
            info = raw.copy().pick("eeg").info if has_eeg else None
        if make:
            with _warnings_into(found["epochs"]), step("epochs", timings):
                epochs = make_epochs(raw, config.epochs, recording.label, recording.trials)
            epochs_record = {**epochs.report, "onsets_s": epochs.onsets_s, "labels": epochs.labels}
            used = epochs.ch_names if has_eeg else []
            if save_epochs and "epochs" not in reusable:
                with step("write_epochs", timings):
                    write_epochs(out_dir / rel["epochs"], epochs.epochs)
        else:
            epochs_record, used = previous["epochs"], previous["channels"]["used"]
            found["epochs"] = previous["steps"]["epochs"]["warnings"]
        if kept:
            power = np.load(out_dir / rel["bandpower"], allow_pickle=False)
            found["bandpower"] = previous["steps"]["bandpower"]["warnings"]
        elif has_eeg:
            with _warnings_into(found["bandpower"]):
                power = _band_power(epochs, config, timings)
        if make:
            del epochs
        arrays: dict[str, np.ndarray] = {}
        if reused["physio"]:
            physio = previous["physio"]
            found["physio"] = previous["steps"]["physio"]["warnings"]
            if physio is not None:
                arrays["physio"] = np.load(out_dir / rel["physio"], allow_pickle=False)
        else:
            with _warnings_into(found["physio"]):
                result = _physio(raw, epochs_record["onsets_s"], config, timings)
            physio = None if result is None else result.record
            if result is not None:
                arrays["physio"] = result.values
        del raw
        if has_eeg:
            with _warnings_into(found["topomap"]):
                images = _topomaps(power, info, config, timings)
            arrays = {"topomaps": images, "bandpower": power, **arrays}

        outputs: dict[str, dict[str, Any]] = {}
        with step("write", timings):
            for kind, array in arrays.items():
                if kind not in reusable:
                    write_npy(out_dir / rel[kind], array)
            if has_eeg and config.topomap.png:
                _write_png(
                    out_dir / rel["png"],
                    images,
                    list(config.bandpower.bands),
                    f"{recording.id} ({recording.label or 'no label'}), mean of "
                    f"{len(images)} epochs",
                    rasterizer_for(info, config.topomap),
                )
            files = {"png": has_eeg, "epochs": save_epochs or "epochs" in reusable}
            for kind, path in rel.items():
                if kind in arrays or files.get(kind, False):
                    outputs[kind] = {"path": path, "sha256": sha256_file(out_dir / path)}
                if kind in arrays:
                    outputs[kind]["shape"] = list(arrays[kind].shape)
    finally:
        if not keep_clean:
            remove_clean(out_dir, recording.id)

    steps = [name for name in found if has_eeg or name not in ("bandpower", "topomap")]
    provenance = provenance_record(
        recording,
        config,
        clean,
        epochs_record,
        used,
        physio,
        [w for ws in found.values() for w in ws],
        epochs_record["sfreq"],
    )
    provenance["recording"]["inputs"] = inputs
    provenance.update(
        {
            "cache_key": keys["outputs"],
            "steps": {
                name: {"key": keys[name], "reused": reused[name], "warnings": found[name]}
                for name in steps
            },
            "cleaned": clean["files"] if keep_clean else {},
            "outputs": outputs,
        }
    )
    timings["total"] = round(time.perf_counter() - started, 3)
    provenance["timings_s"] = timings
    write_json(provenance_path(out_dir, recording.id), provenance)
    return provenance
