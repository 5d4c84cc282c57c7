"""Every ``pipelines/fer-*.toml`` recipe loads, builds its model and trains a step."""

from __future__ import annotations

import pytest
import torch

from eegemo.config import read_toml
from eegemo.models import create_model
from eegemo.train.augment import build_batch_augment
from eegemo.train.distill import DistillRunConfig
from eegemo.train.modality import section
from eegemo.train.settings import TrainConfig, load_train_config

from .conftest import ROOT

RECIPES = sorted((ROOT / "pipelines").glob("fer-*.toml"))


def test_the_cpu_and_gpu_recipes_exist():
    names = {p.name for p in RECIPES}
    assert {"fer-cpu.toml", "fer-gpu.toml", "fer-distill.toml"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_is_valid_and_selects_on_validation_accuracy(path):
    schema = DistillRunConfig if "distill" in read_toml(path) else TrainConfig
    config = load_train_config(path, cls=schema)
    face = section(config, "face")
    assert config.early_stopping.monitor == "accuracy" and face.val_split == "val"
    with torch.device("meta"):  # checks the architecture options without the cost of weights
        create_model(config.model, 7, (1, face.img_size, face.img_size), **config.model_kwargs)
    _, targets = build_batch_augment(config.augment, 7)(torch.rand(4, 1, 48, 48),
                                                        torch.tensor([0, 1, 2, 3]))
    assert targets.shape == (4, 7)


@pytest.mark.parametrize("name", ["fer-cpu.toml", "fer-distill.toml"])
def test_cpu_recipes_train_a_step(name):
    config = load_train_config(ROOT / "pipelines" / name,
                               cls=DistillRunConfig if "distill" in name else TrainConfig)
    model = create_model(config.model, 7, (1, 48, 48), **config.model_kwargs).train()
    x, targets = build_batch_augment(config.augment, 7)(torch.rand(8, 1, 48, 48),
                                                        torch.arange(8) % 7)
    torch.nn.functional.cross_entropy(model(x), targets).backward()
