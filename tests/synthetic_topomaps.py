"""Small synthetic preprocessed-EEG folders (manifest.csv + topomap .npy files) for tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def make_topomap_folder(
    out: Path,
    n_subjects: int = 6,
    epochs_per_class: int = 12,
    labels: tuple[str, ...] = ("rest", "task"),
    n_bands: int = 5,
    res: int = 16,
    effect: float = 1.0,
    subject_offset: float = 3.0,
    seed: int = 0,
    subject_prefix: str = "S",
) -> Path:
    """Write ``out/manifest.csv`` and one ``.npy`` per subject and label.

    Each class adds ``effect`` to band 2 in the posterior half of the head; each
    subject adds its own random offset per band and pixel (what subject-wise
    normalisation removes). Pixels outside the head are NaN, as in real output.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:res, 0:res]
    centre = (res - 1) / 2
    outside = (yy - centre) ** 2 + (xx - centre) ** 2 > (res / 2) ** 2
    posterior = yy > centre
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for s in range(n_subjects):
        subject = f"{subject_prefix}{s:02d}"
        offset = subject_offset * rng.standard_normal((n_bands, res, res))
        for k, label in enumerate(labels):
            x = offset + rng.standard_normal((epochs_per_class, n_bands, res, res))
            x[:, 2 % n_bands, posterior] += effect * k
            x[:, :, outside] = np.nan
            rel = f"{subject}/{subject}_{label}_topomaps.npy"
            (out / subject).mkdir(exist_ok=True)
            np.save(out / rel, x.astype(np.float32))
            for i in range(epochs_per_class):
                rows.append({"subject": subject, "recording": f"{subject}_{label}",
                             "label": label, "path": rel, "index": i})
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["subject", "recording", "label", "path", "index"])
        writer.writeheader()
        writer.writerows(rows)
    return out
