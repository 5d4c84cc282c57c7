"""Several inputs in one run: every modality's items of the same epochs, zipped.

``data.inputs`` names the modalities a run learns from (``eegemo train --inputs
eeg+physio``). Each modality builds its own datasets on the same subjects (one
:class:`~eegemo.train.modality.SubjectSplit`) and prepares them its own way
(subject-wise normalisation, ...); each dataset names its items by ``item_keys``
(preprocessed EEG and heart features: ``(recording, epoch index)``), and the items
present in every input are zipped into ``((x_1, x_2, ...), y)``. A fused checkpoint
records every input's own preparation, so that evaluation prepares each input of
new data as in training and zips them again::

    data = {"modality": "fusion", "inputs": ["eeg", "physio"], "fusion": "early",
            "parts": {"eeg": {...}, "physio": {...}}}   # each input's own meta

With ``data.fusion = "early"`` (the default) one network learns from every input
(``fusion_net`` unless the configuration names another model). With ``"late"``,
:func:`train_late` trains one model per input on the same items, each a complete run
in ``RUN/<input>/``, calibrates each by temperature scaling on the validation
subjects and saves them together as the registered model ``late_fusion``, which
averages their probabilities.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EegemoError
from .data import DataBundle, natural_sort, subject_split
from .modality import Modality, SubjectSplit, get_modality, input_modalities

#: The model of several inputs trained when the configuration keeps the default model.
FUSION_MODEL = "fusion_net"
#: The registered model that holds the calibrated per-input models of a late fusion.
LATE_FUSION_MODEL = "late_fusion"


class FusedDataset:
    """Items of several datasets that describe the same epochs, zipped.

    Parameters
    ----------
    parts : sequence of datasets
        One per input, each with items ``(x, y)``.
    rows : sequence of array of int
        ``rows[k][i]`` is the item of ``parts[k]`` that is input ``k`` of item ``i``.

    Notes
    -----
    Items are ``((x_1, ..., x_n), y)``, the label that of the first input (every
    input must agree).
    """

    def __init__(self, parts: Sequence[Any], rows: Sequence[Sequence[int]]):
        from .trainer import dataset_targets

        self.parts = list(parts)
        self.rows = [np.asarray(r, dtype=np.int64) for r in rows]
        labels = [dataset_targets(p)[r] for p, r in zip(self.parts, self.rows, strict=True)]
        if any(not np.array_equal(labels[0], other) for other in labels[1:]):
            raise EegemoError("the inputs give the same epoch different labels")
        self.targets = labels[0]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        x = tuple(part[int(r[i])][0] for part, r in zip(self.parts, self.rows, strict=True))
        return x, int(self.targets[i])

    def input(self, k: int) -> InputView:
        """Input ``k`` of every item, as a dataset of its own."""
        return InputView(self, k)


class InputView:
    """One input of a :class:`FusedDataset`: items ``(x_k, y)`` (late fusion trains on it)."""

    def __init__(self, fused: FusedDataset, k: int):
        self.part, self.rows, self.targets = fused.parts[k], fused.rows[k], fused.targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return self.part[int(self.rows[i])][0], int(self.targets[i])


def zip_inputs(datasets: Sequence[Any], names: Sequence[str]) -> FusedDataset:
    """Zip the items of ``datasets`` that describe the same epoch (the same ``item_keys``).

    Parameters
    ----------
    datasets : sequence of datasets
        One per input, each with an ``item_keys`` attribute (a key per item).
    names : sequence of str
        The inputs' modality names, for messages.

    Returns
    -------
    FusedDataset
        The items present in every input, in the first input's order.
    """
    keys = []
    for dataset, name in zip(datasets, names, strict=True):
        found = getattr(dataset, "item_keys", None)
        if found is None:
            raise EegemoError(f"{name} data cannot be combined with other inputs: its "
                              "datasets do not name their items (item_keys)")
        keys.append([tuple(k) for k in found])
    where = [{k: i for i, k in enumerate(ks)} for ks in keys[1:]]
    rows: list[list[int]] = [[] for _ in datasets]
    for i, key in enumerate(keys[0]):
        matches = [w.get(key) for w in where]
        if all(m is not None for m in matches):
            for row, m in zip(rows, [i, *matches], strict=True):
                row.append(m)
    return FusedDataset(datasets, rows)


def input_subjects(path: str | Path, modalities: Sequence[Modality]) -> list[str]:
    """Subjects with data of every input (what splits and cross-validation folds share).

    Raises
    ------
    EegemoError
        When an input's data carry no subjects.
    """
    found = []
    for m in modalities:
        if m.subjects is None:
            raise EegemoError(f"{path}: runs split by subject, and {m.description} carry no "
                              "subjects")
        found.append(set(map(str, m.subjects(Path(path)))))
    return natural_sort(set.intersection(*found))


def load_train(
    path: str | Path, config: Any, split: SubjectSplit | None, modalities: Sequence[Modality]
) -> DataBundle:
    """Training, validation and test items of several inputs, zipped.

    Parameters
    ----------
    path : path-like
        Data holding every input.
    config : TrainConfig
        The run's configuration (each modality reads its own section).
    split : SubjectSplit or None
        Subjects of each set; by default the subjects with data of every input are
        split with ``data.val_fraction`` and ``seed``.
    modalities : sequence of Modality
        The inputs, in order.

    Returns
    -------
    DataBundle
        Items ``((x_1, ..., x_n), y)``; ``meta`` as in the module docstring.
    """
    path = Path(path)
    names = [m.name for m in modalities]
    if split is None:
        train, val = subject_split(input_subjects(path, modalities), config.data.val_fraction,
                                   config.seed)
        split = SubjectSplit(tuple(train), tuple(val))
    bundles = [m.load_train(path, config, split) for m in modalities]
    for name, b in zip(names[1:], bundles[1:], strict=True):
        if list(b.classes) != list(bundles[0].classes):
            raise EegemoError(f"{path}: the {name} data have classes {b.classes} but the "
                              f"{names[0]} data {bundles[0].classes}")
    parts: dict[str, FusedDataset | None] = {}
    for part in ("train", "val", "test"):
        sets = [getattr(b, part) for b in bundles]
        parts[part] = None if any(s is None for s in sets) else zip_inputs(sets, names)
    if parts["train"] is None or len(parts["train"]) == 0:
        raise EegemoError(f"{path}: no training epoch has data of every input "
                          f"({', '.join(names)})")
    subjects = {"train": split.train, "val": split.val, "test": split.test}
    description = {
        part: {"subjects": list(subjects[part]), "epochs": len(ds),
               "epochs_per_input": {n: len(getattr(b, part))
                                    for n, b in zip(names, bundles, strict=True)}}
        for part, ds in parts.items() if ds is not None
    }
    meta = {"modality": "fusion", "inputs": names, "fusion": config.data.fusion,
            "parts": {n: b.meta for n, b in zip(names, bundles, strict=True)}}
    return DataBundle(parts["train"], parts["val"], list(bundles[0].classes), meta,
                      test=parts["test"], description=description)


def load_eval(path: str | Path, meta: dict, split: str | None) -> FusedDataset:
    """Every input of new data, each prepared as in training, zipped.

    Raises
    ------
    EegemoError
        Naming the first input whose data ``path`` lacks.
    """
    from .checkpoint import input_shape_of

    path = Path(path)
    data = meta["data"]
    names = list(data["inputs"])
    shapes = input_shape_of(meta["model"])
    datasets = []
    for name, shape in zip(names, shapes, strict=True):
        modality = get_modality(name)
        if not modality.recognizes(path):
            raise EegemoError(
                f"{path}: the model learnt from {' + '.join(names)}, but there are no {name} "
                f"data here (expected {modality.data_description})"
            )
        part_meta = {**meta, "data": data["parts"][name],
                     "model": {**meta["model"], "input_shape": list(shape)}}
        datasets.append(modality.load_eval(path, part_meta, split))
    return zip_inputs(datasets, names)


def fused_modality(names: Sequence[str]) -> Modality:
    """The inputs ``names`` as one modality: what ``modality_of`` gives for a fused checkpoint."""
    parts = [get_modality(n) for n in names]
    return Modality(
        name="fusion",
        description=" + ".join(m.description for m in parts),
        data_description=" and ".join(m.data_description for m in parts),
        recognizes=lambda path: all(m.recognizes(path) for m in parts),
        load_train=lambda path, config, split: load_train(path, config, split, parts),
        load_eval=load_eval,
        subjects=lambda path: input_subjects(path, parts),
    )


def resolve_config(path: str | Path, config: Any) -> Any:
    """``config`` with the model and recipe its inputs call for, where its model is ``auto``.

    ``model = "auto"`` (the default) trains ``fusion_net`` on several inputs joined
    early (late fusion resolves each input on its own, and holds out the validation
    subjects its members' recipes do: see :func:`_late_split`), and a single input's own
    ``default_model`` (EEG topomaps: ``topo_linear``; heart features:
    ``feature_mlp``); the modality's ``default_settings`` then replace the keys the
    configuration leaves at their built-in defaults. A model named in the
    configuration is kept, with the configuration as it is.

    Parameters
    ----------
    path : path-like
        The data.
    config : TrainConfig
        The configuration as given.

    Returns
    -------
    config : TrainConfig
        The same object, or a copy with ``model`` and the modality's default settings.

    Raises
    ------
    ConfigError
        When the model is ``auto`` and the data's modality declares no default model.
    """
    from ..errors import ConfigError
    from .settings import AUTO_MODEL

    if config.model != AUTO_MODEL:
        return config
    modalities = input_modalities(path, config.data.inputs)
    if is_late(config):
        return _late_split(config, modalities)
    settings: dict[str, Any] = {}
    if len(modalities) > 1:
        model = FUSION_MODEL
    elif modalities[0].default_model is None:
        raise ConfigError(
            f"model = 'auto': the {modalities[0].name} modality declares no default model; "
            "name one with --set model=NAME (see `eegemo models`)"
        )
    else:
        model = modalities[0].default_model
        settings = dict(modalities[0].default_settings)
    _check_auto_options(model, config.model_kwargs, "+".join(m.name for m in modalities))
    return _with_recipe(dataclasses.replace(config, model=model), settings)


def _with_recipe(config: Any, settings: dict[str, Any]) -> Any:
    """``config`` with the dotted ``settings`` on the keys it leaves at their built-in defaults."""
    from .settings import TrainConfig

    defaults = TrainConfig()
    for key, value in settings.items():
        keys = key.split(".")
        if _setting(config, keys) == _setting(defaults, keys):
            config = _with_setting(config, keys, value)
    return config


def _late_split(config: Any, modalities: Sequence[Modality]) -> Any:
    """A late fusion of default models holds out the validation subjects its members' recipes do.

    When every input's recipe sets the same ``data.val_fraction`` (EEG topomaps and heart
    features: 0, every training subject) and the configuration leaves it at its
    built-in default, the shared split takes it; with no validation subjects each
    member's probabilities are averaged as they are (temperature 1).
    """
    fractions = {m.default_settings.get("data.val_fraction") for m in modalities}
    if len(fractions) != 1 or None in fractions:
        return config
    return _with_recipe(config, {"data.val_fraction": fractions.pop()})


def _check_auto_options(model: str, options: dict, data: str) -> None:
    """Refuse ``model_kwargs`` that the model ``auto`` chose does not take, saying so."""
    from ..errors import ConfigError
    from ..models.registry import get_entry

    entry = get_entry(model)
    unknown = entry.unknown_options(options)
    if unknown:
        raise ConfigError(
            f"model_kwargs: {', '.join(unknown)} are not options of {model}, the model "
            f"that model = 'auto' chose for {data} data (options: "
            f"{', '.join(entry.options()) or 'none'}); name the model they belong to, "
            "e.g. --set model=topo_cnn"
        )


def _setting(config: Any, keys: Sequence[str]) -> Any:
    for key in keys:
        config = getattr(config, key)
    return config


def _with_setting(config: Any, keys: Sequence[str], value: Any) -> Any:
    if len(keys) > 1:
        value = _with_setting(getattr(config, keys[0]), keys[1:], value)
    return dataclasses.replace(config, **{keys[0]: value})


def is_late(config: Any) -> bool:
    """Whether ``config`` trains one model per input (late fusion of several inputs)."""
    return config.data.fusion == "late" and len(config.data.inputs) > 1


def temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature that makes ``softmax(logits / T)`` fit ``targets`` best.

    Temperature scaling (Guo et al., 2017): one scalar minimising the negative
    log-likelihood, searched between 0.02 and 50; it calibrates probabilities
    without changing any prediction.

    Parameters
    ----------
    logits : ndarray, shape (n, n_classes)
        A model's outputs on validation items.
    targets : ndarray, shape (n,)
        Their class indices.
    """
    from scipy.optimize import minimize_scalar

    z = logits.astype(np.float64)
    rows = np.arange(len(targets))

    def nll(log_t: float) -> float:
        s = z / np.exp(log_t)
        s = s - s.max(axis=1, keepdims=True)
        return float(-(s[rows, targets] - np.log(np.exp(s).sum(axis=1))).mean())

    found = minimize_scalar(nll, bounds=(np.log(0.02), np.log(50.0)), method="bounded")
    return float(np.exp(found.x))


def train_late(
    data: str | Path,
    out: str | Path | None,
    config: Any,
    split: SubjectSplit | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks=(),
):
    """Late fusion: one calibrated model per input, their probabilities averaged.

    Each input's model is trained as ``data.inputs = [input]`` would train it, on
    the items every input has, into ``out/<input>/`` (a complete run of its own);
    its temperature is fitted on the validation items. The ensemble (the registered
    model ``late_fusion``) is scored and saved as ``out/checkpoints/best.pt`` with a
    report in ``out/report/``, so that ``eegemo evaluate out DATA`` scores it.

    Parameters
    ----------
    data, out, config, split, resume, progress, callbacks
        As for :func:`eegemo.train.experiment.train_on_split`.

    Returns
    -------
    result : FitResult
        The ensemble's report; epochs are those of the longest member run.
    bundle : DataBundle
        The zipped datasets.
    """
    import torch

    from ..config import to_dict
    from ..models import create_model
    from .checkpoint import FORMAT, save_checkpoint
    from .data import load_datasets
    from .device import dist_context_from_env
    from .metrics import classification_metrics
    from .report import write_report
    from .trainer import FitResult, Trainer, cross_entropy, predict_logits

    bundle = load_datasets(data, config, split)
    names = bundle.meta["inputs"]
    run_dir = Path(out) if out is not None else None
    members, metas, fits, temperatures = [], [], [], []
    for k, name in enumerate(names):
        single = dataclasses.replace(config, data=dataclasses.replace(config.data, inputs=[name]))
        single = resolve_config(data, single)
        member_dir = run_dir / name if run_dir is not None else None
        if progress and dist_context_from_env().is_main:
            print(f"late fusion: {name} ({single.model})"
                  + (f" -> {member_dir}" if member_dir is not None else ""), flush=True)
        val = bundle.val.input(k) if bundle.val is not None else None
        trainer = Trainer(single, bundle.train.input(k), val, bundle.classes, member_dir,
                          data_meta=bundle.meta["parts"][name], callbacks=callbacks,
                          progress=progress)
        report_sets = {"test": bundle.test.input(k)} if bundle.test is not None else {}
        fits.append(trainer.fit(resume=resume, report_sets=report_sets))
        members.append(trainer.model)
        metas.append(trainer.model_meta)
        if val is None:
            temperatures.append(1.0)
        else:
            logits, targets = trainer.predict(val)
            temperatures.append(temperature(logits, targets))
    device = trainer.device
    shapes = [m["input_shape"] for m in metas]
    model_meta = {
        "name": LATE_FUSION_MODEL,
        "kwargs": {"members": [{"name": m["name"], "kwargs": m["kwargs"]} for m in metas]},
        "input_shape": shapes,
        "num_classes": len(bundle.classes),
    }
    model = create_model(LATE_FUSION_MODEL, len(bundle.classes), shapes,
                         **model_meta["kwargs"]).to(device)
    for target, trained in zip(model.members, members, strict=True):
        target.load_state_dict(trained.state_dict())
    model.temperature.copy_(torch.tensor(temperatures))
    splits = {"val": bundle.val, "test": bundle.test}
    results = {}
    for name, dataset in splits.items():
        if dataset is None:
            continue
        logits, targets = predict_logits(model, dataset, device, config.eval_batch_size)
        results[name] = classification_metrics(targets, logits.argmax(axis=1), bundle.classes)
        results[name]["loss"] = cross_entropy(logits, targets)
    per_member = ", ".join(f"{n} {f.best_epoch}" for n, f in zip(names, fits, strict=True))
    if run_dir is not None and dist_context_from_env().is_main:
        from ..atomic import atomic_open
        from ..config import dumps_toml

        with atomic_open(run_dir / "config.toml", "w", encoding="utf-8") as fh:
            fh.write(dumps_toml(to_dict(config)))
        checkpoint = {
            "format": FORMAT,
            "version": 1,
            "model": model_meta,
            "classes": list(bundle.classes),
            "data": bundle.meta,
            "config": to_dict(config),
            "epoch": max(f.epochs_run for f in fits),
            "best": {"epoch": max(f.best_epoch for f in fits), "score": None},
            "temperatures": dict(zip(names, temperatures, strict=True)),
            "model_state": model.state_dict(),
        }
        save_checkpoint(run_dir / "checkpoints" / "best.pt", checkpoint)
        write_report(run_dir / "report", history=[], results=results, info={
            "model": model_meta,
            "best_epoch": f"{per_member} (each input's own run)",
            "epochs_run": ", ".join(f"{n} {f.epochs_run}" for n, f in zip(names, fits,
                                                                          strict=True)),
            "monitor": config.early_stopping.monitor,
            "device": str(device),
            "world_size": dist_context_from_env().world_size,
            "n_train": len(bundle.train),
            "temperatures": dict(zip(names, temperatures, strict=True)),
        })
    result = FitResult(
        run_dir=run_dir,
        best_epoch=max(f.best_epoch for f in fits),
        best_score=None,
        epochs_run=max(f.epochs_run for f in fits),
        stopped_early=all(f.stopped_early for f in fits),
        history=[],
        report=results,
    )
    return result, bundle
