"""Compact model copies (``eegemo export``) and the face model shipped with eegemo."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eegemo.cli import main
from eegemo.errors import EegemoError
from eegemo.face import shipped
from eegemo.face.detect import read_image
from eegemo.face.predict import FacePredictor
from eegemo.train.checkpoint import export_checkpoint, load_checkpoint, load_model

from .synthetic_topomaps import make_topomap_folder


def tensor_bytes(ckpt: dict) -> int:
    tensors = [*ckpt["model_state"].values(), *(ckpt.get("weight_scales") or {}).values()]
    return sum(t.numel() * t.element_size() for t in tensors)


@pytest.fixture(scope="module")
def eeg_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    data = make_topomap_folder(root / "data", n_subjects=4, epochs_per_class=6)
    run = root / "run"
    assert main(["train", "--data", str(data), "--out", str(run), "--no-progress",
                 "--set", "epochs=1", "--set", "threads=1"]) == 0
    return run, data


@pytest.mark.parametrize(("weights", "max_ratio", "atol"),
                         [("float16", 0.55, 2e-2), ("int8", 0.3, 0.1)])
def test_an_export_is_smaller_and_predicts_like_its_source(eeg_run, tmp_path, weights,
                                                          max_ratio, atol):
    run, _ = eeg_run
    source_model, meta = load_model(run)
    out = tmp_path / f"{weights}.pt"
    info = export_checkpoint(run, out, weights=weights)
    assert info["bytes"] == out.stat().st_size
    export_checkpoint(run, tmp_path / "float32.pt", weights="float32")
    copy = load_checkpoint(out)
    assert tensor_bytes(copy) < max_ratio * tensor_bytes(load_checkpoint(tmp_path / "float32.pt"))
    assert copy["weights"] == weights and "optimizer_state" not in copy and "rng" not in copy
    model, copy_meta = load_model(out)
    assert copy_meta["classes"] == meta["classes"]
    x = torch.randn(16, *meta["model"]["input_shape"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = source_model(x).softmax(1), model(x).softmax(1)
    torch.testing.assert_close(got, expected, atol=atol, rtol=0)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_export_cli_refuses_to_overwrite_and_reports_the_hash(eeg_run, tmp_path, capsys):
    run, data = eeg_run
    out = tmp_path / "model.pt"
    assert main(["export", str(run), str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["weights"] == "int8" and len(info["sha256"]) == 64
    assert main(["export", str(run), str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["evaluate", str(out), str(data), "--json"]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out)["balanced_accuracy"] <= 1.0


def test_the_shipped_model_is_verified_small_and_recognises_fer_faces(fer_dir):
    path = shipped.default_model_path()
    assert path.stat().st_size <= 5 * 2**20
    predictor = FacePredictor.default(whole_image=True)
    assert predictor.classes == ["angry", "disgust", "fear", "happy", "sad", "surprise",
                                 "neutral"]
    # 40 PublicTest faces per class; the model was chosen on PublicTest, so this checks
    # the shipped file works as its model card says, not how well it generalises
    correct = []
    for name in predictor.classes:
        files = sorted((fer_dir / "val" / name).iterdir())[:40]
        crops = np.stack([read_image(f, gray=True)[0] for f in files])
        labels = predictor.predict_crops(crops).argmax(1)
        correct.append(np.mean(labels == predictor.classes.index(name)))
    assert np.mean(correct) > 0.4  # balanced accuracy; chance is 1/7
    assert correct[predictor.classes.index("happy")] > 0.7


def test_a_damaged_shipped_model_is_refused(monkeypatch):
    monkeypatch.setattr(shipped, "DEFAULT_MODEL_SHA256", "0" * 64)
    with pytest.raises(EegemoError, match="differs from the shipped model"):
        shipped.default_model_path()


def test_predict_without_model_uses_the_shipped_one(fer_dir, capsys):
    face = sorted((fer_dir / "val" / "happy").iterdir())[0]
    assert main(["predict", str(face), "--whole-image", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == shipped.DEFAULT_MODEL_NAME
    assert len(out["results"][0]["faces"]) == 1
