"""The demo's HTML report: one self-contained page (figures embedded) a person opens in a browser.

:func:`demo_report` lays out the demo summary (plain data, see
:func:`eegemo.demo.run_demo`) and its figures as an :class:`eegemo.htmlreport.Document`,
whose :meth:`~eegemo.htmlreport.Document.write_html` writes the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import EegemoError
from ..htmlreport import (
    Cards,
    Code,
    Document,
    Image,
    KeyValues,
    Paragraph,
    Section,
    Table,
    format_value,
)

#: Figures the report shows, in page order, with their captions.
FIGURES = {
    "ica": "What ICA removed: frontal channels around the largest blink of one recording, "
    "before (red) and after (black) the ICA stage.",
    "topomaps": "Mean band-power topomaps per condition (one colour range per band, shared by "
    "the conditions) and their difference.",
    "ecg_strip": "A few seconds of the ECG of one subject in each condition, as recorded, with "
    "the heartbeats (R-peaks) eegemo detects marked in red.",
    "heart_rates": "Heart rate per condition: every epoch (grey, over the heart-feature window "
    "centred on it) and each subject's mean (blue, joined across conditions).",
    "learning_curves": "Learning curves of the EEG model: training loss and validation metrics "
    "per epoch (the dashed line marks the epoch kept).",
    "confusion": "Confusion matrix of the EEG model on the held-out subjects (colour: fraction "
    "of the true class; numbers: epochs).",
}


def _image(key: str, figures: Mapping[str, Path]) -> Image:
    return Image(figures[key], FIGURES[key])


def _metric_cards(test: Mapping[str, Any]) -> Cards:
    return Cards([
        ("balanced accuracy", test["balanced_accuracy"]),
        ("accuracy", test["accuracy"]),
        ("macro-F1", test["macro_f1"]),
        ("held-out epochs", test["n"]),
    ])


def _comparison(summary: Mapping[str, Any]) -> Table:
    models = summary["training"]["models"]
    return Table(
        ("model", "learns from", "balanced accuracy", "macro-F1", "accuracy", "held-out epochs"),
        [(name, f"`{models[name]['inputs']}`", m["balanced_accuracy"], m["macro_f1"],
          m["accuracy"], m["n"]) for name, m in summary["comparison"].items()],
        float_format=".3f",
    )


def _study(summary: Mapping[str, Any]) -> Section:
    study, split = summary["study"], summary["split"]
    return Section("1. The simulated study", [
        Paragraph(
            "Each recording is simulated with MNE: dipole sources below the 19 electrodes of "
            "the 10-20 system projected through a three-shell spherical head model, 1/f "
            "background, condition-dependent rhythms (rest: strong occipito-parietal alpha; "
            "task: weaker alpha, frontal-midline theta and central beta), subject-specific "
            "peak frequencies and amplitudes, eye blinks on the frontal and EOG channels, and "
            "power-line noise. Each recording also has one ECG lead whose heart rate depends on "
            "the condition (section 5)."
        ),
        KeyValues([
            ("subjects", study["n_subjects"]),
            ("conditions (labels)", study["conditions"]),
            ("recording length", f"{study['duration_s']:g} s"),
            ("sampling rate", f"{study['sfreq']:g} Hz"),
            ("line noise", f"{study['line_freq']:g} Hz"),
            ("format", "EDF (one file per subject and condition)"),
            ("seed", study["seed"]),
        ]),
        Paragraph(
            "Splits are by subject: no subject contributes epochs to two sets. The held-out "
            "subjects are preprocessed into their own folder and used only for the final "
            "evaluation."
        ),
        Table(
            ("set", "subjects", "epochs", "used for"),
            [
                ("train", split["train"]["subjects"], split["train"]["epochs"], "fitting"),
                ("validation", split["val"]["subjects"], split["val"]["epochs"],
                 "choosing the epoch to keep"),
                ("held-out test", split["test"]["subjects"], split["test"]["epochs"],
                 "the metrics below, once"),
            ],
        ),
    ])


def _pipeline(summary: Mapping[str, Any]) -> Section:
    pipe, prep = summary["pipeline"], summary["preprocessing"]
    blocks = [
        Paragraph(f"The default pipeline ({pipe['source']}) applied to every recording in "
                  "parallel, then epoching, band power and topomaps."),
    ]
    if pipe["overrides"]:
        changed = ", ".join(f"`{o}`" for o in pipe["overrides"])
        blocks.append(Paragraph(f"Changed for the demo: {changed}. {pipe['overrides_why']}"))
    blocks += [
        Table(
            ("#", "stage", "parameters"),
            [(i, s["name"], {k: v for k, v in s.items() if k != "name"})
             for i, s in enumerate(pipe["stages"], start=1)],
        ),
        KeyValues([
            ("epochs", pipe["epochs"]),
            ("band power", pipe["bandpower"]),
            ("topomaps", pipe["topomap"]),
        ]),
        Paragraph(f"What each stage recorded for `{prep['example']}`:"),
        Table(
            ("stage", "what it did"),
            [(r["name"], {k: v for k, v in r.items() if k not in ("name", "excluded")})
             for r in prep["stage_records"]],
        ),
        Table(
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
    return Section("2. The preprocessing pipeline that ran", blocks)


def _ica(summary: Mapping[str, Any], figures: Mapping[str, Path]) -> Section:
    ica = summary["ica"]
    blink = ica["blink"]
    return Section("3. What ICA removed", [
        Paragraph(
            f"The pipeline's stages were re-run on `{ica['recording']}` to keep the signal just "
            f"before and just after the ICA stage. The largest blink (found on "
            f"{blink['found_on']} at {blink['time_s']:.1f} s) is shown below."
        ),
        _image("ica", figures),
        Table(
            ("channel", "blink peak-to-peak before (µV)", "after (µV)"),
            [(ch, v["before"], v["after"]) for ch, v in blink["peak_to_peak_uv"].items()],
            float_format=".1f",
        ),
        Paragraph("Components excluded in every recording (from the provenance records):"),
        Table(
            ("recording", "components fitted", "excluded", "why"),
            [
                (r["recording"], r["n_components"],
                 [e["component"] for e in r["excluded"]] or "none",
                 "; ".join(f"{e['component']}: {e['why']} (score {e['score']})"
                           for e in r["excluded"]) or "-")
                for r in ica["per_recording"]
            ],
        ),
    ])


def _heart(summary: Mapping[str, Any], figures: Mapping[str, Path]) -> Section:
    heart, simulated = summary["heart"], summary["study"]["heart_rates_bpm"]
    profile = "; ".join(f"{c}: about {bpm:g}" for c, bpm in simulated.items())
    labels = list(heart["per_condition"])
    rows = []
    for subject, means in heart["per_subject"].items():
        row = [subject, *(means.get(label, "-") for label in labels)]
        if len(labels) == 2:
            row.append(round(means[labels[1]] - means[labels[0]], 1)
                       if all(label in means for label in labels) else "-")
        rows.append(row)
    difference = [f"{labels[1]} − {labels[0]}"] if len(labels) == 2 else []
    return Section("5. Heart", [
        Paragraph(
            f"The ECG is simulated with NeuroKit2 (the ECGSYN model) on the EEG's clock, at a "
            f"heart rate set by the condition ({profile} beats per minute) and shifted by up to "
            f"8 beats per minute for each subject. `eegemo preprocess` finds the heartbeats in "
            f"the `{heart['channel']}` channel (NeuroKit2) and describes every epoch by its heart "
            f"rate and heart-rate variability over a {heart['window_s']:g}-s window centred on "
            "it; the `physio_path` column of manifest.csv names these heart features."
        ),
        KeyValues([
            ("heart features per epoch", heart["features"]),
            ("epochs with a usable heart signal",
             f"{heart['usable']} of {heart['epochs']} (train, validation and held-out)"),
        ]),
        _image("ecg_strip", figures),
        Paragraph("Heart rate per condition in beats per minute: as simulated, and as measured "
                  "(the mean of the subjects' mean heart rates, and their standard deviation)."),
        Table(
            ("condition", "simulated", "measured", "SD across subjects", "subjects",
             "usable epochs", "unusable epochs"),
            [(label, simulated.get(label, "-"), c["mean_bpm"], c["sd_bpm"], c["subjects"],
              c["epochs"], c["unusable"]) for label, c in heart["per_condition"].items()],
            float_format=".1f",
        ),
        _image("heart_rates", figures),
        Table(("subject", *(f"{label} (bpm)" for label in labels), *difference), rows,
              float_format=".1f"),
    ])


def _training(summary: Mapping[str, Any], figures: Mapping[str, Path]) -> Section:
    train = summary["training"]
    val = train.get("val", {})
    monitor = train["monitor"].replace("_", " ")
    facts = [
        ("model", f"{train['model']} ({train['params']:,} parameters)"),
        ("input", train["input"]),
        ("epochs run", train["epochs_run"]),
        (f"epoch kept (best validation {monitor})", train["best_epoch"]),
        ("optimiser / schedule", train["optimizer"]),
        ("normalisation", train["normalization"]),
        ("training time", f"{train['time_s']:.0f} s on {train['device']}"),
    ]
    if val:
        facts.append(("validation balanced accuracy / accuracy / macro-F1",
                      f"{val['balanced_accuracy']:.3f} / {val['accuracy']:.3f} / "
                      f"{val['macro_f1']:.3f} (n = {val['n']})"))
    models = train["models"]
    return Section("6. Training (subject-wise validation)", [
        Paragraph(
            "Three models learn from the same training subjects and are validated on the same "
            "held-out training subjects: the EEG model from the topomaps, the heart model from "
            "the heart features (each standardised within its subject; a missing value is set "
            "to the subject's mean and flagged), and the fused model from both at once, one "
            "branch per input joined before its output layer. The heart and fused models are "
            "those `eegemo train --inputs` picks."
        ),
        Table(
            ("model", "learns from", "network", "parameters", "epochs", "epoch kept",
             "val. balanced accuracy", "time (s)"),
            [(name, f"`{m['inputs']}`", m["model"], m["params"], m["epochs_run"],
              m["best_epoch"], m["val"].get("balanced_accuracy", "-"), round(m["time_s"]))
             for name, m in models.items()],
            float_format=".3f",
        ),
        Paragraph("The EEG model in detail:"),
        KeyValues(facts),
        _image("learning_curves", figures),
    ])


def _evaluation(summary: Mapping[str, Any], figures: Mapping[str, Path]) -> Section:
    test = summary["test"]
    return Section("7. Evaluation on held-out subjects", [
        Paragraph(f"Subjects {', '.join(test['subjects'])}: never seen in training or "
                  f"validation. Chance level is {1 / len(test['classes']):.2f}. The heart and "
                  "fused models score the epochs with heart features."),
        _comparison(summary),
        Paragraph("In every simulated subject the heart rate differs between the conditions by "
                  "about 15 beats per minute, and the heart features are standardised within "
                  "each subject, so the conditions are easy to tell apart from the heart alone; "
                  "in real recordings the heart reacts far less reliably."),
        Paragraph("The EEG model in detail:"),
        _metric_cards(test),
        Table(
            ("class", "precision", "recall", "F1", "support"),
            [(c, p["precision"], p["recall"], p["f1"], p["support"])
             for c, p in test["per_class"].items()],
            float_format=".4f",
        ),
        _image("confusion", figures),
    ])


def demo_report(summary: Mapping[str, Any], figures: Mapping[str, str | Path]) -> Document:
    """Lay out the demo report.

    Parameters
    ----------
    summary : mapping
        What the demo did and measured: ``created``, ``study``, ``split``, ``pipeline``,
        ``preprocessing``, ``ica``, ``topomaps``, ``heart``, ``training``, ``test``,
        ``comparison``, ``commands``, ``files``, ``timings_s`` and ``versions`` (as
        assembled by :func:`eegemo.demo.run_demo`).
    figures : mapping of str to path
        PNG files for every key of :data:`FIGURES`.

    Returns
    -------
    document : eegemo.htmlreport.Document
        The report; write it with its ``write_html`` method.

    Raises
    ------
    EegemoError
        If a figure is missing.
    """
    missing = [key for key in FIGURES if key not in figures]
    if missing:
        raise EegemoError(f"demo report: missing figure(s) {', '.join(missing)}")
    figures = {k: Path(v) for k, v in figures.items()}
    test, timings = summary["test"], summary["timings_s"]
    intro = [
        Paragraph(
            "A simulated two-condition study, EEG with an ECG, went through the whole eegemo "
            "journey: simulate, preprocess (with ICA and heart features), turn band power into "
            "topomaps, train three models with subject-wise validation (the ResNet baseline on "
            "the EEG, a small network on the heart features, and one network on both), and "
            "evaluate each on subjects it never saw."
        ),
        Paragraph(f"Held-out subjects ({', '.join(test['subjects'])}):"),
        _comparison(summary),
    ]
    sections = [
        _study(summary),
        _pipeline(summary),
        _ica(summary, figures),
        Section("4. Topomaps per condition and band", [
            Paragraph("Mean over the epochs of all train and validation subjects "
                      f"({format_value(summary['topomaps']['epochs'])} epochs)."),
            _image("topomaps", figures),
        ]),
        _heart(summary, figures),
        _training(summary, figures),
        _evaluation(summary, figures),
        Section("8. The same with the command line", [
            Paragraph("The demo calls the functions behind these commands:"),
            Code("\n".join(summary["commands"])),
        ]),
        Section("9. Files", [
            Table(("what", "where"), [(k, f"`{v}`") for k, v in summary["files"].items()]),
        ]),
        Section("10. Time and versions", [
            Table(("step", "seconds"), list(timings.items()), float_format=".1f"),
            Table(("package", "version"), list(summary["versions"].items())),
        ]),
    ]
    subtitle = (f"{summary['created']} · eegemo {summary['versions']['eegemo']} · "
                f"total {timings['total']:.0f} s")
    return Document("eegemo demo", subtitle=subtitle, blocks=intro, sections=sections)
