"""The facial-expression model shipped inside the package, for prediction without training.

``eegemo predict PHOTO`` without ``--model`` uses it. It is a checkpoint written by
``eegemo export`` from a run of ``pipelines/fer-cpu.toml`` (the data, recipe, command
and measured accuracy are in ``default_model/MODEL_CARD.md`` beside it). The file's
SHA-256 is recorded here and checked before the file is read, so a damaged or replaced
copy is refused.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EegemoError
from ..integrity import sha256_file

#: File name of the shipped model, in ``eegemo/face/default_model/``.
DEFAULT_MODEL_FILE = "fer2013-resnet18-w32-int8.pt"
#: SHA-256 of that file.
DEFAULT_MODEL_SHA256 = (
    "9c5ce3110e2079fdc4376fc8dbfde8d5b7bba7bfc7b60b576f3457eaba470d9c"
)
#: How the shipped model is named in outputs.
DEFAULT_MODEL_NAME = f"default ({DEFAULT_MODEL_FILE})"


def default_model_path() -> Path:
    """The shipped model's file, after checking its SHA-256.

    Returns
    -------
    path : Path
        ``default_model/fer2013-resnet18-w32-int8.pt`` inside the installed package.

    Raises
    ------
    EegemoError
        When the file is missing (an installation without package data) or its
        SHA-256 differs from :data:`DEFAULT_MODEL_SHA256`.
    """
    path = Path(__file__).with_name("default_model") / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise EegemoError(
            f"{path}: the shipped face model is missing from this installation; reinstall "
            "eegemo or pass --model RUN"
        )
    digest = sha256_file(path)
    if digest != DEFAULT_MODEL_SHA256:
        raise EegemoError(
            f"{path}: SHA-256 {digest} differs from the shipped model's {DEFAULT_MODEL_SHA256} "
            "(the file is damaged or was replaced); reinstall eegemo or pass --model RUN"
        )
    return path
