"""Checkpoints that load with ``torch.load(weights_only=True)`` and rebuild their model.

A checkpoint is a dict of tensors and plain Python values only: the model's
registry name, options and input shape, the class names, the data normalisation,
the resolved config, the optimiser/scheduler states and random-number states for
``--resume``. Files are written under a temporary name and renamed into place.

Every checkpoint carries the SHA-256 of its own content (``sha256``: every key,
plain value and tensor byte) and :func:`load_checkpoint` verifies it, so a file
damaged on disk or in a copy is refused instead of evaluating to nonsense. The
digest lives inside the one file, so a checkpoint copied alone keeps it and a
killed run never leaves a file and its digest out of step. Checkpoints of
eegemo versions that wrote no digest still load, with a warning.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_path
from ..errors import EegemoError, first_line

#: Keys holding training state; everything else in a checkpoint is metadata.
STATE_KEYS = ("model_state", "optimizer_state", "scheduler_state", "scaler_state", "rng")
FORMAT = "eegemo-checkpoint"
#: Key of the content digest (see :func:`content_digest`).
DIGEST_KEY = "sha256"
#: How :func:`export_checkpoint` can store the weights.
EXPORT_WEIGHTS = ("float32", "float16", "int8")


def capture_rng_state() -> dict:
    """Random-number states of Python, NumPy and PyTorch (CPU and CUDA) as tensors/primitives."""
    import numpy as np
    import torch

    version, internal, gauss = random.getstate()
    # the legacy global generator is what third-party code may draw from
    _, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state = {
        "python": [version, list(internal), gauss],
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state` (parts that are missing are left alone)."""
    import numpy as np
    import torch

    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        s = state["numpy"]
        keys = s["keys"].numpy().astype(np.uint32)
        legacy = ("MT19937", keys, s["pos"], s["has_gauss"], s["cached_gaussian"])
        np.random.set_state(legacy)  # noqa: NPY002
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def content_digest(checkpoint: dict) -> str:
    """SHA-256 of a checkpoint's content, leaving out its own ``sha256`` entry.

    Keys, plain values (by type and ``repr``) and tensors (dtype, shape and bytes) are
    hashed in order, so the digest is the same before :func:`save_checkpoint` and
    after loading the file again.

    Parameters
    ----------
    checkpoint : dict
        Tensors and plain values, nested in dicts, lists and tuples.

    Returns
    -------
    digest : str
        64 hexadecimal characters.
    """
    import hashlib

    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in checkpoint.items() if k != DIGEST_KEY})
    return digest.hexdigest()


def _feed(digest: Any, obj: Any) -> None:
    import torch

    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        digest.update(f"tensor {t.dtype} {tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        digest.update(f"dict {len(obj)};".encode())
        for key, value in obj.items():
            _feed(digest, key)
            _feed(digest, value)
    elif isinstance(obj, (list, tuple)):
        digest.update(f"list {len(obj)};".encode())
        for value in obj:
            _feed(digest, value)
    else:
        digest.update(f"{type(obj).__name__} {obj!r};".encode())


def save_checkpoint(path: str | Path, checkpoint: dict) -> None:
    """Write ``checkpoint`` with its content digest, atomically, with ``torch.save``.

    Parameters
    ----------
    path : path-like
        Destination ``.pt`` file.
    checkpoint : dict
        Tensors and plain values only (see module docstring); saved with an added
        ``sha256`` entry (:func:`content_digest`), the dict itself is not changed.
    """
    import torch

    checkpoint = {**checkpoint, DIGEST_KEY: content_digest(checkpoint)}
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def resolve_checkpoint(run_or_checkpoint: str | Path, which: str = "best") -> Path:
    """Find the checkpoint file for a run folder or a ``.pt`` path.

    Parameters
    ----------
    run_or_checkpoint : path-like
        A run folder (``RUN/checkpoints/<which>.pt`` is used, falling back to
        ``last.pt``) or a checkpoint file.
    which : str
        ``"best"`` or ``"last"``.
    """
    path = Path(run_or_checkpoint)
    if path.is_file():
        return path
    if path.is_dir():
        for name in (f"{which}.pt", "last.pt"):
            candidate = path / "checkpoints" / name
            if candidate.is_file():
                return candidate
        if (path / "cv.json").is_file() or any(path.glob("fold-*/checkpoints")):
            raise EegemoError(
                f"{path}: this is a cross-validation run; pass one fold's folder "
                f"(such as {path / 'fold-01'})"
            )
        raise EegemoError(f"{path}: no checkpoints/best.pt or checkpoints/last.pt in this folder")
    raise EegemoError(f"{path}: no such run folder or checkpoint file")


def load_checkpoint(run_or_checkpoint: str | Path, which: str = "best") -> dict:
    """Load a checkpoint dict safely (``weights_only=True``) on the CPU and verify it.

    Parameters
    ----------
    run_or_checkpoint : path-like
        A run folder or a ``.pt`` file (see :func:`resolve_checkpoint`).
    which : str
        ``"best"`` or ``"last"``, for a run folder.

    Returns
    -------
    checkpoint : dict
        What :func:`save_checkpoint` wrote, plus ``path`` (the file read).

    Raises
    ------
    EegemoError
        When the file is missing, unreadable, not an eegemo checkpoint, or its content
        does not match its ``sha256`` digest. A checkpoint without a digest (older
        eegemo) loads with a warning.
    """
    import warnings

    import torch

    path = resolve_checkpoint(run_or_checkpoint, which)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign, damaged or unsafe files
        raise EegemoError(f"{path}: {_unreadable(exc)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise EegemoError(f"{path}: not an eegemo checkpoint")
    stored = ckpt.get(DIGEST_KEY)
    if stored is None:
        warnings.warn(
            f"{path}: written by an older eegemo without a content hash; loaded unverified",
            stacklevel=2,
        )
    elif stored != content_digest(ckpt):
        raise EegemoError(
            f"{path}: checksum mismatch: the content differs from its sha256 recorded when "
            "eegemo wrote it (the file is damaged); use an intact copy or train again"
        )
    ckpt["path"] = str(path)
    return ckpt


def _unreadable(exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in words that never advise loading unsafely."""
    text = str(exc)
    if "Unsupported global" in text:
        return ("not an eegemo checkpoint: it holds Python objects besides tensors and plain "
                "values, which eegemo never loads")
    detail = type(exc).__name__
    if "weights_only" not in text and first_line(exc) != detail:
        detail += f": {first_line(exc, 120)}"
    return f"cannot read checkpoint: not a PyTorch file, or a truncated or damaged one ({detail})"


def item_shape(x: Any) -> tuple:
    """Shape of one input item without the batch axis.

    A tuple of int for a tensor; for a tuple of tensors (the inputs of a fused model,
    one tensor each) a tuple of such tuples.
    """
    if isinstance(x, (tuple, list)):
        return tuple(tuple(int(n) for n in part.shape) for part in x)
    return tuple(int(n) for n in x.shape)


def _plain_shape(shape: Sequence[Any]) -> list:
    return [_plain_shape(n) if isinstance(n, Sequence) else int(n) for n in shape]


def describe_model(config: Any, input_shape: Sequence[Any], num_classes: int) -> dict:
    """The ``model`` entry of a checkpoint: what :func:`build_model_from_meta` rebuilds.

    Parameters
    ----------
    config : TrainConfig
        Supplies the registry name (``model``) and options (``model_kwargs``).
    input_shape : sequence of int, or sequence of sequences of int
        One input item's shape, without the batch axis; for a model of several
        inputs, one shape per input (see :func:`item_shape`).
    num_classes : int
        Number of classes.

    Returns
    -------
    meta : dict
        ``name``, ``kwargs``, ``input_shape`` (list, or list of lists) and ``num_classes``.
    """
    return {
        "name": config.model,
        "kwargs": dict(config.model_kwargs),
        "input_shape": _plain_shape(input_shape),
        "num_classes": int(num_classes),
    }


def input_shape_of(model_meta: dict) -> tuple:
    """The input shape recorded in a checkpoint's ``model`` entry.

    A tuple of int, or for a model of several inputs a tuple of such tuples.
    Checkpoints of eegemo 0.1 recorded square images as ``in_chans`` and ``img_size``.
    """
    if "input_shape" in model_meta:
        return tuple(tuple(int(k) for k in n) if isinstance(n, Sequence) else int(n)
                     for n in model_meta["input_shape"])
    side = int(model_meta["img_size"])
    return (int(model_meta["in_chans"]), side, side)


def build_model_from_meta(model_meta: dict):
    """Build (untrained) the model described by a checkpoint's ``model`` entry."""
    from ..models import create_model

    return create_model(
        model_meta["name"],
        num_classes=model_meta["num_classes"],
        input_shape=input_shape_of(model_meta),
        **model_meta.get("kwargs", {}),
    )


def load_model(run_or_checkpoint: str | Path, device: Any = "cpu") -> tuple[Any, dict]:
    """Rebuild a trained model from a run folder or checkpoint, in eval mode.

    Parameters
    ----------
    run_or_checkpoint : path-like
        Run folder (its best checkpoint is used) or ``.pt`` file.
    device : str or torch.device
        Where to put the model.

    Returns
    -------
    model : torch.nn.Module
        In eval mode on ``device``.
    meta : dict
        Everything in the checkpoint except the training states: ``model`` (see
        :func:`describe_model`), ``classes``, ``data`` (modality and normalisation),
        ``config``, ``epoch``, ``best`` and ``path``.
    """
    ckpt = load_checkpoint(run_or_checkpoint)
    model = build_model_from_meta(ckpt["model"])
    try:
        model.load_state_dict(_full_precision_state(ckpt))
    except RuntimeError as exc:
        raise EegemoError(
            f"{ckpt['path']}: weights do not fit model {ckpt['model']['name']!r}: "
            f"{first_line(exc)}"
        ) from None
    model.to(device).eval()
    meta = {k: v for k, v in ckpt.items() if k not in STATE_KEYS}
    return model, meta


def export_checkpoint(
    run_or_checkpoint: str | Path, dest: str | Path, weights: str = "int8"
) -> dict:
    """Write a compact copy of a trained model for inference and sharing.

    The copy keeps what :func:`load_model` needs (model description, classes, data
    normalisation, config) and drops the optimiser, scheduler and random-number
    states, so it cannot resume training. ``float16`` halves the weights; ``int8``
    stores every weight matrix and convolution kernel as 8-bit integers with one
    scale per output channel (symmetric, round to nearest) and the remaining
    floating-point tensors (biases, normalisation statistics) in float16, about a
    quarter of the float32 size. :func:`load_model` restores float32 weights.

    Parameters
    ----------
    run_or_checkpoint : path-like
        Run folder (its best checkpoint) or checkpoint file.
    dest : path-like
        The ``.pt`` file to write (atomically).
    weights : {"int8", "float16", "float32"}
        Storage of the weights.

    Returns
    -------
    info : dict
        ``path``, ``weights``, ``bytes`` (file size) and ``sha256`` (of the file).
    """
    import torch

    from ..integrity import sha256_file

    if weights not in EXPORT_WEIGHTS:
        raise EegemoError(f"weights: expected one of {', '.join(EXPORT_WEIGHTS)}, got {weights!r}")
    ckpt = load_checkpoint(run_or_checkpoint)
    state = _full_precision_state(ckpt)
    out = {k: v for k, v in ckpt.items() if k not in STATE_KEYS and k not in ("path", DIGEST_KEY)}
    out["source_sha256"] = ckpt.get(DIGEST_KEY)
    out["weights"] = weights
    if weights == "int8":
        out["weight_scales"] = {}
    packed = {}
    for key, tensor in state.items():
        if not torch.is_floating_point(tensor) or weights == "float32":
            packed[key] = tensor
        elif weights == "int8" and tensor.ndim >= 2:
            flat = tensor.float().reshape(len(tensor), -1)
            scale = flat.abs().amax(dim=1).clamp_min(1e-12) / 127.0
            packed[key] = (flat / scale[:, None]).round().clamp(-127, 127).to(torch.int8)
            packed[key] = packed[key].reshape(tensor.shape)
            out["weight_scales"][key] = scale
        else:
            packed[key] = tensor.half()
    out["model_state"] = packed
    save_checkpoint(dest, out)
    return {"path": str(dest), "weights": weights, "bytes": Path(dest).stat().st_size,
            "sha256": sha256_file(dest)}


def _full_precision_state(ckpt: dict) -> dict:
    """The checkpoint's model state with float32 weights (see :func:`export_checkpoint`)."""
    import torch

    scales = ckpt.get("weight_scales") or {}
    state = {}
    for key, tensor in ckpt["model_state"].items():
        if key in scales:
            shape = (-1,) + (1,) * (tensor.ndim - 1)
            tensor = tensor.float() * scales[key].reshape(shape)
        elif torch.is_floating_point(tensor):
            tensor = tensor.float()
        state[key] = tensor
    return state
