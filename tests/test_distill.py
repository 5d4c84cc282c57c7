"""Knowledge distillation: the losses, and repeated distillation end to end on tiny faces."""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn import functional as F

from eegemo.cli import main
from eegemo.config import from_dict
from eegemo.errors import ConfigError, EegemoError
from eegemo.models import create_model
from eegemo.train.distill import (
    DistillationLoss,
    DistillRunConfig,
    attention_transfer_loss,
    feature_matching_loss,
)

from .test_face_data import write_fer_csv, write_fer_folders


def label_loss(outputs, targets, inputs=None):
    return F.cross_entropy(outputs, targets)


def test_soft_distillation_is_the_tempered_kl_plus_the_label_loss():
    torch.manual_seed(0)
    teacher = create_model("vgg", width=4, fc_dim=8).eval()
    x, y = torch.rand(4, 1, 48, 48), torch.tensor([0, 1, 2, 3])
    student_logits = torch.randn(4, 7, requires_grad=True)
    loss = DistillationLoss(teacher, label_loss, "soft", temperature=3.0, alpha=0.7)
    with torch.no_grad():
        t = teacher(x)
    kl = (F.softmax(t / 3, 1) * (F.log_softmax(t / 3, 1) - F.log_softmax(student_logits / 3, 1)))
    expected = 0.3 * F.cross_entropy(student_logits, y) + 0.7 * 9 * kl.sum(1).mean()
    value = loss(student_logits, y, x)
    torch.testing.assert_close(value, expected)
    value.backward()
    assert student_logits.grad is not None
    assert all(p.grad is None for p in teacher.parameters())


def test_deit_learns_labels_in_its_class_head_and_the_teacher_in_its_distillation_head():
    torch.manual_seed(0)
    teacher = create_model("resnet18", width=4).eval()
    student = create_model("deit", depth=1, embed_dim=48, num_heads=2).train()
    x, y = torch.rand(4, 1, 48, 48), torch.tensor([0, 1, 2, 3])
    criterion = DistillationLoss(teacher, label_loss, "hard", alpha=0.5)
    cls, dist = student(x)
    with torch.no_grad():
        teacher_class = teacher(x).argmax(1)
    expected = 0.5 * F.cross_entropy(cls, y) + 0.5 * F.cross_entropy(dist, teacher_class)
    loss = criterion((cls, dist), y, x)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert student.head.weight.grad.abs().sum() > 0
    assert student.head_dist.weight.grad.abs().sum() > 0


def test_attention_transfer_compares_stage_maps_and_needs_cnns():
    f = torch.rand(2, 8, 12, 12)
    assert float(attention_transfer_loss([f], [f * 3])) == pytest.approx(0.0, abs=1e-7)
    assert float(attention_transfer_loss([f], [torch.rand(2, 16, 24, 24)])) > 0  # pooled to 12x12
    torch.manual_seed(0)
    teacher = create_model("resnet18", width=8).eval()
    student = create_model("vgg", width=4, fc_dim=8).train()
    criterion = DistillationLoss(teacher, label_loss, "soft", alpha=0.0, attention_beta=1000.0,
                                 student=student)
    x, y = torch.rand(3, 1, 48, 48), torch.tensor([0, 1, 2])
    out = student(x)
    with_at = criterion(out, y, x)
    assert with_at.item() > label_loss(out, y).item() + 1e-4
    with_at.backward()
    assert student.stages[0][0][0].weight.grad.abs().sum() > 0
    criterion.close()
    with pytest.raises(ConfigError, match=r"needs a model with feature stages.*VisionTransformer"):
        vit = create_model("vit", depth=1)
        DistillationLoss(teacher, label_loss, attention_beta=1.0, student=vit)


def test_feature_matching_is_the_relative_error_of_each_stage_and_needs_equal_shapes():
    f, g = torch.rand(2, 8, 12, 12), torch.rand(2, 16, 6, 6)
    assert float(feature_matching_loss([f, g], [f, g])) == 0.0
    expected = ((2 * f - f) ** 2).mean() / (f**2).mean() + ((0 * g - g) ** 2).mean() / (g**2).mean()
    torch.testing.assert_close(feature_matching_loss([2 * f, 0 * g], [f, g]), expected)
    with pytest.raises(EegemoError, match=r"stage 1 of the student gives \(8, 12, 12\), the "
                       r"teacher's \(16, 6, 6\)"):
        feature_matching_loss([f], [g])
    torch.manual_seed(0)
    teacher = create_model("vgg", width=4, fc_dim=8).eval()
    student = create_model("vgg", width=4, fc_dim=8).train()
    criterion = DistillationLoss(teacher, label_loss, "soft", alpha=0.0, feature_gamma=1.0,
                                 student=student)
    x, y = torch.rand(3, 1, 48, 48), torch.tensor([0, 1, 2])
    out = student(x)
    with_fm = criterion(out, y, x)
    hints = with_fm - label_loss(out, y)
    assert hints.item() > 1e-4
    first_conv = next(student.parameters())
    (grad,) = torch.autograd.grad(hints, first_conv, retain_graph=True)
    assert grad.abs().sum() > 0  # every stage is matched, the first one too
    with_fm.backward()
    assert all(p.grad is None for p in teacher.parameters())
    criterion.close()
    with pytest.raises(EegemoError, match="feature matching pairs stages of the same shapes"):
        wider = create_model("vgg", width=8, fc_dim=8).train()
        criterion = DistillationLoss(teacher, label_loss, feature_gamma=1.0, student=wider)
        criterion(wider(x), y, x)


def test_distill_settings_are_validated():
    config = from_dict(DistillRunConfig, {"model": "vgg", "distill": {"generations": 3}})
    assert config.distill.generations == 3 and config.distill.loss == "soft"
    with pytest.raises(ConfigError, match="distill"):
        from_dict(DistillRunConfig, {"distill": {"temprature": 2.0}})
    with pytest.raises(ConfigError, match=r"distill\.alpha: expected in \[0, 1\], got 1.5"):
        from_dict(DistillRunConfig, {"distill": {"alpha": 1.5}})
    with pytest.raises(ConfigError, match=r"feature_gamma: expected >= 0, got -1"):
        from_dict(DistillRunConfig, {"distill": {"feature_gamma": -1.0}})


def test_two_generations_of_distillation_are_tabulated(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EEGEMO_CACHE_DIR", str(tmp_path / "cache"))
    write_fer_folders(tmp_path / "fer", write_fer_csv(tmp_path / "fer.csv", n_per_class=4))
    common = ["--no-progress", "--set", "epochs=2", "--set", "batch_size=16", "--set", "threads=1"]
    assert main(["train", "--data", str(tmp_path / "fer"), "--out", str(tmp_path / "teacher"),
                 "--set", "model=resnet18", "--set", "model_kwargs={width=8}", *common]) == 0
    capsys.readouterr()
    out = tmp_path / "kd"
    argv = ["distill", "--teacher", str(tmp_path / "teacher"), "--data", str(tmp_path / "fer.csv"),
            "--out", str(out), "--generations", "2", "--set", "model=vgg",
            "--set", "model_kwargs={width=4,fc_dim=16}", "--set", "distill.baseline=true",
            "--set", "distill.attention_beta=100", "--set", "augment.hflip=true", *common]
    # feature matching needs the teacher's stage shapes: refused before anything is written
    assert main([*argv, "--set", "distill.feature_gamma=1"]) == 2  # a config error
    assert "stage 1 of the student gives" in capsys.readouterr().err
    assert not out.exists()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    table = json.loads((out / "distill.json").read_text())
    roles = [r["role"] for r in table["rows"]]
    assert roles == ["teacher", "student (no teacher)", "generation 1", "generation 2"]
    for row in table["rows"]:
        assert {"accuracy", "balanced_accuracy", "macro_f1", "n"} <= set(row) and row["n"] == 28
    assert [r["model"] for r in table["rows"]] == ["resnet18", "vgg", "vgg", "vgg"]
    md = (out / "distill.md").read_text()
    assert all(role in md and role in printed for role in roles)
    for run in ("student", "gen-01", "gen-02"):
        assert (out / run / "checkpoints" / "best.pt").is_file()
    # a finished distillation is not overwritten; --resume keeps the finished generations
    assert main(argv) == 1
    assert "already holds a distillation" in capsys.readouterr().err
    before = (out / "gen-02" / "checkpoints" / "best.pt").stat().st_mtime_ns
    assert main([*argv, "--resume"]) == 0
    assert (out / "gen-02" / "checkpoints" / "best.pt").stat().st_mtime_ns == before
