"""One recording from Python: an ``mne.io.Raw`` (or a file) in, MNE objects out.

:func:`preprocess_raw` runs on one recording exactly what ``eegemo preprocess`` runs
(:func:`~eegemo.eeg.pipeline.compute_recording`: channels, stages, epochs, band power,
topomaps, heart features) and returns the cleaned :class:`mne.io.Raw`, the fitted
:class:`mne.preprocessing.ICA`, the kept :class:`mne.Epochs` with their drop log, the
arrays and the provenance record, so that a notebook, pyRiemann, braindecode or a
user's own MNE code can continue from any of them. Nothing is written to disk.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EegemoError, RecordingError
from .io import Recording
from .settings import PreprocessConfig

if TYPE_CHECKING:
    import mne
    import numpy as np

    from ..physio.recording import PhysioResult


@dataclasses.dataclass
class PreprocessResult:
    """What :func:`preprocess_raw` made of one recording.

    Attributes
    ----------
    raw : mne.io.Raw
        The cleaned recording: channel hygiene and every stage applied (EEG, and the
        EOG, ECG, EMG and PPG channels kept beside it).
    ica : mne.preprocessing.ICA | None
        The ICA fitted by the ica stage, ``ica.exclude`` listing the components
        removed (``provenance["ica_excluded"]`` says why); ``None`` without an ica
        stage or without EEG.
    epochs : mne.Epochs
        The kept epochs of the EEG channels (of the heart channels for a recording
        without usable EEG). ``epochs.drop_log`` gives, for every candidate window,
        why it was dropped (a ``BAD``/``EDGE`` annotation, the end of the recording, or
        the rejection rule); ``epochs.event_id`` maps each epoch label to its event
        code, the same in every recording (:func:`~eegemo.eeg.pipeline.event_code`), or
        is MNE's default ``{"1": 1}`` when the recording has no label.
    bandpower : ndarray of float32, shape (n_epochs, n_channels, n_bands) | None
        Band power of each kept epoch, channels in ``epochs.ch_names`` order; ``None``
        without EEG.
    bands : list of str
        The band names, in the order of the last axis of ``bandpower`` and the second
        of ``topomaps``.
    topomaps : ndarray of float32, shape (n_epochs, n_bands, res, res) | None
        Band-power images, NaN outside the head; ``None`` without EEG.
    physio : PhysioResult | None
        Heart features of each kept epoch (``physio.values``, NaN where the heart
        signal is unusable, names in ``physio.record["features"]``); ``None`` without a
        heart channel or with ``physio.enabled = false``.
    provenance : dict
        What was done and why, as in ``OUT/provenance/<id>.json``: configuration,
        versions, channels, stages, ICA components excluded, epochs kept and
        rejected, warnings, notes and seconds per step.
    """

    raw: mne.io.BaseRaw
    ica: Any
    epochs: mne.BaseEpochs
    bandpower: np.ndarray | None
    bands: list[str]
    topomaps: np.ndarray | None
    physio: PhysioResult | None
    provenance: dict[str, Any]


def _as_config(config: Any) -> PreprocessConfig:
    """A :class:`PreprocessConfig` from one, a TOML file or ``None`` (the defaults)."""
    from ..config import load_config

    if config is None:
        return PreprocessConfig()
    if isinstance(config, PreprocessConfig):
        return config
    if isinstance(config, (str, os.PathLike)):
        return load_config(PreprocessConfig, config)
    raise TypeError(
        "config: expected a PreprocessConfig, a path to a TOML pipeline or None, got "
        f"{type(config).__name__}"
    )


def _check_name(value: Any, what: str) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what}: expected a string or None, got {type(value).__name__}")


def _from_file(
    path: Path, config: PreprocessConfig, subject: str | None, label: str | None
) -> Recording:
    """The recording of ``path`` as ``eegemo preprocess`` would see it, with overrides."""
    from .io import discover

    if path.is_dir():
        raise EegemoError(
            f"{path}: expected one recording file, got a folder "
            "(eegemo.preprocess(folder, out) processes a folder)"
        )
    recordings, unassigned = discover(path, config.discovery)
    if unassigned:
        raise RecordingError("discover", f"{path.name}: {unassigned[0][1]}")
    recording = recordings[0]
    return dataclasses.replace(
        recording,
        subject=recording.subject if subject is None else subject,
        label=recording.label if label is None else label,
    )


def _from_raw(raw: mne.io.BaseRaw, subject: str | None, label: str | None) -> Recording:
    """A recording standing for a Raw in memory, named after its file if it has one."""
    from .io import recording_extension

    source = next((Path(f) for f in raw.filenames if f is not None), None)
    if source is None:
        path, rid = Path(f"<{type(raw).__name__}>"), "recording"
    else:
        ext = recording_extension(source) or source.suffix
        path, rid = source, source.name[: len(source.name) - len(ext)] or "recording"
    return Recording(path, rid, rid if subject is None else subject, label)


def preprocess_raw(
    raw_or_path: mne.io.BaseRaw | str | os.PathLike,
    config: PreprocessConfig | str | os.PathLike | None = None,
    *,
    subject: str | None = None,
    label: str | None = None,
) -> PreprocessResult:
    """Preprocess one recording as ``eegemo preprocess`` does, and return MNE objects.

    The same functions run as in ``eegemo preprocess``, with one BLAS thread as in its
    workers, so the epochs, band power, topomaps and heart features are the same
    bytes as the files it writes for the same recording and configuration.

    Parameters
    ----------
    raw_or_path : mne.io.Raw | path-like
        A recording read with MNE (not modified: a copy is cleaned), or a recording
        file in any format ``eegemo preprocess`` reads (EDF, BDF, GDF, BrainVision,
        EEGLAB, FIF, CNT).
    config : PreprocessConfig | path-like | None
        The preprocessing configuration, a TOML pipeline such as
        ``pipelines/eegmat.toml``, or ``None`` for the defaults.
    subject : str, optional
        The subject, recorded in the provenance. For a file, by default the one
        ``eegemo preprocess`` assigns (``config.discovery``); for a Raw, its file name.
    label : str, optional
        The recording's label, given to every epoch of ``epochs.source = "fixed"``. For
        a file, by default the one ``eegemo preprocess`` assigns; for a Raw, none.

    Returns
    -------
    result : PreprocessResult
        The cleaned ``raw``, the fitted ``ica``, the kept ``epochs``, ``bandpower``
        with its ``bands``, ``topomaps``, heart features (``physio``) and the
        ``provenance``.

    Raises
    ------
    TypeError
        If ``raw_or_path``, ``config``, ``subject`` or ``label`` is of the wrong type.
    ConfigError
        If the TOML pipeline is invalid.
    EegemoError
        If ``raw_or_path`` is a folder or no recording file.
    RecordingError
        When the recording cannot be processed; ``stage`` names the step that failed
        (``"discover"`` for a file whose subject or label the configuration's
        discovery settings cannot assign).

    See Also
    --------
    eegemo.eeg.batch.preprocess : A whole folder, written to disk, in parallel.

    Examples
    --------
    A file, with the subject and label its name gives under the study's pipeline::

        result = eegemo.preprocess_raw("Subject00_1.edf", "pipelines/eegmat.toml")
        result.epochs.drop_log, result.ica.exclude, result.topomaps.shape

    A Raw already in memory, labelled here::

        raw = mne.io.read_raw_edf("Subject00_1.edf", preload=True)
        result = eegemo.preprocess_raw(raw, "pipelines/eegmat.toml", label="rest")
    """
    import mne
    from threadpoolctl import threadpool_limits

    from .cache import describe_inputs
    from .pipeline import compute_recording, provenance_record

    config = _as_config(config)
    _check_name(subject, "subject")
    _check_name(label, "label")
    if isinstance(raw_or_path, mne.io.BaseRaw):
        recording = _from_raw(raw_or_path, subject, label)
        raw = raw_or_path.copy().load_data(verbose="error")
        inputs = None
    elif isinstance(raw_or_path, (str, os.PathLike)):
        recording = _from_file(Path(raw_or_path), config, subject, label)
        raw = None
        inputs = describe_inputs(recording)
    else:
        raise TypeError(
            "raw_or_path: expected an mne.io.Raw or the path of a recording file, got "
            f"{type(raw_or_path).__name__}"
        )
    with threadpool_limits(limits=1):
        result = compute_recording(recording, config, raw)
    has_eeg = result.bandpower is not None
    epochs = result.epochs
    provenance = provenance_record(
        recording,
        config,
        {"channels": result.channels, "stages": result.stages},
        {**epochs.report, "onsets_s": epochs.onsets_s, "labels": epochs.labels},
        epochs.ch_names if has_eeg else [],
        None if result.physio is None else result.physio.record,
        result.warnings,
        epochs.report["sfreq"],
    )
    if inputs is not None:
        provenance["recording"]["inputs"] = inputs
    provenance["timings_s"] = result.timings_s
    return PreprocessResult(
        raw=result.raw,
        ica=result.ica,
        epochs=epochs.epochs,
        bandpower=result.bandpower,
        bands=list(config.bandpower.bands),
        topomaps=result.topomaps,
        physio=result.physio,
        provenance=provenance,
    )
