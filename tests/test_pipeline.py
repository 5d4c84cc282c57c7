"""The per-recording pipeline and the batch layer (resume, parallel, failures), as a library."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import mne
import numpy as np
import pytest

from eegemo.config import load_config, to_dict
from eegemo.eeg import batch
from eegemo.eeg.batch import is_complete, preprocess
from eegemo.eeg.cache import cache_key
from eegemo.eeg.io import Recording, discover
from eegemo.eeg.pipeline import process_recording, step
from eegemo.eeg.settings import PreprocessConfig
from eegemo.eeg.simulate import simulate_recording, simulate_study
from eegemo.errors import EegemoError, RecordingError
from eegemo.integrity import sha256_file
from eegemo.manifest import MANIFEST_COLUMNS

PATTERNS = [
    "discovery.subject_pattern='(?P<subject>sub-\\d+)'",
    "discovery.label_pattern='_(?P<label>[a-z]+)(_raw)?\\.(edf|fif)$'",
]
# The classic chain without ICA: fast enough to run several batches per test.
NO_ICA = [
    {"name": "bandpass", "l_freq": 1.0, "h_freq": 45.0},
    {"name": "notch"},
    {"name": "resample", "sfreq": 125.0},
    {"name": "rereference"},
]

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def fast_config(*overrides: str):
    return load_config(PreprocessConfig, None, [*PATTERNS, *overrides], {"stages": NO_ICA})


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    simulate_study(raw, n_subjects=2, duration=20.0, sfreq=250.0, seed=1)
    return raw


def tree_bytes(out: Path) -> dict[str, bytes]:
    """Every array and the manifest: what must be identical between runs."""
    files = [*sorted(out.rglob("*.npy")), out / "manifest.csv", out / "failures.csv"]
    return {f.relative_to(out).as_posix(): f.read_bytes() for f in files}


def test_process_recording_writes_outputs_and_provenance(study, tmp_path):
    config = load_config(PreprocessConfig, None, [*PATTERNS, "stages.ica.max_iter=200"])
    recordings, _ = discover(study, config.discovery)
    rec = recordings[0]
    prov = process_recording(rec, config, tmp_path)

    topo = np.load(tmp_path / "sub-01" / "sub-01_rest_topomaps.npy", allow_pickle=False)
    power = np.load(tmp_path / "sub-01" / "sub-01_rest_bandpower.npy", allow_pickle=False)
    assert topo.dtype == np.float32 and power.dtype == np.float32
    assert topo.shape == (10, 5, 32, 32) and power.shape == (10, 19, 5)
    # Finite inside the head (the same pixels in every map), NaN outside.
    mask = np.isfinite(topo[0, 0])
    assert (np.isfinite(topo) == mask).all()
    assert mask[16, 16] and not mask[0, 0] and not mask[-1, -1] and 0.5 < mask.mean() < 0.9
    # Resting alpha in the simulation is strongest over the back of the head.
    occipital = [prov["channels"]["used"].index(ch) for ch in ("O1", "O2")]
    frontal = [prov["channels"]["used"].index(ch) for ch in ("Fp1", "Fp2")]
    assert power[:, occipital, 2].mean() > power[:, frontal, 2].mean()

    on_disk = json.loads((tmp_path / "provenance" / "sub-01_rest.json").read_text())
    assert on_disk["cache_key"] == prov["cache_key"] == cache_key(rec, config)
    assert on_disk["config"] == json.loads(json.dumps(to_dict(config)))
    assert set(on_disk["versions"]) == {"eegemo", "mne", "numpy", "scipy", "python"}
    assert on_disk["recording"]["inputs"][0]["sha256"] == sha256_file(rec.path)
    assert on_disk["channels"]["n_used"] == 19 and on_disk["channels"]["types_set"]["EOG"] == "eog"
    assert [s["name"] for s in on_disk["stages"]] == [
        "bandpass", "notch", "resample", "rereference", "ica"
    ]  # fmt: skip
    excluded = on_disk["ica_excluded"]
    assert excluded and excluded[0]["criterion"] == "eog" and excluded[0]["why"]
    assert on_disk["epochs"]["total"] == 10 and on_disk["epochs"]["kept"] == 10
    for entry in on_disk["outputs"].values():
        assert sha256_file(tmp_path / entry["path"]) == entry["sha256"]
    assert {"read", "ica", "topomap", "total"} <= set(on_disk["timings_s"])


def test_cache_key_depends_on_config_and_bytes_not_location(study, tmp_path):
    config = fast_config()
    src = sorted(study.glob("*.edf"))[0]
    rec = Recording(path=src, id="a", subject="s1", label="rest")
    key = cache_key(rec, config)
    moved = tmp_path / src.name
    shutil.copy(src, moved)
    assert cache_key(Recording(moved, "a", "s1", "rest"), config) == key
    assert cache_key(Recording(moved, "a", "s1", "task"), config) != key
    assert cache_key(rec, fast_config("epochs.length_s=4")) != key
    data = bytearray(moved.read_bytes())
    data[-10] ^= 0xFF
    moved.write_bytes(bytes(data))
    assert cache_key(Recording(moved, "a", "s1", "rest"), config) != key


def test_step_tags_failures_with_the_step_name():
    with pytest.raises(RecordingError) as info, step("notch"):
        raise ValueError("boom\nsecond line")
    assert (info.value.stage, info.value.message) == ("notch", "ValueError: boom")
    with pytest.raises(RecordingError) as info, step("topomap"):
        raise EegemoError("no channels of type 'eeg'")
    assert info.value.stage == "topomap"
    with pytest.raises(RecordingError) as info, step("epochs"):
        raise RecordingError("read", "kept")
    assert info.value.stage == "read"


def test_batch_is_deterministic_resumes_and_recomputes(study, tmp_path):
    config = fast_config()
    one = preprocess(study, tmp_path / "one", config, jobs=1, progress=False)
    preprocess(study, tmp_path / "two", config, jobs=2, progress=False)
    assert one.ok and len(one.processed) == 4
    provs = [json.loads(p.read_text()) for p in (tmp_path / "one" / "provenance").glob("*.json")]
    assert sum(p["epochs"]["total"] for p in provs) == 40
    # Without ICA some blinks exceed the 150 µV peak-to-peak limit.
    assert 0 < sum(p["epochs"]["rejected"] for p in provs) < 10
    assert one.n_epochs == sum(p["epochs"]["kept"] for p in provs)
    assert tree_bytes(tmp_path / "one") == tree_bytes(tmp_path / "two")

    with open(tmp_path / "one" / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    assert [(r["subject"], r["recording"], r["index"]) for r in rows[:2]] == [
        ("sub-01", "sub-01_rest", "0"), ("sub-01", "sub-01_rest", "1")
    ]  # fmt: skip
    assert {r["label"] for r in rows} == {"rest", "task"}
    assert rows[0]["path"] == "sub-01/sub-01_rest_topomaps.npy"

    again = preprocess(study, tmp_path / "one", config, jobs=2, progress=False)
    assert again.processed == [] and len(again.skipped) == 4
    assert tree_bytes(tmp_path / "one") == tree_bytes(tmp_path / "two")

    # A damaged output makes its recording incomplete; only that one is recomputed.
    damaged = tmp_path / "one" / "sub-02" / "sub-02_task_topomaps.npy"
    damaged.write_bytes(damaged.read_bytes()[:-4] + b"\0\0\0\0")
    recs, _ = discover(study, config.discovery)
    rec = next(r for r in recs if r.id == "sub-02_task")
    assert not is_complete(tmp_path / "one", rec, cache_key(rec, config))
    fixed = preprocess(study, tmp_path / "one", config, jobs=1, progress=False)
    assert fixed.processed == ["sub-02_task"] and len(fixed.skipped) == 3
    assert tree_bytes(tmp_path / "one") == tree_bytes(tmp_path / "two")

    changed = preprocess(
        study, tmp_path / "one", fast_config("bandpower.log10=false"), jobs=1, progress=False
    )
    assert len(changed.processed) == 4 and changed.skipped == []


def test_batch_reports_failures_and_keeps_going(study, tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    shutil.copytree(study, raw)
    (raw / "sub-03_rest.edf").write_bytes(b"0       this is not an EDF file" * 10)
    short = simulate_recording(4, "rest", duration=1.0, sfreq=250.0, seed=0)
    short.save(raw / "sub-04_rest_raw.fif", verbose="error")
    (raw / "notes_rest.edf").write_bytes(b"")  # does not match the subject pattern
    result = preprocess(raw, tmp_path / "out", fast_config(), jobs=2, progress=False)
    assert len(result.processed) == 4
    stages = {Path(f.recording).name: (f.stage, f.error) for f in result.failures}
    assert stages["sub-03_rest.edf"][0] == "read"
    assert "sub-03_rest.edf" in stages["sub-03_rest.edf"][1]
    assert stages["sub-04_rest_raw.fif"] == (
        "epochs", "recording lasts 1.00 s, shorter than one epoch (epochs.length_s = 2 s)"
    )  # fmt: skip
    assert stages["notes_rest.edf"][0] == "discover"
    with open(tmp_path / "out" / "failures.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [Path(r["recording"]).name for r in rows] == sorted(stages)

    # A bug (not a RecordingError) becomes a failure record too, with its type.
    def broken(*args, **kwargs):
        raise KeyError("missing")

    monkeypatch.setattr(batch, "process_recording", broken)
    result = preprocess(study, tmp_path / "bug", fast_config(), jobs=1, progress=False)
    assert {(f.stage, f.error) for f in result.failures} == {("pipeline", "KeyError: 'missing'")}
    assert (tmp_path / "bug" / "manifest.csv").read_text().count("\n") == 1  # header only


def test_epoch_labels_from_annotations(tmp_path):
    raw = simulate_recording(1, "rest", duration=24.0, sfreq=250.0, seed=0)
    raw.set_annotations(mne.Annotations([0.0, 12.0], [12.0, 12.0], ["neutral", "happy"]))
    folder = tmp_path / "raw"
    folder.mkdir()
    raw.save(folder / "s01_raw.fif", verbose="error")
    config = load_config(
        PreprocessConfig,
        None,
        ["epochs.source='annotations'", "epochs.reject.method='none'"],
        {"stages": NO_ICA},
    )
    result = preprocess(folder, tmp_path / "out", config, progress=False)
    with open(tmp_path / "out" / "manifest.csv", newline="") as fh:
        labels = [r["label"] for r in csv.DictReader(fh)]
    assert result.ok and labels == ["neutral"] * 6 + ["happy"] * 6


def test_dask_backend_gives_identical_outputs(study, tmp_path):
    pytest.importorskip("distributed")
    config = fast_config()
    preprocess(study, tmp_path / "loky", config, jobs=1, progress=False)
    result = preprocess(study, tmp_path / "dask", config, jobs=1, backend="dask", progress=False)
    assert result.ok and len(result.processed) == 4
    assert tree_bytes(tmp_path / "dask") == tree_bytes(tmp_path / "loky")


def test_fif_headset_with_14_channels_at_128_hz(tmp_path):
    """A consumer headset: 14 channels, 128 Hz, FIF, no EOG channel; ICA still runs."""
    folder = tmp_path / "raw"
    folder.mkdir()
    channels = ["F7", "F3", "T7", "P7", "O1", "O2", "P8", "T8", "F4", "F8",
                "Fp1", "Fp2", "Fz", "Pz"]  # fmt: skip
    for subject, emotion in ((1, "happy"), (2, "sad")):
        raw = simulate_recording(subject, "rest", duration=20.0, sfreq=256.0, seed=0)
        raw.pick(channels).resample(128.0, verbose="error")
        raw.save(folder / f"s{subject:02d}_{emotion}_raw.fif", verbose="error")
    overrides = [
        "discovery.subject_pattern='(?P<subject>s\\d+)_'",
        "discovery.label_pattern='_(?P<label>[a-z]+)_raw'",
        "stages.ica.max_iter=200",
    ]
    config = load_config(PreprocessConfig, None, overrides)
    result = preprocess(folder, tmp_path / "out", config, progress=False)
    assert result.ok and result.n_epochs > 0
    prov = json.loads((tmp_path / "out" / "provenance" / "s01_happy_raw.json").read_text())
    ica = prov["stages"][-1]
    assert ica["eog_source"] == "frontal proxy" and ica["n_components"] <= 13
    assert prov["stages"][1]["freqs"] == [50.0]  # the only harmonic below 63 Hz
    assert prov["stages"][2]["skipped"].startswith("already at 128 Hz")
    power = np.load(tmp_path / "out" / "s01" / "s01_happy_raw_bandpower.npy")
    assert power.shape[1:] == (14, 5)
