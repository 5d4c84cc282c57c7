"""Heart signals in `eegemo preprocess`: features per epoch, broken leads, ECG-only files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import mne
import numpy as np
import pytest

from eegemo.config import dumps_toml, load_config, to_dict
from eegemo.eeg.batch import preprocess
from eegemo.eeg.modality import topomap_rows
from eegemo.eeg.settings import PreprocessConfig
from eegemo.eeg.simulate import simulate_recording
from eegemo.errors import EegemoError
from eegemo.manifest import read_manifest
from eegemo.physio.heart import FEATURES

from .conftest import ROOT

SFREQ = 250.0
SECONDS = 30.0
RATE = 80.0
PATTERNS = [
    "discovery.subject_pattern='(?P<subject>sub-\\d+)'",
    "discovery.label_pattern='_(?P<label>[a-z]+)\\.edf$'",
]
NO_ICA = [
    {"name": "bandpass", "l_freq": 1.0, "h_freq": 45.0},
    {"name": "notch"},
    {"name": "resample", "sfreq": 125.0},
    {"name": "rereference"},
]
HR = FEATURES.index("hr")

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def config(*overrides: str) -> PreprocessConfig:
    return load_config(PreprocessConfig, None, [*PATTERNS, *overrides], {"stages": NO_ICA})


def ecg(rate: float = RATE, seed: int = 0) -> np.ndarray:
    """A clean single-lead ECG in volts at ``rate`` beats per minute."""
    import neurokit2 as nk

    trace = nk.ecg_simulate(duration=SECONDS, sampling_rate=SFREQ, heart_rate=rate,
                            heart_rate_std=1, random_state=seed)  # fmt: skip
    return np.asarray(trace) * 1e-3


def ppg(rate: float = RATE, seed: int = 0) -> np.ndarray:
    """A photoplethysmogram at ``rate`` beats per minute, in volts."""
    import neurokit2 as nk

    trace = nk.ppg_simulate(duration=SECONDS, sampling_rate=SFREQ, heart_rate=rate,
                            random_state=seed)  # fmt: skip
    return np.asarray(trace) * 1e-4


def write_edf(path: Path, heart: dict[str, tuple[str, np.ndarray]], eeg: bool = True) -> Path:
    """An EDF with the simulated EEG (unless ``eeg`` is false) and the given heart channels."""
    channels = []
    if eeg:
        channels.append(simulate_recording(1, "rest", SECONDS, SFREQ, seed=0, ecg=False))
    for name, (ch_type, signal) in heart.items():
        info = mne.create_info([name], SFREQ, [ch_type])
        channels.append(mne.io.RawArray(signal[None], info, verbose="error"))
    raw = channels[0]
    if len(channels) > 1:
        raw.add_channels(channels[1:], force_update_info=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    mne.export.export_raw(path, raw, fmt="edf", verbose="error")
    return path


def provenance(out: Path, rec: str) -> dict:
    return json.loads((out / "provenance" / f"{rec}.json").read_text())


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """One subject with a good, an inverted, a flat and a noisy ECG and none; a PPG; an
    ECG-only file."""
    raw = tmp_path_factory.mktemp("raw")
    noise = np.random.default_rng(0).standard_normal(int(SECONDS * SFREQ)) * 3e-4
    off = ecg()
    off[int(SECONDS / 2 * SFREQ):] = 0.0  # the lead comes off half-way
    for label, heart in {
        "good": {"ECG": ("ecg", ecg())},
        "inverted": {"ECG": ("ecg", -ecg())},
        "flat": {"ECG": ("ecg", np.zeros(int(SECONDS * SFREQ)))},
        "noisy": {"ECG": ("ecg", noise)},
        "off": {"ECG": ("ecg", off)},
        "none": {},
        "pulse": {"PPG": ("misc", ppg())},
    }.items():
        write_edf(raw / f"sub-01_{label}.edf", heart)
    write_edf(raw / "sub-02_alone.edf", {"ECG": ("ecg", ecg(rate=60.0, seed=1))}, eeg=False)
    return raw


@pytest.fixture(scope="module")
def out(study, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("physio") / "out"
    result = preprocess(study, out, config(), progress=False)
    assert result.ok, result.failures
    return out


def test_heart_features_of_each_epoch_match_the_simulated_rate(out):
    prov = provenance(out, "sub-01_good")
    physio = np.load(out / prov["outputs"]["physio"]["path"], allow_pickle=False)
    topomaps = np.load(out / prov["outputs"]["topomaps"]["path"], allow_pickle=False)
    assert physio.dtype == np.float32 and physio.shape == (len(topomaps), len(FEATURES))
    assert prov["outputs"]["physio"]["shape"] == list(physio.shape)
    record = prov["physio"]
    assert record["channel"] == "ECG" and record["type"] == "ecg" and not record["alone"]
    assert record["window_s"] == 10.0 and record["features"] == list(FEATURES)
    assert record["usable"] == record["epochs"] == len(topomaps) and record["unusable"] == {}
    assert np.isfinite(physio).all() and np.abs(physio[:, HR] - RATE).max() < 4
    assert len(record["epoch_reasons"]) == len(topomaps) and "note" not in record
    assert prov["notes"] == []
    assert prov["steps"]["physio"]["reused"] is False and "physio" in prov["timings_s"]


def test_broken_leads_are_flagged_with_one_line_never_filled(out):
    n = provenance(out, "sub-01_good")["physio"]["epochs"]
    for rec, reason in (("sub-01_flat", "flat"), ("sub-01_noisy", "noise")):
        prov = provenance(out, rec)
        assert prov["physio"]["usable"] == 0 and prov["physio"]["unusable"] == {reason: n}
        assert np.isnan(np.load(out / prov["outputs"]["physio"]["path"])).all()
        # The EEG is processed as if the lead were fine.
        assert np.isfinite(np.load(out / prov["outputs"]["bandpower"]["path"])).all()
        assert prov["notes"] == [
            f"heart channel ECG (ECG): {n} of {n} epochs have no usable heart signal "
            f"({reason} {n}): NaN in their physio row"
        ]
    off = provenance(out, "sub-01_off")
    values = np.load(out / off["outputs"]["physio"]["path"])
    reasons = off["physio"]["epoch_reasons"]
    assert reasons[0] is None and reasons[-1] == "flat"
    assert (np.isnan(values).all(axis=1) == [r is not None for r in reasons]).all()
    assert off["physio"]["unusable"]["flat"] == sum(r == "flat" for r in reasons)

    inverted = provenance(out, "sub-01_inverted")
    assert inverted["physio"]["inverted"] and inverted["physio"]["usable"] == n
    assert inverted["notes"] == [
        "heart channel ECG (ECG): the lead is inverted and was flipped before R-peak detection"
    ]
    good = np.load(out / provenance(out, "sub-01_good")["outputs"]["physio"]["path"])
    flipped = np.load(out / inverted["outputs"]["physio"]["path"])
    assert np.allclose(good[:, HR], flipped[:, HR], atol=1.0)


def test_a_ppg_gives_the_pulse_rate(out):
    prov = provenance(out, "sub-01_pulse")
    assert prov["channels"]["types_set"]["PPG"] == "bio"
    assert prov["physio"]["channel"] == "PPG" and prov["physio"]["type"] == "ppg"
    values = np.load(out / prov["outputs"]["physio"]["path"])
    usable = np.array([r is None for r in prov["physio"]["epoch_reasons"]])
    # The simulated pulse rate swings with breathing (73-86 here) around the set rate.
    assert usable.mean() > 0.8 and abs(np.median(values[usable, HR]) - RATE) < 6


def test_without_a_heart_channel_the_eeg_is_processed_as_before(out):
    prov = provenance(out, "sub-01_none")
    assert prov["physio"] is None and "physio" not in prov["outputs"]
    assert set(prov["outputs"]) == {"topomaps", "bandpower"}
    assert not list(out.glob("sub-01/sub-01_none_physio.npy"))


def test_an_ecg_only_file_is_processed_as_physiology_alone(out):
    prov = provenance(out, "sub-02_alone")
    assert set(prov["outputs"]) == {"physio"} and prov["physio"]["alone"]
    assert prov["channels"]["n_eeg"] == 0 and prov["bandpower"] is None
    assert prov["channels"]["eeg_unusable"] == "no EEG channels (channels: ECG)"
    assert prov["notes"] == [
        "heart channel ECG processed alone, without EEG: no EEG channels (channels: ECG)"
    ]
    assert set(prov["steps"]) == {"clean", "epochs", "physio"}
    assert {s["name"]: s.get("skipped") for s in prov["stages"]} == {
        "bandpass": None, "notch": None, "resample": None,
        "rereference": "no EEG: heart signal alone",
    }  # fmt: skip
    assert prov["epochs"]["kept"] == prov["epochs"]["total"] == SECONDS // 2
    values = np.load(out / prov["outputs"]["physio"]["path"])
    assert values.shape == (SECONDS // 2, len(FEATURES))
    assert abs(np.nanmedian(values[:, HR]) - 60.0) < 3

    with open(out / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["recording"] == "sub-02_alone"]
    assert len(rows) == SECONDS // 2
    assert {(r["path"], r["bandpower_path"], r["physio_path"]) for r in rows} == {
        ("", "", prov["outputs"]["physio"]["path"])
    }
    assert [int(r["index"]) for r in rows] == list(range(len(rows)))
    manifest = read_manifest(out)
    alone = manifest.recordings == "sub-02_alone"
    assert (manifest.paths[alone] == "").all() and (manifest.physio_paths[alone] != "").all()
    # The EEG modality leaves the heart-only rows out.
    assert set(topomap_rows(out).recordings) == set(manifest.recordings) - {"sub-02_alone"}


def test_heart_alone_needs_physio_and_a_usable_signal(study, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "sub-02_alone.edf").symlink_to(study / "sub-02_alone.edf")
    write_edf(raw / "sub-03_flat.edf", {"ECG": ("ecg", np.zeros(int(SECONDS * SFREQ)))}, False)
    noise = np.random.default_rng(1).standard_normal(int(SECONDS * SFREQ)) * 3e-4
    write_edf(raw / "sub-04_noise.edf", {"ECG": ("ecg", noise)}, eeg=False)
    result = preprocess(raw, tmp_path / "out", config("physio.enabled=false"), progress=False)
    failures = {Path(f.recording).name: (f.stage, f.error) for f in result.failures}
    assert failures["sub-02_alone.edf"] == (
        "channels",
        "sub-02_alone.edf: no EEG channels (channels: ECG); its heart channel is not used "
        "either, as physio.enabled = false",
    )
    result = preprocess(raw, tmp_path / "out", config(), progress=False)
    assert result.processed == ["sub-02_alone"]
    failures = {Path(f.recording).name: (f.stage, f.error) for f in result.failures}
    assert failures == {
        "sub-03_flat.edf": (
            "channels",
            "sub-03_flat.edf: no EEG channels (channels: ECG), and its heart channel ECG is flat",
        ),
        "sub-04_noise.edf": (
            "physio",
            "no EEG, and none of the 15 epochs has a usable heart signal in ECG (noise 15): "
            "nothing to keep",
        ),
    }
    with pytest.raises(EegemoError, match="no epoch has EEG topomaps"):
        topomap_rows(tmp_path / "out")


def test_the_command_line_reports_broken_leads_in_one_line(study, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("sub-01_flat.edf", "sub-02_alone.edf"):
        (raw / name).symlink_to(study / name)
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(dumps_toml(to_dict(config())))
    proc = subprocess.run(
        [sys.executable, "-m", "eegemo", "preprocess", raw, tmp_path / "out", "--no-progress",
         "--config", pipeline],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    n = provenance(tmp_path / "out", "sub-01_flat")["epochs"]["kept"]
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note: ")]
    assert notes == [
        f"note: sub-01_flat: heart channel ECG (ECG): {n} of {n} epochs have no usable heart "
        f"signal (flat {n}): NaN in their physio row",
        "note: sub-02_alone: heart channel ECG processed alone, without EEG: no EEG channels "
        "(channels: ECG)",
    ]


def test_the_manifest_reader_checks_physio_paths_like_topomap_paths(out, tmp_path):
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    alone = next(i for i, r in enumerate(rows) if not r["path"])

    def read_with(**values) -> None:
        edited = [dict(r) for r in rows]
        edited[alone].update(values)
        with open(tmp_path / "manifest.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(edited)
        read_manifest(tmp_path)

    read_with()
    with pytest.raises(EegemoError, match=rf"line {alone + 2}: physio_path '../x.npy' leads "
                                          "outside the data folder"):  # fmt: skip
        read_with(physio_path="../x.npy")
    with pytest.raises(EegemoError, match=rf"line {alone + 2}: path '' is empty and so is "
                                          "physio_path"):  # fmt: skip
        read_with(physio_path="")
