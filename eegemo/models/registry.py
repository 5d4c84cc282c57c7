"""One contract for every model: ``create_model(name, num_classes, in_chans, img_size)``.

Architectures register themselves with :func:`register_model`; the registry can
list them with parameter counts and multiply-accumulate operations (MACs).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A registered architecture.

    Attributes
    ----------
    name : str
        Registry name, as given to :func:`create_model`.
    builder : callable
        ``builder(num_classes, in_chans, img_size, **kwargs) -> torch.nn.Module``.
    family : str
        ``"eeg"`` (topomap models) or ``"face"`` (facial-expression zoo).
    description : str
        One line for ``eegemo models``.
    default_in_chans, default_img_size : int
        Input used by :func:`list_models` to measure the model.
    """

    name: str
    builder: Callable[..., Any]
    family: str
    description: str
    default_in_chans: int
    default_img_size: int


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, *, family: str, description: str, in_chans: int, img_size: int
) -> Callable:
    """Decorator registering a model builder under ``name``."""

    def deco(fn: Callable) -> Callable:
        _REGISTRY[name] = ModelEntry(name, fn, family, description, in_chans, img_size)
        return fn

    return deco


def _ensure_loaded() -> None:
    from . import eeg_cnn, face_cnn, face_transformers  # noqa: F401  (registration side effect)


def model_names(family: str | None = None) -> list[str]:
    """Names of registered models, optionally only one family."""
    _ensure_loaded()
    return sorted(n for n, e in _REGISTRY.items() if family is None or e.family == family)


def get_entry(name: str) -> ModelEntry:
    """Return the registry entry, or raise ``ConfigError`` suggesting the closest name."""
    _ensure_loaded()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown model {name!r}{hint} (available: {', '.join(sorted(_REGISTRY))})"
        )
    return _REGISTRY[name]


def create_model(
    name: str, num_classes: int = 7, in_chans: int = 1, img_size: int = 48, **kwargs: Any
):
    """Build a registered model.

    Parameters
    ----------
    name : str
        Registry name (see :func:`list_models`).
    num_classes : int
        Number of output classes.
    in_chans : int
        Input channels (1 for grayscale faces, number of bands for topomaps).
    img_size : int
        Input height and width in pixels.
    **kwargs
        Architecture-specific options (width, depth, drop_path_rate, ...).

    Returns
    -------
    model : torch.nn.Module
        Maps ``(N, in_chans, img_size, img_size)`` to ``(N, num_classes)`` logits.
    """
    entry = get_entry(name)
    try:
        return entry.builder(
            num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs
        )
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None


def count_macs(model, in_chans: int, img_size: int) -> int:
    """Multiply-accumulates of one forward pass on a single image (conv, linear, attention)."""
    import torch

    total = 0

    def conv_hook(mod, inp, out):
        nonlocal total
        kernel = mod.weight[0].numel()  # in_chans/groups * kh * kw
        total += kernel * out.numel()

    def linear_hook(mod, inp, out):
        nonlocal total
        total += mod.in_features * out.numel()

    hooks = []
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, in_chans, img_size, img_size))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return int(total)


def list_models(family: str | None = None, with_size: bool = False) -> list[dict]:
    """Describe registered models.

    Parameters
    ----------
    family : str | None
        ``"eeg"``, ``"face"`` or ``None`` for all.
    with_size : bool
        Also build each model at its default input and report ``params`` and ``macs``.

    Returns
    -------
    rows : list of dict
        ``name``, ``family``, ``description``, ``in_chans``, ``img_size`` and, with
        ``with_size``, ``params`` and ``macs``.
    """
    rows = []
    for name in model_names(family):
        e = _REGISTRY[name]
        row = {
            "name": name,
            "family": e.family,
            "description": e.description,
            "in_chans": e.default_in_chans,
            "img_size": e.default_img_size,
        }
        if with_size:
            num_classes = 7 if e.family == "face" else 2
            model = create_model(name, num_classes, e.default_in_chans, e.default_img_size)
            row["params"] = sum(p.numel() for p in model.parameters())
            row["macs"] = count_macs(model, e.default_in_chans, e.default_img_size)
        rows.append(row)
    return rows
