"""Discovery of recordings (patterns, label map, labels CSV, BIDS) and robust reading."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from eegemo.config import from_dict
from eegemo.eeg.io import (
    RECORDING_EXTENSIONS,
    DiscoveryConfig,
    Recording,
    discover,
    read_labels_csv,
    read_raw,
    recording_extension,
)
from eegemo.errors import ConfigError, EegemoError, RecordingError

SUBJECT = r"(?P<subject>sub-\d+)"
LABEL = r"_(?P<label>[a-z]+)(_raw)?\.(edf|fif)$"


def touch(root: Path, *names: str) -> list[Path]:
    paths = []
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        paths.append(path)
    return paths


def test_recording_extension_recognises_compound_endings():
    assert recording_extension("a/b/x_raw.fif.gz") == ".fif.gz"
    assert recording_extension("X.EDF") == ".edf"
    assert recording_extension("rec.vhdr") == ".vhdr"
    for side in ("rec.vmrk", "rec.eeg", "rec.fdt", "rec.json", "rec_events.tsv", ".edf"):
        assert recording_extension(side) is None


def test_patterns_assign_subject_and_label_and_ignore_side_files(tmp_path):
    touch(
        tmp_path,
        "sub-01_rest.edf",
        "sub-01_task.edf",
        "group/sub-02_rest_raw.fif",
        "group/sub-02_task_raw.fif",
        "sub-03_rest.vhdr",  # label pattern only accepts edf/fif: a reported mismatch
        "sub-03_rest.vmrk",
        "sub-03_rest.eeg",
        "notes.json",
        "channels.tsv",
        "x.fdt",
        ".sub-04_rest.edf.tmp-99.edf",  # temporary of an interrupted write
    )
    config = DiscoveryConfig(subject_pattern=SUBJECT, label_pattern=LABEL)
    recordings, failures = discover(tmp_path, config)
    got = [(r.path.relative_to(tmp_path).as_posix(), r.id, r.subject, r.label) for r in recordings]
    assert got == [
        ("group/sub-02_rest_raw.fif", "sub-02_rest_raw", "sub-02", "rest"),
        ("group/sub-02_task_raw.fif", "sub-02_task_raw", "sub-02", "task"),
        ("sub-01_rest.edf", "sub-01_rest", "sub-01", "rest"),
        ("sub-01_task.edf", "sub-01_task", "sub-01", "task"),
    ]
    assert all(isinstance(r, Recording) for r in recordings)
    assert [(p.name, msg) for p, msg in failures] == [
        ("sub-03_rest.vhdr", f"sub-03_rest.vhdr: file name does not match label_pattern {LABEL!r}")
    ]


def test_default_subject_is_the_file_stem_and_label_none(tmp_path):
    touch(tmp_path, "a.edf", "b.bdf", "c_raw.fif.gz")
    recordings, failures = discover(tmp_path, DiscoveryConfig())
    assert failures == []
    assert [(r.id, r.subject, r.label) for r in recordings] == [
        ("a", "a", None),
        ("b", "b", None),
        ("c_raw", "c_raw", None),
    ]


def test_subject_pattern_mismatch_is_a_failure_not_a_crash(tmp_path):
    touch(tmp_path, "sub-1_x.edf", "pilot.edf")
    recordings, failures = discover(tmp_path, DiscoveryConfig(subject_pattern=SUBJECT))
    assert [r.subject for r in recordings] == ["sub-1"]
    assert len(failures) == 1
    assert failures[0][0].name == "pilot.edf"
    assert "does not match subject_pattern" in failures[0][1]


def test_label_map_renames_and_reports_unknown_labels(tmp_path):
    touch(tmp_path, "Subject00_1.edf", "Subject00_2.edf", "Subject00_3.edf")
    config = DiscoveryConfig(
        subject_pattern=r"(?P<subject>Subject\d+)_",
        label_pattern=r"_(?P<label>\d)\.edf$",
        label_map={"1": "rest", "2": "task"},
    )
    recordings, failures = discover(tmp_path, config)
    assert [(r.subject, r.label) for r in recordings] == [
        ("Subject00", "rest"),
        ("Subject00", "task"),
    ]
    assert failures[0][0].name == "Subject00_3.edf"
    assert "label '3' is not in label_map (known: 1, 2)" in failures[0][1]


def test_ids_use_relative_paths_when_stems_collide(tmp_path):
    touch(tmp_path, "site A/rec.edf", "siteB/rec.edf", "siteB/other.edf")
    recordings, _ = discover(tmp_path, DiscoveryConfig())
    ids = [r.id for r in recordings]
    assert ids == ["site_A__rec", "other", "siteB__rec"]
    assert len(set(ids)) == len(ids)


def test_labels_csv_takes_precedence_and_unlisted_files_fail(tmp_path):
    raw = tmp_path / "raw"
    touch(raw, "s1/rec1.edf", "s1/rec2.edf", "s2/rec3.bdf", "s2/unlisted.edf")
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(
        "recording,subject,label\n"
        "s1/rec1.edf,alice,happy\n"  # relative path
        "rec2,alice,sad\n"  # stem
        "rec3.bdf,../../bob,\n"  # file name; a subject that tries to leave OUT
    )
    config = DiscoveryConfig(labels_csv=str(csv_path), label_pattern=r"(?P<label>rec\d)")
    recordings, failures = discover(raw, config)
    assert [(r.id, r.subject, r.label) for r in recordings] == [
        ("rec1", "alice", "happy"),
        ("rec2", "alice", "sad"),
        ("rec3", "bob", "rec3"),  # empty label cell: the pattern applies
    ]
    assert [p.name for p, _ in failures] == ["unlisted.edf"]
    assert "not listed in labels CSV" in failures[0][1]


def test_labels_csv_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,condition\na.edf,rest\n")
    with pytest.raises(ConfigError, match=r"needs a 'recording' column.*found columns: file"):
        read_labels_csv(bad)
    twice = tmp_path / "twice.csv"
    twice.write_text("recording,label\na.edf,rest\na.edf,task\n")
    with pytest.raises(ConfigError, match=r"twice.csv:3: recording 'a.edf' is listed twice"):
        read_labels_csv(twice)
    with pytest.raises(ConfigError, match="file not found"):
        read_labels_csv(tmp_path / "missing.csv")


def test_bids_tree_is_detected_and_entities_used(tmp_path):
    (tmp_path / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.8.0"}')
    touch(
        tmp_path,
        "participants.tsv",
        "sub-01/ses-1/eeg/sub-01_ses-1_task-rest_run-1_eeg.edf",
        "sub-01/ses-1/eeg/sub-01_ses-1_task-rest_run-1_eeg.json",
        "sub-01/ses-1/eeg/sub-01_ses-1_task-rest_run-1_channels.tsv",
        "sub-01/ses-1/eeg/sub-01_ses-1_task-music_run-1_eeg.vhdr",
        "sub-01/ses-1/eeg/sub-01_ses-1_task-music_run-1_eeg.eeg",
        "sub-01/ses-1/eeg/sub-01_ses-1_task-music_run-1_eeg.vmrk",
        "sub-02/eeg/sub-02_task-rest_eeg.set",
        "sub-02/eeg/sub-02_task-rest_eeg.fdt",
        "derivatives/clean/sub-01/eeg/sub-01_task-rest_desc-clean_eeg.fif",
        "sourcedata/sub-01/raw.edf",
    )
    recordings, failures = discover(tmp_path, DiscoveryConfig(label_map={"rest": "baseline"}))
    assert failures == [(tmp_path / "sub-01/ses-1/eeg/sub-01_ses-1_task-music_run-1_eeg.vhdr",
                         "sub-01/ses-1/eeg/sub-01_ses-1_task-music_run-1_eeg.vhdr: label 'music' "
                         "is not in label_map (known: rest)")]  # fmt: skip
    assert [(r.id, r.subject, r.label) for r in recordings] == [
        ("sub-01_ses-1_task-rest_run-1_eeg", "sub-01", "baseline"),
        ("sub-02_task-rest_eeg", "sub-02", "baseline"),
    ]
    # Without the label map, the task entity is the label.
    recordings, failures = discover(tmp_path, DiscoveryConfig())
    assert failures == []
    assert [r.label for r in recordings] == ["music", "rest", "rest"]
    # Turning BIDS off treats the tree as plain folders: derivatives are then found too.
    recordings, _ = discover(tmp_path, DiscoveryConfig(bids=False))
    assert len(recordings) == 5


def test_split_fif_continuations_are_not_separate_recordings(tmp_path):
    touch(
        tmp_path,
        "big_raw.fif",
        "big_raw-1.fif",
        "big_raw-2.fif",
        "sub-01_split-01_eeg.fif",
        "sub-01_split-02_eeg.fif",
        "lonely-1.fif",  # no first part beside it: a recording of its own
    )
    recordings, _ = discover(tmp_path, DiscoveryConfig())
    assert [r.path.name for r in recordings] == [
        "big_raw.fif",
        "lonely-1.fif",
        "sub-01_split-01_eeg.fif",
    ]


def test_single_file_and_missing_or_empty_raw(tmp_path):
    (path,) = touch(tmp_path, "one_rest.edf")
    recordings, failures = discover(path, DiscoveryConfig(label_pattern=r"_(?P<label>\w+)\.edf"))
    assert recordings == [Recording(path=path, id="one_rest", subject="one_rest", label="rest")]
    assert failures == []
    with pytest.raises(EegemoError, match="no such file or folder"):
        discover(tmp_path / "nope", DiscoveryConfig())
    empty = tmp_path / "empty"
    touch(empty, "readme.txt", "x.vmrk")
    with pytest.raises(EegemoError) as info:
        discover(empty, DiscoveryConfig())
    assert "contains no recordings" in str(info.value)
    assert all(ext in str(info.value) for ext in RECORDING_EXTENSIONS)


def test_patterns_are_validated_at_the_boundary():
    with pytest.raises(ConfigError, match=r"needs a named group \(\?P<subject>"):
        DiscoveryConfig(subject_pattern=r"sub-\d+")
    with pytest.raises(ConfigError, match=r"^label_pattern: .* not a valid regular expression"):
        DiscoveryConfig(label_pattern="(?P<label>[a-z")
    with pytest.raises(ConfigError, match=r"\(\?P<label>"):
        from_dict(DiscoveryConfig, {"label_pattern": "(?P<subject>x)"})
    config = from_dict(DiscoveryConfig, {"label_map": {"1": "rest"}, "bids": False})
    assert config.label_map == {"1": "rest"} and config.bids is False


# ----------------------------------------------------------------------------- reading


FORMATS = {
    # file: (n_channels, sfreq)
    "test_NO.vhdr": (65, 5000.0),
    "test_raw.set": (32, 128.0),
    "test_bdf_stim_channel.bdf": (4, 500.0),
    "test_reduced.edf": (139, 512.0),
    "chtypes_edf.edf": (42, 200.0),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_real_format_reads(formats_dir, name):
    raw = read_raw(formats_dir / name)
    n_channels, sfreq = FORMATS[name]
    assert len(raw.ch_names) == n_channels
    assert raw.info["sfreq"] == sfreq
    assert raw.preload and raw.n_times > 0
    assert np.isfinite(raw.get_data()).all()


def test_discover_formats_dir_finds_only_the_recordings(formats_dir):
    recordings, failures = discover(formats_dir, DiscoveryConfig())
    assert sorted(r.path.name for r in recordings) == sorted(FORMATS)
    assert failures == []


def test_eegmat_recording_reads(eegmat_dir):
    raw = read_raw(eegmat_dir / "Subject00_2.edf")
    assert raw.info["sfreq"] == 500.0
    assert raw.n_times == 62 * 500
    assert "EEG T3" in raw.ch_names and "ECG ECG" in raw.ch_names


def test_truncated_edf_is_rejected(eegmat_dir, tmp_path):
    data = (eegmat_dir / "Subject00_2.edf").read_bytes()
    cut = tmp_path / "cut.edf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError) as info:
        read_raw(cut)
    assert info.value.stage == "read"
    assert "cut.edf: file is truncated (header announces 62 data records, the file holds 30)" in (
        info.value.message
    )
    header_only = tmp_path / "header.edf"
    header_only.write_bytes(data[:100])
    with pytest.raises(RecordingError, match=r"header\.edf: file is truncated or corrupt"):
        read_raw(header_only)


@pytest.mark.parametrize("name", ["junk.edf", "junk.bdf", "junk_raw.fif", "junk.gdf", "junk.cnt"])
def test_corrupt_files_give_a_read_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(RecordingError) as info:
        read_raw(path)
    assert info.value.stage == "read"
    assert info.value.message.startswith(f"cannot read {name}: file is truncated or corrupt (")


def test_missing_side_file_missing_file_empty_file_and_unknown_type(formats_dir, tmp_path):
    for suffix in (".vhdr", ".vmrk"):
        shutil.copy(formats_dir / f"test_NO{suffix}", tmp_path)
    with pytest.raises(RecordingError, match=r"test_NO.vhdr: a file it refers to is missing"):
        read_raw(tmp_path / "test_NO.vhdr")
    with pytest.raises(RecordingError, match="file not found"):
        read_raw(tmp_path / "absent.edf")
    (tmp_path / "empty.edf").write_bytes(b"")
    with pytest.raises(RecordingError, match=r"empty.edf: file is empty \(0 bytes\)"):
        read_raw(tmp_path / "empty.edf")
    (tmp_path / "table.csv").write_text("a,b\n")
    with pytest.raises(RecordingError, match=r"table.csv: unsupported file type \(supported: "):
        read_raw(tmp_path / "table.csv")


def test_names_that_clash_once_made_safe_get_distinct_stable_ids(tmp_path):
    names = ["rec 1.edf", "rec_1.edf", "Sübject.edf", "Säbject.edf", "Rec2.edf", "rec2.edf"]
    touch(tmp_path / "a", "other.edf", *names)
    touch(tmp_path / "b", *reversed(names))  # another place, created in another order
    with pytest.warns(UserWarning) as caught:
        recordings, failures = discover(tmp_path / "a", DiscoveryConfig())
    ids = {r.path.name: r.id for r in recordings}
    assert failures == [] and len(set(ids.values())) == len(names) + 1
    assert ids["other.edf"] == "other"
    assert ids["rec 1.edf"].startswith("rec_1-") and ids["rec_1.edf"].startswith("rec_1-")
    assert ids["Sübject.edf"].startswith("S_bject-") and ids["Säbject.edf"].startswith("S_bject-")
    assert ids["Rec2.edf"].startswith("Rec2-") and ids["rec2.edf"].startswith("rec2-")
    # One subject per file, as without a clash.
    assert len({r.subject for r in recordings}) == len(recordings)
    rec = next(r for r in recordings if r.path.name == "rec 1.edf")
    assert rec.notes[0] == (
        f"id {rec.id} for 'rec 1.edf', which would otherwise share the id 'rec_1' with "
        "'rec_1.edf'"
    )
    assert {str(w.message) for w in caught} == {n for r in recordings for n in r.notes}
    with pytest.warns(UserWarning):
        again, _ = discover(tmp_path / "b", DiscoveryConfig())
    assert {r.path.name: r.id for r in again} == {k: v for k, v in ids.items() if k in names}


def test_symbolic_links_loops_and_aliases_are_reported(tmp_path):
    raw = tmp_path / "raw"
    touch(raw, "a.edf", "sub/b.edf")
    outside = touch(tmp_path / "elsewhere", "c.edf")[0]
    (raw / "loop.edf").symlink_to("loop.edf")
    (raw / "gone.edf").symlink_to("nowhere.edf")
    (raw / "alias.edf").symlink_to("a.edf")
    (raw / "sub" / "up").symlink_to("..")
    (raw / "linked").symlink_to(outside.parent)
    with pytest.warns(UserWarning, match=r"sub/up: symbolic link loop \(leads back to \.\)"):
        recordings, failures = discover(raw, DiscoveryConfig())
    assert [r.path.relative_to(raw).as_posix() for r in recordings] == [
        "a.edf", "linked/c.edf", "sub/b.edf"
    ]  # fmt: skip
    assert [msg for _, msg in failures] == [
        "alias.edf: the same file as a.edf (through a symbolic link), read once",
        "gone.edf: symbolic link to a missing file (nowhere.edf): it cannot be opened",
        "loop.edf: symbolic link loop: it cannot be opened",
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_a_folder_that_cannot_be_searched_is_reported(tmp_path):
    touch(tmp_path, "a.edf", "locked/b.edf")
    (tmp_path / "locked").chmod(0o000)
    try:
        recordings, failures = discover(tmp_path, DiscoveryConfig())
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert [r.id for r in recordings] == ["a"]
    assert [msg for _, msg in failures] == ["locked: cannot search the folder (Permission denied)"]
