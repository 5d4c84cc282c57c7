"""Unit tests of the processing stages, band power, epoching and the config schema."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import mne
import numpy as np
import pytest

from eegemo.config import load_config, to_dict
from eegemo.eeg.pipeline import make_epochs
from eegemo.eeg.settings import EpochsConfig, PreprocessConfig
from eegemo.eeg.simulate import simulate_recording
from eegemo.eeg.spectral import band_power
from eegemo.eeg.stages import (
    STAGES,
    Bandpass,
    BandpassParams,
    Ica,
    IcaParams,
    Notch,
    NotchParams,
    Rereference,
    RereferenceParams,
    Resample,
    ResampleParams,
    StageContext,
    build_stage,
)
from eegemo.errors import ConfigError, RecordingError

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


@pytest.fixture(autouse=True)
def one_thread():
    """As in the batch workers: one BLAS thread (faster on shared cores, reproducible)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def sim(duration: float = 20.0, sfreq: float = 250.0, **kw) -> mne.io.RawArray:
    return simulate_recording(1, "rest", duration=duration, sfreq=sfreq, seed=0, **kw)


def power_at(raw: mne.io.BaseRaw, freq: float, pick: str = "Cz") -> float:
    spectrum = raw.compute_psd(picks=[pick], fmin=freq - 1, fmax=freq + 1, verbose="error")
    psd, freqs = spectrum.get_data(return_freqs=True)
    return float(psd[0, np.argmin(np.abs(freqs - freq))])


def add_sine(raw: mne.io.BaseRaw, freq: float, amplitude: float = 20e-6) -> None:
    raw._data += amplitude * np.sin(2 * np.pi * freq * raw.times)


# ----------------------------------------------------------------------------- stages


def test_bandpass_removes_out_of_band_power_and_records():
    raw = sim()
    add_sine(raw, 80.0)
    before = power_at(raw, 80.0)
    ctx = StageContext()
    Bandpass().apply(raw, ctx)
    assert power_at(raw, 80.0) < before / 1000
    # the 19 EEG channels, the EOG and the ECG
    assert ctx.record == {"l_freq": 1.0, "h_freq": 45.0, "method": "fir", "n_channels": 21}


def test_bandpass_rejects_too_low_sampling_rate():
    raw = sim(sfreq=80.0, line_freq=None)
    with pytest.raises(RecordingError, match="80 Hz is too low for a 45 Hz") as info:
        Bandpass().apply(raw, StageContext())
    assert info.value.stage == "bandpass"


def test_notch_removes_line_noise_and_harmonics():
    raw = sim(line_freq=50.0)
    add_sine(raw, 100.0, 5e-6)
    before = power_at(raw, 50.0), power_at(raw, 100.0)
    ctx = StageContext(line_freq=50.0)
    Notch().apply(raw, ctx)
    assert ctx.record["freqs"] == [50.0, 100.0]  # 150 Hz is above Nyquist (125 Hz)
    assert power_at(raw, 50.0) < before[0] / 20
    assert power_at(raw, 100.0) < before[1] / 20


def test_notch_explicit_frequency_and_skip_above_nyquist():
    ctx = StageContext(line_freq=60.0)
    Notch(NotchParams(freqs=[60.0])).apply(sim(sfreq=250.0, line_freq=None), ctx)
    assert ctx.record["freqs"] == [60.0]
    ctx = StageContext(line_freq=60.0)
    Notch().apply(sim(sfreq=100.0, line_freq=None), ctx)
    assert ctx.record["freqs"] == [] and "Nyquist" in ctx.record["skipped"]


def test_resample_downsamples_and_never_upsamples():
    raw = sim(duration=10.0, sfreq=500.0)
    ctx = StageContext()
    Resample(ResampleParams(sfreq=250.0)).apply(raw, ctx)
    assert raw.info["sfreq"] == 250.0 and raw.n_times == 2500
    assert ctx.record == {"from_sfreq": 500.0, "sfreq": 250.0}
    ctx = StageContext()
    Resample(ResampleParams(sfreq=500.0)).apply(raw, ctx)
    assert raw.info["sfreq"] == 250.0 and "skipped" in ctx.record


def test_rereference_average_and_channel():
    raw = sim(duration=5.0)
    Rereference().apply(raw, StageContext())
    eeg = raw.get_data(picks="eeg")
    assert np.abs(eeg.mean(axis=0)).max() < 1e-12
    raw = sim(duration=5.0)
    ctx = StageContext()
    Rereference(RereferenceParams(ref="Cz")).apply(raw, ctx)
    assert np.abs(raw.get_data(picks=["Cz"])).max() == 0.0
    assert ctx.record == {"ref": ["Cz"]}
    with pytest.raises(RecordingError, match=r"reference channel.*M1") as info:
        Rereference(RereferenceParams(ref=["M1"])).apply(sim(duration=5.0), StageContext())
    assert info.value.stage == "rereference"


def _blink_correlation(raw: mne.io.BaseRaw) -> float:
    eog = raw.get_data(picks=["EOG"])[0]
    fp1 = raw.get_data(picks=["Fp1"])[0]
    return float(np.corrcoef(eog, fp1)[0, 1])


def test_ica_removes_blinks_using_the_eog_channel():
    raw = sim(duration=30.0)
    Bandpass().apply(raw, StageContext())
    Rereference().apply(raw, StageContext())
    blink_power = np.ptp(raw.get_data(picks=["Fp1"]))
    ctx = StageContext()
    Ica(IcaParams(max_iter=200)).apply(raw, ctx)
    record = ctx.record
    assert record["eog_source"] == "eog" and record["eog_channels"] == ["EOG"]
    eye = [e for e in record["excluded"] if e["criterion"] == "eog"]
    assert eye, record
    assert eye[0]["channel"] == "EOG" and abs(eye[0]["score"]) > 0.8
    assert "EOG" in eye[0]["why"]
    assert all({"component", "criterion", "score", "why"} <= set(e) for e in record["excluded"])
    # The strongest candidates are recorded whether or not they were excluded.
    assert record["eog_best"]["component"] == eye[0]["component"]
    assert record["muscle_best"]["threshold"] == 0.125
    # Blinks dominate Fp1 before; after ICA its peak-to-peak range shrinks.
    assert np.ptp(raw.get_data(picks=["Fp1"])) < 0.6 * blink_power


def test_ica_uses_frontal_channels_without_eog_and_is_reproducible():
    records = []
    for _ in range(2):
        raw = sim(duration=30.0).drop_channels(["EOG"])
        Bandpass().apply(raw, StageContext())
        ctx = StageContext()
        Ica(IcaParams(max_iter=200, muscle=False)).apply(raw, ctx)
        records.append((ctx.record, raw.get_data()))
    record = records[0][0]
    assert record["eog_source"] == "frontal proxy"
    assert record["eog_channels"] == ["Fp1", "Fp2", "F7", "F8"]
    assert record["excluded"] and record["excluded"][0]["channel"] in ("Fp1", "Fp2", "F7", "F8")
    assert records[0][0] == records[1][0]
    np.testing.assert_array_equal(records[0][1], records[1][1])


def test_ica_with_few_components_falls_back_to_correlation():
    raw = sim(duration=30.0)
    Bandpass().apply(raw, StageContext())
    ctx = StageContext()
    Ica(IcaParams(n_components=8, max_iter=200, muscle=False)).apply(raw, ctx)
    # 8 components: no z-score can reach 3, so |r| decides.
    assert ctx.record["eog_measure"] == "correlation"
    assert ctx.record["n_components"] == 8
    assert ctx.record["excluded"] and "|r| > 0.8" in ctx.record["excluded"][0]["why"]


def test_ica_iclabel_records_probabilities():
    pytest.importorskip("mne_icalabel")
    raw = sim(duration=30.0)
    Bandpass(BandpassParams(l_freq=1.0, h_freq=100.0)).apply(raw, StageContext())
    Rereference().apply(raw, StageContext())
    ctx = StageContext()
    # ICLabel was trained on extended infomax; FastICA keeps the test fast and still
    # gives the blink component a high eye-blink probability on this data.
    params = IcaParams(detect="iclabel", max_iter=200, iclabel_thresholds={"eye blink": 0.5})
    Ica(params).apply(raw, ctx)
    assert ctx.record["detect"] == "iclabel"
    eye = ctx.record["excluded"]
    assert eye and all(e["criterion"] == "iclabel:eye blink" and e["score"] >= 0.5 for e in eye)


# ----------------------------------------------------------------------------- configuration


def test_build_stage_validates_names_and_parameters():
    assert isinstance(build_stage({"name": "notch", "freqs": [60]}), Notch)
    with pytest.raises(ConfigError, match="unknown stage 'bandpas'; did you mean 'bandpass'"):
        build_stage({"name": "bandpas"})
    with pytest.raises(ConfigError, match=r"stages\.bandpass\.lfreq.*did you mean 'l_freq'"):
        build_stage({"name": "bandpass", "lfreq": 1})
    with pytest.raises(ConfigError, match=r"stages\.bandpass\.l_freq: expected below h_freq"):
        build_stage({"name": "bandpass", "l_freq": 40, "h_freq": 30})
    with pytest.raises(ConfigError, match="needs a name"):
        build_stage({"l_freq": 1})
    with pytest.raises(ConfigError, match="did you mean 'eye blink'"):
        build_stage({"name": "ica", "iclabel_thresholds": {"eye blinks": 0.9}})


@pytest.mark.skipif(importlib.util.find_spec("picard") is not None, reason="picard installed")
def test_picard_without_the_package_is_a_config_error():
    with pytest.raises(ConfigError, match="python-picard"):
        build_stage({"name": "ica", "method": "picard"})


def test_config_files_and_overrides():
    default = load_config(PreprocessConfig, PIPELINES / "default.toml")
    assert default == PreprocessConfig()
    assert [s.name for s in default.stages] == list(STAGES)
    eegmat = load_config(
        PreprocessConfig, PIPELINES / "eegmat.toml", ["stages.bandpass.h_freq=40"]
    )
    assert eegmat.stages[0].params.h_freq == 40.0 and eegmat.discovery.label_map["2"] == "task"
    assert eegmat.stages[-1].params.eog_proxy == ["Fp1", "Fp2", "F7", "F8"]
    # A stage table is written with every parameter, so provenance shows all of them.
    assert "muscle_threshold" in to_dict(eegmat)["stages"][-1]
    cfg = load_config(PreprocessConfig, None, ["stages.ica.n_components=15", "epochs.length_s=4"])
    assert cfg.stages[-1].params.n_components == 15 and cfg.epochs.length_s == 4.0
    with pytest.raises(ConfigError, match="did you mean 'length_s'"):
        load_config(PreprocessConfig, None, ["epochs.lenght_s=3"])
    with pytest.raises(ConfigError, match="overlap_s"):
        load_config(PreprocessConfig, None, ["epochs.overlap_s=2"])
    with pytest.raises(ConfigError, match=r"bands\.alpha"):
        load_config(PreprocessConfig, None, ["bandpower.bands={alpha=[13, 8]}"])


# ----------------------------------------------------------------------------- band power


def test_band_power_of_sinusoids():
    sfreq, n = 250.0, 500
    t = np.arange(n) / sfreq
    amplitude = 10e-6
    data = np.zeros((3, 2, n))
    data[:, 0] = amplitude * np.sin(2 * np.pi * 10.0 * t)  # alpha
    data[:, 1] = amplitude * np.sin(2 * np.pi * 20.0 * t)  # beta
    for method in ("welch", "fft"):
        power = band_power(data, sfreq, method=method, log10=False)
        assert power.shape == (3, 2, 5)
        # Power of a sine is A^2 / 2 = 50 µV²; Hann leakage keeps it within the band.
        np.testing.assert_allclose(power[:, 0, 2], 50.0, rtol=0.05)
        np.testing.assert_allclose(power[:, 1, 3], 50.0, rtol=0.05)
        assert power[:, 0, [0, 1, 3, 4]].max() < 1.0
    rel = band_power(data + 1e-7, sfreq, log10=False, relative=True)
    np.testing.assert_allclose(rel.sum(axis=-1), 1.0)
    logged = band_power(data + 1e-7, sfreq)
    np.testing.assert_allclose(10**logged, band_power(data + 1e-7, sfreq, log10=False))


def test_band_power_errors_name_the_problem():
    data = np.random.default_rng(0).standard_normal((2, 3, 500)) * 1e-5
    data[:, 1] = 0.0
    with pytest.raises(RecordingError, match=r"channel.*Cz.*flat"):
        band_power(data, 250.0, ch_names=["Fz", "Cz", "Pz"])
    with pytest.raises(RecordingError, match="above Nyquist"):
        band_power(data, 80.0, log10=False)
    with pytest.raises(RecordingError, match="no frequency bin"):
        band_power(data, 250.0, {"narrow": [10.2, 10.4]}, log10=False)


# ----------------------------------------------------------------------------- epochs


def test_fixed_epochs_with_overlap_and_ptp_rejection():
    raw = sim(duration=21.0, blinks=False)
    raw._data[:19, 1000:1010] += 400e-6  # a 400 µV artifact at 4.0 s
    epochs = make_epochs(raw, EpochsConfig(length_s=2.0, overlap_s=1.0), "rest")
    # Windows start every second; 20 fit into 21 s; the artifact spoils those at 3 and 4 s.
    assert epochs.report["total"] == 20
    assert epochs.report["rejected_by_rule"] == 2
    assert 3.0 not in epochs.onsets_s and 4.0 not in epochs.onsets_s
    assert epochs.data.shape == (18, 19, 500)
    assert set(epochs.labels) == {"rest"}


def test_percentile_rejection_and_annotations():
    # Cropped: the first sample is not sample 0, and onsets count from the first sample.
    raw = sim(duration=42.0, blinks=False).crop(2.0)
    assert raw.first_samp == 500
    raw._data[:10, 2600:2620] += 300e-6  # 10 of 19 channels jump at 10.4 s
    raw.set_annotations(mne.Annotations([0.0, 20.0], [20.0, 20.0], ["eyes_open", "eyes_closed"]))
    config = EpochsConfig(
        source="annotations", labels={"eyes_open": "open", "eyes_closed": "closed"}
    )
    config.reject = dataclasses.replace(config.reject, method="percentile")
    epochs = make_epochs(raw, config, None)
    assert epochs.report["total"] == 20 and epochs.report["rejected_by_rule"] == 1
    assert 10.0 not in epochs.onsets_s
    assert epochs.labels[:9] == ["open"] * 9 and epochs.labels[-10:] == ["closed"] * 10


def test_events_epochs_and_errors():
    raw = sim(duration=20.0)
    raw.set_annotations(mne.Annotations([2.0, 7.0, 12.0], [0.0, 0.0, 0.0], ["1", "2", "1"]))
    config = EpochsConfig(source="events", labels={"1": "neg", "2": "pos"}, length_s=1.0)
    epochs = make_epochs(raw, config, None)
    assert epochs.onsets_s == [2.0, 7.0, 12.0] and epochs.labels == ["neg", "pos", "neg"]
    with pytest.raises(RecordingError, match=r"no events listed .*found: 1, 2"):
        make_epochs(raw, EpochsConfig(source="events", labels={"9": "x"}), None)
    with pytest.raises(RecordingError, match="shorter than one epoch") as info:
        make_epochs(sim(duration=1.5), EpochsConfig(), None)
    assert info.value.stage == "epochs"
    config = EpochsConfig()
    config.reject = dataclasses.replace(config.reject, ptp_uv=1.0)
    with pytest.raises(RecordingError, match="all 10 epochs rejected"):
        make_epochs(sim(duration=20.0), config, None)
