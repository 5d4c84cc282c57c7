"""``eegemo demo``: the quick demo end to end, its reuse of finished work, and bad input."""

from __future__ import annotations

import json
import re

import pytest

from eegemo.cli import main
from eegemo.demo import demo_plan, run_demo
from eegemo.demo.report import FIGURES, demo_report
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
        "Evaluation on held-out subjects",
        "stages.ica.max_iter",
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

    # The held-out subject was never in training or validation.
    plan = demo_plan(quick=True)
    run_info = json.loads((out / "run" / "run.json").read_text(encoding="utf-8"))
    seen = set(run_info["splits"]["train"]["subjects"]) | set(run_info["splits"]["val"]["subjects"])
    assert metrics["subjects"] == plan.test_subjects
    assert seen.isdisjoint(plan.test_subjects)
    assert len(seen) == plan.n_subjects - plan.n_test
    assert (out / "run" / "checkpoints" / "best.pt").is_file()


@pytest.mark.slow
def test_rerun_reuses_finished_work(quick_demo):
    root, status, _ = quick_demo
    assert status == 0
    out = root / "out"
    before = (out / "preprocessed" / "train" / "manifest.csv").read_bytes()
    result = run_demo(out, quick=True, progress=False)
    prep = result.summary["preprocessing"]
    assert prep["train"]["processed"] == prep["test"]["processed"] == 0
    assert prep["train"]["skipped"] == 2 * (result.summary["study"]["n_subjects"] - 1)
    assert (out / "preprocessed" / "train" / "manifest.csv").read_bytes() == before
    assert result.summary["training"]["epochs_run"] == 2


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
    plan = {"eegemo_demo": 1, "plan": {**vars(demo_plan()), "n_subjects": 7}}
    (other / "demo.json").write_text(json.dumps(plan), encoding="utf-8")
    with pytest.raises(EegemoError, match=r"other settings .*n_subjects 7 -> 4"):
        run_demo(other, quick=True, progress=False)


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["demo", "--subjects", "2", "--out", str(tmp_path / "d")]) == 1
    assert main(["demo", "--jobs", "0", "--quick", "--out", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("eegemo demo: error:") for line in err)
    assert not (tmp_path / "d").exists()


def test_report_needs_every_figure(tmp_path):
    with pytest.raises(EegemoError, match="missing figure"):
        demo_report({}, {"ica": tmp_path / "ica.png"})
