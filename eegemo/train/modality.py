"""The modality contract: how a kind of data plugs into the one trainer.

The training core (trainer, checkpoints, metrics, reports, distillation) knows no
modality by name. Each modality (``eegemo.eeg``, ``eegemo.face``, or a third-party
package) describes itself with a :class:`Modality` and is found through the
``eegemo.modalities`` entry-point group of its distribution (see
``pyproject.toml``), or registered at run time with :func:`register_modality`.

A modality says how to recognise its data on disk, how to build training,
validation and test datasets and the class list from a path and the run's
configuration, how to prepare data a trained model has never seen, which
configuration section it owns (a ``[name]`` table validated by its own dataclass),
and which evaluation extras it allows (face test-time augmentation, for instance).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, EegemoError

#: The entry-point group in which distributions announce their modalities.
ENTRY_POINT_GROUP = "eegemo.modalities"


@dataclasses.dataclass(frozen=True)
class SubjectSplit:
    """Disjoint subject lists for one training run (or one cross-validation fold).

    Attributes
    ----------
    train, val, test : tuple of str
        Subjects whose items train the model, select it, and score it afterwards.
    """

    train: tuple[str, ...]
    val: tuple[str, ...] = ()
    test: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for name in ("train", "val", "test"):
            for subject in getattr(self, name):
                if subject in seen:
                    raise EegemoError(
                        f"subject {subject!r} is in both the {seen[subject]} and {name} sets"
                    )
                seen[subject] = name


@dataclasses.dataclass(frozen=True)
class Modality:
    """A kind of data the trainer can learn from.

    Attributes
    ----------
    name : str
        Short name (``"eeg"``, ``"face"``): stored in checkpoints under ``data.modality``
        and used as the name of its configuration section.
    description : str
        One line for listings and error messages.
    data_description : str
        What its data look like on disk, completing "expected ..." in messages
        (``"a preprocessed EEG folder with manifest.csv"``).
    recognizes : callable
        ``recognizes(path) -> bool``: whether ``path`` holds this modality's data.
    load_train : callable
        ``load_train(path, config, split) -> DataBundle``; ``split`` is a
        :class:`SubjectSplit` (cross-validation) or None (the modality's own split).
    load_eval : callable
        ``load_eval(path, meta, split) -> dataset``: data a trained model never saw,
        prepared as that model expects (``meta`` as from
        :func:`eegemo.train.checkpoint.load_model`; ``split`` a named part of the data
        or None).
    config : type or None
        Dataclass of the modality's ``[name]`` configuration section.
    subjects : callable or None
        ``subjects(path) -> list of str``: the subject of every item, for
        cross-validation by subject; None when the data have no subjects.
    eval_extras : mapping
        Extra evaluations by name, each ``fn(model, dataset, device, batch_size) ->
        log-probabilities (n, n_classes)``; ``eegemo evaluate --tta`` runs ``"tta"``.
    secondary : bool
        Its data live beside another modality's (heart features in a preprocessed EEG
        folder): when both recognise a path the other one is used, and this one only
        when ``data.inputs`` names it.
    default_model : str or None
        Registered model trained on this modality alone when the configuration keeps
        the default model (None: the configuration's own default).
    default_settings : mapping
        The recipe that goes with ``default_model``: dotted training keys and their
        values (``{"optimizer.lr": 0.01}``), applied with it to the keys the
        configuration leaves at their built-in defaults.
    """

    name: str
    description: str
    data_description: str
    recognizes: Callable[[Path], bool]
    load_train: Callable[..., Any]
    load_eval: Callable[..., Any]
    config: type | None = None
    subjects: Callable[[Path], Sequence[str]] | None = None
    eval_extras: Mapping[str, Callable[..., Any]] = dataclasses.field(default_factory=dict)
    secondary: bool = False
    default_model: str | None = None
    default_settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_REGISTRY: dict[str, Modality] = {}
_ENTRY_POINTS_LOADED = False


def register_modality(modality: Modality) -> Modality:
    """Make ``modality`` known to the trainer.

    Parameters
    ----------
    modality : Modality
        The description; its ``name`` must not be registered already.

    Returns
    -------
    modality : Modality
        The same object.

    Raises
    ------
    ValueError
        When another modality already has that name.
    """
    if not isinstance(modality, Modality):
        raise TypeError(f"expected a Modality, got {type(modality).__name__}")
    known = _REGISTRY.get(modality.name)
    if known is not None and known is not modality:
        raise ValueError(f"a modality named {modality.name!r} is already registered")
    _REGISTRY[modality.name] = modality
    return modality


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    from importlib.metadata import entry_points

    _ENTRY_POINTS_LOADED = True
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        register_modality(entry.load())


def modalities() -> dict[str, Modality]:
    """Every registered modality by name, in name order."""
    _load_entry_points()
    return {name: _REGISTRY[name] for name in sorted(_REGISTRY)}


def get_modality(name: str) -> Modality:
    """The modality called ``name``.

    Raises
    ------
    EegemoError
        When no modality has that name (the known ones are listed).
    """
    known = modalities()
    if name not in known:
        raise EegemoError(
            f"unknown modality {name!r} (known: {', '.join(known) or 'none installed'})"
        )
    return known[name]


def modality_of(meta: Mapping[str, Any]) -> Modality:
    """The modality a trained model was made for (``meta`` as from ``load_model``).

    Raises
    ------
    EegemoError
        When the checkpoint does not record its modality, or it is not installed.
    """
    data = meta.get("data", {})
    if len(data.get("inputs", ())) > 1:
        from .fusion import fused_modality

        return fused_modality(data["inputs"])
    name = data.get("modality")
    if not name:
        raise EegemoError(
            f"{meta.get('path', 'checkpoint')}: does not record the modality it was trained on"
        )
    return get_modality(name)


def modality_for(path: str | Path) -> Modality:
    """The modality whose data ``path`` holds.

    When several modalities recognise the path and all but one of them are
    ``secondary`` (heart features beside EEG topomaps), that one is chosen.

    Raises
    ------
    EegemoError
        When no modality recognises the path, listing what each expects, or when
        several could (name them with ``data.inputs``).
    """
    path = Path(path)
    found = [m for m in modalities().values() if m.recognizes(path)]
    if len(found) > 1:
        primary = [m for m in found if not m.secondary]
        found = primary if len(primary) == 1 else found
    if len(found) == 1:
        return found[0]
    if not found:
        expected = "; or ".join(m.data_description for m in modalities().values())
        raise EegemoError(f"{path}: expected {expected}")
    names = ", ".join(m.name for m in found)
    raise EegemoError(f"{path}: ambiguous data, recognised by several modalities ({names}); "
                      "choose with --inputs (data.inputs)")


def input_modalities(path: str | Path, inputs: Sequence[str] = ()) -> list[Modality]:
    """The modalities a run on ``path`` learns from, in input order.

    Parameters
    ----------
    path : path-like
        The data.
    inputs : sequence of str
        Modality names (``data.inputs``); empty: the one :func:`modality_for` picks.

    Returns
    -------
    modalities : list of Modality

    Raises
    ------
    ConfigError
        When a name is repeated.
    EegemoError
        When a name is unknown, or ``path`` lacks a named modality's data.
    """
    path = Path(path)
    if not inputs:
        return [modality_for(path)]
    repeated = sorted({n for n in inputs if list(inputs).count(n) > 1})
    if repeated:
        raise ConfigError(f"data.inputs: {', '.join(repeated)} given more than once")
    chosen = [get_modality(name) for name in inputs]
    for m in chosen:
        if not m.recognizes(path):
            raise EegemoError(f"{path}: no {m.name} data here (expected {m.data_description})")
    return chosen


def modality_sections() -> dict[str, type]:
    """Configuration section of every modality that has one: ``{name: dataclass}``."""
    return {name: m.config for name, m in modalities().items() if m.config is not None}


def section(config: Any, name: str) -> Any:
    """A modality's validated section of a training configuration.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration (its ``sections`` hold every modality's table).
    name : str
        The modality.

    Returns
    -------
    section : dataclass instance
        The section, with defaults where the configuration did not set it.
    """
    found = config.sections.get(name)
    if found is None:
        cls = modality_sections().get(name)
        if cls is None:
            raise ConfigError(f"modality {name!r} has no configuration section")
        return cls()
    return found
