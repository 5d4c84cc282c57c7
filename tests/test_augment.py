"""Batch augmentations: shapes, soft targets, per-image randomness, each operation's effect."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from eegemo.config import from_dict
from eegemo.errors import ConfigError
from eegemo.train.augment import (
    RANDAUGMENT_OPS,
    AugmentConfig,
    BatchAugment,
    affine_grid,
    build_batch_augment,
    mix_batch,
    random_erase,
)

ALL_ON = AugmentConfig(
    hflip=True,
    rotation=15,
    crop_scale=0.7,
    random_erasing=0.5,
    randaugment_ops=2,
    randaugment_magnitude=9,
    mixup_alpha=0.4,
    cutmix_alpha=1.0,
    mix_prob=1.0,
)


def batch(n: int = 16, c: int = 1, size: int = 48, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, size, size, generator=g), torch.randint(0, 7, (n,), generator=g)


def test_nothing_switched_on_gives_no_transform():
    assert build_batch_augment(AugmentConfig()) is None
    assert isinstance(build_batch_augment(AugmentConfig(hflip=True), 7), BatchAugment)


@pytest.mark.parametrize(
    "config",
    [
        AugmentConfig(hflip=True),
        AugmentConfig(rotation=20),
        AugmentConfig(crop_scale=0.5),
        AugmentConfig(random_erasing=1.0),
        AugmentConfig(randaugment_ops=3, randaugment_magnitude=15),
        AugmentConfig(mixup_alpha=0.8),
        AugmentConfig(cutmix_alpha=1.0),
        ALL_ON,
    ],
)
def test_shapes_are_kept_and_targets_are_probabilities(config):
    torch.manual_seed(0)
    x, y = batch()
    xa, soft = build_batch_augment(config, num_classes=7)(x, y)
    assert xa.shape == x.shape and xa.dtype == x.dtype and torch.isfinite(xa).all()
    assert soft.shape == (16, 7) and (soft >= 0).all()
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(16))
    assert not torch.equal(xa, x)


def test_number_of_classes_can_come_with_each_call():
    x, y = batch(4, c=3, size=32)
    xa, soft = build_batch_augment(AugmentConfig(hflip=True))(x, y, 5)
    assert xa.shape == (4, 3, 32, 32) and soft.shape == (4, 5)
    with pytest.raises(ConfigError, match="number of classes"):
        build_batch_augment(AugmentConfig(hflip=True))(x, y)


def test_flip_mirrors_each_image_independently_and_exactly():
    torch.manual_seed(1)
    x, y = batch(64)
    xa, soft = build_batch_augment(AugmentConfig(hflip=True), 7)(x, y)
    same = torch.isclose(xa, x, atol=1e-5).flatten(1).all(1)
    mirrored = torch.isclose(xa, x.flip(-1), atol=1e-5).flatten(1).all(1)
    assert (same | mirrored).all() and same.any() and mirrored.any()
    torch.testing.assert_close(soft, F.one_hot(y, 7).float())


def test_geometry_is_drawn_per_image():
    torch.manual_seed(2)
    x = batch(1)[0].expand(8, -1, -1, -1).contiguous()
    xa, _ = build_batch_augment(AugmentConfig(rotation=30, crop_scale=0.6), 7)(
        x, torch.zeros(8).long()
    )
    distinct = {tuple(v.flatten()[:50].tolist()) for v in xa}
    assert len(distinct) == 8


def test_crop_size_takes_windows_at_the_images_own_scale():
    ramp = torch.arange(48.0).expand(16, 1, 48, 48).contiguous()  # value = column index
    out, _ = BatchAugment(AugmentConfig(crop_size=40), 7)(ramp, torch.zeros(16, dtype=torch.long))
    assert out.shape == (16, 1, 40, 40)
    torch.testing.assert_close(out.diff(dim=-1), torch.ones(16, 1, 40, 39), atol=1e-4, rtol=0)
    left = out[:, 0, 0, 0]
    assert left.min() >= 0 and left.max() <= 8 and left.unique().numel() > 1  # where varies
    with pytest.raises(ConfigError, match="crop_size is 64"):
        BatchAugment(AugmentConfig(crop_size=64), 7)(ramp, torch.zeros(16, dtype=torch.long))


def test_fast_affine_grid_matches_torch():
    theta = torch.randn(5, 2, 3)
    expected = F.affine_grid(theta, [5, 1, 20, 30], align_corners=False)
    torch.testing.assert_close(affine_grid(theta, 20, 30), expected)


def test_random_erasing_changes_one_rectangle():
    torch.manual_seed(3)
    x, _ = batch(8)
    erased = random_erase(x, 1.0, (0.1, 0.2))
    changed = erased != x
    for m in changed[:, 0]:
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert 0.05 * 48 * 48 < area <= 0.25 * 48 * 48
    assert torch.equal(random_erase(x, 0.0), x)


def test_mixup_blends_images_and_targets_with_the_same_weight():
    torch.manual_seed(4)
    x, y = batch(6)
    onehot = F.one_hot(y, 7).float()
    xm, tm = mix_batch(x, onehot, mixup_alpha=0.5, cutmix_alpha=0.0)
    lam = float((xm[0] - x.flip(0)[0]).flatten()[0] / (x[0] - x.flip(0)[0]).flatten()[0])
    torch.testing.assert_close(xm, lam * x + (1 - lam) * x.flip(0))
    torch.testing.assert_close(tm, lam * onehot + (1 - lam) * onehot.flip(0))


def test_cutmix_target_weights_equal_the_pasted_area():
    torch.manual_seed(5)
    x = torch.zeros(4, 1, 48, 48)
    x[2:] = 1.0  # the reversed partners of the first two images are ones
    onehot = F.one_hot(torch.tensor([0, 1, 2, 3]), 4).float()
    xm, tm = mix_batch(x, onehot, mixup_alpha=0.0, cutmix_alpha=1.0)
    pasted = float(xm[0].mean())
    torch.testing.assert_close(tm[0], torch.tensor([1 - pasted, 0, 0, pasted]))


@pytest.mark.parametrize("op", [o for o in RANDAUGMENT_OPS if o != "identity"])
def test_each_randaugment_operation_keeps_images_in_range(op, monkeypatch):
    aug = BatchAugment(AugmentConfig(randaugment_ops=1, randaugment_magnitude=20), 7)
    index = RANDAUGMENT_OPS.index(op)
    monkeypatch.setattr(
        aug, "_draw_randaugment", lambda n, device: (torch.full((n, 1), index), torch.ones(n, 1))
    )
    x, y = batch(8)
    x[0] = 0.3  # a flat image
    xa, _ = aug(x, y)
    assert xa.shape == x.shape and xa.min() >= 0.0 and xa.max() <= 1.0
    if op != "color":  # colour is the identity on grayscale
        assert not torch.allclose(xa, x)


def test_invalid_settings_are_config_errors():
    with pytest.raises(ConfigError, match="crop_scale must be in"):
        from_dict(AugmentConfig, {"crop_scale": 0.0})
    with pytest.raises(ConfigError, match="randaugment_magnitude must be 0-30"):
        from_dict(AugmentConfig, {"randaugment_magnitude": 31})
    with pytest.raises(ConfigError, match="padding"):
        from_dict(AugmentConfig, {"padding": "wrap"})
