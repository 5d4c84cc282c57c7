"""Outputs appear complete or not at all."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eegemo.atomic import atomic_open, remove_stale_temporaries, write_json, write_npy


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
    (tmp_path / ".y.npy.tmp-123.npy").write_bytes(b"half")
    assert remove_stale_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]
