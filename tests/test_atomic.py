"""Outputs appear complete or not at all."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eegemo.atomic import (
    atomic_open,
    atomic_path,
    is_temporary,
    remove_stale_temporaries,
    write_json,
    write_npy,
)


def test_failed_write_leaves_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "sub" / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("{partial")
        raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_write_npy_round_trip_and_stale_cleanup(tmp_path):
    write_npy(tmp_path / "x.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    assert np.load(tmp_path / "x.npy", allow_pickle=False).shape == (2, 3)
    (tmp_path / ".y.npy.tmp-eegemo-123-0a1b2c3d.npy").write_bytes(b"half")
    assert remove_stale_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_temporaries_carry_eegemo_marker(tmp_path):
    with atomic_path(tmp_path / "a.npy") as tmp:
        assert is_temporary(tmp) and tmp.parent == tmp_path
        tmp.write_bytes(b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]


def test_only_eegemo_temporaries_in_the_given_folders_are_removed(tmp_path):
    user = [".notes.tmp-keep", ".notes.tmp-1", "z.tmp-eegemo-1-0a1b2c3d", ".tmp-eegemo-1-0a1b2c3d"]
    for name in user:
        (tmp_path / name).write_text("mine")
    deeper = tmp_path / "deeper"
    deeper.mkdir()
    (deeper / ".b.json.tmp-eegemo-7-0a1b2c3d.json").write_text("{")  # not a folder given
    (tmp_path / ".a.json.tmp-eegemo-7-0a1b2c3d.json").write_text("{")
    assert remove_stale_temporaries(tmp_path, tmp_path / "missing") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*user, "deeper"])
    assert remove_stale_temporaries(deeper) == 1
