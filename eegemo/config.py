"""TOML configurations as validated dataclasses, with ``--set key=value`` overrides.

A configuration schema is a tree of dataclasses whose fields carry a one-line
description (``help``) in their metadata. :func:`load_config` reads a TOML file
(never executed, only parsed), applies overrides, and builds the schema, raising
:class:`~eegemo.errors.ConfigError` with the closest valid key when a key is
unknown. :func:`iter_fields` walks a schema so the documentation of every key is
generated from the code and cannot drift.
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


def read_toml(path: str | Path) -> dict:
    """Parse a TOML file, reporting syntax errors with the file name."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
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


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """Return a copy of ``data`` with each ``key=value`` override applied.

    In a list of tables (such as ``stages``) a table is addressed by its ``name``:
    ``stages.bandpass.l_freq=2``.
    """
    data = _deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node: Any = data
        for i, key in enumerate(keys[:-1]):
            if isinstance(node, list):
                matches = [t for t in node if isinstance(t, dict) and t.get("name") == key]
                if not matches:
                    names = [t.get("name") for t in node if isinstance(t, dict)]
                    raise ConfigError(
                        f"--set {text}: no entry named {key!r} in {'.'.join(keys[:i])} "
                        f"(have: {', '.join(map(str, names))})"
                    )
                node = matches[0]
            else:
                node = node.setdefault(key, {})
                if not isinstance(node, (dict, list)):
                    raise ConfigError(f"--set {text}: {'.'.join(keys[: i + 1])} is not a table")
        node[keys[-1]] = value
    return data


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
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple, Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_tp = args[0] if args else Any
        return [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
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


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build the dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types.

    Parameters
    ----------
    cls : type
        A dataclass whose fields were declared with :func:`option`.
    data : mapping
        Parsed TOML (possibly partial: missing keys take their defaults).
    where : str
        Dotted prefix used in error messages.

    Returns
    -------
    config : cls
        The validated configuration.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            raise ConfigError(f"unknown config key {path!r}{_suggest(key, list(fields))}")
        value = _coerce(value, hints[key], path)
        choices = fields[key].metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(
                f"{path}: {value!r} is not one of {', '.join(repr(c) for c in choices)}"
            )
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from None


def _merge(cls: type, base: dict, update: Mapping[str, Any]) -> dict:
    """Overlay ``update`` on ``base``: sub-sections of the schema ``cls`` merge key by key;
    any other value (lists and free-form tables such as ``model_kwargs``) replaces the
    default whole."""
    hints = typing.get_type_hints(cls)
    out = dict(base)
    for key, value in update.items():
        tp = hints.get(key)
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            out[key] = _merge(tp, out.get(key, {}), value)
        else:
            out[key] = value
    return out


def to_dict(config: Any) -> dict:
    """Convert a configuration dataclass (recursively) to plain TOML-compatible data."""
    return dataclasses.asdict(config)


def load_config(
    cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()
) -> T:
    """Read a TOML configuration, apply ``--set`` overrides and validate it.

    Parameters
    ----------
    cls : type
        The configuration schema (a dataclass).
    path : path-like | None
        TOML file; ``None`` starts from the schema's defaults.
    overrides : sequence of str
        ``key=value`` strings, dotted keys for nested tables.

    Returns
    -------
    config : cls
        The validated configuration.
    """
    data = _merge(cls, to_dict(cls()), read_toml(path) if path is not None else {})
    data = apply_overrides(data, overrides)
    try:
        return from_dict(cls, data)
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
    """Yield ``(key, type, default, help)`` for every key of a schema, depth first."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from iter_fields(tp, key + ".")
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        yield key, _type_name(tp), default, f.metadata.get("help", "")
