"""Channel hygiene on real recordings and on small files built for one rule each."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from eegemo.config import from_dict
from eegemo.eeg.channels import (
    ChannelsConfig,
    channel_type_from_name,
    load_montage,
    prepare_channels,
    resolve_montage,
)
from eegemo.eeg.io import DiscoveryConfig, discover, read_raw
from eegemo.errors import ConfigError, RecordingError

EPOC = ["AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4"]


def make_raw(names, types=None, sfreq=128.0, seconds=2.0, seed=0):
    types = types or ["eeg"] * len(names)
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((len(names), int(sfreq * seconds))) * 10e-6
    return mne.io.RawArray(data, mne.create_info(list(names), sfreq, types), verbose="error")


def failure(raw, config=None) -> RecordingError:
    with pytest.raises(RecordingError) as info:
        prepare_channels(raw, config or ChannelsConfig())
    return info.value


def test_eegmat_names_types_and_positions(eegmat_dir):
    raw, report = prepare_channels(read_raw(eegmat_dir / "Subject00_2.edf"), ChannelsConfig())
    eeg = [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True)]
    assert sorted(eeg) == sorted(
        "Fp1 Fp2 F3 F4 F7 F8 T7 T8 C3 C4 P7 P8 P3 P4 O1 O2 Fz Cz Pz".split()
    )
    assert report["n_eeg"] == 19
    assert report["renamed"]["EEG T3"] == "T7" and report["renamed"]["EEG T6"] == "P8"
    assert report["renamed"]["EEG Fp1"] == "Fp1"
    assert report["types_set"] == {"EEG A2-A1": "misc", "ECG ECG": "ecg"}
    assert report["dropped"] == ["EEG A2-A1"] and report["dropped_no_position"] == []
    assert report["montage"] == "standard_1020"
    assert raw.get_channel_types(picks=["ECG ECG"]) == ["ecg"]
    positions = np.array(
        [raw.info["chs"][i]["loc"][:3] for i in mne.pick_types(raw.info, eeg=True)]
    )
    assert np.isfinite(positions).all() and (np.linalg.norm(positions, axis=1) > 0.05).all()
    # T7 sits left of the head centre, T8 right (the legacy names were mapped, not just renamed).
    pos = raw.get_montage().get_positions()["ch_pos"]
    assert pos["T7"][0] < -0.05 < 0.05 < pos["T8"][0]


def test_edf_with_ref_suffixes_and_mixed_signals(formats_dir):
    raw, report = prepare_channels(read_raw(formats_dir / "chtypes_edf.edf"), ChannelsConfig())
    assert report["renamed"]["EEG Fp1-Ref"] == "Fp1" and report["renamed"]["EEG T10-Ref"] == "T10"
    assert report["n_eeg"] == 27
    assert report["types_set"]["ECG ECG1"] == "ecg"
    assert report["types_set"]["SaO2 X9"] == "misc" and "SaO2 X9" in report["dropped"]
    assert "POL DC01" in report["dropped"]
    assert report["dropped_no_position"] == [
        "POL E", "POL PG1", "POL PG2", "POL T1", "POL T2", "POL $A1", "POL $A2",
    ]  # fmt: skip
    assert set(raw.get_channel_types()) == {"eeg", "ecg"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # 65 channels named 1..71 with gaps: nothing to place on the scalp.
        (
            "test_NO.vhdr",
            "test_NO.vhdr: only 0 EEG channels have positions in montage standard_1020 "
            "(need at least 8); unpositioned: 1, 2, 3,",
        ),
        (
            "test_raw.set",
            "test_raw.set: only 0 EEG channels have positions in montage standard_1020 "
            "(need at least 8); unpositioned: EEG 000, EEG 001,",
        ),
        (
            "test_bdf_stim_channel.bdf",
            "test_bdf_stim_channel.bdf: only 3 EEG channels have positions in montage "
            "standard_1020 (need at least 8); present: C3, C4, Cz.",
        ),
        # BioSemi-style A1..I8 names: 18 of them coincide with 10-20 names by accident.
        (
            "test_reduced.edf",
            "test_reduced.edf: only 18 of 138 EEG channels match names in montage standard_1020",
        ),
    ],
)
def test_real_files_without_usable_positions_fail_specifically(formats_dir, name, expected):
    error = failure(read_raw(formats_dir / name))
    assert error.stage == "channels"
    assert expected in error.message


def test_emg_channels_of_brainvision_file_are_typed(formats_dir):
    raw = read_raw(formats_dir / "test_NO.vhdr")
    with pytest.raises(RecordingError):
        prepare_channels(raw, ChannelsConfig())
    assert raw.get_channel_types(picks=["EMGright", "EMGleft"]) == ["emg", "emg"]


def test_bdf_passes_when_min_channels_lowered_and_keeps_status(formats_dir):
    raw = read_raw(formats_dir / "test_bdf_stim_channel.bdf")
    raw, report = prepare_channels(raw, ChannelsConfig(min_channels=3))
    assert report["n_eeg"] == 3
    assert raw.ch_names == ["C3", "C4", "Cz", "Status"]
    assert raw.get_channel_types() == ["eeg", "eeg", "eeg", "stim"]


def test_epoc_14_channel_fif_works_with_only_patterns(tmp_path):
    for subject in (1, 2):
        for label in ("calm", "fear"):
            raw = make_raw(EPOC, sfreq=128.0, seconds=4.0, seed=subject)
            raw.save(tmp_path / f"sub-{subject}_{label}_raw.fif", verbose="error")
    config = DiscoveryConfig(
        subject_pattern=r"(?P<subject>sub-\d+)", label_pattern=r"_(?P<label>[a-z]+)_raw"
    )
    recordings, failures = discover(tmp_path, config)
    assert failures == [] and len(recordings) == 4
    assert {(r.subject, r.label) for r in recordings} == {
        ("sub-1", "calm"), ("sub-1", "fear"), ("sub-2", "calm"), ("sub-2", "fear"),
    }  # fmt: skip
    raw, report = prepare_channels(read_raw(recordings[0].path), ChannelsConfig())
    assert report["n_eeg"] == 14 and raw.ch_names == EPOC
    assert report["renamed"] == {} and report["dropped_no_position"] == []


def test_case_insensitive_names_prefixes_suffixes_and_types():
    names = [
        "FP1", "fp2", "FZ", "EEG Cz-REF", "EEG-C3", "C4..", "EEG P3-LE", "T5", "T6",
        "O1-A1", "O2", "EEG 000", "VEOG", "EOG left", "STI 014", "EKG", "EMG chin", "M1-M2",
    ]  # fmt: skip
    raw, report = prepare_channels(make_raw(names), ChannelsConfig())
    assert report["renamed"] == {
        "FP1": "Fp1", "fp2": "Fp2", "FZ": "Fz", "EEG Cz-REF": "Cz", "EEG-C3": "C3",
        "C4..": "C4", "EEG P3-LE": "P3", "T5": "P7", "T6": "P8", "O1-A1": "O1",
    }  # fmt: skip
    assert report["types_set"] == {
        "VEOG": "eog", "EOG left": "eog", "STI 014": "stim", "EKG": "ecg",
        "EMG chin": "emg", "M1-M2": "misc",
    }  # fmt: skip
    assert report["dropped"] == ["M1-M2"]
    assert report["dropped_no_position"] == ["EEG 000"]  # "000" is no scalp site: not stripped
    assert report["n_eeg"] == 11
    assert raw.get_channel_types(picks=["VEOG", "STI 014", "EKG", "EMG chin"]) == [
        "eog", "stim", "ecg", "emg",
    ]  # fmt: skip


def test_channel_type_from_name_patterns():
    cases = {
        "Status": "stim", "TRIGGER": "stim", "STI101": "stim", "Event": "stim",
        "ECG ECG": "ecg", "HEOG": "eog", "EEG A2-A1": "misc", "A1-A2": "misc",
        "Resp chest": "misc", "Fp1": None, "EEG T3": None, "Temp": "misc", "T7": None,
        "PPG": "bio", "BVP": "bio", "Pleth": "bio", "SpO2": "misc", "Pulse": "misc",
    }  # fmt: skip
    assert {name: channel_type_from_name(name) for name in cases} == cases


def test_explicit_rename_drop_and_forced_types():
    names = ["Chan 1", "Chan 2", *EPOC[:8], "X1", "junk"]
    config = ChannelsConfig(
        rename={"Chan 1": "Fz", "Chan 2": "Cz", "not there": "Pz"},
        drop=["JUNK"],
        eog=["X1"],
    )
    raw, report = prepare_channels(make_raw(names), config)
    assert raw.ch_names[:2] == ["Fz", "Cz"] and "junk" not in raw.ch_names
    assert report["renamed"] == {"Chan 1": "Fz", "Chan 2": "Cz"}
    assert report["types_set"] == {"X1": "eog"}
    assert report["dropped"] == ["junk"]
    assert report["n_eeg"] == 10
    clash = ChannelsConfig(rename={"Chan 1": "Fz", "Chan 2": "Fz"})
    assert "gives several channels the name Fz" in failure(make_raw(names), clash).message


def test_duplicate_targets_keep_the_literal_name():
    # T3 would map to T7, which is already there: T3 keeps its own (montage) name.
    raw, report = prepare_channels(make_raw([*EPOC, "T3"]), ChannelsConfig())
    assert "T3" in raw.ch_names and "T7" in raw.ch_names and len(raw.ch_names) == 15
    assert report["renamed"] == {}


def test_no_eeg_and_nan_samples_are_rejected(tmp_path):
    error = failure(make_raw(["EOG", "Status"], ["eog", "stim"]))
    assert error.stage == "channels"
    assert error.message == (
        "recording: no EEG channels (channels: EOG, Status), and no ECG or PPG channel to "
        "process alone"
    )
    raw = make_raw(EPOC)
    data = raw.get_data()
    data[2, 10] = np.nan
    data[5, 3] = np.inf
    path = tmp_path / "nan_raw.fif"
    mne.io.RawArray(data, raw.info, verbose="error").save(path, verbose="error")
    error = failure(read_raw(path))
    assert error.stage == "read"
    assert error.message == "nan_raw.fif: contains NaN or infinite samples in channels F3, P7"


def test_a_heart_channel_without_usable_eeg_is_kept_alone():
    raw, report = prepare_channels(make_raw(["ECG", "Status"], ["ecg", "stim"]))
    assert raw.ch_names == ["ECG", "Status"] and report["n_eeg"] == 0
    assert report["eeg_unusable"] == "no EEG channels (channels: ECG, Status)"
    assert report["notes"] == [
        "heart channel ECG processed alone, without EEG: no EEG channels (channels: ECG, Status)"
    ]
    # A flat heart channel cannot stand in for the EEG.
    flat = make_raw(["ECG", "Status"], ["ecg", "stim"])
    flat._data[0] = 0.0
    assert failure(flat).message == (
        "recording: no EEG channels (channels: ECG, Status), and its heart channel ECG is flat"
    )
    # Too few EEG channels to place: they go, the heart signal stays.
    raw, report = prepare_channels(make_raw(["Fz", "Cz", "EKG"]))
    assert raw.ch_names == ["EKG"] and raw.get_channel_types() == ["ecg"]
    assert report["eeg_unusable"].startswith("only 2 EEG channels have positions")
    # With enough EEG, the heart channel is kept beside it and nothing is said.
    raw, report = prepare_channels(make_raw([*EPOC, "EKG"]))
    assert report["eeg_unusable"] is None and report["notes"] == [] and report["n_eeg"] == 14


def test_ppg_channels_are_typed_by_name_or_configuration_other_bio_dropped():
    names = [*EPOC, "PPG", "BVP", "finger", "GSR"]
    types = ["eeg"] * len(EPOC) + ["eeg", "misc", "eeg", "bio"]
    raw, report = prepare_channels(make_raw(names, types), ChannelsConfig(ppg=["finger"]))
    assert report["types_set"] == {"PPG": "bio", "BVP": "bio", "finger": "bio"}
    assert report["dropped"] == ["GSR"]  # a bio channel that is no PPG
    assert raw.get_channel_types(picks=["PPG", "BVP", "finger"]) == ["bio"] * 3
    raw, report = prepare_channels(make_raw(["Pleth"], ["misc"]))
    assert raw.get_channel_types() == ["bio"] and report["n_eeg"] == 0


def test_unpositioned_channels_dropped_when_enough_remain():
    raw, report = prepare_channels(make_raw([*EPOC, "E99", "Aux 3"]), ChannelsConfig())
    assert report["dropped_no_position"] == ["E99", "Aux 3"]
    assert raw.ch_names == EPOC


def test_montage_by_name_or_file_and_validation(tmp_path):
    assert resolve_montage("STANDARD_1020") == "standard_1020"
    assert resolve_montage("Biosemi32") == "biosemi32"
    assert "Fp1" in load_montage("standard_1005").ch_names
    with pytest.raises(ConfigError, match="'nope' is neither a built-in montage nor an existing"):
        ChannelsConfig(montage="nope")
    with pytest.raises(ConfigError, match="min_channels: expected at least 1"):
        from_dict(ChannelsConfig, {"min_channels": 0})
    with pytest.raises(ConfigError, match="min_positioned_fraction"):
        from_dict(ChannelsConfig, {"min_positioned_fraction": 1.5})
    # A custom cap: electrodes E1..E32 at BioSemi-32 positions, from an .sfp file.
    positions = load_montage("biosemi32").get_positions()["ch_pos"]
    cap = tmp_path / "cap.sfp"
    cap.write_text(
        "".join(
            f"E{i} {p[0] * 100:.3f} {p[1] * 100:.3f} {p[2] * 100:.3f}\n"
            for i, p in enumerate(positions.values(), start=1)
        )
    )
    names = [f"E{i}" for i in range(1, 33)]
    raw, report = prepare_channels(make_raw(names), ChannelsConfig(montage=str(cap)))
    assert raw.get_montage() is not None
    assert report["n_eeg"] == 32 and report["montage"] == str(cap)
    error = failure(make_raw(names), ChannelsConfig())
    assert "only 0 EEG channels have positions in montage standard_1020" in error.message


def test_flat_channels_are_interpolated_and_reported():
    raw = make_raw(EPOC, seconds=10.0)
    data = raw.get_data()
    data[3] = 0.0  # FC5: disconnected
    data[6] = 0.02 + 1e-9 * np.random.default_rng(1).standard_normal(data.shape[1])  # O1: DC
    raw = mne.io.RawArray(data, raw.info, verbose="error")
    raw, report = prepare_channels(raw, ChannelsConfig())
    assert report["flat"] == ["FC5", "O1"] and raw.ch_names == EPOC and raw.info["bads"] == []
    assert report["notes"] == [
        "flat channels FC5, O1 (peak-to-peak below 1 µV in most 1-s windows) interpolated "
        "from the other 12 EEG channels"
    ]
    ptp = np.ptp(raw.get_data(), axis=1) * 1e6
    assert ptp[3] > 5 and ptp[6] > 5  # now carry the signal of their neighbours


def test_a_recording_without_enough_live_channels_fails():
    raw = make_raw(EPOC, seconds=4.0)
    zeros = mne.io.RawArray(np.zeros((14, raw.n_times)), raw.info, verbose="error")
    error = failure(zeros)
    assert error.stage == "channels"
    assert error.message == (
        "recording: all 14 EEG channels are flat (peak-to-peak below 1 µV in most 1-s "
        "windows): no signal"
    )
    data = raw.get_data()
    data[:4] = 0.0
    error = failure(mne.io.RawArray(data, raw.info, verbose="error"))
    assert "4 of 14 EEG channels are flat" in error.message
    assert "channels.max_bad_fraction = 0.25" in error.message
    # A looser rule accepts it (also under its former name); flat_uv = 0 switches it off.
    flat = mne.io.RawArray(data, raw.info, verbose="error")
    _, report = prepare_channels(flat.copy(), ChannelsConfig(max_bad_fraction=0.5))
    assert report["flat"] == EPOC[:4]
    former = from_dict(ChannelsConfig, {"max_flat_fraction": 0.5})
    assert former.max_bad_fraction == 0.5 and former.max_flat_fraction is None
    with pytest.raises(ConfigError, match="max_flat_fraction: former name of max_bad_fraction"):
        ChannelsConfig(max_bad_fraction=0.3, max_flat_fraction=0.5)
    _, report = prepare_channels(flat, ChannelsConfig(flat_uv=0))
    assert report["flat"] == []
    with pytest.raises(ConfigError, match="max_flat_fraction: expected a number from 0 to 1"):
        ChannelsConfig(max_flat_fraction=2)
    with pytest.raises(ConfigError, match="flat_uv: expected"):
        ChannelsConfig(flat_uv=-1)


def test_real_eegmat_channels_are_not_flat(eegmat_dir):
    for name in ("Subject00_1.edf", "Subject18_2.edf"):
        _, report = prepare_channels(read_raw(eegmat_dir / name), ChannelsConfig())
        assert report["flat"] == [] and report["n_eeg"] == 19


def test_duplicate_channel_names_are_dropped_with_a_note(tmp_path):
    raw = make_raw(EPOC, seconds=4.0)
    path = tmp_path / "dup.edf"
    mne.export.export_raw(path, raw, fmt="edf", verbose="error")
    header = bytearray(path.read_bytes())
    header[256 + 16 : 256 + 32] = b"AF3".ljust(16)  # the second label: F7 -> AF3
    path.write_bytes(header)
    raw, report = prepare_channels(read_raw(path), ChannelsConfig())
    assert "AF3" not in raw.ch_names and report["duplicates"] == {"AF3": ["AF3-0", "AF3-1"]}
    assert report["notes"] == [
        "channel name AF3 appears 2 times (read as AF3-0, AF3-1): dropped, as which is which "
        "is unknown; keep one with channels.rename and channels.drop"
    ]
    keep = ChannelsConfig(rename={"AF3-0": "AF3", "AF3-1": "F7"})
    raw, report = prepare_channels(read_raw(path), keep)
    assert sorted(raw.ch_names) == sorted(EPOC) and report["duplicates"] == {}
