"""Class probabilities of every epoch of new EEG recordings, which need no labels.

:func:`predict_recordings` runs a model trained on EEG topomaps over a recording, a
folder of recordings or an already preprocessed folder (``manifest.csv``).
Recordings are first preprocessed as the model's training data were: with the
configuration recorded in the provenance of the run's data (or one given), in a
work folder apart from the input. Each epoch is then normalised as in training; with
subject-wise normalisation (the default), with the mean and spread of its own
subject's epochs, so a new subject needs a few minutes of recording: fewer than
:data:`MIN_SUBJECT_EPOCHS` epochs are warned about.

A recording's subject comes from the discovery settings (the run's
``discovery.subject_pattern``, or ``subject_pattern``); a single recording file is
its own subject. Labels are never read.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_open, write_csv
from ..errors import ConfigError, EegemoError
from ..manifest import MANIFEST_NAME, Manifest, has_manifest, read_manifest

#: Fewer epochs than this for a subject leave its subject-wise statistics unreliable.
MIN_SUBJECT_EPOCHS = 20
#: File marking a folder as a work folder of :func:`predict_recordings`.
WORK_MARKER = ".eegemo-predict-work"


@dataclasses.dataclass
class EegPredictions:
    """What :func:`predict_recordings` found.

    Attributes
    ----------
    model : str
        The checkpoint file used.
    classes : list of str
        Class names, in the order of the probabilities.
    normalization : str
        The model's normalisation (``subject``, ``global`` or ``none``).
    preprocessing : str
        Which preprocessing configuration was used (or that the input was
        preprocessed already).
    recordings : list of dict
        One per recording, by ``source`` (its file): ``source``, ``recording`` (id),
        ``subject``, ``epochs`` (how many), ``probabilities`` (mean over the epochs),
        ``label`` (the class of highest mean probability) and ``label_shares`` (share
        of the epochs predicted as each class); or ``source`` and ``error`` for a
        recording that could not be processed.
    epochs : list of dict
        One per epoch: ``source``, ``subject``, ``recording``, ``index``, ``onset_s``,
        ``predicted`` and ``p_<class>`` for every class.
    warnings : list of str
        One line each (subjects with too few epochs for their own statistics).
    notes : list of str
        What preprocessing noted although nothing failed (channels interpolated, ...).
    """

    model: str
    classes: list[str]
    normalization: str
    preprocessing: str
    recordings: list[dict[str, Any]]
    epochs: list[dict[str, Any]]
    warnings: list[str]
    notes: list[str]

    @property
    def failed(self) -> bool:
        """True when some recording could not be processed."""
        return any("error" in r for r in self.recordings)

    def to_json(self) -> dict[str, Any]:
        """Everything but the epochs, as plain data."""
        return {
            "model": self.model,
            "classes": self.classes,
            "normalization": self.normalization,
            "preprocessing": self.preprocessing,
            "results": self.recordings,
            "warnings": self.warnings,
            "notes": self.notes,
        }

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write one row per epoch, and one with its ``error`` per failed recording, atomically."""
        columns = ["source", "subject", "recording", "index", "onset_s", "predicted",
                   *(f"p_{c}" for c in self.classes), "error"]
        failed = [{"source": r["source"], "error": r["error"]}
                  for r in self.recordings if "error" in r]
        write_csv(path, columns, [*self.epochs, *failed])


def check_eeg_model(meta: dict) -> None:
    """Refuse a model that was not trained on EEG topomaps alone, naming what it was.

    Raises
    ------
    EegemoError
        For heart-feature and fused models (not supported on new recordings yet) and
        any other modality.
    """
    data = meta.get("data", {})
    name = data.get("modality")
    if name == "eeg":
        return
    what = " + ".join(data.get("inputs", [])) if name == "fusion" else name or "unknown"
    raise EegemoError(
        f"{meta['path']}: a model of {what} data; predicting on new recordings supports "
        "EEG topomap models only (heart-feature and fused models are not supported); "
        "score it on a preprocessed folder with `eegemo evaluate`"
    )


def recorded_preprocessing(meta: dict) -> tuple[dict[str, Any], Path]:
    """The preprocessing configuration of the data a run was trained on.

    Read from ``RUN/run.json`` (which names the data) and the provenance records of
    the data's recordings, with ``bandpower.bands`` in the order of the topomaps'
    bands (:func:`~eegemo.eeg.pipeline.recorded_band_order`).

    Parameters
    ----------
    meta : dict
        Checkpoint metadata (``path`` is ``RUN/checkpoints/<name>.pt``).

    Returns
    -------
    config : dict
        The configuration, as in the provenance.
    data : Path
        The preprocessed folder it was read from.

    Raises
    ------
    ConfigError
        When the run, its data or their provenance cannot be found, or the recordings
        were preprocessed differently; the message asks for ``--config``.
    """
    from .pipeline import read_provenance, recorded_band_order

    ask = "pass the preprocessing pipeline with --config"
    checkpoint = Path(meta["path"])
    info = checkpoint.parent.parent / "run.json"
    if checkpoint.parent.name != "checkpoints" or not info.is_file():
        raise ConfigError(f"{meta['path']}: no run.json beside the checkpoint names the data "
                          f"it was trained on, so their preprocessing is unknown; {ask}")
    data = Path(json.loads(info.read_text(encoding="utf-8"))["data"])
    if not has_manifest(data):
        raise ConfigError(f"{info}: the training data {data} are not there to read their "
                          f"preprocessing from; {ask}")
    configs: dict[str, dict[str, Any]] = {}
    for rid in np.unique(read_manifest(data).recordings):
        prov = read_provenance(data, str(rid))
        if prov is not None:
            key = {k: v for k, v in prov["config"].items() if k != "discovery"}
            order = recorded_band_order(prov)
            configs.setdefault(json.dumps([key, order], sort_keys=True), (prov["config"], order))
    if len(configs) != 1:
        why = "no provenance records" if not configs else "recordings preprocessed differently"
        raise ConfigError(f"{data}: {why}, so the preprocessing of the run's data is unknown; "
                          f"{ask}")
    config, order = next(iter(configs.values()))
    bands = {name: config["bandpower"]["bands"][name] for name in order}
    return {**config, "bandpower": {**config["bandpower"], "bands": bands}}, data


def preprocessing_config(
    meta: dict,
    path: Path,
    work: Path,
    config: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    subject_pattern: str | None = None,
) -> tuple[Any, str]:
    """The configuration new recordings are preprocessed with, and where it came from.

    The run's (see :func:`recorded_preprocessing`, written to ``WORK/pipeline.toml``)
    unless ``config`` is given, with ``overrides``. Labels are not assigned (no
    label pattern, map or table) and heart features not computed (an EEG model does
    not read them); a single file is its own subject, a folder's subjects follow
    ``subject_pattern`` or the configuration's.

    Returns
    -------
    config : PreprocessConfig
    origin : str
    """
    from ..config import dumps_toml, load_config
    from .settings import PreprocessConfig

    values: dict[str, Any] = {"discovery.label_pattern": None, "discovery.label_map": {},
                              "discovery.labels_csv": None, "physio.enabled": False}
    if path.is_file():
        values.update({"discovery.subject_pattern": None, "discovery.bids": False})
    elif subject_pattern is not None:
        values["discovery.subject_pattern"] = subject_pattern
    origin = str(config)
    if config is None:
        recorded, data = recorded_preprocessing(meta)
        config = work / "pipeline.toml"
        with atomic_open(config, "w", encoding="utf-8") as fh:
            fh.write(dumps_toml(recorded))
        origin = f"the run's, from {data / 'provenance'}"
    return load_config(PreprocessConfig, config, overrides, values), origin


@contextlib.contextmanager
def work_folder(work: str | os.PathLike | None, path: Path) -> Iterator[Path]:
    """A folder for the preprocessed recordings: ``work``, or a temporary one removed after.

    Raises
    ------
    EegemoError
        When ``work`` overlaps the input ``path``, is a file, or is a folder that is
        neither empty nor a work folder of an earlier prediction.
    """
    import tempfile

    if work is None:
        with tempfile.TemporaryDirectory(prefix="eegemo-predict-") as tmp:
            yield Path(tmp)
        return
    folder, source = Path(work).resolve(), path.resolve()
    if folder.is_relative_to(source) or source.is_relative_to(folder):
        raise EegemoError(f"{work}: --work must lie outside the input {path}")
    work = Path(work)
    if work.exists() and not work.is_dir():
        raise EegemoError(f"{work}: --work exists and is not a folder")
    if work.is_dir() and any(work.iterdir()) and not (work / WORK_MARKER).is_file():
        raise EegemoError(f"{work}: --work is not empty and not a work folder of `eegemo "
                          "predict`; give a new or empty folder")
    work.mkdir(parents=True, exist_ok=True)
    (work / WORK_MARKER).touch()
    yield work


def _dataset(manifest: Manifest, meta: dict):
    """The epochs of ``manifest`` as the model expects them; labels are not read."""
    from .dataset import eval_dataset

    # Every epoch gets the first class as a placeholder label: the targets are unused.
    unlabelled = dataclasses.replace(manifest, labels=np.full(len(manifest), meta["classes"][0]))
    return eval_dataset(unlabelled, meta)


def _onsets(root: Path) -> dict[int, str]:
    """``onset_s`` on each line of ``root/manifest.csv``, numbered as :class:`Manifest` does."""
    onsets = {}
    with open(root / MANIFEST_NAME, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            onsets[reader.line_num] = row.get("onset_s") or ""
    return onsets


def _summary(rows: list[dict[str, Any]], probs: np.ndarray, classes: list[str]) -> dict:
    """One recording's summary from its epochs' rows and probabilities."""
    mean = probs.mean(axis=0)
    counts = np.bincount(probs.argmax(axis=1), minlength=len(classes))
    first = rows[0]
    return {
        "source": first["source"],
        "recording": first["recording"],
        "subject": first["subject"],
        "epochs": len(rows),
        "probabilities": {c: round(float(p), 6) for c, p in zip(classes, mean, strict=True)},
        "label": classes[int(mean.argmax())],
        "label_shares": {c: round(int(n) / len(rows), 4)
                         for c, n in zip(classes, counts, strict=True)},
    }


def _few_epochs(manifest: Manifest) -> list[str]:
    subjects, counts = np.unique(manifest.subjects, return_counts=True)
    return [
        f"subject {s}: {n} epoch{'s' if n != 1 else ''}, fewer than {MIN_SUBJECT_EPOCHS}; "
        "subject-wise normalisation standardises each epoch with its own subject's "
        "statistics, which need a few minutes of recording: its predictions are unreliable"
        for s, n in zip(subjects, counts, strict=True)
        if n < MIN_SUBJECT_EPOCHS
    ]


def predict_folder(
    root: Path, model: Any, meta: dict, device: Any, batch_size: int = 256
) -> tuple[list[dict], list[dict], list[str]]:
    """Predict every epoch of a preprocessed folder with an EEG model.

    Parameters
    ----------
    root : Path
        A folder with ``manifest.csv``.
    model : torch.nn.Module
        In eval mode on ``device``.
    meta : dict
        Its checkpoint metadata.
    device : torch.device
        Where the model runs.
    batch_size : int
        Epochs per forward pass.

    Returns
    -------
    recordings, epochs, warnings
        As in :class:`EegPredictions`.
    """
    from ..train.predictions import probability_cells, softmax
    from ..train.trainer import predict_logits
    from .pipeline import read_provenance

    classes = list(meta["classes"])
    manifest = read_manifest(root)
    topo = manifest.with_topomaps()
    ids = list(dict.fromkeys(manifest.recordings.tolist()))
    sources = {}
    for rid in ids:
        prov = read_provenance(root, rid)
        sources[rid] = prov["recording"]["path"] if prov else rid
    with_maps = set(topo.recordings.tolist())
    recordings = [
        {"source": sources[rid], "error": "no EEG topomaps (processed for its heart signal "
                                          "alone)"}
        for rid in ids if rid not in with_maps
    ]
    if len(topo) == 0:
        return recordings, [], []
    dataset = _dataset(topo, meta)
    logits, _ = predict_logits(model, dataset, device, batch_size)
    probs = softmax(logits)
    onsets = _onsets(root)
    epochs = []
    for i in range(len(topo)):
        rid = str(topo.recordings[i])
        row = {"source": sources[rid], "subject": str(topo.subjects[i]), "recording": rid,
               "index": int(topo.indices[i]), "onset_s": onsets.get(int(topo.lines[i]), ""),
               "predicted": classes[int(probs[i].argmax())]}
        row.update(probability_cells(probs[i], classes))
        epochs.append(row)
    for rid in dict.fromkeys(topo.recordings.tolist()):
        mine = np.flatnonzero(topo.recordings == rid)
        recordings.append(_summary([epochs[i] for i in mine], probs[mine], classes))
    warnings = _few_epochs(topo) if dataset.normalization == "subject" else []
    return recordings, epochs, warnings


def predict_recordings(
    run_or_checkpoint: str | os.PathLike,
    path: str | os.PathLike,
    *,
    config: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    subject_pattern: str | None = None,
    work: str | os.PathLike | None = None,
    jobs: int = 1,
    device: str = "auto",
    batch_size: int = 256,
    progress: bool = False,
) -> EegPredictions:
    """Class probabilities of every epoch of new recordings, and a summary per recording.

    Parameters
    ----------
    run_or_checkpoint : path-like
        A run folder (its best checkpoint) or ``.pt`` file of an EEG topomap model.
    path : path-like
        A recording file (any format ``eegemo preprocess`` reads), a folder of them, or
        a preprocessed folder with ``manifest.csv`` (used as it is).
    config : path-like, optional
        The preprocessing pipeline (TOML). Default: the one recorded in the provenance
        of the run's training data; without it, one must be given.
    overrides : sequence of str
        ``key=value`` changes to the pipeline (``--set``).
    subject_pattern : str, optional
        For a folder: the regular expression whose ``(?P<subject>...)`` group names
        each file's subject (default: the pipeline's, else one subject per file).
    work : path-like, optional
        Where recordings are preprocessed (kept, and reused by a later call with the
        same recordings and pipeline); default: a temporary folder, removed after.
        Never inside the input.
    jobs : int
        Recordings preprocessed in parallel.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``mps``.
    batch_size : int
        Epochs per forward pass.
    progress : bool
        Show the preprocessing progress bar on stderr.

    Returns
    -------
    predictions : EegPredictions
        A recording that cannot be processed is listed with its ``error``; the others
        are predicted.

    Raises
    ------
    ConfigError
        When the pipeline is unknown (no ``config`` and none recorded) or invalid.
    EegemoError
        When the model is not an EEG topomap model, ``path`` holds no recordings,
        ``work`` cannot be used, or the topomaps do not fit the model.
    """
    from ..train.checkpoint import load_model
    from ..train.device import resolve_device
    from .batch import preprocess

    path = Path(path)
    if not path.exists():
        raise EegemoError(f"{path}: no such file or folder")
    dev = resolve_device(device)
    model, meta = load_model(run_or_checkpoint, device=dev)
    check_eeg_model(meta)
    normalization = meta.get("data", {}).get("normalization", "none")

    def result(origin: str, recs: list, epochs: list, warns: list, notes: list):
        return EegPredictions(meta["path"], list(meta["classes"]), normalization, origin,
                              sorted(recs, key=lambda r: r["source"]), epochs, warns, notes)

    if path.is_dir() and has_manifest(path):
        given = [name for name, value in (("--config", config), ("--set", overrides),
                                          ("--subject-pattern", subject_pattern),
                                          ("--work", work)) if value]
        if given:
            raise ConfigError(f"{path}: preprocessed already, so {', '.join(given)} cannot "
                              "apply (they are for recordings preprocessed first)")
        recs, epochs, warns = predict_folder(path, model, meta, dev, batch_size)
        return result(f"none: {path} is preprocessed already", recs, epochs, warns, [])
    with work_folder(work, path) as folder:
        pipeline, origin = preprocessing_config(meta, path, folder, config, overrides,
                                                subject_pattern)
        batch = preprocess(path, folder, pipeline, jobs=jobs, keep_clean=False,
                           progress=progress)
        failed = []
        for f in batch.failures:
            log = f" (traceback in {folder / f.log})" if f.log and work is not None else ""
            failed.append({"source": f.recording, "error": f"[{f.stage}] {f.error}{log}"})
        recs, epochs, warns = [], [], []
        if batch.n_epochs:
            recs, epochs, warns = predict_folder(folder, model, meta, dev, batch_size)
    return result(origin, [*failed, *recs], epochs, warns, batch.notes)
