"""The TOML configuration layer: validation, overrides, round trip."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from eegemo.config import dumps_toml, from_dict, iter_fields, load_config, option, to_dict
from eegemo.eeg.settings import PreprocessConfig
from eegemo.eeg.stages import BandpassParams, StageSpec
from eegemo.errors import ConfigError
from eegemo.face.data import FaceDataConfig

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib


@dataclasses.dataclass
class Optim:
    name: str = option("adamw", "optimiser", choices=["sgd", "adam", "adamw"])
    lr: float = option(1e-3, "learning rate")

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ConfigError(f"lr: expected > 0, got {self.lr}")


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


def test_a_nested_check_names_the_full_dotted_key_and_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^optim\.lr: expected > 0, got -1.0$"):
        load_config(Schema, overrides=["optim.lr=-1"])
    path = write(tmp_path, "[optim]\nlr = -1\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: optim\.lr: expected > 0"):
        load_config(Schema, path)
    with pytest.raises(ConfigError, match=r"^run\.optim\.lr: expected > 0"):
        from_dict(Schema, {"optim": {"lr": 0}}, "run")


def test_a_bug_in_a_schema_check_is_not_disguised_as_a_config_error():
    @dataclasses.dataclass
    class Buggy:
        n: int = option(1, "a number")

        def __post_init__(self) -> None:
            len(self.n)  # TypeError: a bug, not the user's mistake

    with pytest.raises(TypeError):
        load_config(Buggy)


def test_values_are_set_after_overrides_without_toml_parsing():
    cfg = load_config(Schema, overrides=["note=1.5", "optim.lr=0.5"],
                      values={"note": "[1, 2]", "optim.name": "sgd"})
    assert cfg.note == "[1, 2]" and cfg.optim.name == "sgd" and cfg.optim.lr == 0.5


# ------------------------------------------------------------------- lists of tables


def test_a_list_entry_is_addressed_by_unique_name_or_position_and_ambiguity_is_refused():
    twice = ["stages=[{name='bandpass', l_freq=1.0}, {name='notch'}, {name='bandpass'}]"]
    with pytest.raises(ConfigError) as exc:
        load_config(Schema, overrides=[*twice, "stages.bandpass.l_freq=2"])
    assert str(exc.value) == (
        "--set stages.bandpass.l_freq=2: stages.bandpass is ambiguous: 2 entries are named "
        "'bandpass'; address one by position: stages.0.l_freq or stages.2.l_freq"
    )
    cfg = load_config(Schema, overrides=[*twice, "stages.2.l_freq=2", "stages.notch.freqs=[60]"])
    assert cfg.stages == [
        {"name": "bandpass", "l_freq": 1.0},
        {"name": "notch", "freqs": [60]},
        {"name": "bandpass", "l_freq": 2},
    ]
    with pytest.raises(ConfigError, match=r"no entry stages\.3: stages has 3 \(positions 0 to 2\)"):
        load_config(Schema, overrides=[*twice, "stages.3.l_freq=2"])
    cfg = load_config(Schema, overrides=["stages.0={name='notch'}"])
    assert cfg.stages == [{"name": "notch"}]


def test_preprocess_stages_are_typed_and_written_back_as_the_same_tables(tmp_path):
    path = write(tmp_path, "line_freq = 60\n[epochs]\nlength_s = 4\n")
    # Without [[stages]] the default chain is part of the merge: its stages are addressable.
    cfg = load_config(PreprocessConfig, path, ["stages.bandpass.h_freq=40"])
    assert [s.name for s in cfg.stages] == ["bandpass", "notch", "resample", "rereference", "ica"]
    assert cfg.stages[0] == StageSpec("bandpass", BandpassParams(l_freq=1.0, h_freq=40.0))
    assert [type(s).__name__ for s in cfg.build_stages()] == [
        "Bandpass", "Notch", "Resample", "Rereference", "Ica"
    ]
    data = to_dict(cfg)
    assert data["stages"][0] == {"name": "bandpass", "l_freq": 1.0, "h_freq": 40.0, "method": "fir"}
    assert "eog_proxy" in data["stages"][-1]
    again = write(tmp_path, dumps_toml(data))
    assert load_config(PreprocessConfig, again) == cfg


def test_an_invalid_stage_is_named_by_the_address_that_set_can_use(tmp_path):
    path = write(tmp_path, "[[stages]]\nname = 'bandpass'\n[[stages]]\nname = 'notch'\n"
                 "[[stages]]\nname = 'bandpass'\nh_freq = -3\n")
    with pytest.raises(ConfigError, match=r"stages\.2\.h_freq: expected a positive frequency"):
        load_config(PreprocessConfig, path)
    with pytest.raises(ConfigError, match=r"^stages\.notch\.freqs: expected a list, got 50"):
        load_config(PreprocessConfig, None, ["stages.notch.freqs=50"])
    with pytest.raises(ConfigError, match=r"stages\.bandpas: unknown stage 'bandpas'; did you"):
        load_config(PreprocessConfig, None, ["stages.0.name='bandpas'"])
    with pytest.raises(ConfigError, match=r"^epochs\.reject\.ptp_uv: expected > 0, got -1.0$"):
        load_config(PreprocessConfig, None, ["epochs.reject.ptp_uv=-1"])
    with pytest.raises(ConfigError, match=r"ambiguous.*: stages\.0\.l_freq or stages\.2\.l_freq$"):
        load_config(PreprocessConfig, path, ["stages.bandpass.l_freq=2"])


# ------------------------------------------------------------------- plug-in sections


@dataclasses.dataclass
class Core:
    epochs: int = option(10, "number of epochs")
    optim: Optim = option(Optim(), "optimiser settings")
    sections: dict[str, Any] = option({}, "plug-in sections")


@dataclasses.dataclass
class Extra:
    level: int = option(1, "a level")


SECTIONS = {"face": FaceDataConfig, "extra": Extra}


def test_sections_are_validated_filled_with_defaults_and_overridable(tmp_path):
    path = write(tmp_path, "epochs = 2\n[face]\nimg_size = 64\n")
    cfg = load_config(Core, path, ["face.decode_jobs=2"], sections=SECTIONS)
    assert cfg.epochs == 2
    assert cfg.sections == {"face": FaceDataConfig(img_size=64, decode_jobs=2), "extra": Extra()}
    with pytest.raises(ConfigError, match=r"^face\.img_size: expected at least 8 pixels, got 4$"):
        load_config(Core, overrides=["face.img_size=4"], sections=SECTIONS)
    with pytest.raises(ConfigError, match=r"unknown config key 'extra\.levle'; did you mean"):
        load_config(Core, overrides=["extra.levle=2"], sections=SECTIONS)


def test_an_unknown_table_lists_the_section_names_and_sections_is_not_a_key(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(Core, write(tmp_path, "[eeg]\nnormalization = 'none'\n"), sections=SECTIONS)
    assert "unknown config key 'eeg'; valid keys: epochs, extra, face, optim" in str(exc.value)
    with pytest.raises(ConfigError, match="unknown config key 'sections'"):
        load_config(Core, overrides=["sections.face.img_size=64"], sections=SECTIONS)
    with pytest.raises(ConfigError, match="unknown config key 'face'"):
        load_config(Core, write(tmp_path, "[face]\nimg_size = 64\n"))


def test_sections_are_written_back_as_top_level_tables_and_round_trip(tmp_path):
    cfg = load_config(Core, overrides=["face.img_size=64", "optim.lr=0.5"], sections=SECTIONS)
    data = to_dict(cfg)
    assert "sections" not in data
    assert data["face"]["img_size"] == 64 and data["extra"] == {"level": 1}
    text = dumps_toml(data)
    assert "[face]" in text and "[sections" not in text
    assert load_config(Core, write(tmp_path, text), sections=SECTIONS) == cfg
    assert from_dict(Core, data, sections=SECTIONS) == cfg


def test_iter_fields_skips_the_sections_field_and_prefixes_a_section():
    assert [k for k, *_ in iter_fields(Core)] == ["epochs", "optim.name", "optim.lr"]
    keys = [k for k, *_ in iter_fields(FaceDataConfig, "face.")]
    assert keys[0] == "face.img_size" and all(k.startswith("face.") for k in keys)


def test_a_schema_without_a_sections_field_refuses_sections():
    with pytest.raises(TypeError, match="no 'sections' field"):
        load_config(Schema, sections=SECTIONS)
