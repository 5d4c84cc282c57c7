"""The generated references in docs/ match the code, and the README keeps its contract."""

from __future__ import annotations

import re

import pytest

from eegemo.docgen import GENERATED

from .conftest import ROOT


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_reference_is_up_to_date(name):
    committed = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert committed == GENERATED[name](), f"docs/{name} is stale: run `make docs`"


def test_config_reference_lists_every_key_and_nothing_else():
    from eegemo.config import iter_fields
    from eegemo.eeg.settings import PreprocessConfig
    from eegemo.eeg.stages import STAGES
    from eegemo.train.settings import TrainConfig

    text = GENERATED["config-reference.md"]()
    documented = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.M))
    expected = {k for k, *_ in iter_fields(PreprocessConfig) if k != "stages"}
    expected |= {f"stages.{n}.{k}" for n, c in STAGES.items() for k, *_ in iter_fields(c.Params)}
    expected |= {k for k, *_ in iter_fields(TrainConfig)}
    assert documented == expected


def test_readme_quick_start_has_exactly_two_commands_and_ci_calls_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```[a-z]*\n(.*?)```", section, flags=re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1].strip() in ci
