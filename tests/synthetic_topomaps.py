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


def make_fusion_folder(
    out: Path,
    n_subjects: int = 6,
    epochs_per_class: int = 20,
    labels: tuple[str, ...] = ("rest", "task"),
    n_bands: int = 5,
    res: int = 8,
    n_features: int = 6,
    effect: float = 1.7,
    unusable: float = 0.1,
    no_heart: tuple[int, ...] = (),
    heart_only: tuple[int, ...] = (),
    seed: int = 0,
    subject_prefix: str = "S",
) -> Path:
    """Write topomaps and heart features of the same epochs, as ``eegemo preprocess`` does.

    The label shows in both inputs through independent noise, so that either alone
    decodes it and both together decode it best: an epoch of class ``k`` raises band
    2 in the posterior half of the head by ``effect * k + e`` and the heart rate
    (features 0 and 1, in beats per minute) by ``5 * (effect * k + e')``, with ``e``
    and ``e'`` standard normal per epoch. Every subject has its own offsets (topomap
    pixels, resting heart rate) and its own spread of heart features, what
    subject-wise normalisation removes; the other features are noise.

    A fraction ``unusable`` of the epochs has every heart feature NaN (an unusable
    heart signal). Subjects numbered in ``no_heart`` have no heart channel (empty
    ``physio_path``), those in ``heart_only`` no topomaps (empty ``path``).
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
        offset = 3.0 * rng.standard_normal((n_bands, res, res))
        baseline = 60 + 30 * rng.random() + 10 * rng.standard_normal(n_features)
        spread = 0.5 + rng.random(n_features)
        (out / subject).mkdir(exist_ok=True)
        for k, label in enumerate(labels):
            recording = f"{subject}_{label}"
            n = epochs_per_class
            topo = offset + rng.standard_normal((n, n_bands, res, res))
            topo[:, 2 % n_bands][:, posterior] += (effect * k + rng.standard_normal(n))[:, None]
            topo[:, :, outside] = np.nan
            heart = baseline + spread * rng.standard_normal((n, n_features))
            heart[:, :2] += 5 * (effect * k + rng.standard_normal(n))[:, None] * spread[:2]
            heart[rng.random(n) < unusable] = np.nan
            path = physio_path = ""
            if s not in heart_only:
                path = f"{subject}/{recording}_topomaps.npy"
                np.save(out / path, topo.astype(np.float32))
            if s not in no_heart:
                physio_path = f"{subject}/{recording}_physio.npy"
                np.save(out / physio_path, heart.astype(np.float32))
            rows += [{"subject": subject, "recording": recording, "label": label, "path": path,
                      "index": i, "bandpower_path": "", "onset_s": 2.0 * i,
                      "physio_path": physio_path} for i in range(n)]
    columns = ["subject", "recording", "label", "path", "index", "bandpower_path", "onset_s",
               "physio_path"]
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return out
