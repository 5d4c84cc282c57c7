"""How ``eegemo preprocess`` scales: workers, Dask, recordings, duration, channels, epochs.

Every measurement runs a real ``eegemo preprocess`` command in a new process and a new
output folder. The data are the PhysioNet mental-arithmetic recordings
(``$EEGEMO_SHARED_DATA/eegmat`` or ``../shared/data/eegmat``) with
``pipelines/eegmat.toml`` when they are there, else recordings simulated with
:mod:`eegemo.eeg.simulate` (same layout: 19 EEG channels at 500 Hz, 180-s rest and
60-s task recordings) with ``pipelines/default.toml`` and the ICA iteration limit of
the demo (simulated rhythms are Gaussian, so FastICA never converges on them and would
otherwise always run to its limit, which real data do not).

1. **Workers.** The same batch of N recordings with ``--jobs 1``, ``--jobs W``,
   ``--backend dask --jobs W`` (eegemo starts and stops a ``LocalCluster`` of W
   single-threaded workers) and ``--backend dask --scheduler ADDRESS`` (a
   ``LocalCluster`` of W workers started beforehand, as a standing cluster would be).
   Wall time from launch to exit, best of ``--repeat`` rounds; speed-up relative to
   ``--jobs 1`` (the obvious alternative); outputs (manifest, failures, every array)
   compared byte for byte with the ``--jobs 1`` run.
2. **Recordings.** ``--jobs 1`` on 1, 4 and N recordings: a least-squares line gives
   the fixed start-up cost and the cost per recording.
3. **ICA**, the costly step, from the provenance of the ``--jobs 1`` batch: its
   seconds and number of components per recording, for the long (rest) and short
   (task) recordings. Its time depends on how many iterations FastICA needs, which
   varies from recording to recording far more than with length.
4. **Duration** (rest recordings cropped to 30 ... 180 s), 5. **channels** (19, and
   32 and 64 by spherical-spline interpolation onto the BioSemi 10-10 layouts, plus
   2 µV of independent sensor noise on every channel so that the data have full
   rank) and 6. **epochs** (the full rest recordings with 0, 1 and 1.5 s overlap
   between 2-s epochs), with the pipeline *without* its ICA stage so that the
   smooth costs are not buried in ICA's scatter: seconds per step from each
   recording's provenance, median over the rest recordings of 3 subjects per point.
   Each of these batches first processes a 30-s warm-up recording that is left out,
   so the one-off costs of a new process (imports, caches) are not charged to the
   first measured recording; the duration sweep reports that one-off cost.

Every command's CPU seconds (its own and its workers') are measured beside its wall
time: ``cores_used`` = CPU / wall is the share of the machine the run received. The
machine may be shared, and with the kernel's autogroup scheduling (reported as
``sched_autogroup``) each login session gets a fair share of the CPU however many
processes it starts, so extra workers cannot buy more than that share. The load
average before and after each command is part of the output, and
``load_average_start``/``_end`` frame the whole run. Prints one JSON object.

Usage::

    python benchmarks/scaling.py                  # about 5 minutes on 2 busy cores
    python benchmarks/scaling.py --repeat 2       # worker comparison twice, best of 2
    python benchmarks/scaling.py --quick          # fewer and shorter measurements
    python benchmarks/scaling.py --simulated      # simulated recordings even if eegmat exists
    python benchmarks/scaling.py --recordings 16 --workers 4
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: Every file is named ``<subject>_<1|2>.edf``, as in eegmat (1 = rest, 2 = task).
SUBJECT_PATTERN = r"(?P<subject>[A-Za-z0-9]+)_\d"
LABEL_PATTERN = r"_(?P<label>\d)\.edf$"
#: BioSemi caps whose channels carry 10-10 names (all present in standard_1020).
DENSE_LAYOUTS = {32: "biosemi32", 64: "biosemi64"}
WARMUP = "0warmup_1"  # sorts first, so it is processed first in a --jobs 1 batch


def load_average() -> list[float]:
    """1-, 5- and 15-minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def default_eegmat() -> Path:
    """``$EEGEMO_SHARED_DATA/eegmat`` or ``../shared/data/eegmat`` beside the project."""
    shared = Path(os.environ.get("EEGEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))
    return shared / "eegmat"


class Source:
    """Where recordings come from, and the pipeline that processes them.

    Parameters
    ----------
    eegmat : Path | None
        Folder of the eegmat EDF files; None simulates recordings instead.
    sfreq : float
        Sampling rate of simulated recordings.
    """

    def __init__(self, eegmat: Path | None, sfreq: float = 500.0):
        self.eegmat = eegmat
        self.sfreq = sfreq
        if eegmat is not None:
            self.name = f"eegmat recordings ({eegmat})"
            self.config_args = ["--config", str(ROOT / "pipelines" / "eegmat.toml")]
            self.files = sorted(eegmat.glob("Subject*_[12].edf"))
        else:
            self.name = f"simulated recordings (eegemo.eeg.simulate, {sfreq:g} Hz)"
            self.config_args = [
                "--config",
                str(ROOT / "pipelines" / "default.toml"),
                "--set",
                "stages.ica.max_iter=200",
            ]
            self.files = []

    def write_batch(self, folder: Path, n: int) -> None:
        """Place ``n`` recordings in ``folder``: subjects 0, 0, 1, 1, ... rest then task."""
        folder.mkdir(parents=True)
        if self.eegmat is not None:
            if n > len(self.files):
                raise SystemExit(f"--recordings {n}: only {len(self.files)} in {self.eegmat}")
            for path in self.files[:n]:
                (folder / path.name).symlink_to(path)
            return
        from eegemo.eeg.simulate import simulate_recording

        for i in range(n):
            subject, kind = i // 2, i % 2 + 1
            condition, duration = (("rest", 180.0), ("task", 60.0))[kind - 1]
            raw = simulate_recording(subject + 1, condition, duration, self.sfreq, seed=0)
            write_edf(raw, folder / f"Subject{subject:02d}_{kind}.edf")

    def long_recording(self, k: int):
        """The rest recording (about 180 s) of the ``k``-th subject."""
        import mne

        if self.eegmat is not None:
            return mne.io.read_raw_edf(self.files[2 * k], preload=True, verbose="error")
        from eegemo.eeg.simulate import simulate_recording

        return simulate_recording(k + 1, "rest", 180.0, self.sfreq, seed=0)


def write_edf(raw, path: Path) -> Path:
    """Export ``raw`` to EDF at ``path``."""
    import mne

    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")
    return path


def crop(raw, seconds: float):
    """The first ``seconds`` of ``raw`` (a copy)."""
    return raw.copy().crop(0.0, seconds - 1.0 / raw.info["sfreq"])


def with_channels(raw, n_channels: int, noise_uv: float = 2.0, seed: int = 0):
    """``raw`` with clean names and positions, on ``n_channels`` EEG sites, plus noise.

    19 keeps the recording's own channels; 32 and 64 interpolate them (spherical
    splines) onto the BioSemi 10-10 layouts. Interpolation alone gives rank 19
    whatever the channel count; independent noise of ``noise_uv`` µV RMS on every EEG
    channel makes the rank full, as in real recordings, so ICA's cost reflects it.
    """
    import mne

    from eegemo.eeg.channels import load_montage, prepare_channels

    raw, _ = prepare_channels(raw.copy())
    # A plain array: the EDF exporter trips over a reader's bookkeeping of dropped channels.
    raw = mne.io.RawArray(raw.get_data(), raw.info, verbose="error")
    if n_channels != 19:
        positions = load_montage("standard_1020").get_positions()
        lookup = {name.lower(): name for name in positions["ch_pos"]}
        names = mne.channels.make_standard_montage(DENSE_LAYOUTS[n_channels]).ch_names
        montage = mne.channels.make_dig_montage(
            ch_pos={name: positions["ch_pos"][lookup[name.lower()]] for name in names},
            nasion=positions["nasion"],
            lpa=positions["lpa"],
            rpa=positions["rpa"],
            coord_frame="head",
        )
        with mne.utils.use_log_level("error"):
            raw = raw.interpolate_to(montage, method="spline")
    picks = mne.pick_types(raw.info, eeg=True)
    noise = np.random.default_rng(seed).standard_normal((len(picks), raw.n_times))
    raw._data[picks] += noise_uv * 1e-6 * noise
    return raw


def children_cpu_s() -> float:
    """User + system CPU seconds of this process's finished (and reaped) descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(source: Source, raw_dir: Path, out_dir: Path, *extra: str) -> dict:
    """Run ``eegemo preprocess`` in a new process; return wall time, CPU time and load.

    ``cpu_s`` counts the command and the worker processes it started and reaped;
    ``cores_used`` is ``cpu_s / wall_s``, the share of the machine the run received.
    """
    cmd = [
        sys.executable,
        "-m",
        "eegemo",
        "preprocess",
        str(raw_dir),
        str(out_dir),
        *source.config_args,
        "--subject-pattern",
        SUBJECT_PATTERN,
        "--label-pattern",
        LABEL_PATTERN,
        "--no-progress",
        *extra,
    ]
    before = load_average()
    cpu = children_cpu_s()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    cpu = children_cpu_s() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return {
        "command": "eegemo preprocess RAW OUT " + " ".join(extra),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "cores_used": round(cpu / wall, 2),
        "load_before": before,
        "load_after": load_average(),
    }


def provenance(out_dir: Path) -> dict[str, dict]:
    """Provenance records by recording id."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((out_dir / "provenance").glob("*"))}


def same_outputs(a: Path, b: Path) -> bool:
    """Whether two output folders hold byte-identical manifest, failures and arrays."""
    arrays = sorted(str(p.relative_to(a)) for p in a.rglob("*.npy"))
    if arrays != sorted(str(p.relative_to(b)) for p in b.rglob("*.npy")):
        return False
    files = ["manifest.csv", "failures.csv", *arrays]
    return all(filecmp.cmp(a / f, b / f, shallow=False) for f in files)


def step_times(prov: dict) -> dict:
    """Seconds per step of one provenance record, and what shaped them."""
    ica = next((s for s in prov["stages"] if s["name"] == "ica"), {})
    timings = prov["timings_s"]
    return {
        "total_s": timings["total"],
        "steps_s": {k: v for k, v in timings.items() if k != "total"},
        "n_channels": prov["channels"]["n_used"],
        "n_epochs": prov["epochs"]["kept"],
        "ica_components": ica.get("n_components"),
    }


def steps_by_label(records: dict[str, dict]) -> dict:
    """Median seconds per step, and ICA components, of a batch's recordings by label."""
    groups: dict[str, list[dict]] = {}
    for prov in records.values():
        groups.setdefault(str(prov["recording"]["label"]), []).append(prov)
    out = {}
    for label, provs in sorted(groups.items()):
        rows = [step_times(p) for p in provs]
        out[label] = {
            "recordings": len(rows),
            "median_epochs": float(np.median([r["n_epochs"] for r in rows])),
            "median_total_s": round(float(np.median([r["total_s"] for r in rows])), 2),
            "median_steps_s": {
                k: round(float(np.median([r["steps_s"][k] for r in rows])), 3)
                for k in rows[0]["steps_s"]
            },
            "ica_s": sorted(r["steps_s"].get("ica", 0.0) for r in rows),
            "ica_components": sorted(r["ica_components"] for r in rows),
        }
    return out


def without_ica(source: Source) -> list[str]:
    """``--set`` arguments that keep the source pipeline's stages except ICA."""
    import tomllib

    with open(source.config_args[1], "rb") as fh:
        stages = tomllib.load(fh).get("stages") or [
            {"name": n} for n in ("bandpass", "notch", "resample", "rereference")
        ]
    tables = [
        "{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in table.items()) + "}"
        for table in stages
        if table["name"] != "ica"
    ]
    return ["--set", "stages=[" + ", ".join(tables) + "]"]


def measure_workers(source: Source, root: Path, n: int, workers: int, repeat: int) -> dict:
    """The same batch with 1 and ``workers`` local processes and on two Dask clusters.

    Each round runs the four setups one after the other into fresh folders; with
    ``repeat`` rounds, the best (smallest) wall time of each setup is compared, the
    usual way to see through interference from other work on the machine.
    """
    from dask.distributed import LocalCluster

    raw_dir = root / "workers"
    source.write_batch(raw_dir, n)
    setups = {
        "jobs1": ["--jobs", "1"],
        f"jobs{workers}": ["--jobs", str(workers)],
        "dask_local": ["--backend", "dask", "--jobs", str(workers)],
        "dask_scheduler": ["--backend", "dask", "--scheduler"],
    }
    runs: dict[str, list[dict]] = {name: [] for name in setups}
    for rnd in range(repeat):
        for name, extra in setups.items():
            out = root / f"out-{name}-{rnd}"
            if name != "dask_scheduler":
                runs[name].append(run_cli(source, raw_dir, out, *extra))
                continue
            cpu = children_cpu_s()
            start = time.perf_counter()
            with LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster:
                startup = time.perf_counter() - start
                run = run_cli(source, raw_dir, out, *extra, cluster.scheduler_address)
            # The cluster's workers are reaped when it closes: count their CPU (their
            # start-up included) with the command's.
            run["cpu_s"] = round(children_cpu_s() - cpu, 2)
            run["cores_used"] = round(run["cpu_s"] / run["wall_s"], 2)
            run["command"] = run["command"].replace(cluster.scheduler_address, "ADDRESS")
            run["cluster_start_s"] = round(startup, 2)
            runs[name].append(run)

    best = {name: min(r["wall_s"] for r in rows) for name, rows in runs.items()}
    summary = {
        name: {
            "command": rows[0]["command"],
            "wall_s": [r["wall_s"] for r in rows],
            "best_wall_s": best[name],
            "recordings_per_min": round(60.0 * n / best[name], 2),
            "speedup_vs_jobs1": round(best["jobs1"] / best[name], 3),
            "cpu_s": [r["cpu_s"] for r in rows],
            "cores_used": [r["cores_used"] for r in rows],
        }
        for name, rows in runs.items()
    }
    records = provenance(root / "out-jobs1-0")
    in_worker = [step_times(p)["total_s"] for p in records.values()]
    return {
        "recordings": n,
        "workers": workers,
        "repeat": repeat,
        "summary": summary,
        "runs": runs,
        "jobs1_in_worker_s": {
            "sum": round(sum(in_worker), 2),
            "mean": round(float(np.mean(in_worker)), 2),
        },
        "steps_by_label": steps_by_label(records),
        "outputs_identical_to_jobs1": {
            name: all(
                same_outputs(root / "out-jobs1-0", root / f"out-{name}-{rnd}")
                for rnd in range(repeat)
            )
            for name in setups
            if name != "jobs1"
        },
    }


def measure_recordings(
    source: Source, root: Path, counts: list[int], known: tuple[int, float]
) -> dict:
    """Wall time of ``--jobs 1`` against the number of recordings; least-squares line."""
    rows = []
    for n in counts:
        source.write_batch(root / f"count-{n}", n)
        rows.append(
            {
                "recordings": n,
                **run_cli(source, root / f"count-{n}", root / f"count-{n}-out", "--jobs", "1"),
            }
        )
    rows.append({"recordings": known[0], "wall_s": known[1], "from": "workers: jobs1, best"})
    slope, intercept = np.polyfit([r["recordings"] for r in rows], [r["wall_s"] for r in rows], 1)
    return {
        "rows": rows,
        "fit": {"startup_s": round(float(intercept), 2), "per_recording_s": round(float(slope), 2)},
    }


def measure_sweep(
    source: Source, root: Path, name: str, points: dict[str, list], warmup, *extra: str
) -> dict:
    """One ``--jobs 1`` batch: a warm-up recording, then several recordings per point.

    Returns the command's wall time and, per point, the median over its recordings
    of the total and of each step, and each recording's total.
    """
    raw_dir = root / name
    raw_dir.mkdir()
    write_edf(warmup, raw_dir / f"{WARMUP}.edf")
    stems: dict[str, list[str]] = {}
    for point, raws in points.items():
        stems[point] = [f"{point}s{k}_1" for k in range(len(raws))]
        for stem, raw in zip(stems[point], raws, strict=True):
            write_edf(raw, raw_dir / f"{stem}.edf")
    run = run_cli(source, raw_dir, root / f"{name}-out", "--jobs", "1", *extra)
    records = provenance(root / f"{name}-out")
    result = {"run": run, "warmup_total_s": records[WARMUP]["timings_s"]["total"], "points": {}}
    for point, names in stems.items():
        rows = [step_times(records[stem]) for stem in names]
        totals = [r["total_s"] for r in rows]
        steps = {
            k: round(float(np.median([r["steps_s"][k] for r in rows])), 3)
            for k in rows[0]["steps_s"]
        }
        result["points"][point] = {
            "median_total_s": round(float(np.median(totals)), 3),
            "median_steps_s": steps,
            "n_channels": rows[0]["n_channels"],
            "n_epochs": [r["n_epochs"] for r in rows],
            "ica_components": [r["ica_components"] for r in rows],
            "totals_s": totals,
        }
    return result


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--recordings",
        type=int,
        default=16,
        help="recordings in the worker comparison (default: 16)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="local processes / Dask workers compared with one (default: 2)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of the worker comparison; the best of each is compared (default: 1)",
    )
    parser.add_argument(
        "--eegmat",
        type=Path,
        default=default_eegmat(),
        metavar="DIR",
        help="eegmat folder (default: $EEGEMO_SHARED_DATA/eegmat)",
    )
    parser.add_argument(
        "--simulated",
        action="store_true",
        help="simulate recordings even when the eegmat folder exists",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="6 recordings, 2 recordings per sweep point, shorter sweeps",
    )
    parser.add_argument(
        "--keep", metavar="DIR", type=Path, help="work in DIR (must not exist) and keep it"
    )
    args = parser.parse_args(argv)
    if args.recordings < 2 or args.workers < 2 or args.repeat < 1:
        parser.error("--recordings and --workers must be at least 2, --repeat at least 1")

    import mne

    import eegemo

    use_eegmat = not args.simulated and args.eegmat.is_dir()
    source = Source(args.eegmat if use_eegmat else None)
    if args.quick:
        args.recordings = 6
    per_point = 2 if args.quick else 3
    durations = [30, 60, 120] if args.quick else [30, 60, 120, 180]
    channels = [19, 32] if args.quick else [19, 32, 64]
    overlaps = [0.0, 1.0] if args.quick else [0.0, 1.0, 1.5]
    counts = [c for c in ([1] if args.quick else [1, 4]) if c < args.recordings]

    started = time.perf_counter()
    result: dict = {
        "benchmark": "eegemo preprocess scaling",
        "data": source.name,
        "pipeline": " ".join(source.config_args).replace(str(ROOT) + os.sep, ""),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "eegemo": eegemo.__version__,
            "mne": mne.__version__,
        },
        "load_average_start": load_average(),
        "sched_autogroup": Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
        if Path("/proc/sys/kernel/sched_autogroup_enabled").is_file()
        else None,
        "note": "shared machine: wall times include contention from other processes; "
        "see load_before/load_after of each command",
    }
    with tempfile.TemporaryDirectory(prefix="eegemo-scaling-") as tmp:
        root = args.keep if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=not args.keep)
        workers = measure_workers(source, root, args.recordings, args.workers, args.repeat)
        result["workers"] = workers
        result["recordings"] = measure_recordings(
            source,
            root,
            counts,
            (args.recordings, workers["summary"]["jobs1"]["best_wall_s"]),
        )
        longs = [source.long_recording(k) for k in range(per_point)]
        warmup = crop(longs[0], 30.0)
        no_ica = without_ica(source)
        result["sweeps_pipeline"] = "as above without the ica stage: " + " ".join(no_ica)
        result["duration"] = measure_sweep(
            source,
            root,
            "duration",
            {f"dur{d:03d}": [crop(raw, d) for raw in longs] for d in durations},
            warmup,
            *no_ica,
        )
        result["duration"]["one_off_cost_s"] = round(
            result["duration"]["warmup_total_s"]
            - result["duration"]["points"]["dur030"]["totals_s"][0],
            2,
        )
        result["channels"] = measure_sweep(
            source,
            root,
            "channels",
            {f"ch{n:03d}": [with_channels(crop(raw, 60.0), n) for raw in longs] for n in channels},
            with_channels(warmup, 19),
            *no_ica,
        )
        result["epochs"] = {
            f"overlap_{overlap:g}s": measure_sweep(
                source,
                root,
                f"epochs-{overlap:g}",
                {"full": longs},
                warmup,
                *no_ica,
                "--set",
                f"epochs.overlap_s={overlap}",
            )
            for overlap in overlaps
        }
    result["load_average_end"] = load_average()
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
