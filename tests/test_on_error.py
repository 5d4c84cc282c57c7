"""Failures keep their traceback; ``--on-error`` continues, aborts or hands over to a debugger."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from eegemo.config import load_config
from eegemo.eeg import stages
from eegemo.eeg.batch import preprocess
from eegemo.eeg.settings import PreprocessConfig
from eegemo.eeg.simulate import simulate_study
from eegemo.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PATTERNS = [
    "discovery.subject_pattern='(?P<subject>sub-\\d+)'",
    "discovery.label_pattern='_(?P<label>[a-z]+)\\.(edf|cnt)$'",
]
# The classic chain without ICA: quick, and failures here are about the batch.
NO_ICA = [{"name": name} for name in ("bandpass", "notch", "resample", "rereference")]


def config() -> PreprocessConfig:
    return load_config(PreprocessConfig, None, PATTERNS, {"stages": NO_ICA})


def failure_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "failures.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    simulate_study(raw, n_subjects=2, duration=12.0, sfreq=250.0, seed=4)
    return raw


@pytest.fixture
def notch_bug_on_second_call(monkeypatch):
    """A bug in eegemo's own code: the notch stage fails from its second recording on."""
    calls = []
    apply = stages.Notch.apply

    def notch_with_a_bug(self, raw, context):
        calls.append(1)
        if len(calls) > 1:
            return {}["line_freq"]
        return apply(self, raw, context)

    monkeypatch.setattr(stages.Notch, "apply", notch_with_a_bug)


def test_a_bug_is_reported_in_one_line_with_its_traceback_in_a_log(
    study, tmp_path, monkeypatch, notch_bug_on_second_call
):
    out = tmp_path / "out"
    result = preprocess(study, out, config(), jobs=1, progress=False)
    assert len(result.processed) == 1 and len(result.failures) == 3
    rows = failure_rows(out)
    assert list(rows[0]) == ["recording", "stage", "error", "log"]
    for row in rows:
        assert (row["stage"], row["error"]) == ("notch", "KeyError: 'line_freq'")
        rec = Path(row["recording"]).stem
        assert row["log"] == f"logs/{rec}.log"
        log = (out / row["log"]).read_text()
        assert log.startswith(f"recording: {row['recording']}\nstage: notch\n")
        # The full traceback, down to the failing line, then the one-line error.
        assert "Traceback (most recent call last)" in log
        assert 'return {}["line_freq"]' in log and "in notch_with_a_bug" in log
        assert "eegemo.errors.RecordingError: KeyError: 'line_freq'" in log

    # Once the bug is fixed, the recordings succeed and lose their logs.
    monkeypatch.undo()
    result = preprocess(study, out, config(), jobs=1, progress=False)
    assert result.ok and len(result.processed) == 3
    assert list((out / "logs").iterdir()) == []


def test_debug_runs_in_process_and_raises_the_original_exception(
    study, tmp_path, notch_bug_on_second_call
):
    out = tmp_path / "out"
    with pytest.raises(KeyError) as info:
        preprocess(study, out, config(), jobs=2, on_error="debug", progress=False)
    # A post-mortem debugger starts at the last frame: the line that failed.
    assert traceback.extract_tb(info.tb)[-1].name == "notch_with_a_bug"
    # It ran here (the patched stage is only seen in this process) and stopped at once:
    # the recording before the failure is complete and listed, the failure recorded.
    rows = failure_rows(out)
    assert len(rows) == 1 and rows[0]["stage"] == "notch"
    assert "Traceback" in (out / rows[0]["log"]).read_text()
    with open(out / "manifest.csv", newline="") as fh:
        assert {r["recording"] for r in csv.DictReader(fh)} == {"sub-01_rest"}


def test_on_error_is_validated(study, tmp_path):
    with pytest.raises(ConfigError, match="on_error: expected one of continue, abort, debug"):
        preprocess(study, tmp_path / "out", config(), on_error="stop")


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eegemo", "preprocess", *map(str, args), "--no-progress"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.fixture
def study_with_a_bad_file(study, tmp_path) -> Path:
    """The study and, first in path order, a file that no reader can read."""
    raw = tmp_path / "raw"
    shutil.copytree(study, raw)
    (raw / "sub-00_rest.cnt").write_bytes(os.urandom(4000))
    return raw


def test_abort_stops_the_batch_at_the_first_failure(study_with_a_bad_file, tmp_path):
    out = tmp_path / "out"
    ica = ["--set", "stages.ica.max_iter=100"]  # the default chain: ICA keeps workers busy
    proc = run_cli(study_with_a_bad_file, out, *ica, "--jobs", "2", "--on-error", "abort",
                   "--set", PATTERNS[0], "--set", PATTERNS[1])  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    match = re.search(r"(\d+) processed, 0 skipped \(already complete\), 1 failed", proc.stdout)
    assert match, proc.stdout
    stopped = re.search(r"stopped at the first failure \(--on-error abort\): (\d+) recording",
                        proc.stdout)  # fmt: skip
    assert stopped and int(match[1]) + int(stopped[1]) == 4, proc.stdout
    assert "Traceback" not in proc.stderr
    (row,) = failure_rows(out)
    assert row["stage"] == "read" and row["log"] == "logs/sub-00_rest.log"
    assert f"traceback in {out / row['log']}" in proc.stderr
    log = (out / row["log"]).read_text()
    # The reader's own exception, which the one-line message leaves out, is in the log.
    assert log.count("Traceback (most recent call last)") == 2
    assert "During handling of the above exception" in log

    # The next run (continue, the default) finishes the others.
    proc = run_cli(study_with_a_bad_file, out, *ica, "--jobs", "2",
                   "--set", PATTERNS[0], "--set", PATTERNS[1])  # fmt: skip
    assert proc.returncode == 1
    assert f"{4 - int(match[1])} processed, {match[1]} skipped" in proc.stdout


def test_debug_from_the_command_line_shows_the_readers_exception(study_with_a_bad_file, tmp_path):
    proc = run_cli(study_with_a_bad_file, tmp_path / "out", "--on-error", "debug",
                   "--set", PATTERNS[0], "--set", PATTERNS[1])  # fmt: skip
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "Traceback (most recent call last)" in proc.stderr
    assert "RecordingError" not in last and "eegemo preprocess: error" not in proc.stderr
