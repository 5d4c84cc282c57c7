"""Batch augmentations for image-like inputs (faces and, where sensible, topomaps)."""

from __future__ import annotations

import dataclasses

from ..config import option


@dataclasses.dataclass
class AugmentConfig:
    """Training-time augmentations, applied to whole batches. All off by default."""

    hflip: bool = option(False, "random horizontal flip with probability 0.5")
    rotation: float = option(0.0, "maximum random rotation in degrees (0 = off)")
    crop_scale: float = option(
        1.0, "random resized crop: smallest area fraction kept (1.0 = off)"
    )
    random_erasing: float = option(0.0, "probability of erasing a random rectangle (0 = off)")
    randaugment_ops: int = option(0, "RandAugment: operations per image (0 = off)")
    randaugment_magnitude: int = option(9, "RandAugment: magnitude (0-30)")
    mixup_alpha: float = option(0.0, "MixUp Beta(alpha, alpha) parameter (0 = off)")
    cutmix_alpha: float = option(0.0, "CutMix Beta(alpha, alpha) parameter (0 = off)")
    mix_prob: float = option(1.0, "probability that a batch gets MixUp or CutMix")
