"""An ECG-only GDF file in `eegemo preprocess`: read by MNE, processed as physiology alone."""

from __future__ import annotations

import struct
from pathlib import Path

import mne
import numpy as np
import pytest

from eegemo.eeg.batch import preprocess
from eegemo.physio.heart import FEATURES

from .test_physio_preprocess import HR, SECONDS, SFREQ, config, ecg, provenance

RATE = 60.0
GDF_LABEL = "discovery.label_pattern='_(?P<label>[a-z]+)\\.gdf$'"

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def write_gdf(path: Path, name: str, signal: np.ndarray, sfreq: float) -> Path:
    """Write one channel, in volts, as a GDF 2.10 file of int16 samples in microvolts.

    GDF 2.10 (A. Schlögl, "GDF - A general dataformat for biosignals", arXiv cs/0608052),
    little-endian throughout, as MNE's ``_read_gdf_header`` reads it:

    - fixed header, 256 bytes: version ``"GDF 2.10"``, patient and recording ids (blank),
      start date and birthday 0 (unknown), header length in 256-byte blocks (2), number
      of data records, record duration as a rational number of seconds (1/1), number of
      channels (1); everything else zero.
    - channel header, 256 bytes: label, transducer (blank), physical dimension ``"uV"``
      with its code 4275, physical min/max (symmetric about zero, covering the signal),
      digital min/max (-32767/32767), low-pass, high-pass and notch NaN (unknown),
      samples per record (``sfreq``), data type 3 (int16), electrode position 0,
      impedance 255 (unknown).
    - data records of ``sfreq`` samples each (the signal is padded with zeros to whole
      records), then an empty event table (mode 1, 0 events).

    Reading, the physical value of a digital sample ``d`` is
    ``pmin + (d - dmin) * (pmax - pmin) / (dmax - dmin)``.
    """
    per_record = int(sfreq)
    assert per_record == sfreq, "one-second records need a whole number of samples"
    n_records = -(-len(signal) // per_record)
    microvolts = np.zeros(n_records * per_record)
    microvolts[: len(signal)] = np.asarray(signal, float) * 1e6
    pmax = float(np.ceil(np.abs(microvolts).max())) or 1.0
    pmin, dmin, dmax = -pmax, -32767.0, 32767.0
    digital = np.round((microvolts - pmin) * (dmax - dmin) / (pmax - pmin) + dmin)

    fixed = struct.pack(
        "<8s66s10s4B64s16sQQH6s8s6s6s12s12sq2IHH",
        b"GDF 2.10", b"", b"", 0, 0, 0, 0, b"", b"", 0, 0, 2, b"", b"", b"", b"", b"",
        b"", n_records, 1, 1, 1, 0,
    )  # fmt: skip
    channel = struct.pack(
        "<16s80s6sH4d68s3f2i3fB19s",
        name.encode("ascii"), b"", b"uV", 4275, pmin, pmax, dmin, dmax, b"",
        np.nan, np.nan, np.nan, per_record, 3, 0.0, 0.0, 0.0, 255, b"",
    )  # fmt: skip
    events = struct.pack("<B3sf", 1, b"\0\0\0", sfreq)
    assert len(fixed) == len(channel) == 256
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fixed + channel + digital.astype("<i2").tobytes() + events)
    return path


@pytest.fixture(scope="module")
def heart() -> np.ndarray:
    return ecg(rate=RATE, seed=1)


@pytest.fixture(scope="module")
def study(heart, tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    write_gdf(raw / "sub-02_alone.gdf", "ECG", heart, SFREQ)
    return raw


def test_the_gdf_writer_gives_mne_the_rate_the_name_and_the_values(study, heart):
    raw = mne.io.read_raw_gdf(study / "sub-02_alone.gdf", preload=True, verbose="error")
    assert raw.info["sfreq"] == SFREQ and raw.ch_names == ["ECG"]
    assert raw.n_times == len(heart) and len(raw.annotations) == 0
    # GDF carries no channel types: MNE reads every channel as EEG, and eegemo types
    # the ECG by its name.
    step = 2 * np.ceil(np.abs(heart).max() * 1e6) * 1e-6 / 65534
    assert np.abs(raw.get_data()[0] - heart).max() <= step / 2 * 1.001


def test_an_ecg_only_gdf_file_is_processed_as_physiology_alone(study, tmp_path):
    out = tmp_path / "out"
    result = preprocess(study, out, config(GDF_LABEL), progress=False)
    assert result.ok, result.failures
    assert result.processed == ["sub-02_alone"]
    prov = provenance(out, "sub-02_alone")
    assert set(prov["outputs"]) == {"physio"} and prov["physio"]["alone"]
    assert prov["physio"]["channel"] == "ECG" and prov["physio"]["type"] == "ecg"
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
    values = np.load(out / prov["outputs"]["physio"]["path"], allow_pickle=False)
    assert values.shape == (SECONDS // 2, len(FEATURES))
    assert abs(np.nanmedian(values[:, HR]) - RATE) < 3
