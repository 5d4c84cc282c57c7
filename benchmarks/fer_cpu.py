"""FER2013 on a CPU: ``pipelines/fer-cpu.toml`` against a plain PyTorch loop, same run.

Both train on ``train/`` and select the epoch with the best ``val/`` (PublicTest)
accuracy; both report validation accuracy, balanced accuracy, macro-F1, wall time and
CPU time, then the ratios.

* eegemo: ``eegemo train --config pipelines/fer-cpu.toml`` (uint8 image cache,
  vectorised batch augmentation, the recipe's model and one-cycle schedule);
* plain PyTorch, what a researcher writes first: ``torchvision.datasets.ImageFolder``
  decoding JPEGs with per-image torchvision transforms (flip, rotation, random
  resized crop, random erasing) in a ``DataLoader``, a small VGG (4 stages of two
  3x3 conv-BN-ReLU layers, 32 to 256 channels, one 256-unit hidden layer), SGD with a
  one-cycle schedule and label smoothing, for ``--baseline-epochs`` epochs (10 by
  default: 69 minutes on our 2 cores, where JPEG decoding and per-image transforms
  compete with training for the same cores).

Prints one JSON object. Full run: about an hour for the recipe (its ``time_limit_min``)
plus about 70 minutes for the baseline on 2 cores (``--no-baseline`` and
``--baseline-only`` run one side); ``--epochs 1 --baseline-epochs 1``
compares throughput only. Run:
``python benchmarks/fer_cpu.py [--data ../shared/data/fer2013] [--out /tmp/fer_cpu_bench]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def default_data() -> Path:
    """``$EEGEMO_SHARED_DATA/fer2013`` or ``../shared/data/fer2013`` beside the project."""
    base = os.environ.get("EEGEMO_SHARED_DATA")
    return (Path(base) if base else ROOT.parent / "shared" / "data") / "fer2013"


def run_eegemo(data: Path, out: Path, config_path: Path, overrides: list[str]) -> dict:
    """Train with the recipe through the library; return metrics and timings."""
    from eegemo.train.experiment import train_run
    from eegemo.train.settings import load_train_config

    config = load_train_config(config_path, overrides)
    wall, cpu = time.perf_counter(), time.process_time()
    summary = train_run(data, out, config, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    val = summary["metrics"]["val"]
    n_train = summary["splits"]["train"]["images"]
    return {
        "model": config.model,
        "model_kwargs": config.model_kwargs,
        "epochs": summary["epochs_run"],
        "best_epoch": summary["best_epoch"],
        "val_accuracy": val["accuracy"],
        "val_balanced_accuracy": val["balanced_accuracy"],
        "val_macro_f1": val["macro_f1"],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "images_per_s": round(n_train * summary["epochs_run"] / wall, 1),
        "run": str(out),
    }


def small_vgg(num_classes: int = 7):
    """The plain baseline network: a small VGG for 48x48 grayscale faces."""
    from torch import nn

    layers, cin = [], 1
    for cout in (32, 64, 128, 256):
        for _ in range(2):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU(inplace=True)]
            cin = cout
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(256 * 3 * 3, 256), nn.ReLU(inplace=True),
                         nn.Dropout(0.3), nn.Linear(256, num_classes))


def run_plain(data: Path, epochs: int, threads: int, workers: int) -> dict:
    """The plain PyTorch loop described in the module docstring."""
    import numpy as np
    import torch
    from sklearn.metrics import balanced_accuracy_score, f1_score
    from torchvision import datasets, transforms

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    train_tf = transforms.Compose([
        transforms.Grayscale(),
        transforms.RandomHorizontalFlip(),
        transforms.RandomRotation(10),
        transforms.RandomResizedCrop(48, scale=(0.8, 1.0)),
        transforms.ToTensor(),
        transforms.RandomErasing(p=0.25),
    ])
    val_tf = transforms.Compose([transforms.Grayscale(), transforms.ToTensor()])
    train = datasets.ImageFolder(data / "train", train_tf)
    val = datasets.ImageFolder(data / "val", val_tf)
    loader = torch.utils.data.DataLoader(train, batch_size=128, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0)
    val_loader = torch.utils.data.DataLoader(val, batch_size=512, num_workers=workers)
    model = small_vgg(len(train.classes))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=epochs * len(loader),
                                                pct_start=0.25)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    best = {"val_accuracy": -1.0}
    wall, cpu = time.perf_counter(), time.process_time()
    for epoch in range(1, epochs + 1):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            sched.step()
        model.eval()
        preds, targets = [], []
        with torch.no_grad():
            for x, y in val_loader:
                preds.append(model(x).argmax(1).numpy())
                targets.append(y.numpy())
        p, t = np.concatenate(preds), np.concatenate(targets)
        acc = float((p == t).mean())
        if acc > best["val_accuracy"]:
            best = {"val_accuracy": acc, "best_epoch": epoch,
                    "val_balanced_accuracy": float(balanced_accuracy_score(t, p)),
                    "val_macro_f1": float(f1_score(t, p, average="macro"))}
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"model": "small VGG (plain PyTorch)", "epochs": epochs, **best,
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "images_per_s": round(len(train) * epochs / wall, 1)}


def main() -> None:
    """Run both sides and print the JSON comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data(),
                        help="FER2013 folder with train/ and val/")
    parser.add_argument("--out", type=Path, default=Path("/tmp/fer_cpu_bench"),
                        help="where the eegemo run folder is written")
    parser.add_argument("--config", type=Path, default=ROOT / "pipelines" / "fer-cpu.toml")
    parser.add_argument("--epochs", type=int, help="train the recipe for this many epochs "
                        "instead of its own (for a quick look)")
    parser.add_argument("--baseline-epochs", type=int, default=10,
                        help="epochs of the plain PyTorch baseline")
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--no-baseline", action="store_true", help="only run the eegemo recipe")
    side.add_argument("--baseline-only", action="store_true",
                      help="only run the plain PyTorch baseline")
    parser.add_argument("--workers", type=int, default=1,
                        help="DataLoader workers of the plain loop (JPEG decoding)")
    args = parser.parse_args()

    import torch

    result = {
        "benchmark": "fer_cpu",
        "data": str(args.data),
        "config": str(args.config),
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine()},
    }
    if not args.baseline_only:
        overrides = [f"epochs={args.epochs}"] if args.epochs else []
        ours = run_eegemo(args.data, args.out / "eegemo", args.config, overrides)
        result["eegemo"] = ours
    if not args.no_baseline:
        threads = torch.get_num_threads()
        plain = run_plain(args.data, args.baseline_epochs, threads, args.workers)
        result["plain_pytorch"] = plain
    if "eegemo" in result and "plain_pytorch" in result:
        result["ratios"] = {
            "val_accuracy": round(ours["val_accuracy"] / plain["val_accuracy"], 4),
            "images_per_s": round(ours["images_per_s"] / plain["images_per_s"], 3),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
