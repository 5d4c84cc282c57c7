"""Labels from ratings per trial: per-epoch labels in the manifest, binarisation, errors."""

from __future__ import annotations

import csv
from pathlib import Path

import mne
import pytest

from eegemo.config import load_config
from eegemo.eeg.batch import preprocess
from eegemo.eeg.io import DiscoveryConfig, discover
from eegemo.eeg.ratings import RatingsConfig, read_ratings
from eegemo.eeg.settings import PreprocessConfig
from eegemo.eeg.simulate import simulate_recording
from eegemo.errors import ConfigError

# No ICA, no rejection: a few seconds of data process in a moment.
STAGES = [
    {"name": "bandpass", "l_freq": 1.0, "h_freq": 45.0},
    {"name": "resample", "sfreq": 100.0},
    {"name": "rereference"},
]
# Three 8-s trials (t1, t2, t3) with 2 s between them: 4 epochs of 2 s each.
ONSETS = [0.0, 10.0, 20.0]
VALENCE = {"s01_raw": [2.0, 7.0, 6.0], "s02_raw": [3.0, 4.0, 8.0]}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("raw")
    for seed, rid in enumerate(VALENCE):
        raw = simulate_recording(seed + 1, "rest", duration=28.0, sfreq=200.0, seed=seed,
                                 blinks=False, ecg=False)  # fmt: skip
        raw.set_annotations(mne.Annotations(ONSETS, [8.0] * 3, ["t1", "t2", "t3"]))
        raw.save(folder / f"{rid}.fif", verbose="error")
    return folder


def write(path: Path, rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def by_event(tmp_path: Path) -> Path:
    rows = [["recording", "event", "Valence", "arousal"]]
    for rid, values in VALENCE.items():
        rows += [[rid, f"t{i + 1}", v, 5] for i, v in enumerate(values)]
    return write(tmp_path / "ratings.csv", rows)


def config(csv_path: Path, *overrides: str) -> PreprocessConfig:
    return load_config(
        PreprocessConfig,
        None,
        ["epochs.reject.method='none'", *overrides],
        {"stages": STAGES, "discovery.labels_csv": str(csv_path)},
    )


def manifest_labels(out: Path) -> dict[str, list[str]]:
    labels: dict[str, list[str]] = {}
    with open(out / "manifest.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            labels.setdefault(row["recording"], []).append(row["label"])
    return labels


def test_threshold_by_event_gives_per_epoch_labels(study, tmp_path):
    cfg = config(by_event(tmp_path), "epochs.source='annotations'",
                 "discovery.ratings.column='valence'",
                 "discovery.ratings.binarize='threshold'")  # fmt: skip
    result = preprocess(study, tmp_path / "out", cfg, progress=False)
    assert result.ok
    assert manifest_labels(tmp_path / "out") == {
        "s01_raw": ["low"] * 4 + ["high"] * 8,
        "s02_raw": ["low"] * 8 + ["high"] * 4,
    }


def test_median_by_time_leaves_out_epochs_between_trials(study, tmp_path):
    rows = [["subject", "onset", "offset", "valence"]]
    for rid, values in VALENCE.items():
        rows += [[int(rid[1:3]), t, t + 8, v] for t, v in zip(ONSETS, values, strict=True)]
    cfg = config(write(tmp_path / "ratings.csv", rows),
                 "discovery.subject_pattern='s(?P<subject>\\d+)'",
                 "discovery.ratings.column='valence'", "discovery.ratings.binarize='median'",
                 "discovery.ratings.names=['calm', 'pleased']")  # fmt: skip
    result = preprocess(study, tmp_path / "out", cfg, progress=False)
    assert result.ok
    # s01: median 6 -> only 7 is above; s02: median 4 -> only 8 is above.
    assert manifest_labels(tmp_path / "out") == {
        "s01_raw": ["calm"] * 4 + ["pleased"] * 4 + ["calm"] * 4,
        "s02_raw": ["calm"] * 8 + ["pleased"] * 4,
    }
    prov = (tmp_path / "out" / "provenance" / "s01_raw.json").read_text()
    assert '"outside_trials": 2' in prov  # the windows at 8 s and 18 s straddle two trials


def test_per_recording_table_still_works(study, tmp_path):
    path = write(tmp_path / "labels.csv", [["recording", "label"], ["s01_raw", "rest"],
                                           ["s02_raw.fif", "task"]])  # fmt: skip
    recordings, failures = discover(study, DiscoveryConfig(labels_csv=str(path)))
    assert not failures
    assert [(r.id, r.label, r.trials) for r in recordings] == [("s01_raw", "rest", ()),
                                                               ("s02_raw", "task", ())]  # fmt: skip


def test_recording_without_rows_is_a_failure(study, tmp_path):
    path = write(tmp_path / "r.csv", [["recording", "event", "label"], ["s01_raw", "t1", "sad"]])
    recordings, failures = discover(study, DiscoveryConfig(labels_csv=str(path)))
    assert [r.id for r in recordings] == ["s01_raw"]
    assert [r.trials[0].label for r in recordings] == ["sad"]
    assert [m for _, m in failures] == [f"s02_raw.fif: no rows in ratings CSV {path}"]


@pytest.mark.parametrize(
    ("rows", "ratings", "message"),
    [
        ([["recording", "event", "arousal"], ["s01", "t1", "3"]], {"column": "valence"},
         ":1: ratings CSV lacks the rating column 'valence' (discovery.ratings.column); "
         "found columns: recording, event, arousal"),
        ([["recording", "event", "valence"], ["s01", "t1", "3"], ["s01", "t2", "n/a"]],
         {"column": "valence", "binarize": "median"}, ":3: valence 'n/a' is not a number"),
        ([["recording", "onset", "offset", "valence"], ["s01", "0", "10", "3"],
          ["s01", "8", "12", "4"]], {"column": "valence"},
         ":3: trial 8-12 s overlaps the trial 0-10 s on line 2"),
        ([["recording", "event", "valence"], ["s01", "t1", "3"], ["s01", "t1", "4"]],
         {"column": "valence"}, ":3: event 't1' is listed twice for the same recording "
         "(first on line 2)"),
    ],
)  # fmt: skip
def test_bad_tables_are_one_line_errors(tmp_path, rows, ratings, message):
    path = write(tmp_path / "r.csv", rows)
    with pytest.raises(ConfigError) as info:
        read_ratings(path, RatingsConfig(**ratings))
    assert str(info.value) == f"{path}{message}"


def test_bad_names_are_rejected():
    with pytest.raises(ConfigError, match="two different class names"):
        RatingsConfig(names=["low", "low"])
