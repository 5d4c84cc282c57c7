"""Heart features as a training modality: reading, subject-wise preparation, training alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eegemo.errors import ConfigError, EegemoError
from eegemo.physio.dataset import PhysioDataset, prepare_features, read_physio_table
from eegemo.train.experiment import evaluate_checkpoint, train_run
from eegemo.train.modality import get_modality, input_modalities, modality_for
from eegemo.train.settings import load_train_config

from .synthetic_topomaps import make_fusion_folder, make_topomap_folder

PHYSIO = ['data.inputs=["physio"]', "threads=1", "epochs=6", "batch_size=32"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("physio")
    train = make_fusion_folder(root / "train", n_subjects=6, epochs_per_class=16, effect=2.2,
                               no_heart=(4,), heart_only=(5,))
    held_out = make_fusion_folder(root / "held", n_subjects=3, epochs_per_class=24, effect=2.2,
                                  seed=3, subject_prefix="H")
    return root, train, held_out


def test_features_are_standardised_within_each_subject_and_gaps_flagged():
    raw = np.array([[60.0, 1.0], [70.0, 3.0], [np.nan, np.nan], [100.0, np.nan],
                    [200.0, 5.0], [300.0, 5.0]])
    subjects = np.array(["a", "a", "a", "a", "b", "b"])
    x = prepare_features(raw, subjects)
    assert x.shape == (6, 3) and x.dtype == np.float32
    # subject a, feature 0: mean 76.67, spread over its three usable epochs only
    usable = np.array([60.0, 70.0, 100.0])
    np.testing.assert_allclose(x[[0, 1, 3], 0], (usable - usable.mean()) / usable.std(),
                               rtol=1e-5)
    np.testing.assert_allclose(x[2], [0.0, 0.0, 1.0])  # unusable epoch: the mean, flagged
    np.testing.assert_allclose(x[3, 1:], [0.0, 0.5])  # one feature of two missing
    np.testing.assert_allclose(x[4:, 1], [0.0, 0.0])  # constant within subject b: 0, not inf
    assert np.isfinite(x).all()


def test_the_arrays_on_disk_keep_their_nan(folders):
    _, train, _ = folders
    table = read_physio_table(train)
    dataset = PhysioDataset(table, ["rest", "task"])
    unusable = [i for i in range(len(dataset)) if dataset[i][0][-1] == 1.0]
    assert unusable and dataset.n_unusable == len(unusable)
    assert all(torch.count_nonzero(dataset[i][0][:-1]) == 0 for i in unusable)
    stored = np.load(train / table.physio_paths[unusable[0]])[table.indices[unusable[0]]]
    assert np.isnan(stored).all()


def test_rows_without_heart_features_are_left_out(folders):
    _, train, _ = folders
    table = read_physio_table(train)
    assert "S04" not in set(table.subjects)  # no heart channel
    assert "S05" in set(table.subjects)  # heart signal alone, no topomaps
    assert len(table) == 5 * 2 * 16


def test_a_preprocessed_folder_is_eeg_unless_heart_features_are_asked_for(folders, tmp_path):
    _, train, _ = folders
    assert modality_for(train).name == "eeg"
    assert [m.name for m in input_modalities(train, ["physio"])] == ["physio"]
    topo = make_topomap_folder(tmp_path / "topo", n_subjects=2, epochs_per_class=2, res=8)
    assert not get_modality("physio").recognizes(topo)
    with pytest.raises(EegemoError, match=r"no physio data here \(expected a preprocessed "
                                          r"folder whose manifest\.csv lists heart features in"):
        input_modalities(topo, ["physio"])
    with pytest.raises(ConfigError, match="physio given more than once"):
        input_modalities(train, ["physio", "physio"])


def test_manifest_errors_name_the_line(tmp_path):
    folder = make_fusion_folder(tmp_path / "bad", n_subjects=1, epochs_per_class=3)
    manifest = folder / "manifest.csv"
    lines = manifest.read_text().splitlines()
    lines[2] = lines[2].replace("S00/S00_rest_physio.npy", "../elsewhere.npy")
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(EegemoError, match=r"line 3: physio_path '../elsewhere.npy' leads outside"):
        read_physio_table(folder)
    lines[2] = lines[1].replace(",0,", ",9,")
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(EegemoError, match=r"line 3: index 9 is beyond the 3 epochs"):
        PhysioDataset(read_physio_table(folder), ["rest", "task"])


def test_train_on_heart_features_alone_and_evaluate_new_subjects(folders, tmp_path):
    _, train, held_out = folders
    config = load_train_config(None, PHYSIO)
    summary = train_run(train, tmp_path / "run", config, progress=False)
    recorded = (tmp_path / "run" / "config.toml").read_text()
    assert 'model = "feature_mlp"' in recorded and 'inputs = ["physio"]' in recorded
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    # the heart features' recipe learns from every training subject (no validation)
    assert "val" not in info["splits"] and 'val_fraction = 0.0' in recorded
    assert sorted(info["splits"]["train"]["subjects"]) == ["S00", "S01", "S02", "S03", "S05"]
    assert info["splits"]["train"]["epochs_without_heart_signal"] > 0
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["model"]["name"] == "feature_mlp" and ckpt["model"]["input_shape"] == [7]
    assert ckpt["data"] == {"modality": "physio", "normalization": "subject", "n_features": 6,
                            "missing": "fraction"}
    assert "val" not in summary["metrics"]
    metrics = evaluate_checkpoint(tmp_path / "run", held_out)
    assert metrics["n"] == 144 and metrics["balanced_accuracy"] > 0.75


def test_evaluating_on_data_without_heart_features_names_them(folders, tmp_path):
    _, train, _ = folders
    train_run(train, tmp_path / "run", load_train_config(None, [*PHYSIO, "epochs=1"]),
              progress=False)
    topo = make_topomap_folder(tmp_path / "topo", n_subjects=2, epochs_per_class=2, res=8)
    with pytest.raises(EegemoError, match=r"needs heart features but manifest\.csv lists none"):
        evaluate_checkpoint(tmp_path / "run", topo)
    fewer = make_fusion_folder(tmp_path / "fewer", n_subjects=1, epochs_per_class=4, n_features=4)
    with pytest.raises(EegemoError, match="4 heart features per epoch, but the model takes 6"):
        evaluate_checkpoint(tmp_path / "run", fewer)


def test_batch_augmentations_are_refused_for_feature_vectors(folders, tmp_path):
    _, train, _ = folders
    config = load_train_config(None, [*PHYSIO, "augment.mixup_alpha=0.2"])
    with pytest.raises(ConfigError, match=r"augment: batch augmentations transform images .* "
                                          r"input is \[7\]"):
        train_run(train, tmp_path / "run", config, progress=False)
