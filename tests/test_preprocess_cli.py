"""End-to-end tests of ``eegemo preprocess``: real processes, real files, real exit codes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from eegemo.cli import main
from eegemo.eeg.simulate import simulate_recording, simulate_study

ROOT = Path(__file__).resolve().parents[1]
PATTERNS = [
    "--subject-pattern", r"(?P<subject>sub-\d+)",
    "--label-pattern", r"_(?P<label>rest|task)",
]  # fmt: skip
# The default pipeline (with ICA), with fewer ICA iterations to keep the tests quick.
FAST_ICA = ["--set", "stages.ica.max_iter=100", "--no-progress"]


def preprocess(*args: str) -> subprocess.CompletedProcess:
    """Run ``eegemo preprocess`` in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "eegemo", "preprocess", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def tree_bytes(out: Path) -> dict[str, bytes]:
    files = [*sorted(out.rglob("*.npy")), out / "manifest.csv", out / "failures.csv"]
    return {f.relative_to(out).as_posix(): f.read_bytes() for f in files}


def read_manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("study")
    simulate_study(raw, n_subjects=2, duration=16.0, sfreq=250.0, seed=2)
    return raw


@pytest.fixture(scope="module")
def clean_run(study, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("clean") / "out"
    return out, preprocess(study, out, *PATTERNS, *FAST_ICA, "--jobs", "2")


def test_help_explains_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["preprocess", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for needle in ("--config", "--jobs", "--set", "--subject-pattern", "examples:",
                   "manifest.csv", "failures.csv", "Exit status"):  # fmt: skip
        assert needle in text


def test_simulated_study_end_to_end(clean_run):
    out, proc = clean_run
    assert proc.returncode == 0, proc.stderr
    assert "4 processed, 0 skipped (already complete), 0 failed" in proc.stdout
    assert "Traceback" not in proc.stderr
    rows = read_manifest(out)
    assert list(rows[0]) == [
        "subject", "recording", "label", "path", "index", "bandpower_path", "onset_s",
        "physio_path",
    ]  # fmt: skip
    assert {r["subject"] for r in rows} == {"sub-01", "sub-02"}
    assert {r["label"] for r in rows} == {"rest", "task"}
    keys = [(r["subject"], r["recording"], int(r["index"])) for r in rows]
    assert keys == sorted(keys)
    for rec in {r["recording"] for r in rows}:
        mine = [r for r in rows if r["recording"] == rec]
        topo = np.load(out / mine[0]["path"], allow_pickle=False)
        power = np.load(out / mine[0]["bandpower_path"], allow_pickle=False)
        assert topo.shape == (len(mine), 5, 32, 32) and topo.dtype == np.float32
        assert power.shape == (len(mine), 19, 5) and np.isfinite(power).all()
        assert [int(r["index"]) for r in mine] == list(range(len(mine)))
        inside = np.isfinite(topo[0, 0])
        assert inside[16, 16] and (np.isfinite(topo) == inside).all()
        prov = json.loads((out / "provenance" / f"{rec}.json").read_text())
        assert prov["ica_excluded"], f"{rec}: no ICA component excluded"
        assert all(e["why"] and "component" in e for e in prov["ica_excluded"])
        assert prov["epochs"]["kept"] == len(mine)
    assert (out / "failures.csv").read_text() == "recording,stage,error,log\n"


def test_rerun_skips_complete_recordings(study, clean_run):
    out, _ = clean_run
    before = tree_bytes(out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")}
    proc = preprocess(study, out, *PATTERNS, *FAST_ICA, "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    assert "0 processed, 4 skipped (already complete), 0 failed" in proc.stdout
    assert tree_bytes(out) == before
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")} == mtimes


def test_config_errors_exit_2_with_a_suggestion(study, tmp_path):
    proc = preprocess(study, tmp_path / "o", "--set", "epochs.lenght_s=3")
    assert proc.returncode == 2
    assert "unknown config key 'epochs.lenght_s'; did you mean 'length_s'?" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "o").exists()
    config = tmp_path / "bad.toml"
    config.write_text('[[stages]]\nname = "bandpas"\n')
    proc = preprocess(study, tmp_path / "o", "--config", config)
    assert proc.returncode == 2 and "did you mean 'bandpass'" in proc.stderr
    proc = preprocess(study, tmp_path / "o", "--jobs", "0")
    assert proc.returncode == 2 and "--jobs" in proc.stderr
    proc = preprocess(tmp_path / "missing", tmp_path / "o")
    assert proc.returncode == 1 and "no such file or folder" in proc.stderr


def test_bad_recordings_are_reported_and_the_rest_is_written(tmp_path):
    raw = tmp_path / "raw"
    simulate_study(raw, n_subjects=1, conditions=("rest",), duration=20.0, sfreq=250.0)
    good = raw / "sub-01_rest.edf"
    (raw / "sub-02_rest.edf").write_bytes(good.read_bytes()[:3000])  # truncated
    (raw / "sub-03_rest.cnt").write_bytes(os.urandom(4000))  # not a CNT file at all
    simulate_recording(4, "rest", duration=1.0, seed=0).save(
        raw / "sub-04_rest_raw.fif", verbose="error"
    )
    nan = simulate_recording(5, "rest", duration=10.0, seed=0)
    nan._data[3, 100:200] = np.nan
    nan.save(raw / "sub-05_rest_raw.fif", verbose="error")
    slow = simulate_recording(6, "rest", duration=10.0, sfreq=64.0, line_freq=None, seed=0)
    slow.save(raw / "sub-06_rest_raw.fif", verbose="error")
    eeg_free = simulate_recording(7, "rest", duration=10.0, seed=0).pick(["EOG"])
    eeg_free.save(raw / "sub-07_rest_raw.fif", verbose="error")

    proc = preprocess(raw, tmp_path / "out", *PATTERNS, *FAST_ICA, "--jobs", "2")
    assert proc.returncode == 1
    assert "1 processed, 0 skipped (already complete), 6 failed" in proc.stdout
    assert "Traceback" not in proc.stderr
    failed = [line for line in proc.stderr.splitlines() if line.startswith("FAILED ")]
    assert len(failed) == 6
    with open(tmp_path / "out" / "failures.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    rows = {Path(r["recording"]).name: (r["stage"], r["error"]) for r in table}
    # Each failure's full traceback is in its log (the terminal shows one line).
    for row in table:
        log = (tmp_path / "out" / row["log"]).read_text()
        assert "Traceback (most recent call last)" in log and row["error"] in log
    expected = {
        "sub-02_rest.edf": ("read", "truncated"),
        "sub-03_rest.cnt": ("read", "sub-03_rest.cnt"),
        "sub-04_rest_raw.fif": ("epochs", "shorter than one epoch"),
        "sub-05_rest_raw.fif": ("read", "NaN"),
        "sub-06_rest_raw.fif": ("bandpass", "64 Hz is too low"),
        "sub-07_rest_raw.fif": ("channels", "no EEG channels"),
    }
    assert set(rows) == set(expected)
    for name, (stage, words) in expected.items():
        assert rows[name][0] == stage and words in rows[name][1], rows[name]
        assert any(name in line and f"[{stage}]" in line for line in failed)
    assert {r["recording"] for r in read_manifest(tmp_path / "out")} == {"sub-01_rest"}

    # A changed configuration recomputes the recording that was complete.
    proc = preprocess(raw, tmp_path / "out", *PATTERNS, *FAST_ICA, "--set", "topomap.res=16")
    assert proc.returncode == 1
    assert "1 processed, 0 skipped (already complete), 6 failed" in proc.stdout
    topo = np.load(tmp_path / "out" / "sub-01" / "sub-01_rest_topomaps.npy")
    assert topo.shape[-2:] == (16, 16)


@pytest.mark.slow
def test_real_eegmat_recordings(eegmat_dir, tmp_path):
    raw = tmp_path / "eegmat"
    raw.mkdir()
    for name in ("Subject00_1.edf", "Subject00_2.edf"):
        (raw / name).symlink_to(eegmat_dir / name)
    out = tmp_path / "out"
    proc = preprocess(raw, out, "--config", "pipelines/eegmat.toml", "--jobs", "2",
                      "--no-progress", "--png")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = read_manifest(out)
    assert {(r["subject"], r["label"]) for r in rows} == {
        ("Subject00", "rest"), ("Subject00", "task")
    }  # fmt: skip
    excluded = []
    for rec, seconds in (("Subject00_1", 182), ("Subject00_2", 62)):
        prov = json.loads((out / "provenance" / f"{rec}.json").read_text())
        assert prov["epochs"]["total"] == seconds // 2
        assert prov["channels"]["n_used"] == 19
        assert prov["channels"]["renamed"]["EEG T3"] == "T7"
        assert "EEG A2-A1" in prov["channels"]["dropped"]
        topo = np.load(out / "Subject00" / f"{rec}_topomaps.npy")
        assert topo.shape == (prov["epochs"]["kept"], 5, 32, 32)
        assert np.isfinite(topo[:, :, 16, 16]).all()
        excluded += prov["ica_excluded"]
        assert (out / "Subject00" / "png" / f"{rec}.png").stat().st_size > 1000
    assert excluded and all(e["criterion"] == "eog" for e in excluded)


@pytest.mark.slow
def test_sigkill_then_rerun_matches_a_clean_run(study, clean_run, tmp_path):
    clean, proc = clean_run
    assert proc.returncode == 0
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "eegemo", "preprocess", str(study), str(out), *PATTERNS,
           *FAST_ICA, "--jobs", "2"]  # fmt: skip
    victim = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((out / "provenance").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)  # the batch only: its workers must stop by themselves
    victim.wait()
    time.sleep(1.0)  # a worker may complete the write it was in when the batch died
    finished = sorted((out / "provenance").glob("*.json"))
    assert 1 <= len(finished) < 4
    # Whatever looks finished is finished: every output a provenance lists is intact.
    for path in finished:
        for entry in json.loads(path.read_text())["outputs"].values():
            assert (out / entry["path"]).is_file()
    time.sleep(2.0)
    assert sorted((out / "provenance").glob("*.json")) == finished, "workers kept going"

    rerun = preprocess(study, out, *PATTERNS, *FAST_ICA, "--jobs", "2")
    assert rerun.returncode == 0, rerun.stderr
    assert f"{4 - len(finished)} processed, {len(finished)} skipped" in rerun.stdout
    assert tree_bytes(out) == tree_bytes(clean)
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_progress_bars_step_aside_when_the_output_is_not_a_terminal(study, tmp_path):
    proc = preprocess(study, tmp_path / "out", *PATTERNS, "--set", "stages.ica.max_iter=100")
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr + proc.stdout  # no bar redrawn into a log
    assert "4 processed" in proc.stdout
