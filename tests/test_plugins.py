"""The core knows no modality: a third one, with a model on (channels, times), is an addition.

Also the import layering read from the code, and the model contract (declared input,
no duplicate names, builder errors kept as they are, declared distillation needs).
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from eegemo.config import option
from eegemo.errors import ConfigError, EegemoError
from eegemo.models import create_model, get_entry, list_models, register_model
from eegemo.models import registry as model_registry
from eegemo.train import modality as modality_registry
from eegemo.train.data import DataBundle, validation_split
from eegemo.train.experiment import evaluate_checkpoint, train_run
from eegemo.train.modality import (
    Modality,
    get_modality,
    modalities,
    modality_for,
    register_modality,
    section,
)
from eegemo.train.settings import load_train_config

from .conftest import ROOT

# ------------------------------------------------------------------ a third modality


@dataclasses.dataclass
class SignalConfig:
    """The toy modality's own section."""

    gain: float = option(1.0, "multiply every sample by this")


class SignalDataset:
    """Epochs ``(channels, times)`` of a ``signals.npz`` file."""

    def __init__(self, x, labels, subjects, classes, gain):
        self.x = torch.from_numpy(np.asarray(x, np.float32) * gain)
        self.classes = list(classes)
        self.targets = np.array([self.classes.index(c) for c in labels], dtype=np.int64)
        self.subjects = np.asarray(subjects)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.x[i], int(self.targets[i])

    def subset(self, keep):
        out = object.__new__(SignalDataset)
        out.x, out.targets, out.classes = self.x[keep], self.targets[keep], self.classes
        out.subjects = self.subjects[keep]
        return out


def _read(path: Path):
    with np.load(path / "signals.npz", allow_pickle=False) as f:
        return f["x"], f["labels"].astype(str), f["subjects"].astype(str)


def _load_train(path, config, split):
    x, labels, subjects = _read(path)
    if split is None:
        split = validation_split(subjects, config)
    classes = sorted(set(labels))
    full = SignalDataset(x, labels, subjects, classes, section(config, "signal").gain)

    def part(names):
        return full.subset(np.isin(subjects, names)) if names else None

    return DataBundle(part(split.train), part(split.val), classes,
                      meta={"modality": "signal"}, test=part(split.test))


def _load_eval(path, meta, split):
    x, labels, subjects = _read(path)
    return SignalDataset(x, labels, subjects, meta["classes"], 1.0)


SIGNAL = Modality(
    name="signal",
    description="toy multichannel signals",
    data_description="a folder with signals.npz",
    recognizes=lambda p: (Path(p) / "signals.npz").is_file(),
    load_train=_load_train,
    load_eval=_load_eval,
    config=SignalConfig,
    subjects=lambda p: list(_read(p)[2]),
)


class TinyConv1d(nn.Module):
    def __init__(self, num_classes, channels, width):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(channels, width, 5, padding=2), nn.ReLU(),
                                  nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.body(x))


def _tiny_conv1d(num_classes: int = 2, input_shape=(3, 64), width: int = 8) -> TinyConv1d:
    if len(input_shape) != 2:
        raise ConfigError(f"tiny_conv1d takes (channels, times), got {tuple(input_shape)}")
    return TinyConv1d(num_classes, input_shape[0], width)


def _write_signals(folder: Path, subjects: list[str], seed: int) -> Path:
    """Class 'b' carries a 10-sample oscillation on channel 0; 'a' is noise."""
    rng = np.random.default_rng(seed)
    xs, labels, subs = [], [], []
    t = np.arange(64)
    for s in subjects:
        for label in ("a", "b") * 12:
            x = rng.standard_normal((3, 64))
            if label == "b":
                x[0] += 3.0 * np.sin(2 * np.pi * t / 10)
            xs.append(x)
            labels.append(label)
            subs.append(s)
    folder.mkdir(parents=True)
    np.savez(folder / "signals.npz", x=np.asarray(xs, np.float32), labels=np.array(labels),
             subjects=np.array(subs))
    return folder


@pytest.fixture(scope="module")
def third_modality():
    register_modality(SIGNAL)
    register_model("tiny_conv1d", family="test", description="1-D CNN on (channels, times)",
                   input_shape=(3, 64), num_classes=2)(_tiny_conv1d)
    yield SIGNAL
    modality_registry._REGISTRY.pop("signal", None)
    model_registry._REGISTRY.pop("tiny_conv1d", None)


def test_a_third_modality_trains_cross_validates_and_evaluates(third_modality, tmp_path):
    data = _write_signals(tmp_path / "train", [f"P{i}" for i in range(5)], seed=0)
    held_out = _write_signals(tmp_path / "new", ["Q1", "Q2"], seed=1)
    assert modality_for(data) is third_modality
    config = load_train_config(None, ["model=tiny_conv1d", "model_kwargs={width = 8}",
                                      "epochs=15", "batch_size=16", "optimizer.lr=0.03",
                                      "signal.gain=1.0", "threads=1"])
    summary = train_run(data, tmp_path / "run", config, progress=False)
    assert summary["metrics"]["val"]["n"] == 24
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["model"]["input_shape"] == [3, 64] and ckpt["data"]["modality"] == "signal"
    metrics = evaluate_checkpoint(tmp_path / "run", held_out)
    assert metrics["n"] == 48 and metrics["balanced_accuracy"] > 0.9
    with pytest.raises(EegemoError, match="test-time augmentation is not defined for toy"):
        evaluate_checkpoint(tmp_path / "run", held_out, tta=True)
    cv = train_run(data, tmp_path / "cv", config, cv=5, progress=False)
    assert sorted(s for fold in cv["folds"] for s in fold["test_subjects"]) == [
        f"P{i}" for i in range(5)]
    assert (tmp_path / "cv" / "config.toml").read_text().count("[signal]") == 1


def test_modalities_are_found_through_entry_points_and_name_their_data(tmp_path):
    assert {"eeg", "face"} <= set(modalities())
    assert get_modality("face").eval_extras.keys() == {"tta"}
    assert get_modality("eeg").eval_extras == {}
    with pytest.raises(EegemoError, match=r"expected a preprocessed EEG folder.*FER2013"):
        modality_for(tmp_path)
    with pytest.raises(EegemoError, match="unknown modality 'ecg'"):
        get_modality("ecg")
    with pytest.raises(ValueError, match="'eeg' is already registered"):
        register_modality(dataclasses.replace(get_modality("eeg")))


def test_tta_on_an_eeg_checkpoint_is_refused(tmp_path):
    from .synthetic_topomaps import make_topomap_folder

    topo = make_topomap_folder(tmp_path / "topo", n_subjects=3, epochs_per_class=4, res=8)
    config = load_train_config(None, ["epochs=1", "model=topo_cnn", "model_kwargs={width = 4}",
                                      "threads=1"])
    train_run(topo, tmp_path / "run", config, progress=False)
    with pytest.raises(EegemoError, match=r"not defined for EEG band-power topomaps.*--tta"):
        evaluate_checkpoint(tmp_path / "run", topo, tta=True)


# ------------------------------------------------------------------ the model contract


def test_models_declare_their_input_and_refuse_a_second_registration():
    rows = {r["name"]: r for r in list_models()}
    assert rows["topo_cnn"]["input_shape"] == [5, 32, 32]
    assert rows["deit"]["distill_token"] and not rows["vit"]["feature_stages"]
    assert create_model("topo_cnn", input_shape=(4, 16, 16))(torch.zeros(2, 4, 16, 16)).shape \
        == (2, 2)
    with pytest.raises(ValueError, match="'vgg' is already registered"):
        register_model("vgg", family="face", description="", input_shape=(1, 48, 48),
                       num_classes=7)(lambda num_classes, input_shape: None)
    assert get_entry("vgg").builder is not None


def test_a_bug_inside_a_builder_is_not_reported_as_a_configuration_error():
    def broken(num_classes=2, input_shape=(3, 8)):
        return {}["missing"]

    register_model("broken_model", family="test", description="", input_shape=(3, 8),
                   num_classes=2)(broken)
    try:
        with pytest.raises(KeyError):
            create_model("broken_model")
        with pytest.raises(ConfigError, match=r"unknown option\(s\) width \(options: none\)"):
            create_model("broken_model", width=3)
    finally:
        model_registry._REGISTRY.pop("broken_model")


def test_attention_transfer_is_refused_for_a_model_without_declared_stages(
    tmp_path, monkeypatch
):
    from eegemo.train.distill import DistillRunConfig, distill_run
    from eegemo.train.settings import load_train_config as load

    from .test_face_data import write_fer_csv, write_fer_folders

    monkeypatch.setenv("EEGEMO_CACHE_DIR", str(tmp_path / "cache"))
    write_fer_folders(tmp_path / "fer", write_fer_csv(tmp_path / "fer.csv", n_per_class=2))
    teacher_config = load(None, ["model=resnet18", "model_kwargs={width = 8}", "epochs=1",
                                 "threads=1"])
    train_run(tmp_path / "fer", tmp_path / "teacher", teacher_config, progress=False)
    config = load(None, ["model=vit", "model_kwargs={depth = 1}", "distill.attention_beta=10",
                         "epochs=1"], DistillRunConfig)
    with pytest.raises(ConfigError, match=r"student 'vit' does not \(models that do: .*vgg"):
        distill_run(tmp_path / "teacher", tmp_path / "fer", tmp_path / "kd", config,
                    progress=False)


# ------------------------------------------------------------------ import layering


def _imports(path: Path) -> list[str]:
    """Absolute module names imported by a file of the eegemo package."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append(module)
            found += [f"{module}.{a.name}" for a in node.names]
    return [m for m in found if m == "eegemo" or m.startswith("eegemo.")]


def _violations(folders: list[str], forbidden: list[str]) -> list[str]:
    bad = []
    for folder in folders:
        base = ROOT / "eegemo" / folder
        files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
        for path in files:
            for module in _imports(path):
                if any(module == f or module.startswith(f + ".") for f in forbidden):
                    bad.append(f"{path.relative_to(ROOT)} imports {module}")
    return bad


def test_the_core_imports_no_modality_the_cli_or_the_demo():
    modality_packages = ["eegemo.eeg", "eegemo.face", "eegemo.physio"]
    higher = ["eegemo.cli", "eegemo.demo"]
    assert _violations(["train", "models"], [*modality_packages, *higher]) == []
    assert _violations(["models"], ["eegemo.train"]) == []
    assert _violations(["eeg"], ["eegemo.face"]) == []
    assert _violations(["face"], ["eegemo.eeg", "eegemo.physio"]) == []
    assert _violations(["physio"], ["eegemo.eeg", "eegemo.face", "eegemo.cli", "eegemo.demo"]) == []
    signal_processing = ["eeg/io", "eeg/channels", "eeg/stages", "eeg/pipeline", "eeg/batch",
                         "eeg/spectral", "eeg/topomap", "eeg/render", "eeg/simulate",
                         "eeg/settings", "eeg/cache", "manifest"]
    assert _violations(signal_processing, ["eegemo.train", *higher]) == []


def test_the_layering_check_sees_a_forbidden_import(tmp_path, monkeypatch):
    fake = tmp_path / "eegemo" / "train" / "leak.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from ..face.data import FER_CLASSES\nimport eegemo.eeg.io\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert _violations(["train"], ["eegemo.face", "eegemo.eeg"]) == [
        "eegemo/train/leak.py imports eegemo.face.data",
        "eegemo/train/leak.py imports eegemo.face.data.FER_CLASSES",
        "eegemo/train/leak.py imports eegemo.eeg.io",
    ]


def test_eegemo_models_lists_each_declared_input(capsys):
    from eegemo.cli import main

    assert main(["models"]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert lines["topo_cnn"][2] == "5x32x32" and lines["vgg"][2] == "1x48x48"
    assert lines["fusion_net"][2] == "5x32x32+7"
