"""Bad channels: noisy and bridged channels found and interpolated; autoreject's local
thresholds on epochs where the package is installed."""

from __future__ import annotations

import json
import sys

import mne
import numpy as np
import pytest

from eegemo.config import from_dict
from eegemo.eeg.channels import NOISY_CRITERIA, ChannelsConfig, load_montage, prepare_channels
from eegemo.eeg.io import read_raw
from eegemo.errors import ConfigError, RecordingError

NAMES = "Fp1 Fp2 F7 F3 Fz F4 F8 T7 C3 Cz C4 T8 P7 P3 Pz P4 P8 O1 O2".split()
SFREQ = 250.0
CHECKS = ["flat", "poor_contact", "deviation", "correlation", "hf_noise", "bridged"]


def clean_eeg(seconds: float = 60.0, seed: int = 0, n_channels: int = 19) -> np.ndarray:
    """EEG-like data in volts: 1/f sources below the electrodes, smeared over the scalp
    (neighbours correlate), an occipito-parietal alpha rhythm and 1 µV sensor noise."""
    rng = np.random.default_rng(seed)
    names = NAMES[:n_channels]
    n = int(seconds * SFREQ)
    pos = load_montage("standard_1020").get_positions()["ch_pos"]
    xyz = np.array([pos[name] for name in names])
    mixing = np.exp(-((np.linalg.norm(xyz[:, None] - xyz[None], axis=2) / 0.06) ** 2))
    freqs = np.fft.rfftfreq(n, 1 / SFREQ)
    shape = (len(names), freqs.size)
    spectrum = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    sources = np.fft.irfft(spectrum / np.maximum(freqs, 1.0), n)
    sources /= sources.std(axis=1, keepdims=True)
    t = np.arange(n) / SFREQ
    alpha = np.sin(2 * np.pi * (10.0 * t + 0.002 * np.cumsum(rng.standard_normal(n))))
    weight = np.array([2.0 if c in ("O1", "O2", "Pz", "P3", "P4") else 0.3 for c in names])
    data = 10.0 * mixing @ sources + 8.0 * np.outer(weight, alpha)
    return (data + rng.standard_normal(data.shape)) * 1e-6


def as_raw(data: np.ndarray, sfreq: float = SFREQ) -> mne.io.RawArray:
    info = mne.create_info(NAMES[: len(data)], sfreq, "eeg")
    return mne.io.RawArray(data.copy(), info, verbose="error")  # not a view: it is changed


def corrupt(data: np.ndarray, seed: int = 1) -> np.ndarray:
    """C4 strong white noise; P7 disconnected (a random drift); F3 and Fz bridged (their
    mean, each with 0.5 µV of its own noise); T8 flat."""
    rng = np.random.default_rng(seed)
    out = data.copy()
    n = out.shape[1]
    i = NAMES.index
    out[i("C4")] = 60e-6 * rng.standard_normal(n)
    out[i("P7")] = 5e-6 * np.cumsum(rng.standard_normal(n))
    mean = (out[i("F3")] + out[i("Fz")]) / 2
    out[i("F3")] = mean + 0.5e-6 * rng.standard_normal(n)
    out[i("Fz")] = mean + 0.5e-6 * rng.standard_normal(n)
    out[i("T8")] = 0.0
    return out


def test_a_clean_recording_loses_no_channel():
    raw, report = prepare_channels(as_raw(clean_eeg()), ChannelsConfig())
    assert report["bad"] == {} and report["noisy"] == {} and report["bridged"] == []
    assert report["notes"] == [] and raw.ch_names == NAMES
    assert list(report["bad_rules"]) == CHECKS
    rules = report["bad_rules"]
    assert rules["deviation"].startswith("robust z-score of the amplitude")
    assert rules["correlation"].startswith("largest absolute correlation with another channel")
    assert rules["hf_noise"].startswith("robust z-score of the amplitude above 50 Hz")
    assert "compute_bridged_electrodes" in rules["bridged"]
    assert rules["poor_contact"] == "not applied: no contact-quality channels"


def test_noisy_bridged_and_flat_channels_are_found_and_interpolated():
    data = clean_eeg()
    bad = corrupt(data)
    with pytest.raises(RecordingError) as info:
        prepare_channels(as_raw(bad), ChannelsConfig())
    assert info.value.stage == "channels"
    assert info.value.message.startswith(
        "recording: 5 of 19 EEG channels are flat (peak-to-peak below 1 µV in most 1-s "
        "windows) or are noisy (amplitude deviation, low correlation, high-frequency noise) "
        "or are bridged: F3, Fz, C4, T8, P7; too few carry a signal "
        "(channels.max_bad_fraction = 0.25, channels.min_channels = 8, "
    )

    raw, report = prepare_channels(as_raw(bad), ChannelsConfig(max_bad_fraction=0.3))
    assert report["flat"] == ["T8"]
    assert report["noisy"]["C4"] == list(NOISY_CRITERIA)  # all three criteria
    assert "deviation" in report["noisy"]["P7"] and set(report["noisy"]) == {"C4", "P7"}
    assert report["bridged"] == [["F3", "Fz"]]
    assert report["bad"] == {
        "F3": "bridged with Fz",
        "Fz": "bridged with F3",
        "C4": "noisy: amplitude deviation, low correlation, high-frequency noise",
        "T8": "flat",
        "P7": report["bad"]["P7"],
    }
    json.dumps(report)  # the provenance is JSON
    assert report["notes"][0].startswith("flat channel T8 (peak-to-peak below 1 µV")
    assert report["notes"][1].startswith("noisy channels C4 (amplitude deviation, low ")
    assert report["notes"][1].endswith(
        "marked bad and interpolated from the other 16 EEG channels (rules: "
        "channels.bad_rules in the provenance)"
    )
    assert report["notes"][2].startswith(
        "bridged channels F3 and Fz interpolated from the other 14 EEG channels and a "
        "virtual channel at the centre of each bridged group"
    )
    # Every channel is kept, and the replaced ones carry their neighbours' signal: close to
    # what the electrode would have recorded, at the same scale.
    assert raw.ch_names == NAMES and raw.info["bads"] == []
    out = raw.get_data()
    for name in ("C4", "P7", "T8", "F3", "Fz"):
        k = NAMES.index(name)
        assert np.corrcoef(out[k], data[k])[0, 1] > 0.6, name
        assert 0.7 < out[k].std() / data[k].std() < 1.4, name
    # The bridged pair is no longer one signal twice.
    assert np.var(out[NAMES.index("F3")] - out[NAMES.index("Fz")]) * 1e12 > 16


def test_each_check_can_be_switched_off():
    bad = corrupt(clean_eeg())
    config = ChannelsConfig(max_bad_fraction=0.3, noisy_deviation_z=0, noisy_hf_z=0)
    _, report = prepare_channels(as_raw(bad), config)
    assert report["noisy"] == {"C4": ["correlation"]}  # P7's drift deviates, no more
    assert report["bad_rules"]["deviation"] == "off (channels.noisy_deviation_z = 0)"
    assert report["bad_rules"]["hf_noise"] == "off (channels.noisy_hf_z = 0)"

    _, report = prepare_channels(as_raw(bad), ChannelsConfig(noisy=False, bridged=False))
    assert report["bad"] == {"T8": "flat"}
    rules = report["bad_rules"]
    assert rules["correlation"] == "off (channels.noisy = false)"
    assert rules["bridged"] == "off (channels.bridged = false)"


def test_checks_not_applied_where_they_mean_nothing():
    # Too short for the filters of both checks.
    _, report = prepare_channels(as_raw(corrupt(clean_eeg(8.0))), ChannelsConfig())
    assert report["bad"] == {"T8": "flat"}
    assert report["bad_rules"]["deviation"] == "not applied: recording shorter than 10 s"
    assert report["bad_rules"]["bridged"] == "not applied: recording shorter than 10 s"
    # Independent white noise: no channel correlates with any other, nor should it be
    # dropped for that; at 100 Hz nothing lies above 50 Hz.
    noise = 20e-6 * np.random.default_rng(0).standard_normal((19, 2000))
    _, report = prepare_channels(as_raw(noise, sfreq=100.0), ChannelsConfig())
    assert report["bad"] == {}
    assert report["bad_rules"]["correlation"].startswith("not applied: most channels meet it")
    assert report["bad_rules"]["hf_noise"] == ("not applied: sampling rate 100 Hz, at most 125 Hz")
    # Robust statistics across five channels mean little.
    _, report = prepare_channels(
        as_raw(clean_eeg(20.0, n_channels=5)), ChannelsConfig(min_channels=5)
    )
    assert report["bad_rules"]["hf_noise"] == "not applied: fewer than 6 channels to compare"
    # Amplitudes far below those of EEG: the absolute cutoff of bridging means nothing.
    _, report = prepare_channels(as_raw(clean_eeg(20.0) / 20), ChannelsConfig(flat_uv=0.01))
    assert report["bridged"] == []
    assert report["bad_rules"]["bridged"].startswith(
        "not applied: the median electrical distance of all pairs"
    )


def test_a_channel_copied_in_the_file_is_bridged_to_its_copy():
    data = clean_eeg(20.0)
    data[NAMES.index("Pz")] = data[NAMES.index("P3")]
    raw, report = prepare_channels(as_raw(data), ChannelsConfig())
    assert report["bridged"] == [["P3", "Pz"]]
    assert report["bad_rules"]["bridged"].startswith("identical samples, or electrical")
    out = raw.get_data(picks=["P3", "Pz"])
    assert not np.allclose(out[0], out[1])


def test_bad_channel_settings_are_validated():
    for key, value, expected in [
        ("noisy_deviation_z", -1, "noisy_deviation_z: expected a number >= 0"),
        ("noisy_hf_z", -0.5, "noisy_hf_z: expected a number >= 0"),
        ("noisy_correlation", 1.5, "noisy_correlation: expected a number from 0 to 1"),
        ("noisy_correlation_fraction", 1.0, "noisy_correlation_fraction: expected a number"),
        ("max_bad_fraction", -0.1, "max_bad_fraction: expected a number from 0 to 1"),
    ]:
        with pytest.raises(ConfigError, match=expected):
            from_dict(ChannelsConfig, {key: value})


def test_real_eegmat_recording_keeps_nearly_all_channels(eegmat_dir):
    raw, report = prepare_channels(read_raw(eegmat_dir / "Subject00_1.edf"), ChannelsConfig())
    assert len(report["bad"]) <= 2 and report["noisy"] == {}
    assert report["n_eeg"] == 19 and raw.info["bads"] == []
    # Checks that ran, each with its rule.
    assert not any(report["bad_rules"][c].startswith(("off", "not")) for c in CHECKS[2:])


# autoreject (optional) -----------------------------------------------------------------


def epochs_with_artifacts() -> mne.Epochs:
    data = clean_eeg(40.0)
    rng = np.random.default_rng(3)
    n = int(2 * SFREQ)
    data[:, 5 * n : 6 * n] += 400e-6 * rng.standard_normal((19, n))  # epoch 5: all channels
    data[NAMES.index("O1"), 9 * n : 10 * n] += 300e-6 * rng.standard_normal(n)  # 9: O1 only
    raw = as_raw(data)
    raw.set_montage(load_montage("standard_1020"))
    return mne.make_fixed_length_epochs(raw, duration=2.0, preload=True, verbose="error")


def test_autoreject_drops_and_repairs_epochs():
    pytest.importorskip("autoreject")
    from eegemo.eeg.rejection import autoreject_epochs

    epochs = epochs_with_artifacts()
    clean, record = autoreject_epochs(epochs)
    assert record["method"] == "autoreject" and record["dropped"] == [5]
    assert len(clean) == len(epochs) - 1 and clean.drop_log[5] == ("AUTOREJECT",)
    assert record["interpolated"] >= 1 and set(record["thresholds_uv"]) == set(NAMES)
    assert record["rule"].startswith("autoreject (10-fold cross-validation): per-channel")
    # Epoch 9 is kept, its O1 repaired.
    o1 = clean.get_data(picks=["O1"])[:, 0]
    assert np.ptp(o1, axis=1).max() * 1e6 < 200
    json.dumps(record)


def test_autoreject_missing_or_too_few_epochs(monkeypatch):
    from eegemo.eeg.rejection import autoreject_epochs, require_autoreject

    epochs = epochs_with_artifacts()
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "autoreject", None)  # as if not installed
        with pytest.raises(ConfigError, match=r"needs the autoreject package \(pip install"):
            require_autoreject()
        with pytest.raises(ConfigError, match="autoreject"):
            autoreject_epochs(epochs)
    pytest.importorskip("autoreject")
    with pytest.raises(RecordingError, match="autoreject needs at least 2 epochs"):
        autoreject_epochs(epochs[:1])
