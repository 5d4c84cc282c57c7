"""The face model zoo at equal budgets: every registered face model, one recipe, one budget.

Each face model of ``eegemo models`` is trained on FER2013 ``train/`` with the same recipe
and the same wall-clock budget, and scored on ``val/`` (PublicTest), at one of two sizes
(``--size``):

- ``default``: each model at its registered default size (no ``model_kwargs``), from
  0.3 to 2.6 G multiply-accumulates (MACs) per 48x48 face. On a 2-core CPU these are far
  too slow for a budget of minutes (ResNet-18 trained at 10 faces/s and ended at 17%
  ``val/`` accuracy after 15 minutes), so this size needs a GPU or hours per model.
- ``cpu``: each model scaled, with the ``model_kwargs`` of :data:`CPU_SIZES`, to about
  the cost per face of the CPU recipe's network (ResNet-18 at width 32 with a stride-2
  stem, 78.0 M MACs), so that the zoo compares architectures at equal compute as well
  as equal time. Each keeps its family's layout; only widths, the stem's stride or
  patch size, and for the transformers the embedding width and depth change:

  ======================  ===================================================  ======  ======
  model                   ``model_kwargs``                                     params  MACs
  ======================  ===================================================  ======  ======
  ``resnet18``            width 32, stem_stride 2, dropout 0.1 (fer-cpu.toml)  2.80 M  78.0 M
  ``resnet34``            width 22, stem_stride 2                              2.52 M  77.1 M
  ``resmasknet``          width 11, stem_stride 2                              6.10 M  74.1 M
  ``residual_attention``  width 8                                              0.45 M  70.0 M
  ``vgg``                 width 24, fc_dim 1536 (every layer 3/8 as wide)      5.69 M  71.2 M
  ``vit``                 patch_size 6, embed_dim 128, depth 6, num_heads 4,   1.20 M  77.0 M
                          drop_path_rate 0
  ``deit``                as ``vit`` (fer-distill-deit.toml's student)         1.21 M  78.2 M
  ``convnext``            variant atto, patch_size 2                           3.38 M  99.5 M
  ======================  ===================================================  ======  ======

  ConvNeXt-Atto with a 2x2 stem is the smallest ConvNeXt the builder offers (28% above
  78 M; a 3x3 stem would be 44 M). MACs count convolutions and linear layers
  (:func:`eegemo.models.registry.count_macs`), not the attention products.

The recipe is ``pipelines/fer-cpu.toml``'s training settings: AdamW (weight decay 0.05)
with a one-cycle schedule, label smoothing 0.1, flip, rotation and random-resized-crop
batch augmentation, batch 128, whole 48x48 faces, no class weighting, model selection on
``val/`` accuracy, seed 0. The budget is ``time_limit_min = --budget-min`` with
``fill_time_limit = true``: the trainer plans the epochs that fit in it, and the
one-cycle schedule anneals at its end.

Only the learning rate differs, and only for the models that are usually trained with
Adam/AdamW at another rate (:data:`OWN_LR`): ViT and DeiT at 5e-4 (the DeiT paper's
base rate), ConvNeXt at 1e-3; the CNNs take the CPU recipe's 6e-3. Each result records
its learning rate and where it came from, at either size.

One pass over the 28,709 training faces can take longer than a short budget on a CPU,
so each model first gets a measured warm-up (outside the budget): a few training steps
are timed (after one that warms up), then forward passes in eval mode over ``val/`` at
batch 512 (after a warm-up batch; stopped after ``--infer-s`` seconds), which give the
inference rate and the cost of one validation pass. ``steps_per_epoch`` is then chosen
so that about ``--evals`` validations fit in the budget (fewer where validating would
take more than half of it), and never more than a full pass; an epoch is then a part of
the shuffled data, the next one continuing it.

Per model: ``val/`` accuracy, balanced accuracy and macro-F1 of the best epoch (the
trainer's report), epochs and steps done, best epoch, faces seen, training time,
parameters and MACs of the size trained (counted on the model built with its
``model_kwargs``), training faces/s (faces seen / time in training steps), inference
faces/s, the device, the budget, the ``size`` and the ``model_kwargs``. Each model's
result is written as soon as it is trained, to ``OUT/<model>.json`` at the default size
(run folder ``OUT/<model>/``) and to ``OUT/<model>-cpu.json`` at the CPU size (run
folder ``OUT/<model>-cpu/``), so the two sizes never mix and a zoo can be trained over
several sessions with ``--models``: a model with a result is skipped unless ``--force``,
a run folder without one (a killed run) is trained again from scratch. Each model trains
in a child process, so that a native crash (ResMaskNet's convolutions in oneDNN on two
threads, for instance) becomes that model's failed row and the zoo goes on. The JSON printed
on stdout gathers every result of the chosen size present in ``OUT``; ``--markdown``
adds the table.

Run (about ``--budget-min`` plus a few minutes per model)::

    python benchmarks/fer_zoo.py --size cpu --budget-min 12 --out runs/fer-zoo --markdown
    python benchmarks/fer_zoo.py --budget-min 20 --out runs/fer-zoo --markdown
    python benchmarks/fer_zoo.py --budget-min 20 --out runs/fer-zoo --models vit,deit
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fer_cpu import default_data

if TYPE_CHECKING:
    from eegemo.train.settings import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "pipelines" / "fer-cpu.toml"
#: Models trained at their family's usual AdamW learning rate instead of RECIPE's 6e-3
#: (a one-cycle peak of 6e-3 is too high for a transformer or a ConvNeXt from scratch).
OWN_LR = {"vit": 5e-4, "deit": 5e-4, "convnext": 1e-3}
#: Batch size of the inference timing (the recipe's validation batch).
INFER_BATCH = 512
#: One FER2013 face, the input on which sizes are counted.
FACE_SHAPE = (1, 48, 48)
#: The sizes a model is trained at (``--size``).
SIZES = ("default", "cpu")
#: ``model_kwargs`` of each face model at about the cost per face of RECIPE's ResNet-18
#: (78.0 M MACs); resnet18 is RECIPE's model, deit fer-distill-deit.toml's student.
CPU_SIZES: dict[str, dict] = {
    "convnext": {"variant": "atto", "patch_size": 2},
    "deit": {"patch_size": 6, "embed_dim": 128, "depth": 6, "num_heads": 4, "drop_path_rate": 0.0},
    "residual_attention": {"width": 8},
    "resmasknet": {"width": 11, "stem_stride": 2},
    "resnet18": {"width": 32, "stem_stride": 2, "dropout": 0.1},
    "resnet34": {"width": 22, "stem_stride": 2},
    "vgg": {"width": 24, "fc_dim": 1536},
    "vit": {"patch_size": 6, "embed_dim": 128, "depth": 6, "num_heads": 4, "drop_path_rate": 0.0},
}


def log(line: str) -> None:
    """Progress on stderr."""
    print(f"fer_zoo: {line}", file=sys.stderr, flush=True)


def face_models() -> dict[str, dict]:
    """The face models of the stored catalogue (``eegemo models``), by name."""
    from eegemo.models.catalogue import read

    return {row["name"]: row for row in read() if row["family"] == "face"}


def run_name(name: str, size: str) -> str:
    """The stem of the result and run folder of ``name`` at ``size`` (``resnet18-cpu``)."""
    return name if size == "default" else f"{name}-{size}"


def model_size(name: str, model_kwargs: dict) -> tuple[int, int]:
    """Parameters and MACs per face of ``name`` built with ``model_kwargs``."""
    from eegemo.face.models import create_model
    from eegemo.models.registry import count_macs

    model = create_model(name, num_classes=7, input_shape=FACE_SHAPE, **model_kwargs)
    return sum(p.numel() for p in model.parameters()), count_macs(model, FACE_SHAPE)


def model_config(
    name: str, size: str, budget_min: float, threads: int, seed: int
) -> tuple[TrainConfig, str]:
    """The common recipe for ``name`` and where its learning rate comes from.

    Parameters
    ----------
    name : str
        Registered face model.
    size : {"default", "cpu"}
        Its registered default size, or its ``model_kwargs`` of :data:`CPU_SIZES`.
    budget_min : float
        Training budget (``time_limit_min``, filled).
    threads : int
        CPU threads.
    seed : int
        Random seed.

    Returns
    -------
    config : TrainConfig
        ``pipelines/fer-cpu.toml`` with this model and size, the budget and the learning
        rate.
    lr_from : str
        Where the learning rate comes from: RECIPE's file or ``OWN_LR``.
    """
    from eegemo.train.settings import load_train_config

    config = load_train_config(RECIPE)
    lr = OWN_LR.get(name, config.optimizer.lr)
    lr_from = "OWN_LR" if name in OWN_LR else str(RECIPE.relative_to(ROOT))
    config = dataclasses.replace(
        config,
        model=name,
        model_kwargs=dict(CPU_SIZES[name]) if size == "cpu" else {},
        time_limit_min=budget_min,
        fill_time_limit=True,
        threads=threads,
        seed=seed,
        optimizer=dataclasses.replace(config.optimizer, lr=lr),
    )
    return config, lr_from


def forward_batches(dataset, batch_size: int) -> list:
    """Input tensors of ``dataset`` in batches, as validation reads them."""
    from torch.utils.data import DataLoader

    return [x for x, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False)]


def time_inference(trainer, dataset, max_s: float) -> tuple[float, int]:
    """Faces per second of forward passes in eval mode, as the trainer validates.

    One batch warms up, then batches of :data:`INFER_BATCH` faces are timed in order
    until all of ``dataset`` is done or ``max_s`` seconds have passed (at least one).

    Parameters
    ----------
    trainer : Trainer
        Its model, device, mixed precision and memory format are used.
    dataset : Dataset
        Faces to predict (``val/``).
    max_s : float
        Stop timing after this many seconds.

    Returns
    -------
    faces_per_s : float
    faces : int
        Faces timed.
    """
    import torch

    from eegemo.train.trainer import mean_logits, to_device

    batches = forward_batches(dataset, INFER_BATCH)
    model, device = trainer.model, trainer.device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def seconds(x) -> float:
        sync()
        start = time.perf_counter()
        mean_logits(model(to_device(x, device, trainer.channels_last))).float()
        sync()
        return time.perf_counter() - start

    was_training = model.training
    model.eval()
    faces, elapsed = 0, 0.0
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=trainer.amp_dtype, enabled=trainer.use_amp),
    ):
        seconds(batches[0])  # warm-up
        for x in batches:
            elapsed += seconds(x)
            faces += len(x)
            if elapsed >= max_s:
                break
    model.train(was_training)
    return faces / elapsed, faces


def plan_steps(
    budget_s: float, step_s: float, val_s: float, evals: int, full_pass: int
) -> tuple[int, int]:
    """Steps per epoch so that about ``evals`` validations fit in the budget.

    Parameters
    ----------
    budget_s : float
        Training budget in seconds.
    step_s : float
        Seconds per training step.
    val_s : float
        Seconds per validation pass.
    evals : int
        Validations wanted; fewer when they would take more than half the budget.
    full_pass : int
        Steps in a full pass over the training set (the most an epoch takes).

    Returns
    -------
    steps_per_epoch : int
    epochs : int
        The planned number of epochs (validations).
    """
    epochs = max(1, min(evals, int(budget_s / 2 // val_s)))
    steps = int((budget_s / epochs - val_s) // step_s)
    return max(1, min(steps, full_pass)), epochs


def device_info(trainer) -> dict:
    """The device a trainer runs on, in words."""
    import torch

    device = trainer.device
    if device.type == "cuda":
        return {"device": str(device), "name": torch.cuda.get_device_name(device)}
    return {
        "device": str(device),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
    }


def warm_up(data: Path, config: TrainConfig, args: argparse.Namespace) -> dict:
    """Time training steps and validation of a fresh model; choose ``steps_per_epoch``.

    Returns
    -------
    warmup : dict
        The measurements, ``steps_per_epoch``, the planned ``epochs`` and the device.
    """
    from eegemo.train.data import load_datasets
    from eegemo.train.trainer import Trainer

    started = time.perf_counter()
    bundle = load_datasets(data, config)
    # epochs of one step: the first warms up, the others are timed
    probe = dataclasses.replace(
        config,
        epochs=1 + args.warmup_steps,
        steps_per_epoch=1,
        time_limit_min=0.0,
        fill_time_limit=False,
    )
    trainer = Trainer(
        probe,
        bundle.train,
        None,
        bundle.classes,
        None,
        data_meta=bundle.meta,
        progress=False,
        log_epochs=False,
    )
    timed = trainer.fit().history[1:]
    step_s = sum(r["train_time_s"] for r in timed) / len(timed)
    infer_rate, infer_faces = time_inference(trainer, bundle.val, args.infer_s)
    val_s = len(bundle.val) / infer_rate
    full_pass = len(trainer.train_loader)
    steps, epochs = plan_steps(args.budget_min * 60, step_s, val_s, args.evals, full_pass)
    return {
        "steps_timed": len(timed),
        "step_s": round(step_s, 3),
        "train_faces_per_s": round(config.batch_size / step_s, 1),
        "infer_faces_per_s": round(infer_rate, 1),
        "infer_faces_timed": infer_faces,
        "train_faces": len(bundle.train),
        "val_faces": len(bundle.val),
        "val_s": round(val_s, 1),
        "full_pass_steps": full_pass,
        "steps_per_epoch": steps,
        "epochs_planned": epochs,
        "wall_s": round(time.perf_counter() - started, 1),
        "device": device_info(trainer),
    }


def train_model(name: str, args: argparse.Namespace) -> dict:
    """Warm up, train ``name`` at ``args.size`` within the budget and return its result."""
    import torch

    from eegemo.errors import EegemoError
    from eegemo.train.experiment import train_on_split

    config, lr_from = model_config(name, args.size, args.budget_min, args.threads, args.seed)
    params, macs = model_size(name, config.model_kwargs)
    result: dict[str, Any] = {
        "model": name,
        "size": args.size,
        "params": params,
        "macs": macs,
        "budget_min": args.budget_min,
        "recipe": {
            "base": str(RECIPE.relative_to(ROOT)),
            "optimizer": config.optimizer.name,
            "lr": config.optimizer.lr,
            "lr_from": lr_from,
            "schedule": config.schedule.name,
            "batch_size": config.batch_size,
            "model_kwargs": config.model_kwargs,
            "seed": config.seed,
        },
        "data": str(args.data),
        "torch": torch.__version__,
    }
    try:
        warmup = warm_up(args.data, config, args)
        result["device"] = warmup.pop("device")
        result["warmup"] = warmup
        log(
            f"{name}: {warmup['step_s']:.2f} s per step of {config.batch_size} "
            f"({warmup['train_faces_per_s']:g} faces/s), inference "
            f"{warmup['infer_faces_per_s']:g} faces/s, validation ~{warmup['val_s']:.0f} s: "
            f"{warmup['epochs_planned']} epochs of {warmup['steps_per_epoch']} steps "
            f"(a full pass is {warmup['full_pass_steps']}) planned in {args.budget_min:g} min"
        )
        config = dataclasses.replace(
            config, epochs=warmup["epochs_planned"], steps_per_epoch=warmup["steps_per_epoch"]
        )
        run = args.out / run_name(name, args.size)
        started = time.perf_counter()
        fit, _ = train_on_split(args.data, run, config, progress=False)
        wall = time.perf_counter() - started
    except EegemoError as exc:  # a diverging loss, for instance
        log(f"{name}: failed: {exc}")
        return {**result, "error": str(exc)}
    history = fit.history
    faces = sum(r["train_items"] for r in history)
    train_s = sum(r["train_time_s"] for r in history)
    val = fit.report["val"]
    result.update(
        {
            "val_accuracy": val["accuracy"],
            "val_balanced_accuracy": val["balanced_accuracy"],
            "val_macro_f1": val["macro_f1"],
            "epochs": fit.epochs_run,
            "steps_per_epoch": config.steps_per_epoch,
            "steps": fit.epochs_run * config.steps_per_epoch,
            "best_epoch": fit.best_epoch,
            "faces_seen": faces,
            "passes": round(faces / warmup["train_faces"], 2),
            "train_s": round(train_s, 1),
            "budget_used_s": round(sum(r["time_s"] for r in history), 1),
            "val_s_per_epoch": round(
                sum(r["time_s"] - r["train_time_s"] for r in history) / len(history), 1
            ),
            "wall_s": round(wall, 1),
            "train_faces_per_s": round(faces / train_s, 1),
            "infer_faces_per_s": warmup["infer_faces_per_s"],
            "run": str(run),
        }
    )
    return result


def write_result(path: Path, result: dict) -> None:
    """Write a model's result whole or not at all (a temporary file, then renamed)."""
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    os.replace(part, path)


def train_in_child(name: str, args: argparse.Namespace) -> dict:
    """Train ``name`` in a child process running this script; its result, or a failed row.

    The child writes its result. A child that dies without writing it (killed by a
    signal, or an exception other than eegemo's, whose traceback it prints) gives a row
    with ``error`` saying how it ended, beside the model's size, written here, so the
    zoo's table shows the failure.
    """
    import torch

    command = [
        sys.executable, str(Path(__file__).resolve()), "--child", name,
        "--data", str(args.data), "--budget-min", repr(args.budget_min), "--size", args.size,
        "--out", str(args.out), "--threads", str(args.threads), "--seed", str(args.seed),
        "--evals", str(args.evals), "--warmup-steps", str(args.warmup_steps),
        "--infer-s", repr(args.infer_s),
    ]
    path = args.out / f"{run_name(name, args.size)}.json"
    code = subprocess.run(command, check=False).returncode
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    if code < 0:
        how = f"killed by {signal.Signals(-code).name}"
    else:
        how = f"exited with status {code} before writing a result"
    log(f"{name}: failed: {how}")
    params, macs = model_size(name, CPU_SIZES[name] if args.size == "cpu" else {})
    failed = {
        "model": name, "size": args.size, "params": params, "macs": macs,
        "budget_min": args.budget_min, "data": str(args.data), "torch": torch.__version__,
        "error": how,
    }
    write_result(path, failed)
    return failed


def prepare_run(out: Path, name: str, budget_min: float, force: bool) -> bool:
    """Whether run ``name`` is to be trained; clear what a killed or replaced run left.

    ``name`` is a :func:`run_name`, of the result ``out/<name>.json`` and the run folder
    ``out/<name>/``. A model with a result at the same budget is skipped (unless
    ``force``); one at another budget is refused, since its numbers would not compare.
    """
    result, run = out / f"{name}.json", out / name
    if result.is_file() and not force:
        budget = json.loads(result.read_text(encoding="utf-8")).get("budget_min")
        if budget != budget_min:
            sys.exit(
                f"fer_zoo: {result} was trained at a {budget} min budget, not "
                f"{budget_min:g}; use another --out, or --force to train it again"
            )
        log(f"{name}: done ({result}), skipped")
        return False
    if run.exists():
        if not (run / "config.toml").is_file() and any(run.iterdir()):
            sys.exit(f"fer_zoo: {run} is not a run folder of this benchmark; not touching it")
        log(f"{name}: training again from scratch; removing {run}")
        shutil.rmtree(run)
    result.unlink(missing_ok=True)
    return True


def gather(out: Path, names: list[str]) -> list[dict]:
    """The results ``out/<name>.json`` present of runs ``names``, best ``val/`` accuracy first.

    ``names`` are :func:`run_name` stems, so that only results of one size are gathered;
    failed runs come last.
    """
    rows = [
        json.loads((out / f"{n}.json").read_text(encoding="utf-8"))
        for n in names
        if (out / f"{n}.json").is_file()
    ]
    return sorted(rows, key=lambda r: -r.get("val_accuracy", -1.0))


def markdown(rows: list[dict]) -> str:
    """The results as a Markdown table, with the sizes, budgets, devices and torch below it."""
    lines = [
        "| model | params (M) | MACs (M) | train faces/s | infer faces/s | epochs (steps) "
        "| val acc | val bacc | val macro-F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        size = f"| `{r['model']}` | {r['params'] / 1e6:.2f} | {r['macs'] / 1e6:.0f} "
        if "error" in r:
            lines.append(size + f"| | | | failed: {r['error']} | | |")
            continue
        lines.append(
            size + f"| {r['train_faces_per_s']:.1f} | {r['infer_faces_per_s']:.1f} "
            f"| {r['epochs']} ({r['steps']}) | {100 * r['val_accuracy']:.2f}% "
            f"| {100 * r['val_balanced_accuracy']:.2f}% | {100 * r['val_macro_f1']:.2f}% |"
        )
    sizes = sorted({r.get("size", "default") for r in rows})
    budgets = sorted({f"{r['budget_min']:g}" for r in rows})
    devices = sorted({describe_device(r["device"]) for r in rows if "device" in r})
    torches = sorted({r["torch"] for r in rows})
    lines.append("")
    footer = [f"Size {', '.join(sizes)}", f"budget {', '.join(budgets)} min per model"]
    footer += devices  # none when every model failed before its warm-up
    lines.append(f"{'; '.join(footer)}; torch {', '.join(torches)}.")
    return "\n".join(lines) + "\n"


def describe_device(device: dict) -> str:
    """A device entry in words."""
    if "name" in device:
        return device["name"]
    return f"{device['processor']}, {device['threads']} threads of {device['cpus']} CPUs"


def main() -> None:
    """Train the models asked for, then print the JSON of every result in ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=default_data(), help="FER2013 folder with train/ and val/"
    )
    parser.add_argument(
        "--budget-min",
        type=float,
        required=True,
        help="training budget per model in minutes (time_limit_min, filled)",
    )
    parser.add_argument(
        "--size",
        choices=SIZES,
        default="default",
        help="model sizes: the registered defaults (default), or CPU_SIZES at about "
        "the CPU recipe's 78 M MACs per face",
    )
    parser.add_argument(
        "--models", default="all", help="comma-separated face models, or 'all' (default)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("/tmp/fer_zoo"),
        help="run folders and per-model results (OUT/<model>/ and OUT/<model>.json, "
        "OUT/<model>-cpu/ and OUT/<model>-cpu.json with --size cpu)",
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--evals", type=int, default=6, help="validations (epochs) to fit in the budget"
    )
    parser.add_argument(
        "--warmup-steps",
        type=int,
        default=3,
        help="training steps timed in the warm-up (after one untimed)",
    )
    parser.add_argument(
        "--infer-s", type=float, default=30.0, help="stop timing inference after this many seconds"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="train models again that already have a result in --out",
    )
    parser.add_argument("--child", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument(
        "--markdown",
        nargs="?",
        const="-",
        metavar="FILE",
        help="also write the table: after the JSON, or to FILE",
    )
    args = parser.parse_args()
    if args.budget_min <= 0 or args.evals < 1 or args.warmup_steps < 1 or args.infer_s <= 0:
        parser.error("--budget-min, --evals, --warmup-steps and --infer-s must be positive")

    catalogue = face_models()
    names = list(catalogue) if args.models == "all" else [n.strip() for n in args.models.split(",")]
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        parser.error(f"not face models: {', '.join(unknown)} (known: {', '.join(catalogue)})")
    unsized = [n for n in names if n not in CPU_SIZES] if args.size == "cpu" else []
    if unsized:
        parser.error(f"no CPU size for: {', '.join(unsized)} (add them to CPU_SIZES)")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.child:  # this process is train_in_child's child: one model, its result only
        write_result(args.out / f"{run_name(args.child, args.size)}.json",
                     train_model(args.child, args))
        return
    todo = [
        name
        for name in names
        if prepare_run(args.out, run_name(name, args.size), args.budget_min, args.force)
    ]
    for name in todo:
        result = train_in_child(name, args)
        if "error" not in result:
            log(
                f"{name}: val accuracy {result['val_accuracy']:.4f} after {result['epochs']} "
                f"epochs ({result['steps']} steps, {result['passes']:g} passes); "
                f"{args.out / f'{run_name(name, args.size)}.json'}"
            )

    rows = gather(args.out, [run_name(name, args.size) for name in catalogue])
    print(
        json.dumps(
            {
                "benchmark": "fer_zoo",
                "command": shlex.join(["python", "benchmarks/fer_zoo.py", *sys.argv[1:]]),
                "models": rows,
            },
            indent=2,
        )
    )
    if args.markdown:
        table = markdown(rows)
        if args.markdown == "-":
            print()
            print(table, end="")
        else:
            Path(args.markdown).write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
