"""Models for feature vectors, and for several inputs at once.

``feature_mlp`` classifies a vector of features ``(n_features,)``, such as the heart
rate and heart-rate variability of an epoch. ``fusion_net`` learns from several
inputs in one network: one branch per input (``topo_cnn``'s convolutional trunk for a
``(bands, H, W)`` topomap, or its regional band power as ``topo_linear`` sees it; a
small MLP for a ``(n_features,)`` vector), their outputs joined before one linear head.
``late_fusion`` holds separately trained models, one per input, and averages their
temperature-scaled probabilities; it is what ``data.fusion = "late"`` trains and saves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .eeg_cnn import TopoCNN, _regions_of, _topomap_input
from .registry import create_model, is_multi_input, register_model


def _mlp(n_in: int, width: int, depth: int, dropout: float) -> nn.Sequential:
    # Batch normalisation lets the default recipe (made for topomap CNNs: a small
    # learning rate, few epochs) fit a feature vector as well as a converged
    # logistic regression does.
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(n_in, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
                   nn.Dropout(dropout)]
        n_in = width
    return nn.Sequential(*layers)


def _vector_input(name: str, input_shape: Sequence[Any]) -> int:
    """Length of a ``(n_features,)`` input."""
    shape = tuple(input_shape)
    if is_multi_input(shape) or len(shape) != 1 or shape[0] < 1:
        raise ConfigError(f"model {name!r} takes a feature vector (n_features,), got input {shape}")
    return int(shape[0])


def _several_inputs(name: str, input_shape: Sequence[Any]) -> tuple:
    shape = tuple(input_shape)
    if not is_multi_input(shape) or len(shape) < 2:
        raise ConfigError(
            f"model {name!r} takes several inputs (one shape per input), got input {shape}; "
            "train it with data.inputs naming two or more modalities"
        )
    return shape


class FeatureMLP(nn.Module):
    """Multilayer perceptron on a feature vector: ``depth`` hidden layers, then linear.

    Each hidden layer is linear, batch-normalised, ReLU, dropout.

    Parameters
    ----------
    num_classes : int
        Output classes.
    n_features : int
        Length of the input vector.
    width : int
        Units of each hidden layer.
    depth : int
        Hidden layers (0 = logistic regression).
    dropout : float
        Dropout probability after each hidden layer.
    linear : bool
        Also fit a linear model on the input beside the MLP ("wide and deep"): in
        training both heads' logits are returned, each fitted with its own loss; in
        evaluation their mean. Ignored with ``depth=0``.
    """

    def __init__(self, num_classes: int, n_features: int, width: int = 64, depth: int = 1,
                 dropout: float = 0.2, linear: bool = False):
        super().__init__()
        self.body = _mlp(n_features, width, depth, dropout)
        self.fc = nn.Linear(width if depth else n_features, num_classes)
        self.linear = nn.Linear(n_features, num_classes) if linear and depth else None

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Map ``(N, n_features)`` to ``(N, num_classes)`` logits (two heads in training)."""
        out = self.fc(self.body(x))
        if self.linear is None:
            return out
        heads = (out, self.linear(x))
        return heads if self.training else (heads[0] + heads[1]) / 2


class FusionNet(nn.Module):
    """One branch per input, outputs concatenated before a linear head.

    Parameters
    ----------
    num_classes : int
        Output classes.
    input_shapes : sequence of tuple
        One shape per input: ``(bands, H, W)`` (see ``topomap``) or ``(n_features,)``
        (a hidden layer of ``hidden`` units, as in :class:`FeatureMLP`).
    topomap : {"cnn", "regions"}
        What a topomap branch passes on: ``topo_cnn``'s convolutional trunk, globally
        pooled to ``4 * width`` values, or its regional band power, each band's map
        averaged over ``regions x regions`` blocks (what ``topo_linear`` sees; on eegmat
        it tied the CNN trunk on balanced accuracy and lost on macro-F1).
    regions : int
        Regions per side of a ``"regions"`` branch.
    width : int
        Channels of the first convolutional stage of a ``"cnn"`` branch.
    hidden : int
        Units of each feature-vector branch.
    dropout : float
        Dropout probability in the feature branches and before the head.
    """

    def __init__(self, num_classes: int, input_shapes: Sequence[tuple], topomap: str = "cnn",
                 regions: int = 4, width: int = 8, hidden: int = 64, dropout: float = 0.2):
        super().__init__()
        if topomap not in ("regions", "cnn"):
            raise ConfigError(f"fusion_net: topomap must be 'regions' or 'cnn', got {topomap!r}")
        branches, joined = [], 0
        for shape in input_shapes:
            if len(shape) == 3 and topomap == "regions":
                bands = _regions_of("fusion_net", shape, regions)
                branches.append(nn.Sequential(nn.AdaptiveAvgPool2d(regions), nn.Flatten()))
                joined += bands * regions**2
            elif len(shape) == 3:
                trunk = TopoCNN(num_classes, _topomap_input("fusion_net", shape), width=width)
                branches.append(nn.Sequential(trunk.features, trunk.pool, nn.Flatten()))
                joined += trunk.fc.in_features
            elif len(shape) == 1:
                branches.append(_mlp(shape[0], hidden, 1, dropout))
                joined += hidden
            else:
                raise ConfigError(
                    f"fusion_net has branches for (bands, H, W) topomaps and (n_features,) "
                    f"vectors, got an input of shape {shape}"
                )
        self.branches = nn.ModuleList(branches)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(joined, num_classes)

    def forward(self, x: Sequence[torch.Tensor]) -> torch.Tensor:
        """Map one ``(N, *shape)`` tensor per input to ``(N, num_classes)`` logits."""
        parts = [branch(part) for branch, part in zip(self.branches, x, strict=True)]
        return self.fc(self.dropout(torch.cat(parts, dim=1)))


class LateFusion(nn.Module):
    """Average of the temperature-scaled probabilities of one model per input.

    Parameters
    ----------
    members : sequence of nn.Module
        One model per input, in input order.

    Notes
    -----
    The output is the logarithm of the averaged probabilities: its arg-max is the
    ensemble's prediction and its softmax the averaged probabilities.
    ``temperature`` (one per member, 1 until calibrated) is saved with the weights.
    """

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer("temperature", torch.ones(len(members)))

    def forward(self, x: Sequence[torch.Tensor]) -> torch.Tensor:
        """Map one ``(N, *shape)`` tensor per input to ``(N, num_classes)`` log-probabilities."""
        probs = 0
        for k, (member, part) in enumerate(zip(self.members, x, strict=True)):
            logits = member(part)
            if isinstance(logits, (tuple, list)):  # several heads, averaged as in evaluation
                logits = sum(logits) / len(logits)
            probs = probs + torch.softmax(logits.float() / self.temperature[k], dim=1)
        return torch.log(probs / len(self.members))


@register_model(
    "feature_mlp",
    family="features",
    description="MLP on a feature vector (heart rate and HRV per epoch, ...)",
    input_shape=(7,),
    num_classes=2,
)
def feature_mlp(
    num_classes: int = 2,
    input_shape: Sequence[int] = (7,),
    width: int = 64,
    depth: int = 1,
    dropout: float = 0.2,
    linear: bool = False,
) -> FeatureMLP:
    """Build the feature MLP (see :class:`FeatureMLP`)."""
    n_features = _vector_input("feature_mlp", input_shape)
    return FeatureMLP(num_classes, n_features, width=width, depth=depth, dropout=dropout,
                      linear=linear)


@register_model(
    "fusion_net",
    family="fusion",
    description="one branch per input (topo_cnn trunk or regional band power for topomaps, "
    "MLP for features), joined before the head",
    input_shape=((5, 32, 32), (7,)),
    num_classes=2,
)
def fusion_net(
    num_classes: int = 2,
    input_shape: Sequence[Sequence[int]] = ((5, 32, 32), (7,)),
    topomap: str = "cnn",
    regions: int = 4,
    width: int = 8,
    hidden: int = 64,
    dropout: float = 0.2,
) -> FusionNet:
    """Build the early-fusion network (see :class:`FusionNet`)."""
    shapes = _several_inputs("fusion_net", input_shape)
    return FusionNet(num_classes, shapes, topomap=topomap, regions=regions, width=width,
                     hidden=hidden, dropout=dropout)


@register_model(
    "late_fusion",
    family="fusion",
    description="one model per input, temperature-scaled probabilities averaged",
    input_shape=((5, 32, 32), (7,)),
    num_classes=2,
)
def late_fusion(
    num_classes: int = 2,
    input_shape: Sequence[Sequence[int]] = ((5, 32, 32), (7,)),
    members: Sequence[Mapping[str, Any]] = ({"name": "topo_linear"}, {"name": "feature_mlp"}),
) -> LateFusion:
    """Build the late-fusion ensemble (see :class:`LateFusion`).

    Parameters
    ----------
    num_classes : int
        Output classes.
    input_shape : sequence of shapes
        One shape per input.
    members : sequence of mapping
        One registered model per input, in input order: ``name`` and optional
        ``kwargs``.
    """
    shapes = _several_inputs("late_fusion", input_shape)
    if len(members) != len(shapes):
        raise ConfigError(
            f"late_fusion: {len(members)} member model(s) for {len(shapes)} inputs"
        )
    return LateFusion([
        create_model(m["name"], num_classes, shape, **dict(m.get("kwargs", {})))
        for m, shape in zip(members, shapes, strict=True)
    ])
