"""The step cache: each step keyed on its own settings, the cleaned recording kept on disk."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import mne
import numpy as np
import pytest

from eegemo.config import load_config
from eegemo.eeg.batch import preprocess
from eegemo.eeg.cache import STEPS, clean_paths, step_keys
from eegemo.eeg.io import Recording
from eegemo.eeg.settings import PreprocessConfig
from eegemo.eeg.simulate import simulate_study

PATTERNS = [
    "discovery.subject_pattern='(?P<subject>sub-\\d+)'",
    "discovery.label_pattern='_(?P<label>[a-z]+)\\.edf$'",
    # Fewer ICA iterations than the default keep the tests quick.
    "stages.ica.max_iter=100",
]

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def config(*overrides: str, values: dict | None = None) -> PreprocessConfig:
    return load_config(PreprocessConfig, None, [*PATTERNS, *overrides], values)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    simulate_study(raw, n_subjects=1, duration=16.0, sfreq=250.0, seed=3)
    return raw


@pytest.fixture(scope="module")
def first_run(study, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cache") / "out"
    result = preprocess(study, out, config(), progress=False)
    assert result.ok and len(result.processed) == 2
    return out


def arrays(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.npy"))}


def provenance(out: Path, rec: str) -> dict:
    return json.loads((out / "provenance" / f"{rec}.json").read_text())


def test_keys_change_only_from_the_step_whose_settings_changed(study, tmp_path):
    path = next(study.glob("*.edf"))
    rec = Recording(path, "a", "s1", "rest")
    base = step_keys(rec, config())

    def changed(keys: dict[str, str]) -> list[str]:
        return [step for step in STEPS if keys[step] != base[step]]

    assert list(base) == list(STEPS)
    assert changed(step_keys(rec, config("topomap.res=48"))) == ["topomap", "outputs"]
    assert changed(step_keys(rec, config(values={"topomap.png": True}))) == [
        "topomap", "outputs"
    ]  # fmt: skip
    assert changed(step_keys(rec, config("bandpower.log10=false"))) == [
        "bandpower", "topomap", "outputs"
    ]  # fmt: skip
    reordered = "bandpower.bands={ theta = [4.0, 8.0], delta = [1.0, 4.0] }"
    in_order = "bandpower.bands={ delta = [1.0, 4.0], theta = [4.0, 8.0] }"
    # the arrays follow the order of the bands, which the sorted digest would lose
    assert step_keys(rec, config(reordered))["epochs"] == step_keys(rec, config(in_order))["epochs"]
    assert step_keys(rec, config(reordered))["bandpower"] != step_keys(
        rec, config(in_order))["bandpower"]
    assert changed(step_keys(Recording(path, "a", "s1", "task"), config())) == [
        "epochs", "bandpower", "topomap", "physio", "outputs"
    ]  # fmt: skip
    assert changed(step_keys(rec, config("physio.window_s=20"))) == ["physio", "outputs"]
    assert changed(step_keys(rec, config("stages.bandpass.h_freq=40"))) == list(STEPS)
    assert changed(step_keys(Recording(path, "a", "s2", "rest"), config())) == ["outputs"]
    # Discovery settings decide the recordings and their labels, which have their keys.
    labels = tmp_path / "labels.csv"
    assert changed(step_keys(rec, config(values={"discovery.labels_csv": str(labels)}))) == []
    # The file's bytes count, not its location.
    moved = tmp_path / path.name
    shutil.copy(path, moved)
    assert step_keys(Recording(moved, "a", "s1", "rest"), config()) == base


def test_cleaned_recording_and_ica_are_kept(first_run):
    record = json.loads((first_run / clean_paths("sub-01_rest")["record"]).read_text())
    raw = mne.io.read_raw_fif(first_run / record["files"]["raw"]["path"], verbose="error")
    assert raw.info["sfreq"] == 250.0 and "Fp1" in raw.ch_names
    ica = mne.preprocessing.read_ica(first_run / record["files"]["ica"]["path"], verbose="error")
    prov = provenance(first_run, "sub-01_rest")
    assert sorted(ica.exclude) == [e["component"] for e in prov["ica_excluded"]]
    assert prov["cleaned"] == record["files"]
    assert not any(step["reused"] for step in prov["steps"].values())
    assert {"read", "bandpass", "ica", "write_clean", "epochs", "topomap"} <= set(
        prov["timings_s"]
    )


def test_new_topomap_settings_reuse_the_cleaned_recording_and_band_power(
    study, first_run, tmp_path
):
    out = tmp_path / "out"
    shutil.copytree(first_run, out)
    before = arrays(out)
    kept = [*out.glob("clean/*"), *out.glob("*/*_bandpower.npy")]
    mtimes = {p: p.stat().st_mtime_ns for p in kept}

    changed = config("topomap.res=48", values={"topomap.png": True})
    result = preprocess(study, out, changed, progress=False)
    assert result.ok and len(result.processed) == 2
    for rec in ("sub-01_rest", "sub-01_task"):
        prov = provenance(out, rec)
        assert {s: v["reused"] for s, v in prov["steps"].items()} == {
            "clean": True, "epochs": True, "bandpower": True, "topomap": False, "physio": True
        }  # fmt: skip
        # Neither reading nor any stage nor the epochs nor the heart features ran again.
        assert set(prov["timings_s"]) == {"read_clean", "topomap", "write", "total"}
        maps = np.load(out / prov["outputs"]["topomaps"]["path"])
        assert maps.shape[1:] == (5, 48, 48)
        assert (out / prov["outputs"]["png"]["path"]).is_file()
        assert prov["ica_excluded"] == provenance(first_run, rec)["ica_excluded"]
        assert prov["epochs"] == provenance(first_run, rec)["epochs"]
    after = arrays(out)
    bandpower = [k for k in before if k.endswith("_bandpower.npy")]
    assert bandpower and all(after[k] == before[k] for k in bandpower)
    assert {p: p.stat().st_mtime_ns for p in kept} == mtimes

    # The same bytes as a run that computed everything with these settings.
    fresh = tmp_path / "fresh"
    preprocess(study, fresh, changed, progress=False)
    assert arrays(fresh) == after


def test_band_power_settings_recompute_from_the_cleaned_recording(study, first_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first_run, out)
    changed = config("bandpower.relative=true")
    result = preprocess(study, out, changed, progress=False)
    assert result.ok and len(result.processed) == 2
    prov = provenance(out, "sub-01_rest")
    assert {s: v["reused"] for s, v in prov["steps"].items()} == {
        "clean": True, "epochs": False, "bandpower": False, "topomap": False, "physio": True
    }  # fmt: skip
    assert "ica" not in prov["timings_s"] and "epochs" in prov["timings_s"]
    fresh = tmp_path / "fresh"
    preprocess(study, fresh, changed, progress=False)
    assert arrays(fresh) == arrays(out)


def test_heart_settings_recompute_the_heart_features_only(study, first_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first_run, out)
    kept = [*out.glob("clean/*"), *out.glob("*/*_bandpower.npy")]
    mtimes = {p: p.stat().st_mtime_ns for p in kept}
    changed = config("physio.window_s=6")
    result = preprocess(study, out, changed, progress=False)
    assert result.ok and len(result.processed) == 2
    for rec in ("sub-01_rest", "sub-01_task"):
        prov = provenance(out, rec)
        assert {s: v["reused"] for s, v in prov["steps"].items()} == {
            "clean": True, "epochs": True, "bandpower": True, "topomap": False, "physio": False
        }  # fmt: skip
        assert set(prov["timings_s"]) == {"read_clean", "topomap", "physio", "write", "total"}
        assert prov["physio"]["window_s"] == 6.0
        before = np.load(first_run / prov["outputs"]["physio"]["path"])
        after = np.load(out / prov["outputs"]["physio"]["path"])
        assert after.shape == before.shape and not np.array_equal(after, before, equal_nan=True)
    assert {p: p.stat().st_mtime_ns for p in kept} == mtimes
    fresh = tmp_path / "fresh"
    preprocess(study, fresh, changed, progress=False)
    assert arrays(fresh) == arrays(out)


def test_labels_from_a_moved_table_change_nothing_new_labels_recompute_epochs(
    study, first_run, tmp_path
):
    out = tmp_path / "out"
    shutil.copytree(first_run, out)
    table = tmp_path / "elsewhere" / "labels.csv"
    table.parent.mkdir()
    rows = [("sub-01_rest.edf", "sub-01", "rest"), ("sub-01_task.edf", "sub-01", "task")]
    with open(table, "w", newline="") as fh:
        csv.writer(fh).writerows([("recording", "subject", "label"), *rows])
    by_table = config(values={"discovery.labels_csv": str(table)})
    result = preprocess(study, out, by_table, progress=False)
    assert result.processed == [] and len(result.skipped) == 2

    rows[1] = ("sub-01_task.edf", "sub-01", "arithmetic")
    with open(table, "w", newline="") as fh:
        csv.writer(fh).writerows([("recording", "subject", "label"), *rows])
    result = preprocess(study, out, by_table, progress=False)
    assert result.processed == ["sub-01_task"] and result.skipped == ["sub-01_rest"]
    prov = provenance(out, "sub-01_task")
    assert prov["steps"]["clean"]["reused"] and not prov["steps"]["epochs"]["reused"]
    assert set(prov["epochs"]["labels"]) == {"arithmetic"}


def test_without_keeping_cleaned_recordings_the_outputs_are_the_same(study, first_run, tmp_path):
    out = tmp_path / "out"
    result = preprocess(study, out, config(), keep_clean=False, progress=False)
    assert result.ok and arrays(out) == arrays(first_run)
    assert list((out / "clean").iterdir()) == []
    assert provenance(out, "sub-01_rest")["cleaned"] == {}
    # A later change then starts from the raw file again.
    preprocess(study, out, config("topomap.res=16"), progress=False)
    assert not provenance(out, "sub-01_rest")["steps"]["clean"]["reused"]


def test_a_damaged_cleaned_recording_is_recomputed(study, first_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first_run, out)
    fif = out / clean_paths("sub-01_rest")["raw"]
    data = bytearray(fif.read_bytes())
    data[-100] ^= 0xFF
    fif.write_bytes(bytes(data))
    result = preprocess(study, out, config("topomap.res=16"), progress=False)
    assert result.ok
    assert not provenance(out, "sub-01_rest")["steps"]["clean"]["reused"]
    assert provenance(out, "sub-01_task")["steps"]["clean"]["reused"]
    fresh = tmp_path / "fresh"
    preprocess(study, fresh, config("topomap.res=16"), progress=False)
    assert arrays(fresh) == arrays(out)
