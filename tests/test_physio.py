"""Heart features per epoch: simulated ECG of known rate, broken leads, the real eegmat ECG."""

from __future__ import annotations

import numpy as np
import pytest

from eegemo.errors import ConfigError
from eegemo.physio.heart import FEATURES, HeartConfig, feature_names, heart_features

SFREQ = 250.0


def simulated_ecg(heart_rate: float, duration: float = 60.0, seed: int = 0) -> np.ndarray:
    """A clean single-lead ECG in volts (about 1 mV R-peaks)."""
    import neurokit2 as nk

    ecg = nk.ecg_simulate(duration=duration, sampling_rate=SFREQ, heart_rate=heart_rate,
                          heart_rate_std=1, random_state=seed)
    return np.asarray(ecg) * 1e-3


def epochs(duration: float, length: float = 2.0) -> list[float]:
    return list(np.arange(0.0, duration - length + 1e-9, length))


@pytest.mark.parametrize("rate", [60, 100])
def test_heart_rate_of_a_simulated_ecg_is_found_in_every_epoch(rate):
    onsets = epochs(60.0)
    feats = heart_features(simulated_ecg(rate), SFREQ, onsets, 2.0)
    assert feats.values.shape == (len(onsets), len(FEATURES)) and feats.values.dtype == np.float32
    usable = np.array([r is None for r in feats.reasons])
    assert usable[3:-3].all()  # every epoch whose 10-s window lies inside the recording
    hr = feats.values[usable, FEATURES.index("hr")]
    assert np.abs(np.median(hr) - rate) < 5
    mean_rr = feats.values[usable, FEATURES.index("mean_rr")]
    assert np.allclose(mean_rr, 60000.0 / feats.values[usable, FEATURES.index("hr")], rtol=1e-3)
    assert not feats.inverted
    summary = feats.summary()
    assert summary["usable"] == usable.sum() and summary["features"] == list(FEATURES)


def test_an_inverted_lead_is_flipped_and_gives_the_same_rate():
    ecg = simulated_ecg(80, seed=2)
    upright = heart_features(ecg, SFREQ, epochs(60.0), 2.0)
    flipped = heart_features(-ecg, SFREQ, epochs(60.0), 2.0)
    assert flipped.inverted
    both = [a is None and b is None for a, b in zip(upright.reasons, flipped.reasons, strict=True)]
    hr = FEATURES.index("hr")
    assert np.allclose(upright.values[both, hr], flipped.values[both, hr], atol=2.0)


def test_flat_and_noisy_leads_are_flagged_never_filled():
    onsets = epochs(30.0)
    flat = heart_features(np.zeros(int(30 * SFREQ)), SFREQ, onsets, 2.0)
    assert set(flat.reasons) == {"flat"} and np.isnan(flat.values).all()
    assert flat.summary()["unusable"] == {"flat": len(onsets)}
    noise = np.random.default_rng(0).standard_normal(int(30 * SFREQ)) * 1e-4
    noisy = heart_features(noise, SFREQ, onsets, 2.0)
    assert all(r is not None for r in noisy.reasons) and "noise" in noisy.reasons
    assert np.isnan(noisy.values).all()
    # a lead that comes off half-way: the second half is flagged, the first is not
    ecg = simulated_ecg(70, duration=30.0)
    ecg[int(15 * SFREQ):] = 0.0
    half = heart_features(ecg, SFREQ, onsets, 2.0)
    assert half.reasons[-1] == "flat" and half.reasons[4] is None


def test_a_ppg_gives_the_pulse_rate_and_noise_is_flagged():
    import neurokit2 as nk

    pulse = np.asarray(nk.ppg_simulate(duration=60, sampling_rate=SFREQ, heart_rate=75,
                                       random_state=0))  # fmt: skip
    onsets = epochs(60.0)
    feats = heart_features(pulse, SFREQ, onsets, 2.0, kind="ppg")
    usable = np.array([r is None for r in feats.reasons])
    assert usable[3:-3].all() and not feats.inverted
    assert abs(np.median(feats.values[usable, FEATURES.index("hr")]) - 75) < 3
    noise = np.random.default_rng(1).standard_normal(int(60 * SFREQ))
    noisy = heart_features(noise, SFREQ, onsets, 2.0, kind="ppg")
    assert all(r is not None for r in noisy.reasons) and "noise" in noisy.reasons
    with pytest.raises(ValueError, match="kind: expected one of ecg, ppg"):
        heart_features(pulse, SFREQ, onsets, 2.0, kind="eda")


def test_frequency_domain_hrv_only_where_the_window_allows_it():
    assert feature_names(HeartConfig()) == FEATURES
    assert feature_names(HeartConfig(window_s=60)) == (*FEATURES, "hf")
    config = HeartConfig(window_s=120)
    assert feature_names(config) == (*FEATURES, "hf", "lf", "lf_hf")
    onsets = [60.0, 80.0]
    feats = heart_features(simulated_ecg(70, duration=150.0), SFREQ, onsets, 2.0, config)
    assert feats.names == feature_names(config) and feats.values.shape == (2, 9)
    assert all(r is None for r in feats.reasons) and (feats.values[:, 6:] > 0).all()


def test_settings_are_checked_with_the_key_named():
    with pytest.raises(ConfigError, match="window_s: expected > 0"):
        HeartConfig(window_s=0)
    with pytest.raises(ConfigError, match="min_quality"):
        HeartConfig(min_quality=1.5)


def test_heart_rate_rises_from_rest_to_mental_arithmetic_in_eegmat(eegmat_dir):
    import mne

    rates = {}
    for label, name in (("rest", "Subject00_1.edf"), ("task", "Subject00_2.edf")):
        raw = mne.io.read_raw_edf(eegmat_dir / name, preload=True, verbose="error")
        ecg = raw.get_data(picks=["ECG ECG"])[0]
        onsets = epochs(raw.times[-1])
        feats = heart_features(ecg, raw.info["sfreq"], onsets, 2.0)
        assert feats.summary()["usable"] >= 0.8 * len(onsets)
        rates[label] = np.nanmedian(feats.values[:, FEATURES.index("hr")])
    assert 65 < rates["rest"] < 85 and rates["task"] > rates["rest"] + 10
