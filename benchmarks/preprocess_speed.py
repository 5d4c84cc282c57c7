"""Throughput of ``eegemo preprocess`` against the same steps written as a plain MNE loop.

Both sides process the eegmat recordings (``$EEGEMO_SHARED_DATA/eegmat``, 48 EDF files)
with the default pipeline: band-pass 1-45 Hz, notch at 50 Hz and harmonics, resample to
250 Hz, average reference, FastICA (99 % variance, random_state 97) with eye components
found by correlation with Fp1/Fp2/F7/F8 and muscle components by ``find_bads_muscle``,
2-s epochs with a 150 µV peak-to-peak rejection, Welch band power in 5 bands (log10 µV²)
and a 32 x 32 topomap per epoch and band. The plain loop makes its images the way a user
of MNE would, with :func:`mne.viz.plot_topomap` (taking the image array it draws), and
runs one recording after the other in this process; eegemo runs with ``--jobs`` worker
processes (default 2). Both write .npy arrays. The outputs are compared, and the script
prints one JSON object with both times and their ratio.

Usage::

    python benchmarks/preprocess_speed.py                # all 48 recordings
    python benchmarks/preprocess_speed.py --limit 6      # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BANDS = {"delta": (1, 4), "theta": (4, 8), "alpha": (8, 13), "beta": (13, 30), "gamma": (30, 45)}


def default_data() -> Path:
    """``$EEGEMO_SHARED_DATA/eegmat`` or ``../shared/data/eegmat`` beside the project."""
    shared = Path(os.environ.get("EEGEMO_SHARED_DATA", ROOT.parent / "shared" / "data"))
    return shared / "eegmat"


def plain_mne_recording(path: Path, out: Path, fig_ax) -> tuple[int, float]:
    """Process one recording the way a script written directly against MNE would.

    Returns the number of epochs and the seconds spent making topomap images.
    """
    import mne
    from mne.preprocessing import ICA
    from mne.time_frequency import psd_array_welch

    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    # Channel hygiene for this data set: "EEG Fp1" -> "Fp1", old 10-20 names, the ear
    # reference pair is not a scalp site, the ECG is an ECG.
    raw.rename_channels(lambda name: name.replace("EEG ", "").replace("ECG ", ""))
    raw.rename_channels({"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"})
    raw.drop_channels(["A2-A1"])
    raw.set_channel_types({"ECG": "ecg"})
    montage = "colin27_1020" if "colin27_1020" in mne.channels.get_builtin_montages() else (
        "standard_1020"
    )
    raw.set_montage(montage, verbose="error")

    raw.filter(1.0, 45.0, verbose="error")
    nyquist = raw.info["sfreq"] / 2
    raw.notch_filter(np.arange(50.0, nyquist - 1.0, 50.0), verbose="error")
    raw.resample(250.0, verbose="error")
    raw.set_eeg_reference("average", verbose="error")

    ica = ICA(n_components=0.99, method="fastica", random_state=97, max_iter=1000, verbose="error")
    ica.fit(raw, picks="eeg", verbose="error")
    eog, _ = ica.find_bads_eog(raw, ch_name=["Fp1", "Fp2", "F7", "F8"], verbose="error")
    muscle, _ = ica.find_bads_muscle(raw, verbose="error")
    ica.apply(raw, exclude=sorted(set(eog) | set(muscle)), verbose="error")

    epochs = mne.make_fixed_length_epochs(raw, duration=2.0, preload=True, verbose="error")
    epochs.drop_bad(reject={"eeg": 150e-6}, verbose="error")
    epochs.pick("eeg")
    data = epochs.get_data()
    psd, freqs = psd_array_welch(
        data, 250.0, fmin=0.0, fmax=125.0, n_fft=250, n_per_seg=250, n_overlap=125,
        window="hann", verbose="error",
    )  # fmt: skip
    df = freqs[1] - freqs[0]
    power = np.stack(
        [psd[..., (freqs >= lo) & (freqs < hi)].sum(-1) * df * 1e12 for lo, hi in BANDS.values()],
        axis=-1,
    )
    power = np.log10(power)

    _, ax = fig_ax
    start = time.perf_counter()
    images = np.empty((len(power), len(BANDS), 32, 32), dtype=np.float32)
    for i in range(len(power)):
        for b in range(len(BANDS)):
            ax.clear()
            im, _ = mne.viz.plot_topomap(
                power[i, :, b], epochs.info, res=32, axes=ax, show=False, contours=0,
                extrapolate="head", image_interp="cubic",
            )  # fmt: skip
            images[i, b] = np.ma.filled(im.get_array().astype(np.float64), np.nan)
    topomap_seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / f"{path.stem}_topomaps.npy", images)
    np.save(out / f"{path.stem}_bandpower.npy", power.astype(np.float32))
    return len(power), topomap_seconds


def _plain_one(path: Path, out: Path) -> tuple[int, float]:
    """One recording of the plain loop, with its own figure (so it can run in a worker)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_ax = plt.subplots(figsize=(2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = plain_mne_recording(path, out, fig_ax)
    plt.close(fig_ax[0])
    return result


def run_plain(files: list[Path], out: Path, jobs: int = 1) -> tuple[float, int, float]:
    """Time the plain loop over ``files``; return seconds, epochs and topomap seconds.

    With ``jobs > 1`` the same loop body runs in joblib worker processes, as a user
    would parallelise a script, so that both sides use the same number of cores.
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if jobs == 1:
        results = [_plain_one(path, out) for path in tqdm(files, desc="plain MNE", unit="rec")]
    else:
        results = Parallel(n_jobs=jobs)(delayed(_plain_one)(path, out) for path in files)
    n_epochs = sum(n for n, _ in results)
    topomap_seconds = sum(s for _, s in results)
    return time.perf_counter() - start, n_epochs, topomap_seconds


def run_eegemo(folder: Path, out: Path, jobs: int) -> dict:
    """Time ``eegemo preprocess`` (the library call behind the CLI)."""
    from eegemo.eeg.batch import preprocess
    from eegemo.eeg.settings import PreprocessConfig

    start = time.perf_counter()
    result = preprocess(folder, out, PreprocessConfig(), jobs=jobs, progress=True)
    seconds = time.perf_counter() - start
    provenances = [json.loads(p.read_text()) for p in (out / "provenance").glob("*.json")]
    return {
        "jobs": jobs,
        "seconds": round(seconds, 2),
        "epochs": result.n_epochs,
        "failed": len(result.failures),
        # Summed over recordings, inside the workers.
        "topomap_seconds": round(sum(p["timings_s"]["topomap"] for p in provenances), 3),
    }


def compare(files: list[Path], eegemo_out: Path, plain_out: Path) -> dict:
    """Largest differences between the two sides' arrays where they kept the same epochs.

    plot_topomap's image array is defined on the whole square (a clip path hides what
    lies outside the head when drawn); eegemo's maps are NaN there. Values are compared
    where eegemo's are finite, which must be a subset of the pixels MNE computed.
    """
    worst_power, worst_image, same_epochs, subset = 0.0, 0.0, 0, True
    for path in files:
        theirs = np.load(plain_out / f"{path.stem}_bandpower.npy")
        ours = np.load(eegemo_out / path.stem / f"{path.stem}_bandpower.npy")
        if ours.shape != theirs.shape:
            continue
        same_epochs += 1
        worst_power = max(worst_power, float(np.abs(ours - theirs).max()))
        img_ours = np.load(eegemo_out / path.stem / f"{path.stem}_topomaps.npy")
        img_theirs = np.load(plain_out / f"{path.stem}_topomaps.npy")
        inside = np.isfinite(img_ours)
        subset &= bool(np.isfinite(img_theirs[inside]).all())
        worst_image = max(worst_image, float(np.abs(img_ours - img_theirs)[inside].max()))
    return {
        "recordings_with_same_epochs": same_epochs,
        "max_abs_diff_log10_bandpower": worst_power,
        "max_abs_diff_topomap": worst_image,
        "eegemo_pixels_within_mne_image": subset,
    }


def main() -> None:
    """Run both sides on the same recordings and print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data(), help="eegmat folder")
    parser.add_argument("--limit", type=int, default=None, help="first N recordings only")
    parser.add_argument("--jobs", type=int, default=2, help="eegemo worker processes")
    parser.add_argument(
        "--plain-jobs", type=int, default=1,
        help="worker processes for the plain loop (joblib); 1 = a plain sequential loop",
    )
    args = parser.parse_args()

    import mne

    from eegemo import __version__

    files = sorted(args.data.glob("*.edf"))[: args.limit]
    if not files:
        raise SystemExit(f"no EDF recordings in {args.data}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subset = tmp / "raw"
        subset.mkdir()
        for path in files:
            (subset / path.name).symlink_to(path.resolve())
        ours = run_eegemo(subset, tmp / "eegemo", args.jobs)
        t_plain, n_plain, t_plain_maps = run_plain(files, tmp / "plain", args.plain_jobs)
        agreement = compare(files, tmp / "eegemo", tmp / "plain")
    result = {
        "benchmark": "preprocess_speed",
        "recordings": len(files),
        "pipeline": "bandpass 1-45, notch 50 Hz+harmonics, resample 250, average ref, "
        "FastICA 0.99 + EOG proxy + muscle, 2-s epochs, ptp 150 uV, Welch 5 bands, 32x32 maps",
        "eegemo": ours,
        "plain_mne_loop": {
            "seconds": round(t_plain, 2),
            "jobs": args.plain_jobs,
            "epochs": n_plain,
            "topomaps": "mne.viz.plot_topomap",
            # Summed over recordings, inside the workers.
            "topomap_seconds": round(t_plain_maps, 2),
        },
        "speedup": round(t_plain / ours["seconds"], 2),
        "agreement": agreement,
        "versions": {
            "eegemo": __version__,
            "mne": mne.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if args.plain_jobs == 1:
        # The plain loop without its images against all of eegemo (images included).
        result["speedup_vs_plain_without_images"] = round(
            (t_plain - t_plain_maps) / ours["seconds"], 2
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
