"""Simulated study: files, realistic signals, conditions a band-power model (and the heart
rate) can tell apart."""

from __future__ import annotations

import numpy as np
import pytest

from eegemo.eeg.channels import ChannelsConfig, prepare_channels
from eegemo.eeg.io import DiscoveryConfig, discover, read_raw
from eegemo.eeg.simulate import (
    CONDITION_HEART_RATES,
    EEG_CHANNELS,
    simulate_recording,
    simulate_study,
)
from eegemo.physio.heart import heart_features

SFREQ = 250.0
PATTERNS = DiscoveryConfig(
    subject_pattern=r"(?P<subject>sub-\d+)",
    label_pattern=r"_(?P<label>[a-z]+)(_raw)?\.(edf|fif)$",
)


def band_power(raw, channel: str, fmin: float, fmax: float) -> float:
    psd = raw.compute_psd(picks=[channel], fmin=1.0, fmax=100.0, n_fft=512, verbose="error")
    freqs, power = psd.freqs, psd.get_data()[0]
    return float(power[(freqs >= fmin) & (freqs < fmax)].mean())


@pytest.mark.parametrize("fmt", ["edf", "fif"])
def test_study_files_are_named_for_the_patterns_and_read_back(tmp_path, fmt):
    paths = simulate_study(tmp_path, n_subjects=2, duration=10.0, fmt=fmt, seed=1)
    suffix = ".edf" if fmt == "edf" else "_raw.fif"
    names = [f"sub-0{s}_{c}{suffix}" for s in (1, 2) for c in ("rest", "task")]
    assert [p.name for p in paths] == names
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    recordings, failures = discover(tmp_path, PATTERNS)
    assert failures == []
    assert [(r.subject, r.label) for r in recordings] == [
        ("sub-01", "rest"), ("sub-01", "task"), ("sub-02", "rest"), ("sub-02", "task"),
    ]  # fmt: skip
    raw, report = prepare_channels(read_raw(paths[0]), ChannelsConfig())
    assert report["n_eeg"] == 19 and report["dropped_no_position"] == []
    assert raw.ch_names == [*EEG_CHANNELS, "EOG", "ECG"]
    assert raw.get_channel_types(picks=["EOG", "ECG"]) == ["eog", "ecg"]
    assert raw.info["sfreq"] == SFREQ and raw.n_times == 10 * SFREQ
    # Written data equal the simulation (EDF stores 16-bit samples: within 0.1 µV).
    expected = simulate_recording(1, "rest", duration=10.0, seed=1).get_data()
    assert np.abs(raw.get_data() - expected).max() < 1e-7


def test_conditions_differ_in_band_power_for_every_subject():
    for subject in (1, 2, 3):
        rest = simulate_recording(subject, "rest", duration=30.0, seed=0)
        task = simulate_recording(subject, "task", duration=30.0, seed=0)
        for channel in ("O1", "O2", "Pz"):
            ratio = band_power(rest, channel, 8, 13) / band_power(task, channel, 8, 13)
            assert ratio > 2.0, (subject, channel, ratio)
        assert band_power(task, "Fz", 4, 8) > 1.5 * band_power(rest, "Fz", 4, 8)
        assert band_power(task, "C3", 15, 28) > 1.3 * band_power(rest, "C3", 15, 28)
        # At rest alpha dominates posteriorly, not frontally.
        assert band_power(rest, "O1", 8, 13) > 2 * band_power(rest, "F3", 8, 13)


def test_leave_one_subject_out_band_power_classifier_separates_conditions():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    bands = [(4, 8), (8, 13), (13, 30)]
    features, labels, groups = [], [], []
    for subject in range(1, 6):
        for label, condition in enumerate(("rest", "task")):
            raw = simulate_recording(subject, condition, duration=20.0, seed=3, blinks=False)
            data = raw.get_data(picks="eeg").reshape(19, 10, 500).transpose(1, 0, 2)
            spectrum = np.abs(np.fft.rfft(data * np.hanning(500), axis=-1)) ** 2
            freqs = np.fft.rfftfreq(500, 1 / SFREQ)
            power = [spectrum[..., (freqs >= lo) & (freqs < hi)].mean(-1) for lo, hi in bands]
            features.append(np.log10(np.stack(power, -1)).reshape(10, -1))
            labels += [label] * 10
            groups += [subject] * 10
    x, y, g = np.vstack(features), np.array(labels), np.array(groups)
    scores = []
    for subject in range(1, 6):
        test = g == subject
        model = LogisticRegression(max_iter=2000).fit(x[~test], y[~test])
        scores.append(balanced_accuracy_score(y[test], model.predict(x[test])))
    assert np.mean(scores) > 0.9, scores


def test_amplitudes_are_realistic_and_alpha_peak_is_subject_specific():
    raw = simulate_recording(4, "rest", duration=30.0, seed=0, blinks=False, line_freq=None)
    rms = raw.get_data(picks="eeg").std(axis=1)
    assert (rms > 5e-6).all() and (rms < 60e-6).all(), rms
    peaks = []
    for subject in (1, 2, 3, 4):
        rest = simulate_recording(subject, "rest", duration=30.0, seed=0)
        psd = rest.compute_psd(picks=["O1"], fmin=7, fmax=14, n_fft=1000, verbose="error")
        peaks.append(psd.freqs[np.argmax(psd.get_data()[0])])
    assert all(8.5 <= p <= 12.0 for p in peaks), peaks
    assert len(set(peaks)) > 1, peaks


def test_blinks_are_frontal_and_on_the_eog():
    with_blinks = simulate_recording(1, "rest", duration=30.0, seed=5)
    without = simulate_recording(1, "rest", duration=30.0, seed=5, blinks=False)
    blink = with_blinks.get_data() - without.get_data()
    amplitude = dict(zip(with_blinks.ch_names, np.abs(blink).max(axis=1), strict=True))
    assert 80e-6 <= amplitude["Fp1"] <= 170e-6
    assert amplitude["EOG"] > amplitude["Fp1"] > 3 * amplitude["Cz"] > amplitude["O1"]
    eog = blink[with_blinks.ch_names.index("EOG")] > 30e-6
    n_blinks = int(np.sum(eog[1:] & ~eog[:-1]))
    assert 30 / 7 <= n_blinks <= 30 / 2.5, n_blinks


@pytest.mark.parametrize("line_freq", [50.0, 60.0])
def test_line_noise_at_the_requested_frequency(line_freq):
    raw = simulate_recording(2, "task", duration=20.0, seed=0, line_freq=line_freq)
    clean = simulate_recording(2, "task", duration=20.0, seed=0, line_freq=None)
    at_line = band_power(raw, "Cz", line_freq - 0.5, line_freq + 0.5)
    assert at_line > 10 * band_power(raw, "Cz", line_freq - 6, line_freq - 3)
    assert at_line > 10 * band_power(clean, "Cz", line_freq - 0.5, line_freq + 0.5)
    assert raw.info["line_freq"] == line_freq


def test_heart_rate_depends_on_the_condition_and_the_eeg_not_on_the_ecg():
    rates = {}
    for subject in (1, 2, 3):
        for condition in ("rest", "task"):
            raw = simulate_recording(subject, condition, duration=30.0, seed=0)
            ecg = raw.get_data(picks=["ECG"])[0]
            assert 0.5e-3 < ecg.max() < 2e-3  # R-peaks near 1 mV
            features = heart_features(ecg, SFREQ, np.arange(0.0, 28.0, 2.0), 2.0)
            assert all(reason is None for reason in features.reasons)
            hr = float(np.mean(features.values[:, features.names.index("hr")]))
            assert abs(hr - CONDITION_HEART_RATES[condition]) < 10, (subject, condition, hr)
            rates[subject, condition] = hr
            if subject == 1:
                without = simulate_recording(subject, condition, duration=30.0, seed=0, ecg=False)
                assert without.ch_names == [*EEG_CHANNELS, "EOG"]
                assert np.array_equal(without.get_data(), raw.get_data(picks=["eeg", "eog"]))
    for subject in (1, 2, 3):
        assert 8 < rates[subject, "task"] - rates[subject, "rest"] < 22, rates
    # Subjects differ in their resting heart rate.
    assert np.ptp([rates[s, "rest"] for s in (1, 2, 3)]) > 2, rates


def test_reproducible_with_a_seed():
    a = simulate_recording(3, "rest", duration=5.0, seed=7).get_data()
    b = simulate_recording(3, "rest", duration=5.0, seed=7).get_data()
    c = simulate_recording(3, "rest", duration=5.0, seed=8).get_data()
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="lower-case letters only"):
        simulate_recording(1, "Rest 1")
    with pytest.raises(ValueError, match="below sfreq / 2"):
        simulate_recording(1, "rest", sfreq=100.0, line_freq=50.0)
    with pytest.raises(ValueError, match="subject must be an integer >= 1"):
        simulate_recording(0, "rest")
    with pytest.raises(ValueError, match="fmt must be 'edf' or 'fif'"):
        simulate_study(tmp_path, fmt="mat")
    with pytest.raises(ValueError, match="distinct"):
        simulate_study(tmp_path, conditions=("rest", "rest"))
    assert list(tmp_path.iterdir()) == []
