"""Consumer headsets out of the box: auxiliary channels set aside, contact quality read."""

from __future__ import annotations

import json
from pathlib import Path

import edfio
import mne
import numpy as np
import pytest

from eegemo.cli import main
from eegemo.eeg.channels import (
    HEADSET_CHANNELS,
    ChannelsConfig,
    channel_type_from_name,
    prepare_channels,
)
from eegemo.eeg.io import read_raw
from eegemo.errors import ConfigError, RecordingError

EPOC = ["AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4"]
SFREQ = 128.0
# What an Emotiv EPOC EDF export holds besides the 14 scalp channels, all read as EEG.
STATUS = ["COUNTER", "INTERPOLATED"]
QUALITY = ["RAW_CQ", *(f"CQ_{site}" for site in [*EPOC, "CMS", "DRL"])]
MOTION = ["GYROX", "GYROY"]
SET_ASIDE = {
    **dict.fromkeys(STATUS, "Emotiv device status"),
    **dict.fromkeys(QUALITY, "Emotiv contact quality"),
    **dict.fromkeys(MOTION, "Emotiv motion sensor"),
    "MARKER": "generic trigger",
}


def eeg_like(rng: np.random.Generator, n_channels: int, n: int) -> np.ndarray:
    """1/f background and a 10 Hz rhythm mixed across channels, in µV (tens of µV)."""
    freqs = np.fft.rfftfreq(n, 1 / SFREQ)
    spectrum = rng.standard_normal((6, freqs.size)) + 1j * rng.standard_normal((6, freqs.size))
    sources = np.fft.irfft(spectrum / np.maximum(freqs, 1.0), n)
    sources /= sources.std(axis=1, keepdims=True)
    t = np.arange(n) / SFREQ
    sources[0] += 1.5 * np.sin(2 * np.pi * (10.0 * t + 0.3 * np.cumsum(rng.standard_normal(n)) / n))
    mixing = rng.uniform(0.3, 1.0, (n_channels, len(sources)))
    return 8.0 * mixing @ sources + rng.standard_normal((n_channels, n))


def contact(n: int, scale: float, poor: float, rng: np.random.Generator) -> np.ndarray:
    """Contact-quality samples: good (full scale) except a fraction ``poor`` at 1/4 of it."""
    values = np.full(n, scale)
    values[rng.random(n) < poor] = round(scale / 4)
    return values


def write_emotiv(
    path: Path,
    seconds: float = 60.0,
    scale: float = 4.0,
    unit: str = "",
    poor: dict[str, float] | None = None,
) -> Path:
    """An EDF laid out as an Emotiv EPOC export (contact quality on ``scale``, in ``unit``).

    ``poor`` gives the fraction of poor-contact samples of some sites; their EEG is
    then mostly noise (hundreds of µV), as an electrode without contact records.
    """
    poor = poor or {}
    rng = np.random.default_rng(0)
    n = int(seconds * SFREQ)
    eeg = 4200.0 + eeg_like(rng, len(EPOC), n)  # Emotiv's EEG sits on a DC offset of ~4200 µV
    for site, fraction in poor.items():
        eeg[EPOC.index(site)] += 300.0 * rng.standard_normal(n) * (fraction > 0.5)
    columns = {
        "COUNTER": (np.arange(n) % 128, ""),
        "INTERPOLATED": (np.zeros(n), ""),
        **{site: (eeg[i], "uV") for i, site in enumerate(EPOC)},
        "RAW_CQ": (rng.integers(0, 4000, n), ""),
        **{
            f"CQ_{site}": (contact(n, scale, poor.get(site, 0.0), rng), unit)
            for site in [*EPOC, "CMS", "DRL"]
        },
        "GYROX": (1650 + rng.standard_normal(n), ""),
        "GYROY": (1650 + rng.standard_normal(n), ""),
        "MARKER": (np.zeros(n), ""),
    }
    signals = []
    for label, (values, dimension) in columns.items():
        values = np.asarray(values, float)
        low, high = float(values.min()), float(values.max())
        signals.append(
            edfio.EdfSignal(
                values,
                SFREQ,
                label=label,
                physical_dimension=dimension,
                physical_range=(low, high if high > low else low + 1.0),
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    edfio.Edf(signals).write(path)
    return path


def make_raw(names: list[str], seed: int = 0) -> mne.io.RawArray:
    rng = np.random.default_rng(seed)
    data = eeg_like(rng, len(names), int(SFREQ * 4)) * 1e-6
    return mne.io.RawArray(data, mne.create_info(names, SFREQ, "eeg"), verbose="error")


def failure(raw: mne.io.BaseRaw, config: ChannelsConfig | None = None) -> str:
    with pytest.raises(RecordingError) as info:
        prepare_channels(raw, config or ChannelsConfig())
    assert info.value.stage == "channels"
    return info.value.message


@pytest.fixture(scope="module")
def emotiv_run(tmp_path_factory) -> tuple[Path, int, dict]:
    """``eegemo preprocess`` with no options on one Emotiv export; O1 without contact
    (poor in 95 % of samples), T8 with intermittent contact (poor in 40 %)."""
    root = tmp_path_factory.mktemp("emotiv")
    write_emotiv(root / "raw" / "s01.edf", poor={"O1": 0.95, "T8": 0.4})
    status = main(["preprocess", str(root / "raw"), str(root / "out"), "--no-progress"])
    prov = json.loads((root / "out" / "provenance" / "s01.json").read_text())
    return root / "out", status, prov


def test_emotiv_edf_is_processed_from_its_14_scalp_channels(emotiv_run, capsys):
    out, status, prov = emotiv_run
    assert status == 0
    channels = prov["channels"]
    assert channels["n_eeg"] == 14 and channels["used"] == EPOC
    assert channels["set_aside"] == SET_ASIDE
    assert channels["types_set"]["MARKER"] == "stim" and channels["types_set"]["CQ_O1"] == "misc"
    assert sorted(channels["dropped"]) == sorted([*STATUS, *QUALITY, *MOTION])
    assert channels["dropped_no_position"] == []
    power = np.load(out / prov["outputs"]["bandpower"]["path"])
    assert power.shape[1:] == (14, 5) and np.isfinite(power).all()
    assert prov["epochs"]["kept"] == prov["epochs"]["total"] == 30
    assert prov["notes"][0] == (
        "22 channels recognised by name as not EEG: Emotiv device status (COUNTER, "
        "INTERPOLATED), Emotiv contact quality (RAW_CQ, CQ_AF3, CQ_F7, CQ_F3, CQ_FC5, CQ_T7, "
        "CQ_P7, CQ_O1, CQ_O2, CQ_P8, CQ_T8, CQ_FC6, ... (17 in all)), Emotiv motion sensor "
        "(GYROX, GYROY) dropped; generic trigger (MARKER) kept as trigger (stim) channel (to "
        "keep one as EEG, rename it onto a scalp site with channels.rename)"
    )


def test_a_channel_without_contact_is_marked_bad_and_interpolated(emotiv_run):
    out, _, prov = emotiv_run
    channels = prov["channels"]
    assert channels["poor_contact"] == ["O1"] and channels["flat"] == []
    quality = channels["contact_quality"]
    assert quality["full_scale"] == 4.0 and quality["poor_at_or_below"] == 2.0
    assert quality["channels"]["O1"] == "CQ_O1" and set(quality["channels"]) == set(EPOC)
    assert abs(quality["poor_fraction"]["O1"] - 0.95) < 0.01
    assert abs(quality["poor_fraction"]["T8"] - 0.4) < 0.02  # below 0.9: kept as it is
    assert quality["poor_fraction"]["AF3"] == 0.0
    assert prov["notes"][1] == (
        "channel O1 with poor contact (contact quality at most 2 of 4 in at least 90 % of "
        "samples) marked bad and interpolated from the other 13 EEG channels"
    )
    # Its 300 µV of noise is gone (left in, it dominates the recording and ICA fails on
    # it): O1 now carries the band power of its neighbours.
    power = np.load(out / prov["outputs"]["bandpower"]["path"]).mean(axis=0)
    o1, o2 = power[EPOC.index("O1")], power[EPOC.index("O2")]
    assert np.abs(o1 - o2).max() < 1.0  # log10 µV²


@pytest.mark.parametrize(
    ("scale", "unit"), [(4.0, ""), (100.0, ""), (1023.0, ""), (1023.0, "uV")]
)
def test_contact_quality_is_read_on_its_own_scale(tmp_path, scale, unit):
    path = write_emotiv(tmp_path / "s.edf", seconds=10.0, scale=scale, unit=unit,
                        poor={"F7": 1.0, "P8": 0.5})  # fmt: skip
    raw, report = prepare_channels(read_raw(path), ChannelsConfig())
    assert report["poor_contact"] == ["F7"] and raw.ch_names[:14] == EPOC
    quality = report["contact_quality"]
    assert quality["full_scale"] == scale and quality["poor_at_or_below"] == scale / 2
    # Switched off, nothing is read.
    _, report = prepare_channels(read_raw(path), ChannelsConfig(poor_contact_fraction=0))
    assert report["poor_contact"] == [] and report["contact_quality"] is None


def test_too_many_channels_without_contact_fail_the_recording(tmp_path):
    path = write_emotiv(tmp_path / "s.edf", seconds=10.0, poor=dict.fromkeys(EPOC[:5], 1.0))
    message = failure(read_raw(path))
    assert message == (
        "s.edf: 5 of 14 EEG channels have poor contact (contact quality at most 2 of 4 in at "
        "least 90 % of samples): AF3, F7, F3, FC5, T7; too few carry a signal "
        "(channels.max_bad_fraction = 0.25, channels.min_channels = 8, "
        "channels.poor_contact_fraction = 0.9)"
    )
    path = write_emotiv(tmp_path / "all.edf", seconds=10.0, poor=dict.fromkeys(EPOC, 1.0))
    assert failure(read_raw(path)) == (
        "all.edf: all 14 EEG channels have poor contact (contact quality at most 2 of 4 in at "
        "least 90 % of samples): no usable signal"
    )
    with pytest.raises(ConfigError, match="poor_contact_fraction: expected a number from 0 to 1"):
        ChannelsConfig(poor_contact_fraction=1.5)


def test_contact_quality_without_values_is_not_used():
    raw = make_raw([*EPOC, "CQ_AF3", "CQ_O1", "CQ_CMS"])
    raw._data[14:] = 0.0
    raw, report = prepare_channels(raw)
    assert report["poor_contact"] == [] and report["contact_quality"] is None
    assert raw.ch_names == EPOC
    assert report["notes"][1] == (
        "contact-quality channels CQ_AF3, CQ_O1, CQ_CMS hold no positive value: contact not "
        "checked"
    )


def test_numbered_caps_are_refused_as_before():
    aux = [*STATUS, *QUALITY, *MOTION, "MARKER", "Right AUX", "Accel Channel 0", "Other"]
    numbered = [str(i) for i in range(1, 65)]
    alone = failure(make_raw(numbered))
    assert alone.startswith(
        "recording: only 0 EEG channels have positions in montage standard_1020 (need at "
        "least 8); unpositioned: 1, 2, 3,"
    )
    assert failure(make_raw([*numbered, *aux])) == alone
    # BioSemi-style names, of which some are 10-20 names by coincidence.
    biosemi = [f"{row}{i}" for row in "ABCD" for i in range(1, 33)]
    alone = failure(make_raw(biosemi))
    assert "EEG channels match names in montage standard_1020" in alone and "of 128 " in alone
    assert failure(make_raw([*biosemi, *aux])) == alone


def test_headset_channel_names():
    assert set(HEADSET_CHANNELS) == {"Emotiv", "Muse", "OpenBCI", "generic"}
    cases = {
        # Emotiv (EPOC, EPOC+, EPOC X, Insight exports)
        "CQ_AF3": "misc", "cq_cms": "misc", "EQ_O1": "misc", "RAW_CQ": "misc",
        "SIGNAL_QUALITY": "misc", "TIME_STAMP_s": "misc", "OR_TIME_STAMP_ms": "misc",
        "ACCX": "misc", "MAGZ": "misc", "Q3": "misc", "BATTERY_PERCENT": "misc",
        "MarkerIndex": "misc", "MarkerValueInt": "stim", "HighBitFlex": "misc",
        "SaturationFlag": "misc", "COUNTER_MEMS": "misc", "INTERPOLATED_MEMS": "misc",
        # Muse
        "Right AUX": "misc", "Left AUX": "misc", "AUX": "misc", "AUX_RIGHT": "misc",
        # OpenBCI
        "Accel Channel 2": "misc", "Accel Y": "misc", "Other": "misc",
        "Analog Channel 1": "misc", "Timestamp": "misc", "Sample Index": "misc",
        # Triggers of any system
        "STI 014": "stim", "Status": "stim", "TRIGGER": "stim", "MARKER": "stim",
        "EVENT": "stim",
        # Scalp channels, numbered and unknown names are left to the montage.
        "AF3": None, "TP9": None, "EXG Channel 0": None, "Aux 3": None, "1": None,
        "C4": None, "Q4": None, "EEG AF3": None,
    }  # fmt: skip
    assert {name: channel_type_from_name(name) for name in cases} == cases


def test_muse_headset_needs_only_min_channels():
    names = ["TP9", "AF7", "AF8", "TP10", "Right AUX"]
    assert "only 4 EEG channels have positions" in failure(make_raw(names))
    raw, report = prepare_channels(make_raw(names), ChannelsConfig(min_channels=4))
    assert raw.ch_names == names[:4]
    assert report["set_aside"] == {"Right AUX": "Muse auxiliary input"}
    assert report["notes"] == [
        "1 channel recognised by name as not EEG: Muse auxiliary input (Right AUX) dropped "
        "(to keep one as EEG, rename it onto a scalp site with channels.rename)"
    ]
    # An electrode on the auxiliary input is kept by naming its site, or typed as asked.
    config = ChannelsConfig(min_channels=4, rename={"Right AUX": "Fpz"})
    raw, report = prepare_channels(make_raw(names), config)
    assert raw.ch_names == [*names[:4], "Fpz"] and report["set_aside"] == {}
    config = ChannelsConfig(min_channels=4, eog=["Right AUX"])
    raw, report = prepare_channels(make_raw(names), config)
    assert raw.get_channel_types(picks=["Right AUX"]) == ["eog"] and report["set_aside"] == {}


def test_openbci_channels_renamed_onto_their_sites():
    sites = ["Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"]
    names = [f"EXG Channel {i}" for i in range(8)]
    extra = ["Accel Channel 0", "Accel Channel 1", "Accel Channel 2", "Other", "Timestamp"]
    message = failure(make_raw([*names, *extra]))
    assert "unpositioned: EXG Channel 0, EXG Channel 1," in message and "Accel" not in message
    config = ChannelsConfig(rename=dict(zip(names, sites, strict=True)))
    raw, report = prepare_channels(make_raw([*names, *extra]), config)
    assert raw.ch_names == sites and report["n_eeg"] == 8
    assert report["set_aside"] == {
        **dict.fromkeys(extra[:3], "OpenBCI accelerometer"),
        **dict.fromkeys(extra[3:], "OpenBCI device status"),
    }
