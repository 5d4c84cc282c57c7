"""The demo's HTML report: one self-contained page (figures embedded) a person opens in a browser.

:func:`render_demo_report` turns the demo summary (plain data, see
:func:`eegemo.demo.run_demo`) and its figures into HTML; :func:`write_demo_report`
writes it atomically. Every figure is embedded as a base64 ``data:`` URI and also
linked to its file, so the page can be mailed alone or browsed beside its folder.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_open
from ..errors import EegemoError

#: Figures the report shows, in page order, with their captions.
FIGURES = {
    "ica": "What ICA removed: frontal channels around the largest blink of one recording, "
    "before (red) and after (black) the ICA stage.",
    "topomaps": "Mean band-power topomaps per condition (one colour range per band, shared by "
    "the conditions) and their difference.",
    "learning_curves": "Learning curves: training loss and validation metrics per epoch "
    "(the dashed line marks the epoch kept).",
    "confusion": "Confusion matrix on the held-out subjects (colour: fraction of the true "
    "class; numbers: epochs).",
}

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:62em;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.num{text-align:right}
code,pre{background:#f6f6f6;border-radius:3px}pre{padding:.6em;overflow-x:auto}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}.cards{display:flex;gap:1em;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.6em}.muted{color:#666;font-size:.9em}
"""


def image_data_uri(path: str | Path) -> str:
    """Return the PNG file at ``path`` as a ``data:image/png;base64,...`` URI.

    Raises
    ------
    EegemoError
        If the file does not exist or is not a PNG.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EegemoError(f"{path}: cannot read the figure ({exc.strerror})") from None
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise EegemoError(f"{path}: not a PNG image")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _e(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} = {_fmt(v)}" for k, v in value.items())
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = []
        for value in row:
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}>{_e(_fmt(value))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _figure(key: str, path: Path, report_dir: Path) -> str:
    href = Path(os.path.relpath(path, report_dir)).as_posix()
    caption = FIGURES[key]
    return (
        f'<figure id="fig-{key}"><img src="{image_data_uri(path)}" alt="{_e(caption)}">'
        f'<figcaption>{_e(caption)} <a href="{_e(href)}">{_e(href)}</a></figcaption></figure>'
    )


def _metric_cards(test: Mapping[str, Any]) -> str:
    cards = [
        ("balanced accuracy", f"{test['balanced_accuracy']:.3f}"),
        ("accuracy", f"{test['accuracy']:.3f}"),
        ("macro-F1", f"{test['macro_f1']:.3f}"),
        ("held-out epochs", str(test["n"])),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards
    ) + "</div>"


def _study(summary: Mapping[str, Any]) -> list[str]:
    study, split = summary["study"], summary["split"]
    rows = [
        ("subjects", study["n_subjects"]),
        ("conditions (labels)", study["conditions"]),
        ("recording length", f"{study['duration_s']:g} s"),
        ("sampling rate", f"{study['sfreq']:g} Hz"),
        ("line noise", f"{study['line_freq']:g} Hz"),
        ("format", "EDF (one file per subject and condition)"),
        ("seed", study["seed"]),
    ]
    return [
        "<h2>1. The simulated study</h2>",
        "<p>Each recording is simulated with MNE: dipole sources below the 19 electrodes of "
        "the 10-20 system projected through a three-shell spherical head model, 1/f "
        "background, condition-dependent rhythms (rest: strong occipito-parietal alpha; "
        "task: weaker alpha, frontal-midline theta and central beta), subject-specific "
        "peak frequencies and amplitudes, eye blinks on the frontal and EOG channels, and "
        "power-line noise.</p>",
        _table(("", ""), rows),
        "<p>Splits are by subject: no subject contributes epochs to two sets. The "
        "held-out subjects are preprocessed into their own folder and used only for the "
        "final evaluation.</p>",
        _table(
            ("set", "subjects", "epochs", "used for"),
            [
                ("train", split["train"]["subjects"], split["train"]["epochs"], "fitting"),
                ("validation", split["val"]["subjects"], split["val"]["epochs"],
                 "choosing the epoch to keep"),
                ("held-out test", split["test"]["subjects"], split["test"]["epochs"],
                 "the metrics below, once"),
            ],
        ),
    ]


def _pipeline(summary: Mapping[str, Any]) -> list[str]:
    pipe, prep = summary["pipeline"], summary["preprocessing"]
    stage_rows = [
        (i, s["name"], {k: v for k, v in s.items() if k != "name"})
        for i, s in enumerate(pipe["stages"], start=1)
    ]
    done = prep["stage_records"]
    record_rows = [
        (r["name"], {k: v for k, v in r.items() if k not in ("name", "excluded")})
        for r in done
    ]
    out = [
        "<h2>2. The preprocessing pipeline that ran</h2>",
        f"<p>The default pipeline (<code>{_e(pipe['source'])}</code>) applied to every "
        "recording in parallel, then epoching, band power and topomaps.</p>",
    ]
    if pipe["overrides"]:
        out.append(
            "<p>Changed for the demo: "
            + ", ".join(f"<code>{_e(o)}</code>" for o in pipe["overrides"])
            + f". {_e(pipe['overrides_why'])}</p>"
        )
    out += [
        _table(("#", "stage", "parameters"), stage_rows),
        _table(
            ("step", "settings"),
            [
                ("epochs", pipe["epochs"]),
                ("band power", pipe["bandpower"]),
                ("topomaps", pipe["topomap"]),
            ],
        ),
        f"<p>What each stage recorded for <code>{_e(prep['example'])}</code>:</p>",
        _table(("stage", "what it did"), record_rows),
        _table(
            ("", "train + validation", "held-out"),
            [
                ("recordings processed now", prep["train"]["processed"], prep["test"]["processed"]),
                ("recordings reused (complete, same config)", prep["train"]["skipped"],
                 prep["test"]["skipped"]),
                ("recordings failed", prep["train"]["failed"], prep["test"]["failed"]),
                ("epochs kept", prep["train"]["epochs"], prep["test"]["epochs"]),
                ("epochs rejected", prep["train"]["rejected"], prep["test"]["rejected"]),
            ],
        ),
    ]
    return out


def _ica(summary: Mapping[str, Any], figures: Mapping[str, Path], report_dir: Path) -> list[str]:
    ica = summary["ica"]
    ptp = ica["blink"]["peak_to_peak_uv"]
    out = [
        "<h2>3. What ICA removed</h2>",
        f"<p>The pipeline's stages were re-run on <code>{_e(ica['recording'])}</code> to keep "
        "the signal just before and just after the ICA stage. The largest blink (found on "
        f"{_e(ica['blink']['found_on'])} at {ica['blink']['time_s']:.1f} s) is shown below.</p>",
        _figure("ica", figures["ica"], report_dir),
        _table(
            ("channel", "blink peak-to-peak before (µV)", "after (µV)"),
            [(ch, v["before"], v["after"]) for ch, v in ptp.items()],
        ),
        "<p>Components excluded in every recording (from the provenance records):</p>",
        _table(
            ("recording", "components fitted", "excluded", "why"),
            [
                (r["recording"], r["n_components"],
                 [e["component"] for e in r["excluded"]] or "none",
                 "; ".join(f"{e['component']}: {e['why']} (score {e['score']})"
                           for e in r["excluded"]) or "-")
                for r in ica["per_recording"]
            ],
        ),
    ]
    return out


def _training(summary: Mapping[str, Any], figures: Mapping[str, Path],
              report_dir: Path) -> list[str]:
    train = summary["training"]
    val = train.get("val", {})
    rows = [
        ("model", f"{train['model']} ({train['params']:,} parameters)"),
        ("input", f"{train['input']}"),
        ("epochs run", train["epochs_run"]),
        ("epoch kept (best validation " + train["monitor"].replace("_", " ") + ")",
         train["best_epoch"]),
        ("optimiser / schedule", train["optimizer"]),
        ("normalisation", train["normalization"]),
        ("training time", f"{train['time_s']:.0f} s on {train['device']}"),
    ]
    if val:
        rows.append(("validation balanced accuracy / accuracy / macro-F1",
                     f"{val['balanced_accuracy']:.3f} / {val['accuracy']:.3f} / "
                     f"{val['macro_f1']:.3f} (n = {val['n']})"))
    return [
        "<h2>5. Training (subject-wise validation)</h2>",
        _table(("", ""), rows),
        _figure("learning_curves", figures["learning_curves"], report_dir),
    ]


def _evaluation(summary: Mapping[str, Any], figures: Mapping[str, Path],
                report_dir: Path) -> list[str]:
    test = summary["test"]
    return [
        "<h2>6. Evaluation on held-out subjects</h2>",
        f"<p>Subjects {_e(', '.join(test['subjects']))}: never seen in training or "
        f"validation. Chance level is {1 / len(test['classes']):.2f}.</p>",
        _metric_cards(test),
        _table(
            ("class", "precision", "recall", "F1", "support"),
            [
                (c, round(p["precision"], 4), round(p["recall"], 4), round(p["f1"], 4),
                 p["support"])
                for c, p in test["per_class"].items()
            ],
        ),
        _figure("confusion", figures["confusion"], report_dir),
    ]


def render_demo_report(
    summary: Mapping[str, Any], figures: Mapping[str, str | Path], report_dir: str | Path
) -> str:
    """Build the demo report page.

    Parameters
    ----------
    summary : mapping
        What the demo did and measured: ``study``, ``split``, ``pipeline``,
        ``preprocessing``, ``ica``, ``training``, ``test``, ``commands``, ``files``,
        ``timings_s`` and ``versions`` (as assembled by :func:`eegemo.demo.run_demo`).
    figures : mapping of str to path
        PNG files for every key of :data:`FIGURES`.
    report_dir : path-like
        Folder the page will be written to (figure links are relative to it).

    Returns
    -------
    page : str
        A complete HTML document with every figure embedded.

    Raises
    ------
    EegemoError
        If a figure is missing or not a PNG.
    """
    missing = [key for key in FIGURES if key not in figures]
    if missing:
        raise EegemoError(f"demo report: missing figure(s) {', '.join(missing)}")
    figures = {k: Path(v) for k, v in figures.items()}
    report_dir = Path(report_dir)
    test = summary["test"]
    timings = summary["timings_s"]
    body = [
        "<h1>eegemo demo</h1>",
        f"<p class=\"muted\">{_e(summary['created'])} · eegemo {_e(summary['versions']['eegemo'])}"
        f" · total {timings['total']:.0f} s</p>",
        "<p>A simulated two-condition EEG study went through the whole eegemo journey: "
        "simulate, preprocess (with ICA), turn band power into topomaps, train the ResNet "
        "baseline with subject-wise validation, and evaluate on subjects the model never "
        "saw.</p>",
        f"<p><b>Held-out subjects</b> ({_e(', '.join(test['subjects']))}):</p>",
        _metric_cards(test),
    ]
    body += _study(summary)
    body += _pipeline(summary)
    body += _ica(summary, figures, report_dir)
    body += [
        "<h2>4. Topomaps per condition and band</h2>",
        f"<p>Mean over the epochs of all train and validation subjects "
        f"({_e(_fmt(summary['topomaps']['epochs']))} epochs).</p>",
        _figure("topomaps", figures["topomaps"], report_dir),
    ]
    body += _training(summary, figures, report_dir)
    body += _evaluation(summary, figures, report_dir)
    body += [
        "<h2>7. The same with the command line</h2>",
        "<p>The demo calls the functions behind these commands:</p>",
        "<pre>" + _e("\n".join(summary["commands"])) + "</pre>",
        "<h2>8. Files</h2>",
        _table(("what", "where"), [(k, v) for k, v in summary["files"].items()]),
        "<h2>9. Time and versions</h2>",
        _table(("step", "seconds"), [(k, round(v, 1)) for k, v in timings.items()]),
        _table(("package", "version"), list(summary["versions"].items())),
    ]
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>eegemo demo report</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_demo_report(
    path: str | Path, summary: Mapping[str, Any], figures: Mapping[str, str | Path]
) -> Path:
    """Write the demo report (see :func:`render_demo_report`) to ``path``, atomically.

    Parameters
    ----------
    path : path-like
        Destination ``.html`` file.
    summary : mapping
        What the demo did and measured.
    figures : mapping of str to path
        PNG files for every key of :data:`FIGURES`.

    Returns
    -------
    path : Path
        The file written.
    """
    path = Path(path)
    page = render_demo_report(summary, figures, path.parent)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
    return path
