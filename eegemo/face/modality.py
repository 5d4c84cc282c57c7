"""Faces as a training modality: FER2013 and face images in the same layouts.

Registered with the trainer through the ``eegemo.modalities`` entry point as
:data:`MODALITY`. Its configuration section is ``[face]``
(:class:`~eegemo.face.data.FaceDataConfig`); evaluation may add test-time
augmentation (flips and crops, :mod:`eegemo.face.tta`).
"""

from __future__ import annotations

from pathlib import Path

from ..config import from_dict
from ..errors import EegemoError
from ..train.data import DataBundle
from ..train.modality import Modality, SubjectSplit, section
from .data import FaceDataConfig, FaceDataset, is_face_data, load_fer_eval, load_fer_splits
from .tta import predict_logits_tta


def load_train(path: Path, config, split: SubjectSplit | None) -> DataBundle:
    """Training and validation sets of a FER2013 CSV or split folder.

    Raises
    ------
    EegemoError
        When subject splits are asked for: face images carry no subjects.
    """
    if split is not None:
        raise EegemoError(f"{path}: face data have no subjects to split by")
    train, val, classes = load_fer_splits(path, section(config, "face"))
    return DataBundle(
        train=train,
        val=val,
        classes=list(classes),
        meta={"modality": "face"},
        description={"train": {"images": len(train)}, "val": {"images": len(val)}},
    )


def load_eval(path: Path, meta: dict, split: str | None) -> FaceDataset:
    """A face data set prepared with the model's own ``[face]`` settings (image size)."""
    config = from_dict(FaceDataConfig, meta.get("config", {}).get("face", {}), "face")
    return load_fer_eval(path, split, meta["classes"], config)


MODALITY = Modality(
    name="face",
    description="facial-expression images",
    data_description="a FER2013 folder with train/ and val/, or a FER2013 .csv file",
    recognizes=is_face_data,
    load_train=load_train,
    load_eval=load_eval,
    config=FaceDataConfig,
    eval_extras={"tta": predict_logits_tta},
    default_model="resnet18",
    # The architecture of the CPU recipe and of the shipped model; pipelines/fer-cpu.toml
    # is the whole recipe.
    default_settings={"model_kwargs": {"width": 32, "stem_stride": 2, "dropout": 0.1}},
)
