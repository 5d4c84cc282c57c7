"""The facial-expression model zoo: every model at 48x48, DeiT's two heads, the registry."""

from __future__ import annotations

import pytest
import torch

from eegemo.errors import ConfigError
from eegemo.face.models import create_model, list_models
from eegemo.models.registry import count_macs

FACE_MODELS = (
    "vgg",
    "resnet18",
    "resnet34",
    "resmasknet",
    "residual_attention",
    "vit",
    "deit",
    "convnext",
)


def test_the_zoo_is_listed_with_descriptions_and_sizes():
    rows = {r["name"]: r for r in list_models()}
    assert set(rows) == set(FACE_MODELS)  # the face zoo only, no EEG models
    for name in FACE_MODELS:
        assert rows[name]["input_shape"] == [1, 48, 48] and rows[name]["num_classes"] == 7
        assert rows[name]["description"]
        model = create_model(name)  # the defaults: 7 classes, 1x48x48
        assert rows[name]["params"] == sum(p.numel() for p in model.parameters())
        assert rows[name]["macs"] == count_macs(model, (1, 48, 48)) > 0


@pytest.mark.parametrize("name", FACE_MODELS)
def test_model_maps_a_48x48_batch_to_seven_logits(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=7, input_shape=(1, 48, 48)).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 48, 48))
    assert out.shape == (2, 7) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("vgg", {"width": 8, "fc_dim": 32}),
        ("resnet18", {"width": 8}),
        ("resmasknet", {"width": 8}),
        ("residual_attention", {"width": 4}),
        ("convnext", {"variant": "atto"}),
        ("vit", {"depth": 2, "embed_dim": 48, "num_heads": 2, "patch_size": 6}),
    ],
)
def test_small_variants_train_and_expose_their_options(name, kwargs):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, input_shape=(1, 48, 48), **kwargs).train()
    x, y = torch.rand(4, 1, 48, 48), torch.tensor([0, 1, 2, 0])
    torch.nn.functional.cross_entropy(model(x), y).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    if name != "vit":  # CNNs expose four stages for attention transfer
        assert len(model.stages) == 4


def test_deit_training_mode_returns_class_and_distillation_heads():
    model = create_model("deit", depth=2).train()
    cls, dist = model(torch.rand(2, 1, 48, 48))
    assert cls.shape == dist.shape == (2, 7)
    assert model.dist_token.shape[-1] == model.embed_dim
    model.eval()
    with torch.no_grad():
        x = torch.rand(2, 1, 48, 48)
        feats = model.forward_features(x)
        expected = (model.head(feats[:, 0]) + model.head_dist(feats[:, 1])) / 2
        torch.testing.assert_close(model(x), expected)


def test_stochastic_depth_and_truncated_normal_init():
    vit = create_model("vit", depth=4, drop_path_rate=0.2)
    assert isinstance(vit.blocks[0].drop_path1, torch.nn.Identity)  # rate 0 in the first block
    assert vit.blocks[-1].drop_path1.drop_prob == pytest.approx(0.2)
    convnext = create_model("convnext", variant="atto", drop_path_rate=0.3)
    assert convnext.stages[-1].blocks[-1].drop_path.drop_prob == pytest.approx(0.3)
    vgg = create_model("vgg", width=8, fc_dim=4096)
    fc = vgg.classifier[1].weight.detach()
    assert float(fc.abs().max()) <= 0.04 + 1e-6 and float(fc.std()) == pytest.approx(
        0.0176, rel=0.05
    )


def test_convnext_stem_keeps_small_faces_at_24_pixels():
    model = create_model("convnext", variant="atto").eval()
    sizes = []
    for stage in model.stages:
        stage.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
    with torch.no_grad():
        model(torch.rand(1, 1, 48, 48))
    assert sizes == [24, 12, 6, 3]


def test_macs_are_counted_on_the_real_input():
    small = create_model("resnet18", width=8)
    wide = create_model("resnet18", width=16)
    assert count_macs(wide, (1, 48, 48)) == pytest.approx(
        4 * count_macs(small, (1, 48, 48)), rel=0.05
    )


def test_unknown_names_and_bad_options_are_clear_errors():
    with pytest.raises(ConfigError, match=r"unknown model 'resnet19'.*did you mean 'resnet18'"):
        create_model("resnet19")
    with pytest.raises(ConfigError, match="patch_size must divide img_size"):
        create_model("vit", patch_size=5)
    with pytest.raises(ConfigError, match="convnext variant 'huge' unknown"):
        create_model("convnext", variant="huge")
    with pytest.raises(ConfigError, match=r"model 'vgg': unknown option\(s\) depth "
                       r"\(options: width, fc_dim, dropout\)"):
        create_model("vgg", depth=3)
    with pytest.raises(ConfigError, match="img_size must be at least 16"):
        create_model("vgg", input_shape=(1, 8, 8))
    with pytest.raises(ConfigError, match=r"'vgg' takes square images.*\(1, 48, 40\)"):
        create_model("vgg", input_shape=(1, 48, 40))
