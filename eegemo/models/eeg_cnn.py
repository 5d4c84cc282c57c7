"""Models for EEG band-power topomaps of shape (n_bands, H, W).

``topo_resnet`` is torchvision's ResNet-18 (its ``BasicBlock``) adapted to small
multi-band images: a 3x3 stride-1 stem without max-pooling, ``in_chans`` equal to
the number of bands, a width multiplier, and dropout before the classifier.
``topo_cnn`` is a small VGG-style network. ``topo_linear`` is a logistic regression on
the band power of the topomap's regions (the default EEG model: on subjects it never
saw it beats the networks, see ``docs/benchmarks.md``). ``topo_hybrid`` trains
``topo_cnn`` side by side with that linear model and averages the two. All work for
any size divisible by 8 (32x32 and 64x64 topomaps).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from .registry import register_model, square_image


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)


class TopoResNet(nn.Module):
    """ResNet with torchvision's ``BasicBlock`` for small multi-band images.

    Parameters
    ----------
    num_classes : int
        Output classes.
    in_chans : int
        Input channels (frequency bands).
    width : int
        Channels of the first stage; stages have width, 2x, 4x, 8x (64 = ResNet-18).
    layers : sequence of int
        Blocks per stage ((2, 2, 2, 2) = ResNet-18).
    dropout : float
        Dropout probability before the final linear layer.
    """

    def __init__(
        self,
        num_classes: int,
        in_chans: int,
        width: int = 64,
        layers: Sequence[int] = (2, 2, 2, 2),
        dropout: float = 0.0,
    ):
        from torchvision.models.resnet import BasicBlock

        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages = []
        inplanes = width
        for i, n_blocks in enumerate(layers):
            planes, stride = width * 2**i, 1 if i == 0 else 2
            downsample = None
            if stride != 1 or inplanes != planes:
                downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes),
                )
            blocks = [BasicBlock(inplanes, planes, stride, downsample)]
            blocks += [BasicBlock(planes, planes) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            inplanes = planes
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(inplanes, num_classes)
        _init_weights(self)
        for m in self.modules():  # each residual branch starts as the identity
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, in_chans, H, W)`` to ``(N, num_classes)`` logits."""
        x = self.stages(self.stem(x))
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))


class TopoCNN(nn.Module):
    """Small VGG-style CNN: three conv-conv-pool stages, global pooling, dropout, linear.

    Parameters
    ----------
    num_classes : int
        Output classes.
    in_chans : int
        Input channels (frequency bands).
    width : int
        Channels of the first stage (doubled at each of the next two).
    dropout : float
        Dropout probability before the final linear layer.
    """

    def __init__(self, num_classes: int, in_chans: int, width: int = 8, dropout: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_chans
        for i in range(3):
            out = width * 2**i
            for _ in range(2):
                layers += [
                    nn.Conv2d(channels, out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(out),
                    nn.ReLU(inplace=True),
                ]
                channels = out
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, in_chans, H, W)`` to ``(N, num_classes)`` logits."""
        x = self.pool(self.features(x))
        return self.fc(self.dropout(torch.flatten(x, 1)))


def _topomap_input(name: str, input_shape: Sequence[int]) -> int:
    """Bands of a ``(bands, size, size)`` topomap input of at least 8x8 pixels."""
    bands, size = square_image(name, input_shape)
    if size < 8:
        raise ConfigError(f"{name} needs topomaps of at least 8x8 pixels, got {size}")
    return bands


@register_model(
    "topo_resnet",
    family="eeg",
    description="ResNet-18 (torchvision BasicBlock) with a 3x3 stride-1 stem for topomaps",
    input_shape=(5, 32, 32),
    num_classes=2,
    feature_stages=True,
)
def topo_resnet(
    num_classes: int = 2,
    input_shape: Sequence[int] = (5, 32, 32),
    width: int = 64,
    layers: Sequence[int] = (2, 2, 2, 2),
    dropout: float = 0.0,
) -> TopoResNet:
    """Build the topomap ResNet (see :class:`TopoResNet`)."""
    bands = _topomap_input("topo_resnet", input_shape)
    return TopoResNet(num_classes, bands, width=width, layers=tuple(layers), dropout=dropout)


@register_model(
    "topo_cnn",
    family="eeg",
    description="small VGG-style CNN for topomaps (three conv-conv-pool stages)",
    input_shape=(5, 32, 32),
    num_classes=2,
)
def topo_cnn(
    num_classes: int = 2,
    input_shape: Sequence[int] = (5, 32, 32),
    width: int = 8,
    dropout: float = 0.5,
) -> TopoCNN:
    """Build the small topomap CNN (see :class:`TopoCNN`)."""
    bands = _topomap_input("topo_cnn", input_shape)
    return TopoCNN(num_classes, bands, width=width, dropout=dropout)


class RegionalLinear(nn.Module):
    """A linear model on regional band power: each band's map averaged over square regions.

    The topomap is averaged over ``regions x regions`` blocks of pixels, which gives
    ``in_chans * regions**2`` band-power values (pixels outside the head, 0 after
    normalisation, count as 0), and a linear layer maps them to logits. Trained with
    an L2 penalty (``optimizer.weight_decay`` of Adam) and class-weighted
    cross-entropy it is a logistic regression on regional band power.

    Parameters
    ----------
    num_classes : int
        Output classes.
    in_chans : int
        Input channels (frequency bands).
    regions : int
        Regions per side; the map's size must be a multiple of it.
    """

    def __init__(self, num_classes: int, in_chans: int, regions: int = 4):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(regions)
        self.fc = nn.Linear(in_chans * regions**2, num_classes)
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, in_chans, H, W)`` to ``(N, num_classes)`` logits."""
        return self.fc(torch.flatten(self.pool(x), 1))


def _regions_of(name: str, input_shape: Sequence[int], regions: int) -> int:
    """Bands of a topomap input whose size is a multiple of ``regions``."""
    bands = _topomap_input(name, input_shape)
    if regions < 1 or int(input_shape[-1]) % regions:
        raise ConfigError(
            f"{name} needs regions >= 1 dividing the topomap size, got regions={regions} "
            f"for {int(input_shape[-1])}x{int(input_shape[-1])} topomaps"
        )
    return bands


@register_model(
    "topo_linear",
    family="eeg",
    description="logistic regression on regional band power (topomap averaged over 4x4 "
    "regions)",
    input_shape=(5, 32, 32),
    num_classes=2,
)
def topo_linear(
    num_classes: int = 2,
    input_shape: Sequence[int] = (5, 32, 32),
    regions: int = 4,
) -> RegionalLinear:
    """Build the linear model on regional band power (see :class:`RegionalLinear`)."""
    bands = _regions_of("topo_linear", input_shape, regions)
    return RegionalLinear(num_classes, bands, regions)


class TopoHybrid(nn.Module):
    """Several ``topo_cnn`` and a linear model on regional band power, averaged.

    The linear head sees the topomap averaged over ``regions x regions`` blocks of
    pixels (a band-power vector like a logistic regression's); each CNN sees the whole
    map. In training the model returns every head's logits, so each is fitted with its
    own loss (the trainer averages them); in evaluation it returns their mean.

    Parameters
    ----------
    num_classes : int
        Output classes.
    in_chans : int
        Input channels (frequency bands).
    width : int
        Channels of each CNN's first stage.
    dropout : float
        Dropout probability before each CNN's linear layer.
    members : int
        Number of CNNs (each initialised differently).
    linear : bool
        Add the linear head.
    regions : int
        The linear head's input is ``in_chans * regions**2`` regional means.
    """

    def __init__(self, num_classes: int, in_chans: int, width: int = 8, dropout: float = 0.5,
                 members: int = 1, linear: bool = True, regions: int = 8):
        super().__init__()
        self.cnns = nn.ModuleList(
            TopoCNN(num_classes, in_chans, width=width, dropout=dropout) for _ in range(members)
        )
        self.linear = RegionalLinear(num_classes, in_chans, regions) if linear else None

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Logits ``(N, num_classes)`` of every head in training, their mean in evaluation."""
        heads = tuple(cnn(x) for cnn in self.cnns)
        if self.linear is not None:
            heads += (self.linear(x),)
        return heads if self.training else sum(heads) / len(heads)


@register_model(
    "topo_hybrid",
    family="eeg",
    description="topo_cnn and a linear model on regional band power, trained side by side",
    input_shape=(5, 32, 32),
    num_classes=2,
)
def topo_hybrid(
    num_classes: int = 2,
    input_shape: Sequence[int] = (5, 32, 32),
    width: int = 8,
    dropout: float = 0.5,
    members: int = 1,
    linear: bool = True,
    regions: int = 8,
) -> TopoHybrid:
    """Build the CNN + linear topomap model (see :class:`TopoHybrid`)."""
    bands = _regions_of("topo_hybrid", input_shape, regions)
    if members < 1 and not linear:
        raise ConfigError("topo_hybrid needs at least one member CNN or the linear head")
    return TopoHybrid(num_classes, bands, width=width, dropout=dropout, members=members,
                      linear=linear, regions=regions)
