"""Topomaps per second: TopomapRasterizer vs mne.viz.plot_topomap + savefig, same run.

Both paths map the same band-power values of the eegmat 19-channel 10-20 montage (real
Welch band power of one eegmat recording when ``../shared/data`` is there, otherwise
random values with the same shape) to 64x64 topomaps:

* MNE, the researcher's loop: per map a new figure with ``plot_topomap``, ``savefig``
  to PNG (in memory), ``plt.close``;
* tensor path: one :class:`~eegemo.eeg.topomap.TopomapRasterizer`, ``transform`` of all
  epochs x bands at once (a study's worth of maps);
* PNG path: ``save_topomap_png`` per map (colormap, outline, sensors, PNG encoding),
  in memory and to files; MNE's figure is sized to the same pixel width.

It also reports the largest relative difference between our images and MNE's
``im.get_array()`` for the timed MNE maps. Prints one JSON object.

Run: ``python benchmarks/topomap_speed.py`` (about a minute on a laptop core).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

EEGMAT_19 = "Fp1 Fp2 F7 F3 Fz F4 F8 T7 C3 Cz C4 T8 P7 P3 Pz P4 P8 O1 O2".split()
LEGACY = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
BANDS = {"delta": (1, 4), "theta": (4, 8), "alpha": (8, 13), "beta": (13, 30), "gamma": (30, 45)}


def _template() -> str:
    import mne

    names = mne.channels.get_builtin_montages()
    return "colin27_1020" if "colin27_1020" in names else "standard_1020"


def eegmat_band_power(data_dir: Path) -> tuple[object, np.ndarray, str]:
    """Info and (n_epochs, n_bands, 19) band power in dB from Subject00_1.edf, 2-s epochs."""
    import mne

    raw = mne.io.read_raw_edf(data_dir / "eegmat" / "Subject00_1.edf", verbose="error")
    raw.pick([ch for ch in raw.ch_names if ch.startswith("EEG ") and ch != "EEG A2-A1"])
    raw.rename_channels(lambda name: LEGACY.get(name[4:], name[4:]))
    raw.load_data(verbose="error").set_montage(_template())
    raw.reorder_channels(EEGMAT_19)
    epochs = mne.make_fixed_length_epochs(raw, duration=2.0, preload=True, verbose="error")
    spectrum = epochs.compute_psd(method="welch", fmin=1.0, fmax=45.0, verbose="error")
    psd, freqs = spectrum.get_data(return_freqs=True)
    power = np.stack(
        [psd[..., (freqs >= lo) & (freqs < hi)].mean(axis=-1) for lo, hi in BANDS.values()],
        axis=1,
    )
    return raw.info, 10 * np.log10(power), "eegmat Subject00_1 Welch band power (dB)"


def random_band_power(n_epochs: int) -> tuple[object, np.ndarray, str]:
    """Info of the eegmat montage and random dB values, when the real data is absent."""
    import mne

    info = mne.create_info(EEGMAT_19, 500.0, "eeg")
    info.set_montage(_template())
    rng = np.random.default_rng(0)
    return info, rng.uniform(-20, 10, (n_epochs, len(BANDS), 19)), "random dB values"


def time_mne(info, maps: np.ndarray, res: int, size_in: float) -> tuple[float, list]:
    """Seconds per map of plot_topomap + savefig (PNG in memory); the image arrays."""
    import matplotlib.pyplot as plt
    import mne

    arrays = []

    def one(values: np.ndarray) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im, _ = mne.viz.plot_topomap(values, info, res=res, size=size_in, show=False)
        fig = im.figure
        fig.savefig(io.BytesIO(), format="png")
        arrays.append(np.ma.masked_invalid(im.get_array()))
        plt.close(fig)

    one(maps[0])  # warm-up: imports, font cache
    arrays.clear()
    start = time.perf_counter()
    for values in maps:
        one(values)
    return (time.perf_counter() - start) / len(maps), arrays


def main() -> None:
    """Measure both paths under one BLAS thread (one core, as a researcher's loop runs)."""
    import scipy.interpolate  # noqa: F401  (load every BLAS before limiting it)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        run()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mne-maps", type=int, default=30, help="maps drawn with MNE")
    parser.add_argument("--png-maps", type=int, default=200, help="maps rendered to PNG")
    parser.add_argument(
        "--study-maps", type=int, default=21600, help="maps in the tensor run (36x120x5)"
    )
    parser.add_argument("--res", type=int, default=64)
    parser.add_argument("--scale", type=int, default=4, help="PNG pixels per image pixel")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the fast paths")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    from eegemo.eeg.render import render_topomap, save_topomap_png
    from eegemo.eeg.topomap import TopomapRasterizer

    data_dir = Path(
        os.environ.get("EEGEMO_SHARED_DATA", Path(__file__).parents[2] / "shared" / "data")
    )
    if (data_dir / "eegmat" / "Subject00_1.edf").is_file():
        info, power, source = eegmat_band_power(data_dir)
    else:
        info, power, source = random_band_power(90)
    flat = power.reshape(-1, power.shape[-1])  # (n_epochs * n_bands, 19)

    # --- tensor path: build once, transform a study's worth of maps at once
    build_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        raster = TopomapRasterizer(info, res=args.res)
        build_times.append(time.perf_counter() - start)
    build_s = statistics.median(build_times)
    study = np.resize(flat, (args.study_maps, flat.shape[1]))
    raster.transform(study[:100])  # warm-up
    transform_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        raster.transform(study)
        transform_times.append(time.perf_counter() - start)
    per_map_tensor = statistics.median(transform_times) / args.study_maps
    per_map_tensor_1000 = build_s / 1000 + per_map_tensor

    # --- PNG path at the pixel size of MNE's figure
    rgba = render_topomap(raster.transform(flat[0]), geometry=raster, scale=args.scale)
    size_px = rgba.shape[1]
    png_maps = np.resize(flat, (args.png_maps, flat.shape[1]))

    def png_in_memory() -> float:
        start = time.perf_counter()
        for values in png_maps:
            save_topomap_png(
                io.BytesIO(), raster.transform(values), geometry=raster, scale=args.scale
            )
        return (time.perf_counter() - start) / len(png_maps)

    png_in_memory()  # warm-up, layout cache
    per_map_png = statistics.median(png_in_memory() for _ in range(args.repeats))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for k, values in enumerate(png_maps):
            save_topomap_png(
                Path(tmp) / f"{k}.png",
                raster.transform(values),
                geometry=raster,
                scale=args.scale,
            )
        per_map_png_file = (time.perf_counter() - start) / len(png_maps)

    # --- MNE: the researcher's loop, same data, same image and PNG size
    mne_maps = flat[: args.mne_maps]
    per_map_mne, arrays = time_mne(info, mne_maps, args.res, size_px / 100.0)
    ours = raster.transform(mne_maps)
    inside = raster.mask
    rel_err = max(
        float(
            np.max(np.abs(img[inside] - ref.filled(np.nan)[inside])) / np.max(np.abs(ref[inside]))
        )
        for img, ref in zip(ours, arrays, strict=True)
    )

    print(
        json.dumps(
            {
                "data": source,
                "montage": f"{raster.n_channels}-channel eegmat 10-20 ({_template()})",
                "options": {
                    "res": args.res,
                    "image_interp": raster.image_interp,
                    "extrapolate": raster.extrapolate,
                    "border": raster.border,
                },
                "machine": {
                    "blas_threads": 1,
                    "cpus": os.cpu_count(),
                    "load_avg_1min": os.getloadavg()[0],
                    "python": platform.python_version(),
                },
                "mne_plot_topomap_savefig": {
                    "maps": len(mne_maps),
                    "png_pixels": size_px,
                    "per_map_ms": per_map_mne * 1e3,
                },
                "tensor_path": {
                    "study_maps": args.study_maps,
                    "build_ms": build_s * 1e3,
                    "per_map_us_excluding_build": per_map_tensor * 1e6,
                    "per_map_us_including_build_over_1000_maps": per_map_tensor_1000 * 1e6,
                    "per_map_us_including_build_over_study": (
                        (build_s + per_map_tensor * args.study_maps) / args.study_maps * 1e6
                    ),
                    "speedup_vs_mne_excluding_build": per_map_mne / per_map_tensor,
                    "speedup_vs_mne_including_build_over_1000_maps": (
                        per_map_mne / per_map_tensor_1000
                    ),
                },
                "png_path": {
                    "maps": args.png_maps,
                    "png_pixels": size_px,
                    "per_map_ms_in_memory": per_map_png * 1e3,
                    "per_map_ms_to_files": per_map_png_file * 1e3,
                    "speedup_vs_mne_in_memory": per_map_mne / per_map_png,
                    "speedup_vs_mne_to_files": per_map_mne / per_map_png_file,
                },
                "max_relative_error_vs_mne": rel_err,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
