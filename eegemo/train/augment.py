"""Batch augmentations for image-like inputs (faces and, where sensible, topomaps).

:func:`build_batch_augment` turns an :class:`AugmentConfig` into a callable that
transforms a whole training batch at once, on whatever device it lives, with its
own random draw for every image:

1. geometry: a random window of ``crop_size`` pixels, horizontal flip, rotation,
   random resized crop and RandAugment's shear/translate/rotate are composed into
   one affine matrix per image and applied with a single ``grid_sample`` call;
2. RandAugment's photometric operations (brightness, contrast, sharpness,
   posterize, solarize, autocontrast, equalize, colour), each applied to the images
   that drew it;
3. random erasing of one rectangle per chosen image;
4. MixUp or CutMix of the batch with itself reversed, producing soft targets.

Photometric operations assume images in [0, 1] (as :class:`eegemo.face.data.FaceDataset`
serves them); geometry, erasing and mixing work on any values.
"""

from __future__ import annotations

import dataclasses
import math

from ..config import option
from ..errors import ConfigError

#: RandAugment operations (torchvision's list); geometric ones are merged into the affine pass.
RANDAUGMENT_OPS = (
    "identity",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
    "rotate",
    "brightness",
    "color",
    "contrast",
    "sharpness",
    "posterize",
    "solarize",
    "autocontrast",
    "equalize",
)
_GEOMETRIC = ("shear_x", "shear_y", "translate_x", "translate_y", "rotate")


@dataclasses.dataclass
class AugmentConfig:
    """Training-time augmentations, applied to whole batches. All off by default."""

    hflip: bool = option(False, "random horizontal flip with probability 0.5")
    rotation: float = option(0.0, "maximum random rotation in degrees (0 = off)")
    crop_scale: float = option(
        1.0, "random resized crop: smallest area fraction kept (1.0 = off)"
    )
    crop_size: int = option(
        0,
        "train on a random crop_size x crop_size window at the image's own scale, while "
        "evaluation sees whole images: fewer pixels per step, so faster epochs (needs a "
        "model with global pooling; 0 = off)",
    )
    random_erasing: float = option(0.0, "probability of erasing a random rectangle (0 = off)")
    randaugment_ops: int = option(0, "RandAugment: operations per image (0 = off)")
    randaugment_magnitude: int = option(9, "RandAugment: magnitude (0-30)")
    mixup_alpha: float = option(0.0, "MixUp Beta(alpha, alpha) parameter (0 = off)")
    cutmix_alpha: float = option(0.0, "CutMix Beta(alpha, alpha) parameter (0 = off)")
    mix_prob: float = option(1.0, "probability that a batch gets MixUp or CutMix")
    padding: str = option(
        "reflection",
        "how geometric transforms fill pixels from outside the image",
        choices=("reflection", "border", "zeros"),
    )
    erasing_scale: list[float] = option(
        [0.02, 0.33], "random erasing: smallest and largest erased area fraction"
    )

    def __post_init__(self) -> None:
        checks = [
            (0.0 <= self.rotation <= 180.0, f"rotation must be 0-180 degrees, got {self.rotation}"),
            (0.0 < self.crop_scale <= 1.0, f"crop_scale must be in (0, 1], got {self.crop_scale}"),
            (self.crop_size >= 0, f"crop_size must be >= 0 pixels, got {self.crop_size}"),
            (0.0 <= self.random_erasing <= 1.0,
             f"random_erasing must be a probability, got {self.random_erasing}"),
            (self.randaugment_ops >= 0,
             f"randaugment_ops must be >= 0, got {self.randaugment_ops}"),
            (0 <= self.randaugment_magnitude <= 30,
             f"randaugment_magnitude must be 0-30, got {self.randaugment_magnitude}"),
            (self.mixup_alpha >= 0 and self.cutmix_alpha >= 0,
             "mixup_alpha and cutmix_alpha must be >= 0"),
            (0.0 <= self.mix_prob <= 1.0, f"mix_prob must be a probability, got {self.mix_prob}"),
            (len(self.erasing_scale) == 2
             and 0 < self.erasing_scale[0] <= self.erasing_scale[1] < 1,
             f"erasing_scale must be [min, max] with 0 < min <= max < 1, got {self.erasing_scale}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


def build_batch_augment(
    config: AugmentConfig, num_classes: int | None = None
) -> BatchAugment | None:
    """The batch transform for ``config``, or None when every augmentation is off.

    Parameters
    ----------
    config : AugmentConfig
        Which augmentations, how strong.
    num_classes : int, optional
        Width of the soft targets; may instead be given at each call.

    Returns
    -------
    transform : BatchAugment | None
        ``transform(x, y[, num_classes]) -> (x, y_soft)``.
    """
    if config == AugmentConfig(padding=config.padding, erasing_scale=config.erasing_scale):
        return None
    return BatchAugment(config, num_classes)


class BatchAugment:
    """Augment a batch ``x (N, C, H, W)`` with labels ``y (N,)``; return soft targets.

    Parameters
    ----------
    config : AugmentConfig
        Which augmentations, how strong.
    num_classes : int, optional
        Width of the soft targets (may instead be passed to each call).
    """

    def __init__(self, config: AugmentConfig, num_classes: int | None = None) -> None:
        self.config = config
        self.num_classes = num_classes

    def __call__(self, x, y, num_classes: int | None = None):
        """Return ``(x_augmented, y_soft)``; ``y_soft`` rows are probabilities summing to 1.

        Parameters
        ----------
        x : torch.Tensor
            Float images ``(N, C, H, W)``.
        y : torch.Tensor
            Class indices ``(N,)`` (int64).
        num_classes : int, optional
            Overrides the number given at construction.
        """
        import torch
        from torch.nn import functional as F

        num_classes = num_classes or self.num_classes
        if num_classes is None:
            raise ConfigError("batch augmentation needs the number of classes")
        if x.ndim != 4 or not x.is_floating_point():
            raise ValueError(f"expected a float batch (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"expected {x.shape[0]} class indices, got shape {tuple(y.shape)}")
        c = self.config
        ops = self._draw_randaugment(x.shape[0], x.device) if c.randaugment_ops else None
        with torch.no_grad():
            x = self._geometry(x, ops)
            if ops is not None:
                x = self._photometric(x, ops)
            if c.random_erasing > 0:
                x = random_erase(x, c.random_erasing, c.erasing_scale)
            targets = F.one_hot(y, num_classes).to(x.dtype)
            if (c.mixup_alpha > 0 or c.cutmix_alpha > 0) and torch.rand(()) < c.mix_prob:
                x, targets = mix_batch(x, targets, c.mixup_alpha, c.cutmix_alpha)
        return x, targets

    # -- RandAugment draws ------------------------------------------------------------

    def _draw_randaugment(self, n: int, device):
        """Per image and round: an operation index and a random sign."""
        import torch

        rounds = self.config.randaugment_ops
        choice = torch.randint(len(RANDAUGMENT_OPS), (n, rounds), device=device)
        sign = torch.randint(0, 2, (n, rounds), device=device) * 2.0 - 1.0
        return choice, sign

    def _magnitude(self, op: str) -> float:
        """torchvision's RandAugment magnitude of ``op`` for the configured level (0-30)."""
        m = self.config.randaugment_magnitude / 30.0
        return {
            "shear_x": 0.3 * m,
            "shear_y": 0.3 * m,
            "translate_x": 150.0 / 331.0 * m,
            "translate_y": 150.0 / 331.0 * m,
            "rotate": 30.0 * m,
            "brightness": 0.9 * m,
            "color": 0.9 * m,
            "contrast": 0.9 * m,
            "sharpness": 0.9 * m,
            "posterize": float(8 - round(4 * m)),
            "solarize": 1.0 - m,
        }.get(op, 0.0)

    # -- geometry -----------------------------------------------------------------------

    def _geometry(self, x, ops):
        """Flip, rotation, crop and RandAugment geometry as one affine resampling."""
        import torch
        from torch.nn import functional as F

        c = self.config
        n = x.shape[0]
        use_ra = ops is not None and any(
            bool((ops[0] == RANDAUGMENT_OPS.index(g)).any()) for g in _GEOMETRIC
        )
        height, width = x.shape[-2:]
        if c.crop_size > min(height, width):
            raise ConfigError(
                f"augment.crop_size is {c.crop_size} pixels but the images are {height}x{width}"
            )
        window = c.crop_size > 0 and c.crop_size < max(height, width)
        if not (c.hflip or c.rotation > 0 or c.crop_scale < 1.0 or use_ra or window):
            return x
        dev, dt = x.device, torch.float32
        eye = torch.eye(3, device=dev, dtype=dt).expand(n, 3, 3)
        total = eye.clone()

        def then(m):  # compose: points of the output grid go through m first
            nonlocal total
            total = total @ m

        def crop(w, h):  # a window of relative size (w, h) at a random place
            m = eye.clone()
            m[:, 0, 0], m[:, 1, 1] = w, h
            m[:, 0, 2] = (torch.rand(n, device=dev) * 2 - 1) * (1 - w)
            m[:, 1, 2] = (torch.rand(n, device=dev) * 2 - 1) * (1 - h)
            then(m)

        if window:  # output pixels keep the input's size: a window, not a resize
            crop(c.crop_size / width, c.crop_size / height)
            height = width = c.crop_size
        if c.crop_scale < 1.0:
            area = torch.empty(n, device=dev).uniform_(c.crop_scale, 1.0)
            log_ratio = torch.empty(n, device=dev).uniform_(math.log(3 / 4), math.log(4 / 3))
            ratio = log_ratio.exp()
            crop((area * ratio).sqrt().clamp(max=1.0), (area / ratio).sqrt().clamp(max=1.0))
        angle = torch.zeros(n, device=dev)
        if c.rotation > 0:
            angle = angle + (torch.rand(n, device=dev) * 2 - 1) * c.rotation
        shear = torch.zeros(n, 2, device=dev)
        shift = torch.zeros(n, 2, device=dev)
        if use_ra:
            choice, sign = ops
            for r in range(choice.shape[1]):
                for op in _GEOMETRIC:
                    sel = (choice[:, r] == RANDAUGMENT_OPS.index(op)).to(dt) * sign[:, r]
                    mag = self._magnitude(op)
                    if op == "rotate":
                        angle = angle + sel * mag
                    elif op.startswith("shear"):
                        shear[:, 0 if op.endswith("x") else 1] += sel * mag
                    else:
                        shift[:, 0 if op.endswith("x") else 1] += sel * mag * 2
        rad = angle * (math.pi / 180.0)
        m = eye.clone()
        m[:, 0, 0], m[:, 0, 1] = rad.cos(), -rad.sin()
        m[:, 1, 0], m[:, 1, 1] = rad.sin(), rad.cos()
        m[:, 0, 2], m[:, 1, 2] = shift[:, 0], shift[:, 1]
        then(m)
        if use_ra:
            m = eye.clone()
            m[:, 0, 1], m[:, 1, 0] = shear[:, 0], shear[:, 1]
            then(m)
        if c.hflip:
            m = eye.clone()
            m[:, 0, 0] = torch.where(torch.rand(n, device=dev) < 0.5, -1.0, 1.0)
            then(m)
        grid = affine_grid(total[:, :2, :].to(x.dtype), height, width)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode=c.padding, align_corners=False)

    # -- photometric --------------------------------------------------------------------

    def _photometric(self, x, ops):
        """Apply each round's photometric operation to the images that drew it."""
        import torch

        choice, sign = ops
        x = x.clone()
        for r in range(choice.shape[1]):
            for k, op in enumerate(RANDAUGMENT_OPS):
                if op == "identity" or op in _GEOMETRIC:
                    continue
                idx = torch.nonzero(choice[:, r] == k).flatten()
                if idx.numel() == 0:
                    continue
                x[idx] = _PHOTOMETRIC[op](x[idx], sign[idx, r], self._magnitude(op))
        return x


def affine_grid(theta, height: int, width: int):
    """Sampling grid of ``torch.nn.functional.affine_grid(theta, (N, C, H, W))``.

    Same result (``align_corners=False``), computed with broadcast multiply-adds: on
    CPU this takes less than half the time of the batched matrix product that
    ``affine_grid`` performs for small images.

    Parameters
    ----------
    theta : torch.Tensor
        ``(N, 2, 3)`` matrices mapping output to input coordinates in [-1, 1].
    height, width : int
        Output size.

    Returns
    -------
    grid : torch.Tensor
        ``(N, H, W, 2)``.
    """
    import torch

    dev, dt = theta.device, theta.dtype
    xs = ((torch.arange(width, device=dev, dtype=dt) * 2 + 1) / width - 1).view(1, 1, width)
    ys = ((torch.arange(height, device=dev, dtype=dt) * 2 + 1) / height - 1).view(1, height, 1)
    a = theta.reshape(-1, 6, 1, 1)
    gx = a[:, 0] * xs + a[:, 1] * ys + a[:, 2]
    gy = a[:, 3] * xs + a[:, 4] * ys + a[:, 5]
    return torch.stack((gx, gy), dim=-1)


# ------------------------------------------------------------------- photometric ops


def _per_image(v, x):
    return v.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)


def _blend(x, degenerate, factor):
    """``degenerate + factor * (x - degenerate)`` clipped to [0, 1] (PIL's ImageEnhance)."""
    return (degenerate + _per_image(factor, x) * (x - degenerate)).clamp_(0.0, 1.0)


def _grayscale(x):
    if x.shape[1] == 3:
        w = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True).expand_as(x)
    return x.mean(1, keepdim=True).expand_as(x)


def _brightness(x, sign, mag):
    return _blend(x, x.new_zeros(()), 1 + sign * mag)


def _color(x, sign, mag):
    return _blend(x, _grayscale(x), 1 + sign * mag)


def _contrast(x, sign, mag):
    mean = _grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean, 1 + sign * mag)


def _sharpness(x, sign, mag):
    from torch.nn import functional as F

    c = x.shape[1]
    kernel = x.new_tensor([[1, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13.0
    blurred = F.conv2d(x, kernel.expand(c, 1, 3, 3), padding=1, groups=c)
    blurred[..., 0, :], blurred[..., -1, :] = x[..., 0, :], x[..., -1, :]
    blurred[..., :, 0], blurred[..., :, -1] = x[..., :, 0], x[..., :, -1]
    return _blend(x, blurred, 1 + sign * mag)


def _posterize(x, sign, bits):
    step = 2.0 ** (8 - int(bits))
    return (x * 255.0 / step).floor_().mul_(step / 255.0)


def _solarize(x, sign, threshold):
    return x.where(x < threshold, 1.0 - x)


def _autocontrast(x, sign, mag):
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    scale = (hi - lo).clamp_min(1e-6)
    return ((x - lo) / scale).where(hi > lo, x)


def _equalize(x, sign, mag):
    from torchvision.transforms.v2 import functional as TF

    return TF.equalize(x.clamp(0.0, 1.0))


_PHOTOMETRIC = {
    "brightness": _brightness,
    "color": _color,
    "contrast": _contrast,
    "sharpness": _sharpness,
    "posterize": _posterize,
    "solarize": _solarize,
    "autocontrast": _autocontrast,
    "equalize": _equalize,
}


# ------------------------------------------------------------------- erasing and mixing


def random_erase(x, prob: float, scale: tuple[float, float] | list[float] = (0.02, 0.33)):
    """Erase one random rectangle in each image with probability ``prob``.

    The rectangle covers ``scale`` of the area with an aspect ratio in [0.3, 3.3]
    and is filled with Gaussian noise of the batch's mean and spread.

    Parameters
    ----------
    x : torch.Tensor
        ``(N, C, H, W)`` float batch (not modified).
    prob : float
        Probability that an image gets a rectangle.
    scale : pair of float
        Smallest and largest erased area fraction.

    Returns
    -------
    x : torch.Tensor
        The batch with the rectangles erased.
    """
    import torch

    n, _, height, width = x.shape
    dev = x.device
    area = torch.empty(n, device=dev).uniform_(*scale) * height * width
    ratio = torch.empty(n, device=dev).uniform_(math.log(0.3), math.log(3.3)).exp()
    h = (area * ratio).sqrt().round().clamp(1, height)
    w = (area / ratio).sqrt().round().clamp(1, width)
    top = (torch.rand(n, device=dev) * (height - h + 1)).floor()
    left = (torch.rand(n, device=dev) * (width - w + 1)).floor()
    rows = torch.arange(height, device=dev).view(1, height, 1)
    cols = torch.arange(width, device=dev).view(1, 1, width)
    inside = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + h).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + w).view(n, 1, 1))
        & (torch.rand(n, 1, 1, device=dev) < prob)
    ).unsqueeze(1)
    noise = torch.randn_like(x) * x.std() + x.mean()
    return torch.where(inside, noise, x)


def mix_batch(x, targets, mixup_alpha: float, cutmix_alpha: float):
    """MixUp or CutMix each image with its partner in the reversed batch.

    With both alphas positive, one of the two is chosen with probability 0.5.

    Parameters
    ----------
    x : torch.Tensor
        ``(N, C, H, W)`` batch.
    targets : torch.Tensor
        ``(N, num_classes)`` soft targets.
    mixup_alpha, cutmix_alpha : float
        Beta-distribution parameters (0 disables that method).

    Returns
    -------
    x, targets : torch.Tensor
        Mixed images and correspondingly mixed targets.
    """
    import torch

    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or bool(torch.rand(()) < 0.5))
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    partner, partner_targets = x.flip(0), targets.flip(0)
    if use_cutmix:
        height, width = x.shape[-2:]
        cut = math.sqrt(1.0 - lam)
        ch, cw = int(height * cut), int(width * cut)
        cy, cx = int(torch.randint(height, ())), int(torch.randint(width, ()))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, height)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, width)
        x = x.clone()
        x[..., y0:y1, x0:x1] = partner[..., y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (height * width)
    else:
        x = x * lam + partner * (1.0 - lam)
    return x, targets * lam + partner_targets * (1.0 - lam)
