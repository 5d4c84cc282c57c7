"""Test-time augmentation: average a model's probabilities over flips and crops.

Each image is seen as a whole and as four corner crops plus a centre crop (each
``crop_fraction`` of the side, resized back to the input size), each also
mirrored: 12 views. The averaged probabilities are returned as log-probabilities
so that ``argmax`` and cross-entropy work as for plain logits. TTA results are
always reported beside, never instead of, the plain ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def tta_views(x, crop_fraction: float = 0.875, flips: bool = True) -> list:
    """The augmented views of a batch.

    Parameters
    ----------
    x : torch.Tensor
        ``(N, C, H, W)`` batch.
    crop_fraction : float
        Side of the five crops as a fraction of the image side (1.0: no crops).
    flips : bool
        Add the horizontal mirror of every view.

    Returns
    -------
    views : list of torch.Tensor
        Each ``(N, C, H, W)``.
    """
    from torch.nn import functional as F

    if not 0.0 < crop_fraction <= 1.0:
        raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
    h, w = x.shape[-2:]
    views = [x]
    ch, cw = round(h * crop_fraction), round(w * crop_fraction)
    if ch < h or cw < w:
        dy, dx = h - ch, w - cw
        corners = [(0, 0), (0, dx), (dy, 0), (dy, dx), (dy // 2, dx // 2)]
        for top, left in corners:
            crop = x[..., top : top + ch, left : left + cw]
            views.append(F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False))
    if flips:
        views += [v.flip(-1) for v in views]
    return views


def predict_tta(model, x, crop_fraction: float = 0.875, flips: bool = True):
    """Log of the mean softmax probability over the views of ``x``.

    Parameters
    ----------
    model : torch.nn.Module
        In eval mode; returns logits ``(N, num_classes)``.
    x : torch.Tensor
        ``(N, C, H, W)`` batch on the model's device.
    crop_fraction, flips
        See :func:`tta_views`.

    Returns
    -------
    log_probs : torch.Tensor
        ``(N, num_classes)``.
    """
    import torch

    views = tta_views(x, crop_fraction, flips)
    with torch.inference_mode():
        logits = model(torch.cat(views))
        probs = logits.float().softmax(dim=1).view(len(views), x.shape[0], -1).mean(dim=0)
    return probs.clamp_min(1e-12).log()


def predict_logits_tta(
    model,
    dataset,
    device,
    batch_size: int = 256,
    crop_fraction: float = 0.875,
    flips: bool = True,
    indices: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """TTA log-probabilities of ``model`` over a dataset of ``(x, y)`` items.

    Parameters
    ----------
    model : torch.nn.Module
        Trained model (put in eval mode here, restored afterwards).
    dataset : torch Dataset
        Items ``(x, y)``.
    device : torch.device
        Where ``model`` lives.
    batch_size : int
        Budget of images per forward pass; each batch holds a quarter as many items,
        each expanded to 12 views.
    crop_fraction, flips
        See :func:`tta_views`.
    indices : sequence of int, optional
        Only these items.

    Returns
    -------
    log_probs : ndarray, shape (n, num_classes)
    targets : ndarray, shape (n,)
    """
    from ..train.trainer import predict_logits

    return predict_logits(
        model, dataset, device, max(1, batch_size // 4), indices=indices,
        forward=lambda m, x: predict_tta(m, x, crop_fraction, flips),
    )
