"""EEG as a training modality: preprocessed band-power topomaps (``OUT/manifest.csv``).

Registered with the trainer through the ``eegemo.modalities`` entry point as
:data:`MODALITY`. Its configuration section is ``[eeg]`` (:class:`EegDataConfig`).
Rows without topomaps (recordings processed for their heart signal alone) are not
EEG data and are left out.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EegemoError
from ..manifest import MANIFEST_NAME, Manifest, has_manifest, read_manifest
from ..train.data import DataBundle, validation_split
from ..train.modality import Modality, SubjectSplit, section
from .dataset import EegDataConfig, TopomapDataset, eval_dataset, topomap_bundle


def topomap_rows(path: Path) -> Manifest:
    """The rows of ``path/manifest.csv`` that have topomaps.

    Raises
    ------
    EegemoError
        When no row has (every recording was processed for its heart signal alone).
    """
    manifest = read_manifest(path).with_topomaps()
    if len(manifest) == 0:
        raise EegemoError(
            f"{Path(path) / MANIFEST_NAME}: no epoch has EEG topomaps (every recording was "
            "processed for its heart signal alone)"
        )
    return manifest


def load_train(path: Path, config, split: SubjectSplit | None) -> DataBundle:
    """Topomap datasets of a preprocessed folder, split by subject.

    Parameters
    ----------
    path : Path
        The output folder of ``eegemo preprocess``.
    config : TrainConfig
        ``data.val_fraction`` and ``seed`` choose the validation subjects when
        ``split`` is None; the ``[eeg]`` section gives the normalisation.
    split : SubjectSplit or None
        Subjects of each set (cross-validation folds).

    Returns
    -------
    DataBundle
    """
    manifest = topomap_rows(path)
    if split is None:
        split = validation_split(manifest.subjects, config)
    return topomap_bundle(manifest, split, section(config, "eeg").normalization)


def load_eval(path: Path, meta: dict, split: str | None) -> TopomapDataset:
    """Every epoch of a preprocessed folder, normalised as the model was trained.

    With subject-wise normalisation each new subject is standardised with its own
    statistics; with global normalisation, with the training statistics stored in
    the checkpoint.

    Raises
    ------
    EegemoError
        When a split is asked for, or the topomaps do not fit the model's input.
    """
    if split is not None:
        raise EegemoError("--split applies to face data; an EEG folder is evaluated whole")
    if not has_manifest(path):
        raise EegemoError(f"{path}: the model was trained on EEG topomaps but this folder "
                          "has no manifest.csv")
    return eval_dataset(topomap_rows(path), meta)


def subjects(path: Path) -> list[str]:
    """The subject of every epoch with topomaps in the manifest."""
    return [str(s) for s in topomap_rows(path).subjects]


MODALITY = Modality(
    name="eeg",
    description="EEG band-power topomaps",
    data_description="a preprocessed EEG folder with manifest.csv (from `eegemo preprocess`)",
    recognizes=has_manifest,
    load_train=load_train,
    load_eval=load_eval,
    config=EegDataConfig,
    subjects=subjects,
    default_model="topo_linear",
    # On subjects it never saw, a strongly regularised linear model on coarse regional
    # band power beat every network on the same folds (benchmarks/eeg_leaderboard.py,
    # docs/benchmarks.md). An L2 penalty (Adam's coupled weight decay) of 0.04 on the mean
    # loss is scikit-learn's C = 1 / (0.04 n); the problem is convex, so all training
    # subjects are used and the last epoch is kept.
    default_settings={"optimizer.name": "adam", "optimizer.lr": 3e-3,
                      "optimizer.weight_decay": 0.04, "epochs": 30, "data.val_fraction": 0.0},
)
