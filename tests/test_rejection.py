"""Epoch rejection with autoreject (optional): ``eegemo preprocess`` with
``--set epochs.reject.method=autoreject`` on a simulated recording with artefacts, and the
one-line configuration error where the package is missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mne
import numpy as np
import pytest

from eegemo.cli import main
from eegemo.config import from_dict
from eegemo.eeg.settings import PreprocessConfig
from eegemo.eeg.simulate import EEG_CHANNELS, simulate_recording
from eegemo.errors import ConfigError

from .test_preprocess_cli import preprocess, read_manifest

MISSING = 'epochs.reject.method: "autoreject" needs the autoreject package (pip install autoreject)'
# Windows (2 s epochs) with a large artefact on one channel (kept, that channel repaired)
# and on every EEG channel (dropped).
ONE_CHANNEL = {4: "C3", 12: "O2", 20: "F4"}
EVERY_CHANNEL = [8, 16, 24]


def corrupted_recording(path: Path) -> None:
    """60 s of simulated EEG (19 channels, no blinks, with an ECG), 2-6 Hz bursts of
    300-500 µV in the windows of ONE_CHANNEL and EVERY_CHANNEL, saved to ``path``."""
    raw = simulate_recording(1, "rest", duration=60.0, seed=0, line_freq=None, blinks=False)
    rng = np.random.default_rng(0)
    n = round(2.0 * raw.info["sfreq"])
    t = np.arange(n) / raw.info["sfreq"]

    def burst(amplitude: float) -> np.ndarray:
        phase = 2 * np.pi * rng.uniform(2.0, 6.0) * t + rng.uniform(0.0, 2 * np.pi)
        return amplitude * np.hanning(n) * np.sin(phase)

    data = raw.get_data()
    for window, name in ONE_CHANNEL.items():
        data[EEG_CHANNELS.index(name), window * n : (window + 1) * n] += burst(300e-6)
    for window in EVERY_CHANNEL:
        for channel in range(len(EEG_CHANNELS)):
            data[channel, window * n : (window + 1) * n] += burst(rng.uniform(300e-6, 500e-6))
    mne.io.RawArray(data, raw.info, verbose="error").save(path, verbose="error")


def test_preprocess_with_autoreject(tmp_path):
    pytest.importorskip("autoreject", reason="autoreject is optional (pip install autoreject)")
    raw_dir, out = tmp_path / "raw", tmp_path / "out"
    raw_dir.mkdir()
    corrupted_recording(raw_dir / "sub-01_rest_raw.fif")
    config = tmp_path / "no-stages.toml"  # the artefacts reach the epochs as simulated
    config.write_text("stages = []\n")
    common = [raw_dir, out, "--config", config, "--jobs", "1", "--no-progress"]

    proc = preprocess(*common, "--set", "epochs.reject.method=autoreject", "--save-epochs")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    prov = json.loads((out / "provenance" / "sub-01_rest_raw.json").read_text())
    epochs = prov["epochs"]
    assert epochs["rule"].startswith("autoreject (10-fold cross-validation): per-channel")
    learnt = epochs["autoreject"]
    assert learnt["dropped"] == EVERY_CHANNEL  # the windows corrupted on every channel
    assert (epochs["total"], epochs["rejected_by_rule"], epochs["kept"]) == (30, 3, 27)
    assert set(learnt["thresholds_uv"]) == set(EEG_CHANNELS)
    assert 0 < learnt["consensus"] <= 1 and learnt["n_interpolate"] >= 1
    assert learnt["interpolated"] >= len(ONE_CHANNEL) and learnt["version"]
    # Kept and dropped through MNE: the drop log names autoreject; the channel with an
    # artefact is repaired in the windows kept.
    saved = mne.read_epochs(out / "clean" / "sub-01_rest_raw-epo.fif", verbose="error")
    assert [i for i, why in enumerate(saved.drop_log) if why] == EVERY_CHANNEL
    assert {saved.drop_log[i] for i in EVERY_CHANNEL} == {("AUTOREJECT",)}
    kept = list(saved.selection)
    for window, name in ONE_CHANNEL.items():
        repaired = saved.get_data(picks=[name])[kept.index(window), 0]
        assert np.ptp(repaired) * 1e6 < 200, name
    rows = read_manifest(out)
    assert [float(r["onset_s"]) for r in rows] == [2.0 * w for w in kept]
    physio = np.load(out / rows[0]["physio_path"])
    assert len(physio) == len(rows) == 27

    # Without rejection every window is kept: the epochs step is not reused (its key
    # holds the method), the cleaned recording is.
    proc = preprocess(*common, "--set", "epochs.reject.method=none")
    assert proc.returncode == 0, proc.stderr
    again = json.loads((out / "provenance" / "sub-01_rest_raw.json").read_text())
    assert again["steps"]["clean"]["reused"] and not again["steps"]["epochs"]["reused"]
    assert again["steps"]["epochs"]["key"] != prov["steps"]["epochs"]["key"]
    assert again["epochs"]["kept"] == 30 and "autoreject" not in again["epochs"]
    all_rows = read_manifest(out)
    assert len(all_rows) == 30 > len(rows)
    # The heart features of the kept epochs are those of their windows.
    every = np.load(out / all_rows[0]["physio_path"])
    np.testing.assert_array_equal(physio, every[kept])


def test_autoreject_missing_is_one_config_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "autoreject", None)  # as if not installed
    with pytest.raises(ConfigError) as info:
        from_dict(PreprocessConfig, {"epochs": {"reject": {"method": "autoreject"}}})
    assert str(info.value) == MISSING
    # The other methods do not need it.
    from_dict(PreprocessConfig, {"epochs": {"reject": {"method": "percentile"}}})
    override = ["--set", "epochs.reject.method=autoreject"]
    assert main(["preprocess", str(tmp_path), str(tmp_path / "out"), *override]) == 2
    assert capsys.readouterr().err == f"eegemo preprocess: error: {MISSING}\n"
    assert not (tmp_path / "out").exists()
