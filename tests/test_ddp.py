"""``torchrun --nproc_per_node 2 -m eegemo train``: DistributedDataParallel on 2 CPU processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .synthetic_topomaps import make_topomap_folder


def test_torchrun_two_cpu_processes_train_and_write_the_run_once(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.fail("torchrun not found beside the Python interpreter or on PATH")
    data = make_topomap_folder(
        tmp_path / "data", n_subjects=5, epochs_per_class=7, res=8, effect=2.0
    )
    run = tmp_path / "run"
    epochs = 2
    cmd = [
        str(torchrun),
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "eegemo",
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--device",
        "cpu",
        "--no-progress",
        "--set",
        f"epochs={epochs}",
        "--set",
        "model=topo_cnn",
        "--set",
        "model_kwargs.width=4",
        "--set",
        "batch_size=8",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # rank 0 alone prints the summary and writes: one line per epoch, not one per process
    assert proc.stdout.count("best epoch") == 1
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, epochs + 1))
    report = json.loads((run / "report" / "metrics.json").read_text())
    assert report["world_size"] == 2 and report["epochs_run"] == epochs
    # the processes trained on disjoint halves: together they saw each item once per epoch
    n_train = json.loads((run / "run.json").read_text())["splits"]["train"]["epochs"]
    assert report["n_train"] == n_train == 56
    assert all(json.loads(line)["train_items"] == n_train for line in lines)
    assert (run / "checkpoints" / "best.pt").is_file()
    assert not list(run.rglob(".*.tmp-*"))
