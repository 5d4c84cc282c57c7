"""``eegemo train`` and ``eegemo evaluate`` end to end on small synthetic topomap folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from eegemo.cli import main
from eegemo.errors import ConfigError
from eegemo.train.device import resolve_device

from .synthetic_topomaps import make_topomap_folder

TINY = [
    "--set",
    "model=topo_cnn",
    "--set",
    "model_kwargs.width=4",
    "--set",
    "batch_size=16",
    "--set",
    "threads=1",
    "--no-progress",
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    train = make_topomap_folder(root / "train", n_subjects=5, epochs_per_class=8, res=8, effect=2.0)
    held_out = make_topomap_folder(
        root / "held_out",
        n_subjects=2,
        epochs_per_class=6,
        res=8,
        effect=2.0,
        seed=7,
        subject_prefix="H",
    )
    return root, train, held_out


def test_train_then_evaluate_on_unseen_subjects(folders, capsys):
    root, train, held_out = folders
    run = root / "run"
    assert main(["train", "--data", str(train), "--out", str(run), "--set", "epochs=3", *TINY]) == 0
    out = capsys.readouterr().out
    assert "val: balanced accuracy" in out and "report.md" in out
    info = json.loads((run / "run.json").read_text())
    assert not set(info["splits"]["train"]["subjects"]) & set(info["splits"]["val"]["subjects"])
    assert (run / "report" / "report.md").is_file()

    assert main(["evaluate", str(run), str(held_out), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["classes"] == ["rest", "task"] and metrics["n"] == 24
    cm = metrics["confusion_matrix"]
    assert sum(map(sum, cm)) == 24 and [sum(r) for r in cm] == [12, 12]
    assert metrics["accuracy"] == pytest.approx((cm[0][0] + cm[1][1]) / 24)
    recalls = [cm[0][0] / 12, cm[1][1] / 12]
    assert metrics["balanced_accuracy"] == pytest.approx(sum(recalls) / 2)
    assert 0 <= metrics["macro_f1"] <= 1

    assert main(["evaluate", str(run / "checkpoints" / "last.pt"), str(held_out)]) == 0
    table = capsys.readouterr().out
    assert "balanced accuracy" in table and "confusion matrix" in table

    # --set changes the recorded configuration for this evaluation only
    assert main(["evaluate", str(run), str(held_out), "--json",
                 "--set", "eeg.normalization=subject"]) == 0
    assert json.loads(capsys.readouterr().out)["confusion_matrix"] == cm
    assert main(["evaluate", str(run), str(held_out), "--set", "eeg.normalizaton=subject"]) == 2
    assert "did you mean 'normalization'" in capsys.readouterr().err


def test_cross_validation_by_subject(folders, capsys):
    root, train, _ = folders
    run = root / "cv"
    assert (
        main(
            [
                "train",
                "--data",
                str(train),
                "--out",
                str(run),
                "--cv",
                "2",
                "--set",
                "epochs=1",
                *TINY,
            ]
        )
        == 0
    )
    assert "mean +- sd" in capsys.readouterr().out
    cv = json.loads((run / "cv.json").read_text())
    tested = [s for fold in cv["folds"] for s in fold["test_subjects"]]
    assert sorted(tested) == [f"S{i:02d}" for i in range(5)] and len(cv["folds"]) == 2
    assert set(cv["balanced_accuracy"]) == {"mean", "sd"}
    for k, fold in enumerate(cv["folds"], start=1):
        splits = json.loads((run / f"fold-{k:02d}" / "run.json").read_text())["splits"]
        used = set(splits["train"]["subjects"]) | set(splits["val"]["subjects"])
        assert not used & set(fold["test_subjects"])
        report = json.loads((run / f"fold-{k:02d}" / "report" / "metrics.json").read_text())
        assert report["split"] == "test" and report["balanced_accuracy"] == pytest.approx(
            fold["balanced_accuracy"]
        )


def test_usage_errors_exit_2_with_one_line(folders, capsys):
    root, train, _ = folders
    code = main(
        ["train", "--data", str(train), "--out", str(root / "x"), "--set", "model=topo_resnett"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "unknown model 'topo_resnett'" in err
    assert "did you mean 'topo_resnet'" in err
    code = main(
        [
            "train",
            "--data",
            str(train),
            "--out",
            str(root / "x"),
            "--set",
            "optimizer.wieght_decay=0.1",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "unknown config key 'optimizer.wieght_decay'" in err
    assert "did you mean 'weight_decay'" in err
    config = root / "bad.toml"
    config.write_text("[schedule]\nwarmup = 2\n")
    assert (
        main(["train", "--data", str(train), "--out", str(root / "x"), "--config", str(config)])
        == 2
    )
    assert "did you mean 'warmup_epochs'" in capsys.readouterr().err
    for device in ("gpu", "cuda:x"):  # refused as an option and as a config value
        with pytest.raises(SystemExit):
            main(["train", "--data", str(train), "--out", str(root / "x"), "--device", device])
        assert "expected auto, cpu, cuda, cuda:N or mps" in capsys.readouterr().err
        code = main(["train", "--data", str(train), "--out", str(root / "x"),
                     "--set", f"device={device}"])
        assert code == 2 and "expected auto, cpu, cuda, cuda:N or mps" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda:1")


def test_data_errors_exit_1_with_one_line(folders, tmp_path, capsys):
    root, train, _ = folders
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r")]) == 1
    assert "expected a preprocessed EEG folder with manifest.csv" in capsys.readouterr().err
    run = root / "run"
    if not (run / "checkpoints").is_dir():
        pytest.skip("needs the run of test_train_then_evaluate_on_unseen_subjects")
    assert main(["train", "--data", str(train), "--out", str(run)]) == 1
    assert "already holds a run" in capsys.readouterr().err
    odd = make_topomap_folder(
        tmp_path / "odd", n_subjects=1, epochs_per_class=2, res=8, labels=("rest", "happy")
    )
    assert main(["evaluate", str(run), str(odd), "--json"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'happy' are not classes of the model (rest, task)" in err


def test_a_killed_run_resumes_and_finishes_with_the_same_number_of_epochs(folders):
    root, train, _ = folders
    run = root / "killed"
    epochs = 4
    cmd = [
        sys.executable,
        "-m",
        "eegemo",
        "train",
        "--data",
        str(train),
        "--out",
        str(run),
        "--set",
        f"epochs={epochs}",
        *TINY,
        "--set",
        "batch_size=4",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.is_file() and metrics.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)  # no chance to clean up, possibly mid-epoch
    proc.wait()
    done = metrics.read_text().count("\n")
    assert 1 <= done < epochs

    resumed = subprocess.run(
        [*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, epochs + 1))
    assert json.loads((run / "report" / "metrics.json").read_text())["epochs_run"] == epochs
    assert not list(run.rglob(".*.tmp-*"))


def test_topomap_recipe_restates_the_built_in_defaults(tmp_path):
    from pathlib import Path

    from eegemo.train.fusion import resolve_config
    from eegemo.train.settings import load_train_config

    from .synthetic_topomaps import make_topomap_folder

    topo = make_topomap_folder(tmp_path / "topo", n_subjects=2, epochs_per_class=2, res=8)
    recipe = Path(__file__).resolve().parents[1] / "pipelines" / "train-topomap.toml"
    assert load_train_config(recipe) == resolve_config(topo, load_train_config())
