"""``--resume`` continues a run as it was recorded: extending ``epochs`` trains them, any
other change is refused before a byte of the run is rewritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from eegemo.cli import main
from eegemo.errors import ConfigError
from eegemo.train.trainer import Trainer

from .synthetic_topomaps import make_topomap_folder
from .test_trainer import Blobs, clock_of_epochs, tiny_config


def snapshot(run) -> dict:
    """Every file of a run folder with its bytes."""
    return {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def trainer(config, run):
    return Trainer(config, Blobs(48, 0), Blobs(24, 1), ["a", "b"], run, progress=False)


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "step"])
def test_extending_a_finished_run_trains_the_extra_epochs(tmp_path, schedule):
    sched = {"name": schedule, "warmup_epochs": 0.0, "step_size": 1, "gamma": 0.5}
    trainer(tiny_config(epochs=2, schedule=sched), tmp_path).fit()
    result = trainer(tiny_config(epochs=4, schedule=sched), tmp_path).fit(resume=True)
    assert result.epochs_run == 4 and [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]
    assert "epochs = 4\n" in (tmp_path / "config.toml").read_text()
    assert torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 4
    # the schedule is re-planned as if the run had been started for 4 epochs
    four = Trainer(tiny_config(epochs=4, schedule=sched), Blobs(48, 0), Blobs(24, 1), ["a", "b"],
                   progress=False).fit()
    for extended, planned in zip(result.history[2:], four.history[2:], strict=True):
        assert extended["lr"] == pytest.approx(planned["lr"])


def test_a_changed_configuration_is_refused_before_anything_is_written(tmp_path):
    trainer(tiny_config(epochs=2), tmp_path).fit()
    before = snapshot(tmp_path)
    last = tmp_path / "checkpoints" / "last.pt"
    changed = tiny_config(epochs=2, optimizer={"lr": 0.5}, seed=3)
    with pytest.raises(ConfigError) as info:
        trainer(changed, tmp_path).fit(resume=True)
    message = str(info.value)
    assert message.startswith(f"{last}: a resumed run keeps its configuration")
    assert "optimizer.lr is 0.01 there, got 0.5" in message and "seed is 0 there, got 3" in message
    with pytest.raises(ConfigError, match="epochs is 2 there, got 1; a resume can extend a run"):
        trainer(tiny_config(epochs=1), tmp_path).fit(resume=True)
    assert snapshot(tmp_path) == before
    # how the run is executed may change
    assert trainer(tiny_config(epochs=2, threads=2), tmp_path).fit(resume=True).epochs_run == 2


def test_more_epochs_are_refused_where_they_would_not_be_trained(tmp_path):
    # min_delta 10: only the first epoch counts as an improvement
    stopping = {"patience": 1, "min_delta": 10.0, "monitor": "loss"}
    early = tmp_path / "early"
    assert trainer(tiny_config(epochs=6, early_stopping=stopping), early).fit().epochs_run == 2
    before = snapshot(early)
    with pytest.raises(ConfigError, match=r"last.pt: epochs = 9: the run stopped early at epoch 2"):
        trainer(tiny_config(epochs=9, early_stopping=stopping), early).fit(resume=True)
    assert snapshot(early) == before

    cut = tmp_path / "cut"
    limited = trainer(tiny_config(epochs=10, time_limit_min=0.5), cut)
    limited.clock = clock_of_epochs(then=10.0)  # 3 epochs fit in 30 s
    assert limited.fit().epochs_run == 3
    with pytest.raises(ConfigError, match=r"time_limit_min \(0.5 min\) cut this run to 3 of its "
                                          r"10 epochs"):
        trainer(tiny_config(epochs=12, time_limit_min=0.5), cut).fit(resume=True)


# ------------------------------------------------------------------ the command line

TINY = ["--set", "model=topo_cnn", "--set", "model_kwargs.width=4", "--set", "batch_size=16",
        "--set", "threads=1", "--no-progress"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    make = dict(n_subjects=4, epochs_per_class=4, res=8, effect=2.0)
    return make_topomap_folder(root / "a", **make), make_topomap_folder(root / "b", seed=5, **make)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_cli_resume_refuses_other_settings_and_other_data(data, tmp_path, capsys):
    a, b = data
    run = tmp_path / "run"
    assert main(["train", "--data", str(a), "--out", str(run), "--set", "epochs=2", *TINY]) == 0
    capsys.readouterr()
    before = snapshot(run)

    args = ["train", "--out", str(run), "--resume", *TINY]
    assert main([*args, "--set", "optimizer.lr=0.5", "--set", "epochs=2"]) == 2
    assert f"{run / 'config.toml'}: a resumed run keeps its configuration, but optimizer.lr " \
           "is 0.001 there, got 0.5" in one_line_error(capsys)
    assert main([*args, "--set", "epochs=1"]) == 2
    assert "a resume can extend a run, not shorten it" in one_line_error(capsys)
    assert main([*args, "--data", str(b)]) == 2
    assert f"{run / 'run.json'}: the run was trained on {a}" in one_line_error(capsys)
    assert main([*args, "--config", str(run / "config.toml")]) == 2
    assert "drop --config" in one_line_error(capsys)
    assert main([*args, "--cv", "2"]) == 2
    assert "a single run, not a cross-validation" in one_line_error(capsys)
    assert snapshot(run) == before

    assert main([*args, "--device", "cpu"]) == 0  # a plain resume still works
    assert "best epoch" in capsys.readouterr().out
    assert main([*args, "--set", "epochs=3"]) == 0
    assert "of 3" in capsys.readouterr().out
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert json.loads((run / "report" / "metrics.json").read_text())["epochs_run"] == 3
    assert "epochs = 3\n" in (run / "config.toml").read_text()
    assert (run / "run.json").read_bytes() == before[Path("run.json")]


def test_cli_resume_of_a_cross_validation_keeps_its_folds(data, tmp_path, capsys):
    a, _ = data
    run = tmp_path / "cv"
    cmd = ["train", "--data", str(a), "--out", str(run), "--cv", "2", "--set", "epochs=1", *TINY]
    assert main(cmd) == 0
    capsys.readouterr()
    before = snapshot(run)
    args = ["train", "--out", str(run), "--resume", *TINY]
    assert main([*args, "--cv", "4"]) == 2
    assert "fold-01/run.json: fold 1 tested" in one_line_error(capsys)
    assert main(args) == 2
    assert "a cross-validation run; resume it with the --cv" in one_line_error(capsys)
    assert main([*args, "--cv", "2", "--set", "epochs=2"]) == 2
    assert "the folds of a cross-validation are trained alike" in one_line_error(capsys)
    assert snapshot(run) == before
    assert main([*args, "--cv", "2"]) == 0
