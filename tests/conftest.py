"""Shared fixtures: where the real data lives, and small simulated data sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$EEGEMO_SHARED_DATA`` or ``../shared/data`` beside the project."""
    return Path(os.environ.get("EEGEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder; skipped with a reason where absent, an error under CI."""
    path = shared_data_dir()
    if not path.is_dir():
        msg = f"real data not found at {path} (set EEGEMO_SHARED_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + "; CI must have it")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def eegmat_dir(shared_data: Path) -> Path:
    """The PhysioNet mental-arithmetic recordings."""
    return shared_data / "eegmat"


@pytest.fixture(scope="session")
def formats_dir(shared_data: Path) -> Path:
    """Small real recordings in several formats."""
    return shared_data / "formats"


@pytest.fixture(scope="session")
def fer_dir(shared_data: Path) -> Path:
    """FER2013 image folders (train/, val/)."""
    return shared_data / "fer2013"


@pytest.fixture
def one_blas_thread():
    """As in the preprocessing workers: one BLAS thread (faster on shared cores, reproducible)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
