"""Knowledge distillation on the shared trainer, repeated over generations.

Losses (all plug into :class:`~eegemo.train.trainer.Trainer` as
``criterion(outputs, targets, inputs)``; the teacher sees the same augmented batch
as the student):

* soft targets (Hinton et al., 2015): ``(1 - alpha) * CE(student, y) + alpha * T^2 *
  KL(softmax(teacher / T) || softmax(student / T))``;
* hard-label distillation (Touvron et al., 2021): the teacher's predicted class as
  the target; with a DeiT student the class head learns the labels and the
  distillation head learns the teacher through the distillation token;
* attention transfer (Zagoruyko & Komodakis, 2017) between CNNs that expose
  ``stages``: ``beta / 2 * sum_j mean((a_s_j - a_t_j)^2)`` over the normalised
  spatial attention maps ``a = normalize(mean_c(f^2))`` of each stage, added to
  either of the above;
* feature matching (FitNets hints, Romero et al., 2015, without the regressor) between
  a student and a teacher whose stages give feature maps of the same shapes (a student
  of the teacher's architecture): ``gamma * sum_j mean((f_s_j - f_t_j)^2) /
  mean(f_t_j^2)``, the relative squared error of each stage's output. A teacher that
  has memorised its training images, trained with label smoothing, gives soft targets
  on them that are little more than the labels; its feature maps still carry what it
  sees in each image.

:func:`distill_run` repeats distillation for N generations, each student becoming
the next teacher (born-again networks, Furlanello et al., 2018), and tabulates the
teacher, the optional student trained without a teacher and every generation on the
validation set (``DIR/distill.md``, ``DIR/distill.json``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from ..atomic import atomic_open, write_json
from ..config import option
from ..errors import ConfigError, EegemoError
from .settings import TrainConfig

#: Metrics compared across generations (validation set).
TABLE_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


@dataclasses.dataclass
class DistillConfig:
    """How a student learns from its teacher."""

    generations: int = option(1, "students trained in sequence; each becomes the next teacher")
    loss: str = option(
        "soft",
        "soft: KL divergence to the teacher's tempered probabilities; hard: the teacher's "
        "predicted class (DeiT students learn it through the distillation head)",
        choices=("soft", "hard"),
    )
    temperature: float = option(4.0, "soft: temperature T of both softmaxes")
    alpha: float = option(
        0.5, "weight of the distillation term; 1 - alpha weighs the loss on the true labels"
    )
    attention_beta: float = option(
        0.0, "attention transfer weight beta between CNN stages (0 = off; 1000 in the paper)"
    )
    feature_gamma: float = option(
        0.0,
        "feature matching weight gamma: relative squared error of each CNN stage's output "
        "to the teacher's (stages of the same shapes: a student of the teacher's "
        "architecture; 0 = off)",
    )
    baseline: bool = option(
        False, "also train the student architecture without a teacher, for comparison"
    )

    def __post_init__(self) -> None:
        if self.generations < 1:
            raise ConfigError(f"generations: expected at least 1, got {self.generations}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature: expected > 0, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha: expected in [0, 1], got {self.alpha}")
        if self.attention_beta < 0:
            raise ConfigError(f"attention_beta: expected >= 0, got {self.attention_beta}")
        if self.feature_gamma < 0:
            raise ConfigError(f"feature_gamma: expected >= 0, got {self.feature_gamma}")


@dataclasses.dataclass
class DistillRunConfig(TrainConfig):
    """A training recipe for the student (every ``eegemo train`` key) plus ``[distill]``."""

    distill: DistillConfig = option(DistillConfig(), "knowledge distillation")


# ------------------------------------------------------------------- attention maps


class StageFeatures:
    """Record the output of each of a model's ``stages`` during training-mode forwards.

    Parameters
    ----------
    model : torch.nn.Module
        A model registered with ``feature_stages=True``: its ``stages`` attribute is a
        sequence of modules producing ``(N, C, H, W)`` feature maps.
    role : str
        ``"student"`` or ``"teacher"``, for error messages.
    record_in_eval : bool
        Also record in eval mode (the teacher runs in eval mode).
    """

    def __init__(self, model, role: str, record_in_eval: bool = False) -> None:
        stages = getattr(model, "stages", None)
        if stages is None or len(stages) == 0:
            raise ConfigError(
                f"attention transfer needs a model with feature stages; the {role} "
                f"({type(model).__name__}) has no `stages`"
            )
        self.features: list = [None] * len(stages)
        self.record_in_eval = record_in_eval
        self._handles = [
            stage.register_forward_hook(self._hook(i)) for i, stage in enumerate(stages)
        ]

    def _hook(self, i: int):
        def hook(module, inputs, output):
            if module.training or self.record_in_eval:
                self.features[i] = output

        return hook

    def __len__(self) -> int:
        return len(self.features)

    def remove(self) -> None:
        """Unregister the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def take(self) -> list:
        """The recorded features (then forgotten, so no graph outlives its step)."""
        out, self.features = self.features, [None] * len(self.features)
        if any(f is None for f in out):
            raise EegemoError("attention transfer: a stage produced no output in this forward")
        return out


def attention_map(features):
    """Spatial attention ``normalize(mean over channels of f^2)``, flattened per image."""
    from torch.nn import functional as F

    return F.normalize(features.float().pow(2).mean(dim=1).flatten(1), dim=1)


def attention_transfer_loss(student_features: Sequence, teacher_features: Sequence):
    """Sum over stages of the mean squared difference of attention maps.

    Maps of different sizes are compared after average-pooling the larger one.
    """
    from torch.nn import functional as F

    total = 0.0
    for s, t in zip(student_features, teacher_features, strict=True):
        if s.shape[-2:] != t.shape[-2:]:
            size = min(s.shape[-2], t.shape[-2]), min(s.shape[-1], t.shape[-1])
            s = F.adaptive_avg_pool2d(s, size)
            t = F.adaptive_avg_pool2d(t, size)
        total = total + (attention_map(s) - attention_map(t)).pow(2).mean()
    return total


def check_same_shapes(student_features: Sequence, teacher_features: Sequence) -> None:
    """Refuse feature matching between stages whose feature maps differ in shape."""
    for j, (s, t) in enumerate(zip(student_features, teacher_features, strict=True)):
        if s.shape != t.shape:
            raise ConfigError(
                f"distill.feature_gamma: feature matching pairs stages of the same shapes; "
                f"stage {j + 1} of the student gives {tuple(s.shape[1:])}, the teacher's "
                f"{tuple(t.shape[1:])} (use the teacher's architecture for the student)"
            )


def feature_matching_loss(student_features: Sequence, teacher_features: Sequence):
    """Sum over stages of the student's squared error relative to the teacher's features.

    Every pair of stages must give feature maps of the same shape
    (:func:`check_same_shapes`).
    """
    check_same_shapes(student_features, teacher_features)
    total = 0.0
    for s, t in zip(student_features, teacher_features, strict=True):
        t = t.float()
        total = total + (s.float() - t).pow(2).mean() / t.pow(2).mean().clamp_min(1e-8)
    return total


# ------------------------------------------------------------------- the loss


class DistillationLoss:
    """Trainer criterion combining the label loss with a teacher's signal.

    Parameters
    ----------
    teacher : torch.nn.Module
        Trained model (kept in eval mode, never updated).
    base_criterion : callable
        ``base(outputs, targets, inputs)`` on the true (possibly soft) labels, such
        as :func:`eegemo.train.trainer.build_criterion`'s.
    kind : str
        ``"soft"`` or ``"hard"``.
    temperature : float
        Softmax temperature of soft distillation.
    alpha : float
        Weight of the distillation term (``1 - alpha`` for the label loss).
    attention_beta : float
        Weight of attention transfer (0 = off); needs ``student``.
    feature_gamma : float
        Weight of feature matching (0 = off); needs ``student``.
    student : torch.nn.Module, optional
        The student, to record its stage features for attention transfer and feature
        matching.
    """

    def __init__(
        self,
        teacher,
        base_criterion,
        kind: str = "soft",
        temperature: float = 4.0,
        alpha: float = 0.5,
        attention_beta: float = 0.0,
        feature_gamma: float = 0.0,
        student=None,
    ) -> None:
        if kind not in ("soft", "hard"):
            raise ConfigError(f"distillation loss must be 'soft' or 'hard', got {kind!r}")
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.base = base_criterion
        self.kind = kind
        self.temperature = temperature
        self.alpha = alpha
        self.attention_beta = attention_beta
        self.feature_gamma = feature_gamma
        self._student_stages = self._teacher_stages = None
        if attention_beta > 0 or feature_gamma > 0:
            if student is None:
                raise ConfigError("attention transfer and feature matching need the student")
            self._student_stages = StageFeatures(student, "student")
            self._teacher_stages = StageFeatures(teacher, "teacher", record_in_eval=True)
            if len(self._student_stages) != len(self._teacher_stages):
                raise ConfigError(
                    f"attention transfer and feature matching pair stages: the student has "
                    f"{len(self._student_stages)}, the teacher {len(self._teacher_stages)}"
                )

    def close(self) -> None:
        """Remove the stage hooks from the student and the teacher."""
        for features in (self._student_stages, self._teacher_stages):
            if features is not None:
                features.remove()

    def teacher_logits(self, inputs):
        """The teacher's logits for ``inputs`` (DeiT teachers: averaged heads)."""
        import torch

        with torch.no_grad():
            out = self.teacher(inputs)
        if isinstance(out, (tuple, list)):
            out = sum(out) / len(out)
        return out.float()

    def distillation_term(self, student_logits, teacher_logits):
        """Soft (tempered KL) or hard (cross-entropy to the teacher's class) term."""
        from torch.nn import functional as F

        if self.kind == "hard":
            return F.cross_entropy(student_logits.float(), teacher_logits.argmax(dim=1))
        t = self.temperature
        return F.kl_div(
            F.log_softmax(student_logits.float() / t, dim=1),
            F.log_softmax(teacher_logits / t, dim=1),
            reduction="batchmean",
            log_target=True,
        ) * (t * t)

    def __call__(self, outputs, targets, inputs):
        """Loss of the student ``outputs`` for the batch ``inputs`` with labels ``targets``."""
        teacher = self.teacher_logits(inputs)
        if isinstance(outputs, (tuple, list)):  # DeiT: class head <- labels, dist head <- teacher
            label_out, dist_out = outputs[0], outputs[1]
        else:
            label_out = dist_out = outputs
        loss = (1 - self.alpha) * self.base(label_out, targets, inputs)
        loss = loss + self.alpha * self.distillation_term(dist_out, teacher)
        if self._student_stages is not None:
            student_f, teacher_f = self._student_stages.take(), self._teacher_stages.take()
            if self.attention_beta > 0:
                at = attention_transfer_loss(student_f, teacher_f)
                loss = loss + self.attention_beta / 2 * at
            if self.feature_gamma > 0:
                loss = loss + self.feature_gamma * feature_matching_loss(student_f, teacher_f)
        return loss


# ------------------------------------------------------------------- repeated distillation


def _check_feature_stages(name: str, role: str) -> None:
    """Refuse stage losses for a model that does not declare spatial stages."""
    from ..models import get_entry, model_names

    if not get_entry(name).feature_stages:
        able = [n for n in model_names() if get_entry(n).feature_stages]
        raise ConfigError(
            f"distill.attention_beta and feature_gamma need models that declare feature "
            f"stages; the {role} "
            f"{name!r} does not (models that do: {', '.join(able)})"
        )


def _check_feature_shapes(teacher, student, item, device) -> None:
    """Refuse feature matching between stages whose outputs differ in shape, before training."""
    import torch

    from .trainer import to_device

    student_f = StageFeatures(student, "student", record_in_eval=True)
    teacher_f = StageFeatures(teacher, "teacher", record_in_eval=True)
    x = to_device(item.unsqueeze(0), device)  # stages are CNNs': one image tensor
    was_training = student.training
    try:
        with torch.no_grad():
            student.eval()
            student(x)
            teacher(x)
        check_same_shapes(student_f.take(), teacher_f.take())
    finally:
        student.train(was_training)
        student_f.remove()
        teacher_f.remove()


def _val_metrics(model, dataset, classes: Sequence[str], device, batch_size: int) -> dict:
    from .metrics import classification_metrics
    from .trainer import predict_logits

    logits, targets = predict_logits(model, dataset, device, batch_size)
    return classification_metrics(targets, logits.argmax(axis=1), list(classes))


def _row(role: str, name: str, run: str, metrics: dict, best_epoch: int | None = None) -> dict:
    row = {"role": role, "model": name, "run": run, "best_epoch": best_epoch, "n": metrics["n"]}
    row.update({m: float(metrics[m]) for m in TABLE_METRICS})
    return row


def distill_markdown(rows: Sequence[dict]) -> str:
    """The generations' table: teacher, student without teacher, each generation."""
    lines = [
        "# Repeated knowledge distillation (validation set)",
        "",
        "| | model | accuracy | balanced accuracy | macro-F1 | best epoch | run |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        best = "" if r["best_epoch"] is None else str(r["best_epoch"])
        lines.append(
            f"| {r['role']} | {r['model']} | {r['accuracy']:.4f} | {r['balanced_accuracy']:.4f} "
            f"| {r['macro_f1']:.4f} | {best} | {r['run']} |"
        )
    return "\n".join(lines) + "\n"


def _finished(run_dir: Path) -> dict | None:
    path = run_dir / "report" / "metrics.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def distill_run(
    teacher: str | Path,
    data: str | Path,
    out: str | Path,
    config: DistillRunConfig,
    resume: bool = False,
    progress: bool = True,
) -> list[dict]:
    """Distil a trained teacher into ``config.model`` students over generations.

    Parameters
    ----------
    teacher : path-like
        Run folder or checkpoint of the first teacher.
    data : path-like
        Training data (as for ``eegemo train``); the teacher's classes must match.
    out : path-like
        Output folder: ``student/`` (baseline, optional), ``gen-01/``, ``gen-02/``...
        (each a complete run folder), ``distill.json`` and ``distill.md``.
    config : DistillRunConfig
        The student's training recipe and the ``distill`` settings.
    resume : bool
        Keep generations that already finished in ``out`` and continue after them.
    progress : bool
        Progress bars and per-epoch lines.

    Returns
    -------
    rows : list of dict
        One per model: ``role``, ``model``, ``run``, ``best_epoch``, ``n`` and the
        validation ``accuracy``, ``balanced_accuracy``, ``macro_f1``.
    """
    from .checkpoint import (
        build_model_from_meta,
        describe_model,
        input_shape_of,
        item_shape,
        load_model,
    )
    from .data import load_datasets
    from .device import resolve_device
    from .fusion import resolve_config
    from .trainer import Trainer, build_criterion, dataset_targets

    out = Path(out)
    config = resolve_config(data, config)
    if out.exists() and not resume and any(
        (out / m).exists() for m in ("distill.json", "student", "gen-01")
    ):
        raise EegemoError(
            f"{out}: already holds a distillation; pass --resume or choose another --out"
        )
    device = resolve_device(config.device)
    teacher_model, teacher_meta = load_model(teacher, device=device)
    bundle = load_datasets(data, config)
    if bundle.val is None:
        raise EegemoError(f"{data}: distillation compares models on a validation set; none found")
    if list(teacher_meta["classes"]) != list(bundle.classes):
        raise EegemoError(
            f"{teacher}: the teacher's classes {teacher_meta['classes']} differ from the data's "
            f"{bundle.classes}"
        )
    student_meta = describe_model(config, item_shape(bundle.train[0][0]), len(bundle.classes))
    teacher_input = input_shape_of(teacher_meta["model"])
    data_input = input_shape_of(student_meta)
    if teacher_input != data_input:
        raise EegemoError(
            f"{teacher}: the teacher takes inputs of shape {teacher_input} but the data give "
            f"{data_input}"
        )
    if config.distill.attention_beta > 0 or config.distill.feature_gamma > 0:
        _check_feature_stages(teacher_meta["model"]["name"], "teacher")
        _check_feature_stages(config.model, "student")
    if config.distill.feature_gamma > 0:
        _check_feature_shapes(teacher_model, build_model_from_meta(student_meta).to(device),
                              bundle.train[0][0], device)
    out.mkdir(parents=True, exist_ok=True)
    teacher_val = _val_metrics(
        teacher_model, bundle.val, bundle.classes, device, config.eval_batch_size
    )
    rows = [_row("teacher", teacher_meta["model"]["name"], str(teacher), teacher_val,
                 teacher_meta.get("best", {}).get("epoch"))]
    common = dict(data_meta=bundle.meta, progress=progress)

    def save_table() -> None:
        write_json(out / "distill.json", {"teacher": str(teacher), "data": str(data), "rows": rows})
        with atomic_open(out / "distill.md", "w", encoding="utf-8") as fh:
            fh.write(distill_markdown(rows))

    if config.distill.baseline:
        run_dir = out / "student"
        done = _finished(run_dir) if resume else None
        if done is None:
            if progress:
                print(f"student without a teacher -> {run_dir}", flush=True)
            trainer = Trainer(config, bundle.train, bundle.val, bundle.classes, run_dir, **common)
            result = trainer.fit(resume=resume)
            done = {"best_epoch": result.best_epoch, "splits": result.report}
        rows.append(_row("student (no teacher)", config.model, str(run_dir),
                         done["splits"]["val"], done["best_epoch"]))
        save_table()

    current = teacher_model
    targets = dataset_targets(bundle.train)
    for gen in range(1, config.distill.generations + 1):
        run_dir = out / f"gen-{gen:02d}"
        done = _finished(run_dir) if resume else None
        if done is None:
            if progress:
                print(f"generation {gen}/{config.distill.generations} -> {run_dir}", flush=True)
            student = build_model_from_meta(student_meta).to(device)
            criterion = DistillationLoss(
                current,
                build_criterion(config, targets, len(bundle.classes), device),
                kind=config.distill.loss,
                temperature=config.distill.temperature,
                alpha=config.distill.alpha,
                attention_beta=config.distill.attention_beta,
                feature_gamma=config.distill.feature_gamma,
                student=student,
            )
            trainer = Trainer(config, bundle.train, bundle.val, bundle.classes, run_dir,
                              model=student, criterion=criterion, **common)
            try:
                result = trainer.fit(resume=resume)
            finally:
                criterion.close()
            done = {"best_epoch": result.best_epoch, "splits": result.report}
            current = trainer.model.eval()
        else:
            current, _ = load_model(run_dir, device=device)
        rows.append(_row(f"generation {gen}", config.model, str(run_dir),
                         done["splits"]["val"], done["best_epoch"]))
        save_table()
    return rows
