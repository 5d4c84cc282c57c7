"""What ``eegemo train`` and ``eegemo evaluate`` do, as functions a notebook can call.

:func:`train_run` trains one model (validation subjects held out) or runs
cross-validation by subject (``cv="loso"`` or ``cv=K``): each fold trains on the
other subjects (with its own held-out validation subjects for model selection)
and is scored on its test subjects; the folds and their mean +- sd are written
to ``RUN/cv.json`` and ``RUN/cv.md``. :func:`evaluate_checkpoint` scores a trained
model on data it has never seen.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_open, write_json
from ..config import dumps_toml, read_toml, to_dict
from ..environment import versions
from ..errors import ConfigError, EegemoError
from .modality import SubjectSplit
from .settings import TrainConfig

SUMMARY_METRICS = ("balanced_accuracy", "macro_f1", "accuracy")


def check_run_folder(out: Path, resume: bool) -> None:
    """Refuse to mix a new run into a folder that already holds one (unless resuming)."""
    if resume or not out.exists():
        return
    markers = ("config.toml", "metrics.jsonl", "checkpoints", "cv.json", "fold-01")
    if any((out / m).exists() for m in markers):
        raise EegemoError(
            f"{out}: already holds a run; pass --resume to continue it or choose another --out"
        )


def check_resume(data: Path, out: Path, config: TrainConfig, cv: str | int | None) -> None:
    """Refuse a resume of ``out`` that would change its data, configuration or kind of run.

    Checked before anything is written, so a refused resume leaves the run as it was.

    Parameters
    ----------
    data : Path
        The data the resume would train on.
    out : Path
        The run folder.
    config : TrainConfig
        The configuration the resume would use: ``config.toml``'s, where only
        :data:`~eegemo.train.trainer.RESUMABLE_KEYS` may differ (``epochs`` only
        upwards, and not for cross-validation, whose folds are trained alike).
    cv : "loso", int or None
        Cross-validation, as given.

    Raises
    ------
    ConfigError
        Naming the file of the run that records what the resume would change.
    """
    from .trainer import check_resume_config

    folds = sorted(out.glob("fold-*/run.json"))
    is_cv = bool(folds) or (out / "cv.json").is_file()
    if cv is None and is_cv:
        raise ConfigError(f"{out}: a cross-validation run; resume it with the --cv it was "
                          "started with")
    if cv is not None and (out / "run.json").is_file():
        raise ConfigError(f"{out}: a single run, not a cross-validation; resume it without --cv")
    recorded_config = out / "config.toml"
    if recorded_config.is_file():
        recorded = read_toml(recorded_config)
        check_resume_config(recorded, config, recorded_config)
        if cv is not None and config.epochs != recorded.get("epochs", config.epochs):
            raise ConfigError(
                f"{recorded_config}: epochs is {recorded['epochs']} there, got {config.epochs}; "
                "the folds of a cross-validation are trained alike, so their epochs stay; "
                "start a new run to train longer"
            )
    info = out / "run.json" if cv is None else (folds[0] if folds else None)
    if info is not None and info.is_file():
        trained_on = json.loads(info.read_text(encoding="utf-8"))["data"]
        if Path(trained_on).resolve() != data.resolve():
            raise ConfigError(
                f"{info}: the run was trained on {trained_on}; a resume continues on the same "
                f"data, got {data}"
            )


def _run_info(data: Path, fold: bool, description: dict) -> dict:
    return {
        "data": str(data.resolve()),
        "cross_validation_fold": fold,
        "splits": description,
        "versions": versions("torch", "numpy"),
    }


def train_run(
    data: str | Path,
    out: str | Path,
    config: TrainConfig,
    cv: str | int | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks=(),
) -> dict:
    """Train on ``data`` and write the run folder ``out``.

    Parameters
    ----------
    data : path-like
        Data of a registered modality (a preprocessed EEG folder, FER2013, ...).
    out : path-like
        Run folder (created; an existing run is only continued with ``resume``).
    config : TrainConfig
        Resolved configuration; where it keeps the default model, the model its
        inputs call for is trained and recorded instead (see
        :func:`eegemo.train.fusion.resolve_config`).
    cv : "loso", int or None
        Cross-validation by subject (data whose modality knows subjects); None
        trains a single model.
    resume : bool
        Continue a killed run from its last checkpoint (finished folds are kept), on
        the same data and with the same configuration (see :func:`check_resume`);
        a larger ``epochs`` extends a single run.
    progress : bool
        Progress bars and per-epoch lines on the terminal.
    callbacks : sequence of callable
        Passed to every :class:`~eegemo.train.trainer.Trainer` (``fn(trainer, record)``).

    Returns
    -------
    summary : dict
        Single run: ``run_dir``, ``best_epoch``, ``epochs_run``, ``splits`` and the
        report's metrics per split. Cross-validation: ``folds`` (test metrics of
        each) and ``mean``/``sd`` of each metric.
    """
    from .device import init_distributed, shutdown_distributed
    from .fusion import resolve_config

    data, out = Path(data), Path(out)
    config = resolve_config(data, config)
    ctx = init_distributed(config.device)
    try:
        check_run_folder(out, resume)
        if resume:
            check_resume(data, out, config, cv)
        if ctx.distributed:  # every process has checked before rank 0 writes anything
            import torch.distributed as dist

            dist.barrier()
        if cv is None:
            summary = _train_single(data, out, config, resume, progress, callbacks)
        else:
            summary = _cross_validate(data, out, config, cv, resume, progress, callbacks, ctx)
    except BaseException:
        shutdown_distributed(wait=False)
        raise
    shutdown_distributed()
    return summary


def train_on_split(
    data: str | Path,
    out: str | Path | None,
    config: TrainConfig,
    split: SubjectSplit | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks=(),
):
    """Train one model on ``data`` (optionally on given subjects) and report on its sets.

    Parameters
    ----------
    data : path-like
        Data of a registered modality.
    out : path-like or None
        Run folder (None: write nothing).
    config : TrainConfig
        Resolved configuration.
    split : SubjectSplit, optional
        Training, validation and test subjects (a cross-validation fold); by
        default the modality's own split.
    resume, progress, callbacks
        As for :func:`train_run`.

    Returns
    -------
    result : FitResult
        With ``report`` holding the metrics of ``val`` and, with test subjects, ``test``.
    bundle : DataBundle
        The datasets used.

    Notes
    -----
    With several ``data.inputs`` and ``data.fusion = "late"``, one model per input is
    trained and their calibrated probabilities averaged (:func:`eegemo.train.fusion.train_late`).
    """
    from .data import load_datasets
    from .device import dist_context_from_env
    from .fusion import is_late, resolve_config, train_late
    from .trainer import Trainer

    config = resolve_config(data, config)
    info = Path(out) / "run.json" if out is not None else None
    if is_late(config):
        result, bundle = train_late(data, out, config, split, resume, progress, callbacks)
        if info is not None and dist_context_from_env().is_main and not (resume and info.is_file()):
            write_json(info, _run_info(Path(data), split is not None, bundle.description))
        return result, bundle
    bundle = load_datasets(data, config, split)
    trainer = Trainer(config, bundle.train, bundle.val, bundle.classes, out,
                      data_meta=bundle.meta, callbacks=callbacks, progress=progress)
    if info is not None and trainer.writes and not (resume and info.is_file()):
        write_json(info, _run_info(Path(data), split is not None, bundle.description))
    report_sets = {"test": bundle.test} if bundle.test is not None else {}
    return trainer.fit(resume=resume, report_sets=report_sets), bundle


def _train_single(data, out, config, resume, progress, callbacks) -> dict:
    result, bundle = train_on_split(data, out, config, None, resume, progress, callbacks)
    return {
        "run_dir": str(out),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "splits": bundle.description,
        "metrics": {name: {k: m[k] for k in (*SUMMARY_METRICS, "n")}
                    for name, m in result.report.items()},
    }


def _cross_validate(data, out, config, cv, resume, progress, callbacks, ctx) -> dict:
    from .data import cross_validation_splits
    from .fusion import input_subjects, resolve_config
    from .metrics import summarize
    from .modality import input_modalities

    config = resolve_config(data, config)  # its data.val_fraction shapes the folds
    modalities = input_modalities(data, config.data.inputs)
    if any(m.subjects is None for m in modalities):
        described = " + ".join(m.description for m in modalities)
        raise EegemoError(f"{data}: --cv splits by subject, and {described} carry no subjects")
    splits = cross_validation_splits(input_subjects(data, modalities), cv,
                                     config.data.val_fraction, config.seed)
    if resume:
        _check_folds(out, cv, splits)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_open(out / "config.toml", "w", encoding="utf-8") as fh:
            fh.write(dumps_toml(to_dict(config)))
    rows = []
    for k, split in enumerate(splits, start=1):
        fold_dir = out / f"fold-{k:02d}"
        finished = fold_dir / "report" / "metrics.json"
        if resume and finished.is_file():
            test = json.loads(finished.read_text(encoding="utf-8"))["splits"]["test"]
        else:
            if ctx.is_main and progress:
                print(f"fold {k}/{len(splits)}: test subjects {', '.join(split.test)}",
                      flush=True)
            result, _ = train_on_split(data, fold_dir, config, split, resume, progress,
                                       callbacks)
            test = result.report["test"]
        row = {"fold": k, "test_subjects": list(split.test), "n": test["n"]}
        row.update({m: test[m] for m in SUMMARY_METRICS})
        rows.append(row)
        if ctx.is_main and progress:
            print(_fold_line(row), flush=True)
    summary: dict[str, Any] = {"cv": cv, "folds": rows}
    for m in SUMMARY_METRICS:
        s = summarize([r[m] for r in rows])
        summary[m] = {"mean": s["mean"], "sd": s["sd"]}
    if ctx.is_main:
        write_json(out / "cv.json", summary)
        with atomic_open(out / "cv.md", "w", encoding="utf-8") as fh:
            fh.write(cv_markdown(summary))
    return summary


def _check_folds(out: Path, cv: str | int, splits: list[SubjectSplit]) -> None:
    """Refuse a resume whose folds would test other subjects than the run's."""
    beyond = out / f"fold-{len(splits) + 1:02d}"
    if beyond.exists():
        raise ConfigError(f"{beyond}: with --cv {cv} there are only {len(splits)} folds; resume "
                          "with the --cv the run was started with")
    for k, split in enumerate(splits, start=1):
        info = out / f"fold-{k:02d}" / "run.json"
        if not info.is_file():
            continue
        tested = json.loads(info.read_text(encoding="utf-8"))["splits"]["test"]["subjects"]
        if tested != list(split.test):
            raise ConfigError(
                f"{info}: fold {k} tested {', '.join(tested)}, but with --cv {cv} it would "
                f"test {', '.join(split.test)}; resume with the --cv the run was started with"
            )


def _fold_line(row: dict) -> str:
    return (f"fold {row['fold']:>2}  n={row['n']:<5} bacc {row['balanced_accuracy']:.4f}  "
            f"f1 {row['macro_f1']:.4f}  acc {row['accuracy']:.4f}  "
            f"({', '.join(row['test_subjects'])})")


def cv_markdown(summary: dict) -> str:
    """Cross-validation results as a Markdown table (each fold, then mean +- sd)."""
    lines = [f"# Cross-validation by subject ({summary['cv']})", "",
             "| fold | test subjects | n | balanced accuracy | macro-F1 | accuracy |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in summary["folds"]:
        lines.append(f"| {r['fold']} | {', '.join(r['test_subjects'])} | {r['n']} | "
                     f"{r['balanced_accuracy']:.4f} | {r['macro_f1']:.4f} | {r['accuracy']:.4f} |")
    means = " | ".join(f"{summary[m]['mean']:.4f} +- {summary[m]['sd']:.4f}"
                       for m in SUMMARY_METRICS)
    lines.append(f"| mean +- sd | | | {means} |")
    return "\n".join(lines) + "\n"


def evaluate_checkpoint(
    run_or_checkpoint: str | Path,
    data: str | Path,
    split: str | None = None,
    device: str = "auto",
    batch_size: int = 256,
    tta: bool = False,
    predictions: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict:
    """Score a trained model on data it has never seen.

    Parameters
    ----------
    run_or_checkpoint : path-like
        Run folder (its best checkpoint) or ``.pt`` file.
    data : path-like
        Data of the model's modality, prepared as in training (an EEG folder with
        subject-wise normalisation uses each new subject's own statistics).
    split : str, optional
        A named part of the data (face data: CSV usage or split folder).
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``mps``.
    batch_size : int
        Evaluation batch size.
    tta : bool
        Also score test-time augmentation where the model's modality defines it
        (faces: flips and crops), reported separately under ``tta``; the top-level
        metrics stay plain. Asked for on another modality it is an error.
    predictions : path-like, optional
        Also write every item's prediction to this CSV file (see
        :func:`~eegemo.train.predictions.write_evaluation_table`: subject, recording,
        index, true label, predicted label, one probability per class); refused when
        it would replace a file of ``data``.
    overrides : sequence of str
        ``key=value`` changes (``--set``) to the training configuration recorded in the
        checkpoint, for this evaluation only (e.g. ``"face.decode_jobs=8"``).

    Returns
    -------
    metrics : dict
        ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``confusion_matrix``,
        ``classes``, ``n``, ``per_class``, plus ``checkpoint``, ``data``, for data
        whose items belong to subjects (EEG, heart features) ``per_subject`` (subject
        -> ``balanced_accuracy``, ``macro_f1``, ``accuracy``, ``n``) and, with ``tta``,
        ``tta`` (the same metrics with test-time augmentation).
    """
    from .checkpoint import load_model
    from .data import load_eval_dataset
    from .device import resolve_device
    from .metrics import classification_metrics
    from .modality import modality_of
    from .predictions import (
        check_output,
        item_names,
        per_subject_metrics,
        write_evaluation_table,
    )
    from .trainer import predict_logits

    if predictions is not None:
        check_output(predictions, data, "--predictions")
    dev = resolve_device(device)
    model, meta = load_model(run_or_checkpoint, device=dev)
    if overrides:
        from ..config import to_dict
        from .settings import load_train_config

        meta["config"] = to_dict(load_train_config(None, overrides, base=meta["config"]))
    modality = modality_of(meta)
    if tta and "tta" not in modality.eval_extras:
        raise EegemoError(
            f"{meta['path']}: test-time augmentation is not defined for {modality.description} "
            f"(a {modality.name} model); evaluate without --tta"
        )
    dataset = load_eval_dataset(data, meta, split)
    if len(dataset) == 0:
        raise EegemoError(f"{data}: no items to evaluate")
    logits, targets = predict_logits(model, dataset, dev, batch_size)
    predicted = logits.argmax(axis=1)
    metrics = classification_metrics(targets, predicted, meta["classes"])
    names = item_names(dataset)
    if names is not None:
        metrics["per_subject"] = per_subject_metrics(targets, predicted, names.subjects,
                                                     meta["classes"])
    if predictions is not None:
        write_evaluation_table(predictions, logits, targets, meta["classes"], names)
    if tta:
        log_probs, _ = modality.eval_extras["tta"](model, dataset, dev, batch_size)
        metrics["tta"] = classification_metrics(targets, log_probs.argmax(axis=1),
                                                meta["classes"])
    metrics["checkpoint"] = meta["path"]
    metrics["data"] = str(data)
    return metrics


def metrics_table(metrics: dict) -> str:
    """A readable text table of :func:`evaluate_checkpoint`'s result."""
    classes = metrics["classes"]
    width = max(8, *(len(c) for c in classes)) + 2
    lines = [
        f"checkpoint: {metrics.get('checkpoint', '')}",
        f"data:       {metrics.get('data', '')}   (n = {metrics['n']})",
        "",
        f"accuracy           {metrics['accuracy']:.4f}",
        f"balanced accuracy  {metrics['balanced_accuracy']:.4f}",
        f"macro-F1           {metrics['macro_f1']:.4f}",
    ]
    if "tta" in metrics:
        t = metrics["tta"]
        lines.append(f"with test-time augmentation: accuracy {t['accuracy']:.4f}, balanced "
                     f"accuracy {t['balanced_accuracy']:.4f}, macro-F1 {t['macro_f1']:.4f}")
    lines += [
        "",
        f"{'class':<{width}}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}",
    ]
    for c in classes:
        p = metrics["per_class"][c]
        lines.append(f"{c:<{width}}{p['precision']:>10.4f}{p['recall']:>10.4f}"
                     f"{p['f1']:>10.4f}{p['support']:>10}")
    lines += ["", "confusion matrix (rows true, columns predicted):",
              " " * width + "".join(f"{c[:9]:>10}" for c in classes)]
    for c, row in zip(classes, metrics["confusion_matrix"], strict=True):
        lines.append(f"{c:<{width}}" + "".join(f"{v:>10}" for v in row))
    return "\n".join(lines)
