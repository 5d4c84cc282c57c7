"""The registry's models with their sizes, stored so that ``eegemo models`` answers at once.

Counting a model's parameters and MACs means building it, and building every model of
the zoo (importing PyTorch and timm first) takes tens of seconds. ``catalogue.json``
beside this module holds :func:`~eegemo.models.registry.list_models` with sizes;
``python -m eegemo.models.catalogue`` (``make docs``) writes it again, and a test
checks that it matches the registry.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: The stored catalogue.
CATALOGUE = Path(__file__).with_name("catalogue.json")


def build() -> list[dict]:
    """Describe every registered model with its size (builds each model; slow).

    Returns
    -------
    rows : list of dict
        :func:`~eegemo.models.registry.list_models` with ``with_size=True``.
    """
    from .registry import list_models

    return list_models(with_size=True)


def read() -> list[dict]:
    """The stored catalogue (see :func:`build`), without importing PyTorch.

    Returns
    -------
    rows : list of dict
        ``name``, ``family``, ``description``, ``input_shape``, ``num_classes``,
        ``feature_stages``, ``distill_token``, ``params`` and ``macs`` of each model.
    """
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))


def render(rows: list[dict]) -> str:
    """The catalogue as the text of ``catalogue.json``."""
    return json.dumps(rows, indent=1) + "\n"


def main() -> int:
    """Write ``catalogue.json`` from the registry."""
    CATALOGUE.write_text(render(build()), encoding="utf-8")
    print(f"wrote {CATALOGUE.name} ({len(read())} models)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
