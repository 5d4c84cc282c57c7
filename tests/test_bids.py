"""A BIDS dataset read through mne-bids: channels.tsv bads, events.tsv conditions,
electrodes.tsv positions, PowerLineFrequency, and BIDS subjects, sessions and runs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from eegemo.eeg.simulate import simulate_recording

mne_bids = pytest.importorskip("mne_bids")
pytest.importorskip("edfio")  # write_raw_bids converts to EDF with it

ROOT = Path(__file__).resolve().parents[1]
BAD = "Cz"


def _write_dataset(root: Path, scratch: Path) -> list[str]:
    """Two subjects, 30 s each, rest then task; Cz bad in sub-01's channels.tsv.

    The events.tsv conditions are renamed afterwards (rest -> calm, task -> effort): the
    FIF files still hold the original annotations, so only labels read from events.tsv
    are calm and effort.
    """
    import mne

    stems = []
    for subject in (1, 2):
        raw = mne.concatenate_raws(
            [
                simulate_recording(subject, "rest", duration=15.0, seed=subject, line_freq=60.0),
                simulate_recording(subject, "task", duration=15.0, seed=subject, line_freq=60.0),
            ]
        )
        raw.set_annotations(mne.Annotations([0.0, 15.0], [14.9, 14.9], ["rest", "task"]))
        raw.info["line_freq"] = 60.0
        fif = scratch / f"s{subject}_raw.fif"
        raw.save(fif, overwrite=True, verbose="error")
        raw = mne.io.read_raw_fif(fif, verbose="error")
        path = mne_bids.BIDSPath(
            subject=f"{subject:02d}", session="01", task="emotion", run="01",
            datatype="eeg", root=root,
        )  # fmt: skip
        mne_bids.write_raw_bids(raw, path, format="EDF", overwrite=True, verbose="error")
        if subject == 1:
            mne_bids.mark_channels(path, ch_names=[BAD], status="bad", verbose="error")
        events = path.copy().update(suffix="events", extension=".tsv").fpath
        text = Path(events).read_text()
        Path(events).write_text(
            text.replace("\trest\t", "\tcalm\t").replace("\ttask\t", "\teffort\t")
        )
        stems.append(path.basename)
    participants = root / "participants.tsv"
    rows = participants.read_text().splitlines()
    participants.write_text("\n".join(
        [rows[0] + "\tgroup"] + [row + ("\tcontrol" if "sub-01" in row else "\tpatient")
                                  for row in rows[1:]]) + "\n")
    return stems


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, list[str]]:
    base = tmp_path_factory.mktemp("bids")
    return base / "ds", _write_dataset(base / "ds", base)


@pytest.fixture(scope="module")
def bids_run(dataset, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, list[str]]:
    ds, stems = dataset
    out = tmp_path_factory.mktemp("bids_out") / "out"
    proc = subprocess.run(
        [
            sys.executable, "-m", "eegemo", "preprocess", ds, out,
            "--set", "epochs.source=annotations", "--set", "stages.ica.max_iter=100",
            "--no-progress",
        ],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    return out, proc, stems


def test_bids_sidecars_are_honoured(bids_run):
    out, proc, _ = bids_run
    assert proc.returncode == 0, proc.stderr
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["subject"] for r in rows} == {"sub-01", "sub-02"}
    # Conditions from events.tsv, not from the annotations inside the EDF files.
    assert {r["label"] for r in rows} == {"calm", "effort"}
    recordings = {r["recording"] for r in rows}
    assert len(recordings) == 2
    assert all("ses-01" in rec and "run-01" in rec for rec in recordings)

    provs = {
        rec: json.loads((out / "provenance" / f"{rec}.json").read_text()) for rec in recordings
    }
    first = next(p for rec, p in provs.items() if "sub-01" in rec)
    second = next(p for rec, p in provs.items() if "sub-02" in rec)
    text = json.dumps(first)
    assert f'"{BAD}": "bad in channels.tsv"' in text
    assert "interpolated" in text
    assert "bad in channels.tsv" not in json.dumps(second)
    for prov in provs.values():
        found = json.dumps(prov)
        assert '"line_freq": 60.0' in found
        assert '"electrodes": true' in found
        # the default line_freq = "auto" notches at the PowerLineFrequency of the sidecar
        notch = next(s for s in prov["stages"] if s["name"] == "notch")
        assert notch["line_freq"] == 60.0 and notch["line_freq_from"] == "recording"
        assert notch["freqs"][0] == 60.0 and 50.0 not in notch["freqs"]
        # participants.tsv is an input of the recording (editing it recomputes)
        assert any(f["path"].endswith("participants.tsv") for f in prov["recording"]["inputs"])
    # the subject's row of participants.tsv is in the provenance
    assert first["channels"]["bids"]["participant"]["group"] == "control"
    assert second["channels"]["bids"]["participant"]["group"] == "patient"


def test_without_mne_bids_files_are_read_plain_with_one_note(dataset, monkeypatch):
    from eegemo.eeg import bids
    from eegemo.eeg.io import discover, read_raw

    ds, _ = dataset
    monkeypatch.setattr(bids, "have_mne_bids", lambda: False)
    with pytest.warns(UserWarning, match="mne-bids") as record:
        recordings, failures = discover(ds)
    assert not failures and len([w for w in record if "mne-bids" in str(w.message)]) == 1
    assert [r.subject for r in recordings] == ["sub-01", "sub-02"]
    raw = read_raw(recordings[0].path)
    assert bids.sidecar_facts(raw) is None
    assert set(raw.annotations.description) == {"rest", "task"}  # the file's own


def test_bids_reader_keeps_sidecar_facts(dataset):
    from eegemo.eeg.bids import sidecar_facts
    from eegemo.eeg.io import discover, read_raw

    ds, _ = dataset
    recordings, _ = discover(ds)
    raw = read_raw(recordings[0].path)
    facts = sidecar_facts(raw)
    assert facts["bads"] == [BAD] and facts["line_freq"] == 60.0
    assert (facts["subject"], facts["session"], facts["run"]) == ("01", "01", "01")
    assert set(raw.annotations.description) == {"calm", "effort"}


def test_bids_sidecars_are_inputs_of_the_cache_key(tmp_path):
    from eegemo.eeg.cache import input_files

    eeg = tmp_path / "sub-01" / "ses-01" / "eeg"
    eeg.mkdir(parents=True)
    stem = "sub-01_ses-01_task-emotion_run-01"
    names = [f"{stem}_eeg.edf", f"{stem}_channels.tsv", f"{stem}_events.tsv",
             f"{stem}_eeg.json", "sub-01_ses-01_electrodes.tsv", "sub-01_ses-02_events.tsv",
             "sub-02_ses-01_task-emotion_run-01_channels.tsv", "notes.txt"]
    for name in names:
        (eeg / name).write_text(name)
    found = [f.name for f in input_files(eeg / names[0])]
    assert found[0] == names[0]
    assert sorted(found[1:]) == sorted(names[1:5])  # same subject and session only
    assert [f.name for f in input_files(tmp_path / "Subject01_1.edf")] == ["Subject01_1.edf"]
