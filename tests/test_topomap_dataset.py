"""TopomapDataset, normalisation fitted on training subjects only, subject-wise splits."""

from __future__ import annotations

import numpy as np
import pytest

from eegemo.eeg.dataset import fit_band_stats, topomap_bundle
from eegemo.errors import EegemoError
from eegemo.manifest import read_manifest
from eegemo.train.data import (
    cross_validation_splits,
    load_eval_dataset,
    subject_folds,
    subject_split,
)
from eegemo.train.modality import SubjectSplit

from .synthetic_topomaps import make_topomap_folder


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    return make_topomap_folder(tmp_path_factory.mktemp("topo"), n_subjects=6,
                               epochs_per_class=5, res=8)


def test_items_are_lazy_normalised_and_nan_free(topo):
    manifest = read_manifest(topo)
    assert len(manifest) == 6 * 2 * 5
    split = SubjectSplit(("S00", "S01", "S02", "S03"), ("S04",), ("S05",))
    bundle = topomap_bundle(manifest, split, "subject")
    ds = bundle.train
    assert bundle.classes == ["rest", "task"] and len(ds) == 40 and ds.shape == (5, 8, 8)
    x, y = ds[0]
    assert x.dtype.is_floating_point and tuple(x.shape) == (5, 8, 8) and y in (0, 1)
    assert isinstance(next(iter(ds._cache._arrays.values())), np.memmap)
    stack = np.stack([ds[i][0].numpy() for i in range(len(ds))])
    assert np.isfinite(stack).all()
    assert (stack[:, :, 0, 0] == 0).all()  # corner pixel is outside the head
    s00 = stack[ds.subjects == "S00"]
    assert np.abs(s00.mean(axis=0)).max() < 1e-4  # each subject is centred on itself
    assert bundle.description["test"]["subjects"] == ["S05"]


def test_global_normalisation_is_fitted_on_training_subjects_only(topo):
    manifest = read_manifest(topo)
    train = ["S00", "S01", "S02"]
    bundle = topomap_bundle(manifest, SubjectSplit(tuple(train), ("S03",), ("S04", "S05")),
                            "global")
    stats = fit_band_stats(manifest.of_subjects(train))
    all_stats = fit_band_stats(manifest)
    np.testing.assert_allclose(bundle.train.band_stats.mean, stats.mean)
    assert bundle.val.band_stats is bundle.train.band_stats
    assert bundle.test.band_stats is bundle.train.band_stats
    assert not np.allclose(stats.mean, all_stats.mean)
    raw = np.load(topo / "S00" / "S00_rest_topomaps.npy")[0]
    expected = (raw - stats.mean[:, None, None]) / stats.std[:, None, None]
    np.testing.assert_allclose(bundle.train[0][0].numpy(), np.nan_to_num(expected), rtol=1e-5)
    meta = bundle.meta
    assert meta["normalization"] == "global" and len(meta["band_mean"]) == 5


def test_subject_splits_never_share_subjects():
    subjects = [f"P{i}" for i in range(24) for _ in range(3)]
    train, val = subject_split(subjects, 0.2, seed=1)
    assert not set(train) & set(val) and len(val) == 5 and len(set(train) | set(val)) == 24
    assert subject_split(subjects, 0.2, seed=1) == (train, val)
    assert subject_split(subjects, 0.2, seed=2) != (train, val)
    assert subject_split(subjects, 0.0) == (sorted(set(subjects), key=lambda s: int(s[1:])), [])
    with pytest.raises(EegemoError, match="at least 2 subjects"):
        subject_split(["only"], 0.2)
    for cv, n_folds in (("loso", 24), (6, 6), (5, 5)):
        folds = subject_folds(subjects, cv, seed=0)
        flat = [s for f in folds for s in f]
        assert len(folds) == n_folds and sorted(flat) == sorted(set(subjects))
        assert max(map(len, folds)) - min(map(len, folds)) <= 1
    assert subject_folds(subjects, 6, seed=0) == subject_folds(subjects, 6, seed=0)
    with pytest.raises(EegemoError, match="--cv 30"):
        subject_folds(subjects, 30)
    splits = cross_validation_splits(subjects, 6, 0.2, seed=0)
    assert [list(s.test) for s in splits] == subject_folds(subjects, 6, seed=0)
    for s in splits:
        assert not (set(s.train) | set(s.val)) & set(s.test)
        assert len(set(s.train) | set(s.val) | set(s.test)) == 24 and len(s.val) == 4


def test_a_split_rejects_a_subject_in_two_sets():
    with pytest.raises(EegemoError, match="'S01' is in both the train and val sets"):
        SubjectSplit(("S00", "S01"), ("S01",))


def test_manifest_problems_name_the_file(tmp_path, topo):
    with pytest.raises(EegemoError, match=r"no manifest\.csv"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text("subject,label,path\nS1,a,x.npy\n")
    with pytest.raises(EegemoError, match=r"manifest.csv: missing column\(s\) recording, index"):
        read_manifest(tmp_path)


def test_evaluation_maps_labels_by_name_and_rejects_unknown_ones(tmp_path, topo):
    meta = {"classes": ["task", "rest"], "data": {"modality": "eeg", "normalization": "subject"},
            "model": {"input_shape": [5, 8, 8]}}
    ds = load_eval_dataset(topo, meta)
    assert ds.targets[ds.manifest.labels == "task"].tolist() == [0] * 30
    other = make_topomap_folder(tmp_path / "other", n_subjects=2, epochs_per_class=2, res=8,
                                labels=("rest", "sleep"))
    with pytest.raises(EegemoError, match="'sleep' are not classes of the model"):
        load_eval_dataset(other, meta)
    with pytest.raises(EegemoError, match=r"topomaps are \(5, 8, 8\).*expects \(5, 16, 16\)"):
        load_eval_dataset(topo, {**meta, "model": {"input_shape": [5, 16, 16]}})
    # checkpoints of eegemo 0.1 recorded square inputs as in_chans and img_size
    legacy = load_eval_dataset(topo, {**meta, "model": {"in_chans": 5, "img_size": 8}})
    assert len(legacy) == len(ds)
