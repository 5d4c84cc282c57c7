"""Input and surroundings that must neither lose data nor pass unnoticed: file names
that clash, flat recordings, the user's own files under OUT, unwritable outputs."""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import mne
import numpy as np
import pytest

from eegemo.cli import main
from eegemo.config import load_config
from eegemo.eeg.batch import preprocess
from eegemo.eeg.pipeline import bandpower_record
from eegemo.eeg.settings import PreprocessConfig
from eegemo.eeg.simulate import simulate_recording
from eegemo.eeg.spectral import power_spectrum

from .synthetic_topomaps import make_topomap_folder

ROOT = Path(__file__).resolve().parents[1]
FAST = [{"name": "bandpass", "l_freq": 1.0, "h_freq": 40.0}, {"name": "resample", "sfreq": 100.0}]

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def config(*overrides: str) -> PreprocessConfig:
    overrides = ("epochs.reject.method=none", *overrides)  # every epoch kept: counts are known
    return load_config(PreprocessConfig, None, list(overrides), {"stages": FAST})


def write_edf(path: Path, seconds: float, seed: int = 0, flat: tuple[int, ...] = ()) -> Path:
    raw = simulate_recording(1 + seed, "rest", duration=seconds, sfreq=125.0, seed=seed,
                             ecg=False)
    raw._data[list(flat)] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    mne.export.export_raw(path, raw, fmt="edf", verbose="error")
    return path


def manifest_counts(out: Path) -> dict[str, int]:
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {rec: sum(r["recording"] == rec for r in rows) for rec in {r["recording"] for r in rows}}


def test_names_that_clash_keep_every_recording_and_only_eegemo_temporaries_go(tmp_path):
    raw = tmp_path / "raw"
    lengths = {"rec 1.edf": 8.0, "rec_1.edf": 10.0, "Sübject.edf": 12.0, "Säbject.edf": 14.0}
    for seed, (name, seconds) in enumerate(lengths.items()):
        write_edf(raw / name, seconds, seed)
    out = tmp_path / "out"
    mine = [out / ".notes.tmp-keep", out / "rec_1" / ".draft.tmp-1.npy", out / "notes.tmp-eegemo"]
    for path in mine:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine")
    (out / "provenance").mkdir()
    stale = out / "provenance" / ".x.json.tmp-eegemo-99-0a1b2c3d.json"
    stale.write_text("{")

    result = preprocess(raw, out, config(), jobs=2, progress=False)
    assert result.ok and result.removed_temporaries == 1 and not stale.exists()
    assert all(path.read_text() == "mine" for path in mine)
    ids = {json.loads(p.read_text())["recording"]["path"]: p.stem
           for p in (out / "provenance").glob("*.json")}  # fmt: skip
    assert sorted(Path(p).name for p in ids) == sorted(lengths) and len(set(ids.values())) == 4
    # Every recording's epochs, each once: 2-s epochs of 8, 10, 12 and 14 s.
    assert manifest_counts(out) == {ids[str(raw / n)]: int(s // 2) for n, s in lengths.items()}
    assert len(list(out.rglob("*_topomaps.npy"))) == 4
    prov = json.loads((out / "provenance" / f"{ids[str(raw / 'rec 1.edf')]}.json").read_text())
    assert "'rec 1.edf', which would otherwise share the id 'rec_1' with 'rec_1.edf'" in (
        prov["recording"]["notes"][0]
    )
    assert sum("would otherwise share the id" in note for note in result.notes) == 4

    again = preprocess(raw, out, config(), jobs=2, progress=False)
    assert again.processed == [] and sorted(again.skipped) == sorted(ids.values())


def test_flat_recordings_fail_and_flat_channels_are_interpolated(tmp_path):
    raw = tmp_path / "raw"
    write_edf(raw / "zeros.edf", 8.0, flat=tuple(range(20)))
    write_edf(raw / "one_flat.edf", 8.0, seed=1, flat=(3,))  # F3
    out = tmp_path / "out"
    result = preprocess(raw, out, config("bandpower.segment_s=4"), progress=False)

    (failure,) = result.failures
    assert (failure.recording, failure.stage) == (str(raw / "zeros.edf"), "channels")
    assert failure.error == (
        "zeros.edf: all 19 EEG channels are flat (peak-to-peak below 1 µV in most 1-s "
        "windows): no signal"
    )
    assert result.processed == ["one_flat"] and set(manifest_counts(out)) == {"one_flat"}
    prov = json.loads((out / "provenance" / "one_flat.json").read_text())
    assert prov["channels"]["flat"] == ["F3"] and "F3" in prov["channels"]["used"]
    power = np.load(out / "one_flat" / "one_flat_bandpower.npy")
    f3, others = power[:, prov["channels"]["used"].index("F3")], np.delete(power, 3, axis=1)
    assert np.isfinite(power).all() and f3.min() > others.min() - 1  # log10 µV², not ~-33

    # bandpower.segment_s = 4 s is longer than a 2-s epoch: what was used is recorded.
    note = (
        "bandpower.segment_s = 4 s is longer than an epoch (epochs.length_s = 2 s): "
        "Welch segments of 2 s used"
    )
    assert prov["bandpower"] == {
        "method": "welch", "segment_s": 2.0, "segment_s_requested": 4.0, "note": note
    }  # fmt: skip
    assert prov["notes"] == [
        "flat channel F3 (peak-to-peak below 1 µV in most 1-s windows) interpolated from "
        "the other 18 EEG channels",
        note,
    ]
    assert result.notes == [f"one_flat: {n}" for n in prov["notes"]]
    assert bandpower_record(config(), 100.0) == {"method": "welch", "segment_s": 1.0}


def test_capped_welch_segments_warn():
    with pytest.warns(UserWarning, match="segments of 4 s are longer than an epoch"):
        power_spectrum(np.zeros((1, 1, 200)), 100.0, segment_s=4.0)


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eegemo", *map(str, args)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip


def test_output_below_a_file_is_refused_before_any_work(tmp_path):
    write_edf(tmp_path / "raw" / "a.edf", 4.0)
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" / "out"
    proc = run_cli("preprocess", tmp_path / "raw", out, "--no-progress")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (
        f"eegemo preprocess: error: {out}: cannot write the output folder: "
        f"{tmp_path / 'file'} is a file, not a folder\n"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_is_refused_before_any_work(tmp_path, capsys):
    write_edf(tmp_path / "raw" / "a.edf", 4.0)
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    try:
        assert main(["preprocess", str(tmp_path / "raw"), str(tmp_path / "ro" / "out")]) == 1
    finally:
        os.chmod(tmp_path / "ro", 0o755)
    assert capsys.readouterr().err == (
        f"eegemo preprocess: error: {tmp_path / 'ro' / 'out'}: cannot write the output "
        "folder: Permission denied\n"
    )


def test_read_only_file_system_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import tempfile

    write_edf(tmp_path / "raw" / "a.edf", 4.0)
    out = tmp_path / "out"

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(out))

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    assert main(["preprocess", str(tmp_path / "raw"), str(out), "--no-progress"]) == 1
    assert capsys.readouterr().err == (
        f"eegemo preprocess: error: {out}: cannot write the output folder: "
        "Read-only file system\n"
    )
    assert list(out.iterdir()) == []  # nothing read, nothing written


def test_any_file_system_error_is_one_line(tmp_path, capsys, monkeypatch):
    from eegemo.eeg import batch

    def fails(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "/data/out/manifest.csv")

    monkeypatch.setattr(batch, "preprocess", fails)
    assert main(["preprocess", str(tmp_path), str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == (
        "eegemo preprocess: error: /data/out/manifest.csv: Permission denied\n"
    )


TINY = ["--set", "model=topo_cnn", "--set", "model_kwargs.width=4", "--set", "epochs=1",
        "--set", "threads=1", "--no-progress"]  # fmt: skip


def test_train_output_below_a_file_is_one_line(tmp_path, capsys):
    data = make_topomap_folder(tmp_path / "data", n_subjects=3, epochs_per_class=2, res=8)
    (tmp_path / "file").write_text("not a folder")
    run = tmp_path / "file" / "run"
    assert main(["train", "--data", str(data), "--out", str(run), *TINY]) == 1
    assert capsys.readouterr().err == f"eegemo train: error: {run}: Not a directory\n"


def test_resume_keeps_the_users_files_in_the_run_folder(tmp_path, capsys):
    data = make_topomap_folder(tmp_path / "data", n_subjects=3, epochs_per_class=2, res=8)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), *TINY]) == 0
    mine = run / ".notes.tmp-keep"
    mine.write_text("mine")
    stale = run / "checkpoints" / ".last.pt.tmp-eegemo-99-0a1b2c3d.pt"
    stale.write_bytes(b"half")
    assert main(["train", "--data", str(data), "--out", str(run), *TINY, "--resume"]) == 0
    assert mine.read_text() == "mine" and not stale.exists()
