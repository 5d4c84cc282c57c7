"""Checkpoints carry a content hash, verified on load; unreadable files get a plain message."""

from __future__ import annotations

import struct
import zipfile

import pytest
import torch

from eegemo.cli import main
from eegemo.errors import EegemoError
from eegemo.train.checkpoint import (
    DIGEST_KEY,
    FORMAT,
    content_digest,
    load_checkpoint,
    save_checkpoint,
)

from .synthetic_topomaps import make_topomap_folder


def small_checkpoint() -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "format": FORMAT,
        "classes": ["a", "b"],
        "best": {"epoch": 2, "score": 0.75},
        "model_state": {"w": torch.randn(64, 32, generator=g), "b": torch.zeros(32)},
        "rng": {"python": [3, [1, 2, 3], None], "torch": torch.arange(8, dtype=torch.uint8)},
    }


def flip_a_byte_of_the_largest_tensor(path) -> None:
    """Flip one bit in the middle of the largest tensor stored in a ``torch.save`` file."""
    with zipfile.ZipFile(path) as zf:
        info = max((i for i in zf.infolist() if "/data/" in i.filename),
                   key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:
                                                    info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.file_size // 2] ^= 0x04
    path.write_bytes(bytes(data))


def test_the_digest_survives_a_round_trip_and_catches_a_flipped_bit(tmp_path):
    ckpt = small_checkpoint()
    path = tmp_path / "c.pt"
    save_checkpoint(path, ckpt)
    assert DIGEST_KEY not in ckpt  # the caller's dict is left alone
    loaded = load_checkpoint(path)
    assert loaded[DIGEST_KEY] == content_digest(ckpt)
    torch.testing.assert_close(loaded["model_state"]["w"], ckpt["model_state"]["w"])

    flip_a_byte_of_the_largest_tensor(path)
    with pytest.raises(EegemoError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: checksum mismatch") and "\n" not in message


def test_the_digest_covers_plain_values_too():
    ckpt = small_checkpoint()
    digest = content_digest(ckpt)
    ckpt["best"]["score"] = 0.76
    assert content_digest(ckpt) != digest
    ckpt["best"]["score"] = 0.75
    ckpt["classes"] = ["b", "a"]
    assert content_digest(ckpt) != digest


def test_a_checkpoint_without_a_digest_loads_with_a_warning(tmp_path):
    path = tmp_path / "old.pt"
    torch.save(small_checkpoint(), path)  # as eegemo wrote them before digests
    with pytest.warns(UserWarning, match="without a content hash"):
        assert load_checkpoint(path)["classes"] == ["a", "b"]


class Thing:
    """Not plain data: torch.load(weights_only=True) refuses it."""


@pytest.mark.parametrize("content", ["object", "random", "text", "empty"])
def test_unreadable_files_never_get_advice_to_load_unsafely(tmp_path, content):
    path = tmp_path / "x.pt"
    if content == "object":
        torch.save({"format": FORMAT, "thing": Thing()}, path)
    elif content == "random":
        path.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8,
                                       generator=torch.Generator().manual_seed(1)).numpy())
    elif content == "text":
        path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    else:
        path.write_bytes(b"")
    with pytest.raises(EegemoError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert "weights_only" not in message and "can still be loaded" not in message
    expected = "holds Python objects" if content == "object" else "cannot read checkpoint"
    assert expected in message


def test_evaluate_refuses_a_damaged_checkpoint_in_one_line(tmp_path, capsys):
    data = make_topomap_folder(tmp_path / "data", n_subjects=3, epochs_per_class=4, res=8)
    run = tmp_path / "run"
    args = ["--set", "epochs=1", "--set", "model=topo_cnn", "--set", "model_kwargs.width=4",
            "--set", "threads=1"]
    assert main(["train", "--data", str(data), "--out", str(run), *args, "--no-progress"]) == 0
    assert main(["evaluate", str(run), str(data), "--json"]) == 0
    capsys.readouterr()
    best = run / "checkpoints" / "best.pt"
    flip_a_byte_of_the_largest_tensor(best)
    assert main(["evaluate", str(run), str(data), "--json"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and "\n" not in err
    assert err.startswith(f"eegemo evaluate: error: {best}: checksum mismatch")
