"""Several inputs in one run: items zipped by epoch, fusion_net, late fusion, evaluation, cv."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eegemo.cli import main
from eegemo.errors import ConfigError, EegemoError
from eegemo.models import create_model, list_models
from eegemo.models.registry import count_macs
from eegemo.train.checkpoint import describe_model, input_shape_of, item_shape
from eegemo.train.experiment import evaluate_checkpoint, train_run
from eegemo.train.fusion import resolve_config, temperature, zip_inputs
from eegemo.train.settings import load_train_config

from .synthetic_topomaps import make_fusion_folder, make_topomap_folder
from .test_plugins import _violations

BOTH = ['data.inputs=["eeg", "physio"]', "threads=1", "batch_size=32"]
CLI = ["--set", "threads=1", "--set", "batch_size=32", "--no-progress"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("fusion")
    train = make_fusion_folder(root / "train", n_subjects=8, epochs_per_class=24, effect=2.2,
                               no_heart=(7,))
    held_out = make_fusion_folder(root / "held", n_subjects=3, epochs_per_class=24, effect=2.2,
                                  seed=3, subject_prefix="H")
    return root, train, held_out


@pytest.fixture(scope="module")
def fused_run(folders):
    """``eegemo train --inputs eeg+physio`` through the command line."""
    root, train, _ = folders
    run = root / "fused"
    assert main(["train", "--data", str(train), "--out", str(run), "--inputs", "eeg+physio",
                 "--set", "epochs=12", *CLI]) == 0
    return run


class _Keyed:
    def __init__(self, keys, targets, value):
        self.item_keys, self.targets, self.value = keys, np.asarray(targets), value

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return torch.tensor([self.value, float(i)]), int(self.targets[i])


def test_items_are_zipped_by_epoch_and_unmatched_ones_left_out():
    eeg = _Keyed([("r1", 0), ("r1", 1), ("r2", 0)], [0, 0, 1], 1.0)
    heart = _Keyed([("r2", 0), ("r1", 1), ("r3", 0)], [1, 0, 1], 2.0)
    fused = zip_inputs([eeg, heart], ["eeg", "physio"])
    assert len(fused) == 2 and fused.targets.tolist() == [0, 1]
    (x_eeg, x_heart), y = fused[0]
    assert x_eeg.tolist() == [1.0, 1.0] and x_heart.tolist() == [2.0, 1.0] and y == 0
    assert fused.input(1)[1][0].tolist() == [2.0, 0.0]
    with pytest.raises(EegemoError, match="the inputs give the same epoch different labels"):
        zip_inputs([eeg, _Keyed([("r1", 0)], [1], 2.0)], ["eeg", "physio"])
    anonymous = _Keyed([("r1", 0)], [0], 2.0)
    del anonymous.item_keys
    with pytest.raises(EegemoError, match=r"physio data cannot be combined .* \(item_keys\)"):
        zip_inputs([eeg, anonymous], ["eeg", "physio"])


def test_models_and_checkpoints_take_one_shape_per_input():
    rows = {r["name"]: r for r in list_models()}
    assert rows["fusion_net"]["input_shape"] == [[5, 32, 32], [7]]
    assert rows["feature_mlp"]["input_shape"] == [7]
    model = create_model("fusion_net", 3, [[5, 8, 8], [7]], width=4)
    x = (torch.zeros(2, 5, 8, 8), torch.zeros(2, 7))
    assert model(x).shape == (2, 3) and count_macs(model, ((5, 8, 8), (7,))) > 0
    shape = item_shape((x[0][0], x[1][0]))
    assert shape == ((5, 8, 8), (7,)) and item_shape(x[1][0]) == (7,)
    meta = describe_model(load_train_config(None, []), shape, 2)
    assert meta["input_shape"] == [[5, 8, 8], [7]] and input_shape_of(meta) == shape
    with pytest.raises(ConfigError, match=r"'fusion_net' takes several inputs"):
        create_model("fusion_net", input_shape=(7,))
    with pytest.raises(ConfigError, match=r"'topo_cnn' takes square images"):
        create_model("topo_cnn", input_shape=((5, 8, 8), (7,)))


def test_the_inputs_choose_the_model_unless_one_is_named(folders):
    _, train, _ = folders
    eeg = resolve_config(train, load_train_config(None, []))
    assert (eeg.model, eeg.optimizer.name, eeg.data.val_fraction) == ("topo_linear", "adam", 0.0)
    cnn = resolve_config(train, load_train_config(None, ["model=topo_cnn"]))
    assert (cnn.model, cnn.optimizer.name) == ("topo_cnn", "adamw")  # named: kept as it is
    fused = resolve_config(train, load_train_config(None, BOTH))
    assert (fused.model, fused.model_kwargs) == ("fusion_net", {})
    heart = resolve_config(train, load_train_config(None, ['data.inputs=["physio"]',
                                                          "model_kwargs={dropout=0.1}"]))
    assert (heart.model, heart.model_kwargs) == ("feature_mlp", {"dropout": 0.1})
    named = resolve_config(train, load_train_config(None, [*BOTH, "model=late_fusion"]))
    assert named.model == "late_fusion"


def test_a_modality_recipe_fills_only_the_keys_left_at_their_defaults(folders):
    _, train, _ = folders
    heart = resolve_config(train, load_train_config(None, ['data.inputs=["physio"]']))
    assert (heart.model, heart.model_kwargs) == ("feature_mlp", {"linear": True})
    assert (heart.optimizer.lr, heart.epochs, heart.data.val_fraction) == (0.01, 30, 0.0)
    assert heart.optimizer.weight_decay == load_train_config(None, []).optimizer.weight_decay
    own = resolve_config(train, load_train_config(None, ['data.inputs=["physio"]',
                                                        "optimizer.lr=0.003", "epochs=5"]))
    assert (own.optimizer.lr, own.epochs, own.data.val_fraction) == (0.003, 5, 0.0)
    named = resolve_config(train, load_train_config(None, ['data.inputs=["physio"]',
                                                          "model=feature_mlp"]))
    assert (named.optimizer.lr, named.epochs) == (0.001, 8)
    assert resolve_config(train, heart) == heart


def test_temperature_scaling_fits_overconfident_logits():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, 2000)
    logits = np.stack([np.zeros(2000), (2 * targets - 1) + rng.standard_normal(2000)], axis=1)
    assert temperature(logits * 5, targets) == pytest.approx(5 * temperature(logits, targets),
                                                             rel=0.02)


def test_fused_training_on_the_command_line_then_evaluate_unchanged(folders, fused_run, capsys):
    _, _, held_out = folders
    recorded = (fused_run / "config.toml").read_text()
    assert 'inputs = ["eeg", "physio"]' in recorded and 'model = "fusion_net"' in recorded
    info = json.loads((fused_run / "run.json").read_text())
    assert "S07" not in info["splits"]["train"]["subjects"]  # no heart channel
    assert info["splits"]["val"]["epochs_per_input"] == {"eeg": 48, "physio": 48}
    ckpt = torch.load(fused_run / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["model"]["input_shape"] == [[5, 8, 8], [7]]
    data = ckpt["data"]
    assert (data["modality"], data["inputs"], data["fusion"]) == ("fusion", ["eeg", "physio"],
                                                                  "early")
    assert data["parts"]["eeg"]["normalization"] == "subject"
    assert data["parts"]["physio"]["n_features"] == 6
    capsys.readouterr()
    assert main(["evaluate", str(fused_run), str(held_out), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 144 and metrics["balanced_accuracy"] > 0.8


def test_evaluating_a_fused_model_on_data_without_heart_features_names_them(
    folders, fused_run, capsys
):
    root, _, _ = folders
    topo = make_topomap_folder(root / "topo-only", n_subjects=2, epochs_per_class=2, res=8)
    capsys.readouterr()
    assert main(["evaluate", str(fused_run), str(topo)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "eeg + physio, but there are no physio data here" in err
    with pytest.raises(EegemoError, match="test-time augmentation is not defined for EEG "
                                          "band-power topomaps \\+ heart features"):
        evaluate_checkpoint(fused_run, topo, tta=True)


def test_a_resume_keeps_the_inputs(fused_run, capsys):
    assert main(["train", "--out", str(fused_run), "--resume", "--inputs", "physio",
                 "--no-progress"]) == 2
    assert "data.inputs is ['eeg', 'physio'] there, got ['physio']" in capsys.readouterr().err
    assert main(["train", "--out", str(fused_run), "--resume", "--no-progress"]) == 0


def test_without_inputs_a_folder_with_heart_features_trains_on_eeg_as_before(folders, tmp_path):
    _, train, _ = folders
    config = load_train_config(None, ["threads=1", "epochs=1", "model=topo_cnn",
                                      "model_kwargs={width = 4}"])
    train_run(train, tmp_path / "run", config, progress=False)
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["model"]["name"] == "topo_cnn" and ckpt["data"]["modality"] == "eeg"
    assert ckpt["model"]["input_shape"] == [5, 8, 8]


def test_cross_validation_with_several_inputs(folders, tmp_path):
    _, train, _ = folders
    config = load_train_config(None, [*BOTH, "epochs=2"])
    summary = train_run(train, tmp_path / "cv", config, cv=7, progress=False)
    tested = sorted(s for fold in summary["folds"] for s in fold["test_subjects"])
    assert tested == [f"S0{i}" for i in range(7)]  # S07 has no heart channel
    assert all(fold["n"] == 48 for fold in summary["folds"])


def test_late_fusion_trains_one_calibrated_model_per_input(folders, tmp_path):
    _, train, held_out = folders
    config = load_train_config(None, [*BOTH, "epochs=12", "data.fusion=late",
                                      "data.val_fraction=0.125"])
    summary = train_run(train, tmp_path / "late", config, progress=False)
    assert summary["metrics"]["val"]["n"] == 48
    alone = {}
    for name, model in (("eeg", "topo_linear"), ("physio", "feature_mlp")):
        member = torch.load(tmp_path / "late" / name / "checkpoints" / "best.pt",
                            weights_only=True)
        assert member["model"]["name"] == model and member["data"]["modality"] == name
        alone[name] = evaluate_checkpoint(tmp_path / "late" / name, held_out)
    ckpt = torch.load(tmp_path / "late" / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["model"]["name"] == "late_fusion"
    assert [m["name"] for m in ckpt["model"]["kwargs"]["members"]] == ["topo_linear", "feature_mlp"]
    assert set(ckpt["temperatures"]) == {"eeg", "physio"}
    assert (tmp_path / "late" / "report" / "report.md").is_file()
    both = evaluate_checkpoint(tmp_path / "late", held_out)
    assert both["n"] == 144 and alone["eeg"]["n"] == alone["physio"]["n"] == 144
    # each input alone decodes the label, both together best
    assert min(m["balanced_accuracy"] for m in alone.values()) > 0.7
    assert both["balanced_accuracy"] > max(m["balanced_accuracy"] for m in alone.values())


def test_a_late_fusion_of_default_models_learns_from_every_training_subject(folders, tmp_path):
    _, train, held_out = folders
    late = [*BOTH, "data.fusion=late"]
    assert resolve_config(train, load_train_config(None, late)).data.val_fraction == 0.0
    kept = resolve_config(train, load_train_config(None, [*late, "data.val_fraction=0.3"]))
    assert kept.data.val_fraction == 0.3
    early = resolve_config(train, load_train_config(None, BOTH))
    assert early.data.val_fraction == load_train_config(None, []).data.val_fraction
    summary = train_run(train, tmp_path / "late", load_train_config(None, [*late, "epochs=2"]),
                        progress=False)
    assert "val" not in summary["metrics"]
    ckpt = torch.load(tmp_path / "late" / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["temperatures"] == {"eeg": 1.0, "physio": 1.0}
    assert evaluate_checkpoint(tmp_path / "late", held_out)["n"] == 144


def test_batch_augmentations_are_refused_for_several_inputs(folders, tmp_path):
    _, train, _ = folders
    config = load_train_config(None, [*BOTH, "augment.hflip=true"])
    with pytest.raises(ConfigError, match=r"augment: .* input is \[\[5, 8, 8\], \[7\]\]"):
        train_run(train, tmp_path / "run", config, progress=False)


def test_the_training_modalities_never_import_each_other():
    assert _violations(["physio"], ["eegemo.eeg", "eegemo.face", "eegemo.cli"]) == []
    training = ["eegemo.physio.modality", "eegemo.physio.dataset"]
    assert _violations(["eeg", "face"], training) == []
