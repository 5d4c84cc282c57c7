"""``eegemo demo``: the quick demo end to end, its reuse of finished work, and bad input."""

from __future__ import annotations

import json
import re

import pytest

from eegemo.cli import main
from eegemo.demo import demo_plan, run_demo
from eegemo.demo.report import FIGURES, demo_report
from eegemo.demo.run import MODELS
from eegemo.errors import EegemoError

METRIC_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "confusion_matrix", "classes", "n")


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    """Run ``eegemo demo --quick`` once through the command line; return (root, exit, stdout)."""
    import contextlib
    import io

    root = tmp_path_factory.mktemp("demo")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main(["demo", "--quick", "--out", str(root / "out"), "--no-progress"])
    return root, status, stdout.getvalue()


@pytest.mark.slow
def test_quick_demo_writes_report_and_metrics(quick_demo):
    root, status, stdout = quick_demo
    out = root / "out"
    assert status == 0
    # Everything is written inside --out.
    assert [p.name for p in root.iterdir()] == ["out"]

    report = out / "report.html"
    page = report.read_text(encoding="utf-8")
    assert f"report: {report.resolve()}" in stdout
    assert report.resolve().as_uri() in stdout
    # One embedded PNG per figure, each also linked to its file, which exists.
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(FIGURES)
    for href in re.findall(r'<figcaption>.*?<a href="([^"]+)"', page):
        assert (out / href).is_file(), href
    for section in (
        "What ICA removed",
        "Topomaps per condition and band",
        "Heart",
        "Evaluation on held-out subjects",
        "stages.ica.max_iter",
        "--inputs eeg+physio",
    ):
        assert section in page

    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    for key in METRIC_KEYS:
        assert key in metrics
    assert metrics["classes"] == ["rest", "task"]
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["n"] > 0
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert 0.0 <= metrics[key] <= 1.0
        assert f'<span class="value">{metrics[key]:.3f}</span>' in page

    # Every model was trained on the same subjects; the held-out subject was never in
    # training or validation.
    plan = demo_plan(quick=True)
    assert metrics["subjects"] == plan.test_subjects
    splits = []
    for name, (inputs, run, metrics_file) in MODELS.items():
        run_info = json.loads((out / run / "run.json").read_text(encoding="utf-8"))
        splits.append(run_info["splits"])
        seen = set(run_info["splits"]["train"]["subjects"]) | set(
            run_info["splits"]["val"]["subjects"]
        )
        assert seen.isdisjoint(plan.test_subjects)
        assert len(seen) == plan.n_subjects - plan.n_test
        assert (out / run / "checkpoints" / "best.pt").is_file()
        held_out = json.loads((out / metrics_file).read_text(encoding="utf-8"))
        assert held_out["subjects"] == plan.test_subjects and held_out["n"] > 0
        # The three results side by side, in the opening table.
        row = re.search(rf"<tr><td>{re.escape(name)}</td><td><code>{re.escape(inputs)}</code>"
                        r"</td>(.*?)</tr>", page)
        assert row, name
        cells = re.findall(r'<td class="num">([^<]+)</td>', row.group(1))
        assert cells == [f"{held_out[k]:.3f}" for k in ("balanced_accuracy", "macro_f1",
                                                           "accuracy")] + [str(held_out["n"])]
    assert all(s["train"]["subjects"] == splits[0]["train"]["subjects"] for s in splits)
    assert all(s["val"]["subjects"] == splits[0]["val"]["subjects"] for s in splits)


@pytest.fixture(scope="module")
def rerun(quick_demo):
    """Run the quick demo again in the same folder; return (manifest before, result)."""
    root, status, _ = quick_demo
    assert status == 0
    out = root / "out"
    before = (out / "preprocessed" / "train" / "manifest.csv").read_bytes()
    return before, run_demo(out, quick=True, progress=False)


@pytest.mark.slow
def test_rerun_reuses_finished_work(rerun):
    before, result = rerun
    out = result.out_dir
    prep = result.summary["preprocessing"]
    assert prep["train"]["processed"] == prep["test"]["processed"] == 0
    assert prep["train"]["skipped"] == 2 * (result.summary["study"]["n_subjects"] - 1)
    assert (out / "preprocessed" / "train" / "manifest.csv").read_bytes() == before
    assert [m["epochs_run"] for m in result.summary["training"]["models"].values()] == [2, 2, 2]


@pytest.mark.slow
def test_heart_rate_follows_the_simulated_condition(rerun):
    _, result = rerun
    heart = result.summary["heart"]
    assert heart["usable"] == heart["epochs"] > 0
    assert heart["features"][:2] == ["hr_epoch", "hr"]
    for condition, simulated in result.summary["study"]["heart_rates_bpm"].items():
        assert abs(heart["per_condition"][condition]["mean_bpm"] - simulated) < 8
    for subject, bpm in heart["per_subject"].items():
        assert bpm["task"] - bpm["rest"] > 8, subject
    # The strip shows beats at the simulated rates (60 to 100 beats per minute).
    for title, strip in heart["strip"].items():
        assert 60 <= strip["heart_rate_bpm"] <= 100 and strip["beats_shown"] >= 6, title


def test_demo_plan_sizes_and_validation():
    full, quick = demo_plan(), demo_plan(quick=True)
    assert (full.n_subjects, full.n_test) == (10, 2)
    assert full.test_subjects == ["sub-09", "sub-10"]
    assert quick.n_subjects < full.n_subjects and quick.epochs < full.epochs
    assert demo_plan(n_subjects=3).n_test == 1
    for bad in (2, 0, "10", True):
        with pytest.raises(EegemoError, match="at least 3 subjects"):
            demo_plan(n_subjects=bad)


def test_refuses_foreign_or_different_folder(tmp_path, capsys):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("mine", encoding="utf-8")
    assert main(["demo", "--quick", "--out", str(foreign)]) == 1
    err = capsys.readouterr().err
    assert "not empty and holds no eegemo demo" in err and "Traceback" not in err
    assert [p.name for p in foreign.iterdir()] == ["thesis.txt"]

    other = tmp_path / "other"
    other.mkdir()
    plan = {"eegemo_demo": 2, "plan": {**vars(demo_plan()), "n_subjects": 7}}
    (other / "demo.json").write_text(json.dumps(plan), encoding="utf-8")
    with pytest.raises(EegemoError, match=r"other settings .*n_subjects 7 -> 4"):
        run_demo(other, quick=True, progress=False)

    # A demo from before the recordings carried an ECG is not completed with them.
    older = tmp_path / "older"
    older.mkdir()
    plan = {"eegemo_demo": 1, "plan": vars(demo_plan(quick=True))}
    (older / "demo.json").write_text(json.dumps(plan), encoding="utf-8")
    with pytest.raises(EegemoError, match=r"earlier eegemo .*without ECG"):
        run_demo(older, quick=True, progress=False)
    assert [p.name for p in older.iterdir()] == ["demo.json"]


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["demo", "--subjects", "2", "--out", str(tmp_path / "d")]) == 1
    assert main(["demo", "--jobs", "0", "--quick", "--out", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("eegemo demo: error:") for line in err)
    assert not (tmp_path / "d").exists()


def test_report_needs_every_figure(tmp_path):
    with pytest.raises(EegemoError, match="missing figure"):
        demo_report({}, {"ica": tmp_path / "ica.png"})
