"""The quality-control report: ``eegemo preprocess --qc-report`` and ``write_qc_report``."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from eegemo.cli import main
from eegemo.eeg.qc import REPORT_NAME, write_qc_report
from eegemo.eeg.simulate import simulate_study

PATTERNS = [
    "--subject-pattern", r"(?P<subject>sub-\d+)",
    "--label-pattern", r"_(?P<label>rest|task)",
]  # fmt: skip


@pytest.fixture(scope="module")
def qc_run(tmp_path_factory) -> tuple[Path, int]:
    """Two simulated recordings and a truncated file, preprocessed with ``--qc-report``."""
    root = tmp_path_factory.mktemp("qc")
    raw = root / "raw"
    simulate_study(raw, n_subjects=1, duration=16.0, sfreq=250.0, seed=3)
    good = raw / "sub-01_rest.edf"
    (raw / "sub-02_rest.edf").write_bytes(good.read_bytes()[:3000])  # truncated
    out = root / "out"
    argv = ["preprocess", str(raw), str(out), *PATTERNS, "--qc-report", "--no-progress",
            "--set", "stages.ica.max_iter=100"]  # fmt: skip
    return out, main(argv)


def provenance(out: Path, recording: str) -> dict:
    return json.loads((out / "provenance" / f"{recording}.json").read_text())


def test_report_is_written_at_the_end_of_the_batch(qc_run):
    out, status = qc_run
    assert status == 1  # the truncated file failed, the others were processed
    text = (out / REPORT_NAME).read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html")
    assert not list(out.glob(f".{REPORT_NAME}.*"))  # no temporary left


def test_summary_counts_recordings_epochs_and_components(qc_run):
    out, _ = qc_run
    text = (out / REPORT_NAME).read_text(encoding="utf-8")
    records = [provenance(out, rid) for rid in ("sub-01_rest", "sub-01_task")]
    kept = sum(r["epochs"]["kept"] for r in records)
    rejected = sum(r["epochs"]["rejected"] for r in records)
    removed = sum(len(r["ica_excluded"]) for r in records)
    totals = f"<td>2</td><td>1</td><td>{kept}</td><td>{rejected}</td><td>{removed}</td>"
    assert totals in text
    for r in records:
        row = (f"<td>{r['recording']['id']}</td><td>sub-01</td><td>{r['recording']['label']}</td>"
               f"<td>{r['epochs']['kept']}</td><td>{r['epochs']['rejected']}</td>"
               f"<td>{len(r['ica_excluded'])}</td>")  # fmt: skip
        assert row in text


def test_one_section_per_recording_with_ica_exclusions(qc_run):
    out, _ = qc_run
    text = (out / REPORT_NAME).read_text(encoding="utf-8")
    excluded = 0
    for rid in ("sub-01_rest", "sub-01_task"):
        assert f"{rid}: ICA components" in text
        assert re.search(rf'data-mne-tags="[^"]*\b{rid}\b', text)
        for c in provenance(out, rid)["ica_excluded"]:
            assert f"<td>ICA{c['component']:03d}</td>" in text
            assert html.escape(c["why"]) in text
            # shown on the signal the ICA was fitted on, recomputed from the provenance
            assert f"ICA{c['component']:03d} (removed): properties" in text
            excluded += 1
    assert excluded  # the simulated blinks are removed
    assert "Mean band topomaps" in text and "Power spectrum" in text


def test_failures_are_listed_with_their_reason(qc_run):
    out, _ = qc_run
    text = (out / REPORT_NAME).read_text(encoding="utf-8")
    assert re.search(r"<td>[^<]*sub-02_rest\.edf</td><td>read</td><td>[^<]*truncated", text)


def test_max_recordings_details_fewer_but_summarises_all(qc_run):
    out, _ = qc_run
    text = write_qc_report(out, max_recordings=1).read_text(encoding="utf-8")
    assert "sub-01_rest: ICA components" in text
    assert "sub-01_task: ICA components" not in text
    assert "<td>sub-01_task</td>" in text  # still in the summary
