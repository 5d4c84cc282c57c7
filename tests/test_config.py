"""The TOML configuration layer: validation, overrides, round trip."""

from __future__ import annotations

import dataclasses

import pytest

from eegemo.config import dumps_toml, iter_fields, load_config, option, to_dict
from eegemo.errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib


@dataclasses.dataclass
class Optim:
    name: str = option("adamw", "optimiser", choices=["sgd", "adam", "adamw"])
    lr: float = option(1e-3, "learning rate")


@dataclasses.dataclass
class Schema:
    epochs: int = option(10, "number of epochs")
    optim: Optim = option(Optim(), "optimiser settings")
    bands: dict[str, list[float]] = option({"alpha": [8.0, 13.0]}, "frequency bands")
    stages: list[dict] = option([{"name": "bandpass", "l_freq": 1.0}], "stages")
    note: str | None = option(None, "free text")


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_defaults_and_file_values(tmp_path):
    cfg = load_config(Schema, write(tmp_path, "epochs = 3\n[optim]\nlr = 1\n"))
    assert cfg.epochs == 3
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.name == "adamw"
    assert load_config(Schema).bands == {"alpha": [8.0, 13.0]}


def test_unknown_key_suggests_closest_and_names_file(tmp_path):
    path = write(tmp_path, "[optim]\nlearning_rat = 0.1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(Schema, path)
    msg = str(exc.value)
    assert str(path) in msg and "optim.learning_rat" in msg
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        load_config(Schema, overrides=["epoch=3"])


def test_wrong_type_and_choice_are_rejected():
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(Schema, overrides=["epochs=2.5"])
    with pytest.raises(ConfigError, match="not one of"):
        load_config(Schema, overrides=["optim.name=rmsprop"])


def test_overrides_parse_toml_values_and_address_stage_by_name():
    cfg = load_config(
        Schema, overrides=["optim.lr=0.5", "stages.bandpass.l_freq=2", "note=hello world"]
    )
    assert cfg.optim.lr == 0.5
    assert cfg.stages[0]["l_freq"] == 2
    assert cfg.note == "hello world"
    with pytest.raises(ConfigError, match="no entry named 'notch'"):
        load_config(Schema, overrides=["stages.notch.freqs=[50]"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(Schema, overrides=["epochs"])


def test_invalid_toml_is_reported_with_file(tmp_path):
    path = write(tmp_path, "epochs = = 3\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(Schema, path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(Schema, tmp_path / "missing.toml")


def test_dumps_toml_round_trips():
    cfg = load_config(Schema, overrides=["note=a \"quoted\" \\ value"])
    text = dumps_toml(to_dict(cfg))
    again = load_config(Schema, overrides=[])
    parsed = tomllib.loads(text)
    assert parsed["note"] == 'a "quoted" \\ value'
    assert parsed["optim"] == to_dict(again)["optim"]
    assert parsed["stages"] == [{"name": "bandpass", "l_freq": 1.0}]


def test_iter_fields_lists_every_leaf_key():
    keys = [k for k, *_ in iter_fields(Schema)]
    assert keys == ["epochs", "optim.name", "optim.lr", "bands", "stages", "note"]


def test_free_form_tables_in_a_file_replace_the_default_instead_of_merging(tmp_path):
    path = write(tmp_path, "[bands]\nbeta = [13.0, 30.0]\n")
    assert load_config(Schema, path).bands == {"beta": [13.0, 30.0]}
