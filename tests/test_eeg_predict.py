"""``eegemo predict`` on new EEG recordings, and ``eegemo evaluate``'s per-subject scores.

A tiny simulated study (4 subjects, rest and task, 40 s each) is preprocessed without
ICA and a tiny model trained on it for two epochs, once for the module.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import mne
import numpy as np
import pytest

from eegemo.cli import main
from eegemo.eeg.predict import check_eeg_model
from eegemo.eeg.simulate import simulate_recording, simulate_study
from eegemo.errors import EegemoError

PIPELINE = """\
[discovery]
subject_pattern = '(?P<subject>sub-\\d+)'
label_pattern = '_(?P<label>[a-z]+)\\.edf$'

[[stages]]
name = "bandpass"
l_freq = 1.0
h_freq = 45.0

[[stages]]
name = "rereference"

[topomap]
res = 16

[physio]
enabled = false
"""
TINY = ["--set", "epochs=2", "--set", "model=topo_cnn", "--set", "model_kwargs.width=4",
        "--set", "batch_size=16", "--set", "threads=1", "--no-progress"]
CLASSES = ["rest", "task"]
EPOCH_COLUMNS = ["source", "subject", "recording", "index", "onset_s", "predicted",
                 "p_rest", "p_task", "error"]


def write_edf(path: Path, subject: int, condition: str, duration: float) -> Path:
    raw = simulate_recording(subject, condition, duration=duration, sfreq=125.0, seed=2,
                             ecg=False)
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")
    return path


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from threadpoolctl import threadpool_limits

    root = tmp_path_factory.mktemp("eeg_predict")
    pipeline = root / "pipeline.toml"
    pipeline.write_text(PIPELINE, encoding="utf-8")
    with threadpool_limits(limits=1):
        simulate_study(root / "raw", n_subjects=4, duration=40.0, sfreq=125.0, seed=1,
                       ecg=False)
        assert main(["preprocess", str(root / "raw"), str(root / "prep"), "--config",
                     str(pipeline), "--no-progress"]) == 0
        assert main(["train", "--data", str(root / "prep"), "--out", str(root / "run"),
                     *TINY]) == 0
        new = root / "new"
        new.mkdir()
        write_edf(new / "sub-05_visit.edf", 5, "task", duration=30.0)
    return root


def test_a_new_subjects_recording_gets_per_epoch_probabilities_and_a_summary(
    study, tmp_path, capsys
):
    recording = study / "new" / "sub-05_visit.edf"
    before = files_under(study / "new")
    table = tmp_path / "epochs.csv"
    assert main(["predict", str(recording), "--model", str(study / "run"), "--json",
                 "--csv", str(table)]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["classes"] == CLASSES and result["normalization"] == "subject"
    assert str(study / "prep" / "provenance") in result["preprocessing"]
    [summary] = result["results"]
    assert summary["source"] == str(recording) and summary["recording"] == "sub-05_visit"
    assert summary["subject"] == "sub-05_visit"  # a single file is its own subject
    columns, rows = read_csv(table)
    assert columns == EPOCH_COLUMNS
    assert 0 < len(rows) == summary["epochs"] <= 15
    assert [int(r["index"]) for r in rows] == list(range(len(rows)))
    onsets = [float(r["onset_s"]) for r in rows]
    assert onsets == sorted(onsets) and all(o % 2.0 == 0 for o in onsets)
    probs = np.array([[float(r["p_rest"]), float(r["p_task"])] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert [r["predicted"] for r in rows] == [CLASSES[i] for i in probs.argmax(axis=1)]
    assert [summary["probabilities"][c] for c in CLASSES] == pytest.approx(probs.mean(0),
                                                                          abs=1e-5)
    assert summary["label"] == CLASSES[int(probs.mean(0).argmax())]
    shares = [np.mean(probs.argmax(axis=1) == i) for i in range(2)]
    assert [summary["label_shares"][c] for c in CLASSES] == pytest.approx(shares, abs=1e-4)
    # 30 s give at most 15 epochs: too few for the subject's own statistics
    [warning] = result["warnings"]
    assert warning.startswith("subject sub-05_visit: ") and "fewer than 20" in warning
    assert err.count("warning: subject sub-05_visit") == 1
    assert files_under(study / "new") == before  # nothing written beside the input


def test_a_broken_file_gets_one_line_and_the_others_are_predicted(study, tmp_path, capsys):
    folder = tmp_path / "visits"
    folder.mkdir()
    shutil.copy(study / "new" / "sub-05_visit.edf", folder / "sub-05_a.edf")
    (folder / "sub-06_b.edf").write_bytes(b"0       this is no EDF file")
    work, table = tmp_path / "work", tmp_path / "epochs.csv"
    args = ["predict", str(folder), "--model", str(study / "run"), "--work", str(work),
            "--csv", str(table)]
    assert main(args) == 1
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in err
    assert lines[0].startswith(f"{folder / 'sub-05_a.edf'}: ")
    assert "of subject sub-05: " in lines[0]  # the run's subject pattern
    assert lines[1].startswith(f"{folder / 'sub-06_b.edf'}: error: [read] ")
    _, rows = read_csv(table)
    good = [r for r in rows if not r["error"]]
    assert good and {r["recording"] for r in good} == {"sub-05_a"}
    assert [r["source"] for r in rows if r["error"]] == [str(folder / "sub-06_b.edf")]
    assert (work / "manifest.csv").is_file() and files_under(folder) == ["sub-05_a.edf",
                                                                        "sub-06_b.edf"]

    assert main(args) == 1  # the work folder is reused
    assert capsys.readouterr().out.strip().splitlines() == lines


def test_work_folders_that_would_mix_with_the_users_files_are_refused(study, tmp_path, capsys):
    recording = study / "new" / "sub-05_visit.edf"
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    for work, why in ((foreign, "not empty and not a work folder"),
                      (study / "new" / "work", "must lie outside the input")):
        args = ["predict", str(study / "new"), "--model", str(study / "run"), "--work",
                str(work)]
        assert main(args) == 1
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and why in err
    assert files_under(foreign) == ["notes.txt"] and not (study / "new" / "work").exists()
    assert main(["predict", str(recording), "--model", str(study / "run"), "--tta"]) == 2
    assert "--tta applies to face models" in capsys.readouterr().err


def test_a_preprocessed_folder_is_predicted_as_it_is(study, tmp_path, capsys):
    table = tmp_path / "epochs.csv"
    assert main(["predict", str(study / "prep"), "--model", str(study / "run"), "--json",
                 "--csv", str(table)]) == 0
    result = json.loads(capsys.readouterr().out)
    _, manifest = read_csv(study / "prep" / "manifest.csv")
    _, rows = read_csv(table)
    assert [(r["recording"], r["index"], r["onset_s"]) for r in rows] == [
        (m["recording"], m["index"], m["onset_s"]) for m in manifest
    ]
    assert [r["source"] for r in result["results"]] == sorted(
        str(p) for p in (study / "raw").glob("*.edf")
    )
    assert sum(r["epochs"] for r in result["results"]) == len(manifest)
    assert not result["warnings"] or all("fewer than 20" in w for w in result["warnings"])

    assert main(["predict", str(study / "prep"), "--model", str(study / "run"), "--csv",
                 str(study / "prep" / "manifest.csv")]) == 1
    assert "would overwrite the input" in capsys.readouterr().err
    assert main(["predict", str(study / "prep"), "--model", str(study / "run"),
                 "--config", str(study / "pipeline.toml")]) == 2
    assert "preprocessed already, so --config cannot apply" in capsys.readouterr().err


def test_recordings_are_preprocessed_and_predicted_as_the_training_data(study, tmp_path,
                                                                        capsys):
    folder = tmp_path / "again"
    folder.mkdir()
    for name in ("sub-01_rest.edf", "sub-01_task.edf"):
        shutil.copy(study / "raw" / name, folder / name)
    raw_table, prep_table = tmp_path / "raw.csv", tmp_path / "prep.csv"
    assert main(["predict", str(folder), "--model", str(study / "run"), "--csv",
                 str(raw_table)]) == 0
    assert main(["predict", str(study / "prep"), "--model", str(study / "run"), "--csv",
                 str(prep_table)]) == 0
    capsys.readouterr()
    _, again = read_csv(raw_table)
    _, before = read_csv(prep_table)
    before = [r for r in before if r["subject"] == "sub-01"]
    keys = ("subject", "recording", "index", "onset_s", "predicted")
    assert [[r[k] for k in keys] for r in again] == [[r[k] for k in keys] for r in before]
    for column in ("p_rest", "p_task"):
        np.testing.assert_allclose([float(r[column]) for r in again],
                                   [float(r[column]) for r in before], atol=2e-6)


def test_a_checkpoint_without_its_run_needs_the_pipeline(study, tmp_path, capsys):
    checkpoint = tmp_path / "model.pt"
    shutil.copy(study / "run" / "checkpoints" / "best.pt", checkpoint)
    recording = study / "new" / "sub-05_visit.edf"
    assert main(["predict", str(recording), "--model", str(checkpoint)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pass the preprocessing pipeline with --config" in err
    assert main(["predict", str(recording), "--model", str(checkpoint), "--json", "--config",
                 str(study / "pipeline.toml")]) == 0
    assert json.loads(capsys.readouterr().out)["preprocessing"] == str(study / "pipeline.toml")


def test_heart_feature_and_fused_models_are_refused_by_name():
    with pytest.raises(EegemoError, match=r"x\.pt: a model of eeg \+ physio data; predicting "
                                          r"on new recordings supports EEG topomap models"):
        check_eeg_model({"path": "x.pt", "data": {"modality": "fusion",
                                                   "inputs": ["eeg", "physio"]}})
    with pytest.raises(EegemoError, match="a model of physio data"):
        check_eeg_model({"path": "x.pt", "data": {"modality": "physio"}})


def test_evaluate_scores_each_subject_and_writes_every_prediction(study, tmp_path, capsys):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    table = tmp_path / "predictions.csv"
    assert main(["evaluate", str(study / "run"), str(study / "prep"), "--json",
                 "--predictions", str(table)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    columns, rows = read_csv(table)
    assert columns == ["subject", "recording", "index", "label", "predicted", "p_rest",
                       "p_task"]
    _, manifest = read_csv(study / "prep" / "manifest.csv")
    assert [(r["subject"], r["recording"], r["index"], r["label"]) for r in rows] == [
        (m["subject"], m["recording"], m["index"], m["label"]) for m in manifest
    ]
    assert sorted(metrics["per_subject"]) == ["sub-01", "sub-02", "sub-03", "sub-04"]
    for subject, scores in metrics["per_subject"].items():
        mine = [r for r in rows if r["subject"] == subject]
        y, p = [r["label"] for r in mine], [r["predicted"] for r in mine]
        assert scores["n"] == len(mine)
        assert scores["accuracy"] == pytest.approx(accuracy_score(y, p))
        assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p))
        assert scores["macro_f1"] == pytest.approx(f1_score(y, p, average="macro", zero_division=0))

    assert main(["evaluate", str(study / "run"), str(study / "prep"), "--predictions",
                 str(study / "prep" / "manifest.csv")]) == 1
    assert "would overwrite the input" in capsys.readouterr().err
