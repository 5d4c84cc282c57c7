"""MNE objects in and out: ``eegemo.preprocess_raw``, ``--save-epochs`` and the lazy package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mne
import numpy as np
import pytest

import eegemo
from eegemo.cli import main
from eegemo.config import load_config
from eegemo.eeg.pipeline import event_code, make_epochs
from eegemo.eeg.settings import EpochsConfig, PreprocessConfig
from eegemo.eeg.simulate import simulate_recording
from eegemo.errors import ConfigError, EegemoError

from .conftest import ROOT

EEGMAT_TOML = ROOT / "pipelines" / "eegmat.toml"
# Fewer ICA iterations than the default keep the tests quick.
FAST = ["stages.ica.max_iter=100"]

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def cli_preprocess(raw: Path, out: Path, *args: str) -> dict:
    """Run ``eegemo preprocess`` on one recording; return its provenance."""
    sets = [arg for override in FAST for arg in ("--set", override)]
    assert main(["preprocess", str(raw), str(out), *sets, "--no-progress", *args]) == 0
    (prov,) = (json.loads(p.read_text()) for p in (out / "provenance").glob("*.json"))
    return prov


# ------------------------------------------------------------- a real eegmat recording


@pytest.fixture(scope="module")
def edf(eegmat_dir: Path) -> Path:
    return eegmat_dir / "Subject00_2.edf"  # 62 s of mental arithmetic, with an ECG


@pytest.fixture(scope="module")
def result(edf: Path) -> eegemo.PreprocessResult:
    return eegemo.preprocess_raw(edf, load_config(PreprocessConfig, EEGMAT_TOML, FAST))


@pytest.fixture(scope="module")
def cli_out(edf: Path, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("eegmat") / "out"
    return out, cli_preprocess(edf, out, "--config", str(EEGMAT_TOML), "--save-epochs")


def test_returns_mne_objects_and_arrays(result):
    prov = result.provenance
    assert isinstance(result.raw, mne.io.BaseRaw)
    assert "ECG ECG" in result.raw.ch_names and "Fp1" in result.raw.ch_names
    assert isinstance(result.ica, mne.preprocessing.ICA)
    assert result.ica.exclude == [e["component"] for e in prov["ica_excluded"]]
    assert isinstance(result.epochs, mne.BaseEpochs)
    # The label from the eegmat pipeline's discovery.
    assert result.epochs.event_id == {"task": event_code("task")}
    n = len(result.epochs)
    assert result.bands == ["delta", "theta", "alpha", "beta", "gamma"]
    assert result.bandpower.shape == (n, 19, 5) and result.bandpower.dtype == np.float32
    assert result.topomaps.shape == (n, 5, 32, 32) and result.topomaps.dtype == np.float32
    assert result.physio.values.shape == (n, len(result.physio.record["features"]))
    assert prov["recording"]["id"] == "Subject00_2" and prov["recording"]["subject"] == "Subject00"
    assert prov["recording"]["inputs"][0]["sha256"]


def test_drop_log_matches_the_epochs_kept_and_rejected(result):
    epochs, record = result.epochs, result.provenance["epochs"]
    log = epochs.drop_log
    assert len(log) == record["total"]
    assert sum(not reasons for reasons in log) == len(epochs) == record["kept"]
    assert sum(bool(reasons) for reasons in log) == record["rejected"]
    assert sum(reasons == (record["rule"],) for reasons in log) == record["rejected_by_rule"]
    assert list(epochs.selection) == [i for i, reasons in enumerate(log) if not reasons]


def test_arrays_are_those_eegemo_preprocess_writes(result, cli_out):
    out, prov = cli_out
    written = {kind: np.load(out / prov["outputs"][kind]["path"]) for kind in
               ("bandpower", "topomaps", "physio")}  # fmt: skip
    assert np.array_equal(written["bandpower"], result.bandpower)
    assert np.array_equal(written["topomaps"], result.topomaps, equal_nan=True)
    assert np.array_equal(written["physio"], result.physio.values, equal_nan=True)
    for key in ("channels", "stages", "ica_excluded", "epochs", "bands", "physio", "config"):
        assert json.loads(json.dumps(result.provenance[key], default=str)) == prov[key], key


def test_saved_epochs_and_ica_read_back_with_mne(result, cli_out):
    out, prov = cli_out
    assert prov["outputs"]["epochs"]["path"] == "clean/Subject00_2-epo.fif"
    epochs = mne.read_epochs(out / prov["outputs"]["epochs"]["path"], verbose="error")
    assert np.array_equal(epochs.get_data(), result.epochs.get_data())
    assert epochs.drop_log == result.epochs.drop_log
    assert epochs.event_id == result.epochs.event_id
    assert np.array_equal(epochs.events, result.epochs.events)
    assert prov["cleaned"]["ica"]["path"] == "clean/Subject00_2-ica.fif"
    ica = mne.preprocessing.read_ica(out / prov["cleaned"]["ica"]["path"], verbose="error")
    assert list(ica.exclude) == result.ica.exclude
    assert np.array_equal(ica.unmixing_matrix_, result.ica.unmixing_matrix_)


# ------------------------------------------------------------- a simulated recording


def simulated() -> mne.io.RawArray:
    return simulate_recording(1, "rest", duration=20.0, seed=4)


@pytest.fixture(scope="module")
def fif(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "sub-01_rest_raw.fif"
    simulated().save(path, fmt="double", verbose="error")
    return path


def test_a_raw_in_memory_gives_what_its_file_gives_and_is_left_as_it_was(fif):
    config = load_config(PreprocessConfig, None, FAST)
    raw = simulated()
    before = raw.get_data()
    from_raw = eegemo.preprocess_raw(raw, config, subject="s1", label="rest")
    from_file = eegemo.preprocess_raw(fif, config, label="rest")
    assert np.array_equal(raw.get_data(), before) and raw.ch_names[-1] == "ECG"
    assert np.array_equal(from_raw.bandpower, from_file.bandpower)
    assert np.array_equal(from_raw.topomaps, from_file.topomaps, equal_nan=True)
    assert from_raw.epochs.event_id == {"rest": event_code("rest")}
    assert from_raw.provenance["recording"] == {
        "id": "recording", "subject": "s1", "label": "rest", "path": "<RawArray>", "notes": []
    }  # fmt: skip
    assert from_file.provenance["recording"]["subject"] == "sub-01_rest_raw"


def test_save_epochs_is_no_cache_key_and_added_to_a_complete_run(fif, tmp_path):
    out = tmp_path / "out"
    first = cli_preprocess(fif, out)
    assert "epochs" not in first["outputs"] and not list((out / "clean").glob("*-epo.fif"))
    second = cli_preprocess(fif, out, "--save-epochs")  # not skipped: the file is missing
    assert second["cache_key"] == first["cache_key"]
    assert {name: second["steps"][name]["reused"] for name in second["steps"]} == {
        "clean": True, "epochs": False, "bandpower": True, "topomap": False, "physio": True
    }  # fmt: skip
    path = out / second["outputs"]["epochs"]["path"]
    assert mne.read_epochs(path, verbose="error").get_data().shape[0] == second["epochs"]["kept"]
    # Without the flag the recording is complete and its epochs file stays.
    assert main(["preprocess", str(fif), str(out), "--set", FAST[0], "--no-progress"]) == 0
    assert path.is_file()
    # A change of the epochs rewrites it when asked for, deletes it when not.
    third = cli_preprocess(fif, out, "--set", "epochs.length_s=4", "--save-epochs")
    assert len(mne.read_epochs(path, verbose="error")) == third["epochs"]["kept"]
    cli_preprocess(fif, out, "--set", "epochs.length_s=1")
    assert not path.exists()


def test_event_codes_are_the_same_in_every_recording_so_epochs_concatenate():
    assert event_code("7") == 7 and event_code("rest") == event_code("rest") != event_code("task")
    raw = simulate_recording(1, "rest", duration=10.0, seed=5, blinks=False)
    rest, task = (make_epochs(raw, EpochsConfig(), label).epochs for label in ("rest", "task"))
    both = mne.concatenate_epochs([rest, task], verbose="error")
    assert both.event_id == {"rest": event_code("rest"), "task": event_code("task")}
    assert list(both.events[:, 2]) == [event_code("rest")] * 5 + [event_code("task")] * 5
    unlabelled = make_epochs(raw, EpochsConfig(), None).epochs
    assert unlabelled.event_id == {"1": 1}


# ------------------------------------------------------------- the boundary and the package


def test_wrong_inputs_say_what_was_expected(fif, tmp_path):
    with pytest.raises(TypeError, match="config: expected a PreprocessConfig, a path"):
        eegemo.preprocess_raw(fif, {"line_freq": 60})
    with pytest.raises(TypeError, match=r"raw_or_path: expected an mne\.io\.Raw or the path"):
        eegemo.preprocess_raw(np.zeros((19, 1000)))
    with pytest.raises(TypeError, match="label: expected a string or None, got int"):
        eegemo.preprocess_raw(fif, label=1)
    with pytest.raises(ConfigError, match="config file not found"):
        eegemo.preprocess_raw(fif, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[epochs]\nlength_s = -1\n")
    with pytest.raises(ConfigError, match=r"epochs\.length_s: expected > 0"):
        eegemo.preprocess_raw(fif, bad)
    with pytest.raises(EegemoError, match="expected one recording file, got a folder"):
        eegemo.preprocess_raw(fif.parent)


def test_import_eegemo_is_light_and_exposes_the_entry_points():
    code = (
        "import sys, eegemo\n"
        "heavy = [m for m in ('mne', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert callable(eegemo.preprocess_raw) and 'preprocess_raw' in dir(eegemo)\n"
        "try:\n"
        "    eegemo.no_such_thing\n"
        "except AttributeError as exc:\n"
        "    assert 'no_such_thing' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    for name in eegemo.__all__:
        assert getattr(eegemo, name) is not None, name
