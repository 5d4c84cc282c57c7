"""A quality-control report of a preprocessed data set, built with :class:`mne.Report`.

:func:`write_qc_report` reads what ``eegemo preprocess`` left in OUT (provenance
records, ``failures.csv``, ``clean/``, the topomap arrays) and writes
``OUT/qc-report.html``: a summary of the data set, then per recording the power
spectrum before and after cleaning, the ICA components with those removed and why,
the epochs drop log and the mean band topomaps. Nothing is recomputed from scratch:
spectra use the first :data:`PSD_SECONDS` seconds of each recording, so a report of
a few dozen recordings takes minutes, not hours.
"""

from __future__ import annotations

import csv
import html
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_path
from ..errors import EegemoError
from .cache import CLEAN_DIR
from .pipeline import PROVENANCE_DIR, recorded_band_order

if TYPE_CHECKING:
    import matplotlib.figure
    import mne

#: Name of the report in OUT.
REPORT_NAME = "qc-report.html"
#: Seconds of each recording used for spectra and ICA component properties.
PSD_SECONDS = 60.0
#: Highest frequency shown in the spectra, in Hz.
PSD_FMAX = 60.0


def _table(columns: list[str], rows: list[list[Any]]) -> str:
    """An HTML table, every cell escaped."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _read_failures(out_dir: Path) -> list[dict[str, str]]:
    path = out_dir / "failures.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _complete_ids(out_dir: Path) -> set[str] | None:
    """Recordings listed in ``manifest.csv`` (None when there is no manifest)."""
    path = out_dir / "manifest.csv"
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["recording"] for row in csv.DictReader(fh)}


def read_records(out_dir: str | Path) -> list[dict[str, Any]]:
    """The provenance records of the complete recordings in OUT, sorted by id.

    Parameters
    ----------
    out_dir : path-like
        An output folder of ``eegemo preprocess``.

    Returns
    -------
    records : list of dict
        One provenance record per recording listed in ``manifest.csv`` (every record
        when there is no manifest).
    """
    out_dir = Path(out_dir)
    complete = _complete_ids(out_dir)
    records = []
    for path in sorted((out_dir / PROVENANCE_DIR).glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if complete is None or record["recording"]["id"] in complete:
            records.append(record)
    return records


def _removed(record: dict[str, Any]) -> str:
    """``ICA004 (eog: r = -0.87 with F7 ...)``, one entry per removed component."""
    return "; ".join(
        f"ICA{c['component']:03d} ({c.get('criterion', '?')}: {c.get('why', '')})"
        for c in record.get("ica_excluded", [])
    )


def summary_html(records: list[dict[str, Any]], failures: list[dict[str, str]]) -> str:
    """The first section: totals, one row per recording, one per failure.

    Parameters
    ----------
    records : list of dict
        Provenance records (:func:`read_records`).
    failures : list of dict
        Rows of ``failures.csv``.

    Returns
    -------
    html : str
    """
    kept = sum(r["epochs"]["kept"] for r in records)
    rejected = sum(r["epochs"]["rejected"] for r in records)
    removed = sum(len(r.get("ica_excluded", [])) for r in records)
    totals = _table(
        ["recordings processed", "recordings failed", "epochs kept", "epochs rejected",
         "ICA components removed"],
        [[len(records), len(failures), kept, rejected, removed]],
    )  # fmt: skip
    per_recording = _table(
        ["recording", "subject", "label", "epochs kept", "epochs rejected",
         "components removed", "why"],
        [
            [r["recording"]["id"], r["recording"]["subject"], r["recording"].get("label") or "",
             r["epochs"]["kept"], r["epochs"]["rejected"], len(r.get("ica_excluded", [])),
             _removed(r)]
            for r in records
        ],
    )  # fmt: skip
    parts = ["<h4>Totals</h4>", totals, "<h4>Recordings</h4>", per_recording]
    if failures:
        rows = [[f["recording"], f["stage"], f["error"]] for f in failures]
        parts += ["<h4>Failures</h4>", _table(["recording", "stage", "error"], rows)]
    return "\n".join(parts)


def _input_path(record: dict[str, Any], raw_dir: Path | None) -> Path | None:
    """The recording's input file: as recorded, else found by name under ``raw_dir``."""
    path = Path(record["recording"]["path"])
    if path.is_file():
        return path
    if raw_dir is not None:
        return next((p for p in sorted(raw_dir.rglob(path.name)) if p.is_file()), None)
    return None


def _read_input(path: Path, record: dict[str, Any]) -> mne.io.BaseRaw | None:
    """The first seconds of the input's EEG channels, named as the pipeline named them."""
    import mne

    try:
        raw = mne.io.read_raw(path, preload=False, verbose="error")
    except (OSError, ValueError, RuntimeError):
        return None
    renamed = record["channels"].get("renamed", {})
    raw.rename_channels({old: new for old, new in renamed.items() if old in raw.ch_names})
    used = [ch for ch in record["channels"].get("used", []) if ch in raw.ch_names]
    if not used:
        return None
    raw.pick(used).crop(0.0, min(PSD_SECONDS, raw.times[-1])).load_data(verbose="error")
    return raw


def psd_figure(before: mne.io.BaseRaw | None, after: mne.io.BaseRaw) -> matplotlib.figure.Figure:
    """Channel spectra (thin) and their mean (thick) before and after cleaning.

    Parameters
    ----------
    before : mne.io.BaseRaw | None
        The input recording (its EEG channels); None when it cannot be read.
    after : mne.io.BaseRaw
        The cleaned recording.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    names = ("before cleaning", "after cleaning")
    for ax, raw, name in zip(axes, (before, after), names, strict=True):
        ax.set(title=name, xlabel="Frequency (Hz)")
        if raw is None:
            ax.text(0.5, 0.5, "input not readable", ha="center", transform=ax.transAxes)
            continue
        fmax = min(PSD_FMAX, raw.info["sfreq"] / 2)
        spectrum = raw.compute_psd(picks="eeg", fmax=fmax, verbose="error")
        psd, freqs = spectrum.get_data(return_freqs=True)
        db = 10 * np.log10(np.maximum(psd * 1e12, 1e-20))  # V²/Hz to dB re 1 µV²/Hz
        ax.plot(freqs, db.T, color="0.6", linewidth=0.5)
        ax.plot(freqs, db.mean(axis=0), color="C0", linewidth=2)
    axes[0].set_ylabel("Power (dB re 1 µV²/Hz)")
    return fig


def _pre_ica(path: Path, record: dict[str, Any],
             ica: mne.preprocessing.ICA) -> mne.io.BaseRaw | None:
    """The recording as its ICA stage received it, recomputed from the recorded configuration.

    Channel hygiene and the stages before ``ica`` are run as the pipeline ran them, so
    the component properties are those of the signal the ICA was fitted on. None when
    the input cannot be read again or no longer matches the ICA's channels.
    """
    import dataclasses

    from ..config import from_dict
    from ..errors import RecordingError
    from .channels import prepare_channels
    from .io import read_raw
    from .pipeline import apply_stages
    from .settings import PreprocessConfig

    config = from_dict(PreprocessConfig, record["config"])
    names = [spec.name for spec in config.stages]
    config = dataclasses.replace(config, stages=config.stages[: names.index("ica")])
    try:
        raw, _ = prepare_channels(read_raw(path), config.channels)
    except (RecordingError, OSError, ValueError):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the batch reported them when it ran
        for _, after, _ in apply_stages(raw, config):
            raw = after
    if not set(ica.ch_names) <= set(raw.ch_names):
        return None
    return raw.pick(ica.ch_names)


def topomap_figure(path: Path, bands: dict[str, list[float]],
                   order: list[str]) -> matplotlib.figure.Figure:
    """The recording's band topomaps averaged over its epochs, one panel per band.

    Parameters
    ----------
    path : Path
        ``<id>_topomaps.npy``, shape (n_epochs, n_bands, res, res).
    bands : dict
        Band name to (low, high) in Hz, as in the provenance.
    order : list of str
        The bands in the order of the arrays
        (:func:`~eegemo.eeg.pipeline.recorded_band_order`).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import numpy as np
    from matplotlib.figure import Figure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pixels outside the head: all NaN
        mean = np.nanmean(np.load(path), axis=0)
    fig = Figure(figsize=(2.0 * len(order), 2.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(order)))
    for ax, name, image in zip(axes, order, mean, strict=True):
        shown = ax.imshow(image, origin="lower", cmap="RdBu_r")
        low, high = bands[name]
        ax.set(title=f"{name} {low:g}-{high:g} Hz", xticks=[], yticks=[])
        fig.colorbar(shown, ax=ax, shrink=0.7)
    return fig


def drop_log_html(record: dict[str, Any]) -> str:
    """Epochs kept and rejected by reason, from the provenance."""
    epochs = record["epochs"]
    rows = [
        ["kept", epochs["kept"]],
        [f"rejected by the rule ({epochs.get('rule', '')})", epochs.get("rejected_by_rule", 0)],
        ["rejected: overlap a bad segment", epochs.get("rejected_bad_segments", 0)],
        ["total", epochs["total"]],
    ]
    return _table(["epochs", "count"], rows)


def ica_html(record: dict[str, Any]) -> str:
    """The removed ICA components and why, as a table."""
    excluded = record.get("ica_excluded", [])
    if not excluded:
        return "<p>No component removed.</p>"
    rows = [
        [f"ICA{c['component']:03d}", c.get("criterion", ""), c.get("channel", ""),
         c.get("score", ""), c.get("why", "")]
        for c in excluded
    ]  # fmt: skip
    return _table(["component", "criterion", "channel", "score", "why"], rows)


def _add_recording(
    report: mne.Report, out_dir: Path, record: dict[str, Any], raw_dir: Path | None
) -> None:
    """Add one recording's spectra, ICA, drop log and topomaps to ``report``."""
    import mne

    rid = record["recording"]["id"]
    tags = (rid,)
    cleaned = record.get("cleaned", {})
    input_path = _input_path(record, raw_dir)
    before = _read_input(input_path, record) if input_path is not None else None
    after = None
    if "raw" in cleaned and (out_dir / cleaned["raw"]["path"]).is_file():
        after = mne.io.read_raw_fif(out_dir / cleaned["raw"]["path"], verbose="error")
        after.crop(0.0, min(PSD_SECONDS, after.times[-1])).load_data(verbose="error")
        report.add_figure(psd_figure(before, after), title="Power spectrum", tags=tags,
                          section=rid, image_format="png")  # fmt: skip
    else:
        report.add_html("<p>Cleaned recording not kept (--no-keep-clean).</p>",
                        title="Power spectrum", tags=tags, section=rid)  # fmt: skip

    report.add_html(ica_html(record), title="ICA: components removed", tags=tags, section=rid)
    if "ica" in cleaned and (out_dir / cleaned["ica"]["path"]).is_file():
        ica = mne.preprocessing.read_ica(out_dir / cleaned["ica"]["path"], verbose="error")
        section = f"{rid}: ICA components"
        report.add_ica(ica, title=section, inst=None, tags=(*tags, "ica"))
        # The removed components are 0 in the cleaned recording: their properties are
        # shown on the input, prepared as the ICA saw it.
        inst = _pre_ica(input_path, record, ica) if input_path and ica.exclude else None
        if inst is not None:
            figs = ica.plot_properties(inst, picks=ica.exclude, show=False, verbose="error")
            for component, fig in zip(ica.exclude, figs, strict=True):
                title = f"ICA{component:03d} (removed): properties"
                report.add_figure(fig, title=title, tags=(*tags, "ica"), section=section,
                                  image_format="png")  # fmt: skip

    epo = out_dir / CLEAN_DIR / f"{rid}-epo.fif"
    if epo.is_file():
        epochs = mne.read_epochs(epo, preload=False, verbose="error")
        report.add_figure(epochs.plot_drop_log(show=False), title="Epochs drop log",
                          tags=tags, section=rid, image_format="png")  # fmt: skip
    report.add_html(drop_log_html(record), title="Epochs kept and rejected", tags=tags,
                    section=rid)  # fmt: skip

    topomaps = record.get("outputs", {}).get("topomaps")
    if topomaps and (out_dir / topomaps["path"]).is_file():
        fig = topomap_figure(out_dir / topomaps["path"], record["bands"],
                             recorded_band_order(record))
        report.add_figure(fig, title="Mean band topomaps", tags=tags, section=rid,
                          image_format="png")  # fmt: skip


def write_qc_report(
    out_dir: str | Path, *, raw_dir: str | Path | None = None, max_recordings: int | None = None
) -> Path:
    """Write ``OUT/qc-report.html``, a quality-control report of a preprocessed data set.

    The first section summarises the data set: recordings processed and failed, epochs
    kept and rejected and ICA components removed (with the reason) per recording, and
    each failure with its one-line error. Then, per recording: the power spectrum of
    the input (when readable) and of the cleaned recording, the ICA components (their
    properties on the input filtered and re-referenced as the ICA saw it) with the
    removed ones and why, the epochs kept and rejected by reason (and MNE's drop-log
    plot when ``clean/<id>-epo.fif`` is there), and the band topomaps averaged over
    the epochs. Spectra and component properties use the first :data:`PSD_SECONDS`.

    Parameters
    ----------
    out_dir : path-like
        An output folder of ``eegemo preprocess``.
    raw_dir : path-like, optional
        Where to look for the input recordings (by file name) when they are no longer at
        the path their provenance records.
    max_recordings : int, optional
        Detail only the first recordings (by id); the summary lists them all.

    Returns
    -------
    path : Path
        The report written (atomically).

    Raises
    ------
    EegemoError
        If ``out_dir`` holds no provenance records.
    """
    import matplotlib
    import mne

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    raw_dir = Path(raw_dir) if raw_dir is not None else None
    records = read_records(out_dir)
    failures = _read_failures(out_dir)
    if not records and not failures:
        raise EegemoError(f"{out_dir}: no preprocessed recordings (provenance/*.json) found")
    report = mne.Report(
        title=f"Quality control: {out_dir.name}", image_format="png", verbose="error"
    )
    report.add_html(summary_html(records, failures), title="Data set summary",
                    tags=("summary",))  # fmt: skip
    for record in records[:max_recordings]:
        _add_recording(report, out_dir, record, raw_dir)
    path = out_dir / REPORT_NAME
    with atomic_path(path) as tmp:
        report.save(tmp, open_browser=False, overwrite=True, verbose="error")
    return path
