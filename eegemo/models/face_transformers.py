"""Facial-expression transformers and ConvNeXt built with timm, sized for 48x48 inputs.

Small patches (4 pixels: 144 tokens for a 48x48 face) and a 2x2 ConvNeXt stem
replace the ImageNet 16x16 patches and 4x4 stem that would leave almost nothing
of a FER2013 image. timm initialises the weights from a truncated normal
(std 0.02) and provides stochastic depth (``drop_path_rate``). Nothing is ever
downloaded: every model starts from random weights.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..environment import import_optional
from ..errors import ConfigError
from .registry import register_model, square_image

#: ConvNeXt sizes: (depths, dims) as in timm's ``convnext_<variant>``.
CONVNEXT_VARIANTS = {
    "atto": ((2, 2, 6, 2), (40, 80, 160, 320)),
    "femto": ((2, 2, 6, 2), (48, 96, 192, 384)),
    "pico": ((2, 2, 6, 2), (64, 128, 256, 512)),
    "nano": ((2, 2, 8, 2), (80, 160, 320, 640)),
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
}


def _check_patches(img_size: int, patch_size: int) -> None:
    if patch_size < 1 or img_size % patch_size:
        raise ConfigError(
            f"patch_size must divide img_size; got patch_size={patch_size}, img_size={img_size}"
        )


@register_model(
    "vit",
    family="face",
    description="ViT-Tiny (timm) with 4x4 patches: 144 tokens per 48x48 face",
    input_shape=(1, 48, 48),
    num_classes=7,
)
def vit(
    num_classes: int = 7,
    input_shape: Sequence[int] = (1, 48, 48),
    patch_size: int = 4,
    embed_dim: int = 192,
    depth: int = 12,
    num_heads: int = 3,
    drop_path_rate: float = 0.1,
    dropout: float = 0.0,
) -> nn.Module:
    """Vision Transformer (timm ``VisionTransformer``) for small grayscale faces.

    Parameters
    ----------
    num_classes : int
        Output classes.
    input_shape : sequence of int
        ``(channels, size, size)`` of the input images.
    patch_size : int
        Patch side in pixels (must divide ``img_size``).
    embed_dim, depth, num_heads : int
        Width, number of blocks, attention heads (ViT-Tiny by default).
    drop_path_rate : float
        Stochastic depth rate of the last block (linearly increasing).
    dropout : float
        Dropout before the classifier.

    Returns
    -------
    model : timm.models.vision_transformer.VisionTransformer
    """
    timm_vit = import_optional("timm.models.vision_transformer", "face transformers")
    VisionTransformer = timm_vit.VisionTransformer

    in_chans, img_size = square_image("vit", input_shape)
    _check_patches(img_size, patch_size)
    return VisionTransformer(
        img_size=img_size,
        patch_size=patch_size,
        in_chans=in_chans,
        num_classes=num_classes,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        drop_path_rate=drop_path_rate,
        drop_rate=dropout,
    )


@register_model(
    "deit",
    family="face",
    description="DeiT-Tiny (timm) with distillation token and head, 4x4 patches",
    input_shape=(1, 48, 48),
    num_classes=7,
    distill_token=True,
)
def deit(
    num_classes: int = 7,
    input_shape: Sequence[int] = (1, 48, 48),
    patch_size: int = 4,
    embed_dim: int = 192,
    depth: int = 12,
    num_heads: int = 3,
    drop_path_rate: float = 0.1,
    dropout: float = 0.0,
    distilled_training: bool = True,
) -> nn.Module:
    """DeiT (timm ``VisionTransformerDistilled``): a class token and a distillation token.

    In training mode (with ``distilled_training``) the model returns the pair
    ``(class_logits, distillation_logits)`` so that
    :class:`eegemo.train.distill.DeiTDistillationLoss` can train the second head on
    a teacher's predictions; in eval mode it returns their average ``(N, num_classes)``.

    Parameters
    ----------
    num_classes : int
        Output classes.
    input_shape : sequence of int
        ``(channels, size, size)`` of the input images.
    patch_size : int
        Patch side in pixels (must divide ``img_size``).
    embed_dim, depth, num_heads : int
        Width, number of blocks, attention heads (DeiT-Tiny by default).
    drop_path_rate : float
        Stochastic depth rate of the last block.
    dropout : float
        Dropout before the classifiers.
    distilled_training : bool
        Return both heads in training mode.

    Returns
    -------
    model : timm.models.deit.VisionTransformerDistilled
    """
    timm_deit = import_optional("timm.models.deit", "face transformers")
    VisionTransformerDistilled = timm_deit.VisionTransformerDistilled

    in_chans, img_size = square_image("deit", input_shape)
    _check_patches(img_size, patch_size)
    model = VisionTransformerDistilled(
        img_size=img_size,
        patch_size=patch_size,
        in_chans=in_chans,
        num_classes=num_classes,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        drop_path_rate=drop_path_rate,
        drop_rate=dropout,
    )
    model.set_distilled_training(distilled_training)
    return model


@register_model(
    "convnext",
    family="face",
    description="ConvNeXt (timm, tiny by default) with a 2x2 patch stem for 48x48 faces",
    input_shape=(1, 48, 48),
    num_classes=7,
    feature_stages=True,
)
def convnext(
    num_classes: int = 7,
    input_shape: Sequence[int] = (1, 48, 48),
    variant: str = "tiny",
    patch_size: int = 2,
    drop_path_rate: float = 0.1,
    dropout: float = 0.0,
) -> nn.Module:
    """ConvNeXt (timm ``ConvNeXt``) with a stem suited to small faces.

    Parameters
    ----------
    num_classes : int
        Output classes.
    input_shape : sequence of int
        ``(channels, size, size)`` of the input images.
    variant : str
        One of ``atto``, ``femto``, ``pico``, ``nano``, ``tiny`` (depths and widths
        of timm's models of those names).
    patch_size : int
        Stride of the patchify stem, the only downsampling before the second stage
        (2: stages at 24, 12, 6 and 3 pixels for a 48x48 face).
    drop_path_rate : float
        Stochastic depth rate of the last block.
    dropout : float
        Dropout before the classifier.

    Returns
    -------
    model : timm.models.convnext.ConvNeXt
    """
    ConvNeXt = import_optional("timm.models.convnext", "face transformers").ConvNeXt

    in_chans, img_size = square_image("convnext", input_shape)
    if variant not in CONVNEXT_VARIANTS:
        raise ConfigError(
            f"convnext variant {variant!r} unknown; choose one of {', '.join(CONVNEXT_VARIANTS)}"
        )
    if img_size < patch_size * 8:
        raise ConfigError(
            f"img_size must be at least {patch_size * 8} for convnext, got {img_size}"
        )
    depths, dims = CONVNEXT_VARIANTS[variant]
    model = ConvNeXt(
        in_chans=in_chans,
        num_classes=num_classes,
        depths=depths,
        dims=dims,
        patch_size=patch_size,
        drop_path_rate=drop_path_rate,
        drop_rate=dropout,
    )
    # timm always reaches stride 4 before the first stage: with a 2x2 stem it adds a
    # downsampling layer to stage 0, which would leave 1x1 maps in the last stage.
    model.stages[0].downsample = nn.Identity()
    return model
