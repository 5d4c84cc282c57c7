"""Band power relative to the pre-stimulus segment before each annotation or event."""

from __future__ import annotations

import json

import mne
import numpy as np
import pytest

from eegemo.config import load_config
from eegemo.eeg.batch import preprocess
from eegemo.eeg.pipeline import _band_power, make_epochs
from eegemo.eeg.settings import PreprocessConfig
from eegemo.eeg.simulate import simulate_recording
from eegemo.eeg.spectral import band_power
from eegemo.errors import ConfigError

NO_ICA = [{"name": "bandpass"}, {"name": "notch"}, {"name": "resample"},
          {"name": "rereference"}]


def trials_recording() -> mne.io.BaseRaw:
    """40 s with trials at 1 s (only 1 s before it), 6 s and 20 s, each 6 s long."""
    raw = simulate_recording(1, "rest", duration=40.0, sfreq=128.0, seed=0)
    raw.set_annotations(mne.Annotations([1.0, 6.0, 20.0], [6.0, 6.0, 6.0], ["trial"] * 3))
    return raw


def config(*overrides: str) -> PreprocessConfig:
    return load_config(PreprocessConfig, None,
                       ["epochs.source='annotations'", "epochs.reject.method='none'",
                        "epochs.baseline_s=3", *overrides], {"stages": NO_ICA})


def test_band_power_is_relative_to_the_segment_before_each_trial():
    raw, cfg = trials_recording(), config()
    epochs = make_epochs(raw, cfg.epochs, None)
    # the first trial has only 1 s before it: its 3 windows are dropped
    assert epochs.report["rejected_no_baseline"] == 3 and len(epochs.data) == 6
    assert epochs.onsets_s == [6.0, 8.0, 10.0, 20.0, 22.0, 24.0]
    assert "NO BASELINE" in [r for log in epochs.epochs.drop_log for r in log]
    power = _band_power(epochs, cfg, {})
    kw = {"method": cfg.bandpower.method, "segment_s": cfg.bandpower.segment_s}
    picks = [raw.ch_names.index(ch) for ch in epochs.ch_names]
    for i, trial_start in ((1, 6.0), (4, 20.0)):
        stop = round(trial_start * 128)
        base = raw.get_data(picks=picks, start=stop - 384, stop=stop)  # the 3 s before
        expected = (band_power(epochs.data[i : i + 1], 128.0, cfg.bandpower.bands, **kw)
                    - band_power(base[None], 128.0, cfg.bandpower.bands, **kw))
        np.testing.assert_allclose(power[i], expected[0], atol=1e-4)
    plain = _band_power(make_epochs(raw, config("epochs.baseline_s=0").epochs, None),
                        cfg, {})
    assert not np.allclose(power, plain[3:])  # the correction changed the numbers


def test_a_baseline_cut_by_a_bad_segment_drops_its_epochs_and_is_recorded(tmp_path):
    raw = trials_recording()
    raw.set_annotations(raw.annotations + mne.Annotations([18.5], [0.5], ["BAD_move"]))
    folder = tmp_path / "raw"
    folder.mkdir()
    raw.save(folder / "s01_raw.fif", verbose="error")
    result = preprocess(folder, tmp_path / "out", config(), progress=False)
    assert result.ok
    prov = json.loads(next((tmp_path / "out" / "provenance").glob("*.json")).read_text())
    assert prov["epochs"]["baseline_s"] == 3.0
    assert prov["epochs"]["rejected_no_baseline"] == 6 and prov["epochs"]["kept"] == 3


def test_baseline_needs_annotations_or_events():
    with pytest.raises(ConfigError, match='baseline_s: a baseline precedes'):
        load_config(PreprocessConfig, None, ["epochs.baseline_s=2"])
    with pytest.raises(ConfigError, match="baseline_s: expected >= 0"):
        config("epochs.baseline_s=-1")
