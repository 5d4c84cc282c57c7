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


def test_the_stored_model_catalogue_matches_the_registry():
    from eegemo.models import catalogue

    stored = catalogue.CATALOGUE.read_text(encoding="utf-8")
    assert stored == catalogue.render(catalogue.build()), (
        "eegemo/models/catalogue.json is stale: run `make docs`"
    )


def test_config_reference_lists_every_key_and_nothing_else():
    from eegemo.config import iter_fields
    from eegemo.eeg.settings import PreprocessConfig
    from eegemo.eeg.stages import STAGES
    from eegemo.train.distill import DistillRunConfig
    from eegemo.train.modality import modality_sections
    from eegemo.train.settings import TrainConfig

    text = GENERATED["config-reference.md"]()
    documented = re.findall(r"^\| `([^`]+)` \|", text, flags=re.M)
    assert len(documented) == len(set(documented)), "a key is documented twice"
    expected = {k for k, *_ in iter_fields(PreprocessConfig) if k != "stages"}
    expected |= {f"stages.{n}.{k}" for n, c in STAGES.items() for k, *_ in iter_fields(c.Params)}
    expected |= {k for k, *_ in iter_fields(TrainConfig)}
    sections = modality_sections()
    assert {"eeg", "face"} <= set(sections)
    expected |= {f"{n}.{k}" for n, c in sections.items() for k, *_ in iter_fields(c)}
    # Distillation: the [distill] keys a student recipe adds to the training keys.
    distill = {k for k, *_ in iter_fields(DistillRunConfig)}
    assert any(k.startswith("distill.") for k in distill)
    expected |= distill
    assert set(documented) == expected


def test_shared_cli_options_are_declared_once_and_read_the_same_everywhere():
    import argparse

    from eegemo.cli import build_parser

    shared = ("--config", "--set", "--device", "--resume", "--no-progress")
    cli = ROOT / "eegemo" / "cli"
    for path in cli.glob("*.py"):
        if path.name != "options.py":
            source = path.read_text(encoding="utf-8")
            assert not [o for o in shared if f'"{o}"' in source], f"{path.name} redeclares"
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps: dict[str, set[str]] = {}
    for parser in sub.choices.values():
        for action in parser._actions:
            if action.option_strings and action.option_strings[0] in shared:
                helps.setdefault(action.option_strings[0], set()).add(action.help)
    assert set(helps) == set(shared)
    assert len(helps["--no-progress"]) == 1
    assert len({h.split("; ", 1)[1] for h in helps["--set"]}) == 1


def test_readme_quick_start_has_exactly_two_commands_and_ci_calls_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```[a-z]*\n(.*?)```", section, flags=re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1].strip() in ci
