"""The whole eegemo journey on simulated data, ending in an HTML report: ``eegemo demo``.

:func:`run_demo` simulates a two-condition study (EEG and ECG), preprocesses it with
the default pipeline (ICA and heart features included), trains three models with the
same subject-wise validation (the ResNet baseline on EEG topomaps, an MLP on the heart
features, and one network on both), evaluates each on held-out subjects and writes
``OUT/report.html``. It calls the same functions as ``eegemo preprocess``, ``eegemo
train`` and ``eegemo evaluate``. Layout::

    OUT/demo.json                    the demo's settings (a re-run must match them)
    OUT/raw/train/, raw/heldout/     simulated EDF recordings
    OUT/preprocessed/train/, .../heldout/   eegemo preprocess outputs
    OUT/run/, run-physio/, run-fused/       eegemo train run folders (EEG, heart, both)
    OUT/figures/                     the report's figures
    OUT/metrics.json                 held-out metrics of the EEG model (eegemo evaluate --json)
    OUT/metrics-physio.json, metrics-fused.json   the same for the other two
    OUT/report.html                  the report, figures embedded

Nothing is written outside OUT. A re-run with the same settings reuses the complete
recordings, preprocessing outputs and training run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..atomic import write_json
from ..environment import available_cores, versions
from ..errors import EegemoError

if TYPE_CHECKING:
    import mne

    from ..eeg.settings import PreprocessConfig

#: The simulated conditions, which become the class labels.
CONDITIONS = ("rest", "task")
SUBJECT_PATTERN = r"(?P<subject>sub-\d+)"
LABEL_PATTERN = r"_(?P<label>[a-z]+)\.edf$"
#: Changes to the default pipeline, shown in the report with the reason below.
PIPELINE_OVERRIDES = ("stages.ica.max_iter=200",)
PIPELINE_OVERRIDES_WHY = (
    "The simulated brain sources are Gaussian noise shaped into rhythms, which ICA cannot "
    "unmix, so FastICA runs to its iteration limit on every recording; the blink component "
    "is found well before it. A lower limit keeps the demo within minutes."
)
#: Fraction of the subjects held out for the final evaluation (at least one).
TEST_FRACTION = 0.2
MODEL = "topo_resnet"
#: Channels of the ResNet's first stage: the ResNet-18 layout at a quarter of its default
#: width (64), with 1/16 of the multiply-adds, so that training fits in the demo's few
#: minutes on two CPU cores.
MODEL_WIDTH = 16
#: The models compared on the held-out subjects: name -> what it learns from
#: (``eegemo train --inputs``), its run folder and the file of its held-out metrics. The
#: heart and fused models are those eegemo picks for their inputs (``feature_mlp``,
#: ``fusion_net``).
MODELS = {
    "EEG": ("eeg", "run", "metrics.json"),
    "heart": ("physio", "run-physio", "metrics-physio.json"),
    "EEG + heart": ("eeg+physio", "run-fused", "metrics-fused.json"),
}
#: Written to ``demo.json``; a folder made by a demo of another version is not reused
#: (version 2: the recordings carry an ECG).
DEMO_VERSION = 2


@dataclasses.dataclass(frozen=True)
class DemoPlan:
    """Size of the simulated study and of the training run.

    Attributes
    ----------
    n_subjects : int
        Simulated subjects; the last ``n_test`` are held out for evaluation.
    n_test : int
        Held-out subjects, never seen in training or validation.
    val_fraction : float
        Fraction of the remaining subjects held out for model selection.
    duration_s : float
        Length of each recording (one per subject and condition).
    sfreq : float
        Sampling rate of the simulated recordings.
    epochs : int
        Training epochs.
    seed : int
        Seed of the simulation, the split and the training.
    """

    n_subjects: int = 10
    n_test: int = 2
    val_fraction: float = 0.25
    duration_s: float = 60.0
    sfreq: float = 250.0
    epochs: int = 8
    seed: int = 0

    @property
    def test_subjects(self) -> list[str]:
        """Names of the held-out subjects (the last ones)."""
        first = self.n_subjects - self.n_test + 1
        return [f"sub-{k:02d}" for k in range(first, self.n_subjects + 1)]

    def train_overrides(self, inputs: str = "eeg") -> list[str]:
        """``--set`` overrides of the training configuration (on top of its defaults).

        Parameters
        ----------
        inputs : str
            What the model learns from, as ``eegemo train --inputs`` takes it; the EEG
            model is the narrow ResNet, the others the models eegemo picks for them.
        """
        model = [f"model={MODEL}", f"model_kwargs={{ width = {MODEL_WIDTH} }}"]
        return [
            *(model if inputs == "eeg" else []),
            f"epochs={self.epochs}",
            f"data.val_fraction={self.val_fraction}",
            f"seed={self.seed}",
            # One thread: for these small networks, two threads on two cores shared with
            # other work were 3x slower than one when we measured it.
            "threads=1",
        ]


def demo_plan(quick: bool = False, n_subjects: int | None = None) -> DemoPlan:
    """The demo's settings: the full demo (a few minutes) or ``quick`` (well under a minute).

    Parameters
    ----------
    quick : bool
        4 subjects x 20 s and 2 training epochs, for tests and a first look.
    n_subjects : int | None
        Number of simulated subjects (at least 3: train, validation, test); default 10,
        or 4 with ``quick``.

    Returns
    -------
    plan : DemoPlan

    Raises
    ------
    EegemoError
        If ``n_subjects`` is not an integer of at least 3.
    """
    base = DemoPlan(n_subjects=4, duration_s=20.0, epochs=2) if quick else DemoPlan()
    n = base.n_subjects if n_subjects is None else n_subjects
    if isinstance(n, bool) or not isinstance(n, int) or n < 3:
        raise EegemoError(
            f"--subjects: need at least 3 subjects (train, validation, held-out test), got {n!r}"
        )
    return dataclasses.replace(base, n_subjects=n, n_test=max(1, round(TEST_FRACTION * n)))


@dataclasses.dataclass
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes
    ----------
    out_dir : Path
        The demo folder.
    report : Path
        ``out_dir/report.html``.
    metrics : dict
        Held-out metrics (as ``eegemo evaluate --json`` prints them).
    summary : dict
        Everything the report shows, as plain data.
    """

    out_dir: Path
    report: Path
    metrics: dict
    summary: dict


# ------------------------------------------------------------------ the folder


def _claim_folder(out: Path, plan: DemoPlan) -> None:
    """Make ``out`` a demo folder for ``plan``; refuse a foreign or differently-made one."""
    marker = out / "demo.json"
    wanted = {"eegemo_demo": DEMO_VERSION, "plan": dataclasses.asdict(plan)}
    if out.exists() and not out.is_dir():
        raise EegemoError(f"{out}: exists and is not a folder")
    if marker.is_file():
        try:
            found = json.loads(marker.read_text(encoding="utf-8"))
        except ValueError:
            found = None
        if isinstance(found, dict) and found.get("eegemo_demo") != DEMO_VERSION:
            raise EegemoError(
                f"{out}: holds a demo made by an earlier eegemo (recordings without ECG); "
                "choose another --out or delete that folder"
            )
        if not isinstance(found, dict) or found.get("plan") != wanted["plan"]:
            old = found.get("plan", {}) if isinstance(found, dict) else {}
            diff = ", ".join(
                f"{k} {old.get(k)!r} -> {v!r}" for k, v in wanted["plan"].items()
                if old.get(k) != v
            )
            raise EegemoError(
                f"{out}: holds a demo made with other settings ({diff or 'unreadable demo.json'})"
                "; choose another --out or delete that folder"
            )
        return
    if out.is_dir() and any(out.iterdir()):
        raise EegemoError(
            f"{out}: folder is not empty and holds no eegemo demo; choose another --out"
        )
    write_json(marker, wanted)


@contextlib.contextmanager
def _step(name: str, message: str, timings: dict[str, float], progress: bool) -> Iterator[None]:
    if progress:
        print(f"==> {message}", flush=True)
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 2)
    if progress:
        print(f"    done in {timings[name]:.1f} s", flush=True)


# ------------------------------------------------------------------ the steps


def simulate_demo_study(raw_dir: str | Path, plan: DemoPlan) -> tuple[Path, Path, bool]:
    """Simulate the study into ``raw_dir/train`` and ``raw_dir/heldout`` (unless complete).

    Parameters
    ----------
    raw_dir : path-like
        Folder for the recordings.
    plan : DemoPlan
        Subjects, length, sampling rate and seed.

    Returns
    -------
    train_dir, heldout_dir : Path
        One EDF file per subject and condition; the held-out subjects' files are in
        ``heldout_dir`` only.
    simulated : bool
        False when every file was already there.
    """
    from ..eeg.simulate import simulate_study

    raw_dir = Path(raw_dir)
    train_dir, heldout_dir = raw_dir / "train", raw_dir / "heldout"
    held = set(plan.test_subjects)
    expected = [
        (heldout_dir if f"sub-{k:02d}" in held else train_dir) / f"sub-{k:02d}_{c}.edf"
        for k in range(1, plan.n_subjects + 1)
        for c in CONDITIONS
    ]
    if all(p.is_file() for p in expected):
        return train_dir, heldout_dir, False
    paths = simulate_study(train_dir, plan.n_subjects, CONDITIONS, plan.duration_s, plan.sfreq,
                           fmt="edf", seed=plan.seed)
    heldout_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        if path.name.split("_")[0] in held:
            os.replace(path, heldout_dir / path.name)
    return train_dir, heldout_dir, True


def demo_preprocess_config() -> PreprocessConfig:
    """The default pipeline with the demo's file-name patterns and :data:`PIPELINE_OVERRIDES`."""
    from ..config import load_config
    from ..eeg.settings import PreprocessConfig

    return load_config(
        PreprocessConfig,
        None,
        PIPELINE_OVERRIDES,
        {"discovery.subject_pattern": SUBJECT_PATTERN, "discovery.label_pattern": LABEL_PATTERN},
    )


def rerun_until_ica(
    path: str | Path, config: PreprocessConfig
) -> tuple[mne.io.BaseRaw, mne.io.BaseRaw, dict[str, Any]]:
    """Run the configured stages on one recording, keeping the signal around the ICA stage.

    The stages are those of ``config`` in order, each as the pipeline runs it (single
    threaded, so the ICA decomposition is the one the batch computed).

    Parameters
    ----------
    path : path-like
        The recording.
    config : PreprocessConfig
        The preprocessing configuration; it must contain an ``ica`` stage.

    Returns
    -------
    before, after : mne.io.BaseRaw
        The recording just before and just after the ICA stage.
    record : dict
        What the ICA stage recorded (components fitted, ``excluded`` with reasons).
    """
    from threadpoolctl import threadpool_limits

    from ..eeg.channels import prepare_channels
    from ..eeg.io import read_raw
    from ..eeg.pipeline import apply_stages

    raw, _ = prepare_channels(read_raw(path), config.channels)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        # The batch hides this too: FastICA cannot converge on Gaussian simulated sources.
        warnings.filterwarnings("ignore", message="FastICA did not converge")
        before = raw.copy()
        for name, after, context in apply_stages(raw, config):
            if name == "ica":
                return before, after, context.record
            before = after.copy()
    raise EegemoError("the pipeline has no ica stage to show")


def _read_provenance(prep_dir: Path) -> list[dict]:
    return [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((prep_dir / "provenance").glob("*.json"))
    ]


def _batch_summary(result: Any, provenance: Sequence[dict]) -> dict[str, int]:
    return {
        "processed": len(result.processed),
        "skipped": len(result.skipped),
        "failed": len(result.failures),
        "epochs": result.n_epochs,
        "rejected": sum(p["epochs"]["rejected"] for p in provenance),
    }


def _ica_rows(provenance: Sequence[dict]) -> list[dict]:
    rows = []
    for prov in provenance:
        ica = next((s for s in prov["stages"] if s["name"] == "ica"), {})
        rows.append({
            "recording": prov["recording"]["id"],
            "n_components": ica.get("n_components"),
            "excluded": prov.get("ica_excluded", []),
        })
    return rows


def _flat(table: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in table.items():
        if isinstance(value, dict) and key != "bands":
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _inputs_override(inputs: str) -> list[str]:
    """The ``data.inputs`` setting ``eegemo train --inputs`` makes (none for EEG alone)."""
    if inputs == "eeg":
        return []
    return ["data.inputs=[" + ", ".join(f'"{name}"' for name in inputs.split("+")) + "]"]


def _heart_rate_tables(rates: dict[str, Any]) -> dict[str, Any]:
    """Mean heart rate per subject and condition, and per condition over the subjects."""
    import numpy as np

    from ..train.data import natural_sort

    labels = natural_sort(set(rates["label"]))
    per_subject = {}
    for subject in natural_sort(set(rates["subject"])):
        mine = rates["subject"] == subject
        per_subject[subject] = {
            label: round(float(rates["bpm"][mine & (rates["label"] == label)].mean()), 1)
            for label in labels if (mine & (rates["label"] == label)).any()
        }
    per_condition = {}
    for label in labels:
        means = [row[label] for row in per_subject.values() if label in row]
        per_condition[label] = {
            "subjects": len(means),
            "epochs": int(np.sum(rates["label"] == label)),
            "unusable": rates["unusable"].get(label, 0),
            "mean_bpm": round(float(np.mean(means)), 1),
            "sd_bpm": round(float(np.std(means, ddof=1)), 1) if len(means) > 1 else None,
        }
    return {"per_subject": per_subject, "per_condition": per_condition}


def _commands(out: Path, plan: DemoPlan, jobs: int) -> list[str]:
    import shlex

    def q(path: Path) -> str:
        return shlex.quote(path.as_posix())

    sets = " ".join(f"--set {shlex.quote(o)}" for o in PIPELINE_OVERRIDES)
    patterns = (f"--subject-pattern {shlex.quote(SUBJECT_PATTERN)} "
                f"--label-pattern {shlex.quote(LABEL_PATTERN)}")
    train, heldout = q(out / "preprocessed" / "train"), q(out / "preprocessed" / "heldout")
    commands = [
        f"eegemo preprocess {q(out / 'raw' / part)} {q(out / 'preprocessed' / part)} "
        f"{patterns} {sets} --jobs {jobs}"
        for part in ("train", "heldout")
    ]
    for inputs, run, _ in MODELS.values():
        train_sets = " ".join(f"--set {shlex.quote(o)}" for o in plan.train_overrides(inputs))
        choice = "" if inputs == "eeg" else f"--inputs {inputs} "
        commands.append(f"eegemo train --data {train} --out {q(out / run)} {choice}{train_sets}")
    commands += [f"eegemo evaluate {q(out / run)} {heldout} --json"
                 for _, run, _ in MODELS.values()]
    return commands


def run_demo(
    out: str | Path = "eegemo-demo",
    *,
    n_subjects: int | None = None,
    jobs: int | None = None,
    quick: bool = False,
    progress: bool = True,
) -> DemoResult:
    """Simulate, preprocess, train and evaluate three models, and write ``out/report.html``.

    Parameters
    ----------
    out : path-like
        Demo folder (created; everything is written inside it). An existing folder
        must be empty or hold a demo made with the same settings, which is then
        completed, reusing what is done.
    n_subjects : int | None
        Simulated subjects (at least 3); see :func:`demo_plan`.
    jobs : int | None
        Recordings preprocessed in parallel; default: the available CPU cores.
    quick : bool
        A small, fast version (see :func:`demo_plan`).
    progress : bool
        Step messages and progress bars.

    Returns
    -------
    result : DemoResult
        The report's path, the held-out metrics of the EEG model and the full summary
        (``comparison``: the held-out metrics of every model of :data:`MODELS`).

    Raises
    ------
    EegemoError
        For bad arguments, a folder that is not a demo folder, or a failed step.
    """
    from ..config import to_dict
    from ..eeg.batch import preprocess
    from ..eeg.io import read_raw
    from ..eeg.pipeline import rasterizer_for
    from ..eeg.simulate import CONDITION_HEART_RATES, ECG_CHANNEL
    from ..train.checkpoint import load_model
    from ..train.experiment import evaluate_checkpoint, train_run
    from ..train.fusion import resolve_config
    from ..train.modality import section
    from ..train.report import plot_confusion
    from ..train.settings import load_train_config
    from .figures import (
        condition_means,
        epoch_heart_rates,
        plot_condition_topomaps,
        plot_ecg_strips,
        plot_heart_rates,
        plot_ica_blink,
    )
    from .report import demo_report

    plan = demo_plan(quick, n_subjects)
    jobs = available_cores() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise EegemoError(f"--jobs: expected a positive integer, got {jobs!r}")
    out = Path(out)
    _claim_folder(out, plan)
    figures_dir = out / "figures"
    timings: dict[str, float] = {}
    started = time.perf_counter()
    n_rec = plan.n_subjects * len(CONDITIONS)

    with _step("simulate", f"Simulating {plan.n_subjects} subjects x {len(CONDITIONS)} "
               f"conditions x {plan.duration_s:g} s at {plan.sfreq:g} Hz ({n_rec} EDF files)",
               timings, progress):
        raw_train, raw_heldout, simulated = simulate_demo_study(out / "raw", plan)
        if progress and not simulated:
            print("    all recordings already there", flush=True)

    from ..eeg.simulate import SIMULATED_LINE_FREQ

    config = demo_preprocess_config()
    prep_train, prep_heldout = out / "preprocessed" / "train", out / "preprocessed" / "heldout"
    batches = {}
    with _step("preprocess", f"Preprocessing with the default pipeline (ICA included), "
               f"{jobs} worker(s)", timings, progress):
        for part, raw_dir, prep_dir in (("train", raw_train, prep_train),
                                        ("heldout", raw_heldout, prep_heldout)):
            result = preprocess(raw_dir, prep_dir, config, jobs=jobs, progress=progress)
            if result.failures:
                first = result.failures[0]
                raise EegemoError(
                    f"preprocessing failed for {len(result.failures)} simulated recording(s), "
                    f"first {first.recording}: [{first.stage}] {first.error}"
                )
            if progress and result.skipped:
                print(f"    {part}: reused {len(result.skipped)} complete recording(s)",
                      flush=True)
            batches[part] = result
    prov_train, prov_heldout = _read_provenance(prep_train), _read_provenance(prep_heldout)

    example = min(raw_train.glob("sub-*_rest.edf"))
    with _step("ica_figure", f"Re-running the stages on {example.name} to show what ICA removed",
               timings, progress):
        before, after, ica_record = rerun_until_ica(example, config)
        blink = plot_ica_blink(before, after, figures_dir / "ica_blink.png",
                               ica_record["excluded"], title=example.stem)

    bands = list(config.bandpower.bands)
    with _step("topomap_figure", "Averaging topomaps per condition and band", timings,
               progress):
        labels, means, counts = condition_means(prep_train)
        geometry = rasterizer_for(after.copy().pick("eeg").info, config.topomap)
        plot_condition_topomaps(labels, means, bands, figures_dir / "topomaps.png", geometry)

    subject = example.name.split("_")[0]
    with _step("heart_figures", f"Finding the heartbeats of {subject}'s ECG and the heart rate "
               "per condition", timings, progress):
        strips = []
        for condition in CONDITIONS:
            recording = raw_train / f"{subject}_{condition}.edf"
            raw = read_raw(recording)
            strips.append((recording.stem, raw.get_data(picks=[ECG_CHANNEL])[0],
                           raw.info["sfreq"]))
        strip = plot_ecg_strips(strips, figures_dir / "ecg_strip.png")
        rates = epoch_heart_rates([prep_train, prep_heldout])
        plot_heart_rates(rates, figures_dir / "heart_rates.png")
    physio = [p["physio"] for p in prov_train + prov_heldout if p.get("physio")]

    trained, metrics, facts, configs = {}, {}, {}, {}
    for name, (inputs, run, metrics_file) in MODELS.items():
        run_dir = out / run
        configs[name] = resolve_config(prep_train, load_train_config(
            None, [*plan.train_overrides(inputs), *_inputs_override(inputs)]))
        with _step(f"train_{inputs}", f"Training the {name} model ({configs[name].model}) for "
                   f"{configs[name].epochs} epoch(s), validation on held-out training subjects",
                   timings, progress):
            trained[name] = train_run(prep_train, run_dir, configs[name],
                                      resume=(run_dir / "config.toml").is_file(),
                                      progress=progress)
        with _step(f"evaluate_{inputs}", f"Evaluating the {name} model on the held-out "
                   f"subjects {', '.join(plan.test_subjects)}", timings, progress):
            metrics[name] = evaluate_checkpoint(run_dir, prep_heldout)
            metrics[name]["subjects"] = plan.test_subjects
            write_json(out / metrics_file, metrics[name])
        model, meta = load_model(run_dir)
        facts[name] = {
            "inputs": inputs,
            "model": meta["model"]["name"],
            "kwargs": meta["model"]["kwargs"],
            "input_shape": meta["model"]["input_shape"],
            "params": sum(p.numel() for p in model.parameters()),
            "epochs_run": trained[name]["epochs_run"],
            "best_epoch": trained[name]["best_epoch"],
            "time_s": timings[f"train_{inputs}"],
            "val": trained[name]["metrics"].get("val", {}),
        }
    eeg_name = "EEG"
    splits = {name: (t["splits"]["train"]["subjects"], t["splits"].get("val", {}).get("subjects"))
              for name, t in trained.items()}
    if any(split != splits[eeg_name] for split in splits.values()):
        raise EegemoError(f"the models were trained on different subjects: {splits}")
    eeg, eeg_metrics, eeg_run = trained[eeg_name], metrics[eeg_name], out / MODELS[eeg_name][1]
    train_config = configs[eeg_name]
    plot_confusion(eeg_metrics["confusion_matrix"], eeg_metrics["classes"],
                   figures_dir / "confusion_heldout.png",
                   title=f"EEG model, held-out subjects (n = {eeg_metrics['n']} epochs)")

    run_report = json.loads((eeg_run / "report" / "metrics.json").read_text(encoding="utf-8"))
    timings["total"] = round(time.perf_counter() - started, 2)
    summary = {
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "study": {
            "n_subjects": plan.n_subjects,
            "conditions": list(CONDITIONS),
            "duration_s": plan.duration_s,
            "sfreq": plan.sfreq,
            "line_freq": SIMULATED_LINE_FREQ,
            "heart_rates_bpm": {c: CONDITION_HEART_RATES[c] for c in CONDITIONS},
            "seed": plan.seed,
        },
        "split": {
            "train": eeg["splits"]["train"],
            "val": eeg["splits"].get("val", {"subjects": [], "epochs": 0}),
            "test": {"subjects": plan.test_subjects, "epochs": eeg_metrics["n"]},
        },
        "pipeline": {
            "source": "built-in defaults, the same as pipelines/default.toml",
            "overrides": list(PIPELINE_OVERRIDES),
            "overrides_why": PIPELINE_OVERRIDES_WHY,
            "stages": to_dict(config)["stages"],
            "epochs": _flat(to_dict(config.epochs)),
            "bandpower": _flat(to_dict(config.bandpower)),
            "topomap": _flat(to_dict(config.topomap)),
        },
        "preprocessing": {
            "example": example.stem,
            "stage_records": next(p["stages"] for p in prov_train
                                  if p["recording"]["id"] == example.stem),
            "train": _batch_summary(batches["train"], prov_train),
            "test": _batch_summary(batches["heldout"], prov_heldout),
        },
        "ica": {
            "recording": example.stem,
            "record": ica_record,
            "blink": blink,
            "per_recording": _ica_rows(prov_train + prov_heldout),
        },
        "topomaps": {"epochs": counts, "bands": bands},
        "heart": {
            "channel": ECG_CHANNEL,
            "window_s": config.physio.window_s,
            "features": physio[0]["features"],
            "epochs": sum(p["epochs"] for p in physio),
            "usable": sum(p["usable"] for p in physio),
            "strip": strip,
            **_heart_rate_tables(rates),
        },
        "training": {
            "model": f"{MODEL}, ResNet-18 layout with model_kwargs {facts[eeg_name]['kwargs']} "
                     "(default width 64: narrower, for a demo on a CPU)",
            "params": facts[eeg_name]["params"],
            "input": "{} bands x {} x {} pixels".format(*facts[eeg_name]["input_shape"]),
            "epochs_run": eeg["epochs_run"],
            "best_epoch": eeg["best_epoch"],
            "monitor": train_config.early_stopping.monitor,
            "optimizer": f"{train_config.optimizer.name} (lr {train_config.optimizer.lr:g}), "
                         f"{train_config.schedule.name}, batch {train_config.batch_size}",
            "normalization": section(train_config, "eeg").normalization,
            "device": run_report.get("device", "cpu"),
            "time_s": facts[eeg_name]["time_s"],
            "val": eeg["metrics"].get("val", {}),
            "models": facts,
        },
        "test": eeg_metrics,
        "comparison": {
            name: {k: m[k] for k in ("balanced_accuracy", "macro_f1", "accuracy", "n")}
            for name, m in metrics.items()
        },
        "commands": _commands(out, plan, jobs),
        "files": {
            "this report": "report.html",
            "held-out metrics (JSON): EEG, heart, both": ", ".join(
                f for _, _, f in MODELS.values()),
            "simulated recordings (EEG, EOG, ECG)": "raw/train/, raw/heldout/",
            "preprocessed (manifest, topomaps, heart features, provenance)":
                "preprocessed/train/, preprocessed/heldout/",
            "training runs (config, metrics.jsonl, checkpoints, report): EEG, heart, both":
                ", ".join(f"{run}/" for _, run, _ in MODELS.values()),
            "figures": "figures/",
        },
        "timings_s": timings,
        "versions": versions(),
    }
    figures = {
        "ica": figures_dir / "ica_blink.png",
        "topomaps": figures_dir / "topomaps.png",
        "ecg_strip": figures_dir / "ecg_strip.png",
        "heart_rates": figures_dir / "heart_rates.png",
        "learning_curves": eeg_run / "report" / "learning_curves.png",
        "confusion": figures_dir / "confusion_heldout.png",
    }
    report = demo_report(summary, figures).write_html(out / "report.html")
    return DemoResult(out_dir=out, report=report, metrics=eeg_metrics, summary=summary)


def print_result(result: DemoResult, stream: Any = None) -> None:
    """Print each model's held-out metrics and where the report is (path and ``file://`` URL)."""
    stream = stream if stream is not None else sys.stdout
    path = result.report.resolve()
    width = max(map(len, result.summary["comparison"]))
    lines = "\n".join(
        f"  {name:<{width}}  balanced accuracy {m['balanced_accuracy']:.3f}  "
        f"accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  (n = {m['n']} epochs)"
        for name, m in result.summary["comparison"].items()
    )
    print(
        f"\nheld-out subjects {', '.join(result.metrics['subjects'])}:\n{lines}\n"
        f"total {result.summary['timings_s']['total']:.0f} s (eegemo {__version__})\n"
        f"report: {path}\n"
        f"open:   {path.as_uri()}",
        file=stream,
        flush=True,
    )
