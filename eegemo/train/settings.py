"""The training configuration schema (``eegemo train --config FILE --set key=value``).

The core keys (model, optimiser, schedule, ...) are defined here; each modality
adds its own section (``[eeg]``, ``[face]``, ...) through its
:class:`~eegemo.train.modality.Modality` ``config``, loaded into
``TrainConfig.sections`` by :func:`load_train_config`. Defaults suit band-power
topomaps (``pipelines/train-topomap.toml`` restates them); face recipes in
``pipelines/fer-*.toml`` override what they need.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..config import load_config, option
from ..errors import ConfigError
from .augment import AugmentConfig
from .device import check_device_name

#: ``model`` value that lets the data choose: each modality's ``default_model`` and recipe.
AUTO_MODEL = "auto"
#: Validation metrics that can drive early stopping, model selection and plateau schedules.
MONITOR_METRICS = ("balanced_accuracy", "accuracy", "macro_f1", "loss")
#: Ways of combining several inputs (``data.fusion``).
FUSIONS = ("early", "late")


@dataclasses.dataclass
class OptimizerConfig:
    """Optimiser and its hyper-parameters."""

    name: str = option("adamw", "optimiser", choices=("sgd", "adam", "adamw"))
    lr: float = option(1e-3, "peak learning rate")
    weight_decay: float = option(0.05, "weight decay (decoupled for adamw, L2 otherwise)")
    momentum: float = option(0.9, "SGD momentum (Nesterov)")
    nesterov: bool = option(True, "use Nesterov momentum with SGD")
    beta1: float = option(0.9, "Adam/AdamW first-moment decay")
    beta2: float = option(0.999, "Adam/AdamW second-moment decay")


@dataclasses.dataclass
class ScheduleConfig:
    """Learning-rate schedule."""

    name: str = option(
        "cosine",
        "schedule: cosine (with linear warm-up, per step), step (per epoch), plateau "
        "(reduce on the monitored metric), onecycle (per step), none",
        choices=("cosine", "step", "plateau", "onecycle", "none"),
    )
    warmup_epochs: float = option(1.0, "cosine: linear warm-up length in epochs")
    min_lr_ratio: float = option(0.01, "cosine: final learning rate as a fraction of the peak")
    step_size: int = option(10, "step: epochs between decays")
    gamma: float = option(0.1, "step: decay factor")
    plateau_factor: float = option(0.5, "plateau: factor applied when the metric stalls")
    plateau_patience: int = option(3, "plateau: epochs without improvement before decaying")
    pct_start: float = option(0.3, "onecycle: fraction of steps spent increasing the rate")


@dataclasses.dataclass
class EarlyStoppingConfig:
    """Model selection and early stopping on the validation set."""

    monitor: str = option(
        "balanced_accuracy",
        "validation metric used to pick the best checkpoint and to stop early",
        choices=MONITOR_METRICS,
    )
    patience: int = option(0, "epochs without improvement before stopping (0 = never stop early)")
    min_delta: float = option(0.0, "smallest change that counts as an improvement")


@dataclasses.dataclass
class DataConfig:
    """How the training data are read, split and normalised."""

    val_fraction: float = option(
        0.2,
        "data split by subject: fraction of the training subjects held out (whole subjects) "
        "for model selection; 0 = no validation, the last epoch is kept",
    )
    num_workers: int = option(0, "DataLoader worker processes (0 = load in the main process)")
    inputs: list[str] = option(
        [],
        "modalities learnt from together, by name (`--inputs eeg+physio`); empty = the one "
        "the data belong to (EEG for a preprocessed folder, heart features only when named)",
    )
    fusion: str = option(
        "early",
        "how several inputs are combined: 'early' joins them inside one network before its "
        "head; 'late' trains one model per input, calibrates each by temperature scaling on "
        "the validation subjects (if any: with model = auto and the built-in val_fraction, "
        "the inputs' recipes decide, none for EEG and heart) and averages their probabilities",
        choices=FUSIONS,
    )


@dataclasses.dataclass
class TrainConfig:
    """Everything ``eegemo train`` needs besides the data folder and the run folder."""

    model: str = option(
        AUTO_MODEL,
        "registered model name (see `eegemo models`), or 'auto': the data's own default "
        "model with its recipe (EEG topomaps: topo_linear; heart features: feature_mlp; "
        "faces: resnet18; several inputs: fusion_net)",
    )
    model_kwargs: dict[str, Any] = option(
        {}, "architecture options passed to the model builder (width, dropout, ...)"
    )
    epochs: int = option(8, "number of training epochs")
    time_limit_min: float = option(
        0.0,
        "wall-clock limit on training in minutes (0 = none): after each epoch the run is "
        "re-planned to the epochs that still fit (at most `epochs`), and a per-step "
        "schedule (cosine, onecycle) is rebuilt to still end on time",
    )
    fill_time_limit: bool = option(
        False,
        "let the plan grow beyond `epochs` to every epoch that fits in time_limit_min, so that "
        "a faster machine trains longer (`epochs` is then only the plan for the first epoch, "
        "before one has been timed)",
    )
    steps_per_epoch: int = option(
        0,
        "training batches per epoch (0 = one full pass over the training set). A smaller "
        "number makes an epoch a random part of the data (the order continues across "
        "epochs), so that validation, checkpoints and the time-limit planner work at "
        "budgets shorter than one pass; more than a pass counts as one pass",
    )
    batch_size: int = option(64, "training batch size (per process under torchrun)")
    eval_batch_size: int = option(256, "batch size for validation and evaluation")
    balance: str = option(
        "loss",
        "class imbalance: 'loss' weights the loss by inverse class frequency, 'sampler' draws "
        "balanced batches, 'none' does nothing",
        choices=("loss", "sampler", "none"),
    )
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy (0 = off)")
    grad_clip: float = option(0.0, "clip the gradient norm to this value (0 = off)")
    amp: bool = option(True, "mixed precision (used on CUDA only)")
    channels_last: bool = option(True, "channels-last memory format (used on CUDA only)")
    device: str = option(
        "auto", "auto picks cuda, then mps, then cpu; cpu, cuda, cuda:N (the N-th GPU) or mps"
    )
    threads: int = option(0, "CPU threads for PyTorch (0 = the cores available to this process)")
    seed: int = option(0, "random seed (weights, shuffling, subject split)")
    deterministic: bool = option(False, "use deterministic algorithms (slower on GPU)")
    optimizer: OptimizerConfig = option(OptimizerConfig(), "optimiser")
    schedule: ScheduleConfig = option(ScheduleConfig(), "learning-rate schedule")
    early_stopping: EarlyStoppingConfig = option(EarlyStoppingConfig(), "model selection")
    data: DataConfig = option(DataConfig(), "data reading, splitting and normalisation")
    augment: AugmentConfig = option(AugmentConfig(), "batch augmentations")
    sections: dict[str, Any] = option(
        {}, "each modality's own section ([eeg], [face], ...), validated by the modality"
    )

    def __post_init__(self) -> None:
        if self.time_limit_min < 0:
            raise ConfigError(f"time_limit_min: expected >= 0, got {self.time_limit_min}")
        check_device_name(self.device)
        if self.fill_time_limit and not self.time_limit_min:
            raise ConfigError(
                "fill_time_limit: expected a time_limit_min to fill, got time_limit_min = 0"
            )
        if self.epochs < 1:
            raise ConfigError(f"epochs: expected at least 1, got {self.epochs}")
        if self.steps_per_epoch < 0:
            raise ConfigError(
                f"steps_per_epoch: expected >= 0 (0 = a full pass), got {self.steps_per_epoch}"
            )
        for key in ("batch_size", "eval_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}: expected at least 1, got {getattr(self, key)}")
        if not 0.0 <= self.data.val_fraction < 1.0:
            raise ConfigError(
                f"data.val_fraction: expected a value in [0, 1), got {self.data.val_fraction}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(
                f"label_smoothing: expected a value in [0, 1), got {self.label_smoothing}"
            )


T = TypeVar("T", bound=TrainConfig)


def load_train_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    cls: type[T] = TrainConfig,
    base: Mapping[str, Any] | None = None,
) -> T:
    """Read a training configuration with every registered modality's section.

    Parameters
    ----------
    path : path-like | None
        TOML recipe (``pipelines/train-topomap.toml``, ``pipelines/fer-cpu.toml``...);
        None starts from the defaults.
    overrides : sequence of str
        ``key=value`` strings (``--set``), e.g. ``"optimizer.lr=3e-4"`` or
        ``"face.img_size=64"``.
    cls : type
        The schema: :class:`TrainConfig` or an extension of it (distillation).
    base : mapping, optional
        A configuration recorded in a run to start from (see
        :func:`~eegemo.config.load_config`).

    Returns
    -------
    config : TrainConfig
        Validated; ``config.sections`` holds every modality's section.
    """
    from .modality import modality_sections

    return load_config(cls, path, overrides, sections=modality_sections(), base=base)
