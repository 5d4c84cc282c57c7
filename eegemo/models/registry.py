"""One contract for every model: ``create_model(name, num_classes, input_shape, **kwargs)``.

An architecture registers its builder with :func:`register_model`, declaring once
the input it takes (a shape tuple: ``(channels, height, width)`` for images and
topomaps, ``(channels, times)`` for raw signal epochs, ``(n_features,)`` for feature
vectors; a tuple of such shapes for a model of several inputs, which is called with
a tuple of tensors), its default number of classes, and what knowledge distillation
may ask of it. The registry lists models with parameter counts and multiply-accumulate
operations (MACs).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Callable, Iterable, Sequence
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
        ``builder(num_classes, input_shape, **kwargs) -> torch.nn.Module`` mapping
        ``(N, *input_shape)`` to ``(N, num_classes)`` logits (for several inputs, a
        tuple of ``(N, *shape)`` tensors).
    family : str
        Group shown by ``eegemo models`` (``"eeg"``, ``"face"``, ...).
    description : str
        One line for ``eegemo models``.
    input_shape : tuple of int, or tuple of tuples of int
        The input the model is described and measured with (one item, no batch axis;
        one shape per input for a model of several inputs).
    num_classes : int
        Classes of the model as listed.
    feature_stages : bool
        The model exposes ``stages``, a sequence of modules whose outputs are spatial
        feature maps ``(N, C, H, W)``: attention transfer and feature matching need it.
    distill_token : bool
        In training mode the model returns ``(class_logits, distillation_logits)``,
        as DeiT does: hard-label distillation trains the second head on the teacher.
    """

    name: str
    builder: Callable[..., Any]
    family: str
    description: str
    input_shape: tuple
    num_classes: int
    feature_stages: bool = False
    distill_token: bool = False

    def options(self) -> list[str]:
        """Names of the architecture options the builder takes besides the input."""
        params = inspect.signature(self.builder).parameters.values()
        return [p.name for p in params if p.name not in ("num_classes", "input_shape")
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def takes_any_option(self) -> bool:
        """Whether the builder passes unnamed options on (``**kwargs``)."""
        params = inspect.signature(self.builder).parameters.values()
        return any(p.kind == p.VAR_KEYWORD for p in params)

    def unknown_options(self, options: Iterable[str]) -> list[str]:
        """The names in ``options`` the builder does not take, sorted (none if it takes any)."""
        if self.takes_any_option():
            return []
        return sorted(set(options) - set(self.options()))


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    family: str,
    description: str,
    input_shape: Sequence[Any],
    num_classes: int,
    feature_stages: bool = False,
    distill_token: bool = False,
) -> Callable:
    """Decorator registering a model builder under ``name``.

    Parameters
    ----------
    name : str
        Registry name; registering a name twice is refused.
    family, description, input_shape, num_classes, feature_stages, distill_token
        See :class:`ModelEntry`.

    Raises
    ------
    ValueError
        When ``name`` is already registered.
    """
    shape = as_shape(input_shape)

    def deco(fn: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(
                f"model {name!r} is already registered (by {_REGISTRY[name].builder.__module__})"
            )
        _REGISTRY[name] = ModelEntry(name, fn, family, description, shape, int(num_classes),
                                     feature_stages, distill_token)
        return fn

    return deco


def as_shape(shape: Sequence[Any]) -> tuple:
    """``shape`` as a tuple of int, or a tuple of such tuples for several inputs."""
    return tuple(as_shape(n) if isinstance(n, Sequence) else int(n) for n in shape)


def is_multi_input(shape: Sequence[Any]) -> bool:
    """Whether ``shape`` describes several inputs (a sequence of shapes)."""
    return len(shape) > 0 and isinstance(shape[0], Sequence)


def _shape_list(shape: tuple) -> list:
    return [_shape_list(n) if isinstance(n, tuple) else n for n in shape]


def _zeros(shape: tuple):
    import torch

    if is_multi_input(shape):
        return tuple(torch.zeros(1, *part) for part in shape)
    return torch.zeros(1, *shape)


def square_image(name: str, input_shape: Sequence[int]) -> tuple[int, int]:
    """Channels and side of a square image input, for builders that need one.

    Raises
    ------
    ConfigError
        When ``input_shape`` is not ``(channels, size, size)``.
    """
    shape = tuple(input_shape)
    if is_multi_input(shape) or len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(
            f"model {name!r} takes square images (channels, size, size), got input {shape}"
        )
    return int(shape[0]), int(shape[1])


def _ensure_loaded() -> None:
    from . import (  # noqa: F401  (registration side effect)
        eeg_cnn,
        face_cnn,
        face_transformers,
        feature_nets,
    )


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
    name: str,
    num_classes: int | None = None,
    input_shape: Sequence[Any] | None = None,
    **kwargs: Any,
):
    """Build a registered model.

    Parameters
    ----------
    name : str
        Registry name (see :func:`list_models`).
    num_classes : int, optional
        Number of output classes (default: the entry's).
    input_shape : sequence of int, or sequence of sequences of int, optional
        Shape of one input item without the batch axis, e.g. ``(5, 32, 32)`` for
        five-band topomaps or ``(1, 48, 48)`` for grayscale faces; one shape per
        input for a model of several inputs (default: the entry's).
    **kwargs
        Architecture options (width, depth, drop_path_rate, ...); an option the
        builder does not take is a ``ConfigError`` listing those it does.

    Returns
    -------
    model : torch.nn.Module
        Maps ``(N, *input_shape)`` to ``(N, num_classes)`` logits.
    """
    entry = get_entry(name)
    unknown = entry.unknown_options(kwargs)
    if unknown:
        raise ConfigError(
            f"model {name!r}: unknown option(s) {', '.join(unknown)} "
            f"(options: {', '.join(entry.options()) or 'none'})"
        )
    return entry.builder(
        num_classes=entry.num_classes if num_classes is None else int(num_classes),
        input_shape=entry.input_shape if input_shape is None else as_shape(input_shape),
        **kwargs,
    )


def count_macs(model, input_shape: Sequence[Any]) -> int:
    """Multiply-accumulates of one forward pass on a single item (convolutions, linear layers).

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    input_shape : sequence of int, or sequence of sequences of int
        One item's shape, without the batch axis (one shape per input for a model of
        several inputs).
    """
    import torch

    total = 0

    def conv_hook(mod, inp, out):
        nonlocal total
        kernel = mod.weight[0].numel()  # in_channels/groups * kernel size
        total += kernel * out.numel()

    def linear_hook(mod, inp, out):
        nonlocal total
        total += mod.in_features * out.numel()

    hooks = []
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(_zeros(as_shape(input_shape)))
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
        ``name``, ``family``, ``description``, ``input_shape``, ``num_classes``,
        ``feature_stages``, ``distill_token`` and, with ``with_size``, ``params`` and
        ``macs``.
    """
    rows = []
    for name in model_names(family):
        e = _REGISTRY[name]
        row = {
            "name": name,
            "family": e.family,
            "description": e.description,
            "input_shape": _shape_list(e.input_shape),
            "num_classes": e.num_classes,
            "feature_stages": e.feature_stages,
            "distill_token": e.distill_token,
        }
        if with_size:
            model = create_model(name)
            row["params"] = sum(p.numel() for p in model.parameters())
            row["macs"] = count_macs(model, e.input_shape)
        rows.append(row)
    return rows
