"""Heart features as a training modality (``physio``), alone or beside EEG topomaps.

Registered with the trainer through the ``eegemo.modalities`` entry point as
:data:`MODALITY`. Its data are the heart features that ``eegemo preprocess`` lists
in the ``physio_path`` column of ``OUT/manifest.csv`` (see
:mod:`eegemo.physio.dataset`), so it shares its folders with the EEG modality: it is
*secondary*, used when ``data.inputs`` names it (``eegemo train --inputs physio`` or
``--inputs eeg+physio``). It has no configuration section: the features are always
standardised within each subject, and missing ones filled and flagged.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EegemoError
from ..train.checkpoint import input_shape_of
from ..train.data import DataBundle, validation_split
from ..train.modality import Modality, SubjectSplit
from .dataset import PhysioDataset, has_physio, physio_bundle, read_physio_table


def load_train(path: Path, config, split: SubjectSplit | None) -> DataBundle:
    """Heart-feature datasets of a preprocessed folder, split by subject.

    Parameters
    ----------
    path : Path
        The output folder of ``eegemo preprocess``.
    config : TrainConfig
        ``data.val_fraction`` and ``seed`` choose the validation subjects when
        ``split`` is None.
    split : SubjectSplit or None
        Subjects of each set (cross-validation folds, or the split shared with
        other inputs).

    Returns
    -------
    DataBundle
    """
    table = read_physio_table(path)
    if split is None:
        split = validation_split(table.subjects, config)
    return physio_bundle(table, split)


def load_eval(path: Path, meta: dict, split: str | None) -> PhysioDataset:
    """Every epoch with heart features, prepared as in training (each subject on its own).

    Raises
    ------
    EegemoError
        When a split is asked for, the folder has no heart features, or their number
        differs from the model's.
    """
    if split is not None:
        raise EegemoError("--split applies to face data; heart features are evaluated whole")
    if not has_physio(path):
        raise EegemoError(f"{path}: the model needs heart features but manifest.csv lists none "
                          "(no physio_path)")
    dataset = PhysioDataset(read_physio_table(path), meta["classes"])
    expected = input_shape_of(meta["model"])
    if dataset.shape != expected:
        raise EegemoError(
            f"{path}: {dataset.n_features} heart features per epoch, but the model takes "
            f"{expected[0] - 1}; preprocess with the same heart-feature settings"
        )
    return dataset


def subjects(path: Path) -> list[str]:
    """The subject of every epoch with heart features."""
    return [str(s) for s in read_physio_table(path).subjects]


MODALITY = Modality(
    name="physio",
    description="heart features (heart rate and HRV per epoch)",
    data_description="a preprocessed folder whose manifest.csv lists heart features in "
    "physio_path",
    recognizes=has_physio,
    load_train=load_train,
    load_eval=load_eval,
    subjects=subjects,
    secondary=True,
    default_model="feature_mlp",
    # A handful of features: the topomap recipe's small learning rate and eight epochs
    # leave the MLP short of convergence, and choosing its epoch on a few validation
    # subjects picks an early, unconverged one; a linear head beside the MLP matches the
    # logistic regression where the relation is linear (benchmarks/multimodal.py).
    default_settings={"model_kwargs": {"linear": True}, "optimizer.lr": 0.01, "epochs": 30,
                      "data.val_fraction": 0.0},
)
