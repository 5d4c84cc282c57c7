"""Facial-expression CNNs: VGG, ResNet, Residual Masking Network, Residual Attention Network.

Every network here works natively on small grayscale faces (48x48 FER2013): the
stems keep full resolution instead of the 4x ImageNet downsampling, weights are
drawn from a truncated normal (He-scaled for convolutions), and each exposes
``stages``, the modules whose outputs attention transfer and feature matching
(:mod:`eegemo.train.distill`) compare between teacher and student.

The builders return the weights in channels-last (NHWC) memory format: convolutions
then run channels-last on CPU as well as on GPU, which measured about 20% faster
training on CPU for ResNet-18 and VGG (``benchmarks/fer_cpu.py``, docs/faces.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..environment import import_optional
from ..errors import ConfigError
from .registry import register_model, square_image


def init_truncated_normal(module: nn.Module) -> None:
    """Truncated-normal initialisation for every layer of ``module``.

    Convolutions get a He-scaled standard deviation (``sqrt(2 / fan_out)``), linear
    layers 0.02, both truncated at two standard deviations; normalisation layers
    start at weight 1, bias 0.
    """
    # timm's inverse-CDF sampling: faster than torch's rejection sampling
    trunc_normal_ = import_optional("timm.layers", "face models").trunc_normal_

    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
            std = math.sqrt(2.0 / fan_out)
            trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _check_input(in_chans: int, img_size: int, min_size: int) -> None:
    if in_chans < 1:
        raise ConfigError(f"in_chans must be at least 1, got {in_chans}")
    if img_size < min_size:
        raise ConfigError(f"img_size must be at least {min_size} for this network, got {img_size}")


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


# ------------------------------------------------------------------- VGG


class FerVGG(nn.Module):
    """The FER2013 VGG variant of Khaireddin & Chen (2021).

    Four stages of two 3x3 conv-BN-ReLU layers and a 2x2 max-pool (64, 128, 256,
    512 channels at ``width=64``), then three fully connected layers with dropout.

    Parameters
    ----------
    num_classes, in_chans, img_size : int
        Output classes, input channels, input height and width.
    width : int
        Channels of the first stage (doubled at each stage).
    fc_dim : int
        Units of the two hidden fully connected layers (4096 in the paper).
    dropout : float
        Dropout after each hidden fully connected layer.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        img_size: int = 48,
        width: int = 64,
        fc_dim: int = 4096,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        _check_input(in_chans, img_size, 16)
        chans = [in_chans] + [width * 2**i for i in range(4)]
        self.stages = nn.ModuleList(
            nn.Sequential(
                _conv_bn_relu(chans[i], chans[i + 1]),
                _conv_bn_relu(chans[i + 1], chans[i + 1]),
                nn.MaxPool2d(2),
            )
            for i in range(4)
        )
        side = img_size // 16
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(chans[-1] * side * side, fc_dim),
            nn.Dropout(dropout),
            nn.ReLU(inplace=True),
            nn.Linear(fc_dim, fc_dim),
            nn.Dropout(dropout),
            nn.ReLU(inplace=True),
            nn.Linear(fc_dim, num_classes),
        )
        init_truncated_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for images ``(N, in_chans, H, W)``."""
        for stage in self.stages:
            x = stage(x)
        return self.classifier(x)


# ------------------------------------------------------------------- ResNet


class FaceResNet(nn.Module):
    """ResNet with a stem for small faces (3x3 conv, no max-pool).

    Parameters
    ----------
    layers : sequence of 4 int
        Basic blocks per stage (``(2, 2, 2, 2)`` ResNet-18, ``(3, 4, 6, 3)`` ResNet-34).
    num_classes, in_chans, img_size : int
        Output classes, input channels, input height and width.
    width : int
        Channels of the first stage (64 in the original; doubled at each stage).
    stem_stride : int
        Stride of the stem convolution (1 keeps 48x48 in the first stage).
    dropout : float
        Dropout before the classifier.
    """

    def __init__(
        self,
        layers: tuple[int, int, int, int],
        num_classes: int = 7,
        in_chans: int = 1,
        img_size: int = 48,
        width: int = 64,
        stem_stride: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_input(in_chans, img_size, 8 * stem_stride)
        from torchvision.models.resnet import BasicBlock

        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages, cin = [], width
        for i, n in enumerate(layers):
            cout, stride = width * 2**i, 1 if i == 0 else 2
            blocks = []
            for j in range(n):
                down = None
                if j == 0 and (stride != 1 or cin != cout):
                    down = nn.Sequential(
                        nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                    )
                blocks.append(BasicBlock(cin, cout, stride if j == 0 else 1, down))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes)
        )
        init_truncated_normal(self)
        for m in self.modules():  # each residual branch starts as the identity
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward_stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Apply stage ``i`` (subclasses add what follows each stage)."""
        return self.stages[i](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for images ``(N, in_chans, H, W)``."""
        x = self.stem(x)
        for i in range(len(self.stages)):
            x = self.forward_stage(i, x)
        return self.head(x)


# ------------------------------------------------------------------- Residual Masking Network


class _DoubleConv(nn.Module):
    """Residual pair of 3x3 conv-BN layers changing ``cin`` to ``cout`` channels."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.skip = (
            nn.Identity()
            if cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


class MaskingBlock(nn.Module):
    """Masking block of the Residual Masking Network (Pham et al., 2020).

    A small U-Net of ``depth`` levels (channels doubling at each level) produces a
    sigmoid mask ``M`` with the input's shape; the block returns ``x * (1 + M)``, so
    the mask re-weights features without being able to erase them.

    Parameters
    ----------
    channels : int
        Channels of the feature map it masks.
    depth : int
        Number of down/up-sampling levels.
    """

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        widths = [channels * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList(_DoubleConv(widths[i], widths[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(_DoubleConv(widths[i + 1], widths[i]) for i in range(depth))
        self.bottom = _DoubleConv(widths[-1], widths[-1])
        self.out = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x * (1 + mask(x))``."""
        skips, h = [], x
        for down in self.down:
            skips.append(h)
            h = F.max_pool2d(down(h), 2, ceil_mode=True)
        h = self.bottom(h)
        for up, skip in zip(reversed(self.up), reversed(skips), strict=True):
            h = F.interpolate(up(h), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = h + skip
        return x * (1 + torch.sigmoid(self.out(h)))


class ResMaskNet(FaceResNet):
    """Residual Masking Network: ResNet-34 with a masking block after each stage.

    Masking depths 4, 3, 2, 1 follow the original. At ``width=64`` the network has
    the original's channel widths; ``width=32`` is about four times smaller.

    Parameters
    ----------
    num_classes, in_chans, img_size : int
        Output classes, input channels, input height and width.
    width : int
        Channels of the first ResNet stage.
    stem_stride : int
        Stride of the stem convolution.
    dropout : float
        Dropout before the classifier.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        img_size: int = 48,
        width: int = 32,
        stem_stride: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__((3, 4, 6, 3), num_classes, in_chans, img_size, width, stem_stride, dropout)
        self.masks = nn.ModuleList(MaskingBlock(width * 2**i, depth=4 - i) for i in range(4))
        init_truncated_normal(self.masks)

    def forward_stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Stage ``i`` followed by its masking block."""
        return self.masks[i](self.stages[i](x))


# ------------------------------------------------------------------- Residual Attention Network


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck residual unit (BN-ReLU-conv, 1x1 / 3x3 / 1x1)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        mid = max(cout // 4, 1)
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.shortcut = (
            nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual unit output."""
        pre = F.relu(self.bn1(x))
        skip = self.shortcut(pre) if self.shortcut is not None else x
        h = self.conv1(pre)
        h = self.conv2(F.relu(self.bn2(h)))
        h = self.conv3(F.relu(self.bn3(h)))
        return h + skip


class AttentionModule(nn.Module):
    """Attention module of the Residual Attention Network (Wang et al., 2017).

    A trunk branch of two residual units and a soft mask branch (bottom-up
    max-pooling then top-down interpolation, ``depth`` levels with skip
    connections, ending in a sigmoid) combine as ``(1 + M) * T``, between one
    residual unit before and one after.

    Parameters
    ----------
    channels : int
        Feature channels (unchanged by the module).
    depth : int
        Down-sampling levels of the mask branch.
    """

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        unit = PreActBottleneck
        self.pre = unit(channels, channels)
        self.trunk = nn.Sequential(unit(channels, channels), unit(channels, channels))
        self.down = nn.ModuleList(unit(channels, channels) for _ in range(depth))
        self.skips = nn.ModuleList(unit(channels, channels) for _ in range(depth - 1))
        self.up = nn.ModuleList(unit(channels, channels) for _ in range(depth - 1))
        self.mask_out = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1),
        )
        self.post = unit(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``post((1 + mask) * trunk(pre(x)))``."""
        x = self.pre(x)
        trunk = self.trunk(x)
        sizes, skips, h = [], [], x
        for i, down in enumerate(self.down):
            sizes.append(h.shape[-2:])
            h = down(F.max_pool2d(h, 3, 2, 1))
            if i < len(self.skips):
                skips.append(self.skips[i](h))
        for up, skip, size in zip(self.up, reversed(skips), reversed(sizes[1:]), strict=True):
            h = up(F.interpolate(h, size=size, mode="bilinear", align_corners=False) + skip)
        h = F.interpolate(h, size=sizes[0], mode="bilinear", align_corners=False)
        mask = torch.sigmoid(self.mask_out(h))
        return self.post((1 + mask) * trunk)


class ResidualAttentionNet(nn.Module):
    """Residual Attention Network (Attention-56 layout) for small faces.

    Three stages, each a residual unit followed by one attention module, at 48, 24
    and 12 pixels (mask depths 3, 2, 1), then three residual units at 6 pixels.

    Parameters
    ----------
    num_classes, in_chans, img_size : int
        Output classes, input channels, input height and width.
    width : int
        Stem channels; the stages have 4, 8, 16 and 32 times as many.
    dropout : float
        Dropout before the classifier.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        img_size: int = 48,
        width: int = 16,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_input(in_chans, img_size, 16)
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        c = [width * m for m in (4, 8, 16, 32)]
        self.stages = nn.ModuleList(
            [
                nn.Sequential(PreActBottleneck(width, c[0]), AttentionModule(c[0], 3)),
                nn.Sequential(PreActBottleneck(c[0], c[1], 2), AttentionModule(c[1], 2)),
                nn.Sequential(PreActBottleneck(c[1], c[2], 2), AttentionModule(c[2], 1)),
                nn.Sequential(
                    PreActBottleneck(c[2], c[3], 2),
                    PreActBottleneck(c[3], c[3]),
                    PreActBottleneck(c[3], c[3]),
                ),
            ]
        )
        self.head = nn.Sequential(
            nn.BatchNorm2d(c[3]),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(c[3], num_classes),
        )
        init_truncated_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for images ``(N, in_chans, H, W)``."""
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.head(x)


# ------------------------------------------------------------------- registry


def _channels_last(model: nn.Module) -> nn.Module:
    """Store 4-D weights channels-last, so convolutions produce channels-last outputs."""
    return model.to(memory_format=torch.channels_last)


@register_model(
    "vgg",
    family="face",
    description="FER VGG of Khaireddin & Chen (2021): 4x2 conv-BN stages, 3 FC layers",
    input_shape=(1, 48, 48),
    num_classes=7,
    feature_stages=True,
)
def vgg(
    num_classes: int = 7,
    input_shape: Sequence[int] = (1, 48, 48),
    width: int = 64,
    fc_dim: int = 4096,
    dropout: float = 0.2,
) -> FerVGG:
    """The FER VGG variant (see :class:`FerVGG`)."""
    in_chans, img_size = square_image("vgg", input_shape)
    return _channels_last(FerVGG(num_classes, in_chans, img_size, width, fc_dim, dropout))


def _resnet(name: str, layers: tuple[int, int, int, int], num_classes: int,
            input_shape: Sequence[int], width: int, stem_stride: int,
            dropout: float) -> FaceResNet:
    in_chans, img_size = square_image(name, input_shape)
    return _channels_last(
        FaceResNet(layers, num_classes, in_chans, img_size, width, stem_stride, dropout)
    )


@register_model(
    "resnet18",
    family="face",
    description="ResNet-18 with a 3x3 stride-1 stem for 48x48 faces",
    input_shape=(1, 48, 48),
    num_classes=7,
    feature_stages=True,
)
def resnet18(
    num_classes: int = 7,
    input_shape: Sequence[int] = (1, 48, 48),
    width: int = 64,
    stem_stride: int = 1,
    dropout: float = 0.0,
) -> FaceResNet:
    """ResNet-18 (see :class:`FaceResNet`)."""
    return _resnet("resnet18", (2, 2, 2, 2), num_classes, input_shape, width, stem_stride,
                   dropout)


@register_model(
    "resnet34",
    family="face",
    description="ResNet-34 with a 3x3 stride-1 stem for 48x48 faces",
    input_shape=(1, 48, 48),
    num_classes=7,
    feature_stages=True,
)
def resnet34(
    num_classes: int = 7,
    input_shape: Sequence[int] = (1, 48, 48),
    width: int = 64,
    stem_stride: int = 1,
    dropout: float = 0.0,
) -> FaceResNet:
    """ResNet-34 (see :class:`FaceResNet`)."""
    return _resnet("resnet34", (3, 4, 6, 3), num_classes, input_shape, width, stem_stride,
                   dropout)


@register_model(
    "resmasknet",
    family="face",
    description="Residual Masking Network: ResNet-34 + U-Net masking blocks (width 64 = original)",
    input_shape=(1, 48, 48),
    num_classes=7,
    feature_stages=True,
)
def resmasknet(
    num_classes: int = 7,
    input_shape: Sequence[int] = (1, 48, 48),
    width: int = 32,
    stem_stride: int = 1,
    dropout: float = 0.0,
) -> ResMaskNet:
    """Residual Masking Network (see :class:`ResMaskNet`)."""
    in_chans, img_size = square_image("resmasknet", input_shape)
    return _channels_last(
        ResMaskNet(num_classes, in_chans, img_size, width, stem_stride, dropout)
    )


@register_model(
    "residual_attention",
    family="face",
    description="Residual Attention Network (Attention-56 layout): trunk + soft mask branches",
    input_shape=(1, 48, 48),
    num_classes=7,
    feature_stages=True,
)
def residual_attention(
    num_classes: int = 7,
    input_shape: Sequence[int] = (1, 48, 48),
    width: int = 16,
    dropout: float = 0.0,
) -> ResidualAttentionNet:
    """Residual Attention Network (see :class:`ResidualAttentionNet`)."""
    in_chans, img_size = square_image("residual_attention", input_shape)
    return _channels_last(ResidualAttentionNet(num_classes, in_chans, img_size, width, dropout))
