"""The run report: learning curves, confusion matrices, per-class scores (Markdown + HTML)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_json
from ..htmlreport import (
    Block,
    Cards,
    Document,
    Image,
    KeyValues,
    Paragraph,
    Section,
    Table,
    format_value,
)

#: Split whose metrics are copied to the top level of ``metrics.json``, first present wins.
PRIMARY_SPLITS = ("test", "val")


def plot_learning_curves(history: Sequence[dict], path: str | Path) -> None:
    """Save loss and validation metrics per epoch as a PNG.

    Parameters
    ----------
    history : sequence of dict
        ``metrics.jsonl`` records (``epoch``, ``train_loss``, ``val_*``...).
    path : path-like
        Destination ``.png``.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_metric = fig.subplots(1, 2)
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        values = [r.get(key) for r in history]
        if any(v is not None for v in values):
            ax_loss.plot(epochs, values, marker="o", ms=3, label=label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    ax_loss.legend()
    for key, label in (
        ("train_accuracy", "train accuracy"),
        ("val_accuracy", "val accuracy"),
        ("val_balanced_accuracy", "val balanced accuracy"),
        ("val_macro_f1", "val macro-F1"),
    ):
        values = [r.get(key) for r in history]
        if any(v is not None for v in values):
            ax_metric.plot(epochs, values, marker="o", ms=3, label=label)
    best = [r["epoch"] for r in history if r.get("best")]
    if best:
        ax_metric.axvline(best[-1], color="grey", ls="--", lw=1, label="best epoch")
    ax_metric.set(xlabel="epoch", ylabel="score", title="Metrics", ylim=(0, 1.02))
    ax_metric.legend(fontsize=8)
    for ax in (ax_loss, ax_metric):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def plot_confusion(cm: Sequence[Sequence[int]], classes: Sequence[str], path: str | Path,
                   title: str = "Confusion matrix") -> None:
    """Save a confusion matrix (colour: row-normalised recall, text: counts) as a PNG."""
    from matplotlib.figure import Figure

    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    size = 2.5 + 0.6 * len(classes)
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, classes, rotation=45, ha="right")
    ax.set_yticks(ticks, classes)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def _shape_text(shape: Sequence) -> str:
    """``5 x 32 x 32``, or ``5 x 32 x 32 + 7`` for a model of several inputs."""
    if shape and isinstance(shape[0], (list, tuple)):
        return " + ".join(_shape_text(part) for part in shape)
    return " x ".join(str(n) for n in shape)


def _document(report_dir: Path, has_curves: bool, results: dict, info: dict) -> Document:
    model = info.get("model", {})
    shape = _shape_text(model.get("input_shape", []))
    kwargs = f" ({format_value(model['kwargs'])})" if model.get("kwargs") else ""
    monitor = str(info.get("monitor")).replace("_", " ")
    blocks: list[Block] = [KeyValues([
        ("model", f"`{model.get('name')}`{kwargs}, input {shape}, "
                  f"{model.get('num_classes')} classes"),
        ("epochs run", info.get("epochs_run")),
        ("best epoch", f"{info.get('best_epoch')} (monitor: validation {monitor})"),
        ("training items", info.get("n_train")),
        ("device", f"{info.get('device')}, {info.get('world_size')} process(es)"),
    ])]
    if has_curves:
        blocks.append(Image(report_dir / "learning_curves.png",
                            "Learning curves: loss and metrics per epoch (the dashed line marks "
                            "the best epoch)."))
    if not results:
        blocks.append(Paragraph("No held-out split to report (trained without validation)."))
    sections = [
        Section(f"{split} (n = {m['n']})", [
            Cards([("balanced accuracy", m["balanced_accuracy"]), ("accuracy", m["accuracy"]),
                   ("macro-F1", m["macro_f1"])], float_format=".4f"),
            Table(("class", "precision", "recall", "F1", "support"),
                  [(name, c["precision"], c["recall"], c["f1"], c["support"])
                   for name, c in m["per_class"].items()], float_format=".4f"),
            Image(report_dir / f"confusion_{split}.png",
                  f"Confusion matrix ({split}): colour is the fraction of the true class, "
                  "numbers are counts."),
        ])
        for split, m in results.items()
    ]
    return Document("Training report", blocks=blocks, sections=sections)


def write_report(report_dir: str | Path, history: Sequence[dict], results: dict,
                 info: dict) -> Path:
    """Write ``learning_curves.png``, ``confusion_<split>.png``, ``metrics.json``,
    ``report.md`` and ``report.html`` into ``report_dir``.

    Parameters
    ----------
    report_dir : path-like
        Output folder (created).
    history : sequence of dict
        Per-epoch records.
    results : dict
        Split name -> metrics from :func:`eegemo.train.metrics.metrics_from_confusion`.
    info : dict
        Model description, best epoch, epochs run, monitor, device...

    Returns
    -------
    path : Path
        The ``report.md`` file.
    """
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    if history:
        plot_learning_curves(history, report_dir / "learning_curves.png")
    for split, m in results.items():
        plot_confusion(m["confusion_matrix"], m["classes"], report_dir / f"confusion_{split}.png",
                       title=f"Confusion matrix ({split}, n = {m['n']})")
    summary: dict = {**info, "splits": results}
    primary = next((s for s in PRIMARY_SPLITS if s in results), None)
    if primary is not None:
        summary["split"] = primary
        for key in ("accuracy", "balanced_accuracy", "macro_f1", "n"):
            summary[key] = results[primary][key]
    write_json(report_dir / "metrics.json", summary)
    document = _document(report_dir, bool(history), results, info)
    document.write_html(report_dir / "report.html")
    return document.write_markdown(report_dir / "report.md")
