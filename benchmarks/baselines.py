"""The simple baselines the benchmark scripts compare eegemo's networks with.

Imported by the scripts beside it (``python benchmarks/<script>.py`` puts this folder
on the import path): reading the manifest's rows and feature arrays, cutting the raw
epochs of the cleaned recordings, subject-wise normalisation (features, channels,
covariance re-centring), the logistic regression, and the per-method summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_manifest_rows(root: Path, columns: tuple[str, ...] = (), hint: str = "") -> list[dict]:
    """The rows of ``root/manifest.csv`` as dicts, after checking it has ``columns``.

    Parameters
    ----------
    root : Path
        The preprocessed folder.
    columns : tuple of str
        Columns the caller needs (beyond the required ones every manifest has).
    hint : str
        What to do when some are missing, appended to the error message.

    Returns
    -------
    rows : list of dict
        Column name -> text, in file order.

    Raises
    ------
    SystemExit
        When the manifest is empty or lacks one of ``columns``.
    """
    import csv

    with open(root / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    missing = set(columns) - set(rows[0]) if rows else {"rows"}
    if missing:
        raise SystemExit(f"{root}/manifest.csv lacks {', '.join(sorted(missing))}"
                         + (f": {hint}" if hint else ""))
    return rows


def standardize_per_subject(x: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """Z-score each subject's features with that subject's own mean and spread.

    No labels are used, so the same is done for test subjects. NaN entries (e.g. heart
    features of an epoch whose heart signal was unusable) are left out of the
    statistics and become 0, the subject's mean.
    """
    out = np.empty_like(x, dtype=np.float64)
    for s in np.unique(subjects):
        rows = subjects == s
        mean = np.nanmean(x[rows], axis=0)
        std = np.nanstd(x[rows], axis=0)
        out[rows] = (x[rows] - mean) / (np.nan_to_num(std) + 1e-8)
    return np.nan_to_num(out, nan=0.0)


def logistic_regression(x_train, y_train, x_test, max_iter: int = 5000):
    """Predictions of scaler + balanced logistic regression fitted on the training rows.

    Parameters
    ----------
    x_train, y_train : ndarray
        Training features and class indices.
    x_test : ndarray
        Features to predict.
    max_iter : int
        Iteration limit of the L-BFGS solver.

    Returns
    -------
    pred : ndarray
        Predicted class index of every row of ``x_test``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(),
                          LogisticRegression(max_iter=max_iter, class_weight="balanced"))
    return model.fit(x_train, y_train).predict(x_test)


def manifest_features(root: Path, rows: list[dict], column: str) -> np.ndarray:
    """One feature row per manifest row from the arrays named in ``column`` (NaN if none)."""
    cache: dict[str, np.ndarray] = {}
    out = []
    width = None
    for row in rows:
        rel = row[column]
        if not rel:
            out.append(None)
            continue
        if rel not in cache:
            cache[rel] = np.load(root / rel, allow_pickle=False)
        out.append(cache[rel][int(row["index"])].ravel())
        width = out[-1].size
    return np.asarray([np.full(width, np.nan) if r is None else r for r in out], np.float64)


def clean_epochs(
    root: Path,
    rows: list[dict],
    length_s: float,
    sfreq: float | None = None,
) -> tuple[np.ndarray, list[str], float]:
    """The EEG of every manifest row, cut from the cleaned recording at its ``onset_s``.

    ``eegemo preprocess`` keeps each cleaned recording as ``OUT/clean/<recording>_raw.fif``
    (see :func:`eegemo.eeg.cache.clean_paths`) and its epochs start at ``onset_s``
    seconds from its first sample, so these are exactly the epochs behind the band
    power and topomaps of the same rows.

    Parameters
    ----------
    root : Path
        The preprocessed folder (run without ``--no-keep-clean``).
    rows : list of dict
        Manifest rows (``recording`` and ``onset_s`` are used).
    length_s : float
        Epoch length in seconds (``epochs.length_s`` of the preprocessing).
    sfreq : float, optional
        Resample each whole recording to this rate before cutting (the recordings
        are already low-passed well below its Nyquist frequency by preprocessing);
        default: keep the recording's rate.

    Returns
    -------
    x : ndarray, shape (n_rows, n_channels, n_times), float32
        EEG in microvolts, channels in the order of the first recording.
    ch_names : list of str
        The EEG channels.
    sfreq : float
        Sampling rate of ``x``.

    Raises
    ------
    SystemExit
        When a cleaned recording is missing, lacks a channel of the first one, or an
        epoch runs past its end.
    """
    import mne

    from eegemo.eeg.cache import clean_paths

    order: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        order.setdefault(row["recording"], []).append(i)
    out = None
    ch_names: list[str] = []
    rate = 0.0
    for recording, idx in order.items():
        path = root / clean_paths(recording)["raw"]
        if not path.is_file():
            raise SystemExit(f"{path}: missing; preprocess without --no-keep-clean")
        raw = mne.io.read_raw_fif(path, preload=True, verbose="error")
        eeg = [raw.ch_names[k] for k in mne.pick_types(raw.info, eeg=True, exclude=())]
        if not ch_names:
            ch_names = eeg
        elif set(ch_names) - set(eeg):
            raise SystemExit(f"{path}: lacks {sorted(set(ch_names) - set(eeg))}")
        raw.pick(ch_names)
        if sfreq and sfreq != raw.info["sfreq"]:
            raw.resample(sfreq, verbose="error")
        rate = raw.info["sfreq"]
        n_times = round(length_s * rate)
        data = raw.get_data() * 1e6
        if out is None:
            out = np.empty((len(rows), len(ch_names), n_times), np.float32)
        for i in idx:
            start = round(float(rows[i]["onset_s"]) * rate)
            if start < 0 or start + n_times > data.shape[1]:
                raise SystemExit(f"{path}: epoch at {rows[i]['onset_s']} s runs past its end")
            out[i] = data[:, start:start + n_times]
    if out is None:
        raise SystemExit(f"{root}: no rows to cut epochs for")
    return out, ch_names, float(rate)


def standardize_channels_per_subject(x: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """Z-score each channel of each subject's epochs with that subject's own statistics.

    Parameters
    ----------
    x : ndarray, shape (n_epochs, n_channels, n_times)
        Raw epochs.
    subjects : ndarray of str, shape (n_epochs,)
        Subject of every epoch.

    Returns
    -------
    z : ndarray of float32, same shape
        Mean and standard deviation over the subject's epochs and samples, per channel;
        no labels are used, so test subjects are standardised the same way.
    """
    out = np.empty(x.shape, np.float32)
    for s in np.unique(subjects):
        rows = subjects == s
        mean = x[rows].mean(axis=(0, 2), dtype=np.float64)[:, None]
        std = x[rows].std(axis=(0, 2), dtype=np.float64)[:, None]
        out[rows] = (x[rows] - mean) / (std + 1e-8)
    return out


def recentre_per_subject(covs: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """Whiten each subject's covariances by that subject's own Riemannian mean.

    Riemannian Procrustes re-centring (Zanini et al., IEEE TBME 2018): ``M^{-1/2} C M^{-1/2}``
    with ``M`` the Riemannian mean of the subject's covariances, so every subject's
    mean becomes the identity. No labels are used, so test subjects are re-centred
    with their own (unlabelled) epochs.

    Parameters
    ----------
    covs : ndarray, shape (n_epochs, n_channels, n_channels)
        Symmetric positive definite matrices.
    subjects : ndarray of str, shape (n_epochs,)
        Subject of every matrix.

    Returns
    -------
    recentred : ndarray, same shape
    """
    from pyriemann.utils.base import invsqrtm
    from pyriemann.utils.mean import mean_riemann

    out = np.empty_like(covs)
    for s in np.unique(subjects):
        rows = subjects == s
        w = invsqrtm(mean_riemann(covs[rows]))
        out[rows] = w @ covs[rows] @ w
    return out


def summarize_method(fold_metrics: list[dict], seconds: float) -> dict:
    """Mean, sd and fold values of balanced accuracy, macro-F1 and accuracy, and fit time.

    Parameters
    ----------
    fold_metrics : list of dict
        :func:`eegemo.train.metrics.classification_metrics` of every fold.
    seconds : float
        Time spent fitting and predicting, all folds together.

    Returns
    -------
    summary : dict
        ``{"balanced_accuracy": {"mean", "sd", "values"}, "macro_f1": ..., "accuracy": ...,
        "fit_seconds": float}``.
    """
    from eegemo.train.metrics import summarize

    out: dict = {m: summarize([f[m] for f in fold_metrics])
                 for m in ("balanced_accuracy", "macro_f1", "accuracy")}
    out["fit_seconds"] = round(seconds, 1)
    return out
