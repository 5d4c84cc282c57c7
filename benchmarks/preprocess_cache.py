"""The preprocessing step cache: a topomap settings change after a full ``eegemo preprocess``.

On the eegmat recordings (``$EEGEMO_SHARED_DATA/eegmat``, 48 EDF files), as a user would::

    eegemo preprocess RAW OUT --config pipelines/eegmat.toml --jobs 2                  # first
    eegemo preprocess RAW OUT --config pipelines/eegmat.toml --jobs 2 \\
        --set topomap.res=48 --png                                                    # cached

and, as the alternative without a step cache, the second command into an empty folder
(reading, filtering and ICA again for every recording, which is what a changed setting
cost before the cache). Prints one JSON object: the three wall times, the cached run's
time as a fraction of the first and of the alternative, the shape of the new maps,
whether every band-power array is byte-identical to the first run's, whether the cached
run's arrays are byte-identical to the alternative's, and the disk used by the cleaned
recordings (``OUT/clean``) next to the outputs.

Usage::

    python benchmarks/preprocess_cache.py              # all 48 recordings
    python benchmarks/preprocess_cache.py --limit 4    # a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHANGE = ["--set", "topomap.res=48", "--png"]


def default_data() -> Path:
    """``$EEGEMO_SHARED_DATA/eegmat`` or ``../shared/data/eegmat`` beside the project."""
    shared = Path(os.environ.get("EEGEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))
    return shared / "eegmat"


def run(raw: Path, out: Path, jobs: int, *extra: str) -> float:
    """Run ``eegemo preprocess`` in a fresh process; return its wall time in seconds."""
    cmd = [
        *(sys.executable, "-m", "eegemo", "preprocess", str(raw), str(out)),
        *("--config", "pipelines/eegmat.toml", "--jobs", str(jobs), "--no-progress", *extra),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    return seconds


def digests(out: Path, pattern: str) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob(pattern))
    }


def megabytes(files: list[Path]) -> float:
    return round(sum(p.stat().st_size for p in files) / 1e6, 1)


def main() -> None:
    """Run the three commands and print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data(), help="eegmat folder")
    parser.add_argument("--limit", type=int, default=None, help="first N recordings only")
    parser.add_argument("--jobs", type=int, default=2, help="eegemo worker processes")
    args = parser.parse_args()

    import mne

    from eegemo import __version__

    files = sorted(args.data.glob("*.edf"))[: args.limit]
    if not files:
        raise SystemExit(f"no EDF recordings in {args.data}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw = tmp / "raw"
        raw.mkdir()
        for path in files:
            (raw / path.name).symlink_to(path.resolve())
        out, fresh = tmp / "out", tmp / "fresh"

        t_first = run(raw, out, args.jobs)
        bandpower_first = digests(out, "*_bandpower.npy")
        disk = {
            "clean_mb": megabytes(list((out / "clean").iterdir())),
            "clean_raw_fif_mb": megabytes(list((out / "clean").glob("*_raw.fif"))),
            "clean_ica_fif_mb": megabytes(list((out / "clean").glob("*-ica.fif"))),
            "outputs_npy_mb": megabytes(list(out.rglob("*.npy"))),
            "raw_edf_mb": megabytes(files),
        }
        t_cached = run(raw, out, args.jobs, *CHANGE)
        t_fresh = run(raw, fresh, args.jobs, *CHANGE)

        shapes = {np.load(p, mmap_mode="r").shape[-2:] for p in out.rglob("*_topomaps.npy")}
        provenances = [json.loads(p.read_text()) for p in (out / "provenance").glob("*.json")]
        result = {
            "benchmark": "preprocess_cache",
            "recordings": len(files),
            "commands": {
                "first": "eegemo preprocess RAW OUT --config pipelines/eegmat.toml "
                f"--jobs {args.jobs}",
                "cached": "the same with " + " ".join(CHANGE),
                "without_cache": "the cached command into an empty folder",
            },
            "seconds": {
                "first": round(t_first, 1),
                "cached": round(t_cached, 1),
                "without_cache": round(t_fresh, 1),
            },
            "cached_over_first": round(t_cached / t_first, 3),
            "cached_over_without_cache": round(t_cached / t_fresh, 3),
            "recordings_reusing_clean_and_bandpower": sum(
                p["steps"]["clean"]["reused"] and p["steps"]["bandpower"]["reused"]
                for p in provenances
            ),
            "map_shapes": sorted(list(s) for s in shapes),
            "pngs": len(list(out.rglob("*.png"))),
            "bandpower_identical_to_first": digests(out, "*_bandpower.npy") == bandpower_first,
            "arrays_identical_to_without_cache": digests(out, "*.npy") == digests(fresh, "*.npy"),
            "disk": disk,
            "versions": {
                "eegemo": __version__,
                "mne": mne.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
            "machine": {
                "cpus": os.cpu_count(),
                "load_average_1min_at_end": round(os.getloadavg()[0], 1),
                "platform": platform.platform(),
            },
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
