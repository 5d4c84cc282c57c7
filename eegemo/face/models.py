"""The facial-expression model zoo: the face family of the shared model registry.

The architectures live in :mod:`eegemo.models` beside the EEG models, because both
follow one contract; this module is the face-side entry point the zoo is documented
under.

Examples
--------
>>> from eegemo.face.models import create_model, list_models
>>> [row["name"] for row in list_models(with_size=False)]  # doctest: +NORMALIZE_WHITESPACE
['convnext', 'deit', 'residual_attention', 'resmasknet', 'resnet18', 'resnet34',
 'vgg', 'vit']
>>> create_model("resnet18", num_classes=7, input_shape=(1, 48, 48))  # doctest: +SKIP
"""

from __future__ import annotations

from ..models.registry import create_model
from ..models.registry import list_models as list_registered_models

__all__ = ["create_model", "list_models"]


def list_models(with_size: bool = True) -> list[dict]:
    """Describe the facial-expression models, by default with their sizes at 48x48.

    Parameters
    ----------
    with_size : bool
        Build each model on one 1x48x48 face and report ``params`` (parameter count)
        and ``macs`` (multiply-accumulates of one forward pass). Takes a few seconds.

    Returns
    -------
    rows : list of dict
        ``name``, ``family`` (``"face"``), ``description``, ``input_shape``,
        ``num_classes``, what distillation may use (``feature_stages``,
        ``distill_token``) and, with ``with_size``, ``params`` and ``macs``; sorted by
        name.
    """
    return list_registered_models("face", with_size=with_size)
