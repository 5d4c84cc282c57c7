"""TOML configurations as validated dataclasses, with ``--set key=value`` overrides.

A configuration schema is a tree of dataclasses whose fields carry a one-line
description (``help``) in their metadata. :func:`load_config` reads a TOML file
(never executed, only parsed), applies overrides, and builds the schema, raising
:class:`~eegemo.errors.ConfigError` with the closest valid key when a key is
unknown. :func:`iter_fields` walks a schema so the documentation of every key is
generated from the code and cannot drift.

Conventions for schemas:

* every field is declared with :func:`option`;
* ``__post_init__`` raises :class:`~eegemo.errors.ConfigError` whose message starts
  with the offending key *relative to that dataclass* (``"ptp_uv: expected > 0, got
  -1"``); :func:`from_dict` prefixes the dotted path where the dataclass sits, so the
  user reads ``epochs.reject.ptp_uv: expected > 0, got -1``;
* a type that is not a plain dataclass of options (such as a processing stage, whose
  parameters depend on its name) provides ``from_table(data, where)`` (a classmethod
  returning the validated object) and ``to_table()`` (its TOML data);
* a schema that accepts plug-in sections (top-level tables contributed by
  modalities, unknown to the schema itself) has a field ``sections: dict[str, Any]``
  declared with ``option({}, ...)``: the caller passes ``sections={name: dataclass}``
  to :func:`load_config` or :func:`from_dict`, each ``[name]`` table is validated by its
  dataclass and stored in ``config.sections[name]``, and :func:`to_dict` writes them
  back as top-level tables.

In a list of tables (such as ``[[stages]]``) an entry is addressed by its ``name``
(``stages.bandpass.l_freq``) or, when several entries share that name, by its position
counted from 0 (``stages.2.l_freq``); error messages use the same addresses.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")

#: The field through which a schema accepts plug-in sections.
SECTIONS_FIELD = "sections"


def option(default: Any, help: str, *, choices: Sequence[Any] | None = None) -> Any:
    """Declare a configuration field with a default and a one-line description.

    Parameters
    ----------
    default : object
        Default value. Lists and dicts are copied for every instance.
    help : str
        One-line description, shown in the generated configuration reference.
    choices : sequence, optional
        Allowed values; anything else is rejected with the list of choices.
    """
    meta = {"help": help, "choices": tuple(choices) if choices is not None else None}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda d=default: _deepcopy(d), metadata=meta)
    if dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=type(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _deepcopy(obj: Any) -> Any:
    import copy

    return copy.deepcopy(obj)


def recipe_names() -> list[str]:
    """Names of the recipes shipped with eegemo (``pipelines/*.toml``), for ``--config NAME``."""
    from importlib.resources import files

    return sorted(p.name[:-5] for p in files("eegemo.pipelines").iterdir()
                  if p.name.endswith(".toml"))


def resolve_recipe(path: str | Path) -> Path:
    """The file a ``--config`` value names: a path, or the name of a shipped recipe.

    Parameters
    ----------
    path : path-like
        A TOML file, or a bare name such as ``"eegmat"`` (no folder, no suffix) of a
        recipe shipped with eegemo (:func:`recipe_names`); a file of that name in the
        working directory wins.

    Returns
    -------
    path : Path
        The file to read.

    Raises
    ------
    ConfigError
        When neither a file nor a shipped recipe has that name.
    """
    from importlib.resources import as_file, files

    path = Path(path)
    if path.is_file():
        return path
    bare = path.parent == Path(".") and not path.suffix
    if bare and path.name in recipe_names():
        with as_file(files("eegemo.pipelines") / f"{path.name}.toml") as found:
            return Path(found)
    hint = f" (shipped recipes: {', '.join(recipe_names())})" if bare else ""
    raise ConfigError(f"{path}: config file not found{hint}")


def read_toml(path: str | Path) -> dict:
    """Parse a TOML file or shipped recipe, reporting syntax errors with the file name."""
    path = resolve_recipe(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"a.b.c=value"`` into a key path and a value parsed as a TOML value.

    Values that are not valid TOML (``--set montage=standard_1020``) are taken as strings.
    """
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.split("."), value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _entry_name(item: Any) -> str | None:
    name = item.get("name") if isinstance(item, Mapping) else None
    return name if isinstance(name, str) else None


def _entry_key(items: Sequence[Any], i: int) -> str:
    """The address of ``items[i]``: its name when no other entry has it, else its position."""
    name = _entry_name(items[i])
    if name is None or name.isdigit() or [_entry_name(t) for t in items].count(name) > 1:
        return str(i)
    return name


def _entry_index(items: list, key: str, where: str, rest: Sequence[str]) -> int:
    """Resolve ``key`` (a position or a unique name) to an index of ``items``."""
    if key.isdigit():
        if int(key) >= len(items):
            raise ConfigError(
                f"no entry {_join(where, key)}: {where} has {len(items)} "
                f"(positions 0 to {len(items) - 1})"
            )
        return int(key)
    matches = [i for i, item in enumerate(items) if _entry_name(item) == key]
    if not matches:
        names = ", ".join(str(_entry_name(t)) for t in items)
        raise ConfigError(f"no entry named {key!r} in {where} (have: {names})")
    if len(matches) > 1:
        tail = "".join(f".{k}" for k in rest)
        choices = " or ".join(f"{where}.{i}{tail}" for i in matches)
        raise ConfigError(
            f"{where}.{key} is ambiguous: {len(matches)} entries are named {key!r}; "
            f"address one by position: {choices}"
        )
    return matches[0]


def _assign(data: dict, keys: Sequence[str], value: Any) -> None:
    """Set the dotted key ``keys`` of ``data`` to ``value``, creating tables as needed."""
    node: Any = data
    for i, key in enumerate(keys):
        where = ".".join(keys[:i])
        if isinstance(node, list):
            index = _entry_index(node, key, where, keys[i + 1 :])
        elif isinstance(node, dict):
            index = key
            if i < len(keys) - 1:
                node.setdefault(key, {})
        else:
            raise ConfigError(f"{where} is not a table")
        if i == len(keys) - 1:
            node[index] = value
        else:
            node = node[index]


def _suggest(key: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; valid keys: {', '.join(sorted(valid))}"


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``, converting int to float where asked."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if isinstance(tp, type) and hasattr(tp, "from_table"):
        return tp.from_table(value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple, Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_tp = args[0] if args else Any
        return [
            _coerce(v, item_tp, _join(where, _entry_key(value, i))) for i, v in enumerate(value)
        ]
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        val_tp = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    return value


def _takes_sections(cls: type) -> bool:
    return any(f.name == SECTIONS_FIELD for f in dataclasses.fields(cls))


def _check_sections(cls: type, sections: Mapping[str, type]) -> None:
    """Refuse plug-in sections the schema cannot hold (a programming error, not the user's)."""
    if not sections:
        return
    if not _takes_sections(cls):
        raise TypeError(f"{cls.__name__} has no {SECTIONS_FIELD!r} field for plug-in sections")
    clash = sorted(set(sections) & {f.name for f in dataclasses.fields(cls)})
    if clash:
        raise TypeError(f"sections {clash} clash with fields of {cls.__name__}")


def from_dict(
    cls: type[T],
    data: Mapping[str, Any],
    where: str = "",
    sections: Mapping[str, type] | None = None,
) -> T:
    """Build the dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types.

    Parameters
    ----------
    cls : type
        A dataclass whose fields were declared with :func:`option`.
    data : mapping
        Parsed TOML (possibly partial: missing keys take their defaults).
    where : str
        Dotted prefix used in error messages.
    sections : mapping, optional
        Plug-in section name -> dataclass, for a schema with a ``sections`` field: each
        ``[name]`` table of ``data`` is validated by its dataclass (defaults where
        ``data`` has none) and stored in ``config.sections[name]``.

    Returns
    -------
    config : cls
        The validated configuration.

    Raises
    ------
    ConfigError
        For an unknown key (with the closest valid key), a value of the wrong type or
        not among the choices, or a value the schema's own checks refuse; the message
        starts with the dotted key.
    """
    sections = dict(sections or {})
    _check_sections(cls, sections)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    if _takes_sections(cls):
        del fields[SECTIONS_FIELD]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = _join(where, key)
        if key in sections:
            continue
        if key not in fields:
            valid = [*fields, *sections]
            raise ConfigError(f"unknown config key {path!r}{_suggest(key, valid)}")
        value = _coerce(value, hints[key], path)
        choices = fields[key].metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(
                f"{path}: {value!r} is not one of {', '.join(repr(c) for c in choices)}"
            )
        kwargs[key] = value
    if _takes_sections(cls):
        kwargs[SECTIONS_FIELD] = {
            name: _coerce(data.get(name, {}), section, _join(where, name))
            for name, section in sections.items()
        }
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        # The schema's own checks name keys relative to itself: prefix where it sits.
        raise ConfigError(_join(where, str(exc))) from None


def _merge(
    cls: type, base: dict, update: Mapping[str, Any], sections: Mapping[str, type] | None = None
) -> dict:
    """Overlay ``update`` on ``base``: sub-sections of the schema ``cls`` (and the plug-in
    ``sections``) merge key by key; any other value (lists and free-form tables such as
    ``model_kwargs``) replaces the default whole."""
    hints = {**typing.get_type_hints(cls), **(sections or {})}
    out = dict(base)
    for key, value in update.items():
        tp = hints.get(key)
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            out[key] = _merge(tp, out.get(key, {}), value)
        else:
            out[key] = value
    return out


def to_dict(config: Any) -> dict:
    """Convert a configuration (recursively) to plain TOML-compatible data.

    Plug-in sections are written as top-level tables, as they are read.
    """
    if hasattr(config, "to_table") and not isinstance(config, type):
        return config.to_table()
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        out = {}
        for f in dataclasses.fields(config):
            value = getattr(config, f.name)
            if f.name == SECTIONS_FIELD:
                out.update({name: to_dict(section) for name, section in value.items()})
            else:
                out[f.name] = to_dict(value)
        return out
    if isinstance(config, Mapping):
        return {k: to_dict(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    return config


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
    sections: Mapping[str, type] | None = None,
    base: Mapping[str, Any] | None = None,
) -> T:
    """Read a TOML configuration, apply overrides and validate it.

    The file's tables merge key by key into the schema's defaults (lists, such as
    ``[[stages]]``, replace the default list whole), so an override can address any
    default, e.g. a stage of the default chain.

    Parameters
    ----------
    cls : type
        The configuration schema (a dataclass), e.g.
        :class:`~eegemo.eeg.settings.PreprocessConfig` or
        :class:`~eegemo.train.settings.TrainConfig`.
    path : path-like | None
        TOML file; ``None`` starts from the schema's defaults.
    overrides : sequence of str
        ``key=value`` strings (``--set``), the value parsed as TOML (text that is not
        TOML is taken as a string); dotted keys for tables, e.g. ``"epochs.length_s=4"``;
        an entry of a list of tables by name or position, e.g.
        ``"stages.bandpass.l_freq=0.5"`` or ``"stages.0.l_freq=0.5"``.
    values : mapping, optional
        Dotted key -> value, set after the overrides as given (no TOML parsing), for
        command-line options such as ``--subject-pattern`` whose values are strings.
    sections : mapping, optional
        Plug-in section name -> dataclass, for a schema with a ``sections`` field (see
        :func:`from_dict`); ``--set name.key=value`` addresses them like any table.
    base : mapping, optional
        A configuration as :func:`to_dict` gives it (one recorded in a run) to start
        from instead of the defaults; keys it lacks keep their defaults, the file and
        the overrides apply on top.

    Returns
    -------
    config : cls
        The validated configuration.

    Raises
    ------
    ConfigError
        For a missing or invalid file, an override that is not ``key=value`` or
        addresses no entry (or an ambiguous one), an unknown key (with the closest valid
        key), or an invalid value; errors found in the configuration start with the
        file name when a file was read.
    """
    sections = dict(sections or {})
    _check_sections(cls, sections)
    data = to_dict(cls())
    data.update({name: to_dict(section()) for name, section in sections.items()})
    data = _merge(cls, data, base or {}, sections)
    data = _merge(cls, data, read_toml(path) if path is not None else {}, sections)
    for text in overrides:
        keys, value = parse_override(text)
        try:
            _assign(data, keys, value)
        except ConfigError as exc:
            raise ConfigError(f"--set {text}: {exc}") from None
    for key, value in (values or {}).items():
        _assign(data, key.split("."), value)
    try:
        return from_dict(cls, data, sections=sections)
    except ConfigError as exc:
        if path is not None:
            raise ConfigError(f"{path}: {exc}") from None
        raise


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Write plain data (as from :func:`to_dict`) as TOML text. ``None`` values are omitted."""
    lines: list[str] = []

    def table(prefix: str, node: Mapping[str, Any]) -> None:
        scalars = {
            k: v
            for k, v in node.items()
            if v is not None
            and not isinstance(v, Mapping)
            and not (isinstance(v, list) and v and all(isinstance(i, Mapping) for i in v))
        }
        if prefix and (scalars or not node):
            lines.append(f"\n[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in node.items():
            sub = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
            if isinstance(v, Mapping):
                table(sub, v)
            elif isinstance(v, list) and v and all(isinstance(i, Mapping) for i in v):
                for item in v:
                    lines.append(f"\n[[{sub}]]")
                    for ik, iv in item.items():
                        if iv is not None:
                            lines.append(f"{_toml_key(ik)} = {_toml_value(iv)}")

    table("", data)
    return "\n".join(lines).lstrip("\n") + "\n"


def iter_fields(cls: type, prefix: str = "") -> Iterator[tuple[str, str, Any, str]]:
    """Yield ``(key, type, default, help)`` for every key of a schema, depth first.

    Parameters
    ----------
    cls : type
        A schema, or a plug-in section's dataclass.
    prefix : str
        Prepended to every key, e.g. ``"face."`` for the keys of the ``[face]`` section.

    Yields
    ------
    key, type, default, help : tuple
        The dotted key, the name of its type, its default as TOML data (``None`` when
        unset) and its one-line description. The plug-in ``sections`` field is not a key.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name == SECTIONS_FIELD:
            continue
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp) and not hasattr(tp, "from_table"):
            yield from iter_fields(tp, key + ".")
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = to_dict(f.default_factory())
        else:
            default = None
        yield key, _type_name(tp), default, f.metadata.get("help", "")
