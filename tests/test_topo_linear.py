"""The default EEG model: ``topo_linear`` is the logistic regression it says it is."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegemo.errors import ConfigError
from eegemo.models import create_model
from eegemo.train.checkpoint import load_model
from eegemo.train.data import load_eval_dataset
from eegemo.train.experiment import train_run
from eegemo.train.fusion import resolve_config
from eegemo.train.settings import load_train_config

from .synthetic_topomaps import make_topomap_folder


def _regional(dataset, regions: int = 4) -> tuple[np.ndarray, np.ndarray]:
    x = torch.stack([dataset[i][0] for i in range(len(dataset))])
    y = np.array([dataset[i][1] for i in range(len(dataset))])
    return torch.nn.functional.adaptive_avg_pool2d(x, regions).flatten(1).numpy(), y


def test_the_default_recipe_fits_the_l2_logistic_regression_it_stands_for(tmp_path):
    from sklearn.linear_model import LogisticRegression

    train = make_topomap_folder(tmp_path / "train", n_subjects=6, epochs_per_class=120,
                                res=16, effect=0.4)
    held = make_topomap_folder(tmp_path / "held", n_subjects=2, epochs_per_class=30,
                               res=16, effect=0.4, seed=1, subject_prefix="H")
    config = load_train_config(None, ["threads=1"])
    resolved = resolve_config(train, config)
    assert resolved.model == "topo_linear" and resolved.data.val_fraction == 0.0
    train_run(train, tmp_path / "run", config, progress=False)
    model, meta = load_model(tmp_path / "run")
    assert meta["model"]["name"] == "topo_linear"

    train_set, held_set = load_eval_dataset(train, meta), load_eval_dataset(held, meta)
    x_train, y_train = _regional(train_set)
    x_held, _ = _regional(held_set)
    # Mean loss + (w / 2) ||theta||^2 is scikit-learn's objective with C = 1 / (w n).
    c = 1.0 / (resolved.optimizer.weight_decay * len(y_train))
    reference = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    p_ref = reference.fit(x_train, y_train).predict_proba(x_held)[:, 1]
    with torch.no_grad():
        x = torch.stack([held_set[i][0] for i in range(len(held_set))])
        p_ours = torch.softmax(model.eval()(x), dim=1)[:, 1].numpy()
    # The same model up to the end of a stochastic optimisation (the bias is penalised too).
    assert np.abs(p_ours - p_ref).max() < 0.1
    assert np.corrcoef(p_ours, p_ref)[0, 1] > 0.995
    assert np.mean((p_ours > 0.5) == (p_ref > 0.5)) >= 0.95


def test_regions_must_divide_the_topomap():
    assert create_model("topo_linear", 2, (5, 32, 32))(torch.zeros(3, 5, 32, 32)).shape == (3, 2)
    with pytest.raises(ConfigError, match="regions >= 1 dividing the topomap size"):
        create_model("topo_linear", 2, (5, 30, 30), regions=4)


def test_options_of_another_model_under_auto_say_which_model_auto_chose(tmp_path):
    train = make_topomap_folder(tmp_path / "train", n_subjects=2, epochs_per_class=2, res=8)
    with pytest.raises(ConfigError, match=r"width are not options of topo_linear.*"
                                          r"--set model=topo_cnn"):
        resolve_config(train, load_train_config(None, ["model_kwargs={width = 4}"]))
    named = resolve_config(train, load_train_config(None, ["model=topo_cnn",
                                                           "model_kwargs={width = 4}"]))
    assert (named.model, named.model_kwargs) == ("topo_cnn", {"width": 4})
