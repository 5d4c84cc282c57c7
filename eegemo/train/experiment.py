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
import platform
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import atomic_open, write_json
from ..config import dumps_toml, to_dict
from ..errors import EegemoError
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


def _run_info(data: Path, cv: str | int | None, description: dict) -> dict:
    import torch

    return {
        "data": str(data.resolve()),
        "cv": cv,
        "splits": description,
        "eegemo": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
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
        Preprocessed EEG folder (``manifest.csv``) or FER2013 folder/CSV.
    out : path-like
        Run folder (created; an existing run is only continued with ``resume``).
    config : TrainConfig
        Resolved configuration.
    cv : "loso", int or None
        Cross-validation by subject (EEG only); None trains a single model.
    resume : bool
        Continue a killed run from its last checkpoint (finished folds are kept).
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

    data, out = Path(data), Path(out)
    ctx = init_distributed(config.device)
    try:
        check_run_folder(out, resume)
        if ctx.distributed:  # every process has checked before rank 0 writes anything
            import torch.distributed as dist

            dist.barrier()
        if cv is None:
            return _train_single(data, out, config, resume, progress, callbacks, ctx)
        return _cross_validate(data, out, config, cv, resume, progress, callbacks, ctx)
    finally:
        shutdown_distributed()


def _train_single(data, out, config, resume, progress, callbacks, ctx) -> dict:
    from .data import load_datasets
    from .trainer import Trainer

    bundle = load_datasets(data, config)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "run.json", _run_info(data, None, bundle.description))
    trainer = Trainer(config, bundle.train, bundle.val, bundle.classes, out,
                      data_meta=bundle.meta, callbacks=callbacks, progress=progress)
    result = trainer.fit(resume=resume)
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
    from .data import is_topomap_data, read_manifest, subject_folds, subject_split, topomap_bundle
    from .metrics import summarize
    from .trainer import Trainer

    if not is_topomap_data(data):
        raise EegemoError(f"{data}: --cv splits by subject and needs preprocessed EEG "
                          "(a folder with manifest.csv)")
    manifest = read_manifest(data)
    folds = subject_folds(manifest.subjects, cv, config.seed)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_open(out / "config.toml", "w", encoding="utf-8") as fh:
            fh.write(dumps_toml(to_dict(config)))
    rows = []
    for k, test_subjects in enumerate(folds, start=1):
        fold_dir = out / f"fold-{k:02d}"
        finished = fold_dir / "report" / "metrics.json"
        if resume and finished.is_file():
            test = json.loads(finished.read_text(encoding="utf-8"))["splits"]["test"]
        else:
            held_out = set(test_subjects)
            rest = [s for s in manifest.subjects if s not in held_out]
            train_s, val_s = subject_split(rest, config.data.val_fraction, config.seed)
            bundle = topomap_bundle(manifest, train_s, val_s, config.data.normalization,
                                    test_subjects, classes=None)
            if ctx.is_main:
                fold_dir.mkdir(parents=True, exist_ok=True)
                write_json(fold_dir / "run.json", _run_info(data, cv, bundle.description))
                if progress:
                    print(f"fold {k}/{len(folds)}: test subjects {', '.join(test_subjects)}",
                          flush=True)
            trainer = Trainer(config, bundle.train, bundle.val, bundle.classes, fold_dir,
                              data_meta=bundle.meta, callbacks=callbacks, progress=progress)
            test = trainer.fit(resume=resume, report_sets={"test": bundle.test}).report["test"]
        row = {"fold": k, "test_subjects": list(test_subjects), "n": test["n"]}
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
) -> dict:
    """Score a trained model on data it has never seen.

    Parameters
    ----------
    run_or_checkpoint : path-like
        Run folder (its best checkpoint) or ``.pt`` file.
    data : path-like
        Preprocessed EEG folder (normalised as in training; with subject-wise
        normalisation each new subject's own statistics are used) or face data.
    split : str, optional
        Face CSV usage or split folder.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``mps``.
    batch_size : int
        Evaluation batch size.
    tta : bool
        Also score test-time augmentation (flips and crops, :mod:`eegemo.face.tta`),
        reported separately under ``tta``; the top-level metrics stay plain.

    Returns
    -------
    metrics : dict
        ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``confusion_matrix``,
        ``classes``, ``n``, ``per_class``, plus ``checkpoint``, ``data`` and, with
        ``tta``, ``tta`` (the same metrics with test-time augmentation).
    """
    from .checkpoint import load_model
    from .data import load_eval_dataset
    from .device import resolve_device
    from .metrics import classification_metrics
    from .trainer import predict_logits

    dev = resolve_device(device)
    model, meta = load_model(run_or_checkpoint, device=dev)
    dataset = load_eval_dataset(data, meta, split)
    if len(dataset) == 0:
        raise EegemoError(f"{data}: no items to evaluate")
    logits, targets = predict_logits(model, dataset, dev, batch_size)
    metrics = classification_metrics(targets, logits.argmax(axis=1), meta["classes"])
    if tta:
        from ..face.tta import predict_logits_tta

        log_probs, _ = predict_logits_tta(model, dataset, dev, batch_size)
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
