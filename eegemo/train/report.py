"""The run report: learning curves, confusion matrices, per-class scores (Markdown + HTML)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_open, atomic_path, write_json

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


def _markdown(results: dict, info: dict) -> str:
    lines = ["# Training report", ""]
    model = info.get("model", {})
    lines += [
        f"- model: `{model.get('name')}` {model.get('kwargs') or ''} "
        f"(input {model.get('in_chans')}x{model.get('img_size')}x{model.get('img_size')}, "
        f"{model.get('num_classes')} classes)",
        f"- epochs run: {info.get('epochs_run')}, best epoch: {info.get('best_epoch')} "
        f"(monitor: validation {info.get('monitor')})",
        f"- training items: {info.get('n_train')}, device: {info.get('device')}, "
        f"processes: {info.get('world_size')}",
        "",
        "![learning curves](learning_curves.png)",
        "",
    ]
    if not results:
        lines.append("No held-out split to report (trained without validation).")
    for split, m in results.items():
        lines += [
            f"## {split} (n = {m['n']})",
            "",
            "| accuracy | balanced accuracy | macro-F1 |",
            "|---:|---:|---:|",
            f"| {m['accuracy']:.4f} | {m['balanced_accuracy']:.4f} | {m['macro_f1']:.4f} |",
            "",
            "| class | precision | recall | F1 | support |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, c in m["per_class"].items():
            lines.append(
                f"| {name} | {c['precision']:.4f} | {c['recall']:.4f} | {c['f1']:.4f} "
                f"| {c['support']} |"
            )
        lines += ["", f"![confusion matrix ({split})](confusion_{split}.png)", ""]
    return "\n".join(lines) + "\n"


def _html(markdown_text: str) -> str:
    """A small, dependency-free rendering of the report's Markdown subset."""
    body, table = [], []

    def flush_table() -> None:
        if not table:
            return
        rows = [r.strip("|").split("|") for r in table if not set(r) <= set("|-: ")]
        out = ["<table>"]
        for i, row in enumerate(rows):
            tag = "th" if i == 0 else "td"
            out.append("<tr>" + "".join(f"<{tag}>{html.escape(c.strip())}</{tag}>"
                                        for c in row) + "</tr>")
        out.append("</table>")
        body.append("\n".join(out))
        table.clear()

    for line in markdown_text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](", 1)
            body.append(f'<p><img src="{html.escape(src.rstrip(")"))}" alt="{html.escape(alt)}"'
                        ' style="max-width:100%"></p>')
        elif line.startswith("- "):
            body.append(f"<p>{html.escape(line[2:]).replace('`', '')}</p>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    flush_table()
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .7em}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Training report</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


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
    text = _markdown(results, info)
    with atomic_open(report_dir / "report.md", "w", encoding="utf-8") as fh:
        fh.write(text)
    with atomic_open(report_dir / "report.html", "w", encoding="utf-8") as fh:
        fh.write(_html(text))
    return report_dir / "report.md"
