"""One training loop for every modality and every registered model.

:class:`Trainer` takes a :class:`~eegemo.train.settings.TrainConfig`, a training and
a validation dataset, and writes a self-contained run folder::

    RUN/config.toml            the resolved configuration
    RUN/metrics.jsonl          one JSON object per epoch
    RUN/checkpoints/last.pt    written after every epoch (``--resume`` starts from it)
    RUN/checkpoints/best.pt    the epoch with the best monitored validation metric
    RUN/report/                learning curves, confusion matrices, report.md, metrics.json

Datasets yield ``(x, y)`` with ``x`` a float tensor of the model's input shape
(``(C, H, W)`` images, ``(C, T)`` signals, ...), or a tuple of such tensors for a
model of several inputs (:mod:`eegemo.train.fusion`), and ``y`` a class index; a
``targets`` attribute (class index per item) avoids a pass over the data when class
weights or balanced sampling need the labels.

Plug-in points used by knowledge distillation and batch augmentation:

- ``criterion(outputs, targets, inputs) -> loss``: ``outputs`` is whatever the model
  returns in training mode (a tensor, or a tuple of logits such as DeiT's class and
  distillation heads), ``targets`` are class indices or soft targets ``(N, C)``;
- ``batch_transform(x, y) -> (x, targets)``: applied to each training batch on the
  device (MixUp, CutMix, ...), may return soft targets.

Under ``torchrun`` (``WORLD_SIZE > 1``) the model is wrapped in
DistributedDataParallel, each process draws its shard of every epoch, validation
predictions are gathered from all processes, and only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_open, remove_stale_temporaries
from ..config import dumps_toml, to_dict
from ..errors import ConfigError, EegemoError
from .checkpoint import (
    FORMAT,
    capture_rng_state,
    describe_model,
    item_shape,
    load_checkpoint,
    restore_rng_state,
)
from .checkpoint import save_checkpoint as _save_checkpoint
from .device import (
    DistContext,
    configure_threads,
    dist_context_from_env,
    process_device,
    seed_everything,
)
from .metrics import classification_metrics
from .settings import TrainConfig

EpochCallback = Callable[["Trainer", dict], None]

#: What a resumed run may change: ``epochs``, to extend it, and how it runs. Anything
#: else would leave a run whose record (config.toml, checkpoints) says what never ran.
RESUMABLE_KEYS = ("epochs", "device", "threads", "data.num_workers")


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_resume_config(
    recorded: Mapping[str, Any], config: TrainConfig, source: str | Path
) -> None:
    """Refuse to resume a run recorded with ``recorded`` under a changed configuration.

    Only :data:`RESUMABLE_KEYS` may differ, and ``epochs`` may only grow. Keys that
    the record lacks (written by an older eegemo, or a modality installed since) are
    not compared.

    Parameters
    ----------
    recorded : mapping
        The run's configuration as stored: ``config.toml`` or a checkpoint's ``config``.
    config : TrainConfig
        The configuration the resumed run would use.
    source : str or Path
        Where ``recorded`` was read, for the message.

    Raises
    ------
    ConfigError
        Naming every key that differs, with its recorded and its given value.
    """
    given = _flatten(to_dict(config))
    changed = [
        f"{key} is {value!r} there, got {given[key]!r}"
        for key, value in _flatten(recorded).items()
        if key in given and key not in RESUMABLE_KEYS and given[key] != value
    ]
    if changed:
        raise ConfigError(
            f"{source}: a resumed run keeps its configuration, but {'; '.join(changed)} "
            f"(a resume may change only {', '.join(RESUMABLE_KEYS)}, and epochs only upwards)"
        )
    if "epochs" in recorded and config.epochs < recorded["epochs"]:
        raise ConfigError(
            f"{source}: epochs is {recorded['epochs']} there, got {config.epochs}; a resume "
            "can extend a run, not shorten it"
        )


def dataset_targets(dataset: Any) -> np.ndarray:
    """Class index of every item: the dataset's ``targets`` attribute, else one pass over it."""
    targets = getattr(dataset, "targets", None)
    if targets is None:
        targets = [int(dataset[i][1]) for i in range(len(dataset))]
    return np.asarray(targets, dtype=np.int64)


def class_weights(targets: Sequence[int], num_classes: int) -> np.ndarray:
    """Inverse-frequency class weights normalised to mean 1 over the present classes.

    Classes absent from ``targets`` get weight 0 (they cannot contribute to the loss).
    """
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=num_classes).astype(float)
    weights = np.zeros(num_classes)
    present = counts > 0
    weights[present] = 1.0 / counts[present]
    weights[present] *= present.sum() / weights[present].sum()
    return weights


def to_device(x: Any, device: Any, channels_last: bool = False) -> Any:
    """Move a batch's input to ``device``: a tensor, or a tuple of tensors (one per input).

    With ``channels_last``, 4-D tensors (images) take the channels-last memory format.
    """
    import torch

    if isinstance(x, (tuple, list)):
        return tuple(to_device(part, device, channels_last) for part in x)
    x = x.to(device, non_blocking=True)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def mean_logits(outputs: Any):
    """Logits of a model output; a tuple of heads (DeiT) is averaged as DeiT does in eval."""
    if isinstance(outputs, (tuple, list)):
        return sum(outputs) / len(outputs)
    return outputs


class ClassificationLoss:
    """Cross-entropy with optional class weights and label smoothing.

    Accepts class-index or soft targets, and averages the loss over the heads when
    the model returns a tuple of logits (DeiT in training mode without a teacher).

    Parameters
    ----------
    weight : torch.Tensor | None
        Per-class weights on the training device.
    label_smoothing : float
        Label smoothing in ``[0, 1)``.
    """

    def __init__(self, weight=None, label_smoothing: float = 0.0):
        self.weight = weight
        self.label_smoothing = label_smoothing

    def __call__(self, outputs, targets, inputs=None):
        """Return the mean loss of ``outputs`` against ``targets`` (``inputs`` is unused)."""
        import torch.nn.functional as F

        if isinstance(outputs, (tuple, list)):
            return sum(self(o, targets) for o in outputs) / len(outputs)
        return F.cross_entropy(
            outputs.float(), targets, weight=self.weight, label_smoothing=self.label_smoothing
        )


def build_criterion(config: TrainConfig, targets: Sequence[int], num_classes: int, device):
    """The default loss for ``config``: class-weighted when ``balance = "loss"``."""
    import torch

    weight = None
    if config.balance == "loss":
        weight = torch.as_tensor(class_weights(targets, num_classes), dtype=torch.float32)
        weight = weight.to(device)
    return ClassificationLoss(weight, config.label_smoothing)


def build_optimizer(config: TrainConfig, params):
    """SGD (Nesterov), Adam or AdamW as configured."""
    import torch

    o = config.optimizer
    if o.name == "sgd":
        return torch.optim.SGD(
            params,
            lr=o.lr,
            momentum=o.momentum,
            nesterov=o.nesterov and o.momentum > 0,
            weight_decay=o.weight_decay,
        )
    cls = torch.optim.Adam if o.name == "adam" else torch.optim.AdamW
    return cls(params, lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)


def build_scheduler(
    config: TrainConfig, optimizer, steps_per_epoch: int, epochs: int | None = None
):
    """Build the learning-rate schedule.

    Parameters
    ----------
    config : TrainConfig
        The schedule, optimiser and number of epochs.
    optimizer : torch.optim.Optimizer
        The optimiser whose learning rate is scheduled.
    steps_per_epoch : int
        Optimiser steps per epoch (a full pass, or ``config.steps_per_epoch``).
    epochs : int, optional
        Length of the schedule, when it differs from ``config.epochs`` (a run
        re-planned by ``time_limit_min``).

    Returns
    -------
    scheduler : torch.optim.lr_scheduler.LRScheduler | ReduceLROnPlateau | None
    per_step : bool
        True when ``scheduler.step()`` is called after every batch (cosine,
        one-cycle), False when after every epoch (step, plateau).
    """
    import torch

    s = config.schedule
    total = max(1, (epochs or config.epochs) * steps_per_epoch)
    if s.name == "cosine":
        warmup = round(s.warmup_epochs * steps_per_epoch)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), True
    if s.name == "onecycle":
        return (
            torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=config.optimizer.lr,
                total_steps=total,
                pct_start=s.pct_start,
                cycle_momentum=config.optimizer.name == "sgd",
            ),
            True,
        )
    if s.name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, s.step_size, s.gamma), False
    if s.name == "plateau":
        mode = "min" if config.early_stopping.monitor == "loss" else "max"
        return (
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode=mode, factor=s.plateau_factor, patience=s.plateau_patience
            ),
            False,
        )
    return None, False


class BalancedSampler:
    """Class-balanced draws with replacement, one shard per process, reseeded every epoch.

    The weighted counterpart of ``torch.utils.data.DistributedSampler``: every process
    draws the same ``ceil(n / world_size) * world_size`` indices from the same seed
    and keeps every ``world_size``-th one.

    Parameters
    ----------
    targets : sequence of int
        Class index of every item.
    seed : int
        Base seed; epoch ``e`` uses ``seed + e``.
    rank, world_size : int
        This process and the number of processes.
    """

    def __init__(self, targets: Sequence[int], seed: int = 0, rank: int = 0, world_size: int = 1):
        import torch

        targets = np.asarray(targets, dtype=np.int64)
        counts = np.bincount(targets)
        self.weights = torch.as_tensor(1.0 / counts[targets], dtype=torch.double)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.num_samples = math.ceil(len(targets) / world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw a different sample at every epoch."""
        self.epoch = epoch

    def __iter__(self):
        import torch

        g = torch.Generator().manual_seed(self.seed + self.epoch)
        total = self.num_samples * self.world_size
        idx = torch.multinomial(self.weights, total, replacement=True, generator=g)
        return iter(idx[self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        return self.num_samples


def predict_logits(
    model,
    dataset,
    device,
    batch_size: int = 256,
    indices: Sequence[int] | None = None,
    amp: bool = False,
    channels_last: bool = False,
    num_workers: int = 0,
    forward: Callable[[Any, Any], Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` in eval mode over ``dataset`` (or the given ``indices`` of it).

    Parameters
    ----------
    model : torch.nn.Module
        The model (put in eval mode here, restored afterwards).
    dataset : torch Dataset
        Items ``(x, y)``, ``x`` a tensor or a tuple of tensors.
    device : torch.device
        Where ``model`` lives.
    batch_size : int
        Items per forward pass.
    indices : sequence of int, optional
        Only these items.
    amp, channels_last : bool
        Mixed precision and channels-last inputs (CUDA).
    num_workers : int
        DataLoader worker processes.
    forward : callable, optional
        ``forward(model, x) -> logits`` replacing ``model(x)`` (test-time
        augmentation, for instance, returns averaged log-probabilities).

    Returns
    -------
    logits : ndarray, shape (n, n_classes), float32
    targets : ndarray, shape (n,), int64
    """
    import torch
    from torch.utils.data import DataLoader, Subset

    subset = dataset if indices is None else Subset(dataset, list(indices))
    loader = DataLoader(subset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    was_training = model.training
    model.eval()
    logits, targets = [], []
    with torch.inference_mode():
        for x, y in loader:
            x = to_device(x, device, channels_last)
            with torch.autocast(device.type, enabled=amp):
                out = mean_logits(model(x) if forward is None else forward(model, x))
            logits.append(out.float().cpu().numpy())
            targets.append(np.asarray(y, dtype=np.int64))
    model.train(was_training)
    if not logits:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    return np.concatenate(logits), np.concatenate(targets)


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy of logits against class indices, computed in float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(targets)), targets].mean())


@dataclasses.dataclass
class FitResult:
    """What :meth:`Trainer.fit` returns.

    Attributes
    ----------
    run_dir : Path | None
        The run folder (None when training without one).
    best_epoch : int
        Epoch whose weights are in ``best.pt`` (and in the trainer's model after fit).
    best_score : float | None
        Its monitored validation metric (None without a validation set).
    epochs_run : int
        Epochs completed, including those of an earlier run that was resumed.
    stopped_early : bool
        Whether early stopping ended the run.
    history : list of dict
        The ``metrics.jsonl`` records.
    report : dict
        Final metrics of the best model per split (``{"val": {...}, ...}``).
    """

    run_dir: Path | None
    best_epoch: int
    best_score: float | None
    epochs_run: int
    stopped_early: bool
    history: list[dict]
    report: dict


class Trainer:
    """Train a registered model on a dataset, with checkpoints, resume and a report.

    Parameters
    ----------
    config : TrainConfig
        Resolved configuration (saved as ``config.toml``).
    train_set, val_set : torch Dataset
        Items ``(x, y)`` (``x`` a tensor, or a tuple of tensors for a model of several
        inputs); ``val_set`` may be None (no model selection: the last
        epoch is kept and early stopping is off).
    classes : sequence of str
        Class names in index order.
    run_dir : path-like | None
        Run folder; None trains without writing anything.
    model : torch.nn.Module | None
        A model built from ``config.model`` / ``config.model_kwargs`` (built here
        when None). Its description is stored in checkpoints so that
        :func:`~eegemo.train.checkpoint.load_model` can rebuild it.
    criterion : callable | None
        ``criterion(outputs, targets, inputs) -> loss``; default
        :func:`build_criterion`.
    batch_transform : callable | None
        ``(x, y) -> (x, targets)`` on each training batch; default built from
        ``config.augment`` by ``eegemo.train.augment.build_batch_augment`` when any
        augmentation is switched on (None when all are off; a configuration error
        for inputs other than one image per item).
    data_meta : dict | None
        Plain data stored in checkpoints under ``data`` (modality, normalisation
        statistics, ...), needed to prepare new data the same way.
    callbacks : sequence of callable
        ``fn(trainer, record)`` after every epoch, once its checkpoint is written.
    progress : bool
        Show a tqdm bar per epoch (rank 0 only, on stderr).
    log_epochs : bool
        Print one summary line per epoch (rank 0 only, on stderr).
    """

    def __init__(
        self,
        config: TrainConfig,
        train_set,
        val_set,
        classes: Sequence[str],
        run_dir: str | Path | None = None,
        *,
        model=None,
        criterion=None,
        batch_transform=None,
        data_meta: dict | None = None,
        callbacks: Sequence[EpochCallback] = (),
        progress: bool = True,
        log_epochs: bool = True,
    ):
        import torch

        if len(train_set) == 0:
            raise EegemoError("the training set is empty")
        if len(classes) < 2:
            raise EegemoError(f"need at least two classes to train, got {list(classes)}")
        self.config = config
        self.train_set, self.val_set = train_set, val_set
        self.classes = [str(c) for c in classes]
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.data_meta = dict(data_meta or {})
        self.callbacks = list(callbacks)
        self.dist: DistContext = dist_context_from_env()
        if self.dist.distributed and not torch.distributed.is_initialized():
            raise EegemoError(
                "WORLD_SIZE > 1 but no process group: call eegemo.train.device.init_distributed()"
            )
        self.progress = progress and self.dist.is_main
        self.log_epochs = log_epochs and self.dist.is_main
        self.device = process_device(self.dist, config.device)
        self.threads = (
            configure_threads(config.threads, self.dist.local_world_size)
            if self.device.type == "cpu"
            else torch.get_num_threads()
        )
        seed_everything(config.seed + self.dist.rank, config.deterministic)
        self.use_amp = config.amp and self.device.type == "cuda"
        self.amp_dtype = (
            torch.bfloat16
            if self.use_amp and torch.cuda.is_bf16_supported()
            else torch.float16
        )
        self.channels_last = config.channels_last and self.device.type == "cuda"

        self.model_meta = describe_model(config, item_shape(train_set[0][0]), len(self.classes))
        if model is None:
            from .checkpoint import build_model_from_meta

            model = build_model_from_meta(self.model_meta)
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.train_targets = dataset_targets(train_set)
        if self.train_targets.max() >= len(self.classes) or self.train_targets.min() < 0:
            raise EegemoError("training labels fall outside the list of classes")
        self.criterion = criterion or build_criterion(
            config, self.train_targets, len(self.classes), self.device
        )
        self.batch_transform = batch_transform or self._default_batch_transform()

        self.train_loader = self._train_loader()
        #: Optimiser steps per epoch: ``config.steps_per_epoch``, at most one full pass.
        self.steps_per_epoch = min(
            config.steps_per_epoch or len(self.train_loader), len(self.train_loader)
        )
        self.net = self.model
        if self.dist.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = build_optimizer(config, self.model.parameters())
        self.scheduler, self.per_step_schedule = build_scheduler(
            config, self.optimizer, self.steps_per_epoch
        )
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.use_amp and self.amp_dtype == torch.float16
        )
        self.epoch = 0
        self.planned_epochs = config.epochs
        # The pass over the training data in progress, continued by the next epoch when
        # an epoch is shorter than a pass, and the number of passes started.
        self._batches: Iterator | None = None
        self._passes = 0
        self.clock: Callable[[], float] = time.perf_counter
        self.best_epoch = 0
        self.best_score: float | None = None
        self.bad_epochs = 0
        self.history: list[dict] = []
        self._best_state: dict | None = None

    # -- setup -------------------------------------------------------------------------

    def _default_batch_transform(self):
        from .augment import build_batch_augment

        transform = build_batch_augment(self.config.augment, len(self.classes))
        shape = self.model_meta["input_shape"]
        if transform is not None and (len(shape) != 3 or isinstance(shape[0], list)):
            raise ConfigError(
                f"augment: batch augmentations transform images (channels, height, width), "
                f"but this model's input is {shape}; switch them off"
            )
        return transform

    def _train_loader(self):
        from torch.utils.data import DataLoader, DistributedSampler

        if self.config.balance == "sampler":
            sampler = BalancedSampler(
                self.train_targets, self.config.seed, self.dist.rank, self.dist.world_size
            )
        else:
            sampler = DistributedSampler(
                self.train_set,
                num_replicas=self.dist.world_size,
                rank=self.dist.rank,
                shuffle=True,
                seed=self.config.seed,
            )
        per_rank = len(sampler)
        return DataLoader(
            self.train_set,
            batch_size=self.config.batch_size,
            sampler=sampler,
            num_workers=self.config.data.num_workers,
            pin_memory=self.device.type == "cuda",
            # a last batch of one item breaks batch normalisation
            drop_last=per_rank % self.config.batch_size == 1 and per_rank > 1,
        )

    # -- files -------------------------------------------------------------------------

    @property
    def writes(self) -> bool:
        """Whether this process writes the run folder."""
        return self.run_dir is not None and self.dist.is_main

    def _checkpoint(self) -> dict:
        scheduler_state = self.scheduler.state_dict() if self.scheduler is not None else None
        return {
            "format": FORMAT,
            "version": 1,
            "model": self.model_meta,
            "classes": self.classes,
            "data": self.data_meta,
            "config": to_dict(self.config),
            "epoch": self.epoch,
            "planned_epochs": self.planned_epochs,
            "best": {"epoch": self.best_epoch, "score": self.best_score},
            "bad_epochs": self.bad_epochs,
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": scheduler_state,
            "scaler_state": self.scaler.state_dict(),
            "rng": capture_rng_state(),
        }

    def _load_resume_state(self) -> bool:
        """Restore the last checkpoint of ``run_dir``; return False when there is none."""
        last = self.run_dir / "checkpoints" / "last.pt"
        if not last.is_file():
            return False
        ckpt = load_checkpoint(last)
        if ckpt["model"] != self.model_meta or ckpt["classes"] != self.classes:
            raise EegemoError(
                f"{last}: the checkpoint was made for another model or class list "
                f"({ckpt['model']['name']}, {ckpt['classes']}); cannot resume"
            )
        check_resume_config(ckpt["config"], self.config, last)
        recorded_epochs = int(ckpt["config"].get("epochs", self.config.epochs))
        extended = self.config.epochs > recorded_epochs
        if extended:
            self._check_extension(ckpt, recorded_epochs)
        self.model.load_state_dict(ckpt["model_state"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        self.epoch = int(ckpt["epoch"])
        # A resumed run starts a fresh pass, shuffled unlike those before it.
        self._passes = math.ceil(self.epoch * self.steps_per_epoch / len(self.train_loader))
        self.planned_epochs = (
            self.config.epochs if extended else int(ckpt.get("planned_epochs", self.config.epochs))
        )
        if extended and self.per_step_schedule:
            self._replan_schedule(self.planned_epochs)
        else:
            if self.planned_epochs != self.config.epochs:
                self.scheduler, _ = build_scheduler(
                    self.config, self.optimizer, self.steps_per_epoch, self.planned_epochs
                )
            if self.scheduler is not None and ckpt["scheduler_state"] is not None:
                self.scheduler.load_state_dict(ckpt["scheduler_state"])
        self.scaler.load_state_dict(ckpt["scaler_state"])
        self.best_epoch = int(ckpt["best"]["epoch"])
        self.best_score = ckpt["best"]["score"]
        self.bad_epochs = int(ckpt["bad_epochs"])
        restore_rng_state(ckpt["rng"])
        self.history = self._read_history(upto=self.epoch)
        if self.writes:
            self._rewrite_history()
        return True

    def _check_extension(self, ckpt: dict, recorded_epochs: int) -> None:
        """Refuse more epochs where the run would not train them."""
        where = f"{ckpt['path']}: epochs = {self.config.epochs}"
        planned = int(ckpt.get("planned_epochs", recorded_epochs))
        if planned < recorded_epochs:
            raise ConfigError(
                f"{where}: time_limit_min ({self.config.time_limit_min:g} min) cut this run to "
                f"{planned} of its {recorded_epochs} epochs, so more epochs would not fit; "
                "start a new run to train longer"
            )
        patience = self.config.early_stopping.patience
        if self.val_set is not None and patience and int(ckpt["bad_epochs"]) >= patience:
            raise ConfigError(
                f"{where}: the run stopped early at epoch {ckpt['epoch']} (no "
                f"{self.config.early_stopping.monitor} improvement for {patience} epochs), so "
                "more epochs would train nothing; start a new run to train longer"
            )

    def _read_history(self, upto: int) -> list[dict]:
        path = self.run_dir / "metrics.jsonl"
        if not path.is_file():
            return []
        records = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill
                continue
            if record.get("epoch", upto + 1) <= upto:
                records.append(record)
        return records

    def _rewrite_history(self) -> None:
        with atomic_open(self.run_dir / "metrics.jsonl", "w", encoding="utf-8") as fh:
            for record in self.history:
                fh.write(json.dumps(record) + "\n")

    def _append_history(self, record: dict) -> None:
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def _write_config(self) -> None:
        with atomic_open(self.run_dir / "config.toml", "w", encoding="utf-8") as fh:
            fh.write(dumps_toml(to_dict(self.config)))

    # -- training ----------------------------------------------------------------------

    def _next_batch(self) -> tuple[Any, Any]:
        """The next training batch; a new pass over the data (reshuffled) when one ends."""
        if self._batches is not None:
            batch = next(self._batches, None)
            if batch is not None:
                return batch
        self._passes += 1
        self.train_loader.sampler.set_epoch(self._passes)
        self._batches = iter(self.train_loader)
        return next(self._batches)

    def _train_epoch(self) -> dict:
        import torch

        self.net.train()
        started = time.perf_counter()
        total = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, count
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=self.steps_per_epoch,
                desc=f"epoch {self.epoch}/{self.planned_epochs}",
                unit="batch",
                leave=False,
                dynamic_ncols=True,
                disable=None,  # no bar when the output is not a terminal (a log file)
            )
        for _ in range(self.steps_per_epoch):
            x, y = self._next_batch()
            x = to_device(x, self.device, self.channels_last)
            y = y.to(self.device, non_blocking=True)
            targets = y
            if self.batch_transform is not None:
                x, targets = self.batch_transform(x, y)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                outputs = self.net(x)
                loss = self.criterion(outputs, targets, x)
            if not torch.isfinite(loss):
                raise EegemoError(
                    f"epoch {self.epoch}: the loss became {loss.item()}; lower optimizer.lr "
                    "or enable grad_clip"
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.config.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.scheduler is not None and self.per_step_schedule:
                self.scheduler.step()
            with torch.no_grad():
                hard = targets if targets.ndim == 1 else targets.argmax(dim=1)
                pred = mean_logits(outputs).argmax(dim=1)
                n = y.shape[0]
                total += torch.tensor(
                    [loss.item() * n, (pred == hard).sum().item(), n], dtype=torch.float64
                )
            if bar is not None:
                bar.update(1)
                bar.set_postfix(
                    loss=f"{total[0].item() / total[2].item():.4f}",
                    acc=f"{total[1].item() / total[2].item():.3f}",
                    lr=f"{self.optimizer.param_groups[0]['lr']:.2e}",
                )
        if bar is not None:
            bar.close()
        if self.dist.distributed:
            torch.distributed.all_reduce(total)
        return {
            "train_loss": total[0].item() / max(1.0, total[2].item()),
            "train_accuracy": total[1].item() / max(1.0, total[2].item()),
            "train_items": int(total[2].item()),
            "train_time_s": round(time.perf_counter() - started, 3),
        }

    def predict(self, dataset) -> tuple[np.ndarray, np.ndarray]:
        """Logits and targets of the current model on ``dataset``, gathered from all processes.

        Under torchrun each process predicts every ``world_size``-th item and the
        results are gathered in dataset order on every process.
        """
        import torch

        n = len(dataset)
        indices = list(range(self.dist.rank, n, self.dist.world_size))
        logits, targets = predict_logits(
            self.model,
            dataset,
            self.device,
            self.config.eval_batch_size,
            indices=indices,
            amp=self.use_amp,
            channels_last=self.channels_last,
            num_workers=self.config.data.num_workers,
        )
        if not self.dist.distributed:
            return logits, targets
        parts: list[Any] = [None] * self.dist.world_size
        torch.distributed.all_gather_object(parts, (indices, logits, targets))
        order = np.concatenate([np.asarray(p[0], dtype=np.int64) for p in parts])
        logits = np.concatenate([p[1] for p in parts if len(p[0])])
        targets = np.concatenate([p[2] for p in parts])
        inverse = np.argsort(order)
        return logits[inverse], targets[inverse]

    def evaluate(self, dataset) -> dict:
        """Metrics of the current model on ``dataset`` (see :mod:`eegemo.train.metrics`)."""
        logits, targets = self.predict(dataset)
        metrics = classification_metrics(targets, logits.argmax(axis=1), self.classes)
        metrics["loss"] = cross_entropy(logits, targets)
        return metrics

    def _is_better(self, score: float) -> bool:
        if self.best_score is None:
            return True
        delta = self.config.early_stopping.min_delta
        if self.config.early_stopping.monitor == "loss":
            return score < self.best_score - delta
        return score > self.best_score + delta

    def fit(self, resume: bool = False, report_sets: dict | None = None) -> FitResult:
        """Train for ``config.epochs`` epochs (or until early stopping), then report.

        Parameters
        ----------
        resume : bool
            Continue from ``run_dir/checkpoints/last.pt`` when it exists, so that the
            run finishes with the same number of epochs as an uninterrupted one. The
            configuration must be the checkpoint's (see :func:`check_resume_config`);
            a larger ``epochs`` extends the run, with a per-step schedule (cosine,
            one-cycle) re-planned as if the run had been started that long.
        report_sets : dict of str -> Dataset, optional
            Extra held-out splits (such as ``{"test": ...}``) evaluated with the best
            weights in the final report, beside ``val``.

        Returns
        -------
        FitResult
        """
        if self.writes:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if resume:
                # Left by a killed run, in the folders the trainer writes.
                remove_stale_temporaries(
                    self.run_dir, self.run_dir / "checkpoints", self.run_dir / "report"
                )
        resumed = resume and self.run_dir is not None and self._load_resume_state()
        if self.writes:
            self._write_config()
            if not resumed:
                (self.run_dir / "metrics.jsonl").write_text("", encoding="utf-8")
        monitor = self.config.early_stopping.monitor
        patience = self.config.early_stopping.patience
        stopped_early = bool(
            resumed and self.val_set is not None and patience and self.bad_epochs >= patience
        )
        while self.epoch < self.planned_epochs and not stopped_early:
            self.epoch += 1
            start = self.clock()
            record: dict[str, Any] = {"epoch": self.epoch}
            record.update(self._train_epoch())
            record["lr"] = self.optimizer.param_groups[0]["lr"]
            if self.val_set is not None:
                val = self.evaluate(self.val_set)
                for key in ("loss", "accuracy", "balanced_accuracy", "macro_f1"):
                    record[f"val_{key}"] = val[key]
                score = val[monitor]
            else:
                score = -record["train_loss"] if monitor != "loss" else record["train_loss"]
            if self.scheduler is not None and not self.per_step_schedule:
                if self.config.schedule.name == "plateau":
                    self.scheduler.step(score)
                else:
                    self.scheduler.step()
            improved = self.val_set is None or self._is_better(score)
            if improved:
                self.best_epoch, self.bad_epochs = self.epoch, 0
                self.best_score = score if self.val_set is not None else None
            else:
                self.bad_epochs += 1
            record["best"] = improved
            elapsed = self.clock() - start
            record["time_s"] = round(elapsed, 3)
            self._fit_time_limit(elapsed)
            self.history.append(record)
            if self.writes:
                self._append_history(record)
                checkpoint = self._checkpoint()
                _save_checkpoint(self.run_dir / "checkpoints" / "last.pt", checkpoint)
                if improved:
                    _save_checkpoint(self.run_dir / "checkpoints" / "best.pt", checkpoint)
            elif improved and self.run_dir is None:
                self._best_state = {
                    k: v.detach().clone() for k, v in self.model.state_dict().items()
                }
            self._log(_epoch_line(record, self.planned_epochs))
            for callback in self.callbacks:
                callback(self, record)
            if self.val_set is not None and patience and self.bad_epochs >= patience:
                stopped_early = True
                self._log(f"early stopping: no {monitor} improvement for {patience} epochs "
                          f"(best epoch {self.best_epoch})")
        self._load_best_weights()
        report = self._final_report(report_sets or {})
        return FitResult(
            run_dir=self.run_dir,
            best_epoch=self.best_epoch,
            best_score=self.best_score,
            epochs_run=self.epoch,
            stopped_early=stopped_early,
            history=self.history,
            report=report,
        )

    def _fit_time_limit(self, last_epoch_seconds: float) -> None:
        """Plan the remaining epochs so that the run fits in ``time_limit_min``.

        The epochs to come are assumed to take as long as the mean of those done so
        far, leaving out the first (thread pools and allocators warm up in it) once
        there are others, or as long as the last, whichever is longer. The plan
        shrinks when the epochs are slow and grows back when they turn out faster:
        never beyond ``epochs``, unless ``fill_time_limit`` makes the limit a budget
        to fill. A per-step schedule is rebuilt for the new length and fast-forwarded
        to the current step, so that the learning rate still anneals before the end.
        A plan that has run out is never extended, since its schedule has annealed.
        """
        limit = self.config.time_limit_min * 60.0
        if limit <= 0 or self.epoch >= self.planned_epochs:
            return
        times = [float(r["time_s"]) for r in self.history] + [last_epoch_seconds]
        steady = times[1:] or times
        per_epoch = max(sum(steady) / len(steady), last_epoch_seconds)
        fits = self.epoch + int(max(0.0, limit - sum(times)) // per_epoch)
        if not self.config.fill_time_limit:
            fits = min(fits, self.config.epochs)
        if fits == self.planned_epochs:
            return
        of_epochs = "" if self.config.fill_time_limit else f" of {self.config.epochs}"
        self._log(
            f"time limit {self.config.time_limit_min:g} min: {fits}{of_epochs} epochs fit "
            f"at {per_epoch:.0f} s per epoch"
        )
        self.planned_epochs = fits
        if self.scheduler is None or not self.per_step_schedule or fits <= self.epoch:
            return
        self._replan_schedule(fits)

    def _replan_schedule(self, epochs: int) -> None:
        """Rebuild the per-step schedule for ``epochs`` epochs and move it to the current step.

        The learning rate is then what a run planned for ``epochs`` from the start
        would use at this point.
        """
        import warnings

        self.scheduler, _ = build_scheduler(
            self.config, self.optimizer, self.steps_per_epoch, epochs
        )
        with warnings.catch_warnings():  # stepping the new schedule before optimizer.step()
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(self.epoch * self.steps_per_epoch):
                self.scheduler.step()

    def _log(self, line: str) -> None:
        if self.log_epochs:
            from tqdm.auto import tqdm

            tqdm.write(line, file=sys.stderr)

    def _load_best_weights(self) -> None:
        """Put the best epoch's weights in the model (from best.pt, or kept in memory)."""
        import torch.distributed as dist

        if self.best_epoch == self.epoch:
            return
        if self.run_dir is None:
            if self._best_state is not None:
                self.model.load_state_dict(self._best_state)
            return
        if self.dist.distributed:
            dist.barrier()  # rank 0 has finished writing best.pt
        best = load_checkpoint(self.run_dir / "checkpoints" / "best.pt")
        self.model.load_state_dict(best["model_state"])

    def _final_report(self, report_sets: dict) -> dict:
        from .report import write_report

        splits = {}
        if self.val_set is not None:
            splits["val"] = self.val_set
        splits.update(report_sets)
        results = {name: self.evaluate(ds) for name, ds in splits.items()}
        if self.writes:
            write_report(
                self.run_dir / "report",
                history=self.history,
                results=results,
                info={
                    "model": self.model_meta,
                    "best_epoch": self.best_epoch,
                    "epochs_run": self.epoch,
                    "monitor": self.config.early_stopping.monitor,
                    "device": str(self.device),
                    "world_size": self.dist.world_size,
                    "n_train": len(self.train_set),
                },
            )
        return results


def _epoch_line(record: dict, epochs: int) -> str:
    parts = [f"epoch {record['epoch']:>3}/{epochs}", f"loss {record['train_loss']:.4f}"]
    for key, label in (
        ("val_loss", "val_loss"),
        ("val_accuracy", "val_acc"),
        ("val_balanced_accuracy", "val_bacc"),
        ("val_macro_f1", "val_f1"),
    ):
        if key in record:
            parts.append(f"{label} {record[key]:.4f}")
    parts.append(f"lr {record['lr']:.2e}")
    parts.append(f"{record['time_s']:.1f}s")
    if record.get("best"):
        parts.append("*")
    return "  ".join(parts)
