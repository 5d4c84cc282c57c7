"""The shared Trainer: training, run folder, checkpoints, resume, plug-ins, metrics."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from eegemo.config import from_dict
from eegemo.errors import ConfigError, EegemoError
from eegemo.train.checkpoint import load_checkpoint, load_model
from eegemo.train.metrics import classification_metrics, summarize
from eegemo.train.settings import TrainConfig
from eegemo.train.trainer import BalancedSampler, Trainer, class_weights


class Blobs:
    """Two-class images whose class shifts the first channel's mean."""

    def __init__(self, n: int, seed: int, in_chans: int = 2, size: int = 8, shift: float = 1.5,
                 minority: float = 0.5):
        rng = np.random.default_rng(seed)
        self.targets = (rng.random(n) < minority).astype(np.int64)
        self.x = rng.standard_normal((n, in_chans, size, size)).astype(np.float32)
        self.x[:, 0] += shift * self.targets[:, None, None]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return torch.from_numpy(self.x[i]), int(self.targets[i])


def tiny_config(**overrides) -> TrainConfig:
    data = {
        "model": "topo_cnn",
        "model_kwargs": {"width": 4, "dropout": 0.1},
        "epochs": 3,
        "batch_size": 16,
        "optimizer": {"lr": 1e-2},
        "schedule": {"warmup_epochs": 0.0},
        "threads": 1,
    }
    data.update(overrides)
    return from_dict(TrainConfig, data)


def test_fit_writes_a_complete_run_folder(tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(tiny_config(epochs=4), Blobs(96, 0), Blobs(48, 1), ["a", "b"], run,
                      data_meta={"modality": "test"}, progress=False)
    result = trainer.fit()

    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < losses[0]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]
    for key in ("train_loss", "val_loss", "val_balanced_accuracy", "val_macro_f1", "lr", "time_s"):
        assert key in json.loads(lines[0])
    assert (run / "config.toml").read_text().startswith('model = "topo_cnn"')
    for name in ("best.pt", "last.pt"):
        ckpt = torch.load(run / "checkpoints" / name, map_location="cpu", weights_only=True)
        assert ckpt["classes"] == ["a", "b"]
        assert ckpt["model"]["input_shape"] == [2, 8, 8]
        assert ckpt["data"] == {"modality": "test"}
        assert "rng" in ckpt and "optimizer_state" in ckpt
    assert load_checkpoint(run)["epoch"] == result.best_epoch
    report = json.loads((run / "report" / "metrics.json").read_text())
    assert report["split"] == "val" and report["best_epoch"] == result.best_epoch
    assert set(report["splits"]["val"]["per_class"]) == {"a", "b"}
    for name in ("learning_curves.png", "confusion_val.png", "report.md", "report.html"):
        assert (run / "report" / name).stat().st_size > 0
    assert "| a |" in (run / "report" / "report.md").read_text()
    # The HTML report shows the validation metrics and embeds both figures.
    page = (run / "report" / "report.html").read_text()
    val = report["splits"]["val"]
    for key in ("balanced_accuracy", "accuracy", "macro_f1"):
        assert f'<span class="value">{val[key]:.4f}</span>' in page
    assert f"<td>b</td><td class=\"num\">{val['per_class']['b']['precision']:.4f}</td>" in page
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 2

    # the reloaded best model predicts exactly what the trainer's best weights predict
    model, meta = load_model(run)
    assert meta["classes"] == ["a", "b"] and "model_state" not in meta
    x = torch.from_numpy(Blobs(8, 5).x)
    trainer.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), trainer.model(x))
    assert report["splits"]["val"]["balanced_accuracy"] == pytest.approx(
        trainer.evaluate(Blobs(48, 1))["balanced_accuracy"]
    )


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path):
    config = tiny_config(epochs=4)
    full = Trainer(config, Blobs(64, 0), Blobs(32, 1), ["a", "b"], tmp_path / "full",
                   progress=False)
    full.fit()

    def crash_after_two(trainer, record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    interrupted = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        Trainer(config, Blobs(64, 0), Blobs(32, 1), ["a", "b"], interrupted,
                callbacks=[crash_after_two], progress=False).fit()
    assert len((interrupted / "metrics.jsonl").read_text().splitlines()) == 2

    resumed = Trainer(config, Blobs(64, 0), Blobs(32, 1), ["a", "b"], interrupted,
                      progress=False)
    result = resumed.fit(resume=True)
    assert result.epochs_run == 4
    lines = (interrupted / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]
    for key, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value)


def test_resume_of_a_finished_run_trains_no_further(tmp_path):
    config = tiny_config(epochs=2)
    Trainer(config, Blobs(48, 0), Blobs(24, 1), ["a", "b"], tmp_path, progress=False).fit()
    again = Trainer(config, Blobs(48, 0), Blobs(24, 1), ["a", "b"], tmp_path, progress=False)
    assert again.fit(resume=True).epochs_run == 2
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2


def clock_of_epochs(*seconds: float, then: float):
    """A clock under which the epochs of a fit take ``seconds``, then ``then`` each."""
    durations = iter(seconds)
    now, started = 0.0, False

    def clock():
        nonlocal now, started
        if started:
            now += next(durations, then)
        started = not started
        return now

    return clock


def test_time_limit_shortens_the_run_and_still_anneals_the_schedule(tmp_path):
    config = tiny_config(epochs=10, time_limit_min=0.5, schedule={"name": "onecycle"})
    trainer = Trainer(config, Blobs(64, 0), Blobs(32, 1), ["a", "b"], tmp_path / "full",
                      progress=False)
    trainer.clock = clock_of_epochs(then=10.0)  # 10 s per epoch: 3 epochs fit in 30 s
    result = trainer.fit()
    assert result.epochs_run == 3
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    three = Trainer(tiny_config(epochs=3, schedule={"name": "onecycle"}), Blobs(64, 0),
                    Blobs(32, 1), ["a", "b"], progress=False).fit()
    # annealed like a 3-epoch schedule, not cut off at a high learning rate
    assert result.history[-1]["lr"] == pytest.approx(three.history[-1]["lr"])
    assert result.history[-1]["lr"] < 0.05 * config.optimizer.lr

    def crash_after_two(trainer, record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    interrupted = Trainer(config, Blobs(64, 0), Blobs(32, 1), ["a", "b"], tmp_path / "cut",
                          callbacks=[crash_after_two], progress=False)
    interrupted.clock = clock_of_epochs(then=10.0)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    resumed = Trainer(config, Blobs(64, 0), Blobs(32, 1), ["a", "b"], tmp_path / "cut",
                      progress=False)
    resumed.clock = clock_of_epochs(then=10.0)
    assert resumed.fit(resume=True).epochs_run == 3
    for key, value in trainer.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value)


def test_time_limit_plan_grows_back_when_epochs_get_faster():
    config = tiny_config(epochs=10, time_limit_min=1.5, schedule={"name": "onecycle"})
    trainer = Trainer(config, Blobs(64, 0), Blobs(32, 1), ["a", "b"], progress=False)
    # a 30 s first epoch plans 3 epochs in 90 s; at 10 s per epoch after it, 7 fit
    trainer.clock = clock_of_epochs(30.0, then=10.0)
    result = trainer.fit()
    assert result.epochs_run == 7
    seven = Trainer(tiny_config(epochs=7, schedule={"name": "onecycle"}), Blobs(64, 0),
                    Blobs(32, 1), ["a", "b"], progress=False).fit()
    assert result.history[-1]["lr"] == pytest.approx(seven.history[-1]["lr"])

    capped = Trainer(tiny_config(epochs=5, time_limit_min=1.5), Blobs(64, 0), Blobs(32, 1),
                     ["a", "b"], progress=False)
    capped.clock = clock_of_epochs(30.0, then=1.0)
    assert capped.fit().epochs_run == 5  # never more than the configured epochs


def test_fill_time_limit_grows_the_plan_beyond_epochs_into_the_budget():
    config = tiny_config(epochs=5, time_limit_min=1.5, fill_time_limit=True,
                         schedule={"name": "onecycle"})
    trainer = Trainer(config, Blobs(64, 0), Blobs(32, 1), ["a", "b"], progress=False)
    trainer.clock = clock_of_epochs(then=10.0)  # 9 epochs of 10 s fill 90 s
    result = trainer.fit()
    assert result.epochs_run == 9
    nine = Trainer(tiny_config(epochs=9, schedule={"name": "onecycle"}), Blobs(64, 0),
                   Blobs(32, 1), ["a", "b"], progress=False).fit()
    assert result.history[-1]["lr"] == pytest.approx(nine.history[-1]["lr"])

    slow = Trainer(config, Blobs(64, 0), Blobs(32, 1), ["a", "b"], progress=False)
    slow.clock = clock_of_epochs(then=40.0)  # the budget still caps a slow machine
    assert slow.fit().epochs_run == 2

    with pytest.raises(ConfigError, match="fill_time_limit: expected a time_limit_min"):
        tiny_config(fill_time_limit=True)


def test_time_limit_that_is_never_reached_changes_nothing(tmp_path):
    plain = Trainer(tiny_config(), Blobs(48, 0), Blobs(24, 1), ["a", "b"], progress=False)
    assert plain.fit().epochs_run == 3
    limited = Trainer(tiny_config(time_limit_min=60.0), Blobs(48, 0), Blobs(24, 1), ["a", "b"],
                      progress=False)
    limited.clock = clock_of_epochs(then=1.0)
    assert limited.fit().epochs_run == 3
    for key, value in plain.model.state_dict().items():
        torch.testing.assert_close(limited.model.state_dict()[key], value)


class Recorded(Blobs):
    """Blobs that record the index of every item read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[int] = []

    def __getitem__(self, i: int):
        self.seen.append(int(i))
        return super().__getitem__(i)


def optimizer_steps(trainer: Trainer) -> int:
    """Steps AdamW has taken (its per-parameter step count)."""
    return int(trainer.optimizer.state[next(trainer.model.parameters())]["step"])


def test_steps_per_epoch_makes_short_epochs_that_continue_through_the_data():
    train = Recorded(64, 0)  # 4 batches of 16 per pass
    trainer = Trainer(tiny_config(epochs=3, steps_per_epoch=3), train, Blobs(32, 1), ["a", "b"],
                      progress=False)
    train.seen.clear()  # the items read while building the trainer
    steps = []
    trainer.callbacks.append(lambda t, record: steps.append(optimizer_steps(t)))
    result = trainer.fit()
    assert trainer.steps_per_epoch == 3 and steps == [3, 6, 9]
    assert [r["train_items"] for r in result.history] == [48, 48, 48]
    assert trainer.scheduler.last_epoch == 9
    # Epoch 2 goes on with the rest of the first pass, then starts a second, reshuffled one.
    seen = train.seen
    assert len(seen) == 9 * 16
    assert sorted(seen[:64]) == sorted(seen[64:128]) == list(range(64))
    assert seen[:64] != seen[64:128]
    assert seen[48:64] != seen[:16] and not set(seen[48:64]) & set(seen[:48])

    # More steps than a pass make an epoch one pass; balanced sampling draws new batches too.
    assert Trainer(tiny_config(steps_per_epoch=100), Blobs(64, 0), None, ["a", "b"],
                   progress=False).steps_per_epoch == 4
    sampled = Recorded(64, 0)
    balanced = Trainer(tiny_config(epochs=2, steps_per_epoch=1, balance="sampler"), sampled,
                       None, ["a", "b"], progress=False)
    sampled.seen.clear()
    balanced.fit()
    assert optimizer_steps(balanced) == 2 and sampled.seen[:16] != sampled.seen[16:]

    with pytest.raises(ConfigError, match=r"steps_per_epoch: expected >= 0 .*got -1$"):
        tiny_config(steps_per_epoch=-1)


def record_learning_rates(trainer: Trainer) -> list[float]:
    """The learning rate of every optimiser step the trainer takes from now on."""
    rates, criterion = [], trainer.criterion

    def recording(outputs, targets, inputs):
        rates.append(trainer.optimizer.param_groups[0]["lr"])
        return criterion(outputs, targets, inputs)

    trainer.criterion = recording
    return rates


def test_steps_per_epoch_schedule_ends_on_the_last_planned_step(tmp_path):
    config = tiny_config(epochs=5, steps_per_epoch=2, time_limit_min=1.5, fill_time_limit=True,
                         schedule={"name": "onecycle"})
    trainer = Trainer(config, Blobs(64, 0), Blobs(32, 1), ["a", "b"], progress=False)
    trainer.clock = clock_of_epochs(then=10.0)  # the plan grows from 5 to 9 epochs of 2 steps
    rates = record_learning_rates(trainer)
    result = trainer.fit()
    assert result.epochs_run == 9 and optimizer_steps(trainer) == len(rates) == 18
    assert trainer.scheduler.total_steps == 18
    # the peak, then one-cycle's final rate (peak / div_factor 25 / final_div_factor 1e4)
    # at the last step
    assert max(rates) == pytest.approx(config.optimizer.lr, rel=0.05)
    assert rates[-1] == pytest.approx(config.optimizer.lr / 25 / 1e4)

    # A resumed run starts a fresh pass and still ends its schedule on the last step.
    config = tiny_config(epochs=4, steps_per_epoch=3, schedule={"name": "onecycle"})

    def crash_after_two(trainer, record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(config, Blobs(64, 0), Blobs(32, 1), ["a", "b"], tmp_path,
                callbacks=[crash_after_two], progress=False).fit()
    resumed = Trainer(config, Blobs(64, 0), Blobs(32, 1), ["a", "b"], tmp_path, progress=False)
    rates = record_learning_rates(resumed)
    assert resumed.fit(resume=True).epochs_run == 4
    assert optimizer_steps(resumed) == 12 and len(rates) == 6
    assert rates[-1] == pytest.approx(config.optimizer.lr / 25 / 1e4)


class TwoHeads(torch.nn.Module):
    """Like DeiT: a tuple of two logits in training mode, their mean in eval mode."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 8 * 8, 16))
        self.head, self.head_dist = torch.nn.Linear(16, 2), torch.nn.Linear(16, 2)

    def forward(self, x):
        z = self.body(x)
        a, b = self.head(z), self.head_dist(z)
        return (a, b) if self.training else (a + b) / 2


def test_soft_target_transform_and_pluggable_criterion():
    calls = []

    def mix(x, y):  # a MixUp-like batch transform returning soft targets
        soft = torch.nn.functional.one_hot(y, 2).float()
        perm = torch.randperm(len(y))
        return 0.7 * x + 0.3 * x[perm], 0.7 * soft + 0.3 * soft[perm]

    def criterion(outputs, targets, inputs):
        calls.append((type(outputs), targets.shape, inputs.shape))
        logits, dist = outputs
        return sum(torch.nn.functional.cross_entropy(o, targets) for o in (logits, dist)) / 2

    config = tiny_config(epochs=2, model="custom")
    trainer = Trainer(config, Blobs(40, 0), Blobs(20, 1), ["a", "b"], model=TwoHeads(),
                      criterion=criterion, batch_transform=mix, progress=False)
    result = trainer.fit()
    assert calls and calls[0][0] is tuple and calls[0][1] == (16, 2)
    assert calls[0][2] == (16, 2, 8, 8)
    assert result.report["val"]["n"] == 20


@pytest.mark.parametrize(
    ("optimizer", "schedule", "balance"),
    [
        ("sgd", "step", "sampler"),
        ("adam", "plateau", "loss"),
        ("adamw", "onecycle", "none"),
        ("adamw", "cosine", "loss"),
        ("sgd", "none", "loss"),
    ],
)
def test_optimizers_schedules_and_balancing(optimizer, schedule, balance):
    config = tiny_config(epochs=2, balance=balance, label_smoothing=0.1, grad_clip=1.0,
                         optimizer={"name": optimizer, "lr": 1e-2},
                         schedule={"name": schedule, "step_size": 1})
    trainer = Trainer(config, Blobs(48, 0, minority=0.2), Blobs(24, 1), ["a", "b"],
                      progress=False)
    result = trainer.fit()
    assert result.epochs_run == 2 and all(np.isfinite(r["train_loss"]) for r in result.history)
    if optimizer == "sgd":
        assert trainer.optimizer.param_groups[0]["nesterov"]
    if schedule == "step":
        assert result.history[1]["lr"] < result.history[0]["lr"]


def test_early_stopping_stops_and_keeps_the_best_epoch(tmp_path):
    config = tiny_config(epochs=30, early_stopping={"monitor": "loss", "patience": 1},
                         optimizer={"lr": 0.5})
    result = Trainer(config, Blobs(48, 0), Blobs(24, 1, shift=0.0), ["a", "b"], tmp_path,
                     progress=False).fit()
    assert result.stopped_early and result.epochs_run < 30
    assert result.epochs_run == result.best_epoch + 1
    assert load_checkpoint(tmp_path)["epoch"] == result.best_epoch


def test_training_without_validation_keeps_the_last_epoch():
    result = Trainer(tiny_config(epochs=2), Blobs(32, 0), None, ["a", "b"], progress=False).fit()
    assert result.best_epoch == 2 and result.report == {}


def test_bad_inputs_are_reported_clearly():
    with pytest.raises(EegemoError, match="at least two classes"):
        Trainer(tiny_config(), Blobs(8, 0), None, ["a"], progress=False)
    with pytest.raises(ConfigError, match="unknown model 'topo_cnm'"):
        Trainer(tiny_config(model="topo_cnm"), Blobs(8, 0), None, ["a", "b"], progress=False)
    with pytest.raises(ConfigError, match="val_fraction"):
        tiny_config(data={"val_fraction": 1.5})


def test_class_weights_and_balanced_sampler():
    targets = np.array([0] * 90 + [1] * 10)
    w = class_weights(targets, 3)
    assert w[2] == 0 and w[1] == pytest.approx(9 * w[0]) and w[:2].mean() == pytest.approx(1)
    shards = []
    for rank in range(2):
        sampler = BalancedSampler(targets, seed=3, rank=rank, world_size=2)
        sampler.set_epoch(1)
        shards.append(list(sampler))
        assert len(shards[-1]) == len(sampler) == 50
    drawn = targets[np.concatenate(shards)]
    assert 0.35 < drawn.mean() < 0.65  # balanced although only 10% are class 1
    sampler.set_epoch(2)
    assert list(sampler) != shards[1]


def test_metrics_agree_with_scikit_learn():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    p = np.where(rng.random(200) < 0.6, y, rng.integers(0, 3, 200))
    m = classification_metrics(y, p, ["x", "y", "z"])
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p))
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))
    assert np.sum(m["confusion_matrix"]) == m["n"] == 200
    s = summarize([0.5, 0.7])
    assert s["mean"] == pytest.approx(0.6) and s["sd"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
